"""gpusim/llm/run.py and ``gpusim llm`` (issue 7 part 4): model + step -> our kernels -> timing model.

The tiny model keeps every test here to a few seconds; the sanity checks of the numbers themselves
(memory- and compute-bound kernels, scaling with tokens and context, DRAM bandwidth) are in
tests/test_llm_sanity.py.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gpusim.cli import main
from gpusim.config import load_config
from gpusim.errors import ConfigError, GpusimError
from gpusim.llm import gemm_select as GS
from gpusim.llm import kernels as K
from gpusim.llm import walker as Wk
from gpusim.llm.model import load_model, parse_step
from gpusim.llm.run import (
    BOUND_FRACTION,
    check_model,
    classify,
    resolve,
    simulate_kernel,
    simulate_step,
)

A100 = "a100-sxm4-80gb"
H100 = "h100-sxm5-80gb"
DECODE = "decode:batch=1,context=256"
PTRS = (1 << 40, 2 << 40, 3 << 40, 4 << 40)


@pytest.fixture(scope="module")
def tiny_decode():
    return simulate_step("tiny", DECODE, A100)


def test_step_time_is_the_sum_of_operator_times_and_launch_overheads(tiny_decode):
    """Rule: the step takes the kernels' simulated cycles (count x cycles per execution) plus one
    launch latency (launch.kernel_launch_latency) per kernel launch; tokens/s = tokens / step time;
    every operator with a kernel is simulated, the rest are listed."""
    r = tiny_decode
    cfg = load_config(A100)
    clock = cfg.sm.clock_hz
    assert r["kernel_seconds"] == pytest.approx(sum(o["seconds"] for o in r["operators"]))
    for o in r["operators"]:
        assert o["seconds"] == pytest.approx(o["cycles"] / clock)
        assert o["cycles"] == pytest.approx(o["cycles_per_execution"] * o["count"])
        assert o["cycles"] == sum(k["cycles_total"] for k in o["kernels"])
        assert o["cycles"] > 0 and o["bound"] in ("memory", "compute", "latency")
    assert r["launches"] == sum(o["launches"] for o in r["operators"])
    assert r["launch_seconds"] == pytest.approx(r["launches"] * cfg.launch.kernel_launch_latency_cycles / clock)
    assert r["step_seconds"] == pytest.approx(r["kernel_seconds"] + r["launch_seconds"])
    assert r["tokens_per_second"] == pytest.approx(1 / r["step_seconds"])
    names = {o["name"] for o in r["operators"]}
    assert {"layer.qkv_proj", "layer.attn.decode0", "lm_head", "layer.silu_mul"} <= names
    assert r["not_simulated"] == []
    # embedding; per layer: norm, qkv, rotary, KV append, attention split + combine, o, add, norm,
    # up_gate, silu, down, add = 13 launches; then final norm, LM head, softmax
    assert r["launches"] == 1 + 13 * 2 + 3


def test_identical_launches_are_simulated_once_and_change_the_result_only_through_the_l2(tiny_decode):
    """Rule: deduplication (the same GEMV in every layer, the two RMSNorms and residual adds share a
    launch) only saves simulation time: without it every launch is simulated, and the step time
    differs only by what the L2 state of later layers changes (a few percent)."""
    again = simulate_step("tiny", DECODE, A100, dedup=False)
    assert tiny_decode["distinct_kernels_simulated"] < again["distinct_kernels_simulated"] == again["launches"]
    assert again["launches"] == tiny_decode["launches"]
    assert tiny_decode["step_seconds"] == pytest.approx(again["step_seconds"], rel=0.05)


def test_the_l2_keeps_a_producers_output_for_the_next_kernel_of_the_step(tiny_decode):
    """Rule: ONE memory system serves the whole step, so the L2 keeps its lines across kernels: the
    residual add reads the o_proj output and the residual written by earlier kernels and hits in
    the L2, while the same launch simulated alone (cold L2) misses."""
    op = next(o for o in tiny_decode["operators"] if o["name"] == "layer.attn_residual")
    assert op["kernels"][0]["l2_hit_rate"] > 0.9
    cold = simulate_kernel(load_config(A100), K.residual_add("sm_80", 512, *PTRS[:3]))
    assert cold["l2_hit_rate"] < 0.1
    assert op["cycles_per_execution"] < cold["cycles"]


def test_embedding_and_kv_append_run_their_kernels_and_collectives_take_the_interconnect_time():
    """Rule: the embedding gather and the KV-cache append are simulated with their own kernels (one
    append launch per request group, at that group's past position); tensor-parallel collectives
    take the bus-bandwidth time of the config's interconnect (gpusim.llm.collectives), one launch each:
    all-reduce latency + 2(n-1)/n * bytes / busbw, all-gather latency + (n-1)/n * bytes / busbw."""
    r = simulate_step("tiny", "prefill:tokens=64,past=64,sample=0+decode:batch=2,context=128", A100, tp=2)
    ops = {o["name"]: o for o in r["operators"]}
    assert [k["kernel"] for k in ops["embedding"]["kernels"]] == ["embedding_gather_f16"]
    kv = ops["layer.kv_append"]
    assert kv["launches"] == 2 * 2 and [k["kernel"] for k in kv["kernels"]] == ["kv_append_f16"]
    assert kv["kernels"][0]["simulated"] == 2  # the two groups' launches differ; the layers repeat them
    assert all(o["cycles"] > 0 for o in (ops["embedding"], kv))
    assert r["not_simulated"] == []
    cfg = load_config(A100)
    bus, lat, clk = cfg.interconnect.bus_bandwidth_bytes_per_s, cfg.interconnect.collective_latency_ps * 1e-12, cfg.sm.clock_hz
    ar = ops["layer.o_proj.allreduce"]
    assert ar["bound"] == "network" and ar["launches"] == ar["count"]
    expect = lat + 2 * (2 - 1) / 2 * ar["shape"]["bytes"] / bus
    assert ar["cycles_per_execution"] == round(expect * clk)
    ag = ops["lm_head.allgather"]
    assert ag["cycles_per_execution"] == round((lat + (2 - 1) / 2 * ag["shape"]["bytes"] / bus) * clk)
    # the interconnect time is in the step: a 10x faster bus shortens the step by the bandwidth terms
    fast = simulate_step("tiny", "prefill:tokens=64,past=64,sample=0+decode:batch=2,context=128", A100, tp=2,
                         overrides=["interconnect.bus_bandwidth=2315.8 GB/s"])
    fo = {o["name"]: o for o in fast["operators"]}
    assert fo["layer.o_proj.allreduce"]["cycles"] < ar["cycles"]
    assert fast["step_seconds"] < r["step_seconds"]


def test_bound_is_decided_from_the_achieved_fraction_of_the_configured_peaks():
    """Rule: compute- or memory-bound when the operator sustains >= BOUND_FRACTION of the tensor peak
    or DRAM bandwidth (the larger fraction names it); latency-bound below both."""
    f = BOUND_FRACTION
    assert classify((f + 0.01) * 100, 0.1 * 10, 100, 10) == "compute"
    assert classify(0.1 * 100, (f + 0.01) * 10, 100, 10) == "memory"
    assert classify(0.9 * 100, 0.95 * 10, 100, 10) == "memory"
    assert classify((f - 0.01) * 100, (f - 0.01) * 10, 100, 10) == "latency"


# The kernel gemm_select picks for the shape (None here): on A100 the multistage kernel, tile and split-K
# (select), on H100 the wgmma kernel and split-K (select_wgmma: 66 rows of the tiny model's QKV leave most
# SMs idle, so split-K); the report names it and its tile.
# Prefill attention: FlashAttention-2 before Hopper, the FlashAttention-3-style kernel on sm_90a (causal
# hdim 128: FA3's 128 x 128 tile) since fa3_fwd.cu was added (the H100 row used to name the FA2 kernel).
@pytest.mark.parametrize("gpu, gemm, attn", [
    (A100, None, "flash_attn_fwd_f16_d128_128x64_w4"),   # FlashAttention-2's hdim-128 sm_80 tile (128 x 64)
    (H100, None, "fa3_fwd_f16_d128_128x128_causal")])
def test_a_mixed_prefill_and_decode_batch_runs_both_attentions_and_the_arch_gemm(gpu, gemm, attn):
    """Rule: a Sarathi-style step (a prefill chunk plus decodes) runs FlashAttention for the chunk and
    paged split-KV attention for the decodes; its linear layers see all new tokens at once (a GEMM, the
    warp-specialised TMA + wgmma one on sm_90, on sm_80 the kernel and tile gpusim.llm.gemm_select
    chooses for the shape on that GPU, named in the operator's ``kernel`` and ``tile``)."""
    r = simulate_step("tiny", "prefill:tokens=64,past=64,sample=0+decode:batch=2,context=128", gpu)
    ops = {o["name"]: o for o in r["operators"]}
    assert [k["kernel"] for k in ops["layer.attn.prefill0"]["kernels"]] == [attn]
    assert [k["kernel"] for k in ops["layer.attn.decode1"]["kernels"]] == \
        ["decode_attn_paged_f16_d128", "decode_attn_combine_f16_d128"]
    qkv = ops["layer.qkv_proj"]
    if gemm is None:
        cfg = load_config(gpu)
        sh = qkv["shape"]
        arch = "sm_90a" if gpu == H100 else "sm_80"
        dev = GS.Device.from_config(cfg, arch)
        ch = (GS.select_wgmma(sh["M"], sh["N"], sh["K"], dev) if arch == "sm_90a"
              else GS.select(arch, sh["M"], sh["N"], sh["K"], dev))
        gemm = ch.kernel
        assert qkv["tile"] == ch.tile and qkv["gemm_choice"]["splits"] == ch.splits
    assert qkv["kernels"][0]["kernel"] == gemm and qkv["kernel"] == gemm
    assert ops["lm_head"]["shape"]["M"] == 2  # only the decodes sample
    assert r["tokens"] == 66 and r["sampled_tokens"] == 2


def test_models_our_fp16_kernels_cannot_run_are_refused_naming_the_key():
    """Rule: bad input is one GpusimError naming the file and key: no kernel dequantises int4 weights
    for bf16 activations, and no fp8 kernel exists before Hopper (bf16 runs the fp16 kernels unchanged).
    (Updated when the weight-only int4 GEMVs arrived: int4 weights with fp16 activations now run.)"""
    m = load_model("tiny", {"weight_dtype": "int4", "dtype": "bf16"})
    with pytest.raises(ConfigError, match=r"tiny\.yaml: weight_dtype: int4 weights with bf16"):
        simulate_step(m, DECODE, A100)
    with pytest.raises(ConfigError, match=r"tiny\.yaml: weight_dtype: fp8 weights on sm_80"):
        simulate_step(load_model("tiny", {"weight_dtype": "fp8"}), DECODE, A100)
    with pytest.raises(ConfigError, match=r"tiny\.yaml: head_dim: 64"):
        simulate_step(load_model("tiny", {"head_dim": 64}), DECODE, A100)
    check_model(load_model("tiny", {"dtype": "bf16"}))  # accepted


@pytest.mark.parametrize("field_chunk", [16, 64])
def test_chunked_trace_generation_joins_to_the_same_trace(monkeypatch, field_chunk):
    """Rule: trace_kernel walks a large grid in chunks (first CTA, then chunks sized from it) and joins
    them into exact-size arrays: every array equals walking the whole range at once, including the
    memory rows and lane offsets that the chunks index locally."""
    monkeypatch.setattr(Wk, "TRACE_CHUNK_WARPS", field_chunk)
    calls = [K.gemm("sm_80", 300, 384, 256, *PTRS[:3]), K.flash_attn("sm_80", 1, 4, 2, 200, 300, *PTRS),
             K.gemv("sm_86", 2, 520, 512, *PTRS[:3]),
             K.rotary("sm_80", 40, 4, 2, PTRS[0], PTRS[0] + 1024, PTRS[1], PTRS[2], np.arange(40, dtype=np.int32),
                      q_row_stride=1024, k_row_stride=1024)]
    for c in calls:
        k, ln = c.kernel, c.launch
        prog = Wk.program_for(k.function)
        cb, cbk = Wk.build_constant_bank(k, ln)
        it, idata = Wk._memory_image(ln)
        whole = Wk._walk_chunk(prog, k, ln, cb, cbk, it, idata, Wk._tma_table(k, ln), 0, ln.num_ctas,
                               Wk.MAX_STEPS_PER_WARP)
        joined = c.trace()
        for f in dataclasses.fields(whole):
            a, b = getattr(joined, f.name), getattr(whole, f.name)
            if isinstance(b, np.ndarray):
                assert a.dtype == b.dtype and np.array_equal(a, b), (c.name, f.name)


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------


def test_cli_writes_the_report_and_cuda_graph_launches_cost_the_configured_gap(tmp_path, capsys, tiny_decode):
    """Rule: `gpusim llm` writes OUT/report.json with step_seconds, tokens_per_second and operators
    (name, count, cycles, seconds, bound) and the resolved config; --quiet prints nothing; with
    --cuda-graph every launch costs launch.graph_kernel_launch_latency (a measured graph-replay gap,
    in cycles at the SM clock) instead of the config's stream launch latency, and the kernels' time
    is unchanged."""
    out = tmp_path / "o"
    rc = main(["llm", "--model", "tiny", "--step", DECODE, "--gpu", A100, "-o", str(out), "--quiet", "--cuda-graph",
               "--set", "launch.cta_launch_latency=0"])
    assert rc == 0
    assert capsys.readouterr().out == ""
    rep = json.loads((out / "report.json").read_text())
    assert {"step_seconds", "tokens_per_second", "operators"} <= set(rep)
    assert rep["step_seconds"] > 0 and rep["tokens_per_second"] == pytest.approx(1 / rep["step_seconds"])
    for o in rep["operators"]:
        assert {"name", "count", "cycles", "seconds", "bound"} <= set(o)
    assert "cta_launch_latency: 0" in (out / "config.resolved.yaml").read_text()
    clock = load_config(A100).sm.clock_hz
    gap = round(load_config(A100).launch.graph_kernel_launch_latency_ps * 1e-12 * clock)
    assert rep["launch_cycles_each"] == gap
    assert rep["launch_seconds"] == pytest.approx(rep["launches"] * gap / clock)
    assert rep["kernel_seconds"] == pytest.approx(tiny_decode["kernel_seconds"])
    assert rep["step_seconds"] < tiny_decode["step_seconds"]



def test_cuda_graph_launch_latency_is_the_config_field():
    """Rule: --cuda-graph charges launch.graph_kernel_launch_latency per launch: raising it by 1 us
    raises step_seconds by launches x 1 us (to the cycle rounding) and leaves the kernels alone; the
    stream-launch step ignores the field; a bad value is a ConfigError naming the key."""
    base = simulate_step("tiny", DECODE, A100, cuda_graph=True)
    more = simulate_step("tiny", DECODE, A100, cuda_graph=True, overrides=["launch.graph_kernel_launch_latency=1.58 us"])
    clock = load_config(A100).sm.clock_hz
    assert more["launches"] == base["launches"]
    assert more["kernel_seconds"] == pytest.approx(base["kernel_seconds"])
    assert more["step_seconds"] - base["step_seconds"] == pytest.approx(base["launches"] * 1e-6, abs=base["launches"] / clock)
    assert "graph_kernel_launch_latency" in more["launch_model"]
    stream = simulate_step("tiny", DECODE, A100, overrides=["launch.graph_kernel_launch_latency=9 us"])
    assert stream["launch_cycles_each"] == load_config(A100).launch.kernel_launch_latency_cycles
    with pytest.raises(ConfigError, match="launch.graph_kernel_launch_latency"):
        load_config(A100, ["launch.graph_kernel_launch_latency=fast"])

G = ["--gpu", A100]


@pytest.mark.parametrize("argv, message", [
    (["--model", "tiny", "--step", "decode:batch=1,contxt=64", *G], "did you mean 'context'"),
    (["--model", "tinyy", "--step", "decode:context=64", *G], "no model 'tinyy'"),
    (["--model", "tiny", "--step", "decode:context=64", *G, "--set", "memory.dram_bandwith=1"], "memory.dram_bandwith"),
    (["--model", "tiny"], "--step, --gpu"),
    (["--model", "tiny", "--step", "decode:context=64", *G, "--tp", "3"], "not divisible by tp = 3"),
    (["--model", "tiny", "--step", "missing-step.yaml", *G], "missing-step.yaml: step file not found"),
])
def test_cli_bad_input_is_one_line_and_exit_status_2(argv, message, capsys, tmp_path):
    """Rule: bad input (step grammar, model name, config key, missing option, impossible tensor
    parallelism, missing step file) is one line naming the culprit, exit status 2, no traceback."""
    rc = main(["llm", *argv, "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_step_from_a_yaml_file(tmp_path):
    """Rule: --step takes a YAML file {requests: [...]} as well as the grammar; errors name the file."""
    f = tmp_path / "step.yaml"
    f.write_text("requests:\n  - {kind: decode, batch: 1, context: 64}\n")
    _, st, _ = resolve("tiny", str(f), A100)
    assert st.groups == parse_step("decode:batch=1,context=64").groups
    bad = tmp_path / "bad.yaml"
    bad.write_text("requests:\n  - {kind: decode, batch: 1}\n")
    with pytest.raises(GpusimError, match=r"bad\.yaml: .*needs context=N"):
        simulate_step("tiny", str(bad), A100)


def test_cli_list_names_models_and_gpus(capsys):
    """Rule: --list shows the presets the other options accept."""
    assert main(["llm", "--list"]) == 0
    out = capsys.readouterr().out
    assert "llama-2-7b" in out and "tiny" in out and A100 in out and H100 in out

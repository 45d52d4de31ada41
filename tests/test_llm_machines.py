"""One LLM workload on three machines (issue 10): the shared report shape of ``gpusim llm --gpu /
--systolic / --rdu``, the systolic lowering's rooflines, ``gpusim compare`` and the CoE node model."""

from __future__ import annotations

import json

import pytest

from gpusim.cli import main
from gpusim.config import load_config
from gpusim.errors import GpusimError
from gpusim.llm.coe import count_switches, gpu_coe, parse_coe_spec, switch_seconds
from gpusim.llm.compare import compare, load_report, write_comparison
from gpusim.accel.rdu.llm import run_rdu
from gpusim.accel.systolic.llm import run_systolic
from gpusim.llm.machines import COMMON_KEYS, OPERATOR_KEYS
from gpusim.llm.model import load_model

DECODE = "decode:batch=1,context=1024"


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Llama-2-7B decode on the systolic and RDU presets; the GPU run uses the tiny preset so the test stays
    quick (it is another workload: compared only with --allow-mixed)."""
    root = tmp_path_factory.mktemp("three")
    dirs = {}
    for flag, name in (("--systolic", "tpu-v4"), ("--rdu", "sn40l-8")):
        d = root / name
        assert main(["llm", "--model", "llama-2-7b", "--step", DECODE, flag, name, "-o", str(d), "--quiet"]) == 0
        dirs[name] = d
    d = root / "a100"
    assert main(["llm", "--model", "tiny", "--step", "decode:batch=1,context=256", "--gpu", "a100-sxm4-80gb",
                 "-o", str(d), "--quiet"]) == 0
    dirs["a100"] = d
    return dirs


def test_three_machines_write_the_same_report_shape(three):
    for name, d in three.items():
        rep = json.loads((d / "report.json").read_text())
        missing = [k for k in COMMON_KEYS if k not in rep]
        assert not missing, (name, missing)
        assert rep["machine"]["kind"] in ("gpu", "systolic", "rdu")
        for o in rep["operators"]:
            assert not [k for k in OPERATOR_KEYS if k not in o], (name, o["name"])
        assert rep["step_seconds"] >= sum(o["seconds"] for o in rep["operators"]) * 0.999 or rep["machine"]["kind"] == "rdu"
        assert rep["tokens_per_second"] == pytest.approx(rep["tokens"] / rep["step_seconds"])


def test_systolic_decode_gemv_streams_weights_at_dram_peak():
    # A batch-1 decode GEMV reads each weight once: the physical model must sit at (not above) the
    # DRAM roofline: bytes / 1200 GB/s (configs/accel/tpu-v4.yaml).
    rep = run_systolic("llama-2-7b", DECODE, "tpu-v4")
    bw = rep["machine"]["memory_bytes_per_s"]
    assert bw == pytest.approx(1200e9)
    for o in rep["operators"]:
        if o["kind"] == "gemm":
            assert o["bound"] == "memory"
            assert 0.9 <= o["memory_utilisation"] <= 1.0, o["name"]
            assert o["seconds"] >= o["bytes"] / bw * 0.999
    weights = load_model("llama-2-7b").params() * 2
    assert rep["step_seconds"] >= weights / bw
    assert rep["step_seconds"] <= 1.15 * weights / bw


def test_systolic_prefill_gemm_is_compute_bound_below_array_peak():
    # 8 MXUs of 128x128 at 1050 MHz = 275 TFLOP/s (Google's TPU v4 figure): a 2048-token FFN GEMM
    # runs near, never above, that peak.
    rep = run_systolic("llama-2-7b", "prefill:tokens=2048", "tpu-v4")
    assert rep["machine"]["peak_flops_per_s"] == pytest.approx(275.25e12, rel=1e-3)
    up = next(o for o in rep["operators"] if o["name"] == "layer.up_gate_proj")
    assert up["bound"] == "compute"
    assert 0.9 <= up["compute_utilisation"] <= 1.0
    for o in rep["operators"]:
        assert o["compute_utilisation"] <= 1.0 + 1e-9, o["name"]
        assert o["memory_utilisation"] <= 1.0 + 1e-9, o["name"]


def test_systolic_decode_attention_grows_with_context():
    a = [next(o for o in run_systolic("llama-2-7b", f"decode:batch=1,context={c}", "tpu-v4")["operators"]
              if o["kind"] == "attention")["seconds"] for c in (1024, 4096)]
    assert a[1] > 3.0 * a[0]


def test_systolic_vector_units_bound_elementwise_work():
    # with a slow vector unit the element-wise operators become compute-bound on it
    base = run_systolic("llama-2-7b", "prefill:tokens=512", "tpu-v4")
    slow = run_systolic("llama-2-7b", "prefill:tokens=512", "tpu-v4", overrides=["vector.ops_per_cycle=16"])
    n0 = next(o for o in base["operators"] if o["name"] == "layer.attn_norm")
    n1 = next(o for o in slow["operators"] if o["name"] == "layer.attn_norm")
    assert n1["seconds"] > 10 * n0["seconds"]


def test_rdu_runs_tensor_parallel_over_its_sockets():
    with pytest.raises(GpusimError, match="all sockets"):
        run_rdu("llama-2-7b", DECODE, "sn40l-8", tp=2)
    assert run_rdu("llama-2-7b", DECODE, "sn40l-8")["tp"] == 8


def test_compare_table_and_chart(three, tmp_path):
    c, files = write_comparison([three["sn40l-8"], three["tpu-v4"]], tmp_path / "cmp")
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "sn40l-8 x8" in md and "tpu-v4" in md and "layer.qkv_proj" in md
    png = (tmp_path / "cmp" / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert c["machines"][0]["speedup_vs_first"] == 1.0
    t = [m["step_seconds"] for m in c["machines"]]
    assert c["machines"][1]["speedup_vs_first"] == pytest.approx(t[0] / t[1])


def test_compare_refuses_different_workloads(three, tmp_path):
    with pytest.raises(GpusimError, match="not one workload"):
        compare([load_report(three["a100"]), load_report(three["tpu-v4"])])
    assert main(["compare", str(three["a100"]), str(three["tpu-v4"]), "--allow-mixed", "--no-chart",
                 "-o", str(tmp_path / "m"), "--quiet"]) == 0
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(GpusimError, match="not a `gpusim llm` report"):
        load_report(tmp_path / "x.json")


def test_llm_cli_wants_exactly_one_machine(capsys):
    assert main(["llm", "--model", "tiny", "--step", "decode:batch=1,context=64", "--gpu", "a100-sxm4-80gb",
                 "--systolic", "tpu-v4"]) == 2
    assert "exactly one of --gpu, --systolic, --rdu" in capsys.readouterr().err


def test_coe_switch_copies_expert_over_one_host_link():
    # research/rdu-sn40l.md §2.4: one host link per DGX, 32 GB/s (A100) / 64 GB/s (H100): a
    # Llama-2-7B expert takes about 421 ms / 211 ms to switch in.
    m = load_model("llama-2-7b")
    assert switch_seconds(load_config("a100-sxm4-80gb"), m) == pytest.approx(0.421, rel=0.01)
    assert switch_seconds(load_config("h100-sxm5-80gb"), m) == pytest.approx(0.211, rel=0.01)
    assert switch_seconds(load_config("h100-sxm5-80gb"), m, links=8) == pytest.approx(0.211 / 8, rel=0.01)


def test_coe_lru_cache_counts_switches():
    assert count_switches([0, 1, 2, 3], slots=8) == 4
    assert count_switches([0, 1, 0, 1], slots=2) == 2
    assert count_switches([0, 1, 2, 0], slots=2) == 4      # 0 was evicted by 2
    assert parse_coe_spec("experts=10,links=2")["links"] == 2
    with pytest.raises(GpusimError, match="key in"):
        parse_coe_spec("expert=10")


def test_gpu_coe_total_is_router_switches_prefill_decode():
    # warm=0: cold cache, every prompt a different expert (warm=1, the default, keeps all 4 tiny experts resident)
    c = gpu_coe("a100-sxm4-80gb", "tiny", experts=4, batch=3, prompt=16, out=2, gpus=2, warm=0)
    assert c["switches"] == 3
    assert c["total_s"] == pytest.approx(c["router_s"] + c["switch_s"] + c["prefill_s"] + c["decode_s"])
    assert c["tokens_per_s"] == pytest.approx(3 * 2 / c["total_s"])


def test_llm_cli_gpu_coe_and_sample_flags(tmp_path, capsys):
    # --coe on a GPU config serves the CoE batch on a node of `gpus` GPUs; --sample applies to --gpu only
    out = tmp_path / "coe"
    assert main(["llm", "--model", "tiny", "--step", "decode:batch=1,context=64", "--gpu", "a100-sxm4-80gb",
                 "--coe", "experts=4,batch=2,prompt=16,out=2,gpus=2,warm=0", "--sample", "4", "-o", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    c = rep["composition_of_experts"]
    assert c["gpus"] == 2 and c["switches"] == 2 and c["total_s"] > c["switch_s"] > 0
    assert rep["sampling"]["measured_waves"] == 4
    assert "CoE: 4 experts" in capsys.readouterr().out
    assert main(["llm", "--model", "llama-2-7b", "--step", DECODE, "--systolic", "tpu-v4", "--sample", "4",
                 "-o", str(tmp_path / "x")]) == 2
    assert "apply to --gpu only" in capsys.readouterr().err

"""``gpusim llm --op``: one operator alone, chosen and run as a serving step would run it (issue 15).

Rules protected: the operator runs the kernel the step's selection picks for that shape; its FLOPs
follow the graph's counting conventions (2 per multiply-add, the causal triangle for attention);
decode attention runs the split-KV kernel and its combine; anything no kernel can run is one line
naming the operator and the reason with exit status 2.  Kernels run on an A100 slice
(:func:`tests.test_llm_sanity.a100_slice`) so each simulation takes seconds.
"""

from __future__ import annotations

import json

import pytest

from gpusim.cli import main
from gpusim.config import load_config
from gpusim.llm import machines as M
from gpusim.llm.op import OpError, op_graph, parse_op
from gpusim.llm.run import Buffers, kernels_for
from tests.test_llm_sanity import A100, a100_slice


@pytest.fixture(scope="module")
def slice4():
    return load_config(A100, a100_slice(4))


def _run(text: str, cfg) -> dict:
    return M.run_gpu(None, None, cfg, graph=op_graph(text))


def test_op_gemm_runs_the_kernel_a_step_selects_and_counts_two_flops_per_multiply_add(slice4):
    """The --op GEMM is the step's GEMM: the same selection (kernels_for on the same operator) and
    FLOPs = 2 M N K; seconds = cycles at the config clock."""
    text = "gemm:m=256,n=512,k=256"
    g = op_graph(text)
    from gpusim.llm import gemm_select as GS

    dev = GS.Device.from_config(slice4, "sm_80")
    expect = kernels_for(g.operators[0], "sm_80", g.step, Buffers(g.tensors), device=dev)[0][0].name
    rep = _run(text, slice4)
    o = rep["operators"][0]
    assert [k["kernel"] for k in o["kernels"]] == [expect]
    assert o["flops"] == 2 * 256 * 512 * 256
    assert o["seconds"] == pytest.approx(o["cycles"] / slice4.sm.clock_hz)
    assert o["flops_per_s"] == pytest.approx(o["flops"] / o["seconds"])


def test_op_gemv_one_row_runs_the_gemv_and_more_rows_the_tensor_core_gemm_on_ampere(slice4):
    """A decode-sized GEMM runs what a decode step runs: one row the CUDA-core GEMV,
    2-8 rows on sm_80 the multistage tensor-core GEMM (an mma.sync tile covers 16 rows for the same weight
    stream; the GEMV's FMAs and conversions grow with the rows: launch.SMALL_M_TENSOR_CORE_ARCHS)."""
    o = _run("gemv:batch=1,n=256,k=512", slice4)["operators"][0]
    assert [k["kernel"] for k in o["kernels"]] == ["gemv_f16_b1"]
    o = _run("gemv:batch=2,n=256,k=512", slice4)["operators"][0]
    assert all(k["kernel"].startswith(("gemm_f16_tn_", "gemm_splitk_reduce")) for k in o["kernels"]), o["kernels"]
    assert o["flops"] == 2 * 2 * 256 * 512


def test_small_m_gemm_keeps_the_gemv_where_no_split_k_tensor_core_gemm_is_built():
    """Volta (no split-K tensor-core GEMM built) keeps the GEMV of the batch for 2-8 rows; Ampere runs the
    multistage GEMM and Hopper the split-K wgmma GEMM (launch.SMALL_M_TENSOR_CORE_ARCHS); one row, and on
    Hopper a K that is not a multiple of the wgmma k tile (64), keep the GEMV."""
    from gpusim.llm.launch import _gemm

    assert _gemm("sm_70", 8, 4096, 4096, 0, 1 << 30, 2 << 30).name == "gemv_f16_b8"
    calls, _ = _gemm("sm_80", 8, 4096, 4096, 0, 1 << 30, 2 << 30)
    assert calls[0].name.startswith("gemm_f16_tn_")
    calls, ch = _gemm("sm_90a", 8, 4096, 4096, 0, 1 << 30, 2 << 30)
    assert [c.name for c in calls] == ["gemm_f16_tn_wgmma_coop_splitk_128x128x64_s5", "gemv_splitk_reduce_f32"]
    assert ch.splits > 1
    assert _gemm("sm_90a", 1, 4096, 4096, 0, 1 << 30, 2 << 30).name == "gemv_f16_b1"
    assert _gemm("sm_90a", 8, 4096, 1376, 0, 1 << 30, 2 << 30).name == "gemv_f16_b8"


def test_op_attention_flops_count_the_causal_triangle_and_noncausal_the_square():
    """Attention FLOPs: 4 * head_dim per query-key pair and head; causal pairs q(q+1)/2 (+ q * past),
    non-causal q * kv_len."""
    causal = op_graph("attention:batch=2,heads=4,kv_heads=2,q_len=64,kv_len=96").operators[0]
    full = op_graph("attention:batch=2,heads=4,kv_heads=2,q_len=64,kv_len=96,causal=0").operators[0]
    assert causal.flops == 4 * 128 * (64 * 32 + 64 * 65 // 2) * 4 * 2
    assert full.flops == 4 * 128 * 64 * 96 * 4 * 2
    assert causal.shape["causal"] is True and full.shape["causal"] is False


def test_op_decode_attention_runs_split_kv_and_combine(slice4):
    """Decode attention over C keys: 4 * head_dim * C FLOPs per head and sequence, run as the paged
    split-KV kernel (one CTA per split, KV head and sequence) followed by its combine kernel
    (FlashDecoding / FlashInfer), as in a decode step."""
    rep = _run("decode_attention:batch=2,heads=8,kv_heads=2,context=512", slice4)
    o = rep["operators"][0]
    assert o["flops"] == 4 * 128 * 512 * 8 * 2
    names = [k["kernel"] for k in o["kernels"]]
    assert len(names) == 2 and names[0].startswith("decode_attn_paged") and "combine" in names[1]
    assert o["kernels"][0]["grid"][1] == 2          # one CTA per KV head (GQA: 4 query heads share it)
    assert o["launches"] == 2 and o["cycles"] > 0


def test_cli_op_writes_the_report_with_flops_per_s_seconds_and_the_kernel(tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["llm", "--op", "gemm:m=128,n=256,k=128", "--gpu", A100, *sum((["--set", s] for s in a100_slice(4)), []),
               "-o", str(out)])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    o = rep["operators"][0]
    assert rep["op"] == "gemm:m=128,n=256,k=128"
    assert o["seconds"] > 0 and o["flops_per_s"] > 0 and o["kernels"][0]["kernel"]
    text = capsys.readouterr().out
    assert "kernel " in text and "of the tensor peak" in text and "tokens/s" not in text


@pytest.mark.parametrize("argv, message", [
    (["--op", "gemmm:m=1,n=8,k=8"], "did you mean 'gemm'"),
    (["--op", "gemm:m=1,n=8"], "missing k"),
    (["--op", "gemm:m=1,n=8,k=8,dtype=fp8"], "no fp8 kernel for sm_80"),
    (["--op", "gemm:m=64,n=256,k=256,dtype=int4"], "no dequantising tensor-core GEMM"),
    (["--op", "attention:batch=1,heads=4,kv_heads=1,q_len=8,dtype=int4"], "weight-only format"),
    (["--op", "gemv:batch=1,n=256,k=256,dtype=int8,group=32"], "group applies to dtype=int4 only"),
    (["--op", "gemm:m=1,n=8,k=8,mm=2"], "expected key=value"),
    (["--op", "gemm:m=0,n=8,k=8"], "out of range"),
    (["--op", "attention:batch=1,heads=4,kv_heads=3,q_len=8"], "not a multiple of kv_heads"),
    (["--op", "attention:batch=1,heads=4,kv_heads=1,q_len=8,kv_len=4"], "kv_len 4 < q_len 8"),
    (["--op", "decode_attention:batch=1,heads=4,kv_heads=1,context=64,head_dim=64"], "head_dim"),
    (["--op", "gemm:m=1,n=8,k=8", "--model", "tiny"], "do not apply to one operator"),
    (["--op", "gemm:m=1,n=8,k=8", "--systolic", "tpu-v4"], "do not apply to one operator"),
])
def test_cli_op_bad_input_is_one_line_naming_the_operator_and_exit_status_2(argv, message, capsys, tmp_path):
    """Rule: an operator no kernel can run (dtype, head_dim, impossible shape) or a malformed --op is
    refused with one line and exit status 2 — never run on a substitute kernel."""
    rc = main(["llm", *argv, "--gpu", A100, "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_parse_op_fills_defaults_and_rejects_duplicates():
    assert parse_op("attention:batch=1,heads=2,kv_heads=1,q_len=4") == (
        "attention", {"kv_len": 0, "head_dim": 128, "causal": 1, "dtype": "fp16", "impl": "auto", "pass": "fwd",
                      "batch": 1, "heads": 2, "kv_heads": 1, "q_len": 4})
    # impl: the kernel family (FA3 on sm_90a by default); pass: fwd | bwd | fwdbwd (FlashAttention-2 backward)
    with pytest.raises(OpError, match="given twice"):
        parse_op("gemm:m=1,m=2,n=8,k=8")


def test_op_noncausal_attention_runs_the_kernel_without_the_mask(slice4):
    """causal=0 reaches the kernel: without the mask every query visits every key tile, so the same
    shape takes more cycles than under the causal mask (which skips the tiles above the diagonal)."""
    # q_len 1024 (was 256): with FlashAttention-2's 128-row tiles 256 tokens make one wave of 8 CTAs on the
    # 4-SM slice, whose time is the longest CTA's (the last query block sees every key block either way)
    base = "attention:batch=1,heads=4,kv_heads=4,q_len=1024"
    c = _run(base, slice4)["operators"][0]["cycles"]
    f = _run(base + ",causal=0", slice4)["operators"][0]["cycles"]
    assert f > 1.3 * c, (c, f)


def test_op_fp8_gemm_runs_the_hopper_e4m3_wgmma_kernel_against_the_fp8_peak():
    """An fp8 GEMM on the H100 config runs the e4m3 warp-specialised wgmma kernel and its tensor
    utilisation is measured against the fp8 peak (twice fp16 in the timing model: operand width)."""
    from gpusim.llm.run import tensor_peak_flops

    cfg = load_config("h100-sxm5-80gb", ["sm.count=8", "memory.l2_slices=5", "memory.l2_size=2560 KiB",
                                         "memory.dram_channels=10"])
    rep = M.run_gpu(None, None, cfg, graph=op_graph("gemm:m=256,n=512,k=512,dtype=fp8"))
    o = rep["operators"][0]
    assert o["kernels"][0]["kernel"].startswith("gemm_e4m3_tn_wgmma")
    assert rep["peak_tensor_flops_per_s"] == pytest.approx(2 * tensor_peak_flops(cfg, "sm_90a"))
    assert o["tensor_utilisation"] == pytest.approx(o["flops_per_s"] / rep["peak_tensor_flops_per_s"])

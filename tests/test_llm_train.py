"""Training steps (``gpusim llm --step train:...``, gpusim.llm.train): graph, kernels, figures, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.cli import main
from gpusim.llm import kernels as K
from gpusim.llm.collectives import collective_seconds
from gpusim.llm.model import StepError, load_model, parse_step
from gpusim.llm.run import schedule
from gpusim.llm.train import build_train_graph, training_summary
from gpusim.llm.walker import memory_accesses

A100 = "a100-sxm4-80gb"
GLOBAL = {"LDG", "STG", "RED", "ATOMG"}
STORES = {"STG", "RED", "ATOMG"}


def _graph(model="tiny", step="train:tokens=512,seq=256", tp=1, dp=1):
    return build_train_graph(load_model(model), parse_step(step), tp, dp)


def _global_bytes(call) -> tuple[int, int]:
    """(bytes loaded, bytes stored) by the global memory instructions of a walked launch."""
    kt = call.trace()
    inst, _ = memory_accesses(kt)
    st = kt.inst_static[inst]
    roots = np.array([o.split(".")[0] for o in kt.st_opcode])[st]
    width = kt.st_mem_width[st].astype(np.int64)
    glob = np.isin(roots, list(GLOBAL))
    store = np.isin(roots, list(STORES))
    return int(width[glob & ~store].sum()), int(width[glob & store].sum())


def test_train_step_runs_two_gemms_per_linear_in_backward():
    """Rule: every forward linear Y[T, out] = X[T, in] W^T has a dgrad GEMM (M = T, N = in, K = out) and a
    wgrad GEMM (M = in, N = out, K = T) in the backward, so the backward GEMM FLOPs are twice the forward's.
    (Dropping the dgrad of any layer, or swapping wgrad's M and K, fails this test.)"""
    g = _graph("gpt3-1.3b", "train:tokens=4096,seq=2048")
    ops = {o.name: o for o in g.operators}
    fwd = [o for o in g.operators if o.kind == "gemm" and o.shape["pass"] == "fwd"]
    assert {o.name for o in fwd} == {"layer.qkv_proj", "layer.o_proj", "layer.up_proj", "layer.down_proj", "lm_head"}
    T = 4096
    for f in fwd:
        stem = f.name.replace("layer.", "bwd.layer.")
        dg, wg = ops[f"{stem}.dgrad"], ops[f"{stem}.wgrad"]
        out, inn = f.shape["N"], f.shape["K"]
        assert (dg.shape["M"], dg.shape["N"], dg.shape["K"]) == (T, inn, out)
        assert (wg.shape["M"], wg.shape["N"], wg.shape["K"]) == (inn, out, T)
        assert dg.count == wg.count == f.count
        assert dg.shape["layout"] == "NN" and wg.shape["layout"] == "NT" and dg.shape["kernel_layout"] == "TN"
    bwd = [o for o in g.operators if o.kind == "gemm" and o.shape["pass"] in ("dgrad", "wgrad")]
    assert sum(o.flops * o.count for o in bwd) == 2 * sum(o.flops * o.count for o in fwd)


def test_backward_runs_layers_last_to_first():
    """Rule: the forward runs layers 0 .. L-1 and the backward L-1 .. 0, the optimizer after both."""
    g = _graph()
    launches, skipped = schedule(g, "sm_80")
    fwd = [ln.layer for ln in launches if ln.op.name == "layer.qkv_proj"]
    bwd = [ln.layer for ln in launches if ln.op.name == "bwd.layer.qkv_proj.wgrad"]
    assert fwd == [0, 1] and bwd == [1, 0]
    names = [ln.op.name for ln in launches]
    assert names.index("adamw") > max(i for i, n in enumerate(names) if n.startswith("bwd."))
    assert [o.name for o in skipped] == ["embedding_bwd"]


def test_attention_backward_runs_flashattention2_backward_kernels():
    """Rule: the attention backward is FlashAttention-2's three launches (preprocess, dK/dV/dQ, dQ convert)
    over the step's batch = tokens / seq sequences, causal; its FLOPs are 2.5x the forward's (FA2 sec. 4.1)."""
    g = _graph()
    launches, _ = schedule(g, "sm_80")
    names = [ln.call.name for ln in launches if ln.op.name == "bwd.layer.attn" and ln.layer == 0]
    assert names == list(K.FA2_BWD[("sm_80", 128)])
    main_call = next(ln.call for ln in launches if ln.call.name == K.FA2_BWD[("sm_80", 128)][1])
    assert main_call.launch.grid == (256 // 128, 2, 4) and main_call.launch.params["causal"] == 1
    ops = {o.name: o for o in g.operators}
    assert ops["bwd.layer.attn"].flops == 2.5 * ops["layer.attn"].flops


def test_adamw_moves_bytes_per_parameter():
    """Rule: the fused AdamW reads fp32 master weight, m, v and the 16-bit gradient and writes master, m, v
    and the 16-bit model copy: 14 + 14 = 28 bytes per parameter (apex/Megatron mixed-precision Adam),
    counted from the walked kernel's global loads and stores.  (A kernel that skipped the fp16 copy or
    re-read a moment would fail.)"""
    n = 2048 * 3
    calls = K.adamw("sm_80", n, 1 << 36, 2 << 36, 3 << 36, 4 << 36, 5 << 36)
    assert len(calls) == 1
    rd, wr = _global_bytes(calls[0])
    assert (rd, wr) == (14 * n, 14 * n)
    assert rd + wr == K.ADAMW_BYTES_PER_PARAM * n
    g = _graph()
    op = next(o for o in g.operators if o.kind == "adamw")
    assert op.bytes == K.ADAMW_BYTES_PER_PARAM * op.shape["params"]


def test_adamw_splits_large_parameter_sets_and_zero1_shards_them():
    """Rule: parameters beyond the kernel's int32 range run in several launches; ZeRO-1 (zero=1) updates
    params / dp on each GPU and all-gathers the 16-bit weights."""
    assert len(K.adamw("sm_80", K.ADAMW_MAX_PARAMS + 8, 0, 0, 0, 0, 0)) == 2
    m = load_model("tiny")
    g = _graph(step="train:tokens=512,seq=256,zero=1", dp=4)
    op = next(o for o in g.operators if o.kind == "adamw")
    assert op.shape["params"] == -(-(-(-m.params() // 4)) // 8) * 8
    ag = next(o for o in g.operators if o.name == "param_allgather")
    assert ag.shape == {"bytes": 2 * m.params(), "gpus": 4}


def test_norm_backward_reads_inputs_twice_and_writes_dx_once():
    """Rule: the norm backward reads X and dY twice per row (statistics pass, then dX pass; the second an
    L1/L2 hit) and the weight, writes dX once and adds dW / dB once per CTA of 32 rows with fp32 atomics."""
    rows, h = 64, 1024
    c = K.norm_bwd("sm_80", rows, h, 1 << 36, 2 << 36, 3 << 36, 4 << 36, 5 << 36, 6 << 36, layernorm=True)
    rd, wr = _global_bytes(c)
    assert wr == 2 * rows * h + 2 * 4 * h * (rows // K.NORM_BWD_ROWS)
    assert rd == 2 * (2 * 2 * rows * h) + 2 * 2 * h * rows


def test_cross_entropy_writes_dlogits_in_place_and_one_loss_per_row():
    """Rule: the fused cross-entropy reads each logit twice (max/sum pass, gradient pass) plus the label's
    logit (thread 0) and the label (every one of the 256 threads loads it: one sector per warp), and writes
    one fp16 gradient per logit and one fp32 loss per row (bytes counted per thread)."""
    rows, cols = 4, 4096
    c = K.cross_entropy("sm_80", rows, cols, 1 << 36, 2 << 36, 1 << 36, 3 << 36, np.array([0, 7, 4095, 12]))
    rd, wr = _global_bytes(c)
    assert wr == rows * (2 * cols + 4)
    assert rd == rows * (2 * 2 * cols + 2 + 256 * 4)


def test_train_flops_follow_flashattention2_convention():
    """Rule: model FLOPs per GPU = accum x batch x (6 seq params + 12 layers hidden seq^2) / tp (FlashAttention-2,
    arXiv:2307.08691 sec. 4.2), and TFLOPS/GPU = that over the optimizer step's seconds (accum micro-batches,
    one update and all-reduce)."""
    m = load_model("gpt3-1.3b")
    st = parse_step("train:tokens=4096,seq=2048,accum=3")
    rep = {"clock_hz": 1e9, "launch_cycles_each": 0, "operators": [
        {"name": "layer.qkv_proj", "cycles": 1_000_000, "launches": 1, "seconds": 1e-3},
        {"name": "bwd.layer.qkv_proj.dgrad", "cycles": 2_000_000, "launches": 1, "seconds": 2e-3},
        {"name": "adamw", "cycles": 500_000, "launches": 1, "seconds": 5e-4},
        {"name": "grad_allreduce", "cycles": 1_000_000, "launches": 1, "seconds": 1e-3}]}
    tr = training_summary(rep, m, st, 1, 8)
    flops = 3 * 2 * (6 * 2048 * m.params() + 12 * 24 * 2048 * 2048 ** 2)
    assert tr["model_flops_per_gpu"] == flops
    assert tr["step_seconds"] == pytest.approx(3 * 3e-3 + 5e-4 + 1e-3)
    assert tr["step_seconds_dp_overlapped"] == pytest.approx(3 * 3e-3 + 5e-4)
    assert tr["model_tflops_per_gpu"] == pytest.approx(flops / (3 * 3e-3 + 1.5e-3) / 1e12)


def test_gpt3_presets_match_the_paper_sizes():
    """Rule: the presets are GPT-3's 1.3B and 2.7B (Brown et al., arXiv:2005.14165, Table 2.1: n_params 1.3B /
    2.7B, d_head 128 / 80) with GPT-2's vocabulary padded to a multiple of 8 (50264)."""
    m1, m2 = load_model("gpt3-1.3b"), load_model("gpt3-2.7b")
    assert abs(m1.params() / 1.3e9 - 1) < 0.02 and abs(m2.params() / 2.7e9 - 1) < 0.02
    assert (m1.head_dim, m2.head_dim, m1.vocab) == (128, 80, 50264)


def test_grad_allreduce_is_two_bytes_per_parameter_over_dp():
    """Rule: data parallelism all-reduces every gradient (bf16: 2 bytes per parameter / tp) over dp GPUs, at the
    nccl-tests bus-bandwidth cost 2 (n-1)/n S / busbw + latency."""
    m = load_model("tiny")
    g = _graph(dp=8)
    ar = next(o for o in g.operators if o.name == "grad_allreduce")
    assert ar.shape == {"bytes": 2 * m.params(), "gpus": 8}
    assert collective_seconds("allreduce", ar.shape["bytes"], 8, 100e9, 0.0) == pytest.approx(
        2 * 7 / 8 * 2 * m.params() / 100e9)
    assert not any(o.name == "grad_allreduce" for o in _graph(dp=1).operators)


def test_train_graph_layernorm_gelu_model_uses_its_kernels():
    """Rule: a GPT-style block (LayerNorm, GeLU, learned positions) runs layernorm / gelu and their backward,
    no rotary; a Llama block RMSNorm / SiLU-mul and the rotary backward."""
    gpt = {o.kind for o in _graph("gpt3-1.3b", "train:tokens=2048").operators}
    assert {"layernorm", "gelu", "gelu_bwd", "norm_bwd"} <= gpt and "rotary" not in gpt and "silu_mul" not in gpt
    llama = {o.name for o in _graph().operators}
    assert {"layer.rotary", "bwd.layer.rotary_bwd", "bwd.layer.silu_mul_bwd"} <= llama


@pytest.mark.parametrize("argv, message", [
    (["--model", "tiny", "--step", "train:tokens=1000,seq=256", "--gpu", A100], "not a multiple of seq = 256"),
    (["--model", "mixtral-8x7b", "--step", "train:tokens=2048", "--gpu", A100], "no backward path for mixture-of-experts"),
    (["--model", "gpt3-2.7b", "--step", "train:tokens=2048", "--gpu", A100], "no backward path"),
    (["--model", "tiny", "--step", "train:tokens=512,seq=256", "--systolic", "tpu-v4"], "train: steps run on --gpu only"),
    (["--model", "tiny", "--step", "train:tokens=512,seq=256", "--gpu", "rtx3070"], "no backward path"),
    (["--model", "tiny", "--step", "train:tokens=512,seq=256,zero=1", "--gpu", A100], "zero=1"),
    (["--model", "tiny", "--step", "prefill:tokens=512", "--gpu", A100, "--dp", "2"], "--dp applies to train"),
    (["--model", "tiny", "--step", "train:tokens=512+decode:context=8", "--gpu", A100], "stands alone"),
])
def test_train_bad_input_is_one_line_and_exit_status_2(argv, message, capsys, tmp_path):
    """Rule: a train step that cannot run (seq not dividing tokens, MoE or a head dim without a backward
    kernel, a non-GPU backend, an arch without the backward kernels, ZeRO without dp, --dp on a serving step,
    a train group joined to others) is one line naming the reason, exit status 2."""
    rc = main(["llm", *argv, "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_parse_train_step_defaults():
    """Rule: train: defaults seq 2048 (GPT-3's context), accum 1, zero 0; batch = tokens / seq."""
    st = parse_step("train:tokens=8192")
    assert (st.seq, st.groups[0].count, st.accum, st.zero, st.sampled) == (2048, 4, 1, 0, 0)
    with pytest.raises(StepError):
        parse_step("train:seq=2048")


@pytest.mark.slow
def test_tiny_train_step_simulates_every_phase(tmp_path):
    """Rule: a whole train step simulates (tiny model, 8-SM slice): forward, backward, optimizer and the DP
    all-reduce each take time, and the backward takes longer than the forward."""
    from gpusim.llm.run import simulate_step

    rep = simulate_step("tiny", "train:tokens=512,seq=256", A100, dp=2, overrides=["sm.count=8"])
    ph = rep["training"]["phase_seconds"]
    assert all(v > 0 for v in ph.values())
    assert ph["backward"] > ph["forward"]
    assert rep["training"]["model_tflops_per_gpu"] > 0


def test_train_suite_case_is_a_prediction():
    """Rule: the training case is compared as a prediction: no config or model file cites its hardware row."""
    from pathlib import Path

    from gpusim.validate import load_suites

    suite = Path(__file__).resolve().parents[1] / "validation" / "suites-slow" / "train-a100.yaml"
    (case,) = load_suites([suite])[0].cases
    assert case.workload.kind == "llm_train" and not case.calibration and case.cited_by == ()
    assert case.native_units == ("flop/s", "s")


def test_graph_and_kernel_agree_on_adamw_bytes():
    """Rule: the graph's AdamW byte count and the kernel module's are one number (28 per parameter)."""
    from gpusim.llm.train import ADAMW_BYTES

    assert ADAMW_BYTES == K.ADAMW_BYTES_PER_PARAM == 28

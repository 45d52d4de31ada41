"""Volta (GV100, sm_70): the V100 config, the sm_70 listings and what they must (not) contain.

Oracles: NVIDIA's Tesla V100 whitepaper (80 SMs x 8 tensor cores x 64 FMA/clk at 1530 MHz = 125 TFLOPS,
a 4096-bit HBM2 bus), the PTX ISA (mma.sync.m8n8k4 is Volta's only mma shape; cp.async and ldmatrix are
sm_80 / sm_75 instructions) and the tiling of our own kernels.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpusim.config import load_config
from gpusim.frontend.sass import parse_sass_listing
from gpusim.llm import kernels as K
from gpusim.llm.run import tensor_peak_flops
from tests.test_walker import count_ops, ptrs, touches

REPO = Path(__file__).resolve().parent.parent
SM70 = REPO / "traces" / "kernels" / "sass" / "sm_70"
SIMPLETORCH = REPO.parent / "shared" / "traces" / "simpletorch-v100-tracer-v3"
V100 = "v100-sxm2-32gb"


def test_v100_config_peak_fp16_tensor_is_125_tflops():
    """Rule (V100 whitepaper): 80 SMs x 8 tensor cores x 64 FP16 FMA/clk (FP32 accumulate) x 2 x 1.53 GHz
    = 125.3 TFLOPS, and the model's HMMA.884.F32 step must reproduce it.  Broken once with
    pipes.tensor_rate_per_cycle 4096 (the A100's): 250 TFLOPS, the test fails."""
    cfg = load_config(V100)
    assert K.arch_for_binary_version(cfg.compute_capability) == "sm_70"
    peak = tensor_peak_flops(cfg, "sm_70")
    assert peak == pytest.approx(80 * 8 * 64 * 2 * 1.53e9, rel=1e-9)
    assert 125e12 <= peak < 126e12


def test_v100_hbm2_channels_are_legacy_128_bit_at_the_bus_rate():
    """Rule (JESD235 legacy mode, Accel-Sim's V100 config): 4 stacks x 8 channels x 128 bit = the 4096-bit
    bus, each channel moving one 32-byte burst (BL2) per DRAM clock; 900 GB/s / 32 channels must then be
    within 3% of 32 B x 0.877 GHz (the whitepaper's 900 GB/s is rounded up from 896)."""
    cfg = load_config(V100)
    m = cfg.memory
    assert m.dram_model == "hbm" and m.dram_channels == 32 and m.dram_channels * 128 == 4096
    per_channel = m.dram_bandwidth_bytes_per_s / m.dram_channels
    assert per_channel == pytest.approx(32 * 877e6, rel=0.03)


def _hmma(listing: Path) -> list[str]:
    lst = parse_sass_listing(listing)
    return [op for fn in lst.functions.values() for op in fn.opcode if op.startswith("HMMA")]


def test_volta_mma_m8n8k4_becomes_hmma_884_steps():
    """Rule (ptxas for sm_70): every mma.sync.m8n8k4 with f32 accumulators becomes four instructions
    HMMA.884.F32.F32.STEP0..STEP3, each writing one accumulator register pair.  gemm_volta.cu issues
    BK/4 x 8 mma.sync per warp and k tile, unrolled once per kernel: 64 (BK 32) + 128 (BK 64) = 192."""
    ops = _hmma(SM70 / "gemm_volta.sass")
    assert set(ops) == {f"HMMA.884.F32.F32.STEP{i}" for i in range(4)}
    for i in range(4):
        assert ops.count(f"HMMA.884.F32.F32.STEP{i}") == 192
    fn = K.load_kernel("gemm_f16_tn_volta_128x128x32_s2", "sm_70").function
    steps = [(op, d) for op, d in zip(fn.opcode, fn.dst_reg_lists) if op.startswith("HMMA")]
    assert all(len(d) == 2 and d[1] == d[0] + 1 for _, d in steps)


def test_volta_gemm_kernel_has_no_cp_async():
    """Rule (PTX ISA): cp.async (LDGSTS/LDGDEPBAR) is sm_80+, ldmatrix (LDSM) sm_75+; Volta's GEMM stages
    tiles with ld.global -> st.shared instead.  No sm_70 listing may contain them (ptxas would refuse),
    and the GEMM must stage through LDG.128 + STS.128."""
    for f in SM70.glob("*.sass"):
        roots = {op.split(".")[0] for fn in parse_sass_listing(f).functions.values() for op in fn.opcode}
        assert not roots & {"LDGSTS", "LDGDEPBAR", "LDSM", "HGMMA", "UTMALDG"}, f.name
    ops = {op for fn in parse_sass_listing(SM70 / "gemm_volta.sass").functions.values() for op in fn.opcode}
    assert any(o.startswith("LDG.E.128") for o in ops) and "STS.128" in ops


@pytest.mark.parametrize("name, bk", [("gemm_f16_tn_volta_128x128x32_s2", 32), ("gemm_f16_tn_volta_128x128x64_s2", 64)])
def test_volta_gemm_touches_and_counts_match_the_128x128_tiling(name, bk):
    """Rule: a 128x128 CTA tile reads its A rows once per N tile and its W rows once per M tile, writes each
    C element once (ragged M and N); per k tile every warp issues 4 x (BK/4 x 8) HMMA steps and one BAR
    (plus the prologue's).  A read of a row past M or N lies outside its buffer and fails ``touches``."""
    M, N, Kd = 200, 264, 128
    A, W, C = ptrs(3)
    kt = K.gemm_volta("sm_70", M, N, Kd, A, W, C, name=name).trace()
    t = touches(kt, {"A": 2 * M * Kd, "W": 2 * N * Kd, "C": 2 * M * N})
    assert np.all(t["A"][0] == math.ceil(N / 128)) and not t["A"][1].any()
    assert np.all(t["W"][0] == math.ceil(M / 128)) and not t["W"][1].any()
    assert np.all(t["C"][1] == 1) and not t["C"][0].any()
    tiles = Kd // bk
    ctas = math.ceil(N / 128) * math.ceil(M / 128)
    assert kt.num_ctas == ctas and kt.num_warps == 8 * ctas
    assert np.all(count_ops(kt, "HMMA", per_warp=True) == 4 * (bk // 4) * 8 * tiles)
    assert np.all(count_ops(kt, "BAR", per_warp=True) == tiles + 1)


def test_volta_gemm_preconditions_are_one_clear_error():
    with pytest.raises(K.KernelError, match="multiple of 32"):
        K.gemm_volta("sm_70", 128, 128, 100, *ptrs(3))
    with pytest.raises(K.KernelError, match="sm_70 only"):
        K.gemm_volta("sm_80", 128, 128, 128, *ptrs(3))


def test_volta_decode_attention_reads_each_kv_row_once_on_the_cuda_cores():
    """Rule (FlashInfer's CUDA-core decode): one CTA per (split, KV head, sequence) reads each K/V row of its
    split once for the whole GQA group, and the sm_70 kernel issues no tensor-core instruction."""
    from tests.test_decode_attn import _buffers, _expected_kv, _shuffled_table

    B, Hkv, ctx, group = 2, 2, 300, 4
    H = Hkv * group
    bt, pool = _shuffled_table(B, ctx, spare=5)
    Q, Kp, Vp, BT, Op, ML, O = ptrs(7)
    k1, k2 = K.decode_attn("sm_70", B, H, Hkv, ctx, Q, Kp, Vp, Op, ML, O, BT, block_table=bt, split_len=128)
    assert k1.name == "decode_attn_paged_simt_f16_d128"
    ns = math.ceil(ctx / 128)
    kt = k1.trace()
    t = touches(kt, _buffers(B, H, Hkv, pool, bt, ns))
    exp = _expected_kv(bt, ctx, pool, Hkv)
    assert np.array_equal(t["K"][0], exp) and np.array_equal(t["V"][0], exp)
    assert count_ops(kt, "HMMA") == 0
    with pytest.raises(K.KernelError, match="exceeds the kernel's 8"):
        K.decode_attn("sm_70", 1, 32, 2, 64, *ptrs(8), split_len=64)


def test_compiler_constant_bank_of_sm70_listings_is_folded_into_immediates():
    """Rule: CUDA 12's ptxas puts shared-array addresses in c[0x2][...] (.nv.constant2); build.py copies those
    words from the cubin into the manifest and load_kernel turns each c[0x2] operand into its value, so
    the walker computes the addresses (without it the combine kernel stops on an unknown address)."""
    man = K._manifest("sm_70")["kernels"]["decode_attn_combine_f16_d128"]
    assert man["const2_words"]
    raw = parse_sass_listing(SM70 / "decode_attn.sass").find_function("decode_attn_combine_f16_d128")
    assert any(o.kind == "const" and o.bank == 2 for ops in raw.operands for o in ops)
    fn = K.load_kernel("decode_attn_combine_f16_d128", "sm_70").function
    assert not any(o.kind == "const" and o.bank == 2 for ops in fn.operands for o in ops)
    folded = {o.value for ops, rops in zip(fn.operands, raw.operands) for o, r in zip(ops, rops)
              if r.kind == "const" and r.bank == 2}
    assert folded <= set(man["const2_words"])


def test_prefill_attention_on_volta_is_one_clear_error_naming_why():
    """Rule: an operator without a Volta kernel is one error naming the missing instructions, exit 2."""
    with pytest.raises(K.KernelError, match="ldmatrix"):
        K.flash_attn("sm_70", 1, 8, 8, 64, 64, *ptrs(4))
    r = subprocess.run([sys.executable, "-m", "gpusim.cli", "llm", "--op", "attention:batch=1,heads=8,kv_heads=8,q_len=64",
                        "--gpu", V100, "-o", "/dev/null"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "sm_70" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(not SIMPLETORCH.is_dir(), reason="../shared/traces/simpletorch-v100-tracer-v3 not present")
def test_real_sm70_trace_runs_on_the_v100_config(tmp_path):
    """Rule: a real Volta NVBit trace (sm_70, tracer v3, 11 kernels of a PyTorch training step) runs end to end
    on the V100 config with the Volta opcode table: every kernel simulated, every warp instruction issued."""
    from gpusim.frontend.reader import read_kernel_trace

    r = subprocess.run([sys.executable, "-m", "gpusim.cli", "run", str(SIMPLETORCH / "kernelslist.g"), "--gpu", V100,
                        "-o", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    import json

    rep = json.loads((tmp_path / "report.json").read_text())
    ks = rep["kernels"]
    assert len(ks) == 11 and all(k["cycles"] > 0 for k in ks)
    want = sum(read_kernel_trace(p).warp_instructions for p in sorted(SIMPLETORCH.glob("kernel-*.traceg.xz")))
    assert sum(k["warp_instructions"] for k in ks) == want == 63054


@pytest.mark.slow
def test_sm70_listings_match_a_fresh_build(tmp_path):
    """Rule: the committed sm_70 listings and manifest are what build.py makes from the sources with the
    CUDA 12 tools (NVRTC 12.9, nvdisasm 12.8); skipped where those are not installed."""
    r = subprocess.run([sys.executable, str(REPO / "traces/kernels/build.py"), "--arch", "sm_70", "--out", str(tmp_path)],
                       capture_output=True, text=True)
    if r.returncode != 0 and ("needs" in r.stderr + r.stdout or "CUDA 12" in r.stderr + r.stdout):
        pytest.skip("CUDA 12 tools for sm_70 not installed (see traces/kernels/README.md)")
    assert r.returncode == 0, r.stderr
    for f in SM70.iterdir():
        assert (tmp_path / "sm_70" / f.name).read_bytes() == f.read_bytes(), f.name

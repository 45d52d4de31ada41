"""Synchronous tensor-core MMAs (mma.sync -> HMMA) against published per-SM rates and measured latencies.

Each test builds a micro kernel (gpusim.frontend.microasm), simulates it and measures the rate or the
latency from the simulated issue cycles; the oracle is the published figure, and the config's
released-formula value (research/modern-gpu-cores.md §5) where no figure exists.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.config import load_config
from gpusim.frontend.microasm import Inst
from tests.micro_sim import EXIT, issue_cycles, simulate

HMMA_FMAS = 16 * 8 * 16  # one HMMA.16816 (mma.sync m16n8k16) = 2048 FMAs


def _independent_hmma_stream(n):
    # distinct accumulators, shared A/B fragments: no register dependence between the MMAs; stall 1 so
    # that only the tensor pipe (not the compiler's stall counts) spaces them
    return [Inst(f"HMMA.16816.F32 R{24 + 4 * (k % 32)}, R4, R8, R{24 + 4 * (k % 32)}") for k in range(n)] + [EXIT]


def _sm_fma_per_clk(tmp_path, gpu, warps, n=48):
    """FMA/clk/SM of a dense stream of independent HMMA.16816.F32 from ``warps`` warps of one SM,
    measured per sub-core from the first to the last HMMA issue (steady state) and summed."""
    r, kt, _ = simulate(tmp_path, _independent_hmma_stream(n), gpu=gpu, arch="sm_80", warps_per_cta=warps,
                        overrides=["icache.perfect=true"])
    n_sub = load_config(gpu).sm.subcores
    total = 0.0
    for sub in range(n_sub):
        t = np.sort(np.concatenate([issue_cycles(r, kt, w)[:n] for w in range(sub, warps, n_sub)]))
        total += (t.size - 1) * HMMA_FMAS / (t[-1] - t[0])
    return total


# Published dense FP16-input rates with FP32 accumulate, FMA/clk/SM:
#  * A100: 1024 (research/gpu_specs.csv A100 FP16_tensor_FMA_per_clk_per_SM; HW229: one HMMA.16816.F32
#    per 8 cycles per sub-core);
#  * RTX A6000 (professional GA102): full-rate FP32 accumulate, 512 = half of A100 per SM (released
#    A6000 config: -tensor_rate_per_cycle 2048 without the FP32 extra, MGC §5);
#  * GeForce GA10x (RTX 3070): half-rate FP32 accumulate, 256 = half of the A6000 (MGC §5 extra +16 in
#    the released 3080/3090 configs; NVIDIA GA102 whitepaper, RTX 3080: 59.5 TFLOPS FP16 tensor with FP32
#    accumulate = 256 x 2 x 68 SMs x 1.71 GHz).
PUBLISHED_FMA_PER_CLK_PER_SM = {"a100-sxm4-80gb": 1024, "rtx-a6000": 512, "rtx3070": 256}


@pytest.mark.parametrize("gpu", sorted(PUBLISHED_FMA_PER_CLK_PER_SM))
def test_dense_hmma_stream_reaches_the_published_per_sm_tensor_rate(tmp_path, gpu):
    """Rule: independent HMMA.16816.F32 from enough warps keep every sub-core's tensor pipe busy, one
    instruction per initiation interval: the SM sustains the published FMA/clk."""
    rate = _sm_fma_per_clk(tmp_path, gpu, warps=8)
    assert rate == pytest.approx(PUBLISHED_FMA_PER_CLK_PER_SM[gpu], rel=0.02), rate


@pytest.mark.parametrize("gpu", ["a100-sxm4-80gb", "rtx3070"])
def test_more_warps_cannot_exceed_the_tensor_pipe_rate(tmp_path, gpu):
    """Rule: the tensor pipe of a sub-core takes one HMMA per initiation interval however many warps
    offer work: 16 warps (4 per sub-core) get no more than the published rate."""
    rate = _sm_fma_per_clk(tmp_path, gpu, warps=16)
    assert rate <= PUBLISHED_FMA_PER_CLK_PER_SM[gpu] * 1.001, rate
    assert rate == pytest.approx(PUBLISHED_FMA_PER_CLK_PER_SM[gpu], rel=0.02)


# ------------------------------------------------------------------ mma.sync latency

def _dependent_chain_latency(tmp_path, gpu, mnemonic, n=24):
    # each MMA reads the previous one's result (the first four source registers of the trace line
    # carry the dependence); scoreboard mode: the hardware, not a compiler stall count, spaces them
    prog = [Inst(f"{mnemonic} R24, R24, R8, R24")] * n + [EXIT]
    r, kt, _ = simulate(tmp_path, prog, gpu=gpu, arch="sm_80", sass=False, overrides=["icache.perfect=true"])
    t = issue_cycles(r, kt)[:n]
    return float(np.mean(np.diff(t)))


@pytest.mark.parametrize("mnemonic,row,cycles", [
    ("HMMA.16816.F32", "HW036", 24.09),   # mma.sync m16n8k16 f16 -> f32
    ("HMMA.1688.F32", "HW038", 16.0),     # mma.sync m16n8k8 f16 -> f32
    ("IMMA.16816.S8.S8", "HW037", 16.0),  # mma.sync m16n8k16 s8 -> s32
])
def test_h100_dependent_mma_sync_chain_has_the_measured_latency(tmp_path, mnemonic, row, cycles):
    """Rule: a chain of mma.sync each consuming the previous accumulator issues once per measured
    issue-to-result latency (H100 SXM5, 1 warp, ILP 1; research/hw_ground_truth.csv HW036-HW038)."""
    lat = _dependent_chain_latency(tmp_path, "h100-sxm5-80gb", mnemonic)
    assert lat == pytest.approx(cycles, abs=1.0), (row, lat)


def test_a100_dependent_mma_sync_chain_uses_the_formula_latency(tmp_path):
    """Rule: without a measured latency (no A100 mma.sync latency row in research/; the A100 config
    sets no pipes.mma_latency_base) the dependent distance is the released formula's latency plus the
    operand-read offset: HMMA.16816.F32 at rate 4096 = 16 cycles, latency 16 - 16 // 2 = 8, + 2."""
    cfg = load_config("a100-sxm4-80gb")
    assert cfg.pipes.mma_latency_base_cycles == 0
    cyc = HMMA_FMAS * 32 // cfg.pipes.tensor_rate_per_cycle
    lat = _dependent_chain_latency(tmp_path, "a100-sxm4-80gb", "HMMA.16816.F32")
    assert lat == cyc - cyc // 2 + 2

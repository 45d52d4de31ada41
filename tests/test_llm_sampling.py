"""CTA-wave sampling of gpusim/llm/run.py (issue 7: "large kernels may be sampled by CTA waves with the
sampling error estimated and reported, never silently").

Kernels run on an *A100 slice* (:func:`a100_slice`: a few SMs with their share of the L2 and DRAM
bandwidth), so a small kernel already has tens of waves.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.config import load_config
from gpusim.errors import GpusimError
from gpusim.llm import kernels as K
from gpusim.llm import run as llm_run
from gpusim.llm.run import (
    SAMPLE_DRAIN_WAVES,
    SAMPLE_WARMUP_WAVES,
    simulate_kernel,
    simulate_step,
    summary_lines,
    wave_extrapolation,
)
from tests.test_llm_sanity import a100_slice

A100 = "a100-sxm4-80gb"
PTRS = (1 << 40, 2 << 40, 3 << 40)


@pytest.fixture(scope="module")
def gemv_full_and_sampled():
    """A decode GEMV of 8192 rows (2048 CTAs of 4 rows) on 4 SMs: 32 waves of 64 CTAs."""
    cfg = load_config(A100, a100_slice(4))
    call = K.gemv("sm_80", 1, 8192, 2048, *PTRS)
    return cfg, call, simulate_kernel(cfg, call), simulate_kernel(cfg, call, sample=4)


def test_sampled_kernel_is_within_its_reported_error_of_the_full_simulation(gemv_full_and_sampled):
    """Rule: with sample=k a kernel of many waves simulates only warm-up + k measured + drain waves'
    CTAs and extrapolates the rest; the estimate lies within the reported relative error of the full
    simulation, and the error is reported (relative_error > 0, per-wave cycles listed)."""
    cfg, call, full, samp = gemv_full_and_sampled
    s = samp["sampling"]
    assert full["sampling"] is None
    wave = cfg.sm.count * full["ctas_per_sm"]
    n_w = SAMPLE_WARMUP_WAVES + 4 + SAMPLE_DRAIN_WAVES
    assert s["wave_ctas"] == wave and s["waves_total"] == -(-call.launch.num_ctas // wave) == 32
    assert s["ctas_simulated"] == n_w * wave < s["ctas_total"] == call.launch.num_ctas
    assert len(s["wave_cycles"]) == 4 and s["measured_waves"] == 4
    assert 0 < s["relative_error"] < 0.1
    err = abs(samp["cycles"] - full["cycles"]) / full["cycles"]
    assert err <= s["relative_error"], f"sampled {samp['cycles']} vs full {full['cycles']}: {err:.2%} > {s['relative_error']:.2%}"
    # instruction count and DRAM bytes are scaled by total / simulated CTAs
    assert samp["warp_instructions"] == pytest.approx(full["warp_instructions"], rel=0.01)
    assert samp["dram_bytes"] == pytest.approx(full["dram_bytes"], rel=0.1)


def test_sampling_walks_and_simulates_only_the_sampled_ctas(gemv_full_and_sampled, monkeypatch):
    """Rule: the walker produces only the sampled CTAs (traces are generated as the simulator needs
    them), so the sample costs a fraction of the full simulation."""
    cfg, call, full, samp = gemv_full_and_sampled
    walked = []
    orig = K.KernelCall.trace

    def spy(self, ctas=None):
        kt = orig(self, ctas)
        walked.append(kt.num_ctas)
        return kt

    chunked = []
    orig_chunks = llm_run.walk_chunks

    def spy_chunks(*a, **kw):       # streamed runs walk the sample chunk by chunk (gpusim.assemble.run_streamed)
        for kt in orig_chunks(*a, **kw):
            chunked.append(kt.num_ctas)
            yield kt

    monkeypatch.setattr(K.KernelCall, "trace", spy)
    monkeypatch.setattr(llm_run, "walk_chunks", spy_chunks)
    simulate_kernel(cfg, call, sample=4)
    assert max(max(walked), sum(chunked)) == samp["sampling"]["ctas_simulated"] < call.launch.num_ctas
    assert samp["walk_seconds"] + samp["simulate_seconds"] < full["walk_seconds"] + full["simulate_seconds"]


def test_sampling_is_off_by_default_and_small_kernels_are_never_sampled():
    """Rule: without ``sample`` every CTA is simulated (report["sampling"] None, no operator sampled);
    with it, a kernel of no more waves than the sample itself is simulated whole (its sampling None)."""
    rep = simulate_step("tiny", "decode:batch=1,context=256", A100)
    assert rep["sampling"] is None
    assert not any(o["sampled"] for o in rep["operators"])
    assert all(k["sampling"] is None for o in rep["operators"] for k in o["kernels"])
    small = simulate_kernel(load_config(A100), K.residual_add("sm_80", 4096, *PTRS), sample=4)
    assert small["sampling"] is None


def test_a_sampled_step_reports_its_error_and_stays_within_it():
    """Rule: simulate_step(sample=k) samples the kernels with many waves and says so: kernel entries
    carry their sampling record, operators `sampled` and `relative_error`, report["sampling"] the
    step's error bound (sum of the kernels' bounds), and the summary prints it; the sampled step
    lies within that bound of the unsampled one."""
    over = a100_slice(1)
    full = simulate_step("tiny", "decode:batch=1,context=256", A100, overrides=over)
    samp = simulate_step("tiny", "decode:batch=1,context=256", A100, overrides=over, sample=4)
    sp = samp["sampling"]
    assert sp["measured_waves"] == 4 and sp["distinct_kernels_sampled"] >= 1 and sp["launches_sampled"] >= 1
    sampled = [o for o in samp["operators"] if o["sampled"]]
    assert sampled and all(o["relative_error"] > 0 for o in sampled)
    assert all(k["sampling"] is not None for o in sampled for k in o["kernels"] if k["kernel"].startswith("gemv"))
    assert 0 < sp["relative_error"] < 0.2
    assert abs(samp["step_seconds"] - full["step_seconds"]) <= sp["relative_error"] * full["step_seconds"]
    assert any("CTA-wave sampling" in ln and "error bound" in ln for ln in summary_lines(samp))


def test_wave_extrapolation_on_a_synthetic_completion_curve():
    """Rule: with a steady d cycles per wave the extrapolation is exact and its error 0; a remainder
    that is not whole waves (fraction f) counts f*d -- its CTAs overlap the drain -- with
    min(f, 1 - f)*d of error (issue 19: the former midpoint (1 + f)/2 overestimated, e.g. up_gate_proj
    +10.5%; simulate_kernel now aligns the sample so that the remainder is whole waves); waves slowing
    down give d from the last half and a bound of the larger of the Student-t half-width and the gap
    to the first half, per extrapolated wave."""
    S, d = 10, 1000.0
    # warm-up wave takes 1500 cycles, then d per wave; CTAs complete at wave ends (a step curve)
    ends = [0.0, 1500.0] + [1500.0 + d * j for j in range(1, 5)]
    pts = [(0, 0)]
    for j in range(1, len(ends)):
        pts += [(ends[j] - 1, (j - 1) * S), (ends[j], j * S)]
    curve = np.array(pts, float)
    n_s = 5 * S
    ex = wave_extrapolation(curve, S, n_s, 12 * S, warmup=1, measured=3)
    assert ex["cycles_per_wave"] == pytest.approx(d)
    assert ex["cycles"] == pytest.approx(ends[-1] + 7 * d) and ex["absolute_error_cycles"] == pytest.approx(0)
    ex = wave_extrapolation(curve, S, n_s, 12 * S + 4, warmup=1, measured=3)   # f = 0.4
    assert ex["cycles"] == pytest.approx(ends[-1] + 7.4 * d)
    assert ex["absolute_error_cycles"] == pytest.approx(0.4 * d)
    # waves slowing down: 900, 1000 | 1100, 1200 -> d = 1150 from the last two, gap 200 per wave;
    # Student-t on the spread pooled over both halves (n - 2 = 2 degrees of freedom): 4.303 x s / sqrt(2)
    ends2 = [0.0, 1500.0, 2400.0, 3400.0, 4500.0, 5700.0, 6500.0]
    pts = [(0, 0)]
    for j in range(1, len(ends2)):
        pts += [(ends2[j] - 1, (j - 1) * S), (ends2[j], j * S)]
    ex = wave_extrapolation(np.array(pts, float), S, 6 * S, 10 * S, warmup=1, measured=4)
    assert ex["cycles_per_wave"] == pytest.approx(1150) and ex["cycles_per_wave_first_waves"] == pytest.approx(950)
    assert ex["cycles"] == pytest.approx(6500 + 4 * 1150)
    hw = 4.303 * np.sqrt((4 * 50.0 ** 2) / 2) / np.sqrt(2)
    assert ex["absolute_error_cycles"] == pytest.approx(4 * max(hw, 200))


@pytest.mark.parametrize("bad", [2, -2, 4.5, "4", True])
def test_bad_sample_values_are_one_clear_error(bad):
    """Rule: sample must be an integer >= SAMPLE_MIN_WAVES = 4 (or 0 / None for off); anything else is
    a GpusimError."""
    with pytest.raises(GpusimError, match="number of measured CTA waves"):
        simulate_kernel(load_config(A100), K.residual_add("sm_80", 4096, *PTRS), sample=bad)

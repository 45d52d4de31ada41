"""Adaptive CTA-wave sampling (issue 19 item 3, "sampling with evidence"): ``sample_error`` = E adds
waves until the Student-t interval of the per-wave time, projected onto the kernel, is below E
(:class:`gpusim.llm.sampling.AdaptiveSampler`), keeps adding them on drift, stops dispatching at a
CTA count that leaves whole waves (the sample's tail is the kernel's own) and lets the resident CTAs
drain (``stop`` of ``gpusim.assemble.run``).

Oracles: synthetic completion curves with known per-wave times (the estimator), and the run of exactly
the first n CTAs (the truncation mechanism).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpusim import assemble
from gpusim.config import load_config
from gpusim.errors import GpusimError
from gpusim.llm import kernels as K
from gpusim.llm import sampling as SP
from gpusim.llm.run import simulate_kernel, wave_extrapolation
from gpusim.llm.walker import walk_chunks
from tests.test_llm_sanity import a100_slice

A100 = "a100-sxm4-80gb"
PTRS = (1 << 40, 2 << 40, 3 << 40)


def feed(sampler: SP.AdaptiveSampler, durations, wave: int, step: float = 10.0):
    """Drive ``sampler`` with a staggered completion curve: wave j's CTAs complete evenly over its
    duration d_j (CTAs are dispatched one wave ahead of completion).  Returns (the wave index at which it
    stopped or None, the CTA count it returned)."""
    t, done = 0.0, 0
    for j, d in enumerate(durations):
        for i in range(1, wave + 1):
            t += d / wave
            done += 1
            sent = min(done + wave, sampler.total)
            n = sampler.observe(round(t), done, sent)
            if n is not None:
                return j + 1, n
    return None, None


def test_t_table_is_students_t_975():
    """Rule: the interval uses the two-sided 95% Student-t critical values (NIST/SEMATECH 1.3.6.7.2).
    (Break: a table off by one degree of freedom fails here.)"""
    st = pytest.importorskip("scipy.stats")
    for df in range(1, 31):
        assert SP.t975(df) == pytest.approx(st.t.ppf(0.975, df), abs=6e-4)
    assert SP.t975(100) >= st.t.ppf(0.975, 100)        # conservative above the table


def test_sample_error_stops_when_interval_below_target():
    """Rule: with noisy but stationary wave times the sampler stops at the first completed wave where
    M x max(t(0.975, n-2) s / sqrt(h) + 2 res / h, |mean B - mean A|) <= E x estimate (s pooled over
    the halves A and B of the n measured waves, h = |B|; plus a significant linear trend continued over
    the M waves; M the waves
    left after the aligned stop), recomputed here from the durations alone; a tighter target needs
    more waves.  (Break: using the normal 1.96 instead of Student-t stops earlier and fails here.)"""
    wave, total_waves, res = 100, 200, 1.0
    rng = np.random.default_rng(1)       # a draw without a false drift alarm (restarts == 0, asserted)
    d = 1000.0 + rng.normal(0, 20, total_waves).round()
    stops = {}
    for target in (0.02, 0.005):
        s = SP.AdaptiveSampler(wave, wave * total_waves, warmup=1, min_waves=4, target=target, resolution=res)
        j, n = feed(s, d, wave)
        assert j is not None and s.reason == "interval" and s.restarts == 0
        assert (s.total - n) % wave == 0 and n >= j * wave
        # the oracle: the first wave count w (>= 1 + 4) at which the rule holds
        for w in range(5, total_waves):
            x = d[1:w]
            h = math.ceil(x.size / 2)
            a, b = x[: x.size - h], x[x.size - h:]
            pooled = math.sqrt((((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / (x.size - 2))
            hw = SP.t975(x.size - 2) * pooled / math.sqrt(h) + 2 * res / h
            m = (s.total - SP.aligned_stop(min(w * wave + wave, s.total), s.total, wave)) // wave
            est = d[:w].sum() + (total_waves - w) * b.mean()
            # a significant least-squares trend counts as if continued over the M waves (trend_error)
            jj = np.arange(x.size) - (x.size - 1) / 2
            sxx = (jj * jj).sum()
            slope = (jj * (x - x.mean())).sum() / sxx
            se_b = math.sqrt(((x - x.mean() - slope * jj) ** 2).sum() / (x.size - 2) / sxx)
            tr = 0.0
            if abs(slope) > SP.t975(x.size - 2) * se_b + 4 * res / math.sqrt(sxx) / x.size:
                tr = abs(slope) * (m * (m + 1) / 2 + m * x.size / 4)
            if m * max(hw, abs(b.mean() - a.mean())) + tr <= target * est:
                break
        assert j == w, (target, j, w)
        assert s.stats["bound"] <= target * s.stats["est"]
        stops[target] = j
    assert stops[0.005] > stops[0.02]


def test_drift_in_wave_time_adds_waves():
    """Rule: waves that change regime inside the measured window (here 1000 cycles for 3 waves, then
    1500: the L2 filled) keep the sampler going past the point where the steady first regime alone
    would have stopped (1 warm-up + 4 measured waves); it restarts
    its window after the change and extrapolates at the new regime's 1500 cycles.  A linear trend
    (d_j = 1000 + 5j) that would break the target if continued is not stopped on at the minimum.
    (Break: dropping the drift restart never stops, or stops on a mixed window, and fails here.)"""
    wave = 50
    steady = SP.AdaptiveSampler(wave, wave * 100, warmup=1, min_waves=4, target=0.01, resolution=1.0)
    j0, _ = feed(steady, [1000.0] * 100, wave)
    assert j0 == 5                                   # 1 warm-up + 4 measured: no noise, converged at once
    s = SP.AdaptiveSampler(wave, wave * 100, warmup=1, min_waves=4, target=0.01, resolution=1.0)
    j, n = feed(s, [1000.0] * 3 + [1500.0] * 97, wave)
    assert j is not None and j > j0 and s.restarts >= 1
    assert s.stats["cycles_per_wave"] == pytest.approx(1500.0, abs=2)
    t = SP.AdaptiveSampler(wave, wave * 100, warmup=1, min_waves=4, target=0.01, resolution=1.0)
    jt, _ = feed(t, [1000.0 + 5 * i for i in range(100)], wave)
    assert jt is None or jt > 2 * j0


def test_partial_last_wave_overlaps_drain():
    """Rule: the sample ends where the rest of the kernel is whole waves (aligned_stop), so a kernel of
    W whole waves plus a fraction f is the sample plus M whole waves: c_s + M x d, exact on a
    throughput-bound (staggered) completion curve where the old midpoint rule added (1 + f) / 2 of a
    wave for the leftover CTAs instead of the f x d they take beside the drain.  An unaligned
    remainder counts f x d (with min(f, 1 - f) x d of error).  (Break: restoring (1 + f) / 2 fails.)"""
    S, d = 10, 1000.0
    total = 12 * S + 4                                 # f = 0.4
    assert SP.aligned_stop(5 * S, total, S) == 5 * S + 4
    assert all((total - SP.aligned_stop(n, total, S)) % S == 0 for n in range(total))
    # staggered: after a 1500-cycle warm-up wave, one CTA completes every d / S cycles
    def curve(n):
        pts = [(0.0, 0.0), (1500.0, float(S))]
        pts += [(1500.0 + d / S * i, float(S + i)) for i in range(1, n - S + 1)]
        return np.array(pts)
    kernel_cycles = 1500.0 + d / S * (total - S)
    n_s = SP.aligned_stop(5 * S, total, S)
    ex = wave_extrapolation(curve(n_s), S, n_s, total, warmup=1, measured=3)
    assert ex["cycles"] == pytest.approx(kernel_cycles) and ex["absolute_error_cycles"] == pytest.approx(0, abs=1e-6)
    ex = wave_extrapolation(curve(5 * S), S, 5 * S, total, warmup=1, measured=3)     # unaligned: 7.4 waves
    assert ex["cycles"] == pytest.approx(kernel_cycles)
    assert ex["absolute_error_cycles"] == pytest.approx(0.4 * d)
    assert ex["cycles"] < 1500.0 + d * 4 + (7 + (1 + 0.4) / 2) * d     # below the old midpoint estimate


def test_truncated_run_equals_the_run_of_that_many_ctas():
    """Rule: ``stop`` returning n ends the kernel after its first n CTAs: no CTA beyond them is
    dispatched, the resident ones drain, and cycles, counters and the L2 left behind are those of a
    kernel of exactly n CTAs, bit for bit (streamed and whole-trace runs alike), with the warp
    instructions of those n CTAs.  (Break: truncating the window one CTA late fails here.)"""
    cfg = load_config(A100, ["sm.count=4"])
    call = K.gemv("sm_80", 1, 4096, 512, *PTRS)
    n = 200
    kt = call.trace(range(n))
    intern_opcodes_ = __import__("gpusim.frontend.reader", fromlist=["intern_opcodes"]).intern_opcodes
    intern_opcodes_(kt)
    m0 = assemble.MemSystem(cfg)
    r0 = assemble.pack(cfg, kt, call.kernel.function, memsys=m0)
    _, c0, k0 = assemble.run(r0, kt)
    ref = (c0, k0.copy(), m0.l2_tag.copy(), m0.l2_dirty.copy())
    asked = []

    def stop(r, cycle, done, sent):
        if sent >= 150:
            asked.append(sent)
            return n
        return None

    old = assemble.CHUNK_CYCLES
    assemble.CHUNK_CYCLES = 50
    try:
        m1 = assemble.MemSystem(cfg)
        r1, c1, k1, info = assemble.run_streamed(cfg, walk_chunks(call.kernel, call.launch, None, 16),
                                                 call.kernel.function, total_ctas=call.launch.num_ctas,
                                                 memsys=m1, stop=stop)
        full = call.trace()
        intern_opcodes_(full)
        m2 = assemble.MemSystem(cfg)
        r2 = assemble.pack(cfg, full, call.kernel.function, memsys=m2)
        _, c2, k2 = assemble.run(r2, full, stop=stop)
    finally:
        assemble.CHUNK_CYCLES = old
    assert asked and asked[0] <= n and info["streamed"]
    for c, k, m in ((c1, k1, m1), (c2, k2, m2)):
        assert c == ref[0]
        assert np.array_equal(k, ref[1]) and np.array_equal(m.l2_tag, ref[2]) and np.array_equal(m.l2_dirty, ref[3])
    assert info["warp_instructions"] == kt.warp_instructions


@pytest.fixture(scope="module")
def gemv_runs():
    """The decode GEMV of tests/test_llm_sampling.py (2048 CTAs, 32 waves of 64 on 4 SMs): full,
    adaptive at 2% and adaptive with a target no sample can meet."""
    cfg = load_config(A100, a100_slice(4))
    call = K.gemv("sm_80", 1, 8192, 2048, *PTRS)
    return cfg, call, simulate_kernel(cfg, call), simulate_kernel(cfg, call, sample_error=0.02)


def test_adaptive_sample_reports_waves_interval_and_reason_and_holds_its_bound(gemv_runs):
    """Rule: a kernel sampled to E = 2% reports waves simulated / total, the interval, the measured
    waves and why it stopped; its cycles lie within the reported bound (<= E) of the full run, and the
    instruction count is scaled from the CTAs simulated, which leave whole waves after them."""
    cfg, call, full, samp = gemv_runs
    s = samp["sampling"]
    assert s["mode"] == "error" and s["target_error"] == 0.02 and s["stop_reason"] == "interval"
    assert s["waves_total"] == 32 and 1 + 4 <= s["waves_simulated"] < 32
    assert (s["ctas_total"] - s["ctas_simulated"]) % s["wave_ctas"] == 0
    assert s["ci_half_width_cycles"] > 0 and s["measured_waves"] >= 4 and len(s["wave_cycles"]) == s["measured_waves"]
    assert 0 < s["relative_error"] <= 0.02
    err = abs(samp["cycles"] - full["cycles"]) / full["cycles"]
    assert err <= s["relative_error"], (samp["cycles"], full["cycles"], s["relative_error"])
    assert samp["warp_instructions"] == pytest.approx(full["warp_instructions"], rel=0.01)


def test_unreachable_target_simulates_every_cta_with_the_full_result(gemv_runs):
    """Rule: when the interval never gets below the target the sampler never stops dispatching: every
    CTA runs, ``stop_reason`` is ``all_ctas``, the bound is 0 and the cycles are the full run's, bit
    for bit (the probes do not change the result)."""
    cfg, call, full, _ = gemv_runs
    r = simulate_kernel(cfg, call, sample_error=1e-9)
    s = r["sampling"]
    assert s["stop_reason"] == "all_ctas" and s["ctas_simulated"] == call.launch.num_ctas
    assert r["cycles"] == full["cycles"] and s["relative_error"] == 0


def test_adaptive_sampling_is_identical_with_one_and_two_threads():
    """Rule: the stop is decided at core stops every SAMPLE_PROBE_CYCLES cycles of simulated time, so
    the sample (CTAs, waves, cycles, bound) is the same for any thread count."""
    cfg = load_config(A100, a100_slice(4))
    call = K.gemv("sm_80", 1, 4096, 1024, *PTRS)
    a = simulate_kernel(cfg, call, sample_error=0.02)
    b = simulate_kernel(cfg, call, sample_error=0.02, threads=2)
    assert a["sampling"] is not None
    drop = ("walk_seconds", "simulate_seconds")
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, "1%", True])
def test_bad_sample_error_is_one_clear_error(bad):
    """Rule: sample_error must be a number strictly between 0 and 1 (the CLI turns "1%" into 0.01)."""
    with pytest.raises(GpusimError, match="target relative error"):
        simulate_kernel(load_config(A100), K.residual_add("sm_80", 4096, *PTRS), sample_error=bad)


def test_cli_sample_error_accepts_percent_and_fraction():
    """Rule: ``gpusim llm --sample-error`` takes 1% or 0.01; anything else is one clear error."""
    from gpusim.cli.llm import _pct

    assert _pct("1%") == pytest.approx(0.01) and _pct("0.02") == 0.02 and _pct(None) is None
    with pytest.raises(GpusimError, match="--sample-error"):
        _pct("one")


def test_a_step_with_sample_error_reports_each_sampled_kernel():
    """Rule: simulate_step(sample_error=E) samples its long kernels adaptively and says so per kernel
    (waves simulated / total, the interval, why it stopped) in the report and the summary, with E in
    report["sampling"]; the step stays within its bound of the unsampled step."""
    from gpusim.llm.run import simulate_step, summary_lines

    over = a100_slice(1)
    full = simulate_step("tiny", "decode:batch=1,context=256", A100, overrides=over)
    samp = simulate_step("tiny", "decode:batch=1,context=256", A100, overrides=over, sample_error=0.05)
    sp = samp["sampling"]
    assert sp["target_error"] == 0.05 and sp["distinct_kernels_sampled"] >= 1
    ks = [k["sampling"] for o in samp["operators"] for k in o["kernels"] if k["sampling"]]
    assert ks and all(k["mode"] == "error" and k["stop_reason"] in ("interval", "all_ctas") for k in ks)
    assert abs(samp["step_seconds"] - full["step_seconds"]) <= sp["relative_error"] * full["step_seconds"]
    text = "\n".join(summary_lines(samp))
    assert "target error 5.00%" in text and "waves simulated" in text and "stopped:" in text


def test_l2_filling_ahead_keeps_sampling_until_write_backs_start():
    """Rule: a kernel that writes, whose L2 allocations projected to its end exceed the L2 while no dirty
    line has yet been written back to DRAM, is not stopped on (its later waves would pay the write-backs:
    issue 19's silu_mul, 48% slower once the L2 filled); once write-backs appear it stops as usual, and a
    kernel whose allocations fit in the L2 stops at once.  Synthetic counters: 100 sectors allocated and
    40 written per wave; steady 1000-cycle waves.  (Break: dropping the guard stops at wave 5 and fails.)"""
    wave, waves = 10, 100

    def run(l2_sectors, wb_from):
        s = SP.AdaptiveSampler(wave, wave * waves, warmup=1, min_waves=4, target=0.01, resolution=1.0)
        t, done = 0.0, 0
        for j in range(waves):
            for _ in range(wave):
                t += 1000.0 / wave
                done += 1
                w = done // wave
                c = {"l2_read_sectors": 60 * w, "l2_read_sector_hits": 0, "l2_write_sectors": 40 * w,
                     "dram_bytes_written": 32 * 40 * max(0, w - wb_from)}
                n = s.observe(round(t), done, min(done + wave, s.total), c, l2_sectors)
                if n is not None:
                    return j + 1, s
        return None, s

    j_fits, s = run(l2_sectors=100 * waves + 1, wb_from=10**9)
    assert j_fits == 5 and s.l2_waits == 0
    j_fill, s = run(l2_sectors=2000, wb_from=20)         # the L2 holds 20 waves' allocations
    assert j_fill is not None and j_fill > 20 and s.l2_waits > 0


def test_waves_of_different_work_keep_sampling():
    """Rule: when the walked CTAs' warp instructions per wave differ across the window by more than E/2,
    or those of its CTAs by more than E (causal attention: a CTA's loop trip count grows with its query
    block), the waves are not alike, or the sample's drain overlaps differently from the kernel's, and
    the sampler does not stop on them, however steady their times; equal work stops as usual.
    (Break: dropping the check stops at wave 5 and fails here.)"""
    wave = 10

    def run(work):
        s = SP.AdaptiveSampler(wave, wave * 40, warmup=1, min_waves=4, target=0.02, resolution=1.0)
        s.work = work
        return feed(s, [1000.0] * 40, wave)[0], s

    j, s = run([100] * 400)
    assert j == 5 and s.work_waits == 0
    j, s = run([100 + c // wave for c in range(400)])      # work grows by 1 instruction per CTA per wave
    assert j is None and s.work_waits > 0
    j, s = run([50 + 10 * (c % wave) for c in range(400)])   # equal waves of unequal CTAs (causal attention)
    assert j is None and s.work_waits > 0

"""CTA-wave sampling: statistics of the measured waves and the adaptive stopping rule (issue 19 item 3).

A kernel of many CTA waves (a wave = SMs x resident CTAs per SM) is simulated for a prefix of its CTAs
and the rest is extrapolated at the measured cycles per wave.  This module holds what decides how long
that prefix is and what the extrapolation may be off by; :mod:`gpusim.llm.run` runs the core with it.

Wave times
    Wave j ends when j x wave CTAs have completed (the completion curve is recorded every
    ``resolution`` cycles and interpolated); d_j = end_j - end_{j-1}.  The waves of a *window* (after
    the warm-up waves, which fill pipelines and caches) are split into a first half A and a second
    half B; B gives the cycles per wave d = mean(B).

Interval (:func:`wave_stats`)
    half-width of d = t(0.975, n - 2) x s / sqrt(n_B), s the spread of the wave durations pooled over
    both halves (each about its own mean; Student-t on the measured wave durations: about 95% for
    normally distributed, independent wave times) + 2 x resolution / n_B (the wave ends are known to
    the probe interval) + tRFC / n_B (DRAM refresh: the window may hold one refresh more or fewer than
    the average).  The per-wave error is the larger of that and the convergence gap |mean(B) - mean(A)|;
    projected onto the M extrapolated waves it is the kernel's error bound M x max(half-width, gap).

Aligned tail
    The sample stops dispatching at n_s CTAs with (total - n_s) a multiple of the wave, so its last,
    partial wave and drain have the same shape as the kernel's own (the kernel is the sample with M
    whole steady waves inserted before its tail): no partial-wave term, and the leftover CTAs overlap
    the drain exactly as they do in the kernel.  (The rule this replaces added (1 + f) / 2 of a wave
    for a leftover fraction f, overestimating a kernel whose leftover CTAs run beside the drain.)

Adaptive stop (:class:`AdaptiveSampler`, ``sample_error`` = E)
    After each completed wave, once the window has at least ``min_waves`` waves: stop dispatching
    (at the next aligned CTA count) when the projected bound is at most E x the estimate, unless
      * drift: A and B differ beyond their interval (Welch: gap > t x sqrt(s_A^2/n_A + s_B^2/n_B) +
        the resolution term), or the least-squares slope of d_j is beyond its t interval (a trend),
        and the gap over the extrapolated waves, or the trend continued over them (:func:`trend_error`),
        would break the target: the earlier waves belong to another regime, so the window restarts
        at B and waves are added until a new window converges (a significant trend that stays within
        the target is added to the bound);
      * the work varies: the warp instructions of the window's waves (walked CTAs, in dispatch
        order) differ by more than E / 2 of their mean, or those of its CTAs by more than E (e.g.
        causal attention, whose CTAs' loop trip counts grow with the query block): the waves are not
        alike, or CTAs of unequal length make the drain and the refill overlap differently in the
        sample's tail than in the kernel's (measured: causal attention +5.7% against a 1.0% bound
        without this check);
      * the L2 fills ahead: the kernel writes, no dirty line has been written back to DRAM yet in
        the window, and the kernel's L2 allocations (read-miss sectors + written sectors) projected to
        its end exceed the L2's sectors: write-backs would start in the part not simulated (issue 19:
        silu_mul's later waves 48% slower), so the sample goes on until they start.
    Otherwise every CTA is simulated (``stop_reason`` ``all_ctas``).
"""

from __future__ import annotations

import math

import numpy as np

#: Two-sided 95% critical values t(0.975, df) of Student's t distribution, df = 1..30 (NIST/SEMATECH
#: e-Handbook of Statistical Methods, section 1.3.6.7.2, "Critical values of the Student's t
#: distribution", column 0.975).  Above 30 degrees of freedom the df = 30 value is used (conservative:
#: the limit is 1.960).
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """t(0.975, df) (:data:`T975`); df >= 1."""
    return T975[min(max(int(df), 1), len(T975)) - 1]


def done_at(curve: np.ndarray, n: float) -> float:
    """Cycle at which ``n`` CTAs had completed, interpolated linearly in the (cycle, done) curve."""
    cyc, done = curve[:, 0], curve[:, 1]
    j = int(np.searchsorted(done, n, side="left"))
    if j <= 0:
        return float(cyc[0])
    if j >= len(done):
        return float(cyc[-1])
    c0, c1, d0, d1 = cyc[j - 1], cyc[j], done[j - 1], done[j]
    return float(c0 + (c1 - c0) * (n - d0) / (d1 - d0)) if d1 > d0 else float(c1)


def wave_durations(curve: np.ndarray, wave: int, first: int, last: int) -> np.ndarray:
    """d_j for waves first+1 .. last (wave j ends when j x ``wave`` CTAs have completed)."""
    ends = [done_at(curve, j * wave) for j in range(first, last + 1)]
    return np.diff(np.array(ends, dtype=np.float64))


def wave_stats(d: np.ndarray, resolution: float = 0.0, refresh: float = 0.0) -> dict:
    """Statistics of the window's wave durations ``d`` (at least 2): ``cycles_per_wave`` (mean of the
    second half B), ``first_half`` (mean of A), ``half_width`` (the interval of the mean, see the module
    doc), ``gap`` = |mean(B) - mean(A)|, ``drift`` (the gap is beyond the Welch interval of the
    difference) and ``per_wave_error`` = max(half_width, gap)."""
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    h = math.ceil(n / 2)
    a, b = d[: n - h], d[n - h:]
    mb = float(b.mean())
    ma = float(a.mean()) if a.size else mb
    sb = float(b.std(ddof=1)) if b.size > 1 else 0.0
    sa = float(a.std(ddof=1)) if a.size > 1 else 0.0
    res = 2 * resolution / h + refresh / h
    if a.size >= 2:
        # the spread pooled over both halves (each about its own mean): n - 2 degrees of freedom, so that
        # a few quiet waves in B cannot stop the sample on their own
        pooled = math.sqrt((float(((a - ma) ** 2).sum()) + float(((b - mb) ** 2).sum())) / (n - 2))
        hw = t975(n - 2) * pooled / math.sqrt(h) + res
    else:
        hw = (t975(h - 1) * sb / math.sqrt(h) if h > 1 else 0.0) + res
    gap = abs(mb - ma)
    se = math.sqrt(sa * sa / max(a.size, 1) + sb * sb / h)
    drift = bool(a.size and gap > t975(max(a.size + h - 2, 1)) * se + 2 * resolution * (1 / max(a.size, 1) + 1 / h))
    # trend: least-squares slope of d_j on j over the window, significant when its t statistic is
    slope, trend = 0.0, False
    if n >= 3:
        j = np.arange(n, dtype=np.float64) - (n - 1) / 2
        sxx = float((j * j).sum())
        slope = float((j * (d - d.mean())).sum() / sxx)
        resid = d - d.mean() - slope * j
        se_b = math.sqrt(float((resid * resid).sum()) / (n - 2) / sxx)
        trend = abs(slope) > t975(n - 2) * se_b + 4 * resolution / sxx ** 0.5 / n
    return {"cycles_per_wave": mb, "first_half": ma, "half_width": hw, "gap": gap, "drift": drift or trend,
            "slope": slope, "trend": trend, "per_wave_error": max(hw, gap), "n": n}


def trend_error(slope: float, n: int, m: int) -> float:
    """Cycles a linear trend of ``slope`` cycles per wave adds over ``m`` extrapolated waves beyond a
    window of ``n`` waves whose second half's mean is the estimate (that mean sits n/4 waves before
    the window's end): sum over i = 1..m of |slope| x (i + n/4)."""
    return abs(slope) * (m * (m + 1) / 2 + m * n / 4)


def aligned_stop(dispatched: int, total: int, wave: int) -> int:
    """The least CTA count n >= ``dispatched`` with (total - n) a multiple of ``wave``."""
    return min(total, dispatched + (total - dispatched) % wave)


class AdaptiveSampler:
    """The stopping rule of ``sample_error`` (module doc), fed by the core's stops.

    ``observe(cycle, done, dispatched, counters, l2_sectors)`` is called at every stop (every
    ``resolution`` cycles) with the CTAs completed and dispatched so far, the named counters (a dict,
    a function returning one, called once per completed wave, or None)
    and the L2's capacity in sectors; it returns the CTA count at which to stop dispatching, once, or
    None.  ``record()`` describes what it did."""

    def __init__(self, wave: int, total: int, *, warmup: int, min_waves: int, target: float,
                 resolution: float = 0.0, refresh: float = 0.0):
        self.wave, self.total, self.target = wave, total, float(target)
        self.w0 = warmup               # the window starts after this many waves
        self.min_waves = max(2, int(min_waves))
        self.resolution, self.refresh = resolution, refresh
        self.pts = [(0.0, 0.0)]
        self.checked = 0
        self.stop_at: int | None = None
        self.stats: dict | None = None
        self.restarts = 0
        self.l2_waits = 0
        self.reason = "all_ctas"
        self.marks: dict[int, tuple] = {}
        self.work: list[int] = []       # warp instructions per dispatched CTA, in dispatch order (when known)
        self.work_waits = 0   # wave index -> (l2 alloc sectors, l2 write sectors, dram bytes written)

    def observe(self, cycle: int, done: int, dispatched: int, counters: dict | None = None,
                l2_sectors: int = 0) -> int | None:
        done = max(int(done), int(self.pts[-1][1]))
        self.pts.append((float(cycle), float(done)))
        if self.stop_at is not None:
            return None
        waves = done // self.wave
        if waves <= self.checked:
            return None
        self.checked = waves
        if callable(counters):
            counters = counters()
        if counters is not None:
            alloc = counters["l2_read_sectors"] - counters["l2_read_sector_hits"] + counters["l2_write_sectors"]
            self.marks[waves] = (alloc, counters["l2_write_sectors"], counters["dram_bytes_written"])
        n = waves - self.w0
        if n < self.min_waves:
            return None
        curve = np.array(self.pts, dtype=np.float64)
        d = wave_durations(curve, self.wave, self.w0, waves)
        st = wave_stats(d, self.resolution, self.refresh)
        n_s = aligned_stop(dispatched, self.total, self.wave)
        m = (self.total - n_s) // self.wave
        if m <= 0:
            return None                     # nothing left to extrapolate: simulate it all
        done_end = done_at(curve, waves * self.wave)
        est = done_end + (self.total - waves * self.wave) / self.wave * st["cycles_per_wave"]
        tol = self.target * est
        tr = trend_error(st["slope"], n, m) if st["trend"] else 0.0
        st.update(est=est, bound=m * st["per_wave_error"] + tr, trend_cycles=tr, waves_extrapolated=m)
        if st["drift"] and max(m * st["gap"], tr) > tol:
            # another regime: the window restarts at its second half
            self.w0 = waves - math.ceil(n / 2)
            self.restarts += 1
            return None
        if st["bound"] > tol:
            return None
        if self._work_varies(waves):
            self.work_waits += 1
            return None
        if counters is not None and self._l2_fills_ahead(waves, m, l2_sectors):
            self.l2_waits += 1
            return None
        self.stop_at, self.stats, self.reason = n_s, st, "interval"
        return n_s

    def _work_varies(self, waves: int) -> bool:
        """The window's waves differ in warp instructions by more than target / 2 of their mean, or its
        CTAs by more than target of theirs."""
        if len(self.work) < waves * self.wave:
            return False
        per = [sum(self.work[j * self.wave:(j + 1) * self.wave]) for j in range(self.w0, waves)]
        mean = sum(per) / len(per)
        ctas = self.work[self.w0 * self.wave: waves * self.wave]
        c_mean = sum(ctas) / len(ctas)
        return mean > 0 and ((max(per) - min(per)) > self.target / 2 * mean
                             or (max(ctas) - min(ctas)) > self.target * c_mean)

    def _l2_fills_ahead(self, waves: int, m: int, l2_sectors: int) -> bool:
        """The kernel writes, no write-back has reached DRAM in the window, and its L2 allocations
        projected to its end exceed the L2 (module doc)."""
        before = [j for j in self.marks if j <= self.w0]
        if l2_sectors <= 0 or not before or waves not in self.marks:
            return False
        j0 = max(before)
        a0, w0, b0 = self.marks[j0]
        a1, w1, b1 = self.marks[waves]
        if w1 <= w0 or b1 > b0:
            return False
        per_wave = (a1 - a0) / max(waves - j0, 1)
        left = (self.total - waves * self.wave) / self.wave
        return a1 + per_wave * left > l2_sectors

    def curve(self) -> np.ndarray:
        return np.array(self.pts, dtype=np.float64)

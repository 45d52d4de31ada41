"""The HBM DRAM model (``memory.dram_model: hbm``, gpusim.core.memsys._dram_hbm) against the timing rules
it implements, with oracles computed from the configured JEDEC timings (configs/gpus/*.yaml,
gpusim/config/specs.py).  The unit tests drive the model's entry points directly on one pseudo-channel
(PC); the last test runs the streaming microbenchmark through the whole simulator."""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.assemble import MemSystem
from gpusim.config import load_config
from gpusim.core import memsys as msys
from gpusim.microbench import measure

NO_REFRESH = "memory.hbm_trefi=1 s"   # refresh far beyond the tests' horizon, where refresh is not the subject
# ramulator2's write buffer (specs.py defaults): 32 entries of one burst, drained from 80% to 20%
BURST_QUEUE = ("memory.dram_write_queue_unit=burst", "memory.dram_write_queue_entries=32",
               "memory.dram_write_high_percent=80", "memory.dram_write_low_percent=20")


def _model(*overrides, gpu="a100-sxm4-80gb"):
    cfg = load_config(gpu, list(overrides))
    m = MemSystem(cfg)
    return cfg, m.mp, m.ms


def _pc_slots(mp, line):
    ch = msys._channel_of(mp, line)
    bus = msys.MS_BASE + mp[msys.M_SLICES] + ch
    base = msys.MS_BASE + mp[msys.M_SLICES] + mp[msys.M_CHANNELS] + ch * mp[msys.M_PC_BLOCK]
    return ch, bus, base


def _where(mp, line):
    """(PC, bank group, bank, row) of line(s), the mapping documented in memsys._hbm_access (PC: the
    XOR fold of memsys._channel_of, vectorized here)."""
    nch, nb, nbg = mp[msys.M_CHANNELS], mp[msys.M_BANKS], mp[msys.M_BANK_GROUPS]
    line = np.asarray(line, dtype=np.int64)
    assert mp[msys.M_HASH] == 0
    pc = ((line >> 1) ^ (line >> 5) ^ (line >> 11) ^ (line >> 17)) % nch
    j = (line // nch) // mp[msys.M_ROW_LINES]
    bg = j % nbg
    return pc, bg, bg * (nb // nbg) + (j // nbg) % (nb // nbg), j // nb


def _lines(mp, want, n, start=1 << 24, span=1 << 22):
    """The first n lines from ``start`` whose (PC, bank group, bank, row) satisfy ``want`` (vectorized)."""
    cand = np.arange(start, start + span, dtype=np.int64)
    hit = cand[want(*_where(mp, cand))]
    assert hit.size >= n, "not enough lines with that mapping"
    return [int(x) for x in hit[:n]]


def _access(mp, ms, line, nsec, t_milli, write=False):
    _, bus, base = _pc_slots(mp, line)
    return msys._hbm_access(mp, ms, base, bus, line, nsec, t_milli, write)


# ------------------------------------------------------------------ bank groups

def test_same_bank_group_column_commands_wait_tccd_l():
    """Two one-burst reads of open rows issued together: in the same bank group the second column
    command waits tCCD_L after the first; in another bank group only the data bus (one burst)
    separates them.  (Charging the bank-group slot one burst instead of tCCD_L fails the first assert.)"""
    pc, bg, bank, row = None, None, None, None
    t, t2 = 10_000_000, 20_000_000
    for other_group in (False, True):
        cfg, mp, ms = _model(NO_REFRESH)
        burst, tccd_l = mp[msys.M_CHAN_MILLI_PER_SECTOR], mp[msys.M_TCCD_L]
        assert tccd_l > burst
        pc, bg, bank, row = _where(mp, 1 << 24)
        a = _lines(mp, lambda p, g, b, r: (p == pc) & (b == bank) & (r == row), 2)
        b0 = _lines(mp, lambda p, g, bb, r: (p == pc) & ((g != bg) if other_group else ((g == bg) & (bb != bank))), 1)[0]
        _, g0, k0, r0 = _where(mp, b0)
        b = _lines(mp, lambda p, g, bb, r: (p == pc) & (g == g0) & (bb == k0) & (r == r0), 2)
        for ln in (a[0], b[0]):                 # open both rows long before
            _access(mp, ms, ln, 1, t)
        e0, a0 = _access(mp, ms, a[1], 1, t2)
        e1, a1 = _access(mp, ms, b[1], 1, t2)
        assert a0 == a1 == 0                    # both row hits
        assert e1 - e0 == (burst if other_group else tccd_l)


def test_row_hit_skips_the_activate_and_a_conflict_pays_precharge():
    """Second read of an open row: no activate; a read of another row of the same bank right after
    precharges (tRP) after tRAS from the first activate and activates (tRCD) before its data."""
    cfg, mp, ms = _model(NO_REFRESH)
    pc, bg, bank, row = _where(mp, 1 << 24)
    hit = _lines(mp, lambda p, g, b, r: (p == pc) & (b == bank) & (r == row), 2)[1]
    other = _lines(mp, lambda p, g, b, r: (p == pc) & (b == bank) & (r != row), 1)[0]
    t = 10_000_000
    _, a0 = _access(mp, ms, 1 << 24, 1, t)
    _, a1 = _access(mp, ms, hit, 1, t)
    assert (a0, a1) == (1, 0)
    e2, a2 = _access(mp, ms, other, 1, t)
    assert a2 == 1
    burst = mp[msys.M_CHAN_MILLI_PER_SECTOR]
    act = t + mp[msys.M_TRAS] + mp[msys.M_TRP]          # precharge after tRAS, then tRP
    assert e2 == act + mp[msys.M_TRCD] + burst


# ------------------------------------------------------------------ FR-FCFS

def test_fr_fcfs_prefers_row_hits_up_to_cap():
    """Requests for a row that arrived before the row was closed are served as its hits (no
    activate), as an FR-FCFS controller serves ready row hits before an older conflicting request,
    but only up to the cap; a request that arrived after the precharge reopens the row."""
    cap = 3
    cfg, mp, ms = _model(NO_REFRESH, f"memory.dram_frfcfs_cap={cap}")
    pc, bg, bank, row = _where(mp, 1 << 24)
    same_row = _lines(mp, lambda p, g, b, r: (p == pc) & (b == bank) & (r == row), cap + 1)
    other = _lines(mp, lambda p, g, b, r: (p == pc) & (b == bank) & (r != row), 1)[0]
    t = 10_000_000
    assert _access(mp, ms, same_row[0], 1, t)[1] == 1          # opens the row (1 access)
    assert _access(mp, ms, other, 1, t + 5)[1] == 1            # conflict: the row closes
    # later in call order, earlier in arrival: hits of the closed row while its streak is below the cap
    got = [_access(mp, ms, ln, 1, t + 1)[1] for ln in same_row[1:cap + 1]]
    assert got == [0] * (cap - 1) + [1]
    # (without the cap every one would be a hit; FCFS would activate for each)


def test_request_after_the_precharge_reopens_the_row():
    cfg, mp, ms = _model(NO_REFRESH)
    pc, bg, bank, row = _where(mp, 1 << 24)
    same_row = _lines(mp, lambda p, g, b, r: (p == pc) & (b == bank) & (r == row), 2)
    other = _lines(mp, lambda p, g, b, r: (p == pc) & (b == bank) & (r != row), 1)[0]
    t = 10_000_000
    _access(mp, ms, same_row[0], 1, t)
    _access(mp, ms, other, 1, t)
    late = t + 10 * (mp[msys.M_TRAS] + mp[msys.M_TRP])
    assert _access(mp, ms, same_row[1], 1, late)[1] == 1


# ------------------------------------------------------------------ refresh

def _saturate(mp, ms, lines, t0, nsec=4):
    """Offer the lines all at t0 (a deep queue); returns the PC's bus time at the end."""
    for ln in lines:
        _access(mp, ms, ln, nsec, t0)
    return ms[_pc_slots(mp, lines[0])[1]]


def test_refresh_blocks_channel_for_trfc_every_trefi():
    """All-bank refresh: a PC kept busy loses tRFC of every tREFI, so its data take
    1 / (1 - tRFC/tREFI) longer than the bursts alone (within one refresh of rounding)."""
    cfg, mp, ms = _model()
    pc = int(_where(mp, 1 << 24)[0])
    lines = _lines(mp, lambda p, g, b, r: (p == pc), 4000)
    burst, trefi, trfc = mp[msys.M_CHAN_MILLI_PER_SECTOR], mp[msys.M_TREFI], mp[msys.M_TRFC]
    t0 = 10 * trefi
    busy = _saturate(mp, ms, lines, t0) - t0
    work = len(lines) * 4 * burst
    refreshes = -(-busy // trefi)
    assert abs(busy - work - refreshes * trfc) <= trfc
    assert busy / work == pytest.approx(1 / (1 - trfc / trefi), rel=0.02)
    # without refresh the bursts alone
    cfg, mp, ms = _model(NO_REFRESH)
    assert _saturate(mp, ms, lines, t0) - t0 == work


def test_refresh_in_an_idle_channel_costs_nothing():
    """A refresh postponed into idle time (JEDEC allows postponing) does not delay the next read."""
    cfg, mp, ms = _model()
    trefi = mp[msys.M_TREFI]
    a = _access(mp, ms, 1 << 24, 1, 5 * trefi)[0]
    cfg, mp2, ms2 = _model(NO_REFRESH)
    b = _access(mp2, ms2, 1 << 24, 1, 5 * trefi)[0]
    assert a == b


def test_per_bank_refresh_blocks_only_its_bank():
    cfg, mp, ms = _model("memory.hbm_refresh_per_bank=true")
    pc, bg, bank, row = _where(mp, 1 << 24)
    trfc, trefi = mp[msys.M_TRFC], mp[msys.M_TREFI]
    other = _lines(mp, lambda p, g, b, r: (p == pc) & (b != bank), 1)[0]
    # keep the first bank busy past its refresh due time, then read both banks
    _, bus, base = _pc_slots(mp, 1 << 24)
    t = trefi * 3
    bk = base + mp[msys.M_PC_BLOCK] - mp[msys.M_BANKS] * msys.B_SIZE + bank * msys.B_SIZE
    ms[bk + msys.B_LASTCOL] = t + trfc          # traffic queued in this bank up to t + tRFC
    ms[bk + msys.B_REF] = t - (bank * trefi) // mp[msys.M_BANKS] - 1   # its refresh is due
    e_bank, _ = _access(mp, ms, 1 << 24, 1, t)
    assert e_bank >= t + 2 * trfc               # waits for the traffic, then tRFC
    e_other, _ = _access(mp, ms, other, 1, t)
    assert e_other < t + trfc                   # another bank is not held


# ------------------------------------------------------------------ writes

def _drains(n_writes, nsec, high, low):
    q = drains = 0
    for _ in range(n_writes):
        q += nsec
        if q >= high:
            drains += 1
            while q > low:
                q -= nsec
    return drains


def test_write_drain_batches_turnarounds():
    """Writes wait in the PC's write queue and drain in batches between the watermarks: a read/write
    mix pays one read-to-write bubble (tRTW) and one write-to-read bubble (tWTR + tCL) per batch, not
    per write.  (With a one-entry queue, i.e. a turnaround per write, the bus time is far larger.)"""
    cfg, mp, ms = _model(NO_REFRESH, *BURST_QUEUE)
    pc, bg, bank, row = _where(mp, 1 << 24)
    lines = _lines(mp, lambda p, g, b, r: (p == pc) & (g == bg), 400)
    burst = mp[msys.M_CHAN_MILLI_PER_SECTOR]
    t = 10_000_000
    n = 0
    for k in range(0, len(lines), 2):   # read one line, write another (a copy)
        msys._dram(mp, ms, lines[k], 4, t // 1000, False)
        msys._dram(mp, ms, lines[k + 1], 4, t // 1000, True)
        n += 1
    _, bus, base = _pc_slots(mp, lines[0])
    drains = _drains(n, 4, mp[msys.M_WQ_HIGH], mp[msys.M_WQ_LOW])
    left = ms[base + msys.P_WQN]                       # still queued at the end
    moved = (2 * n * 4 - left) * burst
    # every drain but the one still "open" at the end is followed by a read (same bank group: tWTR_L)
    turn = drains * mp[msys.M_TRTW] + (drains - (1 if ms[base + msys.P_LASTW] else 0)) * (
        mp[msys.M_TWTR_L] + mp[msys.M_TCL])
    assert drains >= 2 and ms[bus] - t == moved + turn
    per_write = n * (mp[msys.M_TRTW] + mp[msys.M_TWTR_L] + mp[msys.M_TCL])
    assert ms[bus] - t < moved + per_write / 2


def test_writes_below_the_watermark_do_not_touch_the_bus():
    cfg, mp, ms = _model(NO_REFRESH, *BURST_QUEUE)
    _, bus, base = _pc_slots(mp, 1 << 24)
    pc = int(_where(mp, 1 << 24)[0])
    lines = _lines(mp, lambda p, g, b, r: (p == pc), 8)
    high = mp[msys.M_WQ_HIGH]
    k = 0
    while ms[base + msys.P_WQN] + 4 < high:
        msys._dram(mp, ms, lines[k], 4, 10_000, True)
        k += 1
    assert ms[bus] == 0 and ms[base + msys.P_WQN] == 4 * k
    msys._dram(mp, ms, lines[k], 4, 10_000, True)
    assert ms[bus] > 0 and ms[base + msys.P_WQN] <= mp[msys.M_WQ_LOW]


@pytest.mark.parametrize("nsec", [4, 1])
def test_request_write_queue_counts_written_back_lines_not_bursts(nsec):
    """dram_write_queue_unit: request (GPGPU-Sim: one write-queue entry per line the L2 writes back):
    the drain starts when the high watermark's number of lines is queued, however many dirty sectors
    each has, and stops at the low watermark's number of lines.  (Counting bursts, 4-sector lines would
    start it after a quarter as many lines.)"""
    cfg, mp, ms = _model(NO_REFRESH, "memory.dram_write_queue_unit=request", "memory.dram_write_queue_entries=128",
                         "memory.dram_write_high_percent=85", "memory.dram_write_low_percent=25")
    assert (mp[msys.M_WQ_HIGH], mp[msys.M_WQ_LOW]) == (108, 32)
    _, bus, base = _pc_slots(mp, 1 << 24)
    pc = int(_where(mp, 1 << 24)[0])
    lines = _lines(mp, lambda p, g, b, r: (p == pc), 120)
    for k in range(107):
        msys._dram(mp, ms, lines[k], nsec, 10_000, True)
    assert ms[bus] == 0 and ms[base + msys.P_WQC] == 107 and ms[base + msys.P_WQN] == 107 * nsec
    msys._dram(mp, ms, lines[107], nsec, 10_000, True)
    burst = mp[msys.M_CHAN_MILLI_PER_SECTOR]
    assert ms[base + msys.P_WQC] == 32
    assert ms[bus] == 10_000_000 + (108 - 32) * nsec * burst   # (no read before: no tRTW bubble)


def test_bus_statistics_account_for_the_bus_time_and_change_nothing():
    """The diagnostic statistics (KEEP_HBM_STATS) split each PC's data-bus time into data, idle,
    turnarounds and refresh with nothing left over, and leave the model's timing as it is."""
    from gpusim.assemble import memory as amem

    runs = []
    for keep in (False, True):
        amem.KEEP_HBM_STATS = keep
        try:
            m = MemSystem(load_config("a100-sxm4-80gb", ["memory.hbm_trefi=2 us"]))
        finally:
            amem.KEEP_HBM_STATS = False
        mp, ms = m.mp, m.ms
        pc = int(_where(mp, 1 << 24)[0])
        lines = _lines(mp, lambda p, g, b, r: (p == pc), 600)
        t = 10_000
        for k in range(0, len(lines), 2):   # a copy, with a pause now and then (idle bus)
            msys._dram(mp, ms, lines[k], 4, t, False)
            msys._dram(mp, ms, lines[k + 1], 4, t, True)
            t += 40 if k % 64 else 400
        runs.append((m, ms[msys.MS_BASE + mp[msys.M_SLICES] + msys._channel_of(mp, lines[0])]))
    (plain, bus_plain), (kept, bus_kept) = runs
    assert bus_kept == bus_plain and plain.hbm_stats is None
    n = plain.ms.size
    assert np.array_equal(kept.ms[:n], plain.ms)
    st = kept.ms[n:].reshape(-1, msys.S_SIZE)[pc]
    parts = (msys.S_READ, msys.S_WRITE, msys.S_IDLE, msys.S_RTW, msys.S_WTR, msys.S_REFRESH)
    assert sum(int(st[i]) for i in parts) == bus_kept
    assert min(int(st[i]) for i in parts) > 0 and st[msys.S_DRAINS] >= 2


# ------------------------------------------------------------------ whole GPU

def test_hbm_stream_below_peak():
    """A read stream on the A100 config: the bus is busy all the time but for refresh, so the
    microbenchmark lands at 1 - tRFC/tREFI of the configured peak (88.5%), not at the peak that the
    simple model returns; a copy pays the write/read turnarounds on top and lands lower."""
    cfg = load_config("a100-sxm4-80gb")
    m = cfg.memory
    peak = m.dram_bandwidth_bytes_per_s / cfg.sm.clock_hz
    read = measure("stream", cfg, {"kind": "read", "iterations": 8}).values[0][0] / peak
    assert read == pytest.approx(1 - m.hbm_trfc_ps / m.hbm_trefi_ps, abs=0.02)
    simple = load_config("a100-sxm4-80gb", ["memory.dram_model=simple"])
    assert measure("stream", simple, {"kind": "read", "iterations": 8}).values[0][0] / peak > 0.98


def test_bad_bank_groups_is_one_clear_error():
    from gpusim.errors import GpusimError
    with pytest.raises(GpusimError, match="dram_bank_groups"):
        MemSystem(load_config("a100-sxm4-80gb", ["memory.dram_bank_groups=3"]))

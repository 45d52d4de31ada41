"""Asynchronous copies and synchronisation on Hopper: TMA (UTMALDG) completing on an mbarrier
(SYNCS.ARRIVE.TRANS64 / SYNCS.PHASECHK.TRANS64.TRYWAIT), and the small sync costs (WARPSYNC, ERRBAR,
EXIT with partial masks).

research/sass-control-bits.md §5-7 (pitfall 11: mbarrier transaction counts are synchronisation the
control bits do not express); configs/README.md "TMA and mbarriers".  Each test simulates a micro
kernel and checks an analytic oracle built from the configured latencies.
"""

from __future__ import annotations

import re

import numpy as np

from gpusim import api, assemble
from gpusim.config import load_config
from gpusim.core import sm as core
from gpusim.frontend.microasm import Inst, build
from gpusim.frontend.workload import open_workload
from tests.micro_sim import EXIT, issue_cycles, run_folder

H100 = "h100-sxm5-80gb"
PERFECT_ICACHE = ["icache.perfect=true"]
BAR_ADDR = 0x100                       # shared-memory offset of the mbarrier
ROWS, ROW_BYTES = 32, 128              # one TMA box: 32 rows of 128 B (gpusim's UTMALDG trace convention)


def init():
    return Inst("SYNCS.EXCH.64 URZ, [UR6], UR4", base=BAR_ADDR, addr_stride=0)


def arrive_expect():
    return Inst("SYNCS.ARRIVE.TRANS64 RZ, [UR13], R2", base=BAR_ADDR, addr_stride=0)


def arrive_only():
    return Inst("SYNCS.ARRIVE.TRANS64.A1T0 RZ, [UR13]", base=BAR_ADDR, addr_stride=0)


def tma(base=0x7F0000000000):
    return Inst("UTMALDG.2D [UR12], [UR4]", base=base, addr_stride=ROW_BYTES, rsb=1)


def trywait():
    return Inst("SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR13], R4", base=BAR_ADDR, addr_stride=0, wsb=0)


CONSUME = Inst("@!P0 BRA 0x0", wait=(0,))


def run(tmp_path, prog, overrides=(), patch=None, gpu=H100, **kw):
    """Build, patch the trace text (the UTMALDG rows are ROW_BYTES wide), simulate with issue logging."""
    d = build(prog, tmp_path / f"k{len(list(tmp_path.iterdir()))}", arch="sm_90", **kw)
    tr = d / "kernel-1.traceg"
    text = re.sub(r"UTMALDG\.2D 0 4 1", f"UTMALDG.2D 0 {ROW_BYTES} 1", tr.read_text())
    if patch:
        text = patch(text)
    tr.write_text(text)
    cfg = load_config(gpu, [*PERFECT_ICACHE, *overrides])
    r, kt, cycles = run_folder(d, cfg)
    return r, kt, cycles, cfg


def uniform_saving(cfg):
    """The UTMALDG address is uniform: its address calculation is 2 cycles shorter than an LDG's (MGC §6.4)."""
    return cfg.memory.address_cycles_regular - cfg.memory.address_cycles_uniform


# ------------------------------------------------------------------ TMA + mbarrier

def test_trywait_waits_for_the_tma_bytes_from_dram(tmp_path):
    """Rule: a TRYWAIT's consumer waits until the phase completes: the arrive.expect_tx arrival and the
    TMA copy's bytes landed in shared memory.  Cold data: DRAM load-to-use + the TMA path's extra
    latency (HW010/HW011: +105 over LDG) + the box's 32 lines streaming through the DRAM channels and
    L2 slices (at most a few cycles per line here)."""
    prog = [init(), arrive_expect(), tma(), trywait(), CONSUME, EXIT]
    r, kt, _, cfg = run(tmp_path, prog)
    t = issue_cycles(r, kt)
    wait = t[4] - t[2]
    mem = cfg.memory
    base = mem.dram_latency_cycles + mem.tma_extra_latency_cycles - uniform_saving(cfg)
    stream = ROWS * ROW_BYTES // mem.l2_slice_bytes_per_cycle  # 64 cycles if every line hit one L2 slice
    print("TMA DRAM wait", wait, "base", base)
    assert base <= wait <= base + stream, (wait, base)


def test_tma_copy_of_l2_resident_data_waits_l2_latency_plus_the_tma_path(tmp_path):
    """Rule: the second phase loads the same box again, now L2-resident (TMA does not allocate in the
    L1): the wait is the L2 hit latency + 105, 377 cycles on the H100 (HW010 measures 369 on the H800)."""
    prog = [init(), arrive_expect(), tma(), trywait(), CONSUME, arrive_expect(), tma(), trywait(), CONSUME, EXIT]
    r, kt, _, cfg = run(tmp_path, prog)
    t = issue_cycles(r, kt)
    wait = t[8] - t[6]
    base = cfg.memory.l2_hit_latency_cycles + cfg.memory.tma_extra_latency_cycles - uniform_saving(cfg)
    print("TMA L2 wait", wait, "base", base)
    assert base <= wait <= base + 16, (wait, base)
    assert abs(wait - 369) / 369 < 0.05


def test_tma_wait_scales_with_the_configured_tma_path(tmp_path):
    """Rule: the TMA path's extra latency is memory.tma_extra_latency: 0 makes the wait an LDG's."""
    prog = [init(), arrive_expect(), tma(), trywait(), CONSUME, EXIT]
    r0, kt0, _, _ = run(tmp_path, prog, overrides=["memory.tma_extra_latency=0"])
    r1, kt1, _, cfg = run(tmp_path, prog)
    d = (issue_cycles(r1, kt1)[4] - issue_cycles(r1, kt1)[2]) - (issue_cycles(r0, kt0)[4] - issue_cycles(r0, kt0)[2])
    assert d == cfg.memory.tma_extra_latency_cycles


def test_wait_on_an_already_completed_phase_does_not_block(tmp_path):
    """Rule: a TRYWAIT issued after its phase completed passes at once: its consumer waits only for the
    TRYWAIT's own result (the shared-memory latency), not for the copy again."""
    # 1050 cycles, longer than the DRAM copy; with yield, as compiled code sets it on every count above 11
    # (without it the warp would stall only 2 cycles per NOP: MGC §1.2, subcore.stall_above_11_no_yield)
    delay = [Inst("NOP", stall=15, yield_=True)] * 70
    prog = [init(), arrive_expect(), tma(), *delay, trywait(), CONSUME, EXIT]
    r, kt, _, cfg = run(tmp_path, prog)
    t = issue_cycles(r, kt)
    n = len(prog)
    assert t[n - 2] - t[n - 3] <= cfg.memory.shared_latency_cycles + 2
    assert r.pc_stats[n - 2, 1 + core.R_LONG_SB] == 0


def test_an_mbarrier_wait_is_charged_to_long_scoreboard(tmp_path):
    """Rule: the warp waiting for the TMA data is in Nsight's "long scoreboard" state (the TRYWAIT's
    predicate comes back through a scoreboard from the L1TEX-side synchronisation unit), charged at the
    consuming instruction."""
    prog = [init(), arrive_expect(), tma(), trywait(), CONSUME, EXIT]
    r, kt, _, cfg = run(tmp_path, prog)
    assert r.pc_stats[4, 1 + core.R_LONG_SB] >= cfg.memory.dram_latency_cycles


def test_plain_arrive_completes_the_phase_without_transactions(tmp_path):
    """Rule: SYNCS.ARRIVE.TRANS64.A1T0 (mbarrier.arrive, no expect_tx) completes the phase by itself: the
    waiter is held only by the arrive's and TRYWAIT's shared-memory latencies, far below a copy."""
    prog = [init(), arrive_only(), trywait(), CONSUME, EXIT]
    r, kt, _, cfg = run(tmp_path, prog)
    t = issue_cycles(r, kt)
    assert t[3] - t[1] <= 2 * cfg.memory.shared_latency_cycles


def test_instructions_between_trywait_and_its_consumer_are_not_held(tmp_path):
    """Rule: only the instruction waiting on the TRYWAIT's write SB waits for the phase (the compiler
    schedules independent work between them, as in our GEMM listing)."""
    prog = [init(), arrive_expect(), tma(), trywait(), Inst("IADD3 R5, R5, 0x1, RZ"), CONSUME, EXIT]
    r, kt, _, cfg = run(tmp_path, prog)
    t = issue_cycles(r, kt)
    assert t[4] - t[3] <= 2
    assert t[5] - t[2] >= cfg.memory.dram_latency_cycles


def test_idle_skipping_gives_identical_counters_with_tma_waits(tmp_path):
    """Rule: the event-driven loop charges mbarrier waits exactly as a cycle-by-cycle run (2 warps, the
    second waits on the same barrier)."""
    prog = [init(), arrive_expect(), tma(), trywait(), CONSUME, EXIT]
    out = []
    for skip in (True, False):
        d = build(prog, tmp_path / f"s{int(skip)}", arch="sm_90", warps_per_cta=2, ctas=3)
        tr = d / "kernel-1.traceg"
        tr.write_text(re.sub(r"UTMALDG\.2D 0 4 1", f"UTMALDG.2D 0 {ROW_BYTES} 1", tr.read_text()))
        cfg = load_config(H100, ["sm.count=2"])
        wl = open_workload(d)
        kt = wl.load(wl.kernels[0])
        _, fn = api.join_control_bits(kt, api.find_listing(wl.kernels[0].path, None))
        r = assemble.pack(cfg, kt, fn, idle_skip=skip)
        _, cycles, counters = assemble.run(r, kt)
        out.append(counters.copy())
    skipped = core.C_SKIPPED
    a, b = out
    a[skipped] = b[skipped] = 0
    assert np.array_equal(a, b), [(k, a[k], b[k]) for k in np.flatnonzero(a != b)]


# ------------------------------------------------------------------ small sync costs

def test_warpsync_holds_the_warp_for_its_latency(tmp_path):
    """Rule: WARPSYNC costs pipes.warpsync_latency cycles before the next instruction (an estimate)."""
    r, kt, _, _ = run(tmp_path, [Inst("WARPSYNC 0xffffffff"), Inst("NOP"), EXIT], overrides=["pipes.warpsync_latency=7"])
    t = issue_cycles(r, kt)
    assert t[1] - t[0] == 7


def test_errbar_stalls_45_cycles_also_without_control_bits(tmp_path):
    """Rule: ERRBAR stalls the warp subcore.stall0_yield = 45 cycles (HW105, MGC §1) -- the listing
    encodes it as stall 0 + yield, and the scoreboard mode (no listing) charges the same."""
    d = build([Inst("ERRBAR", stall=0, yield_=True), Inst("NOP"), EXIT], tmp_path / "e", arch="sm_90")
    (d / "kernel-1.sass").unlink()
    cfg = load_config(H100, PERFECT_ICACHE)
    r, kt, _ = run_folder(d, cfg)
    t = issue_cycles(r, kt)
    assert t[1] - t[0] == cfg.subcore.stall0_yield_cycles == 45


def test_a_warp_exiting_in_pieces_retires_at_its_last_exit(tmp_path):
    """Rule: EXIT with a partial mask retires only those lanes: the warp runs on and frees its CTA slot
    only after the EXIT of its last lanes, so the next CTA (1 CTA per SM) starts after that."""
    prog = [Inst("EXIT", stall=5), *[Inst("FFMA R2, R2, R3, R4", stall=4)] * 20, EXIT]

    def partial(text):  # the first EXIT retires lanes 0-15 only
        return text.replace("0000 ffffffff 0 EXIT", "0000 0000ffff 0 EXIT")

    r, kt, cycles, _ = run(tmp_path, prog, patch=partial, ctas=2, shmem=200 * 1024, overrides=["sm.count=1"])
    t0 = issue_cycles(r, kt, warp=0)
    t1 = issue_cycles(r, kt, warp=1)
    assert np.all(t0 >= 0) and t0.size == len(prog)
    assert t1[0] > t0[-1]

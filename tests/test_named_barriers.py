"""Named barriers: ``bar.sync a, b`` / ``bar.arrive a, b`` (SASS ``BAR.SYNC.DEFER_BLOCKING id, n`` /
``BAR.ARV id, n``), the warp-specialised kernels' hand-off (FlashAttention-3's scheduler barriers).

PTX ISA, "bar, barrier": 16 barriers per CTA (ids 0-15); b is the number of threads that must arrive,
a multiple of the warp size, and a warp arriving counts as all its 32 threads; ``bar.arrive`` does not
wait; ``bar.sync a`` without b waits for every thread of the CTA.  Each test runs a micro kernel whose
warps take different paths through one listing and checks an analytic oracle: who is released, and
when, follows from the arrival cycles alone.
"""

from __future__ import annotations

import pytest

from gpusim.config import load_config
from gpusim.errors import SassError
from gpusim.frontend.microasm import Inst, build
from tests.micro_sim import EXIT, issue_cycles, run_folder

H100 = "h100-sxm5-80gb"
CHAIN = Inst("FFMA R2, R2, R4, R2", stall=4)   # a dependent FFMA chain: 4 cycles per instruction
NOP = Inst("NOP")


def _roles(tmp_path, prog, paths):
    """Simulate a CTA of ``len(paths)`` warps over the listing ``prog``; warp w executes the instructions
    ``paths[w]`` (indices into ``prog``, ending with its EXIT).  Returns the issue cycles per warp."""
    d = build(prog, tmp_path / f"nb{len(list(tmp_path.iterdir()))}", warps_per_cta=len(paths), arch="sm_90")
    tr = d / "kernel-1.traceg"
    text = tr.read_text()
    head, rest = text.split("warp = 0\n", 1)
    lines = [ln for ln in rest.split("\n")[1:] if ln.strip()][:len(prog)]
    tail = text[text.index("#END_TB"):]
    body = "".join(f"warp = {w}\ninsts = {len(p)}\n" + "\n".join(lines[k] for k in p) + "\n\n"
                   for w, p in enumerate(paths))
    tr.write_text(head + body + tail)
    r, kt, _ = run_folder(d, load_config(H100, ["icache.perfect=true"]))
    return [issue_cycles(r, kt, w) for w in range(len(paths))]


def test_bar_arrive_does_not_wait(tmp_path):
    """Rule: BAR.ARV counts the warp's arrival at barrier 3 and the warp goes on at once (its next
    instruction one stall count later), although no other warp has arrived yet; the warp waiting at
    BAR.SYNC 3, 64 is released once both have arrived.  (Treating BAR.ARV like BAR.SYNC would hold the
    producer until the consumer arrives, 10 FFMAs later, and fail the second assertion.)"""
    prog = [Inst("BAR.ARV 0x3, 0x40", stall=1)] + [CHAIN] * 40 + \
        [Inst("BAR.SYNC.DEFER_BLOCKING 0x3, 0x40", stall=1), NOP, EXIT]
    producer = list(range(41)) + [43]
    consumer = list(range(1, 11)) + [41, 42, 43]   # 10 FFMAs, then the barrier
    t0, t1 = _roles(tmp_path, prog, [producer, consumer])
    assert t0[0] < t1[10]                       # the producer arrives first ...
    assert t0[1] - t0[0] == 1                   # ... and does not wait at BAR.ARV (stall count 1)
    assert 1 <= t1[11] - t1[10] <= 4            # consumer released right after its own (second) arrival
    assert t1[11] < t0[-1] - 100                # ... long before the producer's 40 x 4-cycle chain ends


def test_named_barrier_releases_at_thread_count(tmp_path):
    """Rule: BAR.SYNC 2, 96 completes when 96 threads = 3 warps have arrived: warps 0 and 1 arrive at
    once and wait; warp 2 arrives after a 40-FFMA chain and releases them; warp 3 never arrives (it runs
    a 100-FFMA chain and exits) and is not waited for.  Oracle: warps 0-1 go on within a few cycles after
    warp 2's arrival, not before it and not at warp 3's exit.  (With the thread count ignored -- the old
    CTA-wide barrier -- they would wait for warp 3's exit and fail the first timing assertion.)"""
    prog = [Inst("BAR.SYNC.DEFER_BLOCKING 0x2, 0x60", stall=1), NOP] + [CHAIN] * 100 + [EXIT]
    ex = len(prog) - 1
    waiters = [0, 1, ex]
    late = list(range(2, 42)) + [0, 1, ex]     # the chain, then the barrier
    bystander = list(range(2, 102)) + [ex]
    t = _roles(tmp_path, prog, [waiters, waiters, late, bystander])
    arrive = t[2][40]                           # warp 2's BAR.SYNC
    for w in (0, 1):
        assert t[w][0] < arrive                 # waited ...
        assert 1 <= t[w][1] - arrive <= 4       # ... until the third warp's arrival
    assert 1 <= t[2][41] - arrive <= 4          # the arriving warp itself goes on
    assert t[0][1] < t[3][-1] - 200             # ... long before warp 3 exits (60 more FFMAs)


def test_barriers_with_different_ids_are_independent(tmp_path):
    """Rule: the 16 barriers of a CTA count separately: warps 0-1 meet at barrier 1 (64 threads) and go
    on at once; warps 2-3 meet at barrier 2 (64 threads), where warp 3 arrives after a 40-FFMA chain.
    Oracle: warps 0-1 are released at their own second arrival, long before warp 3 reaches barrier 2;
    warp 2 is released only by warp 3.  (With one barrier for all ids, as before, warps 0-1 wait for
    warp 3's arrival too and fail the first assertion.)"""
    prog = [Inst("BAR.SYNC.DEFER_BLOCKING 0x1, 0x40", stall=1), NOP,
            Inst("BAR.SYNC.DEFER_BLOCKING 0x2, 0x40", stall=1), NOP] + [CHAIN] * 40 + [EXIT]
    ex = len(prog) - 1
    a = [0, 1, ex]
    b_early = [2, 3, ex]
    b_late = list(range(4, 44)) + [2, 3, ex]
    t = _roles(tmp_path, prog, [a, a, b_early, b_late])
    pair = max(t[0][0], t[1][0])
    for w in (0, 1):
        assert 1 <= t[w][1] - pair <= 4
    late = t[3][40]                             # warp 3's BAR.SYNC 2
    assert t[0][1] < late - 100                 # barrier 1 did not wait for barrier 2's warps
    assert t[2][0] < late and 1 <= t[2][1] - late <= 4


def test_cta_wide_barrier_waits_for_every_live_warp(tmp_path):
    """Rule: BAR.SYNC 0 without a thread count waits for every warp of the CTA that has not exited:
    warp 0 waits for warp 1's arrival after a 40-FFMA chain; a warp that exited (warp 2) is not waited
    for (the pre-existing CTA-barrier behaviour, unchanged by the named barriers)."""
    prog = [Inst("BAR.SYNC.DEFER_BLOCKING 0x0", stall=1), NOP] + [CHAIN] * 40 + [EXIT]
    ex = len(prog) - 1
    t = _roles(tmp_path, prog, [[0, 1, ex], list(range(2, 42)) + [0, 1, ex], [ex]])
    arrive = t[1][40]
    assert t[0][0] < arrive and 1 <= t[0][1] - arrive <= 4


def test_register_barrier_operands_need_the_walker(tmp_path):
    """A BAR whose id is a register: a trace from a file carries no register values, so the core cannot
    know the barrier -- one clear error naming the instruction (the SASS walker records the values)."""
    prog = [Inst("BAR.SYNC.DEFER_BLOCKING R4, 0x100", stall=1), EXIT]
    d = build(prog, tmp_path / "reg", arch="sm_90")
    with pytest.raises(SassError, match="BAR.SYNC.DEFER_BLOCKING.*register"):
        run_folder(d, load_config(H100, ["icache.perfect=true"]))

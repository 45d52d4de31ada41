"""Issue: what one issued instruction does, at the cycle it issues.

Hardware rules (MGC §1.2-1.3, §2.4, the MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores"): the
stall counter and yield of the control bits (stall 0 + yield = 45 cycles), the IMAD issue-port
cycle, and the pipeline after issue (Control, Allocate, operand read, execute, write-back), whose
cycles this model computes at issue as future stamps because every latency is known then (the
released simulator's order, MGC §2.4).  The unit-specific parts live in ``execute``, ``regfile``,
``lsu`` and ``sync``; the releases in ``scoreboard``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core.slots import *  # noqa: F401,F403
from gpusim.core.execute import _issue_fixed, _issue_gmma, _issue_unit
from gpusim.core.lsu import _issue_mem, _push_req
from gpusim.core.scoreboard import _release
from gpusim.core.select import _set_reason
from gpusim.core.sync import _bar_arrive, _bar_exit, _sync_issue, _tma_issue


@njit(cache=True, _nrt=False, inline="always")
def _issue_selected(K, W, S, T, L, c, best, sc, sm):
    """Issue warp ``best`` (picked by ``select._select``) at cycle c, then retire it after its last
    instruction or count its arrival at a named barrier (BAR.SYNC waits, BAR.ARV goes on)."""
    # the issuing warp is charged one 'selected' cycle at its current PC
    _set_reason(K, W, L, best, R_SELECTED, c)
    _set_reason(K, W, L, best, -1, c + 1)
    W.wake[best] = c + 1
    W.ready[best] = 0
    _issue(K, W, S, T, L, c, best, sc, sm)
    S.greedy[sc] = best
    if W.pc[best] >= W.end[best]:
        # a retired slot starts clean for the next CTA's warp
        for b in range(NSB + 1):
            W.sb_n[best, b] = 0
        W.depbar[best, D_SB] = -1
        W.depbar[best, D_GMMA_DONE] = 0
        W.depbar[best, D_FIXED_WB] = 0
        W.depbar[best, D_MBAR] = -1
        W.depbar[best, D_CGA] = -1
        if not K.p[P_CTRL]:
            for rg in range(256):
                W.reg_ready[best, rg] = 0
                W.reg_war[best, rg] = 0
        L.counters[C_ACTIVE_WARP_CYCLES] += c + 1 - W.launch[best]
        _retire(K, W, S, T, L, best, sm, sc, c)
    elif K.st[K.inst_static[W.pc[best] - 1], S_FLAGS] & (F_BARRIER | F_BAR_ARRIVE):
        # its arrival at the named barrier; BAR.SYNC waits, BAR.ARV goes on
        _bar_arrive(K, W, S, T, c, best, sm, W.pc[best] - 1,
                    K.st[K.inst_static[W.pc[best] - 1], S_FLAGS] & F_BARRIER)


@njit(cache=True, _nrt=False, inline="always")
def _const_miss(K, W, S, L, c, ws, sc):
    """The L0 FL constant cache (MGC §2.1 item 6, §6.1): the constant operand ``c[bank][imm]`` of a
    fixed-latency instruction is tag-checked at issue in the sub-core's cache (``S_CLINE``).  On a miss
    the warp cannot issue until the line is there, ``P_CONST_MISS`` cycles later (HW102: 79), and the
    scheduler issues nothing for ``P_CONST_SWITCH`` cycles (4), then switches to another ready warp.  A
    line already on its way (another warp's miss) is waited for.  Returns True if warp ``ws`` may not
    issue at cycle c."""
    sets = K.p[P_CONST_SETS]
    if sets == 0 or not K.p[P_CTRL]:
        return False
    line = K.st[K.inst_static[W.pc[ws]], S_CLINE]
    if line < 0:
        return False
    row = sc * sets + line % sets
    ways = K.p[P_CONST_WAYS]
    hit = -1
    for w in range(ways):
        if S.cl0_tag[row, w] == line:
            hit = w
    if hit >= 0:
        if S.cl0_rdy[row, hit] <= c:
            S.cl0_lru[row, hit] = c
            return False
        t = S.cl0_rdy[row, hit]
    else:
        victim = 0
        for w in range(1, ways):
            if S.cl0_lru[row, w] < S.cl0_lru[row, victim]:
                victim = w
        t = c + K.p[P_CONST_MISS]
        S.cl0_tag[row, victim] = line
        S.cl0_rdy[row, victim] = t
        S.cl0_lru[row, victim] = t
    W.stall[ws] = t
    W.ready[ws] = 0
    W.wake[ws] = t
    _set_reason(K, W, L, ws, R_WAIT, c)
    hold = c + K.p[P_CONST_SWITCH]
    if hold > t:
        hold = t
    if S.issue_busy[sc] < hold:
        S.issue_busy[sc] = hold
    return True


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _issue(K, W, S, T, L, c, ws, sc, sm):
    """Issue the next instruction of warp ``ws`` on sub-core ``sc`` at cycle c.  Everything later in the
    pipeline is computed now as future cycle stamps (MGC §2.4): the stall counter and yield (§1.2, §1.3),
    the unit it goes to (``execute``, ``regfile``, ``lsu``), mbarrier / cluster effects (``sync``) and
    its releases (``scoreboard._release``)."""
    ctrl = K.p[P_CTRL]
    i = W.pc[ws]
    s = K.inst_static[i]
    fl = K.st[s, S_FLAGS]
    u = K.st[s, S_UNIT]
    # pop the instruction buffer
    W.ibh[ws] = (W.ibh[ws] + 1) % 3
    W.ibn[ws] -= 1
    W.pc[ws] = i + 1
    if L.issue_log.size > 1:
        L.issue_log[i] = c
    L.counters[C_WARP_INSTS] += 1
    L.counters[C_UNIT_BASE + u] += 1
    L.pc_stats[s, 0] += 1
    m = np.uint32(K.inst_mask[i])
    na = 0
    while m:
        m &= m - np.uint32(1)
        na += 1
    L.counters[C_THREAD_INSTS] += na
    W.depbar[ws, D_SB] = -1
    W.depbar[ws, D_CGA] = -1
    if W.depbar[ws, D_MBAR] >= 0:
        sbw = W.depbar[ws, D_MBAR_SB]
        if sbw < 0 or not ctrl or (K.st[s, S_WAIT] >> sbw) & 1:
            W.depbar[ws, D_MBAR] = -1  # this instruction consumed the TRYWAIT's result
    if fl & F_DEPBAR:
        W.depbar[ws, D_SB] = K.st[s, S_DEPBAR_SB]
        W.depbar[ws, D_N] = K.st[s, S_DEPBAR_N]
    elif fl & F_WG_DEPBAR:
        W.depbar[ws, D_SB] = GSB
        W.depbar[ws, D_N] = K.st[s, S_DEPBAR_N]
    # ---- stall counter and yield (MGC §1.2, §1.3)
    if ctrl:
        stall = K.st[s, S_STALL]
        y = K.st[s, S_YIELD]
        if stall == 0 and y:
            nxt = c + K.p[P_STALL0_YIELD]
        else:
            if stall > 11 and not y:
                # a count above 11 with the yield flag clear stalls the warp only 1-2 cycles (MGC §1.2,
                # MICRO'25 §4); the compiler never emits it, hand-written SASS may
                stall = K.p[P_STALL_GT11_NOY]
            nxt = c + (stall if stall > 1 else 1)
            if y and nxt < c + 2:
                nxt = c + 2
    else:
        nxt = c + 1
    if fl & F_MEMBAR and nxt < c + K.st[s, S_LAT]:
        # the warp waits until its earlier memory operations are visible at the barrier's scope
        nxt = c + K.st[s, S_LAT]
    if fl & F_WG_ARRIVE and nxt < W.depbar[ws, D_FIXED_WB]:
        # wgmma.fence orders the warp's earlier register writes before the MMAs that follow (PTX ISA,
        # wgmma.fence): the warp waits until its in-flight fixed-latency results are written back
        nxt = W.depbar[ws, D_FIXED_WB]
    W.stall[ws] = nxt
    if fl & F_IMAD:
        S.issue_busy[sc] = c + 1 + K.p[P_IMAD_BUSY]
    # wb: write-back (RAW release) cycle; war: source registers read (WAR release) cycle
    is_long = 0
    defer = 0           # Q_ACCESS | Q_PATCH | Q_MBAR: the memory system sees this instruction at the epoch end
    qdata = 0
    leave = c
    if fl & F_GMMA:
        wb, war = _issue_gmma(K, W, S, T, c, ws, sc, sm, s, fl)
    elif (fl & F_VARIABLE) == 0:
        wb, war = _issue_fixed(K, W, S, L, c, ws, sc, s, fl, u)
    else:
        S.control_free[sc] = c + 2
        if u == U_MEM:
            wb, war, is_long, defer, leave = _issue_mem(K, W, S, T, L, c, ws, sc, sm, i, s, fl)
        else:
            wb, war = _issue_unit(K, S, T, c, sc, sm, s, fl, u)
        if fl & F_LDGDEPBAR:
            wb = W.ldgsts_done[ws] if W.ldgsts_done[ws] > c + 2 else c + 2
            defer &= Q_ACCESS
            if W.ldgsts_pend[ws]:
                # LDGSTS of this epoch are outstanding: the result is their latest completion, known at the end
                defer |= Q_PATCH
                qdata = wb
    mbcell = -1
    mbprev = np.int64(0)
    if fl & F_TMA:
        # the copy completes the mbarrier phase of the warp's last arrive.expect_tx when its data lands
        mbcell, mbprev, defer = _tma_issue(K, W, S, T, L, c, ws, sm, wb, defer)
    elif fl & (F_MBAR_ARRIVE | F_MBAR_WAIT | F_MBAR_INIT | F_CGA_WAIT):
        _sync_issue(K, W, S, T, fl, c, ws, sm, i, wb, K.st[s, S_WSB] if ctrl else np.int64(-1))
    if defer:
        k = _push_req(L, c, ws, i, leave, defer, qdata, mbcell, mbprev)
        if defer & Q_PATCH:
            wb = PENDING + sm * L.rq.shape[0] + k - 1
    if fl & F_CGA_ARRIVE:
        _cga_arrive(K, W, T, L, c, ws, sm, i)
    if (defer & Q_PATCH) == 0 and wb > L.sg[SG_LAST_EVENT]:
        L.sg[SG_LAST_EVENT] = wb
    # ---- releases: visible the cycle after write-back / read
    _release(K, W, c, ws, s, fl, wb, war, is_long)


@njit(cache=True, _nrt=False, inline="always")
def _cga_arrive(K, W, T, L, c, ws, sm, i):
    """barrier.cluster.arrive (UCGABAR_ARV): warps of other SMs wait on it, so it is buffered and counted
    at the epoch end (``_cga_event``)."""
    cps = K.p[P_CTAS_PER_SM]
    wpc = K.p[P_WARPS_PER_CTA]
    cs = sm * cps + (ws - sm * cps * wpc) // wpc
    ci = T.cs_cta[cs] // K.p[P_CLUSTER]
    if ci < T.cl.shape[0]:
        a = W.sync[ws, W_CGA_ARV]
        W.sync[ws, W_CGA_ARV] = a + 1
        _push_req(L, c, ws, i, c, Q_CGA_ARV, 0, ci, a)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _retire(K, W, S, T, L, ws, sm, sc, c):
    """Warp ``ws`` has issued its last instruction at cycle c.  A CTA whose last warp retires is
    recorded in ``dn`` (cycle, CTA slot); the dispatcher refills its slot at the epoch end.  In a
    cluster (``cl``) the warp no longer arrives at the cluster barrier: buffered in ``rq`` (other
    SMs' warps may wait on it), served at the epoch end."""
    cps = K.p[P_CTAS_PER_SM]
    wpc = K.p[P_WARPS_PER_CTA]
    wslots = cps * wpc
    slot_cta = (ws - sm * wslots) // wpc
    cs = sm * cps + slot_cta
    W.trace[ws] = -1
    W.ibn[ws] = 0
    if S.greedy[sc] == ws:
        S.greedy[sc] = -1
    T.c_live[cs] -= 1
    L.sg[SG_LIVE] -= 1
    if T.cs_cta[cs] >= 0 and T.cs_cta[cs] // K.p[P_CLUSTER] < T.cl.shape[0]:
        _push_req(L, c, ws, -1, c, Q_CGA_EXIT, 0, T.cs_cta[cs] // K.p[P_CLUSTER], 0)
    if T.c_live[cs] == 0:
        k = L.sg[SG_NDONE]
        L.dn[k, 0] = c
        L.dn[k, 1] = slot_cta
        L.sg[SG_NDONE] = k + 1
    # an exited warp no longer counts among the live warps: its BAR.ARV arrivals are withdrawn
    _bar_exit(K, W, S, T, ws, sm, c, T.c_live[cs] > 0)

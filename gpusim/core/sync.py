"""Synchronisation between warps: CTA barriers, mbarriers with TMA transaction bytes, cluster barriers.

Hardware rules: 16 named barriers per CTA (ids 0-15); ``BAR.SYNC id, n`` holds a warp until n threads
(n / 32 warps: a warp arrives as a whole) have arrived at barrier ``id``, without n until every live warp
of its CTA has; ``BAR.ARV id, n`` counts an arrival without waiting (PTX ISA, ``bar``/``barrier``); an mbarrier phase completes when its
arrivals and its expected transaction bytes are in, the bytes of a TMA copy (``UTMALDG``) counting
when its data lands in shared memory, and ``TRYWAIT`` holds the instruction that consumes its result
until then (PTX ISA, ``mbarrier``; research/sass-control-bits.md §5); ``UCGABAR_ARV``/``UCGABAR_WAIT``
are the cluster barrier, complete when every warp of every CTA of the cluster has arrived.  Cluster
events cross SMs, so they are buffered and served at the epoch end (``_cga_event``) and the SMs of a
cluster kernel advance in lockstep epochs that end right after such events (``_lockstep_epoch``).
Source of the SM-side rules: the MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores" (MGC) does not
cover these; configs/README.md ("TMA and mbarriers") documents the costs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core.dispatch import subcore_of
from gpusim.core.slots import *  # noqa: F401,F403


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _wake_cta(K, W, S, cs, c):
    """Make every warp of CTA slot ``cs`` re-examine its state at cycle ``c`` (a barrier it may wait on changed)."""
    wpc = K.p[P_WARPS_PER_CTA]
    for k in range(wpc):
        ws = cs * wpc + k
        if W.trace[ws] < 0:
            continue
        if W.wake[ws] > c:
            W.wake[ws] = c
        W.ready[ws] = 0
        sc = subcore_of(K, ws)
        if S.next[sc] > c:
            S.next[sc] = c


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _cga_check(K, W, S, T, ci, c):
    """Complete the cluster-barrier phases whose arrivals are all in (visible the next cycle)."""
    ph = T.cl[ci, CL_PHASE]
    while T.cl[ci, CL_WARPS] > 0 and T.cl[ci, CL_CNT0 + ph % PH] >= T.cl[ci, CL_WARPS]:
        T.cl[ci, CL_DONE0 + ph % PH] = c + 1
        T.cl[ci, CL_CNT0 + (ph + 2) % PH] = 0
        T.cl[ci, CL_DONE0 + (ph + 2) % PH] = NEVER
        ph += 1
        for r in range(K.p[P_CLUSTER]):
            if T.cl[ci, CL_SLOT0 + r] >= 0:
                _wake_cta(K, W, S, T.cl[ci, CL_SLOT0 + r], c)
    T.cl[ci, CL_PHASE] = ph


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _mb_slot(T, cs, addr):
    """Slot of the mbarrier at shared address ``addr`` in CTA slot ``cs`` (created on first use; -1: table full)."""
    for b in range(NB):
        if T.mb_addr[cs, b] == addr:
            return b
    for b in range(NB):
        if T.mb_addr[cs, b] < 0:
            T.mb_addr[cs, b] = addr
            return b
    return -1


@njit(cache=True, _nrt=False, inline="always")
def _mb_complete_at(T, cs, b, k):
    """Cycle from which phase ``k`` of mbarrier ``b`` counts as complete (NEVER: not yet known)."""
    if k >= T.mb_st[cs, b, MB_CLOSED]:
        return NEVER
    if T.mb_st[cs, b, MB_TXPH] == k and T.mb_st[cs, b, MB_TXWAIT]:
        return NEVER
    return T.mb_done[cs, b, k % PH]


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _mb_wake(K, W, S, T, cs, b):
    """A pending completion of mbarrier ``b`` of CTA slot ``cs`` was resolved: lower the wake-up cycle of the
    warps whose wait on it was computed from the placeholder (``WM_MBAR``) to the phase's completion."""
    wpc = K.p[P_WARPS_PER_CTA]
    for q in range(wpc):
        ws = cs * wpc + q
        if W.trace[ws] < 0 or (W.wmask[ws] & WM_MBAR) == 0 or W.depbar[ws, D_MBAR] != b:
            continue
        t = _mb_complete_at(T, cs, b, W.depbar[ws, D_MBAR_PH])
        if t < W.wake[ws] and t <= NEVER:
            W.wake[ws] = t
            sc = subcore_of(K, ws)
            if S.next[sc] > t:
                S.next[sc] = t


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _cga_event(K, W, S, T, sm, k, t1):
    """Serve a cluster-barrier arrival or a cluster warp's exit buffered in the epoch ending at t1 (the work
    ``_issue`` / ``_retire`` would do in a serial model).  A phase it completes is visible the cycle after
    it; returns False if that lies inside the epoch (the lockstep epochs end right after such events)."""
    c = T.req[sm, k, Q_CYCLE]
    ci = T.req[sm, k, Q_MB]
    if T.req[sm, k, Q_FLAGS] & Q_CGA_ARV:
        T.cl[ci, CL_CNT0 + T.req[sm, k, Q_PREV] % PH] += 1
    else:
        T.cl[ci, CL_WARPS] -= 1
    ph = T.cl[ci, CL_PHASE]
    _cga_check(K, W, S, T, ci, c)
    return T.cl[ci, CL_PHASE] == ph or c + 1 >= t1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _release_barrier(W, S, T, sm, slot_cta, cs, b, wslots, wpc, n_sub, c):
    """Complete the current phase of named barrier ``b`` of CTA slot ``cs`` if its arrivals are in: the
    thread count of its ``bar`` instructions (``c_bar_need`` warps), or every live warp of the CTA for a
    barrier without one (need 0; exited warps no longer arrive).  Waiting warps go on the next cycle."""
    need = T.c_bar_need[cs, b]
    if need == 0:
        if T.c_live[cs] <= 0 or T.c_bar[cs, b] < T.c_live[cs]:
            return
    elif T.c_bar[cs, b] < need:
        return
    bit = np.int64(1) << np.int64(b)
    for k in range(wpc):
        ws = sm * wslots + slot_cta * wpc + k
        if W.bar_arv[ws] & bit:
            W.bar_arv[ws] &= ~bit  # arrived with BAR.ARV: was not waiting
        elif W.bar[ws] and W.bar_id[ws] == b:
            W.bar[ws] = 0
            if W.stall[ws] < c + 1:
                W.stall[ws] = c + 1
            W.wake[ws] = c
            sc = sm * n_sub + (slot_cta * wpc + k) % n_sub
            if S.next[sc] > c:
                S.next[sc] = c
    T.c_bar[cs, b] = 0
    T.c_bar_need[cs, b] = 0


@njit(cache=True, _nrt=False, inline="always")
def _operand(K, i):
    """The mbarrier address (SYNCS) or named barrier (BAR) of dynamic instruction i, -1: none.  The assembler
    stores it as the instruction's one ``acc_line`` entry (``gpusim.assemble.dynamic.fold_operands``):
    these instructions access no cache line."""
    a = K.acc_ptr[i]
    if K.acc_ptr[i + 1] > a:
        return K.acc_line[a]
    return np.int64(-1)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _bar_arrive(K, W, S, T, c, ws, sm, i, wait):
    """Warp ``ws`` issued BAR.SYNC (``wait``) or BAR.ARV, dynamic instruction i, at cycle c: its arrival
    counts at the named barrier ``_operand(K, i)`` (id + NBAR * warps; -1: id 0, the whole CTA) and
    BAR.SYNC holds the warp until the phase completes; BAR.ARV goes on (PTX ISA, ``bar``/``barrier``).
    At a barrier without thread count, the warp's BAR.ARV arrival is remembered (``bar_arv``) so that
    its exit can withdraw it (the live-warp count then stops counting it) and counted once per phase."""
    if K.inst_mask[i] == 0:
        return  # predicated off in every lane: no arrival
    cps = K.p[P_CTAS_PER_SM]
    wpc = K.p[P_WARPS_PER_CTA]
    wslots = cps * wpc
    slot_cta = (ws - sm * wslots) // wpc
    cs = sm * cps + slot_cta
    v = _operand(K, i)
    b = np.int64(0)
    need = np.int64(0)
    if v >= 0:
        b = v % NBAR
        need = v // NBAR
    bit = np.int64(1) << b
    if wait:
        W.bar[ws] = 1
        W.bar_id[ws] = b
        W.bar_arv[ws] &= ~bit
    elif need == 0:
        if W.bar_arv[ws] & bit:
            return
        W.bar_arv[ws] |= bit
    T.c_bar[cs, b] += 1
    T.c_bar_need[cs, b] = need
    _release_barrier(W, S, T, sm, slot_cta, cs, b, wslots, wpc, K.p[P_SUBCORES], c)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _bar_exit(K, W, S, T, ws, sm, c, live):
    """Warp ``ws`` retired at cycle c.  Its BAR.ARV arrivals at barriers without thread count are
    withdrawn (it no longer counts among the live warps they wait for); if ``live`` (its CTA has warps
    left), those barriers may now be complete."""
    cps = K.p[P_CTAS_PER_SM]
    wpc = K.p[P_WARPS_PER_CTA]
    wslots = cps * wpc
    slot_cta = (ws - sm * wslots) // wpc
    cs = sm * cps + slot_cta
    m = W.bar_arv[ws]
    if m:
        for b in range(NBAR):
            if (m >> b) & 1:
                T.c_bar[cs, b] -= 1
        W.bar_arv[ws] = 0
    if live:
        for b in range(NBAR):
            if T.c_bar_need[cs, b] == 0 and T.c_bar[cs, b] > 0:
                _release_barrier(W, S, T, sm, slot_cta, cs, b, wslots, wpc, K.p[P_SUBCORES], c)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _tma_charge(K, W, S, T, c, ws, sm):
    """The mbarrier phase a TMA copy issued at cycle c completes on, as a cell index (cs * NB + b) * PH + phase % PH
    of ``mb_done`` (-1: none): the phase of the warp's last arrive.expect_tx, if it still waits for bytes
    or is not complete yet.  A first copy ends the phase's wait for one and wakes the CTA's warps; the
    caller raises the phase's completion to the copy's landing cycle."""
    cps = K.p[P_CTAS_PER_SM]
    wpc = K.p[P_WARPS_PER_CTA]
    cs = sm * cps + (ws - sm * cps * wpc) // wpc
    b = W.sync[ws, W_MBTX]
    if b < 0:
        return -1
    k = T.mb_st[cs, b, MB_TXPH]
    if k < 0:
        return -1
    waiting = T.mb_st[cs, b, MB_TXWAIT]
    if waiting or T.mb_done[cs, b, k % PH] > c:
        if waiting:
            T.mb_st[cs, b, MB_TXWAIT] = 0
            _wake_cta(K, W, S, cs, c)
        return (cs * NB + b) * PH + k % PH
    return -1


@njit(cache=True, _nrt=False, inline="always")
def _tma_issue(K, W, S, T, L, c, ws, sm, wb, defer):
    """A TMA copy (UTMALDG) issued at cycle c completes the mbarrier phase of the warp's last
    arrive.expect_tx when its data lands (``wb``; a placeholder above NEVER while its global access waits
    for the epoch end).  Returns (phase cell or -1, the phase's completion before the copy, defer flags)."""
    mbprev = np.int64(0)
    mbcell = _tma_charge(K, W, S, T, c, ws, sm)
    if mbcell >= 0:
        mcs = mbcell // (NB * PH)
        mb = (mbcell // PH) % NB
        mph = mbcell % PH
        mbprev = T.mb_done[mcs, mb, mph]
        if defer & Q_ACCESS:
            # landing known at the epoch end (``_resolve``): a placeholder above NEVER until then
            defer |= Q_MBAR
            T.mb_done[mcs, mb, mph] = MB_PEND + sm * L.rq.shape[0] + L.sg[SG_NREQ]
        else:
            if wb > mbprev:
                T.mb_done[mcs, mb, mph] = wb
            mbcell = -1
    return mbcell, mbprev, defer


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _sync_issue(K, W, S, T, fl, c, ws, sm, i, wb, wsb):
    """mbarrier and cluster-barrier-wait effects of an instruction issued at cycle c whose memory
    operation takes effect at ``wb`` (TMA copies: ``_tma_charge``; cluster arrivals: buffered).

    mbarriers are identified by their shared-memory address in the CTA (the trace records it for
    SYNCS).  A phase needs one arrival (the init count is a register value the trace does not
    carry; our kernels init with 1) and, after an arrive.expect_tx, the TMA copies charged to it:
    the copies a warp issues go to the barrier of its last arrive.expect_tx (the UTMALDG trace
    record carries the box rows, not the barrier).  A TRYWAIT waits for the next phase its warp
    has not consumed yet (one TRYWAIT per completed wait, as the SASS walker traces it)."""
    cps = K.p[P_CTAS_PER_SM]
    wpc = K.p[P_WARPS_PER_CTA]
    cs = sm * cps + (ws - sm * cps * wpc) // wpc
    if fl & (F_MBAR_ARRIVE | F_MBAR_WAIT | F_MBAR_INIT):
        a = _operand(K, i)
        b = _mb_slot(T, cs, a) if a >= 0 else -1
        if b < 0:
            return
        if fl & F_MBAR_INIT:
            T.mb_st[cs, b, MB_CLOSED] = 0
            T.mb_st[cs, b, MB_TXPH] = -1
            T.mb_st[cs, b, MB_TXWAIT] = 0
            base = sm * cps * wpc + (cs - sm * cps) * wpc
            for q in range(wpc):
                W.sync[base + q, b] = 0
            _wake_cta(K, W, S, cs, c)
        elif fl & F_MBAR_ARRIVE:
            k = T.mb_st[cs, b, MB_CLOSED]
            T.mb_st[cs, b, MB_CLOSED] = k + 1
            T.mb_done[cs, b, k % PH] = wb
            if fl & F_MBAR_EXPECT:
                T.mb_st[cs, b, MB_TXPH] = k
                T.mb_st[cs, b, MB_TXWAIT] = 1
                W.sync[ws, W_MBTX] = b
            _wake_cta(K, W, S, cs, c)
        else:
            W.depbar[ws, D_MBAR] = b
            W.depbar[ws, D_MBAR_PH] = W.sync[ws, b]
            W.depbar[ws, D_MBAR_SB] = wsb if 0 <= wsb < NSB else -1
            W.sync[ws, b] += 1
        return
    ci = T.cs_cta[cs] // K.p[P_CLUSTER]
    if ci >= T.cl.shape[0]:
        return
    if fl & F_CGA_WAIT:
        W.depbar[ws, D_CGA] = W.sync[ws, W_CGA_WAIT]
        W.sync[ws, W_CGA_WAIT] += 1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _lockstep_epoch(K, W, tstar):
    """Length of the next lockstep epoch from ``tstar`` (at most ``P_EPOCH``): it ends right after the
    earliest cycle in which a warp may arrive at a cluster barrier or retire.  ``cga_dist[i]``: instructions
    from dynamic instruction i to the warp's next UCGABAR_ARV or its last instruction (0: i is one); a warp
    issues at most one instruction per cycle, and not before its stall counter or launch."""
    e = K.p[P_EPOCH]
    for ws in range(W.trace.size):
        if W.trace[ws] < 0:
            continue
        t = W.stall[ws]
        if W.launch[ws] > t:
            t = W.launch[ws]
        if t < tstar:
            t = tstar
        d = t + K.cga_dist[W.pc[ws]] - tstar + 1
        if d < e:
            e = d
    return e

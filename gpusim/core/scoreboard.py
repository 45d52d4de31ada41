"""Dependences: control bits (stall counter, SB counters, DEPBAR) or the scoreboard fallback.

Hardware rules (MGC §1, the MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores"; digest in
research/modern-gpu-cores.md): a variable-latency producer increments its write SB (and a read SB
for its sources) in the Control stage, visible 2 cycles after issue, and releases it at write-back /
after its source read (§1.4); a consumer's wait mask holds it while a waited SB is non-zero;
``DEPBAR.LE SBx, N`` holds the next instruction until SBx <= N (§1.5); ``WARPGROUP.DEPBAR.LE gsb0, N``
does the same on the warp's committed wgmma groups.  Without control bits (no SASS listing, §1.8) a
RAW/WAW scoreboard of per-register ready cycles and a WAR scoreboard of pending source reads stand in.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core.slots import *  # noqa: F401,F403
from gpusim.core.dispatch import subcore_of
from gpusim.core.sync import _mb_complete_at


@njit(cache=True, _nrt=False, inline="always")
def _sb_pending(W, ws, s, c):
    """Producers on SB ``s`` of warp ``ws`` not yet released as seen at cycle ``c``.

    The increment of the instruction issued at c-1 is not visible yet (Control stage, MGC §1.4).
    Returns (pending, long_pending) where long counts producers from global/local memory.
    """
    n = 0
    for k in range(W.sb_n[ws, s]):
        if W.sb_rel[ws, s, k] > c:
            n += 1
    if n > 0 and W.last_issue[ws] == c - 1:
        if W.last_wsb[ws] == s and W.last_rel_w[ws] > c:
            n -= 1
        if W.last_rsb[ws] == s and W.last_rel_r[ws] > c and n > 0:
            n -= 1
    return n


@njit(cache=True, _nrt=False, inline="always")
def _sb_push(W, ws, s, rel, is_long, c):
    m = 0
    for k in range(W.sb_n[ws, s]):
        if W.sb_rel[ws, s, k] > c:
            W.sb_rel[ws, s, m] = W.sb_rel[ws, s, k]
            W.sb_long[ws, s, m] = W.sb_long[ws, s, k]
            m += 1
    if m < SB_CAP:
        W.sb_rel[ws, s, m] = rel
        W.sb_long[ws, s, m] = is_long
        m += 1
    W.sb_n[ws, s] = m


@njit(cache=True, _nrt=False, inline="always")
def _sb_has_long(W, ws, s, c):
    for k in range(W.sb_n[ws, s]):
        if W.sb_rel[ws, s, k] > c and W.sb_long[ws, s, k]:
            return True
    return False


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _classify_local(K, W, T, c, ws, sc, sm, ctrl):
    """Why warp ``ws`` cannot issue at cycle ``c`` by its own state (R_*, or -1 if it could;
    MGC §2.1 items 1-4) and the earliest cycle at which that reason can end without the warp
    issuing (its wake-up cycle).  Once these conditions hold they keep holding until the warp
    issues, except that the SB increment of its last issue becomes visible 2 cycles after it.
    The third value names what the wake-up cycle was computed from (bit b: the entries of SB b,
    WM_REGS: the scoreboard registers, WM_MBAR: an mbarrier phase), so that a memory result
    resolved later can lower it."""
    if W.bar[ws] == 1:
        return R_BARRIER, NEVER, 0
    if W.ibn[ws] == 0:
        return R_NO_INST, NEVER, 0
    t = W.ibt[ws, W.ibh[ws]]
    if t > c:
        return R_NO_INST, t, 0
    if W.stall[ws] > c:
        return R_WAIT, W.stall[ws], 0
    s = K.inst_static[W.pc[ws]]
    # the wake-up cycle is the next stamp at which the outcome may change (any release on a
    # waited counter or register, or the increment of the last issue becoming visible), so that
    # cached states equal what a cycle-by-cycle re-examination would find
    vis = W.last_issue[ws] + 2
    if ctrl:
        m = K.st[s, S_WAIT]
        reason = -1
        wake = NEVER
        for b in range(NSB):
            if (m >> b) & 1:
                if reason < 0 and _sb_pending(W, ws, b, c) > 0:
                    reason = R_LONG_SB if _sb_has_long(W, ws, b, c) else R_SHORT_SB
                for q in range(W.sb_n[ws, b]):
                    v = W.sb_rel[ws, b, q]
                    if c < v < wake:
                        wake = v
        if reason >= 0:
            if c < vis < wake:
                wake = vis
            return reason, wake, np.int64(m)
    else:
        reason = -1
        wake = NEVER
        for r in range(4):
            rg = K.st[s, S_SRC0 + r]
            if rg >= 0 and rg != 255:
                v = W.reg_ready[ws, rg]
                if v > c:
                    if reason < 0:
                        reason = R_LONG_SB if W.reg_long[ws, rg] == 1 else (R_SHORT_SB if W.reg_long[ws, rg] == 2 else R_WAIT)
                    if v < wake:
                        wake = v
            rg = K.st[s, S_DST0 + r]
            if rg >= 0 and rg != 255:
                v = W.reg_ready[ws, rg]
                if v > c:
                    if reason < 0:
                        reason = R_LONG_SB if W.reg_long[ws, rg] == 1 else (
                            R_SHORT_SB if W.reg_long[ws, rg] == 2 else R_WAIT)
                    if v < wake:
                        wake = v
                v = W.reg_war[ws, rg]
                if v > c:
                    if reason < 0:
                        reason = R_SHORT_SB
                    if v < wake:
                        wake = v
        if reason >= 0:
            return reason, wake, WM_REGS
    b = W.depbar[ws, D_SB]
    if b >= 0:
        # an issued DEPBAR.LE SBb, N holds the next instruction until SBb <= N (MGC §1.5, Figure 2);
        # WARPGROUP.DEPBAR.LE gsb0, N the same on the warp's committed wgmma groups (row GSB)
        nmax = W.depbar[ws, D_N]
        if _sb_pending(W, ws, b, c) > nmax:
            if b == GSB:
                # Nsight "wait": the groups finish a known number of cycles after they entered the
                # tensor pipe, a fixed-latency dependence (configs/README.md, "wgmma")
                reason = R_WAIT
            else:
                reason = R_LONG_SB if _sb_has_long(W, ws, b, c) else R_SHORT_SB
            wake = NEVER
            for q in range(W.sb_n[ws, b]):
                v = W.sb_rel[ws, b, q]
                if c < v < wake:
                    wake = v
            if c < vis < wake:
                wake = vis
            return reason, wake, np.int64(1) << b
    b = W.depbar[ws, D_MBAR]
    if b >= 0:
        # an issued TRYWAIT holds the instruction that consumes its result (the one waiting on its write SB;
        # without control bits the next one) until the awaited mbarrier phase completes: all arrivals and
        # all transaction bytes in.  Nsight state "long scoreboard" (configs/README.md, "TMA and mbarriers")
        sbw = W.depbar[ws, D_MBAR_SB]
        if sbw < 0 or not ctrl or (K.st[s, S_WAIT] >> sbw) & 1:
            cps = K.p[P_CTAS_PER_SM]
            wpc = K.p[P_WARPS_PER_CTA]
            cs = sm * cps + (ws - sm * cps * wpc) // wpc
            t = _mb_complete_at(T, cs, b, W.depbar[ws, D_MBAR_PH])
            if t > c:
                if t > NEVER:
                    t = NEVER  # a TMA copy of this epoch not served yet: _resolve lowers the wake-up cycle
                if c < vis < t:
                    t = vis
                return R_LONG_SB, t, WM_MBAR
    k = W.depbar[ws, D_CGA]
    if k >= 0:
        # UCGABAR_WAIT: until every warp of every CTA of the cluster arrived at phase k (Nsight "barrier");
        # ``T.cl`` changes only at epoch ends, which wake the cluster's warps
        cps = K.p[P_CTAS_PER_SM]
        wpc = K.p[P_WARPS_PER_CTA]
        cs = sm * cps + (ws - sm * cps * wpc) // wpc
        ci = T.cs_cta[cs] // K.p[P_CLUSTER]
        t = NEVER
        if ci < T.cl.shape[0] and T.cl[ci, CL_PHASE] > k:
            t = T.cl[ci, CL_DONE0 + k % PH]
        if t > c:
            if c < vis < t:
                t = vis
            return R_BARRIER, t, 0
    return -1, c + 1, 0


@njit(cache=True, _nrt=False, inline="always")
def _release(K, W, c, ws, s, fl, wb, war, is_long):
    """Record the releases of an instruction issued at cycle c, visible the cycle after its write-back
    ``wb`` and its source read ``war``: with control bits on its write and read SB counters (MGC §1.4),
    else on the scoreboard registers (MGC §1.8)."""
    rel_w = wb + 1
    rel_r = war + 1
    W.last_issue[ws] = c
    W.last_wsb[ws] = -1
    W.last_rsb[ws] = -1
    if K.p[P_CTRL]:
        b = K.st[s, S_WSB]
        if b >= 0 and b < NSB:
            _sb_push(W, ws, b, rel_w, is_long, c)
            W.last_wsb[ws] = b
            W.last_rel_w[ws] = rel_w
        b = K.st[s, S_RSB]
        if b >= 0 and b < NSB:
            _sb_push(W, ws, b, rel_r, 0, c)
            W.last_rsb[ws] = b
            W.last_rel_r[ws] = rel_r
    else:
        kind = 0
        if fl & F_VARIABLE:
            kind = 1 if is_long else 2
        # (a wgmma's registers are guarded by WARPGROUP.DEPBAR, which real code must execute before
        # touching them (PTX ISA, wgmma.wait_group), not by the scoreboard: the MMAs of a group chain
        # on their accumulators inside the tensor pipe)
        for k in range(4):
            rg = K.st[s, S_DST0 + k]
            if rg >= 0 and rg != 255 and (fl & F_GMMA) == 0:
                W.reg_ready[ws, rg] = rel_w
                W.reg_long[ws, rg] = kind
        if fl & F_VARIABLE and (fl & F_GMMA) == 0:
            for k in range(4):
                rg = K.st[s, S_SRC0 + k]
                if rg >= 0 and rg != 255 and W.reg_war[ws, rg] < rel_r:
                    W.reg_war[ws, rg] = rel_r
        if fl & F_LDGDEPBAR:
            _sb_push(W, ws, 0, rel_w, 1, c)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _patch(K, W, S, ws, s, tag, v, ctrl):
    """Replace the placeholder ``tag`` of warp ``ws`` (instruction static ``s``) by the resolved release
    cycle ``v`` and lower the warp's wake-up cycle where its cached state was computed from that entry."""
    seen = False
    for b in range(NSB):
        for k in range(W.sb_n[ws, b]):
            if W.sb_rel[ws, b, k] == tag:
                W.sb_rel[ws, b, k] = v
                if (W.wmask[ws] >> b) & 1:
                    seen = True
    if W.last_rel_w[ws] == tag:
        W.last_rel_w[ws] = v
    if not ctrl:
        cur = K.inst_static[W.pc[ws]] if W.trace[ws] >= 0 else s
        for k in range(4):
            rg = K.st[s, S_DST0 + k]
            if rg >= 0 and rg != 255 and W.reg_ready[ws, rg] == tag:
                W.reg_ready[ws, rg] = v
                if W.wmask[ws] & WM_REGS:
                    for q in range(4):
                        if K.st[cur, S_SRC0 + q] == rg or K.st[cur, S_DST0 + q] == rg:
                            seen = True
    if seen and W.trace[ws] >= 0 and v < W.wake[ws]:
        W.wake[ws] = v
        sc = subcore_of(K, ws)
        if S.next[sc] > v:
            S.next[sc] = v

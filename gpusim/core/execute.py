"""Execution units: input latches, FP32 steering, variable-latency units and warpgroup MMAs.

Hardware rules (MGC §2.1 item 5 and §5, the MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores"): a
fixed-latency instruction needs its unit's input latch free (the unit's initiation interval); FP32
work may go to a free INT latch where the config allows (not IMAD); SFU, conversions, FP64 (shared
per SM where configured) and variable-latency tensor ops queue on their unit.  Hopper's ``HGMMA``
(research/sass-control-bits.md §5): an asynchronous warpgroup MMA whose quarter occupies the
sub-core's tensor pipe for its initiation interval; the HGMMA carrying ``gsb0`` commits the group.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core.slots import *  # noqa: F401,F403
from gpusim.core.regfile import _allocate
from gpusim.core.scoreboard import _sb_push
from gpusim.core.lsu import _sl_gmma


@njit(cache=True, _nrt=False, inline="always")
def _classify_resource(K, S, c, s, sc):
    """Sub-core resources for a warp whose own conditions hold (MGC §2.1 item 5, §6.2):
    the unit's input latch for fixed-latency work, a memory-queue entry for memory work."""
    fl = K.st[s, S_FLAGS]
    u = K.st[s, S_UNIT]
    if u == U_MEM:
        occ = 0
        first = NEVER
        for k in range(S.mq_n[sc]):
            v = S.mq_leave[sc, k]
            if v >= c:
                occ += 1
                if v + 1 < first:
                    first = v + 1
        if occ >= K.p[P_MQ_CAP]:
            return (R_LG if fl & F_LONG else R_MIO), first
    elif (fl & F_VARIABLE) == 0:
        if S.unit_free[sc, u] > c:
            if u == U_FP32 and K.p[P_STEER] and (fl & F_IMAD) == 0:
                if S.unit_free[sc, U_INT] > c:
                    t = S.unit_free[sc, U_INT]
                    if S.unit_free[sc, u] < t:
                        t = S.unit_free[sc, u]
                    return R_MATH, t
            else:
                return R_MATH, S.unit_free[sc, u]
    return -1, c + 1


@njit(cache=True, _nrt=False, inline="always")
def _issue_gmma(K, W, S, T, c, ws, sc, sm, s, fl):
    """Asynchronous warpgroup MMA (wgmma.mma_async): the warp does not wait for it.  Its quarter of the
    MMA enters the sub-core's tensor pipe when the pipe is free (the HGMMAs of a group queue back to
    back), holds it S_II cycles and is done S_LAT cycles later.  Its shared-memory operands (A and B, or
    B alone when A comes from registers; S_GMMA_SMEM bytes for this quarter) are read over those S_II
    cycles through the SM's shared-memory data path (``lsu._sl_gmma``): where the path, shared with
    LDS/STS/TMA data and the other sub-cores' MMAs, cannot deliver them in time, the MMA holds the pipe
    until its last operand byte is in.  Returns (write-back, source-read) cycles."""
    S.control_free[sc] = c + 2
    t0 = c + 2
    if S.unit_free[sc, U_TENSOR] > t0:
        t0 = S.unit_free[sc, U_TENSOR]
    end = t0 + K.st[s, S_II]
    if K.p[P_GMMA_SMEM] and K.st[s, S_GMMA_SMEM] > 0:
        end = _sl_gmma(K, T, sm, t0, K.st[s, S_II], K.st[s, S_GMMA_SMEM])
    S.unit_free[sc, U_TENSOR] = end
    wb = end + K.st[s, S_LAT]
    war = t0
    if wb + 1 > W.depbar[ws, D_GMMA_DONE]:
        W.depbar[ws, D_GMMA_DONE] = wb + 1
    if fl & F_GMMA_COMMIT:
        # groups complete in order: a group is done when every MMA issued before its end is
        _sb_push(W, ws, GSB, W.depbar[ws, D_GMMA_DONE], 0, c)
    return wb, war


@njit(cache=True, _nrt=False, inline="always")
def _issue_fixed(K, W, S, L, c, ws, sc, s, fl, u):
    """A fixed-latency instruction: Allocate (``regfile._allocate``), then its unit's input latch for the
    initiation interval; FP32 may be steered to a free INT latch (not IMAD; MGC §2.1, §5).  Returns
    (write-back, source-read) cycles."""
    start, window = _allocate(K, S, L, c, ws, sc, s, fl)
    delay = start - (c + 3)
    # unit input latch (initiation interval); FP32 may be steered to a free INT latch
    uu = u
    if u == U_FP32 and S.unit_free[sc, U_FP32] > c and K.p[P_STEER] and (fl & F_IMAD) == 0:
        uu = U_INT
        L.counters[C_STEERED] += 1
    S.unit_free[sc, uu] = c + K.st[s, S_II] + delay
    wb = c + K.st[s, S_LAT] + K.p[P_FIXED_OFFSET] + delay - 1
    war = start + window - 1
    if wb + 1 > W.depbar[ws, D_FIXED_WB]:
        W.depbar[ws, D_FIXED_WB] = wb + 1
    return wb, war


@njit(cache=True, _nrt=False, inline="always")
def _issue_unit(K, S, T, c, sc, sm, s, fl, u):
    """SFU, conversions, shared FP64, variable-latency tensor: a unit with a queue (per SM for shared FP64,
    MGC §5).  Returns (write-back, source-read) cycles."""
    t0 = c + 2
    if fl & F_SHARED_FP64:
        if T.fp64_free[sm] > t0:
            t0 = T.fp64_free[sm]
        T.fp64_free[sm] = t0 + K.st[s, S_II]
    else:
        if S.unit_free[sc, u] > t0:
            t0 = S.unit_free[sc, u]
        S.unit_free[sc, u] = t0 + K.st[s, S_II]
    return t0 + K.st[s, S_LAT] + K.p[P_FIXED_OFFSET], t0 + 1

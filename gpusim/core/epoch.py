"""The cycle loop of one SM within an epoch, and the serial step at an epoch's end.

Hardware rule: none of its own; it orders the stages of ``select``, ``issue`` and ``fetch`` per cycle
and sub-core in reverse pipeline order (issue, then fetch), as the released simulator of the MICRO'25
paper "Analyzing Modern NVIDIA GPU Cores" does (MGC §2.4), and skips cycles in which nothing can
change.  SMs interact only through ``gpusim.core.memsys``, the CTA dispatcher and cluster barriers,
all served at the epoch end (``_epoch_end``) in the order a serial model would have made them; an
epoch is no longer than the shortest issue-to-visibility time of a global access, so the result is
that of a serial model, bit for bit (``gpusim.core.sm`` explains the scheme).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core.slots import *  # noqa: F401,F403
from gpusim.core.dispatch import _dispatch_clusters, _launch_cta
from gpusim.core.fetch import _fetch
from gpusim.core.issue import _const_miss, _issue_selected
from gpusim.core.lsu import _resolve
from gpusim.core.scoreboard import _sb_pending
from gpusim.core.select import _select
from gpusim.core.sync import _cga_event


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _sm_epoch(K, W, S, T, L, sm, t0, t1):
    """Advance SM ``sm`` through cycles [t0, t1) of an epoch.  It touches only its own rows of the
    state arrays, its scalars ``sg``, its request and CTA-completion buffers ``rq`` and ``dn`` and
    the counter rows of the thread that runs it, so SMs can advance concurrently (the cluster rows
    ``cl`` it only reads; they change at epoch ends).

    Per cycle and sub-core the stages run in reverse pipeline order, as in the released simulator (MGC
    §2.4): issue (``select._select``, ``issue._issue_selected``), then fetch (``fetch._fetch``).

    Event-driven: a sub-core is visited only in cycles where one of its warps may change state
    (its wake-up cycle), after an issue or while it has instructions to fetch; warp states are
    charged per interval, so skipped cycles are accounted exactly (with ``P_IDLE_SKIP`` = 0 every
    sub-core and warp is re-examined every cycle instead, which must give identical counters).
    The cycles it examines are marked in its ring ``vis`` (for ``C_SKIPPED``).
    """
    n_sub = K.p[P_SUBCORES]
    log = K.p[P_LOG]
    skip = K.p[P_IDLE_SKIP] and not log
    sc0 = sm * n_sub
    c = t0
    while True:
        if skip:
            cn = NEVER
            for sc in range(sc0, sc0 + n_sub):
                if S.next[sc] < cn:
                    cn = S.next[sc]
            if cn > c:
                c = cn
        if c >= t1:
            break
        L.vis[(c >> 6) % VIS_WORDS] |= np.int64(1) << (c & 63)
        if log and sm == 0 and W.trace[0] >= 0 and c < L.sb_log.shape[0]:
            # SB values of warp slot 0 as the issue stage sees them at the start of cycle c
            for b in range(NSB):
                L.sb_log[c, b] = _sb_pending(W, 0, b, c)
        for sc in range(sc0, sc0 + n_sub):
            if skip and S.next[sc] > c:
                continue
            best, sc_min, any_warp = _select(K, W, S, T, L, c, sc, sm, skip)
            if not any_warp:
                S.next[sc] = NEVER
                continue
            active = False
            if best >= 0:
                active = True
                # a constant operand that misses the L0 FL constant cache holds the issue (MGC §2.1 item 6)
                if not _const_miss(K, W, S, L, c, best, sc):
                    _issue_selected(K, W, S, T, L, c, best, sc, sm)
            fetched, sc_min = _fetch(K, W, S, T, L, c, sc, sm, sc_min)
            if active or fetched:
                sc_min = c + 1
            if sc_min < S.next[sc] or S.next[sc] <= c:
                S.next[sc] = sc_min
        c += 1


@njit(cache=True, _nrt=False, inline="always")
def _advance(K, W, S, T, L, sm, limit, E):
    """Run SM ``sm`` epoch by epoch (``E`` cycles each) up to ``limit`` or until it has buffered something.
    (Inlined into ``run_sm``: as a function of its own, its machine code would be one more module that
    Numba links ``_sm_epoch`` and everything below into and optimises again, 3 CPU s of the cold compile.)"""
    while L.sg[SG_POS] < limit and L.sg[SG_NREQ] == 0 and L.sg[SG_NDONE] == 0:
        t = L.sg[SG_POS]
        _sm_epoch(K, W, S, T, L, sm, t, t + E)
        L.sg[SG_POS] = t + E


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _epoch_end(K, W, S, T, Mem, counters, t0, t1):
    """The serial step at cycle t1, which every SM has reached: the SMs stopped at t1 have buffered
    memory requests, cluster-barrier events or finished CTAs in their last epoch [t0, t1).  Serve the
    requests in issue order (cycle, SM, sub-core), the order of a serial model's calls of the memory
    system, then refill the finished CTA slots in the same order (whole clusters in a cluster launch).
    (An SM further ahead has nothing buffered before t1.)

    Returns False if a result fell inside the epoch that issued it (a model bug)."""
    n_sm = K.p[P_NUM_SM]
    ok = True
    nreq = 0
    ndone = 0
    for sm in range(n_sm):
        T.ptr[sm] = 0
        if T.smg[sm, SG_POS] == t1:
            nreq += T.smg[sm, SG_NREQ]
            ndone += T.smg[sm, SG_NDONE]
    if nreq > 0:
        for c in range(t0, t1):
            for sm in range(n_sm):
                if T.smg[sm, SG_POS] != t1:
                    continue
                k = T.ptr[sm]
                while k < T.smg[sm, SG_NREQ] and T.req[sm, k, Q_CYCLE] == c:
                    if T.req[sm, k, Q_FLAGS] & (Q_CGA_ARV | Q_CGA_EXIT):
                        if not _cga_event(K, W, S, T, sm, k, t1):
                            ok = False
                    elif not _resolve(K, W, S, T, Mem, counters, sm, k, t1):
                        ok = False
                    k += 1
                T.ptr[sm] = k
        for sm in range(n_sm):
            if T.smg[sm, SG_POS] != t1:
                continue
            for k in range(T.smg[sm, SG_NREQ]):
                ws = T.req[sm, k, Q_WS]
                W.ldgsts_pend[ws] = 0
                W.ldgsts_acc[ws] = 0
            T.smg[sm, SG_NREQ] = 0
    # CTA dispatch: a finished slot is refilled at the epoch end (cta_launch_latency later, if that is later)
    if ndone > 0:
        cps = K.p[P_CTAS_PER_SM]
        for sm in range(n_sm):
            T.ptr[sm] = 0
        for c in range(t0, t1):
            for sm in range(n_sm):
                if T.smg[sm, SG_POS] != t1:
                    continue
                k = T.ptr[sm]
                while k < T.smg[sm, SG_NDONE] and T.dn[sm, k, 0] == c:
                    if c > T.g[G_LAST_RETIRE]:
                        T.g[G_LAST_RETIRE] = c
                    start = c + 1 + K.p[P_CTA_LAUNCH]
                    if start < t1:
                        start = t1
                    T.cs_cta[sm * cps + T.dn[sm, k, 1]] = -1
                    if K.p[P_CLUSTER] > 1:
                        _dispatch_clusters(K, W, S, T, counters, start)
                    else:
                        _launch_cta(K, W, S, T, counters, sm, T.dn[sm, k, 1], start)
                    k += 1
                T.ptr[sm] = k
        for sm in range(n_sm):
            if T.smg[sm, SG_POS] == t1:
                T.smg[sm, SG_NDONE] = 0
    return ok


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _count_unexamined(T, t0, t1):
    """Cycles of [t0, t1) that no SM examined (a serial model skips them in one step); clears their
    bits in every SM's ring."""
    n = 0
    c = t0
    while c < t1:
        w = (c >> 6) % VIS_WORDS
        hi = (c | 63) + 1
        if hi > t1:
            hi = t1
        lo_b = c & 63
        nb = hi - c
        m = np.int64(-1) if nb == 64 else ((np.int64(1) << nb) - 1) << lo_b
        u = np.int64(0)
        for sm in range(T.vis.shape[0]):
            u |= T.vis[sm, w] & m
            T.vis[sm, w] &= ~m
        k = 0
        while u:
            u &= u - 1
            k += 1
        n += nb - k
        c = hi
    return n

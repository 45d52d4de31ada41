"""Kernel engine: the entry point ``run_sm`` that advances all SMs of a kernel, and its run status.

Hardware rule: none of its own (see ``gpusim.core.sm`` for the model and ``epoch`` for the epoch
scheme).  ``run_sm`` lets each SM run ahead epoch by epoch until it has buffered something, serves
the buffered work serially, and repeats, in parallel threads over SMs (``prange``) when the rounds
are long enough to pay for a fork and join; the result is the same for any number of threads.
"""

from __future__ import annotations

from enum import IntEnum
from types import FunctionType

import numpy as np
from numba import njit, prange

from gpusim.core import memsys as msys
from gpusim.core.slots import *  # noqa: F401,F403
from gpusim.core.state import SmLocal
from gpusim.core.epoch import _advance, _count_unexamined, _epoch_end
from gpusim.core.sync import _lockstep_epoch


class RunStatus(IntEnum):
    """What ``run_sm`` returns (as its integer value; ``gpusim.assemble._drive`` acts on it)."""

    DONE = 0            #: the kernel finished
    UNTIL = 1           #: ``g[G_CYCLE]`` reached ``until``: call again to go on (progress reporting)
    DEADLOCK = 2        #: live warps but nothing can ever happen (a deadlock in the model)
    EPOCH_TOO_LONG = 3  #: a memory result fell inside the epoch that issued it (a model bug)
    MORE_CTAS = 4       #: streamed trace: append the next CTAs to the window, then call again


#: the values ``run_sm`` returns (plain ints inside the jitted code)
ST_DONE, ST_UNTIL, ST_DEADLOCK, ST_EPOCH_TOO_LONG, ST_MORE_CTAS = (int(v) for v in RunStatus)


def _copy_function(fn, name: str, **consts):
    """``fn`` as a new function ``name`` whose module globals are those of ``fn`` with ``consts`` set."""
    g = dict(fn.__globals__, **consts)
    f = FunctionType(fn.__code__, g, name, fn.__defaults__, fn.__closure__)
    f.__qualname__ = name
    f.__doc__ = fn.__doc__
    f.__module__ = fn.__module__
    return f


def use_threads(n: int) -> int:
    """Threads for the parallel rounds of ``run_sm`` (at most Numba's ``NUMBA_NUM_THREADS``);
    returns the previous setting."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    return before


def run_sm(K, W, S, T, Mem, counters, pc_stats, issue_log, sb_log, until):
    """Advance the kernel until it finishes (returns ``RunStatus.DONE``) or ``g[G_CYCLE]`` reaches
    ``until`` (``UNTIL``; ``DEADLOCK``: live warps but nothing can ever happen, a deadlock in the model;
    ``EPOCH_TOO_LONG``: an epoch longer than a memory result's latency, a bug; ``MORE_CTAS``: streamed
    trace, see below), as the enum's integer value.  ``K``, ``W``, ``S``, ``T``, ``Mem``: the bundles of
    ``gpusim.core.state``; ``counters``/``pc_stats``: one row / table per worker plus the serial row.

    Streamed traces (``gpusim.assemble.run_streamed``): the trace arrays hold a window of the kernel's
    CTAs and ``g[G_MORE]`` says that more follow.  Between rounds, where the state is consistent (as
    for ``until``), the core returns ``MORE_CTAS`` when the window holds fewer CTAs after ``g[G_NEXT_CTA]`` than the
    CTA slots (the most one epoch end can refill); the caller drops the finished CTAs, appends the next
    ones, rebases the stored indices (CTA, warp and instruction indices of resident warps and buffered
    requests) and calls again: the dispatcher never finds the window empty, so the result is the
    whole trace's, bit for bit.

    Epoch-synchronous: time is cut into epochs of ``P_EPOCH`` cycles.  Within an epoch an SM shares
    nothing (``_sm_epoch``); what SMs share, the memory system below the SM and the CTA dispatcher,
    serves the requests of an epoch at its end (``_epoch_end``), in the order a serial model would
    have made them.  An epoch is no longer than the shortest time from the issue of a global access
    to the visibility of its result, so every result lands after the epoch that issued it, as if
    served at issue; a finished CTA's slot is refilled at the end of its epoch.

    Other SMs can affect an SM only through what it has buffered, so each SM runs ahead, epoch by
    epoch, until it has buffered something (or ``HORIZON`` cycles); then the serial step serves the
    SMs stopped at the earliest position, which every SM has reached.  With clusters
    (``P_LOCKSTEP``) other SMs also place CTAs on an SM and complete the cluster barriers its warps
    wait on: all SMs advance one epoch per round, and a round ends right after the earliest cycle
    in which a cluster-barrier arrival or a warp's exit may happen (``_lockstep_epoch``), so that its
    effects, served at the epoch end, are visible the next cycle as in a serial model.
    ``counters.shape[0] - 1`` workers advance contiguous blocks of SMs in parallel threads; each has
    its own row of ``counters`` and slice of ``pc_stats`` (the last row: the serial part), summed by
    the caller.  The result is the same for any number of workers or threads.
    """
    p = K.p
    smg = T.smg
    n_sm = p[P_NUM_SM]
    n_sub = p[P_SUBCORES]
    nsc = n_sm * n_sub
    nw = counters.shape[0] - 1
    ser = counters[nw]
    E = p[P_EPOCH]
    lock = p[P_LOCKSTEP] != 0
    ahead = E * (HORIZON // E) if E < HORIZON else E
    par = True
    skip = p[P_IDLE_SKIP] and not p[P_LOG]
    tstar = T.g[G_CYCLE]   # every SM has reached it, and the cycles before it are counted
    t1 = tstar
    while True:
        live = 0
        held = 0
        for sm in range(n_sm):
            live += smg[sm, SG_LIVE]
            held += smg[sm, SG_NREQ] + smg[sm, SG_NDONE]
        T.g[G_LIVE] = live
        if live == 0 and held == 0:
            # the kernel's cycle loop ends after its last issue (the retire of its last warp)
            t1 = T.g[G_LAST_RETIRE] + 1 if T.g[G_LAST_RETIRE] >= 0 else tstar
        ser[C_SKIPPED] += _count_unexamined(T, tstar, t1)
        tstar = t1
        T.g[G_CYCLE] = tstar
        if live == 0 and held == 0:
            break
        if skip and held == 0:
            cn = NEVER
            for sc in range(nsc):
                if S.next[sc] < cn:
                    cn = S.next[sc]
            if cn == NEVER:
                return ST_DEADLOCK
        if T.g[G_MORE] != 0 and T.g[G_NEXT_CTA] + n_sm * p[P_CTAS_PER_SM] > K.cta_warp_ptr.size - 1:
            # streamed trace: one epoch end may refill every CTA slot; the caller appends CTAs first
            return ST_MORE_CTAS
        if tstar >= until:
            return ST_UNTIL
        er = E
        if lock:
            er = _lockstep_epoch(K, W, tstar)
            limit = tstar + er
            # (a round of full epochs is worth its fork and join; the short ones around barriers are not)
            par = er == E
        else:
            limit = tstar + ahead
        for sm in range(n_sm):
            T.ptr[sm] = smg[sm, SG_POS]
        # two loops with one body: prange forks and joins even for one iteration, which the short rounds
        # of memory-bound code cannot afford, and Numba picks prange or range only at compile time
        if _THREADED and par and nw > 1:
            for w in prange(nw):
                for sm in range(w * n_sm // nw, (w + 1) * n_sm // nw):
                    L = SmLocal(smg[sm], T.req[sm], T.dn[sm], T.vis[sm], counters[w], pc_stats[w], issue_log, sb_log)
                    _advance(K, W, S, T, L, sm, limit, er)
        else:
            for w in range(nw):
                for sm in range(w * n_sm // nw, (w + 1) * n_sm // nw):
                    L = SmLocal(smg[sm], T.req[sm], T.dn[sm], T.vis[sm], counters[w], pc_stats[w], issue_log, sb_log)
                    _advance(K, W, S, T, L, sm, limit, er)
        if not lock:
            # rounds that advance the SMs only an epoch or so (memory-bound code) run in one thread: a
            # fork and join per epoch costs more than it saves, all the more on a loaded machine
            moved = 0
            for sm in range(n_sm):
                moved += smg[sm, SG_POS] - T.ptr[sm]
            par = moved >= PAR_MIN_EPOCHS * E * n_sm
        t1 = limit
        for sm in range(n_sm):
            if smg[sm, SG_POS] < t1:
                t1 = smg[sm, SG_POS]
        if not _epoch_end(K, W, S, T, Mem, ser, t1 - er, t1):
            return ST_EPOCH_TOO_LONG
    c = tstar
    # the kernel ends when the last write-back and the DRAM channel are done
    end = c
    last = T.g[G_LAST_EVENT]
    for sm in range(n_sm):
        if smg[sm, SG_LAST_EVENT] > last:
            last = smg[sm, SG_LAST_EVENT]
    if last > end:
        end = last
    for k in range(msys.MS_BASE, msys.MS_BASE + Mem.mp[msys.M_SLICES] + Mem.mp[msys.M_CHANNELS]):
        drain = (Mem.ms[k] + 999) // 1000
        if drain > end:
            end = drain
    if end > c:
        ser[C_SKIPPED] += end - c
    ser[C_CYCLES] += end
    ser[C_ISSUE_SLOTS] += nsc * end
    T.g[G_CYCLE] = end
    return ST_DONE


# Two compilations of the one body above (issue 19, compile-on-first-use): ``run_sm`` without the
# threaded loop (``_THREADED`` False: Numba prunes that branch), which a run with one thread (the default)
# uses, and ``run_sm_threads`` with ``parallel=True`` for ``threads > 1``, compiled the first time a run
# asks for threads.  The threaded one is the same bytecode read with ``_THREADED`` True in its globals,
# under its own name, so the two get their own files in the on-disk cache.
_THREADED = False
run_sm_threads = njit(cache=True, parallel=True)(_copy_function(run_sm, "run_sm_threads", _THREADED=True))
run_sm = njit(cache=True)(run_sm)

"""Running the core on one kernel: ``run`` (the whole trace packed), ``run_streamed`` (the trace comes
in chunks of CTAs and only a window of them is resident) and the loop both share (``_drive``), which
acts on the core's ``RunStatus``."""

from __future__ import annotations

import math

import numpy as np

from gpusim.assemble.memory import MemSystem
from gpusim.assemble.params import SmRun, pack
from gpusim.assemble.residency import cluster_size, occupancy
from gpusim.assemble.window import _Window
from gpusim.config.specs import GPUConfig
from gpusim.core import sm as core
from gpusim.core.state import Kernel, MemState
from gpusim.errors import GpusimError
from gpusim.frontend.concat import concat_traces
from gpusim.frontend.reader import KernelTrace, intern_opcodes

#: Cycles per call of the core between progress updates.  Callers set it for a call as
#: ``gpusim.assemble.CHUNK_CYCLES`` (the LLM runner's CTA-wave sampling, tests): ``_drive`` reads the
#: package's attribute.
CHUNK_CYCLES = 200_000

#: Watchdog: a kernel still running after this many cycles is reported as a model deadlock.
MAX_CYCLES = 10**11

#: Streamed runs (``run_streamed``): CTAs walked per chunk and kept ahead of the dispatcher, in waves
#: (SMs x resident CTAs per SM); a choice of this module (a refill moves the window once; one wave
#: ahead is the least the dispatcher needs, see ``core.run_sm``).
STREAM_CHUNK_WAVES = 0.25
STREAM_LOOKAHEAD_WAVES = 1


def run_streamed(cfg: GPUConfig, chunks, listing_fn=None, *, total_ctas: int, memsys: MemSystem | None = None,
                 lookahead_ctas: int | None = None, progress=None, threads: int = 1,
                 idle_skip: bool = True, epoch: int | None = None, stop=None) -> tuple[SmRun, int, np.ndarray, dict]:
    """Run the core on a kernel whose trace comes in chunks of consecutive CTAs (``chunks``: an iterator
    of ``KernelTrace``, e.g. the SASS walker's ``walk_chunks(..., chunk_ctas)``; ``total_ctas`` in all),
    keeping only a window of CTAs resident: the finished CTAs' arrays are dropped and the next chunks
    appended whenever the dispatcher gets within ``lookahead_ctas`` (at least the CTA slots) of the
    window's end (``core.run_sm`` status 4).  The result is that of ``run(pack(whole trace))``, bit for
    bit.  Cluster launches and kernels with cluster barriers (whose per-cluster state spans the kernel)
    are run whole.  Returns (run, cycles, counters, info): info has ``streamed``, ``warp_instructions``
    and ``peak_window_instructions`` (the most warp instructions resident at once); ``warp_instructions``
    counts the CTAs run (``stop``: see :func:`run`)."""
    it = iter(chunks)
    head = next(it)
    intern_opcodes(head)
    occ = occupancy(cfg, head)
    slots = cfg.sm.count * occ.ctas_per_sm
    look = max(slots, int(lookahead_ctas) if lookahead_ctas else math.ceil(STREAM_LOOKAHEAD_WAVES * slots))
    parts = [head]
    have = head.num_ctas
    while have < look and have < total_ctas:
        parts.append(next(it))
        have += parts[-1].num_ctas
    first = concat_traces(parts)
    intern_opcodes(first)
    whole = cluster_size(head) > 1 or have >= total_ctas
    if not whole:
        r = pack(cfg, first, listing_fn, memsys=memsys, idle_skip=idle_skip, epoch=epoch)
        whole = bool(r.params[core.P_LOCKSTEP])
    if whole:
        kt = concat_traces([first, *it])
        intern_opcodes(kt)
        r = pack(cfg, kt, listing_fn, memsys=memsys, idle_skip=idle_skip, epoch=epoch)
        w = _Window(r, kt)
        _, cycles, counters = _drive(r, w, kt.path, progress, threads, stop)
        return r, cycles, counters, {"streamed": False, "warp_instructions": w.insts,
                                     "peak_window_instructions": kt.warp_instructions}
    w = _Window(r, first, total_ctas, it, cfg, look)
    del first, parts
    _, cycles, counters = _drive(r, w, head.path, progress, threads, stop)
    return r, cycles, counters, {"streamed": True, "warp_instructions": w.insts,
                                 "peak_window_instructions": w.peak_insts}


def run(r: SmRun, kt: KernelTrace, progress=None, threads: int = 1, stop=None) -> tuple[int, int, np.ndarray]:
    """Run the core on one kernel to completion; returns (status, cycles, counters).

    ``stop(run, cycle, ctas_done, ctas_dispatched)``, called between chunks of ``CHUNK_CYCLES`` while
    CTAs remain to dispatch, may return a CTA count n (>= ctas_dispatched): the kernel then ends after
    its first n CTAs (no further CTA is dispatched; the resident ones drain), as if it had n CTAs.

    ``progress(cycle, ctas_done, ctas_total)`` is called between chunks of ``CHUNK_CYCLES``.
    ``threads``: SMs advance in that many parallel threads within each epoch; the result does not
    depend on it (more threads than Numba has, ``NUMBA_NUM_THREADS``, share them).
    """
    return _drive(r, _Window(r, kt), kt.path, progress, threads, stop)


def _drive(r: SmRun, w: _Window, path: str, progress=None, threads: int = 1, stop=None) -> tuple[int, int, np.ndarray]:
    threads = max(1, int(threads))
    W, S, T = r.state
    # a counter row and a per-PC table per worker, summed at the end; the last row is the serial part's
    # (rows padded by a cache line, so that threads never write to one line)
    counters = np.zeros((threads + 1, -(-r.counters.size // 8) * 8 + 8), np.int64)
    counters[threads, :r.counters.size] = r.counters
    pc_stats = np.zeros((threads,) + r.pc_stats.shape, np.int64)
    pc_stats[0] = r.pc_stats
    m = r.extra["memsys"]
    mem = MemState(r.extra["mp"], m.ms, m.l1_tag, m.l1_rdy, m.l1_lru, m.l2_tag, m.l2_rdy, m.l2_dirty, m.l2_lru, m.mshr)

    def kernel() -> Kernel:
        """The kernel bundle of the current window (a streamed trace moves it between calls)."""
        acc_ptr, acc_line, acc_mask = w.acc
        return Kernel(r.params, r.st, w.cwp, w.wip, w.ist, w.imask, w.units, acc_ptr, acc_line, acc_mask, w.space,
                      r.extra["cga_dist"])

    core.init_kernel(kernel(), W, S, T, counters[threads])
    # (one worker never enters run_sm's parallel loop, so the thread count is left as it is)
    before = core.use_threads(threads) if threads > 1 else None
    # (the threaded variant is compiled the first time a run asks for threads: issue 19)
    run_sm = core.run_sm_threads if threads > 1 else core.run_sm
    try:
        until = 0
        while True:
            until += _chunk_cycles()
            status = core.RunStatus.MORE_CTAS
            while status == core.RunStatus.MORE_CTAS:
                status = core.RunStatus(run_sm(kernel(), W, S, T, mem, counters, pc_stats, r.issue_log,
                                               r.sb_log, until))
                if status == core.RunStatus.MORE_CTAS:
                    w.refill(r)
            r.counters[:] = counters[:, :r.counters.size].sum(axis=0)
            if status == core.RunStatus.DONE:
                break
            if status == core.RunStatus.EPOCH_TOO_LONG:
                raise GpusimError(f"{path}: a memory result or cluster barrier fell inside the epoch that issued "
                                  f"it, before cycle {int(r.g[core.G_CYCLE]):,} ({int(r.params[core.P_EPOCH])}-cycle "
                                  f"epochs; please report)")
            if status == core.RunStatus.DEADLOCK or r.g[core.G_CYCLE] > MAX_CYCLES:
                raise GpusimError(f"{path}: the model stopped making progress at cycle {int(r.g[core.G_CYCLE]):,} "
                                  f"with {int(r.g[core.G_LIVE])} warps left (deadlock in the model; please report)")
            if progress is not None or stop is not None:
                sent = w.cta0 + int(r.g[core.G_NEXT_CTA])
                done = sent - int((T.c_live > 0).sum())
                if progress is not None:
                    progress(int(r.g[core.G_CYCLE]), done, w.total)
                if stop is not None and sent < w.total:
                    r.extra["window"] = w     # (the stop may read the walked CTAs' instruction counts)
                    n = stop(r, int(r.g[core.G_CYCLE]), done, sent)
                    if n is not None:
                        w.truncate(r, int(n))
    finally:
        if before is not None:
            core.use_threads(before)
    r.pc_stats[:] = pc_stats.sum(axis=0)
    m.settle()
    return core.RunStatus.DONE, int(r.g[core.G_CYCLE]), r.counters


def _chunk_cycles() -> int:
    """``CHUNK_CYCLES`` as the package ``gpusim.assemble`` holds it (where callers set it)."""
    from gpusim import assemble

    return int(assemble.CHUNK_CYCLES)

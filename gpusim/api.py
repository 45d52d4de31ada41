"""The stable Python facade shared by the CLI, notebooks and tests.

Single responsibility: orchestrate a run (workload → per-kernel arrays → core → report);
no model logic and no formatting live here.

    >>> from gpusim import api
    >>> rep = api.simulate("traces/examples/vecadd-sm86", "rtx3070")
    >>> rep.total_cycles
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import gpusim
from gpusim import assemble
from gpusim.config import load_config
from gpusim.config.specs import GPUConfig
from gpusim.errors import GpusimError, SassError, TraceError
from gpusim.frontend.opcodes import base_opcode
from gpusim.frontend.reader import KernelTrace
from gpusim.frontend.workload import KernelLaunch, Memcpy, Workload, open_workload
from gpusim.stats.jit import JitTimer
from gpusim.stats.report import Report, kernel_report

MODEL_NAME = "sm-core v1 + memory v1: sub-cores, control bits or scoreboard, CGGTY/GTO/LRR, RF banks + RFC; sectored L1/L2, DRAM channels"


def load_trace(trace: str | Path) -> Workload:
    return open_workload(trace)


def find_listing(kernel_path: Path, sass: str | Path | None) -> Path | None:
    """The SASS listing for a kernel: ``--sass FILE``, else ``<stem>.sass`` beside the trace."""
    if sass is not None:
        return Path(sass)
    name = kernel_path.name
    for suf in (".traceg.xz", ".trace.xz", ".traceg", ".trace"):
        if name.endswith(suf):
            cand = kernel_path.with_name(name[: -len(suf)] + ".sass")
            return cand if cand.is_file() else None
    return None


def join_control_bits(kt: KernelTrace, listing_path: Path | None):
    """Find the kernel's function in a listing and check the trace against it by PC.

    Returns (info dict for the report, SassFunction or None).
    """
    if listing_path is None:
        return {"listing": None, "matched": 0, "static": len(kt.st_opcode)}, None
    from gpusim.frontend.sass import parse_sass_listing

    if not listing_path.is_file():
        raise SassError(f"{listing_path}: SASS listing not found")
    lst = parse_sass_listing(listing_path)
    fn = lst.find_function(kt.name)
    if fn is None:
        if len(lst.functions) == 1:
            fn = next(iter(lst.functions.values()))
        else:
            raise SassError(f"{listing_path}: no function named {kt.name!r} (it has {len(lst.functions)} functions)")
    idx = fn.index_of_pc(kt.st_pc)
    matched = idx >= 0
    for s in np.flatnonzero(matched):
        a, b = base_opcode(kt.st_opcode[s]), base_opcode(fn.opcode[idx[s]])
        if a != b:
            raise TraceError(f"{kt.path}:{int(kt.st_line[s])}",
                             f"PC 0x{int(kt.st_pc[s]):04x} is '{kt.st_opcode[s]}' in the trace but '{fn.opcode[idx[s]]}' "
                             f"in {listing_path} (listing from another binary?)")
    info = {"listing": str(listing_path), "function": fn.name, "arch": fn.arch, "matched": int(matched.sum()),
            "static": len(kt.st_opcode)}
    return info, fn


def simulate(trace: str | Path | Workload, gpu: str | Path | GPUConfig, *, sass: str | Path | None = None,
             overrides: list[str] | tuple[str, ...] = (), progress: bool = False, idle_skip: bool = True,
             use_cache: bool = True, threads: int = 1, allow_partial: bool = False,
             timeline: str | Path | None = None, timeline_window: str | None = None) -> Report:
    """Simulate every kernel of TRACE on GPU and return the Report.

    ``allow_partial``: simulate a kernel whose trace holds fewer CTAs than its grid (otherwise a
    TraceError); its report entry then carries ``partial`` = {ctas, grid_ctas}.
    ``timeline``: write a Chrome-trace/Perfetto timeline (:mod:`gpusim.stats.timeline`) of each kernel
    (``FILE``; with several kernels ``FILE`` gets ``.k<id>`` before its suffix), for the warps of
    ``timeline_window`` (default: the first CTAs).

    ``threads``: CPU threads that advance the SMs in parallel; the report is identical for any number."""
    if int(threads) < 1:
        raise GpusimError(f"threads: {threads}; give 1 or more")
    cfg = gpu if isinstance(gpu, GPUConfig) else load_config(gpu, list(overrides))
    wl = trace if isinstance(trace, Workload) else open_workload(trace)
    rep = Report(gpusim_version=gpusim.__version__, gpu=cfg.name, gpu_config=str(gpu if not isinstance(gpu, GPUConfig) else cfg.name),
                 trace=wl.source, model=MODEL_NAME, total_cycles=0)
    bar = None
    kernels = wl.kernels
    if progress and kernels:
        from tqdm import tqdm

        bar = tqdm(total=len(kernels), unit="kernel", file=sys.stderr, dynamic_ncols=True)
    t0 = time.perf_counter()
    launch = cfg.launch.kernel_launch_latency_cycles
    memsys = None  # one cache state for the whole run: the L2 keeps its lines across kernels
    jit = JitTimer().__enter__()
    try:
        total, insts, memsys = _run_commands(wl, cfg, rep, sass, bar, t0, launch, idle_skip, use_cache,
                                             allow_partial, threads, timeline, timeline_window)
    finally:
        jit.__exit__(None, None, None)
    if bar is not None:
        bar.close()
    _finish(rep, cfg, memsys, total, insts, time.perf_counter() - t0, jit.seconds, threads)
    return rep


def _run_commands(wl, cfg, rep, sass, bar, t0, launch, idle_skip, use_cache, allow_partial, threads, timeline,
                  timeline_window):
    """Simulate the workload's commands in order into ``rep``; returns (cycles, warp-instructions, memsys)."""
    total = insts = 0
    kernels = wl.kernels
    memsys = None
    for cmd in wl.commands:
        if isinstance(cmd, Memcpy):
            rep.memcpy.append({"dst": hex(cmd.dst), "bytes": cmd.nbytes})
            continue
        assert isinstance(cmd, KernelLaunch)
        kt = wl.load(cmd, use_cache=use_cache, allow_partial=allow_partial)
        cb, fn = join_control_bits(kt, find_listing(cmd.path, sass))
        if memsys is None:
            memsys = assemble.MemSystem(cfg)
        run = assemble.pack(cfg, kt, fn, idle_skip=idle_skip, memsys=memsys, log=timeline is not None)
        cb["mode"] = "control_bits" if run.control_bits else "scoreboard"

        def _progress(cycle, done, total, _base=total):
            if bar is not None:
                el = time.perf_counter() - t0
                bar.set_postfix_str(f"CTAs {done}/{total}, {_base + cycle:,} cyc, {(insts + int(run.counters[1])) / max(el, 1e-9):,.0f} inst/s")

        status, cycles, counters = assemble.run(run, kt, progress=_progress, threads=threads)
        kr = kernel_report(kt, run.occupancy, cycles, counters, launch, cb, cfg, run.pc_stats)
        if kt.num_ctas < kt.header.num_ctas:
            kr.partial = {"ctas": kt.num_ctas, "grid_ctas": kt.header.num_ctas}
        if timeline is not None:
            _write_timeline(timeline, kt, run, timeline_window, len(kernels), kr)
        rep.kernels.append(kr)
        total += launch + cycles
        insts += kr.warp_instructions
        if bar is not None:
            el = time.perf_counter() - t0
            bar.set_postfix_str(f"{total:,} cyc, {insts / max(el, 1e-9):,.0f} inst/s")
            bar.update(1)
    return total, insts, memsys


def _finish(rep, cfg, memsys, total: int, insts: int, wall: float, jit_seconds: float, threads: int) -> None:
    """Run totals: cycles, the end-of-run L2 write-back and the simulation speed.  The speed leaves out
    the time Numba spent compiling or loading the core (``jit_seconds``, reported beside it)."""
    rep.total_cycles = total
    if memsys is not None and cfg.memory.l2_writeback_at_end:
        rep.l2_writeback = memsys.write_back_dirty()
    sim_s = max(wall - jit_seconds, 0.0)
    rep.sim = {"wall_seconds": sim_s, "jit_seconds": jit_seconds,
               "simulated_cycles_per_second": total / sim_s if sim_s > 0 else 0.0,
               "warp_instructions_per_second": insts / sim_s if sim_s > 0 else 0.0, "threads": int(threads)}


def _write_timeline(path, kt, run, window, n_kernels: int, kr) -> None:
    from gpusim.stats import timeline as tl

    p = Path(path)
    if n_kernels > 1:
        p = p.with_name(f"{p.stem}.k{kt.header.kernel_id}{p.suffix}")
    n = tl.write(p, kt, run, window)
    kr.control_bits["timeline"] = {"file": str(p), "slices": n, "window": window or f"ctas=0-{tl.DEFAULT_CTAS - 1}"}


#: where the synthetic buffers of ``simulate_listing``'s pointer arguments start (a canonical user-space
#: address well away from the shared/local windows of the walker) and their alignment (2 MiB: a
#: cudaMalloc'd buffer of this size starts on a large-page boundary)
LISTING_BUFFER_BASE = 1 << 40
LISTING_BUFFER_ALIGN = 2 << 20


def parse_listing_args(args: list[str]) -> list[tuple[str, str, int | float]]:
    """``NAME=TYPE:VALUE`` kernel arguments in declaration order: ``ptr:SIZE`` (a zero-filled buffer of
    SIZE bytes, units like ``1MiB`` allowed), ``i32:N``, ``i64:N``, ``f32:X``.  GpusimError on bad input."""
    from gpusim.units import parse_size

    out = []
    for a in args:
        name, eq, rest = a.partition("=")
        typ, colon, val = rest.partition(":")
        if not eq or not colon or not name.strip() or typ not in ("ptr", "i32", "i64", "f32"):
            raise GpusimError(f"--arg {a!r}: expected NAME=TYPE:VALUE with TYPE ptr (VALUE = buffer size, e.g. "
                              f"ptr:4MiB), i32, i64 or f32, in the kernel's parameter order")
        try:
            if typ == "ptr":
                v: int | float = int(parse_size(val.strip()))
                if v <= 0:
                    raise ValueError
            elif typ == "f32":
                v = float(val)
            else:
                v = int(val, 0)
                lim = 1 << (31 if typ == "i32" else 63)
                if not -lim <= v < lim:
                    raise ValueError
        except (ValueError, GpusimError):
            raise GpusimError(f"--arg {a!r}: bad {typ} value {val!r}") from None
        out.append((name.strip(), typ, v))
    return out


def listing_params(parsed) -> tuple[dict, dict]:
    """Launch parameters of :func:`parse_listing_args` output: scalars as given, each pointer the
    address of its own zero-filled synthetic buffer (from LISTING_BUFFER_BASE, LISTING_BUFFER_ALIGN
    apart); also {name: {address, bytes}} of the buffers."""
    params: dict[str, int | float] = {}
    buffers = {}
    nxt = LISTING_BUFFER_BASE
    for n, t, v in parsed:
        if t == "ptr":
            params[n] = nxt
            buffers[n] = {"address": hex(nxt), "bytes": int(v)}
            nxt += (int(v) + LISTING_BUFFER_ALIGN - 1) // LISTING_BUFFER_ALIGN * LISTING_BUFFER_ALIGN
        else:
            params[n] = v
    return params, buffers


def simulate_listing(listing: str | Path, gpu: str | Path | GPUConfig, *, kernel: str | None,
                     grid: tuple[int, int, int], block: tuple[int, int, int], args: list[str] = (),
                     registers: int = 0, shared_bytes: int = 0, overrides: list[str] | tuple[str, ...] = (),
                     threads: int = 1, timeline: str | Path | None = None, timeline_window: str | None = None,
                     save_trace: str | Path | None = None) -> Report:
    """Your own kernel without a GPU: walk function ``kernel`` of a SASS listing (cuobjdump -sass /
    nvdisasm, e.g. from ``nvcc -cubin`` + ``cuobjdump -sass``) functionally into a trace with the
    project's walker (:mod:`gpusim.llm.walker`) for the launch ``grid`` x ``block`` with ``args``
    (:func:`parse_listing_args`: pointers get zero-filled synthetic buffers), then simulate it like a
    recorded trace.  An opcode the walker cannot execute is a GpusimError naming it and its line.
    ``registers`` (per thread) and ``shared_bytes`` (static) feed occupancy; 0 = not limiting.
    ``save_trace``: also write the walked trace as an Accel-Sim run in that folder (``kernelslist.g``,
    ``kernel-1.traceg`` and the function's listing as ``kernel-1.sass``), readable by ``gpusim run``
    and by Accel-Sim."""
    from gpusim.frontend.reader import intern_opcodes
    from gpusim.llm.walker import Launch, kernel_from_listing, trace_kernel

    import tempfile

    from gpusim.clock import listing_file

    cfg = gpu if isinstance(gpu, GPUConfig) else load_config(gpu, list(overrides))
    parsed = parse_listing_args(list(args))
    with tempfile.TemporaryDirectory() as td:    # a CuAssembler .cuasm is read through its cuobjdump form
        kb = kernel_from_listing(listing_file(Path(listing), Path(td), None), kernel, [(n, t) for n, t, _ in parsed],
                                 registers=registers, static_shared_bytes=shared_bytes)
    params, buffers = listing_params(parsed)
    t0 = time.perf_counter()
    kt = trace_kernel(kb, Launch(tuple(grid), tuple(block), params))
    intern_opcodes(kt)
    if save_trace is not None:
        from gpusim.frontend.writer import write_run

        try:
            write_run(kt, Path(save_trace), Path(listing).read_text(errors="replace")
                      if Path(listing).suffix != ".cuasm" else None)
        except OSError as e:
            raise GpusimError(f"{save_trace}: cannot write the trace: {e.strerror}") from None
    memsys = assemble.MemSystem(cfg)
    run = assemble.pack(cfg, kt, kb.function, memsys=memsys, log=timeline is not None)
    with JitTimer() as jit:
        _, cycles, counters = assemble.run(run, kt, threads=threads)
    cb = {"listing": str(listing), "function": kb.name, "arch": kb.arch, "matched": len(kt.st_opcode),
          "static": len(kt.st_opcode), "walked": True, "mode": "control_bits" if run.control_bits else "scoreboard",
          "arguments": {n: buffers.get(n, v) for n, _, v in parsed}}
    launch = cfg.launch.kernel_launch_latency_cycles
    kr = kernel_report(kt, run.occupancy, cycles, counters, launch, cb, cfg, run.pc_stats)
    if timeline is not None:
        _write_timeline(timeline, kt, run, timeline_window, 1, kr)
    wall = time.perf_counter() - t0
    rep = Report(gpusim_version=gpusim.__version__, gpu=cfg.name, gpu_config=str(gpu if not isinstance(gpu, GPUConfig)
                                                                                  else cfg.name),
                 trace=f"{listing} (walked: {kb.name}, grid {tuple(grid)}, block {tuple(block)})", model=MODEL_NAME,
                 total_cycles=launch + cycles)
    rep.kernels.append(kr)
    _finish(rep, cfg, memsys, launch + cycles, kr.warp_instructions, wall, jit.seconds, threads)
    return rep

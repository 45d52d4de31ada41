"""``gpusim run`` (a trace, or your own kernel walked from its listing), ``gpusim clock`` (a
microbenchmark listing's clock reads), ``gpusim timeline`` (a timeline file as text) and ``gpusim warmup``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpusim.errors import GpusimError
from gpusim.cli.common import dim3, positive_int, print_compile_notice


def _cmd_run(a: argparse.Namespace) -> int:
    from gpusim import api
    from gpusim.config import dump_config, load_config

    walk = [f for f, v in (("--kernel", a.kernel), ("--grid", a.grid), ("--block", a.block), ("--arg", a.arg),
                           ("--save-trace", a.save_trace),
                           ("--regs", a.regs), ("--shared", a.shared)) if v]
    if a.trace is None and not walk:
        raise GpusimError("run: give a TRACE, or a listing to walk: --sass LISTING --kernel NAME --grid X,Y,Z "
                          "--block X,Y,Z [--arg NAME=TYPE:VALUE ...]")
    if a.trace is not None and walk:
        raise GpusimError(f"run: {', '.join(walk)} walk a listing into a trace; they do not apply to the trace "
                          f"{a.trace} (leave TRACE out)")
    if walk and (not a.sass or not a.grid or not a.block):
        raise GpusimError("run: walking a listing needs --sass LISTING, --grid X,Y,Z and --block X,Y,Z")
    cfg = load_config(a.gpu, a.set or [])
    progress = not a.quiet and sys.stderr.isatty()
    print_compile_notice(a.quiet, a.threads)
    if walk:
        rep = api.simulate_listing(a.sass, cfg, kernel=a.kernel, grid=dim3(a.grid, "--grid"),
                                   block=dim3(a.block, "--block"), args=a.arg or [], registers=a.regs or 0,
                                   shared_bytes=a.shared or 0, threads=a.threads, timeline=a.timeline,
                                   timeline_window=a.timeline_window, save_trace=a.save_trace)
    else:
        rep = api.simulate(a.trace, cfg, sass=a.sass, progress=progress, use_cache=not a.no_cache,
                           threads=a.threads, allow_partial=a.allow_partial, timeline=a.timeline,
                           timeline_window=a.timeline_window)
    rep.gpu_config = a.gpu
    out = Path(a.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        rep.write_json(out / "report.json")
        (out / "config.resolved.yaml").write_text(dump_config(cfg))
    except OSError as e:
        raise GpusimError(f"{out}: cannot write the report: {e.strerror}") from None
    if not a.quiet:
        print(rep.summary())
        print(f"wrote {out / 'report.json'} and {out / 'config.resolved.yaml'}")
    return 0



def _cmd_clock(a: argparse.Namespace) -> int:
    import json

    from gpusim.clock import clock_reads

    r = clock_reads(a.listing, a.gpu, threads=a.threads, kernel=a.kernel, args=a.arg or [], arch=a.arch,
                    overrides=a.set or [])
    if a.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"gpusim clock | {r['kernel']} ({r['arch']}) | {r['gpu']} | 1 CTA x {r['threads']} threads | "
          f"{r['cycles']:,} cycles")
    for w in r["warps"]:
        reads = w["clock_reads"]
        deltas = [b - a for a, b in zip(reads, reads[1:])]
        print(f"  warp {w['warp']:>2}: reads {reads}" + (f"  deltas {deltas}" if deltas else ""))
    return 0


def _cmd_timeline(a: argparse.Namespace) -> int:
    from gpusim.stats.timeline import text_view

    for row in text_view(a.file, warp=a.warp, cta=a.cta, limit=a.limit):
        print(row)
    return 0


def _cmd_warmup(a: argparse.Namespace) -> int:
    """Compile every jitted part of gpusim ahead of time: the SM core (the bundled vecadd trace) and the
    functional SASS walker + streamed core of `gpusim llm` (a small GEMV), so later runs start at once."""
    import time

    from gpusim import api
    from gpusim.core import cache_dir

    t0 = time.perf_counter()
    print(f"gpusim warmup: compiling the simulator core into {cache_dir()} ...", file=sys.stderr, flush=True)
    api.simulate(Path(__file__).resolve().parents[2] / "traces" / "examples" / "vecadd-sm86", "rtx3070")
    t1 = time.perf_counter()
    print(f"  SM core and memory system: {t1 - t0:.1f} s", file=sys.stderr, flush=True)
    from gpusim.llm.machines import run_gpu
    from gpusim.llm.op import op_graph

    run_gpu(None, None, "a100-sxm4-80gb", graph=op_graph("gemv:batch=1,n=64,k=256"),
            overrides=["sm.count=2", "memory.l2_slices=2", "memory.l2_size=1 MiB"])
    t2 = time.perf_counter()
    print(f"  SASS walker and LLM kernels: {t2 - t1:.1f} s", file=sys.stderr, flush=True)
    # (a run with one thread compiles only the serial engine; --threads N uses the threaded one)
    api.simulate(Path(__file__).resolve().parents[2] / "traces" / "examples" / "vecadd-sm86", "rtx3070", threads=2)
    t3 = time.perf_counter()
    print(f"  threaded engine (--threads): {t3 - t2:.1f} s", file=sys.stderr, flush=True)
    print(f"warm: later runs start without compiling ({t3 - t0:.1f} s in all)")
    return 0



def register(sub) -> None:
    """``run``, ``clock``, ``timeline``, ``warmup``."""
    r = sub.add_parser("run", help="simulate a trace on a GPU config and write report.json")
    r.add_argument("trace", nargs="?", help="kernelslist.g, a trace folder, or one kernel-N.traceg[.xz] (or leave it "
                                            "out and walk a listing: --sass --kernel --grid --block --arg)")
    r.add_argument("--gpu", required=True, help="GPU config name (file stem under configs/, e.g. rtx3070) or YAML path")
    r.add_argument("--sass", help="cuobjdump -sass / nvdisasm -c -hex listing with control bits (default: <stem>.sass beside the trace)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. sm.count=40 (repeatable)")
    r.add_argument("-o", "--output", default="gpusim-out", help="output folder (default: gpusim-out)")
    r.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="CPU threads that advance the SMs in parallel (default 1; the report is the same for any N)")
    r.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    r.add_argument("--no-cache", action="store_true", help="parse traces again instead of using the parsed-trace cache")
    r.add_argument("--kernel", metavar="NAME", help="walk function NAME of the --sass listing into a trace (your own "
                                                   "kernel, no GPU needed)")
    r.add_argument("--grid", metavar="X,Y,Z", help="grid of the walked launch")
    r.add_argument("--block", metavar="X,Y,Z", help="block of the walked launch")
    r.add_argument("--arg", action="append", metavar="NAME=TYPE:VALUE", help="kernel argument in parameter order: "
                   "ptr:SIZE (zero-filled buffer, e.g. ptr:4MiB), i32:N, i64:N, f32:X (repeatable)")
    r.add_argument("--regs", type=int, metavar="N", help="registers per thread of the walked kernel (cuobjdump "
                                                        "-res-usage), for occupancy; default: not limiting")
    r.add_argument("--shared", type=int, metavar="BYTES", help="static shared memory per CTA of the walked kernel")
    r.add_argument("--save-trace", metavar="DIR", help="with --sass/--kernel: also write the walked trace as an "
                   "Accel-Sim run (kernelslist.g, kernel-1.traceg, kernel-1.sass) in DIR")
    r.add_argument("--timeline", metavar="FILE", help="write a per-instruction Chrome-trace/Perfetto timeline "
                                                     "(open in ui.perfetto.dev; 'gpusim timeline FILE' prints it)")
    r.add_argument("--timeline-window", metavar="SPEC", help="warps in the timeline: ctas=A-B,warps=A-B,cycles=A-B "
                                                            "(default ctas=0-3)")
    r.add_argument("--allow-partial", action="store_true", help="simulate a kernel trace that holds fewer thread blocks "
                                                              "than its grid (reported as partial); refused otherwise")
    r.set_defaults(fn=_cmd_run)

    ck = sub.add_parser("clock", help="run a microbenchmark listing (cuobjdump/nvdisasm or CuAssembler .cuasm) as one "
                                      "CTA and print every warp's clock reads (simulated cycles)")
    ck.add_argument("listing", help="SASS listing: cuobjdump -sass / nvdisasm text, or a CuAssembler .cuasm")
    ck.add_argument("--gpu", required=True, help="GPU config name or YAML path")
    ck.add_argument("--threads", type=positive_int, required=True, metavar="N", help="threads of the one CTA")
    ck.add_argument("--kernel", metavar="NAME", help="function to run (default: the first / only one)")
    ck.add_argument("--arg", action="append", metavar="NAME=TYPE:VALUE",
                    help="kernel argument in parameter order (ptr:SIZE, i32:N, i64:N, f32:X); default: 16 pointers "
                         "to zero-filled 1 MiB buffers")
    ck.add_argument("--arch", help="architecture of a .cuasm without ELF flags, e.g. sm_86")
    ck.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    ck.add_argument("--json", action="store_true", help='print {"warps": [{"warp": 0, "clock_reads": [...]}, ...]}')
    ck.set_defaults(fn=_cmd_clock)

    tl = sub.add_parser("timeline", help="print a timeline file as a text pipeline diagram (one row per instruction)")
    tl.add_argument("file")
    tl.add_argument("--cta", type=int, help="only this CTA (index in the window)")
    tl.add_argument("--warp", type=int, help="only this warp (index within its CTA)")
    tl.add_argument("--limit", type=int, default=200, help="rows shown (default 200)")
    tl.set_defaults(fn=_cmd_timeline)

    w = sub.add_parser("warmup", help="compile the Numba core ahead of time (after install, in CI or container images)")
    w.set_defaults(fn=_cmd_warmup)


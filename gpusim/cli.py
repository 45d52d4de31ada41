"""The ``gpusim`` command: argparse subcommands that translate arguments into ``gpusim.api`` calls.

Single responsibility: argument parsing, output files and exit codes.  Bad input
(``GpusimError``) prints one line on stderr and exits with status 2; no model logic here.

    gpusim run TRACE --gpu CONFIG [--sass FILE] [--set key.path=value ...] [-o OUTDIR] [--threads N] [--quiet]
    gpusim trace info TRACE [--json]
    gpusim trace convert RAW_TRACE -o OUTDIR
    gpusim config show NAME | check FILE | list
    gpusim sass info LISTING [--function NAME] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gpusim.errors import GpusimError

EXIT_BAD_INPUT = 2


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return n


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
    _compile_notice(a.quiet, a.threads)
    if walk:
        rep = api.simulate_listing(a.sass, cfg, kernel=a.kernel, grid=_dim3(a.grid, "--grid"),
                                   block=_dim3(a.block, "--block"), args=a.arg or [], registers=a.regs or 0,
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


def _dim3(text: str, flag: str) -> tuple[int, int, int]:
    """``X[,Y[,Z]]`` -> (x, y, z), missing dimensions 1."""
    try:
        v = [int(x) for x in text.split(",")]
        if not 1 <= len(v) <= 3 or min(v) < 1:
            raise ValueError
    except ValueError:
        raise GpusimError(f"{flag} {text!r}: expected X[,Y[,Z]] with positive integers") from None
    return (v + [1, 1])[:3]  # type: ignore[return-value]


def _compile_notice(quiet: bool = False, threads: int = 1) -> None:
    """Say so before a run that must compile the Numba core first (otherwise it looks hung)."""
    from gpusim.core import compile_notice

    msg = compile_notice(threads)
    if msg and not quiet:
        print(msg, file=sys.stderr, flush=True)


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
    api.simulate(Path(__file__).resolve().parents[1] / "traces" / "examples" / "vecadd-sm86", "rtx3070")
    t1 = time.perf_counter()
    print(f"  SM core and memory system: {t1 - t0:.1f} s", file=sys.stderr, flush=True)
    from gpusim.llm.machines import run_gpu
    from gpusim.llm.op import op_graph

    run_gpu(None, None, "a100-sxm4-80gb", graph=op_graph("gemv:batch=1,n=64,k=256"),
            overrides=["sm.count=2", "memory.l2_slices=2", "memory.l2_size=1 MiB"])
    t2 = time.perf_counter()
    print(f"  SASS walker and LLM kernels: {t2 - t1:.1f} s", file=sys.stderr, flush=True)
    # (a run with one thread compiles only the serial engine; --threads N uses the threaded one)
    api.simulate(Path(__file__).resolve().parents[1] / "traces" / "examples" / "vecadd-sm86", "rtx3070", threads=2)
    t3 = time.perf_counter()
    print(f"  threaded engine (--threads): {t3 - t2:.1f} s", file=sys.stderr, flush=True)
    print(f"warm: later runs start without compiling ({t3 - t0:.1f} s in all)")
    return 0


def _trace_info_dict(wl, top: int) -> dict:
    from gpusim.frontend.workload import Memcpy

    kernels = []
    for cmd in wl.commands:
        if isinstance(cmd, Memcpy):
            continue
        kt = wl.load(cmd, allow_partial=True)   # information: show a partial trace as such
        h = kt.header
        hist = kt.opcode_histogram()
        kernels.append({
            "name": h.name, "kernel_id": h.kernel_id, "file": str(cmd.path), "grid": list(h.grid), "block": list(h.block),
            "shmem": h.shmem_bytes, "nregs": h.nregs, "binary_version": h.binary_version,
            "tracer_version": h.tracer_version, "isa": kt.isa_family, "raw": kt.raw,
            "ctas": kt.num_ctas, "grid_ctas": h.num_ctas, "partial": kt.num_ctas < h.num_ctas, "warps": kt.num_warps, "warp_instructions": kt.warp_instructions,
            "thread_instructions": kt.thread_instructions, "static_instructions": len(kt.st_opcode),
            "opcodes": dict(list(hist.items())[:top]) if top > 0 else hist,
        })
    memcpy = [{"dst": hex(c.dst), "bytes": c.nbytes} for c in wl.commands if isinstance(c, Memcpy)]
    return {"source": wl.source, "kernels": kernels, "memcpy": memcpy,
            "warp_instructions": sum(k["warp_instructions"] for k in kernels)}


def _cmd_trace_info(a: argparse.Namespace) -> int:
    from gpusim.frontend.workload import open_workload

    info = _trace_info_dict(open_workload(a.trace), 0 if a.json else a.top)
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['source']}: {len(info['kernels'])} kernels, {info['warp_instructions']:,} warp instructions, "
          f"{len(info['memcpy'])} host-to-device copies")
    for k in info["kernels"]:
        g = "x".join(map(str, k["grid"]))
        b = "x".join(map(str, k["block"]))
        print(f"- {k['name'][:100]}")
        print(f"    sm_{k['binary_version']} ({k['isa']}), tracer v{k['tracer_version']:g}{' raw' if k['raw'] else ''}; "
              f"grid {g}, block {b}, {k['nregs']} regs, {k['shmem']} B shmem")
        print(f"    {k['ctas']} CTAs" + (f" of the {k['grid_ctas']} in the grid (PARTIAL trace)" if k['partial'] else '') + f", {k['warps']} warps, {k['warp_instructions']:,} warp instructions, "
              f"{k['thread_instructions']:,} thread instructions, {k['static_instructions']} static")
        ops = ", ".join(f"{op} {n:,}" for op, n in k["opcodes"].items())
        print(f"    top opcodes: {ops}")
    return 0


def _cmd_trace_convert(a: argparse.Namespace) -> int:
    from gpusim.frontend.workload import Memcpy, open_workload
    from gpusim.frontend.writer import write_traceg

    wl = open_workload(a.trace)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for cmd in wl.commands:
        if isinstance(cmd, Memcpy):
            lines.append(f"MemcpyHtoD,0x{cmd.dst:016x},{cmd.nbytes}")
            continue
        kt = wl.load(cmd, allow_partial=True)   # conversion keeps whatever CTAs were recorded
        stem = cmd.path.name
        for suf in (".traceg.xz", ".trace.xz", ".traceg", ".trace"):
            if stem.endswith(suf):
                stem = stem[: -len(suf)]
                break
        write_traceg(kt, out / f"{stem}.traceg")
        lines.append(f"{stem}.traceg")
        print(f"{cmd.path} -> {out / (stem + '.traceg')}: {kt.num_ctas} CTAs, {kt.num_warps} warps, "
              f"{kt.warp_instructions:,} warp instructions")
    (out / "kernelslist.g").write_text("\n".join(lines) + "\n")
    return 0


def _cmd_config_show(a: argparse.Namespace) -> int:
    from gpusim.config import dump_config, load_config

    print(dump_config(load_config(a.name, a.set or [])), end="")
    return 0


def _cmd_config_check(a: argparse.Namespace) -> int:
    from gpusim.config import load_config

    cfg = load_config(a.file, a.set or [])
    print(f"{a.file}: ok ({cfg.name}, {cfg.sm.count} SMs, {cfg.arch})")
    return 0


def _cmd_config_list(a: argparse.Namespace) -> int:
    from gpusim.config import list_configs

    for n in list_configs():
        print(n)
    return 0


def _cmd_sass_info(a: argparse.Namespace) -> int:
    from gpusim.frontend.sass import parse_sass_listing

    lst = parse_sass_listing(a.listing)
    for name, fn in lst.functions.items():
        if a.function and a.function != name:
            continue
        print(f"{fn.arch} {name}: {len(fn.opcode)} instructions")
        print("    PC    [wait  :r:w:Y:st] reuse  instruction")
        for i in range(min(len(fn.opcode), a.limit)):
            wm = int(fn.wait_mask[i])
            wait = "".join(str(b) if wm >> b & 1 else "-" for b in range(6))
            r = "-" if fn.rsb[i] == 7 else str(int(fn.rsb[i]))
            w = "-" if fn.wsb[i] == 7 else str(int(fn.wsb[i]))
            y = "Y" if fn.yield_flag[i] else "-"
            g = (fn.guard[i] + " ") if fn.guard[i] else ""
            print(f"  {int(fn.pc[i]):05x} [{wait}:{r}:{w}:{y}:{int(fn.stall[i]):02d}] {int(fn.reuse[i]):04b}   {g}{fn.opcode[i]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from gpusim import __version__

    ap = argparse.ArgumentParser(prog="gpusim", description="Cycle-level GPU simulator driven by Accel-Sim/NVBit traces.")
    ap.add_argument("--version", action="version", version=f"gpusim {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="simulate a trace on a GPU config and write report.json")
    r.add_argument("trace", nargs="?", help="kernelslist.g, a trace folder, or one kernel-N.traceg[.xz] (or leave it "
                                            "out and walk a listing: --sass --kernel --grid --block --arg)")
    r.add_argument("--gpu", required=True, help="GPU config name (file stem under configs/, e.g. rtx3070) or YAML path")
    r.add_argument("--sass", help="cuobjdump -sass / nvdisasm -c -hex listing with control bits (default: <stem>.sass beside the trace)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. sm.count=40 (repeatable)")
    r.add_argument("-o", "--output", default="gpusim-out", help="output folder (default: gpusim-out)")
    r.add_argument("--threads", type=_positive_int, default=1, metavar="N",
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
    ck.add_argument("--threads", type=_positive_int, required=True, metavar="N", help="threads of the one CTA")
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

    t = sub.add_parser("trace", help="inspect or convert traces").add_subparsers(dest="tcmd", required=True, metavar="SUBCOMMAND")
    ti = t.add_parser("info", help="kernels, grid/block, warps, warp-instruction counts, opcode histogram")
    ti.add_argument("trace")
    ti.add_argument("--json", action="store_true", help="print JSON (kernels: name, grid, block, warp_instructions, ...)")
    ti.add_argument("--top", type=int, default=8, help="opcodes shown per kernel in text mode")
    ti.set_defaults(fn=_cmd_trace_info)
    tc = t.add_parser("convert", help="group a raw NVBit trace by CTA and warp into .traceg files")
    tc.add_argument("trace")
    tc.add_argument("-o", "--output", required=True)
    tc.set_defaults(fn=_cmd_trace_convert)

    c = sub.add_parser("config", help="show, check or list GPU configs").add_subparsers(dest="ccmd", required=True, metavar="SUBCOMMAND")
    cs = c.add_parser("show", help="print the resolved config")
    cs.add_argument("name")
    cs.add_argument("--set", action="append", metavar="KEY=VALUE")
    cs.set_defaults(fn=_cmd_config_show)
    cc = c.add_parser("check", help="validate a config file")
    cc.add_argument("file")
    cc.add_argument("--set", action="append", metavar="KEY=VALUE")
    cc.set_defaults(fn=_cmd_config_check)
    cl = c.add_parser("list", help="list the shipped config names")
    cl.set_defaults(fn=_cmd_config_list)

    s = sub.add_parser("sass", help="inspect SASS listings").add_subparsers(dest="scmd", required=True, metavar="SUBCOMMAND")
    si = s.add_parser("info", help="decode control bits of a listing")
    si.add_argument("listing")
    si.add_argument("--function")
    si.add_argument("--limit", type=int, default=1 << 30)
    si.set_defaults(fn=_cmd_sass_info)
    from gpusim.cli_analysis import register as _reg_an; _reg_an(sub)  # noqa: E702 - sweep, plot, validate, report
    from gpusim.cli_systolic import register as _reg_sys; _reg_sys(sub)  # noqa: E702 - systolic arrays
    from gpusim.cli_rdu import register as _reg_rdu; _reg_rdu(sub)  # noqa: E702 - RDU dataflow
    from gpusim.cli_llm import register as _reg_llm; _reg_llm(sub)  # noqa: E702 - LLM serving steps
    from gpusim.cli_compare import register as _reg_cmp; _reg_cmp(sub)  # noqa: E702 - machines side by side
    from gpusim.cli_serve import register as _reg_srv; _reg_srv(sub)  # noqa: E702 - serving over time
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    try:
        return a.fn(a)
    except GpusimError as e:
        print(f"gpusim: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("gpusim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

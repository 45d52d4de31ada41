"""Looking at inputs: ``gpusim trace info|convert``, ``gpusim config show|check|list``, ``gpusim sass info``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path



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
    if a.sources:
        from gpusim.config.explain import dump_config_sources

        print(dump_config_sources(a.name, a.set or []), end="")
        return 0
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



def register(sub) -> None:
    """``trace info|convert``, ``config show|check|list``, ``sass info``."""
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
    cs.add_argument("--sources", action="store_true",
                    help="after each value, where it comes from: the preset line that sets it (file:line and its "
                         "comment), the --set override, or the default's source in gpusim/config/specs.py")
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

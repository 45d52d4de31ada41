"""Resident bytes per warp instruction of a trace and of the arrays the core receives (issue 19, "Streaming
traces with compact encoding": the target is <= 32 B per warp instruction resident, so that a 16384^3 A100
GEMM fits in < 8 GB).

For each trace (an A100 GEMM, a GEMV and a FlashAttention-2 forward from ``gpusim.llm.kernels``, walked with
``call.trace()``; the README's bundled traces read from ``traces/examples``) it reports the bytes of every
array of the ``KernelTrace`` and of every packed array the core reads (``assemble.pack``: the trace
window arrays and the per-dynamic-instruction arrays of ``gpusim.assemble.dynamic``), each divided by the
trace's warp instructions, and their totals.  Then, in a fresh process per trace, a whole-trace run
(``assemble.pack`` + ``assemble.run``, one thread) reports the peak resident memory of the process from
the trace's walk or read to the run's end (VmHWM, reset after a small warm-up run that loads the core from
Numba's cache), the resident memory before the trace was built, and the simulation speed (warp
instructions per second of ``assemble.run``).

``--stream`` adds a streamed run (``assemble.run_streamed``, chunks walked as the dispatcher needs them) of a
several-wave A100 GEMM (``STREAM_GEMM``): its peak RSS and the most warp instructions resident at once.

Usage: PYTHONPATH=$PWD python benchmarks/trace_bytes.py [--quick] [--only NAME ...] [--no-run] [--stream] [-o OUT.json]
(default output benchmarks/results/trace_bytes.json; ``--quick``: smaller shapes, for iteration).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "results" / "trace_bytes.json"
PTRS = (1 << 40, 2 << 40, 3 << 40, 4 << 40)
A100 = "a100-sxm4-80gb"


def _llm(make):
    def load():
        from gpusim.frontend.reader import intern_opcodes

        call = make()
        kt = call.trace()
        intern_opcodes(kt)
        return kt, call.kernel.function
    return load


def _bundled(folder: str):
    def load():
        from gpusim.api import find_listing, join_control_bits
        from gpusim.frontend.workload import KernelLaunch, open_workload

        wl = open_workload(REPO / "traces" / "examples" / folder)
        cmd = next(c for c in wl.commands if isinstance(c, KernelLaunch))
        kt = wl.load(cmd)
        _, fn = join_control_bits(kt, find_listing(cmd.path, None))
        return kt, fn
    return load


def cases(quick: bool) -> dict:
    """name -> (config, overrides, loader returning (KernelTrace, listing function))."""
    from gpusim.llm import kernels as K

    g = 512 if quick else 1024
    return {
        f"gemm-a100-{g}": (A100, [], _llm(lambda: K.gemm("sm_80", g, g, g, *PTRS[:3]))),
        "gemv-a100-4096": (A100, [], _llm(lambda: K.gemv("sm_80", 1, 4096, 1024 if quick else 4096, *PTRS[:3]))),
        "fa2-a100": (A100, [], _llm(lambda: K.flash_attn("sm_80", 1, 8, 8, 256 if quick else 1024,
                                                         256 if quick else 1024, *PTRS, causal=True))),
        "vecadd-sm86-bundled": ("rtx3070", [], _bundled("vecadd-sm86")),
        "gemm-sm80-bundled": (A100, [], _bundled("gemm-sm80")),
    }


#: KernelTrace fields that hold one entry per static instruction (not per dynamic one)
STATIC_FIELDS = ("st_pc", "st_ndst", "st_dst", "st_nsrc", "st_src", "st_mem_width", "st_imm", "st_line", "st_op")


def breakdown(cfg, kt, fn) -> dict:
    """Bytes per warp instruction of every resident array: the KernelTrace's and the packed ones."""
    import dataclasses

    from gpusim import assemble

    n = kt.warp_instructions
    trace = {}
    for f in dataclasses.fields(kt):
        v = getattr(kt, f.name)
        if isinstance(v, np.ndarray):
            trace[f.name] = {"dtype": str(v.dtype), "entries": int(v.shape[0]) if v.ndim else 1, "bytes": int(v.nbytes),
                             "static": f.name in STATIC_FIELDS}
    r = assemble.pack(cfg, kt, fn, memsys=assemble.MemSystem(cfg))
    slots = cfg.sm.count * r.occupancy.ctas_per_sm
    w = assemble._Window(r, kt)
    acc_ptr, acc_line, acc_mask = w.acc
    # the window's arrays (what the core's Kernel bundle holds), whatever this version of gpusim names them
    packed_arrays = {"st": r.st, "acc_ptr": acc_ptr, "acc_line": acc_line, "acc_mask": acc_mask,
                     "cga_dist": r.extra["cga_dist"], "issue_log": r.issue_log}
    names = {"nsec": "inst_sectors", "ways": "inst_ways", "space": "inst_space", "iaddr": "inst_addr",
             "units": "inst_units"}
    for k, v in vars(w).items():
        if isinstance(v, np.ndarray) and k in names:
            packed_arrays[names[k]] = v
    # the trace arrays the core reads directly (cta_warp_ptr, warp_inst_ptr, inst_static, inst_mask) are the
    # KernelTrace's own (counted there); only the packed ones that are copies or new count here
    shared = {id(getattr(kt, k)) for k in trace}
    packed = {}
    for k, v in packed_arrays.items():
        if id(v) in shared:
            continue
        packed[k] = {"dtype": str(v.dtype), "entries": int(v.size), "bytes": int(v.nbytes), "static": k == "st"}
    for d in (trace, packed):
        for v in d.values():
            v["bytes_per_warp_inst"] = round(v["bytes"] / max(n, 1), 3)
    tb = sum(v["bytes"] for v in trace.values())
    pb = sum(v["bytes"] for v in packed.values())
    dyn = sum(v["bytes"] for d in (trace, packed) for v in d.values() if not v["static"])
    # what the core reads (the Kernel bundle): all a streamed run keeps resident per instruction of its window
    core_names = ("cta_warp_ptr", "warp_inst_ptr", "inst_static", "inst_mask")
    cb = sum(trace[k]["bytes"] for k in core_names) + sum(v["bytes"] for k, v in packed.items() if not v["static"])
    return {"warp_instructions": n, "ctas": kt.num_ctas, "cta_slots": slots, "warps": kt.num_warps, "mem_records": int(kt.mem_mode.size),
            "coalesced_accesses": int(acc_line.size), "static_instructions": int(r.st.shape[0]),
            "trace_arrays": trace, "packed_arrays": packed,
            "trace_bytes_per_warp_inst": round(tb / n, 3), "packed_bytes_per_warp_inst": round(pb / n, 3),
            "total_bytes_per_warp_inst": round((tb + pb) / n, 3),
            "core_window_bytes_per_warp_inst": round(cb / n, 3),
            "dynamic_bytes_per_warp_inst": round(dyn / n, 3)}


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    """Reset the process's peak RSS (Linux: ``5`` to /proc/self/clear_refs), so that the peak measured after
    it leaves out Numba's compile or cache load; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    """VmHWM (peak resident set since the last reset) in bytes, else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_child(name: str, quick: bool) -> dict:
    """One whole-trace run of ``name`` in this process: peak RSS and simulation speed."""
    from gpusim import assemble
    from gpusim.config import load_config

    gpu, ov, load = cases(quick)[name]
    cfg = load_config(gpu, ov)
    # load the core from Numba's cache with a tiny run first (its memory counts in the baseline)
    kt0, fn0 = _bundled("vecadd-sm86")()
    c0 = load_config("rtx3070", [])
    assemble.run(assemble.pack(c0, kt0, fn0), kt0)
    del kt0
    rss0 = _rss_now()
    reset = _reset_peak()
    t0 = time.perf_counter()
    kt, fn = load()
    t1 = time.perf_counter()
    r = assemble.pack(cfg, kt, fn, memsys=assemble.MemSystem(cfg))
    t2 = time.perf_counter()
    _, cycles, counters = assemble.run(r, kt)
    t3 = time.perf_counter()
    peak = _peak_rss()
    n = kt.warp_instructions
    return {"cycles": int(cycles), "warp_instructions": n, "rss_before_trace_bytes": rss0, "peak_rss_bytes": peak,
            "peak_is_since_warmup": reset,
            "peak_rss_above_baseline_per_warp_inst": round((peak - rss0) / n, 1),
            "trace_seconds": round(t1 - t0, 3), "pack_seconds": round(t2 - t1, 3), "run_seconds": round(t3 - t2, 3),
            "warp_instructions_per_second": round(n / (t3 - t2)),
            "warp_instructions_per_second_with_pack": round(n / (t3 - t1))}


def project(b: dict, g: int) -> dict:
    """Resident trace bytes of a streamed 16384^3 GEMM on the same config (an estimate, not a run): the window
    holds the resident CTAs, ``STREAM_LOOKAHEAD_WAVES`` waves ahead and up to a chunk
    (``STREAM_CHUNK_WAVES``) more, about (1 + lookahead + chunk) waves of CTA slots; each CTA's warp
    instructions scaled from this g^3 GEMM by K (16384 / g: the main loop's share; the prologue and epilogue
    do not grow, so this overestimates); the window's buffers grow by 1/4 when they grow (``_Window._place``)."""
    from gpusim import assemble

    waves = 1 + assemble.STREAM_LOOKAHEAD_WAVES + assemble.STREAM_CHUNK_WAVES
    per_cta = b["warp_instructions"] / b["ctas"] * (16384 / g)
    insts = waves * b["cta_slots"] * per_cta
    gb = insts * b["core_window_bytes_per_warp_inst"] * 1.25 / 1e9
    return {"window_waves": waves, "cta_slots": b["cta_slots"], "warp_instructions_per_cta": round(per_cta),
            "window_warp_instructions": round(insts), "core_window_bytes_per_warp_inst": b["core_window_bytes_per_warp_inst"],
            "window_gigabytes_with_growth": round(gb, 2),
            "note": f"16384^3 GEMM streamed (estimate): {waves} waves x {b['cta_slots']} CTA slots x "
                    f"{per_cta:,.0f} warp inst/CTA = {insts / 1e6:,.0f} M warp inst in the window, "
                    f"{gb:.2f} GB at {b['core_window_bytes_per_warp_inst']} B/inst (+25% buffer growth)"}


#: the streamed run (``--stream``): an A100 GEMM of several CTA waves, walked chunk by chunk as ``gpusim.llm.run``
#: does (chunks of ``STREAM_CHUNK_WAVES`` waves, the default lookahead)
STREAM_GEMM = (8192, 2048, 256)


def stream_child() -> dict:
    """One streamed run of the ``STREAM_GEMM`` GEMM in this process: peak RSS (from the walk of the first chunk to
    the run's end), the most warp instructions resident at once, and warp instructions per second (walking
    included: the chunks are walked as the dispatcher needs them)."""
    import math

    from gpusim import assemble
    from gpusim.config import load_config
    from gpusim.frontend.reader import intern_opcodes
    from gpusim.llm import kernels as K
    from gpusim.llm.walker import walk_chunks

    kt0, fn0 = _bundled("vecadd-sm86")()
    assemble.run(assemble.pack(load_config("rtx3070", []), kt0, fn0), kt0)
    del kt0
    cfg = load_config(A100, [])
    call = K.gemm("sm_80", *STREAM_GEMM, *PTRS[:3])
    head = intern_opcodes(call.trace(range(1)))
    wave = cfg.sm.count * assemble.occupancy(cfg, head).ctas_per_sm
    del head
    rss0 = _rss_now()
    reset = _reset_peak()
    t0 = time.perf_counter()
    chunk = max(1, math.ceil(assemble.STREAM_CHUNK_WAVES * wave))
    _, cycles, _, info = assemble.run_streamed(cfg, walk_chunks(call.kernel, call.launch, None, chunk),
                                               call.kernel.function, total_ctas=call.launch.num_ctas,
                                               memsys=assemble.MemSystem(cfg))
    t1 = time.perf_counter()
    peak = _peak_rss()
    n = info["warp_instructions"]
    return {"gemm": list(STREAM_GEMM), "ctas": call.launch.num_ctas, "wave_ctas": wave, "chunk_ctas": chunk,
            "streamed": info["streamed"], "cycles": int(cycles), "warp_instructions": n,
            "peak_window_instructions": info["peak_window_instructions"], "rss_before_trace_bytes": rss0,
            "peak_rss_bytes": peak, "peak_is_since_warmup": reset,
            "peak_rss_above_baseline_per_window_inst": round((peak - rss0) / info["peak_window_instructions"], 1),
            "seconds": round(t1 - t0, 3), "warp_instructions_per_second_with_walk": round(n / (t1 - t0))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--no-run", action="store_true", help="the array breakdown only (no full run)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--stream", action="store_true", help="also a streamed run of a several-wave GEMM (STREAM_GEMM)")
    ap.add_argument("-o", "--out", default=str(OUT))
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(stream_child() if a.child == "stream" else run_child(a.child, a.quick)))
        return 0
    from gpusim.config import load_config

    res = {"quick": a.quick, "load_average": os.getloadavg()[0], "cases": {}}
    for name, (gpu, ov, load) in cases(a.quick).items():
        if a.only and name not in a.only:
            continue
        kt, fn = load()
        b = breakdown(load_config(gpu, ov), kt, fn)
        del kt
        print(f"{name}: {b['warp_instructions']:,} warp instructions, {b['total_bytes_per_warp_inst']} B/inst "
              f"(trace {b['trace_bytes_per_warp_inst']}, packed {b['packed_bytes_per_warp_inst']}; per dynamic "
              f"instruction {b['dynamic_bytes_per_warp_inst']}; core window {b['core_window_bytes_per_warp_inst']})", flush=True)
        for part in ("trace_arrays", "packed_arrays"):
            row = sorted(b[part].items(), key=lambda kv: -kv[1]["bytes"])
            print("   " + ", ".join(f"{k} {v['bytes_per_warp_inst']}" for k, v in row if v["bytes_per_warp_inst"] >= 0.01))
        if not a.no_run:
            env = dict(os.environ, PYTHONPATH=str(REPO))
            out = subprocess.run([sys.executable, __file__, "--child", name] + (["--quick"] if a.quick else []),
                                 env=env, cwd=REPO, check=True, capture_output=True, text=True).stdout
            b["run"] = json.loads(out.strip().splitlines()[-1])
            rr = b["run"]
            print(f"   run: {rr['cycles']:,} cycles, peak RSS {rr['peak_rss_bytes'] / 2**20:.0f} MiB "
                  f"(before trace {rr['rss_before_trace_bytes'] / 2**20:.0f} MiB), "
                  f"{rr['warp_instructions_per_second']:,} warp inst/s", flush=True)
        res["cases"][name] = b
        if name.startswith("gemm-a100-"):
            res["projection_gemm_16384"] = project(b, int(name.rsplit("-", 1)[1]))
            print("   " + res["projection_gemm_16384"]["note"], flush=True)
    if a.stream:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        out = subprocess.run([sys.executable, __file__, "--child", "stream"], env=env, cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
        st = res["stream_run"] = json.loads(out.strip().splitlines()[-1])
        print(f"streamed gemm {STREAM_GEMM}: {st['warp_instructions']:,} warp inst, window peak "
              f"{st['peak_window_instructions']:,}, peak RSS {st['peak_rss_bytes'] / 2**20:.0f} MiB (before trace "
              f"{st['rss_before_trace_bytes'] / 2**20:.0f} MiB), {st['warp_instructions_per_second_with_walk']:,} "
              "warp inst/s with walking", flush=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Simulation speed of the SM core: simulated cycles/s and warp-instructions/s on standard traces.

Usage: python benchmarks/sim_speed.py [--quick] [--threads N ...] [--no-llm] [-o OUT.json]

Traces (generated with gpusim.frontend.microasm into a temporary folder; not committed):
* ffma: compute-bound, RTX 3070 config (46 SMs), 276 CTAs x 8 warps, 704 independent FFMAs per warp
  in 8 accumulator chains (stall 1, sources cached by reuse bits): 1.55 M warp instructions;
* saxpy: DRAM-bound, same config, y = a*x + y over 16 iterations per warp (2 loads, FFMA, store,
  address arithmetic), 2,560 CTAs x 8 warps: 2.1 M warp instructions;
* the bundled vecadd trace and, if ../shared is present, the FlashInfer decode trace (A100 config);
* unless ``--no-llm``: the LLM cases of benchmarks/llm_speed.py, gpusim's own mma.sync GEMM
  (2048 x 2048 x 1024 on the RTX 3070 config) and a Llama-2-7B decode step (A100 config), one thread.
Reports per trace and thread count (``--threads 1 2`` by default): warp instructions, simulated
cycles, wall seconds of the simulation proper (best of 3 after JIT warm-up, array packing
included), cycles/s, warp-instructions/s, the speed-up over the first thread count, parse
seconds, the first-run JIT seconds, the load average of the machine when measured and the peak
resident memory of the process.  The thread counts of one trace are measured in turns (1, 2, 1,
2, ...) so that a change in the machine's load affects them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from gpusim import api, assemble
from gpusim.config import load_config
from gpusim.frontend.microasm import Inst, build
from gpusim.frontend.workload import open_workload

REPO = Path(__file__).resolve().parent.parent


def ffma_program(n: int) -> list[Inst]:
    prog = [Inst(f"FFMA R{8 + k % 8}, R2.reuse, R3.reuse, R{8 + k % 8}", stall=1) for k in range(n)]
    return prog + [Inst("EXIT", stall=5)]


def saxpy_program(iters: int, total_warps: int) -> list[Inst]:
    X, Y = 0x7F0000000000, 0x7F4000000000
    step = total_warps * 128
    prog = []
    for k in range(iters):
        prog += [
            Inst("LDG.E R4, [R2.64]", stall=1, wsb=0, base=X + k * step, warp_stride=128),
            Inst("LDG.E R5, [R6.64]", stall=1, wsb=1, base=Y + k * step, warp_stride=128),
            Inst("IADD3 R2, P0, R2, R12, RZ", stall=1, rsb=2),
            Inst("IADD3.X R3, R3, RZ, RZ, P0, !PT", stall=2),
            Inst("FFMA R5, R4, R8, R5", stall=4, wait=(0, 1)),
            Inst("STG.E [R6.64], R5", stall=1, rsb=3, base=Y + k * step, warp_stride=128),
            Inst("IADD3 R6, P1, R6, R12, RZ", stall=1, wait=(3,)),
            Inst("IADD3.X R7, R7, RZ, RZ, P1, !PT", stall=2),
        ]
    return prog + [Inst("EXIT", stall=5)]


def measure(name: str, trace, gpu: str, threads: list[int], repeats: int = 3) -> list[dict]:
    cfg = load_config(gpu)
    wl = open_workload(trace)
    t = time.perf_counter()
    kts = [wl.load(k) for k in wl.kernels]
    parse = time.perf_counter() - t
    t = time.perf_counter()
    api.simulate(wl, cfg)              # warm-up (JIT compile or cache load)
    first = time.perf_counter() - t
    fns = [api.join_control_bits(kt, api.find_listing(k.path, None))[1] for k, kt in zip(wl.kernels, kts)]
    best: dict[int, float] = {}
    cycles: dict[int, int] = {}
    loads: dict[int, list[float]] = {n: [] for n in threads}
    for _ in range(repeats):
        for n in threads:
            loads[n].append(os.getloadavg()[0])
            t = time.perf_counter()
            cycles[n] = 0
            for kt, fn in zip(kts, fns):
                r = assemble.pack(cfg, kt, fn)
                _, c, _ = assemble.run(r, kt, threads=n)
                cycles[n] += c
            dt = time.perf_counter() - t
            best[n] = min(best.get(n, dt), dt)
    if len(set(cycles.values())) != 1:
        raise SystemExit(f"{name}: the thread counts disagree on the cycles: {cycles}")
    insts = sum(kt.warp_instructions for kt in kts)
    base = best[threads[0]]
    return [{"trace": name, "gpu": gpu, "threads": n, "warp_instructions": insts, "cycles": cycles[n],
             "seconds": best[n], "cycles_per_second": cycles[n] / best[n],
             "warp_instructions_per_second": insts / best[n], "speedup": base / best[n],
             "parse_seconds": parse, "first_run_seconds": first, "load_average": max(loads[n]),
             "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024} for n in threads]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller traces (for a smoke run)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="thread counts to measure (default: 1 2); speed-ups are relative to the first")
    ap.add_argument("--no-llm", action="store_true", help="skip the LLM cases of benchmarks/llm_speed.py "
                                                          "(mma.sync GEMM, Llama decode step)")
    ap.add_argument("-o", "--output")
    a = ap.parse_args(argv)
    scale = 8 if a.quick else 1
    results = []
    with tempfile.TemporaryDirectory() as d:
        ctas = 276 // scale
        build(ffma_program(704), Path(d) / "ffma", warps_per_cta=8, ctas=ctas, name="ffma")
        results += measure("ffma", Path(d) / "ffma", "rtx3070", a.threads)
        ctas = 2560 // scale
        build(saxpy_program(16, ctas * 8), Path(d) / "saxpy", warps_per_cta=8, ctas=ctas, name="saxpy")
        results += measure("saxpy", Path(d) / "saxpy", "rtx3070", a.threads)
    results += measure("vecadd", REPO / "traces/examples/vecadd-sm86", "rtx3070", a.threads)
    fi = REPO.parent / "shared/traces/accelsim-flashinfer-sm80/flashinfer-singledecode/traces"
    if fi.is_dir():
        results += measure("flashinfer-decode", fi, "a100-sxm4-80gb", a.threads)
    llm = []
    if not a.no_llm:
        import llm_speed  # benchmarks/llm_speed.py, beside this file

        llm = [llm_speed.gemm(512, 512, 512) if a.quick else llm_speed.gemm(2048, 2048, 1024),
               llm_speed.decode("tiny" if a.quick else "llama-2-7b")]
    text = json.dumps(results + llm, indent=2)
    print(text)
    for r in llm:
        print(f"{r['case']}: {r['warp_instructions_per_second']:,.0f} warp-inst/s, peak {r['peak_rss_mib']:.0f} MiB",
              file=sys.stderr)
    print(f"{'trace':18} {'threads':>7} {'seconds':>8} {'cycles/s':>12} {'warp-inst/s':>12} {'speed-up':>8} {'load':>5}",
          file=sys.stderr)
    for r in results:
        print(f"{r['trace']:18} {r['threads']:7d} {r['seconds']:8.3f} {r['cycles_per_second']:12,.0f} "
              f"{r['warp_instructions_per_second']:12,.0f} {r['speedup']:8.2f} {r['load_average']:5.2f}", file=sys.stderr)
    if a.output:
        Path(a.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Steady-state bottleneck of one A100 GEMM kernel on an SM slice: per-warp stall reasons and the pipes.

Runs one multistage GEMM kernel (``--kernel``, default the 128x256x64 tile gemm_select picks for large
squares) on an ``--sms``-SM slice of the a100-sxm4-80gb config with one CTA per SM (M x N = SMs tiles),
so every SM runs the main loop of one CTA for ``K / BK`` k tiles, as a CTA of a large square GEMM does
in its steady state (the slice has the whole GPU's DRAM and L2 behind it: the SM, not memory, is what
is measured).  Prints cycles per k tile against the tensor-pipe bound, the stall reasons (share of
warp-cycles) and the shared-memory / issue utilisation, and the main loop's static instruction mix.

    PYTHONPATH=$PWD python benchmarks/gemm_a100_slice.py [--kernel NAME] [--k 2048] [--sms 4]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from gpusim import assemble
from gpusim.config import load_config
from gpusim.llm import gemm_select as GS
from gpusim.llm import kernels as K
from gpusim.llm.run import intern_opcodes, tensor_peak_flops
from gpusim.stats.catalog import REASONS, name_counters

PTRS = tuple((i + 1) << 40 for i in range(4))


def loop_mix(name: str, arch: str) -> Counter:
    f = K.load_kernel(name, arch).function
    p = GS.loop_profile(name, arch)
    best = None
    for i in range(len(f.opcode)):
        t = int(f.branch_target[i])
        if t < 0 or t >= int(f.pc[i]):
            continue
        lo = int(np.searchsorted(f.pc, t))
        n = sum(1 for j in range(lo, i + 1) if f.opcode[j].startswith("HMMA"))
        if best is None or n > best[0]:
            best = (n, lo, i)
    _, lo, hi = best
    c = Counter()
    for j in range(lo, hi + 1):
        dead = f.guard[j].replace(" ", "") == "@!PT"
        c[f.opcode[j].split(".")[0] + ("(@!PT)" if dead else "")] += 1
    return c, p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default="gemm_f16_tn_128x256x64_s3")
    ap.add_argument("--k", type=int, default=2048)
    ap.add_argument("--sms", type=int, default=4)
    ap.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    a = ap.parse_args()
    arch = "sm_80"
    cfg = load_config("a100-sxm4-80gb", [f"sm.count={a.sms}", *a.set])
    t = K.gemm_tile(a.kernel)
    M, N = t["BM"] * a.sms, t["BN"]
    call = K.gemm_multistage(arch, a.kernel, M, N, a.k, *PTRS[:3], 0, 1)
    t0 = time.perf_counter()
    kt = call.trace(None)
    intern_opcodes(kt)
    run = assemble.pack(cfg, kt, call.kernel.function)
    _, cyc, cnt = assemble.run(run, kt)
    wall = time.perf_counter() - t0
    n = name_counters(cnt)
    ktiles = -(-a.k // t["BK"])
    warps = t["threads"] // 32
    hmma_per_warp = (t["BM"] // t["warps_m"] // 16) * (t["BN"] // t["warps_n"] // 8) * (t["BK"] // 16)
    hmma_cyc = 2 * 16 * 8 * 16 / (tensor_peak_flops(cfg, arch) / cfg.sm.count / cfg.sm.clock_hz / cfg.sm.subcores)
    tensor_per_tile = -(-warps // cfg.sm.subcores) * hmma_per_warp * hmma_cyc
    print(f"{a.kernel}: M={M} N={N} K={a.k} on {a.sms} SMs, {ktiles} k tiles, {cyc:,} cycles ({wall:.0f} s)")
    print(f"  cycles per k tile {cyc / ktiles:.0f}; tensor-pipe bound {tensor_per_tile:.0f} "
          f"({hmma_per_warp} HMMA/warp x {hmma_cyc:.0f} cyc x {-(-warps // cfg.sm.subcores)} warps/sub-core): "
          f"{100 * tensor_per_tile * ktiles / cyc:.1f}% of peak")
    tot = sum(n[f"stall_{r}"] for r, _ in REASONS)
    print("  warp-cycle states: " + ", ".join(f"{r} {100 * n[f'stall_{r}'] / tot:.1f}%"
                                              for r, _ in REASONS if n[f"stall_{r}"]))
    slots = cyc * cfg.sm.count * cfg.sm.subcores
    print(f"  issue: {n['warp_instructions']:,} warp insts = {100 * n['warp_instructions'] / slots:.1f}% of sub-core issue slots; "
          f"shared wavefronts {n.get('shared_wavefronts', 0):,} ({100 * n.get('shared_wavefronts', 0) / (cyc * cfg.sm.count):.1f}% of SM-cycles)")
    mix, p = loop_mix(a.kernel, arch)
    print(f"  main loop per warp and k tile: {sum(mix.values())} instructions: " + ", ".join(f"{k} {v}" for k, v in mix.most_common()))
    print(f"  loop profile: {p}")


if __name__ == "__main__":
    main()

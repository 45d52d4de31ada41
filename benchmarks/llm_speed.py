"""Simulation speed on LLM work: an mma.sync GEMM kernel and a whole Llama decode step.

Usage: python benchmarks/llm_speed.py [--quick] [-o OUT.json]

* gemm: gpusim's own cp.async + mma.sync GEMM (traces/kernels, real ptxas SASS for sm_86), walked
  into a trace and simulated on the RTX 3070 config (46 SMs): M = N = 2048, K = 1024 (``--quick``:
  512 x 512 x 512).  Reports walk seconds, simulation seconds (after JIT warm-up), warp
  instructions, cycles, cycles/s and warp-instructions/s.
* decode: ``gpusim llm`` Llama-2-7B batch-1 decode at context 1024 on the A100 config
  (``--quick``: the tiny preset): wall seconds, distinct kernels simulated, warp instructions,
  simulated step time, tokens/s, peak resident memory.
The JIT compile time is the first run's extra cost (``first_run_seconds`` of the GEMM).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from gpusim import assemble
from gpusim.config import load_config
from gpusim.frontend.reader import intern_opcodes
from gpusim.llm import kernels as K
from gpusim.llm.run import simulate_step

PTRS = (1 << 40, 2 << 40, 3 << 40)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gemm(M: int, N: int, Kd: int, gpu: str = "rtx3070") -> dict:
    cfg = load_config(gpu)
    call = K.gemm(K.arch_for_binary_version(cfg.compute_capability), M, N, Kd, *PTRS)
    t = time.perf_counter()
    kt = call.trace()
    intern_opcodes(kt)
    walk = time.perf_counter() - t
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        r = assemble.pack(cfg, kt, call.kernel.function)
        _, cycles, _ = assemble.run(r, kt)
        runs.append(time.perf_counter() - t)
    best = min(runs[1:])
    n = int(kt.warp_instructions)
    return {"case": f"gemm {M}x{N}x{Kd} (mma.sync, cp.async)", "gpu": gpu, "warp_instructions": n,
            "cycles": int(cycles), "walk_seconds": walk, "seconds": best, "first_run_seconds": runs[0],
            "cycles_per_second": cycles / best, "warp_instructions_per_second": n / best,
            "peak_rss_mib": _rss_mib()}


def decode(model: str, gpu: str = "a100-sxm4-80gb") -> dict:
    t = time.perf_counter()
    rep = simulate_step(model, "decode:batch=1,context=1024", gpu)
    wall = time.perf_counter() - t
    n = sum(k["warp_instructions"] * k["simulated"] for o in rep["operators"] for k in o["kernels"])
    return {"case": f"{model} decode batch 1 context 1024", "gpu": gpu, "wall_seconds": wall,
            "simulation_wall_seconds": rep["simulation_wall_seconds"],
            "distinct_kernels": rep["distinct_kernels_simulated"], "warp_instructions_simulated": n,
            "warp_instructions_per_second": n / rep["simulation_wall_seconds"],
            "step_seconds": rep["step_seconds"], "tokens_per_second": rep["tokens_per_second"],
            "peak_rss_mib": _rss_mib()}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small cases (a smoke run)")
    ap.add_argument("-o", "--output")
    a = ap.parse_args(argv)
    results = [gemm(512, 512, 512) if a.quick else gemm(2048, 2048, 1024),
               decode("tiny" if a.quick else "llama-2-7b")]
    text = json.dumps(results, indent=2)
    print(text)
    if a.output:
        Path(a.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

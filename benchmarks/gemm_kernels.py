#!/usr/bin/env python3
"""FP16 GEMM on the A100 config: the old single kernel against the multistage kernel gemm_select picks.

For each (M, N, K) this simulates C[M,N] = A[M,K] . W[N,K]^T on the full a100-sxm4-80gb config twice
-- ``before``: gemm_f16_tn_128x128x32_s3 (gemm_mma.cu, the kernel every sm_80 GEMM ran before the
multistage family); ``after``: the kernel, tile and split-K that gpusim.llm.gemm_select.select
chooses (plus its split-K reduction kernel, whose cycles are added) -- and reports cycles, TFLOP/s
and the fraction of the dense fp16 tensor peak (gpusim.llm.run.tensor_peak_flops: 312 TFLOP/s at the
config's 1.41 GHz, the same peak tests/test_llm_sanity.py uses).  Launch overheads are not included
(one kernel boundary each, charged by the step model).  Kernels of more CTA waves than
1 + ``--sample`` + 1 are simulated with CTA-wave sampling (gpusim.llm.run.simulate_kernel ``sample``);
the JSON records when and the error bound.

Published context, NOT used to calibrate anything: cuBLAS on A100 reaches roughly 40% of the fp16
peak at 1024^3 and roughly 80% on large squares.

    PYTHONPATH=$PWD python benchmarks/gemm_kernels.py                    # default shape list
    PYTHONPATH=$PWD python benchmarks/gemm_kernels.py --shapes 1024x1024x1024 16x4096x4096
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

from gpusim import assemble
from gpusim.config import load_config
from gpusim.llm import gemm_select as GS
from gpusim.llm import kernels as K
from gpusim.llm.run import simulate_kernel, tensor_peak_flops

HERE = Path(__file__).resolve().parent
GPU = "a100-sxm4-80gb"
ARCH = "sm_80"
PTRS = tuple((i + 1) << 40 for i in range(4))
DEFAULT_SHAPES = ["1024x1024x1024", "2048x2048x2048", "16x4096x4096", "64x4096x4096", "128x11008x4096",
                  "512x4096x4096", "4096x4096x4096"]


def _sim(cfg, calls, sample):
    """Simulate a GEMM's launches in order on one memory system (as a step does, gpusim.llm.run): the split-K
    reduction finds the partials the GEMM left in the L2."""
    out, cyc, wall = [], 0, 0.0
    memsys = assemble.MemSystem(cfg)
    for c in calls:
        t0 = time.perf_counter()
        r = simulate_kernel(cfg, c, memsys, sample=sample)
        wall += time.perf_counter() - t0
        cyc += r["cycles"]
        s = r["sampling"]
        out.append({"kernel": r["kernel"], "grid": r["grid"], "cycles": r["cycles"], "ctas_per_sm": r["ctas_per_sm"],
                    "dram_bytes": r["dram_bytes"], "l2_hit_rate": round(r["l2_hit_rate"], 4),
                    "sampled": s is not None,
                    "sampling_relative_error": None if s is None else round(s["relative_error"], 4)})
    return cyc, out, wall


def run(shapes: list[tuple[int, int, int]], sample: int | None, skip_before: bool) -> dict:
    cfg = load_config(GPU)
    peak = tensor_peak_flops(cfg, ARCH)
    dev = GS.Device.from_config(cfg, ARCH)
    rows = []
    for M, N, Kd in shapes:
        flops = 2 * M * N * Kd
        row = {"M": M, "N": N, "K": Kd}
        ch = GS.select(ARCH, M, N, Kd, dev)
        runs = {"after": GS.gemm_calls(ARCH, ch, M, N, Kd, *PTRS)}
        if not skip_before:
            runs["before"] = [K.gemm(ARCH, M, N, Kd, *PTRS[:3])]
        for label in ("before", "after"):
            if label not in runs:
                continue
            cyc, ks, wall = _sim(cfg, runs[label], sample)
            sec = cyc / cfg.sm.clock_hz
            row[label] = {"cycles": cyc, "seconds": sec, "tflops": flops / sec / 1e12,
                          "pct_of_tensor_peak": round(100 * flops / sec / peak, 2), "kernels": ks,
                          "simulation_wall_seconds": round(wall, 1)}
            print(f"{M}x{N}x{Kd} {label:6s} {ks[0]['kernel']:28s} {cyc:>10,} cyc  "
                  f"{100 * flops / sec / peak:5.1f}% of peak  ({wall:.0f} s)", flush=True)
        row["selected"] = ch.as_dict()
        if "before" in row:
            row["speedup"] = round(row["before"]["cycles"] / row["after"]["cycles"], 3)
        rows.append(row)
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    except OSError:
        rev = "?"
    return {"gpu": GPU, "arch": ARCH, "clock_hz": cfg.sm.clock_hz, "tensor_peak_flops_per_s": peak,
            "peak_note": "dense fp16 mma.sync peak of the config (gpusim.llm.run.tensor_peak_flops)",
            "before_kernel": "gemm_f16_tn_128x128x32_s3", "sample_waves": sample, "git": rev,
            "host": platform.node(), "launch_overheads_included": False,
            "published_context_not_calibrated": "cuBLAS A100 fp16: ~40% of peak at 1024^3, ~80% on large squares",
            "results": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", nargs="*", default=DEFAULT_SHAPES, help="MxNxK ...")
    ap.add_argument("--sample", type=int, default=4, help="measured CTA waves when sampling (0: never sample)")
    ap.add_argument("--skip-before", action="store_true", help="simulate only the selected kernel")
    ap.add_argument("-o", "--out", type=Path, default=HERE / "results" / "gemm_a100.json")
    ap.add_argument("--append", action="store_true", help="merge into an existing JSON (replacing equal shapes)")
    a = ap.parse_args()
    shapes = [tuple(int(x) for x in s.lower().split("x")) for s in a.shapes]
    rep = run(shapes, a.sample or None, a.skip_before)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if a.append and a.out.is_file():
        old = json.loads(a.out.read_text())
        keep = [r for r in old["results"] if (r["M"], r["N"], r["K"]) not in set(shapes)]
        rep["results"] = keep + rep["results"]
    a.out.write_text(json.dumps(rep, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

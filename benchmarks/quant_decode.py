#!/usr/bin/env python3
"""Llama-2-7B batch-1 decode on the A100 config with fp16, int8 and int4 weights (``gpusim llm --dtype``).

For each weight dtype this simulates the whole decode step exactly as

    gpusim llm --model llama-2-7b --step decode:batch=1,context=1024 --gpu a100-sxm4-80gb --dtype D [--group G]

does (gpusim.llm.run.simulate_step, one L2 for the step, identical launches simulated once) and records
the step time, tokens/s, and per operator the kernel, simulated DRAM bytes, the graph's minimum bytes and
the achieved fraction of the config's DRAM peak (``dram_utilisation``).  Predictions of the model; no
hardware number is compared or used.  ``--sample K`` turns on CTA-wave sampling (off by default).

    PYTHONPATH=$PWD python benchmarks/quant_decode.py                 # fp16, int8, int4 g128
    PYTHONPATH=$PWD python benchmarks/quant_decode.py --dtypes int4:32
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

from gpusim.config import load_config
from gpusim.llm.model import load_model, with_dtype
from gpusim.llm.run import simulate_step

HERE = Path(__file__).resolve().parent
GPU = "a100-sxm4-80gb"
MODEL = "llama-2-7b"
STEP = "decode:batch=1,context=1024"
DEFAULT = ["fp16", "int8", "int4:128"]


def run_one(spec: str, sample: int | None) -> dict:
    dt, _, g = spec.partition(":")
    m = with_dtype(load_model(MODEL), dt, int(g) if g else None)
    cfg = load_config(GPU)
    t0 = time.perf_counter()
    r = simulate_step(m, STEP, cfg, sample=sample)
    wall = time.perf_counter() - t0
    ops = []
    for o in r["operators"]:
        ops.append({"name": o["name"], "kind": o["kind"], "count": o["count"], "kernel": o["kernel"],
                    "kernels": [k["kernel"] for k in o["kernels"]], "seconds": o["seconds"],
                    "dram_bytes": o["dram_bytes"], "min_bytes": o["bytes"],
                    "pct_of_dram_peak": round(100 * o["dram_utilisation"], 2),
                    "bound": o["bound"], "sampled": o["sampled"]})
    return {"dtype": dt, "group": int(g) if g else (128 if dt == "int4" else None),
            "command": f"gpusim llm --model {MODEL} --step {STEP} --gpu {GPU} --dtype {dt}"
                       + (f" --group {g}" if g else "") + (f" --sample {sample}" if sample else ""),
            "step_seconds": r["step_seconds"], "kernel_seconds": r["kernel_seconds"],
            "launch_seconds": r["launch_seconds"], "tokens_per_second": r["tokens_per_second"],
            "memory_footprint": r["memory_footprint"], "operators": ops,
            "sampling_relative_error": None if r["sampling"] is None else r["sampling"]["relative_error"],
            "simulation_wall_seconds": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtypes", nargs="+", default=DEFAULT, help="fp16 | bf16 | int8 | int4[:GROUP]")
    ap.add_argument("--sample", type=int, default=None)
    ap.add_argument("-o", "--output", type=Path, default=HERE / "results" / "quant_decode_a100.json")
    ap.add_argument("--append", action="store_true", help="add to the results already in --output")
    a = ap.parse_args()
    cfg = load_config(GPU)
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    except OSError:
        git = "?"
    out = {"gpu": GPU, "model": MODEL, "step": STEP, "clock_hz": cfg.sm.clock_hz,
           "dram_bytes_per_s": cfg.memory.dram_bandwidth_bytes_per_s,
           "note": "predictions of the model (gpusim llm, whole step, launch overheads included in step_seconds); "
                   "pct_of_dram_peak = simulated DRAM bytes / operator time / memory.dram_bandwidth",
           "git": git, "host": platform.node(), "results": []}
    if a.append and a.output.is_file():
        out["results"] = json.loads(a.output.read_text())["results"]
    for spec in a.dtypes:
        res = run_one(spec, a.sample)
        out["results"].append(res)
        gemv = [o for o in res["operators"] if o["kind"] == "gemm"]
        print(f"{spec}: {res['step_seconds'] * 1e3:.3f} ms, {res['tokens_per_second']:.1f} tokens/s; "
              + ", ".join(f"{o['name']} {o['kernel']} {o['pct_of_dram_peak']:.0f}%" for o in gemv)
              + f"  ({res['simulation_wall_seconds']} s)", flush=True)
        a.output.parent.mkdir(parents=True, exist_ok=True)
        a.output.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()

"""Streaming bandwidth of the HBM DRAM model against published sustained-bandwidth measurements.

Usage: PYTHONPATH=$PWD python benchmarks/hbm_stream.py [--iterations N] [--model hbm|simple] [--per-bank-refresh]

Runs the ``stream`` microbenchmark (gpusim/microbench.py: grid-stride LDG.128 [+ STG.128] over all SMs,
the difference of two sizes so fixed costs cancel) on the A100, H100 and H800 configs and prints the
simulated sustained bandwidth next to the measured one (research/hw_ground_truth.csv).  The measured
rows are read here for the comparison only: no config value or model constant is derived from them
(the configs' DRAM timings are JEDEC tables as ramulator2 publishes them; see configs/gpus/*.yaml).

=======  ======================  =====  ==========================================================
row      GPU                     kind   measurement
=======  ======================  =====  ==========================================================
HW169    A100 SXM4 80GB          copy   STREAM-like copy 1.61 TB/s (Azure AI benchmarking guide)
HW170    H100 SXM5 80GB          copy   STREAM-like copy 2.9 TB/s (same guide)
HW031    H100 SXM5 80GB          read   HBM3 streaming 3010 GB/s (HPMLL)
HW046    H800 PCIe               read   HBM2e achieved 1407 GB/s (Luo et al.; a PCIe part, context)
=======  ======================  =====  ==========================================================
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from gpusim.config import load_config
from gpusim.microbench import measure

REPO = Path(__file__).resolve().parent.parent
CASES = [("HW169", "a100-sxm4-80gb", "copy"), ("HW170", "h100-sxm5-80gb", "copy"),
         ("HW031", "h100-sxm5-80gb", "read"), ("HW046", "h800-pcie", "read")]
TO_GBPS = {"GB/s": 1.0, "TB/s": 1000.0}


def measured() -> dict[str, float]:
    rows = {}
    path = REPO.parent / "shared/research/hw_ground_truth.csv"
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["id"] in {c[0] for c in CASES}:
                rows[r["id"]] = float(r["value"]) * TO_GBPS[r["unit"]]
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=16)
    ap.add_argument("--model", default="hbm", choices=("hbm", "simple"))
    ap.add_argument("--per-bank-refresh", action="store_true")
    a = ap.parse_args(argv)
    hw = measured()
    print(f"{'row':6} {'gpu':16} {'kind':5} {'peak GB/s':>10} {'sim GB/s':>9} {'sim %peak':>9} "
          f"{'HW GB/s':>8} {'error':>7}")
    for row, gpu, kind in CASES:
        over = [f"memory.dram_model={a.model}"]
        if a.per_bank_refresh:
            over.append("memory.hbm_refresh_per_bank=true")
        cfg = load_config(gpu, over)
        v = measure("stream", cfg, {"kind": kind, "iterations": a.iterations}).values[0][0]
        gbps = v * cfg.sm.clock_hz / 1e9
        peak = cfg.memory.dram_bandwidth_bytes_per_s / 1e9
        ref = hw.get(row, float("nan"))
        print(f"{row:6} {gpu:16} {kind:5} {peak:10.0f} {gbps:9.0f} {gbps / peak:9.1%} {ref:8.0f} "
              f"{(gbps - ref) / ref:+7.1%}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

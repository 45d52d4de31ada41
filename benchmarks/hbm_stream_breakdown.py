"""Where the HBM model's data-bus time goes in a streaming copy and read (A100 and H100 configs).

Usage: PYTHONPATH=$PWD python benchmarks/hbm_stream_breakdown.py [--set KEY=VALUE ...] [--label NAME]
       [--iterations N] [--write]

Runs the ``stream`` microbenchmark (gpusim/microbench.py; scale 1 and 2, the difference is the steady
state) with the hbm model's statistics on (``gpusim.assemble.memory.KEEP_HBM_STATS``) and splits the
pseudo-channels' data-bus time of the scale-2 minus scale-1 difference into: read data, write data, idle
(nothing queued: the requests arrive too slowly, a limit before the DRAM), the read-to-write bubble
(tRTW), the write-to-read bubble (tWTR + tCL), and all-bank refreshes; plus the write drains and the
activates of reads and writes.  ``--write`` stores the result under ``--label`` in
benchmarks/results/hbm_stream_breakdown.json (other labels are kept).  The measured bandwidths in the
output are for comparison only (research/hw_ground_truth.csv rows HW169, HW170, HW031): nothing here
feeds a config value.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gpusim.assemble import memory as amem
from gpusim.config import load_config
from gpusim.core import memsys as msys
from gpusim.microbench import measure

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "results" / "hbm_stream_breakdown.json"
CASES = [("a100-sxm4-80gb", "copy", "HW169 1.61 TB/s"), ("a100-sxm4-80gb", "read", "none (HW dot 1.75 TB/s)"),
         ("h100-sxm5-80gb", "copy", "HW170 2.90 TB/s"), ("h100-sxm5-80gb", "read", "HW031 3.01 TB/s")]
TIME_PARTS = (("read", msys.S_READ), ("write", msys.S_WRITE), ("idle", msys.S_IDLE), ("trtw", msys.S_RTW),
              ("twtr_tcl", msys.S_WTR), ("refresh", msys.S_REFRESH))
COUNTS = (("drains", msys.S_DRAINS), ("activates_read", msys.S_ACT_READ), ("activates_write", msys.S_ACT_WRITE))


def _run(gpu: str, kind: str, sets: list[str], iterations: int) -> dict:
    systems: list[amem.MemSystem] = []
    init = amem.MemSystem.__init__

    def keep(self, cfg):
        init(self, cfg)
        systems.append(self)

    amem.KEEP_HBM_STATS = True
    amem.MemSystem.__init__ = keep
    try:
        cfg = load_config(gpu, sets)
        m = measure("stream", cfg, {"kind": kind, "iterations": iterations})
    finally:
        amem.MemSystem.__init__ = init
        amem.KEEP_HBM_STATS = False
    s1, s2 = (s.hbm_stats.sum(axis=0) for s in systems[-2:])
    d = s2 - s1
    busy = sum(int(d[i]) for _, i in TIME_PARTS)
    burst = int(systems[-1].mp[msys.M_CHAN_MILLI_PER_SECTOR])
    gbps = m.values[0][0] * cfg.sm.clock_hz / 1e9
    peak = cfg.memory.dram_bandwidth_bytes_per_s / 1e9
    out = {"gpu": gpu, "kind": kind, "sim_GB_per_s": round(gbps, 1), "pct_of_peak": round(100 * gbps / peak, 2),
           "bus_time_pct": {n: round(100 * int(d[i]) / busy, 2) for n, i in TIME_PARTS}}
    out.update({n: int(d[i]) for n, i in COUNTS})
    wb = int(d[msys.S_WRITE]) // burst
    out["write_bursts_per_drain"] = round(wb / out["drains"], 1) if out["drains"] else None
    out["read_bursts"] = int(d[msys.S_READ]) // burst
    out["write_bursts"] = wb
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (all cases)")
    ap.add_argument("--label", default="head")
    ap.add_argument("--iterations", type=int, default=16)
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args(argv)
    rows = []
    for gpu, kind, hw in CASES:
        r = _run(gpu, kind, a.set, a.iterations)
        r["measured"] = hw
        rows.append(r)
        t = r["bus_time_pct"]
        print(f"{gpu:16} {kind:5} {r['sim_GB_per_s']:7.0f} GB/s ({r['pct_of_peak']:5.1f}% of peak)  bus: "
              + "  ".join(f"{k} {v:.1f}%" for k, v in t.items())
              + f"  drains {r['drains']} ({r['write_bursts_per_drain']} bursts each)  [{hw}]", flush=True)
    if a.write:
        data = json.loads(OUT.read_text()) if OUT.exists() else {}
        data[a.label] = {"set": a.set, "iterations": a.iterations, "cases": rows}
        OUT.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

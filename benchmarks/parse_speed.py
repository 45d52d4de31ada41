"""Trace-parsing speed: trace lines per second on one core, after JIT warm-up, cache off.

Usage: python benchmarks/parse_speed.py [TRACE_FILE ...]   (prints JSON)
Default inputs: the largest real trace in ../shared/traces (flashinfer decode, 205 K lines),
decompressed to a temporary .traceg so that xz decompression is not what is measured, and the
bundled example trace.
"""

from __future__ import annotations

import json
import lzma
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["GPUSIM_CACHE_DIR"] = "off"

from gpusim.frontend.reader import read_kernel_trace  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = [
    REPO.parent / "shared/traces/accelsim-flashinfer-sm80/flashinfer-singledecode/traces/kernel-1.traceg.xz",
    REPO / "traces/examples/vecadd-sm86/kernel-1.traceg.xz",
]


def measure(path: Path, repeats: int = 5) -> dict:
    data = path.read_bytes()
    if path.suffix == ".xz":
        data = lzma.decompress(data)
    with tempfile.TemporaryDirectory() as d:
        plain = Path(d) / "kernel.traceg"
        plain.write_bytes(data)
        read_kernel_trace(plain, use_cache=False)  # JIT warm-up
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            kt = read_kernel_trace(plain, use_cache=False)
            best = min(best, time.perf_counter() - t)
    lines = data.count(b"\n")
    return {"trace": str(path), "lines": lines, "bytes": len(data), "warp_instructions": kt.warp_instructions,
            "seconds": best, "lines_per_second": lines / best, "megabytes_per_second": len(data) / best / 1e6}


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [p for p in DEFAULTS if p.exists()]
    print(json.dumps([measure(p) for p in paths], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

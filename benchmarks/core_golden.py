"""Golden reports of the SM core: the refactor guard of issue 17 ("Core structure").

Runs a handful of ``gpusim run`` / ``gpusim llm --op`` commands, drops the wall-clock fields from their
``report.json`` and writes them (``--write``) to ``benchmarks/results/core_golden/`` or compares them
(default) with what is stored there.  The stored reports are the outputs of the model BEFORE the core
was split into stage modules (branch core-stages at aa97c81): a regression guard for a
behaviour-preserving refactor, not hardware truth.  A change that is meant to alter the model
regenerates them with ``--write`` and says why in its commit.

Usage: PYTHONPATH=$PWD python benchmarks/core_golden.py [--write] [--only NAME ...] [--quick]
(``--quick``: the bundled-trace cases only, seconds each once the core is compiled).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "benchmarks" / "results" / "core_golden"

#: (name, quick, gpusim arguments); the output folder is appended as ``-o DIR``
CASES = [
    ("vecadd-rtx3070", True, ["run", "traces/examples/vecadd-sm86", "--gpu", "rtx3070"]),
    ("vecadd-a100-gto", True, ["run", "traces/examples/vecadd-sm86", "--gpu", "a100-sxm4-80gb", "--set", "sm.count=54",
                               "--set", "subcore.issue_policy=gto"]),
    ("vecadd-rtx3070-lrr-2threads", True, ["run", "traces/examples/vecadd-sm86", "--gpu", "rtx3070", "--set",
                                           "subcore.issue_policy=lrr", "--threads", "2"]),
    ("vecadd-rtx3070-scoreboard", True, ["run", "traces/examples/vecadd-sm86", "--gpu", "rtx3070", "--set",
                                         "subcore.dependence_mode=scoreboard"]),
    ("gemm-512-a100", False, ["llm", "--op", "gemm:m=512,n=512,k=512", "--gpu", "a100-sxm4-80gb"]),
    ("attention-a100", False, ["llm", "--op", "attention:batch=1,heads=8,kv_heads=8,q_len=256", "--gpu",
                               "a100-sxm4-80gb"]),
    ("decode-attention-a100", False, ["llm", "--op", "decode_attention:batch=4,heads=32,kv_heads=8,context=512",
                                      "--gpu", "a100-sxm4-80gb"]),
    ("gemm-wgmma-h100", False, ["llm", "--op", "gemm:m=512,n=512,k=1024", "--gpu", "h100-sxm5-80gb"]),
]

#: report keys that measure the host, not the model
WALL_KEYS = {"wall_seconds", "jit_seconds", "simulation_wall_seconds", "walk_seconds", "simulate_seconds", "peak_rss_bytes",
             "simulated_cycles_per_second", "warp_instructions_per_second", "threads"}


def strip(x):
    """The report without its wall-clock fields."""
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in WALL_KEYS}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


def run_case(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        subprocess.run([sys.executable, "-m", "gpusim.cli", *args, "-o", tmp], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return strip(json.loads((Path(tmp) / "report.json").read_text()))


def diff(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'golden' if k in a else 'new'}")
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: golden {a!r} != new {b!r}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="store the reports as the golden ones")
    ap.add_argument("--only", nargs="*", help="case names")
    ap.add_argument("--quick", action="store_true", help="bundled-trace cases only")
    a = ap.parse_args(argv)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    bad = 0
    for name, quick, args in CASES:
        if (a.only and name not in a.only) or (a.quick and not quick):
            continue
        rep = run_case(args)
        f = GOLDEN / f"{name}.json"
        if a.write:
            f.write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")
            print(f"{name}: written")
            continue
        d = diff(json.loads(f.read_text()), rep)
        print(f"{name}: {'identical' if not d else f'{len(d)} differences'}")
        for line in d[:20]:
            print("   ", line)
        bad += bool(d)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

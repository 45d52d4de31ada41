"""Compile and run speed of the functional SASS walker (issue 17 item 4: the walker's move to gpusim/emu
must not make its cold compile slower or its warm walk more than 5% slower).

Usage: PYTHONPATH=$PWD python benchmarks/walk_speed.py [--repeat N]

* cold: a child process with an empty ``NUMBA_CACHE_DIR`` walks one CTA of a small kernel; reported
  is the CPU seconds (``time.process_time``) of that first walk minus a second, warm one (= Numba's
  compile of the walker);
* warm: the best of ``--repeat`` walks of 64 CTAs of the 4096^3 fp16 GEMM (sm_80 multistage kernel)
  and 8 CTAs of the FA2 forward kernel, in warp instructions per CPU second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def _cold() -> None:
    from gpusim.llm import kernels as K

    c = K.rmsnorm("sm_80", 4, 4096, 1 << 40, 2 << 40, 3 << 40)
    t0 = time.process_time()
    c.trace(range(0, 1))
    t1 = time.process_time()
    c.trace(range(0, 1))
    t2 = time.process_time()
    print(json.dumps({"cold_compile_cpu_s": round((t1 - t0) - (t2 - t1), 2)}))


def _warm(repeat: int) -> dict:
    from gpusim.llm import kernels as K

    A, W, C = 1 << 40, 2 << 40, 3 << 40
    gemm = K.gemm_multistage("sm_80", "gemm_f16_tn_128x128x32_s4", 4096, 4096, 4096, A, W, C)
    cases = {"gemm4096-sm80-64ctas": (gemm, range(0, 64)),
             "fa2-fwd-sm80-8ctas": (K.flash_attn("sm_80", 1, 8, 8, 1024, 1024, A, W, C, 4 << 40, head_dim=128,
                                                 causal=False), range(0, 8))}
    out = {}
    for name, (call, ctas) in cases.items():
        kt = call.trace(ctas)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            kt = call.trace(ctas)
            best = min(best, time.process_time() - t0)
        out[name] = {"warp_instructions": int(kt.inst_static.size), "best_cpu_s": round(best, 4),
                     "warp_instructions_per_cpu_s": round(kt.inst_static.size / best)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.cold_child:
        _cold()
        return 0
    with tempfile.TemporaryDirectory() as td:
        env = dict(os.environ, NUMBA_CACHE_DIR=td)
        r = subprocess.run([sys.executable, __file__, "--cold-child"], env=env, capture_output=True, text=True,
                           check=True)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["warm"] = _warm(a.repeat)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the SM core before and after a restructuring (issue 17): warm warp-instructions/s and the
cold compile time, measured on two source trees in turns so that the machine's load affects both alike.

Usage: python benchmarks/core_refactor.py --before DIR --after DIR [--rounds N] [--no-compile] [-o OUT.json]

``DIR`` is a checkout of gpusim (e.g. ``git archive <commit> | tar -x -C DIR``).  Per tree and round, in
a fresh process with ``PYTHONPATH=DIR``:
* ``ffma``: compute-bound microbenchmark trace (benchmarks/sim_speed.py's, RTX 3070 config, 69 CTAs x 8
  warps x 704 FFMAs), one thread;
* ``saxpy``: DRAM-bound microbenchmark trace (same file, 640 CTAs x 8 warps), one thread;
* ``gemm``: gpusim's own mma.sync GEMM 512 x 512 x 512 walked from its SASS (RTX 3070 config), one thread;
each the best of 3 runs after a warm-up run (pack + run, as sim_speed.py measures), in CPU seconds of
the process (``time.process_time``: one thread, so CPU time is its run time without the waits a loaded
machine adds; wall time on a shared 2-core machine varied by more than the effect measured);
* ``compile``: CPU (and wall) seconds of a process that imports gpusim and runs the bundled vecadd trace
  once with an empty ``NUMBA_CACHE_DIR``: the cold compile of the core (plus the memory system and trace
  scanner, alike in both trees) and a millisecond-scale simulation.
The machine is shared: the load average is recorded with each number; compare rounds, not one pair.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARM = r'''
import json, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, os.path.join(os.environ["PYTHONPATH"], "benchmarks"))
from gpusim import assemble, api
from gpusim.config import load_config
from gpusim.frontend.microasm import build
from gpusim.frontend.workload import open_workload
import sim_speed, llm_speed

def best(fn, n=3):
    # CPU seconds of this process (one thread): far less sensitive than wall time to other processes
    # sharing the machine
    fn()
    ts = []
    for _ in range(n):
        t = time.process_time(); fn(); ts.append(time.process_time() - t)
    return min(ts)

out = {}
cfg = load_config("rtx3070")
with tempfile.TemporaryDirectory() as d:
    for name, prog, ctas in (("ffma", sim_speed.ffma_program(704), 69),
                             ("saxpy", sim_speed.saxpy_program(16, 640 * 8), 640)):
        build(prog, Path(d) / name, warps_per_cta=8, ctas=ctas, name=name)
        wl = open_workload(Path(d) / name)
        kts = [wl.load(k) for k in wl.kernels]
        fns = [api.join_control_bits(kt, api.find_listing(k.path, None))[1] for k, kt in zip(wl.kernels, kts)]
        cyc = []
        def one():
            cyc.clear()
            for kt, fn in zip(kts, fns):
                r = assemble.pack(cfg, kt, fn)
                cyc.append(assemble.run(r, kt)[1])
        s = best(one)
        n = sum(kt.warp_instructions for kt in kts)
        out[name] = {"seconds": s, "warp_instructions": int(n), "cycles": int(sum(cyc)),
                     "warp_instructions_per_second": n / s, "load": os.getloadavg()[0]}
from gpusim.frontend.reader import intern_opcodes
from gpusim.llm import kernels as K
gcfg = load_config("rtx3070")
call = K.gemm(K.arch_for_binary_version(gcfg.compute_capability), 512, 512, 512, *llm_speed.PTRS)
kt = call.trace()
intern_opcodes(kt)
cyc = []
def one():
    cyc.clear()
    r = assemble.pack(gcfg, kt, call.kernel.function)
    cyc.append(assemble.run(r, kt)[1])
s = best(one)
n = int(kt.warp_instructions)
out["gemm"] = {"seconds": s, "warp_instructions": n, "cycles": int(cyc[0]),
               "warp_instructions_per_second": n / s, "load": os.getloadavg()[0]}
print(json.dumps(out))
'''

COLD = r'''
import json, time
t, p = time.perf_counter(), time.process_time()
from gpusim import api
from gpusim.config import load_config
api.simulate("traces/examples/vecadd-sm86", load_config("rtx3070"), use_cache=False)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - p}))
'''


def _py(tree: Path, code: str, env_extra: dict | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree), **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, type=Path)
    ap.add_argument("--after", required=True, type=Path)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of warm measurements")
    ap.add_argument("--compile-rounds", type=int, default=1)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-warm", action="store_true")
    ap.add_argument("-o", "--output")
    a = ap.parse_args(argv)
    trees = {"before": a.before.resolve(), "after": a.after.resolve()}
    res = {k: {"warm": [], "compile_seconds": []} for k in trees}
    for rnd in range(max(a.rounds, a.compile_rounds)):
        for k, tree in trees.items():
            if not a.no_warm and rnd < a.rounds:
                w = json.loads(_py(tree, WARM))
                res[k]["warm"].append(w)
                print(f"round {rnd} {k}: " + ", ".join(f"{n} {v['warp_instructions_per_second']:,.0f} warp-inst/s "
                                                      f"(load {v['load']:.1f})" for n, v in w.items()), file=sys.stderr)
            if not a.no_compile and rnd < a.compile_rounds:
                with tempfile.TemporaryDirectory() as d:
                    t0 = os.getloadavg()[0]
                    c = json.loads(_py(tree, COLD, {"NUMBA_CACHE_DIR": d}))
                res[k]["compile_seconds"].append({"cpu_seconds": c["cpu"], "wall_seconds": c["wall"], "load": t0})
                print(f"round {rnd} {k}: cold compile + vecadd {c['cpu']:.1f} CPU s, {c['wall']:.1f} wall s "
                      f"(load {t0:.1f})", file=sys.stderr)
    summary = {}
    for k in trees:
        summ = {}
        if res[k]["warm"]:
            for n in res[k]["warm"][0]:
                summ[f"{n}_warp_instructions_per_second_best"] = max(w[n]["warp_instructions_per_second"]
                                                                     for w in res[k]["warm"])
        if res[k]["compile_seconds"]:
            summ["cold_compile_cpu_seconds_best"] = min(c["cpu_seconds"] for c in res[k]["compile_seconds"])
        summary[k] = summ
    out = {"rounds": res, "summary": summary, "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M")}
    text = json.dumps(out, indent=1)
    print(json.dumps(summary, indent=1))
    if a.output:
        Path(a.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build time and interpolation error of the serving step-time model (issue 20).

    PYTHONPATH=. python benchmarks/serve_steptime.py [--model llama-2-7b] [--gpu a100-sxm4-80gb] [--sample 4]
        [--held-out 4] [--cache-dir DIR] [-o benchmarks/results/serve_steptime_a100.json]

Builds the step-time model (:func:`gpusim.serve.steptime.build`, default grid) from an empty cache
directory (``--cache-dir``, default a new temporary one; give ``GPUSIM_CACHE_DIR``'s value to keep the
model for ``gpusim serve``) and writes:

* ``build``: CPU and wall seconds of the grid, distinct kernel launches simulated and reused, and the
  CPU seconds of every simulated kernel (``kernels``) with the grid steps that use it;
* ``without_reuse_estimate``: what the same grid costs when every step simulates its own distinct
  kernels (the build before the kernel cache): the sum over grid steps of the measured CPU seconds of
  the kernels each step runs -- an estimate from this run's per-kernel costs, not a second build;
* ``held_out``: the interpolation error at the seeded held-out steps, each simulated directly
  (``gpusim llm``, no kernel reuse), and the CPU seconds that took.

CPU seconds are ``time.process_time`` of this process (the machine is shared; wall seconds depend on
the load and are reported for information).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="llama-2-7b")
    ap.add_argument("--gpu", default="a100-sxm4-80gb")
    ap.add_argument("--sample", type=int, default=4)
    ap.add_argument("--held-out", type=int, default=4)
    ap.add_argument("--cache-dir", help="cache directory (must not hold this machine's kernels for a cold build)")
    ap.add_argument("--first-grid", default="prefill=32,512:batch=1,32:context=128,4096",
                    help="a coarser grid built (and its held-out steps measured) before the default grid, whose "
                         "steps the default grid reuses ('' for none)")
    ap.add_argument("--first-held-out", type=int, default=2)
    ap.add_argument("--prior-cpu-seconds", type=float, default=0.0,
                    help="CPU seconds of an earlier run of this script on the same --cache-dir whose kernels this one "
                         "finds cached (ps TIME of the stopped process)")
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "serve_steptime_a100.json"))
    a = ap.parse_args()
    os.environ["GPUSIM_CACHE_DIR"] = a.cache_dir or tempfile.mkdtemp(prefix="gpusim-steptime-")

    import gpusim.llm.machines as machines
    import gpusim.llm.run as R
    from gpusim.serve import steptime as ST

    cpu: dict[str, float] = {}         # kernel key -> CPU seconds of its simulation
    uses: dict[str, list[str]] = {}    # kernel key -> grid steps that run it
    state.update(step=None, last=0.0)
    sim_kernel, run_gpu = R.simulate_kernel, machines.run_gpu
    get, put = ST.KernelCache.get, ST.KernelCache.put

    def timed_kernel(*args, **kw):
        c = time.process_time()
        r = sim_kernel(*args, **kw)
        state["last"] = time.process_time() - c
        return r

    def logged_run(model, step, cfg, **kw):
        state["step"] = step if "kernel_cache" in kw else None       # held-out steps run without the cache
        try:
            return run_gpu(model, step, cfg, **kw)
        finally:
            state["step"] = None

    def logged_get(self, key):
        r = get(self, key)
        if r is not None and state["step"]:
            uses.setdefault(repr(key), []).append(state["step"])
        return r

    def logged_put(self, key, result):
        put(self, key, result)
        cpu[repr(key)] = state["last"]
        uses.setdefault(repr(key), []).append(state["step"])

    R.simulate_kernel, machines.run_gpu = timed_kernel, logged_run
    ST.KernelCache.get, ST.KernelCache.put = logged_get, logged_put

    prior = {}                         # kernel key -> walk + simulate wall seconds, simulated by an earlier run
    kdir = Path(os.environ["GPUSIM_CACHE_DIR"]) / "steptime" / "kernels"
    for f in kdir.glob("*/*.json"):
        d = json.loads(f.read_text())
        prior[d["key"]] = d["result"].get("walk_seconds", 0.0) + d["result"].get("simulate_seconds", 0.0)
    c0, t0 = time.process_time(), time.perf_counter()
    first = {}
    if a.first_grid:
        from gpusim.cli.serve import parse_grid

        g1 = parse_grid(a.first_grid)
        s1 = ST.build(a.model, a.gpu, sample=a.sample, held_out=0, progress=True, **g1)
        first = {"grid": a.first_grid, "cpu_seconds_since_start": round(time.process_time() - c0, 1),
                 "wall_seconds_since_start": round(time.perf_counter() - t0, 1), "kernels": dict(s1.kernels),
                 "steps": len(s1.prefill) + len(s1.decode)}
        state["first"] = first
        write(a, s1, cpu, uses, c0, t0, prior, partial=True)
        if a.first_held_out:
            held_out(a, s1, lambda: write(a, s1, cpu, uses, c0, t0, prior, partial=True), n=a.first_held_out)
            first["held_out"] = s1.interp_error
    stm = ST.build(a.model, a.gpu, sample=a.sample, held_out=0, progress=True)
    if stm.source.startswith("cache") and Path(a.output).is_file() and not a.first_grid:
        # the model was built by an earlier run of this script (its figures are in the output): held-out only
        prev = json.loads(Path(a.output).read_text())

        def save() -> None:
            e = stm.interp_error
            prev["held_out"] = {"points": e.get("points"), "pending": e.get("pending", []), "max_pct": e.get("max_pct"),
                                "mean_pct": e.get("mean_pct"), "cpu_seconds": round(e.get("cpu_seconds", 0.0), 1),
                                "wall_seconds": round(e.get("seconds", 0.0), 1), "method": e.get("method")}
            Path(a.output).write_text(json.dumps(prev, indent=1) + "\n")
        if a.held_out:
            held_out(a, stm, save)
        return 0
    write(a, stm, cpu, uses, c0, t0, prior)     # the build's figures first: the held-out steps take longer
    if a.held_out:
        held_out(a, stm, lambda: write(a, stm, cpu, uses, c0, t0, prior))
    return 0


state: dict = {}


def held_out(a, stm, save, n: int | None = None) -> None:
    """The seeded held-out steps (:func:`gpusim.serve.steptime.held_out_steps`, the same ones ``build``
    measures), each simulated directly and written as it completes (decode steps first: they are the
    cheaper ones; the error statistics cover the points done, ``held_out.pending`` lists the others)."""
    import numpy as np

    from gpusim.serve import steptime as ST

    pts = ST.held_out_steps(stm, n or a.held_out)
    order = sorted(pts, key=lambda p: not p.startswith("decode"))
    done: list[dict] = []
    c0, t0 = time.process_time(), time.perf_counter()
    for p in order:
        c1 = time.process_time()
        done += ST.check(stm, a.model, a.gpu, [p], sample=a.sample)
        state["held_cpu"] = state.get("held_cpu", 0.0) + time.process_time() - c1
        errs = [abs(x["error"]) * 100 for x in done]
        stm.interp_error = {"seed": ST.HELD_OUT_SEED, "points": list(done), "max_pct": max(errs),
                            "mean_pct": float(np.mean(errs)), "seconds": time.perf_counter() - t0,
                            "cpu_seconds": time.process_time() - c0,
                            "pending": [q for q in pts if q not in {x["step"] for x in done}],
                            "method": "each held-out step simulated directly (gpusim llm, no kernel reuse) vs the "
                                      "interpolated model"}
        print(f"  held-out {p}: {done[-1]['error']:+.1%}", file=sys.stderr, flush=True)
        ST._save(stm, ST._cache_dir() / f"{stm.key}.json")
        save()


def write(a, stm, cpu, uses, c0, t0, prior, partial: bool = False) -> None:
    total_cpu, total_wall = time.process_time() - c0, time.perf_counter() - t0
    e = stm.interp_error
    steps = len(stm.prefill) + len(stm.decode)
    # kernels an earlier (stopped) run simulated: CPU seconds = its wall seconds x that run's CPU / wall share
    pw = sum(prior.values())
    share = a.prior_cpu_seconds / pw if pw else 0.0
    cost = {**{k: w * share for k, w in prior.items()}, **cpu}
    no_reuse = sum(cost[k] * len(set(s)) for k, s in uses.items() if k in cost)
    out = {
        "what": "serving step-time model build (gpusim.serve.steptime.build, default grid) from an empty cache",
        "command": "PYTHONPATH=. python benchmarks/serve_steptime.py " + " ".join(sys.argv[1:]),
        "model": a.model, "gpu": a.gpu, "sample": a.sample,
        "grid": {"prefill_tokens": sorted(stm.prefill), "decode_batches": sorted({b for b, _ in stm.decode}),
                 "decode_contexts": sorted({c for _, c in stm.decode}), "steps": steps,
                 "complete": not partial, "default_grid": not partial},
        "first_grid": state.get("first"),
        "build": {"cpu_seconds": round(a.prior_cpu_seconds + total_cpu - state.get("held_cpu", 0.0), 1),
                  "cpu_seconds_note": "CPU of this process (and of the earlier stopped run, prior_cpu_seconds) "
                                      "building the grids, held-out steps excluded",
                  "prior_cpu_seconds": a.prior_cpu_seconds, "kernels_from_prior_run": len(prior),
                  "wall_seconds": round(total_wall, 1),
                  "distinct_kernels_simulated": len(cost),
                  "kernel_launches_reused_across_steps": sum(len(set(s)) for k, s in uses.items() if k in cost) - len(cost),
                  "kernels": sorted(({"key": k, "cpu_seconds": round(cost[k], 2), "from_prior_run": k not in cpu,
                                      "grid_steps": sorted(set(s))}
                                     for k, s in uses.items() if k in cost), key=lambda d: -d["cpu_seconds"])},
        "without_reuse_estimate": {
            "cpu_seconds": round(no_reuse, 1),
            "distinct_kernels_simulated": sum(len(set(s)) for k, s in uses.items() if k in cost),
            "method": "sum over the grid steps of the measured CPU seconds of each distinct kernel the step runs "
                      "(every step simulating its own kernels, as before the kernel cache)"},
        "held_out": {"points": e.get("points"), "pending": e.get("pending", []), "max_pct": e.get("max_pct"),
                     "mean_pct": e.get("mean_pct"),
                     "cpu_seconds": round(e.get("cpu_seconds", 0.0), 1), "wall_seconds": round(e.get("seconds", 0.0), 1),
                     "method": e.get("method")},
        "process_cpu_seconds": round(total_cpu, 1), "process_wall_seconds": round(total_wall, 1),
        "host": {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
                 "load_average_at_end": list(os.getloadavg())},
    }
    p = Path(a.output)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(out, indent=1) + "\n")
    print(f"build {out['build']['cpu_seconds']} CPU s ({out['build']['distinct_kernels_simulated']} kernels simulated, "
          f"{out['build']['kernel_launches_reused_across_steps']} reused); without reuse ~{out['without_reuse_estimate']['cpu_seconds']} "
          f"CPU s; held-out error max {e.get('max_pct')}%, mean {e.get('mean_pct')}% ({out['held_out']['cpu_seconds']} CPU s); "
          f"wrote {p}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

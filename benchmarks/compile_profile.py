"""Where the cold compile of the Numba core goes: per jitted function, the CPU seconds Numba spends
compiling it (exclusive of the functions it calls, which compile inside it) and its signatures.

Usage: PYTHONPATH=$PWD python benchmarks/compile_profile.py [--case vecadd|gemm] [--json OUT] [--top N]

Runs one simulation in a process with an empty ``NUMBA_CACHE_DIR`` (a fresh temporary folder, so the
project's cache is untouched) and records Numba's ``numba:compile`` events (``numba.core.event``): each
covers one function's compile, its callees' compiles nested inside.  CPU seconds are
``time.process_time`` of this process (Numba compiles in the calling thread)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def _short(ty) -> str:
    """A Numba type in a few characters (a state bundle by its class name)."""
    s = str(ty)
    return s.split("(", 1)[0] if len(s) > 60 else s


def _warm() -> dict:
    """Warp instructions per CPU second of the ffma and saxpy cases of benchmarks/core_refactor.py."""
    from pathlib import Path

    from gpusim import api, assemble
    from gpusim.config import load_config
    from gpusim.frontend.microasm import build
    from gpusim.frontend.workload import open_workload
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sim_speed

    def best(fn, n=5):
        fn()
        ts = []
        for _ in range(n):
            t = time.process_time()
            fn()
            ts.append(time.process_time() - t)
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

            def one():
                for kt, fn in zip(kts, fns):
                    assemble.run(assemble.pack(cfg, kt, fn), kt)
            s = best(one)
            out[name] = round(sum(kt.warp_instructions for kt in kts) / s)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="vecadd", choices=["vecadd", "gemm", "none"])
    ap.add_argument("--json")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--warm", action="store_true",
                    help="after the cold run, measure warm speed in the same process (sim_speed's ffma and "
                         "saxpy cases as benchmarks/core_refactor.py runs them: warp instructions per CPU s)")
    ap.add_argument("--keep", action="store_true",
                    help="compile into the tree's own cache folder (it must be empty) and keep it, so that "
                         "warm benchmarks of this tree need no second compile")
    a = ap.parse_args(argv)
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    if a.keep:
        import gpusim.core
        tmp = str(gpusim.core.cache_dir())
        if os.path.isdir(tmp) and os.listdir(tmp):
            sys.exit(f"{tmp} is not empty: not a cold compile")
    else:
        tmp = tempfile.mkdtemp(prefix="gpusim-cold-")
        os.environ["NUMBA_CACHE_DIR"] = tmp
    from numba.core import event as ev

    stack: list[list] = []
    rows: dict[str, dict] = {}

    class L(ev.Listener):
        def on_start(self, event):
            stack.append([event.data, time.process_time(), 0.0])

        def on_end(self, event):
            data, t0, child = stack.pop()
            incl = time.process_time() - t0
            if stack:
                stack[-1][2] += incl
            d = data["dispatcher"]
            name = f"{d.py_func.__module__.rsplit('.', 1)[-1]}.{d.py_func.__qualname__}"
            r = rows.setdefault(name, {"function": name, "compiles": 0, "exclusive_cpu_s": 0.0,
                                       "inclusive_cpu_s": 0.0})
            r["compiles"] += 1
            r["exclusive_cpu_s"] += incl - child
            r["inclusive_cpu_s"] = max(r["inclusive_cpu_s"], incl)
            r["signatures"] = len(d.signatures)
            if len(d.signatures) > 1:
                r["signature_list"] = [", ".join(_short(x) for x in s) for s in d.signatures]

    with ev.install_listener("numba:compile", L()):
        t_imp = time.process_time()
        from gpusim import api
        from gpusim.config import load_config
        import_cpu = time.process_time() - t_imp
        if a.case == "vecadd":
            api.simulate("traces/examples/vecadd-sm86", load_config("rtx3070"), use_cache=False)
        elif a.case == "gemm":
            from gpusim import assemble
            from gpusim.frontend.reader import intern_opcodes
            from gpusim.llm import kernels as K
            sys.path.insert(0, os.path.join(os.path.dirname(__file__)))
            import llm_speed
            cfg = load_config("rtx3070")
            call = K.gemm(K.arch_for_binary_version(cfg.compute_capability), 128, 128, 128, *llm_speed.PTRS)
            kt = call.trace()
            intern_opcodes(kt)
            assemble.run(assemble.pack(cfg, kt, call.kernel.function), kt)
    total_cpu = time.process_time() - t_cpu
    total_wall = time.perf_counter() - t_wall
    warm = _warm() if a.warm else None
    out = sorted(rows.values(), key=lambda r: -r["exclusive_cpu_s"])
    for r in out:
        r["exclusive_cpu_s"] = round(r["exclusive_cpu_s"], 2)
        r["inclusive_cpu_s"] = round(r["inclusive_cpu_s"], 2)
    compiled = sum(r["exclusive_cpu_s"] for r in out)
    print(f"process: {total_cpu:.1f} CPU s, {total_wall:.1f} wall s; in numba:compile {compiled:.1f} CPU s; "
          f"import gpusim.api {import_cpu:.1f} CPU s; {len(out)} functions, "
          f"{sum(r['compiles'] for r in out)} compiles")
    print(f"{'function':40s} {'excl s':>7s} {'incl s':>7s} {'compiles':>8s} {'sigs':>4s}")
    for r in out[:a.top]:
        print(f"{r['function']:40s} {r['exclusive_cpu_s']:7.2f} {r['inclusive_cpu_s']:7.2f} {r['compiles']:8d} "
              f"{r['signatures']:4d}")
    if warm:
        print("warm:", json.dumps(warm))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"case": a.case, "cpu_seconds": round(total_cpu, 1), "wall_seconds": round(total_wall, 1),
                       "numba_compile_cpu_seconds": round(compiled, 1), "warm": warm, "functions": out,
                       "load": os.getloadavg()[0]}, f, indent=1)
    if not a.keep:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

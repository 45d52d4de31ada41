"""Start-up cost of the ``gpusim`` command (issue 18 item 1 / issue 19 item 2, "fast first run").

Usage: PYTHONPATH=$PWD python benchmarks/startup.py [--runs N] [--cold] [-o benchmarks/results/startup.json]

Measures, each as the median of ``--runs`` (default 5) fresh processes started with this interpreter
(``sys.executable -m gpusim.cli``, i.e. without a pyenv/conda shim in front):

* ``python``: ``python -c pass``, the floor every command pays;
* ``import_numba``: ``python -c "import numba"``, the floor of every command that simulates;
* ``help``: ``gpusim --help`` (builds every subcommand's parser);
* ``config_list``: ``gpusim config list``;
* ``run``: the README example ``gpusim run traces/examples/vecadd-sm86 --gpu rtx3070 -o OUT`` with the
  Numba core and the parsed trace already cached (a warm run), and its split from a second, instrumented
  set of runs: ``import`` (importing ``gpusim.cli`` and ``gpusim.api``, numpy and numba with it), ``jit_load`` (Numba loading the
  cached machine code, the report's ``sim.jit_seconds``), ``simulate`` (the report's ``sim.wall_seconds``)
  and ``rest`` (config, trace, report files);
* with ``--cold``: one run on an empty Numba cache and an empty parsed-trace cache (fresh temporary
  folders via ``NUMBA_CACHE_DIR`` / ``GPUSIM_CACHE_DIR``): wall seconds and CPU seconds (user + system of
  the child), what a first run after installing costs.  One to two CPU minutes.

Children keep their bytecode (``.pyc``) in a temporary ``PYTHONPYCACHEPREFIX`` unless ``--no-bytecode``:
the development machine sets ``PYTHONDONTWRITEBYTECODE=1``, under which every process compiles
gpusim's modules from source, which an installed package never does.

The machine's 1-minute load average is recorded before and after: wall times on a shared machine
move with it; CPU seconds less so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN_ARGS = ["run", "traces/examples/vecadd-sm86", "--gpu", "rtx3070"]

#: the instrumented run: seconds from interpreter start (``time.perf_counter`` at the first line is
#: close to it; the interpreter's own start-up is the ``python`` row) to the command's first line and to
#: its end
_INSTRUMENTED = """
import json, sys, time
t0 = time.perf_counter()
from gpusim.cli import main
import gpusim.api
t1 = time.perf_counter()
rc = main(sys.argv[1:])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "main": t2 - t1, "rc": rc}))
"""


#: where the child processes keep their bytecode (a temporary folder; None: as the environment says)
_PYCACHE: str | None = None


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if _PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    env.update(extra)
    return env


def _timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, stdout) of one process."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env or _env(), capture_output=True, text=True)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p.stdout


def _median(cmd: list[str], runs: int) -> dict:
    walls, cpus = [], []
    for _ in range(runs):
        w, c, _ = _timed(cmd)
        walls.append(w)
        cpus.append(c)
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3),
            "wall_all": [round(x, 3) for x in walls]}


def _split(runs: int, out: Path) -> dict:
    """Median split of a warm run (see the module docstring)."""
    rows = []
    for _ in range(runs):
        wall, _, stdout = _timed([sys.executable, "-c", _INSTRUMENTED, *RUN_ARGS, "-o", str(out), "--quiet"])
        inner = json.loads(stdout.strip().splitlines()[-1])
        sim = json.loads((out / "report.json").read_text())["sim"]
        rows.append({"import": inner["import"], "jit_load": sim["jit_seconds"], "simulate": sim["wall_seconds"],
                     "rest": inner["main"] - sim["jit_seconds"] - sim["wall_seconds"], "wall": wall})
    return {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="also one run on empty caches (one to two CPU minutes)")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="leave PYTHONDONTWRITEBYTECODE as the environment sets it (default: the children keep "
                         "bytecode in a temporary PYTHONPYCACHEPREFIX, as an installed package has its .pyc files)")
    ap.add_argument("-o", "--output", help="write the results as JSON here")
    a = ap.parse_args(argv)
    global _PYCACHE
    py = sys.executable
    res: dict = {"command": "PYTHONPATH=$PWD python benchmarks/startup.py " + " ".join(argv or sys.argv[1:]),
                 "runs": a.runs, "python_version": sys.version.split()[0], "cpus": os.cpu_count(),
                 "load_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out"
        _PYCACHE = None if a.no_bytecode else str(Path(d) / "pycache")
        res["bytecode"] = "as the environment says" if a.no_bytecode else "cached (PYTHONPYCACHEPREFIX in a temporary folder)"
        # make sure the core and the trace are cached (and say so if this run compiled)
        w, c, _ = _timed([py, "-m", "gpusim.cli", *RUN_ARGS, "-o", str(out), "--quiet"])
        res["first_call"] = {"wall_s": round(w, 3), "cpu_s": round(c, 3),
                             "note": "cache warm-up; compiles the core if this tree's cache is empty"}
        res["python"] = _median([py, "-c", "pass"], a.runs)
        res["import_numba"] = _median([py, "-c", "import numba"], a.runs)
        res["help"] = _median([py, "-m", "gpusim.cli", "--help"], a.runs)
        res["config_list"] = _median([py, "-m", "gpusim.cli", "config", "list"], a.runs)
        res["run"] = _median([py, "-m", "gpusim.cli", *RUN_ARGS, "-o", str(out), "--quiet"], a.runs)
        res["run_split"] = _split(a.runs, out)
        if a.cold:
            numba_dir, trace_dir = Path(d) / "numba", Path(d) / "traces"
            env = _env(NUMBA_CACHE_DIR=str(numba_dir), GPUSIM_CACHE_DIR=str(trace_dir))
            w, c, _ = _timed([py, "-m", "gpusim.cli", *RUN_ARGS, "-o", str(out), "--quiet"], env)
            res["cold"] = {"wall_s": round(w, 1), "cpu_s": round(c, 1), "load": round(os.getloadavg()[0], 2)}
    res["load_after"] = round(os.getloadavg()[0], 2)
    text = json.dumps(res, indent=1)
    print(text)
    if a.output:
        Path(a.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

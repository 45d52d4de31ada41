"""The analysis subcommands of ``gpusim``: ``sweep``, ``plot``, ``validate`` and ``report``.

Single responsibility: argument parsing and console output for :mod:`gpusim.sweep`,
:mod:`gpusim.validate` and :mod:`gpusim.stats.render`.  ``register(sub)`` is called from
``gpusim.cli.build_parser``; bad input raises :class:`~gpusim.errors.GpusimError`, which
``gpusim.cli.main`` prints as one line with exit status 2.

    gpusim sweep SWEEP.yaml [-j N] [--executor local|dask://HOST:PORT] [-o OUT] [--dry-run] [--quiet]
    gpusim plot OUT --x KEY --y METRIC [--hue KEY] [--where KEY=VALUE] [--agg mean|sum|min|max] [-o PNG]
    gpusim validate SUITE.yaml [SUITE.yaml ...] [-o OUT] [--quiet]
    gpusim validate --compare OLD.json NEW.json [--threshold POINTS]
    gpusim report OUT [-o DEST]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpusim.errors import GpusimError


def _cmd_sweep(a: argparse.Namespace) -> int:
    from gpusim.sweep import load_sweep, run_sweep

    if a.jobs is not None and a.jobs < 1:
        raise GpusimError(f"-j {a.jobs}: the number of worker processes must be at least 1")
    sw = load_sweep(a.sweep)                       # every point's config is checked here
    out = Path(a.output) if a.output else Path(f"{sw.name}-sweep")
    if a.dry_run:
        print(f"{a.sweep}: {len(sw.points)} points ({sw.combine} of {', '.join(sw.axes) or 'no axes'} x "
              f"{len(sw.workloads)} workloads); all configs valid")
        for p in sw.points:
            vals = ", ".join(f"{k}={v}" for k, v in p.values.items()) or "(base)"
            print(f"  {p.index:4d} {p.point_id} {p.workload.name}: {vals}")
        return 0
    s = run_sweep(sw, out, jobs=a.jobs, executor=a.executor, quiet=a.quiet)
    if not a.quiet:
        print(f"{sw.name}: {s['points']} points, {s['ran']} simulated, {s['resumed']} already done "
              f"(resumed), {s['rows']} rows in {s['wall_seconds']:.1f} s")
        print(f"wrote {s['csv']} and {s['parquet']}")
    return 0


def _cmd_plot(a: argparse.Namespace) -> int:
    from gpusim.sweep import plot_results

    path = plot_results(a.out, a.x, a.y, a.hue, output=a.output, where=a.where or [], agg=a.agg)
    print(f"wrote {path}")
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    from gpusim import validate

    if a.compare:
        if a.suites:
            raise GpusimError("--compare OLD.json NEW.json takes no suite files")
        text, counts = validate.compare(a.compare[0], a.compare[1], threshold=a.threshold)
        print(text, end="")
        if a.output:
            p = Path(a.output)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return 0
    if not a.suites:
        raise GpusimError("validate: give one or more SUITE.yaml files, or --compare OLD.json NEW.json")
    suites = validate.load_suites(a.suites)         # references, units, configs: all checked first
    result = validate.run_validation(suites, progress=not a.quiet)
    out = Path(a.output or "validation-out")
    files = validate.write_report(result, out)
    s = result["summary"]
    sp, sc = result["summary_predictions"], result["summary_calibration"]
    if "mape" in s:
        print(f"{s['compared']} cases compared ({s['skipped']} skipped, {s['errors']} errors)")
        if "mape" in sp:
            print(f"  predictions: {sp['compared']} cases, MAPE {sp['mape']:.1f}%, median APE {sp['median_ape']:.1f}%, "
                  f"max {sp['max_ape']:.1f}% ({sp['max_ape_case']})")
        if "mape" in sc:
            print(f"  calibration (reproduces its inputs): {sc['compared']} cases, MAPE {sc['mape']:.1f}%")
    else:
        print(f"no case compared ({s['skipped']} skipped, {s['errors']} errors)")
    for r in result["cases"]:
        if r["status"] == "skipped":
            print(f"  skipped {r['suite']}/{r['id']}: {r['reason']}")
        elif r["status"] == "error":
            print(f"  error   {r['suite']}/{r['id']}: {r['reason']}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    from gpusim.stats.render import render_run_report

    files = render_run_report(a.out, a.output)
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def register(sub) -> None:
    """Add the sweep, plot, validate and report subparsers to ``gpusim``'s subparser group."""
    s = sub.add_parser("sweep", help="simulate a grid of config points x workloads into a CSV/Parquet table")
    s.add_argument("sweep", help="sweep YAML (see configs/sweeps/)")
    s.add_argument("-j", "--jobs", type=int, help="worker processes (default: all cores; 1 = in this process)")
    s.add_argument("--executor", default="local", help="local (default) or dask://HOST:PORT of a Dask scheduler")
    s.add_argument("-o", "--output", help="output folder (default: <sweep name>-sweep); re-running resumes")
    s.add_argument("--dry-run", action="store_true", help="check every point and list them; simulate nothing")
    s.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    s.set_defaults(fn=_cmd_sweep)

    p = sub.add_parser("plot", help="plot one column of a sweep table against another (PNG)")
    p.add_argument("out", help="sweep output folder, results.csv or results.parquet")
    p.add_argument("--x", required=True, help="column on the x axis (an axis key such as sm.count)")
    p.add_argument("--y", required=True, help="numeric column on the y axis (e.g. cycles, ipc)")
    p.add_argument("--hue", help="column whose values get one line (or bar colour) each")
    p.add_argument("--where", action="append", metavar="KEY=VALUE", help="keep only rows with this value (repeatable)")
    p.add_argument("--agg", default="mean", help="how rows sharing x and hue combine: mean (default), sum, min, max")
    p.add_argument("-o", "--output", help="PNG path (default: OUT/plot-Y-vs-X[-by-HUE].png)")
    p.set_defaults(fn=_cmd_plot)

    v = sub.add_parser("validate", help="compare simulated results with hardware measurements")
    v.add_argument("suites", nargs="*", metavar="SUITE.yaml", help="validation suites (validation/suites/)")
    v.add_argument("-o", "--output", help="output folder (default: validation-out); with --compare, a Markdown file")
    v.add_argument("--compare", nargs=2, metavar=("OLD.json", "NEW.json"), help="which cases got better or worse")
    v.add_argument("--threshold", type=float, default=1.0, help="APE change (points) below which a case is 'same'")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(fn=_cmd_validate)

    r = sub.add_parser("report", help="render a run's report.json as Markdown and self-contained HTML")
    r.add_argument("out", help="the folder given to gpusim run -o (or a report.json)")
    r.add_argument("-o", "--output", help="where to write report.md/.html and stalls.png (default: OUT)")
    r.set_defaults(fn=_cmd_report)

"""Combine per-suite validation results into the one report of every suite (validation/reports/suites/).

    python validation/merge_reports.py OUT SUITE_RESULT.json [SUITE_RESULT.json ...]

Each input is the ``validation.json`` of ``gpusim validate <suite>.yaml -o DIR`` (one or more suites);
cases of a suite named in a later input replace that suite's cases from earlier ones, so the suites can
be simulated in separate processes (in parallel) and merged.  OUT receives validation.json, report.md,
report.html and the plots, with the summaries recomputed from the merged cases.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gpusim.validate import write_report
from gpusim.validate.run import _groups, summarize


def merge(results: list[dict]) -> dict:
    suites: dict[str, dict] = {}
    cases: dict[str, list[dict]] = {}
    for r in results:
        for s in r["suites"]:
            suites[s["name"]] = s
            cases[s["name"]] = [c for c in r["cases"] if c["suite"] == s["name"]]
    allc = [c for name in suites for c in cases[name]]
    pred = [c for c in allc if not c.get("calibration")]
    cal = [c for c in allc if c.get("calibration")]
    head = results[-1]
    return {"gpusim_version": head["gpusim_version"], "model": head["model"], "suites": list(suites.values()),
            "summary": summarize(allc), "summary_predictions": summarize(pred), "summary_calibration": summarize(cal),
            "by_suite_predictions": _groups(pred, "suite"), "by_gpu": _groups(allc, "gpu_config"),
            "by_category": _groups(allc, "category"), "cases": allc}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    merged = merge([json.loads(Path(p).read_text()) for p in argv[1:]])
    out.mkdir(parents=True, exist_ok=True)
    write_report(merged, out)
    s = merged["summary_predictions"]
    print(f"{len(merged['cases'])} cases; prediction MAPE {s.get('mape', 0):.1f}% on {s.get('compared')}; "
          f"calibration {merged['summary_calibration'].get('compared')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

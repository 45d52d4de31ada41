"""The validation suites as a guard (issue 16).

``python -m pytest -m validation`` re-runs every suite in ``validation/suites/`` and fails when a
*prediction*'s absolute percentage error grows by more than :data:`TOLERANCE_APE_POINTS` over the
committed report (``validation/reports/suites/validation.json``), when a committed case
disappears or is no longer compared, or when a case changes role.  The default run checks, without
simulating, that the committed report is current: the same cases with the roles the sources give
today, and the README headline equal to the committed prediction summary.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gpusim import validate as v

REPO = Path(__file__).resolve().parents[1]
SUITES = sorted((REPO / "validation" / "suites").glob("*.yaml"))
COMMITTED = REPO / "validation" / "reports" / "suites" / "validation.json"
#: APE points a prediction may worsen before `-m validation` fails: the ladder's microbenchmarks are
#: deterministic, so any change is a model change; 1 point leaves room for rounding-level changes
#: (e.g. CTA-refill timing) and flags every real regression.
TOLERANCE_APE_POINTS = 1.0


def _key(r: dict) -> str:
    return f"{r['suite']}/{r['id']}"


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(COMMITTED.read_text())


def test_the_committed_report_covers_every_suite_case_with_the_role_the_sources_give_today(committed):
    """Rule: roles are decided by the code; the committed report must be regenerated when a config or
    the model starts (or stops) citing a reference row, and must hold every case of every suite."""
    suites = v.load_suites(SUITES)
    now = {f"{c.suite}/{c.id}": c.calibration for s in suites for c in s.cases}
    old = {_key(r): bool(r.get("calibration")) for r in committed["cases"]}
    assert set(now) == set(old), f"cases added {sorted(set(now) - set(old))}, removed {sorted(set(old) - set(now))}"
    flipped = sorted(k for k in now if now[k] != old[k])
    assert not flipped, f"roles changed since the committed report (regenerate it): {flipped}"


def test_the_readme_headline_is_the_committed_prediction_summary(committed):
    """README figures come from the committed report: the prediction MAPE and case count in README.md
    and validation/README.md equal ``summary_predictions``; calibration cases are reported apart."""
    sp, sc = committed["summary_predictions"], committed["summary_calibration"]
    for path in (REPO / "README.md", REPO / "validation" / "README.md"):
        text = path.read_text()
        m = re.search(r"prediction MAPE ([0-9.]+)%\s+on\s+(\d+)\s+cases", text)
        assert m, f"{path.name}: no 'prediction MAPE X% on N cases' line"
        assert float(m.group(1)) == round(sp["mape"], 1) and int(m.group(2)) == sp["compared"], path.name
        m = re.search(r"(\d+)\s+calibration cases", text)
        assert m and int(m.group(1)) == sc["compared"], path.name


@pytest.mark.validation
def test_every_suite_runs_and_no_prediction_gets_worse_than_the_committed_report(committed):
    """Rule: a model change may not silently worsen a prediction: each prediction's APE stays within
    TOLERANCE_APE_POINTS of the committed report, every committed case still runs and compares."""
    res = v.run_validation(v.load_suites(SUITES), progress=False)
    new = {_key(r): r for r in res["cases"]}
    problems = []
    for r in committed["cases"]:
        k = _key(r)
        n = new.get(k)
        if n is None:
            problems.append(f"{k}: disappeared")
            continue
        if r["status"] == "ok" and n["status"] != "ok":
            problems.append(f"{k}: no longer compared ({n['status']}: {n.get('reason', '')})")
            continue
        if bool(n.get("calibration")) != bool(r.get("calibration")):
            problems.append(f"{k}: role changed")
        if n["status"] == "ok" and not n.get("calibration") and r["status"] == "ok" \
                and n["ape"] > r["ape"] + TOLERANCE_APE_POINTS:
            problems.append(f"{k}: APE {r['ape']:.1f}% -> {n['ape']:.1f}%")
    assert not problems, "; ".join(problems)

"""Running a suite's cases and the error statistics."""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import numpy as np

from gpusim.errors import GpusimError
from gpusim.validate.references import _rel
from gpusim.validate.suite import Case, Suite
from gpusim.validate.units import convert, convertible, parse_unit


# ----------------------------------------------------------------------------------------------
# Running.


def _run_case(case: Case) -> dict:
    """One case: its workload's ``validation_values`` on the case's config, converted to the reference's unit."""
    from gpusim.config import load_config

    ref = case.reference
    out: dict[str, Any] = {
        "suite": case.suite, "id": case.id, "category": case.category, "gpu_config": case.gpu,
        "overrides": case.overrides, "workload": case.workload.describe(), "note": case.note, "where": case.where,
        "calibration": case.calibration, "role": "calibration" if case.calibration else "prediction",
        "cited_by": list(case.cited_by), "reference": dataclasses.asdict(ref),
    }
    if case.skip_reason:
        out.update(status="skipped", reason=case.skip_reason)
        return out
    try:
        wl = case.workload
        cfg = load_config(case.gpu, case.overrides) if getattr(wl, "uses_gpu_config", True) else None
        natives, out["runs"] = wl.validation_values(cfg, case.metric, case.work)
        ref_unit = parse_unit(ref.unit)
        value, unit = next((v, u) for v, u in natives if convertible(parse_unit(u), ref_unit))
        out["gpu"] = cfg.name if cfg is not None else case.gpu
        out["simulated_native"] = {"value": value, "unit": unit}
        if cfg is None:            # an RDU preset: its natives are seconds, rates and ratios
            sim = convert(value, unit, ref_unit, clock_hz=1.0, sm_count=1)
        elif not math.isfinite(value):
            out.update(status="error", reason="the simulation gave no finite result (scale-2 run not slower)")
            return out
        else:
            sim = convert(value, unit, ref_unit, clock_hz=cfg.sm.clock_hz, sm_count=cfg.sm.count)
        err = (sim - ref.value) / ref.value * 100.0 if ref.value else float("nan")
        out.update(status="ok", simulated=sim, unit=ref.unit, error_pct=err, ape=abs(err))
    except GpusimError as e:
        out.update(status="error", reason=str(e))
    return out            # no wall times: the committed validation.json changes only when results do


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def summarize(results: list[dict]) -> dict:
    ok = [r for r in results if r["status"] == "ok"]
    s: dict[str, Any] = {"cases": len(results), "compared": len(ok),
                         "skipped": sum(r["status"] == "skipped" for r in results),
                         "errors": sum(r["status"] == "error" for r in results)}
    if ok:
        ape = np.array([r["ape"] for r in ok])
        sim = np.array([r["simulated"] for r in ok])
        ref = np.array([r["reference"]["value"] for r in ok])
        s.update(mape=float(ape.mean()), median_ape=float(np.median(ape)), p90_ape=float(np.percentile(ape, 90)),
                 max_ape=float(ape.max()), max_ape_case=f"{ok[int(ape.argmax())]['suite']}/{ok[int(ape.argmax())]['id']}",
                 mean_signed_error=float(np.mean([r["error_pct"] for r in ok])),
                 pearson_r=_pearson(sim, ref),
                 pearson_r_log=_pearson(np.log10(sim), np.log10(ref)) if (sim > 0).all() and (ref > 0).all() else None,
                 within_10pct=int((ape <= 10).sum()), within_25pct=int((ape <= 25).sum()))
    return s


def _groups(results: list[dict], key: str) -> dict[str, dict]:
    out = {}
    for g in sorted({str(r.get(key) or r.get("gpu_config")) for r in results}):
        sub = [r for r in results if str(r.get(key) or r.get("gpu_config")) == g]
        out[g] = summarize(sub)
    return out


def run_validation(suites: list[Suite], *, progress: bool = True) -> dict:
    """Simulate every case; the result dict is what ``validation.json`` holds."""
    import gpusim
    from gpusim import api

    cases = [c for s in suites for c in s.cases]
    from tqdm import tqdm

    results = []
    bar = tqdm(cases, desc="validate", unit="case", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for c in bar:
        bar.set_postfix_str(f"{c.suite}/{c.id}")
        results.append(_run_case(c))
    bar.close()
    return {
        "gpusim_version": gpusim.__version__, "model": getattr(api, "MODEL_NAME", "?"),
        "suites": [{"name": s.name, "path": _rel(s.path), "description": s.description, "cases": len(s.cases)} for s in suites],
        "summary": summarize(results),
        "summary_predictions": summarize([r for r in results if not r.get("calibration")]),
        "summary_calibration": summarize([r for r in results if r.get("calibration")]),
        "by_suite_predictions": _groups([r for r in results if not r.get("calibration")], "suite"),
        "by_gpu": _groups(results, "gpu_config"),
        "by_category": _groups(results, "category"),
        "cases": results,
    }

"""Reading a suite: cases, references and units checked before anything runs."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


from gpusim.config.yamlio import check_keys, load_yaml
from gpusim.errors import ConfigError
from gpusim.sweep.workloads import SERVE_METRICS, TRACE_METRICS, parse_workload
from gpusim.validate.rdu import RduWorkload
from gpusim.validate.references import REFERENCE_DIR, Reference, ValidationError, _config_exists, _err, load_references
from gpusim.validate.roles import _citations, _role, cited_rows
from gpusim.validate.units import convertible, parse_unit


# ----------------------------------------------------------------------------------------------
# Suites.

_METRICS = TRACE_METRICS
_WORK = re.compile(r"^\s*([0-9.]+(?:[eE][+-]?\d+)?)\s+(.+?)\s*$")


@dataclasses.dataclass
class Case:
    suite: str
    id: str
    reference: Reference
    category: str
    gpu: str
    overrides: list[str]
    workload: Any
    metric: str
    work: tuple[float, str] | None
    note: str
    where: str
    skip_reason: str | None = None
    native_units: tuple[str, ...] = ()
    calibration: bool = False          # role: the config or the model takes a value from this reference row
    cited_by: tuple[str, ...] = ()     # file:line of every config / ISA table / model source citing the row


@dataclasses.dataclass
class Suite:
    path: Path
    name: str
    description: str
    cases: list[Case]


_SUITE_KEYS = ("suite", "description", "gpu", "missing_config", "references", "cases")
_CASE_KEYS = ("id", "reference", "category", "workload", "gpu", "set", "metric", "work", "note", "calibration")


def load_suites(paths: list[str | Path], reference_files: list[Path] | None = None) -> list[Suite]:
    """Read and check suites: every reference id, unit conversion, config and workload."""
    suites = []
    seen_names: dict[str, Path] = {}
    for path in paths:
        s = _load_suite(Path(path), reference_files)
        if s.name in seen_names:
            raise ValidationError(f"{path}: suite name {s.name!r} is also used by {seen_names[s.name]}")
        seen_names[s.name] = s.path
        suites.append(s)
    return suites


def _load_suite(path: Path, reference_files: list[Path] | None) -> Suite:
    from gpusim.config import load_config

    data, lines = load_yaml(path, "suite file")
    if not isinstance(data, Mapping):
        raise ValidationError(f"{path}:1: a suite is a mapping with gpu, references and cases")
    check_keys(data, _SUITE_KEYS, lines, (), required=("cases",))
    name = str(data.get("suite") or path.stem)
    missing_mode = data.get("missing_config", "error")
    if missing_mode not in ("error", "skip"):
        raise _err(lines, ("missing_config",), f"expected error or skip, got {missing_mode!r}")
    ref_spec = data.get("references")
    if ref_spec is None:
        files = reference_files or sorted(REFERENCE_DIR.glob("*.csv"))
    else:
        if isinstance(ref_spec, str):
            ref_spec = [ref_spec]
        if not isinstance(ref_spec, list):
            raise _err(lines, ("references",), "expected a list of CSV paths")
        files = []
        for i, f in enumerate(ref_spec):
            p = (path.parent / str(f)) if not Path(str(f)).is_absolute() else Path(str(f))
            if not p.is_file():
                raise _err(lines, ("references", i), f"no such reference file: {f} (looked for {p})")
            files.append(p)
    refs = load_references(files)
    default_gpu = data.get("gpu")
    cases_data = data["cases"]
    if not isinstance(cases_data, list) or not cases_data:
        raise _err(lines, ("cases",), "expected a non-empty list of cases")
    cases: list[Case] = []
    ids: set[str] = set()
    cfg_cache: dict = {}
    for i, c in enumerate(cases_data):
        kp = ("cases", i)
        if not isinstance(c, Mapping):
            raise _err(lines, kp, f"a case is a mapping with id, reference and workload, got {c!r}")
        check_keys(c, _CASE_KEYS, lines, kp, required=("id", "reference", "workload"))
        cid = str(c["id"])
        if cid in ids:
            raise _err(lines, (*kp, "id"), f"duplicate case id {cid!r}")
        ids.add(cid)
        rid = c["reference"]
        if not isinstance(rid, str) or rid not in refs:
            close = difflib.get_close_matches(str(rid), list(refs), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            srcs = ", ".join(str(f) for f in files)
            raise _err(lines, (*kp, "reference"), f"unknown reference id {rid!r} (not in {srcs}){hint}")
        ref = refs[rid]
        try:
            ref_unit = parse_unit(ref.unit)
        except ValueError as e:
            raise _err(lines, (*kp, "reference"), f"{rid} ({ref.where}): {e}") from None
        w = c["workload"]
        if isinstance(w, Mapping) and "rdu" in w:
            wl = RduWorkload.parse(w["rdu"], {k: v for k, v in w.items() if k != "rdu"}, lines, (*kp, "workload"))
        else:
            wl = parse_workload(w, lines, (*kp, "workload"), path.parent)
        if wl.kind == "serve":
            metric = c.get("metric", "capacity" if wl.find_capacity else None)
            if metric not in SERVE_METRICS:
                raise _err(lines, (*kp, "metric"), f"a serve case needs metric: one of {', '.join(SERVE_METRICS)}, "
                                                   f"got {metric!r}")
            if len(wl.policies) != 1 or (metric == "capacity") != (wl.find_capacity and not wl.rates) \
                    or (metric != "capacity" and len(wl.rates) != 1):
                raise _err(lines, (*kp, "workload"), "a serve case names one policy and either find_capacity "
                                                     "(metric capacity, no rates) or one rate (the other metrics)")
        else:
            metric = c.get("metric", "kernel_cycles")
            if metric not in _METRICS:
                raise _err(lines, (*kp, "metric"), f"expected one of {', '.join(_METRICS)}, got {metric!r}")
        if "metric" in c and wl.kind not in ("trace", "serve"):     # the other kinds derive their own result
            raise _err(lines, (*kp, "metric"), f"a {wl.kind} workload derives its own result; 'metric' is for traces")
        work = None
        if "work" in c:
            m = _WORK.match(str(c["work"]))
            if not m:
                raise _err(lines, (*kp, "work"), f"expected '<amount> <unit>' like '2.0e9 flop', got {c['work']!r}")
            try:
                wu = parse_unit(m.group(2))
            except ValueError as e:
                raise _err(lines, (*kp, "work"), str(e)) from None
            if wu.dim("s") or wu.dim("cycle"):
                raise _err(lines, (*kp, "work"), f"work is an amount (flop, B, token, inst), not a rate: {c['work']!r}")
            work = (float(m.group(1)), m.group(2))
        native = tuple(wl.native_units(metric, work))   # the kind's units (sweep/workloads.py)
        if not any(convertible(parse_unit(u), ref_unit) for u in native):
            raise _err(lines, (*kp, "reference"),
                       f"cannot convert the simulated {' or '.join(native)} of this workload to {rid}'s unit "
                       f"'{ref.unit}' ({ref.metric})")
        declared = c.get("calibration")
        if declared is not None and not isinstance(declared, bool):
            raise _err(lines, (*kp, "calibration"), f"expected true or false, got {declared!r}")
        if wl.kind == "rdu":       # an RDU preset, not a GPU config: roles from the preset chain and the code
            if "gpu" in c or "set" in c:
                raise _err(lines, (*kp, "gpu") if "gpu" in c else (*kp, "set"),
                           "an rdu workload names its preset (and set) inside the workload")
            cited = _role(ref, refs, _citations(wl.model_sources()))
            if declared is False and cited:
                raise _err(lines, (*kp, "calibration"),
                           f"marked a prediction (calibration: false) but {rid} is cited by the model's sources: "
                           f"{', '.join(cited[:3])}")
            cases.append(Case(suite=name, id=cid, reference=ref, category=str(c.get("category") or wl.kind),
                              gpu=wl.preset, overrides=list(wl.overrides), workload=wl, metric=metric, work=work,
                              note=str(c.get("note") or ""), where=lines.at(kp), native_units=native,
                              calibration=bool(cited) or declared is True, cited_by=cited))
            continue
        gpu = c.get("gpu", default_gpu)
        if not isinstance(gpu, str):
            raise _err(lines, (*kp, "gpu") if "gpu" in c else ("gpu",), "every case needs a GPU config (suite 'gpu' or case 'gpu')")
        sets = c.get("set") or []
        if isinstance(sets, str):
            sets = [sets]
        skip = None
        if not _config_exists(gpu):
            if missing_mode == "skip":
                skip = f"no config '{gpu}' in configs/ yet"
            else:
                try:
                    load_config(gpu)
                except ConfigError as e:
                    raise _err(lines, (*kp, "gpu") if "gpu" in c else ("gpu",), str(e)) from None
        if skip is None:
            key = (gpu, tuple(sets))
            if key not in cfg_cache:
                try:
                    cfg_cache[key] = load_config(gpu, sets)
                except ConfigError as e:
                    raise _err(lines, (*kp, "set") if sets else (*kp, "gpu"), str(e)) from None
        cfg = cfg_cache.get((gpu, tuple(sets))) if skip is None else None
        cited = _role(ref, refs, cited_rows(cfg, gpu)) if cfg is not None else ()
        if declared is False and cited:
            raise _err(lines, (*kp, "calibration"),
                       f"marked a prediction (calibration: false) but {rid} is cited by the model's sources: "
                       f"{', '.join(cited[:3])}; a prediction's reference row must not be cited by a config, ISA "
                       f"table or model constant")
        cases.append(Case(suite=name, id=cid, reference=ref, category=str(c.get("category") or wl.kind), gpu=gpu,
                          overrides=list(sets), workload=wl, metric=metric, work=work, note=str(c.get("note") or ""),
                          where=lines.at(kp), skip_reason=skip, native_units=native,
                          calibration=bool(cited) or declared is True, cited_by=cited))
    return Suite(path=path, name=name, description=str(data.get("description") or ""), cases=cases)

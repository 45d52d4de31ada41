"""Accuracy validation: simulate suite cases, compare with measured hardware numbers, report errors.

Single responsibility: read validation suites (``validation/suites/*.yaml``) and reference
measurements (``validation/reference/*.csv``), check *everything* before the first simulation
(reference ids, unit conversions, configs, workloads), run the cases, convert each simulated
result to the reference's metric and unit, and compute the error statistics.  Rendering lives
in :func:`write_report` (Markdown, self-contained HTML, PNG plots through
:mod:`gpusim.stats.render`).

A suite::

    suite: ladder-a100                 # optional; default: the file's stem
    gpu: a100-sxm4-80gb                # default config of the cases
    missing_config: error              # or skip: cases whose config does not exist are skipped
    references: [../reference/a100.csv]  # optional; default: every CSV in validation/reference/
    cases:
      - id: l2-latency                 # unique within the suite
        reference: HW062               # a row id of a reference CSV
        category: mem_latency          # colour in the plots (default: the workload kind)
        workload: {microbench: pointer_chase, params: {working_set: 4 MiB}}
        gpu: ..., set: [KEY=VALUE], note: "..."   # optional
      - id: vecadd-time
        reference: X001
        workload: {trace: traces/examples/vecadd-sm86}
        metric: kernel_cycles          # or total_cycles (launch latency included)
        work: 2.0e9 flop               # optional: the result is work / time (flop, B, token, inst)

Units (reference column ``unit`` and simulated results) are products of words separated by
``/`` or ``per``: times (``s ms us ns ps``, ``cycles``/``clk``), data (``B KB MB GB TB KiB MiB
GiB``), work (``flop``, ``op``, ``FMA`` = 2 flop, ``inst``, ``warp-inst``, ``token(s)``), rates
(``TFLOPS GFLOPS TOPS``), ``SM``, ``%`` and ``x``.  Cycles convert to seconds with the case's
``sm.clock``; a per-SM quantity converts to a whole-GPU one with its ``sm.count``.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gpusim.errors import ConfigError, GpusimError
from gpusim.sweep import REPO_ROOT, Lines, SweepError, check_keys, load_yaml, parse_workload

__all__ = [
    "ValidationError",
    "Unit",
    "parse_unit",
    "convert",
    "Reference",
    "load_references",
    "Suite",
    "Case",
    "load_suites",
    "run_validation",
    "summarize",
    "compare",
    "write_report",
]

REFERENCE_DIR = REPO_ROOT / "validation" / "reference"
REFERENCE_COLUMNS = ("id", "gpu", "metric", "value", "unit", "conditions", "source")


class ValidationError(SweepError):
    """A bad suite, reference file or unit; the message names the file:line and key path."""


# ----------------------------------------------------------------------------------------------
# Units.

_DIMS = ("s", "cycle", "byte", "op", "inst", "token", "sm")
_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_WORDS: dict[str, tuple[float, dict[str, int]]] = {
    "s": (1.0, {"s": 1}), "sec": (1.0, {"s": 1}), "ms": (1e-3, {"s": 1}), "us": (1e-6, {"s": 1}),
    "ns": (1e-9, {"s": 1}), "ps": (1e-12, {"s": 1}),
    "cycle": (1.0, {"cycle": 1}), "cycles": (1.0, {"cycle": 1}), "clk": (1.0, {"cycle": 1}),
    "clock": (1.0, {"cycle": 1}), "clocks": (1.0, {"cycle": 1}),
    "B": (1.0, {"byte": 1}), "byte": (1.0, {"byte": 1}), "bytes": (1.0, {"byte": 1}),
    "KiB": (2.0**10, {"byte": 1}), "MiB": (2.0**20, {"byte": 1}), "GiB": (2.0**30, {"byte": 1}),
    "TiB": (2.0**40, {"byte": 1}),
    "flop": (1.0, {"op": 1}), "flops": (1.0, {"op": 1}), "op": (1.0, {"op": 1}), "ops": (1.0, {"op": 1}),
    "FMA": (2.0, {"op": 1}), "fma": (2.0, {"op": 1}),
    "inst": (1.0, {"inst": 1}), "insts": (1.0, {"inst": 1}), "warp-inst": (1.0, {"inst": 1}),
    "token": (1.0, {"token": 1}), "tokens": (1.0, {"token": 1}),
    "SM": (1.0, {"sm": 1}),
    "%": (0.01, {}), "x": (1.0, {}),
}
for _p, _f in _SI.items():
    if _p:
        _WORDS[f"{_p}B"] = (_f, {"byte": 1})
    _WORDS[f"{_p}FLOPS"] = (_f, {"op": 1, "s": -1})
    _WORDS[f"{_p}OPS"] = (_f, {"op": 1, "s": -1})


@dataclasses.dataclass(frozen=True)
class Unit:
    text: str
    scale: float
    dims: tuple[tuple[str, int], ...]      # sorted non-zero exponents

    def dim(self, name: str) -> int:
        return dict(self.dims).get(name, 0)

    def physical(self) -> tuple[tuple[str, int], ...]:
        """Dimensions once cycles are seconds and 'per SM' is a share of the GPU."""
        d = dict(self.dims)
        cyc = d.pop("cycle", 0)
        d.pop("sm", None)
        if cyc:
            d["s"] = d.get("s", 0) + cyc
        return tuple(sorted((k, v) for k, v in d.items() if v))


def parse_unit(text: Any) -> Unit:
    """``'flop/clk/SM'`` -> Unit.  ValueError with the reason for an unknown word."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a unit string, got {text!r}")
    t = re.sub(r"\s+per\s+", "/", text.strip())
    parts = [p.strip() for p in t.split("/")]
    if any(not p for p in parts):
        raise ValueError(f"bad unit {text!r}")
    scale = 1.0
    dims: dict[str, int] = {}
    for i, part in enumerate(parts):
        sign = 1 if i == 0 else -1
        for word in part.split():
            if word not in _WORDS:
                close = difflib.get_close_matches(word, list(_WORDS), n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ValueError(f"unknown unit word {word!r} in {text!r}{hint}")
            f, d = _WORDS[word]
            scale *= f ** sign
            for k, v in d.items():
                dims[k] = dims.get(k, 0) + sign * v
    return Unit(text, scale, tuple(sorted((k, v) for k, v in dims.items() if v)))


def convertible(a: Unit, b: Unit) -> bool:
    return a.physical() == b.physical()


def convert(value: float, src: Unit | str, dst: Unit | str, *, clock_hz: float, sm_count: int) -> float:
    """Convert ``value`` from ``src`` to ``dst``; cycles use ``clock_hz``, SM shares ``sm_count``."""
    a = src if isinstance(src, Unit) else parse_unit(src)
    b = dst if isinstance(dst, Unit) else parse_unit(dst)
    if not convertible(a, b):
        raise ValueError(f"cannot convert {a.text} to {b.text}")

    def to_base(u: Unit) -> float:
        f = u.scale
        f *= (1.0 / clock_hz) ** u.dim("cycle")
        f *= (1.0 / sm_count) ** u.dim("sm")
        return f

    return value * to_base(a) / to_base(b)


# ----------------------------------------------------------------------------------------------
# References.


@dataclasses.dataclass(frozen=True)
class Reference:
    id: str
    gpu: str
    metric: str
    value: float
    unit: str
    conditions: str
    source: str
    where: str                 # file:line


def load_references(paths: list[Path]) -> dict[str, Reference]:
    refs: dict[str, Reference] = {}
    for path in paths:
        try:
            text = path.read_text()
        except OSError as e:
            raise ValidationError(f"{path}: cannot read the reference file: {e.strerror or e}") from None
        reader = csv.reader(text.splitlines(keepends=True))
        try:
            header = next(reader)
        except StopIteration:
            raise ValidationError(f"{path}:1: empty reference file (header {','.join(REFERENCE_COLUMNS)} expected)") from None
        missing = [c for c in REFERENCE_COLUMNS if c not in header]
        if missing:
            raise ValidationError(f"{path}:1: missing column(s) {', '.join(missing)} "
                                  f"(a reference CSV has {','.join(REFERENCE_COLUMNS)})")
        col = {c: header.index(c) for c in REFERENCE_COLUMNS}
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise ValidationError(f"{path}:{line}: bad CSV: {e}") from None
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise ValidationError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
            r = {c: row[i].strip() for c, i in col.items()}
            where = f"{path}:{line}"
            if not r["id"]:
                raise ValidationError(f"{where}: empty id")
            try:
                value = float(r["value"])
            except ValueError:
                raise ValidationError(f"{where}: {r['id']}: value {r['value']!r} is not a number") from None
            if r["id"] in refs:
                raise ValidationError(f"{where}: duplicate reference id {r['id']} (first at {refs[r['id']].where})")
            refs[r["id"]] = Reference(r["id"], r["gpu"], r["metric"], value, r["unit"], r["conditions"], r["source"], where)
    return refs


# ----------------------------------------------------------------------------------------------
# Suites.

_METRICS = {"kernel_cycles": "sum of the kernels' cycles (launch latency excluded)",
            "total_cycles": "the run's total cycles (launch latency included)"}
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


def _config_exists(name: str) -> bool:
    from gpusim.config import find_config

    try:
        find_config(name)
        return True
    except ConfigError:
        return False


def _native_units(case_wl, metric: str, work) -> tuple[str, ...]:
    if getattr(case_wl, "kind", "") == "microbench":
        from gpusim.microbench import BENCHES

        return BENCHES[case_wl.bench].units
    if getattr(case_wl, "kind", "") == "llm_op":
        return LLM_OP_UNITS
    if getattr(case_wl, "kind", "") == "llm_requests":
        return ("token/s", "s")
    if getattr(case_wl, "kind", "") == "llm_train":
        return ("flop/s", "s")
    if getattr(case_wl, "kind", "") == "clock":
        return ("cycles",)
    if work is not None:
        return (f"{work[1]}/clk",)
    return ("cycles",)


#: what an ``llm_op`` case yields: the operator's FLOP rate, DRAM byte rate and time
#: (``operators[0]`` of the ``gpusim llm --op`` report)
LLM_OP_UNITS = ("flop/s", "B/s", "s")


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


# ----------------------------------------------------------------------------------------------
# Roles: calibration or prediction, decided by what the model's sources cite.

#: a hardware-row id, or a range of them (``HW017-HW042``, ``HW084–HW086``)
_ROW_ID = re.compile(r"\b(HW)(\d{3})(?:\s*[-\u2013]\s*(?:HW)?(\d{3}))?\b")
#: model sources every case depends on besides its config files: the ISA tables and the model code
#: (this module only names ids as examples)
_MODEL_SOURCE_GLOBS = ("isa/*.yaml", "gpusim/**/*.py")


def _cited_in(path: Path) -> dict[str, list[str]]:
    """Row id -> ['file:line', ...] of every citation in ``path`` (ranges expanded)."""
    out: dict[str, list[str]] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    shown = _rel(path)
    for n, line in enumerate(text.splitlines(), 1):
        for m in _ROW_ID.finditer(line):
            lo = int(m.group(2))
            hi = int(m.group(3)) if m.group(3) else lo
            for k in range(lo, max(lo, hi) + 1):
                out.setdefault(f"HW{k:03d}", []).append(f"{shown}:{n}")
        for key in _paper_anchors(line):
            out.setdefault(key, []).append(f"{shown}:{n}")
    return out


#: citations of the MICRO'25 paper ("Dissecting and Modeling the Architecture of Modern GPU Cores") that
#: are not hardware-row ids: a section of its digest (research/modern-gpu-cores.md, cited as ``MGC §x.y``,
#: several as ``MGC §2.4, §4``) and a table, figure or listing of the paper (``MGC §6.2 Table 1``,
#: ``MICRO'25 Table 2``).  A reference row carrying such an anchor (in its conditions or source column)
#: records a measurement of that section / artefact, so a model source citing it takes numbers from the
#: same measurement.
_MGC_SECTIONS = re.compile(r"\bMGC((?:\s*(?:,|/|and)?\s*§\s*\d+(?:\.\d+)*)+)")
_SECTION_NUM = re.compile(r"§\s*(\d+(?:\.\d+)*)")
_PAPER_ARTEFACT = re.compile(r"\b(?:MGC|MICRO'25)\b[^;\n]{0,80}?\b(Table|Figure|Listing)\s+(\d+)")


def _paper_anchors(text: str) -> list[str]:
    """``'MGC §x.y'`` and ``"MICRO'25 Table n"`` keys of the paper citations in ``text``."""
    keys = []
    for m in _MGC_SECTIONS.finditer(text):
        keys += [f"MGC §{x}" for x in _SECTION_NUM.findall(m.group(1))]
    keys += [f"MICRO'25 {m.group(1)} {m.group(2)}" for m in _PAPER_ARTEFACT.finditer(text)]
    return keys


def _anchor_citations(ref: "Reference", cited: dict[str, list[str]]) -> list[str]:
    """Where the model cites the paper section or artefact a reference row records.  A citation of a
    section covers its subsections (``MGC §1`` covers a row of ``MGC §1.2``)."""
    where: list[str] = []
    for key in dict.fromkeys(_paper_anchors(f"{ref.conditions}; {ref.source}")):
        if key.startswith("MGC §"):
            sec = key[len("MGC §"):]
            for ck, locs in cited.items():
                if ck.startswith("MGC §"):
                    c = ck[len("MGC §"):]
                    if sec == c or sec.startswith(c + "."):
                        where += [f"{w} ({ck})" for w in locs]
        else:
            where += [f"{w} ({key})" for w in cited.get(key, [])]
    return where


_SOURCE_CACHE: dict[Path, dict[str, list[str]]] = {}


def _citations(paths) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for p in paths:
        p = Path(p).resolve()
        if p not in _SOURCE_CACHE:
            _SOURCE_CACHE[p] = _cited_in(p)
        for k, v in _SOURCE_CACHE[p].items():
            merged.setdefault(k, []).extend(v)
    return merged


def model_sources(cfg, config: str | Path | None = None) -> list[Path]:
    """The files a simulation with ``cfg`` takes numbers from: the config file ``config`` (name or
    path) and the files of its ``extends`` chain (from the config's provenance), the ISA tables and
    the model code."""
    files: set[Path] = set()
    if config is not None:
        from gpusim.config import find_config

        try:
            files.add(find_config(config).resolve())
        except ConfigError:
            pass
    for _, origin in getattr(cfg, "provenance", ()):
        for cand in (Path(origin), REPO_ROOT / origin):
            if cand.is_file():
                files.add(cand.resolve())
                break
    here = Path(__file__).resolve()
    for g in _MODEL_SOURCE_GLOBS:
        files.update(p.resolve() for p in REPO_ROOT.glob(g) if p.resolve() != here)
    return sorted(files)


def cited_rows(cfg, config: str | Path | None = None) -> dict[str, list[str]]:
    """Hardware-row id -> where the config (file ``config`` and its parents) or the model cites it (file:line)."""
    return _citations(model_sources(cfg, config))


def _same_measurement(ref: Reference, refs: dict[str, Reference]) -> list[str]:
    """Ids of other rows that record the same measurement (same metric, value and unit): a quote of
    the same number elsewhere is the same input."""
    return [r.id for r in refs.values() if r.id != ref.id and r.metric.strip().lower() == ref.metric.strip().lower()
            and r.value == ref.value and r.unit == ref.unit]


def _role(ref: Reference, refs: dict[str, Reference], cited: dict[str, list[str]]) -> tuple[str, ...]:
    """Where ``ref`` (or a row of the same measurement) is cited; empty: the case is a prediction."""
    where: list[str] = []
    for rid in (ref.id, *_same_measurement(ref, refs)):
        where += [f"{w} ({rid})" if rid != ref.id else w for w in cited.get(rid, [])]
    where += [w for w in _anchor_citations(ref, cited) if w not in where]
    return tuple(where)


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
        wl = parse_workload(c["workload"], lines, (*kp, "workload"), path.parent)
        metric = c.get("metric", "kernel_cycles")
        if metric not in _METRICS:
            raise _err(lines, (*kp, "metric"), f"expected one of {', '.join(_METRICS)}, got {metric!r}")
        if "metric" in c and wl.kind in ("microbench", "llm_op", "llm_requests", "llm_train", "clock"):
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
        native = _native_units(wl, metric, work)
        if not any(convertible(parse_unit(u), ref_unit) for u in native):
            raise _err(lines, (*kp, "reference"),
                       f"cannot convert the simulated {' or '.join(native)} of this workload to {rid}'s unit "
                       f"'{ref.unit}' ({ref.metric})")
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
        declared = c.get("calibration")
        if declared is not None and not isinstance(declared, bool):
            raise _err(lines, (*kp, "calibration"), f"expected true or false, got {declared!r}")
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


def _err(lines: Lines, kp: tuple, msg: str) -> ValidationError:
    e = lines.error(kp, msg)
    return ValidationError(str(e))


# ----------------------------------------------------------------------------------------------
# Running.


def _run_case(case: Case) -> dict:
    from gpusim import api
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
        cfg = load_config(case.gpu, case.overrides)
        if case.workload.kind == "microbench":
            m = case.workload.measure(cfg)
            natives = list(m.values)
            out["runs"] = m.runs
        elif case.workload.kind == "llm_requests":
            rep = case.workload.report(cfg)
            natives = [(rep["tokens_per_second"], "token/s"), (rep["seconds"], "s")]
            out["runs"] = [rep]
        elif case.workload.kind == "llm_train":
            rep = case.workload.report(cfg)
            tr = rep["training"]
            natives = [(tr["model_tflops_per_gpu"] * 1e12, "flop/s"), (tr["step_seconds"], "s")]
            out["runs"] = [{"step_seconds": tr["step_seconds"], "phase_seconds": tr["phase_seconds"],
                            "sampling_error": (rep.get("sampling") or {}).get("relative_error", 0.0)}]
        elif case.workload.kind == "clock":
            value, runs = case.workload.measure(cfg)
            natives = [(float(value), "cycles")]
            out["runs"] = runs
        elif case.workload.kind == "llm_op":
            rep = case.workload.report(cfg)
            o = rep["operators"][0]
            natives = [(o["flops_per_s"], "flop/s"), (o["dram_bytes_per_s"], "B/s"), (o["seconds"], "s")]
            out["runs"] = [{"cycles": o["cycles"], "kernels": [k["kernel"] for k in o["kernels"]],
                            "sampled": o["sampled"], "sampling_error": o["relative_error"],
                            "dram_bytes": o["dram_bytes"]}]
        else:
            rep = api.simulate(case.workload.path, cfg)
            cycles = rep.total_cycles if case.metric == "total_cycles" else sum(k.cycles for k in rep.kernels)
            out["runs"] = [{"cycles": cycles, "warp_instructions": sum(k.warp_instructions for k in rep.kernels)}]
            natives = [(case.work[0] / cycles, f"{case.work[1]}/clk")] if case.work else [(float(cycles), "cycles")]
        ref_unit = parse_unit(ref.unit)
        value, unit = next((v, u) for v, u in natives if convertible(parse_unit(u), ref_unit))
        out["gpu"] = cfg.name
        out["simulated_native"] = {"value": value, "unit": unit}
        if not math.isfinite(value):
            out.update(status="error", reason="the simulation gave no finite result (scale-2 run not slower)")
            return out
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


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


# ----------------------------------------------------------------------------------------------
# Compare two runs.


def _load_result(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "validation.json"
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise GpusimError(f"{path}: no such file (expected a validation.json written by gpusim validate)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise GpusimError(f"{p}: not a validation result: {e}") from None
    if not isinstance(d, dict) or not isinstance(d.get("cases"), list):
        raise GpusimError(f"{p}: not a validation result (no 'cases' list)")
    return d


def compare(old_path: str | Path, new_path: str | Path, threshold: float = 1.0) -> tuple[str, dict]:
    """Markdown table of per-case APE changes between two ``validation.json`` files."""
    old, new = _load_result(old_path), _load_result(new_path)

    def key(r):
        return f"{r['suite']}/{r['id']}"

    o = {key(r): r for r in old["cases"]}
    n = {key(r): r for r in new["cases"]}
    rows = []
    counts = {"better": 0, "worse": 0, "same": 0, "new": 0, "removed": 0, "not compared": 0}
    for k in list(o) + [k for k in n if k not in o]:
        a, b = o.get(k), n.get(k)
        if a is None:
            verdict = "new"
        elif b is None:
            verdict = "removed"
        elif a["status"] != "ok" or b["status"] != "ok":
            verdict = "not compared"
        else:
            d = b["ape"] - a["ape"]
            verdict = "better" if d < -threshold else "worse" if d > threshold else "same"
        counts[verdict] += 1
        fa = f"{a['ape']:.1f}" if a and a["status"] == "ok" else (a["status"] if a else "-")
        fb = f"{b['ape']:.1f}" if b and b["status"] == "ok" else (b["status"] if b else "-")
        delta = f"{b['ape'] - a['ape']:+.1f}" if a and b and a["status"] == b["status"] == "ok" else ""
        rows.append((k, fa, fb, delta, verdict))
    order = {"worse": 0, "better": 1, "new": 2, "removed": 3, "not compared": 4, "same": 5}
    rows.sort(key=lambda r: (order[r[4]], r[0]))
    so = old.get("summary_predictions", old.get("summary_independent", old.get("summary", {})))
    sn = new.get("summary_predictions", new.get("summary_independent", new.get("summary", {})))
    lines = [f"# Validation: {old_path} -> {new_path}", ""]
    if "mape" in so and "mape" in sn:
        lines.append(f"prediction MAPE {so['mape']:.1f}% -> {sn['mape']:.1f}% ({sn['mape'] - so['mape']:+.1f} points); "
                     f"median APE {so['median_ape']:.1f}% -> {sn['median_ape']:.1f}%")
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items() if v) + f" (threshold {threshold:g} APE points)")
    lines += ["", "| case | APE old % | APE new % | change | verdict |", "|---|---:|---:|---:|---|"]
    lines += [f"| {k} | {a} | {b} | {d} | {v} |" for k, a, b, d, v in rows]
    return "\n".join(lines) + "\n", counts


# ----------------------------------------------------------------------------------------------
# Report.


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    a = abs(v)
    if a >= 1e5 or a < 1e-2:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if a < 10 else f"{v:.1f}"


def _opt(v: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def correlation_plot(results: list[dict], path: Path, title: str) -> bool:
    from gpusim.stats import render

    ok = [r for r in results if r["status"] == "ok" and r["simulated"] > 0 and r["reference"]["value"] > 0]
    if not ok:
        return False
    plt = render.pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=110)
    cats = sorted({r["category"] for r in ok})
    colors = render.palette(len(cats))
    for cat, col in zip(cats, colors):
        rs = [r for r in ok if r["category"] == cat]
        ax.scatter([r["reference"]["value"] for r in rs], [r["simulated"] for r in rs], s=42, color=col,
                   edgecolor="black", linewidth=0.5, label=cat, zorder=3)
    vals = [r["simulated"] for r in ok] + [r["reference"]["value"] for r in ok]
    lo, hi = min(vals) / 2, max(vals) * 2
    xs = np.array([lo, hi])
    ax.plot(xs, xs, color="black", linewidth=1, label="simulated = measured")
    ax.fill_between(xs, xs * 0.8, xs * 1.2, color="0.85", zorder=0, label="±20%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured (reference unit)")
    ax.set_ylabel("simulated (reference unit)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.6)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def ape_plot(results: list[dict], path: Path, title: str, mape: float | None) -> bool:
    from gpusim.stats import render

    ok = sorted((r for r in results if r["status"] == "ok"), key=lambda r: -r["ape"])
    if not ok:
        return False
    plt = render.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(ok) + 1.4), dpi=110)
    cats = sorted({r["category"] for r in ok})
    cmap = dict(zip(cats, render.palette(len(cats))))
    labels = [f"{r['suite']}/{r['id']}" for r in ok]
    y = np.arange(len(ok))
    ax.barh(y, [r["ape"] for r in ok], color=[cmap[r["category"]] for r in ok], edgecolor="black", linewidth=0.4)
    for yi, r in zip(y, ok):
        ax.text(r["ape"], yi, f" {r['error_pct']:+.0f}%", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, max(r["ape"] for r in ok) * 4 + 10)     # room for the signed-error labels
    if mape is not None:
        ax.axvline(mape, color="black", linestyle="--", linewidth=1, label=f"MAPE {mape:.1f}%")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap[c]) for c in cats]
    leg = ax.legend(handles, cats, fontsize=7, loc="lower right", title="category", title_fontsize=7)
    if mape is not None:
        ax.add_artist(leg)
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("absolute percentage error (%), signed error printed at the bar")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def report_markdown(result: dict, images: dict[str, str]) -> str:
    s = result["summary"]
    names = ", ".join(f"`{x['path']}`" for x in result["suites"])
    out = ["# gpusim validation report", "",
           f"gpusim {result['gpusim_version']}; timing model: {result['model']}.", "",
           f"Suites: {names}.  Regenerate with the command in `validation/README.md`.", ""]
    out += ["## Summary", ""]
    sp = result.get("summary_predictions", result.get("summary_independent", s))
    sc = result.get("summary_calibration", {})
    if "mape" in s:
        out += ["| role | compared | skipped | errors | MAPE | median APE | p90 APE | max APE | Pearson r | Pearson r (log10) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for label, x in (("**predictions**", sp), ("calibration (reproduces its inputs)", sc)):
            if "mape" in x:
                out.append(f"| {label} | {x['compared']} | {x['skipped']} | {x['errors']} | {x['mape']:.1f}% | "
                           f"{x['median_ape']:.1f}% | {x['p90_ape']:.1f}% | {x['max_ape']:.1f}% ({x['max_ape_case']}) | "
                           f"{_opt(x['pearson_r'])} | {_opt(x['pearson_r_log'])} |")
            elif x:
                out.append(f"| {label} | 0 | {x.get('skipped', 0)} | {x.get('errors', 0)} | - | - | - | - | - | - |")
        out += ["", "Roles are decided by the code (`gpusim.validate.model_sources`): a case whose reference row, or a "
                    "row recording the same measurement, is cited by the case's config files, an ISA table or the "
                    "model code is a *calibration* case: it checks that the model reproduces its input, not that "
                    "it predicts.  Every other case is a *prediction*; only predictions make the headline.", ""]
    else:
        out += [f"No case was compared ({s['skipped']} skipped, {s['errors']} errors).", ""]
    for title, key in (("Predictions by suite", "by_suite_predictions"), ("By GPU config", "by_gpu"),
                       ("By category", "by_category")):
        if key not in result:
            continue
        out += [f"### {title}", "", "| group | compared | skipped | MAPE | median APE | max APE |", "|---|---:|---:|---:|---:|---:|"]
        for g, gs in result[key].items():
            if "mape" in gs:
                out.append(f"| {g} | {gs['compared']} | {gs['skipped']} | {gs['mape']:.1f}% | {gs['median_ape']:.1f}% | {gs['max_ape']:.1f}% |")
            else:
                out.append(f"| {g} | 0 | {gs['skipped']} | - | - | - |")
        out.append("")
    for key, alt in (("correlation", "simulated vs measured, log-log"), ("ape", "absolute percentage error per case")):
        if key in images:
            out += [f"![{alt}]({images[key]})", ""]
    out += ["## Cases", "",
            "| suite | case | role | category | config | reference | measured | simulated | unit | error | note |",
            "|---|---|---|---|---|---|---:|---:|---|---:|---|"]
    for r in result["cases"]:
        ref = r["reference"]
        if r["status"] == "ok":
            sim, err = _fmt(r["simulated"]), f"{r['error_pct']:+.1f}%"
        else:
            sim, err = r["status"], ""
        note = r.get("note", "")
        role = "calibration" if r.get("calibration") else "prediction"
        if r.get("cited_by"):
            note = (note + "; " if note else "") + "cited by " + ", ".join(r["cited_by"][:2]) + (
                " ..." if len(r["cited_by"]) > 2 else "")
        if r["status"] != "ok":
            note = (note + "; " if note else "") + r.get("reason", "")
        out.append(f"| {r['suite']} | {r['id']} | {role} | {r['category']} | {r['gpu_config']} | {ref['id']} | "
                   f"{_fmt(ref['value'])} | {sim} | {ref['unit']} | {err} | {_md(note)} |")
    out += ["", "## References", "", "| id | GPU | metric | value | unit | conditions | source |", "|---|---|---|---:|---|---|---|"]
    seen = set()
    for r in result["cases"]:
        ref = r["reference"]
        if ref["id"] in seen:
            continue
        seen.add(ref["id"])
        out.append(f"| {ref['id']} | {_md(ref['gpu'])} | {_md(ref['metric'])} | {_fmt(ref['value'])} | {ref['unit']} | "
                   f"{_md(ref['conditions'])} | {_md(ref['source'])} |")
    out += ["", "## Method", "",
            "Each microbenchmark case is simulated twice, with the measured work at scale 1 and 2; the result is the "
            "difference of the two runs (kernel cycles, launch latency excluded), as a hardware microbenchmark "
            "differences two clock reads.  Cycles convert to time with the config's `sm.clock`; per-SM rates to "
            "whole-GPU rates with its `sm.count`.  Error = (simulated - measured) / measured.  APE = |error|; "
            "Pearson r is over the raw values (dominated by the largest) and over their log10.", ""]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_report(result: dict, out: Path) -> dict[str, Path]:
    """validation.json, report.md, report.html, correlation.png, ape.png under ``out``."""
    from gpusim.stats import render

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GpusimError(f"{out}: cannot create the output folder: {e.strerror}") from None
    files = {"json": out / "validation.json", "markdown": out / "report.md", "html": out / "report.html"}
    files["json"].write_text(json.dumps(result, indent=1, default=str) + "\n")
    s = result["summary"]
    images = {}
    title = f"{', '.join(x['name'] for x in result['suites'])}: " + (f"MAPE {s['mape']:.1f}%" if "mape" in s else "no data")
    if correlation_plot(result["cases"], out / "correlation.png", title):
        images["correlation"] = "correlation.png"
        files["correlation"] = out / "correlation.png"
    if ape_plot(result["cases"], out / "ape.png", title, s.get("mape")):
        images["ape"] = "ape.png"
        files["ape"] = out / "ape.png"
    md = report_markdown(result, images)
    files["markdown"].write_text(md)
    files["html"].write_text(render.markdown_to_html(md, title="gpusim validation report", base=out))
    return files

"""Calibration or prediction, decided by the code: which hardware rows the configs, the ISA tables and
the model's source cite (a case whose row is cited only shows that the model reproduces its inputs)."""

from __future__ import annotations

import re
from pathlib import Path


from gpusim.errors import ConfigError
from gpusim.sweep.workloads import REPO_ROOT
from gpusim.validate.references import Reference, _rel


# ----------------------------------------------------------------------------------------------
# Roles: calibration or prediction, decided by what the model's sources cite.

#: a hardware-row id, or a range of them (``HW017-HW042``, ``HW084–HW086``); ``RDUnnn`` rows are the
#: published SN40L / Plasticine figures of ``reference/rdu-sn40l.csv``
_ROW_ID = re.compile(r"\b(HW|RDU)(\d{3})(?:\s*[-\u2013]\s*(?:HW|RDU)?(\d{3}))?\b")
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
                out.setdefault(f"{m.group(1)}{k:03d}", []).append(f"{shown}:{n}")
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
    for _, origin in (getattr(cfg, "provenance", ()) if cfg is not None else ()):
        for cand in (Path(origin), REPO_ROOT / origin):
            if cand.is_file():
                files.add(cand.resolve())
                break
    here = Path(__file__).resolve().parent          # the validation code itself is not the model
    for g in _MODEL_SOURCE_GLOBS:
        files.update(p.resolve() for p in REPO_ROOT.glob(g) if p.resolve().parent != here)
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

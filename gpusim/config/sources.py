"""Published sources behind the ``research/...`` notes that configs cite.

Config ``sources`` lines name rows of the project's research notes (``research/hw_ground_truth.csv
HW094``, ``research/gpu_specs.csv: A100 SXM4 80GB rows ...``, ``research/modern-gpu-cores.md §6``).
Those notes are not part of a user's clone, so ``configs/cited-sources.csv`` (written by
``configs/make_cited_sources.py``) ships the original publication of each; :func:`published_sources`
looks them up for the resolved config a run writes."""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

CITED_SOURCES = Path(__file__).resolve().parents[2] / "configs" / "cited-sources.csv"

_HW = re.compile(r"\bHW\d{3}\b")
_NOTE = re.compile(r"research/[A-Za-z0-9_.-]+\.(?:md|csv)")


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    if not CITED_SOURCES.is_file():
        return {}
    with open(CITED_SOURCES, newline="", encoding="utf-8") as f:
        return {r["ref"]: r["source"] for r in csv.DictReader(f)}


def refs_in(text: str) -> list[str]:
    """The research references a citation text names, in order: HW row ids, ``gpu_specs:<GPU>`` groups
    and note files."""
    table = _table()
    out: list[str] = []
    for m in _NOTE.finditer(text):
        note = m.group(0)
        if note.endswith("gpu_specs.csv"):
            # the rows of the GPUs the citation names (longest names first: 'H100 SXM5 80GB' before 'H100')
            gpus = sorted((k for k in table if k.startswith("gpu_specs:") and k[len("gpu_specs:"):] in text),
                          key=lambda k: text.index(k[len("gpu_specs:"):]))
            out += gpus or [note]
        elif not note.endswith("hw_ground_truth.csv"):
            out.append(note)
    out += _HW.findall(text)
    return list(dict.fromkeys(out))


def published_sources(texts) -> list[tuple[str, str | None]]:
    """(ref, its published source or None when the shipped table lacks it) for every reference in
    ``texts``, each once."""
    table = _table()
    refs: list[str] = []
    for t in texts:
        refs += refs_in(str(t))
    return [(r, table.get(r)) for r in dict.fromkeys(refs)]

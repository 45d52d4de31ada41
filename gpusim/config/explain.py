"""Where every value of a resolved GPU config comes from: ``gpusim config show <gpu> --sources``.

A value that a preset file sets is shown with that file's ``file:line`` and the comment written on that
line (the presets cite their numbers in ``# comments``); a value an override sets with ``--set KEY=VALUE``;
every other value is its field's default, shown with the default's source as declared in
:mod:`gpusim.config.specs` (``_f(..., source=...)``, :attr:`gpusim.config.schema.Field.source`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from gpusim.config.loader import GPU_SCHEMA, REPO_ROOT, dump_config, load_config_where
from gpusim.config.specs import GPUConfig

__all__ = ["value_sources", "yaml_line_comment", "dump_config_sources", "SOURCES_HEADER"]

SOURCES_HEADER = [
    "# gpusim resolved configuration with the source of every value (gpusim config show --sources).",
    "# The comment after a value is the preset line that set it (file:line: its comment), '--set ...', or",
    "# 'default: <source>' for a default of gpusim/config/specs.py.  Shorthands: MGC §x = research/modern-gpu-",
    "# cores.md section x (Huerta et al., MICRO'25, and their released simulator configs); HWnnn = a row of",
    "# research/hw_ground_truth.csv; specs: GPU/param = a row of research/gpu_specs.csv; 'policy:' = a modelling",
    "# or library choice; 'per GPU:' / 'per arch:' = a required key the preset files set; 'estimate:' /",
    "# 'unsourced:' = a number without a source.",
]

_WHERE = re.compile(r"(.+):(\d+)$")


@functools.lru_cache(maxsize=64)
def _file_lines(path: str) -> tuple[str, ...]:
    try:
        return tuple(Path(path).read_text(encoding="utf-8").splitlines())
    except OSError:
        return ()


def _comment_column(text: str) -> int:
    """Column of the ``#`` that starts ``text``'s trailing YAML comment (outside quotes), else -1."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return i
    return -1


def yaml_line_comment(where: str) -> str:
    """The trailing comment of the YAML line ``where`` (``file:line``, the file relative to the repository or
    absolute), joined with the comment-only lines right below it that start in the same column; "" if none."""
    m = _WHERE.match(where)
    if not m:
        return ""
    path = Path(m.group(1))
    lines = _file_lines(str(path if path.is_absolute() else REPO_ROOT / path))
    n = int(m.group(2))
    if not 1 <= n <= len(lines):
        return ""
    text = lines[n - 1]
    col = _comment_column(text)
    if col < 0 or not text[:col].strip():   # no comment, or a comment-only line
        return ""
    parts = [text[col + 1:].strip()]
    for below in lines[n:]:
        if len(below) - len(below.lstrip()) == col and below.lstrip().startswith("#"):
            parts.append(below[col + 1:].strip())
        else:
            break
    return " ".join(p for p in parts if p)


def value_sources(cfg: GPUConfig, wheres: Mapping[str, str]) -> dict[str, str]:
    """Key path (and ``sources[i]``) -> where the resolved value comes from: ``file:line: comment`` for a value
    a preset sets, ``--set KEY=VALUE`` for an override, ``default: <source>`` for a default."""
    out: dict[str, str] = {}
    for key, f in GPU_SCHEMA.fields.items():
        if key == "sources":
            continue
        where = wheres.get(key)
        if where is None:
            out[key] = f"default: {f.source}" if f.source else "default"
        else:
            comment = yaml_line_comment(where)
            out[key] = f"{where}: {comment}" if comment else where
    for i in range(len(cfg.sources)):
        out[f"sources[{i}]"] = wheres.get(f"sources[{i}]", "")
    return out


def dump_config_sources(name_or_path: str | Path, overrides: Sequence[str] = ()) -> str:
    """The resolved config as YAML (as :func:`gpusim.config.dump_config`; it loads back to the same config),
    each value followed by its source (:func:`value_sources`)."""
    cfg, wheres = load_config_where(name_or_path, overrides)
    return dump_config(cfg, comments=value_sources(cfg, wheres), header=SOURCES_HEADER)

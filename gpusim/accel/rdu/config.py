"""RDU presets: YAML -> ``extends:`` merge -> ``--set`` overrides -> key check -> units -> :class:`RDUSpec`.

Presets live in ``configs/accel/rdu/`` (``sn40l-8``, ``sn40l-16``, ``plasticine``).  Each leaf is
written with its source::

    pcu:
      count: {value: 1040, source: "[paper] Table II"}
      lanes: {value: 32, source: "estimate: not published; 32 x 6 stages x 1.6 GHz fits 638 TFLOPS"}

A bare value (``count: 1040``) is accepted in a user's own file and recorded as "no source
given".  The keys are one :class:`gpusim.config.schema.Schema`, derived from the dataclasses in
:mod:`gpusim.accel.rdu.spec` (:func:`gpusim.config.schema.fields_from_dataclass`): unknown keys, bad
units and out-of-range values are one ``file:line: key.path: message``
:class:`~gpusim.errors.ConfigError` with a did-you-mean (exit status 2 from the CLI), and ``--set``
overrides go through the same checks.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_type_hints

from gpusim import units
from gpusim.accel.rdu import spec as S
from gpusim.config.loader import CONFIGS_DIR
from gpusim.config.schema import (
    UNIT_KINDS,
    Raw,
    Schema,
    apply_set,
    build_dataclass,
    fields_from_dataclass,
    flatten,
    format_value,
    read_yaml,
    resolve,
)
from gpusim.errors import ConfigError

__all__ = ["PRESETS_DIR", "list_presets", "find_preset", "load_rdu_config", "rdu_config_from_dict",
           "schema_paths", "dump_rdu_config"]

PRESETS_DIR = CONFIGS_DIR / "accel" / "rdu"
NO_SOURCE = "no source given"
SET_SOURCE = "--set (user override)"



def _hints(cls: type) -> dict[str, tuple[Any, bool]]:
    return {k: (v, False) for k, v in get_type_hints(cls).items()}


_SECTIONS: dict[str, str] = {}
_SCHEMA = Schema(fields_from_dataclass(S.RDUSpec, _hints, sections=_SECTIONS), name="RDU preset",
                 sections=_SECTIONS, extra_top=("extends",))


def schema() -> Schema:
    """The keys of an RDU preset, derived from :mod:`gpusim.accel.rdu.spec` (for docs and tests)."""
    return _SCHEMA


def schema_paths() -> list[tuple[str, str, str]]:
    """Every leaf key path with its kind and doc (for docs and tests)."""
    return _SCHEMA.rows()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(CONFIGS_DIR.parent))
    except ValueError:
        return str(path)


def _load_layers(path: Path, out: dict[str, Raw], chain: tuple[Path, ...]) -> None:
    """Flatten ``path`` onto ``out`` after the preset it ``extends:`` (relative to its folder)."""
    shown = _display(path)
    if path in chain:
        raise ConfigError("extends", f"circular extends: {' -> '.join(_display(p) for p in chain + (path,))}",
                          file=shown)
    data, lines = read_yaml(path, shown)
    base = data.get("extends")
    if base is not None:
        where = f"{shown}:{lines.lines.get(('extends',), 1)}"
        if not isinstance(base, str) or not base.strip():
            raise ConfigError("extends", f"must be a preset name or a relative path, got {base!r}", file=where)
        cand = Path(base)
        if cand.suffix not in (".yaml", ".yml"):
            cand = cand.with_suffix(".yaml")
        target = cand if cand.is_absolute() else path.parent / cand
        if not target.is_file():
            raise ConfigError("extends", f"no preset '{base}' beside this file", file=where)
        _load_layers(target.resolve(), out, chain + (path,))
    out.update(flatten(_SCHEMA, data, shown, lines, sourced=True))


def _build(flat: dict[str, Raw], top: str) -> S.RDUSpec:
    val = resolve(_SCHEMA, flat, top)
    prov = tuple((k, flat[k].source or NO_SOURCE, flat[k].where) for k in _SCHEMA.fields)
    spec = build_dataclass(S.RDUSpec, val, _SCHEMA.fields, hints=_hints)
    spec = dataclasses.replace(spec, provenance=prov, source_file=top)
    _validate(spec)
    return spec


def _validate(sp: S.RDUSpec) -> None:
    where = {p: loc for p, _, loc in sp.provenance}

    def fail(path: str, msg: str) -> ConfigError:
        return ConfigError(path, msg, file=where.get(path))

    if sp.mapper.weight_tile_bytes > sp.pmu.size_bytes:
        raise fail("mapper.weight_tile", f"{units.format_size(sp.mapper.weight_tile_bytes)} does not fit one PMU "
                                         f"({units.format_size(sp.pmu.size_bytes)})")
    if sp.mapper.activation_tile_bytes > sp.pmu.size_bytes:
        raise fail("mapper.activation_tile", "must fit one PMU (pmu.size)")
    if sp.network.fifo_depth < 2:
        raise fail("network.fifo_depth", "needs at least 2 tiles (double buffering)")


# ----------------------------------------------------------------------------------------------
# Public API.

def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")) if PRESETS_DIR.is_dir() else []


def find_preset(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    p = Path(text).expanduser()
    if p.suffix in (".yaml", ".yml") or "/" in text:
        if not p.is_file():
            raise ConfigError("preset", f"no such file: {text}")
        return p.resolve()
    cand = PRESETS_DIR / f"{text}.yaml"
    if cand.is_file():
        return cand.resolve()
    names = list_presets()
    close = difflib.get_close_matches(text, names, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError("preset", f"no RDU preset named '{text}' under configs/accel/rdu/{hint} "
                                f"(known: {', '.join(names) or 'none'})")


def load_rdu_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> S.RDUSpec:
    """A preset name (``sn40l-8``) or YAML path, with ``--set key.path=value`` overrides."""
    if isinstance(overrides, str):
        overrides = [overrides]
    path = find_preset(name_or_path)
    flat: dict[str, Raw] = {}
    _load_layers(path, flat, ())
    for text in overrides:
        apply_set(_SCHEMA, flat, text, SET_SOURCE, example="pcu.lanes=16")
    return _build(flat, _display(path))


def rdu_config_from_dict(data: Mapping[str, Any], overrides: Sequence[str] = (), *, source: str = "<dict>") -> S.RDUSpec:
    """Like :func:`load_rdu_config` for an in-memory mapping (no ``extends:``)."""
    if not isinstance(data, Mapping):
        raise ConfigError("config", f"expected a mapping, got {type(data).__name__}", file=source)
    if "extends" in data:
        raise ConfigError("extends", "not supported for in-memory configs", file=source)
    flat = flatten(_SCHEMA, data, source, sourced=True)
    for text in overrides:
        apply_set(_SCHEMA, flat, text, SET_SOURCE, example="pcu.lanes=16")
    return _build(flat, source)


def spec_value_text(sp: S.RDUSpec, path: str) -> str:
    """The value at a key path as a unit string (``pcu.count`` -> ``1040``, ``clock`` -> ``1.6 GHz``)."""
    f = _SCHEMA.fields[path]
    obj: Any = sp
    for part in path.split(".")[:-1]:
        obj = getattr(obj, part)
    value = getattr(obj, f.attr)
    if f.unit in UNIT_KINDS:
        return format_value(f, value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def dump_rdu_config(sp: S.RDUSpec) -> list[dict[str, str]]:
    """Every value with its source: [{key, value, source, status}] (printed with each run)."""
    rows = []
    for path, src, _ in sp.provenance:
        status = ("estimate" if src.lower().startswith(S.ESTIMATE_PREFIX)
                  else "unsourced" if src in (NO_SOURCE, SET_SOURCE) else "sourced")
        rows.append({"key": path, "value": spec_value_text(sp, path), "source": src, "status": status})
    return rows

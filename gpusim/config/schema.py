"""One config schema: the field type and the strict loader behind every gpusim preset.

A preset kind (GPU config, systolic array, RDU, model) declares its keys once, as :class:`Field`
values: the dotted key path, the Python type (or an enum / a list of choices), the unit kind whose
parser of :mod:`gpusim.units` reads it, bounds, a default and a description.  One set of functions
then reads every kind the same way:

* :func:`read_yaml` - strict YAML (duplicate keys refused) with the line of every key;
* :func:`flatten` - nested mapping -> ``{key.path: Raw}``, refusing unknown keys with a did-you-mean;
* :func:`apply_set` - a ``--set key.path=value`` override, checked against the same schema;
* :func:`convert` / :func:`resolve` - types, units and bounds; defaults; missing required keys.

Every problem is one :class:`~gpusim.errors.ConfigError` that reads ``file:line: key.path: message``
(``--set key=value: key.path: message`` for an override), so the CLI prints the same kind of line for
every preset kind and exits 2.

Unit kinds (:data:`UNIT_KINDS`) and the canonical value each gives:

=============  ============  =====================================
unit           YAML value    canonical value
=============  ============  =====================================
``frequency``  ``1.6 GHz``   int Hz
``size``       ``512 KiB``   int bytes
``bandwidth``  ``1.8 TB/s``  float bytes/s
``per_clock``  ``64 B/clk``  float bytes per clock
``time``       ``250 ns``    int picoseconds
``cycles``     ``10``        int cycles (a bare integer)
``fraction``   ``0.85``      float (bounds usually (0, 1])
=============  ============  =====================================

A field without a unit is dimensionless: ``int``, ``float``, ``bool``, ``str`` (optionally limited
to ``choices``), an :class:`enum.Enum` (written as its lower-case value) or ``tuple`` (a list of
strings, e.g. ``sources``).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from gpusim import units
from gpusim.config.yamlio import Lines, load_yaml, suggest_key
from gpusim.errors import ConfigError, InputFileError

__all__ = [
    "MISSING", "UNIT_KINDS", "SUFFIX_UNITS", "Field", "Schema", "Raw", "read_yaml", "flatten", "parse_set",
    "apply_set", "convert", "resolve", "format_value", "enum_text", "fields_from_dataclass", "build_dataclass", "unit_of_name",
]

class _Required:
    def __repr__(self) -> str:
        return "MISSING"


#: the default of a required field
MISSING: Any = _Required()

#: unit kind -> (parser, formatter); ``cycles`` and ``fraction`` are plain numbers
UNIT_KINDS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], str]]] = {
    "frequency": (units.parse_frequency, units.format_frequency),
    "size": (units.parse_size, units.format_size),
    "bandwidth": (units.parse_bandwidth, units.format_bandwidth),
    "per_clock": (units.parse_bandwidth_per_clock, units.format_bandwidth_per_clock),
    "time": (units.parse_time, units.format_time),
}

#: dataclass field-name suffix -> unit kind (longest first: ``_bytes_per_s`` before ``_bytes``)
SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_bytes_per_clk", "per_clock"),
    ("_bytes_per_s", "bandwidth"),
    ("_bytes", "size"),
    ("_hz", "frequency"),
    ("_ps", "time"),
    ("_cycles", "cycles"),
    ("_frac", "fraction"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One config key: what it holds, in which unit, within which bounds, and what it means."""

    key: str                    # dotted YAML key path: "array.rows"
    type: Any = int             # int | float | bool | str | tuple (list of strings) | an Enum class
    unit: str | None = None     # a UNIT_KINDS key, "cycles", "fraction" or None (dimensionless)
    doc: str = ""
    default: Any = MISSING      # canonical value; MISSING: the key is required
    min: float | None = None    # inclusive bounds on the canonical value (tuple: fewest items)
    max: float | None = None
    positive: bool = False      # the canonical value must be > 0
    choices: tuple[str, ...] = ()   # str fields: the allowed spellings
    optional: bool = False      # null is allowed (gives None)
    source: str = ""            # where the default comes from
    attr: str = ""              # dataclass attribute it fills ("" = last part of key)

    @property
    def kind(self) -> str:
        """The unit kind, else the type's name (``enum`` for an Enum, ``sources`` for a list of strings)."""
        if self.unit:
            return self.unit
        if isinstance(self.type, type) and issubclass(self.type, enum.Enum):
            return "enum"
        return {tuple: "sources"}.get(self.type, getattr(self.type, "__name__", str(self.type)))

    @property
    def required(self) -> bool:
        return self.default is MISSING


class Raw(NamedTuple):
    """A value as written, before conversion, with its source note and where it was written."""

    value: Any
    source: str     # the {value, source} note of a sourced preset ("" when none)
    where: str      # "file:line", "file", or "--set key=value"


class Schema:
    """The fields of one preset kind, by key path; sections are the key prefixes."""

    def __init__(self, fields: Iterable[Field], *, name: str = "config", sections: Mapping[str, str] | None = None,
                 extra_top: Sequence[str] = ()):
        self.name = name
        self.fields: dict[str, Field] = {}
        for f in fields:
            if f.key in self.fields:
                raise TypeError(f"{name}: two fields map to the key '{f.key}'")  # pragma: no cover
            self.fields[f.key] = f
        self.section_docs = dict(sections or {})
        self.sections: set[str] = {".".join(k.split(".")[:i]) for k in self.fields for i in range(1, k.count(".") + 1)}
        self.extra_top = tuple(extra_top)   # top-level keys the caller handles itself ("extends")

    def children(self, prefix: str) -> list[str]:
        """Key names directly under ``prefix`` ("" = top level), in declaration order."""
        out: list[str] = []
        for k in self.fields:
            if prefix and not k.startswith(prefix + "."):
                continue
            head = k[len(prefix) + 1 if prefix else 0:].split(".")[0]
            if head not in out:
                out.append(head)
        return out

    def rows(self) -> list[tuple[str, str, str]]:
        """(key path, kind, doc) of every leaf, for docs and tests."""
        return [(k, f.kind, f.doc) for k, f in self.fields.items()]

    def unknown(self, path: str, where: str) -> ConfigError:
        """The one 'unknown key' error: names the first unknown part of ``path`` and the closest key path
        (a sibling, a key of that name elsewhere, a close full path), else the valid keys of the section."""
        parts = path.split(".")
        i = next((i for i in range(len(parts)) if ".".join(parts[: i + 1]) not in self.sections), len(parts) - 1)
        prefix, key = ".".join(parts[:i]), parts[i]
        everything = [*self.fields, *sorted(self.sections)]
        if i < len(parts) - 1:   # an unknown section: the closest full key path first
            close = difflib.get_close_matches(path, list(self.fields), n=1, cutoff=0.75)
            if close:
                return ConfigError(path, f"unknown key '{key}'; did you mean '{close[0]}'?", file=where)
        extra = list(self.extra_top) if not prefix else []
        hint = suggest_key(key, self.children(prefix) + extra, everything, prefix, path)
        return ConfigError(path, f"unknown key '{key}'; {hint}", file=where)


# ----------------------------------------------------------------------------------------------
# Reading.


def read_yaml(path: str | Path, shown: str | None = None) -> tuple[dict, Lines]:
    """Parse a preset file strictly; the top level must be a mapping.  ``shown`` names the file in errors."""
    p = Path(path)
    shown = shown or str(path)
    try:
        data, lines = load_yaml(p, "config file")
    except InputFileError as exc:   # "<path>[:line]: message" -> the same line under the shown name
        text = str(exc)
        m = re.match(r":(\d+): (.*)$", text[len(str(p)):] if text.startswith(str(p)) else "", re.S)
        msg = m.group(2) if m else text[len(str(p)):].lstrip(": ") if text.startswith(str(p)) else text
        raise ConfigError("", msg, file=f"{shown}:{m.group(1)}" if m else shown) from None
    lines.path = shown   # type: ignore[assignment] - Lines only formats it
    if data is None:
        raise ConfigError("", "the file is empty", file=shown)
    if not isinstance(data, dict):
        raise ConfigError("", f"the top level must be a mapping of keys, not a {type(data).__name__}", file=shown)
    return data, lines


def _where(lines: Lines | None, shown: str, kp: tuple) -> str:
    if lines is not None and kp in lines.lines:
        return f"{shown}:{lines.lines[kp]}"
    return shown


def flatten(schema: Schema, data: Mapping, shown: str, lines: Lines | None = None, *, sourced: bool = False,
            null_sections: bool = False, prefix: tuple = ()) -> dict[str, Raw]:
    """``{key.path: Raw}`` for every leaf of ``data``; unknown keys and misplaced values are refused.

    ``sourced``: a leaf may be ``{value: V, source: "..."}`` (RDU presets).  ``null_sections``: a section
    given as null counts as absent (``moe: null`` of a model).  Keys of ``schema.extra_top`` are skipped
    at the top level.
    """
    out: dict[str, Raw] = {}
    for key, value in data.items():
        kp = (*prefix, key)
        path = ".".join(map(str, kp))
        where = _where(lines, shown, kp)
        if not prefix and key in schema.extra_top:
            continue
        if not isinstance(key, str):
            raise ConfigError(path, f"keys must be strings, got {type(key).__name__} {key!r}", file=where)
        if path in schema.fields:
            out[path] = _leaf(path, value, where, sourced)
        elif path in schema.sections:
            if value is None and null_sections:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(path, f"is a section; needs a mapping of keys ({', '.join(schema.children(path))}),"
                                        f" got {value!r}", file=where)
            out.update(flatten(schema, value, shown, lines, sourced=sourced, null_sections=null_sections, prefix=kp))
        else:
            raise schema.unknown(path, where)
    return out


def _leaf(path: str, value: Any, where: str, sourced: bool) -> Raw:
    if not (sourced and isinstance(value, Mapping)):
        return Raw(value, "", where)
    extra = set(value) - {"value", "source"}
    if extra or "value" not in value:
        bad = sorted(map(str, extra)) or ["(no 'value')"]
        raise ConfigError(path, f"a sourced value is {{value: ..., source: '...'}}; got keys {', '.join(bad)}",
                          file=where)
    src = value.get("source")
    if not isinstance(src, str) or not src.strip():
        raise ConfigError(path, f"source must be a non-empty string, got {src!r}", file=where)
    return Raw(value["value"], src.strip(), where)


def parse_set(schema: Schema, text: str, example: str = "key.path=value") -> tuple[str, Any, str]:
    """``"sram.filter=8 MiB"`` -> ``("sram.filter", "8 MiB", "--set sram.filter=8 MiB")``; the value is
    read as a YAML scalar, the key checked against the schema (a section is refused: set its leaves)."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError("--set", f"expected KEY=VALUE (e.g. {example}), got {text!r}")
    key, value_text = (s.strip() for s in text.split("=", 1))
    where = f"--set {text}"
    if key not in schema.fields:
        if key in schema.sections:
            raise ConfigError(key, f"is a section; set one of its keys ({', '.join(schema.children(key))})",
                              file=where)
        raise schema.unknown(key, where)
    try:
        value = yaml.safe_load(value_text) if value_text else None
    except yaml.YAMLError as exc:
        raise ConfigError(key, f"cannot parse value {value_text!r}: {str(exc).splitlines()[0]}", file=where) from None
    return key, value, where


def apply_set(schema: Schema, flat: dict[str, Raw], text: str, source: str = "--set (user override)",
              example: str = "key.path=value") -> None:
    """Apply one ``--set key.path=value`` override to a flattened preset (:func:`parse_set`)."""
    key, value, where = parse_set(schema, text, example)
    flat[key] = Raw(value, source, where)


# ----------------------------------------------------------------------------------------------
# Converting.


def _bound_text(f: Field, bound: float) -> str:
    if f.unit in UNIT_KINDS:
        try:
            return UNIT_KINDS[f.unit][1](bound)
        except ValueError:  # pragma: no cover - a bound the formatter cannot write
            pass
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _choice(f: Field, raw: Any, choices: list[str]) -> str:
    """The allowed spelling that ``raw`` names (case and surrounding blanks ignored)."""
    text = raw.strip().lower() if isinstance(raw, str) else None
    for c in choices:
        if c.lower() == text:
            return c
    close = difflib.get_close_matches(str(raw).strip().lower(), [c.lower() for c in choices], n=1, cutoff=0.3)
    hint = f"; did you mean '{next(c for c in choices if c.lower() == close[0])}'?" if close else ""
    raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}{hint}")


def enum_text(member: enum.Enum) -> str:
    """How an enum member is written in YAML: its str value, else its lower-case name."""
    return member.value if isinstance(member.value, str) else member.name.lower()


def _typed(f: Field, raw: Any) -> Any:
    """``raw`` as the field's type (before bounds); ValueError with the message on a bad value."""
    if f.unit in UNIT_KINDS:
        return UNIT_KINDS[f.unit][0](raw)
    t = f.type
    if t is bool:
        if not isinstance(raw, bool):
            raise ValueError(f"expected true or false, got {type(raw).__name__} {raw!r}")
        return raw
    if t is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            what = "a whole number of cycles" if f.unit == "cycles" else "an integer"
            got = f"the float {raw!r}" if isinstance(raw, float) else f"{type(raw).__name__} {raw!r}"
            raise ValueError(f"expected {what}, got {got}")
        return raw
    if t is float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ValueError(f"expected a number, got {type(raw).__name__} {raw!r}")
        return float(raw)
    if t is str:
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"expected a non-empty string, got {raw!r}")
        return _choice(f, raw, list(f.choices)) if f.choices else raw.strip()
    if t is tuple:
        items = (raw,) if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not all(isinstance(s, str) and s.strip() for s in items):
            raise ValueError(f"expected a list of non-empty strings, got {raw!r}")
        return tuple(items)
    if isinstance(t, type) and issubclass(t, enum.Enum):
        text = _choice(f, raw, [enum_text(m) for m in t])
        return next(m for m in t if enum_text(m) == text)
    raise TypeError(f"{f.key}: no converter for {t!r}")  # pragma: no cover - a new field type needs one here


def convert(f: Field, raw: Any, where: str | None = None) -> Any:
    """The canonical value of ``raw`` for field ``f``; ConfigError ``where: key.path: message`` if bad."""
    if raw is None:
        if f.optional:
            return None
        raise ConfigError(f.key, "must have a value (null given)", file=where)
    try:
        value = _typed(f, raw)
    except ValueError as exc:
        raise ConfigError(f.key, str(exc), file=where) from None
    if f.type is tuple:
        if f.min is not None and len(value) < f.min:
            raise ConfigError(f.key, "needs at least one item" if f.min == 1 else f"needs at least {f.min} items",
                              file=where)
        return value
    if not isinstance(value, (int, float)) or isinstance(value, (bool, enum.Enum)):
        return value
    if f.positive and value <= 0:
        raise ConfigError(f.key, f"must be positive, got {raw!r}", file=where)
    if f.min is not None and value < f.min:
        raise ConfigError(f.key, f"must be >= {_bound_text(f, f.min)}, got {raw!r}", file=where)
    if f.max is not None and value > f.max:
        raise ConfigError(f.key, f"must be <= {_bound_text(f, f.max)}, got {raw!r}", file=where)
    return value


def format_value(f: Field, value: Any) -> Any:
    """The YAML spelling of a canonical value (unit strings, enum text, lists); ``convert`` reads it back."""
    if value is None:
        return None
    if f.unit in UNIT_KINDS:
        return UNIT_KINDS[f.unit][1](value)
    if isinstance(value, enum.Enum):
        return enum_text(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def resolve(schema: Schema, flat: Mapping[str, Raw], top: str | None = None) -> dict[str, Any]:
    """Every field's canonical value: converted from ``flat`` or its default.  A missing required key is
    one ConfigError naming it (and the others missing) at ``top``, the file being loaded."""
    missing = [k for k, f in schema.fields.items() if f.required and k not in flat]
    if missing:
        more = f" (missing: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''})" if len(missing) > 1 else ""
        raise ConfigError(missing[0], f"missing required key{more}", file=top)
    out: dict[str, Any] = {}
    for k, f in schema.fields.items():
        out[k] = convert(f, flat[k].value, flat[k].where) if k in flat else f.default
    return out


# ----------------------------------------------------------------------------------------------
# Schemas declared as dataclasses (GPU and RDU specs): field name = YAML key + unit suffix.


def unit_of_name(name: str) -> tuple[str, str | None]:
    """``clock_hz`` -> ``("clock", "frequency")``; ``count`` -> ``("count", None)``."""
    for sfx, unit in SUFFIX_UNITS:
        if name.endswith(sfx) and len(name) > len(sfx):
            return name[: -len(sfx)], unit
    return name, None


def fields_from_dataclass(cls: type, hints: Callable[[type], dict[str, Any]], prefix: str = "",
                          sections: dict[str, str] | None = None) -> list[Field]:
    """The :class:`Field` of every leaf of a nested frozen dataclass, from its fields' names and metadata
    (``doc``, ``min``, ``max``, ``source``; ``internal`` fields are skipped).  ``hints(cls)`` resolves annotations.
    Unit quantities other than time are positive; a ``min`` on them is their lower bound otherwise."""
    out: list[Field] = []
    types = hints(cls)
    for df in dataclasses.fields(cls):
        if df.metadata.get("internal"):
            continue
        hint, optional = types[df.name]
        key, unit = unit_of_name(df.name)
        path = f"{prefix}{key}"
        doc = df.metadata.get("doc", "")
        if dataclasses.is_dataclass(hint):
            if sections is not None:
                sections[path] = doc
            out.extend(fields_from_dataclass(hint, hints, path + ".", sections))
            continue
        lo, hi = df.metadata.get("min", 1), df.metadata.get("max")
        positive = unit in ("frequency", "size", "bandwidth", "per_clock") and lo in (1, None)
        if positive:
            lo = None
        if unit in ("bandwidth", "per_clock", "fraction"):
            t = float
        elif unit is not None:
            t = int
        else:
            t = hint
        if t in (str, bool) or (isinstance(t, type) and issubclass(t, enum.Enum)):
            lo = hi = None
        default = MISSING if df.default is dataclasses.MISSING else df.default
        out.append(Field(path, t, unit, doc, default, lo, hi, positive, (), optional,
                         source=df.metadata.get("source", ""), attr=df.name))
    return out


def build_dataclass(cls: type, values: Mapping[str, Any], fields: Mapping[str, Field], prefix: str = "",
                    hints: Callable[[type], dict[str, Any]] | None = None) -> Any:
    """Instantiate nested dataclass ``cls`` from ``{key.path: value}``; leaves absent from ``values`` keep
    their dataclass default."""
    kwargs: dict[str, Any] = {}
    types = hints(cls) if hints else {}
    for df in dataclasses.fields(cls):
        if df.metadata.get("internal"):
            continue
        key, _ = unit_of_name(df.name)
        path = f"{prefix}{key}"
        hint = types.get(df.name, (None, False))[0] if hints else None
        if path in fields:
            if path in values:
                kwargs[df.name] = values[path]
        elif hint is not None and dataclasses.is_dataclass(hint):
            kwargs[df.name] = build_dataclass(hint, values, fields, path + ".", hints)
    return cls(**kwargs)

"""RDU presets: YAML -> ``extends:`` merge -> ``--set`` overrides -> key check -> units -> :class:`RDUSpec`.

Presets live in ``configs/accel/rdu/`` (``sn40l-8``, ``sn40l-16``, ``plasticine``).  Each leaf is
written with its source::

    pcu:
      count: {value: 1040, source: "[paper] Table II"}
      lanes: {value: 32, source: "estimate: not published; 32 x 6 stages x 1.6 GHz fits 638 TFLOPS"}

A bare value (``count: 1040``) is accepted in a user's own file and recorded as "no source
given".  Unknown keys are errors with a did-you-mean; every error names ``file:line`` and the key
path (one :class:`~gpusim.errors.ConfigError`, exit status 2 from the CLI).  The schema is read
from the dataclasses in :mod:`gpusim.accel.rdu.spec` the way :mod:`gpusim.config.loader` reads
the GPU schema; unit strings go through :mod:`gpusim.units` only.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from gpusim import units
from gpusim.accel.rdu import spec as S
from gpusim.config.loader import CONFIGS_DIR, yaml_key
from gpusim.config.yamlio import DuplicateKeyError, StrictLoader
from gpusim.errors import ConfigError

__all__ = ["PRESETS_DIR", "list_presets", "find_preset", "load_rdu_config", "rdu_config_from_dict",
           "schema_paths", "dump_rdu_config"]

PRESETS_DIR = CONFIGS_DIR / "accel" / "rdu"
NO_SOURCE = "no source given"
SET_SOURCE = "--set (user override)"

# field-name suffix -> value kind (longest first)
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_bytes_per_clk", "per_clock"),
    ("_bytes_per_s", "bandwidth"),
    ("_bytes", "size"),
    ("_hz", "frequency"),
    ("_ps", "time"),
    ("_cycles", "cycles"),
    ("_frac", "fraction"),
)
_PARSERS = {"frequency": units.parse_frequency, "size": units.parse_size, "bandwidth": units.parse_bandwidth,
            "time": units.parse_time, "per_clock": units.parse_bandwidth_per_clock}
_FORMATTERS = {"frequency": units.format_frequency, "size": units.format_size,
               "bandwidth": units.format_bandwidth, "time": units.format_time,
               "per_clock": units.format_bandwidth_per_clock}


def _key(name: str) -> str:
    for sfx, _ in _SUFFIXES:
        if name.endswith(sfx) and len(name) > len(sfx):
            return name[: -len(sfx)]
    return yaml_key(name)


@dataclasses.dataclass(frozen=True)
class _Leaf:
    name: str
    kind: str
    lo: float | None
    hi: float | None
    doc: str


def _schema(cls: type) -> dict[str, Any]:
    """YAML key -> _Leaf or (field name, class, nested schema)."""
    hints = get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        hint = hints[f.name]
        k = _key(f.name)
        if dataclasses.is_dataclass(hint):
            out[k] = (f.name, hint, _schema(hint))
            continue
        kind = next((kd for sfx, kd in _SUFFIXES if f.name.endswith(sfx)), None)
        if kind is None:
            kind = {int: "int", str: "str"}[hint]
        out[k] = _Leaf(f.name, kind, f.metadata.get("min"), f.metadata.get("max"), f.metadata.get("doc", ""))
    return out


_SCHEMA = _schema(S.RDUSpec)


def schema_paths() -> list[tuple[str, str, str]]:
    """Every leaf key path with its kind and doc (for docs and tests)."""
    out: list[tuple[str, str, str]] = []

    def walk(node: dict, prefix: str) -> None:
        for k, v in node.items():
            if isinstance(v, _Leaf):
                out.append((prefix + k, v.kind, v.doc))
            else:
                walk(v[2], prefix + k + ".")

    walk(_SCHEMA, "")
    return out


_LEAF_PATHS = [p for p, _, _ in schema_paths()]


# ----------------------------------------------------------------------------------------------
# Reading YAML with line numbers.

class _Where:
    """file and line of each key path, for error messages."""

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}

    def at(self, path: str, fallback: str) -> str:
        return self.lines.get(path, fallback)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(CONFIGS_DIR.parent))
    except ValueError:
        return str(path)


def _read(path: Path) -> tuple[dict, dict[str, int]]:
    shown = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config", f"cannot read: {exc.strerror or exc}", file=shown) from None
    try:
        loader = StrictLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except DuplicateKeyError as exc:
        raise ConfigError(f"line {exc.line}", f"duplicate key '{exc.key}'", file=shown) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError("yaml", f"YAML syntax error: {problem}", file=where) from None
    if data is None:
        raise ConfigError("config", "the file is empty", file=shown)
    if not isinstance(data, dict):
        raise ConfigError("config", f"the top level must be a mapping, not a {type(data).__name__}", file=shown)
    lines: dict[str, int] = {}

    def walk(n: yaml.Node, prefix: str) -> None:
        if isinstance(n, yaml.MappingNode):
            for kn, vn in n.value:
                p = f"{prefix}{kn.value}"
                lines[p] = kn.start_mark.line + 1
                walk(vn, p + ".")

    walk(node, "")
    return data, lines


# ----------------------------------------------------------------------------------------------
# Structure: flatten to {leaf path: (value, source)} while checking keys.

def _suggest(key: str, node: dict, prefix: str) -> str:
    close = difflib.get_close_matches(key, list(node) + (["extends"] if not prefix else []), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{prefix}{close[0]}'?"
    elsewhere = [p for p in _LEAF_PATHS if p.rsplit(".", 1)[-1] == key]
    if elsewhere:
        return f"did you mean '{elsewhere[0]}'?"
    return f"valid keys{' in ' + repr(prefix.rstrip('.')) if prefix else ''}: {', '.join(node)}"


def _flatten(data: Mapping, node: dict, prefix: str, where: str, lines: dict[str, int],
             out: dict[str, tuple[Any, str, str]]) -> None:
    for key, value in data.items():
        path = f"{prefix}{key}"
        loc = f"{where}:{lines[path]}" if path in lines else where
        if not prefix and key == "extends":
            continue
        if not isinstance(key, str):
            raise ConfigError(path, f"keys must be strings, got {key!r}", file=loc)
        child = node.get(key)
        if child is None:
            raise ConfigError(path, f"unknown key '{key}'; {_suggest(key, node, prefix)}", file=loc)
        if isinstance(child, _Leaf):
            if isinstance(value, Mapping):
                extra = set(value) - {"value", "source"}
                if extra or "value" not in value:
                    bad = sorted(map(str, extra)) or ["(no 'value')"]
                    raise ConfigError(path, f"a sourced value is {{value: ..., source: '...'}}; got keys "
                                            f"{', '.join(bad)}", file=loc)
                src = value.get("source")
                if not isinstance(src, str) or not src.strip():
                    raise ConfigError(path, f"source must be a non-empty string, got {src!r}", file=loc)
                out[path] = (value["value"], src.strip(), loc)
            else:
                out[path] = (value, NO_SOURCE, loc)
        else:
            if not isinstance(value, Mapping):
                raise ConfigError(path, f"is a section; needs a mapping of keys ({', '.join(child[2])})", file=loc)
            _flatten(value, child[2], path + ".", where, lines, out)


def _load_layers(path: Path, out: dict[str, tuple[Any, str, str]], chain: tuple[Path, ...]) -> None:
    if path in chain:
        raise ConfigError("extends", f"circular extends: {' -> '.join(_display(p) for p in chain + (path,))}",
                          file=_display(path))
    data, lines = _read(path)
    shown = _display(path)
    base = data.get("extends")
    if base is not None:
        if not isinstance(base, str) or not base.strip():
            raise ConfigError("extends", f"must be a preset name or a relative path, got {base!r}",
                              file=f"{shown}:{lines.get('extends', 1)}")
        cand = Path(base)
        if cand.suffix not in (".yaml", ".yml"):
            cand = cand.with_suffix(".yaml")
        target = cand if cand.is_absolute() else path.parent / cand
        if not target.is_file():
            raise ConfigError("extends", f"no preset '{base}' beside this file", file=f"{shown}:{lines.get('extends', 1)}")
        _load_layers(target.resolve(), out, chain + (path,))
    layer: dict[str, tuple[Any, str, str]] = {}
    _flatten(data, _SCHEMA, "", shown, lines, layer)
    out.update(layer)


def _apply_set(flat: dict[str, tuple[Any, str, str]], text: str) -> None:
    if "=" not in text:
        raise ConfigError("--set", f"expected KEY=VALUE (e.g. pcu.lanes=16), got {text!r}")
    key, value_text = (s.strip() for s in text.split("=", 1))
    if key not in _LEAF_PATHS:
        close = difflib.get_close_matches(key, _LEAF_PATHS, n=1, cutoff=0.5)
        if not close:
            close = [p for p in _LEAF_PATHS if p.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]][:1]
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(key, f"unknown key{hint}", file=f"--set {text}")
    try:
        value = yaml.safe_load(value_text) if value_text else None
    except yaml.YAMLError as exc:
        raise ConfigError(key, f"cannot parse value {value_text!r}: {str(exc).splitlines()[0]}",
                          file=f"--set {text}") from None
    flat[key] = (value, SET_SOURCE, f"--set {text}")


# ----------------------------------------------------------------------------------------------
# Conversion.

def _convert(leaf: _Leaf, raw: Any, path: str, loc: str) -> Any:
    def fail(msg: str) -> ConfigError:
        return ConfigError(path, msg, file=loc)

    k = leaf.kind
    if raw is None:
        raise fail("must have a value (null given)")
    if k in ("int", "cycles"):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise fail(f"expected {'a whole number of cycles' if k == 'cycles' else 'an integer'}, got {raw!r}")
        value: Any = raw
    elif k == "str":
        if not isinstance(raw, str) or not raw.strip():
            raise fail(f"expected a non-empty string, got {raw!r}")
        return raw.strip()
    elif k == "fraction":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise fail(f"expected a number between 0 and 1, got {raw!r}")
        value = float(raw)
    else:
        try:
            value = _PARSERS[k](raw)
        except ValueError as exc:
            raise fail(str(exc)) from None
        if k in ("bandwidth", "per_clock", "frequency", "size") and value <= 0:
            raise fail(f"must be positive, got {raw!r}")
        if k in ("bandwidth", "per_clock", "frequency", "size"):
            return value
    if leaf.lo is not None and value < leaf.lo:
        raise fail(f"must be >= {leaf.lo:g}, got {raw!r}")
    if leaf.hi is not None and value > leaf.hi:
        raise fail(f"must be <= {leaf.hi:g}, got {raw!r}")
    return value


def _build(flat: dict[str, tuple[Any, str, str]], top: str) -> S.RDUSpec:
    prov: list[tuple[str, str, str]] = []
    missing: list[str] = []

    def build(cls: type, node: dict, prefix: str) -> Any:
        kwargs: dict[str, Any] = {}
        for k, child in node.items():
            path = prefix + k
            if isinstance(child, _Leaf):
                if path not in flat:
                    missing.append(path)
                    continue
                raw, src, loc = flat[path]
                kwargs[child.name] = _convert(child, raw, path, loc)
                prov.append((path, src, loc))
            else:
                kwargs[child[0]] = build(child[1], child[2], path + ".")
        return None if missing else cls(**kwargs)

    spec = build(S.RDUSpec, _SCHEMA, "")
    if missing:
        more = f" (missing: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''})" if len(missing) > 1 else ""
        raise ConfigError(missing[0], f"missing required key{more}", file=top)
    spec = dataclasses.replace(spec, provenance=tuple(prov), source_file=top)
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
    flat: dict[str, tuple[Any, str, str]] = {}
    _load_layers(path, flat, ())
    for text in overrides:
        _apply_set(flat, text)
    return _build(flat, _display(path))


def rdu_config_from_dict(data: Mapping[str, Any], overrides: Sequence[str] = (), *, source: str = "<dict>") -> S.RDUSpec:
    """Like :func:`load_rdu_config` for an in-memory mapping (no ``extends:``)."""
    if not isinstance(data, Mapping):
        raise ConfigError("config", f"expected a mapping, got {type(data).__name__}", file=source)
    if "extends" in data:
        raise ConfigError("extends", "not supported for in-memory configs", file=source)
    flat: dict[str, tuple[Any, str, str]] = {}
    _flatten(data, _SCHEMA, "", source, {}, flat)
    for text in overrides:
        _apply_set(flat, text)
    return _build(flat, source)


def spec_value_text(sp: S.RDUSpec, path: str) -> str:
    """The value at a key path as a unit string (``pcu.count`` -> ``1040``, ``clock`` -> ``1.6 GHz``)."""
    node: Any = _SCHEMA
    obj: Any = sp
    leaf = None
    for part in path.split("."):
        child = node[part]
        if isinstance(child, _Leaf):
            leaf = child
            obj = getattr(obj, child.name)
        else:
            node = child[2]
            obj = getattr(obj, child[0])
    assert leaf is not None
    if leaf.kind in _FORMATTERS:
        return _FORMATTERS[leaf.kind](obj)
    return f"{obj:g}" if isinstance(obj, float) else str(obj)


def dump_rdu_config(sp: S.RDUSpec) -> list[dict[str, str]]:
    """Every value with its source: [{key, value, source, status}] (printed with each run)."""
    rows = []
    for path, src, _ in sp.provenance:
        status = ("estimate" if src.lower().startswith(S.ESTIMATE_PREFIX)
                  else "unsourced" if src in (NO_SOURCE, SET_SOURCE) else "sourced")
        rows.append({"key": path, "value": spec_value_text(sp, path), "source": src, "status": status})
    return rows

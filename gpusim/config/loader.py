"""YAML -> ``extends:`` merge -> ``--set`` overrides -> key check -> units -> dataclasses -> cross checks.

Public entry points: :func:`find_config`, :func:`list_configs`, :func:`load_config`,
:func:`config_from_dict`, :func:`config_to_dict`, :func:`dump_config`, :func:`validate_config`.

The schema is not written down twice: it is read from the dataclasses of
:mod:`gpusim.config.specs`.  A field's YAML key is its name without the unit suffix
(:func:`yaml_key`) and the suffix picks the unit parser of :mod:`gpusim.units`:

=================  ==============  =========================================
field suffix       YAML value      canonical value
=================  ==============  =========================================
``_hz``            ``1.8 GHz``     int Hz
``_bytes``         ``6 MiB``       int bytes
``_bytes_per_s``   ``768 GB/s``    float bytes/s
``_ps``            ``25 ns``       int picoseconds
``_cycles``        ``13``          int cycles (a bare integer; floats refused)
=================  ==============  =========================================

Every problem is raised as :class:`~gpusim.errors.ConfigError` naming the key path
(``sm.count``) and the file that set the value; nothing else escapes for bad input.
"""

from __future__ import annotations

import builtins
import dataclasses
import difflib
import enum
import types
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml

from gpusim import units
from gpusim.config import specs
from gpusim.config.specs import WARP_SIZE, GPUConfig
from gpusim.config.yamlio import DuplicateKeyError, StrictLoader  # the one strict YAML reader
from gpusim.errors import ConfigError

__all__ = [
    "CONFIGS_DIR",
    "find_config",
    "list_configs",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "validate_config",
    "yaml_key",
    "schema_keys",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS_DIR = REPO_ROOT / "configs"
_YAML_SUFFIXES = (".yaml", ".yml")

# field-name suffix -> value kind; longest first so "_bytes_per_s" wins over "_bytes"
_SUFFIX_KINDS: tuple[tuple[str, str], ...] = (
    ("_bytes_per_s", "bandwidth"),
    ("_hz", "frequency"),
    ("_bytes", "size"),
    ("_ps", "time"),
    ("_cycles", "cycles"),
)
_PARSERS = {
    "frequency": units.parse_frequency,
    "size": units.parse_size,
    "bandwidth": units.parse_bandwidth,
    "time": units.parse_time,
}
_FORMATTERS = {
    "frequency": units.format_frequency,
    "size": units.format_size,
    "bandwidth": units.format_bandwidth,
    "time": units.format_time,
}
_DEFAULT_ORIGIN = "default"


def yaml_key(field_name: str) -> str:
    """The YAML spelling of a spec field: ``clock_hz`` -> ``clock``, ``l2_size_bytes`` -> ``l2_size``."""
    for suffix, _ in _SUFFIX_KINDS:
        if field_name.endswith(suffix) and len(field_name) > len(suffix):
            return field_name[: -len(suffix)]
    return field_name


# ----------------------------------------------------------------------------------------------
# Schema, derived once from the dataclasses.


@dataclasses.dataclass(frozen=True, slots=True)
class _Leaf:
    name: str                 # dataclass field name
    key: str                  # YAML key
    kind: str                 # int | cycles | bool | str | enum | sources | frequency | size | bandwidth | time
    optional: bool            # None allowed
    default: Any              # dataclasses.MISSING when required
    lo: int | None
    hi: int | None
    enum_cls: type | None
    doc: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Section:
    name: str
    key: str
    cls: type
    children: dict[str, Any]  # YAML key -> _Leaf | _Section
    has_default: bool
    doc: str


_TYPE_NAMESPACE: dict[str, Any] = {**vars(builtins), **vars(specs)}
for _name in ("int", "bool", "str", "float", "tuple"):  # builtins win over same-named fields
    _TYPE_NAMESPACE[_name] = getattr(builtins, _name)


def _resolve(annotation: Any) -> Any:
    return eval(annotation, _TYPE_NAMESPACE) if isinstance(annotation, str) else annotation  # noqa: S307


def _make_section(cls: type, name: str, key: str, has_default: bool, doc: str) -> _Section:
    children: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        hint = _resolve(f.type)
        optional = False
        if get_origin(hint) in (Union, types.UnionType):
            args = [a for a in get_args(hint) if a is not type(None)]
            optional = len(args) < len(get_args(hint))
            hint = args[0]
        k = yaml_key(f.name)
        doc_f = f.metadata.get("doc", "")
        has_def = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        if dataclasses.is_dataclass(hint):
            children[k] = _make_section(hint, f.name, k, has_def, doc_f)
            continue
        kind = next((kd for sfx, kd in _SUFFIX_KINDS if f.name.endswith(sfx)), None)
        enum_cls = None
        if kind is None:
            if hint is bool:
                kind = "bool"
            elif hint is int:
                kind = "int"
            elif hint is str:
                kind = "str"
            elif isinstance(hint, type) and issubclass(hint, enum.Enum):
                kind, enum_cls = "enum", hint
            elif get_origin(hint) is tuple:
                kind = "sources"
            else:  # pragma: no cover - a new field type needs a converter here
                raise TypeError(f"{cls.__name__}.{f.name}: no converter for {hint!r}")
        children[k] = _Leaf(
            name=f.name, key=k, kind=kind, optional=optional, default=f.default,
            lo=f.metadata.get("min", 1), hi=f.metadata.get("max"), enum_cls=enum_cls, doc=doc_f,
        )
    if len(children) != len([f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]):
        raise TypeError(f"{cls.__name__}: two fields map to the same YAML key")  # pragma: no cover
    return _Section(name=name, key=key, cls=cls, children=children, has_default=has_default, doc=doc)


_SCHEMA: _Section = _make_section(GPUConfig, "", "", False, "GPU configuration")


def schema_keys() -> list[tuple[str, str, str]]:
    """Every YAML key path with its value kind and doc, in schema order (for docs and checks)."""
    out: list[tuple[str, str, str]] = []

    def walk(sec: _Section, prefix: str) -> None:
        for k, node in sec.children.items():
            path = f"{prefix}{k}"
            if isinstance(node, _Section):
                out.append((path, "section", node.doc))
                walk(node, path + ".")
            else:
                out.append((path, node.kind, node.doc))

    walk(_SCHEMA, "")
    return out


def _all_leaf_paths() -> list[str]:
    return [p for p, kind, _ in schema_keys() if kind != "section"]


# ----------------------------------------------------------------------------------------------
# Finding files.


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _config_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix in _YAML_SUFFIXES and p.is_file())


def find_config(name_or_path: str | Path, *, root: str | Path | None = None) -> Path:
    """A YAML path as given, or a file stem searched recursively under ``configs/`` (or ``root``).

    ``find_config("rtx-a6000")`` -> ``.../configs/gpus/rtx-a6000.yaml``.  An unknown name raises
    :class:`ConfigError` listing close matches.
    """
    text = str(name_or_path)
    p = Path(text).expanduser()
    looks_like_path = isinstance(name_or_path, Path) or p.suffix in _YAML_SUFFIXES or "/" in text or "\\" in text
    search_root = Path(root) if root is not None else CONFIGS_DIR
    if p.is_file():
        return p.resolve()
    bare_file_name = p.suffix in _YAML_SUFFIXES and p.name == text
    if looks_like_path and not bare_file_name:
        raise ConfigError("config", f"no such config file: {text}")
    if bare_file_name:  # "rtx-a6000.yaml" that is not in the working directory: look it up by stem
        text = p.stem
    matches = [f for f in _config_files(search_root) if f.stem == text]
    if len(matches) == 1:
        return matches[0].resolve()
    if len(matches) > 1:
        listed = ", ".join(_display(m) for m in matches)
        raise ConfigError("config", f"name '{text}' is ambiguous: {listed}; pass a path instead")
    stems = sorted({f.stem for f in _config_files(search_root)})
    close = difflib.get_close_matches(text, stems, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    known = ", ".join(stems) if stems else "(none)"
    raise ConfigError("config", f"no config named '{text}' under {_display(search_root)}{hint} (known: {known})")


#: what the other folders under configs/ hold, and the flag that takes their names
_OTHER_KINDS = {"models": ("a model preset", "--model"), "accel": ("an accelerator preset", "--systolic or --rdu"),
                "sweeps": ("a sweep file", "gpusim sweep")}


def _find_gpu_config(name_or_path: str | Path) -> Path:
    """A GPU config by path, or by name among ``configs/gpus`` (and the ``configs/arch`` bases, which
    then report themselves as bases).  A name that belongs to another kind of preset (a model, an
    accelerator, a sweep) says which flag takes it instead of failing on its keys."""
    text = str(name_or_path)
    p = Path(text).expanduser()
    if isinstance(name_or_path, Path) or p.suffix in _YAML_SUFFIXES or "/" in text or "\\" in text or p.is_file():
        return find_config(name_or_path)
    for kind in ("gpus", "arch"):
        hits = [f for f in _config_files(CONFIGS_DIR / kind) if f.stem == text]
        if hits:
            return find_config(name_or_path, root=CONFIGS_DIR / kind)
    for kind, (what, flag) in _OTHER_KINDS.items():
        hits = [f for f in _config_files(CONFIGS_DIR / kind) if f.stem == text]
        if hits:
            raise ConfigError("gpu", f"'{text}' is {what} ({_display(hits[0])}), not a GPU config: give it to "
                                     f"{flag}; GPU configs: {', '.join(list_configs())}")
    gpus = list_configs()
    close = [g for g in gpus if g.startswith(text.lower())][:3] or difflib.get_close_matches(text, gpus, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError("gpu", f"no GPU config named '{text}'{hint} (GPU configs: {', '.join(gpus)})")


def list_configs(kind: str = "gpus") -> list[str]:
    """Names (file stems) of the configs under ``configs/<kind>/``: ``gpus`` (complete GPUs) or ``arch`` (bases)."""
    return sorted(f.stem for f in _config_files(CONFIGS_DIR / kind))


# ----------------------------------------------------------------------------------------------
# Reading YAML strictly (gpusim.config.yamlio.StrictLoader).


def _read_yaml(path: Path) -> dict:
    shown = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config", f"cannot read: {exc.strerror or exc}", file=shown) from None
    try:
        data = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ConfigError(f"line {exc.line}", f"duplicate key '{exc.key}'", file=shown) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "yaml"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(where, f"YAML syntax error: {problem}", file=shown) from None
    if data is None:
        raise ConfigError("config", "the file is empty", file=shown)
    if not isinstance(data, dict):
        raise ConfigError("config", f"the top level must be a mapping of keys, not a {type(data).__name__}", file=shown)
    return data


# ----------------------------------------------------------------------------------------------
# Structure check (keys only; values are converted later).


def _suggest(key: str, section: _Section, prefix: str) -> str:
    siblings = list(section.children)
    candidates = siblings + (["extends"] if section is _SCHEMA else [])
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    elsewhere = [p for p in _all_leaf_paths() + [p for p, k, _ in schema_keys() if k == "section"]
                 if p.rsplit(".", 1)[-1] == key]
    if elsewhere:
        return f"did you mean '{elsewhere[0]}'?"
    where = f"'{prefix.rstrip('.')}'" if prefix else "the top level"
    return f"valid keys in {where}: {', '.join(siblings)}"


def _check_keys(data: Mapping, section: _Section, prefix: str, file: str) -> None:
    for key, value in data.items():
        if not isinstance(key, str):
            raise ConfigError(f"{prefix}{key}", f"keys must be strings, got {type(key).__name__} {key!r}", file=file)
        path = f"{prefix}{key}"
        node = section.children.get(key)
        if node is None:
            raise ConfigError(path, f"unknown key '{key}'; {_suggest(key, section, prefix)}", file=file)
        if isinstance(node, _Section):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    path, f"is a section and needs a mapping of keys ({', '.join(node.children)}), got {value!r}",
                    file=file,
                )
            _check_keys(value, node, path + ".", file)


# ----------------------------------------------------------------------------------------------
# extends: resolution and deep merge with provenance.

Tree = dict[str, Any]
Origins = dict[str, Any]  # dotted leaf path -> origin; "sources" -> list of origins (one per item)


def _leaf_paths(data: Mapping, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        node = _node_at(path)
        if isinstance(node, _Section) and isinstance(value, Mapping):
            yield from _leaf_paths(value, path + ".")
        else:
            yield path, value


def _node_at(path: str) -> Any:
    node: Any = _SCHEMA
    for part in path.split("."):
        if not isinstance(node, _Section) or part not in node.children:
            return None
        node = node.children[part]
    return node


def _merge_into(base: Tree, origins: Origins, layer: Mapping, origin: str) -> None:
    """Deep-merge ``layer`` onto ``base`` (layer wins); ``sources`` lists are concatenated."""
    for path, value in _leaf_paths(layer):
        if path == "sources":
            if not isinstance(value, (list, tuple)):
                raise ConfigError("sources", f"expected a list of strings, got {value!r}", file=origin)
            items = list(value)
            base.setdefault("sources", []).extend(items)
            origins.setdefault("sources", []).extend([origin] * len(items))
            continue
        parts = path.split(".")
        cursor = base
        for part in parts[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[parts[-1]] = value
        origins[path] = origin


def _resolve_extends(value: Any, here: Path | None, base_dir: Path, shown: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("extends", f"must be a config name or a relative path, got {value!r}", file=shown)
    text = value.strip()
    if Path(text).suffix in _YAML_SUFFIXES or "/" in text:
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            candidate = (here.parent if here is not None else base_dir) / candidate
        if not candidate.is_file():
            raise ConfigError("extends", f"no such file: {text} (looked for {_display(candidate)})", file=shown)
        return candidate.resolve()
    try:
        return find_config(text)
    except ConfigError as exc:
        raise ConfigError("extends", exc.message, file=shown) from None


def _load_layers(data: dict, shown: str, here: Path | None, base_dir: Path, stack: tuple[Path, ...],
                 tree: Tree, origins: Origins) -> None:
    """Merge the extends chain of ``data`` (parents first) and then ``data`` itself into ``tree``."""
    data = dict(data)
    parent = data.pop("extends", None)
    _check_keys(data, _SCHEMA, "", shown)
    if parent is not None:
        parent_path = _resolve_extends(parent, here, base_dir, shown)
        chain = (*stack, here) if here is not None else stack
        if parent_path in chain:
            shown_chain = " -> ".join(_display(p) for p in (*chain, parent_path))
            raise ConfigError("extends", f"cycle in the extends chain: {shown_chain}", file=shown)
        _load_layers(_read_yaml(parent_path), _display(parent_path), parent_path, base_dir, chain, tree, origins)
    _merge_into(tree, origins, data, shown)


# ----------------------------------------------------------------------------------------------
# --set overrides.


def _apply_override(tree: Tree, origins: Origins, text: str) -> None:
    where = f"--set {text}"
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError("--set", f"expected KEY=VALUE (e.g. sm.count=40), got {text!r}")
    key_text, value_text = text.split("=", 1)
    path = key_text.strip()
    if not path:
        raise ConfigError("--set", f"empty key in {text!r}")
    if path == "extends":
        raise ConfigError("extends", "cannot be overridden with --set; pass a different config instead", file=where)
    section: _Section = _SCHEMA
    parts = path.split(".")
    for i, part in enumerate(parts):
        prefix = ".".join(parts[:i])
        node = section.children.get(part)
        if node is None:
            raise ConfigError(path, f"unknown key '{part}'; {_suggest(part, section, prefix + '.' if prefix else '')}",
                              file=where)
        if i < len(parts) - 1:
            if not isinstance(node, _Section):
                raise ConfigError(path, f"'{'.'.join(parts[: i + 1])}' is a value, not a section", file=where)
            section = node
    try:
        value = yaml.load(value_text, Loader=StrictLoader) if value_text.strip() else None  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"cannot parse value {value_text!r}: {str(exc).splitlines()[0]}", file=where) from None
    node = _node_at(path)
    if isinstance(node, _Section):
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"is a section; set one of its keys ({', '.join(node.children)})", file=where)
        _check_keys(value, node, path + ".", where)
    if path == "sources":
        tree.pop("sources", None)
        origins.pop("sources", None)
    _merge_into(tree, origins, _nest(path, value), where)


def _nest(path: str, value: Any) -> dict:
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


# ----------------------------------------------------------------------------------------------
# Conversion to dataclasses.


def _convert(leaf: _Leaf, raw: Any, path: str, file: str | None) -> Any:
    def fail(msg: str) -> ConfigError:
        return ConfigError(path, msg, file=file)

    if raw is None:
        if leaf.optional:
            return None
        raise fail("must have a value (null given)")
    kind = leaf.kind
    if kind in ("int", "cycles"):
        what = "a whole number of cycles" if kind == "cycles" else "an integer"
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, float):
                raise fail(f"expected {what}, got the float {raw!r}")
            raise fail(f"expected {what}, got {type(raw).__name__} {raw!r}")
        value = raw
    elif kind == "bool":
        if not isinstance(raw, bool):
            raise fail(f"expected true or false, got {type(raw).__name__} {raw!r}")
        return raw
    elif kind == "str":
        if not isinstance(raw, str) or not raw.strip():
            raise fail(f"expected a non-empty string, got {raw!r}")
        return raw
    elif kind == "enum":
        assert leaf.enum_cls is not None
        choices = [_enum_text(m) for m in leaf.enum_cls]
        if not isinstance(raw, str) or raw not in choices:
            close = difflib.get_close_matches(str(raw), choices, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise fail(f"expected one of {', '.join(choices)}, got {raw!r}{hint}")
        return next(m for m in leaf.enum_cls if _enum_text(m) == raw)
    elif kind == "sources":
        items = raw if isinstance(raw, (list, tuple)) else None
        if items is None or not all(isinstance(s, str) and s.strip() for s in items):
            raise fail(f"expected a list of non-empty strings, got {raw!r}")
        if not items:
            raise fail("needs at least one source")
        return tuple(items)
    else:
        try:
            value = _PARSERS[kind](raw)
        except ValueError as exc:
            raise fail(str(exc)) from None
        if kind == "bandwidth":
            if value <= 0:
                raise fail(f"must be positive, got {raw!r}")
            return value
    if leaf.lo is not None and value < leaf.lo:
        raise fail(f"must be >= {leaf.lo}, got {raw!r}")
    if leaf.hi is not None and value > leaf.hi:
        raise fail(f"must be <= {leaf.hi}, got {raw!r}")
    return value


def _enum_text(member: enum.Enum) -> str:
    return member.value if isinstance(member.value, str) else member.name.lower()


def _build_section(section: _Section, data: Mapping, prefix: str, origins: Origins, top: str | None,
                   missing: list[str], prov: list[tuple[str, str]]) -> Any:
    kwargs: dict[str, Any] = {}
    complete = True
    for key, node in section.children.items():
        path = f"{prefix}{key}"
        if isinstance(node, _Section):
            sub = data.get(key)
            if sub is None and node.has_default:
                _record_defaults(node, path + ".", prov)
                continue
            built = _build_section(node, sub or {}, path + ".", origins, top, missing, prov)
            if built is None:
                complete = False
            else:
                kwargs[node.name] = built
            continue
        if key in data:
            origin = origins.get(path)
            file = origin[0] if isinstance(origin, list) and origin else origin
            kwargs[node.name] = _convert(node, data[key], path, file if isinstance(file, str) else top)
            if key != "sources":
                prov.append((path, origin if isinstance(origin, str) else top or "?"))
        elif node.default is not dataclasses.MISSING:
            prov.append((path, _DEFAULT_ORIGIN))
        else:
            missing.append(path)
            complete = False
    return section.cls(**kwargs) if complete else None


def _record_defaults(section: _Section, prefix: str, prov: list[tuple[str, str]]) -> None:
    for key, node in section.children.items():
        if isinstance(node, _Section):
            _record_defaults(node, f"{prefix}{key}.", prov)
        else:
            prov.append((f"{prefix}{key}", _DEFAULT_ORIGIN))


def _build(tree: Tree, origins: Origins, top: str | None) -> GPUConfig:
    missing: list[str] = []
    prov: list[tuple[str, str]] = []
    cfg = _build_section(_SCHEMA, tree, "", origins, top, missing, prov)
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        more = f" (missing: {shown})" if len(missing) > 1 else ""
        hint = ""
        if top and Path(top).parent.name == "arch":
            hint = f"; {top} is an arch base, load a GPU config instead ({', '.join(list_configs())})"
        raise ConfigError(missing[0], f"missing required key{more}{hint}", file=top)
    assert isinstance(cfg, GPUConfig)
    src_origins = origins.get("sources", [])
    prov.extend((f"sources[{i}]", o) for i, o in enumerate(src_origins))
    cfg = dataclasses.replace(cfg, provenance=tuple(prov))
    validate_config(cfg)
    return cfg


# ----------------------------------------------------------------------------------------------
# Cross-field checks.


def validate_config(cfg: GPUConfig) -> None:
    """Cross-field rules; raises :class:`ConfigError` naming the offending key path (and its file)."""
    where = dict(cfg.provenance)

    def fail(path: str, msg: str) -> ConfigError:
        origin = where.get(path)
        return ConfigError(path, msg, file=origin if origin not in (None, _DEFAULT_ORIGIN) else None)

    sm, mem, ic = cfg.sm, cfg.memory, cfg.icache
    allowed = specs.ARCH_SM_VERSIONS.get(cfg.arch, ())
    if cfg.compute_capability not in allowed:
        arch_from = where.get("arch", "?")
        raise fail("compute_capability",
                   f"{cfg.compute_capability} is not an SM version of arch '{cfg.arch.value}' (set in {arch_from});"
                   f" expected one of {', '.join(map(str, allowed))}")
    if sm.max_threads > WARP_SIZE * sm.max_warps or sm.max_threads % WARP_SIZE:
        raise fail("sm.max_threads", f"must be a multiple of {WARP_SIZE} and at most {WARP_SIZE} * sm.max_warps "
                                     f"= {WARP_SIZE * sm.max_warps}, got {sm.max_threads}")
    if sm.max_warps % sm.subcores:
        raise fail("sm.max_warps", f"{sm.max_warps} warps do not divide evenly over sm.subcores = {sm.subcores}")
    if sm.registers % (sm.subcores * sm.register_alloc_granularity):
        raise fail("sm.registers", f"{sm.registers} is not a multiple of sm.subcores * sm.register_alloc_granularity"
                                   f" = {sm.subcores * sm.register_alloc_granularity}")
    if sm.max_registers_per_thread > 255:
        raise fail("sm.max_registers_per_thread", f"at most 255 (R255 is RZ), got {sm.max_registers_per_thread}")
    if sm.shared_memory_bytes > mem.l1_size_bytes:
        raise fail("sm.shared_memory", f"{units.format_size(sm.shared_memory_bytes)} exceeds the unified "
                                       f"memory.l1_size = {units.format_size(mem.l1_size_bytes)}")
    if sm.shared_memory_bytes % sm.shared_alloc_granularity_bytes:
        raise fail("sm.shared_memory", f"not a multiple of sm.shared_alloc_granularity = "
                                       f"{units.format_size(sm.shared_alloc_granularity_bytes)}")
    if sm.reserved_shared_memory_per_cta_bytes >= sm.shared_memory_bytes:
        raise fail("sm.reserved_shared_memory_per_cta", "must be smaller than sm.shared_memory")
    for path, size in (("memory.line_size", mem.line_size_bytes), ("memory.sector_size", mem.sector_size_bytes),
                       ("icache.line_size", ic.line_size_bytes)):
        if size & (size - 1):
            raise fail(path, f"must be a power of two, got {size} B")
    if mem.line_size_bytes % mem.sector_size_bytes:
        raise fail("memory.sector_size", "must divide memory.line_size")
    for path, size in (("memory.l1_size", mem.l1_size_bytes), ("memory.l2_size", mem.l2_size_bytes)):
        if size % mem.line_size_bytes:
            raise fail(path, f"{units.format_size(size)} is not a whole number of {mem.line_size_bytes} B lines")
    for path, size, ways in (("icache.l0_size", ic.l0_size_bytes, ic.l0_ways),
                             ("icache.l1_size", ic.l1_size_bytes, ic.l1_ways)):
        if size % (ic.line_size_bytes * ways):
            raise fail(path, f"{units.format_size(size)} is not a whole number of sets of {ways} ways x "
                             f"{ic.line_size_bytes} B lines")
    if mem.l1_hit_latency_cycles >= mem.l2_hit_latency_cycles:
        raise fail("memory.l1_hit_latency", f"{mem.l1_hit_latency_cycles} must be below memory.l2_hit_latency "
                                            f"({mem.l2_hit_latency_cycles})")
    if mem.l2_hit_latency_cycles >= mem.dram_latency_cycles:
        raise fail("memory.l2_hit_latency", f"{mem.l2_hit_latency_cycles} must be below memory.dram_latency "
                                            f"({mem.dram_latency_cycles})")


# ----------------------------------------------------------------------------------------------
# Public API.


def load_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> GPUConfig:
    """Load a GPU config by name (``rtx-a6000``) or path, resolve ``extends:``, apply ``--set`` overrides.

    ``overrides`` are ``KEY=VALUE`` strings with dotted YAML keys; the value is read as a YAML
    scalar: ``["sm.count=40", "memory.l2_size=20 MiB", "subcore.issue_policy=gto"]``.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    path = _find_gpu_config(name_or_path)
    shown = _display(path)
    tree: Tree = {}
    origins: Origins = {}
    _load_layers(_read_yaml(path), shown, path, path.parent, (), tree, origins)
    for text in overrides:
        _apply_override(tree, origins, text)
    return _build(tree, origins, shown)


def config_from_dict(data: Mapping[str, Any], overrides: Sequence[str] = (), *, source: str = "<dict>",
                     base_dir: str | Path | None = None) -> GPUConfig:
    """Like :func:`load_config` for an in-memory mapping (``extends:`` resolves against ``base_dir``)."""
    if not isinstance(data, Mapping):
        raise ConfigError("config", f"expected a mapping, got {type(data).__name__}", file=source)
    if isinstance(overrides, str):
        overrides = [overrides]
    tree: Tree = {}
    origins: Origins = {}
    _load_layers(dict(data), source, None, Path(base_dir) if base_dir is not None else Path.cwd(), (), tree, origins)
    for text in overrides:
        _apply_override(tree, origins, text)
    return _build(tree, origins, source)


def config_to_dict(cfg: GPUConfig) -> dict[str, Any]:
    """The config as nested plain data with YAML keys and unit strings; ``config_from_dict`` reads it back."""

    def walk(section: _Section, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, node in section.children.items():
            value = getattr(obj, node.name)
            if isinstance(node, _Section):
                out[key] = walk(node, value)
            elif value is None:
                out[key] = None
            elif node.kind in _FORMATTERS:
                out[key] = _FORMATTERS[node.kind](value)
            elif node.kind == "enum":
                out[key] = _enum_text(value)
            elif node.kind == "sources":
                out[key] = list(value)
            else:
                out[key] = value
        return out

    return walk(_SCHEMA, cfg)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = yaml.safe_dump([value], default_flow_style=True, width=10**9, allow_unicode=True).strip()
    return text[1:-1]


def dump_config(cfg: GPUConfig) -> str:
    """The resolved config as YAML, units human-readable, each value's origin as a trailing comment.

    ``load_config`` on this text (saved to a file) gives a config equal to ``cfg``.
    """
    data = config_to_dict(cfg)
    where = dict(cfg.provenance)
    rows: list[tuple[str, str]] = []  # (text, comment)

    def emit(mapping: Mapping[str, Any], prefix: str, indent: int) -> None:
        pad = "  " * indent
        for key, value in mapping.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping):
                rows.append((f"{pad}{key}:", ""))
                emit(value, path + ".", indent + 1)
            elif isinstance(value, list):
                rows.append((f"{pad}{key}:", ""))
                for i, item in enumerate(value):
                    rows.append((f"{pad}  - {_scalar(item)}", where.get(f"{path}[{i}]", "")))
            else:
                rows.append((f"{pad}{key}: {_scalar(value)}", where.get(path, "")))

    emit(data, "", 0)
    width = min(max(len(t) for t, c in rows if c), 60) if any(c for _, c in rows) else 0
    header = [
        "# gpusim resolved configuration: every value, defaults included (written by gpusim.config.dump_config).",
        "# Load it again by path; the comment after a value names the file that set it, 'default' or '--set'.",
    ]
    body = [f"{t.ljust(width)}  # {c}" if c else t for t, c in rows]
    return "\n".join(header + body + _published_notes(data.get("sources") or [])) + "\n"


def _published_notes(sources: list) -> list[str]:
    """Comment lines naming the published source of every ``research/...`` note the ``sources`` cite
    (the notes are the project's, not shipped; configs/cited-sources.csv is)."""
    from gpusim.config.sources import published_sources

    found = published_sources(sources)
    if not found:
        return []
    out = ["", "# Published sources of the research notes cited above (the notes themselves are not shipped;",
           "# configs/cited-sources.csv lists these):"]
    for ref, src in found:
        out.append(f"#   {ref}: {src if src else 'NOT IN configs/cited-sources.csv (run configs/make_cited_sources.py)'}")
    return out

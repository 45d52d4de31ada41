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
import types
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml

from gpusim import units
from gpusim.config import specs
from gpusim.config.specs import WARP_SIZE, GPUConfig
from gpusim.config.schema import (
    Schema,
    convert,
    enum_text,
    fields_from_dataclass,
    flatten,
    read_yaml,
    unit_of_name,
)
from gpusim.config.yamlio import Lines, StrictLoader
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

_FORMATTERS = {
    "frequency": units.format_frequency,
    "size": units.format_size,
    "bandwidth": units.format_bandwidth,
    "time": units.format_time,
}
_DEFAULT_ORIGIN = "default"


def yaml_key(field_name: str) -> str:
    """The YAML spelling of a spec field: ``clock_hz`` -> ``clock``, ``l2_size_bytes`` -> ``l2_size``."""
    return unit_of_name(field_name)[0]


# ----------------------------------------------------------------------------------------------
# Schema, derived once from the dataclasses.


@dataclasses.dataclass(frozen=True, slots=True)
class _Section:
    name: str
    key: str
    cls: type
    children: dict[str, Any]  # YAML key -> schema.Field | _Section
    has_default: bool
    doc: str


_TYPE_NAMESPACE: dict[str, Any] = {**vars(builtins), **vars(specs)}
for _name in ("int", "bool", "str", "float", "tuple"):  # builtins win over same-named fields
    _TYPE_NAMESPACE[_name] = getattr(builtins, _name)


def _resolve(annotation: Any) -> Any:
    return eval(annotation, _TYPE_NAMESPACE) if isinstance(annotation, str) else annotation  # noqa: S307


def _hints(cls: type) -> dict[str, tuple[Any, bool]]:
    """Field name -> (type, None allowed) of a spec dataclass (``int | None`` -> ``(int, True)``)."""
    out: dict[str, tuple[Any, bool]] = {}
    for f in dataclasses.fields(cls):
        hint = _resolve(f.type)
        optional = False
        if get_origin(hint) in (Union, types.UnionType):
            args = [a for a in get_args(hint) if a is not type(None)]
            optional = len(args) < len(get_args(hint))
            hint = args[0]
        out[f.name] = (tuple if get_origin(hint) is tuple else hint, optional)
    return out


#: every leaf of the GPU schema as one :class:`gpusim.config.schema.Field` (the dataclasses in
#: :mod:`gpusim.config.specs` are the declaration; ``_f``'s doc, default and bounds become the Field's)
GPU_SCHEMA = Schema(fields_from_dataclass(GPUConfig, _hints), name="GPU config", extra_top=("extends",))


def _make_section(cls: type, name: str, key: str, has_default: bool, doc: str, prefix: str = "") -> _Section:
    children: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        hint, _ = _hints(cls)[f.name]
        k = yaml_key(f.name)
        if dataclasses.is_dataclass(hint):
            has_def = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            children[k] = _make_section(hint, f.name, k, has_def, f.metadata.get("doc", ""), f"{prefix}{k}.")
        else:
            children[k] = GPU_SCHEMA.fields[f"{prefix}{k}"]
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


def _read_yaml(path: Path) -> tuple[dict, Lines]:
    """The strict reader of every preset (:func:`gpusim.config.schema.read_yaml`): data and key lines."""
    return read_yaml(path, _display(path))


def _check_keys(data: Mapping, prefix: str, file: str, lines: Lines | None = None) -> None:
    """Unknown keys and misplaced values, refused by the one schema check (``file:line: key.path: ...``)."""
    flatten(GPU_SCHEMA, data, file, lines, prefix=tuple(prefix.split(".")) if prefix else ())


# ----------------------------------------------------------------------------------------------
# extends: resolution and deep merge with provenance.

Tree = dict[str, Any]
Origins = dict[str, Any]  # dotted leaf path -> origin; "sources" -> list of origins (one per item)
Wheres = dict[str, str]   # dotted leaf path -> "file:line" (or the origin) of the value that won


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


def _merge_into(base: Tree, origins: Origins, layer: Mapping, origin: str, wheres: Wheres,
                lines: Lines | None = None) -> None:
    """Deep-merge ``layer`` onto ``base`` (layer wins); ``sources`` lists are concatenated.  ``wheres``
    gets the ``file:line`` of every leaf (for errors and ``config show --sources``; ``origins`` keeps the
    file, for provenance), and of every ``sources`` item as ``sources[i]``."""
    for path, value in _leaf_paths(layer):
        kp = tuple(path.split("."))
        wheres[path] = f"{origin}:{lines.lines[kp]}" if lines is not None and kp in lines.lines else origin
        if path == "sources":
            if not isinstance(value, (list, tuple)):
                raise ConfigError("sources", f"expected a list of strings, got {value!r}", file=origin)
            items = list(value)
            first = len(base.get("sources", []))
            for i in range(len(items)):
                at = lines.lines.get(("sources", i)) if lines is not None else None
                wheres[f"sources[{first + i}]"] = f"{origin}:{at}" if at else origin
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


def _load_layers(data: dict, lines: Lines | None, shown: str, here: Path | None, base_dir: Path,
                 stack: tuple[Path, ...], tree: Tree, origins: Origins, wheres: Wheres) -> None:
    """Merge the extends chain of ``data`` (parents first) and then ``data`` itself into ``tree``."""
    data = dict(data)
    _check_keys(data, "", shown, lines)
    parent = data.pop("extends", None)
    if parent is not None:
        at = f"{shown}:{lines.lines[('extends',)]}" if lines is not None and ("extends",) in lines.lines else shown
        parent_path = _resolve_extends(parent, here, base_dir, at)
        chain = (*stack, here) if here is not None else stack
        if parent_path in chain:
            shown_chain = " -> ".join(_display(p) for p in (*chain, parent_path))
            raise ConfigError("extends", f"cycle in the extends chain: {shown_chain}", file=at)
        _load_layers(*_read_yaml(parent_path), _display(parent_path), parent_path, base_dir, chain, tree, origins,
                     wheres)
    _merge_into(tree, origins, data, shown, wheres, lines)


# ----------------------------------------------------------------------------------------------
# --set overrides.


def _apply_override(tree: Tree, origins: Origins, wheres: Wheres, text: str) -> None:
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
        node = section.children.get(part)
        if node is None:
            raise GPU_SCHEMA.unknown(path, where)
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
        _check_keys(value, path, where)
    if path == "sources":
        tree.pop("sources", None)
        origins.pop("sources", None)
        for k in [k for k in wheres if k.startswith("sources[")]:
            del wheres[k]
    _merge_into(tree, origins, _nest(path, value), where, wheres)


def _nest(path: str, value: Any) -> dict:
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


# ----------------------------------------------------------------------------------------------
# Conversion to dataclasses.


def _build_section(section: _Section, data: Mapping, prefix: str, origins: Origins, wheres: Wheres,
                   top: str | None, missing: list[str], prov: list[tuple[str, str]]) -> Any:
    kwargs: dict[str, Any] = {}
    complete = True
    for key, node in section.children.items():
        path = f"{prefix}{key}"
        if isinstance(node, _Section):
            sub = data.get(key)
            if sub is None and node.has_default:
                _record_defaults(node, path + ".", prov)
                continue
            built = _build_section(node, sub or {}, path + ".", origins, wheres, top, missing, prov)
            if built is None:
                complete = False
            else:
                kwargs[node.name] = built
            continue
        if key in data:
            origin = origins.get(path)
            file = origin[0] if isinstance(origin, list) and origin else origin
            kwargs[node.attr] = convert(node, data[key], wheres.get(path) or (file if isinstance(file, str) else top))
            if key != "sources":
                prov.append((path, origin if isinstance(origin, str) else top or "?"))
        elif not node.required:
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


def _build(tree: Tree, origins: Origins, wheres: Wheres, top: str | None) -> GPUConfig:
    missing: list[str] = []
    prov: list[tuple[str, str]] = []
    cfg = _build_section(_SCHEMA, tree, "", origins, wheres, top, missing, prov)
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
    return load_config_where(name_or_path, overrides)[0]


def load_config_where(name_or_path: str | Path, overrides: Sequence[str] = ()) -> tuple[GPUConfig, dict[str, str]]:
    """:func:`load_config`, and where each value that a file or override sets was written: key path (and
    ``sources[i]``) -> ``file:line`` of the layer that won (``--set KEY=VALUE`` for an override).  Key paths
    absent from it hold their default (:func:`value_sources` names the default's source)."""
    if isinstance(overrides, str):
        overrides = [overrides]
    path = _find_gpu_config(name_or_path)
    shown = _display(path)
    tree: Tree = {}
    origins: Origins = {}
    wheres: Wheres = {}
    _load_layers(*_read_yaml(path), shown, path, path.parent, (), tree, origins, wheres)
    for text in overrides:
        _apply_override(tree, origins, wheres, text)
    return _build(tree, origins, wheres, shown), wheres


def config_from_dict(data: Mapping[str, Any], overrides: Sequence[str] = (), *, source: str = "<dict>",
                     base_dir: str | Path | None = None) -> GPUConfig:
    """Like :func:`load_config` for an in-memory mapping (``extends:`` resolves against ``base_dir``)."""
    if not isinstance(data, Mapping):
        raise ConfigError("config", f"expected a mapping, got {type(data).__name__}", file=source)
    if isinstance(overrides, str):
        overrides = [overrides]
    tree: Tree = {}
    origins: Origins = {}
    wheres: Wheres = {}
    _load_layers(dict(data), None, source, None, Path(base_dir) if base_dir is not None else Path.cwd(), (), tree,
                 origins, wheres)
    for text in overrides:
        _apply_override(tree, origins, wheres, text)
    return _build(tree, origins, wheres, source)


def config_to_dict(cfg: GPUConfig) -> dict[str, Any]:
    """The config as nested plain data with YAML keys and unit strings; ``config_from_dict`` reads it back."""

    def walk(section: _Section, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, node in section.children.items():
            value = getattr(obj, node.name if isinstance(node, _Section) else node.attr)
            if isinstance(node, _Section):
                out[key] = walk(node, value)
            elif value is None:
                out[key] = None
            elif node.kind in _FORMATTERS:
                out[key] = _FORMATTERS[node.kind](value)
            elif node.kind == "enum":
                out[key] = enum_text(value)
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


def dump_config(cfg: GPUConfig, *, comments: Mapping[str, str] | None = None,
                header: Sequence[str] | None = None) -> str:
    """The resolved config as YAML, units human-readable, each value's origin as a trailing comment.

    ``load_config`` on this text (saved to a file) gives a config equal to ``cfg``.  ``comments`` (key path
    or ``sources[i]`` -> text) replaces the origins of ``cfg.provenance`` as the trailing comments, and
    ``header`` the two header lines (:func:`gpusim.config.explain.dump_config_sources`).
    """
    data = config_to_dict(cfg)
    where = dict(cfg.provenance) if comments is None else dict(comments)
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
    if header is None:
        header = [
            "# gpusim resolved configuration: every value, defaults included (written by gpusim.config.dump_config).",
            "# Load it again by path; the comment after a value names the file that set it, 'default' or '--set'.",
        ]
    body = [f"{t.ljust(width)}  # {c}" if c else t for t, c in rows]
    return "\n".join([*header, *body, *_published_notes(data.get("sources") or [])]) + "\n"


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

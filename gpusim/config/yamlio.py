"""Reading YAML strictly, with the line of every key: the one YAML reader of gpusim's input files.

GPU configs (:mod:`gpusim.config.loader`), RDU presets (:mod:`gpusim.accel.rdu.config`), sweep files
(:mod:`gpusim.sweep`) and validation suites (:mod:`gpusim.validate`) all read YAML through
:class:`StrictLoader`: PyYAML's SafeLoader that refuses a duplicate key (PyYAML silently keeps the
last one).  :func:`load_yaml` also returns :class:`Lines`, the ``file:line`` of every key path, so a
bad value is reported as ``file:line: key.path: message`` wherever it was read.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from gpusim.errors import InputFileError

__all__ = ["StrictLoader", "DuplicateKeyError", "Lines", "format_keypath", "load_yaml", "check_keys", "strict_load", "suggest_key"]


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names one key twice (``line`` is 1-based)."""

    def __init__(self, key: Any, line: int):
        super().__init__(f"line {line}: duplicate key '{key}'")
        self.key, self.line = key, line


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (raises :class:`DuplicateKeyError`)."""


def _construct_strict_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise DuplicateKeyError(key, key_node.start_mark.line + 1)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_strict_mapping)


def strict_load(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (:class:`DuplicateKeyError`, a ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


def format_keypath(kp: Iterable) -> str:
    """``("workloads", 0, "trace")`` -> ``workloads[0].trace``."""
    out = ""
    for part in kp:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Lines:
    """Line numbers of the keys and list items of one YAML file, by key path tuple."""

    def __init__(self, path: Path, lines: dict[tuple, int]):
        self.path = path
        self.lines = lines

    def at(self, keypath: tuple) -> str:
        """``file:line`` of the deepest known prefix of ``keypath``."""
        kp = tuple(keypath)
        while kp and kp not in self.lines:
            kp = kp[:-1]
        line = self.lines.get(kp, 1)
        return f"{self.path}:{line}"

    def error(self, keypath: tuple, message: str) -> InputFileError:
        return InputFileError(f"{self.at(keypath)}: {format_keypath(keypath)}: {message}" if keypath
                              else f"{self.at(keypath)}: {message}")


def load_yaml(path: str | Path, what: str = "file") -> tuple[Any, Lines]:
    """Parse a YAML file; return the data and the line of every key path.  InputFileError on bad YAML."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"{path}: cannot read the {what}: {e}") from None
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except DuplicateKeyError as e:
        raise InputFileError(f"{path}:{e.line}: duplicate key {e.key!r}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputFileError(f"{path}{line}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}

    def walk(n, kp):
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                sub = (*kp, k.value)
                lines[sub] = k.start_mark.line + 1
                walk(v, sub)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[(*kp, i)] = v.start_mark.line + 1
                walk(v, (*kp, i))

    if node is not None:
        lines[()] = node.start_mark.line + 1
        walk(node, ())
    return data, Lines(path, lines)


def suggest_key(key: Any, siblings: Iterable[str], all_paths: Iterable[str] = (), prefix: str = "",
                path: str | None = None) -> str:
    """The hint after ``unknown key 'k';`` in every gpusim input file: ``did you mean 'a.b'?`` (a close
    sibling, then a key of that name elsewhere, then a close full path), else the valid keys here."""
    key, siblings, all_paths = str(key), list(siblings), list(all_paths)
    pre = f"{prefix}." if prefix else ""
    close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{pre}{close[0]}'?"
    same = [p for p in all_paths if p.rsplit(".", 1)[-1] == key]
    close = same or (difflib.get_close_matches(path, all_paths, n=1, cutoff=0.75) if path else [])
    if close:
        return f"did you mean '{close[0]}'?"
    where = f" in '{prefix}'" if prefix else ""
    return f"valid keys{where}: {', '.join(siblings)}"


def check_keys(data: Mapping, allowed: Iterable[str], lines: Lines, kp: tuple, required: Iterable[str] = ()) -> None:
    """Refuse an unknown key (with the closest allowed one as a suggestion) or a missing required one."""
    allowed = list(allowed)
    for k in data:
        if k not in allowed:
            raise lines.error((*kp, k), f"unknown key '{k}'; {suggest_key(k, allowed, prefix=format_keypath(kp))}")
    for k in required:
        if k not in data:
            raise lines.error(kp, f"missing required key '{k}'")

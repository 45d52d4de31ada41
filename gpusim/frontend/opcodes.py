"""SASS opcode tables: ``isa/<family>.yaml`` compiled into numpy lookup arrays.

Each architecture family (pascal, volta, turing, ampere, ada, hopper, blackwell) has one YAML
table keyed by *base opcode* (the mnemonic text before the first ``.``).  A table may
``extends:`` another one; it then inherits every entry, may ``remove:`` some, and may override
single fields of inherited entries.  The schema is documented in ``isa/README.md``.

The compiled :class:`OpcodeTable` gives every base opcode a dense integer id and holds one numpy
array per property (unit class, fixed/variable latency, latency override, memory space and kind),
so the trace front end can intern a whole column of mnemonics once and the Numba core can index
the arrays by id.  Modifier-level facts that do not depend on the family (access width, L1
bypass, tensor-core shape) are parsed from the full mnemonic by the free functions at the end.

Unit, space and kind codes are the enums of :mod:`gpusim.core.layout`, named in the YAML by their
lower-case member names.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import yaml

from gpusim.core.layout import OPCODE_DTYPE, MemKind, MemSpace, Unit
from gpusim.errors import IsaError

__all__ = [
    "ISA_DIR",
    "OpcodeTable",
    "MmaShape",
    "isa_dir",
    "families",
    "supported_binary_versions",
    "family_for_binary_version",
    "load_opcode_table",
    "table_for_binary_version",
    "base_opcode",
    "modifiers",
    "access_width_bytes",
    "bypasses_l1",
    "mma_shape",
    "mma_operand_bits",
    "mma_formula_bits",
    "is_sparse_mma",
]

#: Default location of the tables: ``<repo>/isa`` next to the ``gpusim`` package (editable install).
ISA_DIR = Path(__file__).resolve().parents[2] / "isa"

_TOP_KEYS = {"family", "extends", "binary_versions", "sources", "notes", "remove", "opcodes"}
_ENTRY_KEYS = {"unit", "latency", "cycles", "space", "kind", "note"}
_LATENCY_WORDS = ("fixed", "variable")
_OPCODE_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def isa_dir() -> Path:
    """Directory holding the ``<family>.yaml`` tables (``$GPUSIM_ISA_DIR`` overrides the default)."""
    env = os.environ.get("GPUSIM_ISA_DIR")
    return Path(env) if env else ISA_DIR


# --------------------------------------------------------------------------------------------
# compiled table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OpcodeTable:
    """One family's opcode table, compiled.  Index every array by the opcode id."""

    family: str
    file: str                      # "isa/<family>.yaml" (for messages)
    binary_versions: tuple[int, ...]
    names: tuple[str, ...]         # base opcode per id, sorted alphabetically
    unit: np.ndarray               # int8, Unit
    variable: np.ndarray           # bool: variable latency (dependence counters / long scoreboard)
    latency: np.ndarray            # int16: fixed-latency override in cycles, -1 = pipe default
    mem_space: np.ndarray          # int8, MemSpace
    mem_kind: np.ndarray           # int8, MemKind
    notes: tuple[str, ...] = ()    # free-text note per id ("" when none)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, mnemonic: object) -> bool:
        return isinstance(mnemonic, str) and self.id_of(mnemonic) >= 0

    def id_of(self, mnemonic: str) -> int:
        """Id of the base opcode of ``mnemonic`` (modifiers are ignored); -1 if unknown."""
        return self._index.get(base_opcode(mnemonic), -1)

    def entry(self, mnemonic: str) -> dict[str, Any]:
        """The properties of one opcode as a dict of enum members (for reports and tests)."""
        i = self.id_of(mnemonic)
        if i < 0:
            raise self._unknown(base_opcode(mnemonic), None)
        return {
            "name": self.names[i],
            "unit": Unit(int(self.unit[i])),
            "variable": bool(self.variable[i]),
            "latency": int(self.latency[i]),
            "space": MemSpace(int(self.mem_space[i])),
            "kind": MemKind(int(self.mem_kind[i])),
            "note": self.notes[i] if self.notes else "",
        }

    def intern(self, mnemonics: Sequence[str], where: Sequence[str] | None = None) -> np.ndarray:
        """Opcode id (``OPCODE_DTYPE``) of each mnemonic.

        Raises :class:`IsaError` at the first unknown opcode, prefixed by ``where[i]`` (for
        example ``"kernel-1.traceg:123"``) when given.
        """
        out = np.empty(len(mnemonics), dtype=OPCODE_DTYPE)
        cache: dict[str, int] = {}
        index = self._index
        for i, mn in enumerate(mnemonics):
            v = cache.get(mn)
            if v is None:
                base = base_opcode(mn)
                v = index.get(base, -1)
                if v < 0:
                    raise self._unknown(base, where[i] if where is not None else None)
                cache[mn] = v
            out[i] = v
        return out

    def _unknown(self, base: str, where: str | None) -> IsaError:
        close = difflib.get_close_matches(base, self.names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        prefix = f"{where}: " if where else ""
        return IsaError(f"{prefix}unknown opcode '{base}' for {self.family} ({self.file}){hint}")


# --------------------------------------------------------------------------------------------
# loading and validation
# --------------------------------------------------------------------------------------------


#: PyYAML's safe loader in C (libyaml) where PyYAML was built with it, else the pure-Python one: the same
#: documents (every file under isa/ and configs/ loads to equal objects with both); every command that
#: reads a trace maps its ``-binary version`` through all seven ISA files, 60-90 ms of a warm ``gpusim
#: run`` in pure Python, under 10 ms in C
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _rel(path: Path) -> str:
    return f"isa/{path.name}"


@functools.lru_cache(maxsize=None)
def _read_yaml(path_str: str) -> dict[str, Any]:
    path = Path(path_str)
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        raise IsaError(f"{_rel(path)}: not valid YAML: {e}") from None
    except OSError as e:
        raise IsaError(f"{_rel(path)}: cannot read: {e.strerror}") from None
    if not isinstance(doc, dict):
        raise IsaError(f"{_rel(path)}: top level must be a mapping")
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise IsaError(f"{_rel(path)}: unknown top-level key(s) {unknown} (allowed: {sorted(_TOP_KEYS)})")
    fam = doc.get("family")
    if fam != path.stem:
        raise IsaError(f"{_rel(path)}: 'family: {fam}' does not match the file name '{path.stem}'")
    bv = doc.get("binary_versions", [])
    if not isinstance(bv, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in bv):
        raise IsaError(f"{_rel(path)}: binary_versions must be a list of integers")
    return doc


def _family_path(family: str) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", family or ""):
        raise IsaError(f"bad ISA family name {family!r}")
    p = isa_dir() / f"{family}.yaml"
    if not p.is_file():
        raise IsaError(f"no opcode table for family '{family}' (isa/{family}.yaml; known: {', '.join(families())})")
    return p


def families() -> tuple[str, ...]:
    """Families that have a table in the ISA directory."""
    d = isa_dir()
    return tuple(sorted(p.stem for p in d.glob("*.yaml"))) if d.is_dir() else ()


def _enum_value(enum: type, value: Any, what: str, file: str, op: str) -> int:
    if not isinstance(value, str) or value.upper() not in enum.__members__:
        names = ", ".join(m.lower() for m in enum.__members__)
        raise IsaError(f"{file}: opcode {op}: unknown {what} {value!r} (expected one of: {names})")
    return int(enum.__members__[value.upper()])


def _check_entry(entry: Any, file: str, op: str) -> dict[str, Any]:
    if entry is None:
        entry = {}
    if not isinstance(entry, dict):
        raise IsaError(f"{file}: opcode {op}: entry must be a mapping like {{unit: int}}")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise IsaError(f"{file}: opcode {op}: unknown field(s) {unknown} (allowed: {sorted(_ENTRY_KEYS)})")
    out = dict(entry)
    if "unit" in out:
        _enum_value(Unit, out["unit"], "unit", file, op)
    if "space" in out:
        _enum_value(MemSpace, out["space"], "space", file, op)
    if "kind" in out:
        _enum_value(MemKind, out["kind"], "kind", file, op)
    if "latency" in out and out["latency"] not in _LATENCY_WORDS:
        raise IsaError(f"{file}: opcode {op}: latency must be 'fixed' or 'variable', not {out['latency']!r}")
    if "cycles" in out:
        c = out["cycles"]
        if isinstance(c, bool) or not isinstance(c, int) or not 0 < c < 32768:
            raise IsaError(f"{file}: opcode {op}: cycles must be a positive integer, not {c!r}")
    if "note" in out and not isinstance(out["note"], str):
        raise IsaError(f"{file}: opcode {op}: note must be a string")
    return out


def _resolve(family: str, chain: tuple[str, ...] = ()) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Merged ``{opcode: entry}`` of ``family`` with its ``extends`` chain applied, and the
    file each opcode's entry was last touched in."""
    if family in chain:
        raise IsaError(f"isa/{family}.yaml: circular 'extends' ({' -> '.join(chain + (family,))})")
    path = _family_path(family)
    file = _rel(path)
    doc = _read_yaml(str(path))
    parent = doc.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise IsaError(f"{file}: extends must be a family name")
        merged, origin = _resolve(parent, chain + (family,))
        merged = {k: dict(v) for k, v in merged.items()}
        origin = dict(origin)
    else:
        merged, origin = {}, {}

    remove = doc.get("remove") or []
    if not isinstance(remove, list):
        raise IsaError(f"{file}: remove must be a list of opcodes")
    for op in remove:
        if op not in merged:
            raise IsaError(f"{file}: remove: opcode {op} is not in the parent table '{parent}'")
        del merged[op]
        del origin[op]

    ops = doc.get("opcodes")
    if not isinstance(ops, dict) or not ops:
        raise IsaError(f"{file}: 'opcodes' must be a non-empty mapping")
    for op, entry in ops.items():
        if not isinstance(op, str) or not _OPCODE_RE.match(op):
            raise IsaError(f"{file}: opcode {op!r}: keys must be base opcodes (upper case, no '.')")
        if op in remove:
            raise IsaError(f"{file}: opcode {op}: both removed and defined")
        e = _check_entry(entry, file, op)
        if op in merged and "unit" not in e:
            merged[op] = {**merged[op], **e}   # partial override of an inherited entry
        else:
            merged[op] = e                     # new entry, or a full replacement (names 'unit')
        origin[op] = file
    return merged, origin


def _compile(family: str) -> OpcodeTable:
    path = _family_path(family)
    file = _rel(path)
    doc = _read_yaml(str(path))
    merged, origin = _resolve(family)
    names = tuple(sorted(merged))
    n = len(names)
    unit = np.zeros(n, dtype=np.int8)
    variable = np.zeros(n, dtype=np.bool_)
    latency = np.full(n, -1, dtype=np.int16)
    space = np.zeros(n, dtype=np.int8)
    kind = np.zeros(n, dtype=np.int8)
    notes: list[str] = []
    for i, op in enumerate(names):
        e = merged[op]
        f = origin[op]
        if "unit" not in e:
            raise IsaError(f"{f}: opcode {op}: missing 'unit'")
        unit[i] = _enum_value(Unit, e["unit"], "unit", f, op)
        variable[i] = e.get("latency", "fixed") == "variable"
        if "cycles" in e:
            latency[i] = e["cycles"]
        space[i] = _enum_value(MemSpace, e.get("space", "none"), "space", f, op)
        kind[i] = _enum_value(MemKind, e.get("kind", "none"), "kind", f, op)
        if unit[i] == Unit.MEM:
            if kind[i] != MemKind.FENCE and (space[i] == MemSpace.NONE) != (kind[i] == MemKind.NONE):
                raise IsaError(f"{f}: opcode {op}: a memory opcode needs both 'space' and 'kind' (or neither)")
        elif space[i] != MemSpace.NONE or kind[i] not in (MemKind.NONE, MemKind.FENCE):
            raise IsaError(f"{f}: opcode {op}: 'space' and 'kind' (other than 'fence') need unit: mem")
        notes.append(e.get("note", ""))
    for arr in (unit, variable, latency, space, kind):
        arr.flags.writeable = False
    return OpcodeTable(
        family=family,
        file=file,
        binary_versions=tuple(doc.get("binary_versions", [])),
        names=names,
        unit=unit,
        variable=variable,
        latency=latency,
        mem_space=space,
        mem_kind=kind,
        notes=tuple(notes),
        _index={op: i for i, op in enumerate(names)},
    )


@functools.lru_cache(maxsize=None)
def _load_cached(family: str, directory: str) -> OpcodeTable:
    return _compile(family)


def load_opcode_table(family: str) -> OpcodeTable:
    """The compiled table of ``family`` (cached per ISA directory)."""
    return _load_cached(family, str(isa_dir()))


@functools.lru_cache(maxsize=None)
def _version_map(directory: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for fam in families():
        doc = _read_yaml(str(Path(directory) / f"{fam}.yaml"))
        for v in doc.get("binary_versions", []):
            if v in out:
                raise IsaError(f"isa/{fam}.yaml: binary version {v} is also claimed by isa/{out[v]}.yaml")
            out[v] = fam
    return out


def supported_binary_versions() -> tuple[int, ...]:
    return tuple(sorted(_version_map(str(isa_dir()))))


def family_for_binary_version(v: int) -> str:
    """Family of a trace's ``-binary version`` (the sm number: 61, 70, 75, 80, 86, 89, 90, 120, ...)."""
    m = _version_map(str(isa_dir()))
    try:
        return m[int(v)]
    except (KeyError, ValueError, TypeError):
        sup = ", ".join(str(x) for x in sorted(m))
        raise IsaError(f"unsupported -binary version {v} (supported: {sup})") from None


def table_for_binary_version(v: int) -> OpcodeTable:
    return load_opcode_table(family_for_binary_version(v))


def clear_caches() -> None:
    """Forget every loaded table (tests that write temporary tables use this)."""
    _read_yaml.cache_clear()
    _load_cached.cache_clear()
    _version_map.cache_clear()


# --------------------------------------------------------------------------------------------
# modifier-level helpers (family independent)
# --------------------------------------------------------------------------------------------


def base_opcode(mnemonic: str) -> str:
    """``'LDG.E.128.SYS'`` -> ``'LDG'``."""
    return mnemonic.split(".", 1)[0]


def modifiers(mnemonic: str) -> tuple[str, ...]:
    """``'LDG.E.128.SYS'`` -> ``('E', '128', 'SYS')``."""
    return tuple(mnemonic.split(".")[1:])


_WIDTH_TOKENS = {
    "256": 32,
    "128": 16,
    "64": 8, "U64": 8, "S64": 8, "F64": 8, "B64": 8,
    "32": 4, "U32": 4, "S32": 4, "F32": 4, "B32": 4,
    "U16": 2, "S16": 2, "B16": 2,
    "U8": 1, "S8": 1, "B8": 1,
}
_MATRIX_OPS = frozenset({"LDSM", "STSM", "MOVM"})


def access_width_bytes(mnemonic: str) -> int:
    """Bytes one lane accesses at its address, from the mnemonic's modifiers.

    ``.256`` -> 32 (Blackwell), ``.128`` -> 16, ``.64`` / ``.U64`` / ``.F64`` -> 8,
    ``.U16`` / ``.S16`` -> 2, ``.U8`` / ``.S8`` -> 1, otherwise 4 (the 32-bit default, also
    for packed ``.F16x2`` / ``.BF16x2`` atomics).  When several width tokens appear the widest
    wins (``ATOMG.E.CAS.64`` style).

    ``LDSM`` / ``STSM`` / ``MOVM`` (``ldmatrix`` / ``stmatrix``): each participating lane
    supplies the address of one 8x8 b16 matrix row, i.e. 16 bytes, whatever the ``.1/.2/.4``
    (x1/x2/x4) count; that count only decides how many lanes' addresses are used (8 per matrix)
    and how many registers are written.  The ``.16`` in ``LDSM.16.M88.4`` is the element size
    in bits, not a width, so these opcodes return 16.
    """
    parts = mnemonic.split(".")
    if parts[0] in _MATRIX_OPS:
        return 16
    best = 0
    for tok in parts[1:]:
        w = _WIDTH_TOKENS.get(tok)
        if w is not None and w > best:
            best = w
    return best or 4


def bypasses_l1(mnemonic: str) -> bool:
    """True when the modifiers force the access past the (non-coherent) L1 data cache.

    * ``.STRONG.GPU`` / ``.STRONG.SYS`` (volatile, relaxed/acquire at GPU or system scope;
      Accel-Sim's rule is ``STRONG`` + ``GPU``), and ``.MMIO``;
    * ``.BYPASS`` (``LDGSTS.E.BYPASS.128``, i.e. ``cp.async.cg``);
    * ``.CG`` / ``.CV`` cache operators of Maxwell/Pascal loads (``LDG.E.CG``).

    ``.STRONG.CTA`` / ``.STRONG.SM`` stay in L1; ``.CONSTANT`` (``ld.global.nc``) and the plain
    ``.SYS`` suffix of Volta/Turing weak loads do not bypass.  Atomics and reductions are
    performed at L2 by the memory model regardless of this flag.
    """
    mods = set(mnemonic.split(".")[1:])
    if "STRONG" in mods and ("GPU" in mods or "SYS" in mods):
        return True
    return bool(mods & {"BYPASS", "CG", "CV", "MMIO"})


class MmaShape(NamedTuple):
    m: int
    n: int
    k: int
    acc_bits: int   # accumulator element width: 32 for .F32/.S32, 16 for .F16, 64 for DMMA


_MMA_OPS = frozenset({"HMMA", "IMMA", "BMMA", "DMMA", "QMMA", "OMMA", "HGMMA", "IGMMA", "QGMMA", "BGMMA"})
_GMMA_SHAPE = re.compile(r"^(\d+)x(\d+)x(\d+)$")
_ACC_TOKENS = {"F32": 32, "F16": 16, "S32": 32, "F64": 64}
_OPERAND_TOKENS = {
    "F16": 16, "BF16": 16, "TF32": 32, "F64": 64,
    "E4M3": 8, "E5M2": 8, "E3M2": 6, "E2M3": 6, "E2M1": 4,
    "S8": 8, "U8": 8, "S4": 4, "U4": 4, "B1": 1,
}


def _split_mma_digits(s: str) -> tuple[int, int, int] | None:
    # mma.sync shapes are written without separators: 884, 1684, 1688, 16816, 16832, 8816, 88128 ...
    # M is 16 or 8 and N is always 8.
    if s.startswith("168") and len(s) > 3:
        return 16, 8, int(s[3:])
    if s.startswith("88") and len(s) > 2:
        return 8, 8, int(s[2:])
    return None


def _mma_parts(mnemonic: str) -> tuple[str, tuple[int, int, int], list[str]] | None:
    parts = mnemonic.split(".")
    op = parts[0]
    if op not in _MMA_OPS:
        return None
    for i, tok in enumerate(parts[1:], start=1):
        g = _GMMA_SHAPE.match(tok)
        shape = (int(g.group(1)), int(g.group(2)), int(g.group(3))) if g else (
            _split_mma_digits(tok) if tok.isdigit() else None)
        if shape is not None:
            return op, shape, parts[i + 1:]
    return None


def mma_shape(mnemonic: str) -> MmaShape | None:
    """Shape and accumulator width of a tensor-core instruction, or None when the mnemonic
    carries no shape (tcgen05 ``UTCHMMA`` takes it from a descriptor; non-MMA opcodes).

    ``HMMA.16816.F32`` -> (16, 8, 16, 32); ``HMMA.1688.F16`` -> (16, 8, 8, 16);
    ``HMMA.884.F32.F32.STEP0`` (Volta) -> (8, 8, 4, 32); ``HGMMA.64x64x16.F32`` -> (64, 64, 16, 32);
    ``IMMA.16832.S8.S8`` -> (16, 8, 32, 32) (integer MMA always accumulates in S32);
    ``DMMA.884`` -> (8, 8, 4, 64).  Sparse ``.SP`` variants report the *logical* K; see
    :func:`is_sparse_mma`.

    The released tensor latency formula (modern-gpu-cores.md section 5) is
    ``cycles = M*N*K*b / rate`` where ``b`` is "the second number in the opcode": that equals
    ``acc_bits`` for HMMA/HGMMA/QMMA but is the *input* width for IMMA (``.S8`` -> 8); use
    :func:`mma_formula_bits` to get exactly that ``b``.
    """
    parts = _mma_parts(mnemonic)
    if parts is None:
        return None
    op, (m, n, k), rest = parts
    if op in ("IMMA", "IGMMA", "BMMA", "BGMMA"):
        acc = 32
    elif op == "DMMA":
        acc = 64
    else:
        acc = next((_ACC_TOKENS[t] for t in rest if t in _ACC_TOKENS), 0)
        if not acc:
            raise IsaError(f"'{mnemonic}': no accumulator type (.F32/.F16) after the shape")
    return MmaShape(m, n, k, acc)


def mma_formula_bits(mnemonic: str) -> int | None:
    """The ``b`` of the released tensor latency formula: the width of the first type modifier
    after the shape (``HMMA.16816.F32`` -> 32, ``HMMA.1688.F16`` -> 16, ``IMMA.16832.S8.S8`` -> 8,
    ``QMMA.16832.F32.E4M3.E4M3`` -> 32); the accumulator width when there is none (``DMMA.884`` -> 64)."""
    parts = _mma_parts(mnemonic)
    if parts is None:
        return None
    _, _, rest = parts
    for t in rest:
        if t in _ACC_TOKENS:
            return _ACC_TOKENS[t]
        if t in _OPERAND_TOKENS:
            return _OPERAND_TOKENS[t]
    shape = mma_shape(mnemonic)
    return shape.acc_bits if shape else None


def mma_operand_bits(mnemonic: str) -> int | None:
    """Element width of the A/B operands: 16 for plain HMMA/HGMMA (fp16), .BF16 -> 16,
    .TF32 -> 32, .E4M3/.E5M2/.S8/.U8 -> 8, .S4/.U4/.E2M1 -> 4, BMMA -> 1, DMMA -> 64;
    None when the mnemonic carries no shape."""
    parts = _mma_parts(mnemonic)
    if parts is None:
        return None
    op, _, rest = parts
    if op == "DMMA":
        return 64
    if op in ("BMMA", "BGMMA"):
        return 1
    # floating MMAs name the accumulator (D) type first and the inputs after it
    if op in ("HMMA", "HGMMA", "QMMA", "QGMMA", "OMMA") and rest and rest[0] in _ACC_TOKENS:
        rest = rest[1:]
    for t in rest:
        if t in _OPERAND_TOKENS:
            return _OPERAND_TOKENS[t]
    if op in ("QMMA", "QGMMA", "IMMA", "IGMMA"):
        return 8
    if op == "OMMA":
        return 4
    return 16


def is_sparse_mma(mnemonic: str) -> bool:
    """Structured-sparsity MMA (``HMMA.SP.16832...``): the released model halves its cycles."""
    return "SP" in mnemonic.split(".")[1:]

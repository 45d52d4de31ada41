"""Typed shape records: the sizes of one operator, one frozen record type per operator kind.

A record is the source of truth for an operator's ``shape``: it is checked when built (every required key
present, no unknown key, sizes whole numbers >= 0, named choices from their set) and it is read-only.  It
also reads like the ``dict`` it replaces (``shape["M"]``, ``shape.get("group", 128)``, ``"M" in shape``,
``dict(shape)``), keys in declaration order, optional keys present only when given, so callers that
index by key and reports that list the shape keep their form (:meth:`ShapeRecord.as_dict`).

==================  =============================================================================================
``embedding``,      tokens, hidden, vocab (vocab: rows of this GPU's table)
``embedding_bwd``
``rmsnorm``,        rows, hidden[, layernorm (norm_bwd: the forward was a LayerNorm)]
``layernorm``,
``norm_bwd``
``gemm``            [rows,] M, N, K[, group (int4: weights per fp16 scale along K), layout, kernel_layout, pass,
                    operands (training GEMMs, gpusim.llm.train)]  Y[M,N] = X[M,K] W[N,K]^T
``rotary``,         tokens, heads, kv_heads, head_dim[, train]
``kv_append``
``attention``       batch, heads, kv_heads, head_dim, q_len, kv_len, causal, phase (prefill | decode)
                    [, impl (auto | fa2 | fa3), train, pass (fwd | bwd | fwdbwd)]
``silu_mul``, ``add``, ``softmax``, ``silu_mul_bwd``, ``cross_entropy``, ``cmul``:  rows, cols
``moe_router``      tokens, experts, top_k
``moe_gemm``        groups, rows, N, K, experts, top_k[, group]   ``rows`` = tokens x top_k in total
``moe_combine``     tokens, top_k, hidden
``allreduce``,      bytes[, tp, gpus]  message per GPU; gpus: the group when it is not the tp group
``allgather``
``gelu``,           n (elements)
``gelu_bwd``
``adamw``           params, zero, dp
``transpose``       rows
==================  =============================================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral
from typing import ClassVar

from gpusim.errors import GpusimError
from gpusim.ops.kinds import OperatorKind, operator_kind

K = OperatorKind


class ShapeError(GpusimError):
    """An operator shape with a missing, unknown or ill-typed key."""


def _choice(*values: str, optional: bool = False):
    return field(default=None, metadata={"choices": values}) if optional else field(metadata={"choices": values})


_OPT = None   # default of an optional key: absent from the mapping


class ShapeRecord(Mapping):
    """Base of the per-kind records (frozen, keyword-only dataclasses); a read-only mapping of the keys set."""

    #: field name -> shape key where the key is not a Python identifier (``pass``)
    _ALIASES: ClassVar[dict[str, str]] = {}
    #: shape key -> field name (the inverse of _ALIASES)
    _FIELD_OF: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            key = self._ALIASES.get(f.name, f.name)
            if v is None:
                if f.default is dataclasses.MISSING:
                    raise ShapeError(f"{type(self).__name__}: '{key}' is required")
                continue
            choices = f.metadata.get("choices")
            t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            if choices is not None:
                if v not in choices:
                    raise ShapeError(f"{type(self).__name__}: {key} {v!r} not one of {', '.join(choices)}")
            elif t.startswith("bool"):
                if not isinstance(v, (bool, Integral)) or v not in (0, 1):
                    raise ShapeError(f"{type(self).__name__}: {key} {v!r} must be a boolean")
            elif t.startswith("int"):
                if isinstance(v, bool) or not isinstance(v, Integral) or v < 0:
                    raise ShapeError(f"{type(self).__name__}: {key} {v!r} must be a whole number >= 0")
            elif t.startswith("str") and not isinstance(v, str):
                raise ShapeError(f"{type(self).__name__}: {key} {v!r} must be a string")

    # ---- mapping view (keys in declaration order, optional keys only when set)
    def _items(self) -> list[tuple[str, object]]:
        return [(self._ALIASES.get(f.name, f.name), getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None]

    def __getitem__(self, key: str):
        name = self._FIELD_OF.get(key, key)
        v = getattr(self, name, None) if name in self._field_names() else None
        if v is None:
            raise KeyError(key)
        return v

    @classmethod
    def _field_names(cls) -> frozenset[str]:
        names = cls.__dict__.get("_NAMES")
        if names is None:
            names = frozenset(f.name for f in dataclasses.fields(cls))
            cls._NAMES = names
        return names

    def __iter__(self):
        return (k for k, _ in self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self._items()) == dict(other.items())

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self._items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._items())})"

    def as_dict(self) -> dict:
        """The shape as a plain dict (reports, JSON)."""
        return dict(self._items())

    @classmethod
    def from_mapping(cls, kind: str, d: Mapping) -> ShapeRecord:
        names = {cls._ALIASES.get(f.name, f.name): f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ShapeError(f"operator kind '{kind}': unknown shape key(s) {', '.join(map(repr, unknown))} "
                             f"(keys of {cls.__name__}: {', '.join(names)})")
        required = {cls._ALIASES.get(f.name, f.name) for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        missing = [k for k in names if k in required and k not in d]
        if missing:
            raise ShapeError(f"operator kind '{kind}': shape lacks {', '.join(missing)}")
        return cls(**{names[k]: v for k, v in d.items()})


_REC = dict(frozen=True, kw_only=True, eq=False, repr=False)


@dataclass(**_REC)
class EmbeddingShape(ShapeRecord):
    tokens: int
    hidden: int
    vocab: int


@dataclass(**_REC)
class NormShape(ShapeRecord):
    rows: int
    hidden: int
    layernorm: bool | None = _OPT


@dataclass(**_REC)
class GemmShape(ShapeRecord):
    _ALIASES: ClassVar[dict[str, str]] = {"pass_": "pass"}
    _FIELD_OF: ClassVar[dict[str, str]] = {"pass": "pass_"}
    rows: int | None = _OPT
    M: int
    N: int
    K: int
    group: int | None = _OPT
    layout: str | None = _choice("TN", "NN", "NT", optional=True)
    kernel_layout: str | None = _choice("TN", optional=True)
    pass_: str | None = _choice("fwd", "dgrad", "wgrad", optional=True)
    operands: str | None = _OPT


@dataclass(**_REC)
class HeadsShape(ShapeRecord):
    tokens: int
    heads: int
    kv_heads: int
    head_dim: int
    train: bool | None = _OPT


@dataclass(**_REC)
class AttentionShape(ShapeRecord):
    _ALIASES: ClassVar[dict[str, str]] = {"pass_": "pass"}
    _FIELD_OF: ClassVar[dict[str, str]] = {"pass": "pass_"}
    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    q_len: int
    kv_len: int
    causal: bool
    phase: str = _choice("prefill", "decode")
    impl: str | None = _choice("auto", "fa2", "fa3", optional=True)
    train: bool | None = _OPT
    pass_: str | None = _choice("fwd", "bwd", "fwdbwd", optional=True)


@dataclass(**_REC)
class RowsColsShape(ShapeRecord):
    rows: int
    cols: int


@dataclass(**_REC)
class MoeRouterShape(ShapeRecord):
    tokens: int
    experts: int
    top_k: int


@dataclass(**_REC)
class MoeGemmShape(ShapeRecord):
    groups: int
    rows: int
    N: int
    K: int
    experts: int
    top_k: int
    group: int | None = _OPT


@dataclass(**_REC)
class MoeCombineShape(ShapeRecord):
    tokens: int
    top_k: int
    hidden: int


@dataclass(**_REC)
class CollectiveShape(ShapeRecord):
    bytes: int
    tp: int | None = _OPT
    gpus: int | None = _OPT


@dataclass(**_REC)
class ElementsShape(ShapeRecord):
    n: int


@dataclass(**_REC)
class AdamwShape(ShapeRecord):
    params: int
    zero: bool
    dp: int


@dataclass(**_REC)
class TransposeShape(ShapeRecord):
    rows: int


#: The shape record of every operator kind.
SHAPE_OF_KIND: dict[OperatorKind, type[ShapeRecord]] = {
    K.EMBEDDING: EmbeddingShape, K.EMBEDDING_BWD: EmbeddingShape,
    K.RMSNORM: NormShape, K.LAYERNORM: NormShape, K.NORM_BWD: NormShape,
    K.GEMM: GemmShape,
    K.ROTARY: HeadsShape, K.KV_APPEND: HeadsShape,
    K.ATTENTION: AttentionShape,
    K.SILU_MUL: RowsColsShape, K.ADD: RowsColsShape, K.SOFTMAX: RowsColsShape, K.SILU_MUL_BWD: RowsColsShape,
    K.CROSS_ENTROPY: RowsColsShape, K.CMUL: RowsColsShape,
    K.MOE_ROUTER: MoeRouterShape, K.MOE_GEMM: MoeGemmShape, K.MOE_COMBINE: MoeCombineShape,
    K.ALLREDUCE: CollectiveShape, K.ALLGATHER: CollectiveShape,
    K.GELU: ElementsShape, K.GELU_BWD: ElementsShape,
    K.ADAMW: AdamwShape,
    K.TRANSPOSE: TransposeShape,
}


def make_shape(kind: str, shape: Mapping | ShapeRecord) -> ShapeRecord:
    """The record of ``kind`` for ``shape`` (a record of the kind's type passes through; a mapping is
    checked key by key).  ShapeError names the kind and the key at fault."""
    try:
        k = operator_kind(kind)
    except ValueError as e:
        raise ShapeError(str(e)) from None
    cls = SHAPE_OF_KIND[k]
    if isinstance(shape, ShapeRecord):
        if not isinstance(shape, cls):
            raise ShapeError(f"operator kind '{k}': shape is a {type(shape).__name__}, expected {cls.__name__}")
        return shape
    if not isinstance(shape, Mapping):
        raise ShapeError(f"operator kind '{k}': shape must be a mapping or a {cls.__name__}, got {type(shape).__name__}")
    return cls.from_mapping(k, shape)


__all__ = ["ShapeError", "ShapeRecord", "EmbeddingShape", "NormShape", "GemmShape", "HeadsShape", "AttentionShape",
           "RowsColsShape", "MoeRouterShape", "MoeGemmShape", "MoeCombineShape", "CollectiveShape", "ElementsShape",
           "AdamwShape", "TransposeShape", "SHAPE_OF_KIND", "make_shape"]

"""Operators, tensors and the operator graph: the accelerator-neutral description of one step that every
backend (GPU kernels, systolic arrays, RDU dataflow) reads.  Builders: :func:`gpusim.llm.graph.build_graph`
(serving), :func:`gpusim.llm.train.build_train_graph` (training), :mod:`gpusim.llm.op` (one operator) and
:mod:`gpusim.accel.rdu.programs` (RDU validation programs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpusim.errors import GpusimError
from gpusim.ops.dtypes import DTYPE_BITS
from gpusim.ops.kinds import OperatorKind, operator_kind
from gpusim.ops.shapes import ShapeError, ShapeRecord, make_shape


class OperatorError(GpusimError):
    """An operator with an unknown kind or a shape that does not fit its kind."""


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def bytes(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return (n * DTYPE_BITS[self.dtype] + 7) // 8


@dataclass(frozen=True)
class Operator:
    """One operation of a step.  ``kind`` and ``shape`` may be given as a plain string and mapping: they
    are turned into an :class:`OperatorKind` and the kind's shape record (checked) on construction."""
    name: str                 # e.g. "layer.qkv_proj", "layer.attn.decode0"
    kind: OperatorKind        # gpusim.ops.kinds
    count: int                # executions per step (layers for per-layer operators)
    shape: ShapeRecord        # kind-specific sizes (gpusim.ops.shapes)
    dtype: str                # activation / compute dtype
    flops: int                # per execution
    bytes_read: int           # per execution, minimum
    bytes_written: int        # per execution, minimum
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    weight_dtype: str | None = None
    weight_bytes: int = 0     # part of bytes_read that is weights (streamed once per execution)

    def __post_init__(self) -> None:
        try:
            kind = operator_kind(self.kind)
            shape = make_shape(kind, self.shape)
        except (ValueError, ShapeError) as e:
            raise OperatorError(f"operator {self.name!r}: {e}") from None
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "shape", shape)

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved (minimum traffic)."""
        return self.flops / self.bytes if self.bytes else float("inf")


@dataclass(frozen=True)
class OperatorGraph:
    model: object             # gpusim.llm.model.ModelSpec (or a stand-in for non-LLM programs)
    step: object              # gpusim.llm.model.Step
    tp: int
    operators: tuple[Operator, ...]
    tensors: dict = field(default_factory=dict)

    @property
    def flops(self) -> int:
        """FLOPs of the whole step on one GPU."""
        return sum(o.flops * o.count for o in self.operators)

    @property
    def bytes(self) -> int:
        return sum(o.bytes * o.count for o in self.operators)

    def by_kind(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for o in self.operators:
            d = out.setdefault(o.kind, {"count": 0, "flops": 0, "bytes": 0})
            d["count"] += o.count
            d["flops"] += o.flops * o.count
            d["bytes"] += o.bytes * o.count
        return out

    def find(self, name: str) -> Operator:
        for o in self.operators:
            if o.name == name:
                return o
        raise KeyError(f"no operator {name!r} (have {[o.name for o in self.operators]})")


__all__ = ["Operator", "OperatorGraph", "OperatorError", "Tensor"]

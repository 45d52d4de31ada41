"""The operator vocabulary shared by the LLM graph builders and every backend: operator kinds
(:mod:`gpusim.ops.kinds`), their typed shape records (:mod:`gpusim.ops.shapes`), operators, tensors and
the operator graph (:mod:`gpusim.ops.graph`) and the per-backend registry (:mod:`gpusim.ops.registry`).
It imports nothing of gpusim but the errors, so both gpusim.llm and gpusim.accel build on it."""

from gpusim.ops.dtypes import DTYPE_BITS
from gpusim.ops.graph import Operator, OperatorError, OperatorGraph, Tensor
from gpusim.ops.kinds import COLLECTIVES, ELEMENTWISE_FLOPS, GEMM_KINDS, OperatorKind, operator_kind
from gpusim.ops.registry import BACKENDS, Backend, BackendError, Unsupported, register_backend
from gpusim.ops.shapes import SHAPE_OF_KIND, ShapeError, ShapeRecord, make_shape

__all__ = ["DTYPE_BITS", "Operator", "OperatorError", "OperatorGraph", "Tensor", "COLLECTIVES", "ELEMENTWISE_FLOPS",
           "GEMM_KINDS", "OperatorKind", "operator_kind", "BACKENDS", "Backend", "BackendError", "Unsupported",
           "register_backend", "SHAPE_OF_KIND", "ShapeError", "ShapeRecord", "make_shape"]

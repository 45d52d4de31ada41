"""The operator vocabulary: every kind of operator an operator graph may hold (:class:`OperatorKind`).

A ``StrEnum``: each member *is* its string (``OperatorKind.GEMM == "gemm"``), so reports, JSON and code
that compares with the plain name keep working; new code names the members.  The kinds come from three
graph builders: serving steps (:func:`gpusim.llm.graph.build_graph`), training steps
(:func:`gpusim.llm.train.build_train_graph`) and the RDU validation programs
(:mod:`gpusim.accel.rdu.programs`).  Each backend says per kind how it runs it or why it cannot
(:mod:`gpusim.ops.registry`).
"""

from __future__ import annotations

from enum import StrEnum


class OperatorKind(StrEnum):
    # serving-step operators (gpusim.llm.graph)
    EMBEDDING = "embedding"          # gather of token rows
    RMSNORM = "rmsnorm"
    GEMM = "gemm"                    # Y[M,N] = X[M,K] W[N,K]^T
    ROTARY = "rotary"                # in place on Q and K
    KV_APPEND = "kv_append"          # new K and V rows into the cache
    ATTENTION = "attention"
    SILU_MUL = "silu_mul"            # SiLU(gate) * up
    ADD = "add"                      # residual add
    MOE_ROUTER = "moe_router"        # softmax + top-k over the router logits
    MOE_GEMM = "moe_gemm"            # the experts' GEMMs
    MOE_COMBINE = "moe_combine"      # weighted sum of the top-k expert outputs
    SOFTMAX = "softmax"              # sampling distribution over the vocabulary
    ALLREDUCE = "allreduce"          # tensor / data parallel collectives
    ALLGATHER = "allgather"
    # training-step operators (gpusim.llm.train)
    LAYERNORM = "layernorm"
    GELU = "gelu"
    GELU_BWD = "gelu_bwd"
    SILU_MUL_BWD = "silu_mul_bwd"
    NORM_BWD = "norm_bwd"
    CROSS_ENTROPY = "cross_entropy"  # fused softmax cross-entropy: loss and dlogits
    EMBEDDING_BWD = "embedding_bwd"  # scatter-add of the tokens' gradient rows
    ADAMW = "adamw"                  # fused optimizer update
    # RDU validation programs (gpusim.accel.rdu.programs)
    CMUL = "cmul"                    # point-wise complex multiply (FlashFFTConv, Monarch)
    TRANSPOSE = "transpose"          # a buffer access pattern


K = OperatorKind

#: Inter-chip / inter-GPU collectives (no arithmetic; timed by an interconnect model where there is one).
COLLECTIVES = frozenset({K.ALLREDUCE, K.ALLGATHER})
#: Kinds that are matrix products on weights (systolic / tensor-core work, weights streamed).
GEMM_KINDS = frozenset({K.GEMM, K.MOE_GEMM})

#: FLOPs per output element of element-wise operators (the counting convention of the operator graph):
#: rmsnorm x^2, sum, x*r, *w = 4; silu_mul exp, add, div, mul = 4; add = 1; rotary per element
#: two multiplies and one add (x cos -/+ y sin) = 3; softmax max, sub, exp, sum, div = 5; router
#: softmax + top-k comparisons per logit = 5 + top_k.
ELEMENTWISE_FLOPS = {K.RMSNORM: 4, K.SILU_MUL: 4, K.ADD: 1, K.ROTARY: 3, K.SOFTMAX: 5}


def operator_kind(kind: str) -> OperatorKind:
    """``kind`` as an :class:`OperatorKind`; ValueError naming the known kinds otherwise."""
    try:
        return OperatorKind(kind)
    except ValueError:
        raise ValueError(f"unknown operator kind {kind!r} (one of {', '.join(k.value for k in OperatorKind)})") from None


__all__ = ["OperatorKind", "COLLECTIVES", "GEMM_KINDS", "ELEMENTWISE_FLOPS", "operator_kind"]

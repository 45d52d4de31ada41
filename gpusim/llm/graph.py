"""Model + serving step -> operator graph (accelerator-neutral).

One :class:`Operator` per distinct operation of the step, in execution order, with ``count`` =
how many times it runs (the layers).  Every operator carries its shapes, dtypes, FLOPs and the
bytes it must move at minimum (each input read once, each output written once), and names its
input and output tensors, so the list is a dataflow graph.  Nothing here is specific to GPUs:
the GPU path maps operators to kernels (:mod:`gpusim.llm.kernels`), and the systolic / dataflow
accelerator models read the same shapes.

Per-GPU shapes under tensor parallelism ``tp`` (Megatron-LM layout, Shoeybi et al.,
arXiv:1909.08053, section 3): QKV and up/gate projections are split by output columns (heads /
FFN columns), O and down projections by input rows, each followed by an all-reduce of the
``tokens x hidden`` activations; KV heads are split when ``kv_heads >= tp`` and replicated
(one per GPU) otherwise; the LM head is split by vocabulary and its logits all-gathered; the
router of an MoE layer is replicated and every expert is split like a dense MLP.

Operator kinds (:class:`gpusim.ops.kinds.OperatorKind`) and their ``shape`` keys (records in :mod:`gpusim.ops.shapes`):

==================  ==========================================================================
``embedding``       tokens, hidden, vocab              gather of token rows (vocab: rows of this GPU's table)
``rmsnorm``         rows, hidden
``gemm``            M, N, K[, group]                   Y[M,N] = X[M,K] W[N,K]^T, weights of dtype ``weight_dtype``
                                                       (int4: ``group`` weights per fp16 scale along K)
``rotary``          tokens, heads, kv_heads, head_dim  in place on Q and K
``kv_append``       tokens, heads, kv_heads, head_dim  new K and V rows (after Q's heads in the QKV row) into the cache
``attention``       batch, heads, kv_heads, head_dim, q_len, kv_len, causal, phase (prefill | decode)
                    [, pass (bwd | fwdbwd): one ``--op`` attention's backward pass, gpusim.llm.op]
``silu_mul``        rows, cols                         SiLU(gate) * up
``add``             rows, cols                         residual add
``moe_router``      tokens, experts, top_k             softmax + top-k over the router logits
``moe_gemm``        groups, rows, N, K                 the experts' GEMMs, ``rows`` = tokens x top_k in total
``moe_combine``     tokens, top_k, hidden              weighted sum of the top-k expert outputs
``softmax``         rows, cols                         sampling distribution over the vocabulary
``allreduce``       bytes                              (tp > 1) message per GPU
``allgather``       bytes
==================  ==========================================================================

FLOP counting: a multiply-add is 2 FLOPs; attention counts the QK^T and PV products over the keys
each query attends to (the causal triangle, not the padded tiles: ``4 * head_dim`` per
query-key pair and head); element-wise operators count the per-element arithmetic listed in
``ELEMENTWISE_FLOPS`` (a convention of this module).  MoE routing is taken as balanced: the
``tokens x top_k`` assignments spread evenly over the experts, so min(experts, tokens x top_k)
experts' weights are read.

Weight dtypes: the transformer blocks' linear weights (QKV, O, up/gate, down and every expert's) are
stored in the model's ``weight_dtype``; weight-only quantised types (fp8, int8, int4) add their fp16
scales (a ``<weight>.scales`` tensor: int8 one per output channel, int4 [K / group, N]; see
:func:`gpusim.llm.model.quant_scale_bytes`) to the operator's ``bytes_read`` and ``weight_bytes``.
The embedding, norm weights, MoE router and LM head keep :attr:`ModelSpec.dense_weight_dtype`.
"""

from __future__ import annotations

from gpusim.errors import GpusimError
from gpusim.llm.model import DTYPE_BITS, ModelSpec, Step, quant_scale_bytes
# the operator vocabulary lives in gpusim.ops (shared with gpusim.accel); re-exported here
from gpusim.ops.graph import Operator, OperatorGraph, Tensor  # noqa: F401
from gpusim.ops.kinds import ELEMENTWISE_FLOPS  # noqa: F401
from gpusim.ops.kinds import OperatorKind as OK


class GraphError(GpusimError):
    """A model/step/parallelism combination that cannot be laid out (e.g. heads not divisible by tp)."""


#: bytes of one token id (int32) and of one rotary cos/sin table entry (fp32)
TOKEN_ID_BYTES = DTYPE_BITS["fp32"] // 8
FP32_BYTES = DTYPE_BITS["fp32"] // 8


def _elt_bytes(n: int, dtype: str) -> int:
    return (n * DTYPE_BITS[dtype] + 7) // 8


def build_graph(model: ModelSpec, step: Step, tp: int = 1) -> OperatorGraph:
    """Expand ``model`` and ``step`` into the operators one GPU of a ``tp``-way tensor-parallel group runs
    (serving steps; a ``train:`` step's graph is :func:`gpusim.llm.train.build_train_graph`'s)."""
    m = model
    if step.train:
        raise GraphError(f"step '{step.text}': a train: step's graph comes from gpusim.llm.train.build_train_graph")
    if (m.activation, m.norm, m.position) != ("swiglu", "rmsnorm", "rotary"):
        raise GraphError(f"{m.name}: serving steps build the Llama block (RMSNorm, rotary, SwiGLU); this model's "
                         f"{m.norm} / {m.position} positions / {m.activation} block runs in train: steps only")
    if tp < 1:
        raise GraphError(f"tp = {tp}: must be >= 1")
    if m.heads % tp:
        raise GraphError(f"{m.name}: {m.heads} attention heads are not divisible by tp = {tp}")
    if not (m.kv_heads % tp == 0 or tp % m.kv_heads == 0):
        raise GraphError(f"{m.name}: {m.kv_heads} KV heads and tp = {tp}: one must divide the other")
    if m.ffn % tp or m.vocab % tp:
        raise GraphError(f"{m.name}: ffn ({m.ffn}) and vocab ({m.vocab}) must be divisible by tp = {tp}")
    T = step.tokens
    R = step.sampled
    h, d = m.hidden, m.head_dim
    H = m.heads // tp
    Hkv = max(1, m.kv_heads // tp)
    F = m.ffn // tp
    V = m.vocab // tp
    act, qdt, wdt, kvdt = m.dtype, m.weight_dtype, m.dense_weight_dtype, m.kv_dtype
    L = m.layers
    ops: list[Operator] = []
    tensors: dict[str, Tensor] = {}

    def t(name: str, shape: tuple[int, ...], dtype: str = act) -> str:
        tensors[name] = Tensor(name, shape, dtype)
        return name

    def nbytes(*names: str) -> int:
        return sum(tensors[n].bytes for n in names)

    def scales(wname: str, dt: str, N: int, K: int) -> tuple[str, ...]:
        sb = quant_scale_bytes(dt, N, K, m.weight_group)
        if not sb:
            return ()
        return (t(f"{wname.removesuffix('.weight')}.scales", (sb // 2,), "fp16"),)

    def gemm(name: str, x: str, y: str, M: int, N: int, K: int, count: int, dt: str | None = None) -> None:
        dt = dt or qdt
        wname = t(f"{name}.weight", (N, K), dt)
        sc = scales(wname, dt, N, K)
        t(y, (M, N))
        shape = {"M": M, "N": N, "K": K, **({"group": m.weight_group} if dt == "int4" else {})}
        ops.append(Operator(name, OK.GEMM, count, shape, act, 2 * M * N * K,
                            nbytes(x, wname, *sc), nbytes(y), (x, wname, *sc), (y,), dt, nbytes(wname, *sc)))

    def elementwise(name: str, kind: str, ins: tuple[str, ...], out: str, rows: int, cols: int, count: int,
                    extra_read: int = 0) -> None:
        t(out, (rows, cols))
        ops.append(Operator(name, kind, count, {"rows": rows, "cols": cols}, act,
                            ELEMENTWISE_FLOPS[kind] * rows * cols, nbytes(*ins) + extra_read, nbytes(out), ins, (out,)))

    def allreduce(name: str, x: str, count: int) -> None:
        if tp > 1:
            b = nbytes(x)
            ops.append(Operator(name, OK.ALLREDUCE, count, {"bytes": b, "tp": tp}, act, 0, b, b, (x,), (x,)))

    # ---- embedding
    t("tokens", (T,), "fp32")
    emb = t("embed.weight", (V, h), wdt)
    t("x0", (T, h))
    ops.append(Operator("embedding", OK.EMBEDDING, 1, {"tokens": T, "hidden": h, "vocab": V}, act, 0,
                        _elt_bytes(T * h, wdt) + T * TOKEN_ID_BYTES, nbytes("x0"), ("tokens", emb), ("x0",), wdt,
                        _elt_bytes(T * h, wdt)))
    allreduce("embedding.allreduce", "x0", 1)

    # ---- one transformer block (count = layers)
    t("layer.x", (T, h))
    nw = t("layer.attn_norm.weight", (h,), wdt)
    t("layer.h", (T, h))
    ops.append(Operator("layer.attn_norm", OK.RMSNORM, L, {"rows": T, "hidden": h}, act,
                        ELEMENTWISE_FLOPS[OK.RMSNORM] * T * h, nbytes("layer.x", nw), nbytes("layer.h"),
                        ("layer.x", nw), ("layer.h",)))
    qkv_n = (H + 2 * Hkv) * d
    gemm("layer.qkv_proj", "layer.h", "layer.qkv", T, qkv_n, h, L)
    t("rope.cos_sin", (m.max_positions, d), "fp32")
    rot_elems = T * (H + Hkv) * d
    ops.append(Operator("layer.rotary", OK.ROTARY, L, {"tokens": T, "heads": H, "kv_heads": Hkv, "head_dim": d}, act,
                        ELEMENTWISE_FLOPS[OK.ROTARY] * rot_elems, _elt_bytes(rot_elems, act) + T * d * FP32_BYTES,
                        _elt_bytes(rot_elems, act), ("layer.qkv", "rope.cos_sin"), ("layer.qkv",)))
    t("layer.kv_cache", (step.sequences, max(g.context for g in step.groups), 2 * Hkv, d), kvdt)
    kv_new = T * 2 * Hkv * d
    ops.append(Operator("layer.kv_append", OK.KV_APPEND, L, {"tokens": T, "heads": H, "kv_heads": Hkv, "head_dim": d},
                        act, 0,
                        _elt_bytes(kv_new, act), _elt_bytes(kv_new, kvdt), ("layer.qkv",), ("layer.kv_cache",)))
    t("layer.attn_out", (T, H * d))
    for gi, g in enumerate(step.groups):
        q_len, kv_len = g.tokens, g.context
        pairs = q_len * g.past + q_len * (q_len + 1) // 2  # query-key pairs under the causal mask
        flops = 4 * d * pairs * H * g.count
        rd = _elt_bytes(g.count * q_len * H * d, act) + 2 * _elt_bytes(g.count * kv_len * Hkv * d, kvdt)
        wr = _elt_bytes(g.count * q_len * H * d, act)
        ops.append(Operator(f"layer.attn.{g.kind}{gi}", OK.ATTENTION, L,
                            {"batch": g.count, "heads": H, "kv_heads": Hkv, "head_dim": d, "q_len": q_len,
                             "kv_len": kv_len, "causal": True, "phase": g.kind}, act, flops, rd, wr,
                            ("layer.qkv", "layer.kv_cache"), ("layer.attn_out",)))
    gemm("layer.o_proj", "layer.attn_out", "layer.o", T, h, H * d, L)
    allreduce("layer.o_proj.allreduce", "layer.o", L)
    elementwise("layer.attn_residual", OK.ADD, ("layer.x", "layer.o"), "layer.x1", T, h, L)
    nw2 = t("layer.ffn_norm.weight", (h,), wdt)
    t("layer.h2", (T, h))
    ops.append(Operator("layer.ffn_norm", OK.RMSNORM, L, {"rows": T, "hidden": h}, act,
                        ELEMENTWISE_FLOPS[OK.RMSNORM] * T * h, nbytes("layer.x1", nw2), nbytes("layer.h2"),
                        ("layer.x1", nw2), ("layer.h2",)))
    if m.moe is None:
        gemm("layer.up_gate_proj", "layer.h2", "layer.gu", T, 2 * F, h, L)
        elementwise("layer.silu_mul", OK.SILU_MUL, ("layer.gu",), "layer.act", T, F, L)
        gemm("layer.down_proj", "layer.act", "layer.mlp", T, h, F, L)
    else:
        E, k = m.moe.experts, m.moe.top_k
        gemm("layer.router", "layer.h2", "layer.router_logits", T, E, h, L, wdt)
        t("layer.topk", (T, k, 2), "fp32")
        ops.append(Operator("layer.moe_router", OK.MOE_ROUTER, L, {"tokens": T, "experts": E, "top_k": k}, act,
                            (ELEMENTWISE_FLOPS[OK.SOFTMAX] + k) * T * E, nbytes("layer.router_logits"),
                            nbytes("layer.topk"), ("layer.router_logits",), ("layer.topk",)))
        rows = T * k
        active = min(E, rows)
        for name, x, y, N, K in (("layer.moe_up_gate", "layer.h2", "layer.moe_gu", 2 * F, h),
                                 ("layer.moe_down", "layer.moe_act", "layer.moe_out", h, F)):
            wname = t(f"{name}.weight", (E, N, K), qdt)
            sc = scales(wname, qdt, E * N, K)
            t(y, (rows, N))
            wb = _elt_bytes(active * N * K, qdt) + quant_scale_bytes(qdt, active * N, K, m.weight_group)
            xin = _elt_bytes(rows * K, act) if name.endswith("down") else nbytes(x)
            ops.append(Operator(name, OK.MOE_GEMM, L, {"groups": active, "rows": rows, "N": N, "K": K,
                                                       "experts": E, "top_k": k,
                                                       **({"group": m.weight_group} if qdt == "int4" else {})},
                                act, 2 * rows * N * K, xin + wb, nbytes(y), (x, wname, *sc, "layer.topk"), (y,),
                                qdt, wb))
            if name.endswith("up_gate"):
                elementwise("layer.moe_silu_mul", OK.SILU_MUL, ("layer.moe_gu",), "layer.moe_act", rows, F, L)
        t("layer.mlp", (T, h))
        ops.append(Operator("layer.moe_combine", OK.MOE_COMBINE, L, {"tokens": T, "top_k": k, "hidden": h}, act,
                            2 * rows * h, nbytes("layer.moe_out", "layer.topk"), nbytes("layer.mlp"),
                            ("layer.moe_out", "layer.topk"), ("layer.mlp",)))
    allreduce("layer.mlp.allreduce", "layer.mlp", L)
    elementwise("layer.mlp_residual", OK.ADD, ("layer.x1", "layer.mlp"), "layer.x2", T, h, L)

    # ---- final norm, LM head, sampling
    fw = t("final_norm.weight", (h,), wdt)
    t("final.h", (T, h))
    ops.append(Operator("final_norm", OK.RMSNORM, 1, {"rows": T, "hidden": h}, act, ELEMENTWISE_FLOPS[OK.RMSNORM] * T * h,
                        nbytes("layer.x2", fw), nbytes("final.h"), ("layer.x2", fw), ("final.h",)))
    if R > 0:
        t("final.h_sampled", (R, h))
        gemm("lm_head", "final.h_sampled", "logits", R, V, h, 1, wdt)
        if tp > 1:
            b = _elt_bytes(R * V * tp, act)
            ops.append(Operator("lm_head.allgather", OK.ALLGATHER, 1, {"bytes": b, "tp": tp}, act, 0, nbytes("logits"),
                                b, ("logits",), ("logits",)))
        t("probs", (R, m.vocab))
        ops.append(Operator("sampling_softmax", OK.SOFTMAX, 1, {"rows": R, "cols": m.vocab}, act,
                            ELEMENTWISE_FLOPS[OK.SOFTMAX] * R * m.vocab, _elt_bytes(R * m.vocab, act),
                            _elt_bytes(R * m.vocab, act), ("logits",), ("probs",)))
    return OperatorGraph(model=m, step=step, tp=tp, operators=tuple(ops), tensors=tensors)

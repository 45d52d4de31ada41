"""One training step (``--step train:tokens=N[,seq=S,accum=A,zero=1]``): forward, backward, optimizer update.

The operator graph of one GPU (``tp``-way tensor parallel, ``dp``-way data parallel) for one micro-batch of
``tokens`` = batch x seq tokens, then the gradient all-reduce and the AdamW update of the optimizer step
(:func:`build_train_graph`), the kernels of every operator (:func:`kernels_for`) and the training figures
of the report (:func:`training_summary`).  :func:`gpusim.llm.run.simulate_step` runs it like any step.

Forward
    As a prefill of ``batch`` sequences of ``seq`` tokens with every activation the backward needs kept, one
    buffer per layer (nothing written to a KV cache): embedding gather (+ the learned position rows, GPT),
    per layer the norm (RMSNorm or LayerNorm), the QKV projection, rotary (Llama), FlashAttention-2 forward
    (causal, it writes the LSE the backward reads), O projection, residual add, norm, up (SwiGLU: up|gate)
    projection, SiLU-mul or GeLU, down projection, residual add; then the final norm, the LM head over
    every token and the fused softmax cross-entropy (loss and dlogits in one kernel, in place, as
    FlashAttention-2's training runs use apex's ``CrossEntropyLossApex(inplace_backward=True)``).

Backward (layers last to first)
    Every linear layer Y[T, out] = X[T, in] W[out, in]^T runs two GEMMs on the project's tensor-core GEMM
    kernels, picked by :mod:`gpusim.llm.gemm_select` for the shape:

    * dgrad  dX[T, in] = dY[T, out] W[out, in]:  M = T, N = in, K = out
    * wgrad  dW^T[in, out] = X^T[in, T] dY[T, out]:  M = in, N = out, K = T

    Layouts.  The project's GEMM kernels are "TN" only: both operands K-major (A[M, K] and W[N, K] with K
    contiguous), as the forward's X and nn.Linear's W are.  The dgrad's second operand W[out = K, in = N]
    is N-major (cuBLAS would run an "NN" kernel) and both wgrad operands are M/N-major (X[T = K, in = M],
    dY[T = K, out = N]; cuBLAS "NT").  They are run on the TN kernel of the same M, N, K as a stand-in,
    with no transpose copy: the same bytes are read once per tile in both layouts, and the layout-specific
    CUTLASS / cuBLAS kernels differ in how a tile is staged (16-byte cp.async along the contiguous
    dimension, ``ldmatrix.trans`` for an MN-major operand, at the same shared-memory rate), which this
    stand-in does not model.  Every backward GEMM's report entry says so (``shape.layout``: the layout
    cuBLAS would run, ``shape.kernel_layout``: "TN").  Attention runs FlashAttention-2's backward kernels
    (preprocess, dK/dV/dQ main kernel, dQ conversion).  The norms, activations and residual adds run the
    memory-bound kernels of ``train.cu``: norm backward (dX and the dW / dB column sums, fp32 atomics),
    GeLU backward or SwiGLU backward, and a residual add that sums the two gradient paths of each block.
    The embedding backward (a scatter-add of T gradient rows into the table) has no kernel yet and is
    listed under ``not_simulated``.

Optimizer
    A fused AdamW (``adamw_f16``): fp32 master weights, fp32 m and v, fp16 / bf16 gradients in and the fp16 /
    bf16 model copy out, 28 bytes moved per parameter (4 + 4 + 4 read and written, 2 read, 2 written); it
    stores 16 bytes per parameter (2 model weight + 2 gradient + 4 master + 4 m + 4 v), the fp16-gradient
    row of Megatron-LM's distributed-optimizer table (NVIDIA/Megatron-LM docs/source/api-guide/
    dist_optimizer.md).  With ``zero=1`` (ZeRO stage 1, what FlashAttention-2's GPT-3 runs used:
    ``DDPStrategyZero1``) each data-parallel GPU updates params / dp and the updated weights are
    all-gathered; without it every GPU updates all of its params / tp.

Data parallelism
    ``dp`` > 1 adds the all-reduce of the gradients (params / tp x 2 bytes, bf16) over ``dp`` GPUs, timed by
    :mod:`gpusim.llm.collectives` from the config's ``interconnect`` (the 8-GPU NCCL bus bandwidth).  It is
    added after the backward, NOT overlapped (``step_seconds``); PyTorch DDP and Megatron-LM overlap bucketed
    all-reduces with the backward, so ``training.step_seconds_dp_overlapped`` reports the step with the
    all-reduce hidden behind the backward (up to the backward's time), a bound the model does not simulate
    (NCCL kernels would share the SMs and DRAM with the backward).

Gradient accumulation
    ``accum`` = A micro-batches per optimizer step: the report's ``training`` section counts the forward
    and backward A times, the all-reduce and the update once (DDP all-reduces on the last micro-batch).
    The simulated kernels are the same; only that arithmetic differs.  The report's top-level
    ``step_seconds`` is what was simulated: one micro-batch, one update and the collectives once.

Model FLOPs (``training.model_tflops_per_gpu``)
    FlashAttention-2's convention (Dao, arXiv:2307.08691, section 4.2, after Megatron-LM): per sequence of
    seq tokens 6 x seq x params + 12 x layers x hidden x seq^2 FLOPs -- the attention term counts the full
    (non-causal) score matrix, and params is all of the model's parameters (embeddings included) --
    over the step's seconds, per GPU (tp > 1: divided by tp).

Not modelled: biases (GPT-3's linear biases; their gradient is a column sum that cuBLASLt fuses into the
wgrad epilogue), dropout, FlashAttention-2's fused dropout+add+LayerNorm and fused dense+GeLU kernels (run
here as separate add / norm and GEMM / GeLU kernels), the embedding backward, activation recomputation and
gradient clipping.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpusim.errors import GpusimError
from gpusim.llm.graph import ELEMENTWISE_FLOPS, GraphError, Operator, OperatorGraph, Tensor
from gpusim.llm.model import DTYPE_BITS, ModelSpec, Step
from gpusim.ops.kinds import OperatorKind as OK
from gpusim.ops.registry import Unsupported, register_backend

#: FLOPs per element of the training-only element-wise operators (this module's counting convention, as
#: graph.ELEMENTWISE_FLOPS): layernorm x - mean, ^2, sums, * rstd, * w, + b = 6; gelu (tanh form) cube,
#: fma, tanh, add, 2 mul = 8; gelu_bwd 14; silu_mul_bwd per output pair 10; norm_bwd per element 8;
#: cross_entropy max, sub, exp, sum, sub, exp, mul, sub = 8; adamw per parameter 16.
TRAIN_FLOPS = {"layernorm": 6, "gelu": 8, "gelu_bwd": 14, "silu_mul_bwd": 10, "norm_bwd": 8,
               "cross_entropy": 8, "adamw": 16}
#: Attention backward FLOPs / forward FLOPs: 5 matrix products (S = QK^T recomputed, dV, dP, dS -> dQ, dK)
#: against 2 (Dao, arXiv:2307.08691, section 4.1: "backward pass ... 2.5x the forward FLOPs").
ATTN_BWD_FLOPS_RATIO = 2.5
#: Bytes the fused AdamW moves per parameter (gpusim.llm.kernels.ADAMW_BYTES_PER_PARAM: 14 read, 14 written).
ADAMW_BYTES = 28
#: Bytes of one gradient element sent in the data-parallel all-reduce (bf16 / fp16 gradients).
GRAD_BYTES = 2
#: Operator kinds of the training graph that :func:`kernels_for` handles.
TRAIN_KINDS = (OK.LAYERNORM, OK.GELU, OK.GELU_BWD, OK.SILU_MUL_BWD, OK.NORM_BWD, OK.CROSS_ENTROPY, OK.ADAMW,
               OK.EMBEDDING_BWD)
#: Why an operator kind of the training graph has no kernel (the gpu-train backend's Unsupported reasons).
NOT_SIMULATED = {OK.EMBEDDING_BWD: "embedding backward (a scatter-add of the tokens' gradient rows into the "
                                  "embedding table) has no kernel yet; it takes no time and no launch"}


def _b(n: int, dtype: str) -> int:
    return (n * DTYPE_BITS[dtype] + 7) // 8


def check_train(m: ModelSpec, st: Step, tp: int, dp: int) -> None:
    """Refuse what the training graph cannot lay out (GraphError, exit 2)."""
    if m.moe is not None:
        raise GraphError(f"{m.name}: train steps have no backward path for mixture-of-experts layers yet "
                         f"(expert GEMMs' dgrad/wgrad and the router's backward are not built)")
    if m.weight_dtype not in ("fp16", "bf16") or m.dtype not in ("fp16", "bf16"):
        raise GraphError(f"{m.name}: train steps run fp16 / bf16 weights and activations (got weights "
                         f"{m.weight_dtype}, activations {m.dtype}); no quantised training path")
    if dp < 1:
        raise GraphError(f"dp = {dp}: must be >= 1")
    if st.zero and dp == 1:
        raise GraphError(f"step '{st.text}': zero=1 shards the optimizer over data-parallel GPUs: give --dp > 1")
    if st.seq > m.max_positions and m.position == "learned":
        raise GraphError(f"{m.name}: seq = {st.seq} exceeds the {m.max_positions} learned positions (max_positions)")


def build_train_graph(m: ModelSpec, st: Step, tp: int = 1, dp: int = 1) -> OperatorGraph:
    """The operators one GPU runs for one micro-batch's forward and backward, then the data-parallel gradient
    all-reduce and the optimizer update (module doc).  Backward operators are named ``bwd.layer.*``."""
    check_train(m, st, tp, dp)
    if m.heads % tp or m.ffn % tp or m.vocab % tp or not (m.kv_heads % tp == 0 or tp % m.kv_heads == 0):
        raise GraphError(f"{m.name}: heads ({m.heads}), kv_heads ({m.kv_heads}), ffn ({m.ffn}) and vocab ({m.vocab}) "
                         f"must split over tp = {tp}")
    g = st.groups[0]
    B, S = g.count, g.tokens
    T = B * S
    h, d, L = m.hidden, m.head_dim, m.layers
    H, Hkv = m.heads // tp, max(1, m.kv_heads // tp)
    F, V = m.ffn // tp, m.vocab // tp
    up_n = 2 * F if m.activation == "swiglu" else F
    qkv_n = (H + 2 * Hkv) * d
    act = m.dtype
    ln = m.norm == "layernorm"
    ops: list[Operator] = []
    tensors: dict[str, Tensor] = {}

    def t(name: str, shape: tuple[int, ...], dtype: str = act) -> str:
        tensors[name] = Tensor(name, shape, dtype)
        return name

    def nb(*names: str) -> int:
        return sum(tensors[n].bytes for n in names)

    def op(name, kind, count, shape, flops, ins, outs, rd=None, wr=None, wbytes=0, wdt=None):
        ops.append(Operator(name, kind, count, shape, act, flops, nb(*ins) if rd is None else rd,
                            nb(*outs) if wr is None else wr, tuple(ins), tuple(outs), wdt, wbytes))

    def linear_fwd(name: str, x: str, y: str, N: int, K: int, count: int) -> None:
        w = t(f"{name}.weight", (N, K))
        t(y, (T, N))
        op(name, "gemm", count, {"M": T, "N": N, "K": K, "layout": "TN", "kernel_layout": "TN", "pass": "fwd"},
           2 * T * N * K, (x, w), (y,), wbytes=nb(w), wdt=act)

    def linear_bwd(name: str, x: str, dy: str, dx: str | None, N: int, K: int, count: int, prefix: str) -> None:
        """dgrad (dx None: not needed) and wgrad of the forward linear ``name`` (W [N = out, K = in])."""
        w = f"{name}.weight"
        if dx is not None:
            t(dx, (T, K))
            op(f"{prefix}{name.removeprefix('layer.')}.dgrad" if prefix else f"{name}.dgrad", "gemm", count,
               {"M": T, "N": K, "K": N, "layout": "NN", "kernel_layout": "TN", "pass": "dgrad",
                "operands": "A = dY [T, out] K-major; B = W [out, in] N-major (run as K-major: TN stand-in)"},
               2 * T * N * K, (dy, w), (dx,), wbytes=nb(w), wdt=act)
        dw = t(f"{name}.weight_grad", (K, N))
        op(f"{prefix}{name.removeprefix('layer.')}.wgrad" if prefix else f"{name}.wgrad", "gemm", count,
           {"M": K, "N": N, "K": T, "layout": "NT", "kernel_layout": "TN", "pass": "wgrad",
            "operands": "A = X^T: X [T, in] M-major; B = dY [T, out] N-major (both run as K-major: TN stand-in)"},
           2 * T * N * K, (x, dy), (dw,))

    def norm_fwd(name: str, x: str, y: str, count: int) -> None:
        w = t(f"{name}.weight", (h,))
        ins = (x, w)
        if ln:
            ins += (t(f"{name}.bias", (h,)),)
        t(y, (T, h))
        kind = "layernorm" if ln else "rmsnorm"
        fl = (TRAIN_FLOPS["layernorm"] if ln else ELEMENTWISE_FLOPS["rmsnorm"]) * T * h
        op(name, kind, count, {"rows": T, "hidden": h}, fl, ins, (y,))

    def norm_bwd(name: str, fwd: str, x: str, dy: str, dx: str, count: int) -> None:
        t(dx, (T, h))
        dw = t(f"{fwd}.weight_grad", (h,), "fp32")
        op(name, "norm_bwd", count, {"rows": T, "hidden": h, "layernorm": ln}, TRAIN_FLOPS["norm_bwd"] * T * h,
           (dy, x, f"{fwd}.weight"), (dx, dw), wr=nb(dx) + (2 if ln else 1) * nb(dw))

    def add(name: str, a: str, b: str, out: str, count: int) -> None:
        t(out, (T, h))
        op(name, "add", count, {"rows": T, "cols": h}, T * h, (a, b), (out,))

    def allreduce(name: str, x: str, count: int, gpus: int = tp, nbytes: int | None = None) -> None:
        if gpus > 1:
            b = nb(x) if nbytes is None else nbytes
            op(name, "allreduce", count, {"bytes": b, "gpus": gpus}, 0, (x,), (x,), rd=b, wr=b)

    # ---------------- forward
    t("tokens", (T,), "fp32")
    emb = t("embed.weight", (V, h))
    t("x0", (T, h))
    op("embedding", "embedding", 1, {"tokens": T, "hidden": h, "vocab": V}, 0, ("tokens", emb), ("x0",),
       rd=_b(T * h, act) + 4 * T, wbytes=_b(T * h, act), wdt=act)
    allreduce("embedding.allreduce", "x0", 1)
    if m.position == "learned":
        t("pos.weight", (m.max_positions, h))
        t("pos.rows", (T, h))
        t("layer.x", (T, h))
        op("position_add", "add", 1, {"rows": T, "cols": h}, T * h, ("x0", "pos.rows"), ("layer.x",))
    t("layer.x", (T, h))
    norm_fwd("layer.attn_norm", "layer.x", "layer.h", L)
    linear_fwd("layer.qkv_proj", "layer.h", "layer.qkv", qkv_n, h, L)
    if m.position == "rotary":
        t("rope.cos_sin", (m.max_positions, d), "fp32")
        rot = T * (H + Hkv) * d
        op("layer.rotary", "rotary", L, {"tokens": T, "heads": H, "kv_heads": Hkv, "head_dim": d, "train": True},
           ELEMENTWISE_FLOPS["rotary"] * rot, ("layer.qkv", "rope.cos_sin"), ("layer.qkv",),
           rd=_b(rot, act) + T * d * 4, wr=_b(rot, act))
    pairs = B * S * (S + 1) // 2
    attn_shape = {"batch": B, "heads": H, "kv_heads": Hkv, "head_dim": d, "q_len": S, "kv_len": S, "causal": True,
                  "phase": "prefill", "train": True}
    t("layer.attn_out", (T, H * d))
    t("layer.lse", (B, H, S), "fp32")
    op("layer.attn", "attention", L, {**attn_shape, "pass": "fwd"}, 4 * d * pairs * H, ("layer.qkv",),
       ("layer.attn_out", "layer.lse"), rd=_b(T * (H + 2 * Hkv) * d, act))
    linear_fwd("layer.o_proj", "layer.attn_out", "layer.o", h, H * d, L)
    allreduce("layer.o_proj.allreduce", "layer.o", L)
    add("layer.attn_residual", "layer.x", "layer.o", "layer.x1", L)
    norm_fwd("layer.ffn_norm", "layer.x1", "layer.h2", L)
    linear_fwd("layer.up_proj", "layer.h2", "layer.u", up_n, h, L)
    t("layer.act", (T, F))
    if m.activation == "swiglu":
        op("layer.silu_mul", "silu_mul", L, {"rows": T, "cols": F}, ELEMENTWISE_FLOPS["silu_mul"] * T * F,
           ("layer.u",), ("layer.act",))
    else:
        op("layer.gelu", "gelu", L, {"n": T * F}, TRAIN_FLOPS["gelu"] * T * F, ("layer.u",), ("layer.act",))
    linear_fwd("layer.down_proj", "layer.act", "layer.mlp", h, F, L)
    allreduce("layer.mlp.allreduce", "layer.mlp", L)
    add("layer.mlp_residual", "layer.x1", "layer.mlp", "layer.x2", L)
    norm_fwd("final_norm", "layer.x2", "final.h", 1)
    # LM head (tied: the embedding table) over every token, then the fused loss + dlogits
    lm_w = "embed.weight" if m.tie_embeddings else t("lm_head.weight", (V, h))
    tensors["lm_head.weight"] = tensors[lm_w]
    t("logits", (T, V))
    op("lm_head", "gemm", 1, {"M": T, "N": V, "K": h, "layout": "TN", "kernel_layout": "TN", "pass": "fwd"},
       2 * T * V * h, ("final.h", "lm_head.weight"), ("logits",), wbytes=nb("lm_head.weight"), wdt=act)
    t("labels", (T,), "fp32")
    t("loss", (T,), "fp32")
    op("cross_entropy", "cross_entropy", 1, {"rows": T, "cols": V}, TRAIN_FLOPS["cross_entropy"] * T * V,
       ("logits", "labels"), ("logits", "loss"), rd=2 * nb("logits") + nb("labels"), wr=nb("logits", "loss"))
    allreduce("cross_entropy.allreduce", "loss", 1, nbytes=3 * 4 * T)   # Megatron vocab-parallel: max, sum, target
    # ---------------- backward: LM head, final norm
    t("d_final.h", (T, h))
    linear_bwd("lm_head", "final.h", "logits", "d_final.h", V, h, 1, "")
    allreduce("lm_head.dgrad.allreduce", "d_final.h", 1)
    norm_bwd("final_norm.bwd", "final_norm", "layer.x2", "d_final.h", "d_layer.x2", 1)
    # ---------------- backward of one block (layers last to first; d_layer.x2 is the block output's gradient)
    P = "bwd.layer."
    linear_bwd("layer.down_proj", "layer.act", "d_layer.x2", "d_layer.act", h, F, L, P)
    t("d_layer.u", (T, up_n))
    if m.activation == "swiglu":
        op(P + "silu_mul_bwd", "silu_mul_bwd", L, {"rows": T, "cols": F}, TRAIN_FLOPS["silu_mul_bwd"] * T * F,
           ("d_layer.act", "layer.u"), ("d_layer.u",))
    else:
        op(P + "gelu_bwd", "gelu_bwd", L, {"n": T * F}, TRAIN_FLOPS["gelu_bwd"] * T * F,
           ("d_layer.act", "layer.u"), ("d_layer.u",))
    linear_bwd("layer.up_proj", "layer.h2", "d_layer.u", "d_layer.h2", up_n, h, L, P)
    allreduce(P + "up_proj.dgrad.allreduce", "d_layer.h2", L)
    norm_bwd(P + "ffn_norm_bwd", "layer.ffn_norm", "layer.x1", "d_layer.h2", "d_layer.x1n", L)
    add(P + "ffn_residual_grad", "d_layer.x1n", "d_layer.x2", "d_layer.x1", L)
    linear_bwd("layer.o_proj", "layer.attn_out", "d_layer.x1", "d_layer.attn_out", h, H * d, L, P)
    t("d_layer.qkv", (T, qkv_n))
    op(P + "attn", "attention", L, {**attn_shape, "pass": "bwd"}, round(ATTN_BWD_FLOPS_RATIO * 4 * d * pairs * H),
       ("layer.qkv", "layer.attn_out", "d_layer.attn_out", "layer.lse"), ("d_layer.qkv",),
       rd=_b(T * (H + 2 * Hkv) * d, act) + 2 * _b(T * H * d, act) + 4 * B * H * S)
    if m.position == "rotary":   # the rotation's transpose: the same kernel with the angle negated
        op(P + "rotary_bwd", "rotary", L, {"tokens": T, "heads": H, "kv_heads": Hkv, "head_dim": d, "train": True},
           ELEMENTWISE_FLOPS["rotary"] * rot, ("d_layer.qkv", "rope.cos_sin"), ("d_layer.qkv",),
           rd=_b(rot, act) + T * d * 4, wr=_b(rot, act))
    linear_bwd("layer.qkv_proj", "layer.h", "d_layer.qkv", "d_layer.h", qkv_n, h, L, P)
    allreduce(P + "qkv_proj.dgrad.allreduce", "d_layer.h", L)
    norm_bwd(P + "attn_norm_bwd", "layer.attn_norm", "layer.x", "d_layer.h", "d_layer.xn", L)
    add(P + "attn_residual_grad", "d_layer.xn", "d_layer.x1", "d_layer.x2", L)
    # ---------------- embedding backward (not simulated), gradient all-reduce, optimizer
    op("embedding_bwd", "embedding_bwd", 1, {"tokens": T, "hidden": h, "vocab": V}, T * h, ("d_layer.x2", "tokens"),
       ("embed.weight_grad",), wr=_b(T * h, act))
    params = m.params() // tp
    allreduce("grad_allreduce", "embed.weight", 1, gpus=dp, nbytes=GRAD_BYTES * params)
    n_upd = -(-params // dp) if st.zero else params
    n_upd = -(-n_upd // 8) * 8
    op("adamw", "adamw", 1, {"params": n_upd, "zero": st.zero, "dp": dp}, TRAIN_FLOPS["adamw"] * n_upd, (), (),
       rd=ADAMW_BYTES // 2 * n_upd, wr=ADAMW_BYTES // 2 * n_upd)
    if st.zero and dp > 1:   # the updated fp16/bf16 weights of every shard to every GPU
        op("param_allgather", "allgather", 1, {"bytes": GRAD_BYTES * params, "gpus": dp}, 0, (), (),
           rd=GRAD_BYTES * n_upd, wr=GRAD_BYTES * params)
    return OperatorGraph(model=m, step=st, tp=tp, operators=tuple(ops), tensors=tensors)


def phase_of(name: str) -> str:
    """forward / backward / optimizer / communication phase of a training-graph operator (by name)."""
    if name in ("grad_allreduce", "param_allgather"):
        return "communication"
    if name == "adamw":
        return "optimizer"
    if name.startswith("bwd.") or name.endswith((".dgrad", ".wgrad", ".bwd", "dgrad.allreduce")) \
            or name == "embedding_bwd":
        return "backward"
    return "forward"


@dataclass(frozen=True)
class _Ctx:
    """What a training handler needs: every ``layer.*`` tensor (and its ``d_`` gradient) gets one buffer per
    layer (the backward reads what the forward of that layer kept)."""
    arch: str
    step: Step
    buf: object
    layer: int | None
    device: object

    def a(self, name: str, nbytes: int) -> int:
        base = name.removeprefix("d_")
        return self.buf(name, nbytes, self.layer if base.startswith("layer.") else None)

    @property
    def batch_seq(self) -> tuple[int, int]:
        g = self.step.groups[0]
        return g.count, g.tokens


H2 = 2   # bytes per element of the fp16 / bf16 training kernels


def kernels_for(op: Operator, arch: str, step: Step, buf, layer: int | None, device) -> list[tuple] | None:
    """The launches of one execution of a training-graph operator (see gpusim.llm.launch.kernels_for): the
    handler of its kind in the ``gpu-train`` backend (``GPU_TRAIN``); None where the kind is unsupported or a
    collective (timed by the interconnect model)."""
    h = GPU_TRAIN.handler(op.kind)
    return None if h is None else h(op, _Ctx(arch, step, buf, layer, device))


def _gemm_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import run as R

    s, a = op.shape, c.a
    M, N, Kd = s["M"], s["N"], s["K"]
    x, w = op.inputs
    return R._launches(R._gemm(c.arch, M, N, Kd, a(x, H2 * M * Kd), a(w, H2 * N * Kd), a(op.outputs[0], H2 * M * N),
                               c.buf, c.device, op.name))


def _attention_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    s, a, arch = op.shape, c.a, c.arch
    B, S = c.batch_seq
    H, Hkv, D = s["heads"], s["kv_heads"], s["head_dim"]
    T = B * S
    qb, kvb = H2 * T * H * D, H2 * T * Hkv * D
    Q = a("layer.q", qb)
    Kc, Vc = a("layer.k", kvb), a("layer.v", kvb)
    O = a("layer.attn_out", qb)
    lse = a("layer.lse", 4 * B * H * S)
    if s["pass"] == "fwd":
        return [(K.flash_attn(arch, B, H, Hkv, S, S, Q, Kc, Vc, O, causal=True, head_dim=D, LSE=lse), 1)]
    ds_b, dqa_b = K.fa2_workspace_bytes(B, H, S, D)
    dkv = H2 * T * H * D
    return [(call, 1) for call in K.flash_attn_bwd(
        arch, B, H, Hkv, S, S, Q=Q, K=Kc, V=Vc, O=O, dO=a("d_layer.attn_out", qb), LSE=lse,
        Dsum=a("attn.dsum", ds_b), dQaccum=a("attn.dq_accum", dqa_b), dQ=a("d_layer.q", qb),
        dK=a("d_layer.k", dkv), dV=a("d_layer.v", dkv), causal=True, head_dim=D)]


def _rmsnorm_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    r, hd = op.shape["rows"], op.shape["hidden"]
    x, y = op.inputs[0], op.outputs[0]
    W = c.a(op.inputs[1], H2 * hd)   # the weight's buffer first (buffer addresses follow the request order)
    return [(K.rmsnorm(c.arch, r, hd, c.a(x, H2 * r * hd), W, c.a(y, H2 * r * hd)), 1)]


def _layernorm_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    r, hd = op.shape["rows"], op.shape["hidden"]
    x, y = op.inputs[0], op.outputs[0]
    W = c.a(op.inputs[1], H2 * hd)
    return [(K.layernorm(c.arch, r, hd, c.a(x, H2 * r * hd), W, c.a(op.inputs[2], H2 * hd), c.a(y, H2 * r * hd)), 1)]


def _norm_bwd_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    s, a = op.shape, c.a
    r, hd = s["rows"], s["hidden"]
    dy, x, w = op.inputs
    dx, dw = op.outputs
    return [(K.norm_bwd(c.arch, r, hd, a(dy, H2 * r * hd), a(x, H2 * r * hd), a(w, H2 * hd), a(dx, H2 * r * hd),
                        a(dw, 4 * hd), a(dw + ".bias", 4 * hd), s["layernorm"]), 1)]


def _add_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    n = op.shape["rows"] * op.shape["cols"]
    x, y = op.inputs
    return [(K.residual_add(c.arch, n, c.a(x, H2 * n), c.a(y, H2 * n), c.a(op.outputs[0], H2 * n)), 1)]


def _gelu_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    n = op.shape["n"]
    return [(K.gelu(c.arch, n, c.a(op.inputs[0], H2 * n), c.a(op.outputs[0], H2 * n)), 1)]


def _gelu_bwd_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    n = op.shape["n"]
    return [(K.gelu_bwd(c.arch, n, c.a(op.inputs[0], H2 * n), c.a(op.inputs[1], H2 * n), c.a(op.outputs[0], H2 * n)),
             1)]


def _silu_mul_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    r, f = op.shape["rows"], op.shape["cols"]
    return [(K.silu_mul(c.arch, r, f, c.a(op.inputs[0], 2 * H2 * r * f), c.a(op.outputs[0], H2 * r * f)), 1)]


def _silu_mul_bwd_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    r, f = op.shape["rows"], op.shape["cols"]
    return [(K.silu_mul_bwd(c.arch, r, f, c.a(op.inputs[0], H2 * r * f), c.a(op.inputs[1], 2 * H2 * r * f),
                            c.a(op.outputs[0], 2 * H2 * r * f)), 1)]


def _rotary_op(op: Operator, c: _Ctx) -> list[tuple]:
    import numpy as np

    from gpusim.llm import kernels as K

    s, a = op.shape, c.a
    B, S = c.batch_seq
    T, H, Hkv, D = s["tokens"], s["heads"], s["kv_heads"], s["head_dim"]
    pos = np.tile(np.arange(S, dtype=np.int32), B)
    row = (H + 2 * Hkv) * D
    qkv = a(op.inputs[0], H2 * T * row)
    return [(K.rotary(c.arch, T, H, Hkv, qkv, qkv + H2 * H * D, a("rope.cos_sin", 4 * S * D), a("positions", 4 * T),
                      pos, q_row_stride=row, k_row_stride=row), 1)]


def _embedding_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K
    from gpusim.llm import run as R

    T, hd, V = op.shape["tokens"], op.shape["hidden"], op.shape["vocab"]
    return [(K.embedding_gather(c.arch, T, hd, c.a("tokens", 4 * T), c.a("embed.weight", H2 * V * hd),
                                c.a("x0", H2 * T * hd), R.token_ids(T, V), vocab=V), 1)]


def _cross_entropy_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K
    from gpusim.llm import run as R

    r, cols = op.shape["rows"], op.shape["cols"]
    lg = c.a("logits", H2 * r * cols)
    return [(K.cross_entropy(c.arch, r, cols, lg, c.a("labels", 4 * r), lg, c.a("loss", 4 * r), R.token_ids(r, cols)),
             1)]


def _adamw_op(op: Operator, c: _Ctx) -> list[tuple]:
    from gpusim.llm import kernels as K

    n, buf = op.shape["params"], c.buf
    return [(call, 1) for call in K.adamw(c.arch, n, buf("opt.master", 4 * n), buf("opt.m", 4 * n),
                                          buf("opt.v", 4 * n), buf("opt.grads", 2 * n), buf("opt.params16", 2 * n))]


def _collective_op(op: Operator, c: _Ctx) -> None:
    """No kernel of ours: gpusim.llm.run times collectives from the config's interconnect."""
    return None


#: Why serving-only operators have no training path.
_NO_MOE = Unsupported("train steps have no backward path for mixture-of-experts layers (check_train refuses them)")
_SERVING_ONLY = Unsupported("serving-step operator: a train: step's graph has no KV cache and no sampling softmax "
                            "(the fused cross-entropy replaces it)")

#: The GPU backend of train: steps (forward, backward, optimizer): per operator kind its kernel handler.
GPU_TRAIN = register_backend("gpu-train", {
    OK.GEMM: _gemm_op, OK.ATTENTION: _attention_op, OK.RMSNORM: _rmsnorm_op, OK.LAYERNORM: _layernorm_op,
    OK.NORM_BWD: _norm_bwd_op, OK.ADD: _add_op, OK.GELU: _gelu_op, OK.GELU_BWD: _gelu_bwd_op,
    OK.SILU_MUL: _silu_mul_op, OK.SILU_MUL_BWD: _silu_mul_bwd_op, OK.ROTARY: _rotary_op, OK.EMBEDDING: _embedding_op,
    OK.CROSS_ENTROPY: _cross_entropy_op, OK.ADAMW: _adamw_op,
    OK.ALLREDUCE: _collective_op, OK.ALLGATHER: _collective_op,
    OK.EMBEDDING_BWD: Unsupported(NOT_SIMULATED[OK.EMBEDDING_BWD]),
    OK.MOE_GEMM: _NO_MOE, OK.MOE_ROUTER: _NO_MOE, OK.MOE_COMBINE: _NO_MOE,
    OK.KV_APPEND: _SERVING_ONLY, OK.SOFTMAX: _SERVING_ONLY,
    OK.CMUL: Unsupported("RDU validation-program operator (gpusim.accel.rdu.programs); no GPU kernel models it"),
    OK.TRANSPOSE: Unsupported("RDU validation-program operator (gpusim.accel.rdu.programs); no GPU kernel models it"),
}, "GPU kernels of train: steps (gpusim.llm.train)")


def training_summary(rep: dict, m: ModelSpec, st: Step, tp: int, dp: int) -> dict:
    """The ``training`` section of a train step's report (module doc): seconds per phase, the optimizer
    step with ``accum`` micro-batches, model FLOPs and TFLOPS per GPU in FlashAttention-2's convention."""
    clock = rep["clock_hz"]
    per_launch = rep["launch_cycles_each"]
    ph: dict[str, float] = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0, "communication": 0.0}
    for o in rep["operators"]:
        ph[phase_of(o["name"])] += (o["cycles"] + o["launches"] * per_launch) / clock
    micro = ph["forward"] + ph["backward"]
    step_s = st.accum * micro + ph["optimizer"] + ph["communication"]
    # the gradient all-reduce hidden behind the (last micro-batch's) backward, up to its length
    ar = next((o["seconds"] for o in rep["operators"] if o["name"] == "grad_allreduce"), 0.0)
    overlapped = step_s - min(ar, ph["backward"])
    g = st.groups[0]
    tokens = st.accum * g.count * g.tokens
    params = m.params()
    flops = st.accum * g.count * (6 * g.tokens * params + 12 * m.layers * m.hidden * g.tokens ** 2) / tp
    return {
        "tokens_per_micro_batch": g.count * g.tokens, "seq": g.tokens, "batch": g.count, "accum": st.accum,
        "tokens_per_step": tokens, "dp": dp, "tp": tp, "zero": st.zero, "params": params,
        "phase_seconds": ph, "micro_batch_seconds": micro, "step_seconds": step_s,
        "step_seconds_dp_overlapped": overlapped, "grad_allreduce_seconds": ar,
        "grad_allreduce_overlap": "not simulated: step_seconds adds the all-reduce after the backward; "
                                  "step_seconds_dp_overlapped hides it behind the backward (DDP / Megatron "
                                  "bucketed overlap, an upper bound on the gain)",
        "model_flops_per_gpu": flops,
        "flops_convention": "FlashAttention-2 (arXiv:2307.08691, section 4.2): per sequence 6 * seq * params + "
                            "12 * layers * hidden * seq^2, params = all parameters (embeddings included), / tp",
        "model_tflops_per_gpu": flops / step_s / 1e12 if step_s else 0.0,
        "model_tflops_per_gpu_dp_overlapped": flops / overlapped / 1e12 if overlapped else 0.0,
        "tokens_per_second_per_gpu": tokens / step_s if step_s else 0.0,
        "adamw_bytes_per_param": ADAMW_BYTES,
        "gemm_layouts": "dgrad (NN) and wgrad (NT) GEMMs run the TN kernel of the same M, N, K as a stand-in "
                        "for cuBLAS's layout-specific kernels (gpusim.llm.train)",
    }


def training_lines(tr: dict) -> list[str]:
    ph = tr["phase_seconds"]
    out = [f"training: micro-batch {tr['tokens_per_micro_batch']} tokens ({tr['batch']} x {tr['seq']}), accum "
           f"{tr['accum']}, dp {tr['dp']}, tp {tr['tp']}" + (", ZeRO-1" if tr["zero"] else ""),
           f"  forward {ph['forward'] * 1e3:.4g} ms, backward {ph['backward'] * 1e3:.4g} ms, optimizer "
           f"{ph['optimizer'] * 1e3:.4g} ms, communication {ph['communication'] * 1e3:.4g} ms",
           f"  optimizer step {tr['step_seconds'] * 1e3:.4g} ms: {tr['model_tflops_per_gpu']:.1f} model TFLOPS/GPU "
           f"(FlashAttention-2's convention), {tr['tokens_per_second_per_gpu']:,.0f} tokens/s/GPU"]
    if tr["grad_allreduce_seconds"]:
        out.append(f"  gradient all-reduce {tr['grad_allreduce_seconds'] * 1e3:.4g} ms not overlapped; hidden behind "
                   f"the backward: {tr['step_seconds_dp_overlapped'] * 1e3:.4g} ms, "
                   f"{tr['model_tflops_per_gpu_dp_overlapped']:.1f} TFLOPS/GPU")
    return out


__all__ = ["build_train_graph", "kernels_for", "training_summary", "training_lines", "phase_of", "TRAIN_KINDS",
           "NOT_SIMULATED", "GpusimError"]


def train_memory_footprint(g: OperatorGraph, m: ModelSpec, st: Step, tp: int, dp: int, cap: int) -> dict:
    """Device memory of a train step on one GPU: model weights and gradients (2 + 2 bytes per parameter),
    fp32 master weights, m and v (12 bytes, / dp with ZeRO-1) and the activations the forward keeps for the
    backward (every ``layer.*`` activation tensor of the graph once per layer, plus the logits; no
    recomputation).  ``fits``: within ``memory.dram_size`` (reported, not enforced)."""
    p = m.params() // tp
    w = 4 * p
    opt = 12 * (-(-p // dp) if st.zero else p)
    acts = sum(t.bytes for n, t in g.tensors.items()
               if n.startswith("layer.") and ".weight" not in n and ".bias" not in n) * m.layers
    acts += g.tensors["logits"].bytes
    tot = w + opt + acts
    return {"weight_and_grad_bytes": w, "optimizer_bytes": opt, "activation_bytes": acts, "total_bytes": tot,
            "dram_size_bytes": cap, "fits": not cap or tot <= cap}

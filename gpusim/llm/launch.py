"""Operators -> kernel launches: which of the project's kernels (:mod:`gpusim.llm.kernels`) each operator of
a step runs, on which synthetic device buffers, in the order a real step launches them.

:func:`schedule` is the step's launch list (pre-layer operators, layer 0 .. L-1, the rest; a training
step's backward layers last to first, :mod:`gpusim.llm.train`); :func:`kernels_for` picks the kernels of
one operator (GEMM / GEMV / quantised GEMV, attention, norms and element-wise kernels), :class:`Buffers`
gives every graph tensor one address and :func:`check_model` / :func:`memory_footprint` say what a GPU
can run.  :mod:`gpusim.llm.run` simulates the launches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpusim.config.specs import GPUConfig
from gpusim.errors import ConfigError, GpusimError
from gpusim.llm import gemm_select as GS
from gpusim.llm import kernels as K
from gpusim.llm.graph import Operator, OperatorGraph
from gpusim.llm.model import ModelSpec, Step
from gpusim.ops.kinds import OperatorKind as OK
from gpusim.ops.registry import Unsupported, register_backend

#: First synthetic device address of the buffers we hand to kernels (above 4 GiB like real device
#: pointers; buffers are 256-byte aligned and never overlap).
DEVICE_BASE = 0x7F00_0000_0000
#: Buffer alignment in bytes (cudaMalloc returns at least 256-byte aligned pointers: CUDA C++
#: Programming Guide, "Device Memory Accesses").
BUFFER_ALIGN = 256
#: Graph tensors that live in another tensor's buffer: the LM head reads the sampled rows of the final norm's output.
ALIASES = {"final.h_sampled": "final.h", "x0": "layer.x"}   # + layer 0 reads the embedding output
#: Why an operator has no kernel (report["not_simulated"][i]["reason"]) when its backend names no reason:
#: the reasons of unsupported kinds are the registry's (``GPU`` here, ``gpu-train`` in gpusim.llm.train).
NOT_SIMULATED_REASONS = {
    None: "no kernel models this operator yet; it takes no time and no launch",
}

#: Seed of the synthetic token ids of the embedding gather (:func:`token_ids`); any fixed seed works,
#: the ids only decide which embedding rows are read.
TOKEN_ID_SEED = 0

#: Activation / weight / KV dtypes our fp16 kernels stand for (bf16: same bytes and tensor rate).
KERNEL_DTYPES = ("fp16", "bf16")


# --------------------------------------------------------------------------------------------
# buffers
# --------------------------------------------------------------------------------------------


class Buffers:
    """Synthetic device addresses: one buffer per (tensor name, layer); ``layer`` None for tensors shared
    by all layers.  A buffer holds at least its graph tensor (``tensors``, fp16) with its rows padded to
    the largest GEMV batch, so producer and consumer kernels see the same address; a later request for
    more bytes gets a new, larger buffer."""

    def __init__(self, tensors: dict | None = None, pad_rows: int | None = None) -> None:
        self.next = DEVICE_BASE
        self.bufs: dict[tuple[str, int | None], tuple[int, int]] = {}
        self.tensors = tensors or {}
        self.pad_rows = pad_rows or max(K.GEMV_BATCHES)   # rows a GEMV may read (16 with weight-only GEMVs)

    def new(self, nbytes: int) -> int:
        a = self.next
        self.next += (max(int(nbytes), 1) + BUFFER_ALIGN - 1) // BUFFER_ALIGN * BUFFER_ALIGN
        return a

    def _hint(self, name: str) -> int:
        t = self.tensors.get(name)
        if t is None or not t.shape:
            return 0
        n = 1
        for d in t.shape:
            n *= d
        rows = t.shape[0]
        return 2 * n * max(1, -(-self.pad_rows // rows) if rows < self.pad_rows else 1)

    def __call__(self, name: str, nbytes: int, layer: int | None = None) -> int:
        key = (name, layer)
        got = self.bufs.get(key)
        if got is None or got[1] < nbytes:
            size = max(int(nbytes), self._hint(name))
            got = (self.new(size), size)
            self.bufs[key] = got
        return got[0]


@dataclass
class KernelLaunch:
    """One launch of the step: a kernel call made for one execution of an operator."""

    op: Operator
    layer: int | None       # layer index for per-layer operators
    call: K.KernelCall
    times: int = 1          # identical launches this entry stands for (the MoE experts when deduplicated)
    gemm: GS.Choice | None = None  # the GEMM selector's choice this launch belongs to (gpusim.llm.gemm_select)


# --------------------------------------------------------------------------------------------
# kernel choice
# --------------------------------------------------------------------------------------------


def check_model(m: ModelSpec, extra_dtypes: tuple[str, ...] = (), any_head_dim: bool = False,
                arch: str | None = None) -> None:
    """Refuse models our fp16, head_dim-128 kernels cannot stand for (ConfigError naming file and key).
    ``extra_dtypes``: dtypes a single operator may also use (``--op ...,dtype=fp8`` on sm_90a);
    ``any_head_dim``: a single attention operator (``--op attention:...``), whose launcher refuses the
    head dims its kernel (FlashAttention-2, or the FlashAttention-3-style kernel on sm_90a) is not built for.
    Weight dtypes: int8 / int4 (weight-only GEMVs, fp16 activations) anywhere, fp8 on ``arch`` sm_90a only."""
    for key in ("dtype", "weight_dtype", "kv_dtype"):
        v = getattr(m, key)
        if key == "weight_dtype" and v in K.QUANT_BITS:
            if m.dtype != "fp16":
                raise ConfigError(key, f"{v} weights with {m.dtype} activations: gpusim's weight-only GEMVs "
                                       f"dequantise to fp16 (magic-number conversion); use dtype fp16", m.file or None)
            continue
        if key == "weight_dtype" and v == "fp8" and arch is not None:
            if arch != "sm_90a":
                raise ConfigError(key, f"fp8 weights on {arch}: gpusim's fp8 kernels are the Hopper wgmma GEMMs "
                                       f"(sm_90a); no fp8 kernel before Hopper", m.file or None)
            continue
        if v not in KERNEL_DTYPES + tuple(extra_dtypes):
            raise ConfigError(key, f"{v}: gpusim's LLM kernels are fp16 (bf16 runs them unchanged); "
                                   f"no kernel for {v} tensors yet", m.file or None)
    if m.head_dim != K.HEAD_DIM and not any_head_dim:
        raise ConfigError("head_dim", f"{m.head_dim}: the attention kernels are compiled for head_dim "
                                      f"{K.HEAD_DIM}", m.file or None)


def memory_footprint(m: ModelSpec, st: Step, tp: int, cfg: GPUConfig, strict: bool = True) -> dict:
    """Device memory one GPU of the step needs: the weights as stored (``weight_dtype`` with its scales,
    :meth:`ModelSpec.weight_bytes`, split over ``tp``) and the KV cache of every sequence at its context
    (``kv_dtype``); ``fits``: within ``memory.dram_size`` (True without one).  ``strict``: GpusimError
    (exit 2) when it does not fit."""
    w = m.weight_bytes() // tp
    kv = sum(g.count * g.context for g in st.groups) * m.kv_bytes_per_token(tp)
    cap = cfg.memory.dram_size_bytes or 0
    fits = not cap or w + kv <= cap
    out = {"weight_bytes": w, "kv_cache_bytes": kv, "total_bytes": w + kv, "dram_size_bytes": cap,
           "weight_dtype": m.weight_dtype, "kv_dtype": m.kv_dtype, "fits": fits}
    if strict and not fits:
        raise GpusimError(f"llm: {m.name} ({m.weight_dtype} weights) on {cfg.name}, tp {tp}: weights "
                          f"{w / 2**30:.2f} GiB + KV cache {kv / 2**30:.2f} GiB ({st.text}) exceed the "
                          f"{cap / 2**30:.2f} GiB of memory.dram_size (try a smaller --dtype, more --tp or a "
                          f"smaller batch)")
    return out


def token_ids(tokens: int, vocab: int) -> np.ndarray:
    """Synthetic token ids of a step (int32, uniform over the vocabulary, seeded: :data:`TOKEN_ID_SEED`).
    Real prompts repeat few tokens, so a gather reads about one distinct embedding row per token."""
    return np.random.default_rng(TOKEN_ID_SEED).integers(0, vocab, tokens, dtype=np.int32)


#: Architectures whose GEMMs of 2-8 rows (decode batches) run the tensor-core GEMM with split-K instead of
#: the CUDA-core GEMV of that batch (sm_80/86/89: the multistage mma.sync kernel with gemm_select's tile and
#: split-K; sm_90a: the warp-specialised wgmma kernel with gemm_select.select_wgmma's split-K).  The GEMV
#: does the FMAs of every row on the CUDA cores and converts every activation element once per weight row,
#: so its time grows with the rows (issue-bound at 8); a tensor-core tile covers 16 (mma.sync) or 128
#: (wgmma) rows for the same weight stream.  Measured in the model (benchmarks/results/small_m_gemm.json,
#: Llama-2-7B TP1/TP8 decode shapes): on the A100 config the GEMM takes 0.38-0.72x the 8-row GEMV's time
#: and 0.92-1.32x the 1-row GEMV's; on the H100 config the split-K wgmma GEMM takes 0.35-0.82x the 8-row
#: GEMV's and 0.93-2.2x the 1-row GEMV's (2.2x at K = 512); both flat from 2 to 8 rows, as cuBLAS's small-M latency is about flat in M (vLLM PR #38354, an
#: SM100 GPU: torch.mm (B x 1536) @ (1536 x 24576) 0.010 ms at B = 1-4, 0.008 ms at B = 8 and 16).  One
#: row keeps the GEMV everywhere (the faster kernel for one row at four of the five A100 shapes, and the
#: kernel of the batch-1 decode case decode-a100).  A K the tensor-core kernels cannot take (not a multiple
#: of GEMM_K_ALIGN; on sm_90a of the wgmma k tile, 64) or, on sm_90a, an N that is not a multiple of 8 also
#: stays on the GEMV path, whose own check then names the shape.
SMALL_M_TENSOR_CORE_ARCHS = K.GEMM_MULTISTAGE_ARCHS + ("sm_90a",)


def _wgmma_k_tile(dtype: str) -> int:
    """The k tile (BK, kernels.yaml) of the Hopper wgmma kernels of ``dtype``: K must be a multiple of it."""
    return K.kernel_specs()[K.WGMMA_SPLITK_GEMMS[(dtype, "128x128")]]["tile"]["BK"]


def _small_m_tensor_core(arch: str, N: int, Kd: int) -> bool:
    """Whether a GEMM of 2-8 rows runs the tensor-core GEMM (:data:`SMALL_M_TENSOR_CORE_ARCHS`)."""
    if arch == "sm_90a":
        return Kd % _wgmma_k_tile("fp16") == 0 and N % 8 == 0
    return arch in SMALL_M_TENSOR_CORE_ARCHS and Kd % K.GEMM_K_ALIGN == 0


def _wgmma_gemm(M: int, N: int, Kd: int, A: int, W: int, C: int, buf: Buffers | None, device: GS.Device | None,
                dtype: str):
    """The launch(es) of a Hopper wgmma GEMM (``dtype`` fp16 or fp8): the tile and split-K of
    :func:`gemm_select.select_wgmma`, as ``(calls, choice)`` (the split-K workspace comes from ``buf``); an N
    the kernels cannot take goes to :func:`kernels.gemm_wgmma`, whose check names it."""
    if N % 8:
        return K.gemm_wgmma(M, N, Kd, A, W, C, dtype=dtype)
    ch = GS.select_wgmma(M, N, Kd, device or GS.default_device("sm_90a"), dtype=dtype)
    if ch.splits == 1:
        return [K.gemm_wgmma(M, N, Kd, A, W, C, dtype=dtype, tile=ch.tile.rsplit("x", 1)[0])], ch
    ws = (buf or Buffers())("gemm.splitk_workspace", 4 * ch.splits * M * N)
    return K.gemm_wgmma_splitk(M, N, Kd, A, W, C, ws, ch.splits, dtype=dtype), ch


def _gemm(arch: str, M: int, N: int, Kd: int, A: int, W: int, C: int, buf: Buffers | None = None,
          device: GS.Device | None = None, op: str = "gemm", dtype: str = "fp16"):
    """The launch(es) of one GEMM: the GEMV for one row (bf16 ``dtype``: the bf16 GEMV) and for up to 8
    rows where no split-K tensor-core GEMM is built (:data:`SMALL_M_TENSOR_CORE_ARCHS`), the wgmma
    kernel and split-K of :func:`_wgmma_gemm` on sm_90a, else the multistage mma.sync kernel, tile and split-K that
    :func:`gpusim.llm.gemm_select.select` picks (returned as ``(calls, choice)``; the split-K workspace
    comes from ``buf``).  The GEMMs are fp16 listings, standing in for bf16 (same operand widths;
    HMMA.16816.F32.BF16 has the F16 form's rate on A100 and H100)."""
    b = next((x for x in K.GEMV_BATCHES if x >= M), None)
    if b is not None and (M == 1 or not _small_m_tensor_core(arch, N, Kd)):
        return K.gemv(arch, b, N, Kd, A, W, C, dtype=dtype)
    if arch == "sm_90a" and Kd % _wgmma_k_tile("fp16") == 0:
        return _wgmma_gemm(M, N, Kd, A, W, C, buf, device, "fp16")
    if arch == "sm_70":   # Volta: the m8n8k4 tensor-core kernel (no cp.async / ldmatrix / m16n8k16 there)
        try:
            return K.gemm_volta(arch, M, N, Kd, A, W, C)
        except K.KernelError as e:
            raise K.KernelError(f"{op}: {e}") from None
    if arch in K.GEMM_MULTISTAGE_ARCHS:
        ch = GS.select(arch, M, N, Kd, device, op=op)
        wsb = GS.workspace_bytes(ch, M, N)
        ws = (buf or Buffers())("gemm.splitk_workspace", wsb) if wsb else 0
        return GS.gemm_calls(arch, ch, M, N, Kd, A, W, C, ws), ch
    try:
        return K.gemm(arch, M, N, Kd, A, W, C)
    except K.KernelError as e:
        raise K.KernelError(f"{op}: {e}") from None


def _sms(arch: str, device: GS.Device | None) -> int:
    """SMs of the GPU (``device``), else of the architecture's preset GPU."""
    if device is not None:
        return device.sms
    return K.HOPPER_SMS if arch == "sm_90a" else GS.default_device(arch).sms


def _quant_gemm(arch: str, op: str, dtype: str, group: int, M: int, N: int, Kd: int, X: int, W: int, S: int, C: int,
                buf: Buffers, device: GS.Device | None) -> list[K.KernelCall]:
    """The launch(es) of a GEMM with weight-only int8 / int4 weights: the dequantising GEMV for the
    smallest built batch >= M (plus its split-K reduction).  More rows than the largest batch are refused:
    no dequantising tensor-core GEMM is built, and the fp16 GEMM would misstate the weight traffic."""
    b = next((x for x in K.QUANT_GEMV_BATCHES if x >= M), None)
    if b is None:
        raise K.KernelError(
            f"{op}: {dtype} weights with M = {M} rows (N = {N}, K = {Kd}): gpusim's weight-only kernels are decode "
            f"GEMVs for 1..{max(K.QUANT_GEMV_BATCHES)} rows; no dequantising tensor-core GEMM (Marlin-style) is built "
            f"yet, and the fp16 GEMM would misstate the weight traffic (use --dtype fp16 / bf16 for prefill and "
            f"larger batches)")
    splits = K.quant_gemv_splits(N, Kd, dtype, _sms(arch, device))
    P = buf("gemv.splitk_workspace", 4 * splits * b * N) if splits > 1 else 0
    try:
        return K.gemv_quant(arch, dtype, b, N, Kd, X, W, S, C, P, group=group, splits=splits)
    except K.KernelError as e:
        raise K.KernelError(f"{op}: {e}") from None


def _launches(r, times: int = 1) -> list[tuple]:
    """kernels_for entries of one :func:`_gemm` result: (call, times, choice or None)."""
    calls, ch = r if isinstance(r, tuple) else ([r], None)
    return [(c, times, ch) for c in calls]


@dataclass(frozen=True)
class _Ctx:
    """What a GPU handler needs besides the operator: where its buffers are and which layer runs."""
    arch: str
    step: Step
    buf: Buffers
    layer: int | None
    split_experts: bool
    device: GS.Device | None

    def act(self, name: str, nbytes: int) -> int:
        return self.buf(ALIASES.get(name, name), nbytes)

    def per_layer(self, name: str, nbytes: int) -> int:
        return self.buf(name, nbytes, self.layer)


H2 = 2  # bytes per element of our fp16 kernels


def kernels_for(op: Operator, arch: str, step: Step, buf: Buffers, layer: int | None = None,
                split_experts: bool = False, device: GS.Device | None = None) -> list[tuple] | None:
    """The kernel launches of one execution of ``op`` as (call, times) or, for GEMMs that
    :mod:`gpusim.llm.gemm_select` chose, (call, times, choice); None: no kernel models it (the kind is
    unsupported on this backend, or a collective timed by the interconnect model).
    Pointers come from ``buf`` by graph tensor name (weights and KV caches per ``layer``).
    ``split_experts``: one entry per MoE expert (each reads its own weights) instead of one entry
    standing for all of them.  The handler of each kind: the ``gpu`` backend (``GPU``); train steps the
    ``gpu-train`` backend (:mod:`gpusim.llm.train`)."""
    if step.train:   # training graphs: per-layer activation buffers, backward kernels (gpusim.llm.train)
        from gpusim.llm import train as TR

        return TR.kernels_for(op, arch, step, buf, layer, device)
    h = GPU.handler(op.kind)
    return None if h is None else h(op, _Ctx(arch, step, buf, layer, split_experts, device))


def _gemm_op(op: Operator, c: _Ctx) -> list[tuple]:
    s, arch, buf, device = op.shape, c.arch, c.buf, c.device
    M, N, Kd = s["M"], s["N"], s["K"]
    if op.weight_dtype in K.QUANT_BITS:
        rows = next((x for x in K.QUANT_GEMV_BATCHES if x >= M), M)
        x, w, sc = op.inputs[0], op.inputs[1], op.inputs[2]
        wb = N * Kd * K.QUANT_BITS[op.weight_dtype] // 8
        calls = _quant_gemm(arch, op.name, op.weight_dtype, s.get("group", K.QUANT_DEFAULT_GROUP), M, N, Kd,
                            c.act(x, H2 * rows * Kd), c.per_layer(w, wb),
                            c.per_layer(sc, K.quant_scale_bytes(op.weight_dtype, N, Kd, s.get("group", 128))),
                            c.act(op.outputs[0], H2 * rows * N), buf, device)
        return [(call, 1) for call in calls]
    rows = max(M, next((x for x in K.GEMV_BATCHES if x >= M), M))
    x, w = op.inputs[0], op.inputs[1]
    if op.weight_dtype == "fp8":       # e4m3 x e4m3 -> fp16 (the Hopper wgmma kernels, one byte per element)
        A, W, C = c.act(x, M * Kd), c.per_layer(w, N * Kd), c.act(op.outputs[0], H2 * M * N)
        if arch != "sm_90a" or Kd % _wgmma_k_tile("fp8"):   # gemm_wgmma's checks name the arch or the shape
            return [(K.gemm_wgmma(M, N, Kd, A, W, C, arch=arch, dtype="fp8"), 1)]
        return _launches(_wgmma_gemm(M, N, Kd, A, W, C, buf, device, "fp8"))
    return _launches(_gemm(arch, M, N, Kd, c.act(x, H2 * rows * Kd), c.per_layer(w, H2 * N * Kd),
                           c.act(op.outputs[0], H2 * rows * N), buf, device, op.name, op.weight_dtype))


def _moe_gemm_op(op: Operator, c: _Ctx) -> list[tuple]:
    s, arch, buf, device, split = op.shape, c.arch, c.buf, c.device, c.split_experts
    G, N, Kd = s["groups"], s["N"], s["K"]
    rows = math.ceil(s["rows"] / G)
    if op.weight_dtype in K.QUANT_BITS:
        pad = next((x for x in K.QUANT_GEMV_BATCHES if x >= rows), rows)
        x, w, sc, y = op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]
        g = s.get("group", K.QUANT_DEFAULT_GROUP)
        wb, sb = N * Kd * K.QUANT_BITS[op.weight_dtype] // 8, K.quant_scale_bytes(op.weight_dtype, N, Kd, g)
        X, Wb = c.act(x, H2 * G * pad * Kd), c.per_layer(w, s["experts"] * wb)
        Sb, Y = c.per_layer(sc, s["experts"] * sb), c.act(y, H2 * G * pad * N)
        out = []
        for e in range(G if split else 1):
            for call in _quant_gemm(arch, op.name, op.weight_dtype, g, rows, N, Kd, X + e * H2 * pad * Kd, Wb + e * wb,
                                    Sb + e * sb, Y + e * H2 * pad * N, buf, device):
                out.append((call, 1 if split else G))
        return out
    pad = max(rows, next((x for x in K.GEMV_BATCHES if x >= rows), rows))
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    X, Wb, Y = c.act(x, H2 * G * pad * Kd), c.per_layer(w, H2 * s["experts"] * N * Kd), c.act(y, H2 * G * pad * N)
    calls = [_launches(_gemm(arch, rows, N, Kd, X + e * H2 * pad * Kd, Wb + e * H2 * N * Kd,
                             Y + e * H2 * pad * N, buf, device, op.name, op.weight_dtype), 1 if split else G)
             for e in range(G if split else 1)]
    return [call for per_expert in calls for call in per_expert]


def _attention_op(op: Operator, c: _Ctx) -> list[tuple]:
    s, arch, step = op.shape, c.arch, c.step
    B, H, Hkv, D = s["batch"], s["heads"], s["kv_heads"], s["head_dim"]
    gi = int(op.name.rsplit(".", 1)[1].removeprefix(s["phase"]))
    before = sum(g.count * g.tokens for g in step.groups[:gi])   # rows of earlier groups in the batch
    T = step.tokens
    qkv_row = (H + 2 * Hkv) * D * H2
    Q = c.act("layer.qkv", T * qkv_row) + before * qkv_row
    O = c.act("layer.attn_out", T * H * D * H2) + before * H * D * H2
    if s["phase"] == "prefill":
        return _prefill_attention(op, c, gi, Q, O)
    # decode: paged K/V pools [blocks, 16, Hkv, D] of the group's cache buffer, blocks allocated
    # sequence after sequence (K.contiguous_block_table): with a context that is a multiple of 16
    # every key has the address kv_append wrote it to ([B, context, Hkv, D]); otherwise the pool's
    # rows are padded to whole blocks and rows after the first sequence sit a few rows further on.
    ctx = s["kv_len"]
    bt = K.contiguous_block_table(B, ctx)
    kvb = bt.size * K.KV_PAGE_TOKENS * Hkv * D * H2
    Kc = c.per_layer(f"layer.kv_cache.{gi}", 2 * kvb)
    _, ns = K.decode_splits(ctx)
    c1, c2 = K.decode_attn(arch, B, H, Hkv, ctx, Q, Kc, Kc + kvb, c.act(f"attn.partial.{gi}", 4 * B * H * ns * D),
                           c.act(f"attn.max_sum.{gi}", 8 * B * H * ns), O,
                           c.act(f"attn.block_table.{gi}", 4 * bt.size), block_table=bt,
                           q_batch_stride=qkv_row // H2)
    return [(c1, 1), (c2, 1)]


def _prefill_attention(op: Operator, c: _Ctx, gi: int, Q: int, O: int) -> list[tuple]:
    s, arch = op.shape, c.arch
    B, H, Hkv, D = s["batch"], s["heads"], s["kv_heads"], s["head_dim"]
    kvb = B * s["kv_len"] * Hkv * D * H2
    Kc = c.per_layer(f"layer.kv_cache.{gi}", 2 * kvb)
    ql, kl, causal = s["q_len"], s["kv_len"], s.get("causal", True)
    lse = c.act(f"attn.lse.{gi}", 4 * B * H * ql)
    ps = s.get("pass", "fwd")
    impl = s.get("impl", "auto")
    calls = []
    if ps in ("fwd", "fwdbwd"):
        calls.append((K.prefill_attention(arch, B, H, Hkv, ql, kl, Q, Kc, Kc + kvb, O, head_dim=D,
                                          causal=causal, LSE=lse,   # fwd+bwd: FA2 forward (it writes the LSE)
                                          impl=impl if ps == "fwd" else "fa2"), 1))
    if ps in ("bwd", "fwdbwd"):   # gradients: dO in, dQ / dK / dV out (dK, dV per query head)
        if impl == "fa3":
            raise K.KernelError("attention: no FlashAttention-3 backward is built (pass=bwd / fwdbwd run "
                                "FlashAttention-2's; leave impl out or give impl=fa2)")
        qb, dkvb = B * ql * H * D * H2, B * kl * H * D * H2
        ds_b, dqa_b = K.fa2_workspace_bytes(B, H, ql, D)
        act = c.act
        calls += [(call, 1) for call in K.flash_attn_bwd(
            arch, B, H, Hkv, ql, kl, Q=Q, K=Kc, V=Kc + kvb, O=O, dO=act(f"attn.grad_out.{gi}", qb),
            LSE=lse, Dsum=act(f"attn.dsum.{gi}", ds_b), dQaccum=act(f"attn.dq_accum.{gi}", dqa_b),
            dQ=act(f"attn.grad_q.{gi}", qb), dK=act(f"attn.grad_k.{gi}", dkvb), dV=act(f"attn.grad_v.{gi}", dkvb),
            causal=causal, head_dim=D)]
    return calls


def _rmsnorm_op(op: Operator, c: _Ctx) -> list[tuple]:
    r, h = op.shape["rows"], op.shape["hidden"]
    w = op.inputs[1]
    wt = c.per_layer(w, H2 * h) if w.startswith("layer.") else c.act(w, H2 * h)
    return [(K.rmsnorm(c.arch, r, h, c.act(op.inputs[0], H2 * r * h), wt, c.act(op.outputs[0], H2 * r * h)), 1)]


def _add_op(op: Operator, c: _Ctx) -> list[tuple]:
    n = op.shape["rows"] * op.shape["cols"]
    a, b = op.inputs
    return [(K.residual_add(c.arch, n, c.act(a, H2 * n), c.act(b, H2 * n), c.act(op.outputs[0], H2 * n)), 1)]


def _moe_combine_op(op: Operator, c: _Ctx) -> list[tuple]:
    n = op.shape["tokens"] * op.shape["hidden"]
    return [(K.residual_add(c.arch, n, c.act(op.inputs[0], H2 * n), c.act("layer.x1", H2 * n),
                            c.act(op.outputs[0], H2 * n)), 1)]


def _silu_mul_op(op: Operator, c: _Ctx) -> list[tuple]:
    r, f = op.shape["rows"], op.shape["cols"]
    return [(K.silu_mul(c.arch, r, f, c.act(op.inputs[0], 2 * H2 * r * f), c.act(op.outputs[0], H2 * r * f)), 1)]


def _softmax_rows(op: Operator, c: _Ctx, r: int, cols: int) -> list[tuple]:
    return [(K.softmax(c.arch, r, cols, c.act(op.inputs[0], H2 * r * cols), c.act(op.outputs[0], H2 * r * cols)), 1)]


def _softmax_op(op: Operator, c: _Ctx) -> list[tuple]:
    return _softmax_rows(op, c, op.shape["rows"], op.shape["cols"])


def _moe_router_op(op: Operator, c: _Ctx) -> list[tuple]:
    return _softmax_rows(op, c, op.shape["tokens"], op.shape["experts"])


def _embedding_op(op: Operator, c: _Ctx) -> list[tuple]:
    T, h, V = op.shape["tokens"], op.shape["hidden"], op.shape["vocab"]
    return [(K.embedding_gather(c.arch, T, h, c.act(op.inputs[0], 4 * T), c.act(op.inputs[1], H2 * V * h),
                                c.act(op.outputs[0], H2 * T * h), token_ids(T, V), vocab=V), 1)]


def _kv_append_op(op: Operator, c: _Ctx) -> list[tuple]:
    H, Hkv, D = op.shape["heads"], op.shape["kv_heads"], op.shape["head_dim"]
    qkv_row = (H + 2 * Hkv) * D * H2
    qkv = c.act("layer.qkv", c.step.tokens * qkv_row)
    out = []
    before = 0
    for gi, g in enumerate(c.step.groups):
        kvb = g.count * g.context * Hkv * D * H2
        Kc = c.per_layer(f"layer.kv_cache.{gi}", 2 * kvb)
        out.append((K.kv_append(c.arch, g.count, g.tokens, Hkv, g.past, qkv + before * qkv_row, Kc, Kc + kvb,
                                heads=H, kv_capacity=g.context), 1))
        before += g.count * g.tokens
    return out


def _rotary_op(op: Operator, c: _Ctx) -> list[tuple]:
    T, H, Hkv, D = op.shape["tokens"], op.shape["heads"], op.shape["kv_heads"], op.shape["head_dim"]
    pos = np.concatenate([np.tile(np.arange(g.past, g.past + g.tokens), g.count) for g in c.step.groups])
    row = (H + 2 * Hkv) * D
    qkv = c.act("layer.qkv", H2 * T * row)
    table = c.act("rope.cos_sin", 4 * (int(pos.max()) + 1) * D)
    return [(K.rotary(c.arch, T, H, Hkv, qkv, qkv + H2 * H * D, table, c.act("positions", 4 * T),
                      pos.astype(np.int32), q_row_stride=row, k_row_stride=row), 1)]


def interconnect(op: Operator, c) -> None:
    """Collectives launch no kernel of ours: :mod:`gpusim.llm.run` times them from the config's interconnect
    (:func:`gpusim.llm.collectives.collective_seconds`), one launch each."""
    return None


#: Why a training-only operator has no serving-path kernel.
_TRAIN_ONLY = Unsupported("training-graph operator: serving steps never hold it; train: steps run it on the "
                          "gpu-train backend (gpusim.llm.train)")
#: Why an RDU validation-program operator has no GPU kernel.
RDU_PROGRAM_ONLY = "RDU validation-program operator (gpusim.accel.rdu.programs); no GPU kernel models it"

#: The GPU backend for serving steps and ``--op``: per operator kind its kernel handler.
GPU = register_backend("gpu", {
    OK.GEMM: _gemm_op, OK.MOE_GEMM: _moe_gemm_op, OK.ATTENTION: _attention_op, OK.RMSNORM: _rmsnorm_op,
    OK.ADD: _add_op, OK.MOE_COMBINE: _moe_combine_op, OK.SILU_MUL: _silu_mul_op, OK.SOFTMAX: _softmax_op,
    OK.MOE_ROUTER: _moe_router_op, OK.EMBEDDING: _embedding_op, OK.KV_APPEND: _kv_append_op,
    OK.ROTARY: _rotary_op, OK.ALLREDUCE: interconnect, OK.ALLGATHER: interconnect,
    OK.LAYERNORM: _TRAIN_ONLY, OK.GELU: _TRAIN_ONLY, OK.GELU_BWD: _TRAIN_ONLY, OK.SILU_MUL_BWD: _TRAIN_ONLY,
    OK.NORM_BWD: _TRAIN_ONLY, OK.CROSS_ENTROPY: _TRAIN_ONLY, OK.EMBEDDING_BWD: _TRAIN_ONLY, OK.ADAMW: _TRAIN_ONLY,
    OK.CMUL: Unsupported(RDU_PROGRAM_ONLY), OK.TRANSPOSE: Unsupported(RDU_PROGRAM_ONLY),
}, "GPU kernels of serving steps and --op (gpusim.llm.launch)")


def schedule(g: OperatorGraph, arch: str, dedup: bool = True,
             device: GS.Device | None = None) -> tuple[list[KernelLaunch], list[Operator]]:
    """The step's launches in execution order (pre-layer operators, layer 0 .. L-1, the rest) and the
    operators that no kernel models.  Per-layer operators are those named ``layer.*``.  ``device``: the
    GPU facts the GEMM selector ranks tiles with (default: the architecture's preset GPU)."""
    quant = any(o.weight_dtype in K.QUANT_BITS for o in g.operators)
    buf = Buffers(g.tensors, max(K.QUANT_GEMV_BATCHES) if quant else None)
    ops = g.operators
    # runs of consecutive operators: a run of ``layer.*`` operators is one transformer block, emitted for
    # layers 0 .. L-1; a run of ``bwd.layer.*`` operators (training) its backward, emitted for L-1 .. 0
    runs: list[tuple[str, list[Operator]]] = []
    for o in ops:
        kind = "fwd" if o.name.startswith("layer.") else "bwd" if o.name.startswith("bwd.layer.") else "one"
        if runs and runs[-1][0] == kind and kind != "one":
            runs[-1][1].append(o)
        else:
            runs.append((kind, [o]))
    if sum(k == "fwd" for k, _ in runs) > 1 or sum(k == "bwd" for k, _ in runs) > 1:
        raise GpusimError("llm: the operator graph interleaves per-layer and other operators (internal error)")
    out: list[KernelLaunch] = []
    skipped: list[Operator] = []
    seen: set[str] = set()

    def emit(op: Operator, layer: int | None) -> None:
        ks = kernels_for(op, arch, g.step, buf, layer, split_experts=not dedup, device=device)
        if ks is None:
            if op.name not in seen:
                skipped.append(op)
                seen.add(op.name)
            return
        for call, times, *choice in ks:
            out.append(KernelLaunch(op, layer, call, times, choice[0] if choice else None))

    for kind, body in runs:
        if kind == "one":
            for _ in range(body[0].count):
                emit(body[0], None)
            continue
        layers = range(body[0].count) if kind == "fwd" else range(body[0].count - 1, -1, -1)
        for layer in layers:
            for op in body:
                emit(op, layer)
    return out, skipped

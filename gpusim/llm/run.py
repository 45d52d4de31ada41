"""One LLM serving step on one GPU config: model + step -> operator graph -> our kernels -> timing model.

Issue 7 part 4 (``gpusim llm``).  For every operator of :func:`gpusim.llm.graph.build_graph` this
picks kernels from :mod:`gpusim.llm.kernels` for the GPU's compute capability, walks their
listings into traces (:mod:`gpusim.llm.walker`), runs the timing model (``gpusim.assemble.pack``
/ ``run``, control bits from the listings) and reports per operator the cycles, the time at the
configured clock, achieved FLOP/s and bytes/s and the bound, plus the step total and tokens/s.

Execution order and memory
    Launches run in the order of a real step: the operators before the first layer, then layer 0's
    operators, layer 1's, ..., then the final norm, LM head and sampling.  ONE
    :class:`gpusim.assemble.MemSystem` serves the whole step, so the L2 keeps its lines from one
    kernel to the next (the L1s are flushed at every kernel boundary by ``assemble.run``).  Each
    graph tensor has one synthetic device address: a consumer reads the lines its producer wrote;
    weights and KV caches get one buffer per layer, activations are reused from layer to layer
    (as inference engines reuse their activation buffers).

Kernel choice
    A GEMM with M in 1..8 rows runs the decode GEMV for the smallest built batch >= M (a padded
    batch reads a few more activation rows), larger ones the tiled mma.sync GEMM, or on sm_90 the
    TMA + wgmma GEMM when K is a multiple of 64; prefill attention runs FlashAttention-2, decode
    attention the split-KV kernel and its combine; an MoE expert GEMM runs once per active expert
    with the balanced share of rows; the MoE router's softmax runs the softmax kernel over the
    expert logits and the MoE combine the residual-add kernel over tokens x hidden (an
    approximation: it reads top_k rows per token).  Embedding gathers, KV-cache appends and
    tensor-parallel collectives have no kernel yet: they are listed under ``not_simulated`` with
    their bytes and take no time (and no launch).  The kernels are fp16; a bf16 model runs them
    unchanged (same sizes and, on A100/H100, the same tensor rates); fp8/int8/int4 tensors and head
    sizes other than 128 are refused.

Deduplication
    Identical launches (same kernel, grid and scalar arguments: the same GEMV in every layer, the
    two RMSNorms, every MoE expert) are simulated once, at their first occurrence, and counted as
    often as they occur; ``dedup=False`` simulates every launch of the step (each then sees the L2
    state its predecessors left).

Launch overhead
    Every kernel launch adds ``launch.kernel_launch_latency`` cycles of the config (stream
    launches); with ``cuda_graph=True`` it adds :data:`CUDA_GRAPH_KERNEL_GAP_S` instead (no config
    field holds a CUDA-graph latency yet).

Bound
    ``dram_utilisation`` = simulated DRAM bytes per second / configured DRAM bandwidth;
    ``tensor_utilisation`` = operator FLOPs per second / configured dense fp16 tensor peak
    (:func:`tensor_peak_flops`).  The larger of the two decides ``memory`` or ``compute`` when it
    reaches :data:`BOUND_FRACTION`; otherwise the operator is ``latency``-bound.

CTA-wave sampling (``--sample`` in the issue) is not implemented: every CTA of every simulated
kernel is walked and simulated.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpusim import assemble
from gpusim.config import load_config
from gpusim.config.specs import GPUConfig
from gpusim.errors import ConfigError, GpusimError
from gpusim.frontend.opcodes import mma_formula_bits, mma_shape
from gpusim.frontend.reader import intern_opcodes
from gpusim.llm import kernels as K
from gpusim.llm.graph import Operator, OperatorGraph, build_graph
from gpusim.llm.model import (
    ModelSpec,
    Step,
    StepError,
    load_model,
    parse_step,
    step_from_dict,
)
from gpusim.stats.catalog import name_counters

#: An operator is called memory- (compute-) bound when it sustains at least this fraction of the
#: configured DRAM bandwidth (tensor peak); below both it is latency-bound.  A reporting convention
#: of this module, not a hardware number.
BOUND_FRACTION = 0.6
#: First synthetic device address of the buffers we hand to kernels (above 4 GiB like real device
#: pointers; buffers are 256-byte aligned and never overlap).
DEVICE_BASE = 0x7F00_0000_0000
#: Buffer alignment in bytes (cudaMalloc returns at least 256-byte aligned pointers: CUDA C++
#: Programming Guide, "Device Memory Accesses").
BUFFER_ALIGN = 256
#: GPU-side time per kernel node when a CUDA graph is replayed, in seconds: ~0.58 us per node
#: measured for a chain of no-op kernels captured into a graph (RTX 5070 Ti Laptop, CUDA 13.3,
#: median of 200 replays; github.com/ahrefs/ocannl/issues/488, "graph replay costing ~15 us fixed
#: plus ~0.58 us per node").  Not an A100/H100 measurement; the fixed per-graph cost (host
#: submission + sync) is not added.  Should become a config field (launch.graph_kernel_launch_latency).
CUDA_GRAPH_KERNEL_GAP_S = 0.58e-6
#: GEMM instruction of the GEMM kernel per listing architecture (see traces/kernels/README.md): the
#: tensor peak is the rate of this instruction under the timing model's formula.
PEAK_MMA = {"sm_90a": "HGMMA.64x128x16.F32"}
DEFAULT_PEAK_MMA = "HMMA.16816.F32"
#: Graph tensors that live in another tensor's buffer: the LM head reads the sampled rows of the final norm's output.
ALIASES = {"final.h_sampled": "final.h"}
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

    def __init__(self, tensors: dict | None = None) -> None:
        self.next = DEVICE_BASE
        self.bufs: dict[tuple[str, int | None], tuple[int, int]] = {}
        self.tensors = tensors or {}

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
        return 2 * n * max(1, -(-max(K.GEMV_BATCHES) // rows) if rows < max(K.GEMV_BATCHES) else 1)

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


# --------------------------------------------------------------------------------------------
# kernel choice
# --------------------------------------------------------------------------------------------


def check_model(m: ModelSpec) -> None:
    """Refuse models our fp16, head_dim-128 kernels cannot stand for (ConfigError naming file and key)."""
    for key in ("dtype", "weight_dtype", "kv_dtype"):
        v = getattr(m, key)
        if v not in KERNEL_DTYPES:
            raise ConfigError(key, f"{v}: gpusim's LLM kernels are fp16 (bf16 runs them unchanged); "
                                   f"no kernel for {v} tensors yet", m.file or None)
    if m.head_dim != K.HEAD_DIM:
        raise ConfigError("head_dim", f"{m.head_dim}: the attention kernels are compiled for head_dim "
                                      f"{K.HEAD_DIM}", m.file or None)


def _gemm(arch: str, M: int, N: int, Kd: int, A: int, W: int, C: int) -> K.KernelCall:
    b = next((x for x in K.GEMV_BATCHES if x >= M), None)
    if b is not None:
        return K.gemv(arch, b, N, Kd, A, W, C)
    if arch == "sm_90a" and Kd % 64 == 0:
        return K.gemm_wgmma(M, N, Kd, A, W, C, arch=arch)
    return K.gemm(arch, M, N, Kd, A, W, C)


def kernels_for(op: Operator, arch: str, step: Step, buf: Buffers, layer: int | None = None,
                split_experts: bool = False) -> list[tuple[K.KernelCall, int]] | None:
    """The kernel launches of one execution of ``op`` as (call, times); None: no kernel models it yet.
    Pointers come from ``buf`` by graph tensor name (weights and KV caches per ``layer``).
    ``split_experts``: one entry per MoE expert (each reads its own weights) instead of one entry
    standing for all of them."""
    s = op.shape
    h2 = 2  # bytes per element of our fp16 kernels

    def act(name: str, nbytes: int) -> int:
        return buf(ALIASES.get(name, name), nbytes)

    def per_layer(name: str, nbytes: int) -> int:
        return buf(name, nbytes, layer)

    if op.kind == "gemm":
        M, N, Kd = s["M"], s["N"], s["K"]
        rows = max(M, next((x for x in K.GEMV_BATCHES if x >= M), M))
        x, w = op.inputs[0], op.inputs[1]
        return [(_gemm(arch, M, N, Kd, act(x, h2 * rows * Kd), per_layer(w, h2 * N * Kd),
                       act(op.outputs[0], h2 * rows * N)), 1)]
    if op.kind == "moe_gemm":
        G, N, Kd = s["groups"], s["N"], s["K"]
        rows = math.ceil(s["rows"] / G)
        pad = max(rows, next((x for x in K.GEMV_BATCHES if x >= rows), rows))
        x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
        X, Wb, Y = act(x, h2 * G * pad * Kd), per_layer(w, h2 * s["experts"] * N * Kd), act(y, h2 * G * pad * N)
        calls = [(_gemm(arch, rows, N, Kd, X + e * h2 * pad * Kd, Wb + e * h2 * N * Kd, Y + e * h2 * pad * N), 1)
                 for e in range(G if split_experts else 1)]
        return calls if split_experts else [(calls[0][0], G)]
    if op.kind == "attention":
        B, H, Hkv, D = s["batch"], s["heads"], s["kv_heads"], s["head_dim"]
        gi = int(op.name.rsplit(".", 1)[1].removeprefix(s["phase"]))
        before = sum(g.count * g.tokens for g in step.groups[:gi])   # rows of earlier groups in the batch
        T = step.tokens
        qkv_row = (H + 2 * Hkv) * D * h2
        Q = act("layer.qkv", T * qkv_row) + before * qkv_row
        O = act("layer.attn_out", T * H * D * h2) + before * H * D * h2
        kvb = B * s["kv_len"] * Hkv * D * h2
        Kc = per_layer(f"layer.kv_cache.{gi}", 2 * kvb)
        Vc = Kc + kvb
        if s["phase"] == "prefill":
            return [(K.flash_attn(arch, B, H, Hkv, s["q_len"], s["kv_len"], Q, Kc, Vc, O), 1)]
        ctx = s["kv_len"]
        _, ns = K.decode_splits(ctx)
        c1, c2 = K.decode_attn(arch, B, H, Hkv, ctx, Q, Kc, Vc, act(f"attn.partial.{gi}", 4 * B * H * ns * D),
                               act(f"attn.max_sum.{gi}", 8 * B * H * ns), O)
        return [(c1, 1), (c2, 1)]
    if op.kind == "rmsnorm":
        r, h = s["rows"], s["hidden"]
        w = op.inputs[1]
        wt = per_layer(w, h2 * h) if w.startswith("layer.") else act(w, h2 * h)
        return [(K.rmsnorm(arch, r, h, act(op.inputs[0], h2 * r * h), wt, act(op.outputs[0], h2 * r * h)), 1)]
    if op.kind == "add":
        n = s["rows"] * s["cols"]
        a, b = op.inputs
        return [(K.residual_add(arch, n, act(a, h2 * n), act(b, h2 * n), act(op.outputs[0], h2 * n)), 1)]
    if op.kind == "moe_combine":
        n = s["tokens"] * s["hidden"]
        return [(K.residual_add(arch, n, act(op.inputs[0], h2 * n), act("layer.x1", h2 * n),
                                act(op.outputs[0], h2 * n)), 1)]
    if op.kind == "silu_mul":
        r, f = s["rows"], s["cols"]
        return [(K.silu_mul(arch, r, f, act(op.inputs[0], 2 * h2 * r * f), act(op.outputs[0], h2 * r * f)), 1)]
    if op.kind in ("softmax", "moe_router"):
        r, c = (s["rows"], s["cols"]) if op.kind == "softmax" else (s["tokens"], s["experts"])
        return [(K.softmax(arch, r, c, act(op.inputs[0], h2 * r * c), act(op.outputs[0], h2 * r * c)), 1)]
    if op.kind == "rotary":
        T, H, Hkv, D = s["tokens"], s["heads"], s["kv_heads"], s["head_dim"]
        pos = np.concatenate([np.tile(np.arange(g.past, g.past + g.tokens), g.count) for g in step.groups])
        row = (H + 2 * Hkv) * D
        qkv = act("layer.qkv", h2 * T * row)
        table = act("rope.cos_sin", 4 * (int(pos.max()) + 1) * D)
        return [(K.rotary(arch, T, H, Hkv, qkv, qkv + h2 * H * D, table, act("positions", 4 * T),
                          pos.astype(np.int32), q_row_stride=row, k_row_stride=row), 1)]
    return None


def schedule(g: OperatorGraph, arch: str, dedup: bool = True) -> tuple[list[KernelLaunch], list[Operator]]:
    """The step's launches in execution order (pre-layer operators, layer 0 .. L-1, the rest) and the
    operators that no kernel models.  Per-layer operators are those named ``layer.*``."""
    buf = Buffers(g.tensors)
    ops = g.operators
    idx = [i for i, o in enumerate(ops) if o.name.startswith("layer.")]
    if idx and idx != list(range(idx[0], idx[-1] + 1)):
        raise GpusimError("llm: the operator graph interleaves per-layer and other operators (internal error)")
    pre = ops[: idx[0]] if idx else ops
    body = ops[idx[0]: idx[-1] + 1] if idx else ()
    post = ops[idx[-1] + 1:] if idx else ()
    layers = body[0].count if body else 0
    out: list[KernelLaunch] = []
    skipped: list[Operator] = []
    seen: set[str] = set()

    def emit(op: Operator, layer: int | None) -> None:
        ks = kernels_for(op, arch, g.step, buf, layer, split_experts=not dedup)
        if ks is None:
            if op.name not in seen:
                skipped.append(op)
                seen.add(op.name)
            return
        for call, times in ks:
            out.append(KernelLaunch(op, layer, call, times))

    for op in pre:
        for _ in range(op.count):
            emit(op, None)
    for layer in range(layers):
        for op in body:
            emit(op, layer)
    for op in post:
        for _ in range(op.count):
            emit(op, None)
    return out, skipped


# --------------------------------------------------------------------------------------------
# peaks
# --------------------------------------------------------------------------------------------


def tensor_peak_flops(cfg: GPUConfig, arch: str | None = None) -> float:
    """Dense fp16 tensor peak (FLOP/s) of the config for the GEMM instruction our GEMM kernel uses on
    ``arch`` (HMMA.16816.F32, or HGMMA.64x128x16.F32 on sm_90a), by the timing model's formula
    (gpusim/assemble.py ``static_table``; configs/README.md ``pipes.tensor_rate_per_cycle``): a warp
    instruction of m x n x k (a warpgroup MMA: m/4 rows per warp) occupies the sub-core's tensor
    pipe for ``max(1, m*n*k*b // rate // 2) + extra`` cycles."""
    if arch is None:
        arch = K.arch_for_binary_version(cfg.compute_capability)
    mn = PEAK_MMA.get(arch, DEFAULT_PEAK_MMA)
    shape, bits = mma_shape(mn), mma_formula_bits(mn)
    rate = cfg.pipes.tensor_rate_per_cycle
    m = shape.m
    if mn.startswith("HGMMA"):
        m = max(1, shape.m // 4)
        rate = getattr(cfg.pipes, "warpgroup_tensor_rate_per_cycle", 0) or rate
    cyc = max(1, (m * shape.n * shape.k * bits) // rate)
    extra = cfg.pipes.tensor_f32_extra_cycles if bits == 32 and (shape.m, shape.n, shape.k) in ((16, 8, 16), (16, 8, 8)) else 0
    interval = max(1, cyc // 2) + extra
    return 2 * m * shape.n * shape.k / interval * cfg.sm.subcores * cfg.sm.count * cfg.sm.clock_hz


def classify(flops_per_s: float, dram_bytes_per_s: float, peak_flops: float, peak_bytes: float) -> str:
    """compute / memory / latency from the achieved fractions of the configured peaks (module doc)."""
    uc = flops_per_s / peak_flops if peak_flops else 0.0
    um = dram_bytes_per_s / peak_bytes if peak_bytes else 0.0
    if max(uc, um) < BOUND_FRACTION:
        return "latency"
    return "compute" if uc >= um else "memory"


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------


def _key(call: K.KernelCall) -> tuple:
    scal = tuple(sorted((p.name, call.launch.params[p.name]) for p in call.kernel.params
                        if p.type not in ("ptr", "tensormap")))
    return call.kernel.name, call.kernel.arch, call.launch.grid, scal


def simulate_kernel(cfg: GPUConfig, call: K.KernelCall, memsys: assemble.MemSystem | None = None,
                    progress=None) -> dict:
    """Walk ``call`` into a trace and run the timing model on it (with ``memsys``, the L2 state of the
    step; a fresh one if None).  Returns cycles, instruction count, DRAM bytes, L2 hit rate, occupancy
    and the walk / simulation wall times."""
    t0 = time.perf_counter()
    kt = call.trace()
    intern_opcodes(kt)
    t1 = time.perf_counter()
    run = assemble.pack(cfg, kt, call.kernel.function, memsys=memsys)
    _, cycles, counters = assemble.run(run, kt, progress=progress)
    n = name_counters(counters)
    l2r = n["l2_read_sectors"]
    out = {"kernel": call.name, "grid": list(call.launch.grid), "block": list(call.launch.block),
           "cycles": int(cycles), "warp_instructions": int(kt.warp_instructions),
           "dram_bytes": n["dram_bytes_read"] + n["dram_bytes_written"],
           "l2_hit_rate": n["l2_read_sector_hits"] / l2r if l2r else 0.0,
           "ctas_per_sm": run.occupancy.ctas_per_sm, "occupancy_limiter": run.occupancy.limiter,
           "walk_seconds": t1 - t0, "simulate_seconds": time.perf_counter() - t1}
    return out


def resolve(model: str | ModelSpec, step: str | Step, gpu: str | GPUConfig,
            overrides: list[str] | tuple[str, ...] = ()) -> tuple[ModelSpec, Step, GPUConfig]:
    """Model, step and config from names / strings / files (step: the grammar or a YAML file)."""
    m = model if isinstance(model, ModelSpec) else load_model(model)
    if isinstance(step, Step):
        st = step
    elif step.strip().endswith((".yaml", ".yml")):
        import yaml

        p = Path(step.strip())
        if not p.is_file():
            raise StepError(f"{p}: step file not found")
        try:
            d = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise StepError(f"{p}: not valid YAML: {e}") from None
        try:
            st = step_from_dict(d)
        except StepError as e:
            raise StepError(f"{p}: {e}") from None
    else:
        st = parse_step(step)
    cfg = gpu if isinstance(gpu, GPUConfig) else load_config(gpu, list(overrides))
    return m, st, cfg


def simulate_step(model: str | ModelSpec, step: str | Step, gpu: str | GPUConfig, *, tp: int = 1,
                  dedup: bool = True, cuda_graph: bool = False, overrides: list[str] | tuple[str, ...] = (),
                  progress: bool = False) -> dict:
    """Simulate one serving step; returns the report dict.  Keys: ``step_seconds`` (kernels + launch
    overheads), ``kernel_seconds``, ``launch_seconds``, ``launches``, ``tokens_per_second`` (new
    tokens computed per second), ``output_tokens_per_second`` (sequences that sample a token, per
    second), ``operators`` (per operator: name, kind, count, launches, kernels, cycles = simulated
    cycles of all ``count`` executions, cycles_per_execution, seconds = cycles at the clock, flops,
    bytes (graph minimum), dram_bytes (simulated), flops_per_s, bytes_per_s, dram_bytes_per_s,
    tensor_utilisation, dram_utilisation, bound), ``not_simulated``, ``distinct_kernels_simulated``,
    ``wall_seconds``, ``peak_rss_bytes``."""
    wall = time.perf_counter()
    m, st, cfg = resolve(model, step, gpu, overrides)
    check_model(m)
    arch = K.arch_for_binary_version(cfg.compute_capability)
    g = build_graph(m, st, tp)
    launches, skipped = schedule(g, arch, dedup)
    clock = cfg.sm.clock_hz
    peak_f = tensor_peak_flops(cfg, arch)
    peak_b = cfg.memory.dram_bandwidth_bytes_per_s
    if cuda_graph:
        per_launch = round(CUDA_GRAPH_KERNEL_GAP_S * clock)
        launch_src = f"CUDA graph: {CUDA_GRAPH_KERNEL_GAP_S * 1e6:.2f} us per kernel (gpusim.llm.run.CUDA_GRAPH_KERNEL_GAP_S)"
    else:
        per_launch = cfg.launch.kernel_launch_latency_cycles
        launch_src = "stream launches: launch.kernel_launch_latency of the config"
    memsys = assemble.MemSystem(cfg)
    cache: dict[tuple, dict] = {}
    per_op: dict[str, dict] = {}
    bar = None
    if progress and launches:
        from tqdm import tqdm

        bar = tqdm(total=len(launches), unit="launch", file=sys.stderr, dynamic_ncols=True, leave=False)
    sim_wall = 0.0
    for i, ln in enumerate(launches):
        key = _key(ln.call) if dedup else ("#", i)
        r = cache.get(key)
        fresh = r is None
        if fresh:
            if bar is not None:
                bar.set_description_str(f"{ln.op.name} ({ln.call.name}, {ln.call.launch.num_ctas} CTAs)")
                bar.set_postfix_str("walking the listing")

                def _prog(cycle, done, total, _b=bar):
                    _b.set_postfix_str(f"CTAs {done}/{total}, {cycle:,} cyc")
            else:
                _prog = None
            r = simulate_kernel(cfg, ln.call, memsys, _prog)
            sim_wall += r["walk_seconds"] + r["simulate_seconds"]
            cache[key] = r
        d = per_op.setdefault(ln.op.name, {"op": ln.op, "kernels": {}, "cycles": 0, "dram_bytes": 0, "launches": 0})
        kd = d["kernels"].setdefault(ln.call.name, {**{k: v for k, v in r.items() if k not in ("walk_seconds", "simulate_seconds")},
                                                   "launches": 0, "simulated": 0, "cycles_total": 0})
        kd["launches"] += ln.times
        kd["simulated"] += int(fresh)
        kd["cycles_total"] += r["cycles"] * ln.times
        d["cycles"] += r["cycles"] * ln.times
        d["dram_bytes"] += r["dram_bytes"] * ln.times
        d["launches"] += ln.times
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    ops_out = []
    kernel_cycles = 0
    n_launch = 0
    for op in g.operators:
        d = per_op.get(op.name)
        if d is None:
            continue
        cyc = d["cycles"]
        sec = cyc / clock
        fl, by, db = op.flops * op.count, op.bytes * op.count, d["dram_bytes"]
        fps, bps, dps = (fl / sec, by / sec, db / sec) if sec else (0.0, 0.0, 0.0)
        ops_out.append({"name": op.name, "kind": op.kind, "count": op.count, "shape": op.shape,
                        "launches": d["launches"], "kernels": list(d["kernels"].values()),
                        "cycles": cyc, "cycles_per_execution": cyc / op.count, "seconds": sec,
                        "flops": fl, "bytes": by, "dram_bytes": db, "flops_per_s": fps, "bytes_per_s": bps,
                        "dram_bytes_per_s": dps, "tensor_utilisation": fps / peak_f if peak_f else 0.0,
                        "dram_utilisation": dps / peak_b if peak_b else 0.0,
                        "bound": classify(fps, dps, peak_f, peak_b)})
        kernel_cycles += cyc
        n_launch += d["launches"]
    launch_cycles = n_launch * per_launch
    step_s = (kernel_cycles + launch_cycles) / clock
    return {
        "model": m.name, "step": st.text, "gpu": cfg.name, "tp": tp, "arch": arch, "dedup": dedup,
        "cuda_graph": cuda_graph, "clock_hz": clock,
        "step_seconds": step_s, "step_cycles": kernel_cycles + launch_cycles,
        "kernel_seconds": kernel_cycles / clock, "launch_seconds": launch_cycles / clock,
        "launches": n_launch, "launch_cycles_each": per_launch, "launch_model": launch_src,
        "tokens": st.tokens, "sampled_tokens": st.sampled,
        "tokens_per_second": st.tokens / step_s if step_s else 0.0,
        "output_tokens_per_second": st.sampled / step_s if step_s else 0.0,
        "peak_tensor_flops_per_s": peak_f, "dram_bytes_per_s": peak_b, "bound_fraction": BOUND_FRACTION,
        "operators": ops_out,
        "not_simulated": [{"name": o.name, "kind": o.kind, "count": o.count, "bytes": o.bytes * o.count,
                           "reason": "no kernel models this operator yet; it takes no time and no launch"}
                          for o in skipped],
        "distinct_kernels_simulated": len(cache), "sampling": None,
        "wall_seconds": time.perf_counter() - wall, "simulation_wall_seconds": sim_wall,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def summary_lines(rep: dict) -> list[str]:
    """Human-readable table of a :func:`simulate_step` report."""
    head = (f"gpusim llm | {rep['model']} | {rep['step']} | {rep['gpu']} ({rep['arch']}, "
            f"{rep['clock_hz'] / 1e9:.3g} GHz) | tp {rep['tp']}")
    lines = [head]
    w = max([len(o["name"]) for o in rep["operators"]] + [8])
    lines.append(f"  {'operator':<{w}} {'count':>5} {'us/exec':>9} {'total us':>10} {'TFLOP/s':>8} "
                 f"{'DRAM GB/s':>9}  bound")
    for o in rep["operators"]:
        lines.append(f"  {o['name']:<{w}} {o['count']:>5} {o['cycles_per_execution'] / rep['clock_hz'] * 1e6:>9.2f} "
                     f"{o['seconds'] * 1e6:>10.1f} {o['flops_per_s'] / 1e12:>8.2f} {o['dram_bytes_per_s'] / 1e9:>9.0f}  "
                     f"{o['bound']}")
    for s in rep["not_simulated"]:
        lines.append(f"  {s['name']:<{w}} {s['count']:>5}  not simulated (no kernel yet)")
    lines.append(f"step: {rep['step_seconds'] * 1e3:.4g} ms = kernels {rep['kernel_seconds'] * 1e3:.4g} ms + "
                 f"{rep['launches']} launches {rep['launch_seconds'] * 1e3:.4g} ms "
                 f"({'CUDA graph' if rep['cuda_graph'] else 'stream'})")
    lines.append(f"tokens/s: {rep['tokens_per_second']:,.1f} computed ({rep['tokens']} per step), "
                 f"{rep['output_tokens_per_second']:,.1f} sampled ({rep['sampled_tokens']} per step)")
    lines.append(f"simulated {rep['distinct_kernels_simulated']} distinct kernels in {rep['wall_seconds']:.1f} s "
                 f"(peak memory {rep['peak_rss_bytes'] / 2**30:.2f} GiB)")
    return lines

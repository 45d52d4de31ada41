"""One LLM serving step on one GPU config: model + step -> operator graph -> our kernels -> timing model.

First version of issue 7 part 4 (the ``gpusim llm`` command is not wired yet).  For every
operator of :func:`gpusim.llm.graph.build_graph` this picks kernels from
:mod:`gpusim.llm.kernels` for the GPU's compute capability, walks their listings into traces
(:mod:`gpusim.llm.walker`), runs the timing model (``gpusim.assemble.pack`` / ``run``) and reports
cycles, time, achieved FLOP/s and bytes/s and the bound per operator, plus the step total.

Kernel choice: a GEMM with M in 1..8 rows runs the decode GEMV for the smallest built batch >= M
(a padded batch reads a few more activation rows), larger ones the tiled mma.sync GEMM, or on
sm_90 the TMA + wgmma GEMM when K is a multiple of 64; prefill attention runs FlashAttention-2,
decode attention the split-KV kernel and its combine; an MoE expert GEMM runs once per active
expert with the balanced share of rows (simulated once, counted per expert); the MoE router's
softmax runs the softmax kernel over the expert logits and the MoE combine the residual-add kernel
over tokens x hidden (an approximation: it reads top_k rows per token).  Embedding gathers, KV-cache
appends and tensor-parallel collectives have no kernel yet: they are listed under
``not_simulated`` with their bytes and take no time.

Identical launches (same kernel, grid and scalar arguments) are simulated once and counted as often
as they occur (``dedup=False`` simulates each operator's kernels separately).  Every kernel
launch adds the config's ``launch.kernel_launch_latency`` to the step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from gpusim import assemble
from gpusim.config import load_config
from gpusim.config.specs import GPUConfig
from gpusim.frontend.reader import intern_opcodes
from gpusim.llm import kernels as K
from gpusim.llm.graph import Operator, build_graph
from gpusim.llm.model import ModelSpec, Step, load_model, parse_step

#: An operator is called memory- (compute-) bound when it sustains at least this fraction of the
#: configured DRAM bandwidth (tensor peak); below both it is latency-bound.  A reporting convention
#: of this module, not a hardware number.
BOUND_FRACTION = 0.6
#: First synthetic device address of the buffers we hand to kernels (above 4 GiB like real device
#: pointers; buffers are 256-byte aligned and never overlap).
DEVICE_BASE = 0x7F00_0000_0000


class _Alloc:
    def __init__(self) -> None:
        self.next = DEVICE_BASE

    def __call__(self, nbytes: int) -> int:
        a = self.next
        self.next += (max(int(nbytes), 1) + 255) // 256 * 256
        return a


@dataclass
class _Kernel:
    call: K.KernelCall
    times: int = 1      # launches of this kernel per operator execution (MoE experts)


def tensor_peak_flops(cfg: GPUConfig) -> float:
    """Dense fp16 tensor peak of the config: HMMA.16816.F32 every M*N*K*32/rate/2 (+ the F32 extra)
    cycles per sub-core (the timing model's formula, configs/README.md ``pipes.tensor_rate_per_cycle``)."""
    m, n, k = 16, 8, 16
    interval = m * n * k * 32 / cfg.pipes.tensor_rate_per_cycle / 2 + cfg.pipes.tensor_f32_extra_cycles
    return 2 * m * n * k / interval * cfg.sm.subcores * cfg.sm.count * cfg.sm.clock_hz


def _gemm_kernels(arch: str, M: int, N: int, Kd: int, alloc: _Alloc) -> list[_Kernel]:
    b = next((x for x in K.GEMV_BATCHES if x >= M), None)
    if b is not None:
        return [_Kernel(K.gemv(arch, b, N, Kd, alloc(2 * b * Kd), alloc(2 * N * Kd), alloc(2 * b * N)))]
    A, W, C = alloc(2 * M * Kd), alloc(2 * N * Kd), alloc(2 * M * N)
    if arch == "sm_90a" and Kd % 64 == 0:
        return [_Kernel(K.gemm_wgmma(M, N, Kd, A, W, C, arch=arch))]
    return [_Kernel(K.gemm(arch, M, N, Kd, A, W, C))]


def kernels_for(op: Operator, arch: str, step: Step, alloc: _Alloc) -> list[_Kernel] | None:
    """The kernel launches of one execution of ``op`` (None: no kernel models it yet)."""
    s = op.shape
    if op.kind == "gemm":
        return _gemm_kernels(arch, s["M"], s["N"], s["K"], alloc)
    if op.kind == "moe_gemm":
        rows = math.ceil(s["rows"] / s["groups"])
        ks = _gemm_kernels(arch, rows, s["N"], s["K"], alloc)
        return [_Kernel(k.call, s["groups"]) for k in ks]
    if op.kind == "attention":
        B, H, Hkv, D = s["batch"], s["heads"], s["kv_heads"], s["head_dim"]
        if s["phase"] == "prefill":
            q, kv = s["q_len"], s["kv_len"]
            return [_Kernel(K.flash_attn(arch, B, H, Hkv, q, kv, alloc(2 * B * q * H * D), alloc(2 * B * kv * Hkv * D),
                                         alloc(2 * B * kv * Hkv * D), alloc(2 * B * q * H * D)))]
        ctx = s["kv_len"]
        _, ns = K.decode_splits(ctx)
        c1, c2 = K.decode_attn(arch, B, H, Hkv, ctx, alloc(2 * B * H * D), alloc(2 * B * ctx * Hkv * D),
                               alloc(2 * B * ctx * Hkv * D), alloc(4 * B * H * ns * D), alloc(8 * B * H * ns),
                               alloc(2 * B * H * D))
        return [_Kernel(c1), _Kernel(c2)]
    if op.kind == "rmsnorm":
        r, h = s["rows"], s["hidden"]
        return [_Kernel(K.rmsnorm(arch, r, h, alloc(2 * r * h), alloc(2 * h), alloc(2 * r * h)))]
    if op.kind == "add":
        n = s["rows"] * s["cols"]
        return [_Kernel(K.residual_add(arch, n, alloc(2 * n), alloc(2 * n), alloc(2 * n)))]
    if op.kind == "moe_combine":
        n = s["tokens"] * s["hidden"]
        return [_Kernel(K.residual_add(arch, n, alloc(2 * n), alloc(2 * n), alloc(2 * n)))]
    if op.kind == "silu_mul":
        r, f = s["rows"], s["cols"]
        return [_Kernel(K.silu_mul(arch, r, f, alloc(4 * r * f), alloc(2 * r * f)))]
    if op.kind in ("softmax", "moe_router"):
        r, c = (s["rows"], s["cols"]) if op.kind == "softmax" else (s["tokens"], s["experts"])
        return [_Kernel(K.softmax(arch, r, c, alloc(2 * r * c), alloc(2 * r * c)))]
    if op.kind == "rotary":
        T, H, Hkv, D = s["tokens"], s["heads"], s["kv_heads"], s["head_dim"]
        pos = np.concatenate([np.tile(np.arange(g.past, g.past + g.tokens), g.count) for g in step.groups])
        row = (H + 2 * Hkv) * D
        qkv = alloc(2 * T * row)
        table = alloc(4 * (int(pos.max()) + 1) * D)
        return [_Kernel(K.rotary(arch, T, H, Hkv, qkv, qkv + 2 * H * D, table, alloc(4 * T), pos.astype(np.int32),
                                 q_row_stride=row, k_row_stride=row))]
    return None


def _key(call: K.KernelCall) -> tuple:
    scal = tuple(sorted((p.name, call.launch.params[p.name]) for p in call.kernel.params
                        if p.type not in ("ptr", "tensormap")))
    return call.kernel.name, call.kernel.arch, call.launch.grid, scal


def simulate_kernel(cfg: GPUConfig, call: K.KernelCall) -> dict:
    """Walk ``call`` into a trace and run the timing model on it."""
    t0 = time.perf_counter()
    kt = call.trace()
    intern_opcodes(kt)
    t1 = time.perf_counter()
    run = assemble.pack(cfg, kt, call.kernel.function)
    status, cycles, _ = assemble.run(run, kt)
    return {"kernel": call.name, "grid": list(call.launch.grid), "block": list(call.launch.block),
            "cycles": int(cycles), "warp_instructions": kt.warp_instructions, "status": int(status),
            "walk_seconds": t1 - t0, "simulate_seconds": time.perf_counter() - t1}


def simulate_step(model: str | ModelSpec, step: str | Step, gpu: str | GPUConfig, *, tp: int = 1,
                  dedup: bool = True, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Simulate one serving step; returns the report dict (module doc).  Keys: ``step_seconds``,
    ``tokens_per_second`` (new tokens computed per second), ``output_tokens_per_second`` (tokens
    sampled per second), ``operators`` (name, kind, count, kernels, cycles, seconds, flops, bytes,
    flops_per_s, bytes_per_s, bound), ``not_simulated``, ``launches``, ``wall_seconds``."""
    wall = time.perf_counter()
    m = model if isinstance(model, ModelSpec) else load_model(model)
    st = step if isinstance(step, Step) else parse_step(step)
    cfg = gpu if isinstance(gpu, GPUConfig) else load_config(gpu, list(overrides))
    arch = K.arch_for_binary_version(cfg.compute_capability)
    g = build_graph(m, st, tp)
    clock = cfg.sm.clock_hz
    peak_f = tensor_peak_flops(cfg)
    peak_b = cfg.memory.dram_bandwidth_bytes_per_s
    alloc = _Alloc()
    cache: dict[tuple, dict] = {}
    ops_out, skipped = [], []
    kernel_cycles = 0
    launches = 0
    for op in g.operators:
        ks = kernels_for(op, arch, st, alloc)
        if ks is None:
            skipped.append({"name": op.name, "kind": op.kind, "count": op.count, "bytes": op.bytes * op.count})
            continue
        cyc = 0
        kinfo = []
        for k in ks:
            key = _key(k.call) if dedup else (op.name, id(k))
            if key not in cache:
                cache[key] = simulate_kernel(cfg, k.call)
            r = cache[key]
            cyc += r["cycles"] * k.times
            kinfo.append({**r, "launches_per_execution": k.times})
            launches += k.times * op.count
        sec = cyc * op.count / clock
        fl, by = op.flops * op.count, op.bytes * op.count
        fps, bps = (fl / sec if sec else 0.0), (by / sec if sec else 0.0)
        bound = "memory" if bps >= BOUND_FRACTION * peak_b else "compute" if fps >= BOUND_FRACTION * peak_f else "latency"
        ops_out.append({"name": op.name, "kind": op.kind, "count": op.count, "shape": op.shape, "kernels": kinfo,
                        "cycles": cyc, "seconds": sec, "flops": fl, "bytes": by, "flops_per_s": fps,
                        "bytes_per_s": bps, "bound": bound})
        kernel_cycles += cyc * op.count
    launch_cycles = launches * cfg.launch.kernel_launch_latency_cycles
    step_s = (kernel_cycles + launch_cycles) / clock
    return {
        "model": m.name, "step": st.text, "gpu": cfg.name, "tp": tp, "arch": arch,
        "step_seconds": step_s, "kernel_seconds": kernel_cycles / clock, "launch_seconds": launch_cycles / clock,
        "launches": launches, "tokens": st.tokens, "sampled_tokens": st.sampled,
        "tokens_per_second": st.tokens / step_s if step_s else 0.0,
        "output_tokens_per_second": st.sampled / step_s if step_s else 0.0,
        "peak_tensor_flops_per_s": peak_f, "dram_bytes_per_s": peak_b,
        "operators": ops_out, "not_simulated": skipped, "distinct_kernels_simulated": len(cache),
        "wall_seconds": time.perf_counter() - wall,
    }

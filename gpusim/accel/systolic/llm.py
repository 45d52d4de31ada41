"""One LLM serving step on a systolic-array chip (``gpusim llm --systolic tpu-v4``).

The model + step expand into the accelerator-neutral operator graph of :mod:`gpusim.llm.graph`
(the graph the GPU and RDU paths read, types in :mod:`gpusim.ops`); each operator is lowered onto the
chip of a systolic preset (``configs/accel/*.yaml``) by the handler of its kind in the ``systolic``
backend (``SYSTOLIC``, :mod:`gpusim.ops.registry`):

``gemm``, ``moe_gemm``
    A GEMM layer ``M x N x K`` (the MoE experts: a batched layer, one item per active expert with
    the balanced share of rows) simulated by the physical memory model
    (:func:`gpusim.accel.systolic.physical.simulate_layer_physical`): all arrays, SRAM tiling,
    DRAM traffic sharing the chip's bandwidth, DRAM latency once per layer.
``attention``
    FlashAttention-style fused: the score tiles stay in the on-chip SRAM.  Compute = the array
    cycles of the two batched GEMMs ``S = Q K^T`` and ``O = P V`` per (sequence, KV head), the
    query heads of a GQA group stacked as rows (physical model with an unlimited DRAM: the
    partition and fill/drain of the arrays, no traffic), plus the softmax on the vector units;
    memory = Q, K, V read once and O written once at the DRAM bandwidth; the operator takes the
    larger of the two, plus the DRAM latency.
element-wise operators (norms, rotary, SiLU*mul, adds, softmax, embedding gather, KV append, MoE router / combine)
    ``max(bytes / DRAM bandwidth, element operations / vector.ops_per_cycle)`` + DRAM latency,
    with the graph's minimum bytes and its per-element operation counts
    (``gpusim.ops.kinds.ELEMENTWISE_FLOPS``); only the bandwidth bound when the preset has no
    ``vector.ops_per_cycle``.
``allreduce``, ``allgather`` (``tp > 1``)
    Not simulated (no inter-chip link model): listed under ``not_simulated``, no time.

The step runs as one compiled program (XLA-style), so no per-operator launch overhead is added
(``launch_seconds`` = 0).  Operand words are the preset's ``word_size`` (2 B, bf16) whatever the
model's dtypes; a model with 8- or 4-bit weights is refused.

The report has the shape shared by every machine of ``gpusim llm`` (:mod:`gpusim.llm.machines`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

from gpusim.accel.systolic.config import SystolicConfig, load_systolic_config
from gpusim.accel.systolic.physical import simulate_layer_physical
from gpusim.accel.systolic.topology import Layer, gemm_layer
from gpusim.errors import ConfigError
from gpusim.llm.graph import build_graph
from gpusim.llm.model import ModelSpec, Step
from gpusim.ops.dtypes import DTYPE_BITS
from gpusim.ops.graph import Operator
from gpusim.ops.kinds import OperatorKind as OK
from gpusim.ops.registry import Unsupported, register_backend

__all__ = ["simulate_step"]

#: FLOPs per score element of the attention softmax (max, subtract, exp, sum, divide; the counting
#: convention of gpusim.ops.kinds.ELEMENTWISE_FLOPS["softmax"]).
SOFTMAX_OPS = 5


def _compute_only(cfg: SystolicConfig) -> SystolicConfig:
    """The same chip with an unlimited, zero-latency DRAM: the physical model then returns array cycles only."""
    return dataclasses.replace(cfg, dram_bw_words_per_cycle=1e18, dram_latency_cycles=0)


def _gemm_cycles(cfg: SystolicConfig, layer: Layer) -> tuple[int, int]:
    """(cycles, DRAM bytes) of one GEMM layer under the physical model."""
    r = simulate_layer_physical(layer, cfg)
    words = r.ifmap_dram_reads + r.filter_dram_reads + r.ofmap_dram_writes + r.extra.get("dram_ofmap_reads", 0)
    return int(r.total_cycles_incl_prefetch), int(words * cfg.word_bytes)


def _elementwise_cycles(cfg: SystolicConfig, nbytes: float, ops: float) -> int:
    mem = nbytes / cfg.word_bytes / cfg.dram_bw_words_per_cycle
    vec = ops / cfg.vector_ops_per_cycle if cfg.vector_ops_per_cycle else 0.0
    return math.ceil(max(mem, vec)) + cfg.dram_latency_cycles


def _attention_cycles(cfg: SystolicConfig, op: Operator) -> int:
    s = op.shape
    B, H, Hkv, D, q, kv = s["batch"], s["heads"], s["kv_heads"], s["head_dim"], s["q_len"], s["kv_len"]
    g = H // Hkv
    free = _compute_only(cfg)
    qk = simulate_layer_physical(gemm_layer(op.name + ".qk", q * g, kv, D, batch=B * Hkv), free)
    pv = simulate_layer_physical(gemm_layer(op.name + ".pv", q * g, D, kv, batch=B * Hkv), free)
    scores = B * H * q * kv
    if s.get("causal") and q > 1:
        scores = B * H * (q * kv - q * (q - 1) // 2)
    vec = SOFTMAX_OPS * scores / cfg.vector_ops_per_cycle if cfg.vector_ops_per_cycle else 0.0
    compute = qk.total_cycles_incl_prefetch + pv.total_cycles_incl_prefetch + vec
    mem = op.bytes / cfg.word_bytes / cfg.dram_bw_words_per_cycle
    return math.ceil(max(compute, mem)) + cfg.dram_latency_cycles


def _gemm_op(cfg: SystolicConfig, op: Operator) -> tuple[int, int]:
    s = op.shape
    return _gemm_cycles(cfg, gemm_layer(op.name, s["M"], s["N"], s["K"]))


def _moe_gemm_op(cfg: SystolicConfig, op: Operator) -> tuple[int, int]:
    s = op.shape
    rows = math.ceil(s["rows"] / s["groups"])
    return _gemm_cycles(cfg, gemm_layer(op.name, rows, s["N"], s["K"], batch=s["groups"]))


def _attention_op(cfg: SystolicConfig, op: Operator) -> tuple[int, int]:
    return _attention_cycles(cfg, op), op.bytes


def _elementwise_op(cfg: SystolicConfig, op: Operator) -> tuple[int, int]:
    return _elementwise_cycles(cfg, op.bytes, op.flops), op.bytes


_TRAIN_ONLY = Unsupported("training-graph operator: train: steps run on GPUs only (gpusim llm refuses them for "
                          "systolic chips)")
_RDU_ONLY = Unsupported("RDU validation-program operator (gpusim.accel.rdu.programs); not lowered onto systolic chips")

#: The systolic backend: per operator kind its (cycles, DRAM bytes) model.
SYSTOLIC = register_backend("systolic", {
    OK.GEMM: _gemm_op, OK.MOE_GEMM: _moe_gemm_op, OK.ATTENTION: _attention_op,
    **{k: _elementwise_op for k in (OK.EMBEDDING, OK.RMSNORM, OK.ROTARY, OK.KV_APPEND, OK.SILU_MUL, OK.ADD,
                                    OK.MOE_ROUTER, OK.MOE_COMBINE, OK.SOFTMAX)},
    OK.ALLREDUCE: Unsupported("inter-chip collectives are not modelled for systolic chips; no time"),
    OK.ALLGATHER: Unsupported("inter-chip collectives are not modelled for systolic chips; no time"),
    **{k: _TRAIN_ONLY for k in (OK.LAYERNORM, OK.GELU, OK.GELU_BWD, OK.SILU_MUL_BWD, OK.NORM_BWD, OK.CROSS_ENTROPY,
                                OK.EMBEDDING_BWD, OK.ADAMW)},
    OK.CMUL: _RDU_ONLY, OK.TRANSPOSE: _RDU_ONLY,
}, "systolic-array chips (gpusim.accel.systolic.llm)")


def _operator(cfg: SystolicConfig, op: Operator) -> tuple[int, int] | str:
    """(cycles, DRAM bytes) of one execution of ``op``, or why the systolic backend cannot run its kind."""
    h = SYSTOLIC.handler(op.kind)
    return SYSTOLIC.reason(op.kind) if h is None else h(cfg, op)


def check_model(cfg: SystolicConfig, m: ModelSpec) -> None:
    for key in ("dtype", "weight_dtype", "kv_dtype"):
        bits = DTYPE_BITS[getattr(m, key)]
        if bits < 8 * cfg.word_bytes:
            raise ConfigError(key, f"{getattr(m, key)}: the systolic model runs {8 * cfg.word_bytes}-bit operands "
                                   f"(word_size of {cfg.name}); narrower {key} is not modelled", m.file or None)


def simulate_step(cfg: SystolicConfig | str, model: ModelSpec, step: Step, *, tp: int = 1,
                  overrides: tuple[str, ...] | list[str] = ()) -> dict:
    """Simulate one serving step on a systolic chip; returns the machine-neutral report
    (:func:`gpusim.llm.machines.common_report` keys plus ``systolic``: per-operator array details)."""
    from gpusim.llm.machines import BOUND_FRACTION, classify

    wall = time.perf_counter()
    if not isinstance(cfg, SystolicConfig):
        cfg = load_systolic_config(cfg, overrides)
    if not cfg.clock_hz or not cfg.dram_bw_words_per_cycle:
        raise ConfigError("clock", f"{cfg.name}: `gpusim llm --systolic` needs a preset with a clock and a DRAM "
                                   "bandwidth (a YAML preset, not a SCALE-Sim .cfg)", cfg.source)
    check_model(cfg, model)
    g = build_graph(model, step, tp)
    clock = cfg.clock_hz
    peak_f = 2.0 * cfg.rows * cfg.cols * cfg.arrays * clock
    peak_b = cfg.dram_bw_words_per_cycle * cfg.word_bytes * clock
    ops, skipped = [], []
    total = 0
    for op in g.operators:
        got = _operator(cfg, op)
        if isinstance(got, str):
            skipped.append({"name": op.name, "kind": op.kind, "count": op.count, "bytes": op.bytes * op.count,
                            "reason": got})
            continue
        cyc, dram = got
        cyc_all = cyc * op.count
        sec = cyc_all / clock
        fl, by, db = op.flops * op.count, op.bytes * op.count, dram * op.count
        fps, dps = (fl / sec, db / sec) if sec else (0.0, 0.0)
        ops.append({"name": op.name, "kind": op.kind, "count": op.count, "shape": op.shape.as_dict(),
                    "cycles": cyc_all, "cycles_per_execution": cyc, "seconds": sec, "overhead_seconds": 0.0,
                    "flops": fl, "bytes": by, "dram_bytes": db, "flops_per_s": fps, "dram_bytes_per_s": dps,
                    "compute_utilisation": fps / peak_f, "memory_utilisation": dps / peak_b,
                    "bound": classify(fps, dps, peak_f, peak_b)})
        total += cyc_all
    step_s = total / clock
    return {
        "machine": {"kind": "systolic", "name": cfg.name, "config": str(cfg.source), "chips": tp,
                    "clock_hz": clock, "peak_flops_per_s": peak_f, "memory_bytes_per_s": peak_b,
                    "description": f"{cfg.arrays} x {cfg.rows}x{cfg.cols} {cfg.dataflow.value.upper()} arrays, "
                                   f"{peak_b / 1e9:.0f} GB/s DRAM"},
        "model": model.name, "step": step.text, "tp": tp,
        "step_seconds": step_s, "step_cycles": total, "kernel_seconds": step_s, "launch_seconds": 0.0,
        "launches": 0, "launch_model": "one compiled program per step: no per-operator launch overhead",
        "tokens": step.tokens, "sampled_tokens": step.sampled,
        "tokens_per_second": step.tokens / step_s if step_s else 0.0,
        "output_tokens_per_second": step.sampled / step_s if step_s else 0.0,
        "peak_flops_per_s": peak_f, "memory_bytes_per_s": peak_b, "bound_fraction": BOUND_FRACTION,
        "operators": ops, "not_simulated": skipped,
        "wall_seconds": time.perf_counter() - wall,
    }


def run_systolic(model: str | ModelSpec, step: str | Step, preset: str, *, tp: int = 1,
                 overrides: Sequence[str] = ()) -> dict:
    from gpusim.llm.model import load_model_step

    m, st = load_model_step(model, step)
    rep = simulate_step(preset, m, st, tp=tp, overrides=tuple(overrides))
    rep["machine"]["config"] = preset
    return rep

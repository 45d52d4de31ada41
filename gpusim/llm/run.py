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
    A GEMM of one row runs the decode GEMV; of 2..8 rows, on sm_80/86/89/90a the tensor-core GEMM below
    (:data:`gpusim.llm.launch.SMALL_M_TENSOR_CORE_ARCHS`), elsewhere the GEMV for the smallest built
    batch >= M (a padded batch reads a few more activation rows); larger ones on sm_80/86/89 the
    multistage mma.sync GEMM whose kernel, tile and split-K :func:`gpusim.llm.gemm_select.select` picks for the shape and the
    config's GPU (reported per operator as ``kernel``, ``tile`` and ``gemm_choice``; split-K adds a
    reduction launch), on sm_90 the TMA + wgmma GEMM when K is a multiple of 64, with the tile and
    split-K of :func:`gpusim.llm.gemm_select.select_wgmma` (else the earlier 128x128 mma.sync GEMM); prefill attention runs the FlashAttention-3-style kernel on sm_90a
    (``fa3_fwd_*``: TMA producer warp, two ping-pong wgmma consumer warpgroups, FA3's tile for the
    head dim; :func:`gpusim.llm.kernels.prefill_attention`) and FlashAttention-2 elsewhere, decode
    attention the paged split-KV kernel (one CTA per split, KV head and sequence for the whole
    GQA group) and its combine; an MoE expert GEMM runs once per active expert
    with the balanced share of rows; the MoE router's softmax runs the softmax kernel over the
    expert logits and the MoE combine the residual-add kernel over tokens x hidden (an
    approximation: it reads top_k rows per token); the embedding runs the gather kernel over
    synthetic token ids (:func:`token_ids`, a memory image for the walker) and the KV-cache append
    one append kernel per request group (new K/V rows of the fused QKV output into the group's cache
    at position ``past``).  Tensor-parallel collectives (``tp`` > 1) are not walked:
    :mod:`gpusim.llm.collectives` times them from the config's ``interconnect`` section (one launch
    each, bound ``network``).  The kernels are fp16; a bf16 model runs them
    unchanged (same sizes and, on A100/H100, the same tensor rates).  Weight-only quantised linear
    layers (``weight_dtype`` int8 / int4, fp16 activations) run the dequantising decode GEMVs of
    ``gemv_quant.cu`` for up to 16 rows (batch padded to 1, 2, 4, 8 or 16; split-K plus a reduction
    when ceil(N/4) CTAs leave SMs idle, :func:`gpusim.llm.kernels.quant_gemv_splits`); more rows are
    refused (no dequantising tensor-core GEMM yet).  fp8 weights run the e4m3 wgmma GEMMs on sm_90a
    only (W8A8: the activations are taken as e4m3 too), and are refused elsewhere.  fp8/int KV caches,
    int weights with bf16 activations and head sizes other than 128 are refused.

Memory footprint
    The weights (:meth:`gpusim.llm.model.ModelSpec.weight_bytes`, in their stored dtype with scales, over
    ``tp``) plus the step's KV cache (every sequence's context, ``kv_dtype``) must fit in the config's
    ``memory.dram_size``; ``gpusim llm`` refuses a step that does not (``check_memory``; report
    ``memory_footprint`` with ``fits``).

Deduplication
    Identical launches (same kernel, grid and scalar arguments: the same GEMV in every layer, the
    two RMSNorms, every MoE expert) are simulated once, at their first occurrence, and counted as
    often as they occur; ``dedup=False`` simulates every launch of the step (each then sees the L2
    state its predecessors left).

Launch overhead
    Every kernel launch adds ``launch.kernel_launch_latency`` cycles of the config (stream
    launches); with ``cuda_graph=True`` it adds ``launch.graph_kernel_launch_latency`` (a time,
    converted to cycles at the SM clock: the GPU-side gap per kernel node of a replayed graph; the
    fixed per-graph host cost is not added).

Bound
    ``dram_utilisation`` = simulated DRAM bytes per second / configured DRAM bandwidth;
    ``tensor_utilisation`` = operator FLOPs per second / configured dense fp16 tensor peak
    (:func:`tensor_peak_flops`).  The larger of the two decides ``memory`` or ``compute`` when it
    reaches :data:`BOUND_FRACTION`; otherwise the operator is ``latency``-bound.

CTA-wave sampling (``sample=k`` or ``sample_error=E``, off by default; :mod:`gpusim.llm.sampling`)
    A kernel with more CTA waves (ceil(CTAs / (SMs x resident CTAs per SM))) than one warm-up, k
    measured and one drain wave is walked and simulated only for a prefix of its CTAs (the walker
    produces just them) and its remaining waves are extrapolated from the measured cycles per wave,
    with an error bound from the measured waves (Student-t interval, convergence gap, timing
    resolution, DRAM refresh), reported per kernel, per operator and in ``report["sampling"]``.  The
    prefix ends where the rest of the kernel is a whole number of waves (its tail and drain are then
    the kernel's own).  ``sample=k`` alone: exactly warm-up + k measured waves, then the tail.
    ``sample_error=E``: waves are added (at least k, default 4) until the projected bound is at most E
    of the estimate, with no drift between the first and second half of the measured waves and no L2
    fill ahead (:class:`gpusim.llm.sampling.AdaptiveSampler`), or until every CTA ran.  The bound does
    not see what the sample cannot: a later regime change the adaptive rule does not detect, and the
    L2 state a sampled kernel leaves for the next kernel (that of its prefix, not of its end).
    Without sampling every CTA is walked and simulated.
"""

from __future__ import annotations

import math
import resource
import sys
import time

import numpy as np

from gpusim import assemble, units
from gpusim.llm import sampling as SP
from gpusim.config import load_config
from gpusim.config.specs import GPUConfig
from gpusim.errors import GpusimError
from gpusim.frontend.opcodes import mma_formula_bits, mma_shape
from gpusim.frontend.reader import intern_opcodes
from gpusim.llm import gemm_select as GS
from gpusim.llm import kernels as K
from gpusim.llm.collectives import collective_seconds
from gpusim.llm.graph import OperatorGraph, build_graph
from gpusim.llm.machines import BOUND_FRACTION, classify
from gpusim.llm.model import ModelSpec, Step, load_model_step
from gpusim.llm.walker import walk_chunks
from gpusim.ops.kinds import COLLECTIVES
from gpusim.ops.kinds import OperatorKind as OK
from gpusim.stats.catalog import REASONS, name_counters
from gpusim.stats.sol import bound as sol_bound
from gpusim.stats.sol import split_bound
from gpusim.stats.sol import speed_of_light
from gpusim.llm.launch import (ALIASES, BUFFER_ALIGN, DEVICE_BASE, KERNEL_DTYPES,  # noqa: F401
                               NOT_SIMULATED_REASONS, TOKEN_ID_SEED, Buffers, KernelLaunch, _gemm, _launches,
                               _quant_gemm, _sms, check_model, kernels_for, memory_footprint, schedule, token_ids)

#: CTA-wave sampling (``sample`` of :func:`simulate_kernel` / :func:`simulate_step`): waves simulated
#: before the measured ones (they fill the pipelines and caches; a choice of this module).
SAMPLE_WARMUP_WAVES = 1
#: Waves simulated after the measured ones and not measured: the sample's last wave drains (its CTAs
#: finish without successors competing for the SMs and memory, faster than a steady-state wave), as
#: the kernel's own last wave does; measuring it would bias the per-wave time low.
SAMPLE_DRAIN_WAVES = 1
#: Fewest measured waves: the estimate uses the last ceil(k/2) of them, the first ones check convergence.
SAMPLE_MIN_WAVES = 4
#: Cycles between the core's stops while a sampled kernel runs, to record completed CTAs (the
#: resolution of the per-wave times; wave ends are interpolated between stops, and the error
#: bound counts the resolution).  A choice of this module: small against a wave of any of our
#: kernels (thousands of cycles); a stop costs a few microseconds of wall time.
SAMPLE_PROBE_CYCLES = 50
#: Kernels of more CTA waves than this are streamed by default (:func:`simulate_kernel`): walked wave by
#: wave as the core needs the CTAs (a choice of this module: below it the whole trace is small).
STREAM_MIN_WAVES = 4
#: Cycles between progress-bar updates while a sampled kernel runs (gpusim.assemble.CHUNK_CYCLES' default).
PROGRESS_CYCLES = 200_000


# --------------------------------------------------------------------------------------------
# peaks
# --------------------------------------------------------------------------------------------

#: GEMM instruction of the GEMM kernel per listing architecture (see traces/kernels/README.md): the
#: tensor peak is the rate of this instruction under the timing model's formula.
PEAK_MMA = {"sm_90a": "HGMMA.64x128x16.F32", "sm_70": "HMMA.884.F32.F32.STEP0"}  # sm_70: one of mma.m8n8k4's 4 steps
DEFAULT_PEAK_MMA = "HMMA.16816.F32"


def tensor_peak_flops(cfg: GPUConfig, arch: str | None = None) -> float:
    """Dense fp16 tensor peak (FLOP/s) of the config for the GEMM instruction our GEMM kernel uses on
    ``arch`` (HMMA.16816.F32, or HGMMA.64x128x16.F32 on sm_90a), by the timing model's formula
    (gpusim/isa/semantics.py ``tensor_timing``; configs/README.md ``pipes.tensor_rate_per_cycle``): a warp
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


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------


def _key(call: K.KernelCall) -> tuple:
    scal = tuple(sorted((p.name, call.launch.params[p.name]) for p in call.kernel.params
                        if p.type not in ("ptr", "tensormap")))
    return call.kernel.name, call.kernel.arch, call.launch.grid, scal


def check_sample_error(sample_error) -> float | None:
    """``sample_error``: None (off) or the target relative error of adaptive sampling, 0 < E < 1."""
    if sample_error is None:
        return None
    if isinstance(sample_error, bool) or not isinstance(sample_error, (int, float, np.floating, np.integer)) \
            or not 0 < float(sample_error) < 1:
        raise GpusimError(f"sample_error = {sample_error!r}: the target relative error of CTA-wave sampling must "
                          f"be a number between 0 and 1 (e.g. 0.01 for 1%), or None for no adaptive sampling")
    return float(sample_error)


def check_sample(sample) -> int | None:
    """``sample``: None / 0 (off) or the number of measured CTA waves, an integer >= :data:`SAMPLE_MIN_WAVES`."""
    if sample is None or sample is False or sample == 0:
        return None
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < SAMPLE_MIN_WAVES:
        raise GpusimError(f"sample = {sample!r}: the number of measured CTA waves must be an integer >= "
                          f"{SAMPLE_MIN_WAVES} (the estimate uses the last half of them, the first half checks "
                          f"convergence), or 0 / None for no sampling")
    return int(sample)


_done_at = SP.done_at


def _run_with_curve(runner, n_ctas: int, probe_cycles: int, progress=None) -> tuple[int, np.ndarray, np.ndarray]:
    """``runner(progress)`` (a run of the core on ``n_ctas`` CTAs returning (cycles, counters):
    ``assemble.run`` or ``assemble.run_streamed``) with the core stopped every ``probe_cycles`` cycles
    to record how many CTAs have completed: returns (cycles, counters, curve [[cycle, CTAs done], ...]
    from (0, 0) to the end).  The stop interval is ``gpusim.assemble.CHUNK_CYCLES``, set for the call
    and restored after it."""
    if not hasattr(assemble, "CHUNK_CYCLES"):
        raise GpusimError("llm: CTA-wave sampling needs gpusim.assemble.CHUNK_CYCLES (the core's progress interval)")
    pts = [(0, 0)]
    shown = [0]

    def probe(cycle, done, total):
        done = max(done, pts[-1][1])   # never decreases (guard against a transient count)
        pts.append((cycle, done))
        if progress is not None and cycle - shown[0] >= PROGRESS_CYCLES:
            shown[0] = cycle
            progress(cycle, done, total)

    old = assemble.CHUNK_CYCLES
    assemble.CHUNK_CYCLES = probe_cycles
    try:
        cycles, counters = runner(probe)
    finally:
        assemble.CHUNK_CYCLES = old
    pts.append((int(cycles), n_ctas))
    return int(cycles), counters, np.array(pts, dtype=np.float64)


def _refresh_cycles(cfg: GPUConfig) -> float:
    """tRFC in SM cycles when the config's DRAM model refreshes (memory.dram_model hbm), else 0."""
    mem = cfg.memory
    if str(getattr(mem.dram_model, "value", mem.dram_model)) != "hbm":
        return 0.0
    return mem.hbm_trfc_ps * 1e-12 * cfg.sm.clock_hz


def wave_extrapolation(curve: np.ndarray, wave_ctas: int, sampled_ctas: int, total_ctas: int, warmup: int,
                       measured: int, resolution_cycles: float = 0.0, refresh_cycles: float = 0.0) -> dict:
    """Extrapolate a kernel's cycles from the CTA-completion ``curve`` of its first ``sampled_ctas`` CTAs
    (``warmup`` + ``measured`` waves of ``wave_ctas`` CTAs, then the tail) to ``total_ctas`` CTAs.

    d_j: the ``measured`` waves' durations; d = mean of their second half
    (:func:`gpusim.llm.sampling.wave_stats`).  The rest, M = (total - sampled) / wave waves, takes M x d:
    exact when M is whole (:func:`sample_plan` makes it so: the sample's tail and drain are the
    kernel's own).  A remainder that is not a whole wave (fraction f) is counted at f x d (its CTAs
    overlap the drain, throughput-bound) with min(f, 1 - f) x d more error.

    Absolute error bound = M x max(Student-t half-width of d + resolution and refresh terms,
    |d - mean of the first half|) (+ the remainder's term)."""
    c_s = float(curve[-1, 0])
    d = SP.wave_durations(curve, wave_ctas, warmup, warmup + measured)
    st = SP.wave_stats(d, resolution_cycles, refresh_cycles)
    rem = total_ctas - sampled_ctas
    n_x = rem / wave_ctas
    f = n_x - math.floor(n_x)
    est = c_s + n_x * st["cycles_per_wave"]
    err = n_x * st["per_wave_error"] + min(f, 1 - f) * st["cycles_per_wave"]
    return {"cycles": est, "cycles_simulated": c_s, "wave_cycles": d.tolist(), "cycles_per_wave": st["cycles_per_wave"],
            "cycles_per_wave_first_waves": st["first_half"], "ci_half_width_cycles": st["half_width"],
            "convergence_gap_cycles": st["gap"], "waves_extrapolated": n_x, "absolute_error_cycles": err,
            "relative_error": err / est if est else 0.0}


def sample_plan(cfg: GPUConfig, head, total: int, k: int | None) -> tuple[int, tuple | None]:
    """(CTAs per wave, sampling plan) of a kernel of ``total`` CTAs whose CTA 0 is the walked trace
    ``head``: the plan is (wave, waves, simulated waves, simulated CTAs) when CTA-wave sampling with
    ``k`` measured waves shortens it, else None (every CTA is simulated).  The simulated CTAs are
    warm-up + k whole waves and then the kernel's tail: (total - simulated) is a multiple of the wave,
    so the sample's last wave (partial or whole) and drain are shaped as the kernel's are.  (With
    ``sample_error`` this is the least the adaptive sample simulates.)  The sample stands for the kernel
    only if its CTAs are alike: a kernel whose ``kernels.yaml`` entry says ``sampling: false`` (stream-K:
    the last CTAs do other work than the first) is never sampled."""
    wave = cfg.sm.count * assemble.occupancy(cfg, head).ctas_per_sm
    waves = -(-total // wave)
    if k is not None and K.kernel_specs().get(head.header.name, {}).get("sampling", True):
        n_w = SAMPLE_WARMUP_WAVES + k + SAMPLE_DRAIN_WAVES
        if waves > n_w:
            return wave, (wave, waves, n_w, total - (waves - n_w) * wave)
    return wave, None


def simulate_kernel(cfg: GPUConfig, call: K.KernelCall, memsys: assemble.MemSystem | None = None,
                    progress=None, sample: int | None = None, threads: int = 1, stream: bool | None = None,
                    sample_error: float | None = None) -> dict:
    """Walk ``call`` into a trace and run the timing model on it (with ``memsys``, the L2 state of the
    step; a fresh one if None).  Returns cycles, instruction count, DRAM bytes, L2 hit rate, occupancy
    and the walk / simulation wall times.

    ``sample`` = k (an int >= :data:`SAMPLE_MIN_WAVES`; None or 0: off) simulates a kernel of more than
    :data:`SAMPLE_WARMUP_WAVES` + k + :data:`SAMPLE_DRAIN_WAVES` CTA waves (a wave = SMs x resident
    CTAs per SM) only for its first warm-up + k waves' CTAs and its tail (:func:`sample_plan`) -- only
    those CTAs are walked -- and extrapolates the rest (:func:`wave_extrapolation`).
    ``sample_error`` = E (0 < E < 1): adaptive sampling of the same kernels (k, default
    :data:`SAMPLE_MIN_WAVES`, the fewest measured waves): the CTAs are walked and simulated wave after
    wave until the projected error bound is at most E (:class:`gpusim.llm.sampling.AdaptiveSampler`);
    the dispatcher then stops at the next CTA count that leaves whole waves and the resident CTAs
    drain.  ``cycles`` is then the estimate, ``warp_instructions`` and ``dram_bytes`` are scaled by
    total / simulated CTAs, and ``sampling`` holds the sample (CTAs and waves simulated / total,
    per-wave cycles, the interval, why it stopped) and the error bound (``relative_error``);
    otherwise ``sampling`` is None.  ``threads``: CPU threads of the core (``assemble.run``); the result
    does not depend on it.

    ``stream`` (None: when the simulated CTAs, all or the sample's, span more than
    :data:`STREAM_MIN_WAVES` CTA waves): walk the trace wave by wave as the core dispatches CTAs (``assemble.run_streamed``, a
    window of :data:`gpusim.assemble.STREAM_LOOKAHEAD_WAVES` waves ahead of the dispatcher), so the
    whole trace is never in memory; the result is the same bit for bit (``streamed`` says which ran;
    ``walk_seconds`` then covers the first window only, the rest counts in ``simulate_seconds``)."""
    k, e = check_sample(sample), check_sample_error(sample_error)
    k = SAMPLE_MIN_WAVES if e is not None and k is None else k
    t0 = time.perf_counter()
    total = call.launch.num_ctas
    head = call.trace(range(1))
    wave, plan = sample_plan(cfg, head, total, k)
    adaptive = plan is not None and e is not None
    n_s = plan[3] if plan and not adaptive else total
    ctas = range(n_s) if n_s < total else None
    if stream is None:
        stream = -(-n_s // wave) > STREAM_MIN_WAVES
    del head
    got = {}
    sampler = None
    stop = None
    if adaptive:
        sampler = SP.AdaptiveSampler(wave, total, warmup=SAMPLE_WARMUP_WAVES, min_waves=k, target=e,
                                     resolution=SAMPLE_PROBE_CYCLES, refresh=_refresh_cycles(cfg))

        def _stop(r, cycle, done, sent):
            w = r.extra.get("window")
            have = len(sampler.work)
            if w is not None and sent > have >= w.cta0:
                # warp instructions of the CTAs dispatched since the last stop (still in the window)
                lo, hi = have - w.cta0, sent - w.cta0
                sampler.work.extend(np.diff(w.wip[w.cwp[lo:hi + 1]]).tolist())
            return sampler.observe(cycle, done, sent, lambda: name_counters(r.counters),
                                   int(r.extra["memsys"].l2_tag.size) * 4)

        stop = _stop
    if stream:
        t1 = time.perf_counter()
        chunk = max(1, math.ceil(assemble.STREAM_CHUNK_WAVES * wave))
        chunks = walk_chunks(call.kernel, call.launch, ctas, chunk)

        def runner(prog):
            run, cyc, cnt, info = assemble.run_streamed(cfg, chunks, call.kernel.function, total_ctas=n_s,
                                                        memsys=memsys, progress=prog, threads=threads, stop=stop)
            got.update(run=run, insts=info["warp_instructions"], streamed=info["streamed"])
            return cyc, cnt
    else:
        kt = call.trace(ctas)
        intern_opcodes(kt)
        t1 = time.perf_counter()
        run = assemble.pack(cfg, kt, call.kernel.function, memsys=memsys)
        got.update(run=run, streamed=False)

        def runner(prog):
            w = assemble._Window(run, kt)
            _, cyc, cnt = assemble._drive(run, w, kt.path, prog, threads, stop)
            got["insts"] = w.insts
            return cyc, cnt
    samp = None
    scale = 1.0
    if plan:
        wave, waves, n_w, _ = plan
        cycles, counters, curve = _run_with_curve(runner, n_s, SAMPLE_PROBE_CYCLES, progress)
        base = {"mode": "error" if adaptive else "waves", "target_error": e, "ctas_total": total, "wave_ctas": wave,
                "waves_total": waves, "drain_waves": SAMPLE_DRAIN_WAVES}
        if adaptive and sampler.stop_at is None:       # every CTA ran: the cycles are the kernel's own
            samp = {**base, "ctas_simulated": total, "waves_simulated": total / wave,
                    "warmup_waves": sampler.w0, "measured_waves": max(0, total // wave - sampler.w0),
                    "stop_reason": "all_ctas", "drift_restarts": sampler.restarts, "l2_fill_waits": sampler.l2_waits,
                    "work_varies_waits": sampler.work_waits,
                    "cycles": float(cycles), "cycles_simulated": float(cycles), "wave_cycles": [],
                    "cycles_per_wave": 0.0, "ci_half_width_cycles": 0.0, "convergence_gap_cycles": 0.0,
                    "waves_extrapolated": 0.0, "absolute_error_cycles": 0.0, "relative_error": 0.0}
        else:
            if adaptive:
                n_s = sampler.stop_at
                st = sampler.stats
                ex = wave_extrapolation(curve, wave, n_s, total, sampler.w0, st["n"], SAMPLE_PROBE_CYCLES,
                                        _refresh_cycles(cfg))
                # a significant trend within the target counts in the bound (gpusim.llm.sampling.trend_error)
                ex["trend_error_cycles"] = st["trend_cycles"]
                ex["absolute_error_cycles"] += st["trend_cycles"]
                ex["relative_error"] = ex["absolute_error_cycles"] / ex["cycles"]
                extra = {"warmup_waves": sampler.w0, "measured_waves": st["n"], "stop_reason": "interval",
                         "drift_restarts": sampler.restarts, "l2_fill_waits": sampler.l2_waits,
                         "work_varies_waits": sampler.work_waits}
            else:
                ex = wave_extrapolation(curve, wave, n_s, total, SAMPLE_WARMUP_WAVES, k, SAMPLE_PROBE_CYCLES,
                                        _refresh_cycles(cfg))
                extra = {"warmup_waves": SAMPLE_WARMUP_WAVES, "measured_waves": k, "stop_reason": "fixed_waves"}
            samp = {**base, "ctas_simulated": n_s, "waves_simulated": n_s / wave, **extra, **ex}
            cycles = round(ex["cycles"])
            scale = total / n_s
    else:
        cycles, counters = runner(progress)
    res = _kernel_result(call, got["run"], cycles, counters, got["insts"], scale, samp, got["streamed"], t1 - t0,
                         time.perf_counter() - t1)
    named = name_counters(counters)
    res["speed_of_light"] = speed_of_light(named, samp["cycles_simulated"] if samp else cycles, cfg)
    stalls = {r: named[f"stall_{r}"] for r, _ in REASONS}
    res["bound"] = sol_bound(res["speed_of_light"], stalls)
    return res


def _kernel_result(call: K.KernelCall, run: assemble.SmRun, cycles, counters, warp_insts: int, scale: float, samp,
                   streamed: bool, walk_s: float, sim_s: float) -> dict:
    n = name_counters(counters)
    l2r = n["l2_read_sectors"]
    return {"kernel": call.name, "grid": list(call.launch.grid), "block": list(call.launch.block),
            "cycles": int(cycles), "warp_instructions": round(warp_insts * scale),
            "dram_bytes": round((n["dram_bytes_read"] + n["dram_bytes_written"]) * scale),
            "l2_hit_rate": n["l2_read_sector_hits"] / l2r if l2r else 0.0,
            "ctas_per_sm": run.occupancy.ctas_per_sm, "occupancy_limiter": run.occupancy.limiter,
            "sampling": samp, "streamed": streamed,
            "walk_seconds": walk_s, "simulate_seconds": sim_s}


def resolve(model: str | ModelSpec, step: str | Step, gpu: str | GPUConfig,
            overrides: list[str] | tuple[str, ...] = ()) -> tuple[ModelSpec, Step, GPUConfig]:
    """Model, step and config from names / strings / files (step: the grammar or a YAML file)."""
    m, st = load_model_step(model, step)
    cfg = gpu if isinstance(gpu, GPUConfig) else load_config(gpu, list(overrides))
    return m, st, cfg


def simulate_step(model: str | ModelSpec, step: str | Step, gpu: str | GPUConfig, *, tp: int = 1,
                  dedup: bool = True, cuda_graph: bool = False, overrides: list[str] | tuple[str, ...] = (),
                  progress: bool = False, sample: int | None = None, sample_error: float | None = None, graph: OperatorGraph | None = None,
                  check_memory: bool = False, kernel_cache=None, dp: int = 1) -> dict:
    """Simulate one serving step; returns the report dict.  Keys: ``step_seconds`` (kernels + launch
    overheads), ``kernel_seconds``, ``launch_seconds``, ``launches``, ``tokens_per_second`` (new
    tokens computed per second), ``output_tokens_per_second`` (sequences that sample a token, per
    second), ``operators`` (per operator: name, kind, count, launches, kernels, cycles = simulated
    cycles of all ``count`` executions, cycles_per_execution, seconds = cycles at the clock, flops,
    bytes (graph minimum), dram_bytes (simulated), flops_per_s, bytes_per_s, dram_bytes_per_s,
    tensor_utilisation, dram_utilisation, speed_of_light (% of peak per unit, gpusim.stats.sol: the
    kernels' issue/lsu/shared/l1/l2/dram weighted by their cycles, tensor from the operator's FLOPs),
    bound (compute / memory / latency / network from the busiest unit; latency when every unit is
    below 60%), bound_unit (that unit), sampled, relative_error), ``not_simulated``,
    ``distinct_kernels_simulated``, ``sampling``, ``wall_seconds``, ``peak_rss_bytes``.

    ``dp``: data-parallel GPUs of a ``train:`` step (the gradient all-reduce and ZeRO-1's sharding;
    :mod:`gpusim.llm.train`, whose figures the report's ``training`` section holds); other steps refuse dp > 1.

    ``graph``: simulate this operator graph instead of building one from ``model`` and ``step`` (which
    are then ignored): :func:`gpusim.llm.op.op_graph` makes the one-operator graph of ``--op``.

    ``memory_footprint`` (weights as stored + KV cache, :func:`memory_footprint`) is reported with
    ``fits``; ``check_memory`` (``gpusim llm`` sets it) refuses a step that does not fit ``memory.dram_size``
    (the serving step-time grid simulates steps beyond it on purpose, to interpolate).

    ``sample`` = k / ``sample_error`` = E: CTA-wave sampling of every kernel with more than warm-up + k +
    drain waves (:func:`simulate_kernel`; E: adaptive, to a target relative error per kernel); each
    such kernel has its ``sampling`` record, its operator ``sampled`` and ``relative_error``, and
    ``report["sampling"]`` sums it up (``relative_error`` of the step: the kernels' absolute error
    bounds added, over the step cycles).  None / 0 (default): every CTA is simulated and
    ``report["sampling"]`` is None.

    ``kernel_cache`` (with ``dedup``): an object with ``get(key)`` and ``put(key, result)`` that carries
    the deduplication across steps: a launch whose :func:`_key` (kernel, grid, scalar arguments) it
    holds is not simulated but takes that result (simulated at the kernel's first occurrence in an
    earlier step, i.e. after that step's preceding kernels, with their L2 state), and every kernel
    simulated here is put into it.  The caller keys it by what the key leaves out (the resolved
    config, ``sample`` and the timing model's version: :mod:`gpusim.serve.steptime`).
    ``distinct_kernels_reused`` counts the kernels it supplied."""
    wall = time.perf_counter()
    k, e = check_sample(sample), check_sample_error(sample_error)
    k = SAMPLE_MIN_WAVES if e is not None and k is None else k
    if graph is None:
        m, st, cfg = resolve(model, step, gpu, overrides)
    else:   # one operator alone (gpusim.llm.op): its graph carries a stand-in model and step
        m, st = graph.model, graph.step
        cfg = gpu if isinstance(gpu, GPUConfig) else load_config(gpu, list(overrides))
    arch = K.arch_for_binary_version(cfg.compute_capability)
    if dp != 1 and (graph is not None or not st.train):
        raise GpusimError(f"llm: dp = {dp}: data parallelism applies to train: steps only")
    if graph is None and st.train:
        _check_train_kernels(m, cfg, arch)
    fp8 = graph is not None and any(o.weight_dtype == "fp8" for o in graph.operators)
    if fp8 and (arch != "sm_90a" or any(o.kind != OK.GEMM for o in graph.operators)):
        raise K.KernelError(f"op: no fp8 kernel for {arch} {graph.operators[0].kind} (gpusim's fp8 kernels are "
                            f"the Hopper wgmma GEMMs: sm_90a, gemm only)")
    check_model(m, ("fp8",) if fp8 else (),
                any_head_dim=graph is not None and all(o.kind == OK.ATTENTION and o.shape["phase"] == "prefill"
                                                       for o in graph.operators), arch=arch)
    if graph is not None:
        g = graph
    elif st.train:
        from gpusim.llm.train import build_train_graph

        g = build_train_graph(m, st, tp, dp)
    else:
        g = build_graph(m, st, tp)
    if graph is None and st.train:
        from gpusim.llm.train import train_memory_footprint

        footprint = train_memory_footprint(g, m, st, tp, dp, cfg.memory.dram_size_bytes or 0)
    else:
        footprint = memory_footprint(m, st, tp, cfg, strict=check_memory) if graph is None else None
    device = GS.Device.from_config(cfg, arch)
    launches, skipped = schedule(g, arch, dedup, device)
    clock = cfg.sm.clock_hz
    # fp8 wgmma runs at twice the fp16 rate in the timing model (operand width; gpusim/isa/semantics.py)
    peak_f = tensor_peak_flops(cfg, arch) * (2 if fp8 else 1)
    peak_b = cfg.memory.dram_bandwidth_bytes_per_s
    if cuda_graph:
        ps = cfg.launch.graph_kernel_launch_latency_ps
        per_launch = units.time_to_cycles(ps, clock)
        launch_src = (f"CUDA graph: launch.graph_kernel_launch_latency of the config ({units.format_time(ps)} "
                      f"= {per_launch} cycles per kernel)")
    else:
        per_launch = cfg.launch.kernel_launch_latency_cycles
        launch_src = "stream launches: launch.kernel_launch_latency of the config"
    memsys = assemble.MemSystem(cfg)
    cache: dict[tuple, dict] = {}
    per_op: dict[str, dict] = {}
    bar, est = _progress_bar(launches, cfg, k, dedup) if progress and launches else (None, {})
    sim_insts = 0
    sim_wall = 0.0
    samp_launches = 0
    samp_kernels: set = set()
    samp_sim_cycles = 0.0
    samp_cycles = 0
    reused = 0
    for i, ln in enumerate(launches):
        key = _key(ln.call) if dedup else ("#", i)
        r = cache.get(key)
        if r is None and dedup and kernel_cache is not None:
            r = kernel_cache.get(key)
            if r is not None:
                cache[key] = r
                reused += 1
        fresh = r is None
        if fresh:
            if bar is not None:
                bar.set_description_str(f"{ln.op.name} ({ln.call.name}, {ln.call.launch.num_ctas} CTAs)")
                bar.set_postfix_str("walking the listing")
                base, share = bar.n, est.get(key, 0)

                def _prog(cycle, done, total, _b=bar, _base=base, _share=share):
                    _b.n = _base + (_share * done // total if total else 0)
                    _b.set_postfix_str(f"CTAs {done}/{total}, {cycle:,} cyc")
            else:
                _prog = None
            r = simulate_kernel(cfg, ln.call, memsys, _prog, sample=k, sample_error=e)
            sim_wall += r["walk_seconds"] + r["simulate_seconds"]
            sm = r.get("sampling")
            sim_insts += round(r.get("warp_instructions", 0) * (sm["ctas_simulated"] / sm["ctas_total"] if sm else 1.0))
            if bar is not None:
                bar.n = base + share
            cache[key] = r
            if dedup and kernel_cache is not None:
                kernel_cache.put(key, r)
        d = per_op.setdefault(ln.op.name, {"op": ln.op, "kernels": {}, "cycles": 0, "dram_bytes": 0, "launches": 0,
                                           "error_cycles": 0.0, "sampled": False, "gemm": ln.gemm})
        kd = d["kernels"].setdefault(ln.call.name, {**{k: v for k, v in r.items() if k not in ("walk_seconds", "simulate_seconds")},
                                                   "launches": 0, "simulated": 0, "cycles_total": 0})
        kd["launches"] += ln.times
        kd["simulated"] += int(fresh)
        kd["cycles_total"] += r["cycles"] * ln.times
        d["cycles"] += r["cycles"] * ln.times
        d["dram_bytes"] += r["dram_bytes"] * ln.times
        d["launches"] += ln.times
        if r["sampling"] is not None:
            d["sampled"] = True
            d["error_cycles"] += r["sampling"]["absolute_error_cycles"] * ln.times
            samp_launches += ln.times
            samp_kernels.add(key)
            samp_sim_cycles += r["sampling"]["cycles_simulated"] * ln.times
            samp_cycles += r["cycles"] * ln.times
        if bar is not None:
            bar.refresh()
    if bar is not None:
        bar.close()
    from gpusim.llm.estimate import record_speed

    record_speed(sim_insts, sim_wall)
    per_op.update(_collective_entries(skipped, cfg, tp))
    skipped = [op for op in skipped if op.kind not in COLLECTIVES]
    ops_out = []
    kernel_cycles = 0
    err_cycles = 0.0
    n_launch = 0
    for op in g.operators:
        d = per_op.get(op.name)
        if d is None:
            continue
        cyc = d["cycles"]
        ops_out.append(_operator_entry(op, d, clock, peak_f, peak_b))
        kernel_cycles += cyc
        err_cycles += d["error_cycles"]
        n_launch += d["launches"]
    launch_cycles = n_launch * per_launch
    step_s = (kernel_cycles + launch_cycles) / clock
    rep = {
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
                           "reason": _backend(st, graph).reason(o.kind) or NOT_SIMULATED_REASONS[None]}
                          for o in skipped],
        "distinct_kernels_simulated": len(cache) - reused, "distinct_kernels_reused": reused,
        "sampling": None if k is None else _sampling_summary(k, e, len(samp_kernels), samp_launches,
                                                             samp_cycles - samp_sim_cycles, err_cycles,
                                                             kernel_cycles + launch_cycles),
        "weight_dtype": m.weight_dtype, "memory_footprint": footprint,
        "wall_seconds": time.perf_counter() - wall, "simulation_wall_seconds": sim_wall,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if graph is None and st.train:
        from gpusim.llm.train import phase_of, training_summary

        for o in rep["operators"]:
            o["phase"] = phase_of(o["name"])
        rep["dp"] = dp
        rep["training"] = training_summary(rep, m, st, tp, dp)
    return rep


def _backend(st: Step, graph: OperatorGraph | None):
    """The registry backend whose handlers ran the step's operators (gpusim.ops.registry)."""
    if graph is None and st.train:
        from gpusim.llm.train import GPU_TRAIN

        return GPU_TRAIN
    from gpusim.llm.launch import GPU

    return GPU


def _check_train_kernels(m: ModelSpec, cfg: GPUConfig, arch: str) -> None:
    """A training step needs the FlashAttention-2 backward for the model's head dim on this architecture."""
    if arch not in K.TRAIN_ARCHS or K.FA2_BWD.get((arch, m.head_dim)) is None:
        built = sorted(d for a, d in K.FA2_BWD if a == arch)
        raise K.KernelError(f"llm: train step of {m.name} on {cfg.name} ({arch}, head_dim {m.head_dim}): no backward "
                            f"path -- the FlashAttention-2 backward and training kernels are built for "
                            f"{', '.join(K.TRAIN_ARCHS)} with head dims {', '.join(map(str, sorted({d for _, d in K.FA2_BWD})))}"
                            f" (on {arch}: {', '.join(map(str, built)) or 'none'})")


def _collective_entries(ops, cfg: GPUConfig, tp: int) -> dict[str, dict]:
    """Collectives take the config's interconnect time (NCCL bus bandwidth + latency), per operator."""
    lat_s = cfg.interconnect.collective_latency_ps * 1e-12
    bus = cfg.interconnect.bus_bandwidth_bytes_per_s
    out = {}
    for op in ops:
        if op.kind in COLLECTIVES:
            sec = collective_seconds(op.kind, op.shape["bytes"], op.shape.get("gpus", tp), bus, lat_s)
            out[op.name] = {"op": op, "kernels": {}, "cycles": round(sec * cfg.sm.clock_hz) * op.count, "dram_bytes": 0,
                            "launches": op.count, "error_cycles": 0.0, "sampled": False, "collective": True}
    return out


def _sampling_summary(k: int, e: float | None, kernels: int, launches: int, extrapolated: float, err_cycles: float,
                      step_cycles: float) -> dict:
    """The step report's ``sampling`` record: what CTA-wave sampling did and the step's error bound
    (``measured_waves``: k, with ``target_error`` E the fewest measured waves)."""
    return {
        "measured_waves": k, "warmup_waves": SAMPLE_WARMUP_WAVES, "drain_waves": SAMPLE_DRAIN_WAVES,
        "target_error": e,
        "distinct_kernels_sampled": kernels, "launches_sampled": launches,
        "extrapolated_cycles": extrapolated,
        "absolute_error_cycles": err_cycles,
        "relative_error": err_cycles / step_cycles if step_cycles else 0.0,
        "method": "kernels with more CTA waves than warm-up + measured + drain simulate a prefix of their CTAs "
                  "(warm-up + k measured waves, or with target_error as many waves as the adaptive rule needs, "
                  "then the kernel's own tail: the rest is whole waves) and extrapolate the rest at the cycles per "
                  "wave of the last half of the measured waves; the error bound per extrapolated wave is the larger "
                  "of the Student-t 95% half-width of that mean (plus timing resolution and DRAM refresh) and the gap "
                  "to the first half (gpusim.llm.run.wave_extrapolation, gpusim.llm.sampling)"}


def _progress_bar(launches, cfg: GPUConfig, k: int | None, dedup: bool):
    """Say how long before starting (:mod:`gpusim.llm.estimate`) and return a progress bar counting warp
    instructions (so the ETA follows the work) with each distinct kernel's estimated share."""
    from tqdm import tqdm

    from gpusim.llm import estimate as E

    work = E.plan(launches, cfg, k, dedup)
    msg = E.notice(work, E.measured_speed())
    if msg:
        print(msg, file=sys.stderr, flush=True)
    bar = tqdm(total=work.warp_instructions, unit="warp-inst", unit_scale=True, file=sys.stderr,
               dynamic_ncols=True, leave=False)
    return bar, {kw.key: kw.warp_instructions for kw in work.kernels}


def _operator_entry(op, d: dict, clock: float, peak_f: float, peak_b: float) -> dict:
    """The report entry of one operator from its accumulated kernels ``d`` (cycles of all executions)."""
    cyc = d["cycles"]
    sec = cyc / clock
    fl, by, db = op.flops * op.count, op.bytes * op.count, d["dram_bytes"]
    fps, bps, dps = (fl / sec, by / sec, db / sec) if sec else (0.0, 0.0, 0.0)
    sol = _operator_sol(d, fl, sec, peak_f)
    cls, unit = ("network", "network") if d.get("collective") else split_bound(sol_bound(sol))
    return {"name": op.name, "kind": op.kind, "count": op.count, "shape": op.shape.as_dict(),
            "speed_of_light": sol, "bound_unit": unit,
            **_kernel_fields(d),
            "launches": d["launches"], "kernels": list(d["kernels"].values()),
            "cycles": cyc, "cycles_per_execution": cyc / op.count, "seconds": sec,
            "flops": fl, "bytes": by, "dram_bytes": db, "flops_per_s": fps, "bytes_per_s": bps,
            "dram_bytes_per_s": dps, "tensor_utilisation": fps / peak_f if peak_f else 0.0,
            "dram_utilisation": dps / peak_b if peak_b else 0.0,
            "bound": cls,
            "sampled": d["sampled"], "relative_error": d["error_cycles"] / cyc if cyc else 0.0}


def _operator_sol(d: dict, flops: float, seconds: float, peak_flops: float) -> dict[str, float]:
    """Speed of Light of an operator: its kernels' SOL weighted by their cycles (every launch), and
    the tensor SOL from the operator's FLOPs over its time (gpusim.stats.sol)."""
    tot = sum(k["cycles_total"] for k in d["kernels"].values())
    out: dict[str, float] = {}
    if tot:
        for k in d["kernels"].values():
            for u, v in k.get("speed_of_light", {}).items():
                out[u] = out.get(u, 0.0) + v * k["cycles_total"] / tot
    if seconds and peak_flops:
        out["tensor"] = 100.0 * flops / seconds / peak_flops
    return {u: round(v, 2) for u, v in out.items()}


def _kernel_fields(d: dict) -> dict:
    """``kernel`` (the operator's main kernel), ``tile`` (its CTA tile BMxBNxBK, GEMMs only) and, where
    the GEMM selector chose it, ``gemm_choice`` (tile, stages, warps, split-K, waves)."""
    ch = d.get("gemm")
    if ch is not None:
        return {"kernel": ch.kernel, "tile": ch.tile, "gemm_choice": ch.as_dict()}
    names = list(d["kernels"])
    if not names:
        return {"kernel": None, "tile": None}
    t = K.kernel_specs().get(names[0], {}).get("tile", {})
    tile = f"{t['BM']}x{t['BN']}x{t['BK']}" if {"BM", "BN", "BK"} <= set(t) else (
        f"{t['BLOCK_M']}x{t['BLOCK_N']}" if names[0].startswith("fa3_fwd") else None)
    return {"kernel": names[0], "tile": tile}


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
                     f"{o['bound']}" + (f" ({o['bound_unit']} {o['speed_of_light'][o['bound_unit']]:.0f}%)"
                                        if o.get("bound_unit") in o.get("speed_of_light", {}) else "")
                     + (f"  [{o['kernel']}" + (f", split-K {o['gemm_choice']['splits']}"
                                             if o.get("gemm_choice", {}).get("splits", 1) > 1 else "")
                        + (", stream-K" if "streamk" in o.get("gemm_choice", {}) else "")
                        + "]" if o.get("tile") else "")
                     + (f"  (sampled, +/-{o['relative_error']:.1%})" if o.get("sampled") else ""))
    for s in rep["not_simulated"]:
        lines.append(f"  {s['name']:<{w}} {s['count']:>5}  not simulated ({s['reason'].split(':')[0].split(';')[0]})")
    lines.append(f"step: {rep['step_seconds'] * 1e3:.4g} ms = kernels {rep['kernel_seconds'] * 1e3:.4g} ms + "
                 f"{rep['launches']} launches {rep['launch_seconds'] * 1e3:.4g} ms "
                 f"({'CUDA graph' if rep['cuda_graph'] else 'stream'})")
    if not rep.get("op"):   # one operator alone (--op) has no tokens of its own
        lines.append(f"tokens/s: {rep['tokens_per_second']:,.1f} computed ({rep['tokens']} per step), "
                     f"{rep['output_tokens_per_second']:,.1f} sampled ({rep['sampled_tokens']} per step)")
    if rep.get("training"):
        from gpusim.llm.train import training_lines

        lines += training_lines(rep["training"])
    sp = rep.get("sampling")
    if sp is not None:
        how = (f"target error {sp['target_error']:.2%}, at least {sp['measured_waves']} measured waves"
               if sp.get("target_error") else
               f"{sp['warmup_waves']} warm-up + {sp['measured_waves']} measured waves + the kernel's tail")
        lines.append(f"CTA-wave sampling ({how}): {sp['distinct_kernels_sampled']} distinct kernels "
                     f"({sp['launches_sampled']} launches) extrapolated, step error bound "
                     f"+/-{sp['relative_error']:.2%}")
        seen = set()
        for o in rep["operators"]:
            for k in o.get("kernels", []):
                sk = k.get("sampling")
                if not sk or k["kernel"] in seen:
                    continue
                seen.add(k["kernel"])
                lines.append(f"  {k['kernel']}: {sk['waves_simulated']:.1f}/{sk['waves_total']} waves simulated, "
                             f"{sk['cycles_per_wave']:,.0f} +/- {sk['ci_half_width_cycles']:,.0f} cycles per wave "
                             f"(95% t), bound +/-{sk['relative_error']:.2%}, stopped: {sk['stop_reason']}"
                             + (f", {sk['drift_restarts']} drift restarts" if sk.get("drift_restarts") else "")
                             + (f", waited {sk['l2_fill_waits']} waves for the L2 to fill" if sk.get("l2_fill_waits") else ""))
    lines.append(f"simulated {rep['distinct_kernels_simulated']} distinct kernels in {rep['wall_seconds']:.1f} s "
                 f"(peak memory {rep['peak_rss_bytes'] / 2**30:.2f} GiB)")
    return lines

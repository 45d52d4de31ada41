"""Speed of Light: how close a kernel came to the peak of each unit, as Nsight Compute's SOL section.

Each entry is the achieved rate over the peak rate of the *modelled* machine (the config), in
percent, over the kernel's cycles on all SMs:

=============  ==================================================================  ===============================
entry          achieved / peak                                                     peak from
=============  ==================================================================  ===============================
``issue``      warp instructions / (SMs x sub-cores) per cycle                     one issue per sub-core per cycle
``tensor``     FLOPs of the tensor instructions / the dense tensor peak             the caller (LLM operators); else
               (only when the caller knows the FLOPs)                              left out
``lsu``        memory instructions entering the SM-shared unit / (SMs / interval)   ``memory.sm_dispatch_interval``
``shared``     shared-memory wavefronts (replays included) / SMs per cycle          one 128-byte wavefront per cycle
``l1``         (L1 load + store sectors) x 32 B / (SMs x ``memory.l1_bytes_per_cycle``)
``l2``         (L2 read + write + atomic sectors) x 32 B / (``l2_slices`` x ``l2_slice_bytes_per_cycle``)
``dram``       DRAM bytes read + written / ``memory.dram_bandwidth`` per cycle
=============  ==================================================================  ===============================

:func:`bound` names the unit with the highest SOL, as Nsight Compute's "the busiest unit" reading:
``memory`` units (lsu, shared, l1, l2, dram) and ``compute`` units (issue, tensor) by name.  When
no unit reaches :data:`LATENCY_SOL_PCT` the kernel is ``latency``-bound (Nsight Compute's guidance:
neither compute nor memory near its peak, so the stall reasons say why), and the top stall reason is
given beside it.
"""

from __future__ import annotations

#: below this SOL (percent) on every unit a kernel is called latency-bound.  Nsight Compute's
#: "GPU Speed Of Light Throughput" rule flags a kernel as under-utilising compute and memory when
#: both are below 60% of peak (NVIDIA Nsight Compute Kernel Profiling Guide, "Speed of Light"
#: rule); the same 60% is this project's BOUND_FRACTION for LLM operators.
LATENCY_SOL_PCT = 60.0

MEMORY_UNITS = ("lsu", "shared", "l1", "l2", "dram")
COMPUTE_UNITS = ("issue", "tensor")


def speed_of_light(named: dict, cycles: int, cfg, tensor_flops: float | None = None,
                   tensor_peak_flops_per_s: float | None = None) -> dict[str, float]:
    """Percent of peak per unit (module table) from the named counters of one kernel (or the sum of
    several, with ``cycles`` their total)."""
    if cycles <= 0:
        return {}
    sm = cfg.sm
    mem = cfg.memory
    sms = sm.count
    sector = mem.sector_size_bytes
    out = {
        "issue": named["warp_instructions"] / (cycles * sms * sm.subcores),
        "lsu": named["memory_instructions"] * mem.sm_dispatch_interval_cycles / (cycles * sms),
        "shared": named["shared_wavefronts"] / (cycles * sms),
        "l1": (named["l1_load_sectors"] + named["l1_store_sectors"]) * sector / (cycles * sms * mem.l1_bytes_per_cycle),
        "l2": (named["l2_read_sectors"] + named["l2_write_sectors"] + named["l2_atomic_sectors"]) * sector
              / (cycles * mem.l2_slices * mem.l2_slice_bytes_per_cycle),
        "dram": (named["dram_bytes_read"] + named["dram_bytes_written"])
                / (cycles * mem.dram_bandwidth_bytes_per_s / sm.clock_hz),
    }
    if tensor_flops is not None and tensor_peak_flops_per_s:
        out["tensor"] = tensor_flops / (cycles / sm.clock_hz) / tensor_peak_flops_per_s
    return {k: round(100.0 * v, 2) for k, v in out.items()}


def bound(sol: dict[str, float], stalls: dict[str, int] | None = None) -> str:
    """The unit with the highest SOL (``"memory:dram"``, ``"compute:tensor"``, ...), or
    ``"latency"`` (with the top stall reason: ``"latency (long_scoreboard)"``) when every unit is
    below :data:`LATENCY_SOL_PCT`."""
    if not sol:
        return "latency"
    unit = max(sol, key=lambda k: (sol[k], k))
    if sol[unit] < LATENCY_SOL_PCT:
        top = None
        if stalls:
            cand = {k: v for k, v in stalls.items() if k not in ("selected", "not_selected") and v > 0}
            top = max(cand, key=lambda k: (cand[k], k)) if cand else None
        return f"latency ({top})" if top else "latency"
    return f"{'memory' if unit in MEMORY_UNITS else 'compute'}:{unit}"


def split_bound(label: str) -> tuple[str, str]:
    """A :func:`bound` label as (class, unit): ``"memory:dram"`` -> ("memory", "dram"),
    ``"latency (barrier)"`` -> ("latency", "latency")."""
    if ":" in label:
        cls, unit = label.split(":", 1)
        return cls, unit
    return "latency", "latency"

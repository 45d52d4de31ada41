"""How many CTAs an SM holds (occupancy, with the limiter named for the report), the core's epoch
length and a launch's cluster size: the launch-shape facts that packing needs before any array."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpusim.config.specs import GPUConfig
from gpusim.errors import GpusimError
from gpusim.frontend.reader import KernelTrace

#: Longest epoch of the core (cycles); an epoch's cycles are one bit each of an int64 mask.
MAX_EPOCH_CYCLES = 60


def epoch_cycles(cfg: GPUConfig) -> int:
    """Cycles per epoch of the core (``gpusim.core.sm.run_sm``): the shortest time from the issue of a
    global access to the release of its result, so that no result is due in the epoch that issued it.

    The access enters the SM-shared unit ``read_delay + address_cycles`` after issue at the earliest;
    its data returns at least ``min(a1, h)`` later (``load_regular_address_extra`` earlier with a uniform address) (an L1 hit, or a store's trip to its L2 slice; see
    ``gpusim.core.memsys``); an LDGSTS may complete ``ldgsts - l1_hit`` before or after that; its
    release is visible one cycle after write-back.  A TMA copy bypasses the L1 (at least the L2 hit
    latency, then ``tma_extra_latency``), so the mbarrier phase it completes, visible when its data
    lands, is later still.  Capped at ``MAX_EPOCH_CYCLES``."""
    mem = cfg.memory
    path = mem.read_delay_cycles + mem.address_cycles_regular + 1
    a1 = mem.l1_hit_latency_cycles - path
    h = (mem.l2_hit_latency_cycles - mem.l1_hit_latency_cycles) // 2
    e = (mem.read_delay_cycles + min(mem.address_cycles_uniform, mem.address_cycles_regular) + min(a1, h)
         + min(0, mem.ldgsts_latency_cycles - mem.l1_hit_latency_cycles) + 1 - mem.load_regular_address_extra_cycles)
    return max(1, min(MAX_EPOCH_CYCLES, e))


@dataclass(frozen=True)
class Occupancy:
    ctas_per_sm: int
    limiter: str
    warps_per_cta: int
    registers_per_cta: int
    shared_bytes_per_cta: int
    limits: dict


def occupancy(cfg: GPUConfig, kt: KernelTrace) -> Occupancy:
    """Resident CTAs per SM for this kernel (CUDA occupancy-calculator rules, granularities from the config)."""
    sm = cfg.sm
    h = kt.header
    threads = h.threads_per_cta
    wpc = h.warps_per_cta
    if h.nregs > sm.max_registers_per_thread:
        raise GpusimError(f"{kt.path}: kernel uses {h.nregs} registers per thread; the GPU allows {sm.max_registers_per_thread}")
    g = sm.register_alloc_granularity
    regs_per_warp = -(-max(h.nregs, 1) * 32 // g) * g
    regs_per_cta = regs_per_warp * wpc
    sg = sm.shared_alloc_granularity_bytes
    smem = h.shmem_bytes + sm.reserved_shared_memory_per_cta_bytes
    smem_per_cta = -(-smem // sg) * sg if smem else 0
    limits = {
        "ctas": sm.max_ctas,
        "warps": sm.max_warps // wpc,
        "threads": sm.max_threads // threads,
        "registers": sm.registers // regs_per_cta,
        "shared_memory": sm.shared_memory_bytes // smem_per_cta if smem_per_cta else sm.max_ctas,
    }
    limiter = min(limits, key=lambda k: (limits[k], list(limits).index(k)))
    n = limits[limiter]
    if n <= 0:
        need = {"warps": f"{wpc} warps", "threads": f"{threads} threads", "registers": f"{regs_per_cta} registers",
                "shared_memory": f"{smem_per_cta} B of shared memory"}.get(limiter, limiter)
        raise GpusimError(f"{kt.path}: one CTA of '{h.name[:60]}' needs {need}, more than an SM of {cfg.name} holds")
    return Occupancy(n, limiter, wpc, regs_per_cta, smem_per_cta, limits)


def cluster_size(kt: KernelTrace) -> int:
    """CTAs per thread-block cluster, from the trace header line ``-cluster dim = (x,y,z)`` (1 without one)."""
    v = kt.header.extra.get("cluster dim")
    if v is None:
        return 1
    try:
        dims = [int(x) for x in str(v).strip().strip("()").split(",")]
    except ValueError:
        raise GpusimError(f"{kt.path}: bad '-cluster dim = {v}' (expected (x,y,z))") from None
    if not dims or any(d < 1 for d in dims):
        raise GpusimError(f"{kt.path}: bad '-cluster dim = {v}' (each dimension >= 1)")
    return int(np.prod(dims))



"""The one module that knows both sides: packs a GPUConfig and a KernelTrace into core arrays.

Single responsibility: dataclasses and string mnemonics in, integer numpy arrays out
(``KernelArrays``), so that the Numba core never sees a dataclass or a string.
Occupancy (CTAs per SM) is computed here, with the limiter named for the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpusim.config.specs import PIPE_NAMES, GPUConfig
from gpusim.core import firstorder as fo
from gpusim.core.layout import Counter, MemKind, MemSpace, Param, Unit
from gpusim.errors import GpusimError
from gpusim.frontend.opcodes import load_opcode_table, mma_formula_bits, mma_shape
from gpusim.frontend.reader import KernelTrace

#: Issue-to-dependent-issue distance of a fixed-latency instruction = pipe latency + this.
#: The pipe latencies of the released A6000 model count the execution stage after operand
#: read (FP32 2, HALF 3; modern-gpu-cores.md §5 table), while the measured dependent
#: distances are FFMA/FADD/FMUL 4 and HADD2 5 cycles (same section): both differ by 2.
FIXED_LATENCY_READ_OFFSET = 2

#: cycles simulated before the watchdog stops a kernel (a hang in the model, not in the input)
DEFAULT_MAX_CYCLES = 2_000_000_000


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


@dataclass
class KernelArrays:
    params: np.ndarray
    st_unit: np.ndarray
    st_lat: np.ndarray
    st_ii: np.ndarray
    st_dst: np.ndarray
    st_src: np.ndarray
    st_flags: np.ndarray
    inst_sectors: np.ndarray
    occupancy: Occupancy


def _pipe(cfg: GPUConfig, u: int):
    return getattr(cfg.pipes, PIPE_NAMES[u])


def pack(cfg: GPUConfig, kt: KernelTrace, *, idle_skip: bool = True, max_cycles: int = DEFAULT_MAX_CYCLES) -> KernelArrays:
    """Build the core's arrays for one kernel on one GPU config."""
    assert kt.st_op is not None, "intern_opcodes() first"
    table = load_opcode_table(kt.isa_family)
    occ = occupancy(cfg, kt)
    ops = kt.st_op
    unit = table.unit[ops].astype(np.int8)
    space = table.mem_space[ops]
    kind = table.mem_kind[ops]
    override = table.latency[ops]
    n = ops.size
    lat = np.empty(n, np.int32)
    ii = np.empty(n, np.int32)
    mem = cfg.memory
    for i in range(n):
        u = int(unit[i])
        pipe = _pipe(cfg, u)
        ii[i] = pipe.initiation_interval_cycles
        if override[i] >= 0:
            lat[i] = int(override[i])
        else:
            lat[i] = pipe.latency_cycles + FIXED_LATENCY_READ_OFFSET
        if u == Unit.MEM:
            sp = int(space[i])
            if sp == MemSpace.SHARED:
                lat[i] = mem.shared_latency_cycles
            elif sp == MemSpace.CONST:
                lat[i] = mem.const_latency_cycles
            elif sp != MemSpace.NONE:
                lat[i] = mem.dram_latency_cycles
        elif u == Unit.TENSOR:
            shape = mma_shape(kt.st_opcode[i])
            if shape is not None:
                m_, n_, k_ = shape.m, shape.n, shape.k
                bits = mma_formula_bits(kt.st_opcode[i])  # the released formula's b (modern-gpu-cores.md §5)
                cyc = max(1, (m_ * n_ * k_ * bits) // cfg.pipes.tensor_rate_per_cycle)
                extra = cfg.pipes.tensor_f32_extra_cycles if bits == 32 and (m_, n_, k_) in ((16, 8, 16), (16, 8, 8)) else 0
                ii[i] = max(1, cyc // 2) + extra
                lat[i] = cyc - cyc // 2 + extra + FIXED_LATENCY_READ_OFFSET
    flags = np.zeros(n, np.uint8)
    flags[unit == Unit.BRANCH] |= 0  # EXIT is identified by name below
    exit_id = table.id_of("EXIT")
    bar_id = table.id_of("BAR")
    flags[ops == exit_id] |= fo.F_EXIT
    if bar_id >= 0:
        is_bar = ops == bar_id
        # BAR.SYNC / BAR.SYNC.DEFER_BLOCKING / plain BAR (Pascal) block; BAR.ARV / BAR.RED.* with ARV do not
        for i in np.flatnonzero(is_bar):
            mods = kt.st_opcode[i].split(".")[1:]
            if "ARV" not in mods:
                flags[i] |= fo.F_BARRIER
    glob = (unit == Unit.MEM) & np.isin(space, [MemSpace.GLOBAL, MemSpace.LOCAL, MemSpace.GENERIC, MemSpace.TEXTURE]) \
        & (kind != MemKind.FENCE)
    flags[glob] |= fo.F_GLOBAL
    flags[(unit == Unit.MEM) & (space == MemSpace.SHARED)] |= fo.F_SHARED
    width = kt.st_mem_width.astype(np.int32)
    sectors = fo.count_sectors(kt.inst_static, kt.inst_mask, kt.inst_mem, width, kt.mem_mode, kt.mem_base,
                               kt.mem_stride, kt.mem_ptr, kt.lane_off, mem.sector_size_bytes)
    p = np.zeros(Param.SIZE, np.int64)
    p[Param.NUM_SM] = cfg.sm.count
    p[Param.SUBCORES] = cfg.sm.subcores
    p[Param.CTAS_PER_SM] = occ.ctas_per_sm
    p[Param.WARPS_PER_CTA] = occ.warps_per_cta
    p[Param.POLICY] = int(cfg.subcore.issue_policy)
    p[Param.MAX_CYCLES] = max_cycles
    p[Param.DRAM_MILLIBYTES_PER_CYCLE] = int(round(mem.dram_bandwidth_bytes_per_s * 1000 / cfg.sm.clock_hz))
    p[Param.SECTOR_BYTES] = mem.sector_size_bytes
    p[Param.IDLE_SKIP] = int(idle_skip)
    p[Param.NUM_UNITS] = len(Unit)
    return KernelArrays(p, unit, lat, ii, kt.st_dst.astype(np.int16), kt.st_src.astype(np.int16), flags, sectors, occ)


def run(arrays: KernelArrays, kt: KernelTrace) -> tuple[int, int, np.ndarray]:
    """Run the core on one kernel; returns (status, cycles, counters)."""
    counters = np.zeros(Counter.SIZE, np.int64)
    status, cycles = fo.run_kernel(arrays.params, arrays.st_unit, arrays.st_lat, arrays.st_ii, arrays.st_dst,
                                   arrays.st_src, arrays.st_flags, kt.cta_warp_ptr, kt.warp_inst_ptr, kt.inst_static,
                                   kt.inst_mask, arrays.inst_sectors, counters)
    return int(status), int(cycles), counters

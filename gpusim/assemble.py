"""The one module that knows both sides: packs a GPUConfig, a KernelTrace and (optionally) the
SASS listing of the kernel into the integer arrays of the Numba SM model (``gpusim.core.sm``).

Single responsibility: dataclasses and strings in, typed numpy arrays out.  Occupancy (CTAs
per SM) is computed here, with the limiter named for the report; control bits are joined by PC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from gpusim.config.specs import PIPE_NAMES, DependenceMode, GPUConfig, ReplacementPolicy
from gpusim.core import memsys as msys
from gpusim.core import sm as core
from gpusim.core.coalesce import _lane_addr as lane_address
from gpusim.core.coalesce import coalesce
from gpusim.core.layout import MemKind, MemSpace, Unit
from gpusim.core.state import CoreState, Kernel, MemState, new_state
from gpusim.errors import GpusimError, SassError
from gpusim.frontend.opcodes import (base_opcode, bypasses_l1, load_opcode_table, mma_formula_bits, mma_operand_bits,
                                     mma_shape)
from gpusim.frontend.reader import KernelTrace

#: Scoreboard mode: issue-to-dependent-issue distance of a fixed-latency producer = pipe latency
#: + this.  The released A6000 pipe latencies count the execution stage after operand read
#: (FP32 2, HALF 3; modern-gpu-cores.md §5 table) while the measured dependent distances are
#: FFMA/FADD/FMUL 4 and HADD2 5 cycles (same section): both differ by 2.
FIXED_LATENCY_READ_OFFSET = 2

#: Cycles per call of the core between progress updates.
CHUNK_CYCLES = 200_000

#: Watchdog: a kernel still running after this many cycles is reported as a model deadlock.
MAX_CYCLES = 10**11

#: Longest epoch of the core (cycles); an epoch's cycles are one bit each of an int64 mask.
MAX_EPOCH_CYCLES = 60


#: Core flags that follow from the base opcode alone (static_table).
_OPCODE_FLAGS = {"EXIT": core.F_EXIT, "IMAD": core.F_IMAD, "LDGDEPBAR": core.F_LDGDEPBAR, "DEPBAR": core.F_DEPBAR,
                 "UCGABAR_ARV": core.F_CGA_ARRIVE, "UCGABAR_WAIT": core.F_CGA_WAIT}


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


def _pipe(cfg: GPUConfig, u: int):
    return getattr(cfg.pipes, PIPE_NAMES[u])


def static_table(cfg: GPUConfig, kt: KernelTrace, listing_fn=None) -> tuple[np.ndarray, bool]:
    """The int32 per-static matrix of the core (columns ``core.S_*``) and whether control bits are used."""
    assert kt.st_op is not None, "intern_opcodes() first"
    mode = cfg.subcore.dependence_mode
    if mode == DependenceMode.CONTROL_BITS and listing_fn is None:
        raise SassError(f"{kt.path}: subcore.dependence_mode is control_bits but no SASS listing was found "
                        f"(give --sass FILE or put {kt.path.split('/')[-1].split('.')[0]}.sass beside the trace)")
    ctrl = listing_fn is not None and mode != DependenceMode.SCOREBOARD
    table = load_opcode_table(kt.isa_family)
    ops = kt.st_op
    n = ops.size
    st = np.zeros((n, core.S_NCOLS), np.int32)
    unit = table.unit[ops].astype(np.int32)
    space = table.mem_space[ops]
    kind = table.mem_kind[ops]
    variable = table.variable[ops].copy()
    mem = cfg.memory
    flags = np.zeros(n, np.int64)
    for i in range(n):
        u = int(unit[i])
        mn = kt.st_opcode[i]
        base = base_opcode(mn)
        mods = mn.split(".")[1:]
        pipe = _pipe(cfg, u)
        lat = pipe.latency_cycles
        ii = pipe.initiation_interval_cycles
        f = 0
        if u == Unit.MEM:
            variable[i] = True
            sp = int(space[i])
            kd = int(kind[i])
            if sp == MemSpace.SHARED:
                lat = mem.shared_latency_cycles
                f |= core.F_SHARED
            elif sp == MemSpace.CONST:
                lat = mem.const_latency_cycles
            elif sp in (MemSpace.GLOBAL, MemSpace.LOCAL, MemSpace.GENERIC, MemSpace.TEXTURE):
                lat = mem.l1_hit_latency_cycles  # the caches decide per access (gpusim.core.memsys)
                if kd != MemKind.FENCE:
                    f |= core.F_LONG
                if bypasses_l1(mn) or kd in (MemKind.ATOMIC, MemKind.REDUCTION):
                    f |= core.F_BYPASS_L1
                if kd in (MemKind.ATOMIC, MemKind.REDUCTION):
                    f |= core.F_ATOMIC
            else:
                lat = mem.shared_latency_cycles  # SHFL and other MIO ops without a memory space
            if kd in (MemKind.STORE, MemKind.ATOMIC, MemKind.REDUCTION):
                f |= core.F_STORE
            if kd in (MemKind.LOAD, MemKind.ATOMIC):
                f |= core.F_LOAD
            if kd == MemKind.ASYNC_COPY and base in TMA_LOADS:
                # TMA: global -> L2 -> shared memory (no L1 allocation), completion on an mbarrier
                f |= core.F_TMA | core.F_LOAD | core.F_BYPASS_L1
            elif kd == MemKind.ASYNC_COPY:
                f |= core.F_LDGSTS | core.F_LOAD
                if bypasses_l1(mn):
                    f |= core.F_BYPASS_L1
            if base == "SYNCS":
                if "ARRIVE" in mods:
                    f |= core.F_MBAR_ARRIVE
                    # .A1T0: arrive only; plain ARRIVE.TRANS64 Rd, [bar], Rtx: arrive.expect_tx
                    if not any(m.startswith("A") and "T" in m and m[1:].split("T")[-1] == "0" for m in mods[1:]):
                        f |= core.F_MBAR_EXPECT
                elif "PHASECHK" in mods:
                    f |= core.F_MBAR_WAIT
                elif "EXCH" in mods:
                    f |= core.F_MBAR_INIT
            # uniform (or immediate) address: no regular register among the address sources; the tracer
            # lists the address registers first, then a store's data register
            n_data = 1 if kd in (MemKind.STORE, MemKind.ATOMIC, MemKind.REDUCTION) else 0
            if kt.st_nsrc[i] <= n_data:
                f |= core.F_UNIFORM_ADDR
        elif u == Unit.TENSOR:
            shape = mma_shape(mn)
            warpgroup = base in WARPGROUP_MMA
            if warpgroup:
                f |= core.F_GMMA  # asynchronous: completion through gsb0 / WARPGROUP.DEPBAR (gpusim.core.sm)
            if shape is not None:
                bits = mma_formula_bits(mn)  # the released formula's b (modern-gpu-cores.md §5)
                rate = cfg.pipes.tensor_rate_per_cycle
                m_rows = shape.m
                if warpgroup:
                    # a warpgroup MMA: each of the 4 warps (one per sub-core) does a quarter of the rows
                    m_rows = max(1, shape.m // 4)
                    rate = cfg.pipes.warpgroup_tensor_rate_per_cycle or rate
                    # Hopper's wgmma rate follows the operand width, not the accumulator: dense
                    # FP16/BF16 989, FP8/INT8 1979, TF32 494.7 TFLOPS on the H100 SXM5 with either
                    # accumulator (NVIDIA H100 Tensor Core GPU Architecture whitepaper, Table 1;
                    # research/gpu_specs.csv FP16_tensor_dense_peak 989).  b = 2 x operand bits keeps
                    # the FP16 calibration (b = 32, HW032) and gives FP8 (QGMMA .E4M3/.E5M2) and
                    # IGMMA .S8 twice, TF32 half of it (configs/README.md, "Warpgroup MMA")
                    bits = 2 * (mma_operand_bits(mn) or 16)
                cyc = max(1, (m_rows * shape.n * shape.k * bits) // rate)
                extra = cfg.pipes.tensor_f32_extra_cycles if bits == 32 and (shape.m, shape.n, shape.k) in (
                    (16, 8, 16), (16, 8, 8)) else 0
                ii = max(1, cyc // 2) + extra
                lat = cyc - cyc // 2 + extra
                if not warpgroup and cfg.pipes.mma_latency_base_cycles:
                    # measured issue-to-dependent-issue latency of mma.sync (configs/README.md,
                    # pipes.mma_latency_base): base + M*N*K*a/rate with a the operand width
                    a_bits = mma_operand_bits(mn) or 16
                    dep = cfg.pipes.mma_latency_base_cycles + (
                        shape.m * shape.n * shape.k * a_bits) // cfg.pipes.mma_latency_rate_per_cycle
                    lat = max(lat, dep - FIXED_LATENCY_READ_OFFSET)
                if shape.k >= 16 and shape.m == 16:
                    f |= core.F_WIDE_WINDOW  # 4-register A fragments: 6-cycle read window (MGC §2.4)
        elif u == Unit.FP64 and cfg.pipes.fp64_shared:
            variable[i] = True
            f |= core.F_SHARED_FP64
        if u in (Unit.INT, Unit.FP32, Unit.FP64, Unit.FP16, Unit.TENSOR):
            f |= core.F_RFC
        if variable[i]:
            f |= core.F_VARIABLE
        if base in _OPCODE_FLAGS:
            f |= _OPCODE_FLAGS[base]
        elif base == "BAR":
            f |= core.F_BAR_ARRIVE if "ARV" in mods else core.F_BARRIER
        elif base == "WARPGROUP" and "DEPBAR" in mods:
            f |= core.F_WG_DEPBAR
        elif base == "WARPGROUP" and "ARRIVE" in mods:
            f |= core.F_WG_ARRIVE
        elif base == "WARPSYNC":
            f |= core.F_MEMBAR  # the warp waits pipes.warpsync_latency (an estimate, configs/README.md)
            lat = cfg.pipes.warpsync_latency_cycles
        elif base == "ERRBAR":
            # HW105 / MGC §1: the warp stalls 45 cycles after ERRBAR (encoded stall 0 + yield); also
            # without control bits
            f |= core.F_MEMBAR
            lat = cfg.subcore.stall0_yield_cycles
        elif base == "MEMBAR":
            # MGC §6.4: the SM stalls 53 / 186 / 2900 cycles at CTA / GPU / system scope
            f |= core.F_MEMBAR
            lat = (mem.membar_sys_latency_cycles if "SYS" in mods else
                   mem.membar_cta_latency_cycles if "CTA" in mods else mem.membar_gpu_latency_cycles)
        if table.latency[ops[i]] >= 0:
            lat = int(table.latency[ops[i]])
        flags[i] = f
        st[i, core.S_UNIT] = u
        st[i, core.S_LAT] = lat
        st[i, core.S_II] = ii
    st[:, core.S_FLAGS] = flags
    st[:, core.S_NSRC] = kt.st_nsrc
    st[:, core.S_SRC0:core.S_SRC0 + 4] = kt.st_src
    st[:, core.S_DST0:core.S_DST0 + 4] = kt.st_dst
    st[:, core.S_MEM_REGS] = np.maximum(1, kt.st_mem_width // 4)
    st[:, core.S_ILINE] = kt.st_pc // cfg.icache.line_size_bytes
    st[:, core.S_WSB] = 7
    st[:, core.S_CLINE] = -1
    st[:, core.S_RSB] = 7
    st[:, core.S_BAR] = -1  # without a listing: no operands, barrier 0 for the whole CTA
    st[:, core.S_DEPBAR_SB] = 0
    st[:, core.S_DEPBAR_N] = kt.st_imm.clip(0, 63)
    wg_depbar = np.flatnonzero(flags & core.F_WG_DEPBAR)
    if wg_depbar.size:
        st[wg_depbar, core.S_DEPBAR_SB] = core.GSB
    if ctrl:
        idx = listing_fn.index_of_pc(kt.st_pc)
        missing = np.flatnonzero(idx < 0)
        if missing.size:
            s = int(missing[0])
            raise SassError(f"{kt.path}:{int(kt.st_line[s])}: PC 0x{int(kt.st_pc[s]):04x} ('{kt.st_opcode[s]}') is not "
                            f"in the SASS listing of {listing_fn.name!r} ({listing_fn.source})")
        st[:, core.S_STALL] = listing_fn.stall[idx]
        st[:, core.S_YIELD] = listing_fn.yield_flag[idx]
        st[:, core.S_WSB] = listing_fn.wsb[idx]
        st[:, core.S_RSB] = listing_fn.rsb[idx]
        st[:, core.S_WAIT] = listing_fn.wait_mask[idx]
        st[:, core.S_REUSE] = listing_fn.reuse[idx]
        for s in np.flatnonzero(st[:, core.S_UNIT] == Unit.MEM):
            mem_ops = [o for o in listing_fn.operands[idx[s]] if o.kind in ("mem", "desc")]
            if not mem_ops:
                # LDC c[bank][Rn+off]: the address is the constant operand's register (the tracer does not list
                # it as a source); an immediate c[bank][off] has none (MGC §6.3 Table 2: LDC immediate / regular)
                mem_ops = [o for o in listing_fn.operands[idx[s]] if o.kind == "const"]
            if mem_ops:
                uniform = all(o.reg < 0 or o.reg == 255 for o in mem_ops)
                st[s, core.S_FLAGS] = (st[s, core.S_FLAGS] | core.F_UNIFORM_ADDR) if uniform else \
                    (st[s, core.S_FLAGS] & ~core.F_UNIFORM_ADDR)
        # L0 FL constant cache (MGC §2.1 item 6): the constant operand c[bank][imm] of a fixed-latency
        # instruction is tag-checked at issue; LDC and other variable-latency ones use the L0 VL cache
        line = cfg.subcore.const_l0_line_bytes
        for s in np.flatnonzero((flags & core.F_VARIABLE) == 0):
            cops = [o for o in listing_fn.operands[idx[s]] if o.kind == "const" and o.reg < 0 and o.ureg < 0
                    and o.bank is not None and o.bank >= 0]
            if cops:
                st[s, core.S_CLINE] = (int(cops[0].bank) * 65536 + int(cops[0].offset)) // line
        for s in np.flatnonzero(flags & (core.F_BARRIER | core.F_BAR_ARRIVE)):
            st[s, core.S_BAR] = _named_barrier(listing_fn.operands[idx[s]], f"{listing_fn.source}: {listing_fn.name}: "
                                               f"PC 0x{int(kt.st_pc[s]):04x} ('{kt.st_opcode[s]}')")
        for s in np.flatnonzero(flags & (core.F_DEPBAR | core.F_WG_DEPBAR)):
            ops_ = listing_fn.operands[idx[s]]
            sb = [o.reg for o in ops_ if o.kind == "other" and o.name == "SB"]
            imm = [o.value for o in ops_ if o.kind == "imm"]
            if sb:
                st[s, core.S_DEPBAR_SB] = sb[0]
            if imm:
                st[s, core.S_DEPBAR_N] = int(imm[0])
    _mark_wgmma_group_ends(st, kt, listing_fn if ctrl else None)
    return st, ctrl


def _named_barrier(ops, where: str) -> int:
    """``S_BAR`` of a BAR.SYNC / BAR.ARV from its listing operands (PTX ISA, ``bar``: barrier ids 0-15, a
    thread count that is a multiple of the warp size, counted per warp): id + NBAR * count / 32 (count
    0: no count operand, the whole CTA), -1 without operands, -2 if the id or the count is a register
    (its values come per dynamic instruction from the SASS walker, ``dynamic_arrays``)."""
    vals = [o for o in ops if o.kind in ("imm", "reg", "ureg")][:2]
    if not vals:
        return -1
    if any(o.kind != "imm" for o in vals):
        return -2
    bid = int(vals[0].value)
    n = int(vals[1].value) if len(vals) > 1 else 0
    if not 0 <= bid < core.NBAR or n < 0 or n % 32 or (len(vals) > 1 and n == 0):
        raise SassError(f"{where}: barrier id {bid} (0-{core.NBAR - 1}) or thread count {n} (a positive "
                        f"multiple of 32) out of range (PTX ISA, bar)")
    return bid + core.NBAR * (n // 32)


#: TMA loads that complete on an mbarrier (cp.async.bulk.tensor / cp.async.bulk global -> shared).
TMA_LOADS = frozenset({"UTMALDG", "UBLKCP"})

#: Warpgroup MMA opcodes (Hopper wgmma.mma_async): asynchronous, completed through gsb0.
WARPGROUP_MMA = frozenset({"HGMMA", "IGMMA", "QGMMA", "BGMMA"})


def _mark_wgmma_group_ends(st: np.ndarray, kt: KernelTrace, listing_fn=None) -> None:
    """Set ``F_GMMA_COMMIT`` on the warpgroup MMAs that end a wgmma group.

    With the listing: the HGMMAs carrying the ``gsb0`` operand (the compiler marks the last MMA
    before ``wgmma.commit_group`` so; research/sass-control-bits.md §5).  Without it: the last
    warpgroup MMA before the next ``WARPGROUP`` instruction (or the end of the code) in PC order."""
    gm = np.flatnonzero(st[:, core.S_FLAGS] & core.F_GMMA)
    if gm.size == 0:
        return
    if listing_fn is not None:
        idx = listing_fn.index_of_pc(kt.st_pc[gm])
        for s, j in zip(gm, idx):
            if any(o.kind == "other" and o.name == "gsb0" for o in listing_fn.operands[j]):
                st[s, core.S_FLAGS] |= core.F_GMMA_COMMIT
        return
    order = np.argsort(kt.st_pc, kind="stable")
    wg = np.array([base_opcode(m) == "WARPGROUP" for m in kt.st_opcode])
    last = -1
    for s in order:
        if st[s, core.S_FLAGS] & core.F_GMMA:
            last = s
        elif wg[s] and last >= 0:
            st[last, core.S_FLAGS] |= core.F_GMMA_COMMIT
            last = -1
    if last >= 0:
        st[last, core.S_FLAGS] |= core.F_GMMA_COMMIT


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


#: Distributed shared memory: a generic address in the shared window with the peer CTA's rank in bits 24 and up
#: (``map_shared_rank`` on sm_90a: ``LEA R3, Rrank, ..., 0x18`` on the SR_SWINHI window).
DSM_RANK_SHIFT = 24


def _resolve_dsm(kt: KernelTrace, space: np.ndarray, cluster: int) -> np.ndarray:
    """Mark generic accesses that resolve to a peer CTA's shared memory (``core.SP_DSM``), and accesses to the
    CTA's own rank window as shared; only for cluster launches."""
    if cluster <= 1:
        return space
    table = load_opcode_table(kt.isa_family)
    gen_st = np.flatnonzero(table.mem_space[kt.st_op] == MemSpace.GENERIC)
    if gen_st.size == 0:
        return space
    sel = np.flatnonzero(np.isin(kt.inst_static, gen_st) & (kt.inst_mem >= 0))
    if sel.size == 0:
        return space
    addr = np.full(kt.inst_static.size, -1, np.int64)
    _first_lane_addr(sel, kt.inst_mem, kt.mem_mode, kt.mem_base, kt.mem_stride, kt.mem_ptr, kt.lane_off, addr)
    off = addr[sel] - np.int64(kt.header.shmem_base)
    inside = (off >= 0) & (off < (np.int64(cluster) << DSM_RANK_SHIFT))
    warp = np.searchsorted(kt.warp_inst_ptr, sel, side="right") - 1
    cta = np.searchsorted(kt.cta_warp_ptr, warp, side="right") - 1
    own = cta % cluster
    space = space.copy()
    rank = off >> DSM_RANK_SHIFT
    space[sel[inside & (rank == own)]] = MemSpace.SHARED
    space[sel[inside & (rank != own)]] = core.SP_DSM
    return space


def _cga_distance(st: np.ndarray, kt: KernelTrace) -> np.ndarray:
    """Per dynamic instruction: instructions to the warp's next cluster-barrier arrival (UCGABAR_ARV) or
    its last instruction (its retire), 0 for those themselves: the lockstep epochs of cluster kernels end
    no later than the cycle after such an event may happen (``core._lockstep_epoch``)."""
    n = kt.inst_static.size
    ev = (st[kt.inst_static, core.S_FLAGS] & core.F_CGA_ARRIVE) != 0
    ptr = np.asarray(kt.warp_inst_ptr, np.int64)
    last = ptr[1:][ptr[1:] > ptr[:-1]] - 1
    ev[last] = True
    idx = np.where(ev, np.arange(n, dtype=np.int64), np.int64(n))
    nxt = np.minimum.accumulate(idx[::-1])[::-1]
    return (nxt - np.arange(n, dtype=np.int64)).astype(np.int64)


@njit(cache=True)
def _first_lane_addr(sel, inst_mem, mem_mode, mem_base, mem_stride, mem_ptr, lane_off, out):
    for i in sel:
        m = inst_mem[i]
        if m >= 0:
            out[i] = lane_address(m, 0, mem_mode, mem_base, mem_stride, mem_ptr, lane_off)


@dataclass
class SmRun:
    """Everything one kernel needs in the core: parameters, static table and the state arrays."""

    params: np.ndarray
    st: np.ndarray
    g: np.ndarray
    state: CoreState
    counters: np.ndarray
    pc_stats: np.ndarray
    issue_log: np.ndarray
    sb_log: np.ndarray
    sectors: np.ndarray
    occupancy: Occupancy
    control_bits: bool
    extra: dict = field(default_factory=dict)


class MemSystem:
    """Cache and DRAM state of one GPU for a whole run: the L2 keeps its lines across kernels."""

    def __init__(self, cfg: GPUConfig):
        mem = cfg.memory
        line = mem.line_size_bytes
        if line // mem.sector_size_bytes != 4:
            raise GpusimError("memory.sector_size: the cache model needs 4 sectors per line "
                              f"(line {line} B, sector {mem.sector_size_bytes} B)")
        self.l1_ways = min(mem.l1_ways, max(1, mem.l1_size_bytes // line))
        self.l1_sets = max(1, mem.l1_size_bytes // (line * self.l1_ways))
        self.l2_sets = mem.l2_size_bytes // (mem.l2_slices * mem.l2_ways * line)
        if self.l2_sets < 1:
            raise GpusimError(f"memory.l2_size: {mem.l2_size_bytes} B cannot hold {mem.l2_slices} slices x "
                              f"{mem.l2_ways} ways x {line} B lines")
        n_sm = cfg.sm.count
        i64 = np.int64
        self.l1_tag = np.full((n_sm * self.l1_sets, self.l1_ways), -1, i64)
        self.l1_rdy = np.full((n_sm * self.l1_sets, self.l1_ways, 4), -1, i64)
        self.l1_lru = np.zeros((n_sm * self.l1_sets, self.l1_ways), i64)
        rows = mem.l2_slices * self.l2_sets
        self.l2_tag = np.full((rows, mem.l2_ways), -1, i64)
        self.l2_rdy = np.full((rows, mem.l2_ways, 4), -1, i64)
        self.l2_dirty = np.zeros((rows, mem.l2_ways), i64)
        self.l2_lru = np.zeros((rows, mem.l2_ways), i64)
        words = mem.dram_channels * (2 + 2 * mem.dram_banks)
        hbm = mem.dram_model == "hbm"
        if hbm:
            if mem.dram_banks % mem.dram_bank_groups:
                raise GpusimError(f"memory.dram_banks: {mem.dram_banks} banks do not split into "
                                  f"memory.dram_bank_groups = {mem.dram_bank_groups} equal groups")
            if not mem.dram_write_low_percent < mem.dram_write_high_percent <= 100:
                raise GpusimError(f"memory.dram_write_low_percent ({mem.dram_write_low_percent}) must be below "
                                  f"memory.dram_write_high_percent ({mem.dram_write_high_percent}) <= 100")
            pc_words = msys.hbm_state_words(mem.dram_banks, mem.dram_bank_groups, mem.dram_write_queue_entries)
            words = mem.dram_channels * (1 + pc_words)
        self.ms = np.zeros(msys.MS_BASE + mem.l2_slices + words, i64)
        P = mem.read_delay_cycles + mem.address_cycles_regular + 1
        mp = np.zeros(msys.M_SIZE, i64)
        mp[msys.M_L1_SETS] = self.l1_sets
        mp[msys.M_L1_WAYS] = self.l1_ways
        mp[msys.M_L2_SETS] = self.l2_sets
        mp[msys.M_L2_WAYS] = mem.l2_ways
        mp[msys.M_SLICES] = mem.l2_slices
        mp[msys.M_CHANNELS] = mem.dram_channels
        mp[msys.M_A1] = mem.l1_hit_latency_cycles - P
        mp[msys.M_A2] = mem.l2_hit_latency_cycles - P
        mp[msys.M_A3] = mem.dram_latency_cycles - P
        mp[msys.M_H] = (mp[msys.M_A2] - mp[msys.M_A1]) // 2
        sector = mem.sector_size_bytes
        mp[msys.M_SLICE_MILLI_PER_SECTOR] = max(1, round(sector * 1000 / mem.l2_slice_bytes_per_cycle))
        chan_bytes_per_cycle = mem.dram_bandwidth_bytes_per_s / cfg.sm.clock_hz / mem.dram_channels
        mp[msys.M_CHAN_MILLI_PER_SECTOR] = max(1, round(sector * 1000 / chan_bytes_per_cycle))
        mp[msys.M_SECTOR] = sector
        mp[msys.M_HASH] = 0 if mem.l2_slice_hash == "xor" else 1
        mp[msys.M_DRAM_MODEL] = {"simple": 0, "banked": 1, "hbm": 2}[str(mem.dram_model)]
        mp[msys.M_BANKS] = mem.dram_banks
        mp[msys.M_ROW_LINES] = max(1, mem.dram_row_bytes // line)

        def milli(dram_cycles: int) -> int:  # DRAM command cycles -> milli-cycles of the SM clock
            return round(dram_cycles * 1000 * cfg.sm.clock_hz / mem.dram_command_clock_hz)

        mp[msys.M_TRCD] = milli(mem.dram_trcd)
        mp[msys.M_TRP] = milli(mem.dram_trp)
        mp[msys.M_TRC] = milli(mem.dram_trc)
        mp[msys.M_TWTR] = milli(mem.dram_twtr)
        if hbm:
            def ps(v: int) -> int:  # picoseconds -> milli-cycles of the SM clock
                return round(v * cfg.sm.clock_hz / 10**9)

            mp[msys.M_TRCD] = ps(mem.hbm_trcd_ps)
            mp[msys.M_TRP] = ps(mem.hbm_trp_ps)
            for slot, v in ((msys.M_TRAS, mem.hbm_tras_ps), (msys.M_TRTP, mem.hbm_trtp_ps),
                            (msys.M_TCL, mem.hbm_tcl_ps), (msys.M_TRRD_S, mem.hbm_trrd_s_ps),
                            (msys.M_TRRD_L, mem.hbm_trrd_l_ps), (msys.M_TFAW, mem.hbm_tfaw_ps),
                            (msys.M_TCCD_L, mem.hbm_tccd_l_ps), (msys.M_TWTR_S, mem.hbm_twtr_s_ps),
                            (msys.M_TWTR_L, mem.hbm_twtr_l_ps), (msys.M_TRTW, mem.hbm_trtw_ps),
                            (msys.M_TREFI, mem.hbm_trefi_ps), (msys.M_TRFC, mem.hbm_trfc_ps)):
                mp[slot] = ps(v)
            mp[msys.M_BANK_GROUPS] = mem.dram_bank_groups
            mp[msys.M_REF_PER_BANK] = int(mem.hbm_refresh_per_bank)
            mp[msys.M_WQ_SIZE] = mem.dram_write_queue_entries
            mp[msys.M_WQ_HIGH] = max(1, mem.dram_write_queue_entries * mem.dram_write_high_percent // 100)
            mp[msys.M_WQ_LOW] = mem.dram_write_queue_entries * mem.dram_write_low_percent // 100
            mp[msys.M_CAP] = mem.dram_frfcfs_cap
            mp[msys.M_PC_BLOCK] = pc_words
            msys.reset_refresh_phase(mp, self.ms)
        mp[msys.M_MSHR] = mem.l1_mshr_entries
        mp[msys.M_WRITE_ALLOC] = int(mem.l1_write_allocate)
        mp[msys.M_L1_REPL] = list(ReplacementPolicy).index(mem.l1_replacement)
        mp[msys.M_L2_REPL] = list(ReplacementPolicy).index(mem.l2_replacement)
        self.mshr = np.zeros(n_sm * (mem.l1_mshr_entries + 1), i64)
        if mp[msys.M_A1] < 1:
            raise GpusimError(f"memory.l1_hit_latency: {mem.l1_hit_latency_cycles} is shorter than the core's fixed "
                              f"load path ({P} cycles)")
        self.mp = mp
        self.line = line

    def for_kernel(self, occ: "Occupancy", cfg: GPUConfig) -> np.ndarray:
        """Parameters for one kernel: the L1 loses the ways that the resident CTAs' shared memory takes."""
        mp = self.mp.copy()
        carve = occ.ctas_per_sm * occ.shared_bytes_per_cta
        usable = cfg.memory.l1_size_bytes - carve
        mp[msys.M_L1_WAYS] = max(0, min(self.l1_ways, usable // (self.line * self.l1_sets)))
        return mp

    def preload_l1(self, sm: int, lines) -> None:
        """Install whole lines (line addresses = byte address // line size) in the L1 of one SM, as if
        an earlier access of the same kernel had brought them in (for tests of hit timing)."""
        for line in lines:
            row = sm * self.l1_sets + int(line) % self.l1_sets
            way = int(np.argmin(self.l1_lru[row]))
            self.l1_tag[row, way] = int(line)
            self.l1_rdy[row, way, :] = 0
            self.l1_lru[row, way] = 1 << 40

    def write_back_dirty(self) -> dict:
        """Write every dirty L2 sector back to DRAM (the lines stay valid and clean) and return what was
        written: ``{"sectors": n, "dram_bytes_written": bytes}``.  Takes no simulated time: it models the
        data that leaves the L2 after the run's last kernel."""
        d = self.l2_dirty[self.l2_tag >= 0]
        sectors = int(sum(int(np.count_nonzero(d & (1 << q))) for q in range(4)))
        self.l2_dirty[:] = 0
        return {"sectors": sectors, "dram_bytes_written": sectors * int(self.mp[msys.M_SECTOR])}

    def settle(self) -> None:
        msys.settle(self.ms, self.l1_tag, self.l1_rdy, self.l2_rdy)
        msys.reset_refresh_phase(self.mp, self.ms)
        self.mshr[:] = 0


def dynamic_arrays(cfg: GPUConfig, kt: KernelTrace, st: np.ndarray, cluster: int = 1):
    """The core's per-dynamic-instruction arrays of ``kt`` (static table ``st``): sectors, the coalesced
    accesses (acc_ptr, acc_line, acc_mask), L1 ways, memory space and the mbarrier address of SYNCS ops.
    Each instruction's entries depend on it alone (``acc_ptr`` counts from 0), so the arrays of
    consecutive CTA ranges join into those of the whole range (``run_streamed``)."""
    mem = cfg.memory
    table = load_opcode_table(kt.isa_family)
    st_space = table.mem_space[kt.st_op].astype(np.int8)
    acc_ptr, acc_line, acc_mask, nsec, ways, space = coalesce(
        kt.inst_static, kt.inst_mask, kt.inst_mem, kt.st_mem_width.astype(np.int32), st_space, kt.mem_mode,
        kt.mem_base, kt.mem_stride, kt.mem_ptr, kt.lane_off, mem.line_size_bytes, mem.sector_size_bytes,
        kt.header.shmem_base, kt.header.local_base)
    space = _resolve_dsm(kt, space, cluster)
    # per dynamic instruction: the shared address of the mbarrier a SYNCS op works on (-1: none)
    inst_addr = np.full(kt.inst_static.size, -1, np.int64)
    sync_st = np.flatnonzero(st[:, core.S_FLAGS] & (core.F_MBAR_ARRIVE | core.F_MBAR_WAIT | core.F_MBAR_INIT))
    if sync_st.size:
        sel = np.flatnonzero(np.isin(kt.inst_static, sync_st) & (kt.inst_mem >= 0))
        _first_lane_addr(sel, kt.inst_mem, kt.mem_mode, kt.mem_base, kt.mem_stride, kt.mem_ptr, kt.lane_off, inst_addr)
    # BAR.SYNC / BAR.ARV: the named barrier (id + NBAR * warps) from the listing's immediates, or for
    # register operands from the SASS walker's record in inst_mem (-2 - value)
    bar_st = np.flatnonzero(st[:, core.S_FLAGS] & (core.F_BARRIER | core.F_BAR_ARRIVE))
    if bar_st.size:
        lut = np.full(st.shape[0], -1, np.int64)
        lut[bar_st] = st[bar_st, core.S_BAR]
        sel = np.flatnonzero(np.isin(kt.inst_static, bar_st))
        v = lut[kt.inst_static[sel]]
        reg = v == -2
        if reg.any():
            m = kt.inst_mem[sel[reg]]
            if (m > -2).any():
                s = int(kt.inst_static[sel[reg][np.flatnonzero(m > -2)[0]]])
                raise SassError(f"{kt.path}: PC 0x{int(kt.st_pc[s]):04x} ('{kt.st_opcode[s]}'): the barrier id or "
                                "thread count is a register and the trace carries no register values; walk the "
                                "listing instead (gpusim run --sass ... --grid ... --block ...)")
            v[reg] = -2 - m
        inst_addr[sel] = v
    return nsec, (acc_ptr, acc_line, acc_mask), ways, space, inst_addr


def pack(cfg: GPUConfig, kt: KernelTrace, listing_fn=None, *, idle_skip: bool = True, log: bool = False,
         log_cycles: int = 4096, memsys: MemSystem | None = None, epoch: int | None = None) -> SmRun:
    """Build the core's parameters, static table and zeroed state for one kernel.

    ``epoch`` overrides the core's epoch length (default ``epoch_cycles(cfg)``; 1 refills CTA slots
    the cycle after they finish, as a fully serial model would)."""
    occ = occupancy(cfg, kt)
    st, ctrl = static_table(cfg, kt, listing_fn)
    mem = cfg.memory
    p = np.zeros(core.P_SIZE, np.int64)
    p[core.P_NUM_SM] = cfg.sm.count
    p[core.P_SUBCORES] = cfg.sm.subcores
    p[core.P_CTAS_PER_SM] = occ.ctas_per_sm
    p[core.P_WARPS_PER_CTA] = occ.warps_per_cta
    p[core.P_POLICY] = int(cfg.subcore.issue_policy)
    p[core.P_IDLE_SKIP] = int(idle_skip)
    p[core.P_CTRL] = int(ctrl)
    p[core.P_STEER] = int(cfg.subcore.fp32_on_int_pipe)
    p[core.P_IMAD_BUSY] = cfg.subcore.imad_issue_port_busy_cycles
    p[core.P_STALL0_YIELD] = cfg.subcore.stall0_yield_cycles
    p[core.P_STALL_GT11_NOY] = cfg.subcore.stall_above_11_no_yield_cycles
    sub = cfg.subcore
    p[core.P_CONST_WAYS] = sub.const_l0_ways
    p[core.P_CONST_SETS] = sub.const_l0_size_bytes // (sub.const_l0_line_bytes * sub.const_l0_ways)
    p[core.P_CONST_MISS] = sub.const_l0_miss_latency_cycles
    p[core.P_CONST_SWITCH] = sub.const_miss_switch_cycles
    p[core.P_BANKS] = cfg.regfile.banks
    p[core.P_PORTS] = cfg.regfile.read_ports_per_bank
    p[core.P_RFC] = int(cfg.regfile.rf_cache)
    p[core.P_WINDOW] = cfg.regfile.read_window_cycles
    p[core.P_READ_DELAY] = mem.read_delay_cycles
    p[core.P_ADDR_REG] = mem.address_cycles_regular
    p[core.P_ADDR_UNI] = mem.address_cycles_uniform
    p[core.P_MQ_CAP] = mem.subcore_queue_entries + 1
    p[core.P_SM_INTERVAL] = mem.sm_dispatch_interval_cycles
    p[core.P_FIXED_OFFSET] = FIXED_LATENCY_READ_OFFSET
    p[core.P_ST_REG_EXTRA] = mem.store_regular_address_extra_cycles
    p[core.P_LD_REG_EXTRA] = mem.load_regular_address_extra_cycles
    p[core.P_LOG] = int(log)
    p[core.P_CTA_LAUNCH] = cfg.launch.cta_launch_latency_cycles
    p[core.P_LDGSTS_EXTRA] = mem.ldgsts_latency_cycles - mem.l1_hit_latency_cycles
    p[core.P_L1_BPC] = mem.l1_bytes_per_cycle
    ic = cfg.icache
    p[core.P_IPERFECT] = int(ic.perfect)
    p[core.P_L0_WAYS] = ic.l0_ways
    p[core.P_L0_SETS] = max(1, ic.l0_size_bytes // (ic.line_size_bytes * ic.l0_ways))
    p[core.P_L1I_WAYS] = ic.l1_ways
    p[core.P_L1I_SETS] = max(1, ic.l1_size_bytes // (ic.line_size_bytes * ic.l1_ways))
    p[core.P_IL0L1] = ic.l0_to_l1_latency_cycles
    p[core.P_IPREFETCH] = ic.stream_buffer_entries
    p[core.P_IMISS] = mem.l2_hit_latency_cycles  # instructions missing the L1 I-cache come from the L2
    e = epoch_cycles(cfg) if epoch is None else epoch
    if not 1 <= e <= epoch_cycles(cfg):
        raise GpusimError(f"epoch: {e} cycles; the core needs 1 to {epoch_cycles(cfg)} for {cfg.name}")
    p[core.P_EPOCH] = e
    cluster = cluster_size(kt)
    p[core.P_CLUSTER] = cluster
    p[core.P_SM_PER_GPC] = -(-cfg.sm.count // max(1, min(cfg.sm.gpcs, cfg.sm.count)))
    p[core.P_DSM_LAT] = mem.dsm_latency_cycles
    p[core.P_TMA_EXTRA] = mem.tma_extra_latency_cycles
    if cluster > 1:
        if cluster > core.MAX_CLUSTER:
            raise GpusimError(f"{kt.path}: cluster of {cluster} CTAs; the model places at most {core.MAX_CLUSTER}")
        if cluster > p[core.P_SM_PER_GPC]:
            raise GpusimError(f"{kt.path}: a cluster of {cluster} CTAs does not fit the {int(p[core.P_SM_PER_GPC])} "
                              f"SMs of one GPC of {cfg.name} (sm.count {cfg.sm.count}, sm.gpcs {cfg.sm.gpcs})")
        if kt.num_ctas % cluster:
            raise GpusimError(f"{kt.path}: {kt.num_ctas} CTAs is not a multiple of the cluster size {cluster}")
    if cfg.regfile.banks > 2:
        raise GpusimError("regfile.banks: the core models 1 or 2 banks per sub-core (MGC §4.1)")
    n_sm, n_sub = cfg.sm.count, cfg.sm.subcores
    i64 = np.int64
    counters = np.zeros(core.C_SIZE, i64)
    pc_stats = np.zeros((st.shape[0], core.N_REASONS + 2), i64)
    issue_log = np.full(kt.inst_static.size if log else 1, -1, i64)
    sb_log = np.zeros((log_cycles if log else 1, core.NSB), i64)
    nsec, (acc_ptr, acc_line, acc_mask), ways, space, inst_addr = dynamic_arrays(cfg, kt, st, cluster)
    if memsys is None:
        memsys = MemSystem(cfg)
    uses_cga = bool(np.any(st[:, core.S_FLAGS] & (core.F_CGA_ARRIVE | core.F_CGA_WAIT)))
    n_cl = -(-kt.num_ctas // cluster) if (cluster > 1 or uses_cga) else 0
    state = new_state(n_sm, n_sub, occ.ctas_per_sm, occ.warps_per_cta, ctrl, e, int(p[core.P_L0_SETS]),
                      int(p[core.P_L0_WAYS]), int(p[core.P_L1I_SETS]), int(p[core.P_L1I_WAYS]), n_cl,
                      int(p[core.P_CONST_SETS]), int(p[core.P_CONST_WAYS]))
    run = SmRun(p, st, state.sms.g, state, counters, pc_stats, issue_log, sb_log, nsec, occ, ctrl)
    # clusters couple SMs (cluster launch, cluster barrier): the SMs advance in lockstep epochs that end
    # right after a warp may arrive at the cluster barrier or retire (core._lockstep_epoch)
    p[core.P_LOCKSTEP] = 1 if n_cl > 0 else 0
    cga_dist = _cga_distance(st, kt) if n_cl > 0 else np.zeros(1, i64)
    run.extra = {"memsys": memsys, "mp": memsys.for_kernel(occ, cfg), "acc": (acc_ptr, acc_line, acc_mask),
                 "ways": ways, "space": space, "inst_addr": inst_addr, "cga_dist": cga_dist}
    return run


@njit(cache=True)
def _shift(buf, d, m, sub):
    """buf[i] = buf[i + d] - sub for i < m, in place (a forward copy: safe although the ranges overlap)."""
    for i in range(m):
        buf[i] = buf[i + d] - sub


class _Window:
    """The trace arrays the core reads: the whole kernel's, or (streamed) those of a window of consecutive
    CTAs from ``cta0``, with more CTAs walked from ``source`` as the dispatcher needs them."""

    def __init__(self, r: SmRun, kt: KernelTrace, total: int | None = None, source=None, cfg=None,
                 lookahead: int = 0):
        self.cwp, self.wip, self.ist, self.imask = kt.cta_warp_ptr, kt.warp_inst_ptr, kt.inst_static, kt.inst_mask
        self.nsec, self.acc, self.ways, self.space = r.sectors, r.extra["acc"], r.extra["ways"], r.extra["space"]
        self.iaddr = r.extra["inst_addr"]
        self.cta0 = 0
        self.hi = kt.num_ctas               # CTAs walked so far (the window ends there)
        self.total = kt.num_ctas if total is None else total
        self.source, self.cfg, self.lookahead = source, cfg, lookahead
        self.insts = kt.warp_instructions   # warp instructions walked so far
        self.peak_insts = kt.warp_instructions
        self.bufs: dict[str, np.ndarray] = {}
        r.g[core.G_MORE] = int(self.hi < self.total)

    def _place(self, name: str, cur: np.ndarray, d: int, sub: int, chunks: list, ptr: bool = False) -> np.ndarray:
        """``cur`` without its first ``d`` entries (minus ``sub``: pointer arrays), then ``chunks`` (pointer
        arrays from 0, joined end to start), in a buffer reused in place while it has room (no second copy
        of the window), as a view of the exact size."""
        buf = self.bufs.get(name, cur)
        m = cur.shape[0] - d
        need = m + sum(q.shape[0] - 1 if ptr else q.shape[0] for q in chunks)
        if buf.shape[0] < need:
            nb = np.empty((need + need // 4 + 16,) + buf.shape[1:], buf.dtype)
            np.subtract(cur[d:], sub, out=nb[:m], casting="unsafe") if sub else np.copyto(nb[:m], cur[d:])
            buf = nb
        elif d:
            _shift(buf, d, m, buf.dtype.type(sub))
        pos = m
        off = int(buf[m - 1]) if ptr else 0
        for q in chunks:
            if ptr:
                k = q.shape[0] - 1
                np.add(q[1:], off, out=buf[pos: pos + k], casting="unsafe")
                off += int(q[-1])
            else:
                k = q.shape[0]
                buf[pos: pos + k] = q
            pos += k
        self.bufs[name] = buf
        return buf[:pos]

    def refill(self, r: SmRun) -> None:
        """Drop the CTAs below the oldest resident one, append chunks until ``lookahead`` CTAs follow
        ``g[G_NEXT_CTA]`` (or the kernel's last), and rebase the indices the core state holds."""
        from gpusim.frontend.reader import intern_opcodes

        g, W = r.g, r.state.warps
        cs_cta = r.state.sms.cs_cta
        nxt = int(g[core.G_NEXT_CTA])
        res = cs_cta[cs_cta >= 0]
        d_cta = min(int(res.min()), nxt) if res.size else nxt
        d_warp = int(self.cwp[d_cta])
        d_inst = int(self.wip[d_warp])
        d_acc = int(self.acc[0][d_inst])
        # rebase: CTA indices (dispatcher, resident CTA slots), warp and instruction indices of resident
        # warps, instruction indices of requests buffered by SMs that ran ahead
        g[core.G_NEXT_CTA] = nxt - d_cta
        cs_cta[cs_cta >= 0] -= d_cta
        live = W.trace >= 0
        W.trace[live] -= d_warp
        for a in (W.pc, W.fetch, W.end):
            a[live] -= d_inst
            a[~live] = 0
        smg, req = r.state.sms.smg, r.state.sms.req
        for sm in range(smg.shape[0]):
            q = req[sm, : int(smg[sm, core.SG_NREQ]), core.Q_INST]
            q[q >= 0] -= d_inst
        self.cta0 += d_cta
        # walk the next chunks
        parts = []
        ahead = self.hi - self.cta0 - (nxt - d_cta)
        while ahead < self.lookahead and self.hi < self.total:
            kt = next(self.source, None)
            if kt is None:
                raise GpusimError(f"streamed trace: the chunks end after {self.hi} of {self.total} CTAs")
            intern_opcodes(kt)
            parts.append((kt, dynamic_arrays(self.cfg, kt, r.st, 1)))
            self.hi += kt.num_ctas
            ahead += kt.num_ctas
            self.insts += kt.warp_instructions
        if self.hi == self.total:
            self.source = None

        pl = self._place
        self.cwp = pl("cwp", self.cwp, d_cta, d_warp, [k.cta_warp_ptr for k, _ in parts], True)
        self.wip = pl("wip", self.wip, d_warp, d_inst, [k.warp_inst_ptr for k, _ in parts], True)
        self.ist = pl("ist", self.ist, d_inst, 0, [k.inst_static for k, _ in parts])
        self.imask = pl("imask", self.imask, d_inst, 0, [k.inst_mask for k, _ in parts])
        self.nsec = pl("nsec", self.nsec, d_inst, 0, [a[0] for _, a in parts])
        acc_ptr, acc_line, acc_mask = self.acc
        self.acc = (pl("acc_ptr", acc_ptr, d_inst, d_acc, [a[1][0] for _, a in parts], True),
                    pl("acc_line", acc_line, d_acc, 0, [a[1][1] for _, a in parts]),
                    pl("acc_mask", acc_mask, d_acc, 0, [a[1][2] for _, a in parts]))
        self.ways = pl("ways", self.ways, d_inst, 0, [a[2] for _, a in parts])
        self.space = pl("space", self.space, d_inst, 0, [a[3] for _, a in parts])
        self.iaddr = pl("iaddr", self.iaddr, d_inst, 0, [a[4] for _, a in parts])
        self.peak_insts = max(self.peak_insts, int(self.ist.size))
        # (the run holds the current window only)
        r.sectors, r.extra["acc"], r.extra["ways"], r.extra["space"] = self.nsec, self.acc, self.ways, self.space
        r.extra["inst_addr"] = self.iaddr
        g[core.G_MORE] = int(self.hi < self.total)


    def truncate(self, r: SmRun, n: int) -> None:
        """End the kernel after its first ``n`` CTAs (at least those dispatched so far): the dispatcher
        places no CTA beyond them, the resident ones drain (CTA-wave sampling, ``stop`` of :func:`run`).
        CTAs walked beyond ``n`` are dropped (and not counted in ``insts``)."""
        nxt = self.cta0 + int(r.g[core.G_NEXT_CTA])
        if n < nxt:
            raise GpusimError(f"truncate: {n} CTAs but {nxt} are already dispatched")
        if n < self.hi:
            loc = n - self.cta0
            self.insts -= int(self.wip[self.cwp[self.hi - self.cta0]] - self.wip[self.cwp[loc]])
            self.cwp = self.cwp[: loc + 1]
            self.hi = n
        self.total = min(self.total, n)
        if self.hi >= self.total:
            self.source = None
        r.g[core.G_MORE] = int(self.hi < self.total)


#: Streamed runs (``run_streamed``): CTAs walked per chunk and kept ahead of the dispatcher, in waves
#: (SMs x resident CTAs per SM); a choice of this module (a refill moves the window once; one wave
#: ahead is the least the dispatcher needs, see ``core.run_sm``).
STREAM_CHUNK_WAVES = 0.25
STREAM_LOOKAHEAD_WAVES = 1


def run_streamed(cfg: GPUConfig, chunks, listing_fn=None, *, total_ctas: int, memsys: MemSystem | None = None,
                 lookahead_ctas: int | None = None, progress=None, threads: int = 1,
                 idle_skip: bool = True, epoch: int | None = None, stop=None) -> tuple[SmRun, int, np.ndarray, dict]:
    """Run the core on a kernel whose trace comes in chunks of consecutive CTAs (``chunks``: an iterator
    of ``KernelTrace``, e.g. ``gpusim.llm.walker.walk_chunks(..., chunk_ctas)``; ``total_ctas`` in all),
    keeping only a window of CTAs resident: the finished CTAs' arrays are dropped and the next chunks
    appended whenever the dispatcher gets within ``lookahead_ctas`` (at least the CTA slots) of the
    window's end (``core.run_sm`` status 4).  The result is that of ``run(pack(whole trace))``, bit for
    bit.  Cluster launches and kernels with cluster barriers (whose per-cluster state spans the kernel)
    are run whole.  Returns (run, cycles, counters, info): info has ``streamed``, ``warp_instructions``
    and ``peak_window_instructions`` (the most warp instructions resident at once); ``warp_instructions``
    counts the CTAs run (``stop``: see :func:`run`)."""
    from gpusim.frontend.reader import intern_opcodes
    from gpusim.llm.walker import concat_traces

    it = iter(chunks)
    head = next(it)
    intern_opcodes(head)
    occ = occupancy(cfg, head)
    slots = cfg.sm.count * occ.ctas_per_sm
    look = max(slots, int(lookahead_ctas) if lookahead_ctas else math.ceil(STREAM_LOOKAHEAD_WAVES * slots))
    parts = [head]
    have = head.num_ctas
    while have < look and have < total_ctas:
        parts.append(next(it))
        have += parts[-1].num_ctas
    first = concat_traces(parts)
    intern_opcodes(first)
    whole = cluster_size(head) > 1 or have >= total_ctas
    if not whole:
        r = pack(cfg, first, listing_fn, memsys=memsys, idle_skip=idle_skip, epoch=epoch)
        whole = bool(r.params[core.P_LOCKSTEP])
    if whole:
        kt = concat_traces([first, *it])
        intern_opcodes(kt)
        r = pack(cfg, kt, listing_fn, memsys=memsys, idle_skip=idle_skip, epoch=epoch)
        w = _Window(r, kt)
        _, cycles, counters = _drive(r, w, kt.path, progress, threads, stop)
        return r, cycles, counters, {"streamed": False, "warp_instructions": w.insts,
                                     "peak_window_instructions": kt.warp_instructions}
    w = _Window(r, first, total_ctas, it, cfg, look)
    del first, parts
    _, cycles, counters = _drive(r, w, head.path, progress, threads, stop)
    return r, cycles, counters, {"streamed": True, "warp_instructions": w.insts,
                                 "peak_window_instructions": w.peak_insts}


def run(r: SmRun, kt: KernelTrace, progress=None, threads: int = 1, stop=None) -> tuple[int, int, np.ndarray]:
    """Run the core on one kernel to completion; returns (status, cycles, counters).

    ``stop(run, cycle, ctas_done, ctas_dispatched)``, called between chunks of ``CHUNK_CYCLES`` while
    CTAs remain to dispatch, may return a CTA count n (>= ctas_dispatched): the kernel then ends after
    its first n CTAs (no further CTA is dispatched; the resident ones drain), as if it had n CTAs.

    ``progress(cycle, ctas_done, ctas_total)`` is called between chunks of ``CHUNK_CYCLES``.
    ``threads``: SMs advance in that many parallel threads within each epoch; the result does not
    depend on it (more threads than Numba has, ``NUMBA_NUM_THREADS``, share them).
    """
    return _drive(r, _Window(r, kt), kt.path, progress, threads, stop)


def _drive(r: SmRun, w: _Window, path: str, progress=None, threads: int = 1, stop=None) -> tuple[int, int, np.ndarray]:
    threads = max(1, int(threads))
    W, S, T = r.state
    # a counter row and a per-PC table per worker, summed at the end; the last row is the serial part's
    # (rows padded by a cache line, so that threads never write to one line)
    counters = np.zeros((threads + 1, -(-r.counters.size // 8) * 8 + 8), np.int64)
    counters[threads, :r.counters.size] = r.counters
    pc_stats = np.zeros((threads,) + r.pc_stats.shape, np.int64)
    pc_stats[0] = r.pc_stats
    m = r.extra["memsys"]
    mem = MemState(r.extra["mp"], m.ms, m.l1_tag, m.l1_rdy, m.l1_lru, m.l2_tag, m.l2_rdy, m.l2_dirty, m.l2_lru, m.mshr)

    def kernel() -> Kernel:
        """The kernel bundle of the current window (a streamed trace moves it between calls)."""
        acc_ptr, acc_line, acc_mask = w.acc
        return Kernel(r.params, r.st, w.cwp, w.wip, w.ist, w.imask, w.nsec, acc_ptr, acc_line, acc_mask, w.ways,
                      w.space, w.iaddr, r.extra["cga_dist"])

    core.init_kernel(kernel(), W, S, T, counters[threads])
    # (one worker never enters run_sm's parallel loop, so the thread count is left as it is)
    before = core.use_threads(threads) if threads > 1 else None
    # (the threaded variant is compiled the first time a run asks for threads: issue 19)
    run_sm = core.run_sm_threads if threads > 1 else core.run_sm
    try:
        until = 0
        while True:
            until += CHUNK_CYCLES
            status = core.RunStatus.MORE_CTAS
            while status == core.RunStatus.MORE_CTAS:
                status = core.RunStatus(run_sm(kernel(), W, S, T, mem, counters, pc_stats, r.issue_log,
                                               r.sb_log, until))
                if status == core.RunStatus.MORE_CTAS:
                    w.refill(r)
            r.counters[:] = counters[:, :r.counters.size].sum(axis=0)
            if status == core.RunStatus.DONE:
                break
            if status == core.RunStatus.EPOCH_TOO_LONG:
                raise GpusimError(f"{path}: a memory result or cluster barrier fell inside the epoch that issued "
                                  f"it, before cycle {int(r.g[core.G_CYCLE]):,} ({int(r.params[core.P_EPOCH])}-cycle "
                                  f"epochs; please report)")
            if status == core.RunStatus.DEADLOCK or r.g[core.G_CYCLE] > MAX_CYCLES:
                raise GpusimError(f"{path}: the model stopped making progress at cycle {int(r.g[core.G_CYCLE]):,} "
                                  f"with {int(r.g[core.G_LIVE])} warps left (deadlock in the model; please report)")
            if progress is not None or stop is not None:
                sent = w.cta0 + int(r.g[core.G_NEXT_CTA])
                done = sent - int((T.c_live > 0).sum())
                if progress is not None:
                    progress(int(r.g[core.G_CYCLE]), done, w.total)
                if stop is not None and sent < w.total:
                    r.extra["window"] = w     # (the stop may read the walked CTAs' instruction counts)
                    n = stop(r, int(r.g[core.G_CYCLE]), done, sent)
                    if n is not None:
                        w.truncate(r, int(n))
    finally:
        if before is not None:
            core.use_threads(before)
    r.pc_stats[:] = pc_stats.sum(axis=0)
    m.settle()
    return 0, int(r.g[core.G_CYCLE]), r.counters

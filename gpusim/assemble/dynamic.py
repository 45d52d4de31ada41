"""The core's per-dynamic-instruction arrays of a trace: coalesced accesses, sectors, L1 ways, memory
space (distributed shared memory resolved), the mbarrier / named-barrier operand of each instruction,
and the distance to the next cluster-barrier event."""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.config.specs import GPUConfig
from gpusim.core import sm as core
from gpusim.core.coalesce import _lane_addr as lane_address
from gpusim.core.coalesce import coalesce
from gpusim.core.layout import MemSpace
from gpusim.errors import SassError
from gpusim.frontend.opcodes import load_opcode_table
from gpusim.frontend.reader import KernelTrace

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


"""The core's per-dynamic-instruction arrays of a trace: coalesced accesses (with the mbarrier /
named-barrier operand of SYNCS / BAR instructions folded in), sectors or shared-memory wavefronts (one
int16 array), memory space (distributed shared memory resolved), and the distance to the next
cluster-barrier event.  They are kept narrow (issue 19: bytes per warp instruction resident)."""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.config.specs import GPUConfig
from gpusim.core import sm as core
from gpusim.core.coalesce import _lane_addr as lane_address
from gpusim.core.coalesce import ACC_MAX, coalesce
from gpusim.core.layout import MemSpace
from gpusim.errors import GpusimError, SassError
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
    d = nxt - np.arange(n, dtype=np.int64)
    if n and int(d.max()) > np.iinfo(np.int32).max:
        raise GpusimError(f"{kt.path}: a warp of more than 2^31 instructions (the core's cga_dist is int32)")
    return d.astype(np.int32)


@njit(cache=True)
def _first_lane_addr(sel, inst_mem, mem_mode, mem_base, mem_stride, mem_ptr, lane_off, out):
    for i in sel:
        m = inst_mem[i]
        if m >= 0:
            out[i] = lane_address(m, 0, mem_mode, mem_base, mem_stride, mem_ptr, lane_off)


def dynamic_arrays(cfg: GPUConfig, kt: KernelTrace, st: np.ndarray, cluster: int = 1):
    """The core's per-dynamic-instruction arrays of ``kt`` (static table ``st``): (units, (acc_ptr, acc_line,
    acc_mask), space): per instruction the sectors of a global/local/texture access or the wavefronts of a
    shared one (int16), the coalesced accesses (int32, int64, uint8; with the mbarrier address of SYNCS ops
    and the named barrier of BAR ops folded in, ``fold_operands``) and the memory space (int8).
    Each instruction's entries depend on it alone (``acc_ptr`` counts from 0), so the arrays of
    consecutive CTA ranges join into those of the whole range (``run_streamed``)."""
    mem = cfg.memory
    table = load_opcode_table(kt.isa_family)
    st_space = table.mem_space[kt.st_op].astype(np.int8)
    acc_ptr, acc_line, acc_mask, nsec, ways, space = coalesce(
        kt.inst_static, kt.inst_mask, kt.inst_mem, kt.st_mem_width.astype(np.int32), st_space, kt.mem_mode,
        kt.mem_base, kt.mem_stride, kt.mem_ptr, kt.lane_off, mem.line_size_bytes, mem.sector_size_bytes,
        kt.header.shmem_base, kt.header.local_base)
    if acc_ptr[-1] < 0:
        raise GpusimError(f"{kt.path}: more than {ACC_MAX:,} coalesced cache-line accesses in one trace window "
                          "(the core indexes them with int32): simulate fewer CTAs at once (a streamed run)")
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
    acc = fold_operands(kt.path, (acc_ptr, acc_line, acc_mask), space, inst_addr)
    # one int16 per instruction: the core reads the sectors of global/local/texture accesses and the
    # wavefronts of shared ones (DSM included: its space is resolved above), never both (``core.lsu``)
    units = np.where(np.isin(space, GMEM_SPACES), nsec, ways)
    return units, acc, space


def fold_operands(path: str, acc, space: np.ndarray, inst_addr: np.ndarray):
    """The access lists with each instruction's mbarrier / named-barrier operand (``inst_addr`` != -1) as
    its one entry (line = the operand, mask 0): such instructions (SYNCS, BAR) access no cache line, and
    the core reads ``acc_line`` only for global, local and texture accesses (``core.lsu``), so their
    operands need no per-dynamic-instruction array (``core.sync._operand``)."""
    acc_ptr, acc_line, acc_mask = acc
    sel = np.flatnonzero(inst_addr != -1)
    if sel.size == 0:
        return acc
    bad = sel[(acc_ptr[sel + 1] > acc_ptr[sel]) | np.isin(space[sel], GMEM_SPACES)]
    if bad.size:
        raise GpusimError(f"{path}: dynamic instruction {int(bad[0])} has both a barrier operand and global-memory "
                          "accesses (please report)")
    if int(acc_ptr[-1]) + sel.size > ACC_MAX:
        raise GpusimError(f"{path}: more than {ACC_MAX:,} coalesced accesses and barrier operands in one trace "
                          "window: simulate fewer CTAs at once (a streamed run)")
    return _fold(acc_ptr, acc_line, acc_mask, sel, inst_addr)


#: memory spaces whose instructions have coalesced line accesses (``core.lsu``: global, local, texture)
GMEM_SPACES = np.array([MemSpace.GLOBAL, MemSpace.LOCAL, MemSpace.TEXTURE], np.int8)


@njit(cache=True)
def _fold(acc_ptr, acc_line, acc_mask, sel, val):
    n = acc_ptr.size - 1
    m = acc_line.size + sel.size
    ptr = np.empty(n + 1, acc_ptr.dtype)
    line = np.empty(m, acc_line.dtype)
    mask = np.empty(m, acc_mask.dtype)
    pos = 0
    k = 0
    for i in range(n):
        ptr[i] = pos
        if k < sel.size and sel[k] == i:
            line[pos] = val[i]
            mask[pos] = 0
            pos += 1
            k += 1
        for e in range(acc_ptr[i], acc_ptr[i + 1]):
            line[pos] = acc_line[e]
            mask[pos] = acc_mask[e]
            pos += 1
    ptr[n] = pos
    return ptr, line, mask


def barrier_operands(acc_ptr: np.ndarray, acc_line: np.ndarray, space: np.ndarray) -> np.ndarray:
    """Per dynamic instruction the operand ``fold_operands`` folded in (-1: none), as the core reads it."""
    n = space.size
    has = (acc_ptr[1:] > acc_ptr[:-1]) & ~np.isin(space, GMEM_SPACES)
    out = np.full(n, -1, np.int64)
    out[has] = acc_line[acc_ptr[:-1][has]]
    return out



def access_lines(acc_ptr: np.ndarray, acc_line: np.ndarray, space: np.ndarray) -> np.ndarray:
    """The cache lines of the global, local and texture accesses (without the folded barrier operands)."""
    g = np.isin(space, GMEM_SPACES)
    n = np.diff(acc_ptr)
    return acc_line[np.repeat(g, n)]

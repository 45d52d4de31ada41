"""The core's per-static-instruction matrix (columns ``core.S_*``): unit, latency, interval and flags
from the ISA semantics (:mod:`gpusim.isa`), the trace's operands, and the SASS listing's control bits
and operands joined by PC."""

from __future__ import annotations

import numpy as np

from gpusim.config.specs import DependenceMode, GPUConfig
from gpusim.core import sm as core
from gpusim.core.layout import Unit
from gpusim.errors import SassError
from gpusim.frontend.opcodes import load_opcode_table
from gpusim.frontend.reader import KernelTrace
from gpusim.isa import (instruction_timing, mark_wgmma_group_ends, named_barrier, wgmma_a_from_registers,
                        wgmma_shared_bytes)


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
    variable = table.variable[ops]
    latency = table.latency[ops]
    flags = np.zeros(n, np.int64)
    for i in range(n):
        t = instruction_timing(cfg, kt.st_opcode[i], int(unit[i]), int(space[i]), int(kind[i]), bool(variable[i]),
                               int(kt.st_nsrc[i]), int(latency[i]))
        flags[i] = t.flags
        st[i, core.S_UNIT] = unit[i]
        st[i, core.S_LAT] = t.latency
        st[i, core.S_II] = t.interval
    st[:, core.S_FLAGS] = flags
    _trace_columns(st, flags, cfg, kt)
    if ctrl:
        _join_listing(st, flags, cfg, kt, listing_fn)
    mark_wgmma_group_ends(st, kt, listing_fn if ctrl else None)
    _wgmma_shared_bytes(cfg, st, kt, listing_fn)
    return st, ctrl


def _trace_columns(st: np.ndarray, flags: np.ndarray, cfg: GPUConfig, kt: KernelTrace) -> None:
    """The columns that come from the trace's static operands, and the defaults without a listing."""
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


def _join_listing(st: np.ndarray, flags: np.ndarray, cfg: GPUConfig, kt: KernelTrace, listing_fn) -> None:
    """Control bits (stall, yield, scoreboards, wait mask, reuse) and the operand-derived columns (uniform
    address, constant line, named barrier, DEPBAR scoreboard and count) from the SASS listing, joined by PC."""
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
        st[s, core.S_BAR] = named_barrier(listing_fn.operands[idx[s]], f"{listing_fn.source}: {listing_fn.name}: "
                                           f"PC 0x{int(kt.st_pc[s]):04x} ('{kt.st_opcode[s]}')")
    for s in np.flatnonzero(flags & (core.F_DEPBAR | core.F_WG_DEPBAR)):
        ops_ = listing_fn.operands[idx[s]]
        sb = [o.reg for o in ops_ if o.kind == "other" and o.name == "SB"]
        imm = [o.value for o in ops_ if o.kind == "imm"]
        if sb:
            st[s, core.S_DEPBAR_SB] = sb[0]
        if imm:
            st[s, core.S_DEPBAR_N] = int(imm[0])


def _wgmma_shared_bytes(cfg: GPUConfig, st: np.ndarray, kt: KernelTrace, listing_fn=None) -> None:
    """``S_GMMA_SMEM`` of every warpgroup MMA: its warpgroup's shared-memory operand bytes shared by the
    four warps that issue it (each warp's quarter of the MMA reads a quarter; gpusim.core.execute)."""
    for s in np.flatnonzero(st[:, core.S_FLAGS] & core.F_GMMA):
        total = wgmma_shared_bytes(kt.st_opcode[s], wgmma_a_from_registers(kt, int(s), listing_fn),
                                   cfg.pipes.wgmma_b_reads)
        st[s, core.S_GMMA_SMEM] = total // 4

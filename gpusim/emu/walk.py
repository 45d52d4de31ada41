"""The functional SASS walker's dispatch loop: executes the address/control part of a kernel, CTA by CTA,
warp by warp, and appends the dynamic trace (per warp: static instruction index, active mask after the
guard predicate, per-lane addresses of memory instructions), as NVBit's tracer would record it.

What it models: given a pre-decoded program (integer arrays built by
``gpusim.llm.walker.compile_program`` from a SASS listing), constant bank 0 and a launch, each
instruction is guarded (``@P``/``@!P``/``@UP``), its sources gathered (``operands``), recorded, executed
by the handler of its family (integer ALU ``alu``, warp exchange ``warp``, memory ``memory``, TMA and
mbarriers ``tensor``, control flow ``control``, constant loads ``operands``) and its results written.
It computes exactly the integer, predicate, uniform-datapath, special-register, constant-bank, shuffle
and branch results; floating-point and tensor instructions, and loads from memory the launch does not
describe, leave their destinations *unknown*.  Every value carries a known-bit, so a guard, branch
condition or address that depends on an unknown value is an error (``ERR_UNKNOWN_*``), never a silently
wrong trace.  Execution model: Volta+ independent thread scheduling, functionally (``control``); warps
of a CTA run one after another.  Status codes are returned, never raised.
"""

from __future__ import annotations

from numba import njit

from gpusim.emu.alu import exec_alu, exec_p2r
from gpusim.emu.control import bar_operands, exec_control, pick
from gpusim.emu.isa import (BLOCKED, C_GUARD, C_LDGSTS_SRC, C_MOD, C_OP, C_TRACE_MEM, C_UNI, E_CODE, E_CTA,
                            ERR_DEADLOCK, ERR_FULL, ERR_PC_RANGE, ERR_STEPS, ERR_UNKNOWN_GUARD, ERR_UNSUPPORTED, EXITED,
                            L_BX, L_BY, L_BZ, L_GX, L_GY, L_MAX_STEPS, LOCAL_WORDS, N_CTA, N_INST, N_LANE, N_MEM,
                            N_WARP, NBAR, OK, OP_BAR, OP_BRA, OP_ELECT, OP_FPU, OP_LDC, OP_LOAD, OP_MOV, OP_NOP,
                            OP_P2R, OP_R2P, OP_RET, OP_SHFL, OP_STORE, OP_SYNCS, OP_UNSUPPORTED, OP_UTMALDG, OP_VOTE,
                            PT, RUN, SPACE_LOCAL)
from gpusim.emu.memory import (exec_load_or_unknown, exec_local_load, exec_local_store, ldgsts_source_mask,
                               record_addresses)
from gpusim.emu.operands import exec_ldc, gather, write_results
from gpusim.emu.state import fail, fail_lane
from gpusim.emu.tensor import exec_syncs, exec_utmaldg
from gpusim.emu.warp import exec_elect, exec_shfl, exec_vote


@njit(cache=True, _nrt=False, inline="always")
def reset_warp(S, w, nthreads, bx, by):
    """Start warp ``w``: its threads' indices, every lane at instruction 0, every register, predicate,
    local word and convergence barrier unknown / empty; returns the mask of its live lanes."""
    state = S.state
    tid = S.tid
    pc = S.pc
    wait = S.wait
    RK = S.rk
    LOCK = S.lock
    UPK = S.upk
    PK = S.pk
    URK = S.urk
    bar = S.bar
    alive = 0
    for ln in range(32):
        t = w * 32 + ln
        if t < nthreads:
            state[ln] = RUN
            alive |= 1 << ln
            tid[ln, 0] = t % bx
            tid[ln, 1] = (t // bx) % by
            tid[ln, 2] = t // (bx * by)
        else:
            state[ln] = EXITED
        pc[ln] = 0
        wait[ln] = -1
    for r in range(256):
        for ln in range(32):
            RK[r, ln] = 0
    for r in range(LOCAL_WORDS):
        for ln in range(32):
            LOCK[r, ln] = 0
    for r in range(8):
        UPK[r] = 0
        for ln in range(32):
            PK[r, ln] = 0
    for r in range(64):
        URK[r] = 0
    for r in range(NBAR):
        bar[r] = 0
    return alive


@njit(cache=True, _nrt=False, inline="always")
def guard(I, S, err, i, op, gmask, cta, w):
    """The guard predicate of instruction ``i`` over the lanes of ``gmask``: (status, executing lanes,
    lanes whose guard is unknown).  A data-dependent guard is tolerated where the instruction only
    produces values (recorded as executed, its results unknown); an error for memory and control
    instructions, whose trace would depend on the data."""
    prog = I.prog
    UPK = S.upk
    UP = S.up
    PK = S.pk
    P = S.p
    g = prog[i, C_GUARD]
    ex = gmask
    unk = 0
    if g >= 0:
        gp = g & 7
        gneg = (g >> 3) & 1
        if (g >> 4) & 1:
            gv = 1
            if gp != PT:
                if UPK[gp] == 0:
                    return fail(err, ERR_UNKNOWN_GUARD, i, cta, w), ex, unk
                gv = UP[gp]
            if (gv ^ gneg) == 0:
                ex = 0
        elif gp != PT:
            ex = 0
            for ln in range(32):
                if (gmask >> ln) & 1:
                    if PK[gp, ln] == 0:
                        unk |= 1 << ln
                    elif (P[gp, ln] ^ gneg) == 1:
                        ex |= 1 << ln
            if unk != 0:
                if op == OP_FPU or op == OP_NOP or (op >= OP_MOV and op <= OP_LDC):
                    ex |= unk
                else:
                    lane = 0
                    while not (unk >> lane) & 1:
                        lane += 1
                    return fail_lane(err, ERR_UNKNOWN_GUARD, i, lane, cta, w), ex, unk
        elif gneg:
            ex = 0
    return OK, ex, unk


@njit(cache=True, _nrt=False, inline="always")
def record(I, T, S, i, op, ex, n_inst, n_mem, n_lane, cta, w):
    """Append dynamic instruction ``n_inst`` (and its memory row or BAR operands): (status, recorded mask,
    memory rows, lane offsets)."""
    prog = I.prog
    err = T.err
    out_static = T.out_static
    out_mask = T.out_mask
    out_mem = T.out_mem
    if op == OP_STORE and prog[i, C_MOD + C_LDGSTS_SRC] > 0:
        st, ex = ldgsts_source_mask(I, S, err, i, ex, cta, w)
        if st != OK:
            return st, ex, n_mem, n_lane
    out_static[n_inst] = i
    out_mask[n_inst] = ex
    out_mem[n_inst] = -1
    if prog[i, C_TRACE_MEM] and op != OP_UTMALDG:
        st, n_lane = record_addresses(I, T, S, i, ex, n_mem, n_lane, cta, w)
        if st != OK:
            return st, ex, n_mem, n_lane
        out_mem[n_inst] = n_mem
        n_mem += 1
    if op == OP_BAR and ex != 0:
        st, code = bar_operands(I, S, err, i, ex, cta, w)
        if st != OK:
            return st, ex, n_mem, n_lane
        out_mem[n_inst] = code
    return OK, ex, n_mem, n_lane


@njit(cache=True, _nrt=False, inline="always")
def execute(I, T, S, i, op, ex, cm, gmask, alive, rec, n_mem, n_lane, cta, w):
    """Run instruction ``i`` in the handler of its family: (status, result rows to write, whether it set
    the PCs itself, live lanes, memory rows, lane offsets)."""
    prog = I.prog
    err = T.err
    st = OK
    ctl = False
    nres = 0  # result rows to write
    if op == OP_NOP or op == OP_BAR:
        pass
    elif op == OP_UNSUPPORTED:
        st = fail(err, ERR_UNSUPPORTED, i, cta, w)
    elif op == OP_LOAD and prog[i, C_MOD] == SPACE_LOCAL:
        exec_local_load(I, S, i, ex)
    elif op == OP_STORE and prog[i, C_MOD] == SPACE_LOCAL:
        exec_local_store(I, S, i, ex)
    elif op == OP_FPU or op == OP_LOAD:
        exec_load_or_unknown(I, S, i, op, ex)
    elif op == OP_STORE:
        pass
    elif op == OP_SYNCS:
        exec_syncs(I, S, i, ex)
    elif op == OP_UTMALDG:
        st, n_lane = exec_utmaldg(I, T, S, i, ex, rec, n_mem, n_lane, cta, w)
        n_mem += 1
    elif op >= OP_BRA and op <= OP_RET:
        ctl = True
        st, alive = exec_control(I, S, err, i, op, ex, gmask, alive, cta, w)
    elif op == OP_SHFL:
        nres = exec_shfl(I, S, i, ex)
    elif op == OP_VOTE:
        nres = exec_vote(I, S, i, ex)
    elif op == OP_ELECT:
        nres = exec_elect(S, ex)
    elif op == OP_LDC:
        nres = exec_ldc(I, S, i, cm)
    elif op == OP_P2R or op == OP_R2P:
        nres = exec_p2r(I, S, i, op, cm)
    else:
        st, nres = exec_alu(prog, I.opnd, S.v, S.vk, S.res, S.resk, err, i, op, cm, cta, w)
    return st, nres, ctl, alive, n_mem, n_lane


@njit(cache=True, _nrt=False)
def run_warp(I, T, S, cta, w, n_inst, n_mem, n_lane):
    """Walk warp ``w`` of CTA ``cta`` to its end: (status, instructions, memory rows, lane offsets).  A
    function of its own (called once per warp), so that the walk compiles in two parts."""
    prog = I.prog
    launch = I.launch
    pc = S.pc
    state = S.state
    out_static = T.out_static
    mem_base = T.mem_base
    lane_off = T.lane_off
    bx = launch[L_BX]
    by = launch[L_BY]
    alive = reset_warp(S, w, bx * by * launch[L_BZ], bx, by)
    err = T.err
    n_prog = prog.shape[0]
    max_steps = launch[L_MAX_STEPS]
    cap_inst = out_static.shape[0]
    cap_mem = mem_base.shape[0]
    cap_lane = lane_off.shape[0]
    gpc, gmask, omin = pick(pc, state)
    steps = 0
    while gmask != 0:
        i = gpc
        if i < 0 or i >= n_prog:
            return fail(err, ERR_PC_RANGE, i, cta, w), n_inst, n_mem, n_lane
        steps += 1
        if steps > max_steps:
            return fail(err, ERR_STEPS, i, cta, w), n_inst, n_mem, n_lane
        op = prog[i, C_OP]
        st, ex, unk = guard(I, S, err, i, op, gmask, cta, w)
        if st != OK:
            return st, n_inst, n_mem, n_lane
        cm = ex
        if prog[i, C_UNI] and ex != 0:
            cm = ex & -ex  # uniform destination: compute once, on the first active lane
        if cm != 0:
            gather(I, S, i, cm, w)
        if n_inst >= cap_inst or n_mem + 1 >= cap_mem or n_lane + 32 > cap_lane:
            err[E_CODE] = ERR_FULL
            err[E_CTA] = cta
            return ERR_FULL, n_inst, n_mem, n_lane
        st, ex, n_mem, n_lane = record(I, T, S, i, op, ex, n_inst, n_mem, n_lane, cta, w)
        if st != OK:
            return st, n_inst, n_mem, n_lane
        rec = n_inst
        n_inst += 1
        st, nres, ctl, alive, n_mem, n_lane = execute(I, T, S, i, op, ex, cm, gmask, alive, rec, n_mem, n_lane,
                                                      cta, w)
        if st != OK:
            return st, n_inst, n_mem, n_lane
        write_results(I, S, i, op, unk, nres, cm, ex)
        # next PC: the group moves on together unless another group's lanes wait at a smaller PC
        if not ctl:
            nxt = i + 1
            for ln in range(32):
                if (gmask >> ln) & 1:
                    pc[ln] = nxt
            if omin <= nxt:
                gpc, gmask, omin = pick(pc, state)
            else:
                gpc = nxt
        else:
            gpc, gmask, omin = pick(pc, state)
        if gmask == 0:
            for ln in range(32):
                if state[ln] == BLOCKED:
                    return fail_lane(err, ERR_DEADLOCK, pc[ln], ln, cta, w), n_inst, n_mem, n_lane
    return OK, n_inst, n_mem, n_lane


@njit(cache=True, _nrt=False)
def walk_ctas(I, T, S, cta_lo, cta_hi):
    """Walk CTAs ``cta_lo .. cta_hi-1`` (linear index x + y*gx + z*gx*gy) of the program and launch of
    ``I`` (``state.Inputs``), appending to the columns of ``T`` (``state.Trace``) from ``T.counts``; ``S``
    (``state.Lanes``, from ``state.new_lanes``) is the scratch state of the warp being walked.
    Returns a status code; on ``ERR_FULL`` the counts stay at the start of CTA ``T.err[E_CTA]`` so the
    caller can grow the buffers and resume there."""
    gx = I.launch[L_GX]
    gy = I.launch[L_GY]
    bx = I.launch[L_BX]
    by = I.launch[L_BY]
    nthreads = bx * by * I.launch[L_BZ]
    nwarps = (nthreads + 31) // 32
    counts = T.counts
    for cta in range(cta_lo, cta_hi):
        c_inst = counts[N_INST]
        c_mem = counts[N_MEM]
        c_lane = counts[N_LANE]
        c_warp = counts[N_WARP]
        c_cta = counts[N_CTA]
        if c_cta + 1 > T.cta_xyz.shape[0] or c_warp + nwarps > T.warp_slot.shape[0]:
            T.err[E_CODE] = ERR_FULL
            T.err[E_CTA] = cta
            return ERR_FULL
        S.ctaid[0] = cta % gx
        S.ctaid[1] = (cta // gx) % gy
        S.ctaid[2] = cta // (gx * gy)
        for d in range(3):
            T.cta_xyz[c_cta, d] = S.ctaid[d]
        n_inst = c_inst
        n_mem = c_mem
        n_lane = c_lane
        n_warp = c_warp
        for w in range(nwarps):
            T.warp_slot[n_warp] = w
            T.warp_ptr[n_warp] = n_inst
            st, n_inst, n_mem, n_lane = run_warp(I, T, S, cta, w, n_inst, n_mem, n_lane)
            if st == ERR_FULL:
                # roll back to the start of this CTA
                counts[N_INST] = c_inst
                counts[N_MEM] = c_mem
                counts[N_LANE] = c_lane
                counts[N_WARP] = c_warp
                counts[N_CTA] = c_cta
            if st != OK:
                return st
            n_warp += 1
            T.warp_ptr[n_warp] = n_inst
        counts[N_INST] = n_inst
        counts[N_MEM] = n_mem
        counts[N_LANE] = n_lane
        counts[N_WARP] = n_warp
        counts[N_CTA] = c_cta + 1
        T.cta_ptr[c_cta + 1] = n_warp
    return OK

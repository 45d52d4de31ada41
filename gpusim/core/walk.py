"""Functional SASS walker: executes the address/control part of a kernel, CTA by CTA, warp by warp.

Single responsibility: given a pre-decoded program (integer arrays built by
``gpusim.llm.walker.compile_program`` from a SASS listing), constant bank 0 and a launch, produce
the dynamic trace columns gpusim simulates (per warp: static instruction index, active mask after
the guard predicate, per-lane addresses of memory instructions), as NVBit's tracer would record
them.  It computes exactly the integer, predicate, uniform-datapath, special-register,
constant-bank, shuffle and branch results; floating-point and tensor instructions, and loads
from memory the launch does not describe, leave their destinations *unknown*.  Every value
carries a known-bit, so a guard, branch condition or address that depends on an unknown value
is an error (``ERR_UNKNOWN_*``), never a silently wrong trace.

Execution model (Volta+ independent thread scheduling, functionally): each lane has its own
PC; the lanes that run next are the not-exited, not-blocked lanes at the smallest PC (so
divergent lanes reconverge where their paths meet); ``BSSY Bx`` records the lanes that must meet
at ``BSYNC Bx``; ``WARPSYNC mask`` waits for the lanes of ``mask``.  Warps of a CTA run one after
another: without a memory model no value flows between warps, so ``BAR.SYNC`` has no functional
effect.  mbarrier waits (``SYNCS.PHASECHK``) succeed at the first try (the timing model owns the
wait; research/sass-control-bits.md section 7, pitfall 11).

Registers hold 32-bit values in int64 slots (0 <= v < 2**32).  All arrays are int64/uint8; no
strings cross into this module.  Status codes are returned, never raised.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# --------------------------------------------------------------------------- op codes
OP_NOP = 0
OP_UNSUPPORTED = 1
OP_FPU = 2          # result not computed: destinations become unknown
OP_MOV = 3
OP_IMAD = 4
OP_IMAD_WIDE = 5
OP_IMAD_HI = 6
OP_IADD3 = 7
OP_LEA = 8
OP_LEA_HI = 9
OP_SHF = 10
OP_LOP3 = 11
OP_PLOP3 = 12
OP_ISETP = 13
OP_SEL = 14
OP_PRMT = 15
OP_MNMX = 16
OP_VIADD = 17
OP_VIADDMNMX = 18
OP_IABS = 19
OP_POPC = 20
OP_FLO = 21
OP_BREV = 22
OP_S2R = 23
OP_CS2R = 24
OP_LDC = 25
OP_R2UR = 26
OP_P2R = 27
OP_R2P = 28
OP_SHFL = 29
OP_VOTE = 30
OP_ELECT = 31
OP_BRA = 32
OP_BRA_DIV = 33
OP_EXIT = 34
OP_BSSY = 35
OP_BSYNC = 36
OP_WARPSYNC = 37
OP_CALL = 38
OP_RET = 39
OP_LOAD = 40        # destinations from the memory image, else unknown
OP_STORE = 41
OP_SYNCS = 42
OP_UTMALDG = 43
OP_SHL = 44
OP_SHR = 45

# --------------------------------------------------------------------------- operand kinds / flags
K_NONE = 0
K_R = 1
K_UR = 2
K_P = 3
K_UP = 4
K_IMM = 5
K_CONST = 6
K_SR = 7
K_MEM = 8
K_OTHER = 9

F_NEG = 1
F_INV = 2
F_ABS = 4
F_WIDE = 8

# special registers
SR_TID_X = 1
SR_TID_Y = 2
SR_TID_Z = 3
SR_CTAID_X = 4
SR_CTAID_Y = 5
SR_CTAID_Z = 6
SR_LANEID = 7
SR_EQMASK = 8
SR_LTMASK = 9
SR_LEMASK = 10
SR_GTMASK = 11
SR_GEMASK = 12
SR_ZERO = 13        # SRZ, SR_CgaCtaId (no clusters), SR_VIRTUALSMID-free reads
SR_UNKNOWN = 14     # clocks, SM ids, ...
SR_WARPID = 15

# program columns
C_OP = 0
C_GUARD = 1         # -1: none; else pred | neg << 3 | uniform << 4
C_TARGET = 2        # instruction index of a branch target, -1
C_TRACE_MEM = 3     # 1: record per-lane addresses (memory instruction in the trace)
C_MEM_SLOT = 4      # operand slot of the traced address
C_MEM_W = 5         # trace width (bytes)
C_DST0 = 6          # CSR range of general registers written (unknown marking)
C_DST1 = 7
C_MOD = 8           # 8 op-specific modifiers follow
N_COLS = 16
N_SLOTS = 8

# comparison codes (ISETP), boolean ops
CMP_F = 0
CMP_LT = 1
CMP_EQ = 2
CMP_LE = 3
CMP_GT = 4
CMP_NE = 5
CMP_GE = 6
CMP_T = 7
BOP_AND = 0
BOP_OR = 1
BOP_XOR = 2

# shuffle modes
SHFL_IDX = 0
SHFL_UP = 1
SHFL_DOWN = 2
SHFL_BFLY = 3

# memory spaces of OP_LOAD (for the memory image)
SPACE_GLOBAL = 1
SPACE_OTHER = 2

# launch vector slots
L_GX = 0
L_GY = 1
L_GZ = 2
L_BX = 3
L_BY = 4
L_BZ = 5
L_MAX_STEPS = 6
L_PARAM_WINDOW = 7  # generic address of the kernel-parameter window (sm_90 c[0x0][0x198])
L_PARAM_BASE = 8    # offset of the first parameter in constant bank 0
N_LAUNCH = 9

# TMA descriptor table columns (one row per tensor-map parameter)
T_PARAM_OFF = 0
T_BASE = 1
T_DIM0 = 2          # elements (innermost)
T_DIM1 = 3          # rows
T_STRIDE1 = 4       # bytes between rows
T_BOX0 = 5
T_BOX1 = 6
T_ELEM = 7
N_TMA = 8

# status codes
OK = 0
ERR_FULL = 1            # output buffers full: grow and resume at err[E_CTA]
ERR_UNSUPPORTED = 2
ERR_UNKNOWN_GUARD = 3
ERR_UNKNOWN_BRANCH = 4
ERR_UNKNOWN_ADDR = 5
ERR_UNKNOWN_VALUE = 6   # R2UR / RET / WARPSYNC operand unknown or not uniform
ERR_PC_RANGE = 7
ERR_STEPS = 8
ERR_DEADLOCK = 9
ERR_TMA = 10
E_CODE = 0
E_INST = 1
E_LANE = 2
E_CTA = 3
E_WARP = 4
E_AUX = 5

# counters
N_INST = 0
N_MEM = 1
N_LANE = 2
N_WARP = 3
N_CTA = 4

M32 = 0xFFFFFFFF
RZ = 255
URZ = 63
PT = 7
RUN = 0
EXITED = 1
BLOCKED = 2
NBAR = 17           # B0..B15 and one slot for WARPSYNC
WSYNC = 16


@njit(cache=True)
def _s32(v):
    v &= M32
    return v - 0x100000000 if v >= 0x80000000 else v


@njit(cache=True)
def _popc(v):
    c = 0
    while v:
        v &= v - 1
        c += 1
    return c


@njit(cache=True)
def _cb_read(cb, cbk, off, nbytes):
    """Little-endian read of nbytes (<= 8) from constant bank 0; (value, known)."""
    if off < 0 or off + nbytes > cb.shape[0]:
        return 0, 0
    v = 0
    k = 1
    for b in range(nbytes):
        v |= np.int64(cb[off + b]) << (8 * b)
        if cbk[off + b] == 0:
            k = 0
    return v, k


@njit(cache=True)
def _special(code, lane, tid, ctaid, warp):
    if code == SR_TID_X:
        return tid[lane, 0], 1
    if code == SR_TID_Y:
        return tid[lane, 1], 1
    if code == SR_TID_Z:
        return tid[lane, 2], 1
    if code == SR_CTAID_X:
        return ctaid[0], 1
    if code == SR_CTAID_Y:
        return ctaid[1], 1
    if code == SR_CTAID_Z:
        return ctaid[2], 1
    if code == SR_LANEID:
        return lane, 1
    if code == SR_EQMASK:
        return (1 << lane) & M32, 1
    if code == SR_LTMASK:
        return ((1 << lane) - 1) & M32, 1
    if code == SR_LEMASK:
        return ((1 << (lane + 1)) - 1) & M32, 1
    if code == SR_GTMASK:
        return (~((1 << (lane + 1)) - 1)) & M32, 1
    if code == SR_GEMASK:
        return (~((1 << lane) - 1)) & M32, 1
    if code == SR_ZERO:
        return 0, 1
    if code == SR_WARPID:
        return warp, 1
    return 0, 0


@njit(cache=True)
def _fetch(o, lane, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, warp):
    """32-bit source operand ``o`` = (kind, v, x, y, flags) for ``lane``: (value, known).

    ``-x`` yields 2**32 - x (in 1 .. 2**32, i.e. ~x + 1 without wrapping, as IADD3's adder sees it);
    callers mask to 32 bits where they need to."""
    kind = o[0]
    fl = o[4]
    v = 0
    k = 1
    if kind == K_R:
        r = o[1]
        if r != RZ:
            v = R[r, lane]
            k = np.int64(RK[r, lane])
    elif kind == K_UR:
        r = o[1]
        if r != URZ:
            v = UR[r]
            k = np.int64(URK[r])
    elif kind == K_IMM:
        return o[1] & M32, 1
    elif kind == K_CONST:
        off = o[1]
        if o[2] >= 0 and o[2] != RZ:
            off += R[o[2], lane]
            if RK[o[2], lane] == 0:
                return 0, 0
        if o[3] >= 0 and o[3] != URZ:
            off += UR[o[3]]
            if URK[o[3]] == 0:
                return 0, 0
        v, k = _cb_read(cb, cbk, off, 4)
    elif kind == K_P:
        p = o[1]
        if p == PT:
            v = 1
        else:
            v = np.int64(P[p, lane])
            k = np.int64(PK[p, lane])
        if fl & F_NEG:
            v ^= 1
        return v, k
    elif kind == K_UP:
        p = o[1]
        if p == PT:
            v = 1
        else:
            v = np.int64(UP[p])
            k = np.int64(UPK[p])
        if fl & F_NEG:
            v ^= 1
        return v, k
    elif kind == K_SR:
        return _special(o[1], lane, tid, ctaid, warp)
    elif kind == K_NONE:
        return 0, 1
    else:
        return 0, 0
    if fl & F_ABS:
        s = _s32(v)
        v = (-s if s < 0 else s) & M32
    if fl & F_INV:
        v = (~v) & M32
    if fl & F_NEG:
        v = 0x100000000 - (v & M32)
    return v, k


@njit(cache=True)
def _fetch64(o, lane, R, RK, UR, URK, cb, cbk):
    """64-bit source (register pair, uniform pair, 8 constant bytes, sign-extended immediate)."""
    kind = o[0]
    if kind == K_R:
        r = o[1]
        if r == RZ:
            return 0, 1
        lo = R[r, lane]
        hi = R[r + 1, lane]
        return lo | (hi << 32), np.int64(RK[r, lane] & RK[r + 1, lane])
    if kind == K_UR:
        r = o[1]
        if r == URZ:
            return 0, 1
        return UR[r] | (UR[r + 1] << 32), np.int64(URK[r] & URK[r + 1])
    if kind == K_CONST:
        return _cb_read(cb, cbk, o[1], 8)
    if kind == K_IMM:
        return o[1], 1
    if kind == K_NONE:
        return 0, 1
    return 0, 0


@njit(cache=True)
def _address(o, lane, R, RK, UR, URK):
    """Byte address of memory operand ``o`` = [R(.64) + UR + imm]: (address, known)."""
    a = o[3]
    k = 1
    r = o[1]
    if r >= 0 and r != RZ:
        if o[4] & F_WIDE:
            a += R[r, lane] | (R[r + 1, lane] << 32)
            k &= RK[r, lane] & RK[r + 1, lane]
        else:
            a += R[r, lane]
            k &= RK[r, lane]
    u = o[2]
    if u >= 0 and u != URZ:
        if o[4] & F_WIDE and r < 0:
            a += UR[u] | (UR[u + 1] << 32)
            k &= URK[u] & URK[u + 1]
        else:
            a += UR[u]
            k &= URK[u]
    return a, k


@njit(cache=True)
def _write(o, lane, val, known, R, RK, UR, URK, P, PK, UP, UPK):
    kind = o[0]
    if kind == K_R:
        r = o[1]
        if r != RZ:
            R[r, lane] = val & M32
            RK[r, lane] = known
    elif kind == K_UR:
        r = o[1]
        if r != URZ:
            UR[r] = val & M32
            URK[r] = known
    elif kind == K_P:
        p = o[1]
        if p != PT:
            P[p, lane] = val & 1
            PK[p, lane] = known
    elif kind == K_UP:
        p = o[1]
        if p != PT:
            UP[p] = val & 1
            UPK[p] = known


@njit(cache=True)
def _lut3(a, b, c, lut):
    r = 0
    for idx in range(8):
        if (lut >> idx) & 1:
            t = M32
            t &= a if (idx & 4) else (~a) & M32
            t &= b if (idx & 2) else (~b) & M32
            t &= c if (idx & 1) else (~c) & M32
            r |= t
    return r


@njit(cache=True)
def _cmp(code, a, b, unsigned):
    if not unsigned:
        a = _s32(a)
        b = _s32(b)
    else:
        a &= M32
        b &= M32
    if code == CMP_LT:
        return 1 if a < b else 0
    if code == CMP_EQ:
        return 1 if a == b else 0
    if code == CMP_LE:
        return 1 if a <= b else 0
    if code == CMP_GT:
        return 1 if a > b else 0
    if code == CMP_NE:
        return 1 if a != b else 0
    if code == CMP_GE:
        return 1 if a >= b else 0
    if code == CMP_T:
        return 1
    return 0


@njit(cache=True)
def _cmp_ex(code, a, b, unsigned, low):
    """High-word comparison of a 64-bit compare; ``low`` is the low-word result of the same code."""
    eq = 1 if (a & M32) == (b & M32) else 0
    if code == CMP_EQ:
        return eq & low
    if code == CMP_NE:
        return 1 if (eq == 0 or low) else 0
    if code == CMP_LT or code == CMP_LE:
        return 1 if (_cmp(CMP_LT, a, b, unsigned) or (eq and low)) else 0
    if code == CMP_GT or code == CMP_GE:
        return 1 if (_cmp(CMP_GT, a, b, unsigned) or (eq and low)) else 0
    return _cmp(code, a, b, unsigned)


@njit(cache=True)
def _bop(op, x, y):
    if op == BOP_AND:
        return x & y
    if op == BOP_OR:
        return x | y
    return x ^ y


@njit(cache=True)
def _pick(pc, state, nlanes):
    """Lanes that run next: (pc, mask, smallest pc among the other runnable lanes)."""
    best = 1 << 62
    for ln in range(nlanes):
        if state[ln] == RUN and pc[ln] < best:
            best = pc[ln]
    mask = 0
    other = 1 << 62
    for ln in range(nlanes):
        if state[ln] == RUN:
            if pc[ln] == best:
                mask |= 1 << ln
            elif pc[ln] < other:
                other = pc[ln]
    return best, mask, other


@njit(cache=True)
def _try_release(b, bar, state, wait, pc, nlanes):
    """Release the lanes blocked on barrier b once every live lane of its mask has arrived."""
    m = bar[b]
    for ln in range(nlanes):
        if (m >> ln) & 1 and state[ln] != EXITED:
            if not (state[ln] == BLOCKED and wait[ln] == b):
                return False
    released = False
    for ln in range(nlanes):
        if state[ln] == BLOCKED and wait[ln] == b:
            state[ln] = RUN
            pc[ln] += 1
            released = True
    return released


@njit(cache=True)
def _emit_mem(addr, exec_mask, nlanes, n_mem, n_lane, mem_base, mem_stride, mem_mode, mem_ptr, lane_off):
    """One memory-table row for the active lanes' addresses: mode 1 (base + stride) when the active
    lanes are contiguous and equally spaced, else mode 0 (offsets from the first active lane)."""
    first = -1
    last = -1
    cnt = 0
    for ln in range(nlanes):
        if (exec_mask >> ln) & 1:
            if first < 0:
                first = ln
            last = ln
            cnt += 1
    if cnt == 0:
        mem_base[n_mem] = 0
        mem_stride[n_mem] = 0
        mem_mode[n_mem] = 1
        mem_ptr[n_mem + 1] = n_lane
        return n_lane
    base = addr[first]
    contiguous = (last - first + 1) == cnt
    stride = addr[first + 1] - base if cnt > 1 else 0
    if contiguous:
        for ln in range(first + 1, last + 1):
            if addr[ln] - addr[ln - 1] != stride:
                contiguous = False
                break
    mem_base[n_mem] = base
    if contiguous:
        mem_stride[n_mem] = stride
        mem_mode[n_mem] = 1
    else:
        mem_stride[n_mem] = 0
        mem_mode[n_mem] = 0
        for ln in range(nlanes):
            if (exec_mask >> ln) & 1:
                lane_off[n_lane] = addr[ln] - base
                n_lane += 1
    mem_ptr[n_mem + 1] = n_lane
    return n_lane


@njit(cache=True)
def _image_read(addr, nbytes, img_tab, img_data):
    """Bytes of the memory image (rows: base, size, offset into img_data): (value, known)."""
    for t in range(img_tab.shape[0]):
        b = img_tab[t, 0]
        if addr >= b and addr + nbytes <= b + img_tab[t, 1]:
            o = img_tab[t, 2] + (addr - b)
            v = 0
            for i in range(nbytes):
                v |= np.int64(img_data[o + i]) << (8 * i)
            return v, 1
    return 0, 0


@njit(cache=True)
def walk_ctas(prog, opnd, dstregs, cb, cbk, launch, cta_lo, cta_hi, img_tab, img_data, tma_tab,
              out_static, out_mask, out_mem, mem_base, mem_stride, mem_mode, mem_ptr, lane_off,
              warp_ptr, warp_slot, cta_ptr, cta_xyz, counts, err):
    """Walk CTAs ``cta_lo .. cta_hi-1`` (linear index x + y*gx + z*gx*gy), appending to the output
    columns from ``counts``.  Returns a status code; on ``ERR_FULL`` the counts are rolled back to
    the start of CTA ``err[E_CTA]`` so the caller can grow the buffers and resume there."""
    n_prog = prog.shape[0]
    gx = launch[L_GX]
    gy = launch[L_GY]
    bx = launch[L_BX]
    by = launch[L_BY]
    bz = launch[L_BZ]
    nthreads = bx * by * bz
    nwarps = (nthreads + 31) // 32
    max_steps = launch[L_MAX_STEPS]

    R = np.zeros((256, 32), np.int64)
    RK = np.zeros((256, 32), np.uint8)
    P = np.zeros((8, 32), np.uint8)
    PK = np.zeros((8, 32), np.uint8)
    UR = np.zeros(64, np.int64)
    URK = np.zeros(64, np.uint8)
    UP = np.zeros(8, np.uint8)
    UPK = np.zeros(8, np.uint8)
    bar = np.zeros(NBAR, np.int64)
    pc = np.zeros(32, np.int64)
    state = np.zeros(32, np.int64)
    wait = np.zeros(32, np.int64)
    tid = np.zeros((32, 3), np.int64)
    ctaid = np.zeros(3, np.int64)
    addr = np.zeros(32, np.int64)
    tmpv = np.zeros(32, np.int64)
    tmpk = np.zeros(32, np.uint8)
    tmpp = np.zeros(32, np.int64)

    cap_inst = out_static.shape[0]
    cap_mem = mem_base.shape[0]
    cap_lane = lane_off.shape[0]
    cap_warp = warp_slot.shape[0]
    cap_cta = cta_xyz.shape[0]

    for cta in range(cta_lo, cta_hi):
        # commit point for ERR_FULL
        c_inst = counts[N_INST]
        c_mem = counts[N_MEM]
        c_lane = counts[N_LANE]
        c_warp = counts[N_WARP]
        c_cta = counts[N_CTA]
        if c_cta + 1 > cap_cta or c_warp + nwarps > cap_warp:
            err[E_CODE] = ERR_FULL
            err[E_CTA] = cta
            return ERR_FULL
        ctaid[0] = cta % gx
        ctaid[1] = (cta // gx) % gy
        ctaid[2] = cta // (gx * gy)
        cta_xyz[c_cta, 0] = ctaid[0]
        cta_xyz[c_cta, 1] = ctaid[1]
        cta_xyz[c_cta, 2] = ctaid[2]
        n_inst = c_inst
        n_mem = c_mem
        n_lane = c_lane
        n_warp = c_warp
        for w in range(nwarps):
            warp_slot[n_warp] = w
            warp_ptr[n_warp] = n_inst
            # ---- warp init
            for ln in range(32):
                t = w * 32 + ln
                if t < nthreads:
                    state[ln] = RUN
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
            for r in range(8):
                UPK[r] = 0
                for ln in range(32):
                    PK[r, ln] = 0
            for r in range(64):
                URK[r] = 0
            for r in range(NBAR):
                bar[r] = 0
            alive = 0
            for ln in range(32):
                if state[ln] == RUN:
                    alive |= 1 << ln
            gpc, gmask, omin = _pick(pc, state, 32)
            steps = 0
            while gmask != 0:
                i = gpc
                if i < 0 or i >= n_prog:
                    err[E_CODE] = ERR_PC_RANGE
                    err[E_INST] = i
                    err[E_CTA] = cta
                    err[E_WARP] = w
                    return ERR_PC_RANGE
                steps += 1
                if steps > max_steps:
                    err[E_CODE] = ERR_STEPS
                    err[E_INST] = i
                    err[E_CTA] = cta
                    err[E_WARP] = w
                    return ERR_STEPS
                op = prog[i, C_OP]
                # ---- guard predicate
                g = prog[i, C_GUARD]
                ex = gmask
                if g >= 0:
                    gp = g & 7
                    gneg = (g >> 3) & 1
                    if (g >> 4) & 1:
                        if gp == PT:
                            gv = 1
                        else:
                            if UPK[gp] == 0:
                                err[E_CODE] = ERR_UNKNOWN_GUARD
                                err[E_INST] = i
                                err[E_CTA] = cta
                                err[E_WARP] = w
                                return ERR_UNKNOWN_GUARD
                            gv = np.int64(UP[gp])
                        if (gv ^ gneg) == 0:
                            ex = 0
                    elif gp != PT:
                        ex = 0
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                if PK[gp, ln] == 0:
                                    err[E_CODE] = ERR_UNKNOWN_GUARD
                                    err[E_INST] = i
                                    err[E_LANE] = ln
                                    err[E_CTA] = cta
                                    err[E_WARP] = w
                                    return ERR_UNKNOWN_GUARD
                                if (np.int64(P[gp, ln]) ^ gneg) == 1:
                                    ex |= 1 << ln
                    elif gneg:
                        ex = 0
                # ---- record the dynamic instruction
                if n_inst >= cap_inst or n_mem + 1 >= cap_mem or n_lane + 32 > cap_lane:
                    counts[N_INST] = c_inst
                    counts[N_MEM] = c_mem
                    counts[N_LANE] = c_lane
                    counts[N_WARP] = c_warp
                    counts[N_CTA] = c_cta
                    err[E_CODE] = ERR_FULL
                    err[E_CTA] = cta
                    return ERR_FULL
                out_static[n_inst] = i
                out_mask[n_inst] = ex
                out_mem[n_inst] = -1
                if prog[i, C_TRACE_MEM]:
                    if op == OP_UTMALDG:
                        # one address per box row (lanes 0..rows-1), filled in below
                        pass
                    else:
                        s = prog[i, C_MEM_SLOT]
                        for ln in range(32):
                            if (ex >> ln) & 1:
                                a, k = _address(opnd[i, s], ln, R, RK, UR, URK)
                                if k == 0:
                                    err[E_CODE] = ERR_UNKNOWN_ADDR
                                    err[E_INST] = i
                                    err[E_LANE] = ln
                                    err[E_CTA] = cta
                                    err[E_WARP] = w
                                    return ERR_UNKNOWN_ADDR
                                addr[ln] = a
                        out_mem[n_inst] = n_mem
                        n_lane = _emit_mem(addr, ex, 32, n_mem, n_lane, mem_base, mem_stride, mem_mode,
                                           mem_ptr, lane_off)
                        n_mem += 1
                rec = n_inst
                n_inst += 1

                # ---- execute
                ctl = False  # True when this instruction changes lane PCs itself
                o = opnd[i]
                if op == OP_NOP:
                    pass
                elif op == OP_UNSUPPORTED:
                    err[E_CODE] = ERR_UNSUPPORTED
                    err[E_INST] = i
                    err[E_CTA] = cta
                    err[E_WARP] = w
                    return ERR_UNSUPPORTED
                elif op == OP_FPU or op == OP_LOAD:
                    # destinations unknown unless a global load hits the memory image
                    use_img = op == OP_LOAD and prog[i, C_MOD] == SPACE_GLOBAL and img_tab.shape[0] > 0
                    nb = prog[i, C_MOD + 1]
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            hit = 0
                            if use_img:
                                a, k = _address(o[prog[i, C_MOD + 2]], ln, R, RK, UR, URK)
                                if k:
                                    nreg = prog[i, C_DST1] - prog[i, C_DST0]
                                    for q in range(nreg):
                                        chunk = 4 if nb >= 4 else nb
                                        v, hit = _image_read(a + 4 * q, chunk, img_tab, img_data)
                                        if hit == 0:
                                            break
                                        if nb < 4 and prog[i, C_MOD + 3]:  # sign-extend S8/S16
                                            sb = 8 * nb - 1
                                            if (v >> sb) & 1:
                                                v |= (M32 >> (sb + 1)) << (sb + 1)
                                        r = dstregs[prog[i, C_DST0] + q]
                                        R[r, ln] = v & M32
                                        RK[r, ln] = 1
                            if hit == 0:
                                for q in range(prog[i, C_DST0], prog[i, C_DST1]):
                                    RK[dstregs[q], ln] = 0
                            for q in range(2):
                                s = prog[i, C_MOD + 4 + q]
                                if s >= 0:
                                    _write(o[s], ln, 0, 0, R, RK, UR, URK, P, PK, UP, UPK)
                    if ex != 0:
                        for q in range(2):  # uniform results of e.g. LDCU-less UR writers
                            s = prog[i, C_MOD + 6 + q]
                            if s >= 0:
                                _write(o[s], 0, 0, 0, R, RK, UR, URK, P, PK, UP, UPK)
                elif op == OP_STORE or op == OP_SYNCS:
                    if op == OP_SYNCS and prog[i, C_MOD] >= 0:
                        # SYNCS.PHASECHK.TRANS64.TRYWAIT Pd: the phase has completed
                        for ln in range(32):
                            if (ex >> ln) & 1:
                                _write(o[prog[i, C_MOD]], ln, 1, 1, R, RK, UR, URK, P, PK, UP, UPK)
                elif op == OP_UTMALDG:
                    # [URd] = {smem dst, mbarrier, coord0, coord1}; [URm] = tensor-map address
                    if ex != 0:
                        ud = opnd[i, 0, 2]
                        um = opnd[i, 1, 2]
                        kk = URK[um] & URK[um + 1] & URK[ud + 2] & URK[ud + 3]
                        if kk == 0:
                            err[E_CODE] = ERR_UNKNOWN_ADDR
                            err[E_INST] = i
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_UNKNOWN_ADDR
                        maddr = UR[um] | (UR[um + 1] << 32)
                        poff = maddr - launch[L_PARAM_WINDOW]
                        row = -1
                        for t in range(tma_tab.shape[0]):
                            if tma_tab[t, T_PARAM_OFF] == poff:
                                row = t
                        if row < 0:
                            err[E_CODE] = ERR_TMA
                            err[E_INST] = i
                            err[E_AUX] = poff
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_TMA
                        c0 = _s32(UR[ud + 2])
                        c1 = _s32(UR[ud + 3])
                        box0 = tma_tab[row, T_BOX0]
                        box1 = tma_tab[row, T_BOX1]
                        dim0 = tma_tab[row, T_DIM0]
                        dim1 = tma_tab[row, T_DIM1]
                        el = tma_tab[row, T_ELEM]
                        lo0 = max(c0, 0)
                        hi0 = min(c0 + box0, dim0)
                        rmask = 0
                        if hi0 > lo0 and box1 <= 32:
                            for rr in range(box1):
                                yy = c1 + rr
                                if 0 <= yy < dim1:
                                    rmask |= 1 << rr
                                    addr[rr] = tma_tab[row, T_BASE] + yy * tma_tab[row, T_STRIDE1] + lo0 * el
                        elif box1 > 32:
                            err[E_CODE] = ERR_TMA
                            err[E_INST] = i
                            err[E_AUX] = -box1
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_TMA
                        out_mask[rec] = rmask
                        out_mem[rec] = n_mem
                        n_lane = _emit_mem(addr, rmask, 32, n_mem, n_lane, mem_base, mem_stride, mem_mode,
                                           mem_ptr, lane_off)
                        n_mem += 1
                    else:
                        out_mem[rec] = n_mem
                        n_lane = _emit_mem(addr, 0, 32, n_mem, n_lane, mem_base, mem_stride, mem_mode,
                                           mem_ptr, lane_off)
                        n_mem += 1
                elif op >= OP_BRA and op <= OP_RET:
                    ctl = True
                    tgt = prog[i, C_TARGET]
                    if op == OP_BRA:
                        # taken where the guard holds and the optional second predicate (slot 0) holds
                        take = 0
                        for ln in range(32):
                            if (ex >> ln) & 1:
                                if o[0, 0] == K_P or o[0, 0] == K_UP:
                                    v, k = _fetch(o[0], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                                    if k == 0:
                                        err[E_CODE] = ERR_UNKNOWN_BRANCH
                                        err[E_INST] = i
                                        err[E_LANE] = ln
                                        err[E_CTA] = cta
                                        err[E_WARP] = w
                                        return ERR_UNKNOWN_BRANCH
                                    if v:
                                        take |= 1 << ln
                                else:
                                    take |= 1 << ln
                        if prog[i, C_MOD] and take != 0:  # .U.ANY: the whole group follows
                            take = gmask
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                pc[ln] = tgt if (take >> ln) & 1 else i + 1
                    elif op == OP_BRA_DIV:
                        m, k = _fetch(o[0], 0, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                        if k == 0:
                            err[E_CODE] = ERR_UNKNOWN_BRANCH
                            err[E_INST] = i
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_UNKNOWN_BRANCH
                        diverged = (m & alive & ~gmask) != 0
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                pc[ln] = tgt if (diverged and (ex >> ln) & 1) else i + 1
                    elif op == OP_EXIT:
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                if (ex >> ln) & 1:
                                    state[ln] = EXITED
                                    alive &= ~(1 << ln)
                                else:
                                    pc[ln] = i + 1
                        for b in range(NBAR):
                            _try_release(b, bar, state, wait, pc, 32)
                    elif op == OP_BSSY:
                        b = o[0, 1]
                        if ex != 0:
                            bar[b] = ex
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                pc[ln] = i + 1
                    elif op == OP_BSYNC or op == OP_WARPSYNC:
                        if op == OP_BSYNC:
                            b = o[0, 1]
                        else:
                            b = WSYNC
                            if prog[i, C_MOD]:  # .ALL
                                m = alive
                            else:
                                m, k = _fetch(o[0], 0, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                                if k == 0:
                                    err[E_CODE] = ERR_UNKNOWN_VALUE
                                    err[E_INST] = i
                                    err[E_CTA] = cta
                                    err[E_WARP] = w
                                    return ERR_UNKNOWN_VALUE
                            bar[b] = m & alive
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                if (ex >> ln) & 1:
                                    state[ln] = BLOCKED
                                    wait[ln] = b
                                    pc[ln] = i
                                else:
                                    pc[ln] = i + 1
                        _try_release(b, bar, state, wait, pc, 32)
                    elif op == OP_CALL:
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                pc[ln] = tgt if (ex >> ln) & 1 else i + 1
                    elif op == OP_RET:
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                if (ex >> ln) & 1:
                                    v, k = _fetch(o[0], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                                    if k == 0:
                                        err[E_CODE] = ERR_UNKNOWN_VALUE
                                        err[E_INST] = i
                                        err[E_LANE] = ln
                                        err[E_CTA] = cta
                                        err[E_WARP] = w
                                        return ERR_UNKNOWN_VALUE
                                    pc[ln] = (v & M32) >> 4
                                else:
                                    pc[ln] = i + 1
                elif op == OP_SHFL:
                    # slots: 0 Pd, 1 Rd, 2 a, 3 b, 4 c
                    mode = prog[i, C_MOD]
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            bv, bk = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            cv, ck = _fetch(o[4], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            if bk == 0 or ck == 0:
                                tmpk[ln] = 0
                                tmpp[ln] = -1
                                continue
                            bv &= 31
                            cval = cv & 31
                            seg = (cv >> 8) & 31
                            maxl = (ln & seg) | (cval & ~seg & 31)
                            minl = ln & seg
                            if mode == SHFL_UP:
                                j = ln - bv
                                pv = 1 if j >= maxl else 0
                            elif mode == SHFL_DOWN:
                                j = ln + bv
                                pv = 1 if j <= maxl else 0
                            elif mode == SHFL_BFLY:
                                j = ln ^ bv
                                pv = 1 if j <= maxl else 0
                            else:
                                j = minl | (bv & ~seg & 31)
                                pv = 1 if j <= maxl else 0
                            if pv == 0:
                                j = ln
                            tmpp[ln] = pv
                            if 0 <= j < 32 and (ex >> j) & 1:
                                v, k = _fetch(o[2], j, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                                tmpv[ln] = v
                                tmpk[ln] = k
                            else:
                                tmpk[ln] = 0
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            _write(o[1], ln, tmpv[ln], tmpk[ln], R, RK, UR, URK, P, PK, UP, UPK)
                            _write(o[0], ln, tmpp[ln] if tmpp[ln] >= 0 else 0, 1 if tmpp[ln] >= 0 else 0,
                                   R, RK, UR, URK, P, PK, UP, UPK)
                elif op == OP_VOTE:
                    # slots: 0 Rd/URd (ballot), 1 Pd/UPd, 2 Pin; mod0: 0 ANY, 1 ALL, 2 EQ
                    ballot = 0
                    bk = 1
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            v, k = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            bk &= k
                            if v:
                                ballot |= 1 << ln
                    mode = prog[i, C_MOD]
                    if mode == 0:
                        res = 1 if ballot != 0 else 0
                    elif mode == 1:
                        res = 1 if ballot == ex else 0
                    else:
                        res = 1 if (ballot == ex or ballot == 0) else 0
                    uni = o[0, 0] == K_UR or o[1, 0] == K_UP
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            _write(o[0], ln, ballot, bk, R, RK, UR, URK, P, PK, UP, UPK)
                            _write(o[1], ln, res, bk, R, RK, UR, URK, P, PK, UP, UPK)
                            if uni:
                                break
                elif op == OP_ELECT:
                    # slots: 0 Pd, 1 URd
                    leader = -1
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            leader = ln
                            break
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            _write(o[0], ln, 1 if ln == leader else 0, 1, R, RK, UR, URK, P, PK, UP, UPK)
                    if leader >= 0:
                        _write(o[1], 0, leader, 1, R, RK, UR, URK, P, PK, UP, UPK)
                elif op == OP_R2UR:
                    if ex != 0:
                        first = -1
                        for ln in range(32):
                            if (ex >> ln) & 1:
                                first = ln
                                break
                        v, k = _fetch(o[1], first, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                        _write(o[0], 0, v, k, R, RK, UR, URK, P, PK, UP, UPK)
                else:
                    # ---- per-lane ALU; a uniform destination is computed once
                    uni = o[0, 0] == K_UR or o[0, 0] == K_UP
                    for ln in range(32):
                        if not (ex >> ln) & 1:
                            continue
                        if op == OP_MOV:
                            v, k = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            _write(o[0], ln, v, k, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_IMAD or op == OP_IMAD_HI:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            c, kc = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            ci, kci = _fetch(o[4], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            if op == OP_IMAD:
                                v = ((a & M32) * (b2 & M32) + c + ci) & M32
                            else:
                                if prog[i, C_MOD]:
                                    hp = (_s32(a) * _s32(b2)) >> 32
                                else:
                                    hp = np.int64((np.uint64(a & M32) * np.uint64(b2 & M32)) >> np.uint64(32))
                                v = (hp + c + ci) & M32
                            _write(o[0], ln, v, ka & kb & kc & kci, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_IMAD_WIDE:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            c, kc = _fetch64(o[3], ln, R, RK, UR, URK, cb, cbk)
                            if prog[i, C_MOD]:
                                p64 = _s32(a) * _s32(b2) + c
                            else:
                                p64 = np.int64(np.uint64(a & M32) * np.uint64(b2 & M32) + np.uint64(c))
                            kk = ka & kb & kc
                            _write(o[0], ln, p64 & M32, kk, R, RK, UR, URK, P, PK, UP, UPK)
                            if o[0, 0] == K_R and o[0, 1] != RZ:
                                R[o[0, 1] + 1, ln] = (p64 >> 32) & M32
                                RK[o[0, 1] + 1, ln] = kk
                            elif o[0, 0] == K_UR and o[0, 1] != URZ:
                                UR[o[0, 1] + 1] = (p64 >> 32) & M32
                                URK[o[0, 1] + 1] = kk
                        elif op == OP_IADD3:
                            # slots: 0 d, 1 Pc0, 2 Pc1, 3 a, 4 b, 5 c, 6 cin0, 7 cin1
                            a, ka = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[4], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            c, kc = _fetch(o[5], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            c0, k0 = _fetch(o[6], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            c1, k1 = _fetch(o[7], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            kk = ka & kb & kc & k0 & k1
                            s1 = a + b2
                            car0 = s1 >> 32
                            s2 = (s1 & M32) + c + c0 + c1
                            car1 = s2 >> 32
                            _write(o[0], ln, s2, kk, R, RK, UR, URK, P, PK, UP, UPK)
                            if o[2, 0] == K_NONE:
                                _write(o[1], ln, 1 if (car0 + car1) else 0, kk, R, RK, UR, URK, P, PK, UP, UPK)
                            else:
                                _write(o[1], ln, car0, kk, R, RK, UR, URK, P, PK, UP, UPK)
                                _write(o[2], ln, car1, kk, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_VIADD:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            _write(o[0], ln, a + b2, ka & kb, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_LEA:
                            # slots: 0 d, 1 Pout, 3 a, 4 b, 5 shift, 6 cin
                            a, ka = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[4], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            sh, ks = _fetch(o[5], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            ci, kci = _fetch(o[6], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            s = (((a & M32) << (sh & 31)) & M32) + b2 + ci
                            kk = ka & kb & ks & kci
                            _write(o[0], ln, s, kk, R, RK, UR, URK, P, PK, UP, UPK)
                            _write(o[1], ln, (s >> 32) & 1, kk, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_LEA_HI:
                            # slots: 0 d, 1 Pout, 3 a, 4 b, 5 c (high word; NONE with .SX32), 6 shift, 7 cin
                            a, ka = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[4], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            if prog[i, C_MOD]:  # .SX32
                                c = M32 if (a >> 31) & 1 else 0
                                kc = 1
                            else:
                                c, kc = _fetch(o[5], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            sh, ks = _fetch(o[6], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            ci, kci = _fetch(o[7], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            sh &= 63
                            v64 = np.uint64(((c & M32) << 32) | (a & M32))
                            hi = np.int64((v64 << np.uint64(sh)) >> np.uint64(32)) if sh < 64 else 0
                            s = (hi & M32) + b2 + ci
                            kk = ka & kb & kc & ks & kci
                            _write(o[0], ln, s, kk, R, RK, UR, URK, P, PK, UP, UPK)
                            _write(o[1], ln, (s >> 32) & 1, kk, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_SHF:
                            # slots: 0 d, 1 a (low word), 2 shift, 3 c (high word); mods: left, signed, 64-bit, hi
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            sh, ks = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            c, kc = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            left = prog[i, C_MOD]
                            signed = prog[i, C_MOD + 1]
                            is64 = prog[i, C_MOD + 2]
                            hi = prog[i, C_MOD + 3]
                            sh &= M32
                            lim = 63 if is64 else 32
                            if sh > lim:
                                sh = lim
                            v64 = ((c & M32) << 32) | (a & M32)
                            if left:
                                r64 = np.int64(np.uint64(v64) << np.uint64(sh)) if sh < 64 else 0
                            elif signed:
                                r64 = v64 >> sh  # arithmetic: v64 holds (c:a) as a signed int64
                            else:
                                r64 = np.int64(np.uint64(v64) >> np.uint64(sh))
                            v = (r64 >> 32) & M32 if hi else r64 & M32
                            _write(o[0], ln, v, ka & ks & kc, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_SHL or op == OP_SHR:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            sh, ks = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            sh &= M32
                            if op == OP_SHL:
                                v = ((a & M32) << sh) & M32 if sh < 32 else 0
                            elif prog[i, C_MOD]:
                                v = (_s32(a) >> (sh if sh < 31 else 31)) & M32
                            else:
                                v = (a & M32) >> sh if sh < 32 else 0
                            _write(o[0], ln, v, ka & ks, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_LOP3:
                            # slots: 0 d (R/UR or NONE), 1 Pd (or NONE), 2 a, 3 b, 4 c
                            a, ka = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            c, kc = _fetch(o[4], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            v = _lut3(a & M32, b2 & M32, c & M32, prog[i, C_MOD])
                            kk = ka & kb & kc
                            _write(o[0], ln, v, kk, R, RK, UR, URK, P, PK, UP, UPK)
                            _write(o[1], ln, 1 if v != 0 else 0, kk, R, RK, UR, URK, P, PK, UP, UPK)
                            if o[1, 0] == K_UP:
                                uni = True
                        elif op == OP_PLOP3:
                            # slots: 0 Pd1, 1 Pd2, 2 a, 3 b, 4 c; mods: lut1, lut2
                            a, ka = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            c, kc = _fetch(o[4], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            idx = (a << 2) | (b2 << 1) | c
                            kk = ka & kb & kc
                            _write(o[0], ln, (prog[i, C_MOD] >> idx) & 1, kk, R, RK, UR, URK, P, PK, UP, UPK)
                            _write(o[1], ln, (prog[i, C_MOD + 1] >> idx) & 1, kk, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_ISETP:
                            # slots: 0 Pd1, 1 Pd2, 2 a, 3 b, 4 Pc, 5 Pex; mods: cmp, unsigned, bop, ex
                            a, ka = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            pc_, kc = _fetch(o[4], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            code = prog[i, C_MOD]
                            uns = prog[i, C_MOD + 1]
                            if prog[i, C_MOD + 3]:
                                lo, kl = _fetch(o[5], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                                t = _cmp_ex(code, a, b2, uns, lo)
                                kc &= kl
                            else:
                                t = _cmp(code, a, b2, uns)
                            bo = prog[i, C_MOD + 2]
                            kk = ka & kb & kc
                            _write(o[0], ln, _bop(bo, t, pc_), kk, R, RK, UR, URK, P, PK, UP, UPK)
                            _write(o[1], ln, _bop(bo, t ^ 1, pc_), kk, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_SEL:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            p, kp = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            if kp:
                                _write(o[0], ln, a if p else b2, ka if p else kb, R, RK, UR, URK, P, PK, UP, UPK)
                            else:
                                _write(o[0], ln, 0, 0, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_PRMT:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            sel, ks = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            src = (a & M32) | ((b2 & M32) << 32)
                            v = 0
                            for q in range(4):
                                nib = (sel >> (4 * q)) & 15
                                byte = (src >> (8 * (nib & 7))) & 255
                                if nib & 8:
                                    byte = 255 if byte & 128 else 0
                                v |= byte << (8 * q)
                            _write(o[0], ln, v, ka & ks & kb, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_MNMX or op == OP_VIADDMNMX:
                            # MNMX slots: 0 d, 1 a, 2 b, 3 P (true: min); VIADDMNMX: 0 d, 1 a, 2 b, 3 c, 4 P
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            b2, kb = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            ps = 3
                            if op == OP_VIADDMNMX:
                                c, kc = _fetch(o[3], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                                a = (a + b2) & M32
                                b2 = c
                                kb &= kc
                                ps = 4
                            p, kp = _fetch(o[ps], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            if prog[i, C_MOD]:
                                x = a & M32
                                y = b2 & M32
                            else:
                                x = _s32(a)
                                y = _s32(b2)
                            v = (x if x < y else y) if p else (x if x > y else y)
                            _write(o[0], ln, v, ka & kb & kp, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_IABS:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            s = _s32(a)
                            _write(o[0], ln, -s if s < 0 else s, ka, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_POPC:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            _write(o[0], ln, _popc(a & M32), ka, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_FLO:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            x = a & M32
                            if prog[i, C_MOD] and (x >> 31) & 1:  # .S32: find the first bit unlike the sign
                                x = (~x) & M32
                            pos = -1
                            for q in range(31, -1, -1):
                                if (x >> q) & 1:
                                    pos = q
                                    break
                            if prog[i, C_MOD + 1] and pos >= 0:  # .SH: shift amount instead of position
                                pos = 31 - pos
                            _write(o[0], ln, pos & M32, ka, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_BREV:
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            v = 0
                            for q in range(32):
                                if (a >> q) & 1:
                                    v |= 1 << (31 - q)
                            _write(o[0], ln, v, ka, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_S2R:
                            v, k = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            _write(o[0], ln, v, k, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_CS2R:
                            v, k = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            _write(o[0], ln, v, k, R, RK, UR, URK, P, PK, UP, UPK)
                            if prog[i, C_MOD] == 2 and o[0, 1] != RZ:  # 64-bit pair: the high word
                                R[o[0, 1] + 1, ln] = 0
                                RK[o[0, 1] + 1, ln] = k
                        elif op == OP_LDC:
                            # slots: 0 d, 1 const; mods: bytes, signed
                            nb = prog[i, C_MOD]
                            co = o[1]
                            off = co[1]
                            k = 1
                            if co[2] >= 0 and co[2] != RZ:
                                off += R[co[2], ln]
                                k &= RK[co[2], ln]
                            if co[3] >= 0 and co[3] != URZ:
                                off += UR[co[3]]
                                k &= URK[co[3]]
                            v, kv = _cb_read(cb, cbk, off, nb)
                            k &= kv
                            if nb < 4 and prog[i, C_MOD + 1]:
                                sb = 8 * nb - 1
                                if (v >> sb) & 1:
                                    v |= (M32 >> (sb + 1)) << (sb + 1)
                            _write(o[0], ln, v & M32, k, R, RK, UR, URK, P, PK, UP, UPK)
                            if nb == 8:
                                if o[0, 0] == K_R and o[0, 1] != RZ:
                                    R[o[0, 1] + 1, ln] = (v >> 32) & M32
                                    RK[o[0, 1] + 1, ln] = k
                                elif o[0, 0] == K_UR and o[0, 1] != URZ:
                                    UR[o[0, 1] + 1] = (v >> 32) & M32
                                    URK[o[0, 1] + 1] = k
                        elif op == OP_P2R:
                            # slots: 0 d, 1 a, 2 mask (PR implied)
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            m, km = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            bits = 0
                            kk = ka & km
                            for q in range(7):
                                if (m >> q) & 1:
                                    bits |= np.int64(P[q, ln]) << q
                                    kk &= PK[q, ln]
                            _write(o[0], ln, (a & ~m & M32) | (bits & m), kk, R, RK, UR, URK, P, PK, UP, UPK)
                        elif op == OP_R2P:
                            # slots: 1 a, 2 mask
                            a, ka = _fetch(o[1], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            m, km = _fetch(o[2], ln, R, RK, UR, URK, P, PK, UP, UPK, cb, cbk, tid, ctaid, w)
                            for q in range(7):
                                if (m >> q) & 1:
                                    P[q, ln] = (a >> q) & 1
                                    PK[q, ln] = ka & km
                        else:
                            err[E_CODE] = ERR_UNSUPPORTED
                            err[E_INST] = i
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_UNSUPPORTED
                        if uni:
                            break

                # ---- next PC
                if not ctl:
                    nxt = i + 1
                    for ln in range(32):
                        if (gmask >> ln) & 1:
                            pc[ln] = nxt
                    if omin <= nxt:
                        gpc, gmask, omin = _pick(pc, state, 32)
                    else:
                        gpc = nxt
                else:
                    gpc, gmask, omin = _pick(pc, state, 32)
                if gmask == 0:
                    for ln in range(32):
                        if state[ln] == BLOCKED:
                            err[E_CODE] = ERR_DEADLOCK
                            err[E_INST] = pc[ln]
                            err[E_LANE] = ln
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_DEADLOCK
            n_warp += 1
            warp_ptr[n_warp] = n_inst
        counts[N_INST] = n_inst
        counts[N_MEM] = n_mem
        counts[N_LANE] = n_lane
        counts[N_WARP] = n_warp
        counts[N_CTA] = c_cta + 1
        cta_ptr[c_cta + 1] = n_warp
    return OK

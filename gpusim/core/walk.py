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
effect.  mbarrier waits (``SYNCS.PHASECHK``) succeed at the first try, so the trace holds one TRYWAIT
per completed wait: the timing model (gpusim/core/sm.py, configs/README.md "TMA and mbarriers") holds
its consumer until the phase's arrival and TMA bytes are in (research/sass-control-bits.md section 7,
pitfall 11).

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
OP_BAR = 46         # BAR.SYNC / BAR.ARV with a register barrier id or thread count: recorded in out_mem

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
C_LDGSTS_SRC = 5    # OP_STORE of an LDGSTS: modifier 5 = 1 + its source-valid predicate (pred | neg << 3), 0: none
C_SRC = 16          # bit mask of the operand slots read (gathered per lane before execution)
C_D0 = 17           # operand slots written with result rows 0, 1, 2 (-1: none)
C_D1 = 18
C_D2 = 19
C_DWIDE = 20        # 1: result row 0 is a 64-bit pair (IMAD.WIDE, LDC.64, CS2R)
C_UNI = 21          # 1: uniform destination, computed once (first active lane)
N_COLS = 24
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
SPACE_LOCAL = 3     # LDL / STL: register spills, kept per thread (LOCAL_WORDS words below LOCAL_TOP)

#: local memory of a thread as the walker keeps it: the LOCAL_WORDS 32-bit words below LOCAL_TOP (the
#: initial stack pointer c[0x0][0x28], gpusim.llm.walker.STACK_TOP); STL writes register values and their
#: known-bits there, LDL reads them back (ptxas spills address registers, so a refill must be exact)
LOCAL_TOP = 0x00FF_FC00
LOCAL_WORDS = 256

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
ERR_BAR = 11            # BAR with a barrier id outside 0-15 or a thread count not a positive multiple of 32
#: out_mem of a BAR.SYNC / BAR.ARV whose operands are registers: -2 - (id + BAR_IDS * thread count / 32)
#: (thread count 0: no count operand); every other instruction has -1 or its memory row (>= 0)
BAR_IDS = 16
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


# Helpers take scalars only (or are called once per instruction at most): a Numba call that passes
# arrays costs reference-count traffic, which made a per-lane operand helper ~40x slower.


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
    """High-word step of a 64-bit compare; ``low`` is the low-word result of the same comparison."""
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
def _mods(v, fl):
    """|x|, ~x, -x modifiers of a 32-bit source; -x is 2**32 - x (1 .. 2**32: ~x + 1 without
    wrapping, as IADD3's adder sees it); consumers mask to 32 bits where they need to."""
    if fl & F_ABS:
        s = _s32(v)
        v = (-s if s < 0 else s) & M32
    if fl & F_INV:
        v = (~v) & M32
    if fl & F_NEG:
        v = 0x100000000 - (v & M32)
    return v


@njit(cache=True)
def _pick(pc, state):
    """Lanes that run next: (pc, mask, smallest pc among the other runnable lanes)."""
    best = 1 << 62
    for ln in range(32):
        if state[ln] == RUN and pc[ln] < best:
            best = pc[ln]
    mask = 0
    other = 1 << 62
    for ln in range(32):
        if state[ln] == RUN:
            if pc[ln] == best:
                mask |= 1 << ln
            elif pc[ln] < other:
                other = pc[ln]
    return best, mask, other


@njit(cache=True)
def _try_release(b, bar, state, wait, pc):
    """Release the lanes blocked on barrier b once every live lane of its mask has arrived."""
    m = bar[b]
    for ln in range(32):
        if (m >> ln) & 1 and state[ln] != EXITED:
            if not (state[ln] == BLOCKED and wait[ln] == b):
                return False
    released = False
    for ln in range(32):
        if state[ln] == BLOCKED and wait[ln] == b:
            state[ln] = RUN
            pc[ln] += 1
            released = True
    return released


@njit(cache=True)
def _emit_mem(addr, exec_mask, n_mem, n_lane, mem_base, mem_stride, mem_mode, mem_ptr, lane_off):
    """One memory-table row for the active lanes' addresses: mode 1 (base + stride) when the active
    lanes are contiguous and equally spaced, else mode 0 (offsets from the first active lane)."""
    first = -1
    last = -1
    cnt = 0
    for ln in range(32):
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
        for ln in range(32):
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
            for q in range(nbytes):
                v |= np.int64(img_data[o + q]) << (8 * q)
            return v, 1
    return 0, 0


@njit(cache=True)
def walk_ctas(prog, opnd, dstregs, cb, cbk, launch, cta_lo, cta_hi, img_tab, img_data, tma_tab,
              out_static, out_mask, out_mem, mem_base, mem_stride, mem_mode, mem_ptr, lane_off,
              warp_ptr, warp_slot, cta_ptr, cta_xyz, counts, err):
    """Walk CTAs ``cta_lo .. cta_hi-1`` (linear index x + y*gx + z*gx*gy), appending to the output
    columns from ``counts``.  Returns a status code; on ``ERR_FULL`` the counts are rolled back to
    the start of CTA ``err[E_CTA]`` so the caller can grow the buffers and resume there.

    Per instruction: evaluate the guard; gather the source slots (``C_SRC``) of the executing lanes
    into ``V``/``VK``; record the dynamic instruction and, for memory instructions, the addresses;
    compute result rows ``RES``/``RESK``; write them to the destination slots ``C_D0..C_D2``."""
    n_prog = prog.shape[0]
    gx = launch[L_GX]
    gy = launch[L_GY]
    bx = launch[L_BX]
    by = launch[L_BY]
    bz = launch[L_BZ]
    nthreads = bx * by * bz
    nwarps = (nthreads + 31) // 32
    max_steps = launch[L_MAX_STEPS]
    ncb = cb.shape[0]

    R = np.zeros((256, 32), np.int64)
    RK = np.zeros((256, 32), np.uint8)
    P = np.zeros((8, 32), np.int64)
    PK = np.zeros((8, 32), np.uint8)
    UR = np.zeros(64, np.int64)
    URK = np.zeros(64, np.uint8)
    UP = np.zeros(8, np.int64)
    UPK = np.zeros(8, np.uint8)
    V = np.zeros((N_SLOTS, 32), np.int64)
    VK = np.zeros((N_SLOTS, 32), np.uint8)
    RES = np.zeros((3, 32), np.int64)
    RESK = np.zeros((3, 32), np.uint8)
    bar = np.zeros(NBAR, np.int64)
    pc = np.zeros(32, np.int64)
    state = np.zeros(32, np.int64)
    wait = np.zeros(32, np.int64)
    tid = np.zeros((32, 3), np.int64)
    ctaid = np.zeros(3, np.int64)
    addr = np.zeros(32, np.int64)
    LOC = np.zeros((LOCAL_WORDS, 32), np.int64)
    LOCK = np.zeros((LOCAL_WORDS, 32), np.uint8)
    loc_lo = LOCAL_TOP - 4 * LOCAL_WORDS

    cap_inst = out_static.shape[0]
    cap_mem = mem_base.shape[0]
    cap_lane = lane_off.shape[0]
    cap_warp = warp_slot.shape[0]
    cap_cta = cta_xyz.shape[0]

    for cta in range(cta_lo, cta_hi):
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
            gpc, gmask, omin = _pick(pc, state)
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
                # ---------------------------------------------------------- guard predicate
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
                                err[E_CODE] = ERR_UNKNOWN_GUARD
                                err[E_INST] = i
                                err[E_CTA] = cta
                                err[E_WARP] = w
                                return ERR_UNKNOWN_GUARD
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
                            # a data-dependent guard: tolerated where the instruction only produces
                            # values (recorded as executed, its results unknown); an error for memory
                            # and control instructions, whose trace would depend on the data
                            if op == OP_FPU or op == OP_NOP or (op >= OP_MOV and op <= OP_LDC):
                                ex |= unk
                            else:
                                err[E_CODE] = ERR_UNKNOWN_GUARD
                                err[E_INST] = i
                                err[E_LANE] = 0
                                while not (unk >> err[E_LANE]) & 1:
                                    err[E_LANE] += 1
                                err[E_CTA] = cta
                                err[E_WARP] = w
                                return ERR_UNKNOWN_GUARD
                    elif gneg:
                        ex = 0
                cm = ex
                if prog[i, C_UNI] and ex != 0:
                    cm = ex & -ex  # uniform destination: compute once, on the first active lane
                # ---------------------------------------------------------- gather sources
                srcm = prog[i, C_SRC]
                if cm != 0:
                    for s in range(N_SLOTS):
                        if not (srcm >> s) & 1:
                            continue
                        kind = opnd[i, s, 0]
                        a = opnd[i, s, 1]
                        x = opnd[i, s, 2]
                        y = opnd[i, s, 3]
                        fl = opnd[i, s, 4]
                        wide = (fl & F_WIDE) != 0
                        bval = 0
                        bk = 1
                        bcast = True
                        if kind == K_NONE:
                            pass
                        elif kind == K_IMM:
                            bval = a if wide else a & M32
                        elif kind == K_UR:
                            if a != URZ:
                                bval = UR[a]
                                bk = URK[a]
                                if wide:
                                    bval |= UR[a + 1] << 32
                                    bk &= URK[a + 1]
                            if not wide:
                                bval = _mods(bval, fl)
                        elif kind == K_UP:
                            if a != PT:
                                bval = UP[a]
                                bk = UPK[a]
                            else:
                                bval = 1
                            if fl & F_NEG:
                                bval ^= 1
                        elif kind == K_CONST and (x < 0 or x == RZ):
                            off = a
                            if y >= 0 and y != URZ:
                                off += UR[y]
                                bk &= URK[y]
                            nb = 8 if wide else 4
                            if off < 0 or off + nb > ncb:
                                bk = 0
                            else:
                                for q in range(nb):
                                    bval |= np.int64(cb[off + q]) << (8 * q)
                                    if cbk[off + q] == 0:
                                        bk = 0
                            if not wide:
                                bval = _mods(bval, fl)
                        else:
                            bcast = False
                        if bcast:
                            for ln in range(32):
                                V[s, ln] = bval
                                VK[s, ln] = bk
                            continue
                        for ln in range(32):
                            if not (cm >> ln) & 1:
                                continue
                            v = 0
                            k = 1
                            if kind == K_R:
                                if a != RZ:
                                    v = R[a, ln]
                                    k = RK[a, ln]
                                    if wide:
                                        v |= R[a + 1, ln] << 32
                                        k &= RK[a + 1, ln]
                                if not wide:
                                    v = _mods(v, fl)
                            elif kind == K_P:
                                if a != PT:
                                    v = P[a, ln]
                                    k = PK[a, ln]
                                else:
                                    v = 1
                                if fl & F_NEG:
                                    v ^= 1
                            elif kind == K_MEM:
                                v = y
                                if a >= 0 and a != RZ:
                                    if wide:
                                        v += R[a, ln] | (R[a + 1, ln] << 32)
                                        k &= RK[a, ln] & RK[a + 1, ln]
                                    else:
                                        v += R[a, ln]
                                        k &= RK[a, ln]
                                if x >= 0 and x != URZ:
                                    if wide and a < 0:
                                        v += UR[x] | (UR[x + 1] << 32)
                                        k &= URK[x] & URK[x + 1]
                                    else:
                                        v += UR[x]
                                        k &= URK[x]
                            elif kind == K_CONST:
                                off = a + R[x, ln]
                                k = RK[x, ln]
                                if y >= 0 and y != URZ:
                                    off += UR[y]
                                    k &= URK[y]
                                nb = 8 if wide else 4
                                if off < 0 or off + nb > ncb:
                                    k = 0
                                else:
                                    for q in range(nb):
                                        v |= np.int64(cb[off + q]) << (8 * q)
                                        if cbk[off + q] == 0:
                                            k = 0
                                if not wide:
                                    v = _mods(v, fl)
                            elif kind == K_SR:
                                if a == SR_TID_X:
                                    v = tid[ln, 0]
                                elif a == SR_TID_Y:
                                    v = tid[ln, 1]
                                elif a == SR_TID_Z:
                                    v = tid[ln, 2]
                                elif a == SR_CTAID_X:
                                    v = ctaid[0]
                                elif a == SR_CTAID_Y:
                                    v = ctaid[1]
                                elif a == SR_CTAID_Z:
                                    v = ctaid[2]
                                elif a == SR_LANEID:
                                    v = ln
                                elif a == SR_EQMASK:
                                    v = (1 << ln) & M32
                                elif a == SR_LTMASK:
                                    v = ((1 << ln) - 1) & M32
                                elif a == SR_LEMASK:
                                    v = ((1 << (ln + 1)) - 1) & M32
                                elif a == SR_GTMASK:
                                    v = (~((1 << (ln + 1)) - 1)) & M32
                                elif a == SR_GEMASK:
                                    v = (~((1 << ln) - 1)) & M32
                                elif a == SR_ZERO:
                                    v = 0
                                elif a == SR_WARPID:
                                    v = w
                                else:
                                    k = 0
                            else:
                                k = 0
                            V[s, ln] = v
                            VK[s, ln] = k
                # ---------------------------------------------------------- record
                if n_inst >= cap_inst or n_mem + 1 >= cap_mem or n_lane + 32 > cap_lane:
                    counts[N_INST] = c_inst
                    counts[N_MEM] = c_mem
                    counts[N_LANE] = c_lane
                    counts[N_WARP] = c_warp
                    counts[N_CTA] = c_cta
                    err[E_CODE] = ERR_FULL
                    err[E_CTA] = cta
                    return ERR_FULL
                if op == OP_STORE and prog[i, C_MOD + C_LDGSTS_SRC] > 0:
                    # LDGSTS whose source-valid predicate (cp.async src-size 0) is false in a lane copies
                    # zeros without reading global memory: recorded like a lane predicated off
                    sv = prog[i, C_MOD + C_LDGSTS_SRC] - 1
                    sp = sv & 7
                    sneg = (sv >> 3) & 1
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            if sp == PT:
                                on = 1
                            elif PK[sp, ln] == 0:
                                err[E_CODE] = ERR_UNKNOWN_GUARD
                                err[E_INST] = i
                                err[E_LANE] = ln
                                err[E_CTA] = cta
                                err[E_WARP] = w
                                return ERR_UNKNOWN_GUARD
                            else:
                                on = P[sp, ln]
                            if (on ^ sneg) == 0:
                                ex &= ~(1 << ln)
                out_static[n_inst] = i
                out_mask[n_inst] = ex
                out_mem[n_inst] = -1
                if prog[i, C_TRACE_MEM] and op != OP_UTMALDG:
                    ms = prog[i, C_MEM_SLOT]
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            if VK[ms, ln] == 0:
                                err[E_CODE] = ERR_UNKNOWN_ADDR
                                err[E_INST] = i
                                err[E_LANE] = ln
                                err[E_CTA] = cta
                                err[E_WARP] = w
                                return ERR_UNKNOWN_ADDR
                            addr[ln] = V[ms, ln]
                    out_mem[n_inst] = n_mem
                    n_lane = _emit_mem(addr, ex, n_mem, n_lane, mem_base, mem_stride, mem_mode, mem_ptr, lane_off)
                    n_mem += 1
                if op == OP_BAR and ex != 0:
                    # the named barrier of a BAR with register operands (PTX ISA "bar": id 0-15, a
                    # thread count that is a multiple of the warp size), from its first active lane
                    first = 0
                    while not (ex >> first) & 1:
                        first += 1
                    nops = prog[i, C_MOD] + 1
                    for q in range(nops):
                        if VK[q, first] == 0:
                            err[E_CODE] = ERR_UNKNOWN_VALUE
                            err[E_INST] = i
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_UNKNOWN_VALUE
                    bid = V[0, first]
                    nthr = V[1, first] if nops > 1 else 0
                    if bid < 0 or bid >= BAR_IDS or nthr < 0 or nthr % 32 != 0 or (nops > 1 and nthr == 0):
                        err[E_CODE] = ERR_BAR
                        err[E_INST] = i
                        err[E_CTA] = cta
                        err[E_WARP] = w
                        return ERR_BAR
                    out_mem[n_inst] = -2 - (bid + BAR_IDS * (nthr // 32))
                rec = n_inst
                n_inst += 1
                # ---------------------------------------------------------- execute
                ctl = False
                nres = 0  # result rows to write
                if op == OP_NOP or op == OP_BAR:
                    pass
                elif op == OP_UNSUPPORTED:
                    err[E_CODE] = ERR_UNSUPPORTED
                    err[E_INST] = i
                    err[E_CTA] = cta
                    err[E_WARP] = w
                    return ERR_UNSUPPORTED
                elif op == OP_LOAD and prog[i, C_MOD] == SPACE_LOCAL:
                    # LDL: the words an STL of this thread left there (unknown if none)
                    d0 = prog[i, C_DST0]
                    d1 = prog[i, C_DST1]
                    for ln in range(32):
                        if not (ex >> ln) & 1:
                            continue
                        a = V[prog[i, C_MOD + 2], ln]
                        for q in range(d1 - d0):
                            wd = (a + 4 * q - loc_lo) >> 2
                            if 0 <= wd < LOCAL_WORDS and (a & 3) == 0:
                                R[dstregs[d0 + q], ln] = LOC[wd, ln]
                                RK[dstregs[d0 + q], ln] = LOCK[wd, ln]
                            else:
                                RK[dstregs[d0 + q], ln] = 0
                elif op == OP_STORE and prog[i, C_MOD] == SPACE_LOCAL:
                    # STL: keep the stored registers' values and known-bits per thread
                    nw = prog[i, C_MOD + 1] // 4
                    r0 = opnd[i, prog[i, C_MOD + 3], 1]
                    for ln in range(32):
                        if not (ex >> ln) & 1:
                            continue
                        a = V[prog[i, C_MOD + 2], ln]
                        for q in range(nw):
                            wd = (a + 4 * q - loc_lo) >> 2
                            if 0 <= wd < LOCAL_WORDS and (a & 3) == 0:
                                if r0 == RZ:
                                    LOC[wd, ln] = 0
                                    LOCK[wd, ln] = 1
                                else:
                                    LOC[wd, ln] = R[r0 + q, ln]
                                    LOCK[wd, ln] = RK[r0 + q, ln]
                elif op == OP_FPU or op == OP_LOAD:
                    # destinations unknown unless a global load hits the memory image
                    use_img = op == OP_LOAD and prog[i, C_MOD] == SPACE_GLOBAL and img_tab.shape[0] > 0
                    nb = prog[i, C_MOD + 1]
                    d0 = prog[i, C_DST0]
                    d1 = prog[i, C_DST1]
                    for ln in range(32):
                        if not (ex >> ln) & 1:
                            continue
                        hit = 0
                        if use_img:
                            a = V[prog[i, C_MOD + 2], ln]
                            for q in range(d1 - d0):
                                v, hit = _image_read(a + 4 * q, min(4, nb), img_tab, img_data)
                                if hit == 0:
                                    break
                                if nb < 4 and prog[i, C_MOD + 3]:  # sign-extend S8/S16
                                    sb = 8 * nb - 1
                                    if (v >> sb) & 1:
                                        v |= (M32 >> (sb + 1)) << (sb + 1)
                                R[dstregs[d0 + q], ln] = v & M32
                                RK[dstregs[d0 + q], ln] = 1
                        if hit == 0:
                            for q in range(d0, d1):
                                RK[dstregs[q], ln] = 0
                    # predicate / uniform destinations of FP ops (FSETP P0, ...): unknown
                    for q in range(4):
                        s = prog[i, C_MOD + 4 + q]
                        if s < 0 or ex == 0:
                            continue
                        kind = opnd[i, s, 0]
                        r = opnd[i, s, 1]
                        if kind == K_P and r != PT:
                            for ln in range(32):
                                if (ex >> ln) & 1:
                                    PK[r, ln] = 0
                        elif kind == K_UP and r != PT:
                            UPK[r] = 0
                        elif kind == K_UR and r != URZ:
                            URK[r] = 0
                elif op == OP_STORE:
                    pass
                elif op == OP_SYNCS:
                    # SYNCS.PHASECHK.TRANS64.TRYWAIT Pd, [bar], phase: the phase has completed
                    s = prog[i, C_MOD]
                    if s >= 0:
                        r = opnd[i, s, 1]
                        if r != PT:
                            for ln in range(32):
                                if (ex >> ln) & 1:
                                    P[r, ln] = 1
                                    PK[r, ln] = 1
                elif op == OP_UTMALDG:
                    # [URd] = {smem dst, mbarrier, coord0, coord1}; [URm] = tensor-map address (64-bit)
                    rmask = 0
                    if ex != 0:
                        ud = opnd[i, 0, 2]
                        um = opnd[i, 1, 2]
                        if URK[um] & URK[um + 1] & URK[ud + 2] & URK[ud + 3] == 0:
                            err[E_CODE] = ERR_UNKNOWN_ADDR
                            err[E_INST] = i
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_UNKNOWN_ADDR
                        poff = (UR[um] | (UR[um + 1] << 32)) - launch[L_PARAM_WINDOW]
                        row = -1
                        for t in range(tma_tab.shape[0]):
                            if tma_tab[t, T_PARAM_OFF] == poff:
                                row = t
                        box1 = tma_tab[row, T_BOX1] if row >= 0 else 0
                        if row < 0 or box1 > 32:
                            err[E_CODE] = ERR_TMA
                            err[E_INST] = i
                            err[E_AUX] = poff
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_TMA
                        c0 = _s32(UR[ud + 2])
                        c1 = _s32(UR[ud + 3])
                        el = tma_tab[row, T_ELEM]
                        lo0 = max(c0, 0)
                        hi0 = min(c0 + tma_tab[row, T_BOX0], tma_tab[row, T_DIM0])
                        if hi0 > lo0:
                            for rr in range(box1):
                                yy = c1 + rr
                                if 0 <= yy < tma_tab[row, T_DIM1]:
                                    rmask |= 1 << rr
                                    addr[rr] = tma_tab[row, T_BASE] + yy * tma_tab[row, T_STRIDE1] + lo0 * el
                    out_mask[rec] = rmask
                    out_mem[rec] = n_mem
                    n_lane = _emit_mem(addr, rmask, n_mem, n_lane, mem_base, mem_stride, mem_mode, mem_ptr, lane_off)
                    n_mem += 1
                elif op >= OP_BRA and op <= OP_RET:
                    ctl = True
                    tgt = prog[i, C_TARGET]
                    if op == OP_BRA:
                        # taken where the guard holds and the optional second predicate (slot 0) holds
                        take = 0
                        for ln in range(32):
                            if (ex >> ln) & 1:
                                if VK[0, ln] == 0:
                                    err[E_CODE] = ERR_UNKNOWN_BRANCH
                                    err[E_INST] = i
                                    err[E_LANE] = ln
                                    err[E_CTA] = cta
                                    err[E_WARP] = w
                                    return ERR_UNKNOWN_BRANCH
                                if opnd[i, 0, 0] == K_NONE or V[0, ln] != 0:
                                    take |= 1 << ln
                        if prog[i, C_MOD] and take != 0:  # .U.ANY: the whole group follows
                            take = gmask
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                pc[ln] = tgt if (take >> ln) & 1 else i + 1
                    elif op == OP_BRA_DIV:
                        diverged = False
                        if ex != 0:
                            first = 0
                            while not (ex >> first) & 1:
                                first += 1
                            if VK[0, first] == 0:
                                err[E_CODE] = ERR_UNKNOWN_BRANCH
                                err[E_INST] = i
                                err[E_CTA] = cta
                                err[E_WARP] = w
                                return ERR_UNKNOWN_BRANCH
                            diverged = (V[0, first] & alive & ~gmask) != 0
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
                            _try_release(b, bar, state, wait, pc)
                    elif op == OP_BSSY:
                        if ex != 0:
                            bar[opnd[i, 0, 1]] = ex
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                pc[ln] = i + 1
                    elif op == OP_BSYNC or op == OP_WARPSYNC:
                        if op == OP_BSYNC:
                            b = opnd[i, 0, 1]
                        else:
                            b = WSYNC
                            m = alive
                            if not prog[i, C_MOD] and ex != 0:  # not .ALL
                                first = 0
                                while not (ex >> first) & 1:
                                    first += 1
                                if VK[0, first] == 0:
                                    err[E_CODE] = ERR_UNKNOWN_VALUE
                                    err[E_INST] = i
                                    err[E_CTA] = cta
                                    err[E_WARP] = w
                                    return ERR_UNKNOWN_VALUE
                                m = V[0, first]
                            bar[b] = m & alive
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                if (ex >> ln) & 1:
                                    state[ln] = BLOCKED
                                    wait[ln] = b
                                    pc[ln] = i
                                else:
                                    pc[ln] = i + 1
                        _try_release(b, bar, state, wait, pc)
                    elif op == OP_CALL:
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                pc[ln] = tgt if (ex >> ln) & 1 else i + 1
                    else:  # OP_RET: jump to the byte offset held in the register
                        for ln in range(32):
                            if (gmask >> ln) & 1:
                                if (ex >> ln) & 1:
                                    if VK[0, ln] == 0:
                                        err[E_CODE] = ERR_UNKNOWN_VALUE
                                        err[E_INST] = i
                                        err[E_LANE] = ln
                                        err[E_CTA] = cta
                                        err[E_WARP] = w
                                        return ERR_UNKNOWN_VALUE
                                    pc[ln] = (V[0, ln] & M32) >> 4
                                else:
                                    pc[ln] = i + 1
                elif op == OP_SHFL:
                    # slots: 0 Pd, 1 Rd, 2 a, 3 b (lane/offset), 4 c (clamp | segment mask << 8)
                    mode = prog[i, C_MOD]
                    nres = 2
                    for ln in range(32):
                        if not (ex >> ln) & 1:
                            continue
                        if VK[3, ln] == 0 or VK[4, ln] == 0:
                            RESK[0, ln] = 0
                            RESK[1, ln] = 0
                            continue
                        bv = V[3, ln] & 31
                        cv = V[4, ln]
                        cval = cv & 31
                        seg = (cv >> 8) & 31
                        maxl = (ln & seg) | (cval & ~seg & 31)
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
                            j = (ln & seg) | (bv & ~seg & 31)
                            pv = 1 if j <= maxl else 0
                        if pv == 0:
                            j = ln
                        RES[1, ln] = pv
                        RESK[1, ln] = 1
                        if 0 <= j < 32 and (ex >> j) & 1:
                            RES[0, ln] = V[2, j]
                            RESK[0, ln] = VK[2, j]
                        else:
                            RESK[0, ln] = 0
                elif op == OP_VOTE:
                    # slots: 0 Rd/URd (ballot), 1 Pd/UPd, 2 Pin; mod0: 0 ANY, 1 ALL, 2 EQ
                    ballot = 0
                    bk = 1
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            bk &= VK[2, ln]
                            if V[2, ln]:
                                ballot |= 1 << ln
                    mode = prog[i, C_MOD]
                    if mode == 0:
                        res = 1 if ballot != 0 else 0
                    elif mode == 1:
                        res = 1 if ballot == ex else 0
                    else:
                        res = 1 if (ballot == ex or ballot == 0) else 0
                    nres = 2
                    for ln in range(32):
                        RES[0, ln] = ballot
                        RESK[0, ln] = bk
                        RES[1, ln] = res
                        RESK[1, ln] = bk
                elif op == OP_ELECT:
                    # slots: 0 Pd (per lane), 1 URd (leader lane)
                    leader = -1
                    for ln in range(32):
                        if (ex >> ln) & 1:
                            leader = ln
                            break
                    nres = 2
                    for ln in range(32):
                        RES[0, ln] = 1 if ln == leader else 0
                        RESK[0, ln] = 1
                        RES[1, ln] = leader
                        RESK[1, ln] = 1
                elif op == OP_LDC:
                    # slots: 0 d, 1 c[0x0][imm + R + UR]; mods: bytes, signed
                    nb = prog[i, C_MOD]
                    a = opnd[i, 1, 1]
                    x = opnd[i, 1, 2]
                    y = opnd[i, 1, 3]
                    nres = 1
                    for ln in range(32):
                        if not (cm >> ln) & 1:
                            continue
                        off = a
                        k = 1
                        if x >= 0 and x != RZ:
                            off += R[x, ln]
                            k &= RK[x, ln]
                        if y >= 0 and y != URZ:
                            off += UR[y]
                            k &= URK[y]
                        v = 0
                        if off < 0 or off + nb > ncb:
                            k = 0
                        else:
                            for q in range(nb):
                                v |= np.int64(cb[off + q]) << (8 * q)
                                if cbk[off + q] == 0:
                                    k = 0
                        if nb < 4 and prog[i, C_MOD + 1]:
                            sb = 8 * nb - 1
                            if (v >> sb) & 1:
                                v |= (M32 >> (sb + 1)) << (sb + 1)
                        RES[0, ln] = v
                        RESK[0, ln] = k
                elif op == OP_P2R or op == OP_R2P:
                    nres = 1 if op == OP_P2R else 0
                    for ln in range(32):
                        if not (cm >> ln) & 1:
                            continue
                        a = V[1, ln]
                        m = V[2, ln]
                        kk = VK[1, ln] & VK[2, ln]
                        if op == OP_P2R:
                            bits = 0
                            for q in range(7):
                                if (m >> q) & 1:
                                    bits |= P[q, ln] << q
                                    kk &= PK[q, ln]
                            RES[0, ln] = (a & ~m & M32) | (bits & m)
                            RESK[0, ln] = kk
                        else:
                            for q in range(7):
                                if (m >> q) & 1:
                                    P[q, ln] = (a >> q) & 1
                                    PK[q, ln] = kk
                else:
                    # ---------------------------------------------------- per-lane integer ALU
                    nres = 1
                    for ln in range(32):
                        if not (cm >> ln) & 1:
                            continue
                        if op == OP_MOV or op == OP_S2R or op == OP_R2UR:
                            RES[0, ln] = V[1, ln]
                            RESK[0, ln] = VK[1, ln]
                        elif op == OP_CS2R:
                            RES[0, ln] = V[1, ln] & M32
                            RESK[0, ln] = VK[1, ln]
                        elif op == OP_IMAD:
                            RES[0, ln] = ((V[1, ln] & M32) * (V[2, ln] & M32) + V[3, ln] + V[4, ln]) & M32
                            RESK[0, ln] = VK[1, ln] & VK[2, ln] & VK[3, ln] & VK[4, ln]
                        elif op == OP_IMAD_HI:
                            if prog[i, C_MOD]:
                                hp = (_s32(V[1, ln]) * _s32(V[2, ln])) >> 32
                            else:
                                hp = np.int64((np.uint64(V[1, ln] & M32) * np.uint64(V[2, ln] & M32)) >> np.uint64(32))
                            RES[0, ln] = (hp + V[3, ln] + V[4, ln]) & M32
                            RESK[0, ln] = VK[1, ln] & VK[2, ln] & VK[3, ln] & VK[4, ln]
                        elif op == OP_IMAD_WIDE:
                            if prog[i, C_MOD]:
                                RES[0, ln] = _s32(V[1, ln]) * _s32(V[2, ln]) + V[3, ln]
                            else:
                                RES[0, ln] = np.int64(np.uint64(V[1, ln] & M32) * np.uint64(V[2, ln] & M32)
                                                      + np.uint64(V[3, ln]))
                            RESK[0, ln] = VK[1, ln] & VK[2, ln] & VK[3, ln]
                        elif op == OP_IADD3:
                            # slots: 0 d, 1 Pc0, 2 Pc1, 3 a, 4 b, 5 c, 6 cin0, 7 cin1
                            s1 = V[3, ln] + V[4, ln]
                            car0 = s1 >> 32
                            s2 = (s1 & M32) + V[5, ln] + V[6, ln] + V[7, ln]
                            car1 = s2 >> 32
                            kk = VK[3, ln] & VK[4, ln] & VK[5, ln] & VK[6, ln] & VK[7, ln]
                            RES[0, ln] = s2 & M32
                            RESK[0, ln] = kk
                            if opnd[i, 2, 0] == K_NONE:
                                RES[1, ln] = 1 if (car0 + car1) != 0 else 0
                            else:
                                RES[1, ln] = car0 & 1
                            RES[2, ln] = car1 & 1
                            RESK[1, ln] = kk
                            RESK[2, ln] = kk
                            nres = 3
                        elif op == OP_VIADD:
                            RES[0, ln] = (V[1, ln] + V[2, ln]) & M32
                            RESK[0, ln] = VK[1, ln] & VK[2, ln]
                        elif op == OP_LEA:
                            # slots: 0 d, 1 Pout, 3 a, 4 b, 5 shift, 6 cin
                            s1 = (((V[3, ln] & M32) << (V[5, ln] & 31)) & M32) + V[4, ln] + V[6, ln]
                            kk = VK[3, ln] & VK[4, ln] & VK[5, ln] & VK[6, ln]
                            RES[0, ln] = s1 & M32
                            RES[1, ln] = (s1 >> 32) & 1
                            RESK[0, ln] = kk
                            RESK[1, ln] = kk
                            nres = 2
                        elif op == OP_LEA_HI:
                            # slots: 0 d, 1 Pout, 3 a, 4 b, 5 c (high word; unused with .SX32), 6 shift, 7 cin
                            a = V[3, ln] & M32
                            kk = VK[3, ln] & VK[4, ln] & VK[6, ln] & VK[7, ln]
                            if prog[i, C_MOD]:
                                c = M32 if (a >> 31) & 1 else 0
                            else:
                                c = V[5, ln] & M32
                                kk &= VK[5, ln]
                            sh = V[6, ln] & 63
                            hi = np.int64((np.uint64((c << 32) | a) << np.uint64(sh)) >> np.uint64(32))
                            s1 = (hi & M32) + V[4, ln] + V[7, ln]
                            RES[0, ln] = s1 & M32
                            RES[1, ln] = (s1 >> 32) & 1
                            RESK[0, ln] = kk
                            RESK[1, ln] = kk
                            nres = 2
                        elif op == OP_SHF:
                            # slots: 0 d, 1 a (low word), 2 shift, 3 c (high word); mods: left, signed, 64-bit, hi
                            sh = V[2, ln] & M32
                            lim = 63 if prog[i, C_MOD + 2] else 32
                            sh = min(sh, lim)
                            v64 = ((V[3, ln] & M32) << 32) | (V[1, ln] & M32)
                            if prog[i, C_MOD]:
                                r64 = np.int64(np.uint64(v64) << np.uint64(sh))
                            elif prog[i, C_MOD + 1]:
                                r64 = v64 >> sh  # arithmetic: (c:a) as a signed int64
                            else:
                                r64 = np.int64(np.uint64(v64) >> np.uint64(sh))
                            RES[0, ln] = (r64 >> 32) & M32 if prog[i, C_MOD + 3] else r64 & M32
                            RESK[0, ln] = VK[1, ln] & VK[2, ln] & VK[3, ln]
                        elif op == OP_SHL or op == OP_SHR:
                            a = V[1, ln] & M32
                            sh = V[2, ln] & M32
                            if op == OP_SHL:
                                v = (a << sh) & M32 if sh < 32 else 0
                            elif prog[i, C_MOD]:
                                v = (_s32(a) >> (min(31, sh))) & M32
                            else:
                                v = a >> sh if sh < 32 else 0
                            RES[0, ln] = v
                            RESK[0, ln] = VK[1, ln] & VK[2, ln]
                        elif op == OP_LOP3:
                            # slots: 0 d, 1 Pd, 2 a, 3 b, 4 c
                            v = _lut3(V[2, ln] & M32, V[3, ln] & M32, V[4, ln] & M32, prog[i, C_MOD])
                            kk = VK[2, ln] & VK[3, ln] & VK[4, ln]
                            RES[0, ln] = v
                            RES[1, ln] = 1 if v != 0 else 0
                            RESK[0, ln] = kk
                            RESK[1, ln] = kk
                            nres = 2
                        elif op == OP_PLOP3:
                            idx = ((V[2, ln] & 1) << 2) | ((V[3, ln] & 1) << 1) | (V[4, ln] & 1)
                            kk = VK[2, ln] & VK[3, ln] & VK[4, ln]
                            RES[0, ln] = (prog[i, C_MOD] >> idx) & 1
                            RES[1, ln] = (prog[i, C_MOD + 1] >> idx) & 1
                            RESK[0, ln] = kk
                            RESK[1, ln] = kk
                            nres = 2
                        elif op == OP_ISETP:
                            # slots: 0 Pd1, 1 Pd2, 2 a, 3 b, 4 Pc, 5 Pex; mods: cmp, unsigned, bop, ex
                            code = prog[i, C_MOD]
                            kk = VK[2, ln] & VK[3, ln] & VK[4, ln]
                            if prog[i, C_MOD + 3]:
                                t = _cmp_ex(code, V[2, ln], V[3, ln], prog[i, C_MOD + 1], V[5, ln])
                                kk &= VK[5, ln]
                            else:
                                t = _cmp(code, V[2, ln], V[3, ln], prog[i, C_MOD + 1])
                            bo = prog[i, C_MOD + 2]
                            RES[0, ln] = _bop(bo, t, V[4, ln])
                            RES[1, ln] = _bop(bo, t ^ 1, V[4, ln])
                            RESK[0, ln] = kk
                            RESK[1, ln] = kk
                            nres = 2
                        elif op == OP_SEL:
                            if VK[3, ln]:
                                sel = 1 if V[3, ln] else 2
                                RES[0, ln] = V[sel, ln]
                                RESK[0, ln] = VK[sel, ln]
                            else:
                                RESK[0, ln] = 0
                        elif op == OP_PRMT:
                            src = (V[1, ln] & M32) | ((V[3, ln] & M32) << 32)
                            sel = V[2, ln]
                            v = 0
                            for q in range(4):
                                nib = (sel >> (4 * q)) & 15
                                byte = (src >> (8 * (nib & 7))) & 255
                                if nib & 8:
                                    byte = 255 if byte & 128 else 0
                                v |= byte << (8 * q)
                            RES[0, ln] = v
                            RESK[0, ln] = VK[1, ln] & VK[2, ln] & VK[3, ln]
                        elif op == OP_MNMX or op == OP_VIADDMNMX:
                            # MNMX slots: 0 d, 1 a, 2 b, 3 P (true: min); VIADDMNMX: 0 d, 1 a, 2 b, 3 c, 4 P
                            a = V[1, ln]
                            b2 = V[2, ln]
                            kk = VK[1, ln] & VK[2, ln]
                            ps = 3
                            if op == OP_VIADDMNMX:
                                a = (a + b2) & M32
                                b2 = V[3, ln]
                                kk &= VK[3, ln]
                                ps = 4
                            if prog[i, C_MOD]:
                                xa = a & M32
                                yb = b2 & M32
                            else:
                                xa = _s32(a)
                                yb = _s32(b2)
                            if V[ps, ln]:
                                v = min(yb, xa)
                            else:
                                v = max(yb, xa)
                            RES[0, ln] = v & M32
                            RESK[0, ln] = kk & VK[ps, ln]
                        elif op == OP_IABS:
                            sv = _s32(V[1, ln])
                            RES[0, ln] = (-sv if sv < 0 else sv) & M32
                            RESK[0, ln] = VK[1, ln]
                        elif op == OP_POPC:
                            RES[0, ln] = _popc(V[1, ln] & M32)
                            RESK[0, ln] = VK[1, ln]
                        elif op == OP_FLO:
                            xv = V[1, ln] & M32
                            if prog[i, C_MOD] and (xv >> 31) & 1:  # .S32: first bit unlike the sign
                                xv = (~xv) & M32
                            pos = -1
                            for q in range(31, -1, -1):
                                if (xv >> q) & 1:
                                    pos = q
                                    break
                            if prog[i, C_MOD + 1] and pos >= 0:  # .SH: shift amount instead of position
                                pos = 31 - pos
                            RES[0, ln] = pos & M32
                            RESK[0, ln] = VK[1, ln]
                        elif op == OP_BREV:
                            v = 0
                            for q in range(32):
                                if (V[1, ln] >> q) & 1:
                                    v |= 1 << (31 - q)
                            RES[0, ln] = v
                            RESK[0, ln] = VK[1, ln]
                        else:
                            err[E_CODE] = ERR_UNSUPPORTED
                            err[E_INST] = i
                            err[E_CTA] = cta
                            err[E_WARP] = w
                            return ERR_UNSUPPORTED
                # ---------------------------------------------------------- write results
                if unk != 0:
                    for q in range(3):
                        for ln in range(32):
                            if (unk >> ln) & 1:
                                RESK[q, ln] = 0
                if nres > 0 and cm != 0:
                    wcm = cm
                    if op == OP_VOTE or op == OP_ELECT:
                        wcm = ex
                    for q in range(nres):
                        s = prog[i, C_D0 + q]
                        if s < 0:
                            continue
                        kind = opnd[i, s, 0]
                        r = opnd[i, s, 1]
                        pair = q == 0 and prog[i, C_DWIDE] != 0
                        if kind == K_R:
                            if r == RZ:
                                continue
                            for ln in range(32):
                                if (wcm >> ln) & 1:
                                    R[r, ln] = RES[q, ln] & M32
                                    RK[r, ln] = RESK[q, ln]
                                    if pair:
                                        R[r + 1, ln] = (RES[q, ln] >> 32) & M32
                                        RK[r + 1, ln] = RESK[q, ln]
                        elif kind == K_P:
                            if r == PT:
                                continue
                            for ln in range(32):
                                if (wcm >> ln) & 1:
                                    P[r, ln] = RES[q, ln] & 1
                                    PK[r, ln] = RESK[q, ln]
                        else:
                            first = 0
                            while not (wcm >> first) & 1:
                                first += 1
                            if kind == K_UR and r != URZ:
                                UR[r] = RES[q, first] & M32
                                URK[r] = RESK[q, first]
                                if pair:
                                    UR[r + 1] = (RES[q, first] >> 32) & M32
                                    URK[r + 1] = RESK[q, first]
                            elif kind == K_UP and r != PT:
                                UP[r] = RES[q, first] & 1
                                UPK[r] = RESK[q, first]
                # ---------------------------------------------------------- next PC
                if not ctl:
                    nxt = i + 1
                    for ln in range(32):
                        if (gmask >> ln) & 1:
                            pc[ln] = nxt
                    if omin <= nxt:
                        gpc, gmask, omin = _pick(pc, state)
                    else:
                        gpc = nxt
                else:
                    gpc, gmask, omin = _pick(pc, state)
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

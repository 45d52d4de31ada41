"""Operand fetch and result write-back of the functional walker, the special registers and the
constant-bank load ``LDC``.

What it models: where a SASS instruction's sources come from -- general registers (with the .64 pair
R(n):R(n+1)), uniform registers and predicates, immediates, constant bank 0 (``c[0x0][imm + R + UR]``),
memory-operand addresses ``[R + UR + imm]``, the special registers of ``S2R``/``CS2R`` (``SR_TID``,
``SR_CTAID``, ``SR_LANEID`` and the lane masks ``SR_EQMASK .. SR_GEMASK``; clocks and SM ids are
unknown) -- and where its results go (general, predicate, uniform registers; a uniform destination is
computed once, on the first active lane).  Register names and special registers after the "CUDA Binary
Utilities" Instruction Set Reference; ``LDC`` sign extension of .S8/.S16 as for loads.

Every value carries a known-bit; operand kinds and slots are encoded by ``gpusim.llm.walker``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.emu.bits import mods
from gpusim.emu.isa import (C_D0, C_DWIDE, C_MOD, C_SRC, F_NEG, F_WIDE, K_CONST, K_IMM, K_MEM, K_NONE, K_P, K_R,
                            K_SR, K_UP, K_UR, M32, N_SLOTS, OP_ELECT, OP_VOTE, PT, RZ, SR_CTAID_X, SR_CTAID_Y,
                            SR_CTAID_Z, SR_EQMASK, SR_GEMASK, SR_GTMASK, SR_LANEID, SR_LEMASK, SR_LTMASK, SR_TID_X,
                            SR_TID_Y, SR_TID_Z, SR_WARPID, SR_ZERO, URZ)


@njit(cache=True, _nrt=False, inline="always")
def const_bytes(cb, cbk, off, nb, k):
    """The ``nb`` bytes of constant bank 0 at byte offset ``off``, little-endian, and their known-bit
    (``k`` and every byte's; 0 when the range leaves the bank): (value, known)."""
    v = 0
    if off < 0 or off + nb > cb.shape[0]:
        return v, 0
    for q in range(nb):
        v |= np.int64(cb[off + q]) << (8 * q)
        if cbk[off + q] == 0:
            k = 0
    return v, k


@njit(cache=True, _nrt=False, inline="always")
def _uniform_operand(kind, a, x, y, fl, UR, URK, UP, UPK, cb, cbk):
    """A source that is the same in every lane (immediate, uniform register / predicate, constant with no
    per-lane register offset): (True, value, known); (False, 0, 1) for a per-lane source."""
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
            bval = mods(bval, fl)
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
        bval, bk = const_bytes(cb, cbk, off, 8 if wide else 4, bk)
        if not wide:
            bval = mods(bval, fl)
    else:
        bcast = False
    return bcast, bval, bk


@njit(cache=True, _nrt=False, inline="always")
def special_register(a, ln, w, tid, ctaid):
    """Special register ``a`` (``isa.SR_*``) in lane ``ln`` of warp ``w``: (value, known)."""
    v = 0
    k = 1
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
    return v, k


@njit(cache=True, _nrt=False, inline="always")
def _lane_operand(kind, a, x, y, fl, ln, w, R, RK, P, PK, UR, URK, cb, cbk, tid, ctaid):
    """A per-lane source in lane ``ln``: general register (pair), predicate, memory address, constant
    with a register offset, special register: (value, known)."""
    wide = (fl & F_WIDE) != 0
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
            v = mods(v, fl)
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
        v, k = const_bytes(cb, cbk, off, 8 if wide else 4, k)
        if not wide:
            v = mods(v, fl)
    elif kind == K_SR:
        v, k = special_register(a, ln, w, tid, ctaid)
    else:
        k = 0
    return v, k


@njit(cache=True, _nrt=False, inline="always")
def gather(I, S, i, cm, w):
    """Gather the source slots ``C_SRC`` of instruction ``i`` for the lanes of ``cm`` into ``S.v``/``S.vk``
    (a source that is the same in every lane is written to all 32)."""
    prog = I.prog
    opnd = I.opnd
    cb = I.cb
    cbk = I.cbk
    R = S.r
    RK = S.rk
    P = S.p
    PK = S.pk
    UR = S.ur
    URK = S.urk
    UP = S.up
    UPK = S.upk
    V = S.v
    VK = S.vk
    tid = S.tid
    ctaid = S.ctaid
    srcm = prog[i, C_SRC]
    for s in range(N_SLOTS):
        if not (srcm >> s) & 1:
            continue
        kind = opnd[i, s, 0]
        a = opnd[i, s, 1]
        x = opnd[i, s, 2]
        y = opnd[i, s, 3]
        fl = opnd[i, s, 4]
        bcast, bval, bk = _uniform_operand(kind, a, x, y, fl, UR, URK, UP, UPK, cb, cbk)
        if bcast:
            for ln in range(32):
                V[s, ln] = bval
                VK[s, ln] = bk
            continue
        for ln in range(32):
            if not (cm >> ln) & 1:
                continue
            v, k = _lane_operand(kind, a, x, y, fl, ln, w, R, RK, P, PK, UR, URK, cb, cbk, tid, ctaid)
            V[s, ln] = v
            VK[s, ln] = k


@njit(cache=True, _nrt=False, inline="always")
def write_results(I, S, i, op, unk, nres, cm, ex):
    """Write result rows 0 .. nres-1 to the destination slots ``C_D0 ..`` of instruction ``i`` (lanes of a
    data-dependent guard ``unk`` get unknown results; VOTE / ELECT write every executing lane)."""
    prog = I.prog
    opnd = I.opnd
    RESK = S.resk
    R = S.r
    RES = S.res
    RK = S.rk
    P = S.p
    PK = S.pk
    UR = S.ur
    URK = S.urk
    UP = S.up
    UPK = S.upk
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


@njit(cache=True, _nrt=False)
def exec_ldc(I, S, i, cm):
    """LDC Rd, c[0x0][imm + R + UR] (slots 0 d, 1 address; mods: bytes, signed): result row 0 per lane."""
    prog = I.prog
    opnd = I.opnd
    cb = I.cb
    cbk = I.cbk
    R = S.r
    RK = S.rk
    UR = S.ur
    URK = S.urk
    RES = S.res
    RESK = S.resk
    nb = prog[i, C_MOD]
    a = opnd[i, 1, 1]
    x = opnd[i, 1, 2]
    y = opnd[i, 1, 3]
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
        v, k = const_bytes(cb, cbk, off, nb, k)
        if nb < 4 and prog[i, C_MOD + 1]:
            sb = 8 * nb - 1
            if (v >> sb) & 1:
                v |= (M32 >> (sb + 1)) << (sb + 1)
        RES[0, ln] = v
        RESK[0, ln] = k
    return 1

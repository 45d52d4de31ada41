"""The integer datapath of the functional walker: per-lane integer arithmetic, shifts, logic,
predicates and comparisons, computed exactly on 32-bit values with their known-bits.

What it models (SASS semantics after the "CUDA Binary Utilities" Instruction Set Reference and
research/sass-control-bits.md, as the decoder ``gpusim.llm.walker`` encodes each form):

* arithmetic: ``MOV``/``S2R``/``R2UR``/``CS2R`` (copy), ``IMAD`` (a*b + c, low word), ``IMAD.HI``
  (high word, .U32 or signed), ``IMAD.WIDE`` (64-bit product + 64-bit addend), ``IADD3`` (3-input add
  with carry-in/carry-out predicates), ``VIADD``, ``LEA`` / ``LEA.HI`` (shifted add, with .X carry and
  .SX32), ``SHF`` (funnel shift .L/.R, .S32/.U32/.U64, .HI), ``SHL``/``SHR``, ``IABS``, ``POPC``,
  ``FLO`` (.S32, .SH), ``BREV``;
* logic, predicates, compare: ``LOP3`` (3-input LUT, optional zero predicate), ``PLOP3``, ``ISETP``
  (signed/unsigned, .EX high-word step, AND/OR/XOR combine with a predicate), ``SEL``, ``PRMT`` (byte
  permute with sign replication), ``IMNMX``/``VIADDMNMX`` (min/max, signed or .U32), ``P2R``/``R2P``.

Each lane helper writes result rows of ``S.res``/``S.resk`` and returns how many rows it produced.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.emu.bits import bop, cmp, cmp_ex, lut3, popc, s32
from gpusim.emu.isa import (C_MOD, ERR_UNSUPPORTED, K_NONE, M32, OK, OP_BREV, OP_CS2R, OP_FLO, OP_IABS, OP_IADD3,
                            OP_IMAD, OP_IMAD_HI, OP_IMAD_WIDE, OP_ISETP, OP_LEA, OP_LEA_HI, OP_LOP3, OP_MNMX, OP_MOV,
                            OP_P2R, OP_PLOP3, OP_POPC, OP_PRMT, OP_R2UR, OP_S2R, OP_SEL, OP_SHF, OP_SHL, OP_SHR,
                            OP_VIADD, OP_VIADDMNMX)
from gpusim.emu.state import fail


@njit(cache=True, _nrt=False, inline="always")
def _arith(op, i, ln, prog, opnd, V, VK, RES, RESK):
    """Arithmetic and shifts in lane ``ln``: result rows written (0: ``op`` is not one of them)."""
    nres = 1
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
            hp = (s32(V[1, ln]) * s32(V[2, ln])) >> 32
        else:
            hp = np.int64((np.uint64(V[1, ln] & M32) * np.uint64(V[2, ln] & M32)) >> np.uint64(32))
        RES[0, ln] = (hp + V[3, ln] + V[4, ln]) & M32
        RESK[0, ln] = VK[1, ln] & VK[2, ln] & VK[3, ln] & VK[4, ln]
    elif op == OP_IMAD_WIDE:
        if prog[i, C_MOD]:
            RES[0, ln] = s32(V[1, ln]) * s32(V[2, ln]) + V[3, ln]
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
            v = (s32(a) >> (min(31, sh))) & M32
        else:
            v = a >> sh if sh < 32 else 0
        RES[0, ln] = v
        RESK[0, ln] = VK[1, ln] & VK[2, ln]
    else:
        nres = 0
    return nres


@njit(cache=True, _nrt=False, inline="always")
def _logic(op, i, ln, prog, V, VK, RES, RESK):
    """Logic, predicate combine, compares, select, byte permute, min/max in lane ``ln``: result rows
    written (0: ``op`` is not one of them)."""
    nres = 1
    if op == OP_LOP3:
        # slots: 0 d, 1 Pd, 2 a, 3 b, 4 c
        v = lut3(V[2, ln] & M32, V[3, ln] & M32, V[4, ln] & M32, prog[i, C_MOD])
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
            t = cmp_ex(code, V[2, ln], V[3, ln], prog[i, C_MOD + 1], V[5, ln])
            kk &= VK[5, ln]
        else:
            t = cmp(code, V[2, ln], V[3, ln], prog[i, C_MOD + 1])
        bo = prog[i, C_MOD + 2]
        RES[0, ln] = bop(bo, t, V[4, ln])
        RES[1, ln] = bop(bo, t ^ 1, V[4, ln])
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
            xa = s32(a)
            yb = s32(b2)
        if V[ps, ln]:
            v = min(yb, xa)
        else:
            v = max(yb, xa)
        RES[0, ln] = v & M32
        RESK[0, ln] = kk & VK[ps, ln]
    else:
        nres = _bitops(op, i, ln, prog, V, VK, RES, RESK)
    return nres


@njit(cache=True, _nrt=False, inline="always")
def _bitops(op, i, ln, prog, V, VK, RES, RESK):
    """IABS, POPC, FLO, BREV in lane ``ln``: 1, or 0 when ``op`` is none of them."""
    if op == OP_IABS:
        sv = s32(V[1, ln])
        RES[0, ln] = (-sv if sv < 0 else sv) & M32
        RESK[0, ln] = VK[1, ln]
    elif op == OP_POPC:
        RES[0, ln] = popc(V[1, ln] & M32)
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
        return 0
    return 1


@njit(cache=True, _nrt=False)
def exec_alu(prog, opnd, V, VK, RES, RESK, err, i, op, cm, cta, w):
    """The per-lane integer ALU over the lanes of ``cm``: (status, result rows); an op no helper knows is
    ``ERR_UNSUPPORTED`` at its first computing lane.  A function of its own (one call per instruction,
    arrays passed one by one: no reference counting with ``_nrt=False``), so that the dispatch loop that
    inlines the other handlers stays quick to compile."""
    nres = 1
    for ln in range(32):
        if not (cm >> ln) & 1:
            continue
        n = _arith(op, i, ln, prog, opnd, V, VK, RES, RESK)
        if n == 0:
            n = _logic(op, i, ln, prog, V, VK, RES, RESK)
        if n == 0:
            return fail(err, ERR_UNSUPPORTED, i, cta, w), nres
        nres = n
    return OK, nres


@njit(cache=True, _nrt=False)
def exec_p2r(I, S, i, op, cm):
    """P2R Rd, Ra, mask (predicates P0..P6 into the bits of ``mask``, the other bits from Ra) or R2P
    (bits of Ra into the predicates of ``mask``): result rows written (1 for P2R, 0 for R2P)."""
    V = S.v
    VK = S.vk
    P = S.p
    PK = S.pk
    RES = S.res
    RESK = S.resk
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
    return 1 if op == OP_P2R else 0

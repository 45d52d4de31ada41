"""Scalar integer primitives of the SASS integer datapath: 32-bit signed view, population count, the
3-input lookup table of LOP3/PLOP3, the ISETP comparisons (32-bit and the .EX high-word step of a
64-bit compare), the predicate combine (AND/OR/XOR) and the source-operand modifiers |x|, ~x, -x.

What it models: the per-lane arithmetic the integer ALU handlers (``gpusim.emu.alu``) and the operand
gather (``gpusim.emu.operands``) apply; encodings after the "CUDA Binary Utilities" Instruction Set
Reference and research/sass-control-bits.md.  Helpers take scalars only (or are called once per
instruction at most): a Numba call that passes arrays costs reference-count traffic, which made a
per-lane operand helper ~40x slower.
"""

from __future__ import annotations

from numba import njit

from gpusim.emu.isa import (BOP_AND, BOP_OR, CMP_EQ, CMP_GE, CMP_GT, CMP_LE, CMP_LT, CMP_NE, CMP_T, F_ABS, F_INV,
                            F_NEG, M32)

@njit(cache=True, _nrt=False)
def s32(v):
    v &= M32
    return v - 0x100000000 if v >= 0x80000000 else v


@njit(cache=True, _nrt=False)
def popc(v):
    c = 0
    while v:
        v &= v - 1
        c += 1
    return c


@njit(cache=True, _nrt=False)
def lut3(a, b, c, lut):
    r = 0
    for idx in range(8):
        if (lut >> idx) & 1:
            t = M32
            t &= a if (idx & 4) else (~a) & M32
            t &= b if (idx & 2) else (~b) & M32
            t &= c if (idx & 1) else (~c) & M32
            r |= t
    return r


@njit(cache=True, _nrt=False)
def cmp(code, a, b, unsigned):
    if not unsigned:
        a = s32(a)
        b = s32(b)
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


@njit(cache=True, _nrt=False)
def cmp_ex(code, a, b, unsigned, low):
    """High-word step of a 64-bit compare; ``low`` is the low-word result of the same comparison."""
    eq = 1 if (a & M32) == (b & M32) else 0
    if code == CMP_EQ:
        return eq & low
    if code == CMP_NE:
        return 1 if (eq == 0 or low) else 0
    if code == CMP_LT or code == CMP_LE:
        return 1 if (cmp(CMP_LT, a, b, unsigned) or (eq and low)) else 0
    if code == CMP_GT or code == CMP_GE:
        return 1 if (cmp(CMP_GT, a, b, unsigned) or (eq and low)) else 0
    return cmp(code, a, b, unsigned)


@njit(cache=True, _nrt=False)
def bop(op, x, y):
    if op == BOP_AND:
        return x & y
    if op == BOP_OR:
        return x | y
    return x ^ y


@njit(cache=True, _nrt=False)
def mods(v, fl):
    """|x|, ~x, -x modifiers of a 32-bit source; -x is 2**32 - x (1 .. 2**32: ~x + 1 without
    wrapping, as IADD3's adder sees it); consumers mask to 32 bits where they need to."""
    if fl & F_ABS:
        s = s32(v)
        v = (-s if s < 0 else s) & M32
    if fl & F_INV:
        v = (~v) & M32
    if fl & F_NEG:
        v = 0x100000000 - (v & M32)
    return v


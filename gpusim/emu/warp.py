"""Warp-wide data exchange of the functional walker: ``SHFL``, ``VOTE``/``VOTEU`` and ``ELECT``.

What it models (PTX ISA "shfl.sync", "vote.sync", "elect.sync"; SASS forms after the "CUDA Binary
Utilities" Instruction Set Reference):

* ``SHFL.IDX/UP/DOWN/BFLY Pd, Rd, Ra, b, c``: the source lane from lane ``b`` (or offset), clamped by
  ``c`` = clamp | segment mask << 8; Pd is whether the source lane was in range; a source lane that does
  not execute gives an unknown value;
* ``VOTE.ANY/ALL/EQ Rd, Pd, Pin``: the ballot of the executing lanes and the vote on it;
* ``ELECT Pd, URd``: the first executing lane is the leader.
"""

from __future__ import annotations

from numba import njit

from gpusim.emu.isa import C_MOD, SHFL_BFLY, SHFL_DOWN, SHFL_UP


@njit(cache=True, _nrt=False, inline="always")
def exec_shfl(I, S, i, ex):
    """SHFL (slots: 0 Pd, 1 Rd, 2 a, 3 b (lane/offset), 4 c (clamp | segment mask << 8)): result rows."""
    prog = I.prog
    V = S.v
    VK = S.vk
    RES = S.res
    RESK = S.resk
    mode = prog[i, C_MOD]
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
    return 2


@njit(cache=True, _nrt=False)
def exec_vote(I, S, i, ex):
    """VOTE (slots: 0 Rd/URd (ballot), 1 Pd/UPd, 2 Pin; mod0: 0 ANY, 1 ALL, 2 EQ): result rows."""
    prog = I.prog
    VK = S.vk
    V = S.v
    RES = S.res
    RESK = S.resk
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
    for ln in range(32):
        RES[0, ln] = ballot
        RESK[0, ln] = bk
        RES[1, ln] = res
        RESK[1, ln] = bk
    return 2


@njit(cache=True, _nrt=False)
def exec_elect(S, ex):
    """ELECT (slots: 0 Pd (per lane), 1 URd (leader lane)): result rows."""
    RES = S.res
    RESK = S.resk
    leader = -1
    for ln in range(32):
        if (ex >> ln) & 1:
            leader = ln
            break
    for ln in range(32):
        RES[0, ln] = 1 if ln == leader else 0
        RESK[0, ln] = 1
        RES[1, ln] = leader
        RESK[1, ln] = 1
    return 2

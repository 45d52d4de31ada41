"""The register file: banks, read ports and the register-file cache (Allocate stage).

Hardware rules (MGC §2.4, §4.1-4.3, the MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores"): each
sub-core's register file has 2 banks (register mod 2) with 1 read port each; a fixed-latency
instruction reserves the ports of its operands in Allocate within a 3-cycle read window (6 for
4-register tensor operands) and a conflict holds it there, which holds Control and so issue; the
register-file cache keeps operands marked with reuse bits (hit = same warp, register and operand
slot; any read of a (bank, slot) evicts it); variable-latency instructions read with a port on
every bank, after the fixed-latency ones.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core.slots import *  # noqa: F401,F403


@njit(cache=True, _nrt=False, inline="always")
def _ports_free(S, sc, bank, cyc, ports):
    slot = cyc % PORT_RING
    if S.port_cyc[sc, bank, slot] != cyc:
        return ports
    return ports - S.port_used[sc, bank, slot]


@njit(cache=True, _nrt=False, inline="always")
def _port_take(S, sc, bank, cyc):
    slot = cyc % PORT_RING
    if S.port_cyc[sc, bank, slot] != cyc:
        S.port_cyc[sc, bank, slot] = cyc
        S.port_used[sc, bank, slot] = 0
    S.port_used[sc, bank, slot] += 1


@njit(cache=True, _nrt=False, inline="always")
def _allocate(K, S, L, c, ws, sc, s, fl):
    """Allocate for a fixed-latency instruction issued at cycle c (MGC §2.4, §4.2, §4.3): it leaves Control
    (c+1) for Allocate (>= c+2), looks its source operands up in the register-file cache and reserves a
    read port of its bank for each miss within a read window of ``P_WINDOW`` cycles (doubled for
    4-register tensor operands), the first window from Allocate + 1 with enough free ports; a port
    conflict holds the instruction in Allocate (and so Control).  Updates the RFC from the reuse bits.
    Returns (start, window): the first cycle of the read window and its length."""
    ctrl = K.p[P_CTRL]
    banks = K.p[P_BANKS]
    ports = K.p[P_PORTS]
    entry = c + 2
    if S.alloc_free[sc] > entry:
        entry = S.alloc_free[sc]
    S.control_free[sc] = entry
    window = K.p[P_WINDOW] * (2 if fl & F_WIDE_WINDOW else 1)
    need0 = 0
    need1 = 0
    nsrc = K.st[s, S_NSRC]
    reuse = K.st[s, S_REUSE]
    key_base = ws * 256
    use_rfc = K.p[P_RFC] and (fl & F_RFC) != 0 and ctrl
    for k in range(nsrc):
        rg = K.st[s, S_SRC0 + k]
        if rg < 0 or rg == 255:
            continue
        bank = rg % banks
        hit = False
        if use_rfc and k < 4 and S.rfc[sc, k, bank] == key_base + rg:
            hit = True
        if hit:
            L.counters[C_RFC_HITS] += 1
            L.pc_stats[s, 1 + N_REASONS] += 1
        else:
            L.counters[C_RFC_MISSES] += 1
            if bank == 0:
                need0 += 1
            else:
                need1 += 1
    start = entry + 1
    for _ in range(PORT_RING - 8):
        free0 = 0
        free1 = 0
        for d in range(window):
            free0 += _ports_free(S, sc, 0, start + d, ports)
            if banks > 1:
                free1 += _ports_free(S, sc, 1, start + d, ports)
        if free0 >= need0 and (banks < 2 or free1 >= need1):
            break
        start += 1
    # take the earliest free ports of the window
    left0 = need0
    left1 = need1
    for d in range(window):
        while left0 > 0 and _ports_free(S, sc, 0, start + d, ports) > 0:
            _port_take(S, sc, 0, start + d)
            left0 -= 1
        while banks > 1 and left1 > 0 and _ports_free(S, sc, 1, start + d, ports) > 0:
            _port_take(S, sc, 1, start + d)
            left1 -= 1
    L.counters[C_ALLOC_STALL] += start - (entry + 1)
    S.alloc_free[sc] = start
    if use_rfc:
        for k in range(nsrc):
            rg = K.st[s, S_SRC0 + k]
            if rg < 0 or rg == 255 or k >= 4:
                continue
            S.rfc[sc, k, rg % banks] = -1
        for k in range(nsrc):
            rg = K.st[s, S_SRC0 + k]
            if rg < 0 or rg == 255 or k >= 4:
                continue
            if (reuse >> k) & 1:
                S.rfc[sc, k, rg % banks] = key_base + rg
    return start, window


@njit(cache=True, _nrt=False, inline="always")
def _read_all_banks(K, S, sc, r):
    """A variable-latency instruction reads its operands from cycle ``r`` on: it needs a free port on every
    bank in one cycle (fixed-latency reads have priority, MGC §4.2); takes them and returns that cycle."""
    banks = K.p[P_BANKS]
    ports = K.p[P_PORTS]
    for _ in range(PORT_RING - 8):
        ok = True
        for b in range(banks):
            if _ports_free(S, sc, b, r, ports) <= 0:
                ok = False
        if ok:
            break
        r += 1
    for b in range(banks):
        _port_take(S, sc, b, r)
    return r

"""Hopper's asynchronous tensor data path in the functional walker: TMA tile loads (``UTMALDG``) and
mbarrier phase waits (``SYNCS.PHASECHK``).  The tensor-core math itself (``HMMA``, ``WGMMA``) computes
no value the walker needs: it is decoded as ``OP_FPU`` and its destinations become unknown
(``gpusim.emu.memory.exec_load_or_unknown``).

What it models:

* ``UTMALDG.2D [URd], [URm]``: URd holds {shared destination, mbarrier, coordinate 0, coordinate 1},
  URm the 64-bit generic address of a tensor-map kernel parameter; the trace gets one address per box
  row inside the tensor (rows and columns outside it are not fetched: TMA's out-of-bound fill, CUDA C++
  Programming Guide "Tensor Memory Access"), with the row's bytes as the access width;
* ``SYNCS.PHASECHK.TRANS64.TRYWAIT Pd, [bar], phase``: the wait succeeds at the first try, so the
  trace holds one TRYWAIT per completed wait; the timing model (gpusim/core) holds the consumer until
  the phase's arrivals and TMA bytes are in (research/sass-control-bits.md section 7, pitfall 11).
"""

from __future__ import annotations

from numba import njit

from gpusim.emu.bits import s32
from gpusim.emu.isa import (C_MOD, E_AUX, ERR_TMA, ERR_UNKNOWN_ADDR, L_PARAM_WINDOW, OK, PT, T_BASE, T_BOX0, T_BOX1,
                            T_DIM0, T_DIM1, T_ELEM, T_PARAM_OFF, T_STRIDE1)
from gpusim.emu.memory import emit_mem
from gpusim.emu.state import fail


@njit(cache=True, _nrt=False)
def exec_syncs(I, S, i, ex):
    """SYNCS.PHASECHK ... TRYWAIT Pd: the phase has completed (Pd true in the executing lanes)."""
    prog = I.prog
    opnd = I.opnd
    P = S.p
    PK = S.pk
    s = prog[i, C_MOD]
    if s >= 0:
        r = opnd[i, s, 1]
        if r != PT:
            for ln in range(32):
                if (ex >> ln) & 1:
                    P[r, ln] = 1
                    PK[r, ln] = 1


@njit(cache=True, _nrt=False)
def exec_utmaldg(I, T, S, i, ex, rec, n_mem, n_lane, cta, w):
    """UTMALDG: the box rows' addresses as memory row ``n_mem`` of dynamic instruction ``rec`` (its mask:
    one bit per row inside the tensor): (status, lane offsets used)."""
    tma_tab = I.tma_tab
    opnd = I.opnd
    launch = I.launch
    UR = S.ur
    URK = S.urk
    addr = S.addr
    err = T.err
    out_mask = T.out_mask
    out_mem = T.out_mem
    mem_base = T.mem_base
    mem_stride = T.mem_stride
    mem_mode = T.mem_mode
    mem_ptr = T.mem_ptr
    lane_off = T.lane_off
    rmask = 0
    if ex != 0:
        ud = opnd[i, 0, 2]
        um = opnd[i, 1, 2]
        if URK[um] & URK[um + 1] & URK[ud + 2] & URK[ud + 3] == 0:
            return fail(err, ERR_UNKNOWN_ADDR, i, cta, w), n_lane
        poff = (UR[um] | (UR[um + 1] << 32)) - launch[L_PARAM_WINDOW]
        row = -1
        for t in range(tma_tab.shape[0]):
            if tma_tab[t, T_PARAM_OFF] == poff:
                row = t
        box1 = tma_tab[row, T_BOX1] if row >= 0 else 0
        if row < 0 or box1 > 32:
            err[E_AUX] = poff
            return fail(err, ERR_TMA, i, cta, w), n_lane
        c0 = s32(UR[ud + 2])
        c1 = s32(UR[ud + 3])
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
    n_lane = emit_mem(addr, rmask, n_mem, n_lane, mem_base, mem_stride, mem_mode, mem_ptr, lane_off)
    return OK, n_lane

"""Sector coalescing of per-lane addresses: how many distinct sectors a warp's access touches.

Single responsibility: one pass over the dynamic memory instructions of a kernel before the
cycle loop (it may allocate), giving the number of 32-byte sectors each one requests.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def count_sectors(inst_static, inst_mask, inst_mem, st_width, mem_mode, mem_base, mem_stride, mem_ptr, lane_off,
                  sector_bytes):
    """Distinct ``sector_bytes`` sectors touched by each dynamic memory instruction (0 for others).

    Contract: lane ``k`` of a base+stride row accesses ``base + k*stride``; a list row its
    offsets from ``base``; each lane touches ``[addr, addr + width)``.  Runs once per kernel
    before the cycle loop (it may allocate).
    """
    n = inst_static.size
    out = np.zeros(n, np.int32)
    buf = np.empty(32 * 8, np.int64)
    sb = np.int64(sector_bytes)
    for i in range(n):
        m = inst_mem[i]
        if m < 0:
            continue
        w = np.int64(st_width[inst_static[i]])
        if w <= 0:
            w = 4
        mask = np.uint32(inst_mask[i])
        nact = 0
        while mask:
            mask &= mask - np.uint32(1)
            nact += 1
        cnt = 0
        base = np.int64(mem_base[m] & np.uint64(0x3FFFFFFFFFFFFFFF))
        for k in range(nact):
            if mem_mode[m] == 1:
                a = base + k * mem_stride[m]
            else:
                p = mem_ptr[m] + k
                if p >= mem_ptr[m + 1]:
                    break
                a = base + lane_off[p]
            s0 = a // sb
            s1 = (a + w - 1) // sb
            s = s0
            while s <= s1 and cnt < buf.size:
                dup = False
                for q in range(cnt):
                    if buf[q] == s:
                        dup = True
                        break
                if not dup:
                    buf[cnt] = s
                    cnt += 1
                s += 1
        out[i] = cnt
    return out

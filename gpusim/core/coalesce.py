"""Coalescing of per-lane addresses, before the cycle loop: sectors and lines per warp access,
shared-memory bank conflicts, and the space a generic LD/ST really addresses.

Single responsibility: one pass over the dynamic memory instructions of a kernel (it may
allocate; it runs once per kernel), giving for each:

* ``acc_ptr``/``acc_line``/``acc_mask``: the distinct cache lines it touches and, per line, the
  mask of 32-byte sectors (CSR over dynamic instructions; global/local/texture accesses only);
* ``nsec``: the number of distinct sectors (the unit of L1/L2/DRAM traffic);
* ``ways``: for shared-memory accesses, the number of wavefronts the 32 banks x 4 B need:
  per phase (32, 16 or 8 lanes for 4-, 8- or 16-byte accesses) the largest number of distinct
  4-byte words that fall into one bank; a word read by several lanes is broadcast;
* ``space``: the resolved memory space (generic accesses by the windows of the trace header,
  research/accel-sim-trace-format.md §3.2).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# MemSpace codes (gpusim.core.layout.MemSpace)
SP_NONE = 0
SP_GLOBAL = 1
SP_SHARED = 2
SP_LOCAL = 3
SP_CONST = 4
SP_GENERIC = 5
SP_TEXTURE = 6

#: Size of the generic-address windows for shared and local memory.  Real tracer headers place
#: the local window exactly 32 MiB below the shared one (e.g. local 0x7f36de000000, shared
#: 0x7f36e0000000 in the FlashInfer traces), which bounds the local window; we use the same
#: size for the shared window.
WINDOW_BYTES = 32 << 20
SHARED_BANKS = 32
BANK_BYTES = 4
#: ``acc_ptr`` is int32 (4 bytes per dynamic instruction): the most coalesced line accesses one trace window
#: may hold.  ``coalesce`` stops at more and returns ``acc_ptr[n]`` = -1 (the caller raises).
ACC_MAX = 2**31 - 1 - 512


@njit(cache=True)
def _lane_addr(m, k, mem_mode, mem_base, mem_stride, mem_ptr, lane_off):
    base = np.int64(mem_base[m] & np.uint64(0x3FFFFFFFFFFFFFFF))
    if mem_mode[m] == 1:
        return base + k * mem_stride[m]
    p = mem_ptr[m] + k
    if p >= mem_ptr[m + 1]:
        return -1
    return base + lane_off[p]


@njit(cache=True)
def coalesce(inst_static, inst_mask, inst_mem, st_width, st_space, mem_mode, mem_base, mem_stride, mem_ptr, lane_off,
             line_bytes, sector_bytes, shmem_base, local_base):
    """Returns (acc_ptr, acc_line, acc_mask, nsec, ways, space) as described in the module docstring
    (int32, int64, uint8, int16, int16, int8); more than ``ACC_MAX`` accesses: ``acc_ptr[n]`` = -1
    (``gpusim.assemble.dynamic`` raises a GpusimError)."""
    n = inst_static.size
    # narrow by construction: nsec <= 4 x 256 lines (``lines``), ways <= 32 phases x 64 words (``words``)
    nsec = np.zeros(n, np.int16)
    ways = np.zeros(n, np.int16)
    space = np.zeros(n, np.int8)
    acc_ptr = np.zeros(n + 1, np.int32)
    lines = np.empty(256, np.int64)
    masks = np.empty(256, np.int64)
    words = np.empty(64, np.int64)
    spl = line_bytes // sector_bytes
    sh_lo = np.int64(shmem_base)
    lo_lo = np.int64(local_base)
    lo_hi = lo_lo + WINDOW_BYTES
    if lo_lo < sh_lo < lo_hi:
        lo_hi = sh_lo
    # pass 1 counts lines, pass 2 fills
    total = 0
    for pass_ in range(2):
        if pass_ == 1:
            acc_line = np.empty(total, np.int64)
            acc_mask = np.empty(total, np.uint8)
        else:
            acc_line = np.empty(0, np.int64)
            acc_mask = np.empty(0, np.uint8)
        pos = 0
        for i in range(n):
            if pass_ == 0:
                if pos > ACC_MAX:
                    acc_ptr[n] = -1
                    return acc_ptr, np.empty(0, np.int64), np.empty(0, np.uint8), nsec, ways, space
                acc_ptr[i] = pos
            else:
                pos = acc_ptr[i]
            m = inst_mem[i]
            if m < 0:
                continue
            s = inst_static[i]
            sp = st_space[s]
            w = np.int64(st_width[s])
            if w <= 0:
                w = 4
            mask = np.uint32(inst_mask[i])
            nact = 0
            while mask:
                mask &= mask - np.uint32(1)
                nact += 1
            if sp == SP_GENERIC:
                a0 = _lane_addr(m, np.int64(0), mem_mode, mem_base, mem_stride, mem_ptr, lane_off) if nact > 0 else -1
                if shmem_base == 0 or local_base == 0:
                    sp = SP_SHARED  # Accel-Sim's rule when a window base is missing
                elif sh_lo <= a0 < sh_lo + WINDOW_BYTES:
                    sp = SP_SHARED
                elif lo_lo <= a0 < lo_hi:
                    sp = SP_LOCAL
                else:
                    sp = SP_GLOBAL
            space[i] = sp
            if sp == SP_SHARED:
                if pass_ == 1:
                    continue
                # bank conflicts: phases of 128 bytes (32 lanes x 4 B, 16 x 8 B, 8 x 16 B)
                lanes_per_phase = 128 // w if w <= 128 else 1
                if lanes_per_phase < 1:
                    lanes_per_phase = 1
                if lanes_per_phase > 32:
                    lanes_per_phase = 32
                total_ways = 0
                k0 = 0
                while k0 < nact:
                    k1 = k0 + lanes_per_phase
                    if k1 > nact:
                        k1 = nact
                    nw = 0
                    for k in range(k0, k1):
                        a = _lane_addr(m, k, mem_mode, mem_base, mem_stride, mem_ptr, lane_off)
                        wd0 = (a - sh_lo) // BANK_BYTES if a >= sh_lo and shmem_base != 0 else a // BANK_BYTES
                        for j in range(w // BANK_BYTES if w >= BANK_BYTES else 1):
                            wd = wd0 + j
                            dup = False
                            for q in range(nw):
                                if words[q] == wd:
                                    dup = True
                                    break
                            if not dup and nw < words.size:
                                words[nw] = wd
                                nw += 1
                    worst = 1
                    for b in range(SHARED_BANKS):
                        cnt = 0
                        for q in range(nw):
                            if words[q] % SHARED_BANKS == b:
                                cnt += 1
                        if cnt > worst:
                            worst = cnt
                    total_ways += worst
                    k0 = k1
                ways[i] = total_ways if total_ways > 0 else 1
                continue
            if sp != SP_GLOBAL and sp != SP_LOCAL and sp != SP_TEXTURE:
                continue
            nl = 0
            for k in range(nact):
                a = _lane_addr(m, k, mem_mode, mem_base, mem_stride, mem_ptr, lane_off)
                if a < 0:
                    break
                s0 = a // sector_bytes
                s1 = (a + w - 1) // sector_bytes
                sct = s0
                while sct <= s1:
                    ln = sct // spl
                    bit = np.int64(1) << (sct - ln * spl)
                    found = False
                    for q in range(nl):
                        if lines[q] == ln:
                            masks[q] |= bit
                            found = True
                            break
                    if not found and nl < lines.size:
                        lines[nl] = ln
                        masks[nl] = bit
                        nl += 1
                    sct += 1
            cnt = 0
            for q in range(nl):
                mm = masks[q]
                while mm:
                    mm &= mm - 1
                    cnt += 1
                if pass_ == 1:
                    acc_line[pos + q] = lines[q]
                    acc_mask[pos + q] = masks[q]
            nsec[i] = cnt
            if pass_ == 0:
                pos += nl
        if pass_ == 0:
            if pos > ACC_MAX:
                acc_ptr[n] = -1
                return acc_ptr, np.empty(0, np.int64), np.empty(0, np.uint8), nsec, ways, space
            acc_ptr[n] = pos
            total = pos
    return acc_ptr, acc_line, acc_mask, nsec, ways, space

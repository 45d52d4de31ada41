"""Memory instructions of the functional walker: the per-lane addresses a trace records, loads from the
launch's memory image, thread-local memory (register spills), and the destinations whose values the
walker does not compute.

What it models:

* the memory row of a traced access (global ``LDG``/``STG``/``ATOM``/``RED``, shared ``LDS``/``STS``/
  ``LDSM``, ``LDGSTS``, local): the active lanes' byte addresses, stored as base + stride when the lanes
  are contiguous and equally spaced, else per-lane offsets -- the shape of NVBit's memory record;
* ``LDGSTS`` (cp.async) with a false source-valid predicate (PTX ISA "cp.async", src-size 0) copies
  zeros without reading global memory: recorded like a lane predicated off;
* ``LDL``/``STL``: ptxas spills address registers, so a thread's local words below the initial stack
  pointer (``isa.LOCAL_TOP``, c[0x0][0x28]) keep the stored values and known-bits exactly;
* global loads read the launch's memory image (sign-extending .S8/.S16), other loads and every
  floating-point or tensor-core result (``OP_FPU``: FFMA, HMMA, WGMMA, MUFU ...) leave their
  destinations unknown, predicate and uniform destinations included.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.emu.isa import (C_DST0, C_DST1, C_LDGSTS_SRC, C_MEM_SLOT, C_MOD, ERR_UNKNOWN_ADDR, ERR_UNKNOWN_GUARD,
                            K_P, K_UP, K_UR, LOCAL_TOP, LOCAL_WORDS, M32, OK, OP_LOAD, PT, RZ, SPACE_GLOBAL, URZ)
from gpusim.emu.state import fail_lane


@njit(cache=True, _nrt=False)
def emit_mem(addr, exec_mask, n_mem, n_lane, mem_base, mem_stride, mem_mode, mem_ptr, lane_off):
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


@njit(cache=True, _nrt=False)
def image_read(addr, nbytes, img_tab, img_data):
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


@njit(cache=True, _nrt=False)
def ldgsts_source_mask(I, S, err, i, ex, cta, w):
    """LDGSTS: the lanes of ``ex`` whose source-valid predicate holds: (status, mask)."""
    prog = I.prog
    PK = S.pk
    P = S.p
    sv = prog[i, C_MOD + C_LDGSTS_SRC] - 1
    sp = sv & 7
    sneg = (sv >> 3) & 1
    for ln in range(32):
        if (ex >> ln) & 1:
            if sp == PT:
                on = 1
            elif PK[sp, ln] == 0:
                return fail_lane(err, ERR_UNKNOWN_GUARD, i, ln, cta, w), ex
            else:
                on = P[sp, ln]
            if (on ^ sneg) == 0:
                ex &= ~(1 << ln)
    return OK, ex


@njit(cache=True, _nrt=False, inline="always")
def record_addresses(I, T, S, i, ex, n_mem, n_lane, cta, w):
    """The memory row of the traced address slot ``C_MEM_SLOT`` of the lanes of ``ex``: (status, lane
    offsets used); an unknown address is ``ERR_UNKNOWN_ADDR``."""
    prog = I.prog
    VK = S.vk
    addr = S.addr
    V = S.v
    err = T.err
    mem_base = T.mem_base
    mem_stride = T.mem_stride
    mem_mode = T.mem_mode
    mem_ptr = T.mem_ptr
    lane_off = T.lane_off
    ms = prog[i, C_MEM_SLOT]
    for ln in range(32):
        if (ex >> ln) & 1:
            if VK[ms, ln] == 0:
                return fail_lane(err, ERR_UNKNOWN_ADDR, i, ln, cta, w), n_lane
            addr[ln] = V[ms, ln]
    n_lane = emit_mem(addr, ex, n_mem, n_lane, mem_base, mem_stride, mem_mode, mem_ptr, lane_off)
    return OK, n_lane


@njit(cache=True, _nrt=False)
def exec_local_load(I, S, i, ex):
    """LDL: the words an STL of this thread left there (unknown if none)."""
    prog = I.prog
    dstregs = I.dstregs
    V = S.v
    R = S.r
    LOC = S.loc
    RK = S.rk
    LOCK = S.lock
    loc_lo = LOCAL_TOP - 4 * LOCAL_WORDS
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


@njit(cache=True, _nrt=False)
def exec_local_store(I, S, i, ex):
    """STL: keep the stored registers' values and known-bits per thread."""
    prog = I.prog
    opnd = I.opnd
    V = S.v
    LOC = S.loc
    LOCK = S.lock
    R = S.r
    RK = S.rk
    loc_lo = LOCAL_TOP - 4 * LOCAL_WORDS
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


@njit(cache=True, _nrt=False, inline="always")
def exec_load_or_unknown(I, S, i, op, ex):
    """A load (OP_LOAD, not local) or a value the walker does not compute (OP_FPU): destinations unknown
    unless a global load hits the memory image."""
    prog = I.prog
    img_tab = I.img_tab
    img_data = I.img_data
    dstregs = I.dstregs
    opnd = I.opnd
    V = S.v
    R = S.r
    RK = S.rk
    PK = S.pk
    UPK = S.upk
    URK = S.urk
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
                v, hit = image_read(a + 4 * q, min(4, nb), img_tab, img_data)
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

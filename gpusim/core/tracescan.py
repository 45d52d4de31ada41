"""Byte-level scanner for the body of Accel-Sim/NVBit kernel traces (the part after the header).

Single responsibility: turn the bytes of a ``kernel-N.traceg`` body (or a raw NVBit
``kernel-N.trace``) into flat, per-line numpy columns, in one pass, without creating a
Python object per line.  It lives in ``core/`` because it is Numba code; it knows nothing
about opcodes (an opcode is returned as a 64-bit FNV-1a hash plus its byte span; the
front end turns the few distinct spans into names) and nothing about the timing model.

Grammar (``traces/FORMAT.md``; research/accel-sim-trace-format.md §3.3–3.5)::

    body      := (blank | comment | '#BEGIN_TB' | '#END_TB' | 'thread block = x,y,z'
                  | 'warp = w' | 'insts = n' | inst)*
    inst      := [tb_x tb_y tb_z warp]          (tracer < 3 and raw traces)
                 [line_num]                     (-enable lineinfo = 1)
                 PC(hex) mask(hex) ndst R* opcode nsrc R* mem_width
                 [mode addresses]               (mem_width > 0)
                 [immediate]                    (tracer >= 5)

Contract: ``scan_body`` never reads outside ``buf`` and never raises; it returns a status
code (``ERR_*``, 0 = ok) and the 1-based file line where scanning stopped.  Counts of
``insts =`` are checked against the lines that follow.  All outputs are trimmed copies.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OK = 0
ERR_MISSING_FIELD = 1
ERR_BAD_HEX = 2
ERR_BAD_INT = 3
ERR_BAD_REG = 4
ERR_REG_COUNT = 5
ERR_ADDR_MODE = 6
ERR_TRAILING = 7
ERR_OUTSIDE_WARP = 8
ERR_TOO_MANY_LINES = 9
ERR_TOO_FEW_LINES = 10
ERR_BAD_TB = 11
ERR_BAD_WARP = 12
ERR_BAD_INSTS = 13
ERR_NESTING = 14
ERR_TRUNCATED = 15
ERR_BAD_OPCODE = 16

MAX_REGS = 4  # tracer writes <= 1 destination and <= 4 sources (accel-sim-trace-format.md §3.4)

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True)
def _is_space(c):
    return c == 32 or c == 9 or c == 13


@njit(cache=True)
def _skip(buf, i, end):
    while i < end and _is_space(buf[i]):
        i += 1
    return i


@njit(cache=True)
def _tok_end(buf, i, end):
    while i < end and not _is_space(buf[i]):
        i += 1
    return i


@njit(cache=True)
def _hex(buf, i, end):
    """Parse a hex token (optional 0x).  Returns (value, next, ok)."""
    j = _tok_end(buf, i, end)
    if j == i:
        return np.uint64(0), j, False
    k = i
    if j - i > 2 and buf[i] == 48 and (buf[i + 1] == 120 or buf[i + 1] == 88):
        k = i + 2
    if j - k > 16 or j == k:
        return np.uint64(0), j, False
    v = np.uint64(0)
    while k < j:
        c = buf[k]
        if 48 <= c <= 57:
            d = c - 48
        elif 97 <= c <= 102:
            d = c - 87
        elif 65 <= c <= 70:
            d = c - 55
        else:
            return np.uint64(0), j, False
        v = (v << np.uint64(4)) | np.uint64(d)
        k += 1
    return v, j, True


@njit(cache=True)
def _int(buf, i, end):
    """Parse a signed decimal token of at most 18 digits.  Returns (value, next, ok)."""
    j = _tok_end(buf, i, end)
    k = i
    neg = False
    if k < j and (buf[k] == 45 or buf[k] == 43):
        neg = buf[k] == 45
        k += 1
    if j == k or j - k > 18:
        return 0, j, False
    v = 0
    while k < j:
        c = buf[k]
        if c < 48 or c > 57:
            return 0, j, False
        v = v * 10 + (c - 48)
        k += 1
    if neg:
        v = -v
    return v, j, True


@njit(cache=True)
def _reg(buf, i, end):
    """Parse ``R<n>`` with 0 <= n <= 255.  Returns (n, next, ok)."""
    j = _tok_end(buf, i, end)
    if j - i < 2 or j - i > 4 or buf[i] != 82:
        return -1, j, False
    v = 0
    for k in range(i + 1, j):
        c = buf[k]
        if c < 48 or c > 57:
            return -1, j, False
        v = v * 10 + (c - 48)
    if v > 255:
        return -1, j, False
    return v, j, True


@njit(cache=True)
def _starts(buf, i, end, lit):
    n = lit.size
    if end - i < n:
        return False
    for k in range(n):
        if buf[i + k] != lit[k]:
            return False
    return True


@njit(cache=True)
def _after_eq(buf, i, end):
    """Index just after the first '=' on the line starting at i, or -1."""
    while i < end:
        if buf[i] == 61:
            return i + 1
        i += 1
    return -1


@njit(cache=True)
def _popcount32(x):
    x = np.uint32(x)
    c = 0
    while x:
        x &= x - np.uint32(1)
        c += 1
    return c


@njit(cache=True)
def _grow_i64(a, need):
    if need <= a.size:
        return a
    n = a.size * 2
    while n < need:
        n *= 2
    b = np.empty(n, dtype=np.int64)
    b[: a.size] = a
    return b


@njit(cache=True)
def count_lines(buf):
    n = 1
    for c in buf:
        if c == 10:
            n += 1
    return n


@njit(cache=True)
def _columns(cap, prefix):
    """The per-line output columns for up to ``cap`` instruction lines (``scan_body``'s order)."""
    pc = np.empty(cap, np.int64)
    mask = np.empty(cap, np.uint32)
    ndst = np.empty(cap, np.uint8)
    dst = np.full((cap, MAX_REGS), -1, np.int16)
    nsrc = np.empty(cap, np.uint8)
    src = np.full((cap, MAX_REGS), -1, np.int16)
    ophash = np.empty(cap, np.uint64)
    opoff = np.empty(cap, np.int64)
    oplen = np.empty(cap, np.int32)
    memw = np.empty(cap, np.int32)
    memi = np.empty(cap, np.int64)
    imm = np.empty(cap, np.int64)
    pfx = np.empty((cap if prefix else 1, 4), np.int64)
    return pc, mask, ndst, dst, nsrc, src, ophash, opoff, oplen, memw, memi, imm, pfx


@njit(cache=True)
def _tb_line(buf, j, e, cta_xyz, row):
    """``thread block = x,y,z`` at ``buf[j:e]`` into ``cta_xyz[row]``; OK or ERR_BAD_TB."""
    k = _after_eq(buf, j, e)
    if k < 0:
        return ERR_BAD_TB
    for d in range(3):
        k = _skip(buf, k, e)
        v = 0
        nd = 0
        while k < e and 48 <= buf[k] <= 57 and nd < 10:
            v = v * 10 + (buf[k] - 48)
            k += 1
            nd += 1
        if nd == 0:
            return ERR_BAD_TB
        cta_xyz[row, d] = v
        k = _skip(buf, k, e)
        if d < 2:
            if k >= e or buf[k] != 44:
                return ERR_BAD_TB
            k += 1
    if _skip(buf, k, e) != e:
        return ERR_BAD_TB
    return OK


@njit(cache=True)
def _assigned_int(buf, j, e):
    """The decimal after ``=`` of a ``name = v`` line at ``buf[j:e]``: (v, ok); not ok without ``=``,
    with a bad number or with anything after it."""
    k = _after_eq(buf, j, e)
    if k < 0:
        return 0, False
    k = _skip(buf, k, e)
    v, k, ok = _int(buf, k, e)
    return v, ok and _skip(buf, k, e) == e


@njit(cache=True)
def _regs(buf, k, e, n, count, regs):
    """``count R*`` from ``buf[k:]``: the register count (0 to MAX_REGS) into ``count[n]``, the registers into
    ``regs[n]`` (the rest -1).  Returns (status, k)."""
    k = _skip(buf, k, e)
    v, k, ok = _int(buf, k, e)
    if not ok:
        return ERR_BAD_INT, k
    if v < 0 or v > MAX_REGS:
        return ERR_REG_COUNT, k
    count[n] = v
    for d in range(MAX_REGS):
        regs[n, d] = -1
    for d in range(v):
        k = _skip(buf, k, e)
        r, k, ok = _reg(buf, k, e)
        if not ok:
            return ERR_BAD_REG, k
        regs[n, d] = r
    return OK, k


@njit(cache=True)
def _opcode(buf, k, e, n, ophash, opoff, oplen):
    """The opcode token from ``buf[k:]`` (it starts with a letter): its FNV-1a hash and byte span into row
    ``n``.  Returns (status, k)."""
    k = _skip(buf, k, e)
    k2 = _tok_end(buf, k, e)
    if k2 == k:
        return ERR_MISSING_FIELD, k
    c0 = buf[k]
    if not ((65 <= c0 <= 90) or (97 <= c0 <= 122)):
        return ERR_BAD_OPCODE, k
    hsh = FNV_OFFSET
    for q in range(k, k2):
        hsh = (hsh ^ np.uint64(buf[q])) * FNV_PRIME
    ophash[n] = hsh
    opoff[n] = k
    oplen[n] = k2 - k
    return OK, k2


@njit(cache=True)
def _lane_list(buf, k, e, mode, act, nlane, lane_off):
    """Address modes 0 (one hex address per active lane) and 2 (a base, then decimal deltas) from
    ``buf[k:]``: the lanes' offsets from the first into ``lane_off[nlane:]``.  Returns (status, k, base)."""
    base = np.uint64(0)
    run = np.int64(0)
    for q in range(act):
        k = _skip(buf, k, e)
        if mode == 0 or q == 0:
            h, k, ok = _hex(buf, k, e)
            if not ok:
                return ERR_BAD_HEX, k, base
            if q == 0:
                base = h
                run = 0
            else:
                run = np.int64(h - base)
        else:
            v, k, ok = _int(buf, k, e)
            if not ok:
                return ERR_BAD_INT, k, base
            run += v
        lane_off[nlane + q] = run
    if act == 0 and mode == 2:
        # a single base with no active lane: keep the base, no lanes
        k = _skip(buf, k, e)
        h, k, ok = _hex(buf, k, e)
        if not ok:
            return ERR_BAD_HEX, k, h
        base = h
    return OK, k, base


@njit(cache=True)
def _mem_operand(buf, k, e, act, nmem, nlane, mem_base, mem_stride, mem_mode, mem_ptr, lane_off):
    """``mode addresses`` of a memory instruction with ``act`` active lanes from ``buf[k:]`` into memory row
    ``nmem`` (mode 1: base and stride; modes 0 and 2: a base and per-lane offsets from ``nlane`` on).
    Returns (status, k, nlane, lane_off): ``lane_off`` grows as needed."""
    k = _skip(buf, k, e)
    mode, k, ok = _int(buf, k, e)
    if not ok or mode < 0 or mode > 2:
        return ERR_ADDR_MODE, k, nlane, lane_off
    mem_ptr[nmem + 1] = nlane
    if mode == 1:
        k = _skip(buf, k, e)
        h, k, ok = _hex(buf, k, e)
        if not ok:
            return ERR_BAD_HEX, k, nlane, lane_off
        k = _skip(buf, k, e)
        v, k, ok = _int(buf, k, e)
        if not ok:
            return ERR_BAD_INT, k, nlane, lane_off
        mem_base[nmem] = h
        mem_stride[nmem] = v
        mem_mode[nmem] = 1
    else:
        lane_off = _grow_i64(lane_off, nlane + 32)
        status, k, base = _lane_list(buf, k, e, mode, act, nlane, lane_off)
        if status != OK:
            return status, k, nlane, lane_off
        mem_base[nmem] = base
        mem_stride[nmem] = 0
        mem_mode[nmem] = 0
        nlane += act
    mem_ptr[nmem + 1] = nlane
    return OK, k, nlane, lane_off


@njit(cache=True)
def _inst_line(buf, j, e, n, nmem, nlane, prefix, lineinfo, has_imm, cols, mems, lane_off):
    """One instruction line at ``buf[j:e]`` into row ``n`` of ``cols`` (``_columns``) and, with a memory
    operand, row ``nmem`` of ``mems`` (base, stride, mode, pointer) and ``lane_off``.
    Returns (status, nmem, nlane, lane_off)."""
    pc, mask, ndst, dst, nsrc, src, ophash, opoff, oplen, memw, memi, imm, pfx = cols
    mem_base, mem_stride, mem_mode, mem_ptr = mems
    k = j
    if prefix:
        for d in range(4):
            k = _skip(buf, k, e)
            v, k, ok = _int(buf, k, e)
            if not ok or v < 0:
                return ERR_BAD_INT, nmem, nlane, lane_off
            pfx[n, d] = v
    if lineinfo:
        k = _skip(buf, k, e)
        v, k, ok = _int(buf, k, e)
        if not ok:
            return ERR_BAD_INT, nmem, nlane, lane_off
    k = _skip(buf, k, e)
    if k >= e:
        return ERR_MISSING_FIELD, nmem, nlane, lane_off
    h, k, ok = _hex(buf, k, e)
    if not ok:
        return ERR_BAD_HEX, nmem, nlane, lane_off
    pc[n] = np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))
    k = _skip(buf, k, e)
    h, k, ok = _hex(buf, k, e)
    if not ok or h > np.uint64(0xFFFFFFFF):
        return ERR_BAD_HEX, nmem, nlane, lane_off
    mask[n] = np.uint32(h)
    status, k = _regs(buf, k, e, n, ndst, dst)
    if status == OK:
        status, k = _opcode(buf, k, e, n, ophash, opoff, oplen)
    if status == OK:
        status, k = _regs(buf, k, e, n, nsrc, src)
    if status != OK:
        return status, nmem, nlane, lane_off
    k = _skip(buf, k, e)
    v, k, ok = _int(buf, k, e)
    if not ok or v < 0 or v > 1 << 20:
        return ERR_BAD_INT, nmem, nlane, lane_off
    memw[n] = v
    memi[n] = -1
    if memw[n] > 0:
        status, k, nlane, lane_off = _mem_operand(buf, k, e, _popcount32(mask[n]), nmem, nlane, mem_base,
                                                  mem_stride, mem_mode, mem_ptr, lane_off)
        if status != OK:
            return status, nmem, nlane, lane_off
        memi[n] = nmem
        nmem += 1
    imm[n] = 0
    if has_imm:
        k = _skip(buf, k, e)
        if k >= e:
            return ERR_MISSING_FIELD, nmem, nlane, lane_off
        v, k, ok = _int(buf, k, e)
        if not ok:
            return ERR_BAD_INT, nmem, nlane, lane_off
        imm[n] = v
    if _skip(buf, k, e) != e:
        return ERR_TRAILING, nmem, nlane, lane_off
    return OK, nmem, nlane, lane_off


@njit(cache=True)
def scan_body(buf, start, line0, prefix, lineinfo, has_imm, grouped, lit_begin, lit_end, lit_tb, lit_warp, lit_insts):
    """Scan a trace body.

    Contract:
      buf      uint8 array with the whole file; scanning starts at byte ``start`` which is
               at the beginning of file line ``line0`` (1-based).
      prefix   1: every instruction line starts with ``tb_x tb_y tb_z warp`` (tracer < 3, raw).
      lineinfo 1: a decimal source-line number precedes the PC.
      has_imm  1: a trailing decimal immediate ends each line (tracer >= 5).
      grouped  1: lines sit in ``#BEGIN_TB`` / ``warp =`` / ``insts =`` records (``.traceg``);
               0: raw NVBit output, lines of all warps interleaved, no records.
    Returns a tuple (status, err_line, n, columns..., cta and warp tables, memory tables).

    The record lines (``#BEGIN_TB`` / ``#END_TB``, ``thread block =``, ``warp =``, ``insts =``) are
    handled here; an instruction line is ``_inst_line``'s.
    """
    end = buf.size
    cap = count_lines(buf[start:]) + 1
    cols = _columns(cap, prefix)
    lineno = np.empty(cap, np.int64)
    mems = (np.empty(cap, np.uint64), np.empty(cap, np.int64), np.empty(cap, np.uint8), np.zeros(cap + 1, np.int64))
    lane_off = np.empty(max(cap, 1024), np.int64)
    cap_w = cap // 2 + 2
    cap_c = cap // 3 + 2
    cta_xyz = np.zeros((cap_c, 3), np.int64)
    cta_wptr = np.zeros(cap_c + 1, np.int64)
    warp_slot = np.zeros(cap_w, np.int64)
    warp_ptr = np.zeros(cap_w + 1, np.int64)
    warp_expect = np.zeros(cap_w, np.int64)

    n = 0
    nmem = 0
    nlane = 0
    ncta = 0
    nwarp = 0
    in_tb = False
    in_warp = False
    expect = -1  # insts = n of the open warp; -1 before the 'insts =' line
    line = line0 - 1
    err = OK
    i = start
    while i < end:
        line += 1
        # find end of line
        e = i
        while e < end and buf[e] != 10:
            e += 1
        nxt = e + 1
        j = _skip(buf, i, e)
        if j == e:
            i = nxt
            continue
        c = buf[j]
        if grouped and c == 35:  # '#'
            if _starts(buf, j, e, lit_begin):
                if in_tb:
                    err = ERR_NESTING
                    break
                in_tb = True
                in_warp = False
                cta_wptr[ncta] = nwarp
                ncta += 1
                cta_wptr[ncta] = nwarp
            elif _starts(buf, j, e, lit_end):
                if not in_tb:
                    err = ERR_NESTING
                    break
                if in_warp and n - warp_ptr[nwarp - 1] < expect:
                    err = ERR_TOO_FEW_LINES
                    break
                in_tb = False
                in_warp = False
            i = nxt
            continue
        if not grouped and c == 35:
            i = nxt
            continue
        if grouped and _starts(buf, j, e, lit_tb):
            if not in_tb:
                err = ERR_NESTING
                break
            err = _tb_line(buf, j, e, cta_xyz, ncta - 1)
            if err != OK:
                break
            i = nxt
            continue
        if grouped and _starts(buf, j, e, lit_warp):
            v, ok = _assigned_int(buf, j, e)
            if not in_tb or not ok or v < 0 or v > 1023:
                err = ERR_BAD_WARP
                break
            if in_warp and n - warp_ptr[nwarp - 1] < expect:
                err = ERR_TOO_FEW_LINES
                break
            warp_slot[nwarp] = v
            warp_ptr[nwarp] = n
            nwarp += 1
            warp_ptr[nwarp] = n
            cta_wptr[ncta] = nwarp
            in_warp = True
            expect = -1
            i = nxt
            continue
        if grouped and _starts(buf, j, e, lit_insts):
            v, ok = _assigned_int(buf, j, e)
            if not in_warp or expect >= 0 or not ok or v < 0:
                err = ERR_BAD_INSTS
                break
            expect = v
            warp_expect[nwarp - 1] = v
            i = nxt
            continue
        # ---- an instruction line ----
        if grouped:
            if not in_warp or expect < 0:
                err = ERR_OUTSIDE_WARP
                break
            if n - warp_ptr[nwarp - 1] >= expect:
                err = ERR_TOO_MANY_LINES
                break
        err, nmem, nlane, lane_off = _inst_line(buf, j, e, n, nmem, nlane, prefix, lineinfo, has_imm, cols, mems,
                                                lane_off)
        if err != OK:
            break
        lineno[n] = line
        n += 1
        if grouped:
            warp_ptr[nwarp] = n
        i = nxt
    if err == OK and grouped and in_tb:
        err = ERR_TRUNCATED
    pc, mask, ndst, dst, nsrc, src, ophash, opoff, oplen, memw, memi, imm, pfx = cols
    mem_base, mem_stride, mem_mode, mem_ptr = mems
    return err, line, n, pc, mask, ndst, dst, nsrc, src, ophash, opoff, oplen, memw, memi, imm, lineno, pfx, cta_xyz, cta_wptr, warp_slot, warp_ptr, mem_base, mem_stride, mem_mode, mem_ptr, lane_off, ncta, nwarp, nmem

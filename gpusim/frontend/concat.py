"""Join the traces of consecutive CTA ranges of one launch into one ``KernelTrace``.

A streamed run (``gpusim.assemble.run_streamed``) gets a kernel's trace in chunks of consecutive CTAs
(e.g. from the SASS walker); the first window, and a kernel that has to run whole, are these chunks
joined.  The result equals the trace of the whole range: pointer arrays (CTA -> warps, warp ->
instructions, memory row -> lane offsets) are rebased by the counts of the earlier chunks, and each
instruction's memory row by the memory rows before its chunk.
"""

from __future__ import annotations

import numpy as np

from gpusim.errors import TraceError
from gpusim.frontend.reader import KernelTrace

#: per-entry arrays of a CTA, a warp, a dynamic instruction, a memory row and a lane offset
_PLAIN = ("cta_xyz", "warp_slot", "inst_static", "inst_mask", "mem_mode", "mem_base", "mem_stride", "lane_off")
#: pointer arrays (n + 1 entries from 0: the end of entry i is the start of entry i + 1)
_POINTERS = ("cta_warp_ptr", "warp_inst_ptr", "mem_ptr")


def _join(parts: list[KernelTrace], name: str, ptr: bool = False, shift=None) -> np.ndarray:
    """The parts' arrays ``name`` in one array, each part's released as soon as it is copied (so the
    peak is about the size of the result).  A pointer array (``ptr``) drops each part's end entry, is
    shifted by the ends of the earlier parts and gets the overall end appended; ``shift`` (one value
    per part) is added to the non-negative entries."""
    arrs = [getattr(p, name) for p in parts]
    dtype, tail = np.result_type(*arrs), arrs[0].shape[1:]
    n = sum(a.shape[0] - (1 if ptr else 0) for a in arrs)
    # the parts may be narrower than the whole needs (``reader.narrow_int``): widen to int64 if the joined
    # pointers or shifted rows pass the parts' integer type
    hi = 0
    if ptr:
        hi = sum(int(a[-1]) for a in arrs)
    elif shift is not None:
        hi = max((int(a.max()) + int(shift[i]) for i, a in enumerate(arrs) if a.size), default=0)
    if dtype.kind in "iu" and hi > np.iinfo(dtype).max:
        dtype = np.dtype(np.int64)
    del arrs
    out = np.empty((n + 1,) if ptr else (n,) + tail, dtype)
    pos = off = 0
    for i, p in enumerate(parts):
        a = getattr(p, name)
        k = a.shape[0] - (1 if ptr else 0)
        if ptr:
            out[pos: pos + k] = a[:-1].astype(dtype, copy=False) + off
            off += int(a[-1])
        elif shift is not None:
            out[pos: pos + k] = np.where(a >= 0, a.astype(dtype, copy=False) + int(shift[i]), a)
        else:
            out[pos: pos + k] = a
        pos += k
        setattr(p, name, None)
    if ptr:
        out[pos] = off
    return out


def concat_traces(parts: list[KernelTrace]) -> KernelTrace:
    """One ``KernelTrace`` of consecutive CTA ranges of one launch (``parts`` in CTA order, sharing the
    static table of the first), identical to the trace of the whole range.  One part is returned as it
    is; of several, each part's dynamic arrays are released as they are copied."""
    if not parts:
        raise TraceError("concat_traces: no parts")
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    # each instruction's memory row counts from its part's first: shift by the rows of the earlier parts
    rows = np.cumsum([0] + [p.mem_mode.size for p in parts[:-1]])
    dyn = {"inst_mem": _join(parts, "inst_mem", shift=rows)}
    for name in _POINTERS:
        dyn[name] = _join(parts, name, ptr=True)
    for name in _PLAIN:
        dyn[name] = _join(parts, name)
    return KernelTrace(path=first.path, header=first.header, raw=first.raw, st_pc=first.st_pc,
                       st_opcode=first.st_opcode, st_ndst=first.st_ndst, st_dst=first.st_dst, st_nsrc=first.st_nsrc,
                       st_src=first.st_src, st_mem_width=first.st_mem_width, st_imm=first.st_imm,
                       st_line=first.st_line, **dyn)

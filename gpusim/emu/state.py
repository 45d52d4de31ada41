"""The functional walker's state as typed bundles of numpy arrays (``typing.NamedTuple``: Numba types a
NamedTuple of arrays as one record, so a jitted handler takes a bundle whole and compiles once).

What it models: the architectural state of one warp of a CTA that the walker executes (per lane: 255
general registers + RZ, 7 predicates + PT, its PC and convergence state, its local-memory words; per
warp: 63 uniform registers + URZ, 7 uniform predicates, the convergence barriers B0..B15 of
``BSSY``/``BSYNC`` and one ``WARPSYNC`` slot; register counts after the "CUDA Binary Utilities"
Instruction Set Reference), the read-only inputs of a walk (program table, constant bank 0, launch,
memory image, TMA descriptors) and the output trace columns (as NVBit's tracer would record them).

Every value carries a known-bit (``*K`` arrays, uint8): a value the walker does not compute (floating
point, tensor-core results, loads outside the memory image) is unknown, never silently wrong.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from gpusim.emu.isa import E_CODE, E_CTA, E_INST, E_LANE, E_WARP, LOCAL_WORDS, N_SLOTS, NBAR


class Inputs(NamedTuple):
    """What a walk reads and never writes (built by ``gpusim.llm.walker`` from a listing and a launch)."""

    prog: np.ndarray      #: int64 (n_inst, N_COLS): per static instruction, columns ``isa.C_*``
    opnd: np.ndarray      #: int64 (n_inst, N_SLOTS, 5): operand slots (kind, v, x, y, flags)
    dstregs: np.ndarray   #: int64 (n,): general registers written, CSR by ``C_DST0 .. C_DST1``
    cb: np.ndarray        #: uint8 (bytes,): constant bank 0
    cbk: np.ndarray       #: uint8 (bytes,): 1 where a constant-bank byte is known
    launch: np.ndarray    #: int64 (N_LAUNCH,): grid, block, step limit, parameter window (``isa.L_*``)
    img_tab: np.ndarray   #: int64 (rows, 3): memory image (base address, bytes, offset into img_data)
    img_data: np.ndarray  #: uint8 (bytes,): memory image contents
    tma_tab: np.ndarray   #: int64 (maps, N_TMA): TMA descriptors of tensor-map parameters (``isa.T_*``)


class Trace(NamedTuple):
    """The output columns a walk appends to (grown by the caller on ``ERR_FULL``)."""

    out_static: np.ndarray  #: int32 (cap,): static instruction of each dynamic warp instruction
    out_mask: np.ndarray    #: int64 (cap,): active-lane mask after the guard
    out_mem: np.ndarray     #: int64 (cap,): memory row (>= 0), -1, or a BAR's operands (< -1, ``isa.BAR_IDS``)
    mem_base: np.ndarray    #: int64 (cap_mem,): byte address of the first active lane
    mem_stride: np.ndarray  #: int64 (cap_mem,): bytes between lanes (mode 1)
    mem_mode: np.ndarray    #: uint8 (cap_mem,): 1 base + stride, 0 per-lane offsets in lane_off
    mem_ptr: np.ndarray     #: int64 (cap_mem + 1,): first lane offset of each memory row
    lane_off: np.ndarray    #: int64 (cap_lane,): per-lane byte offsets from mem_base (mode 0)
    warp_ptr: np.ndarray    #: int64 (warps + 1,): first dynamic instruction of each warp
    warp_slot: np.ndarray   #: int64 (warps,): warp index within its CTA
    cta_ptr: np.ndarray     #: int64 (ctas + 1,): first warp of each CTA
    cta_xyz: np.ndarray     #: int64 (ctas, 3): CTA coordinates
    counts: np.ndarray      #: int64 (5,): committed instructions, memory rows, lane offsets, warps, CTAs (``isa.N_*``)
    err: np.ndarray         #: int64 (6,): status, instruction, lane, CTA, warp, aux (``isa.E_*``)


class Lanes(NamedTuple):
    """The state of the warp being walked (reset per warp by ``walk.reset_warp``)."""

    r: np.ndarray      #: int64 (256, 32): general registers R0..R254 (+ RZ row) per lane
    rk: np.ndarray     #: uint8 (256, 32): known-bits of r
    p: np.ndarray      #: int64 (8, 32): predicates P0..P6 (+ PT row) per lane
    pk: np.ndarray     #: uint8 (8, 32)
    ur: np.ndarray     #: int64 (64,): uniform registers UR0..UR62 (+ URZ)
    urk: np.ndarray    #: uint8 (64,)
    up: np.ndarray     #: int64 (8,): uniform predicates UP0..UP6 (+ UPT)
    upk: np.ndarray    #: uint8 (8,)
    v: np.ndarray      #: int64 (N_SLOTS, 32): source operands of the current instruction, per lane
    vk: np.ndarray     #: uint8 (N_SLOTS, 32)
    res: np.ndarray    #: int64 (3, 32): result rows of the current instruction, per lane
    resk: np.ndarray   #: uint8 (3, 32)
    loc: np.ndarray    #: int64 (LOCAL_WORDS, 32): local-memory words below ``isa.LOCAL_TOP`` per thread
    lock: np.ndarray   #: uint8 (LOCAL_WORDS, 32)
    bar: np.ndarray    #: int64 (NBAR,): lanes expected at convergence barrier B0..B15 / WARPSYNC
    pc: np.ndarray     #: int64 (32,): instruction index per lane
    state: np.ndarray  #: int64 (32,): ``isa.RUN`` / ``EXITED`` / ``BLOCKED``
    wait: np.ndarray   #: int64 (32,): barrier a blocked lane waits at (-1: none)
    tid: np.ndarray    #: int64 (32, 3): thread index per lane
    ctaid: np.ndarray  #: int64 (3,): CTA index
    addr: np.ndarray   #: int64 (32,): per-lane (or per TMA box row) byte addresses of a memory row


def new_lanes() -> Lanes:
    """The warp state of a walk, allocated by the caller (``gpusim.llm.walker``) so that the jitted walker
    allocates nothing and runs without Numba's reference counting (``_nrt=False``)."""
    return Lanes(np.zeros((256, 32), np.int64), np.zeros((256, 32), np.uint8),
                 np.zeros((8, 32), np.int64), np.zeros((8, 32), np.uint8),
                 np.zeros(64, np.int64), np.zeros(64, np.uint8),
                 np.zeros(8, np.int64), np.zeros(8, np.uint8),
                 np.zeros((N_SLOTS, 32), np.int64), np.zeros((N_SLOTS, 32), np.uint8),
                 np.zeros((3, 32), np.int64), np.zeros((3, 32), np.uint8),
                 np.zeros((LOCAL_WORDS, 32), np.int64), np.zeros((LOCAL_WORDS, 32), np.uint8),
                 np.zeros(NBAR, np.int64), np.zeros(32, np.int64), np.zeros(32, np.int64), np.zeros(32, np.int64),
                 np.zeros((32, 3), np.int64), np.zeros(3, np.int64), np.zeros(32, np.int64))


@njit(cache=True, _nrt=False)
def fail(err, code, i, cta, w):
    """Record a status ``code`` at instruction ``i`` of warp ``w`` of CTA ``cta``; returns ``code``."""
    err[E_CODE] = code
    err[E_INST] = i
    err[E_CTA] = cta
    err[E_WARP] = w
    return code


@njit(cache=True, _nrt=False)
def fail_lane(err, code, i, ln, cta, w):
    """``fail`` naming the lane ``ln`` too."""
    err[E_LANE] = ln
    return fail(err, code, i, cta, w)

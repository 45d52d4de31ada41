"""Functional SASS walker: a listing + a launch -> the dynamic trace gpusim simulates (``KernelTrace``).

Without a GPU there is no NVBit, so gpusim makes its own traces from real compiler output
(issue 7; research/sass-control-bits.md section 8).  A listing function
(:class:`gpusim.frontend.sass.SassFunction`) is decoded once into integer arrays
(:func:`gpusim.emu.decode.compile_program`) and run by the functional emulator :mod:`gpusim.emu`
(``walk_ctas``); this module describes launches (constant bank, memory image, TMA table) and
drives it, CTA by CTA, producing per warp what the Accel-Sim tracer records: the PC sequence, the
active mask AND guard predicate, per-lane addresses of memory instructions, and the
destination/source registers of each static instruction.

What is executed
    integer ALU (IMAD and its .MOV/.IADD/.SHL/.WIDE/.HI/.X forms, IADD3 with carries, VIADD, LEA/
    LEA.HI(.X)(.SX32), SHF, LOP3, PRMT, SEL/FSEL, (VI)MNMX, VIADDMNMX, IABS, POPC, FLO, BREV),
    predicates (ISETP chains incl. .EX, PLOP3, P2R/R2P), uniform datapath (U* variants, R2UR,
    S2UR, ULDC, ELECT, VOTEU), special registers (S2R/CS2R), constant bank 0 (LDC/ULDC and ``c[]``
    operands), shuffles (SHFL), branches (BRA incl. ``BRA P, target`` and ``.U.ANY``, BRA.DIV,
    BSSY/BSYNC, WARPSYNC, CALL.REL/RET.REL, EXIT), and the addresses of every memory instruction.
    ``HFMA2.MMA Rd, -RZ, RZ, imm, imm`` (ptxas's way of materialising a 32-bit constant) is a move.
What is not computed
    floating-point and tensor results, and loaded values (unless the launch supplies a memory
    image for the buffer, e.g. an int32 position table; shared memory is never modelled): their
    destinations become *unknown*.  A branch condition, an address, or the guard of a memory or
    control instruction that depends on an unknown value raises :class:`WalkError` naming the
    instruction, so the control flow and the memory trace are exact or refused.  A data-dependent
    guard on an instruction that only produces values (``@P1 FADD`` after an ``FSETP``) is
    tolerated: the lanes are recorded as executing it and its results are unknown, so only such a
    mask may differ from what NVBit would see.  An opcode outside the list above
    raises :class:`WalkError` "unsupported instruction" when it is executed (never-reached slow
    paths in a listing are fine).

Launch model and constant bank 0 (``build_constant_bank``)
    ``c[0x0][0x0/0x4/0x8]`` = blockDim, ``c[0x0][0xc/0x10/0x14]`` = gridDim, ``c[0x0][0x28]`` = the
    initial stack pointer, the 64-bit global-memory descriptor at 0x118 (sm_80..89) / 0x208 (sm_90),
    and on sm_90 the generic address of the parameter window at 0x198 (seen in our wgmma listing:
    the tensor-map address is ``c[0x0][0x198] + param offset``).  Parameters start at the offset
    the cubin's ``EIATTR_PARAM_CBANK`` gives (0x160 on sm_80..89, 0x210 on sm_90; recorded by
    traces/kernels/build.py in ``manifest.json``).  Every other constant byte is unknown.

Trace conventions (same as the Accel-Sim tracer, research/accel-sim-trace-format.md section 3.4)
    * destination: the first operand when it is a general register (``R255`` = RZ); sources: the
      other general-register operands (RZ included) and the base register of memory operands,
      first four; predicates, uniform registers and constants are not listed;
    * ``LDGSTS`` is recorded once, with its global (source) addresses; a lane whose source-valid
      predicate (``LDGSTS ..., !P0``: cp.async with src-size 0) is false reads nothing and zero-fills,
      and is recorded as a lane predicated off; ``LDC``/``ULDC`` carry no addresses (constant space);
    * shared-memory addresses are offsets in the CTA's shared window (what NVBit reports);
    * ``UTMALDG`` (a TMA box load issued by one thread) is recorded with one address per box row
      that lies inside the tensor, in lanes 0..rows-1, and the box row's byte width as the access
      width, so the trace format carries the whole box (at most 32 rows; wider boxes are an error);
    * a ``BAR.SYNC`` / ``BAR.ARV`` whose barrier id or thread count is a register (FlashAttention-3's
      named barriers) carries the values in ``inst_mem`` as ``-2 - (id + 16 * threads / 32)`` (no memory
      row; ``gpusim.assemble`` reads it, the Accel-Sim format has no place for it);
    * the immediate column holds the last integer immediate operand (``DEPBAR.LE SB0, 0x1`` -> 1)
      or a branch's target offset.
    Warps of a CTA are listed in order; CTAs in linear order x + y*gx + z*gx*gy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpusim.emu import isa as W
from gpusim.emu.decode import CONST2_BASE, Program, WalkError, compile_program, program_for
from gpusim.emu.state import Inputs, Trace, new_lanes
from gpusim.emu.walk import walk_ctas
from gpusim.frontend.concat import concat_traces
from gpusim.frontend.reader import KernelHeader, KernelTrace, narrow_int
from gpusim.frontend.sass import SassFunction

__all__ = [
    "PARAM_WINDOW",
    "STACK_TOP",
    "KernelBinary",
    "Launch",
    "ParamSpec",
    "Program",
    "TensorMap",
    "WalkError",
    "build_constant_bank",
    "compile_program",
    "concat_traces",
    "kernel_from_listing",
    "memory_accesses",
    "trace_kernel",
    "walk",
]


#: Generic address we give the kernel-parameter window on sm_90 (c[0x0][0x198]); any value above
#: user allocations works, the walker only subtracts it again (tensor-map lookup).
PARAM_WINDOW = 0x7FFF_F000_0000
#: Initial stack pointer c[0x0][0x28] (R1).  Our kernels use no stack; local addresses would be
#: offsets below this value in the local window.
STACK_TOP = W.LOCAL_TOP
#: Default walker safety limit on dynamic instructions of one warp (an infinite loop is an error).
MAX_STEPS_PER_WARP = 50_000_000
#: Shared/local windows written into the trace header (classify generic LD/ST; values as in the
#: bundled vecadd example, i.e. above 4 GiB like real NVBit traces).
SHMEM_WINDOW = 0x0000_7F10_0000_0000
LOCAL_WINDOW = 0x0000_7F0E_0000_0000


# --------------------------------------------------------------------------------------------
# launch description
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorMap:
    """What a ``CUtensorMap`` parameter describes (2-D, row-major): used for UTMALDG addresses."""

    base: int               # global address of element (0, 0)
    dims: tuple[int, int]   # (elements per row, rows)
    row_stride: int         # bytes between rows
    box: tuple[int, int]    # (elements, rows) per TMA box
    elem_bytes: int = 2


@dataclass
class Launch:
    """One kernel launch: grid/block, parameter values by name, and optional data the walker may read.

    ``memory`` maps a global base address to a numpy array whose bytes the kernel may load (an int32
    position table, sequence lengths); loads from other addresses give unknown values.
    ``tensormaps`` gives the TMA descriptors of ``tensormap`` parameters by name."""

    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    params: dict[str, int | float]
    dynamic_shared_bytes: int = 0
    memory: dict[int, np.ndarray] = field(default_factory=dict)
    tensormaps: dict[str, TensorMap] = field(default_factory=dict)

    @property
    def num_ctas(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str     # ptr, i32, i64, f32, tensormap
    offset: int   # from the start of the parameter window
    size: int


@dataclass(frozen=True)
class KernelBinary:
    """A listing function plus what the launch needs: parameter layout, resources, architecture."""

    function: SassFunction
    arch: str                          # sm_80, sm_86, sm_89, sm_90a, ...
    params: tuple[ParamSpec, ...]
    param_base: int                    # constant-bank offset of the first parameter
    registers: int = 0
    static_shared_bytes: int = 0
    #: bytes of the function's constant bank 2 (``.nv.constant2.<fn>``, compiler-generated literals such as a
    #: 64-bit 4 ptxas folds into an address); ``c[0x2][off]`` reads them (placed at :data:`CONST2_BASE`)
    const2: bytes = b""

    @property
    def name(self) -> str:
        return self.function.name

    @property
    def binary_version(self) -> int:
        return int("".join(c for c in self.arch if c.isdigit()))

    @property
    def is_sm90(self) -> bool:
        return self.binary_version >= 90


# --------------------------------------------------------------------------------------------
# launch -> constant bank, memory image, TMA table
# --------------------------------------------------------------------------------------------

_PACK = {"ptr": "<Q", "i64": "<q", "i32": "<i", "f32": "<f"}


def build_constant_bank(kernel: KernelBinary, launch: Launch) -> tuple[np.ndarray, np.ndarray]:
    """Constant bank 0 bytes and their known-flags for ``launch`` (layout in the module doc)."""
    names = {p.name for p in kernel.params}
    missing = [p.name for p in kernel.params if p.name not in launch.params and p.type != "tensormap"]
    extra = sorted(set(launch.params) - names)
    where = f"{kernel.function.source}: {kernel.name}"
    if missing:
        raise WalkError(f"{where}: launch lacks parameter(s) {missing}")
    if extra:
        raise WalkError(f"{where}: unknown parameter(s) {extra} (kernel takes {[p.name for p in kernel.params]})")
    end = kernel.param_base + max((p.offset + p.size for p in kernel.params), default=0)
    size = max(end, 0x220, CONST2_BASE + len(kernel.const2) if kernel.const2 else 0) + 16
    cb = np.zeros(size, np.uint8)
    cbk = np.zeros(size, np.uint8)

    def put(off: int, fmt: str, value) -> None:
        b = struct.pack(fmt, value)
        cb[off: off + len(b)] = np.frombuffer(b, np.uint8)
        cbk[off: off + len(b)] = 1

    if kernel.const2:
        cb[CONST2_BASE: CONST2_BASE + len(kernel.const2)] = np.frombuffer(kernel.const2, np.uint8)
        cbk[CONST2_BASE: CONST2_BASE + len(kernel.const2)] = 1
    for k in range(3):
        put(4 * k, "<I", launch.block[k])
        put(0xC + 4 * k, "<I", launch.grid[k])
    put(0x28, "<I", STACK_TOP)
    if kernel.is_sm90:
        put(0x208, "<Q", 0)            # global memory descriptor (value not used for addresses)
        put(0x198, "<Q", PARAM_WINDOW)  # generic address of the parameter window
    else:
        put(0x118, "<Q", 0)
    for p in kernel.params:
        off = kernel.param_base + p.offset
        if p.type == "tensormap":
            if p.name not in launch.tensormaps:
                raise WalkError(f"{where}: launch lacks the tensor map for parameter '{p.name}'")
            cbk[off: off + p.size] = 0  # opaque descriptor bytes
            continue
        v = launch.params[p.name]
        try:
            if p.type == "f32":
                put(off, "<f", float(v))
            elif p.type == "ptr":
                put(off, "<Q", int(v) & 0xFFFF_FFFF_FFFF_FFFF)
            else:
                put(off, _PACK[p.type], int(v))
        except (struct.error, TypeError, ValueError) as e:
            raise WalkError(f"{where}: parameter '{p.name}' ({p.type}) = {v!r}: {e}") from None
    return cb, cbk


def _memory_image(launch: Launch) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    chunks = []
    off = 0
    for base, arr in sorted(launch.memory.items()):
        b = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
        rows.append((int(base), b.size, off))
        chunks.append(b)
        off += b.size
    tab = np.array(rows, np.int64).reshape(-1, 3)
    data = np.concatenate(chunks) if chunks else np.zeros(1, np.uint8)
    return tab, data


def _tma_table(kernel: KernelBinary, launch: Launch) -> np.ndarray:
    rows = []
    for p in kernel.params:
        if p.type != "tensormap":
            continue
        t = launch.tensormaps[p.name]
        rows.append((p.offset, t.base, t.dims[0], t.dims[1], t.row_stride, t.box[0], t.box[1], t.elem_bytes))
    return np.array(rows, np.int64).reshape(-1, W.N_TMA)


# --------------------------------------------------------------------------------------------
# walking
# --------------------------------------------------------------------------------------------

_REASONS = {
    W.ERR_UNSUPPORTED: "unsupported instruction (the walker executes integer, predicate, uniform, special-register, "
                       "constant-bank, shuffle, branch and memory-address instructions; see gpusim/llm/walker.py)",
    W.ERR_UNKNOWN_GUARD: "guard predicate depends on a value the walker does not compute (floating-point result "
                         "or memory contents not given in Launch.memory)",
    W.ERR_UNKNOWN_BRANCH: "branch condition depends on a value the walker does not compute (floating-point result "
                          "or memory contents not given in Launch.memory)",
    W.ERR_UNKNOWN_ADDR: "address depends on a value the walker does not compute (floating-point result or memory "
                        "contents not given in Launch.memory)",
    W.ERR_UNKNOWN_VALUE: "operand must be a known, warp-uniform integer",
    W.ERR_PC_RANGE: "control flow left the function",
    W.ERR_STEPS: "a warp exceeded the dynamic instruction limit (infinite loop?)",
    W.ERR_DEADLOCK: "lanes wait at a convergence barrier that the other lanes never reach",
    W.ERR_TMA: "UTMALDG: tensor map not found among the launch's tensormap parameters, or box wider than 32 rows",
    W.ERR_BAR: "BAR: barrier id outside 0-15 or thread count not a positive multiple of 32 (PTX ISA, bar)",
}


def _walk_chunk(program: Program, kernel: KernelBinary, launch: Launch, cb, cbk, img_tab, img_data, tma,
                lo: int, hi: int, max_steps: int, est: tuple[float, float, float] | None = None) -> KernelTrace:
    """Walk CTAs lo..hi-1.  ``est`` = (instructions, memory rows, lane offsets) per CTA seen so far,
    to size the output buffers (they grow on demand, at the cost of re-walking one CTA)."""
    nwarps = (launch.block[0] * launch.block[1] * launch.block[2] + 31) // 32
    ncta = hi - lo
    lv = np.zeros(W.N_LAUNCH, np.int64)
    lv[[W.L_GX, W.L_GY, W.L_GZ]] = launch.grid
    lv[[W.L_BX, W.L_BY, W.L_BZ]] = launch.block
    lv[W.L_MAX_STEPS] = max_steps
    lv[W.L_PARAM_WINDOW] = PARAM_WINDOW
    lv[W.L_PARAM_BASE] = kernel.param_base
    if est is None:
        cap, cap_mem, cap_lane = max(4096, 2048 * ncta * nwarps), max(1024, 512 * ncta * nwarps), 0
    else:
        cap, cap_mem, cap_lane = (int(x * ncta * 1.05) + 4096 for x in est)
    bufs = _alloc(cap, cap_mem, ncta, nwarps, cap_lane)
    counts = np.zeros(5, np.int64)
    err = np.zeros(6, np.int64)
    start = lo
    inputs = Inputs(program.prog, program.opnd, program.dstregs, cb, cbk, lv, img_tab, img_data, tma)
    lanes = new_lanes()
    while True:
        st = walk_ctas(inputs, Trace(*bufs, counts, err), lanes, start, hi)
        if st == W.OK:
            break
        if st == W.ERR_FULL:
            start = int(err[W.E_CTA])
            bufs = _grow(bufs, counts)
            continue
        i = int(err[W.E_INST])
        cta = int(err[W.E_CTA])
        gx, gy = launch.grid[0], launch.grid[1]
        xyz = (cta % gx, (cta // gx) % gy, cta // (gx * gy))
        at = program.describe(i) if 0 <= i < len(program.function) else \
            f"{program.function.source}: {program.function.name}: instruction index {i}"
        extra = f"; tensor-map offset {int(err[W.E_AUX])}" if st == W.ERR_TMA else ""
        raise WalkError(f"{at}: {_REASONS.get(st, f'walker error {st}')} (CTA {xyz}, warp {int(err[W.E_WARP])}, "
                        f"lane {int(err[W.E_LANE])}{extra})")
    return _to_trace(program, kernel, launch, bufs, counts)


def _alloc(cap: int, cap_mem: int, ncta: int, nwarps: int, cap_lane: int = 0):
    return [
        np.empty(cap, np.int32),               # out_static
        np.empty(cap, np.int64),               # out_mask
        np.empty(cap, np.int64),               # out_mem
        np.empty(cap_mem, np.int64),           # mem_base
        np.empty(cap_mem, np.int64),           # mem_stride
        np.empty(cap_mem, np.uint8),           # mem_mode
        np.zeros(cap_mem + 1, np.int64),       # mem_ptr
        np.empty(max(1024, cap_lane or cap_mem * 8), np.int64),  # lane_off
        np.zeros(ncta * nwarps + 1, np.int64),  # warp_ptr
        np.zeros(ncta * nwarps, np.int64),     # warp_slot
        np.zeros(ncta + 1, np.int64),          # cta_ptr
        np.zeros((ncta, 3), np.int64),         # cta_xyz
    ]


def _grow(bufs, counts):
    """Double the instruction, memory-row and lane buffers, keeping what was committed."""
    out = list(bufs)
    for j in (0, 1, 2):
        a = bufs[j]
        b = np.empty(a.size * 2, a.dtype)
        b[: counts[W.N_INST]] = a[: counts[W.N_INST]]
        out[j] = b
    nm = int(counts[W.N_MEM])
    for j in (3, 4, 5):
        a = bufs[j]
        b = np.empty(a.size * 2, a.dtype)
        b[:nm] = a[:nm]
        out[j] = b
    mp = np.zeros(bufs[6].size * 2 - 1, np.int64)
    mp[: nm + 1] = bufs[6][: nm + 1]
    out[6] = mp
    need = max(bufs[7].size * 2, int(counts[W.N_LANE]) + 32 * 64)
    lo = np.empty(need, np.int64)
    lo[: counts[W.N_LANE]] = bufs[7][: counts[W.N_LANE]]
    out[7] = lo
    return out


def _to_trace(program: Program, kernel: KernelBinary, launch: Launch, bufs, counts) -> KernelTrace:
    (out_static, out_mask, out_mem, mem_base, mem_stride, mem_mode, mem_ptr, lane_off, warp_ptr, warp_slot,
     cta_ptr, cta_xyz) = bufs
    ni, nm, nl, nw, nc = (int(x) for x in counts)
    fn = program.function
    st_w = program.st_mem_width.copy()
    if launch.tensormaps:
        # UTMALDG: one address per box row, the row's bytes as the access width
        row_bytes = max(t.box[0] * t.elem_bytes for t in launch.tensormaps.values())
        for i in np.flatnonzero(program.prog[:, W.C_OP] == W.OP_UTMALDG):
            st_w[i] = row_bytes
    hdr = KernelHeader(
        name=fn.name, kernel_id=1, grid=tuple(int(v) for v in launch.grid), block=tuple(int(v) for v in launch.block),
        shmem_bytes=int(kernel.static_shared_bytes + launch.dynamic_shared_bytes), nregs=int(kernel.registers),
        binary_version=kernel.binary_version, stream_id=0, shmem_base=SHMEM_WINDOW, local_base=LOCAL_WINDOW,
        nvbit_version="none (gpusim SASS walker)", tracer_version=5.0, lineinfo=False, extra={"arch": kernel.arch},
    )
    return KernelTrace(
        path=fn.source, header=hdr, raw=False,
        st_pc=fn.pc.astype(np.int64), st_opcode=tuple(fn.opcode),
        st_ndst=program.st_ndst, st_dst=program.st_dst, st_nsrc=program.st_nsrc, st_src=program.st_src,
        st_mem_width=st_w, st_imm=program.st_imm, st_line=fn.line.astype(np.int64),
        cta_xyz=cta_xyz[:nc].copy(), cta_warp_ptr=cta_ptr[: nc + 1].copy(),
        warp_slot=warp_slot[:nw].copy(), warp_inst_ptr=warp_ptr[: nw + 1].copy(),
        inst_static=out_static[:ni].copy(), inst_mask=out_mask[:ni].astype(np.uint32),
        inst_mem=narrow_int(out_mem[:ni]),
        mem_mode=mem_mode[:nm].copy(), mem_base=mem_base[:nm].astype(np.uint64), mem_stride=narrow_int(mem_stride[:nm]),
        mem_ptr=narrow_int(mem_ptr[: nm + 1]), lane_off=narrow_int(lane_off[:nl]),
    )


def walk(kernel: KernelBinary, launch: Launch, ctas: range | None = None, chunk_ctas: int | None = None,
         max_steps_per_warp: int = MAX_STEPS_PER_WARP) -> Iterator[KernelTrace]:
    """Yield the trace of ``ctas`` (default: the whole grid, linear order) in chunks of
    ``chunk_ctas`` CTAs (default: about 64 warps per chunk), each chunk a self-contained
    ``KernelTrace`` with the full static table, so a huge grid is never materialised whole."""
    if any(int(v) < 1 for v in (*launch.grid, *launch.block)):
        raise WalkError(f"{kernel.name}: grid {launch.grid} and block {launch.block} must be positive")
    if launch.block[0] * launch.block[1] * launch.block[2] > 1024:
        raise WalkError(f"{kernel.name}: block {launch.block} has more than 1024 threads")
    program = program_for(kernel.function)
    cb, cbk = build_constant_bank(kernel, launch)
    img_tab, img_data = _memory_image(launch)
    tma = _tma_table(kernel, launch)
    total = launch.num_ctas
    r = ctas if ctas is not None else range(total)
    if r.step != 1 or r.start < 0 or r.stop > total:
        raise WalkError(f"{kernel.name}: CTA range {r} is not a contiguous part of the {total} CTAs of grid {launch.grid}")
    nwarps = (launch.block[0] * launch.block[1] * launch.block[2] + 31) // 32
    step = chunk_ctas or max(1, 64 // nwarps)
    est = None
    for lo in range(r.start, r.stop, step):
        kt = _walk_chunk(program, kernel, launch, cb, cbk, img_tab, img_data, tma, lo, min(lo + step, r.stop),
                         max_steps_per_warp, est)
        n = kt.num_ctas
        cur = (kt.warp_instructions / n, kt.mem_mode.size / n, kt.lane_off.size / n)
        est = cur if est is None else tuple(max(a, b) for a, b in zip(est, cur))
        yield kt


#: CTAs walked per chunk by :func:`trace_kernel` aim at this many warps (chunks are then joined into
#: exact-size arrays, so a large grid never holds doubling buffers; a choice of this module).
TRACE_CHUNK_WARPS = 256


def walk_chunks(kernel: KernelBinary, launch: Launch, ctas: range | None = None, chunk_ctas: int | None = None,
                max_steps_per_warp: int = MAX_STEPS_PER_WARP) -> Iterator[KernelTrace]:
    """Yield the trace of ``ctas`` (default: all) as its first CTA alone, then chunks of ``chunk_ctas``
    CTAs (default: about :data:`TRACE_CHUNK_WARPS` warps) whose buffers are sized from the CTAs seen
    so far; each chunk a self-contained ``KernelTrace`` (``concat_traces`` joins them into the walk of
    the whole range).  The streamed core (``gpusim.assemble.run_streamed``) consumes them CTA by CTA."""
    program = program_for(kernel.function)
    cb, cbk = build_constant_bank(kernel, launch)
    img_tab, img_data = _memory_image(launch)
    tma = _tma_table(kernel, launch)
    total = launch.num_ctas
    r = ctas if ctas is not None else range(total)
    if r.step != 1 or r.start < 0 or r.stop > total or r.stop <= r.start:
        raise WalkError(f"{kernel.name}: CTA range {r} is not a non-empty contiguous part of the {total} CTAs "
                        f"of grid {launch.grid}")
    nwarps = (launch.block[0] * launch.block[1] * launch.block[2] + 31) // 32
    chunk = max(1, int(chunk_ctas) if chunk_ctas else TRACE_CHUNK_WARPS // nwarps)
    # the first CTA alone sizes the buffers of the following chunks (per-CTA maxima so far)
    first = _walk_chunk(program, kernel, launch, cb, cbk, img_tab, img_data, tma, r.start, r.start + 1,
                        max_steps_per_warp)
    est = (float(first.warp_instructions), float(first.mem_mode.size), float(first.lane_off.size))
    yield first
    for lo in range(r.start + 1, r.stop, chunk):
        kt = _walk_chunk(program, kernel, launch, cb, cbk, img_tab, img_data, tma, lo, min(lo + chunk, r.stop),
                         max_steps_per_warp, est)
        n = kt.num_ctas
        est = tuple(max(a, b) for a, b in zip(est, (kt.warp_instructions / n, kt.mem_mode.size / n,
                                                    kt.lane_off.size / n)))
        yield kt


def trace_kernel(kernel: KernelBinary, launch: Launch, ctas: range | None = None,
                 max_steps_per_warp: int = MAX_STEPS_PER_WARP) -> KernelTrace:
    """The trace of ``ctas`` (default: all) as one ``KernelTrace``: the chunks of :func:`walk_chunks`
    joined with :func:`concat_traces` into exact-size arrays (same result as one walk, less peak memory)."""
    return concat_traces(list(walk_chunks(kernel, launch, ctas, None, max_steps_per_warp)))


def kernel_from_listing(path: str | Path, name: str | None, params: list[tuple[str, str]], *,
                        arch: str | None = None, param_base: int | None = None, registers: int = 0,
                        static_shared_bytes: int = 0) -> KernelBinary:
    """A :class:`KernelBinary` for a listing outside traces/kernels: ``params`` are (name, type) in
    declaration order, laid out with natural alignment; ``param_base`` defaults to 0x160 (sm_80..89)
    or 0x210 (sm_90+)."""
    from gpusim.frontend.sass import parse_sass_listing

    lst = parse_sass_listing(path)
    if name is None:
        if len(lst.functions) != 1:
            raise WalkError(f"{path}: holds {len(lst.functions)} functions; name one")
        fn = next(iter(lst.functions.values()))
    else:
        fn = lst.find_function(name)
        if fn is None:
            raise WalkError(f"{path}: no function {name!r} (has {sorted(lst.functions)})")
    arch = arch or fn.arch or "sm_80"
    sizes = {"ptr": 8, "i64": 8, "i32": 4, "f32": 4, "tensormap": 128}
    aligns = {"ptr": 8, "i64": 8, "i32": 4, "f32": 4, "tensormap": 64}
    specs = []
    off = 0
    for pname, ptype in params:
        if ptype not in sizes:
            raise WalkError(f"{path}: parameter {pname!r}: unknown type {ptype!r} (ptr, i32, i64, f32, tensormap)")
        off = (off + aligns[ptype] - 1) // aligns[ptype] * aligns[ptype]
        specs.append(ParamSpec(pname, ptype, off, sizes[ptype]))
        off += sizes[ptype]
    binver = int("".join(c for c in arch if c.isdigit()))
    base = param_base if param_base is not None else (0x210 if binver >= 90 else 0x160)
    return KernelBinary(function=fn, arch=arch, params=tuple(specs), param_base=base, registers=registers,
                        static_shared_bytes=static_shared_bytes)


def memory_accesses(kt: KernelTrace) -> tuple[np.ndarray, np.ndarray]:
    """(dynamic instruction index, byte address) of every active lane of every memory instruction
    of ``kt``, in trace order (lane order within an instruction); vectorised."""
    mi = np.flatnonzero(kt.inst_mem >= 0)
    if mi.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    rows = kt.inst_mem[mi]
    mode1 = kt.mem_mode[rows] == 1
    nact = np.bitwise_count(kt.inst_mask[mi]).astype(np.int64)
    nlist = kt.mem_ptr[rows + 1] - kt.mem_ptr[rows]
    n = np.where(mode1, nact, nlist)
    inst = np.repeat(mi, n)
    start = np.repeat(np.cumsum(n) - n, n)
    k = np.arange(int(n.sum()), dtype=np.int64) - start
    r = np.repeat(rows, n)
    m1 = np.repeat(mode1, n)
    off = np.where(m1, kt.mem_stride[r] * k, 0)
    if (~m1).any():
        idx = np.where(m1, 0, kt.mem_ptr[r] + k)
        off = np.where(m1, off, kt.lane_off[idx] if kt.lane_off.size else 0)
    return inst, kt.mem_base[r] + off.astype(np.uint64)

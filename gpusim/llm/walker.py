"""Functional SASS walker: a listing + a launch -> the dynamic trace gpusim simulates (``KernelTrace``).

Without a GPU there is no NVBit, so gpusim makes its own traces from real compiler output
(issue 7; research/sass-control-bits.md section 8).  This module decodes a listing function
(:class:`gpusim.frontend.sass.SassFunction`) once into integer arrays (:func:`compile_program`)
and runs them with the Numba interpreter in :mod:`gpusim.core.walk`, CTA by CTA, producing per
warp what the Accel-Sim tracer records: the PC sequence, the active mask AND guard predicate,
per-lane addresses of memory instructions, and the destination/source registers of each static
instruction.

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

import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpusim.core import walk as W
from gpusim.errors import GpusimError
from gpusim.frontend.opcodes import (
    access_width_bytes,
    family_for_binary_version,
    load_opcode_table,
)
from gpusim.frontend.reader import KernelHeader, KernelTrace
from gpusim.frontend.sass import RZ, Operand, SassFunction

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


class WalkError(GpusimError):
    """A listing or launch the walker cannot turn into an exact trace (names listing:line and PC)."""


#: Generic address we give the kernel-parameter window on sm_90 (c[0x0][0x198]); any value above
#: user allocations works, the walker only subtracts it again (tensor-map lookup).
PARAM_WINDOW = 0x7FFF_F000_0000
#: Where the walker's constant array holds constant bank 2 (``c[0x2][off]`` -> byte CONST2_BASE + off): above
#: every bank-0 offset our kernels use (parameters end below 0x1000).
CONST2_BASE = 0x8000
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
# compilation of a listing function into walker arrays
# --------------------------------------------------------------------------------------------

_SR = {
    "SR_TID.X": W.SR_TID_X, "SR_TID.Y": W.SR_TID_Y, "SR_TID.Z": W.SR_TID_Z,
    "SR_CTAID.X": W.SR_CTAID_X, "SR_CTAID.Y": W.SR_CTAID_Y, "SR_CTAID.Z": W.SR_CTAID_Z,
    "SR_LANEID": W.SR_LANEID, "SR_EQMASK": W.SR_EQMASK, "SR_LTMASK": W.SR_LTMASK,
    "SR_LEMASK": W.SR_LEMASK, "SR_GTMASK": W.SR_GTMASK, "SR_GEMASK": W.SR_GEMASK,
    "SRZ": W.SR_ZERO, "SR_CgaCtaId": W.SR_ZERO, "SR_VIRTID": W.SR_UNKNOWN, "SR_WARPID": W.SR_WARPID,
}
_CMP = {"F": W.CMP_F, "LT": W.CMP_LT, "EQ": W.CMP_EQ, "LE": W.CMP_LE, "GT": W.CMP_GT, "NE": W.CMP_NE,
        "GE": W.CMP_GE, "T": W.CMP_T}
_BOP = {"AND": W.BOP_AND, "OR": W.BOP_OR, "XOR": W.BOP_XOR}
_SHFL = {"IDX": W.SHFL_IDX, "UP": W.SHFL_UP, "DOWN": W.SHFL_DOWN, "BFLY": W.SHFL_BFLY}

# opcodes with no functional effect on registers, predicates or control flow
_NOP = frozenset(["NOP", "BAR", "DEPBAR", "LDGDEPBAR", "MEMBAR", "FENCE", "WARPGROUP", "YIELD", "ERRBAR", "CCTL", "CCTLL", "CCTLT", "NANOSLEEP", "PREEXIT", "ACQBULK", "ARRIVES", "UCGABAR_ARV", "UCGABAR_WAIT", "CGAERRBAR"])
# floating-point, conversion and tensor opcodes: results not computed (destinations unknown)
_FPU = frozenset(
    ["FADD", "FADD32I", "FMUL", "FMUL32I", "FFMA", "FFMA32I", "FMNMX", "FSETP", "FSET", "FCHK", "FRND", "FSWZADD", "MUFU", "HADD2", "HMUL2", "HFMA2", "HMNMX2", "HSETP2", "HSET2", "HADD2_32I", "HMUL2_32I", "HFMA2_32I", "DADD", "DMUL", "DFMA", "DSETP", "DMNMX", "DSET", "F2F", "F2I", "I2F", "I2FP", "F2IP", "F2FP", "FMNMX3", "HMMA", "HGMMA", "IMMA", "IGMMA", "DMMA", "BMMA", "QMMA", "QGMMA", "OMMA", "IDP", "IDP4A", "DEPBAR_NOT", "BAR_RED", "REDUX", "CREDUX", "MATCH"])
_LOADS = frozenset(["LD", "LDG", "LDS", "LDL", "LDSM", "ATOM", "ATOMG", "ATOMS", "LDCU"])
_STORES = frozenset(["ST", "STG", "STS", "STL", "STSM", "RED", "REDG"])


def _is(o: Operand, *kinds: str) -> bool:
    return o.kind in kinds


def _enc(o: Operand | None, *, wide: bool = False) -> tuple[int, int, int, int, int]:
    """Operand -> (kind, v, x, y, flags) as gpusim.core.walk reads it."""
    if o is None:
        return (W.K_NONE, 0, -1, -1, 0)
    fl = (W.F_NEG if o.negated else 0) | (W.F_INV if o.inverted else 0) | (W.F_ABS if o.absolute else 0)
    k = o.kind
    if k == "reg":
        if ".64" in o.suffix or wide:
            fl |= W.F_WIDE
        if o.suffix.replace(".64", ""):  # .H0/.H1/.B1 ... selectors: only FP ops use them
            return (W.K_OTHER, 0, -1, -1, 0)
        return (W.K_R, o.reg, -1, -1, fl)
    if k == "ureg":
        return (W.K_UR, o.reg, -1, -1, fl | (W.F_WIDE if wide else 0))
    if k == "pred":
        return (W.K_P, o.reg, -1, -1, W.F_NEG if o.negated else 0)
    if k == "upred":
        return (W.K_UP, o.reg, -1, -1, W.F_NEG if o.negated else 0)
    if k == "imm":
        if isinstance(o.value, int):
            return (W.K_IMM, o.value, -1, -1, W.F_WIDE if wide else 0)
        return (W.K_OTHER, 0, -1, -1, 0)
    if k == "const":
        if o.bank == 2 and o.reg < 0 and o.ureg < 0:  # constant bank 2: its bytes sit at CONST2_BASE of the array
            return (W.K_CONST, CONST2_BASE + o.offset, -1, -1, fl | (W.F_WIDE if wide else 0))
        if o.bank != 0:
            return (W.K_OTHER, 0, -1, -1, 0)
        return (W.K_CONST, o.offset, o.reg, o.ureg, fl | (W.F_WIDE if wide else 0))
    if k == "special":
        return (W.K_SR, _SR.get(o.name, W.SR_UNKNOWN), -1, -1, 0)
    if k in ("mem", "desc"):
        if k == "desc" and o.name == "gdesc":
            return (W.K_OTHER, 0, -1, -1, 0)
        return (W.K_MEM, o.reg, o.ureg, o.offset, W.F_WIDE if o.wide else 0)
    if k == "other" and o.name in ("B", "SB"):
        return (W.K_OTHER, o.reg, -1, -1, 0)
    return (W.K_OTHER, 0, -1, -1, 0)


def _half_bits(x: float) -> int:
    return int(np.array([x], dtype=np.float16).view(np.uint16)[0])


@dataclass(frozen=True, eq=False)
class Program:
    """A listing function compiled for :func:`gpusim.core.walk.walk_ctas`, plus its trace static table."""

    function: SassFunction
    prog: np.ndarray        # int64 [n, N_COLS]
    opnd: np.ndarray        # int64 [n, N_SLOTS, 5]
    dstregs: np.ndarray     # int64 CSR payload (prog[:, C_DST0:C_DST1])
    # trace static table (Accel-Sim tracer conventions)
    st_ndst: np.ndarray
    st_dst: np.ndarray
    st_nsrc: np.ndarray
    st_src: np.ndarray
    st_mem_width: np.ndarray
    st_imm: np.ndarray

    def describe(self, i: int) -> str:
        f = self.function
        return f"{f.source}:{int(f.line[i])}: {f.name}: PC 0x{int(f.pc[i]):04x} '{f.text[i]}'"


def _tracer_regs(opcode: str, ops: tuple[Operand, ...]) -> tuple[list[int], list[int]]:
    """(dst, src) general registers as the Accel-Sim tracer lists them (see module doc)."""
    dst: list[int] = []
    src: list[int] = []
    for j, o in enumerate(ops):
        if j == 0 and o.kind == "reg":
            dst.append(o.reg)
            continue
        if o.kind == "reg" or o.kind in ("mem", "desc") and 0 <= o.reg:
            src.append(o.reg)
    return dst[:4], src[:4]


def _trace_imm(fn: SassFunction, i: int) -> int:
    ops = fn.operands[i]
    if int(fn.branch_target[i]) >= 0 and fn.opcode[i].split(".")[0] in ("BRA", "CALL", "JMP", "BSSY"):
        return int(fn.branch_target[i])
    for o in reversed(ops):
        if o.kind == "imm":
            if isinstance(o.value, int):
                return int(o.value)
            return int(struct.unpack("<I", struct.pack("<f", float(o.value)))[0])
    return 0


def compile_program(fn: SassFunction) -> Program:
    """Decode every instruction of ``fn`` into walker arrays (unsupported ones become OP_UNSUPPORTED:
    an error only if executed)."""
    n = len(fn)
    if n == 0 or int(fn.pc[0]) != 0 or not np.all(np.diff(fn.pc) == 16):
        raise WalkError(f"{fn.source}: {fn.name}: instructions must be 16-byte slots from offset 0")
    binver = int("".join(c for c in fn.arch if c.isdigit()) or "0")
    try:
        table = load_opcode_table(family_for_binary_version(binver))
    except GpusimError:
        table = None
    prog = np.zeros((n, W.N_COLS), np.int64)
    prog[:, W.C_GUARD] = -1
    prog[:, W.C_TARGET] = -1
    prog[:, W.C_MOD:] = 0
    opnd = np.zeros((n, W.N_SLOTS, 5), np.int64)
    opnd[:, :, 0] = W.K_NONE
    opnd[:, :, 2:4] = -1
    dst_lists: list[tuple[int, ...]] = []
    st_ndst = np.zeros(n, np.uint8)
    st_dst = np.full((n, 4), -1, np.int16)
    st_nsrc = np.zeros(n, np.uint8)
    st_src = np.full((n, 4), -1, np.int16)
    st_w = np.zeros(n, np.int32)
    st_imm = np.zeros(n, np.int64)
    target_idx = np.where(fn.branch_target >= 0, fn.branch_target // 16, -1)

    for i in range(n):
        opcode = fn.opcode[i]
        ops = fn.operands[i]
        root, *mods = opcode.split(".")
        mset = set(mods)
        row = prog[i]
        slots: list[tuple[int, int, int, int, int]] = []
        dst_list = tuple(fn.dst_reg_lists[i])
        # guard
        g = fn.guard[i]
        if g:
            neg = g.startswith("@!")
            name = g.lstrip("@!")
            uni = name.startswith("UP")
            num = 7 if name.endswith("T") else int(name[2 if uni else 1:])
            row[W.C_GUARD] = num | (neg << 3) | (uni << 4)
        row[W.C_TARGET] = target_idx[i]
        d, s = _tracer_regs(opcode, ops)
        st_ndst[i] = len(d)
        st_dst[i, : len(d)] = d
        st_nsrc[i] = len(s)
        st_src[i, : len(s)] = s
        st_imm[i] = _trace_imm(fn, i)
        # memory trace classification from the opcode table (space other than none/constant)
        if table is not None and root in table:
            e = table.entry(root)
            traced = int(e["space"]) in (1, 2, 3, 5) and int(e["kind"]) not in (0, 6)
        else:
            traced = root in _LOADS or root in _STORES or root in ("LDGSTS", "SYNCS", "UTMALDG")
        mem_slots = [j for j, o in enumerate(ops) if o.kind in ("mem", "desc") and o.name != "gdesc"]

        op = W.OP_UNSUPPORTED
        try:
            op, slots, mods_out = _decode(root, mods, mset, ops, opcode)
        except _Unsupported:
            op, slots, mods_out = W.OP_UNSUPPORTED, [], []
        if op in (W.OP_LOAD, W.OP_STORE, W.OP_SYNCS, W.OP_UTMALDG) or traced:
            if traced and mem_slots:
                row[W.C_TRACE_MEM] = 1
                ms = mem_slots[-1] if root == "LDGSTS" else mem_slots[0]
                row[W.C_MEM_SLOT] = ms
                st_w[i] = access_width_bytes(opcode)
                if op in (W.OP_LOAD, W.OP_STORE, W.OP_SYNCS):
                    slots = [_enc(o) for o in ops[:W.N_SLOTS]]
                    if op == W.OP_LOAD:
                        space = W.SPACE_GLOBAL if root in ("LDG", "LD") else W.SPACE_LOCAL if root == "LDL" else W.SPACE_OTHER
                        mods_out = [space, access_width_bytes(opcode), ms,
                                    1 if ("S8" in mset or "S16" in mset) else 0, -1, -1, -1, -1]
                    elif root == "STL":  # register spill: the walker keeps the stored values (gpusim.core.walk)
                        data = [j for j, o in enumerate(ops[:W.N_SLOTS]) if o.kind == "reg" and j != ms]
                        if data:
                            mods_out = [W.SPACE_LOCAL, access_width_bytes(opcode), ms, data[0]]
                    elif root == "LDGSTS" and ops and ops[-1].kind == "pred" and ms != len(ops) - 1:
                        # cp.async's src-size operand as ptxas encodes it: a trailing "source valid"
                        # predicate; where it is false the copy reads nothing and zero-fills (C_LDGSTS_SRC)
                        p = ops[-1]
                        mods_out = [0, 0, 0, 0, 0, 1 + (p.reg | (int(p.negated) << 3))]
            elif op in (W.OP_LOAD, W.OP_STORE) and not mem_slots:
                op = W.OP_UNSUPPORTED
        if op == W.OP_FPU:
            # predicate destinations (FSETP P0, P1, ...; HSETP2) become unknown too
            preds = [j for j, o in enumerate(ops[:2]) if o.kind in ("pred", "upred")]
            ureg_dst = [0] if ops and ops[0].kind == "ureg" else []
            mods_out = [0, 0, 0, 0] + (preds + [-1, -1])[:2] + (ureg_dst + [-1, -1])[:2]
            slots = [_enc(o) for o in ops[:W.N_SLOTS]]
        row[W.C_OP] = op
        srcs, dsts = _IO.get(op, ((), ()))
        if op in (W.OP_LOAD, W.OP_STORE, W.OP_SYNCS) and row[W.C_TRACE_MEM]:
            srcs = (int(row[W.C_MEM_SLOT]),)
        row[W.C_SRC] = sum(1 << j for j in srcs)
        row[W.C_D0:W.C_D0 + 3] = (list(dsts) + [-1, -1, -1])[:3]
        row[W.C_DWIDE] = 1 if (op == W.OP_IMAD_WIDE or (op == W.OP_LDC and mods_out and mods_out[0] == 8)
                               or (op == W.OP_CS2R and mods_out and mods_out[0] == 2)) else 0
        if dsts and op not in (W.OP_VOTE, W.OP_ELECT, W.OP_SHFL) and slots:
            row[W.C_UNI] = 1 if slots[dsts[0]][0] in (W.K_UR, W.K_UP) else 0
        for j, m in enumerate(mods_out[:8]):
            row[W.C_MOD + j] = m
        for j, sl in enumerate(slots[: W.N_SLOTS]):
            opnd[i, j] = sl
        dst_lists.append(dst_list if op in (W.OP_FPU, W.OP_LOAD) else ())

    ptr = np.zeros(n + 1, np.int64)
    np.cumsum([len(x) for x in dst_lists], out=ptr[1:])
    prog[:, W.C_DST0] = ptr[:-1]
    prog[:, W.C_DST1] = ptr[1:]
    dstregs = np.fromiter((r for x in dst_lists for r in x), np.int64, count=int(ptr[-1]))
    return Program(function=fn, prog=prog, opnd=opnd, dstregs=dstregs, st_ndst=st_ndst, st_dst=st_dst,
                   st_nsrc=st_nsrc, st_src=st_src, st_mem_width=st_w, st_imm=st_imm)


#: op -> (operand slots read, operand slots written by result rows 0, 1, 2); see gpusim.core.walk
_IO = {
    W.OP_MOV: ((1,), (0,)), W.OP_S2R: ((1,), (0,)), W.OP_CS2R: ((1,), (0,)), W.OP_R2UR: ((1,), (0,)),
    W.OP_IMAD: ((1, 2, 3, 4), (0,)), W.OP_IMAD_HI: ((1, 2, 3, 4), (0,)), W.OP_IMAD_WIDE: ((1, 2, 3), (0,)),
    W.OP_IADD3: ((3, 4, 5, 6, 7), (0, 1, 2)), W.OP_VIADD: ((1, 2), (0,)),
    W.OP_LEA: ((3, 4, 5, 6), (0, 1)), W.OP_LEA_HI: ((3, 4, 5, 6, 7), (0, 1)),
    W.OP_SHF: ((1, 2, 3), (0,)), W.OP_SHL: ((1, 2), (0,)), W.OP_SHR: ((1, 2), (0,)),
    W.OP_LOP3: ((2, 3, 4), (0, 1)), W.OP_PLOP3: ((2, 3, 4), (0, 1)), W.OP_ISETP: ((2, 3, 4, 5), (0, 1)),
    W.OP_SEL: ((1, 2, 3), (0,)), W.OP_PRMT: ((1, 2, 3), (0,)), W.OP_MNMX: ((1, 2, 3), (0,)),
    W.OP_VIADDMNMX: ((1, 2, 3, 4), (0,)), W.OP_IABS: ((1,), (0,)), W.OP_POPC: ((1,), (0,)),
    W.OP_FLO: ((1,), (0,)), W.OP_BREV: ((1,), (0,)), W.OP_LDC: ((), (0,)), W.OP_P2R: ((1, 2), (0,)),
    W.OP_R2P: ((1, 2), ()), W.OP_SHFL: ((2, 3, 4), (1, 0)), W.OP_VOTE: ((2,), (0, 1)), W.OP_ELECT: ((), (0, 1)),
    W.OP_BRA: ((0,), ()), W.OP_BRA_DIV: ((0,), ()), W.OP_WARPSYNC: ((0,), ()), W.OP_RET: ((0,), ()),
    W.OP_BAR: ((0, 1), ()),
}


class _Unsupported(Exception):
    pass


def _decode(root: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...], opcode: str):
    """(op, operand slots, modifiers) of one instruction; raises _Unsupported."""
    E = _enc
    u = root.startswith("U") and root not in ("UTMALDG",)
    base = root[1:] if u and root not in ("UMOV",) else root
    if root == "UMOV":
        base = "MOV"

    if root == "BAR" and ("SYNC" in mset or "ARV" in mset) and any(o.kind in ("reg", "ureg") for o in ops[:2]):
        # a named barrier whose id or thread count is a register: the walker records the values
        return W.OP_BAR, [E(ops[0]), E(ops[1]) if len(ops) > 1 else E(None)], [1 if len(ops) > 1 else 0]
    if root in _NOP:
        return W.OP_NOP, [], []
    if root == "BMOV" and "CLEAR" in mset and ops and ops[-1].kind == "other" and ops[-1].name == "B":
        # sm_70 (CUDA 12 ptxas): BMOV.32.CLEAR RZ, Bn resets convergence barrier n before its BSSY; the
        # walker's BSSY sets the barrier's whole state (the arriving mask), so the clear has no effect here
        return W.OP_NOP, [], []
    if base == "MOV":
        return W.OP_MOV, [E(ops[0]), E(ops[1])], []
    if base == "IMAD":
        if "WIDE" in mset:
            return W.OP_IMAD_WIDE, [E(ops[0]), E(ops[1]), E(ops[2]), E(ops[3], wide=True)], [0 if "U32" in mset else 1]
        cin = E(ops[4]) if "X" in mset and len(ops) > 4 else E(None)
        if "HI" in mset:
            return W.OP_IMAD_HI, [E(ops[0]), E(ops[1]), E(ops[2]), E(ops[3]), cin], [0 if "U32" in mset else 1]
        return W.OP_IMAD, [E(ops[0]), E(ops[1]), E(ops[2]), E(ops[3]), cin], []
    if base == "IADD3":
        k = 1
        outs = []
        while k < len(ops) and ops[k].kind in ("pred", "upred") and len(outs) < 2:
            outs.append(ops[k])
            k += 1
        srcs = list(ops[k:k + 3])
        cins = list(ops[k + 3:k + 5]) if "X" in mset else []
        if len(srcs) != 3:
            raise _Unsupported
        outs += [None] * (2 - len(outs))
        cins += [None] * (2 - len(cins))
        return W.OP_IADD3, [E(ops[0]), E(outs[0]), E(outs[1]), *[E(x) for x in srcs], E(cins[0]), E(cins[1])], []
    if base == "VIADD":
        if len(ops) != 3:
            raise _Unsupported
        return W.OP_VIADD, [E(ops[0]), E(ops[1]), E(ops[2])], []
    if base == "LEA":
        k = 1
        pout = None
        if ops[1].kind in ("pred", "upred"):
            pout = ops[1]
            k = 2
        rest = list(ops[k:])
        if "HI" in mset:
            sx = "SX32" in mset
            a, b = rest[0], rest[1]
            if sx:
                c, sh = None, rest[2]
                cin = rest[3] if "X" in mset and len(rest) > 3 else None
            else:
                c, sh = rest[2], rest[3]
                cin = rest[4] if "X" in mset and len(rest) > 4 else None
            return W.OP_LEA_HI, [E(ops[0]), E(pout), E(None), E(a), E(b), E(c), E(sh), E(cin)], [1 if sx else 0]
        a, b, sh = rest[0], rest[1], rest[2]
        cin = rest[3] if "X" in mset and len(rest) > 3 else None
        return W.OP_LEA, [E(ops[0]), E(pout), E(None), E(a), E(b), E(sh), E(cin)], []
    if base == "SHF":
        left = "L" in mset
        signed = "S32" in mset or "S64" in mset
        is64 = "U64" in mset or "S64" in mset
        return W.OP_SHF, [E(ops[0]), E(ops[1]), E(ops[2]), E(ops[3])], [1 if left else 0, 1 if signed else 0,
                                                                      1 if is64 else 0, 1 if "HI" in mset else 0]
    if base in ("SHL", "SHR"):
        return (W.OP_SHL if base == "SHL" else W.OP_SHR), [E(ops[0]), E(ops[1]), E(ops[2])], [1 if "S32" in mset else 0]
    if base == "LOP3":
        if ops[0].kind in ("pred", "upred"):
            pd, d, rest = ops[0], ops[1], ops[2:]
        else:
            pd, d, rest = None, ops[0], ops[1:]
        if len(rest) < 4 or rest[3].kind != "imm":
            raise _Unsupported
        if len(rest) > 4 and not (rest[4].kind in ("pred", "upred") and rest[4].reg == 7 and rest[4].negated):
            raise _Unsupported  # only the '!PT' trailing predicate input is understood
        return W.OP_LOP3, [E(d), E(pd), E(rest[0]), E(rest[1]), E(rest[2])], [int(rest[3].value) & 0xFF]
    if base == "PLOP3":
        if len(ops) < 7:
            raise _Unsupported
        return W.OP_PLOP3, [E(ops[j]) for j in range(5)], [int(ops[5].value) & 0xFF, int(ops[6].value) & 0xFF]
    if base == "ISETP":
        cmp_ = next((m for m in mods if m in _CMP), None)
        bop = next((m for m in mods if m in _BOP), None)
        if cmp_ is None or bop is None:
            raise _Unsupported
        ex = "EX" in mset
        sl = [E(ops[0]), E(ops[1]), E(ops[2]), E(ops[3]), E(ops[4]), E(ops[5]) if ex and len(ops) > 5 else E(None)]
        return W.OP_ISETP, sl, [_CMP[cmp_], 1 if "U32" in mset else 0, _BOP[bop], 1 if ex else 0]
    if base in ("SEL", "FSEL"):
        if mods:
            raise _Unsupported
        return W.OP_SEL, [E(ops[0]), E(ops[1]), E(ops[2]), E(ops[3])], []
    if base == "PRMT":
        if mods:
            raise _Unsupported
        return W.OP_PRMT, [E(ops[0]), E(ops[1]), E(ops[2]), E(ops[3])], []
    if base in ("IMNMX", "VIMNMX"):
        if "RELU" in mset or len(ops) != 4:
            raise _Unsupported
        return W.OP_MNMX, [E(ops[0]), E(ops[1]), E(ops[2]), E(ops[3])], [1 if "U32" in mset else 0]
    if base == "VIADDMNMX":
        if len(ops) != 5 or "RELU" in mset:
            raise _Unsupported
        return W.OP_VIADDMNMX, [E(o) for o in ops], [1 if "U32" in mset else 0]
    if base == "IABS":
        return W.OP_IABS, [E(ops[0]), E(ops[1])], []
    if base == "POPC":
        return W.OP_POPC, [E(ops[0]), E(ops[1])], []
    if base == "FLO":
        return W.OP_FLO, [E(ops[0]), E(ops[1])], [1 if "S32" in mset else 0, 1 if "SH" in mset else 0]
    if base == "BREV":
        return W.OP_BREV, [E(ops[0]), E(ops[1])], []
    if root in ("S2R", "S2UR"):
        return W.OP_S2R, [E(ops[0]), E(ops[1])], []
    if root == "CS2R":
        return W.OP_CS2R, [E(ops[0]), E(ops[1])], [1 if "32" in mset else 2]
    if root in ("LDC", "ULDC"):
        if ops[1].kind != "const" or ops[1].bank not in (0, 2) or (ops[1].bank == 2 and (ops[1].reg >= 0 or ops[1].ureg >= 0)):
            return W.OP_FPU, [], []
        nb = 8 if "64" in mset else 1 if ("U8" in mset or "S8" in mset) else 2 if ("U16" in mset or "S16" in mset) else 4
        return W.OP_LDC, [E(ops[0]), E(ops[1])], [nb, 1 if ("S8" in mset or "S16" in mset) else 0]
    if root == "R2UR":
        if mods:
            raise _Unsupported
        return W.OP_R2UR, [E(ops[0]), E(ops[1])], []
    if root == "P2R":
        return W.OP_P2R, [E(ops[0]), E(ops[2]), E(ops[3])], []
    if root == "R2P":
        return W.OP_R2P, [E(None), E(ops[1]), E(ops[2])], []
    if root == "SHFL":
        mode = next((m for m in mods if m in _SHFL), None)
        if mode is None or len(ops) != 5:
            raise _Unsupported
        return W.OP_SHFL, [E(o) for o in ops], [_SHFL[mode]]
    if root in ("VOTE", "VOTEU"):
        mode = {"ANY": 0, "ALL": 1, "EQ": 2}.get(mods[0] if mods else "", None)
        if mode is None:
            raise _Unsupported
        if ops[0].kind in ("reg", "ureg"):
            return W.OP_VOTE, [E(ops[0]), E(ops[1]), E(ops[2])], [mode]
        return W.OP_VOTE, [E(None), E(ops[0]), E(ops[1])], [mode]
    if root == "ELECT":
        return W.OP_ELECT, [E(ops[0]), E(ops[1])], []
    if root == "USETMAXREG":
        # setmaxnreg (PTX ISA 8.0): .DEALLOC releases registers (no result); .TRY_ALLOC UPd, n
        # succeeds when the CTA's register pool has n per thread free, and real code retries it in a
        # loop.  Functionally it succeeds at the first try (UPd = 1; the kernels that use it run one
        # CTA per SM and deallocate first), so the trace holds one TRY_ALLOC, as for mbarrier waits.
        if "TRY_ALLOC" in mset and ops and ops[0].kind in ("pred", "upred"):
            one = (W.K_IMM, 1, -1, -1, 0)
            return W.OP_PLOP3, [E(ops[0]), E(None), one, one, one], [0xFF, 0xFF]
        if "DEALLOC" in mset:
            return W.OP_NOP, [], []
        raise _Unsupported
    if root == "HFMA2" and len(ops) >= 4:
        a, b = ops[1], ops[2]
        if a.kind == "reg" and a.reg == RZ and b.kind == "reg" and b.reg == RZ and not mods[1:] and (
                not mods or mods == ["MMA"]):
            c = ops[3:]
            if len(c) == 2 and all(x.kind == "imm" for x in c):
                bits = (_half_bits(float(c[0].value)) << 16) | _half_bits(float(c[1].value))
                return W.OP_MOV, [E(ops[0]), (W.K_IMM, bits, -1, -1, 0)], []
            if len(c) == 1 and c[0].kind == "reg" and not c[0].suffix and not c[0].negated:
                return W.OP_MOV, [E(ops[0]), E(c[0])], []
        return W.OP_FPU, [], []
    if root in _FPU:
        return W.OP_FPU, [], []
    # ---- control flow
    if root == "BRA":
        if "DIV" in mset:
            return W.OP_BRA_DIV, [E(ops[0])], []
        if ops and ops[-1].kind not in ("label", "imm"):
            raise _Unsupported  # indirect
        p2 = ops[0] if len(ops) == 2 and ops[0].kind in ("pred", "upred") else None
        return W.OP_BRA, [E(p2)], [1 if "ANY" in mset else 0]
    if root == "EXIT":
        return W.OP_EXIT, [], []
    if root == "BSSY":
        return W.OP_BSSY, [E(ops[0])], []
    if root == "BSYNC":
        return W.OP_BSYNC, [E(ops[0])], []
    if root == "WARPSYNC":
        if "COLLECTIVE" in mset:
            raise _Unsupported
        if "ALL" in mset:
            return W.OP_WARPSYNC, [E(None)], [1]
        return W.OP_WARPSYNC, [E(ops[0])], [0]
    if root == "CALL":
        if "REL" not in mset or not ops or ops[-1].kind != "label" or ops[-1].value is None:
            raise _Unsupported
        return W.OP_CALL, [], []
    if root == "RET":
        if "REL" not in mset or not ops or ops[0].kind != "reg":
            raise _Unsupported
        return W.OP_RET, [E(ops[0])], []
    # ---- memory
    if root == "SYNCS":
        if "PHASECHK" in mset:
            return W.OP_SYNCS, [], [0 if ops and ops[0].kind == "pred" else -1]
        return W.OP_LOAD, [], []
    if root == "UTMALDG":
        if "2D" not in mset or len(ops) != 2:
            raise _Unsupported
        return W.OP_UTMALDG, [E(ops[0]), E(ops[1])], []
    if root in _LOADS:
        return W.OP_LOAD, [], []
    if root in _STORES or root == "LDGSTS":
        return W.OP_STORE, [], []
    raise _Unsupported


@functools.lru_cache(maxsize=64)
def _compiled(fn_id: int, fn: SassFunction) -> Program:
    return compile_program(fn)


def program_for(fn: SassFunction) -> Program:
    """Compiled program of ``fn``, cached per function object."""
    return _compiled(id(fn), fn)


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
    while True:
        st = W.walk_ctas(program.prog, program.opnd, program.dstregs, cb, cbk, lv, start, hi, img_tab, img_data,
                         tma, *bufs, counts, err)
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
        inst_mem=out_mem[:ni].copy(),
        mem_mode=mem_mode[:nm].copy(), mem_base=mem_base[:nm].astype(np.uint64), mem_stride=mem_stride[:nm].copy(),
        mem_ptr=mem_ptr[: nm + 1].copy(), lane_off=lane_off[:nl].copy(),
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


def concat_traces(parts: list[KernelTrace]) -> KernelTrace:
    """Join the traces of consecutive CTA ranges of one launch (as :func:`walk` yields them) into one
    ``KernelTrace``, identical to walking the whole range at once.  Each part's dynamic arrays are
    released as soon as they are copied, so the peak is about the size of the result."""
    if not parts:
        raise WalkError("concat_traces: no parts")
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    n_cta = sum(p.num_ctas for p in parts)
    n_warp = sum(p.num_warps for p in parts)
    n_inst = sum(p.inst_static.size for p in parts)
    n_mem = sum(p.mem_mode.size for p in parts)
    n_lane = sum(p.lane_off.size for p in parts)

    def join(field: str, total: int, dtype, ptr: bool = False):
        """Copy ``field`` of every part into one array, releasing each part's array right away.  A
        pointer array (``ptr``; starts at 0, ends at the part's count) drops each part's end entry,
        is shifted by the counts of the earlier parts and gets the overall end appended."""
        a0 = getattr(first, field)
        out = np.empty((total + 1,) if ptr else (total,) + a0.shape[1:], dtype)
        pos = off = 0
        for p in parts:
            a = getattr(p, field)
            if ptr:
                k = a.size - 1
                out[pos: pos + k] = a[:-1] + off
                off += int(a[-1])
            else:
                k = a.shape[0]
                out[pos: pos + k] = a
            pos += k
            setattr(p, field, None)
        if ptr:
            out[pos] = off
        return out

    # inst_mem rows index the part's memory rows: shift by the memory rows of earlier parts
    inst_mem = np.empty(n_inst, first.inst_mem.dtype)
    pos = row = 0
    for p in parts:
        a = p.inst_mem
        k = a.size
        inst_mem[pos: pos + k] = np.where(a >= 0, a + row, a)
        pos += k
        row += p.mem_mode.size
        p.inst_mem = None
    cta_warp_ptr = join("cta_warp_ptr", n_cta, first.cta_warp_ptr.dtype, ptr=True)
    warp_inst_ptr = join("warp_inst_ptr", n_warp, first.warp_inst_ptr.dtype, ptr=True)
    mem_ptr = join("mem_ptr", n_mem, first.mem_ptr.dtype, ptr=True)
    kt = KernelTrace(
        path=first.path, header=first.header, raw=first.raw,
        st_pc=first.st_pc, st_opcode=first.st_opcode, st_ndst=first.st_ndst, st_dst=first.st_dst,
        st_nsrc=first.st_nsrc, st_src=first.st_src, st_mem_width=first.st_mem_width, st_imm=first.st_imm,
        st_line=first.st_line,
        cta_xyz=join("cta_xyz", n_cta, first.cta_xyz.dtype), cta_warp_ptr=cta_warp_ptr,
        warp_slot=join("warp_slot", n_warp, first.warp_slot.dtype), warp_inst_ptr=warp_inst_ptr,
        inst_static=join("inst_static", n_inst, first.inst_static.dtype),
        inst_mask=join("inst_mask", n_inst, first.inst_mask.dtype), inst_mem=inst_mem,
        mem_mode=join("mem_mode", n_mem, first.mem_mode.dtype), mem_base=join("mem_base", n_mem, first.mem_base.dtype),
        mem_stride=join("mem_stride", n_mem, first.mem_stride.dtype), mem_ptr=mem_ptr,
        lane_off=join("lane_off", n_lane, first.lane_off.dtype),
    )
    return kt


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

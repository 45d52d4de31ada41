"""The decoder of the functional walker: a SASS listing function -> the integer program table the Numba
handlers of ``gpusim.emu`` execute (``compile_program``), plus the trace's static table.

What it models: which SASS instructions (Volta .. Hopper, as ``gpusim.frontend.sass`` parses
nvdisasm/cuobjdump output) the walker executes and how their operands map to handler slots and
modifiers -- one decoder per family (special/no-effect, integer, logic and compare, special registers
and warp exchange, floating point and tensor (results unknown), control flow, memory), tried in order.
Encodings and modifiers after the "CUDA Binary Utilities" Instruction Set Reference and
research/sass-control-bits.md; the trace's static table (destination/source registers, access width,
immediate) follows the Accel-Sim tracer (research/accel-sim-trace-format.md section 3.4).  An
instruction no decoder knows becomes ``OP_UNSUPPORTED``: an error only if it is executed.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import numpy as np

from gpusim.emu import isa as W
from gpusim.errors import GpusimError
from gpusim.frontend.opcodes import access_width_bytes, family_for_binary_version, load_opcode_table
from gpusim.frontend.sass import RZ, Operand, SassFunction


class WalkError(GpusimError):
    """A listing or launch the walker cannot turn into an exact trace (names listing:line and PC)."""


#: Where the walker's constant array holds constant bank 2 (``c[0x2][off]`` -> byte CONST2_BASE + off): above
#: every bank-0 offset our kernels use (parameters end below 0x1000).
CONST2_BASE = 0x8000

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
    """Operand -> (kind, v, x, y, flags) as gpusim.emu.operands reads it."""
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
    """A listing function compiled for :func:`gpusim.emu.walk.walk_ctas`, plus its trace static table."""

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
                    elif root == "STL":  # register spill: the walker keeps the stored values (gpusim.emu.memory)
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


#: op -> (operand slots read, operand slots written by result rows 0, 1, 2); see gpusim.emu
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


def _decode_special(root: str, base: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...]):
    """Named barriers with register operands, instructions with no functional effect."""
    E = _enc
    if root == "BAR" and ("SYNC" in mset or "ARV" in mset) and any(o.kind in ("reg", "ureg") for o in ops[:2]):
        # a named barrier whose id or thread count is a register: the walker records the values
        return W.OP_BAR, [E(ops[0]), E(ops[1]) if len(ops) > 1 else E(None)], [1 if len(ops) > 1 else 0]
    if root in _NOP:
        return W.OP_NOP, [], []
    if root == "BMOV" and "CLEAR" in mset and ops and ops[-1].kind == "other" and ops[-1].name == "B":
        # sm_70 (CUDA 12 ptxas): BMOV.32.CLEAR RZ, Bn resets convergence barrier n before its BSSY; the
        # walker's BSSY sets the barrier's whole state (the arriving mask), so the clear has no effect here
        return W.OP_NOP, [], []
    return None


def _decode_integer(root: str, base: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...]):
    """Moves, multiply-add, adds, LEA, shifts (integer datapath, uniform forms included)."""
    E = _enc
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
    return None


def _decode_logic(root: str, base: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...]):
    """Logic, predicate combine, compares, select, permute, min/max, bit counts."""
    E = _enc
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
    return None


def _decode_misc(root: str, base: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...]):
    """Special registers, constant loads, register/predicate moves, warp exchange, ELECT."""
    E = _enc
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
    return None


def _decode_float(root: str, base: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...]):
    """USETMAXREG, HFMA2.MMA constant moves, and the floating-point / tensor opcodes (results unknown)."""
    E = _enc
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
    return None


def _decode_control(root: str, base: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...]):
    """Branches, calls, exits, convergence barriers."""
    E = _enc
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
    return None


def _decode_memory(root: str, base: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...]):
    """mbarrier waits, TMA loads, loads and stores."""
    E = _enc
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
    return None


#: the family decoders in the order they are tried (the first that knows the instruction wins)
_FAMILIES = (_decode_special, _decode_integer, _decode_logic, _decode_misc, _decode_float, _decode_control,
             _decode_memory)


def _decode(root: str, mods: list[str], mset: set[str], ops: tuple[Operand, ...], opcode: str):
    """(op, operand slots, modifiers) of one instruction; raises _Unsupported."""
    u = root.startswith("U") and root not in ("UTMALDG",)
    base = root[1:] if u and root not in ("UMOV",) else root
    if root == "UMOV":
        base = "MOV"
    for family in _FAMILIES:
        got = family(root, base, mods, mset, ops)
        if got is not None:
            return got
    raise _Unsupported


@functools.lru_cache(maxsize=64)
def _compiled(fn_id: int, fn: SassFunction) -> Program:
    return compile_program(fn)


def program_for(fn: SassFunction) -> Program:
    """Compiled program of ``fn``, cached per function object."""
    return _compiled(id(fn), fn)

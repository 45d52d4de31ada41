"""Reads SASS listings (``cuobjdump -sass`` or ``nvdisasm -c -hex`` text) into per-function arrays.

Single responsibility: listing text → validated :class:`SassListing`.  For every instruction it
keeps the byte offset, both 64-bit encoding words, the control bits decoded from the high word,
the mnemonic, the guard predicate, the parsed operands and the general registers written and read.
Nothing here simulates or knows latencies.

Control bits (research/sass-control-bits.md §3): ``ctrl = (hi >> 41) & 0x1fffff``;
stall ``[3:0]``, yield ``[4]`` (**inverted**: raw 0 means "yield", pitfall 1 of §7), write
scoreboard ``[7:5]`` and read scoreboard ``[10:8]`` (7 = none), wait mask ``[16:11]``
(bit *i* = wait for SB *i*), reuse ``[20:17]`` (bit 0/1/2 = encoding slot A/B/C, §7 pitfall 7:
slots, not text positions).  The first hex word printed on an instruction line is the low
64 bits, the word on the following ``/* 0x… */`` line the high 64 bits (§2).

Accepted layouts
----------------
* ``cuobjdump -sass``: ``code for sm_XX`` sets the architecture, ``Function : NAME`` starts a
  function, each instruction is ``/*0040*/  TEXT ;  /* 0xLO */`` followed by a line ``/* 0xHI */``.
* ``nvdisasm -c -hex`` (also with ``-plr``/``-g`` trailing ``//`` comments): ``.target sm_XX``,
  ``.section .text.NAME,…`` (or, failing that, a ``.text.NAME:`` label) starts function NAME;
  ``.L_x_N:`` labels are recorded and resolve `` `(.L_x_N) `` branch operands.  Sections that are
  not ``.text.*`` and data lines (``/*0000*/ .byte …``) are skipped.  Raw-binary output
  (``nvdisasm -b SM86``) has no function header: its instructions form one function named ``""``.
* Both words may also sit on the instruction line (``/* 0xLO */ /* 0xHI */`` or ``/* 0xLO; 0xHI */``).

A listing that holds the same function for several architectures (a multi-arch fatbin) must be
narrowed with ``arch=`` (or ``cuobjdump -sass -arch sm_XX``); otherwise :class:`SassError`.

Register-usage rule (``SassFunction.dst_regs`` / ``src_regs``), general registers ``R0..R254`` only
(RZ, uniform registers, predicates and barriers are left out; guards are not sources):

* Destinations: the first operand when it is a register or predicate, except for stores,
  reductions to memory, branches, barriers and other no-result ops (``_NO_DST``).  When the
  first operand is a predicate, ``LOP3``/``SHFL``/``MATCH``/``ATOM*`` also write the first
  register after the leading predicates (``LOP3.LUT P0, R5, …``, ``SHFL.BFLY PT, R3, …``).
  Carry/predicate outputs are predicates, so they never appear in the lists.
* Sources: every other register operand, the base register of ``[…]``/``desc[…][…]`` memory
  operands and the index register of ``c[…][R…]``; in operand order, duplicates kept.
* Widths (consecutive registers): ``.64``/``.128`` on loads widen the destination to 2/4, on
  stores the data source; ``.64`` on an ALU op (``IADD.64``) widens destination and sources;
  ``IMAD.WIDE`` writes a pair and reads its C operand as a pair; ``CS2R`` (without ``.32``)
  writes a pair; FP64 ops (``DADD``/``DMUL``/``DFMA``/``DSETP``/``DMNMX``/``DSET``) use pairs;
  conversions (``F2F``/``F2I``/``I2F``/``I2FP``) use a pair on the side whose type is 64-bit;
  ``LDSM.16.M88.2``/``.4`` write 2/4; ``HMMA.16816``/``.1688`` use the m16n8 fragment sizes (D/C: 4
  registers for F32 accumulators, 2 for F16; A: 4/2; B: 2/1); each Volta ``HMMA.884…STEPn`` writes one
  D pair and reads one C pair, an A pair and a B pair; ``HGMMA.64xNxK`` writes N/2 (F32)
  or N/4 (F16) registers.  A memory base written ``R4.64`` is a pair; on sm_7x a global access
  with ``.E`` uses a pair even when printed ``[R4]`` (§7 pitfall 9; ``Operand.wide`` is set).
  Other tensor ops (IMMA, DMMA, …) list their first register of each operand only.
* Not listed: uniform-register and predicate destinations (``S2UR``, ``LDCU``, ``REDUX``,
  ``DSETP`` set a write scoreboard without any R destination), ``BAR.RED`` results.

``SassFunction.branch_target`` is the byte offset named by the last operand of
``BRA``/``JMP``/``CALL``/``BSSY``/``SSY``/``PBK``/``PCNT`` (cuobjdump prints it as a number,
nvdisasm as a label); -1 for indirect branches (``BRX``/``JMX``/``RET``) and for calls to another
function's label.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

import numpy as np

from gpusim.errors import SassError

__all__ = [
    "Operand",
    "SassFunction",
    "SassListing",
    "decode_control",
    "parse_sass_listing",
    "parse_sass_text",
    "RZ",
    "URZ",
    "PT",
]

RZ = 255  #: register number of RZ
URZ = 63  #: uniform register number of URZ
PT = 7  #: predicate number of PT / UPT


# --------------------------------------------------------------------------- control bits


def decode_control(hi) -> dict[str, np.ndarray]:
    """Decode the control fields of the high instruction words ``hi`` (array-like of uint64).

    Returns uint8 arrays ``stall``, ``yield_flag`` (1 when the *logical* yield is set, i.e. raw
    bit 4 is 0), ``wsb``, ``rsb`` (7 = none), ``wait_mask`` (6 bits) and ``reuse`` (4 bits).
    """
    h = np.asarray(hi, dtype=np.uint64)
    ctrl = (h >> np.uint64(41)) & np.uint64(0x1FFFFF)
    u8 = np.uint8
    return {
        "stall": (ctrl & np.uint64(0xF)).astype(u8),
        "yield_flag": (((ctrl >> np.uint64(4)) & np.uint64(1)) ^ np.uint64(1)).astype(u8),
        "wsb": ((ctrl >> np.uint64(5)) & np.uint64(7)).astype(u8),
        "rsb": ((ctrl >> np.uint64(8)) & np.uint64(7)).astype(u8),
        "wait_mask": ((ctrl >> np.uint64(11)) & np.uint64(0x3F)).astype(u8),
        "reuse": ((ctrl >> np.uint64(17)) & np.uint64(0xF)).astype(u8),
    }


# --------------------------------------------------------------------------- operands


@dataclass(frozen=True)
class Operand:
    """One parsed operand.  Fields that do not apply to a kind keep their defaults.

    ``kind`` is one of ``reg`` (R), ``ureg`` (UR), ``pred`` (P), ``upred`` (UP), ``const``
    (``c[bank][off]``), ``imm`` (integer or float literal), ``mem`` (``[…]``), ``desc``
    (``desc[URd][…]`` / ``gdesc[URd]``), ``special`` (``SR_*``, ``SRZ``), ``label``
    (`` `(name) ``) or ``other`` (``B0``, ``SB0``, ``PR``, ``gsb0`` …; ``reg`` holds the number
    of ``B``/``SB`` barriers).
    """

    kind: str
    text: str
    #: R/UR/P/UP number (RZ=255, URZ=63, PT=UPT=7); base register of mem/desc; index register
    #: of an indexed const; barrier number of B/SB
    reg: int = -1
    negated: bool = False  #: ``-`` (numeric negate) or ``!`` (predicate not)
    reuse: bool = False  #: ``.reuse`` suffix present
    absolute: bool = False  #: ``|x|``
    inverted: bool = False  #: ``~x`` (bitwise not)
    suffix: str = ""  #: register suffixes other than .reuse, e.g. ".H1", ".64", ".X4" (mem base)
    ureg: int = -1  #: uniform register inside ``[…]`` (``[R3+UR4]``), or the bank of ``cx[URb]``
    desc: int = -1  #: descriptor uniform register of ``desc[URd]`` / ``gdesc[URd]``
    bank: int = -1  #: constant bank of ``c[bank][…]``
    offset: int = 0  #: immediate offset of mem/desc/const
    wide: bool = False  #: 64-bit address (base register pair) of mem/desc
    value: int | float | None = None  #: imm value; for labels and branch targets the byte offset
    name: str = ""  #: special-register name, label name, or the mnemonic of ``other`` operands


_NUM_INT = re.compile(r"[+-]?(?:0x[0-9a-fA-F]+|\d+)")
_NUM_FLOAT = re.compile(
    r"[+-]?(?:\d+\.\d*(?:e[+-]?\d+)?|\d+e[+-]?\d+|\.\d+(?:e[+-]?\d+)?|INF|QNAN|SNAN|NAN)",
    re.IGNORECASE,
)
_REG = re.compile(r"(UR|R)(\d+|Z)((?:\.[A-Za-z0-9_]+)*)")
_PRED = re.compile(r"(UP|P)(\d+|T)")
_SPECIAL = re.compile(r"SR_[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*|SRZ")
_CONST = re.compile(r"c\[([^\]]+)\]\[([^\]]*)\]")
_CONSTX = re.compile(r"cx\[(UR\d+|URZ)\]\[([^\]]*)\]")
_DESC = re.compile(r"(g?desc)\[(UR\d+|URZ)\](?:\[([^\]]*)\])?")
_MEM = re.compile(r"\[([^\]]*)\]")
_LABEL = re.compile(r"`\((.*)\)")
_BARRIER = re.compile(r"(SB|B)(\d+)")


def _regnum(prefix: str, num: str) -> int:
    if num in ("Z", "T"):
        return {"R": RZ, "UR": URZ, "P": PT, "UP": PT}[prefix]
    return int(num)


def _parse_addr(inner: str) -> dict:
    """Terms of ``R4.64+UR6+0x10`` → reg/suffix/ureg/offset/wide (unknown terms are ignored)."""
    out: dict = {}
    offset = 0
    for term in inner.split("+"):
        term = term.strip()
        if not term:
            continue
        m = _REG.fullmatch(term)
        if m:
            num = _regnum(m.group(1), m.group(2))
            if m.group(1) == "R" and "reg" not in out:
                out["reg"] = num
                out["suffix"] = m.group(3)
                out["wide"] = ".64" in m.group(3)
            elif m.group(1) == "UR" and "ureg" not in out:
                out["ureg"] = num
            continue
        if _NUM_INT.fullmatch(term):
            offset += _parse_int(term)
    out["offset"] = offset
    return out


def _parse_int(t: str) -> int:
    body = t.lstrip("+-")
    v = int(body, 16) if body[:2].lower() == "0x" else int(body, 10)
    return -v if t.startswith("-") else v


def _parse_float(t: str) -> float:
    s = t.upper()
    sign = -1.0 if s.startswith("-") else 1.0
    body = s.lstrip("+-")
    if body == "INF":
        return sign * float("inf")
    if body in ("NAN", "QNAN", "SNAN"):
        return float("nan")
    return float(t)


def _parse_operand(tok: str) -> Operand:
    text = tok
    t = tok
    if _NUM_INT.fullmatch(t):
        return Operand("imm", text, value=_parse_int(t), negated=t.startswith("-"))
    if _NUM_FLOAT.fullmatch(t):
        return Operand("imm", text, value=_parse_float(t), negated=t.startswith("-"))
    reuse = ".reuse" in t
    if reuse:
        t = t.replace(".reuse", "")
    negated = inverted = absolute = False
    if t.startswith("!"):
        negated, t = True, t[1:]
    elif t.startswith("-"):
        negated, t = True, t[1:]
    elif t.startswith("~"):
        inverted, t = True, t[1:]
    elif t.startswith("+"):
        t = t[1:]
    if len(t) >= 2 and t.startswith("|") and "|" in t[1:]:
        end = t.index("|", 1)
        absolute, t = True, t[1:end] + t[end + 1 :]
    mods = dict(negated=negated, inverted=inverted, absolute=absolute, reuse=reuse)

    m = _REG.fullmatch(t)
    if m:
        kind = "ureg" if m.group(1) == "UR" else "reg"
        return Operand(kind, text, reg=_regnum(m.group(1), m.group(2)), suffix=m.group(3), **mods)
    m = _PRED.fullmatch(t)
    if m:
        kind = "upred" if m.group(1) == "UP" else "pred"
        return Operand(kind, text, reg=_regnum(m.group(1), m.group(2)), **mods)
    if _SPECIAL.fullmatch(t):
        return Operand("special", text, name=t, **mods)
    m = _CONST.fullmatch(t)
    if m:
        bank_s = m.group(1).strip()
        bank = _parse_int(bank_s) if _NUM_INT.fullmatch(bank_s) else -1
        a = _parse_addr(m.group(2))
        return Operand("const", text, bank=bank, reg=a.get("reg", -1), ureg=a.get("ureg", -1),
                       offset=a["offset"], **mods)
    m = _CONSTX.fullmatch(t)
    if m:
        a = _parse_addr(m.group(2))
        ub = _REG.fullmatch(m.group(1))
        return Operand("const", text, ureg=_regnum("UR", ub.group(2)), reg=a.get("reg", -1),
                       offset=a["offset"], **mods)
    m = _DESC.fullmatch(t)
    if m:
        d = _REG.fullmatch(m.group(2))
        a = _parse_addr(m.group(3) or "")
        return Operand("desc", text, desc=_regnum("UR", d.group(2)), reg=a.get("reg", -1),
                       suffix=a.get("suffix", ""), ureg=a.get("ureg", -1), offset=a["offset"],
                       wide=a.get("wide", False), name=m.group(1), **mods)
    m = _MEM.fullmatch(t)
    if m:
        a = _parse_addr(m.group(1))
        return Operand("mem", text, reg=a.get("reg", -1), suffix=a.get("suffix", ""),
                       ureg=a.get("ureg", -1), offset=a["offset"], wide=a.get("wide", False),
                       **mods)
    m = _LABEL.fullmatch(t)
    if m:
        return Operand("label", text, name=m.group(1).strip())
    m = _BARRIER.fullmatch(t)
    if m:
        return Operand("other", text, reg=int(m.group(2)), name=m.group(1), **mods)
    return Operand("other", text, name=t, **mods)


def _split_operands(s: str) -> list[str]:
    """Top-level comma split (commas inside brackets kept); space-separated parts split too."""
    parts: list[str] = []
    depth = 0
    cur = []
    for ch in s:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth <= 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    out: list[str] = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        # "RET.REL.NODEC R2 0x0": two operands without a comma; keep "[R1 + 0x4]"-like intact
        if " " in p and "[" not in p and "`" not in p:
            out.extend(x for x in p.split() if x)
        else:
            out.append(p)
    return out


# --------------------------------------------------------------------------- register usage

_NO_DST = frozenset(
    "ST STG STS STL STSM RED REDG SUST SURED BRA BRX JMP JMX CALL RET EXIT BSSY BSYNC BREAK BPT "
    "KILL WARPSYNC BAR NOP DEPBAR MEMBAR FENCE ERRBAR CCTL CCTLL CCTLT LDGDEPBAR LDGSTS YIELD "
    "NANOSLEEP WARPGROUP UTMALDG UTMASTG UTMAPF UTMACCTL UBLKCP UBLKRED UBLKPF ARRIVES PREEXIT "
    "ACQBULK".split()
)
_STORES = frozenset("ST STG STS STL STSM RED REDG SUST SURED".split())
_LOADS = frozenset("LD LDG LDS LDL LDC LDSM ATOM ATOMG ATOMS LDCU ULDC SULD SUATOM".split())
_GLOBAL_MEM = frozenset("LD ST LDG STG ATOM ATOMG RED".split())
_PRED_THEN_REG = frozenset("LOP3 ULOP3 SHFL MATCH ATOM ATOMG ATOMS".split())
_F64 = frozenset("DADD DMUL DFMA DSETP DMNMX DSET".split())
_CVT = frozenset("F2F F2I I2F I2FP I2I".split())
_BRANCH_TARGET = frozenset("BRA JMP CALL BSSY SSY PBK PCNT".split())
_TYPE = re.compile(r"[FUSI](?:8|16|32|64)|BF16|TF32")
_REGKINDS = ("reg", "ureg", "pred", "upred")
_PREDKINDS = ("pred", "upred")


def _arch_num(arch: str) -> int:
    m = re.search(r"(\d+)", arch or "")
    return int(m.group(1)) if m else 0


def _dst_positions(root: str, ops: tuple[Operand, ...]) -> list[int]:
    if root in _NO_DST or not ops or ops[0].kind not in _REGKINDS:
        return []
    pos = [0]
    if ops[0].kind in _PREDKINDS and root in _PRED_THEN_REG:
        k = 1
        while k < len(ops) and ops[k].kind in _PREDKINDS:
            k += 1
        if k < len(ops) and ops[k].kind in ("reg", "ureg"):
            pos.append(k)
    return pos


def _reg_usage(opcode: str, ops: tuple[Operand, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(general registers written, general registers read) by one instruction; see module doc."""
    root, *mods = opcode.split(".")
    modset = set(mods)
    dpos = _dst_positions(root, ops)
    wdata = 4 if "128" in modset else 2 if "64" in modset else 1
    dst_w = 1
    src_w: dict[int, int] = {}  # operand position → width (reg operands only)
    src_default = 1

    if root in _LOADS:
        dst_w = wdata
        if root == "LDSM":
            dst_w = int(mods[-1]) if mods and mods[-1] in ("2", "4") else 1
        src_default = wdata  # atomic data operands
    elif root in _STORES:
        src_default = wdata
    elif root in _F64:
        dst_w = src_default = 2
    elif root in _CVT:
        types = [m for m in mods if _TYPE.fullmatch(m)]
        floats = [t for t in types if t.startswith(("F", "BF", "TF"))]
        ints = [t for t in types if not t.startswith(("F", "BF", "TF"))]
        if root == "F2F":
            dt, st = (types + ["F32", "F32"])[:2]
        elif root == "F2I":
            dt, st = (ints or ["S32"])[0], (floats or ["F32"])[0]
        elif root in ("I2F", "I2FP"):
            dt, st = (floats or ["F32"])[0], (ints or ["S32"])[0]
        else:
            dt, st = (types + ["S32", "S32"])[:2]
        dst_w = 2 if dt.endswith("64") else 1
        src_default = 2 if st.endswith("64") else 1
    elif root == "HMMA" and mods:
        shape = mods[0]
        f32 = len(mods) > 1 and mods[1] in ("F32", "S32")
        if shape in ("16816", "16832", "1688", "1684"):
            dst_w = 4 if f32 else 2
            a_w, b_w = (4, 2) if shape in ("16816", "16832") else (2, 1)
        elif shape == "884":
            # Volta: mma.sync.m8n8k4 is 4 (F32) or 2 (F16) instructions HMMA.884.*.STEPn, and each step
            # writes one register pair of D and reads one pair of C (our sm_70 gemm_volta.sass: the steps of
            # one mma write R64, R66, R68, R70 with C pairs of their own); A (.ROW) and B (.COL) are pairs
            dst_w = 2
            a_w, b_w = 2, 2
        else:
            a_w = b_w = 1
        src_w = {1: a_w, 2: b_w, 3: dst_w}
    elif root == "HGMMA" and mods:
        m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", mods[0])
        if m:
            n = int(m.group(2))
            f32 = len(mods) > 1 and mods[1] in ("F32", "S32")
            dst_w = max(1, n // 2 if f32 else n // 4)
            src_w = {1: 4, 2: dst_w}
    elif "WIDE" in modset:
        dst_w = 2
        src_w = {3: 2}
    elif root == "CS2R":
        dst_w = 1 if "32" in modset else 2
    elif "64" in modset:
        dst_w = src_default = 2

    dst: list[int] = []
    src: list[int] = []
    for k, op in enumerate(ops):
        if k in dpos:
            if op.kind == "reg" and op.reg != RZ:
                dst.extend(range(op.reg, min(op.reg + dst_w, RZ)))
            continue
        kind = op.kind
        if kind == "reg":
            if op.reg != RZ:
                w = src_w.get(k, src_default)
                if ".64" in op.suffix:
                    w = max(w, 2)
                src.extend(range(op.reg, min(op.reg + w, RZ)))
        elif kind in ("mem", "desc", "const"):
            if 0 <= op.reg < RZ:
                src.extend(range(op.reg, min(op.reg + (2 if op.wide else 1), RZ)))
    return tuple(dst), tuple(src)


# --------------------------------------------------------------------------- containers


@dataclass(frozen=True, eq=False)
class SassFunction:
    """The instructions of one function, one array element / tuple entry per instruction.

    ``pc`` are byte offsets within the function (strictly increasing); ``lo``/``hi`` the two
    64-bit encoding words; ``stall``…``reuse`` the decoded control bits (uint8, see
    :func:`decode_control`); ``line`` the 1-based listing line of each instruction;
    ``branch_target`` the byte offset a BRA/JMP/CALL/BSSY/… goes to (-1 when none or indirect);
    ``labels`` maps nvdisasm label names (``.L_x_3``, the function's own name) to byte offsets.
    """

    name: str
    arch: str
    pc: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    stall: np.ndarray
    yield_flag: np.ndarray
    wsb: np.ndarray
    rsb: np.ndarray
    wait_mask: np.ndarray
    reuse: np.ndarray
    opcode: tuple[str, ...]
    guard: tuple[str, ...]
    operands: tuple[tuple[Operand, ...], ...]
    line: np.ndarray
    branch_target: np.ndarray
    labels: dict[str, int] = field(default_factory=dict)
    dst_reg_lists: tuple[tuple[int, ...], ...] = ()
    src_reg_lists: tuple[tuple[int, ...], ...] = ()
    source: str = "<string>"

    def __len__(self) -> int:
        return int(self.pc.shape[0])

    @property
    def text(self) -> tuple[str, ...]:
        """Instruction text rebuilt from guard, opcode and operands (for messages)."""
        return tuple(
            " ".join(x for x in (g, o, ", ".join(a.text for a in ops)) if x)
            for g, o, ops in zip(self.guard, self.opcode, self.operands)
        )

    def index_of_pc(self, pcs) -> np.ndarray:
        """Instruction index of each byte offset in ``pcs``; -1 where no instruction starts there."""
        q = np.asarray(pcs, dtype=np.int64)
        n = self.pc.shape[0]
        idx = np.searchsorted(self.pc, q)
        safe = np.minimum(idx, max(n - 1, 0))
        hit = (idx < n) & (self.pc[safe] == q) if n else np.zeros(q.shape, dtype=bool)
        return np.where(hit, idx, -1).astype(np.int64)

    def dst_regs(self, i: int) -> tuple[int, ...]:
        """General registers (R numbers, RZ excluded) written by instruction ``i``."""
        return self.dst_reg_lists[i]

    def src_regs(self, i: int) -> tuple[int, ...]:
        """General registers (R numbers, RZ excluded) read by instruction ``i``, in operand order."""
        return self.src_reg_lists[i]

    def register_csr(self) -> dict[str, np.ndarray]:
        """Register lists as CSR arrays (for Numba): instruction ``i`` writes
        ``dst[dst_ptr[i]:dst_ptr[i+1]]`` and reads ``src[src_ptr[i]:src_ptr[i+1]]`` (int16)."""
        out = {}
        for key, lists in (("dst", self.dst_reg_lists), ("src", self.src_reg_lists)):
            lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
            ptr = np.zeros(len(lists) + 1, dtype=np.int64)
            np.cumsum(lens, out=ptr[1:])
            flat = np.fromiter((r for x in lists for r in x), dtype=np.int16, count=int(ptr[-1]))
            out[key + "_ptr"], out[key] = ptr, flat
        return out


@dataclass(frozen=True, eq=False)
class SassListing:
    """All functions of one listing, keyed by the name printed after ``Function :`` (mangled)."""

    path: str
    functions: dict[str, SassFunction]

    def find_function(self, kernel_name: str) -> SassFunction | None:
        """The function whose (mangled) name equals ``kernel_name`` exactly, else None."""
        return self.functions.get(kernel_name)

    @property
    def n_instructions(self) -> int:
        return sum(len(f) for f in self.functions.values())


# --------------------------------------------------------------------------- line parser

_STRIP_COMMENT = re.compile(r"(?:^|\s)//.*$")
#: ptxas annotations inside an instruction's text (``LDL R80, [R1] (*"SpillRefill"*)``): not operands
_ANNOTATION = re.compile(r"\s*\(\*.*?\*\)")
_INSTR = re.compile(r"\s*/\*([0-9a-fA-F]+)\*/(.*)$")
_HIWORD = re.compile(r"\s*/\*(.*?)\*/\s*$")
_HEXCOMMENT = re.compile(r"\s*/\*([^*]*)\*/")
_HEXWORD = re.compile(r"0x([0-9a-fA-F]{1,16})")
_FUNCTION = re.compile(r"\s*Function\s*:\s*(\S+)\s*$")
_CODE_FOR = re.compile(r"\s*code for\s+(sm_\w+)")
_TARGET = re.compile(r"\s*\.target\s+(sm_\w+)")
_SECTION = re.compile(r"\s*\.section\s+([^\s,]+)")
_HEADERFLAGS = re.compile(r"EF_CUDA_SM(\d+[a-z]?)")
_LABELDEF = re.compile(r"\s*([A-Za-z_.$][\w.$]*):\s*$")
_GUARD = re.compile(r"@(!?)(U?P(?:\d+|T))\s+")


class _FunctionBuilder:
    __slots__ = ("name", "arch", "line", "pc", "words", "text", "lines", "labels", "pending")

    def __init__(self, name: str, arch: str, line: int):
        self.name, self.arch, self.line = name, arch, line
        self.pc: list[int] = []
        self.words: list[tuple[int, int]] = []
        self.text: list[str] = []
        self.lines: list[int] = []
        self.labels: dict[str, int] = {}
        self.pending: list[str] = []


def _err(source: str, line: int, msg: str) -> SassError:
    return SassError(f"{source}:{line}: {msg}")


def _hex_words(source: str, lineno: int, s: str) -> list[int]:
    """Words in the ``/* 0x… */`` comments making up ``s`` (which must hold nothing else)."""
    words: list[int] = []
    pos = 0
    s = s.rstrip()
    while pos < len(s):
        m = _HEXCOMMENT.match(s, pos)
        if not m:
            raise _err(source, lineno, f"unexpected text after the instruction: {s[pos:].strip()!r}")
        for part in re.split(r"[;,]", m.group(1)):
            part = part.strip()
            hm = _HEXWORD.fullmatch(part)
            if not hm:
                raise _err(source, lineno, f"bad hex encoding word {part!r} (expected 0x + 1-16 hex digits)")
            words.append(int(hm.group(1), 16))
        pos = m.end()
    return words


def parse_sass_text(text: str, source: str = "<string>", arch: str | None = None) -> SassListing:
    """Parse listing ``text`` (``source`` names it in errors).  ``arch`` (e.g. ``"sm_86"``) keeps
    only that architecture's functions.  Raises :class:`SassError` ``"source:line: …"`` on bad input."""
    lines = text.splitlines()
    functions: dict[str, SassFunction] = {}
    where: dict[str, tuple[str, int]] = {}
    cur_arch = ""
    cur: _FunctionBuilder | None = None
    in_code = True
    n_seen = 0

    def close(b: _FunctionBuilder | None) -> None:
        if b is None or not b.pc:
            return
        end = b.pc[-1] + 16
        for lab in b.pending:
            b.labels[lab] = end
        if arch is not None and b.arch != arch:
            return
        if b.name in functions:
            prev_arch, prev_line = where[b.name]
            if prev_arch == b.arch:
                raise _err(source, b.line, f"function {b.name!r} appears twice for {b.arch or 'the same arch'} "
                           f"(first at line {prev_line})")
            raise _err(source, b.line, f"function {b.name!r} appears for both {prev_arch} and {b.arch}; "
                       f"pass arch= to pick one (or cuobjdump -sass -arch sm_XX)")
        functions[b.name] = _build_function(b, source)
        where[b.name] = (b.arch, b.line)

    i = 0
    nlines = len(lines)
    while i < nlines:
        raw = lines[i]
        lineno = i + 1
        i += 1
        line = _STRIP_COMMENT.sub("", raw)
        if not line.strip():
            continue
        m = _INSTR.match(line)
        if m:
            rest = m.group(2)
            body = rest.lstrip()
            if body.startswith(".") or not in_code:  # nvdisasm data directive / data section
                continue
            semi = rest.find(";")
            if semi >= 0:
                itext, hexpart = rest[:semi], rest[semi + 1 :]
            else:
                cpos = rest.find("/*")
                itext, hexpart = (rest, "") if cpos < 0 else (rest[:cpos], rest[cpos:])
            itext = _ANNOTATION.sub("", itext).strip()
            if not itext:
                raise _err(source, lineno, "instruction line without instruction text")
            words = _hex_words(source, lineno, hexpart)
            if not words:
                raise _err(source, lineno, "instruction without its hex encoding "
                           "(use cuobjdump -sass or nvdisasm -c -hex; -raw drops the encoding)")
            if len(words) == 1:
                j = i
                while j < nlines and not lines[j].strip():
                    j += 1
                nxt = _STRIP_COMMENT.sub("", lines[j]) if j < nlines else ""
                hm = _HIWORD.match(nxt)
                if not hm or _INSTR.match(nxt):
                    raise _err(source, lineno, "instruction without its high 64-bit word "
                               "(expected a '/* 0x… */' line next; truncated listing?)")
                words += _hex_words(source, j + 1, nxt)
                i = j + 1
            if len(words) != 2:
                raise _err(source, lineno, f"expected 2 encoding words, found {len(words)}")
            if cur is None:
                cur = _FunctionBuilder("", cur_arch, lineno)
            pc = int(m.group(1), 16)
            if cur.pc and pc <= cur.pc[-1]:
                raise _err(source, lineno, f"instruction offset 0x{pc:04x} does not increase "
                           f"(previous 0x{cur.pc[-1]:04x})")
            for lab in cur.pending:
                cur.labels[lab] = pc
            cur.pending.clear()
            cur.pc.append(pc)
            cur.words.append((words[0], words[1]))
            cur.text.append(itext)
            cur.lines.append(lineno)
            n_seen += 1
            continue
        s = line.strip()
        if s.startswith("/*"):
            if _HIWORD.match(line):
                raise _err(source, lineno, "encoding word without an instruction line before it")
            raise _err(source, lineno, f"malformed instruction line: {s[:60]!r}")
        m = _FUNCTION.match(line)
        if m:
            close(cur)
            cur = _FunctionBuilder(m.group(1), cur_arch, lineno)
            in_code = True
            continue
        m = _CODE_FOR.match(line) or _TARGET.match(line)
        if m:
            if m.re is _CODE_FOR:
                close(cur)
                cur = None
            cur_arch = m.group(1)
            if cur is not None and not cur.pc:
                cur.arch = cur_arch
            continue
        m = _SECTION.match(line)
        if m:
            close(cur)
            cur = None
            sec = m.group(1)
            in_code = sec.startswith(".text.")
            if in_code:
                cur = _FunctionBuilder(sec[len(".text."):], cur_arch, lineno)
            continue
        if s.startswith(".headerflags"):
            hm = _HEADERFLAGS.search(s)
            if hm and not cur_arch:
                cur_arch = "sm_" + hm.group(1)
                if cur is not None:
                    cur.arch = cur_arch
            continue
        m = _LABELDEF.match(line)
        if m:
            lab = m.group(1)
            if lab.startswith(".text.") and (cur is None or cur.name != lab[len(".text."):]):
                close(cur)
                cur = _FunctionBuilder(lab[len(".text."):], cur_arch, lineno)
                in_code = True
            elif cur is not None:
                cur.pending.append(lab)
            continue
        # anything else (fatbin headers, "....." separators, directives) carries no instruction
    close(cur)
    if n_seen == 0:
        raise _err(source, 1, "no SASS instructions found (expected cuobjdump -sass or nvdisasm -c -hex output)")
    if not functions:
        raise _err(source, 1, f"no function for arch {arch!r} in this listing")
    return SassListing(path=source, functions=functions)


def parse_sass_listing(path, arch: str | None = None) -> SassListing:
    """Read and parse the listing file at ``path`` (see :func:`parse_sass_text`)."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as e:
        raise SassError(f"{p}:0: cannot read SASS listing: {e.strerror or e}") from None
    return parse_sass_text(text, source=p, arch=arch)


def _build_function(b: _FunctionBuilder, source: str) -> SassFunction:
    n = len(b.pc)
    lo = np.fromiter((w[0] for w in b.words), dtype=np.uint64, count=n)
    hi = np.fromiter((w[1] for w in b.words), dtype=np.uint64, count=n)
    ctrl = decode_control(hi)
    sm = _arch_num(b.arch)
    cache: dict[str, Operand] = {}
    opcodes: list[str] = []
    guards: list[str] = []
    operands: list[tuple[Operand, ...]] = []
    dsts: list[tuple[int, ...]] = []
    srcs: list[tuple[int, ...]] = []
    target = np.full(n, -1, dtype=np.int64)
    for k, itext in enumerate(b.text):
        guard = ""
        gm = _GUARD.match(itext)
        if gm:
            guard = itext[: gm.end()].strip()
            itext = itext[gm.end():]
        parts = itext.split(None, 1)
        if not parts:
            raise _err(source, b.lines[k], "instruction has a guard but no opcode")
        opcode = parts[0]
        toks = _split_operands(parts[1]) if len(parts) > 1 else []
        ops = []
        for tok in toks:
            op = cache.get(tok)
            if op is None:
                op = cache[tok] = _parse_operand(tok)
            ops.append(op)
        root, _, modtail = opcode.partition(".")
        mods = modtail.split(".") if modtail else []
        if 0 < sm < 80 and root in _GLOBAL_MEM and "E" in mods:
            ops = [replace(o, wide=True) if o.kind == "mem" and 0 <= o.reg < RZ and not o.wide else o
                   for o in ops]
        for j, o in enumerate(ops):
            if o.kind == "label":
                v = b.labels.get(o.name, -1)
                if v < 0 and o.name in b.pending:
                    v = b.pc[-1] + 16
                if v >= 0:
                    ops[j] = replace(o, value=v)
        ops_t = tuple(ops)
        if root in _BRANCH_TARGET and ops_t:
            last = ops_t[-1]
            if last.kind in ("label", "imm") and isinstance(last.value, int):
                target[k] = last.value
        d, s = _reg_usage(opcode, ops_t)
        opcodes.append(opcode)
        guards.append(guard)
        operands.append(ops_t)
        dsts.append(d)
        srcs.append(s)
    pc = np.asarray(b.pc, dtype=np.int64)
    line = np.asarray(b.lines, dtype=np.int64)
    arrays = [pc, lo, hi, line, target, *ctrl.values()]
    for a in arrays:
        a.setflags(write=False)
    return SassFunction(
        name=b.name,
        arch=b.arch,
        pc=pc,
        lo=lo,
        hi=hi,
        opcode=tuple(opcodes),
        guard=tuple(guards),
        operands=tuple(operands),
        line=line,
        branch_target=target,
        labels=dict(b.labels),
        dst_reg_lists=tuple(dsts),
        src_reg_lists=tuple(srcs),
        source=source,
        **ctrl,
    )

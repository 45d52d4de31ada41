"""CuAssembler ``.cuasm`` listings -> the cuobjdump text :mod:`gpusim.frontend.sass` parses.

CuAssembler (cloudcores/CuAssembler) writes one instruction per line with its control code decoded
in brackets before it, e.g. ::

    L00010: [----:B------:R-:W0:-:S02]         S2R R0, SR_CTAID.X ;    /* 0x...7919; 0x000e24...2500 */
            [B------:R-:W-:-:S04]              CS2R R4, SR_CLOCKLO ;

Fields (research/sass-control-bits.md; checked on the 2,848 instructions of the CuAssembler test
listing in shared/traces/cuassembler-mandelbrot-sm75, whose hex words it prints beside them):
``reuse`` (4 flags, optional), ``B`` + 6 wait-mask flags (``-`` or the barrier digit), ``R`` read
and ``W`` write scoreboard (``-`` = none, else 0-5), ``Y`` when the *logical* yield is set (raw
bit 4 = 0) or ``-``, ``S`` + the stall count.  When the line carries the two hex words they are kept
as they are (the control bits in them are then authoritative); a hand-written line without them gets
a high word whose control field is the bracket's (the opcode bits are left 0: gpusim reads the
instruction from its text).  A line's byte offset comes from its ``Lxxxxx:`` label, or
follows the previous instruction by 16 bytes.  Functions start at ``.text.NAME`` section headers
(or ``.global NAME`` / ``NAME:`` lines of hand-written files: a ``NAME:`` line starts a function when
NAME was declared or no function has started yet); other ``label:`` lines (``.L_x_0:``, ``loop:``)
are branch labels, kept so that `` `(label) `` branch operands resolve.  The architecture comes from
the ELF ``e_flags`` comment, a ``sm_NN`` in the file, or ``arch``.
"""

from __future__ import annotations

import re

from gpusim.errors import SassError

_CTRL = re.compile(r"\[(?:(?P<reuse>[-R]{4}):)?B(?P<wait>[-0-5]{6}):R(?P<r>[-0-5]):W(?P<w>[-0-5]):(?P<y>[-Y]):S(?P<s>\d{1,2})\]")
_LABEL_PC = re.compile(r"^\s*L([0-9a-fA-F]+)\s*:")
_TEXT_SECTION = re.compile(r'"Name"\s*:\s*"\.text\.([^"]+)"|^#\s*section\s+\.text\.(\S+)')
_GLOBAL = re.compile(r"^\s*\.global\s+(\S+)")
_LABEL_DEF = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)\s*:\s*$")
_HEX = re.compile(r"/\*\s*0x([0-9a-fA-F]{1,16})\s*[;,]\s*0x([0-9a-fA-F]{1,16})\s*\*/")
_EFLAGS = re.compile(r"e_flags\s*:\s*(\d+)")
_SM = re.compile(r"\bsm_(\d{2,3}[a-z]?)\b")


def control_word(m: re.Match) -> int:
    """The 21-bit control field of a bracketed control code, placed at bit 41 of the high word."""
    reuse = 0
    if m.group("reuse"):
        for i, ch in enumerate(m.group("reuse")):
            reuse |= (ch != "-") << i
    wait = 0
    for i, ch in enumerate(m.group("wait")):
        if ch != "-":
            wait |= 1 << i
    rsb = 7 if m.group("r") == "-" else int(m.group("r"))
    wsb = 7 if m.group("w") == "-" else int(m.group("w"))
    stall = int(m.group("s"))
    if stall > 15:
        raise ValueError(f"stall {stall} > 15")
    raw_yield = 0 if m.group("y") == "Y" else 1
    ctrl = stall | raw_yield << 4 | wsb << 5 | rsb << 8 | wait << 11 | reuse << 17
    return ctrl << 41


def is_cuasm(text: str) -> bool:
    """True when ``text`` holds CuAssembler control-code brackets rather than cuobjdump comments."""
    return _CTRL.search(text) is not None


def cuasm_to_sass_text(text: str, source: str = "<string>", arch: str | None = None,
                       line_map: dict[int, int] | None = None) -> str:
    """Rewrite a .cuasm listing as cuobjdump-style text (``Function :`` blocks, ``/*PC*/`` lines and two
    ``/* 0x.. */`` words).  SassError ``source:line: ...`` on a malformed control code.  ``line_map``, when
    given, receives {line of the returned text: line of the .cuasm} for every instruction, so that errors
    found later in the rewritten text can name the line the user wrote."""
    if arch is None:
        m = _EFLAGS.search(text)
        if m and 30 <= (int(m.group(1)) & 0xFF) <= 120:
            arch = f"sm_{int(m.group(1)) & 0xFF}"
        else:
            m2 = _SM.search(text)
            arch = f"sm_{m2.group(1)}" if m2 else None
    if arch is None:
        raise SassError(f"{source}: no architecture found (no ELF e_flags or sm_NN in the file); pass it explicitly")
    out = [f"\tcode for {arch}", ""]
    name = None
    pc = 0
    started = False
    declared: set[str] = set()      # .global / .text. names: a "NAME:" line of one of them starts that function
    labels: list[str] = []          # branch labels seen before the function's first instruction
    for ln, line in enumerate(text.splitlines(), 1):
        sec = _TEXT_SECTION.search(line)
        if sec:
            name, pc, started, labels = sec.group(1) or sec.group(2), 0, False, []
            declared.add(name)
            continue
        cm = _CTRL.search(line)
        if cm is None:
            if "[" in line and re.search(r"\[[-RBWYS0-9:]*\]", line) and ":S" in line:
                raise SassError(f"{source}:{ln}: malformed control code (expected [reuse:Bwait:Rr:Ww:Y:Sstall], "
                                f"e.g. [B------:R-:W-:-:S04])")
            g = _GLOBAL.match(line)
            lab = _LABEL_DEF.match(line)
            if g:
                if g.group(1) != name:
                    name, pc, started, labels = g.group(1), 0, False, []
                declared.add(g.group(1))
            elif lab and not _LABEL_PC.match(line):
                label = lab.group(1)
                if label == name:
                    continue
                if not label.startswith(".") and (label in declared or (name is None and not started)):
                    # a function's own symbol line starts it
                    name, pc, started, labels = label, 0, False, []
                    declared.add(label)
                elif started:
                    # a branch label (.L_x_0:, loop:): kept, so `(label) branch operands resolve
                    if line_map is not None:
                        line_map[len(out) + 1] = ln
                    out.append(f"{label}:")
                else:
                    labels.append(label)
            continue
        if not started:
            out += [f"\t\tFunction : {name or 'kernel'}", f'\t.headerflags @"EF_CUDA_{arch.upper().replace("_", "")}"']
            out += [f"{x}:" for x in labels]
            labels = []
            started = True
        lab = _LABEL_PC.match(line)
        if lab:
            pc = int(lab.group(1), 16)
        body = line[cm.end():]
        hx = _HEX.search(body)
        instr = (body[: hx.start()] if hx else body.split("/*", 1)[0]).strip()
        if not instr.endswith(";"):
            instr = instr.rstrip(" ;") + " ;"
        try:
            ctrl_hi = control_word(cm)
        except ValueError as e:
            raise SassError(f"{source}:{ln}: {e}") from None
        lo, hi = (int(hx.group(1), 16), int(hx.group(2), 16)) if hx else (0, ctrl_hi)
        if line_map is not None:
            line_map[len(out) + 1] = ln
            line_map[len(out) + 2] = ln
        out.append(f"        /*{pc:04x}*/                   {instr} /* 0x{lo:016x} */")
        out.append(f"                                                          /* 0x{hi:016x} */")
        pc += 16
    if not any("Function :" in x for x in out):
        raise SassError(f"{source}: no instruction with a CuAssembler control code ([B------:R-:W-:-:S04] ...)")
    return "\n".join(out) + "\n"

"""Writes the bundled quick-start trace ``vecadd-sm86/kernel-1.traceg.xz`` (Accel-Sim tracer-v5 grammar).

The kernel is ``vecadd.cu`` in the same folder, compiled by nvcc 13.0 for sm_86; its
``cuobjdump -sass`` listing is ``vecadd-sm86/kernel-1.sass`` (control bits from ptxas).
This script walks that listing by hand for one launch, as NVBit would record it: per warp
the executed PCs, the active mask AND guard predicate, the general registers the tracer
lists (uniform/predicate registers and constant operands are not traced), and per-lane
addresses (base+stride, address mode 1).  Run: ``python traces/examples/make_vecadd.py``.
"""

from __future__ import annotations

import lzma
from pathlib import Path

N = 65536 - 80          # elements; not a multiple of the block so the last warps are partial
BLOCK = 256
GRID = (N + BLOCK - 1) // BLOCK
A, B, C = 0x7F0000000000, 0x7F0000100000, 0x7F0000200000  # device pointers (NVBit traces sit above 4 GiB)

# (pc, dst regs, opcode, src regs, memory operand) in program order; see kernel-1.sass
PROLOGUE = [
    (0x00, ["R1"], "MOV", [], None),
    (0x10, ["R6"], "S2R", [], None),
    (0x20, ["R3"], "S2R", [], None),
    (0x30, ["R6"], "IMAD", ["R6", "R3"], None),
    (0x40, [], "ISETP.GE.AND", ["R6"], None),
]
BODY = [
    (0x60, ["R7"], "MOV", [], None),
    (0x70, [], "ULDC.64", [], None),
    (0x80, ["R4"], "IMAD.WIDE", ["R6", "R7"], None),
    (0x90, ["R2"], "IMAD.WIDE", ["R6", "R7"], None),
    (0xA0, ["R4"], "LDG.E.CONSTANT", ["R4"], B),
    (0xB0, ["R3"], "LDG.E.CONSTANT", ["R2"], A),
    (0xC0, ["R6"], "IMAD.WIDE", ["R6", "R7"], None),
    (0xD0, ["R9"], "FADD", ["R4", "R3"], None),
    (0xE0, [], "STG.E", ["R6", "R9"], C),
]


def line(pc, mask, dsts, op, srcs, mem, first_index):
    f = [f"{pc:04x}", f"{mask:08x}", str(len(dsts)), *dsts, op, str(len(srcs)), *srcs]
    if mem is None:
        f.append("0")
    else:
        f += ["4", "1", f"0x{mem + 4 * first_index:x}", "4"]
    f.append("0")  # tracer-v5 immediate
    return " ".join(f)


def main() -> None:
    out = Path(__file__).parent / "vecadd-sm86"
    hdr = [
        "-kernel name = vecadd", "-kernel id = 1", f"-grid dim = ({GRID},1,1)", f"-block dim = ({BLOCK},1,1)",
        "-shmem = 0", "-nregs = 10", "-binary version = 86", "-cuda stream id = 0",
        "-shmem base_addr = 0x00007f1000000000", "-local mem base_addr = 0x00007f0e00000000",
        "-nvbit version = none (written by traces/examples/make_vecadd.py)", "-accelsim tracer version = 5",
        "-enable lineinfo = 0", "",
        "#traces format = [line_num] PC mask dest_num [reg_dests] opcode src_num [reg_srcs] mem_width "
        "[adrrescompress?] [mem_addresses] immediate", "",
    ]
    text = ["\n".join(hdr)]
    full = 0xFFFFFFFF
    for cta in range(GRID):
        text.append(f"\n#BEGIN_TB\n\nthread block = {cta},0,0\n")
        for w in range(BLOCK // 32):
            first = cta * BLOCK + w * 32
            live = max(0, min(32, N - first))          # lanes with i < n
            live_mask = (1 << live) - 1
            exit_mask = full & ~live_mask               # @P0 EXIT: lanes with i >= n
            lines = [line(pc, full, d, op, s, m, first) for pc, d, op, s, m in PROLOGUE]
            lines.append(line(0x50, exit_mask, [], "EXIT", [], None, first))
            if live:
                lines += [line(pc, live_mask, d, op, s, m, first) for pc, d, op, s, m in BODY]
                lines.append(line(0xF0, live_mask, [], "EXIT", [], None, first))
            text.append(f"\nwarp = {w}\ninsts = {len(lines)}\n" + "\n".join(lines) + "\n")
        text.append("\n#END_TB\n")
    # stored xz-compressed (the reader takes .traceg.xz as Accel-Sim does); `xz -dc` shows the text
    (out / "kernel-1.traceg.xz").write_bytes(lzma.compress("".join(text).encode(), preset=9))
    (out / "kernelslist.g").write_text(
        f"MemcpyHtoD,0x{A:016x},{4 * N}\nMemcpyHtoD,0x{B:016x},{4 * N}\nkernel-1.traceg.xz\n")


if __name__ == "__main__":
    main()

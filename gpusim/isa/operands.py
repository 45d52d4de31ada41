"""ISA rules that read a SASS listing's operands: named barriers (BAR.SYNC / BAR.ARV ids and thread
counts) and the end of a wgmma group (the ``gsb0`` operand, or the next WARPGROUP instruction)."""

from __future__ import annotations

import numpy as np

from gpusim.core import sm as core
from gpusim.errors import SassError
from gpusim.frontend.opcodes import base_opcode, mma_operand_bits, mma_shape
from gpusim.frontend.reader import KernelTrace


def named_barrier(ops, where: str) -> int:
    """``S_BAR`` of a BAR.SYNC / BAR.ARV from its listing operands (PTX ISA, ``bar``: barrier ids 0-15, a
    thread count that is a multiple of the warp size, counted per warp): id + NBAR * count / 32 (count
    0: no count operand, the whole CTA), -1 without operands, -2 if the id or the count is a register
    (its values come per dynamic instruction from the SASS walker, ``gpusim.assemble.dynamic``)."""
    vals = [o for o in ops if o.kind in ("imm", "reg", "ureg")][:2]
    if not vals:
        return -1
    if any(o.kind != "imm" for o in vals):
        return -2
    bid = int(vals[0].value)
    n = int(vals[1].value) if len(vals) > 1 else 0
    if not 0 <= bid < core.NBAR or n < 0 or n % 32 or (len(vals) > 1 and n == 0):
        raise SassError(f"{where}: barrier id {bid} (0-{core.NBAR - 1}) or thread count {n} (a positive "
                        f"multiple of 32) out of range (PTX ISA, bar)")
    return bid + core.NBAR * (n // 32)


def mark_wgmma_group_ends(st: np.ndarray, kt: KernelTrace, listing_fn=None) -> None:
    """Set ``F_GMMA_COMMIT`` on the warpgroup MMAs that end a wgmma group.

    With the listing: the HGMMAs carrying the ``gsb0`` operand (the compiler marks the last MMA
    before ``wgmma.commit_group`` so; research/sass-control-bits.md §5).  Without it: the last
    warpgroup MMA before the next ``WARPGROUP`` instruction (or the end of the code) in PC order."""
    gm = np.flatnonzero(st[:, core.S_FLAGS] & core.F_GMMA)
    if gm.size == 0:
        return
    if listing_fn is not None:
        idx = listing_fn.index_of_pc(kt.st_pc[gm])
        for s, j in zip(gm, idx):
            if any(o.kind == "other" and o.name == "gsb0" for o in listing_fn.operands[j]):
                st[s, core.S_FLAGS] |= core.F_GMMA_COMMIT
        return
    order = np.argsort(kt.st_pc, kind="stable")
    wg = np.array([base_opcode(m) == "WARPGROUP" for m in kt.st_opcode])
    last = -1
    for s in order:
        if st[s, core.S_FLAGS] & core.F_GMMA:
            last = s
        elif wg[s] and last >= 0:
            st[last, core.S_FLAGS] |= core.F_GMMA_COMMIT
            last = -1
    if last >= 0:
        st[last, core.S_FLAGS] |= core.F_GMMA_COMMIT


def wgmma_a_from_registers(kt: KernelTrace, s: int, listing_fn=None) -> bool:
    """Whether warpgroup MMA ``s`` takes A from registers (wgmma RS: ``HGMMA.64xNx16 Rd, Ra, gdesc[URb], Rc``)
    rather than from shared memory (SS: ``HGMMA Rd, gdesc[URab], Rc``).  The listing says it exactly: its
    second operand is a register.  Without one, the tracer's sources: an RS MMA reads a register other
    than its accumulator (the destination) and RZ."""
    if listing_fn is not None:
        j = int(listing_fn.index_of_pc(np.array([kt.st_pc[s]]))[0])
        if j >= 0:
            ops = listing_fn.operands[j]
            return len(ops) > 1 and ops[1].kind == "reg"
    dst0 = int(kt.st_dst[s, 0])
    return any(int(r) not in (dst0, 255) for r in kt.st_src[s, :int(kt.st_nsrc[s])])


def wgmma_shared_bytes(mn: str, a_in_registers: bool, b_reads: int) -> int:
    """Shared-memory operand bytes of one warpgroup MMA instruction (PTX ISA, wgmma.mma_async: B always in
    shared memory, A in shared memory or registers): A = M x K and B = N x K elements of the operand width
    (m64nNk16 fp16: A 2 KiB, B N x 32 B; fp8 k32 the same bytes), B counted ``b_reads`` times."""
    shape = mma_shape(mn)
    if shape is None or b_reads <= 0:
        return 0
    ebits = mma_operand_bits(mn) or 16
    a = 0 if a_in_registers else shape.m * shape.k * ebits // 8
    return a + b_reads * shape.n * shape.k * ebits // 8

"""Control flow of the functional walker: lane scheduling under independent thread scheduling,
branches, calls, exits, convergence barriers and the operands of named CTA barriers.

What it models (Volta+ independent thread scheduling, functionally; "CUDA Binary Utilities"
Instruction Set Reference; PTX ISA "bar", "bra", "call", "exit"):

* each lane has its own PC; the lanes that run next are the not-exited, not-blocked lanes at the
  smallest PC, so divergent lanes reconverge where their paths meet (``pick``);
* ``BRA`` (optionally with a second predicate, ``.U.ANY``: the whole group follows), ``BRA.DIV``
  (taken when the lanes of the mask diverged), ``CALL``/``RET`` (the return address is a byte offset
  in a register), ``EXIT``;
* ``BSSY Bx`` records the lanes that must meet at ``BSYNC Bx``; ``WARPSYNC mask`` waits for the lanes
  of ``mask``; a barrier releases once every live lane of its mask has arrived (``try_release``);
* warps of a CTA run one after another: without a memory model no value flows between warps, so
  ``BAR.SYNC`` has no functional effect; a ``BAR`` whose barrier id or thread count is a register is
  recorded (PTX ISA "bar": id 0-15, a thread count that is a multiple of the warp size).
"""

from __future__ import annotations

from numba import njit

from gpusim.emu.isa import (BAR_IDS, BLOCKED, C_MOD, C_TARGET, ERR_BAR, ERR_UNKNOWN_BRANCH, ERR_UNKNOWN_VALUE,
                            EXITED, K_NONE, M32, NBAR, OK, OP_BRA, OP_BRA_DIV, OP_BSSY, OP_BSYNC, OP_CALL, OP_EXIT,
                            RUN, WSYNC)
from gpusim.emu.state import fail, fail_lane


@njit(cache=True, _nrt=False)
def pick(pc, state):
    """Lanes that run next: (pc, mask, smallest pc among the other runnable lanes)."""
    best = 1 << 62
    for ln in range(32):
        if state[ln] == RUN and pc[ln] < best:
            best = pc[ln]
    mask = 0
    other = 1 << 62
    for ln in range(32):
        if state[ln] == RUN:
            if pc[ln] == best:
                mask |= 1 << ln
            elif pc[ln] < other:
                other = pc[ln]
    return best, mask, other


@njit(cache=True, _nrt=False)
def try_release(b, bar, state, wait, pc):
    """Release the lanes blocked on barrier b once every live lane of its mask has arrived."""
    m = bar[b]
    for ln in range(32):
        if (m >> ln) & 1 and state[ln] != EXITED:
            if not (state[ln] == BLOCKED and wait[ln] == b):
                return False
    released = False
    for ln in range(32):
        if state[ln] == BLOCKED and wait[ln] == b:
            state[ln] = RUN
            pc[ln] += 1
            released = True
    return released


@njit(cache=True, _nrt=False)
def bar_operands(I, S, err, i, ex, cta, w):
    """The named barrier of a BAR with register operands, from its first active lane: (status, the
    trace's out_mem code -2 - (id + BAR_IDS * thread count / 32))."""
    prog = I.prog
    VK = S.vk
    V = S.v
    first = 0
    while not (ex >> first) & 1:
        first += 1
    nops = prog[i, C_MOD] + 1
    for q in range(nops):
        if VK[q, first] == 0:
            return fail(err, ERR_UNKNOWN_VALUE, i, cta, w), 0
    bid = V[0, first]
    nthr = V[1, first] if nops > 1 else 0
    if bid < 0 or bid >= BAR_IDS or nthr < 0 or nthr % 32 != 0 or (nops > 1 and nthr == 0):
        return fail(err, ERR_BAR, i, cta, w), 0
    return OK, -2 - (bid + BAR_IDS * (nthr // 32))


@njit(cache=True, _nrt=False, inline="always")
def _branch(I, S, err, i, op, ex, gmask, alive, cta, w):
    """BRA, BRA.DIV, CALL, RET: set the PCs of the lanes of ``gmask``; returns a status."""
    prog = I.prog
    opnd = I.opnd
    pc = S.pc
    VK = S.vk
    V = S.v
    tgt = prog[i, C_TARGET]
    if op == OP_BRA:
        # taken where the guard holds and the optional second predicate (slot 0) holds
        take = 0
        for ln in range(32):
            if (ex >> ln) & 1:
                if VK[0, ln] == 0:
                    return fail_lane(err, ERR_UNKNOWN_BRANCH, i, ln, cta, w)
                if opnd[i, 0, 0] == K_NONE or V[0, ln] != 0:
                    take |= 1 << ln
        if prog[i, C_MOD] and take != 0:  # .U.ANY: the whole group follows
            take = gmask
        for ln in range(32):
            if (gmask >> ln) & 1:
                pc[ln] = tgt if (take >> ln) & 1 else i + 1
    elif op == OP_BRA_DIV:
        diverged = False
        if ex != 0:
            first = 0
            while not (ex >> first) & 1:
                first += 1
            if VK[0, first] == 0:
                return fail(err, ERR_UNKNOWN_BRANCH, i, cta, w)
            diverged = (V[0, first] & alive & ~gmask) != 0
        for ln in range(32):
            if (gmask >> ln) & 1:
                pc[ln] = tgt if (diverged and (ex >> ln) & 1) else i + 1
    elif op == OP_CALL:
        for ln in range(32):
            if (gmask >> ln) & 1:
                pc[ln] = tgt if (ex >> ln) & 1 else i + 1
    else:  # OP_RET: jump to the byte offset held in the register
        for ln in range(32):
            if (gmask >> ln) & 1:
                if (ex >> ln) & 1:
                    if VK[0, ln] == 0:
                        return fail_lane(err, ERR_UNKNOWN_VALUE, i, ln, cta, w)
                    pc[ln] = (V[0, ln] & M32) >> 4
                else:
                    pc[ln] = i + 1
    return OK


@njit(cache=True, _nrt=False, inline="always")
def _converge(I, S, err, i, op, ex, gmask, alive, cta, w):
    """EXIT, BSSY, BSYNC, WARPSYNC: (status, live lanes)."""
    opnd = I.opnd
    prog = I.prog
    pc = S.pc
    state = S.state
    bar = S.bar
    wait = S.wait
    VK = S.vk
    V = S.v
    if op == OP_EXIT:
        for ln in range(32):
            if (gmask >> ln) & 1:
                if (ex >> ln) & 1:
                    state[ln] = EXITED
                    alive &= ~(1 << ln)
                else:
                    pc[ln] = i + 1
        for b in range(NBAR):
            try_release(b, bar, state, wait, pc)
    elif op == OP_BSSY:
        if ex != 0:
            bar[opnd[i, 0, 1]] = ex
        for ln in range(32):
            if (gmask >> ln) & 1:
                pc[ln] = i + 1
    else:  # OP_BSYNC or OP_WARPSYNC
        if op == OP_BSYNC:
            b = opnd[i, 0, 1]
        else:
            b = WSYNC
            m = alive
            if not prog[i, C_MOD] and ex != 0:  # not .ALL
                first = 0
                while not (ex >> first) & 1:
                    first += 1
                if VK[0, first] == 0:
                    return fail(err, ERR_UNKNOWN_VALUE, i, cta, w), alive
                m = V[0, first]
            bar[b] = m & alive
        for ln in range(32):
            if (gmask >> ln) & 1:
                if (ex >> ln) & 1:
                    state[ln] = BLOCKED
                    wait[ln] = b
                    pc[ln] = i
                else:
                    pc[ln] = i + 1
        try_release(b, bar, state, wait, pc)
    return OK, alive


@njit(cache=True, _nrt=False, inline="always")
def exec_control(I, S, err, i, op, ex, gmask, alive, cta, w):
    """A control instruction (OP_BRA .. OP_RET): (status, live lanes)."""
    if op == OP_BRA or op == OP_BRA_DIV or op >= OP_CALL:
        return _branch(I, S, err, i, op, ex, gmask, alive, cta, w), alive
    return _converge(I, S, err, i, op, ex, gmask, alive, cta, w)

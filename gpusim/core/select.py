"""Issue stage: warp readiness, warp-state accounting and the issue policies.

Hardware rules (MGC §2.1-2.2, the MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores"): a sub-core
issues at most one instruction per cycle, from a warp whose own conditions hold (instruction decoded,
stall counter expired, no waited SB pending, no barrier) and whose unit can take it; the hardware's
policy is compiler-guided greedy-then-youngest (CGGTY: the warp issued last while it can, else the
youngest); GTO and LRR are the simulators' classic alternatives.  Each policy is one small function;
``issue_key`` is their registry (docs/core.md, "Adding an issue policy").  Warp states are charged
per interval in Nsight Compute's vocabulary (``_set_reason``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core.slots import *  # noqa: F401,F403
from gpusim.core.execute import _classify_resource
from gpusim.core.scoreboard import _classify_local


@njit(cache=True, _nrt=False, inline="always")
def _key_cggty(W, ws, slot, greedy, ws0, wslots):
    """Compiler-guided greedy then youngest: the hardware's policy (MGC §2.2, Figure 4)."""
    return -NEVER if ws == greedy else -W.age[ws]


@njit(cache=True, _nrt=False, inline="always")
def _key_gto(W, ws, slot, greedy, ws0, wslots):
    """Greedy then oldest (GPGPU-Sim / Accel-Sim default)."""
    return -NEVER if ws == greedy else W.age[ws]


@njit(cache=True, _nrt=False, inline="always")
def _key_lrr(W, ws, slot, greedy, ws0, wslots):
    """Loose round robin: the next slot after the last issued one."""
    base = greedy - ws0 if greedy >= 0 else -1
    return np.int64((slot - base - 1 + wslots) % wslots)


@njit(cache=True, _nrt=False, inline="always")
def issue_key(policy, W, ws, slot, greedy, ws0, wslots):
    """The issue-policy registry: one line per policy, keyed by its ``IssuePolicy`` value (the
    ``subcore.issue_policy`` config field, parameter slot ``P_POLICY``).  Numba cannot index a table of
    jitted functions by a run-time value without its experimental first-class function types (an
    indirect call per warp and cycle), so the table is this chain of tests, which it inlines."""
    if policy == 0: return _key_cggty(W, ws, slot, greedy, ws0, wslots)  # noqa: E701  IssuePolicy.CGGTY
    if policy == 1: return _key_gto(W, ws, slot, greedy, ws0, wslots)  # noqa: E701    IssuePolicy.GTO
    if policy == 2: return _key_lrr(W, ws, slot, greedy, ws0, wslots)  # noqa: E701    IssuePolicy.LRR
    # -- end of the issue-policy registry (an unknown code cannot reach the core: the config enum refuses it)
    return _key_cggty(W, ws, slot, greedy, ws0, wslots)


@njit(cache=True, _nrt=False, inline="always")
def _set_reason(K, W, L, ws, r, c):
    """Interval accounting of warp states: the old state is charged for [since, c)."""
    old = W.reason[ws]
    if old == r:
        return
    if old >= 0 and c > W.since[ws]:
        d = c - W.since[ws]
        L.counters[C_REASON_BASE + old] += d
        L.pc_stats[K.inst_static[W.pc[ws]], 1 + old] += d
    W.reason[ws] = r
    W.since[ws] = c


@njit(cache=True, _nrt=False, inline="always")
def _select(K, W, S, T, L, c, sc, sm, skip):
    """The issue stage of sub-core ``sc`` at cycle c (MGC §2.1): classify every warp (its own conditions,
    ``scoreboard._classify_local``; then the sub-core's resources, ``execute._classify_resource``), charge
    it its warp state and wake-up cycle, and pick the eligible warp with the lowest ``issue_key``.  A
    Control or issue-port hold (IMAD) makes every eligible warp 'dispatch stall'.  Returns (the warp to
    issue or -1, the earliest wake-up cycle of the sub-core's warps, whether it has any warp)."""
    n_sub = K.p[P_SUBCORES]
    wslots = K.p[P_CTAS_PER_SM] * K.p[P_WARPS_PER_CTA]
    policy = K.p[P_POLICY]
    ctrl = K.p[P_CTRL]
    ws0 = sm * wslots
    sub = sc - sm * n_sub
    blocked = S.control_free[sc] > c + 1 or S.issue_busy[sc] > c
    unblock = S.control_free[sc] - 1
    if S.issue_busy[sc] > unblock:
        unblock = S.issue_busy[sc]
    best = np.int64(-1)   # (not the literal -1: Numba would also compile the callees for Literal[int](-1))
    best_key = NEVER
    greedy = S.greedy[sc]
    sc_min = NEVER
    any_warp = False
    for slot in range(sub, wslots, n_sub):
        ws = ws0 + slot
        if W.trace[ws] < 0:
            continue
        any_warp = True
        if W.launch[ws] > c:
            if W.launch[ws] < sc_min:
                sc_min = W.launch[ws]
            continue
        if skip and W.ready[ws]:
            # own conditions still hold: only the sub-core resources can have changed
            r, wake = _classify_resource(K, S, c, K.inst_static[W.pc[ws]], sc)
        else:
            if skip and W.wake[ws] > c:
                if W.wake[ws] < sc_min:
                    sc_min = W.wake[ws]
                continue
            r, wake, wm = _classify_local(K, W, T, c, ws, sc, sm, ctrl)
            W.wmask[ws] = wm
            if r < 0:
                if c >= W.last_issue[ws] + 2:
                    W.ready[ws] = 1
                r, wake = _classify_resource(K, S, c, K.inst_static[W.pc[ws]], sc)
        if r < 0:
            if blocked:
                r = R_DISPATCH
                wake = unblock
            else:
                r = R_NOT_SELECTED
                wake = c + 1
                key = issue_key(policy, W, ws, slot, greedy, ws0, wslots)
                if key < best_key:
                    best_key = key
                    best = ws
        _set_reason(K, W, L, ws, r, c)
        W.wake[ws] = wake
        if wake < sc_min:
            sc_min = wake
    return best, sc_min, any_warp

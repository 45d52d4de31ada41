"""CTA dispatch: which CTA starts where and when.

Hardware rule: the CTA scheduler places CTAs on SMs within the occupancy limits (one CTA slot per SM at
a time for the first wave, round robin over SMs), a finished CTA's slot is refilled after the
configured CTA launch latency, and the CTAs of a thread-block cluster start together on SMs of one
GPC (Hopper; CUDA Programming Guide, "Thread Block Clusters").  Our refill happens at the end of the
epoch in which the CTA finished (``epoch._epoch_end``; README "Speed").
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core.slots import *  # noqa: F401,F403


@njit(cache=True, _nrt=False, inline="always")
def subcore_of(K, ws):
    """The sub-core of warp slot ``ws``: warp k of a CTA slot runs on sub-core k mod subcores of its SM
    (MGC §3: warps are assigned to sub-cores by warp id modulo 4), as ``_launch_cta`` places it."""
    wslots = K.p[P_CTAS_PER_SM] * K.p[P_WARPS_PER_CTA]
    sm = ws // wslots
    return sm * K.p[P_SUBCORES] + (ws - sm * wslots) % K.p[P_SUBCORES]


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _launch_cta(K, W, S, T, counters, sm, slot, start_cycle):
    n_cta = K.cta_warp_ptr.size - 1
    cta = T.g[G_NEXT_CTA]
    if cta >= n_cta:
        return
    cps = K.p[P_CTAS_PER_SM]
    wpc = K.p[P_WARPS_PER_CTA]
    wslots = cps * wpc
    cs = sm * cps + slot
    nwarp = K.cta_warp_ptr[cta + 1] - K.cta_warp_ptr[cta]
    for k in range(nwarp):
        tw = K.cta_warp_ptr[cta] + k
        ws = sm * wslots + slot * wpc + k
        if K.warp_inst_ptr[tw] < K.warp_inst_ptr[tw + 1]:
            W.trace[ws] = tw
            W.pc[ws] = K.warp_inst_ptr[tw]
            W.fetch[ws] = K.warp_inst_ptr[tw]
            W.end[ws] = K.warp_inst_ptr[tw + 1]
            W.age[ws] = T.g[G_AGE]
            T.g[G_AGE] += 1
            W.stall[ws] = start_cycle
            W.bar[ws] = 0
            W.bar_arv[ws] = 0
            W.ibn[ws] = 0
            W.ibh[ws] = 0
            W.wake[ws] = start_cycle
            W.reason[ws] = -1
            W.ready[ws] = 0
            W.launch[ws] = start_cycle
            for q in range(W_NCOLS):
                W.sync[ws, q] = 0
            W.sync[ws, W_MBTX] = -1
            sc = subcore_of(K, ws)
            if S.next[sc] > start_cycle:
                S.next[sc] = start_cycle
            T.c_live[cs] += 1
            T.g[G_LIVE] += 1
            T.smg[sm, SG_LIVE] += 1
            counters[C_WARPS] += 1
    for b in range(NBAR):
        T.c_bar[cs, b] = 0
        T.c_bar_need[cs, b] = 0
    for b in range(NB):
        T.mb_addr[cs, b] = -1
    T.cs_cta[cs] = cta if T.c_live[cs] > 0 else -1
    ci = cta // K.p[P_CLUSTER]
    if ci < T.cl.shape[0]:
        if cta % K.p[P_CLUSTER] == 0:
            T.cl[ci, CL_WARPS] = 0
            T.cl[ci, CL_PHASE] = 0
            for q in range(PH):
                T.cl[ci, CL_CNT0 + q] = 0
                T.cl[ci, CL_DONE0 + q] = NEVER
        T.cl[ci, CL_SLOT0 + cta % K.p[P_CLUSTER]] = cs
        T.cl[ci, CL_WARPS] += T.c_live[cs]
    counters[C_CTAS] += 1
    T.g[G_NEXT_CTA] = cta + 1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _free_slot(K, T, sm):
    cps = K.p[P_CTAS_PER_SM]
    for slot in range(cps):
        if T.cs_cta[sm * cps + slot] < 0:
            return slot
    return -1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _dispatch_clusters(K, W, S, T, counters, start_cycle):
    """Cluster launch (Hopper): the CTAs of a cluster start together, each on its own SM of one GPC, once
    every one of them can be placed; clusters are tried on the GPCs in turn (cluster index first).
    Runs in the serial part only (initial dispatch, epoch ends): it places CTAs on other SMs."""
    n_cta = K.cta_warp_ptr.size - 1
    csz = K.p[P_CLUSTER]
    spg = K.p[P_SM_PER_GPC]
    n_sm = K.p[P_NUM_SM]
    ngpc = (n_sm + spg - 1) // spg
    while T.g[G_NEXT_CTA] < n_cta:
        ci = T.g[G_NEXT_CTA] // csz
        placed = False
        for gg in range(ngpc):
            gpc = (ci + gg) % ngpc
            lo = gpc * spg
            hi = min(lo + spg, n_sm)
            cand = 0
            for sm in range(lo, hi):
                if _free_slot(K, T, sm) >= 0:
                    cand += 1
            if cand < csz:
                continue
            # rotate the first SM so that consecutive clusters of a GPC spread over its SMs
            n = hi - lo
            r = 0
            for k in range(n):
                sm = lo + (ci * csz + k) % n
                slot = _free_slot(K, T, sm)
                if slot < 0:
                    continue
                _launch_cta(K, W, S, T, counters, sm, slot, start_cycle)
                cs = sm * K.p[P_CTAS_PER_SM] + slot
                if T.cs_cta[cs] < 0:
                    T.cs_cta[cs] = n_cta  # launched without warps: hold the slot until the cluster is placed
                r += 1
                if r == csz or T.g[G_NEXT_CTA] >= n_cta:
                    break
            for k in range(csz):
                cs = T.cl[ci, CL_SLOT0 + k]
                if T.cs_cta[cs] == n_cta:
                    T.cs_cta[cs] = -1
            placed = True
            break
        if not placed:
            return


@njit(cache=True, _nrt=False)
def init_kernel(K, W, S, T, counters):
    """Dispatch the first CTAs round-robin over SMs (one CTA slot per SM at a time), or whole clusters."""
    T.g[G_LAST_RETIRE] = -1
    if K.p[P_CLUSTER] > 1:
        _dispatch_clusters(K, W, S, T, counters, K.p[P_CTA_LAUNCH])
        return
    for slot in range(K.p[P_CTAS_PER_SM]):
        for sm in range(K.p[P_NUM_SM]):
            _launch_cta(K, W, S, T, counters, sm, slot, K.p[P_CTA_LAUNCH])

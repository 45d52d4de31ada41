"""Front end: instruction fetch through the L0 / L1 instruction caches and the stream buffer.

Hardware rules (MGC §3, the MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores"; digest
research/modern-gpu-cores.md §3): each sub-core fetches and decodes one instruction per cycle into a
3-entry instruction buffer per warp, available to issue 2 cycles later; the fetch follows the warp
issued last and moves to the policy's preferred warp with free entries when that one is full;
instructions come through a private L0 and a per-SM L1 instruction cache, and a stream buffer
prefetches the next lines of an L0 miss (``icache.stream_buffer_entries``); ``icache.perfect`` turns
the caches off.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core import memsys as msys
from gpusim.core.slots import *  # noqa: F401,F403


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _il1(K, T, L, sm, line, t):
    """Cycle at which the SM's L1 instruction cache can return ``line`` asked for at cycle t."""
    sets = K.p[P_L1I_SETS]
    ways = K.p[P_L1I_WAYS]
    row = sm * sets + line % sets
    L.sg[SG_ICLOCK] += 1
    w = msys._find(T.il1_tag, row, ways, line)
    if w >= 0:
        T.il1_lru[row, w] = L.sg[SG_ICLOCK]
        return T.il1_rdy[row, w] if T.il1_rdy[row, w] > t else t
    w = msys._victim(T.il1_tag, T.il1_lru, row, ways)
    T.il1_tag[row, w] = line
    T.il1_rdy[row, w] = t + K.p[P_IMISS]
    T.il1_lru[row, w] = L.sg[SG_ICLOCK]
    return t + K.p[P_IMISS]


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _iline(K, S, T, L, c, sc, sm, line, request):
    """Cycle from which instruction line ``line`` can be fetched by sub-core ``sc`` (MGC §3).

    On an L0 miss (with ``request``) the line is requested from the L1 instruction cache and the
    stream buffer requests the next ``P_IPREFETCH`` lines, one request per cycle; each takes the
    L0-L1 latency both ways.  Returns NEVER for an absent line without ``request``."""
    sets = K.p[P_L0_SETS]
    ways = K.p[P_L0_WAYS]
    row = sc * sets + line % sets
    w = msys._find(S.il0_tag, row, ways, line)
    lat = K.p[P_IL0L1]
    if w >= 0:
        L.sg[SG_ICLOCK] += 1
        S.il0_lru[row, w] = L.sg[SG_ICLOCK]
        if request and K.p[P_IPREFETCH] > 0:
            # the stream buffer keeps P_IPREFETCH lines ahead of the demand stream
            ln = line + K.p[P_IPREFETCH]
            r2 = sc * sets + ln % sets
            if msys._find(S.il0_tag, r2, ways, ln) < 0:
                arrive = _il1(K, T, L, sm, ln, c + lat) + lat
                w2 = msys._victim(S.il0_tag, S.il0_lru, r2, ways)
                S.il0_tag[r2, w2] = ln
                S.il0_rdy[r2, w2] = arrive
                L.sg[SG_ICLOCK] += 1
                S.il0_lru[r2, w2] = L.sg[SG_ICLOCK]
        return S.il0_rdy[row, w]
    if not request:
        return NEVER
    ready = NEVER
    for k in range(K.p[P_IPREFETCH] + 1):
        ln = line + k
        r2 = sc * sets + ln % sets
        if k > 0 and msys._find(S.il0_tag, r2, ways, ln) >= 0:
            continue
        t_req = c + k
        arrive = _il1(K, T, L, sm, ln, t_req + lat) + lat
        w2 = msys._victim(S.il0_tag, S.il0_lru, r2, ways)
        S.il0_tag[r2, w2] = ln
        S.il0_rdy[r2, w2] = arrive
        L.sg[SG_ICLOCK] += 1
        S.il0_lru[r2, w2] = L.sg[SG_ICLOCK]
        if k == 0:
            ready = arrive
    return ready


@njit(cache=True, _nrt=False, inline="always")
def _fetch(K, W, S, T, L, c, sc, sm, sc_min):
    """Fetch and decode one instruction for sub-core ``sc`` at cycle c (MGC §3): for the last issued warp,
    else the policy's preferred warp with instruction-buffer space (youngest for CGGTY, oldest otherwise);
    if its line is not in the L0 yet, for another warp whose line is.  The instruction can issue 2 cycles
    later.  Returns (whether it fetched, the sub-core's earliest wake-up cycle lowered by a line arrival)."""
    n_sub = K.p[P_SUBCORES]
    wslots = K.p[P_CTAS_PER_SM] * K.p[P_WARPS_PER_CTA]
    youngest = K.p[P_POLICY] == 0
    sub = sc - sm * n_sub
    fw = -1
    gw = S.greedy[sc]
    if gw >= 0 and W.trace[gw] >= 0 and W.ibn[gw] < 3 and W.fetch[gw] < W.end[gw] and W.launch[gw] <= c:
        fw = gw
    else:
        fa = -NEVER
        for slot in range(sub, wslots, n_sub):
            ws = sm * wslots + slot
            if W.trace[ws] < 0 or W.ibn[ws] >= IB_ENTRIES or W.fetch[ws] >= W.end[ws] or W.launch[ws] > c:
                continue
            key = W.age[ws] if youngest else -W.age[ws]
            if key > fa:
                fa = key
                fw = ws
    if fw >= 0 and not K.p[P_IPERFECT]:
        t = _iline(K, S, T, L, c, sc, sm, K.st[K.inst_static[W.fetch[fw]], S_ILINE], np.bool_(True))
        if t > c:
            # the preferred warp waits for its line: fetch for another warp whose line is there
            if t < sc_min:
                sc_min = t
            pref = fw
            fw = -1
            fa = -NEVER
            for slot in range(sub, wslots, n_sub):
                ws = sm * wslots + slot
                if ws == pref or W.trace[ws] < 0 or W.ibn[ws] >= IB_ENTRIES or W.fetch[ws] >= W.end[ws] \
                        or W.launch[ws] > c:
                    continue
                t2 = _iline(K, S, T, L, c, sc, sm, K.st[K.inst_static[W.fetch[ws]], S_ILINE], np.bool_(False))
                if t2 > c:
                    if t2 < sc_min:
                        sc_min = t2
                    continue
                key = W.age[ws] if youngest else -W.age[ws]
                if key > fa:
                    fa = key
                    fw = ws
    if fw < 0:
        return False, sc_min
    k = (W.ibh[fw] + W.ibn[fw]) % 3
    W.ibt[fw, k] = c + 2
    W.ibn[fw] += 1
    W.fetch[fw] += 1
    if W.wake[fw] > c + 2:
        W.wake[fw] = c + 2
    if c + 2 < sc_min:
        sc_min = c + 2
    return True, sc_min

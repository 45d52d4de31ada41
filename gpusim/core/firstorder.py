"""First-order SM timing model: in-order warps, register scoreboard, one issue per sub-core per cycle.

Single responsibility: simulate one kernel's dynamic warp streams on N SMs and fill the
counter vector.  This is the *interim* model of the foundation issue, documented in the
README as such; the control-bit SM model of modern-gpu-cores.md replaces it.  What it does:

* CTA dispatch: each SM holds at most ``CTAS_PER_SM`` CTAs (occupancy computed in Python from
  warps, threads, CTAs, registers and shared memory per SM); CTAs go to SMs round-robin at
  kernel start, and a finished CTA's slot takes the next CTA at once (kernel launch latency
  is added outside, in Python).
* Sub-cores: an SM warp slot ``s`` belongs to sub-core ``s % SUBCORES``
  (modern-gpu-cores.md §7); each sub-core issues at most one warp instruction per cycle,
  chosen by CGGTY (greedy, else youngest), GTO (greedy, else oldest) or LRR.
* Dependences: a per-warp register scoreboard (RAW and WAW) with the per-static latency
  computed in Python from the pipe config (``st_lat``); a per-sub-core unit is busy for
  the initiation interval ``st_ii`` after an issue.  No control bits yet.
* Memory: a fixed latency per space (in ``st_lat``) plus one GPU-wide DRAM bandwidth limit
  for global/local sectors: a request's data arrives no earlier than the DRAM channel can
  deliver its sectors.  No caches, no coalescing beyond 32-byte sectors.
* ``BAR.SYNC``: a warp waits until every live warp of its CTA has arrived.

Contract: all arrays have the dtypes built by ``gpusim.assemble``; nothing is allocated in
the cycle loop; integer cycles; deterministic.  Returns a status code (layout.STATUS_*).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# parameter slots (mirrors gpusim.core.layout.Param; numba needs plain ints)
P_NUM_SM = 0
P_SUBCORES = 1
P_CTAS_PER_SM = 2
P_WARPS_PER_CTA = 3
P_POLICY = 4
P_MAX_CYCLES = 5
P_DRAM_MBPC = 6
P_SECTOR = 7
P_IDLE_SKIP = 8
P_NUM_UNITS = 9

C_CYCLES = 0
C_WARP_INSTS = 1
C_THREAD_INSTS = 2
C_CTAS = 3
C_WARPS = 4
C_ACTIVE_WARP_CYCLES = 5
C_ISSUE_SLOTS = 6
C_STALL_DEP = 7
C_STALL_PIPE = 8
C_STALL_BAR = 9
C_NOT_SELECTED = 10
C_SELECTED = 11
C_GLOBAL_SECTORS = 12
C_SHARED = 13
C_DRAM_BYTES = 14
C_SKIPPED = 15
C_UNIT_BASE = 16

F_EXIT = 1
F_BARRIER = 2
F_GLOBAL = 4
F_SHARED = 8

POL_CGGTY = 0
POL_GTO = 1
POL_LRR = 2

NEVER = np.int64(1) << np.int64(62)


@njit(cache=True)
def count_sectors(inst_static, inst_mask, inst_mem, st_width, mem_mode, mem_base, mem_stride, mem_ptr, lane_off,
                  sector_bytes):
    """Distinct ``sector_bytes`` sectors touched by each dynamic memory instruction (0 for others).

    Contract: lane ``k`` of a base+stride row accesses ``base + k*stride``; a list row its
    offsets from ``base``; each lane touches ``[addr, addr + width)``.  Runs once per kernel
    before the cycle loop (it may allocate).
    """
    n = inst_static.size
    out = np.zeros(n, np.int32)
    buf = np.empty(32 * 8, np.int64)
    sb = np.int64(sector_bytes)
    for i in range(n):
        m = inst_mem[i]
        if m < 0:
            continue
        w = np.int64(st_width[inst_static[i]])
        if w <= 0:
            w = 4
        mask = np.uint32(inst_mask[i])
        nact = 0
        while mask:
            mask &= mask - np.uint32(1)
            nact += 1
        cnt = 0
        base = np.int64(mem_base[m] & np.uint64(0x3FFFFFFFFFFFFFFF))
        for k in range(nact):
            if mem_mode[m] == 1:
                a = base + k * mem_stride[m]
            else:
                p = mem_ptr[m] + k
                if p >= mem_ptr[m + 1]:
                    break
                a = base + lane_off[p]
            s0 = a // sb
            s1 = (a + w - 1) // sb
            s = s0
            while s <= s1 and cnt < buf.size:
                dup = False
                for q in range(cnt):
                    if buf[q] == s:
                        dup = True
                        break
                if not dup:
                    buf[cnt] = s
                    cnt += 1
                s += 1
        out[i] = cnt
    return out


@njit(cache=True)
def run_kernel(p, st_unit, st_lat, st_ii, st_dst, st_src, st_flags, cta_warp_ptr, warp_inst_ptr, inst_static,
               inst_mask, inst_sectors, counters):
    """Simulate one kernel to completion.  Returns (status, kernel_cycles).

    Contract: ``counters`` (int64, layout.Counter.SIZE) is incremented, never reset here.
    """
    n_sm = p[P_NUM_SM]
    n_sub = p[P_SUBCORES]
    cps = p[P_CTAS_PER_SM]
    wpc = p[P_WARPS_PER_CTA]
    policy = p[P_POLICY]
    max_cycles = p[P_MAX_CYCLES]
    dram_mbpc = p[P_DRAM_MBPC]
    sector = p[P_SECTOR]
    idle_skip = p[P_IDLE_SKIP]
    n_units = p[P_NUM_UNITS]
    n_cta = cta_warp_ptr.size - 1
    if cps <= 0:
        return 2, 0
    wslots = cps * wpc                     # warp slots per SM
    nw = n_sm * wslots
    # ---- state (allocated once per kernel, before the loop)
    w_trace = np.full(nw, -1, np.int64)    # trace warp index, -1 = free slot
    w_pc = np.zeros(nw, np.int64)          # next dynamic instruction
    w_end = np.zeros(nw, np.int64)
    w_age = np.zeros(nw, np.int64)         # launch order (smaller = older)
    w_bar = np.zeros(nw, np.uint8)
    reg_ready = np.zeros((nw, 256), np.int64)
    unit_free = np.zeros((n_sm, n_sub, n_units), np.int64)
    last_issued = np.full((n_sm, n_sub), -1, np.int64)
    c_live = np.zeros(n_sm * cps, np.int64)    # live warps per CTA slot
    c_bar = np.zeros(n_sm * cps, np.int64)     # warps waiting at the barrier
    next_cta = 0
    age = 0
    dram_free_milli = np.int64(0)              # DRAM channel free time in 1/1000 cycle
    cycle = np.int64(0)
    live_warps = 0
    # ---- initial dispatch: round-robin over SMs, one CTA slot at a time
    for slot in range(cps):
        for sm in range(n_sm):
            if next_cta >= n_cta:
                break
            cs = sm * cps + slot
            nwarp = cta_warp_ptr[next_cta + 1] - cta_warp_ptr[next_cta]
            for k in range(nwarp):
                tw = cta_warp_ptr[next_cta] + k
                ws = sm * wslots + slot * wpc + k
                if warp_inst_ptr[tw] < warp_inst_ptr[tw + 1]:
                    w_trace[ws] = tw
                    w_pc[ws] = warp_inst_ptr[tw]
                    w_end[ws] = warp_inst_ptr[tw + 1]
                    w_age[ws] = age
                    age += 1
                    c_live[cs] += 1
                    live_warps += 1
                    counters[C_WARPS] += 1
            counters[C_CTAS] += 1
            next_cta += 1
    while live_warps > 0:
        if cycle >= max_cycles:
            counters[C_CYCLES] += cycle
            return 1, cycle
        issued_any = False
        counters[C_ACTIVE_WARP_CYCLES] += live_warps
        counters[C_ISSUE_SLOTS] += n_sm * n_sub
        for sm in range(n_sm):
            for sub in range(n_sub):
                # pick a warp: scan the sub-core's slots, classify each
                best = -1
                best_key = NEVER
                greedy = last_issued[sm, sub]
                n_ready = 0
                for s in range(sub, wslots, n_sub):
                    ws = sm * wslots + s
                    if w_trace[ws] < 0:
                        continue
                    if w_bar[ws]:
                        counters[C_STALL_BAR] += 1
                        continue
                    st = inst_static[w_pc[ws]]
                    ok = True
                    for r in range(4):
                        rg = st_src[st, r]
                        if rg >= 0 and rg != 255 and reg_ready[ws, rg] > cycle:
                            ok = False
                        rg = st_dst[st, r]
                        if rg >= 0 and rg != 255 and reg_ready[ws, rg] > cycle:
                            ok = False
                    if not ok:
                        counters[C_STALL_DEP] += 1
                        continue
                    if unit_free[sm, sub, st_unit[st]] > cycle:
                        counters[C_STALL_PIPE] += 1
                        continue
                    n_ready += 1
                    if ws == greedy and policy != POL_LRR:
                        key = -NEVER
                    elif policy == POL_CGGTY:
                        key = -w_age[ws]
                    elif policy == POL_GTO:
                        key = w_age[ws]
                    else:  # LRR: distance after the last issued slot
                        base = greedy - sm * wslots if greedy >= 0 else -1
                        key = (s - base - 1) % wslots
                    if key < best_key:
                        best_key = key
                        best = ws
                if best < 0:
                    continue
                counters[C_SELECTED] += 1
                counters[C_NOT_SELECTED] += n_ready - 1
                issued_any = True
                ws = best
                last_issued[sm, sub] = ws
                i = w_pc[ws]
                st = inst_static[i]
                u = st_unit[st]
                lat = np.int64(st_lat[st])
                unit_free[sm, sub, u] = cycle + st_ii[st]
                counters[C_WARP_INSTS] += 1
                counters[C_UNIT_BASE + u] += 1
                m = np.uint32(inst_mask[i])
                pc_ = 0
                while m:
                    m &= m - np.uint32(1)
                    pc_ += 1
                counters[C_THREAD_INSTS] += pc_
                fl = st_flags[st]
                if fl & F_GLOBAL:
                    nsec = np.int64(inst_sectors[i])
                    counters[C_GLOBAL_SECTORS] += nsec
                    if nsec > 0 and dram_mbpc > 0:
                        nbytes = nsec * sector
                        counters[C_DRAM_BYTES] += nbytes
                        start = cycle * 1000
                        if dram_free_milli > start:
                            start = dram_free_milli
                        dram_free_milli = start + (nbytes * 1000000) // dram_mbpc
                        done = (dram_free_milli + 999) // 1000
                        if done - cycle > 0:
                            lat = lat + (done - cycle)
                if fl & F_SHARED:
                    counters[C_SHARED] += 1
                for r in range(4):
                    rg = st_dst[st, r]
                    if rg >= 0 and rg != 255:
                        reg_ready[ws, rg] = cycle + lat
                w_pc[ws] = i + 1
                slot_cta = (ws - sm * wslots) // wpc
                cs = sm * cps + slot_cta
                if fl & F_BARRIER:
                    w_bar[ws] = 1
                    c_bar[cs] += 1
                if w_pc[ws] >= w_end[ws]:
                    # warp finished
                    w_trace[ws] = -1
                    if w_bar[ws]:
                        w_bar[ws] = 0
                        c_bar[cs] -= 1
                    c_live[cs] -= 1
                    live_warps -= 1
                    for r in range(256):
                        reg_ready[ws, r] = 0
                    if c_live[cs] == 0:
                        # CTA done: launch the next CTA into this slot
                        c_bar[cs] = 0
                        if next_cta < n_cta:
                            nwarp = cta_warp_ptr[next_cta + 1] - cta_warp_ptr[next_cta]
                            for k in range(nwarp):
                                tw = cta_warp_ptr[next_cta] + k
                                ws2 = sm * wslots + slot_cta * wpc + k
                                if warp_inst_ptr[tw] < warp_inst_ptr[tw + 1]:
                                    w_trace[ws2] = tw
                                    w_pc[ws2] = warp_inst_ptr[tw]
                                    w_end[ws2] = warp_inst_ptr[tw + 1]
                                    w_age[ws2] = age
                                    age += 1
                                    c_live[cs] += 1
                                    live_warps += 1
                                    counters[C_WARPS] += 1
                            counters[C_CTAS] += 1
                            next_cta += 1
                if c_live[cs] > 0 and c_bar[cs] == c_live[cs]:
                    # every live warp of the CTA has arrived: release the barrier
                    for k in range(wpc):
                        w_bar[sm * wslots + slot_cta * wpc + k] = 0
                    c_bar[cs] = 0
        cycle += 1
        if not issued_any and idle_skip and live_warps > 0:
            # jump to the first cycle at which some warp could issue
            nxt = NEVER
            for ws in range(nw):
                if w_trace[ws] < 0 or w_bar[ws]:
                    continue
                sm = ws // wslots
                sub = (ws - sm * wslots) % n_sub
                st = inst_static[w_pc[ws]]
                t = unit_free[sm, sub, st_unit[st]]
                for r in range(4):
                    rg = st_src[st, r]
                    if rg >= 0 and rg != 255 and reg_ready[ws, rg] > t:
                        t = reg_ready[ws, rg]
                    rg = st_dst[st, r]
                    if rg >= 0 and rg != 255 and reg_ready[ws, rg] > t:
                        t = reg_ready[ws, rg]
                if t < nxt:
                    nxt = t
            if nxt > cycle and nxt < NEVER:
                skip = nxt - cycle
                # account the skipped cycles exactly as if they had been simulated
                counters[C_SKIPPED] += skip
                counters[C_ACTIVE_WARP_CYCLES] += live_warps * skip
                counters[C_ISSUE_SLOTS] += n_sm * n_sub * skip
                for ws in range(nw):
                    if w_trace[ws] < 0:
                        continue
                    if w_bar[ws]:
                        counters[C_STALL_BAR] += skip
                        continue
                    sm = ws // wslots
                    sub = (ws - sm * wslots) % n_sub
                    st = inst_static[w_pc[ws]]
                    # readiness is monotone in time: the warp is dependency-stalled until
                    # dep_ready, then (if still not issuable) pipe-stalled until nxt
                    dep_ready = cycle
                    for r in range(4):
                        rg = st_src[st, r]
                        if rg >= 0 and rg != 255 and reg_ready[ws, rg] > dep_ready:
                            dep_ready = reg_ready[ws, rg]
                        rg = st_dst[st, r]
                        if rg >= 0 and rg != 255 and reg_ready[ws, rg] > dep_ready:
                            dep_ready = reg_ready[ws, rg]
                    dep = min(dep_ready, nxt) - cycle
                    counters[C_STALL_DEP] += dep
                    counters[C_STALL_PIPE] += skip - dep
                cycle = nxt
    # the kernel is not over before the DRAM channel has written the last stores back
    drain = (dram_free_milli + 999) // 1000
    if drain > cycle:
        counters[C_SKIPPED] += drain - cycle
        counters[C_ISSUE_SLOTS] += n_sm * n_sub * (drain - cycle)
        cycle = drain
    counters[C_CYCLES] += cycle
    return 0, cycle

"""The sub-core memory unit and the SM-shared memory unit, in front of ``gpusim.core.memsys``.

Hardware rules (MGC §6.2-6.3 and §1.6, the MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores"): a
4-entry queue plus latch per sub-core; the address registers are read ``read_delay`` cycles after
issue at the earliest, then the address unit is busy 4 cycles (2 for shared or uniform addresses);
the SM-shared unit accepts one instruction per 2 cycles from all sub-cores and moves
``l1_bytes_per_cycle``; bank conflicts replay shared accesses; load data returns at 512 bits per cycle
(shared: 1024).  Global, local and texture accesses go through ``gpusim.core.memsys`` (L1, L2, DRAM)
at the end of the epoch that issued them (``_resolve``), in issue order; their results lie beyond it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.core import memsys as msys
from gpusim.core.slots import *  # noqa: F401,F403
from gpusim.core.regfile import _read_all_banks
from gpusim.core.scoreboard import _patch
from gpusim.core.sync import _mb_wake


@njit(cache=True, _nrt=False, inline="always")
def _mem_data(K, s, fl, t):
    """Cycle a global access's data is in the register file, from the cycle ``t`` the memory system
    delivers it: 512 bits per cycle (MGC §6.3); an LDGSTS completes its copy P_LDGSTS_EXTRA later, a
    TMA copy lands in shared memory P_TMA_EXTRA later."""
    if fl & F_LDGSTS:
        return t + K.p[P_LDGSTS_EXTRA]
    if fl & F_TMA:
        return t + K.p[P_TMA_EXTRA]
    t += 2 * (K.st[s, S_MEM_REGS] - 1)
    if fl & F_UNIFORM_ADDR:
        # l1_hit_latency is a regular-address measurement (HW094); a uniform address returns the data
        # P_LD_REG_EXTRA earlier beyond its shorter address calculation (MGC §6.3 Table 2: 29 vs 32)
        t -= K.p[P_LD_REG_EXTRA]
    return t


@njit(cache=True, _nrt=False, inline="always")
def _sl_bucket(T, sm, b):
    """Ring slot of absolute ledger bucket ``b`` of SM ``sm``, emptied when it last held another bucket."""
    k = b % T.sl_tag.shape[1]
    if T.sl_tag[sm, k] != b:
        T.sl_tag[sm, k] = b
        T.sl_gm[sm, k] = 0
        T.sl_mio[sm, k] = 0
    return k


@njit(cache=True, _nrt=False)
def _sl_fill(K, T, sm, t, nbytes):
    """Book ``nbytes`` of LDS/STS/TMA data on the SM's shared-memory data path from cycle ``t`` on, as fast
    as the path allows (``P_L1_BPC`` bytes per cycle less what warpgroup-MMA operand reads and earlier
    accesses hold in each ``SL_BUCKET``-cycle bucket).  Returns the cycle after its last byte moves:
    ``t + nbytes / P_L1_BPC`` when nothing else holds the path."""
    bpc = K.p[P_L1_BPC]
    cap = SL_BUCKET * bpc
    b = t // SL_BUCKET
    rem = nbytes
    end = t + (nbytes + bpc - 1) // bpc
    lim = ((b + 1) * SL_BUCKET - t) * bpc   # what the first bucket has left after t
    squeezed = False
    while rem > 0:
        k = _sl_bucket(T, sm, b)
        room = cap - T.sl_gm[sm, k] - T.sl_mio[sm, k]
        if room > lim:
            room = lim
        if room < lim and room < rem:
            squeezed = True                  # other traffic holds part of the bucket this access needed
        if room > 0:
            take = rem if rem < room else room
            T.sl_mio[sm, k] += take
            rem -= take
            if rem == 0 and squeezed:
                e = b * SL_BUCKET + (T.sl_gm[sm, k] + T.sl_mio[sm, k] + bpc - 1) // bpc
                if e > end:
                    end = e
        b += 1
        lim = cap
    return end


@njit(cache=True, _nrt=False)
def _sl_gmma(K, T, sm, t0, ii, nbytes):
    """Book the shared-memory operand reads of a warpgroup MMA's quarter that holds the tensor pipe from
    ``t0`` for ``ii`` cycles: its ``nbytes`` are read evenly over that window, and what a bucket cannot take
    (the data path moves ``P_L1_BPC`` bytes per cycle, shared with LDS/STS/TMA data and the other
    sub-cores' MMAs) moves to the next.  Returns the cycle after its last byte is read: ``t0 + ii`` unless
    the path was short of bandwidth."""
    bpc = K.p[P_L1_BPC]
    cap = SL_BUCKET * bpc
    t1 = t0 + ii
    b = t0 // SL_BUCKET
    done = 0       # bytes due by the end of this bucket (even schedule over the window)
    carry = 0      # bytes due and not yet read
    end = t1
    late = False
    while True:
        hi = (b + 1) * SL_BUCKET
        if hi > t1:
            hi = t1
        if hi > t0:
            cum = nbytes * (hi - t0) // ii
            carry += cum - done
            done = cum
        if carry > 0:
            k = _sl_bucket(T, sm, b)
            room = cap - T.sl_gm[sm, k] - T.sl_mio[sm, k]
            if room > 0:
                take = carry if carry < room else room
                T.sl_gm[sm, k] += take
                carry -= take
            if carry > 0:
                late = True                  # the rest waits for the next bucket
            else:
                if late and done == nbytes:
                    e = b * SL_BUCKET + (T.sl_gm[sm, k] + T.sl_mio[sm, k] + bpc - 1) // bpc
                    if e > end:
                        end = e
                late = False
        if carry == 0 and done == nbytes:
            return end
        b += 1


@njit(cache=True, _nrt=False, inline="always")
def _push_req(L, c, ws, i, leave, flags, data, mb, prev):
    """Buffer a request of the SM for the epoch end; returns its index."""
    k = L.sg[SG_NREQ]
    L.rq[k, Q_CYCLE] = c
    L.rq[k, Q_WS] = ws
    L.rq[k, Q_INST] = i
    L.rq[k, Q_LEAVE] = leave
    L.rq[k, Q_FLAGS] = flags
    L.rq[k, Q_DATA] = data
    L.rq[k, Q_MB] = mb
    L.rq[k, Q_PREV] = prev
    L.rq[k, Q_RES] = 0
    L.sg[SG_NREQ] = k + 1
    return k


@njit(cache=True, _nrt=False, inline="always")
def _issue_mem(K, W, S, T, L, c, ws, sc, sm, i, s, fl):
    """A memory instruction enters the sub-core memory unit and the SM-shared unit (MGC §6.2, §1.6, §6.3):
    its address registers are read ``P_READ_DELAY`` cycles after issue at the earliest (a port on every
    bank), the address unit is busy ``P_ADDR_REG`` cycles (``P_ADDR_UNI`` for shared or uniform
    addresses), the SM-shared unit takes one instruction per ``P_SM_INTERVAL`` cycles (a bank conflict
    replays it) and moves ``P_L1_BPC`` bytes per cycle.  Shared and constant results are due at their
    configured latency; a global access with cache lines is buffered for the epoch end (``_resolve``).
    Returns (write-back, source-read, is_long, defer flags Q_*, cycle it leaves for the SM-shared unit)."""
    L.counters[C_MEM_INSTS] += 1
    is_long = 0
    defer = 0
    sp = K.inst_space[i]
    is_dsm = sp == SP_DSM
    is_shared = sp == 2 or is_dsm
    is_gmem = sp == 1 or sp == 3 or sp == 6
    addr = K.p[P_ADDR_UNI] if ((fl & F_UNIFORM_ADDR) or is_shared) else K.p[P_ADDR_REG]
    r = c + K.p[P_READ_DELAY]
    if S.addr_free[sc] > r:
        r = S.addr_free[sc]
    # variable-latency reads need a free port on every bank (fixed-latency reads have priority)
    r = _read_all_banks(K, S, sc, r)
    S.addr_free[sc] = r + addr
    leave = r + addr
    if T.shared_next[sm] > leave:
        leave = T.shared_next[sm]
    replays = 0
    ways = 1
    if is_shared:
        m2 = np.uint32(K.inst_mask[i])
        nact = 0
        while m2:
            m2 &= m2 - np.uint32(1)
            nact += 1
        # an instruction with no active lane (``@!PT LDS RZ, [RZ]``, which ptxas puts before LDGSTS on
        # sm_80..sm_89) is issued and takes its queue entry, address slot and SM-shared dispatch interval,
        # but accesses no bank: the MICRO'25 authors' simulator sends it down the SM-shared unit's
        # miscellaneous path instead of the shared-memory pipeline (upc-arco modern-gpu-simulator-micro-2025,
        # read at dzwduan fork 117f9dc, remodeling/ldst_unit_sm.cc PendingRequestTable::get_next_processed_access:
        # active_count() == 0 -> miscellaneous_space; Accel-Sim's ldst_unit::shared_cycle returns at once too)
        ways = 0 if nact == 0 else (K.inst_units[i] if K.inst_units[i] > 0 else 1)
        L.counters[C_SHARED_WAVEFRONTS] += ways
        # wavefronts the access width needs anyway (128 B each); the rest are bank conflicts
        base_w = (nact * 4 * K.st[s, S_MEM_REGS] + 127) // 128
        if base_w < 1:
            base_w = 1
        if ways > base_w:
            replays = ways - base_w
        L.counters[C_SHARED_REPLAYS] += replays
    # the SM-shared unit takes one instruction per interval, a bank conflict replays it (§6.2), and
    # its data path moves l1_bytes_per_cycle: a 128-bit access of 32 lanes holds it 4 cycles
    occ = K.p[P_SM_INTERVAL] * (1 + replays)
    if is_shared:
        data_cycles = (ways * 128 + K.p[P_L1_BPC] - 1) // K.p[P_L1_BPC]
    elif is_gmem:
        # (a TMA copy's bytes are charged here, at issue, as the shared-memory write they become)
        data_cycles = (K.inst_units[i] * 32 + K.p[P_L1_BPC] - 1) // K.p[P_L1_BPC]
    else:
        data_cycles = 0
    if data_cycles > occ:
        occ = data_cycles
    stretch = 0
    if K.p[P_GMMA_SMEM] and data_cycles > 0:
        # the data path is shared with warpgroup-MMA operand reads (``_sl_gmma``): the access's data moves
        # at what they leave of P_L1_BPC (configs/README.md, "Warpgroup MMA")
        f = _sl_fill(K, T, sm, leave, data_cycles * K.p[P_L1_BPC])
        stretch = f - (leave + data_cycles)
        if f - leave > occ:
            occ = f - leave
    T.shared_next[sm] = leave + occ
    # queue ring of leave cycles
    if S.mq_n[sc] < MQ_RING:
        S.mq_leave[sc, (S.mq_head[sc] + S.mq_n[sc]) % MQ_RING] = leave
        S.mq_n[sc] += 1
    # compact: drop entries that left before c
    kk = 0
    for k in range(S.mq_n[sc]):
        v = S.mq_leave[sc, (S.mq_head[sc] + k) % MQ_RING]
        if v >= c:
            S.mq_leave[sc, kk] = v
            kk += 1
    S.mq_head[sc] = 0
    S.mq_n[sc] = kk
    nregs = K.st[s, S_MEM_REGS]
    # WAR (MGC §6.3, MICRO'25 Table 2): the read counter drops the cycle after the address calculation
    # ends (visible at war + 1): loads read_delay + addr + 1 after issue, 11 regular global, 9 uniform or
    # shared.  A store then reads its data, 2 cycles per register (a warp's register is 1024 bits, read
    # at 512 bits per cycle like the return path, MGC §6.3), its counter dropping with the last cycle of
    # that read; with a regular-register address it reads P_ST_REG_EXTRA cycles later (Table 2: STG
    # 14/16/20, STS 12/14/18 regular; STG and STS 10/12/16 uniform).
    war = r + addr
    if fl & F_STORE:
        war += 2 * nregs - 1
        if (fl & F_UNIFORM_ADDR) == 0:
            war += K.p[P_ST_REG_EXTRA]
    if is_shared:
        L.counters[C_SHARED_INSTS] += 1
        # shared data returns 2 registers per 2 cycles (MGC §6.3 Table 2: 24/24/26)
        # (the shared path computes addresses in 2 cycles: its fixed part is read delay + 2 + 1)
        # a peer CTA's shared memory (distributed shared memory) answers over the SM-to-SM network
        lat = K.p[P_DSM_LAT] if is_dsm else K.st[s, S_LAT]
        if is_dsm:
            is_long = 1
        data = leave + K.p[P_SM_INTERVAL] * replays + lat - (K.p[P_READ_DELAY] + K.p[P_ADDR_UNI] + 1) \
            + 2 * ((nregs + 1) // 2 - 1) + stretch
        if (fl & F_UNIFORM_ADDR) and not is_dsm:
            # shared_latency is a regular-address measurement (HW098): a uniform address returns
            # P_LD_REG_EXTRA earlier (MGC §6.3 Table 2: 23 vs 24; MGC §6.4: the released simulator's
            # shared-memory latency is +1 with a regular-register address)
            data -= K.p[P_LD_REG_EXTRA]
    elif is_gmem:
        is_long = 1
        L.counters[C_GLOBAL_SECTORS] += K.inst_units[i]
        if fl & F_LDGSTS:
            L.counters[C_LDGSTS] += 1
        if K.acc_ptr[i + 1] > K.acc_ptr[i]:
            # the caches are shared state: the access is buffered and served at the epoch end
            # (``_resolve``, in issue order), its result lies beyond the epoch (P_EPOCH)
            defer = Q_ACCESS | Q_PATCH
            data = 0
        else:
            data = _mem_data(K, s, fl, leave)
    else:
        # constant (LDC): const_latency is HW099's immediate-address measurement, so the path it includes
        # is the uniform one (read delay + P_ADDR_UNI + 1); a register address takes the longer address
        # calculation (leave is later) and returns P_LD_REG_EXTRA later, like the other loads (Table 2:
        # LDC immediate 26; register 29 = 26 + 2 address cycles + 1)
        data = leave + K.st[s, S_LAT] - (K.p[P_READ_DELAY] + K.p[P_ADDR_UNI] + 1) + 2 * (nregs - 1)
        if (fl & F_UNIFORM_ADDR) == 0:
            data += K.p[P_LD_REG_EXTRA]
    if fl & F_LDGSTS:
        if defer:
            W.ldgsts_pend[ws] = 1
        elif data > W.ldgsts_done[ws]:
            W.ldgsts_done[ws] = data
    return data, war, is_long, defer, leave


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _resolve(K, W, S, T, Mem, counters, sm, k, t1):
    """Serve request k of SM ``sm`` buffered in the epoch ending at t1 (the work ``_issue`` would do at
    issue in a serial model).  Returns False if its result would have been due inside the epoch."""
    ws = T.req[sm, k, Q_WS]
    i = T.req[sm, k, Q_INST]
    fl_q = T.req[sm, k, Q_FLAGS]
    s = K.inst_static[i]
    fl = K.st[s, S_FLAGS]
    wb = np.int64(0)
    if fl_q & Q_ACCESS:
        kind = 0
        if fl & F_ATOMIC:
            kind = 2
        elif (fl & F_STORE) and not (fl & F_LOAD):
            kind = 1
        t = msys.access(Mem.mp, Mem.ms, sm, T.req[sm, k, Q_LEAVE], kind, (fl & F_BYPASS_L1) != 0, K.acc_ptr, K.acc_line, K.acc_mask,
                        i, Mem.l1_tag, Mem.l1_rdy, Mem.l1_lru, Mem.l2_tag, Mem.l2_rdy, Mem.l2_dirty, Mem.l2_lru, counters, C_MEM_BASE, Mem.mshr)
        wb = _mem_data(K, s, fl, t)
        if fl & F_LDGSTS:
            if wb > W.ldgsts_done[ws]:
                W.ldgsts_done[ws] = wb
            if wb > W.ldgsts_acc[ws]:
                W.ldgsts_acc[ws] = wb
    if fl_q & Q_MBAR:
        # the TMA copy's phase completes when its data has landed (and every earlier copy charged to it)
        if wb < t1:
            return False
        rows = T.req.shape[1]
        prev = T.req[sm, k, Q_PREV]
        if prev > NEVER:
            prev = T.req[sm, prev - MB_PEND - sm * rows, Q_RES]
        res = wb if wb > prev else prev
        T.req[sm, k, Q_RES] = res
        cell = T.req[sm, k, Q_MB]
        cs = cell // (NB * PH)
        b = (cell // PH) % NB
        ph = cell % PH
        if T.mb_done[cs, b, ph] == MB_PEND + sm * rows + k:
            T.mb_done[cs, b, ph] = res
            _mb_wake(K, W, S, T, cs, b)
    if (fl_q & Q_PATCH) == 0:
        return True
    if fl & F_LDGDEPBAR:
        # LDGSTS known at its issue, then those of this epoch issued before it (served already)
        wb = T.req[sm, k, Q_DATA]
        if W.ldgsts_acc[ws] > wb:
            wb = W.ldgsts_acc[ws]
    if wb + 1 < t1:
        return False
    if wb > T.smg[sm, SG_LAST_EVENT]:
        T.smg[sm, SG_LAST_EVENT] = wb
    _patch(K, W, S, ws, s, PENDING + sm * T.req.shape[1] + k, wb + 1, K.p[P_CTRL])
    return True

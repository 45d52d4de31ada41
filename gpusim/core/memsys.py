"""Memory hierarchy below the SM-shared unit: sectored L1 per SM, sliced L2 and DRAM channels.

Single responsibility: given a warp's coalesced access (lines and sector masks, from
``gpusim.core.coalesce``) and the cycle it enters the SM-shared unit, update the caches and
return the cycle its data reaches the SM.  Called from ``gpusim.core.sm`` at the end of the
epoch of the issue, for all SMs in issue order, which makes it deterministic; the result is
never due inside that epoch (``gpusim.assemble.epoch_cycles``), so this equals a call at issue.

Timing model (latencies are the configured load-to-use numbers; MGC §6.3, hw_ground_truth.csv):

* unloaded L1 hit: the data is back ``a1 = l1_hit - P`` cycles after the instruction enters the
  SM-shared unit, where ``P`` is the core's fixed part of the load path (read delay + address
  calculation + 1); L2 hit ``a2 = l2_hit - P``; DRAM ``a3 = dram - P``;
* a miss travels ``h = (a2 - a1) / 2`` cycles to its L2 slice, queues behind the slice's data
  bandwidth (``l2_slice_bytes_per_cycle``), hits, or misses to its DRAM channel, which delivers
  ``dram_bandwidth / dram_channels`` bytes per cycle after a fixed ``a3 - a2``; the reply takes
  ``a2 - h`` back to the SM;
* caches are sectored (32-byte sectors of 128-byte lines), LRU, allocate on load miss; each
  sector stores the cycle its data is (or will be) present, so a request for a sector still in
  flight waits for that fill instead of sending another request (MSHR merging);
* stores write through the L1 (updating present sectors, no allocation) into a write-back L2;
  dirty sectors go to DRAM when their line is evicted; atomics and reductions execute at the L2;
  ``.STRONG.GPU``/``.BYPASS``-style accesses skip the L1.

Contract: no allocation, integer cycles (bandwidths as milli-cycles per byte-count), state in
the arrays built by ``gpusim.assemble``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# memsys parameter slots ``mp``
M_L1_SETS = 0
M_L1_WAYS = 1
M_L2_SETS = 2
M_L2_WAYS = 3
M_SLICES = 4
M_CHANNELS = 5
M_A1 = 6
M_A2 = 7
M_A3 = 8
M_H = 9
M_SLICE_MILLI_PER_SECTOR = 10   # milli-cycles one sector occupies a slice's data path
M_CHAN_MILLI_PER_SECTOR = 11    # milli-cycles one sector occupies a DRAM channel
M_SECTOR = 12
M_HASH = 13                     # 0 xor, 1 linear
M_DRAM_MODEL = 14               # 0 simple, 1 banked
M_BANKS = 15
M_ROW_LINES = 16                # cache lines per DRAM row
M_TRCD = 17                     # banked-model timings in milli-cycles of the SM clock
M_TRP = 18
M_TRC = 19
M_TWTR = 20
M_MSHR = 21                     # L1 MSHR entries per SM
M_WRITE_ALLOC = 22              # 1: stores allocate in the L1
# hbm model (M_DRAM_MODEL == 2): timings in milli-cycles of the SM clock (M_TRCD, M_TRP above too)
M_BANK_GROUPS = 23
M_TRAS = 24
M_TRTP = 25
M_TCL = 26
M_TRRD_S = 27
M_TRRD_L = 28
M_TFAW = 29
M_TCCD_L = 30
M_TWTR_S = 31
M_TWTR_L = 32
M_TRTW = 33
M_TREFI = 34
M_TRFC = 35
M_REF_PER_BANK = 36             # 1: per-bank refresh (REFSB), 0: all-bank (REFAB)
M_WQ_SIZE = 37                  # write-queue entries per PC (bursts)
M_WQ_HIGH = 38                  # bursts that start a write drain
M_WQ_LOW = 39                   # a drain stops at this many bursts
M_CAP = 40                      # FR-FCFS row-hit cap
M_PC_BLOCK = 41                 # int64 words of one PC's state (hbm_state_words)
M_L1_REPL = 42                  # L1 replacement policy (ReplacementPolicy code: the ``stamp`` registry)
M_L2_REPL = 43                  # L2 replacement policy
M_WQ_REQ = 44                   # 1: the write-queue watermarks count entries (lines written back), 0: bursts
M_STATS = 45                    # hbm model: first word of the per-PC data-bus statistics in ms (0: none kept)
M_SIZE = 46

# hbm model state of one pseudo-channel (after the slices' and channels' free times): a header, then per
# bank group the column-command and activate times, the write queue (lines, bursts), then per bank a
# header and a history of the last HBM_ROWS rows it opened (FR-FCFS: a request that arrived while a
# row was still open is served as a hit of that row, up to the cap)
P_LASTW = 0                     # 1: the last data on the bus were write data
P_WEND = 1                      # end of the last write data
P_WBG = 2                       # bank group of the last write
P_ACT = 3                       # next activate slot (tRRD_S)
P_FAW = 4                       # 4 slots: the last four activates (tFAW), ring
P_FAWI = 8
P_REF = 9                       # next all-bank refresh due
P_WQN = 10                      # bursts in the write queue
P_WQH = 11                      # oldest write-queue entry
P_WQC = 12                      # write-queue entries
P_HDR = 13
B_FREE = 0                      # the bank may activate from here (refresh)
B_LASTCOL = 1                   # end of the bank's last data transfer
B_CLOSED = 2                    # rows activated before this time were closed by a refresh
B_REF = 3                       # next per-bank refresh due (less the bank's stagger)
B_OPEN = 4                      # history slot of the open row + 1 (0: none)
B_NEXT = 5                      # history slot the next activate takes
B_HIST = 6                      # HBM_ROWS x (row + 1, activate time, precharge time, column accesses)
HBM_ROWS = 4                    # rows remembered per bank: more than the rows a bank has queued in a stream
B_SIZE = B_HIST + 4 * HBM_ROWS
NEVER_T = np.int64(1) << 62

# optional per-PC statistics of the hbm model (diagnostics: benchmarks/hbm_stream_breakdown.py), in
# milli-cycles of the data bus unless counted: read and write data, the bus idle with nothing queued,
# the read-to-write (tRTW) and write-to-read (tWTR + tCL) bubbles, all-bank refreshes, then counts
S_READ = 0
S_WRITE = 1
S_IDLE = 2
S_RTW = 3
S_WTR = 4
S_REFRESH = 5
S_DRAINS = 6                    # write drains
S_ACT_READ = 7                  # activates of reads
S_ACT_WRITE = 8                 # activates of drained writes
S_SIZE = 9


def hbm_state_words(banks: int, bank_groups: int, wq_entries: int) -> int:
    """int64 words of one pseudo-channel's hbm-model state (the write-queue ring has 4 spare slots)."""
    return P_HDR + 2 * bank_groups + 2 * (wq_entries + 4) + banks * B_SIZE

# memsys dynamic state ``ms`` (int64): the LRU clock, free times of slices and channels (milli-cycles),
# then (banked model) per channel and bank the open row and the bank's next activate time, and per
# channel whether the last transfer was a write
MS_CLOCK = 0
MS_BASE = 1                     # then slices, then channels, then banks (row, ready), then channels (last write)

# counters written by the memory system (slots in gpusim.core.sm's counter vector)
K_L1_LD_SECTORS = 0
K_L1_LD_HITS = 1
K_L1_ST_SECTORS = 2
K_L1_MERGED = 3
K_L2_RD_SECTORS = 4
K_L2_RD_HITS = 5
K_L2_WR_SECTORS = 6
K_DRAM_RD_BYTES = 7
K_DRAM_WR_BYTES = 8
K_L2_ATOM_SECTORS = 9
K_MSHR_STALL = 10               # cycles L1 misses waited for a free MSHR
K_SIZE = 11


@njit(cache=True, _nrt=False)
def _slice_of(mp, line):
    n = mp[M_SLICES]
    if mp[M_HASH] == 1:
        return line % n
    x = line ^ (line >> 7) ^ (line >> 13) ^ (line >> 19)
    return x % n


@njit(cache=True, _nrt=False)
def _channel_of(mp, line):
    n = mp[M_CHANNELS]
    if mp[M_HASH] == 1:
        return (line // mp[M_SLICES] if mp[M_SLICES] > 0 else line) % n
    x = (line >> 1) ^ (line >> 5) ^ (line >> 11) ^ (line >> 17)
    return x % n


@njit(cache=True, _nrt=False)
def _find(tag, row, ways, line):
    for w in range(ways):
        if tag[row, w] == line:
            return w
    return -1


@njit(cache=True, _nrt=False)
def _victim(tag, lru, row, ways):
    best = 0
    bl = lru[row, 0]
    for w in range(ways):
        if tag[row, w] < 0:
            return w
        if lru[row, w] < bl:
            bl = lru[row, w]
            best = w
    return best


# ---- cache replacement policies (memory.l1_replacement / l2_replacement) --------------------------
# A set's victim is an invalid way, else the valid way with the smallest stamp (_victim).  A policy
# decides when a line is stamped; adding one = one function below + one registry line in ``stamp`` +
# its name in gpusim.config.specs.ReplacementPolicy.


@njit(cache=True, _nrt=False, inline="always")
def _stats_row(mp, bus_slot):
    """First word in ms of the hbm statistics (S_*) of the pseudo-channel whose bus free time is ``bus_slot``
    (its channel index is the slot's offset past the slices' free times); only with M_STATS set."""
    return mp[M_STATS] + (bus_slot - MS_BASE - mp[M_SLICES]) * S_SIZE


@njit(cache=True, _nrt=False, inline="always")
def _stamp_lru(stamps, row, w, clock, fill):
    """LRU: every access (hit or fill) makes the line the youngest."""
    stamps[row, w] = clock


@njit(cache=True, _nrt=False, inline="always")
def _stamp_fifo(stamps, row, w, clock, fill):
    """FIFO: only a fill stamps; hits leave the line's age alone."""
    if fill:
        stamps[row, w] = clock


@njit(cache=True, _nrt=False, inline="always")
def stamp(policy, stamps, row, w, clock, fill):
    """The replacement-policy registry: one line per policy, keyed by its ReplacementPolicy code (the
    mp slot M_L1_REPL / M_L2_REPL).  ``fill``: the access brought the line in (else it hit)."""
    if policy == 1: _stamp_fifo(stamps, row, w, clock, fill); return  # noqa: E701,E702  FIFO
    # -- end of the replacement-policy registry (code 0, LRU, and anything the config enum lets through)
    _stamp_lru(stamps, row, w, clock, fill)


@njit(cache=True, _nrt=False)
def _dram(mp, ms, line, nsec, t, write):
    """Queue ``nsec`` sectors of ``line`` on its DRAM channel at cycle t; returns the cycle from which
    the configured DRAM latency (a closed-row access) counts.

    Simple model: the channel's data bus only.  HBM model: ``_dram_hbm``.  Banked model (FCFS per bank, open-row policy): a
    row hit skips the activate (tRCD earlier), a conflict first precharges (tRP later), a bank
    activates at most once per tRC, and a read after a write waits tWTR on the bus."""
    if mp[M_DRAM_MODEL] == 2:
        return _dram_hbm(mp, ms, line, nsec, t, write)
    ch = _channel_of(mp, line)
    nsl = mp[M_SLICES]
    nch = mp[M_CHANNELS]
    slot = MS_BASE + nsl + ch
    t0 = t * 1000
    if mp[M_DRAM_MODEL] == 0:
        if ms[slot] > t0:
            t0 = ms[slot]
        ms[slot] = t0 + nsec * mp[M_CHAN_MILLI_PER_SECTOR]
        return (t0 + 999) // 1000
    nb = mp[M_BANKS]
    # consecutive lines are spread over the channels; each channel's share of a row_bytes x channels
    # stretch of addresses sits in one row of one bank, so streams keep their row-buffer locality
    row = line // (mp[M_ROW_LINES] * nch)
    bank = (row ^ (row >> 4)) % nb
    rslot = MS_BASE + nsl + nch + ch * nb + bank
    aslot = rslot + nch * nb
    wslot = MS_BASE + nsl + nch + 2 * nch * nb + ch
    act = t0
    hit = ms[rslot] == row + 1          # rows are stored +1 so that 0 means "closed"
    col = act
    if not hit:
        if ms[aslot] > act:
            act = ms[aslot]
        col = act
        if ms[rslot] != 0:
            col = act + mp[M_TRP]        # precharge the open row first
        ms[aslot] = col + mp[M_TRC]
        ms[rslot] = row + 1
    bus = col
    if ms[slot] > bus:
        bus = ms[slot]
    if not write and ms[wslot] == 1:
        bus += mp[M_TWTR]
    ms[wslot] = 1 if write else 0
    ms[slot] = bus + nsec * mp[M_CHAN_MILLI_PER_SECTOR]
    start = (bus + 999) // 1000
    if hit:
        start -= mp[M_TRCD] // 1000
        if start < t:
            start = t
    return start


@njit(cache=True, _nrt=False)
def _hbm_refresh(mp, ms, base, bk, bus_slot, s):
    """Refreshes due by time ``s`` (milli-cycles; or by the end of the traffic already queued, if later)
    of the PC at ``base`` (all-bank) or of the bank at ``bk`` (per-bank).  A refresh is postponed until the PC (bank) is idle, as JEDEC allows; one that
    fits into an idle gap costs nothing, one that falls into traffic holds the PC's bus (all-bank) or
    the bank for tRFC after the traffic queued so far.  Either way the rows open before it are closed."""
    trefi = mp[M_TREFI]
    trfc = mp[M_TRFC]
    nb = mp[M_BANKS]
    per_bank = mp[M_REF_PER_BANK] == 1
    if per_bank:
        bank = (bk - base - mp[M_PC_BLOCK] + nb * B_SIZE) // B_SIZE
        lag = (bank * trefi) // nb          # banks refresh in turn, tREFI / banks apart
        due = ms[bk + B_REF] + lag
        idle = ms[bk + B_LASTCOL]
    else:
        due = ms[base + P_REF]
        idle = ms[bus_slot]
    if idle > s:
        s = idle                        # refreshes fall due while the queued traffic moves
    while due <= s:
        if idle + trfc <= s:
            # the missed refreshes ran in the idle time before s
            last = due + ((s - due) // trefi) * trefi
            r0 = last if last > idle else idle
            if r0 + trfc > s:
                r0 = s - trfc
            due = last + trefi
        else:
            r0 = due if due > idle else idle
            due += trefi
        r1 = r0 + trfc
        if per_bank:
            if ms[bk + B_CLOSED] < r0:
                ms[bk + B_CLOSED] = r0
            if ms[bk + B_FREE] < r1:
                ms[bk + B_FREE] = r1
            idle = r1 if r1 > idle else idle
            if idle > s:
                s = idle
        else:
            first = base + mp[M_PC_BLOCK] - nb * B_SIZE
            for b in range(nb):
                q = first + b * B_SIZE
                if ms[q + B_CLOSED] < r0:
                    ms[q + B_CLOSED] = r0
                if ms[q + B_FREE] < r1:
                    ms[q + B_FREE] = r1
            if ms[bus_slot] < r1:
                if mp[M_STATS]:
                    st = _stats_row(mp, bus_slot)
                    busy = ms[bus_slot] if ms[bus_slot] > r0 else r0
                    ms[st + S_IDLE] += busy - ms[bus_slot]
                    ms[st + S_REFRESH] += r1 - busy
                ms[bus_slot] = r1       # no data moves during an all-bank refresh
            idle = ms[bus_slot]
        if idle > s:
            s = idle
    if per_bank:
        ms[bk + B_REF] = due - (((bk - base - mp[M_PC_BLOCK] + nb * B_SIZE) // B_SIZE) * trefi) // nb
    else:
        ms[base + P_REF] = due


@njit(cache=True, _nrt=False)
def _hbm_access(mp, ms, base, bus_slot, line, nsec, t0, write):
    """One read (or drained write) of ``nsec`` bursts of ``line`` on its pseudo-channel from time ``t0``
    (milli-cycles).  Returns (end of its data, 1 if it needed an activate).

    Address mapping below the PC interleave (``_channel_of``, line granularity): a PC's lines fill a
    row's columns, consecutive rows go to the next bank group, then the next bank of the group, then
    the next row (RoBaBgCo; bank groups in the low bits as Accel-Sim's -dram_bnkgrp_indexing_policy 1,
    an estimate: NVIDIA's mapping is not public).  Resources are kept as the earliest time each is
    free: the PC's data bus (one burst per 32-byte sector), each bank group's column commands (tCCD_L),
    the activates (tRRD_S/L, tFAW) and each bank (tRAS, tRTP, tRP, tRCD), so requests of different
    bank groups and banks overlap as an interleaving controller lets them."""
    nch = mp[M_CHANNELS]
    nb = mp[M_BANKS]
    nbg = mp[M_BANK_GROUPS]
    per_g = nb // nbg
    local = line // nch
    j = local // mp[M_ROW_LINES]
    bg = j % nbg
    bank = bg * per_g + (j // nbg) % per_g
    row = j // nb
    bgc = base + P_HDR                  # bank groups: column free times
    bga = bgc + nbg                     # bank groups: next activate slot (tRRD_L)
    bk = base + mp[M_PC_BLOCK] - nb * B_SIZE + bank * B_SIZE
    _hbm_refresh(mp, ms, base, bk, bus_slot, t0)
    closed = ms[bk + B_CLOSED]
    openi = ms[bk + B_OPEN] - 1
    hit = -1
    for k in range(HBM_ROWS):
        e = bk + B_HIST + 4 * k
        if ms[e] == row + 1 and ms[e + 1] >= closed:
            if k == openi:
                hit = k
                break
            if t0 <= ms[e + 2] and ms[e + 3] < mp[M_CAP]:
                hit = k                 # queued before the row closed: FR-FCFS served it first
    if hit >= 0:
        e = bk + B_HIST + 4 * hit
        col = ms[e + 1] + mp[M_TRCD]
        if col < t0:
            col = t0
        ms[e + 3] += 1
        acted = 0
    else:
        a = t0
        if ms[bk + B_FREE] > a:
            a = ms[bk + B_FREE]
        if openi >= 0:
            o = bk + B_HIST + 4 * openi
            if ms[o + 1] >= closed:
                pre = ms[o + 1] + mp[M_TRAS]
                if ms[bk + B_LASTCOL] + mp[M_TRTP] > pre:
                    pre = ms[bk + B_LASTCOL] + mp[M_TRTP]
                ms[o + 2] = pre          # precharged as early as the bank allows
                if pre + mp[M_TRP] > a:
                    a = pre + mp[M_TRP]
        # activate slots (tRRD_S per PC, tRRD_L per bank group, four per tFAW), work-conserving like
        # the bus: an activate held up by its bank leaves its slot to other banks
        sl = ms[base + P_ACT] if ms[base + P_ACT] > t0 else t0
        ms[base + P_ACT] = sl + mp[M_TRRD_S]
        slg = ms[bga + bg] if ms[bga + bg] > t0 else t0
        ms[bga + bg] = slg + mp[M_TRRD_L]
        if slg > sl:
            sl = slg
        fi = base + P_FAW + ms[base + P_FAWI]
        if ms[fi] + mp[M_TFAW] > sl:
            sl = ms[fi] + mp[M_TFAW]
        ms[fi] = sl
        ms[base + P_FAWI] = (ms[base + P_FAWI] + 1) % 4
        if sl > a:
            a = sl
        nx = ms[bk + B_NEXT]
        e = bk + B_HIST + 4 * nx
        ms[e] = row + 1
        ms[e + 1] = a
        ms[e + 2] = NEVER_T
        ms[e + 3] = 1
        ms[bk + B_OPEN] = nx + 1
        ms[bk + B_NEXT] = (nx + 1) % HBM_ROWS
        col = a + mp[M_TRCD]
        acted = 1
    # the bus and the bank group's column slots are work-conserving queues in arrival order: a request
    # held up by its bank does not hold the bus, which moves other banks' data meanwhile (an FR-FCFS
    # controller issues whatever column command is ready); the request's data come after both its own
    # column-ready time and the work queued before it
    burst = mp[M_CHAN_MILLI_PER_SECTOR]
    b = ms[bus_slot]
    if t0 > b:
        b = t0
    b_free = b
    if not write and ms[base + P_LASTW] == 1:
        # write-to-read turnaround: the read command waits tWTR after the write data, its data tCL more
        wtr = mp[M_TWTR_L] if ms[base + P_WBG] == bg else mp[M_TWTR_S]
        if ms[base + P_WEND] + wtr + mp[M_TCL] > b:
            b = ms[base + P_WEND] + wtr + mp[M_TCL]
        ms[base + P_LASTW] = 0
    if mp[M_STATS]:
        st = _stats_row(mp, bus_slot)
        ms[st + S_IDLE] += b_free - ms[bus_slot]
        ms[st + S_WTR] += b - b_free
        ms[st + (S_WRITE if write else S_READ)] += nsec * burst
        ms[st + (S_ACT_WRITE if write else S_ACT_READ)] += acted
    bus_end = b + nsec * burst
    ms[bus_slot] = bus_end
    if col + nsec * burst > bus_end:
        bus_end = col + nsec * burst
    g = ms[bgc + bg]
    if t0 > g:
        g = t0
    ms[bgc + bg] = g + nsec * mp[M_TCCD_L]
    if col > g:
        g = col
    end = g + (nsec - 1) * mp[M_TCCD_L] + burst
    if bus_end > end:
        end = bus_end
    if end > ms[bk + B_LASTCOL]:
        ms[bk + B_LASTCOL] = end
    if write:
        ms[base + P_WBG] = bg
    return end, acted


@njit(cache=True, _nrt=False)
def _dram_hbm(mp, ms, line, nsec, t, write):
    """HBM model of ``_dram``.  Reads are scheduled at once; writes wait in the PC's write queue and are
    drained in a batch when it reaches the high watermark, down to the low one (gem5 MemCtrl's write
    thresholds; Accel-Sim's -dram_write_queue_size high:low), so read/write turnarounds are paid per
    batch: tRTW before the batch, tWTR + tCL before the next read.  The watermarks count bursts
    (ramulator2, gem5) or, with M_WQ_REQ, entries: one per line written back, whatever its dirty
    sectors (GPGPU-Sim's write queue holds one request per L2 write-back)."""
    nsl = mp[M_SLICES]
    nch = mp[M_CHANNELS]
    ch = _channel_of(mp, line)
    bus_slot = MS_BASE + nsl + ch
    base = MS_BASE + nsl + nch + ch * mp[M_PC_BLOCK]
    t0 = t * 1000
    if write:
        cap = mp[M_WQ_SIZE] + 4
        wql = base + P_HDR + 2 * mp[M_BANK_GROUPS]
        wqn = wql + cap
        k = (ms[base + P_WQH] + ms[base + P_WQC]) % cap
        ms[wql + k] = line
        ms[wqn + k] = nsec
        ms[base + P_WQC] += 1
        ms[base + P_WQN] += nsec
        fill = P_WQC if mp[M_WQ_REQ] == 1 else P_WQN
        if ms[base + fill] >= mp[M_WQ_HIGH]:
            if mp[M_STATS]:
                ms[_stats_row(mp, bus_slot) + S_DRAINS] += 1
            if ms[base + P_LASTW] == 0:
                b = ms[bus_slot] + mp[M_TRTW]     # read-to-write bubble after the last read data
                if mp[M_STATS]:
                    st = _stats_row(mp, bus_slot)
                    free = ms[bus_slot] if ms[bus_slot] > t0 else t0
                    ms[st + S_IDLE] += free - ms[bus_slot]
                    ms[st + S_RTW] += (b if b > t0 else t0) - free
                ms[bus_slot] = b if b > t0 else t0
            while ms[base + fill] > mp[M_WQ_LOW] and ms[base + P_WQC] > 0:
                h = ms[base + P_WQH]
                _hbm_access(mp, ms, base, bus_slot, ms[wql + h], ms[wqn + h], t0, np.bool_(True))
                ms[base + P_WQN] -= ms[wqn + h]
                ms[base + P_WQH] = (h + 1) % cap
                ms[base + P_WQC] -= 1
            ms[base + P_LASTW] = 1
            ms[base + P_WEND] = ms[bus_slot]    # the batch's write data end here on the bus
        return t
    end, acted = _hbm_access(mp, ms, base, bus_slot, line, nsec, t0, np.bool_(False))
    # the configured DRAM latency is that of an unloaded access that opens its row
    start = end - nsec * mp[M_CHAN_MILLI_PER_SECTOR] - mp[M_TRCD]
    if start < t0:
        start = t0
    return (start + 999) // 1000


@njit(cache=True, _nrt=False)
def _l2(mp, ms, l2_tag, l2_rdy, l2_dirty, l2_lru, line, smask, t_req, write, atomic, counters, kbase):
    """Serve sectors ``smask`` of ``line`` at its L2 slice; returns the cycle the data is ready at
    the slice (for reads) or the cycle the write is accepted."""
    sl = _slice_of(mp, line)
    nsec = 0
    mm = smask
    while mm:
        mm &= mm - 1
        nsec += 1
    slot = MS_BASE + sl
    t0 = t_req * 1000
    if ms[slot] > t0:
        t0 = ms[slot]
    ms[slot] = t0 + nsec * mp[M_SLICE_MILLI_PER_SECTOR]
    start = (t0 + 999) // 1000
    sets = mp[M_L2_SETS]
    ways = mp[M_L2_WAYS]
    row = sl * sets + (line // mp[M_SLICES]) % sets
    ms[MS_CLOCK] += 1
    w = _find(l2_tag, row, ways, line)
    fill = w < 0
    if fill:
        w = _victim(l2_tag, l2_lru, row, ways)
        if l2_tag[row, w] >= 0 and l2_dirty[row, w]:
            # write back the dirty sectors of the victim
            d = l2_dirty[row, w]
            nd = 0
            while d:
                d &= d - 1
                nd += 1
            _dram(mp, ms, l2_tag[row, w], np.int64(nd), start, np.bool_(True))
            counters[kbase + K_DRAM_WR_BYTES] += nd * mp[M_SECTOR]
        l2_tag[row, w] = line
        for q in range(4):
            l2_rdy[row, w, q] = -1
        l2_dirty[row, w] = 0
    stamp(mp[M_L2_REPL], l2_lru, row, w, ms[MS_CLOCK], fill)
    ready = start
    if write:
        counters[kbase + (K_L2_ATOM_SECTORS if atomic else K_L2_WR_SECTORS)] += nsec
        for q in range(4):
            if (smask >> q) & 1:
                if atomic and l2_rdy[row, w, q] < 0:
                    # an atomic needs the old value: fetch the sector first
                    ds = _dram(mp, ms, line, np.int64(1), start, np.bool_(False))
                    counters[kbase + K_DRAM_RD_BYTES] += mp[M_SECTOR]
                    l2_rdy[row, w, q] = ds + mp[M_A3] - mp[M_A2]
                if l2_rdy[row, w, q] > ready:
                    ready = l2_rdy[row, w, q]
                if l2_rdy[row, w, q] < 0:
                    l2_rdy[row, w, q] = start
                l2_dirty[row, w] |= np.int64(1) << q
        return ready
    counters[kbase + K_L2_RD_SECTORS] += nsec
    miss = 0
    nmiss = 0
    for q in range(4):
        if (smask >> q) & 1:
            r = l2_rdy[row, w, q]
            if r >= 0:
                counters[kbase + K_L2_RD_HITS] += 1
                if r > ready:
                    ready = r
            else:
                miss |= 1 << q
                nmiss += 1
    if nmiss:
        ds = _dram(mp, ms, line, np.int64(nmiss), start, np.bool_(False))
        counters[kbase + K_DRAM_RD_BYTES] += nmiss * mp[M_SECTOR]
        fill = ds + mp[M_A3] - mp[M_A2]
        for q in range(4):
            if (miss >> q) & 1:
                l2_rdy[row, w, q] = fill
        if fill > ready:
            ready = fill
    return ready


@njit(cache=True, _nrt=False)
def access(mp, ms, sm, t0, kind, bypass_l1, acc_ptr, acc_line, acc_mask, i, l1_tag, l1_rdy, l1_lru, l2_tag, l2_rdy,
           l2_dirty, l2_lru, counters, kbase, mshr):
    """One warp access entering the SM-shared unit at cycle ``t0``.  ``kind``: 0 load, 1 store,
    2 atomic/reduction.  Returns the cycle its data reaches the SM (loads, atomics) or the
    cycle the L2 accepted the write (stores)."""
    a1 = mp[M_A1]
    a2 = mp[M_A2]
    h = mp[M_H]
    back = a2 - h
    done = t0
    l1_sets = mp[M_L1_SETS]
    l1_ways = mp[M_L1_WAYS]
    for e in range(acc_ptr[i], acc_ptr[i + 1]):
        line = acc_line[e]
        smask = np.int64(acc_mask[e])
        ns = 0
        mm = smask
        while mm:
            mm &= mm - 1
            ns += 1
        if kind != 0:
            # stores update present L1 sectors (write-through); atomics bypass the L1
            if kind == 1:
                counters[kbase + K_L1_ST_SECTORS] += ns
                if not bypass_l1 and l1_ways > 0:
                    row = sm * l1_sets + line % l1_sets
                    w = _find(l1_tag, row, l1_ways, line)
                    fill = w < 0 and mp[M_WRITE_ALLOC] != 0
                    if fill:
                        w = _victim(l1_tag, l1_lru, row, l1_ways)
                        l1_tag[row, w] = line
                        for q in range(4):
                            l1_rdy[row, w, q] = -1
                    if w >= 0:
                        ms[MS_CLOCK] += 1
                        stamp(mp[M_L1_REPL], l1_lru, row, w, ms[MS_CLOCK], fill)
                        for q in range(4):
                            if (smask >> q) & 1 and (l1_rdy[row, w, q] < t0 or mp[M_WRITE_ALLOC]):
                                # the stored data is there from t0 (a full-sector write)
                                if l1_rdy[row, w, q] < t0:
                                    l1_rdy[row, w, q] = t0
            r = _l2(mp, ms, l2_tag, l2_rdy, l2_dirty, l2_lru, line, smask, t0 + h, np.bool_(True), kind == 2, counters,
                    kbase)
            r = r + back if kind == 2 else r
            if r > done:
                done = r
            continue
        counters[kbase + K_L1_LD_SECTORS] += ns
        miss = smask
        w = -1
        row = 0
        if not bypass_l1 and l1_ways > 0:
            row = sm * l1_sets + line % l1_sets
            ms[MS_CLOCK] += 1
            w = _find(l1_tag, row, l1_ways, line)
            if w >= 0:
                stamp(mp[M_L1_REPL], l1_lru, row, w, ms[MS_CLOCK], False)
                for q in range(4):
                    if (smask >> q) & 1:
                        r = l1_rdy[row, w, q]
                        if r >= 0:
                            counters[kbase + K_L1_LD_HITS] += 1
                            miss &= ~(np.int64(1) << q)
                            if r > t0:
                                counters[kbase + K_L1_MERGED] += 1
                                r = r + a1
                            else:
                                r = t0 + a1
                            if r > done:
                                done = r
        if miss:
            treq = t0
            if not bypass_l1 and l1_ways > 0 and mp[M_MSHR] > 0:
                # an MSHR per line miss, allocated in order: wait for the oldest if all are busy
                n = mp[M_MSHR]
                slot = sm * (n + 1)
                k = mshr[slot + n]
                if mshr[slot + k] > treq:
                    counters[kbase + K_MSHR_STALL] += mshr[slot + k] - treq
                    treq = mshr[slot + k]
            r2 = _l2(mp, ms, l2_tag, l2_rdy, l2_dirty, l2_lru, line, miss, treq + h, np.bool_(False), np.bool_(False), counters, kbase)
            arrive = r2 + back
            if arrive > done:
                done = arrive
            if not bypass_l1 and l1_ways > 0 and mp[M_MSHR] > 0:
                n = mp[M_MSHR]
                slot = sm * (n + 1)
                k = mshr[slot + n]
                mshr[slot + k] = arrive
                mshr[slot + n] = (k + 1) % n
            if not bypass_l1 and l1_ways > 0:
                if w < 0:
                    w = _victim(l1_tag, l1_lru, row, l1_ways)
                    l1_tag[row, w] = line
                    for q in range(4):
                        l1_rdy[row, w, q] = -1
                    stamp(mp[M_L1_REPL], l1_lru, row, w, ms[MS_CLOCK], True)
                for q in range(4):
                    if (miss >> q) & 1:
                        # the sector is usable by later hits once it has arrived (minus the hit path)
                        l1_rdy[row, w, q] = arrive - a1 if arrive - a1 > t0 else t0
    return done


def reset_refresh_phase(mp, ms) -> None:
    """Set every pseudo-channel's next all-bank refresh to half a tREFI after the start of the time base.
    Called when the memory system is built and at every kernel boundary (:func:`settle` restarts the
    time base at 0): a kernel then meets its first refresh tREFI / 2 in, which matches the expected
    number of refreshes, D / tREFI, over a kernel of duration D whatever the true phase — instead of
    a refresh at cycle 0 of every kernel (one too many for each short kernel) or none before tREFI
    (one too few).  The PCs stay in phase, as the model had them (a staggered phase makes every
    request that spans several PCs wait for whichever is refreshing; NVIDIA does not publish its
    controllers' refresh scheduling)."""
    if mp[M_DRAM_MODEL] != 2:
        return
    nsl, nch, blk, trefi = int(mp[M_SLICES]), int(mp[M_CHANNELS]), int(mp[M_PC_BLOCK]), int(mp[M_TREFI])
    nb = int(mp[M_BANKS])
    for ch in range(nch):
        base = MS_BASE + nsl + nch + ch * blk
        ms[base + P_REF] = trefi // 2
        first = base + blk - nb * B_SIZE
        for b in range(nb):
            ms[first + b * B_SIZE + B_REF] = trefi // 2


@njit(cache=True, _nrt=False)
def settle(ms, l1_tag, l1_rdy, l2_rdy):
    """Kernel boundary: every fill has completed, queues are empty at the next kernel's cycle 0,
    and the L1s are invalidated (Accel-Sim's -gpgpu_flush_l1_cache 1); the L2 keeps its lines."""
    for k in range(ms.size):
        if k != MS_CLOCK:
            ms[k] = 0  # (banked model: rows closed, banks and buses idle)
    for a in range(l1_tag.shape[0]):
        for b in range(l1_tag.shape[1]):
            l1_tag[a, b] = -1
            for q in range(l1_rdy.shape[2]):
                l1_rdy[a, b, q] = -1
    for a in range(l2_rdy.shape[0]):
        for b in range(l2_rdy.shape[1]):
            for q in range(l2_rdy.shape[2]):
                if l2_rdy[a, b, q] > 0:
                    l2_rdy[a, b, q] = 0

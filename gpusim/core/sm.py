"""Cycle-level SM model: sub-cores with fetch, instruction buffers, control-bit dependences,
CGGTY issue, Allocate with register-file banks and the register-file cache, execution pipes, and
the per-sub-core memory queue in front of the memory hierarchy (``gpusim.core.memsys``).

Single responsibility: advance the SMs of one kernel cycle by cycle (skipping cycles in which
nothing can change), in parallel threads over SMs, and count what happens.  Rules and numbers come from the digest of
"Dissecting and Modeling the Architecture of Modern GPU Cores" (MICRO'25), referred to as
MGC §n below; the gpusim README lists what is approximated.

Per cycle and per sub-core the stages run in reverse pipeline order, as in the released
simulator (MGC §2.4): issue (with Control and Allocate effects computed at issue time), then
fetch.  Events later in the pipeline (register reads, write-back, counter releases) are
computed at issue as future cycle stamps, because every latency of this model is known then.

* Front end (MGC §3): 1 fetch per sub-core per cycle into a 3-entry instruction buffer per warp,
  available to issue 2 cycles later; the fetch warp follows the last issued warp and moves to the
  youngest warp with free buffer entries when that one is full; instructions come through a
  per-sub-core L0 and a per-SM L1 instruction cache with a stream-buffer prefetcher, or a perfect
  one (``icache.perfect``).
* Dependences (MGC §1): with control bits, a per-warp stall counter (stall 0 + yield = 45
  cycles), yield (no issue the next cycle), six SB counters incremented in Control (visible 2
  cycles after issue) and released at write-back (write SB) or after the source read (read SB),
  wait masks and ``DEPBAR.LE SBx, N``.  Without control bits (MGC §1.8): a RAW/WAW scoreboard
  with per-register ready cycles and a WAR scoreboard on pending source reads.
* Issue (MGC §2): one instruction per sub-core per cycle; CGGTY (greedy, else youngest), GTO
  (greedy, else oldest), LRR.  A fixed-latency instruction needs its unit's input latch free
  (initiation interval); FP32 may be steered to a free INT latch where the config allows
  (IMAD excluded); after any IMAD the issue port is busy one more cycle.
* Allocate (MGC §2.4, §4): a fixed-latency instruction reserves read ports for a 3-cycle window
  (6 for 4-register tensor operands); 2 banks (reg mod banks) with 1 read port each; misses in
  the register-file cache (filled only by reuse bits; hit = same warp, register and operand slot;
  any read of a (bank, slot) evicts it) need a port.  A conflict holds the instruction in
  Allocate, which holds Control and so the issue of later instructions.
* Memory (MGC §6.2-6.3): a 4-entry queue plus latch per sub-core; the address registers are read
  ``read_delay`` cycles after issue at the earliest, then the address unit is busy 4 cycles (2 for
  shared or uniform addresses); the SM-shared unit accepts one instruction per 2 cycles from all
  sub-cores and moves ``l1_bytes_per_cycle``; bank conflicts replay shared accesses; the read SB
  is released 1 cycle before the address calculation ends (plus the store-data read, 2 cycles
  per register); global/local/texture accesses go through ``gpusim.core.memsys`` (L1, L2, DRAM),
  shared and constant loads take their configured latency; load data returns at 512 bits per
  cycle (shared: 1024).

* Warpgroup MMA (Hopper wgmma; research/sass-control-bits.md §5): an HGMMA issues without waiting
  for its result; its quarter of the MMA queues on the sub-core's tensor pipe (busy for its
  initiation interval, so the HGMMAs of a group run back to back) and completes its latency
  later.  The HGMMA carrying ``gsb0`` commits the warp's group; ``WARPGROUP.DEPBAR.LE gsb0, N``
  holds the next instruction (Nsight state "wait") until at most N groups are in flight, outside
  the six SBs; ``WARPGROUP.ARRIVE`` holds it until the warp's in-flight fixed-latency register
  writes have landed.

* Epochs (``run_sm``): SMs interact only through ``gpusim.core.memsys`` (one call per global
  access, TMA copies included, in issue order; the L2 and DRAM are shared), through the CTA
  dispatcher and, in cluster launches, through the cluster barrier.  Time is cut into epochs no
  longer than the shortest issue-to-release time of a global access
  (``gpusim.assemble.epoch_cycles``, 30 cycles on GA10x): an SM buffers its accesses during an
  epoch, with placeholder release stamps above ``NEVER`` (a TMA copy: a placeholder completion of
  its mbarrier phase), and at the epoch end one thread calls the memory system for all SMs in
  issue order (cycle, SM, sub-core) and patches the stamps in.  Every result is due after its
  epoch, so this equals calling it at issue.  A finished CTA's slot is refilled at the end of its
  epoch (a serial model refills it the next cycle: up to one epoch later here).  Kernels with
  thread-block clusters or cluster barriers advance all SMs in lockstep and end an epoch right
  after the earliest cycle in which a warp may arrive at a cluster barrier or retire
  (``P_LOCKSTEP``): the arrivals, exits and cluster launches of that cycle are served at the epoch
  end, the cycle after them, exactly when a serial model makes them visible.  The SMs of an epoch
  can therefore run in any order or in parallel threads with the same result, bit for bit.

Contract: state arrays are allocated by ``gpusim.assemble`` and passed in; ``run_sm`` runs until
the kernel finishes or ``until`` cycles and can be called again to resume (progress reporting);
no allocation in the cycle loop; integer cycles; deterministic, whatever the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from gpusim.core import memsys as msys

# ---- parameter slots (gpusim.core.layout.SmParam mirrors these)
P_NUM_SM = 0
P_SUBCORES = 1
P_CTAS_PER_SM = 2
P_WARPS_PER_CTA = 3
P_POLICY = 4
# (slots 5 and 6 are free: the DRAM bandwidth moved into gpusim.core.memsys)
P_IDLE_SKIP = 7
P_CTRL = 8                  # 1: control bits, 0: scoreboard
P_STEER = 9                 # FP32 may use the INT pipe
P_IMAD_BUSY = 10
P_STALL0_YIELD = 11
P_BANKS = 12
P_PORTS = 13
P_RFC = 14
P_WINDOW = 15
P_READ_DELAY = 16
P_ADDR_REG = 17
P_ADDR_UNI = 18
P_MQ_CAP = 19               # queue entries + latch
P_SM_INTERVAL = 20
P_FIXED_OFFSET = 21         # scoreboard mode: dependent distance = pipe latency + this
P_UNLOADED_PATH = 22        # read_delay + address_cycles_regular + 1
P_LOG = 23                  # 1: record issue cycles and SB values of warp slot 0
P_CTA_LAUNCH = 24
P_LDGSTS_EXTRA = 25         # LDGSTS completion after its global read: ldgsts latency - L1 hit latency
P_L1_BPC = 26               # L1/shared data path bytes per cycle per SM
P_IPERFECT = 27             # 1: perfect instruction cache
P_L0_SETS = 28
P_L0_WAYS = 29
P_L1I_SETS = 30
P_L1I_WAYS = 31
P_IL0L1 = 32                # L0 <-> L1 instruction-cache latency, each direction
P_IPREFETCH = 33            # stream-buffer depth in lines
P_IMISS = 34                # extra latency of an L1 instruction-cache miss (served by the L2)
P_EPOCH = 35                # cycles per epoch (see run_sm): <= the shortest issue-to-visibility of a memory result
P_CLUSTER = 36             # CTAs per cluster (1: no clusters)
P_SM_PER_GPC = 37          # SMs per GPC: a cluster's CTAs are placed on SMs of one GPC
P_DSM_LAT = 38             # generic access to a peer CTA's shared memory (distributed shared memory)
P_TMA_EXTRA = 39           # UTMALDG: extra cycles of the TMA path over a load of the same data
P_LOCKSTEP = 40            # 1: cluster launch or cluster barriers: SMs advance in lockstep, epochs end at them
P_SIZE = 41

# ---- counter slots (gpusim.core.layout.SmCounter mirrors these)
C_CYCLES = 0
C_WARP_INSTS = 1
C_THREAD_INSTS = 2
C_CTAS = 3
C_WARPS = 4
C_ACTIVE_WARP_CYCLES = 5
C_ISSUE_SLOTS = 6
C_SKIPPED = 7
C_RFC_HITS = 8
C_RFC_MISSES = 9
C_ALLOC_STALL = 10          # cycles instructions waited in Allocate for read ports
C_STEERED = 11              # FP32 instructions issued to the INT pipe
C_GLOBAL_SECTORS = 12
C_LDGSTS = 13              # LDGSTS (cp.async) warp instructions
C_MEM_INSTS = 14
C_SHARED_INSTS = 15
C_REASON_BASE = 16          # + R_*: warp-cycles per stall reason
N_REASONS = 11
C_UNIT_BASE = C_REASON_BASE + N_REASONS   # + unit: warp instructions per unit class
N_UNITS = 12
C_MEM_BASE = C_UNIT_BASE + N_UNITS        # + memsys.K_*: cache and DRAM counters
C_SHARED_WAVEFRONTS = C_MEM_BASE + msys.K_SIZE  # shared-memory wavefronts (bank-conflict replays included)
C_SHARED_REPLAYS = C_SHARED_WAVEFRONTS + 1  # wavefronts beyond what the access width needs (bank conflicts)
C_SIZE = C_SHARED_REPLAYS + 1

# ---- stall reasons (Nsight Compute warp states; gpusim.stats.catalog names them)
R_SELECTED = 0
R_NOT_SELECTED = 1
R_WAIT = 2
R_LONG_SB = 3
R_SHORT_SB = 4
R_MATH = 5
R_LG = 6
R_MIO = 7
R_BARRIER = 8
R_NO_INST = 9
R_DISPATCH = 10

# ---- units (gpusim.core.layout.Unit)
U_INT = 0
U_FP32 = 1
U_FP64 = 3
U_TENSOR = 5
U_MEM = 8

# ---- per-static flags (gpusim.core.layout.SmFlag)
F_EXIT = 1
F_BARRIER = 2
F_SHARED = 8
F_IMAD = 16
F_VARIABLE = 32
F_LDGSTS = 64
F_LDGDEPBAR = 128
F_DEPBAR = 256
F_STORE = 512
F_UNIFORM_ADDR = 1024
F_LONG = 2048
F_RFC = 4096
F_WIDE_WINDOW = 8192
F_LOAD = 16384
F_SHARED_FP64 = 32768
F_ATOMIC = 65536            # atomics and reductions: executed at the L2
F_BYPASS_L1 = 131072        # .STRONG.GPU / .BYPASS / .CG ...: skip the L1
F_MEMBAR = 262144           # the warp waits S_LAT cycles: MEMBAR (MGC §6.4 costs), ERRBAR, WARPSYNC
F_GMMA = 524288             # asynchronous warpgroup MMA (HGMMA/IGMMA/QGMMA/BGMMA): queued on the tensor pipe
F_GMMA_COMMIT = 1048576     # ... the last of its wgmma group (the ``gsb0`` operand): commits the group
F_WG_DEPBAR = 2097152       # WARPGROUP.DEPBAR.LE gsb0, N: the next instruction waits until <= N groups are in flight
F_WG_ARRIVE = 4194304       # WARPGROUP.ARRIVE (wgmma.fence): waits for the warp's in-flight register writes
F_BAR_ARRIVE = 8388608      # BAR.ARV (barrier.arrive): counts the warp's arrival without waiting
F_TMA = 1 << 24             # UTMALDG: bulk tensor copy global -> shared, completes on an mbarrier
F_MBAR_ARRIVE = 1 << 25     # SYNCS.ARRIVE.TRANS64[.A1T0]: arrives on the mbarrier at its shared address
F_MBAR_EXPECT = 1 << 26     # ... and sets the phase's expected transaction bytes (arrive.expect_tx)
F_MBAR_WAIT = 1 << 27       # SYNCS.PHASECHK.TRANS64.TRYWAIT: the SB consumer waits until the phase completes
F_MBAR_INIT = 1 << 28       # SYNCS.EXCH.64 (mbarrier.init): resets the barrier
F_CGA_ARRIVE = 1 << 29      # UCGABAR_ARV (barrier.cluster.arrive)
F_CGA_WAIT = 1 << 30        # UCGABAR_WAIT (barrier.cluster.wait): the next instruction waits for the whole cluster

# per-static columns of the int32 matrix ``st`` (gpusim.core.layout.StCol mirrors these)
S_UNIT = 0
S_FLAGS = 1
S_LAT = 2        # fixed: pipe latency; variable non-memory: unit latency; memory: RAW latency of its space
S_II = 3
S_STALL = 4
S_YIELD = 5
S_WSB = 6
S_RSB = 7
S_WAIT = 8
S_REUSE = 9
S_DEPBAR_SB = 10
S_DEPBAR_N = 11
S_NSRC = 12
S_SRC0 = 13      # .. S_SRC0+3
S_DST0 = 17      # .. S_DST0+3
S_MEM_REGS = 21  # data registers moved by a memory instruction (width / 4 bytes, >= 1)
S_ILINE = 22     # instruction-cache line of the PC (pc // line size)
S_NCOLS = 23

NSB = 6
GSB = NSB        # extra counter row of the SB arrays: the warp's committed, unfinished wgmma groups (gsb0)
SB_CAP = 64
MQ_RING = 8
PORT_RING = 64
NEVER = np.int64(1) << np.int64(60)

# ---- columns of the per-warp ``w_depbar`` rows
D_SB = 0         # counter an issued DEPBAR.LE / WARPGROUP.DEPBAR.LE waits on (-1: none; GSB: wgmma groups)
D_N = 1          # ... until at most this many are pending
D_GMMA_DONE = 2  # cycle from which every warpgroup MMA the warp has issued is complete (visible)
#: instruction-buffer entries per warp (MGC §3, modern-gpu-cores.md "Instruction Buffer: 3 entries per
#: warp": with fetch and decode between fetch and issue, 2 entries would starve greedy issue every third
#: instruction; the 3-entry size matches the paper's measurements)
IB_ENTRIES = 3
D_FIXED_WB = 3   # cycle from which every fixed-latency register write of the warp is visible
D_MBAR = 4       # mbarrier slot an issued TRYWAIT waits on (-1: none)
D_MBAR_PH = 5    # ... the phase it waits for
D_MBAR_SB = 6    # ... the TRYWAIT's write SB: the instruction waiting on it is held (-1: the next instruction)
D_CGA = 7        # cluster-barrier phase an issued UCGABAR_WAIT waits for (-1: none)
D_NCOLS = 8

# ---- mbarriers (per CTA slot, identified by their shared-memory address)
NB = 16          # mbarriers per CTA the model tracks
PH = 4           # phases kept per mbarrier / cluster barrier (a ring)
MB_CLOSED = 0    # phases whose arrival has happened (the next arrive closes phase MB_CLOSED)
MB_TXPH = 1      # phase the transaction bytes of TMA copies are charged to (-1: none)
MB_TXWAIT = 2    # 1: that phase expects bytes and no copy has been charged yet
MB_NCOLS = 3
# per-warp columns of ``w_sync``: 0..NB-1 phases consumed per mbarrier slot, then
W_MBTX = NB      # mbarrier slot of the warp's last arrive.expect_tx (its TMA copies complete there)
W_CGA_ARV = NB + 1
W_CGA_WAIT = NB + 2
W_NCOLS = NB + 3
# columns of the per-cluster rows ``cl``
CL_WARPS = 0     # warps of the cluster that still have to arrive at each phase
CL_PHASE = 1     # oldest incomplete cluster-barrier phase
CL_CNT0 = 2      # + phase % PH: arrivals
CL_DONE0 = CL_CNT0 + PH   # + phase % PH: completion cycle (NEVER: not complete)
CL_SLOT0 = CL_DONE0 + PH  # + rank: CTA slot of the cluster's rank
MAX_CLUSTER = 16
CL_NCOLS = CL_SLOT0 + MAX_CLUSTER

# inst_space code of a generic access that resolves to a peer CTA's shared memory (gpusim.assemble)
SP_DSM = 7

# ---- global scalars in ``g``
G_CYCLE = 0
G_NEXT_CTA = 1
G_AGE = 2
G_LIVE = 3
G_LAST_RETIRE = 4  # cycle of the latest CTA completion served by the dispatcher
G_LAST_EVENT = 5  # latest write-back/release stamp of the kernel (resolved memory results; SMs keep their own)
G_MORE = 6        # 1: the kernel has CTAs beyond the resident window ``cta_warp_ptr`` (streamed traces, see run_sm)
G_SIZE = 7

# ---- per-SM scalars, rows of the int64 matrix ``smg`` (written only by the thread that advances the SM)
SG_LIVE = 0      # live warps
SG_ICLOCK = 1    # LRU clock of the SM's instruction caches
SG_LAST_EVENT = 2
SG_NREQ = 3      # memory requests buffered in this epoch
SG_NDONE = 4     # CTAs finished in this epoch
SG_POS = 5       # the SM has advanced up to this cycle (an epoch boundary)
SG_SIZE = 8      # (one 64-byte line per SM)

# ---- cycles examined by each SM, a ring of 64-cycle words per SM (``vis``; for C_SKIPPED)
VIS_WORDS = 64
HORIZON = 2048   # an SM runs at most this far ahead of the slowest one (< 64 * VIS_WORDS - 2 epochs)
PAR_MIN_EPOCHS = 4  # a round runs in parallel threads if the previous one advanced the SMs this many epochs on average

# ---- memory requests buffered during an epoch (columns of ``req[sm]``; resolved in ``_epoch_end``)
Q_CYCLE = 0      # issue cycle
Q_WS = 1         # warp slot
Q_INST = 2       # dynamic instruction index
Q_LEAVE = 3      # cycle the access enters the SM-shared unit
Q_FLAGS = 4      # Q_ACCESS | Q_PATCH | Q_MBAR, or Q_CGA_ARV / Q_CGA_EXIT
Q_DATA = 5       # LDGDEPBAR: max(LDGSTS completions known at issue, issue + 2)
Q_MB = 6         # Q_MBAR: mbarrier phase cell of the TMA copy (see _tma_charge); Q_CGA_*: cluster index
Q_PREV = 7       # Q_MBAR: the phase's completion before the copy (or the placeholder of an earlier copy);
                 # Q_CGA_ARV: the cluster-barrier phase the warp arrives at
Q_RES = 8        # Q_MBAR: the phase's completion after the copy (set when served)
Q_SIZE = 9
Q_ACCESS = 1     # run memsys.access for it
Q_PATCH = 2      # its write-back is a placeholder (PENDING + index) until resolved
Q_MBAR = 4       # a TMA copy: its mbarrier phase completes when its data lands (placeholder MB_PEND + index)
Q_CGA_ARV = 8    # a warp arrives at the cluster barrier (UCGABAR_ARV)
Q_CGA_EXIT = 16  # a warp of a cluster exits: it no longer arrives at the cluster barrier
# placeholders of unresolved write-backs lie above NEVER, so every "released after c" test sees them as
# pending and no wake-up computation picks them up (they are patched in at the epoch end)
PENDING = NEVER + 1
MB_PEND = NEVER + (np.int64(1) << np.int64(40))  # + SM * rows + index: mbarrier phase completion of a pending TMA copy
WM_REGS = 1 << (NSB + 1)  # w_wmask bit: the wake-up cycle came from the scoreboard registers (bit GSB: wgmma groups)
WM_MBAR = 1 << (NSB + 2)  # w_wmask bit: the wake-up cycle came from an mbarrier phase


def use_threads(n: int) -> int:
    """Threads for the parallel rounds of ``run_sm`` (at most Numba's ``NUMBA_NUM_THREADS``);
    returns the previous setting."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    return before


@njit(cache=True, _nrt=False)
def _launch_cta(p, g, smg, cta_warp_ptr, warp_inst_ptr, sm, slot, w_trace, w_pc, w_fetch, w_end, w_age, w_stall,
                w_bar, w_ibn, w_ibh, c_live, c_bar, counters, start_cycle, w_wake, w_reason, w_launch, sc_next,
                w_ready, cs_cta, mb_addr, w_sync, cl):
    n_cta = cta_warp_ptr.size - 1
    cta = g[G_NEXT_CTA]
    if cta >= n_cta:
        return
    cps = p[P_CTAS_PER_SM]
    wpc = p[P_WARPS_PER_CTA]
    wslots = cps * wpc
    cs = sm * cps + slot
    nwarp = cta_warp_ptr[cta + 1] - cta_warp_ptr[cta]
    for k in range(nwarp):
        tw = cta_warp_ptr[cta] + k
        ws = sm * wslots + slot * wpc + k
        if warp_inst_ptr[tw] < warp_inst_ptr[tw + 1]:
            w_trace[ws] = tw
            w_pc[ws] = warp_inst_ptr[tw]
            w_fetch[ws] = warp_inst_ptr[tw]
            w_end[ws] = warp_inst_ptr[tw + 1]
            w_age[ws] = g[G_AGE]
            g[G_AGE] += 1
            w_stall[ws] = start_cycle
            w_bar[ws] = 0
            w_ibn[ws] = 0
            w_ibh[ws] = 0
            w_wake[ws] = start_cycle
            w_reason[ws] = -1
            w_ready[ws] = 0
            w_launch[ws] = start_cycle
            for q in range(W_NCOLS):
                w_sync[ws, q] = 0
            w_sync[ws, W_MBTX] = -1
            sc = sm * p[P_SUBCORES] + (slot * wpc + k) % p[P_SUBCORES]
            if sc_next[sc] > start_cycle:
                sc_next[sc] = start_cycle
            c_live[cs] += 1
            g[G_LIVE] += 1
            smg[sm, SG_LIVE] += 1
            counters[C_WARPS] += 1
    c_bar[cs] = 0
    for b in range(NB):
        mb_addr[cs, b] = -1
    cs_cta[cs] = cta if c_live[cs] > 0 else -1
    ci = cta // p[P_CLUSTER]
    if ci < cl.shape[0]:
        if cta % p[P_CLUSTER] == 0:
            cl[ci, CL_WARPS] = 0
            cl[ci, CL_PHASE] = 0
            for q in range(PH):
                cl[ci, CL_CNT0 + q] = 0
                cl[ci, CL_DONE0 + q] = NEVER
        cl[ci, CL_SLOT0 + cta % p[P_CLUSTER]] = cs
        cl[ci, CL_WARPS] += c_live[cs]
    counters[C_CTAS] += 1
    g[G_NEXT_CTA] = cta + 1


@njit(cache=True, _nrt=False)
def _free_slot(p, sm, cs_cta):
    cps = p[P_CTAS_PER_SM]
    for slot in range(cps):
        if cs_cta[sm * cps + slot] < 0:
            return slot
    return -1


@njit(cache=True, _nrt=False)
def _dispatch_clusters(p, g, smg, cta_warp_ptr, warp_inst_ptr, w_trace, w_pc, w_fetch, w_end, w_age, w_stall, w_bar,
                       w_ibn, w_ibh, c_live, c_bar, counters, start_cycle, w_wake, w_reason, w_launch, sc_next,
                       w_ready, cs_cta, mb_addr, w_sync, cl):
    """Cluster launch (Hopper): the CTAs of a cluster start together, each on its own SM of one GPC, once
    every one of them can be placed; clusters are tried on the GPCs in turn (cluster index first).
    Runs in the serial part only (initial dispatch, epoch ends): it places CTAs on other SMs."""
    n_cta = cta_warp_ptr.size - 1
    S = p[P_CLUSTER]
    spg = p[P_SM_PER_GPC]
    n_sm = p[P_NUM_SM]
    ngpc = (n_sm + spg - 1) // spg
    while g[G_NEXT_CTA] < n_cta:
        ci = g[G_NEXT_CTA] // S
        placed = False
        for gg in range(ngpc):
            gpc = (ci + gg) % ngpc
            lo = gpc * spg
            hi = min(lo + spg, n_sm)
            cand = 0
            for sm in range(lo, hi):
                if _free_slot(p, sm, cs_cta) >= 0:
                    cand += 1
            if cand < S:
                continue
            # rotate the first SM so that consecutive clusters of a GPC spread over its SMs
            n = hi - lo
            r = 0
            for k in range(n):
                sm = lo + (ci * S + k) % n
                slot = _free_slot(p, sm, cs_cta)
                if slot < 0:
                    continue
                _launch_cta(p, g, smg, cta_warp_ptr, warp_inst_ptr, sm, slot, w_trace, w_pc, w_fetch, w_end, w_age,
                            w_stall, w_bar, w_ibn, w_ibh, c_live, c_bar, counters, start_cycle, w_wake, w_reason,
                            w_launch, sc_next, w_ready, cs_cta, mb_addr, w_sync, cl)
                cs = sm * p[P_CTAS_PER_SM] + slot
                if cs_cta[cs] < 0:
                    cs_cta[cs] = n_cta  # launched without warps: hold the slot until the cluster is placed
                r += 1
                if r == S or g[G_NEXT_CTA] >= n_cta:
                    break
            for k in range(S):
                cs = cl[ci, CL_SLOT0 + k]
                if cs_cta[cs] == n_cta:
                    cs_cta[cs] = -1
            placed = True
            break
        if not placed:
            return


@njit(cache=True, _nrt=False)
def init_kernel(p, g, smg, cta_warp_ptr, warp_inst_ptr, w_trace, w_pc, w_fetch, w_end, w_age, w_stall, w_bar, w_ibn,
                w_ibh, c_live, c_bar, counters, w_wake, w_reason, w_launch, sc_next, w_ready, cs_cta, mb_addr,
                w_sync, cl):
    """Dispatch the first CTAs round-robin over SMs (one CTA slot per SM at a time), or whole clusters."""
    g[G_LAST_RETIRE] = -1
    if p[P_CLUSTER] > 1:
        _dispatch_clusters(p, g, smg, cta_warp_ptr, warp_inst_ptr, w_trace, w_pc, w_fetch, w_end, w_age, w_stall,
                           w_bar, w_ibn, w_ibh, c_live, c_bar, counters, p[P_CTA_LAUNCH], w_wake, w_reason, w_launch,
                           sc_next, w_ready, cs_cta, mb_addr, w_sync, cl)
        return
    for slot in range(p[P_CTAS_PER_SM]):
        for sm in range(p[P_NUM_SM]):
            _launch_cta(p, g, smg, cta_warp_ptr, warp_inst_ptr, sm, slot, w_trace, w_pc, w_fetch, w_end, w_age, w_stall,
                        w_bar, w_ibn, w_ibh, c_live, c_bar, counters, p[P_CTA_LAUNCH], w_wake, w_reason, w_launch,
                        sc_next, w_ready, cs_cta, mb_addr, w_sync, cl)


@njit(cache=True, _nrt=False)
def _wake_cta(p, cs, c, w_trace, w_wake, sc_next, w_ready):
    """Make every warp of CTA slot ``cs`` re-examine its state at cycle ``c`` (a barrier it may wait on changed)."""
    cps = p[P_CTAS_PER_SM]
    wpc = p[P_WARPS_PER_CTA]
    n_sub = p[P_SUBCORES]
    sm = cs // cps
    slot_cta = cs - sm * cps
    for k in range(wpc):
        ws = sm * cps * wpc + slot_cta * wpc + k
        if w_trace[ws] < 0:
            continue
        if w_wake[ws] > c:
            w_wake[ws] = c
        w_ready[ws] = 0
        sc = sm * n_sub + (slot_cta * wpc + k) % n_sub
        if sc_next[sc] > c:
            sc_next[sc] = c


@njit(cache=True, _nrt=False)
def _cga_check(p, ci, c, cl, w_trace, w_wake, sc_next, w_ready):
    """Complete the cluster-barrier phases whose arrivals are all in (visible the next cycle)."""
    ph = cl[ci, CL_PHASE]
    while cl[ci, CL_WARPS] > 0 and cl[ci, CL_CNT0 + ph % PH] >= cl[ci, CL_WARPS]:
        cl[ci, CL_DONE0 + ph % PH] = c + 1
        cl[ci, CL_CNT0 + (ph + 2) % PH] = 0
        cl[ci, CL_DONE0 + (ph + 2) % PH] = NEVER
        ph += 1
        for r in range(p[P_CLUSTER]):
            if cl[ci, CL_SLOT0 + r] >= 0:
                _wake_cta(p, cl[ci, CL_SLOT0 + r], c, w_trace, w_wake, sc_next, w_ready)
    cl[ci, CL_PHASE] = ph


@njit(cache=True, _nrt=False)
def _mb_slot(mb_addr, cs, addr):
    """Slot of the mbarrier at shared address ``addr`` in CTA slot ``cs`` (created on first use; -1: table full)."""
    for b in range(NB):
        if mb_addr[cs, b] == addr:
            return b
    for b in range(NB):
        if mb_addr[cs, b] < 0:
            mb_addr[cs, b] = addr
            return b
    return -1


@njit(cache=True, _nrt=False)
def _mb_complete_at(mb_st, mb_done, cs, b, k):
    """Cycle from which phase ``k`` of mbarrier ``b`` counts as complete (NEVER: not yet known)."""
    if k >= mb_st[cs, b, MB_CLOSED]:
        return NEVER
    if mb_st[cs, b, MB_TXPH] == k and mb_st[cs, b, MB_TXWAIT]:
        return NEVER
    return mb_done[cs, b, k % PH]


@njit(cache=True, _nrt=False)
def _sb_pending(sb_rel, sb_n, ws, s, c, w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r):
    """Producers on SB ``s`` of warp ``ws`` not yet released as seen at cycle ``c``.

    The increment of the instruction issued at c-1 is not visible yet (Control stage, MGC §1.4).
    Returns (pending, long_pending) where long counts producers from global/local memory.
    """
    n = 0
    for k in range(sb_n[ws, s]):
        if sb_rel[ws, s, k] > c:
            n += 1
    if n > 0 and w_last_issue[ws] == c - 1:
        if w_last_wsb[ws] == s and w_last_rel_w[ws] > c:
            n -= 1
        if w_last_rsb[ws] == s and w_last_rel_r[ws] > c and n > 0:
            n -= 1
    return n


@njit(cache=True, _nrt=False)
def _sb_push(sb_rel, sb_long, sb_n, ws, s, rel, is_long, c):
    # drop released entries first (keeps the ring short), then append
    m = 0
    for k in range(sb_n[ws, s]):
        if sb_rel[ws, s, k] > c:
            sb_rel[ws, s, m] = sb_rel[ws, s, k]
            sb_long[ws, s, m] = sb_long[ws, s, k]
            m += 1
    if m < SB_CAP:
        sb_rel[ws, s, m] = rel
        sb_long[ws, s, m] = is_long
        m += 1
    sb_n[ws, s] = m


@njit(cache=True, _nrt=False)
def _sb_has_long(sb_rel, sb_long, sb_n, ws, s, c):
    for k in range(sb_n[ws, s]):
        if sb_rel[ws, s, k] > c and sb_long[ws, s, k]:
            return True
    return False


@njit(cache=True, _nrt=False)
def _ports_free(port_cyc, port_used, sc, bank, cyc, ports):
    slot = cyc % PORT_RING
    if port_cyc[sc, bank, slot] != cyc:
        return ports
    return ports - port_used[sc, bank, slot]


@njit(cache=True, _nrt=False)
def _port_take(port_cyc, port_used, sc, bank, cyc):
    slot = cyc % PORT_RING
    if port_cyc[sc, bank, slot] != cyc:
        port_cyc[sc, bank, slot] = cyc
        port_used[sc, bank, slot] = 0
    port_used[sc, bank, slot] += 1


@njit(cache=True, _nrt=False)
def _il1(p, sg, sm, line, t, il1_tag, il1_rdy, il1_lru):
    """Cycle at which the SM's L1 instruction cache can return ``line`` asked for at cycle t."""
    sets = p[P_L1I_SETS]
    ways = p[P_L1I_WAYS]
    row = sm * sets + line % sets
    sg[SG_ICLOCK] += 1
    w = msys._find(il1_tag, row, ways, line)
    if w >= 0:
        il1_lru[row, w] = sg[SG_ICLOCK]
        return il1_rdy[row, w] if il1_rdy[row, w] > t else t
    w = msys._victim(il1_tag, il1_lru, row, ways)
    il1_tag[row, w] = line
    il1_rdy[row, w] = t + p[P_IMISS]
    il1_lru[row, w] = sg[SG_ICLOCK]
    return t + p[P_IMISS]


@njit(cache=True, _nrt=False)
def _iline(p, sg, c, sc, sm, line, request, il0_tag, il0_rdy, il0_lru, il1_tag, il1_rdy, il1_lru):
    """Cycle from which instruction line ``line`` can be fetched by sub-core ``sc`` (MGC §3).

    On an L0 miss (with ``request``) the line is requested from the L1 instruction cache and the
    stream buffer requests the next ``P_IPREFETCH`` lines, one request per cycle; each takes the
    L0-L1 latency both ways.  Returns NEVER for an absent line without ``request``."""
    sets = p[P_L0_SETS]
    ways = p[P_L0_WAYS]
    row = sc * sets + line % sets
    w = msys._find(il0_tag, row, ways, line)
    lat = p[P_IL0L1]
    if w >= 0:
        sg[SG_ICLOCK] += 1
        il0_lru[row, w] = sg[SG_ICLOCK]
        if request and p[P_IPREFETCH] > 0:
            # the stream buffer keeps P_IPREFETCH lines ahead of the demand stream
            ln = line + p[P_IPREFETCH]
            r2 = sc * sets + ln % sets
            if msys._find(il0_tag, r2, ways, ln) < 0:
                arrive = _il1(p, sg, sm, ln, c + lat, il1_tag, il1_rdy, il1_lru) + lat
                w2 = msys._victim(il0_tag, il0_lru, r2, ways)
                il0_tag[r2, w2] = ln
                il0_rdy[r2, w2] = arrive
                sg[SG_ICLOCK] += 1
                il0_lru[r2, w2] = sg[SG_ICLOCK]
        return il0_rdy[row, w]
    if not request:
        return NEVER
    ready = NEVER
    for k in range(p[P_IPREFETCH] + 1):
        ln = line + k
        r2 = sc * sets + ln % sets
        if k > 0 and msys._find(il0_tag, r2, ways, ln) >= 0:
            continue
        t_req = c + k
        arrive = _il1(p, sg, sm, ln, t_req + lat, il1_tag, il1_rdy, il1_lru) + lat
        w2 = msys._victim(il0_tag, il0_lru, r2, ways)
        il0_tag[r2, w2] = ln
        il0_rdy[r2, w2] = arrive
        sg[SG_ICLOCK] += 1
        il0_lru[r2, w2] = sg[SG_ICLOCK]
        if k == 0:
            ready = arrive
    return ready


@njit(cache=True, _nrt=False)
def _classify_local(p, c, ws, sc, sm, st, inst_static, w_pc, w_stall, w_bar, w_ibn, w_ibh, w_ibt, sb_rel, sb_long, sb_n,
              w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r, reg_ready, reg_war, reg_long,
              ctrl, w_depbar, mb_st, mb_done, cl, cs_cta):
    """Why warp ``ws`` cannot issue at cycle ``c`` by its own state (R_*, or -1 if it could;
    MGC §2.1 items 1-4) and the earliest cycle at which that reason can end without the warp
    issuing (its wake-up cycle).  Once these conditions hold they keep holding until the warp
    issues, except that the SB increment of its last issue becomes visible 2 cycles after it.
    The third value names what the wake-up cycle was computed from (bit b: the entries of SB b,
    WM_REGS: the scoreboard registers, WM_MBAR: an mbarrier phase), so that a memory result
    resolved later can lower it."""
    if w_bar[ws] == 1:
        return R_BARRIER, NEVER, 0
    if w_ibn[ws] == 0:
        return R_NO_INST, NEVER, 0
    t = w_ibt[ws, w_ibh[ws]]
    if t > c:
        return R_NO_INST, t, 0
    if w_stall[ws] > c:
        return R_WAIT, w_stall[ws], 0
    s = inst_static[w_pc[ws]]
    # the wake-up cycle is the next stamp at which the outcome may change (any release on a
    # waited counter or register, or the increment of the last issue becoming visible), so that
    # cached states equal what a cycle-by-cycle re-examination would find
    vis = w_last_issue[ws] + 2
    if ctrl:
        m = st[s, S_WAIT]
        reason = -1
        wake = NEVER
        for b in range(NSB):
            if (m >> b) & 1:
                if reason < 0 and _sb_pending(sb_rel, sb_n, ws, b, c, w_last_issue, w_last_wsb, w_last_rsb,
                                              w_last_rel_w, w_last_rel_r) > 0:
                    reason = R_LONG_SB if _sb_has_long(sb_rel, sb_long, sb_n, ws, b, c) else R_SHORT_SB
                for q in range(sb_n[ws, b]):
                    v = sb_rel[ws, b, q]
                    if c < v < wake:
                        wake = v
        if reason >= 0:
            if c < vis < wake:
                wake = vis
            return reason, wake, np.int64(m)
    else:
        reason = -1
        wake = NEVER
        for r in range(4):
            rg = st[s, S_SRC0 + r]
            if rg >= 0 and rg != 255:
                v = reg_ready[ws, rg]
                if v > c:
                    if reason < 0:
                        reason = R_LONG_SB if reg_long[ws, rg] == 1 else (R_SHORT_SB if reg_long[ws, rg] == 2 else R_WAIT)
                    if v < wake:
                        wake = v
            rg = st[s, S_DST0 + r]
            if rg >= 0 and rg != 255:
                v = reg_ready[ws, rg]
                if v > c:
                    if reason < 0:
                        reason = R_LONG_SB if reg_long[ws, rg] == 1 else (
                            R_SHORT_SB if reg_long[ws, rg] == 2 else R_WAIT)
                    if v < wake:
                        wake = v
                v = reg_war[ws, rg]
                if v > c:
                    if reason < 0:
                        reason = R_SHORT_SB
                    if v < wake:
                        wake = v
        if reason >= 0:
            return reason, wake, WM_REGS
    b = w_depbar[ws, D_SB]
    if b >= 0:
        # an issued DEPBAR.LE SBb, N holds the next instruction until SBb <= N (MGC §1.5, Figure 2);
        # WARPGROUP.DEPBAR.LE gsb0, N the same on the warp's committed wgmma groups (row GSB)
        nmax = w_depbar[ws, D_N]
        if _sb_pending(sb_rel, sb_n, ws, b, c, w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w,
                       w_last_rel_r) > nmax:
            if b == GSB:
                # Nsight "wait": the groups finish a known number of cycles after they entered the
                # tensor pipe, a fixed-latency dependence (configs/README.md, "wgmma")
                reason = R_WAIT
            else:
                reason = R_LONG_SB if _sb_has_long(sb_rel, sb_long, sb_n, ws, b, c) else R_SHORT_SB
            wake = NEVER
            for q in range(sb_n[ws, b]):
                v = sb_rel[ws, b, q]
                if c < v < wake:
                    wake = v
            if c < vis < wake:
                wake = vis
            return reason, wake, np.int64(1) << b
    b = w_depbar[ws, D_MBAR]
    if b >= 0:
        # an issued TRYWAIT holds the instruction that consumes its result (the one waiting on its write SB;
        # without control bits the next one) until the awaited mbarrier phase completes: all arrivals and
        # all transaction bytes in.  Nsight state "long scoreboard" (configs/README.md, "TMA and mbarriers")
        sbw = w_depbar[ws, D_MBAR_SB]
        if sbw < 0 or not ctrl or (st[s, S_WAIT] >> sbw) & 1:
            cps = p[P_CTAS_PER_SM]
            wpc = p[P_WARPS_PER_CTA]
            cs = sm * cps + (ws - sm * cps * wpc) // wpc
            t = _mb_complete_at(mb_st, mb_done, cs, b, w_depbar[ws, D_MBAR_PH])
            if t > c:
                if t > NEVER:
                    t = NEVER  # a TMA copy of this epoch not served yet: _resolve lowers the wake-up cycle
                if c < vis < t:
                    t = vis
                return R_LONG_SB, t, WM_MBAR
    k = w_depbar[ws, D_CGA]
    if k >= 0:
        # UCGABAR_WAIT: until every warp of every CTA of the cluster arrived at phase k (Nsight "barrier");
        # ``cl`` changes only at epoch ends, which wake the cluster's warps
        cps = p[P_CTAS_PER_SM]
        wpc = p[P_WARPS_PER_CTA]
        cs = sm * cps + (ws - sm * cps * wpc) // wpc
        ci = cs_cta[cs] // p[P_CLUSTER]
        t = NEVER
        if ci < cl.shape[0] and cl[ci, CL_PHASE] > k:
            t = cl[ci, CL_DONE0 + k % PH]
        if t > c:
            if c < vis < t:
                t = vis
            return R_BARRIER, t, 0
    return -1, c + 1, 0


@njit(cache=True, _nrt=False)
def _classify_resource(p, c, s, sc, st, unit_free, mq_leave, mq_n):
    """Sub-core resources for a warp whose own conditions hold (MGC §2.1 item 5, §6.2):
    the unit's input latch for fixed-latency work, a memory-queue entry for memory work."""
    fl = st[s, S_FLAGS]
    u = st[s, S_UNIT]
    if u == U_MEM:
        occ = 0
        first = NEVER
        for k in range(mq_n[sc]):
            v = mq_leave[sc, k]
            if v >= c:
                occ += 1
                if v + 1 < first:
                    first = v + 1
        if occ >= p[P_MQ_CAP]:
            return (R_LG if fl & F_LONG else R_MIO), first
    elif (fl & F_VARIABLE) == 0:
        if unit_free[sc, u] > c:
            if u == U_FP32 and p[P_STEER] and (fl & F_IMAD) == 0:
                if unit_free[sc, U_INT] > c:
                    t = unit_free[sc, U_INT]
                    if unit_free[sc, u] < t:
                        t = unit_free[sc, u]
                    return R_MATH, t
            else:
                return R_MATH, unit_free[sc, u]
    return -1, c + 1


@njit(cache=True, _nrt=False)
def _set_reason(ws, r, c, w_reason, w_since, w_pc, inst_static, counters, pc_stats):
    """Interval accounting of warp states: the old state is charged for [since, c)."""
    old = w_reason[ws]
    if old == r:
        return
    if old >= 0 and c > w_since[ws]:
        d = c - w_since[ws]
        counters[C_REASON_BASE + old] += d
        pc_stats[inst_static[w_pc[ws]], 1 + old] += d
    w_reason[ws] = r
    w_since[ws] = c


@njit(cache=True, _nrt=False)
def _sm_epoch(p, sm, t0, t1, sg, rq, dn, st, inst_static, inst_mask, inst_sectors,
              w_trace, w_pc, w_fetch, w_end, w_age, w_stall, w_bar, w_ibn, w_ibh, w_ibt, w_reason,
              w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r, w_ldgsts_done, w_depbar,
              sb_rel, sb_long, sb_n, reg_ready, reg_war, reg_long,
              sc_greedy, sc_control_free, sc_alloc_free, sc_issue_busy, unit_free, rfc, port_cyc, port_used,
              mq_leave, mq_n, mq_head, sc_addr_free, sm_shared_next, sm_fp64_free,
              c_live, c_bar, w_wake, w_since, w_launch, sc_next, w_ready,
              counters, pc_stats, issue_log, sb_log, acc_ptr, inst_ways, inst_space,
              il0_tag, il0_rdy, il0_lru, il1_tag, il1_rdy, il1_lru, w_wmask, w_ldgsts_pend, vis,
              inst_addr, mb_addr, mb_st, mb_done, w_sync, cl, cs_cta):
    """Advance SM ``sm`` through cycles [t0, t1) of an epoch.  It touches only its own rows of the
    state arrays, its scalars ``sg``, its request and CTA-completion buffers ``rq`` and ``dn`` and
    the counter rows of the thread that runs it, so SMs can advance concurrently (the cluster rows
    ``cl`` it only reads; they change at epoch ends).

    Event-driven: a sub-core is visited only in cycles where one of its warps may change state
    (its wake-up cycle), after an issue or while it has instructions to fetch; warp states are
    charged per interval, so skipped cycles are accounted exactly (with ``P_IDLE_SKIP`` = 0 every
    sub-core and warp is re-examined every cycle instead, which must give identical counters).
    The cycles it examines are marked in its ring ``vis`` (for ``C_SKIPPED``).
    """
    n_sub = p[P_SUBCORES]
    cps = p[P_CTAS_PER_SM]
    wpc = p[P_WARPS_PER_CTA]
    wslots = cps * wpc
    policy = p[P_POLICY]
    ctrl = p[P_CTRL]
    banks = p[P_BANKS]
    ports = p[P_PORTS]
    log = p[P_LOG]
    skip = p[P_IDLE_SKIP] and not log
    sc0 = sm * n_sub
    c = t0
    while True:
        if skip:
            cn = NEVER
            for sc in range(sc0, sc0 + n_sub):
                if sc_next[sc] < cn:
                    cn = sc_next[sc]
            if cn > c:
                c = cn
        if c >= t1:
            break
        vis[(c >> 6) % VIS_WORDS] |= np.int64(1) << (c & 63)
        if log and sm == 0 and w_trace[0] >= 0 and c < sb_log.shape[0]:
            # SB values of warp slot 0 as the issue stage sees them at the start of cycle c
            for b in range(NSB):
                sb_log[c, b] = _sb_pending(sb_rel, sb_n, 0, b, c, w_last_issue, w_last_wsb, w_last_rsb,
                                           w_last_rel_w, w_last_rel_r)
        for sc in range(sc0, sc0 + n_sub):
            if skip and sc_next[sc] > c:
                continue
            sub = sc - sc0
            blocked = sc_control_free[sc] > c + 1 or sc_issue_busy[sc] > c
            unblock = sc_control_free[sc] - 1
            if sc_issue_busy[sc] > unblock:
                unblock = sc_issue_busy[sc]
            best = -1
            best_key = NEVER
            greedy = sc_greedy[sc]
            sc_min = NEVER
            any_warp = False
            for slot in range(sub, wslots, n_sub):
                ws = sm * wslots + slot
                if w_trace[ws] < 0:
                    continue
                any_warp = True
                if w_launch[ws] > c:
                    if w_launch[ws] < sc_min:
                        sc_min = w_launch[ws]
                    continue
                if skip and w_ready[ws]:
                    # own conditions still hold: only the sub-core resources can have changed
                    r, wake = _classify_resource(p, c, inst_static[w_pc[ws]], sc, st, unit_free, mq_leave, mq_n)
                else:
                    if skip and w_wake[ws] > c:
                        if w_wake[ws] < sc_min:
                            sc_min = w_wake[ws]
                        continue
                    r, wake, wm = _classify_local(p, c, ws, sc, sm, st, inst_static, w_pc, w_stall, w_bar, w_ibn,
                                                  w_ibh, w_ibt, sb_rel, sb_long, sb_n, w_last_issue, w_last_wsb,
                                                  w_last_rsb, w_last_rel_w, w_last_rel_r, reg_ready, reg_war, reg_long,
                                                  ctrl, w_depbar, mb_st, mb_done, cl, cs_cta)
                    w_wmask[ws] = wm
                    if r < 0:
                        if c >= w_last_issue[ws] + 2:
                            w_ready[ws] = 1
                        r, wake = _classify_resource(p, c, inst_static[w_pc[ws]], sc, st, unit_free, mq_leave,
                                                     mq_n)
                if r < 0:
                    if blocked:
                        r = R_DISPATCH
                        wake = unblock
                    else:
                        r = R_NOT_SELECTED
                        wake = c + 1
                        if ws == greedy and policy != 2:
                            key = -NEVER
                        elif policy == 0:       # CGGTY: youngest
                            key = -w_age[ws]
                        elif policy == 1:       # GTO: oldest
                            key = w_age[ws]
                        else:                   # LRR: next slot after the last issued one
                            base = greedy - sm * wslots if greedy >= 0 else -1
                            key = (slot - base - 1 + wslots) % wslots
                        if key < best_key:
                            best_key = key
                            best = ws
                _set_reason(ws, r, c, w_reason, w_since, w_pc, inst_static, counters, pc_stats)
                w_wake[ws] = wake
                if wake < sc_min:
                    sc_min = wake
            if not any_warp:
                sc_next[sc] = NEVER
                continue
            active = False
            if best >= 0:
                active = True
                # the issuing warp is charged one 'selected' cycle at its current PC
                _set_reason(best, R_SELECTED, c, w_reason, w_since, w_pc, inst_static, counters, pc_stats)
                _set_reason(best, -1, c + 1, w_reason, w_since, w_pc, inst_static, counters, pc_stats)
                w_wake[best] = c + 1
                w_ready[best] = 0
                _issue(p, sg, rq, st, c, best, sc, sm, inst_static, inst_mask, inst_sectors, w_pc, w_end, w_stall,
                       w_bar, w_ibn, w_ibh, w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r,
                       w_ldgsts_done, sb_rel, sb_long, sb_n, reg_ready, reg_war, reg_long, sc_control_free,
                       sc_alloc_free, sc_issue_busy, unit_free, rfc, port_cyc, port_used, mq_leave, mq_n,
                       mq_head, sc_addr_free, sm_shared_next, sm_fp64_free, counters, pc_stats, issue_log,
                       ctrl, banks, ports, w_depbar, acc_ptr, inst_ways, inst_space, w_ldgsts_pend, inst_addr,
                       mb_addr, mb_st, mb_done, w_sync, cl, cs_cta, w_trace, w_wake, sc_next, w_ready)
                sc_greedy[sc] = best
                if w_pc[best] >= w_end[best]:
                    # a retired slot starts clean for the next CTA's warp
                    for b in range(NSB + 1):
                        sb_n[best, b] = 0
                    w_depbar[best, D_SB] = -1
                    w_depbar[best, D_GMMA_DONE] = 0
                    w_depbar[best, D_FIXED_WB] = 0
                    w_depbar[best, D_MBAR] = -1
                    w_depbar[best, D_CGA] = -1
                    if not ctrl:
                        for rg in range(256):
                            reg_ready[best, rg] = 0
                            reg_war[best, rg] = 0
                    counters[C_ACTIVE_WARP_CYCLES] += c + 1 - w_launch[best]
                    _retire(p, sg, rq, dn, best, sm, w_trace, w_ibn, w_stall, w_bar, c_live, c_bar, sc_greedy, sc, c,
                            w_wake, sc_next, cs_cta, cl)
                elif st[inst_static[w_pc[best] - 1], S_FLAGS] & F_BARRIER:
                    slot_cta = (best - sm * wslots) // wpc
                    cs = sm * cps + slot_cta
                    w_bar[best] = 1
                    c_bar[cs] += 1
                    _release_barrier(sm, slot_cta, cs, wslots, wpc, n_sub, w_bar, w_stall, c_live, c_bar, c,
                                     w_wake, sc_next)
                elif st[inst_static[w_pc[best] - 1], S_FLAGS] & F_BAR_ARRIVE and w_bar[best] == 0:
                    # BAR.ARV: the warp's arrival counts towards the barrier of this phase, the warp goes on
                    # (w_bar 2 = arrived, not waiting)
                    slot_cta = (best - sm * wslots) // wpc
                    cs = sm * cps + slot_cta
                    w_bar[best] = 2
                    c_bar[cs] += 1
                    _release_barrier(sm, slot_cta, cs, wslots, wpc, n_sub, w_bar, w_stall, c_live, c_bar, c,
                                     w_wake, sc_next)
            # fetch: follow the last issued warp, else the policy's preferred warp with buffer space (MGC §3):
            # youngest for CGGTY, oldest otherwise
            fw = -1
            gw = sc_greedy[sc]
            if gw >= 0 and w_trace[gw] >= 0 and w_ibn[gw] < 3 and w_fetch[gw] < w_end[gw] and w_launch[gw] <= c:
                fw = gw
            else:
                fa = -NEVER
                for slot in range(sub, wslots, n_sub):
                    ws = sm * wslots + slot
                    if w_trace[ws] < 0 or w_ibn[ws] >= IB_ENTRIES or w_fetch[ws] >= w_end[ws] or w_launch[ws] > c:
                        continue
                    key = w_age[ws] if policy == 0 else -w_age[ws]
                    if key > fa:
                        fa = key
                        fw = ws
            if fw >= 0 and not p[P_IPERFECT]:
                t = _iline(p, sg, c, sc, sm, st[inst_static[w_fetch[fw]], S_ILINE], True, il0_tag, il0_rdy,
                           il0_lru, il1_tag, il1_rdy, il1_lru)
                if t > c:
                    # the preferred warp waits for its line: fetch for another warp whose line is there
                    if t < sc_min:
                        sc_min = t
                    pref = fw
                    fw = -1
                    fa = -NEVER
                    for slot in range(sub, wslots, n_sub):
                        ws = sm * wslots + slot
                        if ws == pref or w_trace[ws] < 0 or w_ibn[ws] >= IB_ENTRIES or w_fetch[ws] >= w_end[ws] \
                                or w_launch[ws] > c:
                            continue
                        t2 = _iline(p, sg, c, sc, sm, st[inst_static[w_fetch[ws]], S_ILINE], False, il0_tag,
                                    il0_rdy, il0_lru, il1_tag, il1_rdy, il1_lru)
                        if t2 > c:
                            if t2 < sc_min:
                                sc_min = t2
                            continue
                        key = w_age[ws] if policy == 0 else -w_age[ws]
                        if key > fa:
                            fa = key
                            fw = ws
            if fw >= 0:
                k = (w_ibh[fw] + w_ibn[fw]) % 3
                w_ibt[fw, k] = c + 2
                w_ibn[fw] += 1
                w_fetch[fw] += 1
                if w_wake[fw] > c + 2:
                    w_wake[fw] = c + 2
                active = True
                if c + 2 < sc_min:
                    sc_min = c + 2
            if active:
                sc_min = c + 1
            if sc_min < sc_next[sc] or sc_next[sc] <= c:
                sc_next[sc] = sc_min
        c += 1


@njit(cache=True, _nrt=False)
def _advance(p, sm, limit, E, sg, rq, dn, st, inst_static, inst_mask, inst_sectors,
            w_trace, w_pc, w_fetch, w_end, w_age, w_stall, w_bar, w_ibn, w_ibh, w_ibt, w_reason,
            w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r, w_ldgsts_done, w_depbar,
            sb_rel, sb_long, sb_n, reg_ready, reg_war, reg_long,
            sc_greedy, sc_control_free, sc_alloc_free, sc_issue_busy, unit_free, rfc, port_cyc, port_used,
            mq_leave, mq_n, mq_head, sc_addr_free, sm_shared_next, sm_fp64_free,
            c_live, c_bar, w_wake, w_since, w_launch, sc_next, w_ready,
            counters, pc_stats, issue_log, sb_log, acc_ptr, inst_ways, inst_space,
            il0_tag, il0_rdy, il0_lru, il1_tag, il1_rdy, il1_lru, w_wmask, w_ldgsts_pend, vis,
            inst_addr, mb_addr, mb_st, mb_done, w_sync, cl, cs_cta):
    """Run SM ``sm`` epoch by epoch (``E`` cycles each) up to ``limit`` or until it has buffered something."""
    while sg[SG_POS] < limit and sg[SG_NREQ] == 0 and sg[SG_NDONE] == 0:
        t = sg[SG_POS]
        _sm_epoch(p, sm, t, t + E, sg, rq, dn, st, inst_static, inst_mask, inst_sectors,
                  w_trace, w_pc, w_fetch, w_end, w_age, w_stall, w_bar, w_ibn, w_ibh, w_ibt, w_reason,
                  w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r, w_ldgsts_done, w_depbar,
                  sb_rel, sb_long, sb_n, reg_ready, reg_war, reg_long,
                  sc_greedy, sc_control_free, sc_alloc_free, sc_issue_busy, unit_free, rfc, port_cyc, port_used,
                  mq_leave, mq_n, mq_head, sc_addr_free, sm_shared_next, sm_fp64_free,
                  c_live, c_bar, w_wake, w_since, w_launch, sc_next, w_ready,
                  counters, pc_stats, issue_log, sb_log, acc_ptr, inst_ways, inst_space,
                  il0_tag, il0_rdy, il0_lru, il1_tag, il1_rdy, il1_lru, w_wmask, w_ldgsts_pend, vis,
                  inst_addr, mb_addr, mb_st, mb_done, w_sync, cl, cs_cta)
        sg[SG_POS] = t + E


@njit(cache=True, _nrt=False)
def _mem_data(p, st, s, fl, t):
    """Cycle a global access's data is in the register file, from the cycle ``t`` the memory system
    delivers it: 512 bits per cycle (MGC §6.3); an LDGSTS completes its copy P_LDGSTS_EXTRA later, a
    TMA copy lands in shared memory P_TMA_EXTRA later."""
    if fl & F_LDGSTS:
        return t + p[P_LDGSTS_EXTRA]
    if fl & F_TMA:
        return t + p[P_TMA_EXTRA]
    return t + 2 * (st[s, S_MEM_REGS] - 1)


@njit(cache=True, _nrt=False)
def _patch(p, st, inst_static, ws, s, tag, v, ctrl, sb_rel, sb_n, w_last_rel_w, reg_ready, w_trace, w_pc, w_wake,
           w_wmask, sc_next):
    """Replace the placeholder ``tag`` of warp ``ws`` (instruction static ``s``) by the resolved release
    cycle ``v`` and lower the warp's wake-up cycle where its cached state was computed from that entry."""
    seen = False
    for b in range(NSB):
        for k in range(sb_n[ws, b]):
            if sb_rel[ws, b, k] == tag:
                sb_rel[ws, b, k] = v
                if (w_wmask[ws] >> b) & 1:
                    seen = True
    if w_last_rel_w[ws] == tag:
        w_last_rel_w[ws] = v
    if not ctrl:
        cur = inst_static[w_pc[ws]] if w_trace[ws] >= 0 else s
        for k in range(4):
            rg = st[s, S_DST0 + k]
            if rg >= 0 and rg != 255 and reg_ready[ws, rg] == tag:
                reg_ready[ws, rg] = v
                if w_wmask[ws] & WM_REGS:
                    for q in range(4):
                        if st[cur, S_SRC0 + q] == rg or st[cur, S_DST0 + q] == rg:
                            seen = True
    if seen and w_trace[ws] >= 0 and v < w_wake[ws]:
        w_wake[ws] = v
        n_sub = p[P_SUBCORES]
        wslots = p[P_CTAS_PER_SM] * p[P_WARPS_PER_CTA]
        sm = ws // wslots
        sc = sm * n_sub + (ws - sm * wslots) % n_sub
        if sc_next[sc] > v:
            sc_next[sc] = v


@njit(cache=True, _nrt=False)
def _mb_wake(p, cs, b, mb_st, mb_done, w_trace, w_wake, w_wmask, w_depbar, sc_next):
    """A pending completion of mbarrier ``b`` of CTA slot ``cs`` was resolved: lower the wake-up cycle of the
    warps whose wait on it was computed from the placeholder (``WM_MBAR``) to the phase's completion."""
    cps = p[P_CTAS_PER_SM]
    wpc = p[P_WARPS_PER_CTA]
    n_sub = p[P_SUBCORES]
    sm = cs // cps
    slot_cta = cs - sm * cps
    for q in range(wpc):
        ws = sm * cps * wpc + slot_cta * wpc + q
        if w_trace[ws] < 0 or (w_wmask[ws] & WM_MBAR) == 0 or w_depbar[ws, D_MBAR] != b:
            continue
        t = _mb_complete_at(mb_st, mb_done, cs, b, w_depbar[ws, D_MBAR_PH])
        if t < w_wake[ws] and t <= NEVER:
            w_wake[ws] = t
            sc = sm * n_sub + (slot_cta * wpc + q) % n_sub
            if sc_next[sc] > t:
                sc_next[sc] = t


@njit(cache=True, _nrt=False)
def _resolve(p, sm, k, t1, smg, req, st, inst_static, counters, mp, ms, acc_ptr, acc_line, acc_mask, l1_tag, l1_rdy,
             l1_lru, l2_tag, l2_rdy, l2_dirty, l2_lru, mshr, w_ldgsts_done, w_ldgsts_acc, sb_rel, sb_n, w_last_rel_w,
             reg_ready, w_trace, w_pc, w_wake, w_wmask, sc_next, mb_st, mb_done, w_depbar):
    """Serve request k of SM ``sm`` buffered in the epoch ending at t1 (the work ``_issue`` would do at
    issue in a serial model).  Returns False if its result would have been due inside the epoch."""
    ws = req[sm, k, Q_WS]
    i = req[sm, k, Q_INST]
    fl_q = req[sm, k, Q_FLAGS]
    s = inst_static[i]
    fl = st[s, S_FLAGS]
    wb = np.int64(0)
    if fl_q & Q_ACCESS:
        kind = 0
        if fl & F_ATOMIC:
            kind = 2
        elif (fl & F_STORE) and not (fl & F_LOAD):
            kind = 1
        t = msys.access(mp, ms, sm, req[sm, k, Q_LEAVE], kind, (fl & F_BYPASS_L1) != 0, acc_ptr, acc_line, acc_mask,
                        i, l1_tag, l1_rdy, l1_lru, l2_tag, l2_rdy, l2_dirty, l2_lru, counters, C_MEM_BASE, mshr)
        wb = _mem_data(p, st, s, fl, t)
        if fl & F_LDGSTS:
            if wb > w_ldgsts_done[ws]:
                w_ldgsts_done[ws] = wb
            if wb > w_ldgsts_acc[ws]:
                w_ldgsts_acc[ws] = wb
    if fl_q & Q_MBAR:
        # the TMA copy's phase completes when its data has landed (and every earlier copy charged to it)
        if wb < t1:
            return False
        rows = req.shape[1]
        prev = req[sm, k, Q_PREV]
        if prev > NEVER:
            prev = req[sm, prev - MB_PEND - sm * rows, Q_RES]
        res = wb if wb > prev else prev
        req[sm, k, Q_RES] = res
        cell = req[sm, k, Q_MB]
        cs = cell // (NB * PH)
        b = (cell // PH) % NB
        ph = cell % PH
        if mb_done[cs, b, ph] == MB_PEND + sm * rows + k:
            mb_done[cs, b, ph] = res
            _mb_wake(p, cs, b, mb_st, mb_done, w_trace, w_wake, w_wmask, w_depbar, sc_next)
    if (fl_q & Q_PATCH) == 0:
        return True
    if fl & F_LDGDEPBAR:
        # LDGSTS known at its issue, then those of this epoch issued before it (served already)
        wb = req[sm, k, Q_DATA]
        if w_ldgsts_acc[ws] > wb:
            wb = w_ldgsts_acc[ws]
    if wb + 1 < t1:
        return False
    if wb > smg[sm, SG_LAST_EVENT]:
        smg[sm, SG_LAST_EVENT] = wb
    _patch(p, st, inst_static, ws, s, PENDING + sm * req.shape[1] + k, wb + 1, p[P_CTRL], sb_rel, sb_n, w_last_rel_w,
           reg_ready, w_trace, w_pc, w_wake, w_wmask, sc_next)
    return True


@njit(cache=True, _nrt=False)
def _cga_event(p, sm, k, t1, req, cl, w_trace, w_wake, sc_next, w_ready):
    """Serve a cluster-barrier arrival or a cluster warp's exit buffered in the epoch ending at t1 (the work
    ``_issue`` / ``_retire`` would do in a serial model).  A phase it completes is visible the cycle after
    it; returns False if that lies inside the epoch (the lockstep epochs end right after such events)."""
    c = req[sm, k, Q_CYCLE]
    ci = req[sm, k, Q_MB]
    if req[sm, k, Q_FLAGS] & Q_CGA_ARV:
        cl[ci, CL_CNT0 + req[sm, k, Q_PREV] % PH] += 1
    else:
        cl[ci, CL_WARPS] -= 1
    ph = cl[ci, CL_PHASE]
    _cga_check(p, ci, c, cl, w_trace, w_wake, sc_next, w_ready)
    return cl[ci, CL_PHASE] == ph or c + 1 >= t1


@njit(cache=True, _nrt=False)
def _epoch_end(p, g, t0, t1, smg, req, dn, st, cta_warp_ptr, warp_inst_ptr, inst_static, counters, mp, ms, acc_ptr,
               acc_line, acc_mask, l1_tag, l1_rdy, l1_lru, l2_tag, l2_rdy, l2_dirty, l2_lru, mshr, w_ldgsts_done,
               w_ldgsts_acc, w_ldgsts_pend, sb_rel, sb_n, w_last_rel_w, reg_ready, w_trace, w_pc, w_fetch, w_end,
               w_age, w_stall, w_bar, w_ibn, w_ibh, c_live, c_bar, w_wake, w_reason, w_launch, sc_next, w_ready,
               w_wmask, ptr, w_depbar, mb_addr, mb_st, mb_done, w_sync, cl, cs_cta):
    """The serial step at cycle t1, which every SM has reached: the SMs stopped at t1 have buffered
    memory requests, cluster-barrier events or finished CTAs in their last epoch [t0, t1).  Serve the
    requests in issue order (cycle, SM, sub-core), the order of a serial model's calls of the memory
    system, then refill the finished CTA slots in the same order (whole clusters in a cluster launch).
    (An SM further ahead has nothing buffered before t1.)

    Returns False if a result fell inside the epoch that issued it (a model bug)."""
    n_sm = p[P_NUM_SM]
    ok = True
    nreq = 0
    ndone = 0
    for sm in range(n_sm):
        ptr[sm] = 0
        if smg[sm, SG_POS] == t1:
            nreq += smg[sm, SG_NREQ]
            ndone += smg[sm, SG_NDONE]
    if nreq > 0:
        for c in range(t0, t1):
            for sm in range(n_sm):
                if smg[sm, SG_POS] != t1:
                    continue
                k = ptr[sm]
                while k < smg[sm, SG_NREQ] and req[sm, k, Q_CYCLE] == c:
                    if req[sm, k, Q_FLAGS] & (Q_CGA_ARV | Q_CGA_EXIT):
                        if not _cga_event(p, sm, k, t1, req, cl, w_trace, w_wake, sc_next, w_ready):
                            ok = False
                    elif not _resolve(p, sm, k, t1, smg, req, st, inst_static, counters, mp, ms, acc_ptr, acc_line,
                                      acc_mask, l1_tag, l1_rdy, l1_lru, l2_tag, l2_rdy, l2_dirty, l2_lru, mshr,
                                      w_ldgsts_done, w_ldgsts_acc, sb_rel, sb_n, w_last_rel_w, reg_ready, w_trace,
                                      w_pc, w_wake, w_wmask, sc_next, mb_st, mb_done, w_depbar):
                        ok = False
                    k += 1
                ptr[sm] = k
        for sm in range(n_sm):
            if smg[sm, SG_POS] != t1:
                continue
            for k in range(smg[sm, SG_NREQ]):
                ws = req[sm, k, Q_WS]
                w_ldgsts_pend[ws] = 0
                w_ldgsts_acc[ws] = 0
            smg[sm, SG_NREQ] = 0
    # CTA dispatch: a finished slot is refilled at the epoch end (cta_launch_latency later, if that is later)
    if ndone > 0:
        cps = p[P_CTAS_PER_SM]
        for sm in range(n_sm):
            ptr[sm] = 0
        for c in range(t0, t1):
            for sm in range(n_sm):
                if smg[sm, SG_POS] != t1:
                    continue
                k = ptr[sm]
                while k < smg[sm, SG_NDONE] and dn[sm, k, 0] == c:
                    if c > g[G_LAST_RETIRE]:
                        g[G_LAST_RETIRE] = c
                    start = c + 1 + p[P_CTA_LAUNCH]
                    if start < t1:
                        start = t1
                    cs_cta[sm * cps + dn[sm, k, 1]] = -1
                    if p[P_CLUSTER] > 1:
                        _dispatch_clusters(p, g, smg, cta_warp_ptr, warp_inst_ptr, w_trace, w_pc, w_fetch, w_end,
                                           w_age, w_stall, w_bar, w_ibn, w_ibh, c_live, c_bar, counters, start, w_wake,
                                           w_reason, w_launch, sc_next, w_ready, cs_cta, mb_addr, w_sync, cl)
                    else:
                        _launch_cta(p, g, smg, cta_warp_ptr, warp_inst_ptr, sm, dn[sm, k, 1], w_trace, w_pc, w_fetch,
                                    w_end, w_age, w_stall, w_bar, w_ibn, w_ibh, c_live, c_bar, counters, start, w_wake,
                                    w_reason, w_launch, sc_next, w_ready, cs_cta, mb_addr, w_sync, cl)
                    k += 1
                ptr[sm] = k
        for sm in range(n_sm):
            if smg[sm, SG_POS] == t1:
                smg[sm, SG_NDONE] = 0
    return ok


@njit(cache=True, _nrt=False)
def _count_unexamined(vis, t0, t1):
    """Cycles of [t0, t1) that no SM examined (a serial model skips them in one step); clears their
    bits in every SM's ring."""
    n = 0
    c = t0
    while c < t1:
        w = (c >> 6) % VIS_WORDS
        hi = (c | 63) + 1
        if hi > t1:
            hi = t1
        lo_b = c & 63
        nb = hi - c
        m = np.int64(-1) if nb == 64 else ((np.int64(1) << nb) - 1) << lo_b
        u = np.int64(0)
        for sm in range(vis.shape[0]):
            u |= vis[sm, w] & m
            vis[sm, w] &= ~m
        k = 0
        while u:
            u &= u - 1
            k += 1
        n += nb - k
        c = hi
    return n


@njit(cache=True, _nrt=False)
def _lockstep_epoch(p, tstar, w_trace, w_pc, w_stall, w_launch, cga_dist):
    """Length of the next lockstep epoch from ``tstar`` (at most ``P_EPOCH``): it ends right after the
    earliest cycle in which a warp may arrive at a cluster barrier or retire.  ``cga_dist[i]``: instructions
    from dynamic instruction i to the warp's next UCGABAR_ARV or its last instruction (0: i is one); a warp
    issues at most one instruction per cycle, and not before its stall counter or launch."""
    e = p[P_EPOCH]
    for ws in range(w_trace.size):
        if w_trace[ws] < 0:
            continue
        t = w_stall[ws]
        if w_launch[ws] > t:
            t = w_launch[ws]
        if t < tstar:
            t = tstar
        d = t + cga_dist[w_pc[ws]] - tstar + 1
        if d < e:
            e = d
    return e


@njit(cache=True, parallel=True)
def run_sm(p, g, st, cta_warp_ptr, warp_inst_ptr, inst_static, inst_mask, inst_sectors, until,
           w_trace, w_pc, w_fetch, w_end, w_age, w_stall, w_bar, w_ibn, w_ibh, w_ibt, w_reason,
           w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r, w_ldgsts_done, w_depbar,
           sb_rel, sb_long, sb_n, reg_ready, reg_war, reg_long,
           sc_greedy, sc_control_free, sc_alloc_free, sc_issue_busy, unit_free, rfc, port_cyc, port_used,
           mq_leave, mq_n, mq_head, sc_addr_free, sm_shared_next, sm_fp64_free,
           c_live, c_bar, w_wake, w_since, w_launch, sc_next, w_ready, counters, pc_stats, issue_log, sb_log,
           mp, ms, acc_ptr, acc_line, acc_mask, inst_ways, inst_space, l1_tag, l1_rdy, l1_lru, l2_tag, l2_rdy,
           l2_dirty, l2_lru, mshr, il0_tag, il0_rdy, il0_lru, il1_tag, il1_rdy, il1_lru,
           inst_addr, mb_addr, mb_st, mb_done, w_sync, cl, cs_cta, cga_dist,
           smg, req, dn, w_wmask, w_ldgsts_pend, w_ldgsts_acc, ptr, vis):
    """Advance the kernel until it finishes (returns 0) or ``g[G_CYCLE]`` reaches ``until`` (returns 1;
    2: live warps but nothing can ever happen, a deadlock in the model; 3: an epoch longer than a
    memory result's latency, a bug; 4: streamed trace, see below).

    Streamed traces (``gpusim.assemble.run_streamed``): the trace arrays hold a window of the kernel's
    CTAs and ``g[G_MORE]`` says that more follow.  Between rounds, where the state is consistent (as
    for ``until``), the core returns 4 when the window holds fewer CTAs after ``g[G_NEXT_CTA]`` than the
    CTA slots (the most one epoch end can refill); the caller drops the finished CTAs, appends the next
    ones, rebases the stored indices (CTA, warp and instruction indices of resident warps and buffered
    requests) and calls again: the dispatcher never finds the window empty, so the result is the
    whole trace's, bit for bit.

    Epoch-synchronous: time is cut into epochs of ``P_EPOCH`` cycles.  Within an epoch an SM shares
    nothing (``_sm_epoch``); what SMs share, the memory system below the SM and the CTA dispatcher,
    serves the requests of an epoch at its end (``_epoch_end``), in the order a serial model would
    have made them.  An epoch is no longer than the shortest time from the issue of a global access
    to the visibility of its result, so every result lands after the epoch that issued it, as if
    served at issue; a finished CTA's slot is refilled at the end of its epoch.

    Other SMs can affect an SM only through what it has buffered, so each SM runs ahead, epoch by
    epoch, until it has buffered something (or ``HORIZON`` cycles); then the serial step serves the
    SMs stopped at the earliest position, which every SM has reached.  With clusters
    (``P_LOCKSTEP``) other SMs also place CTAs on an SM and complete the cluster barriers its warps
    wait on: all SMs advance one epoch per round, and a round ends right after the earliest cycle
    in which a cluster-barrier arrival or a warp's exit may happen (``_lockstep_epoch``), so that its
    effects, served at the epoch end, are visible the next cycle as in a serial model.
    ``counters.shape[0] - 1`` workers advance contiguous blocks of SMs in parallel threads; each has
    its own row of ``counters`` and slice of ``pc_stats`` (the last row: the serial part), summed by
    the caller.  The result is the same for any number of workers or threads.
    """
    n_sm = p[P_NUM_SM]
    n_sub = p[P_SUBCORES]
    nsc = n_sm * n_sub
    nw = counters.shape[0] - 1
    ser = counters[nw]
    E = p[P_EPOCH]
    lock = p[P_LOCKSTEP] != 0
    ahead = E * (HORIZON // E) if E < HORIZON else E
    par = True
    skip = p[P_IDLE_SKIP] and not p[P_LOG]
    tstar = g[G_CYCLE]   # every SM has reached it, and the cycles before it are counted
    t1 = tstar
    while True:
        live = 0
        held = 0
        for sm in range(n_sm):
            live += smg[sm, SG_LIVE]
            held += smg[sm, SG_NREQ] + smg[sm, SG_NDONE]
        g[G_LIVE] = live
        if live == 0 and held == 0:
            # the kernel's cycle loop ends after its last issue (the retire of its last warp)
            t1 = g[G_LAST_RETIRE] + 1 if g[G_LAST_RETIRE] >= 0 else tstar
        ser[C_SKIPPED] += _count_unexamined(vis, tstar, t1)
        tstar = t1
        g[G_CYCLE] = tstar
        if live == 0 and held == 0:
            break
        if skip and held == 0:
            cn = NEVER
            for sc in range(nsc):
                if sc_next[sc] < cn:
                    cn = sc_next[sc]
            if cn == NEVER:
                return 2
        if g[G_MORE] != 0 and g[G_NEXT_CTA] + n_sm * p[P_CTAS_PER_SM] > cta_warp_ptr.size - 1:
            # streamed trace: one epoch end may refill every CTA slot; the caller appends CTAs first
            return 4
        if tstar >= until:
            return 1
        er = E
        if lock:
            er = _lockstep_epoch(p, tstar, w_trace, w_pc, w_stall, w_launch, cga_dist)
            limit = tstar + er
            # (a round of full epochs is worth its fork and join; the short ones around barriers are not)
            par = er == E
        else:
            limit = tstar + ahead
        for sm in range(n_sm):
            ptr[sm] = smg[sm, SG_POS]
        # two loops with one body: prange forks and joins even for one iteration, which the short rounds
        # of memory-bound code cannot afford, and Numba picks prange or range only at compile time
        if par and nw > 1:
            for w in prange(nw):
                for sm in range(w * n_sm // nw, (w + 1) * n_sm // nw):
                    _advance(p, sm, limit, er, smg[sm], req[sm], dn[sm], st, inst_static, inst_mask, inst_sectors,
                             w_trace, w_pc, w_fetch, w_end, w_age, w_stall, w_bar, w_ibn, w_ibh, w_ibt, w_reason,
                             w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r, w_ldgsts_done, w_depbar,
                             sb_rel, sb_long, sb_n, reg_ready, reg_war, reg_long,
                             sc_greedy, sc_control_free, sc_alloc_free, sc_issue_busy, unit_free, rfc, port_cyc, port_used,
                             mq_leave, mq_n, mq_head, sc_addr_free, sm_shared_next, sm_fp64_free,
                             c_live, c_bar, w_wake, w_since, w_launch, sc_next, w_ready,
                             counters[w], pc_stats[w], issue_log, sb_log, acc_ptr, inst_ways, inst_space,
                             il0_tag, il0_rdy, il0_lru, il1_tag, il1_rdy, il1_lru, w_wmask, w_ldgsts_pend, vis[sm],
                             inst_addr, mb_addr, mb_st, mb_done, w_sync, cl, cs_cta)
        else:
            for w in range(nw):
                for sm in range(w * n_sm // nw, (w + 1) * n_sm // nw):
                    _advance(p, sm, limit, er, smg[sm], req[sm], dn[sm], st, inst_static, inst_mask, inst_sectors,
                             w_trace, w_pc, w_fetch, w_end, w_age, w_stall, w_bar, w_ibn, w_ibh, w_ibt, w_reason,
                             w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r, w_ldgsts_done, w_depbar,
                             sb_rel, sb_long, sb_n, reg_ready, reg_war, reg_long,
                             sc_greedy, sc_control_free, sc_alloc_free, sc_issue_busy, unit_free, rfc, port_cyc, port_used,
                             mq_leave, mq_n, mq_head, sc_addr_free, sm_shared_next, sm_fp64_free,
                             c_live, c_bar, w_wake, w_since, w_launch, sc_next, w_ready,
                             counters[w], pc_stats[w], issue_log, sb_log, acc_ptr, inst_ways, inst_space,
                             il0_tag, il0_rdy, il0_lru, il1_tag, il1_rdy, il1_lru, w_wmask, w_ldgsts_pend, vis[sm],
                             inst_addr, mb_addr, mb_st, mb_done, w_sync, cl, cs_cta)
        if not lock:
            # rounds that advance the SMs only an epoch or so (memory-bound code) run in one thread: a
            # fork and join per epoch costs more than it saves, all the more on a loaded machine
            moved = 0
            for sm in range(n_sm):
                moved += smg[sm, SG_POS] - ptr[sm]
            par = moved >= PAR_MIN_EPOCHS * E * n_sm
        t1 = limit
        for sm in range(n_sm):
            if smg[sm, SG_POS] < t1:
                t1 = smg[sm, SG_POS]
        if not _epoch_end(p, g, t1 - er, t1, smg, req, dn, st, cta_warp_ptr, warp_inst_ptr, inst_static, ser, mp, ms,
                          acc_ptr, acc_line, acc_mask, l1_tag, l1_rdy, l1_lru, l2_tag, l2_rdy, l2_dirty, l2_lru, mshr,
                          w_ldgsts_done, w_ldgsts_acc, w_ldgsts_pend, sb_rel, sb_n, w_last_rel_w, reg_ready, w_trace,
                          w_pc, w_fetch, w_end, w_age, w_stall, w_bar, w_ibn, w_ibh, c_live, c_bar, w_wake, w_reason,
                          w_launch, sc_next, w_ready, w_wmask, ptr, w_depbar, mb_addr, mb_st, mb_done, w_sync, cl,
                          cs_cta):
            return 3
    c = tstar
    # the kernel ends when the last write-back and the DRAM channel are done
    end = c
    last = g[G_LAST_EVENT]
    for sm in range(n_sm):
        if smg[sm, SG_LAST_EVENT] > last:
            last = smg[sm, SG_LAST_EVENT]
    if last > end:
        end = last
    for k in range(msys.MS_BASE, msys.MS_BASE + mp[msys.M_SLICES] + mp[msys.M_CHANNELS]):
        drain = (ms[k] + 999) // 1000
        if drain > end:
            end = drain
    if end > c:
        ser[C_SKIPPED] += end - c
    ser[C_CYCLES] += end
    ser[C_ISSUE_SLOTS] += nsc * end
    g[G_CYCLE] = end
    return 0


@njit(cache=True, _nrt=False)
def _release_barrier(sm, slot_cta, cs, wslots, wpc, n_sub, w_bar, w_stall, c_live, c_bar, c, w_wake, sc_next):
    if c_live[cs] > 0 and c_bar[cs] >= c_live[cs]:
        for k in range(wpc):
            ws = sm * wslots + slot_cta * wpc + k
            if w_bar[ws] == 2:
                w_bar[ws] = 0  # arrived with BAR.ARV: was not waiting
            elif w_bar[ws]:
                w_bar[ws] = 0
                if w_stall[ws] < c + 1:
                    w_stall[ws] = c + 1
                w_wake[ws] = c
                sc = sm * n_sub + (slot_cta * wpc + k) % n_sub
                if sc_next[sc] > c:
                    sc_next[sc] = c
        c_bar[cs] = 0


@njit(cache=True, _nrt=False)
def _retire(p, sg, rq, dn, ws, sm, w_trace, w_ibn, w_stall, w_bar, c_live, c_bar, sc_greedy, sc, c, w_wake, sc_next,
            cs_cta, cl):
    """Warp ``ws`` has issued its last instruction at cycle c.  A CTA whose last warp retires is
    recorded in ``dn`` (cycle, CTA slot); the dispatcher refills its slot at the epoch end.  In a
    cluster (``cl``) the warp no longer arrives at the cluster barrier: buffered in ``rq`` (other
    SMs' warps may wait on it), served at the epoch end."""
    cps = p[P_CTAS_PER_SM]
    wpc = p[P_WARPS_PER_CTA]
    n_sub = p[P_SUBCORES]
    wslots = cps * wpc
    slot_cta = (ws - sm * wslots) // wpc
    cs = sm * cps + slot_cta
    w_trace[ws] = -1
    w_ibn[ws] = 0
    if sc_greedy[sc] == ws:
        sc_greedy[sc] = -1
    if w_bar[ws] == 2:
        # an exited warp counts as arrived through c_live: drop its BAR.ARV arrival
        c_bar[cs] -= 1
        w_bar[ws] = 0
    c_live[cs] -= 1
    sg[SG_LIVE] -= 1
    if cs_cta[cs] >= 0 and cs_cta[cs] // p[P_CLUSTER] < cl.shape[0]:
        _push_req(sg, rq, c, ws, -1, c, Q_CGA_EXIT, 0, cs_cta[cs] // p[P_CLUSTER], 0)
    if c_live[cs] == 0:
        k = sg[SG_NDONE]
        dn[k, 0] = c
        dn[k, 1] = slot_cta
        sg[SG_NDONE] = k + 1
    else:
        _release_barrier(sm, slot_cta, cs, wslots, wpc, n_sub, w_bar, w_stall, c_live, c_bar, c, w_wake, sc_next)


@njit(cache=True, _nrt=False)
def _push_req(sg, rq, c, ws, i, leave, flags, data, mb, prev):
    """Buffer a request of the SM for the epoch end; returns its index."""
    k = sg[SG_NREQ]
    rq[k, Q_CYCLE] = c
    rq[k, Q_WS] = ws
    rq[k, Q_INST] = i
    rq[k, Q_LEAVE] = leave
    rq[k, Q_FLAGS] = flags
    rq[k, Q_DATA] = data
    rq[k, Q_MB] = mb
    rq[k, Q_PREV] = prev
    rq[k, Q_RES] = 0
    sg[SG_NREQ] = k + 1
    return k


@njit(cache=True, _nrt=False)
def _tma_charge(p, c, ws, sm, mb_st, mb_done, w_sync, w_trace, w_wake, sc_next, w_ready):
    """The mbarrier phase a TMA copy issued at cycle c completes on, as a cell index (cs * NB + b) * PH + phase % PH
    of ``mb_done`` (-1: none): the phase of the warp's last arrive.expect_tx, if it still waits for bytes
    or is not complete yet.  A first copy ends the phase's wait for one and wakes the CTA's warps; the
    caller raises the phase's completion to the copy's landing cycle."""
    cps = p[P_CTAS_PER_SM]
    wpc = p[P_WARPS_PER_CTA]
    cs = sm * cps + (ws - sm * cps * wpc) // wpc
    b = w_sync[ws, W_MBTX]
    if b < 0:
        return -1
    k = mb_st[cs, b, MB_TXPH]
    if k < 0:
        return -1
    waiting = mb_st[cs, b, MB_TXWAIT]
    if waiting or mb_done[cs, b, k % PH] > c:
        if waiting:
            mb_st[cs, b, MB_TXWAIT] = 0
            _wake_cta(p, cs, c, w_trace, w_wake, sc_next, w_ready)
        return (cs * NB + b) * PH + k % PH
    return -1


@njit(cache=True, _nrt=False)
def _sync_issue(p, fl, c, ws, sm, i, wb, wsb, inst_addr, mb_addr, mb_st, mb_done, w_sync, w_depbar, cl, cs_cta,
                w_trace, w_wake, sc_next, w_ready):
    """mbarrier and cluster-barrier-wait effects of an instruction issued at cycle c whose memory
    operation takes effect at ``wb`` (TMA copies: ``_tma_charge``; cluster arrivals: buffered).

    mbarriers are identified by their shared-memory address in the CTA (the trace records it for
    SYNCS).  A phase needs one arrival (the init count is a register value the trace does not
    carry; our kernels init with 1) and, after an arrive.expect_tx, the TMA copies charged to it:
    the copies a warp issues go to the barrier of its last arrive.expect_tx (the UTMALDG trace
    record carries the box rows, not the barrier).  A TRYWAIT waits for the next phase its warp
    has not consumed yet (one TRYWAIT per completed wait, as the SASS walker traces it)."""
    cps = p[P_CTAS_PER_SM]
    wpc = p[P_WARPS_PER_CTA]
    cs = sm * cps + (ws - sm * cps * wpc) // wpc
    if fl & (F_MBAR_ARRIVE | F_MBAR_WAIT | F_MBAR_INIT):
        b = _mb_slot(mb_addr, cs, inst_addr[i]) if inst_addr[i] >= 0 else -1
        if b < 0:
            return
        if fl & F_MBAR_INIT:
            mb_st[cs, b, MB_CLOSED] = 0
            mb_st[cs, b, MB_TXPH] = -1
            mb_st[cs, b, MB_TXWAIT] = 0
            base = sm * cps * wpc + (cs - sm * cps) * wpc
            for q in range(wpc):
                w_sync[base + q, b] = 0
            _wake_cta(p, cs, c, w_trace, w_wake, sc_next, w_ready)
        elif fl & F_MBAR_ARRIVE:
            k = mb_st[cs, b, MB_CLOSED]
            mb_st[cs, b, MB_CLOSED] = k + 1
            mb_done[cs, b, k % PH] = wb
            if fl & F_MBAR_EXPECT:
                mb_st[cs, b, MB_TXPH] = k
                mb_st[cs, b, MB_TXWAIT] = 1
                w_sync[ws, W_MBTX] = b
            _wake_cta(p, cs, c, w_trace, w_wake, sc_next, w_ready)
        else:
            w_depbar[ws, D_MBAR] = b
            w_depbar[ws, D_MBAR_PH] = w_sync[ws, b]
            w_depbar[ws, D_MBAR_SB] = wsb if 0 <= wsb < NSB else -1
            w_sync[ws, b] += 1
        return
    ci = cs_cta[cs] // p[P_CLUSTER]
    if ci >= cl.shape[0]:
        return
    if fl & F_CGA_WAIT:
        w_depbar[ws, D_CGA] = w_sync[ws, W_CGA_WAIT]
        w_sync[ws, W_CGA_WAIT] += 1


@njit(cache=True, _nrt=False)
def _issue(p, sg, rq, st, c, ws, sc, sm, inst_static, inst_mask, inst_sectors, w_pc, w_end, w_stall, w_bar, w_ibn, w_ibh,
           w_last_issue, w_last_wsb, w_last_rsb, w_last_rel_w, w_last_rel_r, w_ldgsts_done, sb_rel, sb_long, sb_n,
           reg_ready, reg_war, reg_long, sc_control_free, sc_alloc_free, sc_issue_busy, unit_free, rfc, port_cyc,
           port_used, mq_leave, mq_n, mq_head, sc_addr_free, sm_shared_next, sm_fp64_free, counters, pc_stats,
           issue_log, ctrl, banks, ports, w_depbar, acc_ptr, inst_ways, inst_space, w_ldgsts_pend, inst_addr,
           mb_addr, mb_st, mb_done, w_sync, cl, cs_cta, w_trace, w_wake, sc_next, w_ready):
    i = w_pc[ws]
    s = inst_static[i]
    fl = st[s, S_FLAGS]
    u = st[s, S_UNIT]
    # pop the instruction buffer
    w_ibh[ws] = (w_ibh[ws] + 1) % 3
    w_ibn[ws] -= 1
    w_pc[ws] = i + 1
    if issue_log.size > 1:
        issue_log[i] = c
    counters[C_WARP_INSTS] += 1
    counters[C_UNIT_BASE + u] += 1
    pc_stats[s, 0] += 1
    m = np.uint32(inst_mask[i])
    na = 0
    while m:
        m &= m - np.uint32(1)
        na += 1
    counters[C_THREAD_INSTS] += na
    w_depbar[ws, D_SB] = -1
    w_depbar[ws, D_CGA] = -1
    if w_depbar[ws, D_MBAR] >= 0:
        sbw = w_depbar[ws, D_MBAR_SB]
        if sbw < 0 or not ctrl or (st[s, S_WAIT] >> sbw) & 1:
            w_depbar[ws, D_MBAR] = -1  # this instruction consumed the TRYWAIT's result
    if fl & F_DEPBAR:
        w_depbar[ws, D_SB] = st[s, S_DEPBAR_SB]
        w_depbar[ws, D_N] = st[s, S_DEPBAR_N]
    elif fl & F_WG_DEPBAR:
        w_depbar[ws, D_SB] = GSB
        w_depbar[ws, D_N] = st[s, S_DEPBAR_N]
    # ---- stall counter and yield (MGC §1.2, §1.3)
    if ctrl:
        stall = st[s, S_STALL]
        y = st[s, S_YIELD]
        if stall == 0 and y:
            nxt = c + p[P_STALL0_YIELD]
        else:
            nxt = c + (stall if stall > 1 else 1)
            if y and nxt < c + 2:
                nxt = c + 2
    else:
        nxt = c + 1
    if fl & F_MEMBAR and nxt < c + st[s, S_LAT]:
        # the warp waits until its earlier memory operations are visible at the barrier's scope
        nxt = c + st[s, S_LAT]
    if fl & F_WG_ARRIVE and nxt < w_depbar[ws, D_FIXED_WB]:
        # wgmma.fence orders the warp's earlier register writes before the MMAs that follow (PTX ISA,
        # wgmma.fence): the warp waits until its in-flight fixed-latency results are written back
        nxt = w_depbar[ws, D_FIXED_WB]
    w_stall[ws] = nxt
    if fl & F_IMAD:
        sc_issue_busy[sc] = c + 1 + p[P_IMAD_BUSY]
    wb = c + 1          # write-back (RAW release) cycle
    war = c + 1         # source registers read (WAR release) cycle
    is_long = 0
    defer = 0           # Q_ACCESS | Q_PATCH | Q_MBAR: the memory system sees this instruction at the epoch end
    qdata = 0
    leave = c
    if fl & F_GMMA:
        # ---- asynchronous warpgroup MMA (wgmma.mma_async): the warp does not wait for it.  Its
        # quarter of the MMA enters the sub-core's tensor pipe when the pipe is free (the HGMMAs
        # of a group queue back to back), holds it S_II cycles and is done S_LAT cycles later.
        sc_control_free[sc] = c + 2
        t0 = c + 2
        if unit_free[sc, U_TENSOR] > t0:
            t0 = unit_free[sc, U_TENSOR]
        unit_free[sc, U_TENSOR] = t0 + st[s, S_II]
        wb = t0 + st[s, S_II] + st[s, S_LAT]
        war = t0
        if wb + 1 > w_depbar[ws, D_GMMA_DONE]:
            w_depbar[ws, D_GMMA_DONE] = wb + 1
        if fl & F_GMMA_COMMIT:
            # groups complete in order: a group is done when every MMA issued before its end is
            _sb_push(sb_rel, sb_long, sb_n, ws, GSB, w_depbar[ws, D_GMMA_DONE], 0, c)
    elif (fl & F_VARIABLE) == 0:
        # ---- Control (c+1) -> Allocate (>= c+2): read-port reservation (MGC §2.4, §4.2, §4.3)
        entry = c + 2
        if sc_alloc_free[sc] > entry:
            entry = sc_alloc_free[sc]
        sc_control_free[sc] = entry
        window = p[P_WINDOW] * (2 if fl & F_WIDE_WINDOW else 1)
        need0 = 0
        need1 = 0
        nsrc = st[s, S_NSRC]
        reuse = st[s, S_REUSE]
        key_base = ws * 256
        use_rfc = p[P_RFC] and (fl & F_RFC) != 0 and ctrl
        for k in range(nsrc):
            rg = st[s, S_SRC0 + k]
            if rg < 0 or rg == 255:
                continue
            bank = rg % banks
            hit = False
            if use_rfc and k < 4 and rfc[sc, k, bank] == key_base + rg:
                hit = True
            if hit:
                counters[C_RFC_HITS] += 1
                pc_stats[s, 1 + N_REASONS] += 1
            else:
                counters[C_RFC_MISSES] += 1
                if bank == 0:
                    need0 += 1
                else:
                    need1 += 1
        start = entry + 1
        for _ in range(PORT_RING - 8):
            free0 = 0
            free1 = 0
            for d in range(window):
                free0 += _ports_free(port_cyc, port_used, sc, 0, start + d, ports)
                if banks > 1:
                    free1 += _ports_free(port_cyc, port_used, sc, 1, start + d, ports)
            if free0 >= need0 and (banks < 2 or free1 >= need1):
                break
            start += 1
        # take the earliest free ports of the window
        left0 = need0
        left1 = need1
        for d in range(window):
            while left0 > 0 and _ports_free(port_cyc, port_used, sc, 0, start + d, ports) > 0:
                _port_take(port_cyc, port_used, sc, 0, start + d)
                left0 -= 1
            while banks > 1 and left1 > 0 and _ports_free(port_cyc, port_used, sc, 1, start + d, ports) > 0:
                _port_take(port_cyc, port_used, sc, 1, start + d)
                left1 -= 1
        delay = start - (c + 3)
        counters[C_ALLOC_STALL] += start - (entry + 1)
        sc_alloc_free[sc] = start
        if use_rfc:
            for k in range(nsrc):
                rg = st[s, S_SRC0 + k]
                if rg < 0 or rg == 255 or k >= 4:
                    continue
                rfc[sc, k, rg % banks] = -1
            for k in range(nsrc):
                rg = st[s, S_SRC0 + k]
                if rg < 0 or rg == 255 or k >= 4:
                    continue
                if (reuse >> k) & 1:
                    rfc[sc, k, rg % banks] = key_base + rg
        # unit input latch (initiation interval); FP32 may be steered to a free INT latch
        uu = u
        if u == U_FP32 and unit_free[sc, U_FP32] > c and p[P_STEER] and (fl & F_IMAD) == 0:
            uu = U_INT
            counters[C_STEERED] += 1
        unit_free[sc, uu] = c + st[s, S_II] + delay
        wb = c + st[s, S_LAT] + p[P_FIXED_OFFSET] + delay - 1
        war = start + window - 1
        if wb + 1 > w_depbar[ws, D_FIXED_WB]:
            w_depbar[ws, D_FIXED_WB] = wb + 1
    else:
        sc_control_free[sc] = c + 2
        if u == U_MEM:
            counters[C_MEM_INSTS] += 1
            # ---- sub-core memory unit and SM-shared unit (MGC §6.2, §1.6)
            sp = inst_space[i]
            is_dsm = sp == SP_DSM
            is_shared = sp == 2 or is_dsm
            is_gmem = sp == 1 or sp == 3 or sp == 6
            addr = p[P_ADDR_UNI] if ((fl & F_UNIFORM_ADDR) or is_shared) else p[P_ADDR_REG]
            r = c + p[P_READ_DELAY]
            if sc_addr_free[sc] > r:
                r = sc_addr_free[sc]
            # variable-latency reads need a free port on every bank (fixed-latency reads have priority)
            for _ in range(PORT_RING - 8):
                ok = True
                for b in range(banks):
                    if _ports_free(port_cyc, port_used, sc, b, r, ports) <= 0:
                        ok = False
                if ok:
                    break
                r += 1
            for b in range(banks):
                _port_take(port_cyc, port_used, sc, b, r)
            sc_addr_free[sc] = r + addr
            leave = r + addr
            if sm_shared_next[sm] > leave:
                leave = sm_shared_next[sm]
            replays = 0
            if is_shared:
                ways = inst_ways[i] if inst_ways[i] > 0 else 1
                counters[C_SHARED_WAVEFRONTS] += ways
                # wavefronts the access width needs anyway (128 B each); the rest are bank conflicts
                m2 = np.uint32(inst_mask[i])
                nact = 0
                while m2:
                    m2 &= m2 - np.uint32(1)
                    nact += 1
                base_w = (nact * 4 * st[s, S_MEM_REGS] + 127) // 128
                if base_w < 1:
                    base_w = 1
                if ways > base_w:
                    replays = ways - base_w
                counters[C_SHARED_REPLAYS] += replays
            # the SM-shared unit takes one instruction per interval, a bank conflict replays it (§6.2), and
            # its data path moves l1_bytes_per_cycle: a 128-bit access of 32 lanes holds it 4 cycles
            occ = p[P_SM_INTERVAL] * (1 + replays)
            if is_shared:
                data_cycles = (ways * 128 + p[P_L1_BPC] - 1) // p[P_L1_BPC]
            elif is_gmem:
                data_cycles = (inst_sectors[i] * 32 + p[P_L1_BPC] - 1) // p[P_L1_BPC]
            else:
                data_cycles = 0
            if data_cycles > occ:
                occ = data_cycles
            sm_shared_next[sm] = leave + occ
            # queue ring of leave cycles
            if mq_n[sc] < MQ_RING:
                mq_leave[sc, (mq_head[sc] + mq_n[sc]) % MQ_RING] = leave
                mq_n[sc] += 1
            # compact: drop entries that left before c
            kk = 0
            for k in range(mq_n[sc]):
                v = mq_leave[sc, (mq_head[sc] + k) % MQ_RING]
                if v >= c:
                    mq_leave[sc, kk] = v
                    kk += 1
            mq_head[sc] = 0
            mq_n[sc] = kk
            nregs = st[s, S_MEM_REGS]
            war = r + addr - 1
            if fl & F_STORE:
                war += 1 + 2 * nregs
            if is_shared:
                counters[C_SHARED_INSTS] += 1
                # shared data returns 2 registers per 2 cycles (MGC §6.3 Table 2: 24/24/26)
                # (the shared path computes addresses in 2 cycles: its fixed part is read delay + 2 + 1)
                # a peer CTA's shared memory (distributed shared memory) answers over the SM-to-SM network
                lat = p[P_DSM_LAT] if is_dsm else st[s, S_LAT]
                if is_dsm:
                    is_long = 1
                data = leave + p[P_SM_INTERVAL] * replays + lat - (p[P_READ_DELAY] + p[P_ADDR_UNI] + 1) \
                    + 2 * ((nregs + 1) // 2 - 1)
            elif is_gmem:
                is_long = 1
                counters[C_GLOBAL_SECTORS] += inst_sectors[i]
                if fl & F_LDGSTS:
                    counters[C_LDGSTS] += 1
                if acc_ptr[i + 1] > acc_ptr[i]:
                    # the caches are shared state: the access is buffered and served at the epoch end
                    # (``_resolve``, in issue order), its result lies beyond the epoch (P_EPOCH)
                    defer = Q_ACCESS | Q_PATCH
                    data = 0
                else:
                    data = _mem_data(p, st, s, fl, leave)
            else:
                data = leave + st[s, S_LAT] - p[P_UNLOADED_PATH] + 2 * (nregs - 1)
            if fl & F_LDGSTS:
                if defer:
                    w_ldgsts_pend[ws] = 1
                elif data > w_ldgsts_done[ws]:
                    w_ldgsts_done[ws] = data
            wb = data
        else:
            # SFU, conversions, shared FP64, variable-latency tensor: a unit with a queue
            t0 = c + 2
            if fl & F_SHARED_FP64:
                if sm_fp64_free[sm] > t0:
                    t0 = sm_fp64_free[sm]
                sm_fp64_free[sm] = t0 + st[s, S_II]
            else:
                if unit_free[sc, u] > t0:
                    t0 = unit_free[sc, u]
                unit_free[sc, u] = t0 + st[s, S_II]
            war = t0 + 1
            wb = t0 + st[s, S_LAT] + p[P_FIXED_OFFSET]
        if fl & F_LDGDEPBAR:
            wb = w_ldgsts_done[ws] if w_ldgsts_done[ws] > c + 2 else c + 2
            defer &= Q_ACCESS
            if w_ldgsts_pend[ws]:
                # LDGSTS of this epoch are outstanding: the result is their latest completion, known at the end
                defer |= Q_PATCH
                qdata = wb
    mbcell = -1
    mbprev = np.int64(0)
    if fl & F_TMA:
        # the copy completes the mbarrier phase of the warp's last arrive.expect_tx when its data lands
        mbcell = _tma_charge(p, c, ws, sm, mb_st, mb_done, w_sync, w_trace, w_wake, sc_next, w_ready)
        if mbcell >= 0:
            mcs = mbcell // (NB * PH)
            mb = (mbcell // PH) % NB
            mph = mbcell % PH
            mbprev = mb_done[mcs, mb, mph]
            if defer & Q_ACCESS:
                # landing known at the epoch end (``_resolve``): a placeholder above NEVER until then
                defer |= Q_MBAR
                mb_done[mcs, mb, mph] = MB_PEND + sm * rq.shape[0] + sg[SG_NREQ]
            else:
                if wb > mbprev:
                    mb_done[mcs, mb, mph] = wb
                mbcell = -1
    elif fl & (F_MBAR_ARRIVE | F_MBAR_WAIT | F_MBAR_INIT | F_CGA_WAIT):
        _sync_issue(p, fl, c, ws, sm, i, wb, st[s, S_WSB] if ctrl else -1, inst_addr, mb_addr, mb_st, mb_done,
                    w_sync, w_depbar, cl, cs_cta, w_trace, w_wake, sc_next, w_ready)
    if defer:
        k = _push_req(sg, rq, c, ws, i, leave, defer, qdata, mbcell, mbprev)
        if defer & Q_PATCH:
            wb = PENDING + sm * rq.shape[0] + k - 1
    if fl & F_CGA_ARRIVE:
        # barrier.cluster.arrive: warps of other SMs wait on it, so it is counted at the epoch end
        cs = sm * p[P_CTAS_PER_SM] + (ws - sm * p[P_CTAS_PER_SM] * p[P_WARPS_PER_CTA]) // p[P_WARPS_PER_CTA]
        ci = cs_cta[cs] // p[P_CLUSTER]
        if ci < cl.shape[0]:
            a = w_sync[ws, W_CGA_ARV]
            w_sync[ws, W_CGA_ARV] = a + 1
            _push_req(sg, rq, c, ws, i, c, Q_CGA_ARV, 0, ci, a)
    if (defer & Q_PATCH) == 0 and wb > sg[SG_LAST_EVENT]:
        sg[SG_LAST_EVENT] = wb
    # ---- releases: visible the cycle after write-back / read
    rel_w = wb + 1
    rel_r = war + 1
    w_last_issue[ws] = c
    w_last_wsb[ws] = -1
    w_last_rsb[ws] = -1
    if ctrl:
        b = st[s, S_WSB]
        if b >= 0 and b < NSB:
            _sb_push(sb_rel, sb_long, sb_n, ws, b, rel_w, is_long, c)
            w_last_wsb[ws] = b
            w_last_rel_w[ws] = rel_w
        b = st[s, S_RSB]
        if b >= 0 and b < NSB:
            _sb_push(sb_rel, sb_long, sb_n, ws, b, rel_r, 0, c)
            w_last_rsb[ws] = b
            w_last_rel_r[ws] = rel_r
    else:
        kind = 0
        if fl & F_VARIABLE:
            kind = 1 if is_long else 2
        # (a wgmma's registers are guarded by WARPGROUP.DEPBAR, which real code must execute before
        # touching them (PTX ISA, wgmma.wait_group), not by the scoreboard: the MMAs of a group chain
        # on their accumulators inside the tensor pipe)
        for k in range(4):
            rg = st[s, S_DST0 + k]
            if rg >= 0 and rg != 255 and (fl & F_GMMA) == 0:
                reg_ready[ws, rg] = rel_w
                reg_long[ws, rg] = kind
        if fl & F_VARIABLE and (fl & F_GMMA) == 0:
            for k in range(4):
                rg = st[s, S_SRC0 + k]
                if rg >= 0 and rg != 255 and reg_war[ws, rg] < rel_r:
                    reg_war[ws, rg] = rel_r
        if fl & F_LDGDEPBAR:
            _sb_push(sb_rel, sb_long, sb_n, ws, 0, rel_w, 1, c)

"""Slot numbers and constants of the SM core: parameter slots (``P_*``), counter slots (``C_*``), warp
states (``R_*``), unit classes (``U_*``), static-instruction flags (``F_*``) and columns (``S_*``), and
the columns of the state arrays of ``gpusim.core.state`` (``D_*``, ``MB_*``, ``W_*``, ``CL_*``, ``G_*``,
``SG_*``, ``Q_*``).

Single responsibility: one name per integer the core and ``gpusim.assemble`` agree on, each with its
unit or meaning; ``gpusim.core.layout`` mirrors the ones the front end needs.  Numbers come from the
MICRO'25 paper "Analyzing Modern NVIDIA GPU Cores" (MGC §n; digest in
research/modern-gpu-cores.md) where they are hardware rules (instruction-buffer entries, SB counters).
"""

from __future__ import annotations

import numpy as np

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
P_UNLOADED_PATH = 22        # (free: was read_delay + address_cycles_regular + 1, the LDC conversion now uses the uniform path)
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
P_ST_REG_EXTRA = 41         # a regular-address store reads its data this much later (MGC §6.3 Table 2)
P_LD_REG_EXTRA = 42         # a regular-address load returns this much later than a uniform one (MGC §6.3 Table 2)
P_STALL_GT11_NOY = 43       # stall count > 11 with yield clear: the warp waits only this long (MGC §1.2)
P_CONST_SETS = 44           # L0 FL constant cache sets per sub-core (0: no cache)
P_CONST_WAYS = 45
P_CONST_MISS = 46           # issue delay of a constant-operand miss (MGC §6.1, HW102)
P_CONST_SWITCH = 47         # cycles the sub-core issues nothing after a miss before switching warps (MGC §2.1)
P_GMMA_SMEM = 48            # 1: warpgroup MMAs read their shared-memory operands through the SM's shared-memory
                            # data path (the kernel has some, pipes.wgmma_shared_operand_reads): bandwidth ledger on
P_SIZE = 49

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
S_CLINE = 23     # L0 FL constant-cache line of a fixed-latency instruction's constant operand (-1: none)
S_BAR = 24       # BAR.SYNC / BAR.ARV with immediate operands: id + NBAR * warps (warps 0: the whole CTA);
                 # -1: register operands (their values per dynamic instruction: ``sync._operand``)
S_GMMA_SMEM = 25  # warpgroup MMA: bytes of shared-memory operands this warp's quarter of the MMA reads
S_NCOLS = 26

# Shared-memory bandwidth ledger (``lsu._sl_fill`` / ``lsu._sl_gmma``): per SM a ring of SL_BUCKETS buckets of
# SL_BUCKET cycles, each holding the bytes the data path moves in it (wgmma operand reads spread over their MMA,
# LDS/STS/TMA data where they leave).  Model resolution, not hardware: a bucket of 8 cycles keeps the timing
# error of one access within 8 cycles; 2048 buckets look 16,384 cycles ahead, beyond the furthest booking of a
# warpgroup MMA (a group of 16 x 140 cycles queued on the tensor pipe)
SL_BUCKET = 8
SL_BUCKETS = 2048

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

# ---- named barriers (per CTA slot): ``bar.sync a{, b}`` / ``bar.arrive a, b`` (SASS ``BAR.SYNC id{, n}`` /
# ``BAR.ARV id, n``); PTX ISA "bar, barrier": 16 barriers per CTA, ids 0-15, the thread count b a multiple of
# the warp size, counted per warp (a warp executing bar counts as all its 32 threads)
NBAR = 16

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

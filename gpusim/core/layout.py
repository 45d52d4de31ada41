"""Integer codes shared by the front end and the Numba core.

This module holds only IntEnums and dtype choices; it imports nothing from the rest of
gpusim and no numba, so the front end can use the codes without loading the JIT.
The opcode tables in ``isa/`` name these classes by their lower-case enum name.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Unit(IntEnum):
    """Execution-unit class of an opcode (modern-gpu-cores.md §5)."""

    INT = 0       # integer ALU (IADD3, LOP3, SHF, ISETP, ...)
    FP32 = 1      # FFMA/FADD/FMUL, IMAD (the "SP" pipe in Accel-Sim terms)
    FP16 = 2      # HADD2/HFMA2/HMUL2 (packed half)
    FP64 = 3      # DADD/DFMA/DMUL (shared per SM on GeForce/RTX parts)
    SFU = 4       # MUFU and other special-function ops (variable latency)
    TENSOR = 5    # HMMA/IMMA/DMMA/HGMMA
    BRANCH = 6    # BRA/CALL/RET/EXIT/BSSY/BSYNC/...
    UNIFORM = 7   # uniform datapath (UIADD3, ULDC, S2UR, ...)
    MEM = 8       # loads/stores/atomics/shared/const through the LSU
    SYNC = 9      # barriers and dependence waits (BAR, DEPBAR, MEMBAR, WARPSYNC, ...)
    MISC = 10     # NOP, CS2R, S2R, VOTE, SHFL-less misc without a real pipe
    CONV = 11     # conversions (F2F, I2F, F2I, FRND) on the quarter-rate pipe


class MemSpace(IntEnum):
    NONE = 0
    GLOBAL = 1
    SHARED = 2
    LOCAL = 3
    CONST = 4
    GENERIC = 5   # LD/ST/ATOM: resolved to shared/local/global from the trace header windows
    TEXTURE = 6


class MemKind(IntEnum):
    NONE = 0
    LOAD = 1
    STORE = 2
    ATOMIC = 3      # returns a value
    REDUCTION = 4   # RED: no return value
    ASYNC_COPY = 5  # LDGSTS (global -> shared)
    FENCE = 6       # MEMBAR/ERRBAR/FENCE


# dtypes of the columnar trace and the core state
PC_DTYPE = np.int64
MASK_DTYPE = np.uint32
REG_DTYPE = np.int16      # register number, -1 = none; RZ = 255
OPCODE_DTYPE = np.int32
ADDR_DTYPE = np.uint64
CYCLE_DTYPE = np.int64
COUNTER_DTYPE = np.int64

NO_REG = -1
RZ = 255
NO_SB = 7                  # control-bit SB index meaning "no dependence counter"


class IssuePolicy(IntEnum):
    """Warp scheduler policy per sub-core (modern-gpu-cores.md §2)."""

    CGGTY = 0  # compiler-guided greedy-then-youngest
    GTO = 1    # greedy-then-oldest
    LRR = 2    # loose round robin


class Param(IntEnum):
    """Slots of the int64 parameter vector that crosses into the core (built by gpusim.assemble)."""

    NUM_SM = 0
    SUBCORES = 1
    CTAS_PER_SM = 2          # occupancy limit for this kernel (computed from the SM limits)
    WARPS_PER_CTA = 3
    POLICY = 4
    MAX_CYCLES = 5           # watchdog: stop with STATUS_WATCHDOG after this many cycles
    DRAM_MILLIBYTES_PER_CYCLE = 6   # DRAM bandwidth in bytes per 1000 SM cycles
    SECTOR_BYTES = 7
    IDLE_SKIP = 8            # 1: jump over cycles in which no warp can issue
    NUM_UNITS = 9
    SIZE = 10


class Counter(IntEnum):
    """Slots of the int64 counter vector; names, units and descriptions live in gpusim.stats.catalog."""

    CYCLES = 0
    WARP_INSTS = 1
    THREAD_INSTS = 2
    CTAS_LAUNCHED = 3
    WARPS_LAUNCHED = 4
    ACTIVE_WARP_CYCLES = 5      # sum over cycles of resident warps (for achieved occupancy)
    ISSUE_SLOTS = 6             # sub-core cycles (SMs x subcores x cycles) while the kernel runs
    STALL_DEPENDENCY = 7        # warp-cycles: next instruction waits on a register (scoreboard)
    STALL_PIPE_BUSY = 8         # warp-cycles: the unit's initiation interval has not elapsed
    STALL_BARRIER = 9           # warp-cycles: waiting at BAR.SYNC
    STALL_NOT_SELECTED = 10     # warp-cycles: ready but another warp issued
    SELECTED = 11               # warp-cycles: issued
    GLOBAL_SECTORS = 12         # 32-byte sectors requested by global/local accesses
    SHARED_ACCESSES = 13
    DRAM_BYTES = 14
    SKIPPED_CYCLES = 15         # cycles jumped over by idle skipping
    UNIT_BASE = 16              # + Unit: warp instructions issued per unit class
    SIZE = 16 + 12


STATUS_OK = 0
STATUS_WATCHDOG = 1
STATUS_NO_FIT = 2

# per-static-instruction flag bits
FLAG_EXIT = 1
FLAG_BARRIER = 2
FLAG_GLOBAL = 4
FLAG_SHARED = 8

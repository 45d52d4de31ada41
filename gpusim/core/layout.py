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

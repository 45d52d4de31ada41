"""The walker's instruction-set encoding: operation codes, operand kinds and modifier flags, special
registers, program-table columns, launch and TMA-table slots, and status codes.

What it models: the subset of NVIDIA SASS (Volta .. Hopper) that the functional walker executes, as
``gpusim.llm.walker`` (the decoder) encodes a listing for the Numba handlers of this package.  The
semantics each code stands for are documented at its handler (``alu``, ``memory``, ``control``,
``warp``, ``tensor``); the register-file sizes are the architectural ones (255 general registers + RZ,
63 uniform registers + URZ, 7 predicates + PT: "CUDA Binary Utilities", Instruction Set Reference).

Registers hold 32-bit values in int64 slots (0 <= v < 2**32).  Plain integers only: no strings cross
into the jitted code.
"""

from __future__ import annotations


# --------------------------------------------------------------------------- op codes
OP_NOP = 0
OP_UNSUPPORTED = 1
OP_FPU = 2          # result not computed: destinations become unknown
OP_MOV = 3
OP_IMAD = 4
OP_IMAD_WIDE = 5
OP_IMAD_HI = 6
OP_IADD3 = 7
OP_LEA = 8
OP_LEA_HI = 9
OP_SHF = 10
OP_LOP3 = 11
OP_PLOP3 = 12
OP_ISETP = 13
OP_SEL = 14
OP_PRMT = 15
OP_MNMX = 16
OP_VIADD = 17
OP_VIADDMNMX = 18
OP_IABS = 19
OP_POPC = 20
OP_FLO = 21
OP_BREV = 22
OP_S2R = 23
OP_CS2R = 24
OP_LDC = 25
OP_R2UR = 26
OP_P2R = 27
OP_R2P = 28
OP_SHFL = 29
OP_VOTE = 30
OP_ELECT = 31
OP_BRA = 32
OP_BRA_DIV = 33
OP_EXIT = 34
OP_BSSY = 35
OP_BSYNC = 36
OP_WARPSYNC = 37
OP_CALL = 38
OP_RET = 39
OP_LOAD = 40        # destinations from the memory image, else unknown
OP_STORE = 41
OP_SYNCS = 42
OP_UTMALDG = 43
OP_SHL = 44
OP_SHR = 45
OP_BAR = 46         # BAR.SYNC / BAR.ARV with a register barrier id or thread count: recorded in out_mem

# --------------------------------------------------------------------------- operand kinds / flags
K_NONE = 0
K_R = 1
K_UR = 2
K_P = 3
K_UP = 4
K_IMM = 5
K_CONST = 6
K_SR = 7
K_MEM = 8
K_OTHER = 9

F_NEG = 1
F_INV = 2
F_ABS = 4
F_WIDE = 8

# special registers
SR_TID_X = 1
SR_TID_Y = 2
SR_TID_Z = 3
SR_CTAID_X = 4
SR_CTAID_Y = 5
SR_CTAID_Z = 6
SR_LANEID = 7
SR_EQMASK = 8
SR_LTMASK = 9
SR_LEMASK = 10
SR_GTMASK = 11
SR_GEMASK = 12
SR_ZERO = 13        # SRZ, SR_CgaCtaId (no clusters), SR_VIRTUALSMID-free reads
SR_UNKNOWN = 14     # clocks, SM ids, ...
SR_WARPID = 15

# program columns
C_OP = 0
C_GUARD = 1         # -1: none; else pred | neg << 3 | uniform << 4
C_TARGET = 2        # instruction index of a branch target, -1
C_TRACE_MEM = 3     # 1: record per-lane addresses (memory instruction in the trace)
C_MEM_SLOT = 4      # operand slot of the traced address
C_MEM_W = 5         # trace width (bytes)
C_DST0 = 6          # CSR range of general registers written (unknown marking)
C_DST1 = 7
C_MOD = 8           # 8 op-specific modifiers follow
C_LDGSTS_SRC = 5    # OP_STORE of an LDGSTS: modifier 5 = 1 + its source-valid predicate (pred | neg << 3), 0: none
C_SRC = 16          # bit mask of the operand slots read (gathered per lane before execution)
C_D0 = 17           # operand slots written with result rows 0, 1, 2 (-1: none)
C_D1 = 18
C_D2 = 19
C_DWIDE = 20        # 1: result row 0 is a 64-bit pair (IMAD.WIDE, LDC.64, CS2R)
C_UNI = 21          # 1: uniform destination, computed once (first active lane)
N_COLS = 24
N_SLOTS = 8

# comparison codes (ISETP), boolean ops
CMP_F = 0
CMP_LT = 1
CMP_EQ = 2
CMP_LE = 3
CMP_GT = 4
CMP_NE = 5
CMP_GE = 6
CMP_T = 7
BOP_AND = 0
BOP_OR = 1
BOP_XOR = 2

# shuffle modes
SHFL_IDX = 0
SHFL_UP = 1
SHFL_DOWN = 2
SHFL_BFLY = 3

# memory spaces of OP_LOAD (for the memory image)
SPACE_GLOBAL = 1
SPACE_OTHER = 2
SPACE_LOCAL = 3     # LDL / STL: register spills, kept per thread (LOCAL_WORDS words below LOCAL_TOP)

#: local memory of a thread as the walker keeps it: the LOCAL_WORDS 32-bit words below LOCAL_TOP (the
#: initial stack pointer c[0x0][0x28], gpusim.llm.walker.STACK_TOP); STL writes register values and their
#: known-bits there, LDL reads them back (ptxas spills address registers, so a refill must be exact)
LOCAL_TOP = 0x00FF_FC00
LOCAL_WORDS = 256

# launch vector slots
L_GX = 0
L_GY = 1
L_GZ = 2
L_BX = 3
L_BY = 4
L_BZ = 5
L_MAX_STEPS = 6
L_PARAM_WINDOW = 7  # generic address of the kernel-parameter window (sm_90 c[0x0][0x198])
L_PARAM_BASE = 8    # offset of the first parameter in constant bank 0
N_LAUNCH = 9

# TMA descriptor table columns (one row per tensor-map parameter)
T_PARAM_OFF = 0
T_BASE = 1
T_DIM0 = 2          # elements (innermost)
T_DIM1 = 3          # rows
T_STRIDE1 = 4       # bytes between rows
T_BOX0 = 5
T_BOX1 = 6
T_ELEM = 7
N_TMA = 8

# status codes
OK = 0
ERR_FULL = 1            # output buffers full: grow and resume at err[E_CTA]
ERR_UNSUPPORTED = 2
ERR_UNKNOWN_GUARD = 3
ERR_UNKNOWN_BRANCH = 4
ERR_UNKNOWN_ADDR = 5
ERR_UNKNOWN_VALUE = 6   # R2UR / RET / WARPSYNC operand unknown or not uniform
ERR_PC_RANGE = 7
ERR_STEPS = 8
ERR_DEADLOCK = 9
ERR_TMA = 10
ERR_BAR = 11            # BAR with a barrier id outside 0-15 or a thread count not a positive multiple of 32
#: out_mem of a BAR.SYNC / BAR.ARV whose operands are registers: -2 - (id + BAR_IDS * thread count / 32)
#: (thread count 0: no count operand); every other instruction has -1 or its memory row (>= 0)
BAR_IDS = 16
E_CODE = 0
E_INST = 1
E_LANE = 2
E_CTA = 3
E_WARP = 4
E_AUX = 5

# counters
N_INST = 0
N_MEM = 1
N_LANE = 2
N_WARP = 3
N_CTA = 4

M32 = 0xFFFFFFFF
RZ = 255
URZ = 63
PT = 7
RUN = 0
EXITED = 1
BLOCKED = 2
NBAR = 17           # B0..B15 and one slot for WARPSYNC
WSYNC = 16

"""What a SASS opcode means to the core: its flags (``core.F_*``), latency and initiation interval.

The opcode tables in ``isa/<family>.yaml`` (loaded by :mod:`gpusim.frontend.opcodes`) give each opcode
its unit, memory space and kind as data; the rules here turn those, the mnemonic's modifiers and the
config into the core's per-static-instruction columns: the memory-flag rules, the SYNCS (mbarrier)
heuristics, the tensor-pipe latency formula, the MEMBAR / ERRBAR / WARPSYNC costs and the opcodes that
carry a flag by their name alone.  Strings in, integers out; no arrays of the core are touched here
(:mod:`gpusim.assemble.static` writes them).
"""

from __future__ import annotations

from typing import NamedTuple

from gpusim.config.specs import PIPE_NAMES, GPUConfig
from gpusim.core import sm as core
from gpusim.core.layout import MemKind, MemSpace, Unit
from gpusim.frontend.opcodes import bypasses_l1, mma_formula_bits, mma_operand_bits, mma_shape

#: Scoreboard mode: issue-to-dependent-issue distance of a fixed-latency producer = pipe latency
#: + this.  The released A6000 pipe latencies count the execution stage after operand read
#: (FP32 2, HALF 3; modern-gpu-cores.md §5 table) while the measured dependent distances are
#: FFMA/FADD/FMUL 4 and HADD2 5 cycles (same section): both differ by 2.
FIXED_LATENCY_READ_OFFSET = 2

#: Core flags that follow from the base opcode alone.
OPCODE_FLAGS = {"EXIT": core.F_EXIT, "IMAD": core.F_IMAD, "LDGDEPBAR": core.F_LDGDEPBAR, "DEPBAR": core.F_DEPBAR,
                "UCGABAR_ARV": core.F_CGA_ARRIVE, "UCGABAR_WAIT": core.F_CGA_WAIT}

#: TMA loads that complete on an mbarrier (cp.async.bulk.tensor / cp.async.bulk global -> shared).
TMA_LOADS = frozenset({"UTMALDG", "UBLKCP"})

#: Warpgroup MMA opcodes (Hopper wgmma.mma_async): asynchronous, completed through gsb0.
WARPGROUP_MMA = frozenset({"HGMMA", "IGMMA", "QGMMA", "BGMMA"})

#: Units whose operands go through the register-file cache (``core.F_RFC``).
RFC_UNITS = frozenset({Unit.INT, Unit.FP32, Unit.FP64, Unit.FP16, Unit.TENSOR})

#: Memory kinds that write memory (a store's data register follows its address registers).
_WRITING_KINDS = (MemKind.STORE, MemKind.ATOMIC, MemKind.REDUCTION)


class Timing(NamedTuple):
    """One static instruction's core columns: flags (``core.F_*``), latency and initiation interval
    (cycles), and whether its latency is variable (decided per access by the core)."""

    flags: int
    latency: int
    interval: int
    variable: bool


def syncs_flags(mods: list[str]) -> int:
    """The mbarrier role of a ``SYNCS`` instruction from its modifiers: ARRIVE (and, unless an
    ``.A<n>T0`` variant says arrive only, expect-tx: ``ARRIVE.TRANS64 Rd, [bar], Rtx``), PHASECHK (the
    wait), EXCH (the init)."""
    if "ARRIVE" in mods:
        f = core.F_MBAR_ARRIVE
        if not any(m.startswith("A") and "T" in m and m[1:].split("T")[-1] == "0" for m in mods[1:]):
            f |= core.F_MBAR_EXPECT
        return f
    if "PHASECHK" in mods:
        return core.F_MBAR_WAIT
    if "EXCH" in mods:
        return core.F_MBAR_INIT
    return 0


def memory_timing(cfg: GPUConfig, mn: str, base: str, mods: list[str], space: int, kind: int,
                  nsrc: int) -> tuple[int, int]:
    """(flags, latency) of an MEM-unit instruction of memory ``space`` / ``kind`` (``gpusim.core.layout``)
    with ``nsrc`` register sources."""
    mem = cfg.memory
    f = 0
    if space == MemSpace.SHARED:
        lat = mem.shared_latency_cycles
        f |= core.F_SHARED
    elif space == MemSpace.CONST:
        lat = mem.const_latency_cycles
    elif space in (MemSpace.GLOBAL, MemSpace.LOCAL, MemSpace.GENERIC, MemSpace.TEXTURE):
        lat = mem.l1_hit_latency_cycles  # the caches decide per access (gpusim.core.memsys)
        if kind != MemKind.FENCE:
            f |= core.F_LONG
        if bypasses_l1(mn) or kind in (MemKind.ATOMIC, MemKind.REDUCTION):
            f |= core.F_BYPASS_L1
        if kind in (MemKind.ATOMIC, MemKind.REDUCTION):
            f |= core.F_ATOMIC
    else:
        lat = mem.shared_latency_cycles  # SHFL and other MIO ops without a memory space
    if kind in _WRITING_KINDS:
        f |= core.F_STORE
    if kind in (MemKind.LOAD, MemKind.ATOMIC):
        f |= core.F_LOAD
    if kind == MemKind.ASYNC_COPY and base in TMA_LOADS:
        # TMA: global -> L2 -> shared memory (no L1 allocation), completion on an mbarrier
        f |= core.F_TMA | core.F_LOAD | core.F_BYPASS_L1
    elif kind == MemKind.ASYNC_COPY:
        f |= core.F_LDGSTS | core.F_LOAD
        if bypasses_l1(mn):
            f |= core.F_BYPASS_L1
    if base == "SYNCS":
        f |= syncs_flags(mods)
    # uniform (or immediate) address: no regular register among the address sources; the tracer
    # lists the address registers first, then a store's data register
    n_data = 1 if kind in _WRITING_KINDS else 0
    if nsrc <= n_data:
        f |= core.F_UNIFORM_ADDR
    return f, lat


def wgmma_random_permille(pipes, base: str, mn: str) -> int:
    """Throughput of a warpgroup MMA on random operands, per mille of its zero-operand rate, by operand and
    accumulator type: fp16/bf16 with an fp32 or an fp16 accumulator, tf32, fp8 (QGMMA), int8 (IGMMA); 1000
    for the others (BGMMA: no measurement)."""
    if base == "QGMMA":
        return pipes.wgmma_random_permille_fp8
    if base == "IGMMA":
        return pipes.wgmma_random_permille_int8
    if base != "HGMMA":
        return 1000
    if mma_operand_bits(mn) == 32:
        return pipes.wgmma_random_permille_tf32
    if mma_formula_bits(mn) == 16:          # the first type token is the accumulator: .F16
        return pipes.wgmma_random_permille_f16_f16
    return pipes.wgmma_random_permille_f16_f32


def tensor_timing(cfg: GPUConfig, mn: str, base: str, lat: int, ii: int) -> tuple[int, int, int]:
    """(flags, latency, interval) of a tensor-pipe instruction; ``lat`` / ``ii`` (the pipe's) stand
    when the mnemonic has no MMA shape.

    The released formula (modern-gpu-cores.md §5): ``cyc = M * N * K * b / rate`` split into an
    interval ``cyc / 2`` and a latency of the rest (plus ``tensor_f32_extra`` for the FP32-accumulator
    m16n8k16 / m16n8k8 shapes); mma.sync's measured issue-to-dependent latency ``base + M*N*K*a/rate``
    is its floor (configs/README.md, pipes.mma_latency_base)."""
    pipes = cfg.pipes
    f = 0
    shape = mma_shape(mn)
    warpgroup = base in WARPGROUP_MMA
    if warpgroup:
        f |= core.F_GMMA  # asynchronous: completion through gsb0 / WARPGROUP.DEPBAR (gpusim.core.sm)
    if shape is None:
        return f, lat, ii
    bits = mma_formula_bits(mn)  # the released formula's b (modern-gpu-cores.md §5)
    rate = pipes.tensor_rate_per_cycle
    m_rows = shape.m
    if warpgroup:
        # a warpgroup MMA: each of the 4 warps (one per sub-core) does a quarter of the rows
        m_rows = max(1, shape.m // 4)
        rate = pipes.warpgroup_tensor_rate_per_cycle or rate
        # Hopper's wgmma rate follows the operand width, not the accumulator: dense
        # FP16/BF16 989, FP8/INT8 1979, TF32 494.7 TFLOPS on the H100 SXM5 with either
        # accumulator (NVIDIA H100 Tensor Core GPU Architecture whitepaper, Table 1;
        # research/gpu_specs.csv FP16_tensor_dense_peak 989).  b = 2 x operand bits keeps
        # the FP16 calibration (b = 32, HW032) and gives FP8 (QGMMA .E4M3/.E5M2) and
        # IGMMA .S8 twice, TF32 half of it (configs/README.md, "Warpgroup MMA")
        bits = 2 * (mma_operand_bits(mn) or 16)
        # real (random-like) operands: the measured random / zero throughput of this operand and accumulator
        # type (pipes.wgmma_random_permille_*, configs/README.md "Warpgroup MMA")
        rate = max(1, rate * wgmma_random_permille(pipes, base, mn) // 1000)
    cyc = max(1, (m_rows * shape.n * shape.k * bits) // rate)
    extra = pipes.tensor_f32_extra_cycles if bits == 32 and (shape.m, shape.n, shape.k) in (
        (16, 8, 16), (16, 8, 8)) else 0
    ii = max(1, cyc // 2) + extra
    lat = cyc - cyc // 2 + extra
    if not warpgroup and pipes.mma_latency_base_cycles:
        # measured issue-to-dependent-issue latency of mma.sync (configs/README.md,
        # pipes.mma_latency_base): base + M*N*K*a/rate with a the operand width
        a_bits = mma_operand_bits(mn) or 16
        dep = pipes.mma_latency_base_cycles + (shape.m * shape.n * shape.k * a_bits) // pipes.mma_latency_rate_per_cycle
        lat = max(lat, dep - FIXED_LATENCY_READ_OFFSET)
    if shape.k >= 16 and shape.m == 16:
        f |= core.F_WIDE_WINDOW  # 4-register A fragments: 6-cycle read window (MGC §2.4)
    return f, lat, ii


def control_timing(cfg: GPUConfig, base: str, mods: list[str], lat: int) -> tuple[int, int]:
    """(flags, latency) from the opcode's name: barriers, warpgroup fences, and the fixed waits of
    WARPSYNC / ERRBAR / MEMBAR (``lat`` stands for the others)."""
    if base in OPCODE_FLAGS:
        return OPCODE_FLAGS[base], lat
    if base == "BAR":
        return (core.F_BAR_ARRIVE if "ARV" in mods else core.F_BARRIER), lat
    if base == "WARPGROUP" and "DEPBAR" in mods:
        return core.F_WG_DEPBAR, lat
    if base == "WARPGROUP" and "ARRIVE" in mods:
        return core.F_WG_ARRIVE, lat
    if base == "WARPSYNC":
        # the warp waits pipes.warpsync_latency (an estimate, configs/README.md)
        return core.F_MEMBAR, cfg.pipes.warpsync_latency_cycles
    if base == "ERRBAR":
        # HW105 / MGC §1: the warp stalls 45 cycles after ERRBAR (encoded stall 0 + yield); also
        # without control bits
        return core.F_MEMBAR, cfg.subcore.stall0_yield_cycles
    if base == "MEMBAR":
        # MGC §6.4: the SM stalls 53 / 186 / 2900 cycles at CTA / GPU / system scope
        mem = cfg.memory
        return core.F_MEMBAR, (mem.membar_sys_latency_cycles if "SYS" in mods else
                               mem.membar_cta_latency_cycles if "CTA" in mods else mem.membar_gpu_latency_cycles)
    return 0, lat


def instruction_timing(cfg: GPUConfig, mn: str, unit: int, space: int, kind: int, variable: bool, nsrc: int,
                       table_latency: int) -> Timing:
    """The core columns of one static instruction ``mn`` whose opcode table entry gives ``unit``,
    memory ``space`` / ``kind``, ``variable`` latency and ``table_latency`` (-1: none; it overrides
    everything else); ``nsrc`` register sources."""
    base, *mods = mn.split(".")
    pipe = getattr(cfg.pipes, PIPE_NAMES[unit])
    lat = pipe.latency_cycles
    ii = pipe.initiation_interval_cycles
    f = 0
    if unit == Unit.MEM:
        variable = True
        f, lat = memory_timing(cfg, mn, base, mods, space, kind, nsrc)
    elif unit == Unit.TENSOR:
        f, lat, ii = tensor_timing(cfg, mn, base, lat, ii)
    elif unit == Unit.FP64 and cfg.pipes.fp64_shared:
        variable = True
        f |= core.F_SHARED_FP64
    if unit in RFC_UNITS:
        f |= core.F_RFC
    if variable:
        f |= core.F_VARIABLE
    g, lat = control_timing(cfg, base, mods, lat)
    f |= g
    if table_latency >= 0:
        lat = int(table_latency)
    return Timing(f, lat, ii, bool(variable))

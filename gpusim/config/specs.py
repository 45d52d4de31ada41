"""Frozen dataclasses describing one GPU: the only home of configuration defaults.

Every field name carries its canonical unit (``clock_hz``, ``l2_size_bytes``,
``latency_cycles``); the YAML key is the field name without that suffix (``clock``,
``l2_size``, ``latency``) and is derived in :mod:`gpusim.config.loader` by
:func:`yaml_key`.  Physical quantities are written with units in YAML (``clock: 1.8 GHz``);
counts and cycle latencies are bare integers.

A field without a default is *required*: an arch base under ``configs/arch/`` or a GPU file
under ``configs/gpus/`` must set it.  Fields with a default hold a value that is the same on
every NVIDIA architecture we model (Turing, Ampere), each with its source.  ``metadata["doc"]``
states meaning and unit (``configs/README.md`` is checked against it); ``metadata["source"]``
(``_f(..., source=...)``) names where the default comes from, as data: it becomes the schema
:class:`~gpusim.config.schema.Field`'s ``source`` and ``gpusim config show --sources`` prints it
(comments after a field keep the longer reasoning).  Source shorthands:

* ``MGC §x`` — ``research/modern-gpu-cores.md`` section x (Huerta et al., MICRO'25, and
  their released simulator config ``SM86_RTXA6000/gpgpusim.config``).
* ``HWnnn`` — a row id of ``research/hw_ground_truth.csv``.
* ``specs: GPU/param`` — a row of ``research/gpu_specs.csv``.
* ``policy: ...`` — a modelling or library choice, not a hardware fact; ``per GPU: ...`` /
  ``per arch: ...`` — a required field (no default) that the preset files set, with where their
  values come from; ``estimate: ...`` / ``unsourced: ...`` — no source for the number (each such
  field is listed in ``tests/test_config_sources.py``).

Nothing here imports numba; :mod:`gpusim.assemble` packs these into arrays for the core.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

__all__ = [
    "WARP_SIZE",
    "Arch",
    "IssuePolicy",
    "DependenceMode",
    "SMConfig",
    "SubCoreConfig",
    "RegFileConfig",
    "PipeConfig",
    "PipesConfig",
    "ICacheConfig",
    "MemoryConfig",
    "LaunchConfig",
    "GPUConfig",
    "PIPE_NAMES",
]

WARP_SIZE = 32  # threads per warp on every NVIDIA GPU since Tesla (CUDA programming guide)


class Arch(StrEnum):
    """GPU architecture family; compares equal to its lower-case name (``cfg.arch == "ampere"``)."""

    PASCAL = "pascal"
    VOLTA = "volta"
    TURING = "turing"
    AMPERE = "ampere"
    ADA = "ada"
    HOPPER = "hopper"


# SM versions (compute capability major*10+minor) that belong to each Arch; used by the
# cross-field check in GPUConfig.  CUDA programming guide, "Compute Capabilities".
ARCH_SM_VERSIONS: dict[Arch, tuple[int, ...]] = {
    Arch.PASCAL: (60, 61, 62),
    Arch.VOLTA: (70, 72),
    Arch.TURING: (75,),
    Arch.AMPERE: (80, 86, 87),
    Arch.ADA: (89,),
    Arch.HOPPER: (90,),
}


class DependenceMode(StrEnum):
    """How the core enforces register dependences (MGC §1 and §1.8)."""

    AUTO = "auto"                  # control bits when a SASS listing is joined, else the scoreboard
    CONTROL_BITS = "control_bits"  # the compiler's stall counts, yield and SB counters (an error without a listing)
    SCOREBOARD = "scoreboard"      # RAW/WAW + WAR scoreboard, ignoring any listing


class DramModel(StrEnum):
    """DRAM timing model."""

    SIMPLE = "simple"   # bandwidth + fixed latency per channel (fast default)
    BANKED = "banked"   # plus banks with an open row each: row hits, misses and conflicts, bus turnarounds
    HBM = "hbm"         # HBM pseudo-channels: bank groups, refresh, write drain, FR-FCFS (gpusim.core.memsys)


class ReplacementPolicy(StrEnum):
    """Which line of a full cache set a fill evicts (gpusim.core.memsys ``stamp``: the registry).  The
    victim is always the valid way with the oldest stamp; a policy is defined by when it stamps."""

    LRU = "lru"     # every access stamps: least recently used (GPGPU-Sim cache config letter 'L')
    FIFO = "fifo"   # only a fill stamps: first in, first out (GPGPU-Sim cache config letter 'F')


class WriteQueueUnit(StrEnum):
    """What one entry of an hbm-model write queue holds (what its watermarks count)."""

    BURST = "burst"       # one 32-byte column burst (ramulator2, gem5)
    REQUEST = "request"   # one line written back by the L2, with its dirty sectors as bursts (GPGPU-Sim)


class SliceHash(StrEnum):
    """How line addresses map to L2 slices (and DRAM channels)."""

    XOR = "xor"        # XOR-fold of the line address bits (spreads strided streams, like IPOLY)
    LINEAR = "linear"  # line address modulo the number of slices


class IssuePolicy(IntEnum):
    """Warp-issue policy of a sub-core scheduler; crosses into the core as this int code."""

    CGGTY = 0  # compiler-guided greedy-then-youngest (MGC §2.2) — the measured hardware policy
    GTO = 1    # greedy-then-oldest (GPGPU-Sim/Accel-Sim default)
    LRR = 2    # loose round robin


def _f(doc: str, default: Any = dataclasses.MISSING, *, min: int | None = 1, max: int | None = None,
       source: str = "") -> Any:
    """A spec field: ``doc`` (meaning + unit), an optional default, integer bounds and ``source``.

    ``min``/``max`` apply to int fields (and to PipeConfig ints); ``min=None`` disables the check.
    ``source`` says where the default comes from (the citation itself), ``policy: ...`` for a modelling or
    library choice, ``estimate: ...`` / ``unsourced: ...`` for a number without a source (each listed in
    ``tests/test_config_sources.py``), or ``per GPU: ...`` for a required field that every preset sets.
    It becomes :attr:`gpusim.config.schema.Field.source`; ``gpusim config show --sources`` prints it.
    """
    return field(default=default, metadata={"doc": doc, "min": min, "max": max, "source": source})


def _section(cls: type, doc: str) -> Any:
    """A nested section; it has a default only when every field of ``cls`` has one."""
    if all(f.default is not dataclasses.MISSING for f in dataclasses.fields(cls)):
        return field(default_factory=cls, metadata={"doc": doc})
    return field(metadata={"doc": doc})


# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SMConfig:
    """Streaming multiprocessors: how many, how fast, and the per-SM residency limits."""

    count: int = _f("number of SMs on the GPU",
                    source="per GPU: specs: RTX A6000/SM_count = 84; RTX 3070: Accel-Sim SM86_RTX3070 "
                           "-gpgpu_n_clusters 46")
    clock_hz: int = _f("SM (core) clock; all cycle counts in this file are cycles of this clock",
                       source="per GPU: specs: RTX A6000/core_clock_locked_for_validation = 1800 MHz; "
                              "A100/boost_clock = 1410 MHz")
    subcores: int = _f("sub-cores (SM partitions, each with its own scheduler) per SM", 4,
                       source="MGC §3/§7 (-num_subcores_in_SM 4); specs: RTX A6000/sub_cores_per_SM = 4")
    max_warps: int = _f("maximum resident warps per SM",
                        source="per GPU: specs: RTX A6000/max_resident_warps_per_SM = 48; A100 = 64; RTX 2080 Ti = 32")
    max_threads: int = _f("maximum resident threads per SM (at most 32 * max_warps)",
                          source="per GPU: specs: */max_resident_threads_per_SM (1536 GA10x, 2048 GA100, 1024 TU10x)")
    max_ctas: int = _f("maximum resident CTAs (thread blocks) per SM",
                       source="per GPU: specs: */max_resident_CTAs_per_SM (16 GA10x, 32 GA100, 16 TU10x)")
    registers: int = _f("32-bit registers per SM (the whole register file)", 65536,
                        source="specs: */registers_per_SM = 65536 (cc 7.5, 8.0, 8.6, 8.9, 9.0)")
    max_registers_per_thread: int = _f("largest register count one thread may use", 255,
                                       source="specs: */max_registers_per_thread = 255")
    register_alloc_granularity: int = _f("registers per warp are allocated in multiples of this many", 256,
                                         source="CUDA Occupancy Calculator: registerAllocationUnitSize = 256 for "
                                                "cc 7.x and 8.x (allocation per warp)")
    shared_memory_bytes: int = _f("maximum shared memory per SM (carved out of l1_size)",
                                  source="per GPU: specs: */max_shared_memory_per_SM (102400 GA10x, 167936 GA100, "
                                         "65536 TU10x)")
    reserved_shared_memory_per_cta_bytes: int = _f(
        "shared memory the CUDA runtime reserves in every resident CTA", min=0,
        source="per GPU: specs: */reserved_shared_memory_per_CTA = 1024 (cc >= 8.0); none listed for cc 7.5 -> 0")
    shared_alloc_granularity_bytes: int = _f(
        "shared memory per CTA is allocated in multiples of this",
        source="per GPU: CUDA Occupancy Calculator, sharedMemoryAllocationUnitSize: 128 for cc 8.x, 256 for cc 7.x")
    gpcs: int = _f("graphics processing clusters (GPCs) the SMs are split into (contiguous, equal groups); the "
                   "CTAs of a thread-block cluster run on SMs of one GPC", 1,
                   source="policy: 1 = no GPC grouping (only thread-block clusters use it); configs/arch/hopper.yaml "
                          "sets 8 (NVIDIA H100 Tensor Core GPU Architecture whitepaper: 8 GPCs in GH100)")

    @property
    def warps_per_subcore(self) -> int:
        return self.max_warps // self.subcores

    @property
    def registers_per_subcore(self) -> int:
        return self.registers // self.subcores


@dataclass(frozen=True, slots=True, kw_only=True)
class SubCoreConfig:
    """One SM sub-core: front end, scheduler and issue-stage rules (MGC §0-§3)."""

    issue_policy: IssuePolicy = _f("warp issue policy: cggty | gto | lrr", IssuePolicy.CGGTY,
                                   source="MGC §2.2: CGGTY is what the hardware does (Figure 4 timelines)")
    ibuffer_entries: int = _f("instruction-buffer entries per warp", 3,
                              source="MGC §3 (-ibuffer_remodeled_size 3)")
    # 2 would starve greedy issue
    fetch_per_cycle: int = _f("instructions fetched and decoded per cycle per sub-core", 1,
                              source="MGC §3 (-fetch_decode_width 1)")
    fp32_on_int_pipe: bool = _f("FP32 ops may issue to the INT pipe when its latch is free (dual FP32 datapath)",
                                source="per GPU: MGC §5 / §10.2 (-is_fp32ops_allowed_in_int_pipeline): 1 on GA10x, "
                                       "0 on Turing; specs: A100/FP32_cores_per_SM = 64 (no FP32 on the INT pipe)")
    stall0_yield_cycles: int = _f("cycles a warp waits after an instruction with stall=0 and yield set (ERRBAR)", 45,
                                  source="HW105 / MGC §1.2: measured 45 cycles (the released simulator's parameter "
                                         "is 46)")
    stall_above_11_no_yield_cycles: int = _f(
        "cycles a warp waits after an instruction with a stall count above 11 and the yield flag clear "
        "(never compiler-emitted; hand-written SASS)", 2, min=1, max=2,
        source="MGC §1.2 (MICRO'25 §4): \"the warp stalls for only one or two cycles\"; the upper bound of that range")
    # the paper gives a range, this is its upper bound (an estimate within it).  "Yield 0" is the logical flag
    # clear (CuAssembler '-'): the same paragraph calls ERRBAR's encoding (CuAssembler 'Y:S00') "yield bit 1", and
    # the compiler puts the logical yield on every stall >= 12 (maxas "stalls >= 12 need the yield hint";
    # research/sass-control-bits.md §4)
    imad_issue_port_busy_cycles: int = _f("extra cycles the issue port is busy after any IMAD", 1, min=0,
                                          source="MGC §5 / §10.2 (-num_cycles_issue_port_busy_after_imadwide 1 on "
                                                 "the A6000; default 4)")
    result_queue_entries: int = _f("fixed-latency result-queue entries (write-back to the register file)", 8,
                                   source="MGC §4.5 (-max_size_register_file_write_queue_for_fixed_latency_"
                                          "instructions 8)")
    dependence_mode: DependenceMode = _f(
        "how warps respect register dependences: auto (control bits when a SASS listing is joined, else "
        "scoreboard) | control_bits | scoreboard", DependenceMode.AUTO,
        source="policy: use the compiler's control bits when a listing is joined (MGC §1), else the scoreboard "
               "fallback the MGC authors use when SASS is missing (MGC §1.8)")
    const_miss_switch_cycles: int = _f(
        "cycles the scheduler holds a warp on an L0 constant-cache miss before switching warps", 4, min=0,
        source="MGC §2.1 item 6 (-num_const_cache_cycle_misses_before_switch_to_other_warp 4)")
    const_l0_size_bytes: int = _f("L0 FL constant cache per sub-core (constant operands of fixed-latency "
                                  "instructions); 0: no such cache, constant operands never delay issue", 512, min=0,
                                  source="MGC §6.4 (released simulator's L0 FL constant cache N:4:64:2 = 4 sets x "
                                         "2 ways x 64 B = 512 B)")
    const_l0_ways: int = _f("L0 FL constant cache associativity", 2, source="MGC §6.4 (N:4:64:2)")
    const_l0_line_bytes: int = _f("L0 FL constant cache line size", 64, source="MGC §6.4 (N:4:64:2)")
    const_l0_miss_latency_cycles: int = _f(
        "issue delay of a fixed-latency instruction whose constant operand misses the L0 FL constant cache "
        "(the line comes from the SM's constant cache)", 79,
        source="HW102 / MGC §6.1 (MICRO'25 §5.4): preloaded through LDC, a constant operand's miss delays issue "
               "79 cycles")


@dataclass(frozen=True, slots=True, kw_only=True)
class RegFileConfig:
    """Per-sub-core regular register file and its compiler-managed cache (MGC §4)."""

    banks: int = _f("register-file banks per sub-core (bank = register number mod banks)", 2,
                    source="MGC §4.1 (-gpgpu_num_reg_banks 8 per SM / 4 sub-cores)")
    read_ports_per_bank: int = _f("1024-bit read ports per bank", 1,
                                  source="MGC §4.2 / §10.2 (-num_regular_register_file_read_ports_per_bank 1 on "
                                         "the A6000)")
    write_ports_per_bank: int = _f("1024-bit write ports per bank", 1,
                                   source="MGC §4.2 / §10.2 (-num_regular_register_file_write_ports_per_bank 1)")
    rf_cache: bool = _f("register-file cache filled by .reuse bits is present", True,
                        source="MGC §4.3 / §10.2 (-is_rf_cache_enabled 1)")
    rf_cache_slots: int = _f("register-file-cache operand slots per bank", 3,
                             source="MGC §4.3: 1 entry per bank holding 3 operand slots (the released code sizes "
                                    "the array 4)")
    read_window_cycles: int = _f("cycles over which Allocate reserves read ports for a fixed-latency instruction", 3,
                                 source="MGC §2.4 (3-cycle read window)")
    # doubled in the core for 4-register tensor operands


@dataclass(frozen=True, slots=True, kw_only=True)
class PipeConfig:
    """One execution pipe of a sub-core.

    ``latency_cycles`` is the depth of the execution stage after the 5 cycles of Control,
    Allocate and operand read (MGC §5); dependent-issue distances between fixed-latency
    instructions come from the compiler's stall counts, not from this number.
    ``initiation_interval_cycles`` is how long the pipe's input latch stays busy per warp
    instruction (2 for a 16-lane pipe).
    """

    latency_cycles: int = _f("execution-stage depth",
                             source="per arch: configs/arch/*.yaml per pipe (MGC §5 table: released A6000 "
                                    "trace.config)")
    initiation_interval_cycles: int = _f("cycles between two warp instructions entering this pipe",
                                         source="per arch: configs/arch/*.yaml per pipe (MGC §5 table: released "
                                                "A6000 trace.config)")


# Pipe names, in the order of gpusim.core.layout.Unit (tests/test_config.py checks the match).
PIPE_NAMES: tuple[str, ...] = (
    "int", "fp32", "fp16", "fp64", "sfu", "tensor", "branch", "uniform", "mem", "sync", "misc", "conv",
)

_WGMMA_RANDOM_SOURCE = ("policy: 1000 = no data dependence unless an arch file sets a measurement (Hopper: HW032 "
                        "and its raw logs, random vs zero operands, configs/arch/hopper.yaml)")


@dataclass(frozen=True, slots=True, kw_only=True)
class PipesConfig:
    """Execution pipes (one field per gpusim.core.layout.Unit) and pipe-specific constants."""

    int: PipeConfig = _section(PipeConfig, "INT32 ALU (IADD3, LOP3, SHF, ISETP, ...)")
    fp32: PipeConfig = _section(PipeConfig, "FP32 FMA pipe (FFMA, FADD, FMUL, IMAD)")
    fp16: PipeConfig = _section(PipeConfig, "packed-half pipe (HADD2, HFMA2, HMUL2)")
    fp64: PipeConfig = _section(PipeConfig, "FP64 pipe (DADD, DFMA, DMUL); see fp64_shared")
    sfu: PipeConfig = _section(PipeConfig, "special-function unit (MUFU); variable latency")
    tensor: PipeConfig = _section(
        PipeConfig,
        "tensor-core pipe; latency = unit depth; per-shape timing uses tensor_rate_per_cycle, and"
        " initiation_interval is the fallback for tensor opcodes without an M.N.K shape",
    )
    branch: PipeConfig = _section(PipeConfig, "branch unit (BRA, CALL, RET, EXIT, BSSY, BSYNC)")
    uniform: PipeConfig = _section(PipeConfig, "uniform datapath (UIADD3, ULDC, S2UR, ...)")
    mem: PipeConfig = _section(
        PipeConfig, "sub-core memory unit: latency = intermediate stages, interval = address calculation"
    )
    sync: PipeConfig = _section(PipeConfig, "barrier and dependence-wait ops with no queue (BAR, DEPBAR, ...)")
    misc: PipeConfig = _section(PipeConfig, "miscellaneous ops with a queue (S2R, CS2R, VOTE, NOP, ...)")
    conv: PipeConfig = _section(PipeConfig, "type conversions (F2F, I2F, F2I, FRND)")
    predicate_latency_cycles: int = _f("cycles from issue until a written predicate may be read", 13,
                                       source="MGC §5 / §10.2 (-predicate_latency 13 on the A6000; default 2)")
    fp64_shared: bool = _f("one FP64 pipe is shared by all sub-cores of an SM (GeForce/RTX parts)",
                           source="per GPU: MGC §5 / §10.2 (-is_dp_pipeline_shared_for_subcores 1) for GA10x and "
                                  "Turing; GA100 has FP64 units in every sub-core (specs: A100 rows)")
    tensor_rate_per_cycle: int = _f(
        "tensor throughput: an M.N.K mma with b-bit operands takes M*N*K*b/this cycles (II = half of that)",
        source="per GPU: MGC §5 (released formula; -tensor_rate_per_cycle 2048 on GA10x and Turing)")
    warpgroup_tensor_rate_per_cycle: int = _f(
        "tensor throughput for warpgroup MMAs (HGMMA/wgmma), each warp doing M/4*N*K; 0 = tensor_rate_per_cycle",
        0, min=0,
        source="policy: 0 = the mma.sync rate (tensor_rate_per_cycle); Hopper sets its own (wgmma reaches a higher "
               "per-SM rate than mma.sync: HW032 vs HW040/HW041)")
    wgmma_b_reads: int = _f(
        "times a warpgroup MMA reads its B operand from shared memory per instruction (1: once, shared by the "
        "four sub-cores' tensor cores; 4: once per sub-core; 0: its shared-memory operand reads are not "
        "charged).  A, when in shared memory, is read once: each sub-core reads its own M/4 rows.  The bytes "
        "(operand shape x element width) move through memory.l1_bytes_per_cycle with LDS/STS/TMA data", 1, min=0,
        source="HW032 (H100 wgmma m64n256k16): SS 974.9 and RS 976.6 TFLOPS, so B is not read per sub-core")
    # 1: HW032 is the calibration row of warpgroup_tensor_rate_per_cycle; B read per sub-core would need
    # (2 KiB + 4 x 8 KiB) per 140-cycle MMA = 249 B/clk/SM, more than the 128 B/clk data path, capping SS at
    # about half of RS (configs/README.md, "Warpgroup MMA")
    wgmma_random_permille_f16_f32: int = _f(
        "throughput of fp16/bf16 warpgroup MMAs with an fp32 accumulator on random operands, per mille of the "
        "rate on zero operands (warpgroup_tensor_rate_per_cycle); 1000 = no data dependence", 1000, min=1, max=1000,
        source=_WGMMA_RANDOM_SOURCE)
    wgmma_random_permille_f16_f16: int = _f(
        "the same for fp16 warpgroup MMAs with an fp16 accumulator [per mille]", 1000, min=1, max=1000,
        source=_WGMMA_RANDOM_SOURCE)
    wgmma_random_permille_tf32: int = _f(
        "the same for tf32 warpgroup MMAs [per mille]", 1000, min=1, max=1000, source=_WGMMA_RANDOM_SOURCE)
    wgmma_random_permille_fp8: int = _f(
        "the same for fp8 (e4m3 / e5m2) warpgroup MMAs [per mille]", 1000, min=1, max=1000,
        source=_WGMMA_RANDOM_SOURCE)
    wgmma_random_permille_int8: int = _f(
        "the same for int8 warpgroup MMAs [per mille]", 1000, min=1, max=1000, source=_WGMMA_RANDOM_SOURCE)
    # Hopper: the same wgmma microbenchmark with random instead of zero A operands, at the same reported clock;
    # the simulator runs the LLM kernels as on real (random-like, not all-zero) data, so these apply to every run
    tensor_f32_extra_cycles: int = _f(
        "extra latency and interval for HMMA.16816.F32 / HMMA.1688.F32 (half-rate FP32 accumulate)", min=0,
        source="per GPU: MGC §5 / §10.3 item 3: 0 on the A6000, 16 on GeForce GA10x (3080/3090 configs), 8 on Turing")
    mma_latency_base_cycles: int = _f(
        "measured mma.sync latency: a shaped synchronous MMA's dependent instruction may issue"
        " base + M*N*K*a/mma_latency_rate_per_cycle cycles after it (a = operand bits), when longer"
        " than the formula's latency; 0 = the formula's latency only", 0, min=0,
        source="policy: 0 = the MGC §5 formula's latency only (MGC §5 gives no mma.sync latency); Hopper sets 8 "
               "(HW036-HW039)")
    mma_latency_rate_per_cycle: int = _f(
        "operand bits x M*N*K per cycle of the shape-dependent part of mma_latency_base", 2048,
        source="HW036-HW039 (H100 mma.sync 24 / 16 / 16 / 24 cycles) fit base 8, rate 2048 exactly")
    warpsync_latency_cycles: int = _f("WARPSYNC: the warp waits this many cycles after it issues", 2,
                                      source="estimate: the branch unit's latency (MGC §5, Branch/CALL/RET/EXIT 2, "
                                             "1); no WARPSYNC measurement in research/")


@dataclass(frozen=True, slots=True, kw_only=True)
class ICacheConfig:
    """Instruction caches: a private L0 per sub-core with a stream-buffer prefetcher, a shared L1 (MGC §3)."""

    l0_size_bytes: int = _f("L0 instruction cache per sub-core",
                            source="per arch: MGC §3: -gpgpu_cache:il0 N:8:128:32 = 32 KiB on GA10x; N:4:128:32 = "
                                   "16 KiB on Turing")
    l0_ways: int = _f("L0 instruction cache associativity", 32,
                      source="MGC §3 (il0 ...:32 ways, both GA10x and Turing configs)")
    l1_size_bytes: int = _f("L1 instruction/constant cache shared by the sub-cores of an SM", 128 * 1024,
                            source="MGC §3: -gpgpu_cache:il1 N:64:128:16 = 128 KiB")
    l1_ways: int = _f("L1 instruction cache associativity", 16, source="MGC §3 (il1 ...:16)")
    line_size_bytes: int = _f("instruction cache line", 128, source="MGC §3 (il0/il1 ...:128: lines)")
    l0_to_l1_latency_cycles: int = _f("latency of an L0 miss to the L1 instruction cache, each direction", 39,
                                      source="MGC §3 (-latency_L0_to_L1 39, -latency_L1_to_L0 39)")
    stream_buffer_entries: int = _f("L0 stream-buffer prefetcher depth in lines; 0 disables prefetching", 8, min=0,
                                    source="MGC §3 / §7.3: depth 8 gives the headline 13.45% MAPE "
                                           "(SM86_RTXA6000_InstPref_8)")
    perfect: bool = _f("every instruction fetch hits (no instruction-cache model)", False,
                       source="policy: model the instruction caches (MGC §3: a perfect I-cache is about as accurate "
                              "on average but wrong for control-flow-heavy codes)")


_R2 = "ramulator2 @ c5b1c3a python/ramulator/dram/hbm2.py"   # CMU-SAFARI/ramulator2, HBM2_2400Mbps: tCK = 833 ps
_R2_CTRL = "ramulator2 @ c5b1c3a python/ramulator/controller/hbm12.py and hbm34.py"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryConfig:
    """Memory hierarchy as seen from one SM: latencies are load-to-use, issue to dependent issue."""

    l1_size_bytes: int = _f("unified L1 data cache + shared memory per SM",
                            source="per GPU: specs: RTX A6000/L1D+shared_per_SM = 128 KB; A100 SXM4 80GB/"
                                   "L1_size_per_SM = 192 KiB")
    l1_hit_latency_cycles: int = _f("global load that hits in L1: issue to dependent issue",
                                    source="per GPU: HW094 (A6000-class, 32-bit load, regular-register address) = 32")
    shared_latency_cycles: int = _f("shared-memory load (LDS), no bank conflict: issue to dependent issue",
                                    source="per GPU: HW098 (A6000-class, 32-bit, regular-register address) = 24")
    const_latency_cycles: int = _f("constant load (LDC) hitting the constant cache: issue to dependent issue",
                                   source="per GPU: HW099 (A6000-class, LDC 32-bit immediate address) = 26")
    l2_size_bytes: int = _f("L2 cache, whole GPU",
                            source="per GPU: specs: RTX A6000/L2_size = 6 MB (= 6 MiB by its L2_organization row); "
                                   "A100 80GB = 40 MiB")
    l2_hit_latency_cycles: int = _f("global load that misses L1 and hits L2: issue to dependent issue",
                                    source="per GPU: HW245 (GA106, pointer chase) = 219; HW062 (A100 SXM4 80GB) = 210")
    dram_latency_cycles: int = _f("global load that misses L1 and L2: issue to dependent issue",
                                  source="per GPU: HW247 (GA106, L2 miss + L2-TLB hit) = 529; HW063 (A100 SXM4 80GB) "
                                         "= 550")
    dram_bandwidth_bytes_per_s: float = _f("peak DRAM bandwidth, whole GPU",
                                           source="per GPU: derived in configs/gpus/*.yaml (bus width x data rate), "
                                                  "with sources there")
    dram_clock_hz: int | None = _f("DRAM clock as reported by nvidia-smi; informational, may be null", None,
                                   source="policy: null = not given (informational only); GPU files set it "
                                          "(specs: RTX A6000/memory_clock_locked_for_validation = 8000 MHz)")
    dram_size_bytes: int | None = _f("device memory capacity (`gpusim llm --coe`: how many experts stay resident); "
                                     "may be null (then unlimited)", None,
                                     source="policy: null = unlimited; GPU files set the capacity, with sources there")
    line_size_bytes: int = _f("L1/L2 cache line", 128,
                              source="Accel-Sim/MGC configs: -gpgpu_cache:dl1 S:4:128:256 and dl2 S:64:128:16 "
                                     "(128 B lines)")
    sector_size_bytes: int = _f("cache sector, the unit of tag valid bits and DRAM transfers", 32,
                                source="HW252/HW253 (\"32B sectors\"); the 'S:' sectored caches of the Accel-Sim/MGC "
                                       "configs")
    subcore_queue_entries: int = _f("memory-instruction queue entries per sub-core (plus one latch)",
                                    source="per arch: MGC §6.2 Table 1 (-memory_subcore_queue_size 4 on Ampere, 3 on "
                                           "Turing)")
    sm_dispatch_interval_cycles: int = _f(
        "cycles between two memory instructions entering the SM-shared unit (all sub-cores together)", 2,
        source="MGC §6.2 Table 1 / HW103 (1 instruction per 2 cycles per SM)")
    l1_ways: int = _f("L1 data cache associativity (ways per set; sets follow from size, line and ways)", 256,
                      source="MGC §6.4: -gpgpu_cache:dl1 S:4:128:256 (4 sets x 256 ways x 128 B = 128 KiB)")
    l1_mshr_entries: int = _f("L1 miss status holding registers per SM: line misses in flight at once", 128,
                              source="MGC §6.1/§6.4: the released model's pending request table "
                                     "(-memory_sm_prt_size 128)")
    # the PRT bounds the requests an SM has outstanding; we apply the same number to L1 line misses
    l1_write_allocate: bool = _f("a store that misses the L1 allocates the line (else write-through, no allocate)",
                                 False, source="Accel-Sim/GPGPU-Sim Volta+ configs: L1 write-through, no write "
                                               "allocate for global stores")
    l1_replacement: ReplacementPolicy = _f("L1 data cache replacement: lru | fifo", ReplacementPolicy.LRU,
                                           source="Accel-Sim GPU configs (-gpgpu_cache:dl1 ...:L, LRU); NVIDIA does "
                                                  "not document its caches' policies")
    l2_replacement: ReplacementPolicy = _f("L2 replacement: lru | fifo", ReplacementPolicy.LRU,
                                           source="Accel-Sim GPU configs (-gpgpu_cache:dl2 ...:L, LRU); NVIDIA does "
                                                  "not document its caches' policies")
    # GPGPU-Sim also offers F (FIFO)
    l1_bytes_per_cycle: int = _f("data bandwidth of the L1 / shared-memory pipe per SM (one 128-byte wavefront per "
                                 "cycle)", 128,
                                 source="MGC §6.4 (sub-core to SM link 128 B/cycle); issue 5: per-SM L1/shared "
                                        "bandwidth about 128 B/clk on H100")
    l2_ways: int = _f("L2 associativity per slice", 16,
                      source="specs: RTX A6000/L2_organization (64 sets x 16 ways x 128 B per sub-partition)")
    l2_slices: int = _f("L2 slices (memory partitions x sub-partitions), each with its own tags and bandwidth", 32,
                        source="Accel-Sim SM86_RTX3070 (-gpgpu_n_mem 16 x -gpgpu_n_sub_partition_per_mchannel 2); "
                               "GPU files override")
    l2_slice_bytes_per_cycle: int = _f("data bandwidth of one L2 slice [B/clk of the SM clock]", 64,
                                       source="specs: A100 SXM4 40GB/L2_read_bandwidth_spec = 5120 B/clk over 80 "
                                              "slices = 64 B/clk per slice")
    l2_writeback_at_end: bool = _f("write the L2's dirty sectors back to DRAM at the end of a run (counted in the "
                                   "run's dram_bytes_written; outside every kernel's cycles)", True,
                                   source="policy: a run's DRAM write total includes what is still dirty when it "
                                          "ends (issue #18)")
    # a write-back L2 holds a kernel's output until evicted; the data reaches DRAM eventually (issue #18: otherwise
    # 0 for small runs)
    l2_slice_hash: SliceHash = _f("line address -> L2 slice and DRAM channel mapping: xor | linear", SliceHash.XOR,
                                  source="policy: a simpler XOR fold in place of stock Accel-Sim's IPOLY hash "
                                         "(MGC §6.4)")
    dram_channels: int = _f("independent DRAM channels sharing dram_bandwidth equally", 16,
                            source="Accel-Sim SM86_RTX3070 (-gpgpu_n_mem 16); GPU files override")
    dram_model: DramModel = _f("DRAM timing model: simple (bandwidth + latency) | banked (rows, banks) | "
                               "hbm (pseudo-channels, bank groups, refresh, write drain, FR-FCFS)", DramModel.SIMPLE,
                               source="policy: the fast bandwidth + latency model; the HBM GPU files choose hbm")
    # the banked model's timings are Accel-Sim's GDDR parameters (-gpgpu_dram_timing_opt
    # nbk=16:RCD=24:RAS=55:RP=24:RC=78:CL=24:WL=8:CDLR=10:WR=24, in DRAM command-clock cycles,
    # as in its SM86/SM7 tested configs, quoted in public notes); converted with dram_command_clock
    dram_banks: int = _f("banks per DRAM channel (banked model)", 16,
                         source="Accel-Sim -gpgpu_dram_timing_opt nbk=16 (SM86/SM7 tested configs)")
    dram_row_bytes: int = _f("bytes of one open row per bank and channel (banked model) [size]", 2048,
                             source="unsourced: a 2 KiB page, taken as the usual GDDR6/HBM2 row buffer per "
                                    "pseudo-channel (not from a source file)")
    dram_command_clock_hz: int = _f("DRAM command clock for the timings below [frequency]", 1750 * 10**6,
                                    source="Accel-Sim SM86_RTX3070: DRAM clock domain 3500.5 MHz with "
                                           "-dram_data_command_freq_ratio 4 (data) -> command clock")
    dram_trcd: int = _f("row activate to column command (banked model) [DRAM command cycles]", 24,
                        source="Accel-Sim -gpgpu_dram_timing_opt RCD=24 (SM86/SM7 tested configs)")
    dram_trp: int = _f("row precharge (banked model) [DRAM command cycles]", 24,
                       source="Accel-Sim -gpgpu_dram_timing_opt RP=24 (SM86/SM7 tested configs)")
    dram_trc: int = _f("activate to activate in one bank (banked model) [DRAM command cycles]", 78,
                       source="Accel-Sim -gpgpu_dram_timing_opt RC=78 (SM86/SM7 tested configs)")
    dram_twtr: int = _f("write-to-read turnaround of a channel's bus (banked model) [DRAM command cycles]", 10,
                        source="Accel-Sim -gpgpu_dram_timing_opt CDLR=10 (column delay from write to read)")
    # ---- hbm model (memory.dram_model: hbm): one dram_channel is one HBM pseudo-channel (PC); its data bus
    # moves dram_bandwidth / dram_channels, one 32-byte burst per sector (HBM2/2E: BL4 x 64 bit; HBM3: BL8 x
    # 32 bit); dram_banks and dram_row are per PC.  Timings are times (ps), converted to SM cycles.
    # _R2: CMU-SAFARI/ramulator2 @ c5b1c3a, python/ramulator/dram/hbm2.py (JESD235D values: preset
    # HBM2_2400Mbps, tCK = 833 ps, and the JEDEC tables in resolve_secondary_timings); the defaults below
    # are that preset in ps.  GPU files set their generation's values (hbm3.py for HBM3).
    dram_bank_groups: int = _f("bank groups per pseudo-channel (hbm model; dram_banks / dram_bank_groups banks each)", 4,
                               source=f"{_R2} org_presets: bankgroup 4, bank 4 per PC")
    hbm_trcd_ps: int = _f("activate to read command (hbm model) [time]", 14_161,
                          source=f"{_R2} nRCDRD = 17 tCK x 833 ps")
    hbm_trp_ps: int = _f("precharge to activate (hbm model) [time]", 14_161, source=f"{_R2} nRP = 17 tCK x 833 ps")
    hbm_tras_ps: int = _f("activate to precharge, same bank (hbm model) [time]", 33_320,
                          source=f"{_R2} nRAS = 40 tCK x 833 ps")
    hbm_trtp_ps: int = _f("read to precharge, same bank (hbm model) [time]", 4_998,
                          source=f"{_R2} nRTPL = 6 tCK x 833 ps")
    hbm_tcl_ps: int = _f("read command to its data (CAS latency: part of the write-to-read bus bubble) (hbm model) "
                         "[time]", 14_161, source=f"{_R2} nCL = 17 tCK x 833 ps")
    hbm_trrd_s_ps: int = _f("activate to activate, different bank groups of a PC (hbm model) [time]", 4_000,
                            source=f"{_R2} _resolve_nRRDS: 4 ns (JESD235D)")
    hbm_trrd_l_ps: int = _f("activate to activate, same bank group (hbm model) [time]", 4_000,
                            source=f"{_R2} _resolve_nRRDL: 4 ns")
    hbm_tfaw_ps: int = _f("window in which a PC may issue at most four activates (hbm model) [time]", 15_000,
                          source=f"{_R2} _resolve_nFAW: ~15 ns (\"vendor-specific, typical\")")
    hbm_tccd_l_ps: int = _f("column command to column command in the same bank group (hbm model) [time]", 3_332,
                            source=f"{_R2} nCCDL = 4 tCK x 833 ps")
    # nCCDS 2 tCK = one burst: the data bus bounds commands to different groups
    hbm_twtr_s_ps: int = _f("end of write data to a read command, different bank group (hbm model) [time]", 6_664,
                            source=f"{_R2} nWTRS = 8 tCK x 833 ps")
    hbm_twtr_l_ps: int = _f("end of write data to a read command, same bank group (hbm model) [time]", 8_330,
                            source=f"{_R2} nWTRL = 10 tCK x 833 ps")
    hbm_trtw_ps: int = _f("bubble on the data bus from read data to write data (hbm model) [time]", 1_666, min=0,
                          source="JESD235 read-to-write minimum RL + BL/2 + 2 - WL (ramulator2 @ 6c0cd42 "
                                 "src/dram/impl/HBM2.cpp, \"RD <-> WR ... Assuming tWPRE = 1 tCK\"): 2 tCK x 833 ps")
    # the write data follow the last read data after 2 tCK
    hbm_trefi_ps: int = _f("refresh interval: each PC (all-bank) or each bank (per-bank) refreshes once per "
                           "interval (hbm model) [time]", 3_900_000,
                           source=f"{_R2} _resolve_nREFI: 3900 ns (32 ms / 8192 rows)")
    hbm_trfc_ps: int = _f("refresh cycle time: the refreshed PC (all-bank) or bank (per-bank) is unavailable this "
                          "long (hbm model) [time]", 350_000,
                          source=f"{_R2} _resolve_nRFC (JESD235D, per channel density): 8 Gb 350 ns")
    # 16 Gb 450 ns; per-bank (tRFCSB) 160/200 ns
    hbm_refresh_per_bank: bool = _f("refresh one bank at a time (REFSB) instead of the whole PC (REFAB) (hbm model; "
                                    "experimental: it uses hbm_trfc and closes rows that still have queued hits, "
                                    "which halves a read stream)", False,
                                    source="ramulator2 examples/example_config.py: refresh_manager AllBank with the "
                                           "FRFCFS scheduler (NVIDIA's controller policy is not public)")
    dram_write_queue_entries: int = _f("write-queue entries per channel (hbm model; an entry is a 32-byte burst or "
                                       "a written-back line: dram_write_queue_unit)", 32,
                                       source=f"{_R2_CTRL}: write_buffer_size = 32")
    dram_write_queue_unit: WriteQueueUnit = _f(
        "what one write-queue entry is, and so what the watermarks count: burst (one 32-byte burst) | request "
        "(one line written back by the L2, its dirty sectors as bursts) (hbm model)", WriteQueueUnit.BURST,
        source="policy: burst as ramulator2 (a request is one column command) and gem5 MemCtrl (write_buffer_size "
               "in bursts); request as GPGPU-Sim (accel-sim/gpgpu-sim_distribution @ 667834c)")
    # request: GPGPU-Sim (accel-sim/gpgpu-sim_distribution @ 667834c): the L2 writes an evicted line back as one
    # mem_fetch of evicted.m_modified_size bytes (src/gpgpu-sim/gpu-cache.cc), dram.cc makes it one dram_req_t
    # of nbytes = mf->get_data_size() served in dram_atom_size bursts, and dram_sched.cc switches to write
    # mode when m_num_write_pending (requests) >= write_high_watermark
    dram_write_high_percent: int = _f("write-queue fill (% of entries) that starts a write drain (hbm model)", 80,
                                      source=f"{_R2_CTRL}: wr_high_watermark = 0.8")
    dram_write_low_percent: int = _f("a write drain stops once the queue is down to this fill (%) (hbm model)", 20,
                                     min=0, source=f"{_R2_CTRL}: wr_low_watermark = 0.2")
    # gem5 src/mem/MemCtrl.py 85/50 of 64 bursts: drains of 22-24 bursts, about the same; Accel-Sim's
    # -dram_write_queue_size counts requests, see dram_write_queue_unit: its QV100's commented-out 64:56:32
    # drains 24 line write-backs, up to 96 bursts
    dram_frfcfs_cap: int = _f("FR-FCFS row-hit cap: hits a row may take ahead of an older request for another "
                              "row of its bank (hbm model)", 16,
                              source="CMU-SAFARI/ramulator @ b2c5f87 src/Scheduler.h: FRFCFS_Cap, cap = 16")
    read_delay_cycles: int = _f(
        "issue to the first register read of a memory instruction in an idle sub-core memory unit", 6,
        source="MGC §1.6 Figure 2: the load issued at cycle 1 reads its address registers at cycle 7")
    address_cycles_regular: int = _f("sub-core address calculation per instruction, regular-register address", 4,
                                     source="MGC §6.2 (32 lanes / 8 address units = 4 cycles; Table 1 cadence of 4)")
    address_cycles_uniform: int = _f("address calculation for uniform-register or shared-memory addresses", 2,
                                     source="MGC §6.4 (2 cycles for shared memory or uniform addresses)")
    store_regular_address_extra_cycles: int = _f(
        "a store with a regular-register address reads its data registers this many cycles later than one with a "
        "uniform address (beyond the longer address calculation): delays its WAR release [cycles]", 2, min=0,
        source="MGC §6.3 Table 2 WAR column (MICRO'25 Table 2): STS regular 12/14/18 vs uniform 10/12/16, STG "
               "regular 14/16/20 vs uniform 10/12/16")
    # STS: the same 2-cycle shared address path; STG: 4 = 2 address cycles + these 2
    load_regular_address_extra_cycles: int = _f(
        "a load with a regular-register address returns its data this many cycles later than one with a uniform or "
        "immediate address, beyond the longer address calculation [cycles]", 1, min=0,
        source="MGC §6.3 Table 2 (MICRO'25 Table 2): shared RAW 24/24/26 regular vs 23/23/25 uniform with WAR 9 for "
               "both; MGC §6.4: memory_shared_memory_minimum_latency 7 is +1 with a regular-register address")
    # global RAW 32/34/38 regular vs 29/31/35 uniform (3 saved) while WAR is 11 vs 9 (2 of them the address
    # calculation)
    ldgsts_latency_cycles: int = _f("LDGSTS: issue to completion of the global-to-shared copy (RAW/WAW) [cycles]", 39,
                                    source="MGC §6.3 Table 2 (LDGSTS RAW 39)")
    return_bytes_per_cycle: int = _f("load data returned from the SM-shared unit to a sub-core's RF per cycle", 64,
                                     source="MGC §4.5 / §6.3 (512 bits/cycle; "
                                            "-num_cycles_needed_to_write_a_reg_from_sm_struct_to_subcore 2)")
    pending_request_entries: int = _f("pending-request-table entries per SM (intra-warp coalescing)", 128,
                                      source="MGC §6.1 (-memory_sm_prt_size 128)")
    membar_cta_latency_cycles: int = _f("SM stall after all warps reach MEMBAR.CTA", 53,
                                        source="MGC §6.4 (-num_cycles_to_stall_SM_at_cta_memory_barrier 53)")
    membar_gpu_latency_cycles: int = _f("SM stall after all warps reach MEMBAR.GPU", 186,
                                        source="MGC §6.4 (-num_cycles_to_stall_SM_at_gpu_memory_barrier 186)")
    membar_sys_latency_cycles: int = _f("SM stall after all warps reach MEMBAR.SYS", 2900,
                                        source="MGC §6.4 (-num_cycles_to_stall_SM_at_system_memory_barrier 2900)")
    tma_extra_latency_cycles: int = _f(
        "UTMALDG (TMA tensor load): extra cycles over an LDG of the same data, to the data landing in shared memory",
        105, min=0,
        source="HW010/HW011 (H800): TMA 369 vs LDG 264 cycles L2-resident, 728 vs 623 from DRAM: +105 both")
    dsm_latency_cycles: int = _f(
        "load from a peer CTA's shared memory in the cluster (distributed shared memory): issue to dependent issue",
        181, source="HW012 (H800): SM-to-SM 181 cycles with cluster size 2 (202-207 with 3-4 CTAs; same SM 33, HW013)")


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchConfig:
    """Kernel and CTA launch overheads (model values of the released simulator, not measurements)."""

    kernel_launch_latency_cycles: int = _f("cycles from kernel launch until its first CTA may start", min=0,
                                           source="per arch: MGC §6.4 (-gpgpu_kernel_launch_latency 1500 in the "
                                                  "released GA10x and Turing configs)")
    cta_launch_latency_cycles: int = _f("cycles to launch one CTA on an SM", 0, min=0,
                                        source="MGC released configs and Accel-Sim SM86_RTX3070 both set "
                                               "-gpgpu_TB_launch_latency 0 (no measurement)")
    graph_kernel_launch_latency_ps: int = _f(
        "GPU-side time per kernel node when a CUDA graph is replayed (replaces kernel_launch_latency "
        "under `gpusim llm --cuda-graph`) [time]", 580_000, min=0,
        source="github.com/ahrefs/ocannl/issues/488: graph replay of no-op kernels ~15 us fixed + 0.58 us per node "
               "(RTX 5070 Ti Laptop, CUDA 13.3)")
    # Consistent with NVIDIA's "Getting Started with CUDA Graphs" blog (V100, CUDA 10.1): 3.4 us per
    # ~2.9 us kernel in a graph, i.e. ~0.5 us per node.  No A100/H100 measurement found.
    gemm_streamk: bool = _f(
        "the GEMM selector of `gpusim llm` (gpusim/llm/gemm_select.py) also considers the stream-K kernels "
        "(a library choice, not hardware)", False,
        source="policy: off: the modelled library is cuBLAS, whose Ampere GEMMs are data-parallel tiles + split-K (splitKreduce_kernel; NVIDIA/cutlass issue #1025 kernel names); stream-K is CUTLASS's (Osama et al., PPoPP'23, arXiv:2301.03598)")


@dataclass(frozen=True, slots=True, kw_only=True)
class HostConfig:
    """The GPU's link to its host (system memory): what loads model weights that are not in HBM."""

    link_bandwidth_bytes_per_s: float = _f(
        "host-to-GPU bandwidth of one GPU's host link, one direction (`gpusim llm --coe`: expert switching "
        "from host memory)", 32e9, min=0,
        source="PCIe 4.0 x16, 32 GB/s per direction (PCI-SIG: 16 GT/s x 16 lanes); research/rdu-sn40l.md §2.4: the "
               "SN40L paper's DGX A100 host->GPU figure, 32 GB/s")
    # Hopper configs set 64 GB/s (PCIe 5.0 x16).  The paper's copy-time ratios SN40L vs DGX (31x, 15x: rows
    # RDU113-RDU114) follow from these figures.


@dataclass(frozen=True, slots=True, kw_only=True)
class InterconnectConfig:
    """GPU-to-GPU links of a node (NVLink / NVSwitch): the tensor-parallel collectives of `gpusim llm --tp`."""

    bus_bandwidth_bytes_per_s: float = _f(
        "NCCL all-reduce bus bandwidth of the node (nccl-tests busbw: algbw x 2(n-1)/n), per GPU", 231.58e9, min=0,
        source="HW175: A100-SXM4-80GB, 8 GPUs, 8 GB message, 231.58 GB/s (Azure ND A100 v4)")
    # Hopper: HW174 478.87 GB/s
    collective_latency_ps: int = _f(
        "fixed time of one small collective (all-reduce / all-gather) [time]", 8_000_000, min=0,
        source="estimate: NCCL issue #1259 (github.com/NVIDIA/nccl/issues/1259) measures ~6 us for a 2-GPU NVLS "
               "all-reduce of small messages on H100 with CUDA graphs, rising with the GPU count.  Per GPU where "
               "measured: a100-sxm4-80gb 43.4 us and hopper 27.0 us, the 8 KB rows of the 8-GPU nccl-tests tables "
               "whose 8 GB rows are HW175 / HW174 (Azure/AI-benchmarking-guide results pages)")


@dataclass(frozen=True, slots=True, kw_only=True)
class GPUConfig:
    """One GPU, fully resolved: what ``load_config`` returns and ``dump_config`` writes."""

    name: str = _f("human-readable GPU name, e.g. 'RTX A6000'", source="per GPU: the GPU file")
    arch: Arch = _f("architecture family: pascal | volta | turing | ampere | ada | hopper",
                    source="per arch: configs/arch/*.yaml")
    compute_capability: int = _f("SM version as major*10+minor, e.g. 86 for sm_86",
                                 source="per GPU: specs: */compute_capability")
    sources: tuple[str, ...] = _f("where the numbers come from; accumulates along the extends chain",
                                  source="per GPU: every file of the extends chain")
    sm: SMConfig = _section(SMConfig, "streaming multiprocessors")
    subcore: SubCoreConfig = _section(SubCoreConfig, "sub-core front end and issue")
    regfile: RegFileConfig = _section(RegFileConfig, "register file per sub-core")
    pipes: PipesConfig = _section(PipesConfig, "execution pipes per sub-core")
    icache: ICacheConfig = _section(ICacheConfig, "instruction caches")
    memory: MemoryConfig = _section(MemoryConfig, "memory hierarchy")
    launch: LaunchConfig = _section(LaunchConfig, "kernel and CTA launch")
    host: HostConfig = _section(HostConfig, "link to the host")
    interconnect: InterconnectConfig = _section(InterconnectConfig, "GPU-to-GPU links of a node")
    # Where each value came from (key path -> file, 'default' or '--set'); ignored by ==.
    provenance: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False, metadata={"internal": True})

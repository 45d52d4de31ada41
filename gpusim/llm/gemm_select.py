"""Which GEMM kernel, tile and split-K a library would run for C[M,N] = A[M,K] . W[N,K]^T on sm_80/86/89.

cuBLAS and the CUTLASS profiler choose among a fixed list of tile configurations per shape; cuBLAS with
a heuristic, the profiler by timing every candidate.  gpusim cannot time candidates (a simulation per
candidate would cost more than the step), so :func:`select` ranks them with a small analytic cost model
whose every input is a field of the GPU config or a fact of the kernel (its tile, stages, threads and
the registers ptxas gave it in ``traces/kernels/sass/<arch>/manifest.json``):

* occupancy: resident CTAs per SM by the CUDA occupancy rules (registers, shared memory, warps, CTAs;
  the same rules and config fields as :func:`gpusim.assemble.occupancy`);
* the kernel's main loop as ptxas compiled it (:func:`loop_profile`: the backward branch of the
  listing with the most HMMAs, one k tile per iteration): its HMMA count, the sum of its control-bit
  stall counts (the cycles one warp needs to issue one iteration on its own) and its shared-memory
  instructions (LDSM, LDGSTS, and the ``@!PT LDS RZ, [RZ]`` ptxas places before LDGSTS on
  sm_80..sm_89, which no lane executes: they take the SM-shared unit's dispatch interval but no
  shared-memory wavefront, as in the timing model, gpusim.core.lsu);
* per round (every resident CTA advancing one k tile) the busiest of: one warp's issue time; each
  sub-core's tensor pipe (its warps' HMMAs at the sub-core's share of
  :func:`gpusim.llm.run.tensor_peak_flops`); the SM's shared-memory pipe (per instruction the larger
  of ``memory.sm_dispatch_interval_cycles`` and its 128-byte wavefronts at
  ``memory.l1_bytes_per_cycle``); the SM's L2 return path (the A and W tiles at
  ``memory.return_bytes_per_cycle``);
* latency: a CTA keeps ``stages - 1`` k tiles in flight, so one k tile cannot take less than
  ``memory.dram_latency_cycles / (stages - 1)``; each CTA wave pays one such latency to fill its
  pipeline;
* waves: ``floor(CTAs / (SMs x CTAs per SM))`` full waves of the per-SM time above, then the partial
  last wave at the CTAs per SM the dispatcher gives its busiest SM (:func:`tail_ctas_per_sm`: after whole
  waves, as many as a full wave; the tail effect);
* DRAM: the kernel takes at least (A + W + C bytes, or the fp32 partials of split-K that do not stay in
  the L2) / ``memory.dram_bandwidth``;
* DRAM activates (HBM model only): a k tile copies ``BK x 2`` bytes of every A and W row, half a
  128-byte line at BK = 32, so each line of a streamed operand reaches DRAM as ``line / (BK x 2)``
  separate accesses, k tiles apart.  With every CTA streaming its own BM + BN rows, thousands of rows
  are open at once against ``dram_channels x dram_banks`` banks, so the model takes each access as one
  row activate (no row reuse between them); a pseudo-channel issues at most four activates per
  ``memory.hbm_tfaw``, which bounds the bytes per cycle at ``4 x access bytes x channels / tFAW`` (at
  64-byte accesses on the A100 config: 970 B/cycle, 67% of the 1,446 B/cycle bus peak; at 128 bytes
  the bus bound is the tighter one).  This is why the BK = 64 small tiles (cuBLAS's ``stages_64x5`` /
  ``64x3`` kernels) stream skinny GEMMs faster than BK = 32 ones.  "No row reuse" is the pessimistic
  end: the second half of a line can still find its row open (the simulator ran 16 x 11008 x 4096 with
  the 64x64x32 tile at 74% of the bus, above this 67% bound), so the term ranks, it does not predict;
* split-K (CUTLASS's parallel split-K): ``splits`` CTAs per output tile each take ``ceil(k tiles /
  splits)`` k tiles and write fp32 partials; a reduction kernel reads them and writes C, costing its
  DRAM traffic (the partials that outgrow the L2 read back from DRAM, and the dirty ones the L2 held
  written back: :func:`splitk_costs`) plus one ``launch.kernel_launch_latency``.  Split-K is a candidate for every shape, as the
  CUTLASS profiler sweeps ``--split_k_slices`` for every problem; it wins where the unsplit grid wastes a
  wave: skinny and small-M shapes with a long K, and grids just over a whole number of waves (e.g.
  1,024 x 4,096 x 11,008: 256 tiles of 128 x 128 on 216 CTA slots, 1.19 waves, where two splits give
  2.37 waves of half the k tiles);
* stream-K (:mod:`gpusim.llm.streamk`, the "data-parallel + stream-K" hybrid of the kernels that have a
  stream-K variant): the whole waves of tiles as above, then the tiles of the partial wave split by k
  tiles over up to one wave of CTAs, ``q = ceil(their k tiles / CTAs)`` each, with one pipeline fill
  (``memory.dram_latency_cycles``) per tile piece of a CTA; the fp32 partials count in the DRAM floor, and
  the fixup kernel adds reading them and writing the partial tiles' C plus one ``launch.kernel_launch_latency``
  (:func:`estimate_streamk`).  A candidate only where the tiles leave a partial wave, and only with
  ``launch.gemm_streamk`` (off by default): the GEMMs of ``gpusim llm`` stand for what PyTorch and the
  serving stacks run, cuBLAS, whose Ampere kernels are data-parallel tiles with split-K and a separate
  ``splitKreduce_kernel`` (kernel names as profilers show them, e.g.
  ``ampere_fp16_s16816gemm_fp16_64x64_sliced1x2_ldg8_relu_f2f_stages_64x6_tn``, NVIDIA/cutlass issue #1025);
  stream-K is CUTLASS's decomposition, which its paper measures against cuBLAS as a separate baseline
  (Osama et al., "Stream-K", PPoPP'23, arXiv:2301.03598).  Turn it on to model a CUTLASS stream-K build.

The candidate with the least estimated cycles wins (ties: fewer splits, then the earlier kernel of
:data:`gpusim.llm.kernels.GEMM_MULTISTAGE`, largest tile first; stream-K loses ties).  No constant here is fitted to a
measurement; the model only ranks candidates -- the simulator then runs the chosen one.

Shapes the kernels cannot run (K not a multiple of 8) raise one :class:`~gpusim.llm.kernels.KernelError`
naming the operator.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from gpusim.llm import kernels as K

#: split-K factors tried (CUTLASS's profiler sweeps --split_k_slices the same way; 1 = no split)
SPLIT_CANDIDATES = (1, 2, 3, 4, 6, 8, 12, 16)


@dataclass(frozen=True)
class Device:
    """The GPU facts the cost model reads (all from the config; see :meth:`from_config`)."""

    sms: int
    flops_per_sm_cycle: float        # dense fp16 tensor FLOP per SM cycle (mma.sync)
    shared_bytes_per_sm: int
    reserved_shared_per_cta: int
    shared_granularity: int
    registers_per_sm: int
    register_granularity: int
    max_warps_per_sm: int
    max_ctas_per_sm: int
    smem_bytes_per_cycle: int        # memory.l1_bytes_per_cycle
    smem_interval: int               # memory.sm_dispatch_interval_cycles
    subcores: int
    l2_return_bytes_per_cycle: int   # memory.return_bytes_per_cycle
    dram_bytes_per_cycle: float      # memory.dram_bandwidth at the SM clock
    dram_latency_cycles: int
    launch_cycles: int
    line_bytes: int = 128            # memory.line_size_bytes
    l2_bytes: int = 0                # memory.l2_size (0: no L2 term; split-K partials all go to DRAM)
    dram_channels: int = 1           # memory.dram_channels (HBM pseudo-channels)
    tfaw_cycles: float = 0.0         # memory.hbm_tfaw at the SM clock (0: not the hbm model, no activate term)
    streamk: bool = False            # launch.gemm_streamk: the stream-K kernels are candidates

    @classmethod
    def from_config(cls, cfg, arch: str) -> "Device":
        from gpusim.llm.run import tensor_peak_flops  # run imports this module

        sm, mem = cfg.sm, cfg.memory
        return cls(sms=sm.count, flops_per_sm_cycle=tensor_peak_flops(cfg, arch) / sm.count / sm.clock_hz,
                   shared_bytes_per_sm=sm.shared_memory_bytes,
                   reserved_shared_per_cta=sm.reserved_shared_memory_per_cta_bytes,
                   shared_granularity=sm.shared_alloc_granularity_bytes, registers_per_sm=sm.registers,
                   register_granularity=sm.register_alloc_granularity, max_warps_per_sm=sm.max_warps,
                   max_ctas_per_sm=sm.max_ctas, smem_bytes_per_cycle=mem.l1_bytes_per_cycle,
                   smem_interval=mem.sm_dispatch_interval_cycles, subcores=sm.subcores,
                   l2_return_bytes_per_cycle=mem.return_bytes_per_cycle,
                   dram_bytes_per_cycle=mem.dram_bandwidth_bytes_per_s / sm.clock_hz,
                   dram_latency_cycles=mem.dram_latency_cycles, launch_cycles=cfg.launch.kernel_launch_latency_cycles,
                   line_bytes=mem.line_size_bytes, l2_bytes=mem.l2_size_bytes, dram_channels=mem.dram_channels,
                   tfaw_cycles=mem.hbm_tfaw_ps * 1e-12 * sm.clock_hz if mem.dram_model == "hbm" else 0.0,
                   streamk=bool(cfg.launch.gemm_streamk))


#: The GPU preset a bare ``select(arch, ...)`` assumes per architecture (callers with a config pass it).
DEFAULT_GPU = {"sm_80": "a100-sxm4-80gb", "sm_86": "rtx-a6000", "sm_89": "rtx4090", "sm_90a": "h100-sxm5-80gb"}


@functools.lru_cache(maxsize=8)
def default_device(arch: str) -> Device:
    from gpusim.config import load_config

    if arch not in DEFAULT_GPU:
        raise K.KernelError(f"gemm: no multistage GEMM kernels for {arch} (have {', '.join(DEFAULT_GPU)})")
    return Device.from_config(load_config(DEFAULT_GPU[arch]), arch)


@dataclass(frozen=True)
class Choice:
    """The selected GEMM: kernel, its tile, split-K and the cost model's view of it."""

    kernel: str
    tile: str                  # "BMxBNxBK" (stages in ``stages``)
    BM: int
    BN: int
    BK: int
    stages: int
    warps: int
    splits: int                # effective split-K factor (grid z); 1 = no split
    k_tiles_per_split: int
    ctas: int
    ctas_per_sm: int
    waves: float               # CTAs / (SMs x CTAs per SM)
    est_cycles: float          # the cost model's estimate (a ranking score, not a prediction)
    streamk: object = None     # the stream-K partition (gpusim.llm.streamk.Schedule) when ``kernel`` is stream-K

    def as_dict(self) -> dict:
        return {"kernel": self.kernel, "tile": self.tile, "stages": self.stages, "warps": self.warps,
                "splits": self.splits, "ctas": self.ctas, "ctas_per_sm": self.ctas_per_sm,
                "waves": round(self.waves, 3), "est_cycles": round(self.est_cycles),
                **({"streamk": self.streamk.as_dict()} if self.streamk is not None else {})}


def ctas_per_sm(dev: Device, threads: int, registers: int, smem: int) -> int:
    """Resident CTAs per SM (CUDA occupancy rules, as gpusim.assemble.occupancy)."""
    warps = threads // 32
    g = dev.register_granularity
    regs_cta = -(-max(registers, 1) * 32 // g) * g * warps
    sg = dev.shared_granularity
    smem_cta = -(-(smem + dev.reserved_shared_per_cta) // sg) * sg
    return max(0, min(dev.max_ctas_per_sm, dev.max_warps_per_sm // warps, dev.registers_per_sm // regs_cta,
                      dev.shared_bytes_per_sm // smem_cta))


@dataclass(frozen=True)
class LoopProfile:
    """Per warp and main-loop iteration (one k tile) of a GEMM listing."""

    hmma: int
    issue_cycles: int     # sum of max(1, stall) over the loop's instructions
    shared_cycles: int    # shared-memory pipe cycles at 128 B/cycle and a 2-cycle dispatch interval
    shared_insts: int


@functools.lru_cache(maxsize=64)
def loop_profile(name: str, arch: str, smem_interval: int = 2, smem_bpc: int = 128) -> LoopProfile:
    """Static profile of the main loop of kernel ``name``'s listing: the backward branch whose body
    holds the most HMMAs.  LDSM.x4 and 128-bit LDGSTS move 512 B per warp (4 wavefronts of 128 B),
    ``@!PT`` instructions none (one dispatch interval)."""
    f = K.load_kernel(name, arch).function
    best = None
    for i in range(len(f.opcode)):
        tgt = int(f.branch_target[i])
        if tgt < 0 or tgt >= int(f.pc[i]):
            continue
        lo = int(np.searchsorted(f.pc, tgt))
        n = sum(1 for j in range(lo, i + 1) if f.opcode[j].startswith("HMMA"))
        if best is None or n > best[0]:
            best = (n, lo, i)
    if best is None or best[0] == 0:
        raise K.KernelError(f"{name}: no main loop with HMMAs in the {arch} listing")
    n, lo, hi = best
    issue = shared = ninst = 0
    for j in range(lo, hi + 1):
        op = f.opcode[j]
        issue += max(1, int(f.stall[j]))
        root = op.split(".")[0]
        if root in ("LDSM", "LDS", "STS", "LDGSTS"):
            ninst += 1
            dead = f.guard[j].replace(" ", "") == "@!PT"
            width = 0 if dead else 512 if (root in ("LDSM", "LDGSTS") or op.endswith(".128")) else 128
            shared += max(smem_interval, width // smem_bpc)
    return LoopProfile(hmma=n, issue_cycles=issue, shared_cycles=shared, shared_insts=ninst)


def dram_bytes_per_cycle(dev: Device, access_bytes: int) -> float:
    """Sustainable DRAM read rate for a stream of ``access_bytes`` accesses that each open a DRAM row: the
    bus peak, or (HBM model) four activates per ``hbm_tfaw`` on each of the ``dram_channels`` pseudo-channels."""
    if dev.tfaw_cycles <= 0:
        return dev.dram_bytes_per_cycle
    return min(dev.dram_bytes_per_cycle, 4 * access_bytes * dev.dram_channels / dev.tfaw_cycles)


def dram_cycles(dev: Device, operand_bytes: int, BK: int) -> float:
    """Cycles to stream the A and W operands (``operand_bytes``) from DRAM in k tiles of ``BK`` fp16
    elements: one access of min(BK x 2, line) bytes per row and k tile."""
    return operand_bytes / dram_bytes_per_cycle(dev, min(2 * BK, dev.line_bytes))


def round_model(dev: Device, t: dict, prof: LoopProfile | None = None):
    """``round_cycles(n)``: cycles for n resident CTAs of one SM (kernel tile ``t``, main loop ``prof``; None:
    ideal issue and shared-memory traffic from the tile alone) to advance one k tile each."""
    BM, BN, BK, st = t["BM"], t["BN"], t["BK"], t["stages"]
    warps = t["threads"] // 32
    wm, wn = BM // t["warps_m"], BN // t["warps_n"]
    hmma_cycles = 2 * 16 * 8 * 16 / (dev.flops_per_sm_cycle / dev.subcores)  # one HMMA.16816 on a sub-core
    if prof is None:
        prof = LoopProfile(hmma=(wm // 16) * (wn // 8) * (BK // 16), issue_cycles=0, shared_insts=0,
                           shared_cycles=round(((BM + BN) * BK * 2 / warps + (wm + wn) * BK * 2) / dev.smem_bytes_per_cycle))
    t_lat = dev.dram_latency_cycles / max(1, st - 1)

    def round_cycles(n_per_sm: int) -> float:
        """Cycles for n_per_sm resident CTAs of an SM to advance one k tile each."""
        w = n_per_sm * warps
        return max(prof.issue_cycles,                                   # one warp's own issue
                   -(-w // dev.subcores) * prof.hmma * hmma_cycles,     # a sub-core's tensor pipe
                   w * prof.shared_cycles,                              # the SM's shared-memory pipe
                   n_per_sm * (BM + BN) * BK * 2 / dev.l2_return_bytes_per_cycle,  # L2 -> SM
                   t_lat)                                               # the cp.async pipeline's latency
    return round_cycles


def tail_ctas_per_sm(dev: Device, c: int, full: int, rest: int) -> int:
    """CTAs per SM on the busiest SM of a grid's partial last wave (``rest`` CTAs after ``full`` whole waves of
    ``c`` CTAs per SM), as the CTA dispatcher places them (gpusim.core.dispatch): a grid of less than one wave
    is dealt one CTA per SM at a time, ``ceil(rest / SMs)`` each; after whole waves a finished CTA's slot is
    refilled with the next CTA, and the ``c`` CTAs of an SM, started together, free their slots together, so
    the tail goes ``min(c, rest)`` to an SM (2048^3 on the A100 with 128 x 128 tiles, 216 + 40 CTAs,
    simulates at 153 k cycles, near two full waves of 79 k, not a wave plus a one-per-SM tail of 42 k:
    benchmarks/results/gemm_select_ranking_a100.json)."""
    if full == 0:
        return -(-rest // dev.sms)
    return min(c, rest)


def splitk_costs(dev: Device, M: int, N: int, splits: int, l2_bytes: int | None = None) -> tuple[int, float]:
    """The DRAM bytes of a GEMM's output and the cycles of its split-K reduction kernel: ``(bytes, cycles)``.
    Unsplit: C (fp16), no reduction.  Split-K: the GEMM writes ``P = 4 x splits x M x N`` bytes of fp32
    partials into the write-back L2 (``memory.l2_size``; LRU, gpusim.core.memsys), which holds the last
    ``min(P, L2)`` of them dirty when the GEMM ends; only the rest reach DRAM during the GEMM.  If the
    partials fit the L2 the reduction reads them there (at the SMs' L2 return rate,
    ``memory.return_bytes_per_cycle`` each); otherwise it streams all of them from DRAM (each is read once,
    in an order whose reuse distance exceeds the L2, so LRU keeps none) and its misses evict the dirty
    ones, written back during the reduction.  It writes C and costs one more ``launch.kernel_launch_latency``.
    (Before this term the estimate put all partials in the GEMM's DRAM floor, where a compute-bound GEMM
    hides them: 2048 x 4096 x 4096 with two splits, a reduction estimated at 58 k cycles, simulates at 91 k.)
    ``l2_bytes``: the L2 the term assumes (None: ``dev.l2_bytes``; 0: every partial written to and read back
    from DRAM, as :func:`estimate_wgmma` charges them)."""
    c_bytes = 2 * M * N
    if splits <= 1:
        return c_bytes, 0.0
    l2_bytes = dev.l2_bytes if l2_bytes is None else l2_bytes
    p = 4 * splits * M * N
    resident = min(p, l2_bytes)
    in_l2 = p <= l2_bytes
    dram = (0 if in_l2 else p) + resident + c_bytes
    l2 = (p if in_l2 else 0) / (dev.sms * dev.l2_return_bytes_per_cycle)
    return p - resident, max(dram / dev.dram_bytes_per_cycle, l2) + dev.launch_cycles


def estimate(dev: Device, t: dict, registers: int, M: int, N: int, Kd: int, splits: int,
             prof: LoopProfile | None = None) -> tuple[float, dict] | None:
    """Estimated cycles of one candidate (None: it does not fit an SM).  ``t``: :func:`kernels.gemm_tile`;
    ``prof``: its :func:`loop_profile` (None: ideal issue and shared-memory traffic from the tile alone)."""
    BM, BN, BK = t["BM"], t["BN"], t["BK"]
    c = ctas_per_sm(dev, t["threads"], registers, t["smem"])
    if c < 1:
        return None
    ktps, s = K.split_k(-(-Kd // BK), splits)
    tiles = -(-M // BM) * -(-N // BN)
    ctas = tiles * s
    round_cycles = round_model(dev, t, prof)

    def wave(n_per_sm: int) -> float:
        return ktps * round_cycles(n_per_sm) + dev.dram_latency_cycles

    slots = dev.sms * c
    full, rest = divmod(ctas, slots)
    cyc = full * wave(c) + (wave(tail_ctas_per_sm(dev, c, full, rest)) if rest else 0.0)
    out, reduction = splitk_costs(dev, M, N, s)
    cyc = max(cyc, dram_cycles(dev, 2 * (M * Kd + N * Kd), BK) + out / dev.dram_bytes_per_cycle)
    return cyc + reduction, {"splits": s, "ktps": ktps, "ctas": ctas, "ctas_per_sm": c, "waves": ctas / slots}


def estimate_streamk(dev: Device, t: dict, registers: int, M: int, N: int, Kd: int,
                     prof: LoopProfile | None = None) -> tuple[float, dict] | None:
    """Estimated cycles of the stream-K hybrid of a tile (:mod:`gpusim.llm.streamk`; ``t``, ``registers``:
    the stream-K kernel's; ``prof``: the main loop's profile), in the terms of :func:`estimate`: the
    data-parallel waves as there; then every SM runs its stream-K CTAs at once for ``q = ceil(stream-K
    iterations / stream-K CTAs)`` k tiles, paying the pipeline fill once per piece (tile) of a CTA; the
    DRAM floor adds the fp32 partials written; the fixup kernel reads them, writes the partial tiles' C
    and costs one more launch.  None: it does not fit an SM, or the tiles fill whole waves."""
    from gpusim.llm import streamk as SK

    c = ctas_per_sm(dev, t["threads"], registers, t["smem"])
    if c < 1:
        return None
    sch = SK.schedule(M, N, Kd, t["BM"], t["BN"], t["BK"], dev.sms * c)
    if sch is None:
        return None
    round_cycles = round_model(dev, t, prof)
    cyc = (sch.dp_tiles // (dev.sms * c)) * (sch.kt * round_cycles(c) + dev.dram_latency_cycles)
    cyc += sch.q * round_cycles(min(c, -(-sch.sk_ctas // dev.sms))) + sch.max_pieces() * dev.dram_latency_cycles
    tile_bytes = 4 * t["BM"] * t["BN"]
    partials = sch.partial_pieces() * tile_bytes
    cyc = max(cyc, dram_cycles(dev, 2 * (M * Kd + N * Kd), t["BK"]) + (2 * M * N + partials) / dev.dram_bytes_per_cycle)
    cyc += (partials + sch.partial_tiles() * tile_bytes // 2) / dev.dram_bytes_per_cycle + dev.launch_cycles
    return cyc, {"splits": 1, "ktps": sch.kt, "ctas": sch.ctas, "ctas_per_sm": c, "waves": sch.ctas / (dev.sms * c),
                 "streamk": sch}


def select(arch: str, M: int, N: int, Kd: int, device: Device | None = None, op: str = "gemm",
           kernels: tuple[str, ...] | None = None, splits: tuple[int, ...] = SPLIT_CANDIDATES,
           streamk: bool | None = None) -> Choice:
    """The multistage kernel, tile and split-K or stream-K for an (arch, M, N, K) GEMM (``op`` names the operator
    in errors).  ``kernels`` / ``splits`` restrict the candidates (e.g. ``splits=(1,)`` for no split-K);
    ``streamk``: also the stream-K variant of every kernel that has one (:func:`estimate_streamk`; on a tie the
    data-parallel or split-K candidate wins); None: the device's ``launch.gemm_streamk`` (off by default)."""
    from gpusim.llm import streamk as SK

    if arch not in K.GEMM_MULTISTAGE_ARCHS:
        raise K.KernelError(f"{op}: no multistage GEMM kernels for {arch} (built for "
                            f"{', '.join(K.GEMM_MULTISTAGE_ARCHS)})")
    if min(M, N, Kd) < 1:
        raise K.KernelError(f"{op}: GEMM shape M={M}, N={N}, K={Kd} must be positive")
    if Kd % K.GEMM_K_ALIGN:
        raise K.KernelError(f"{op}: K = {Kd} is not a multiple of {K.GEMM_K_ALIGN}: the GEMM kernels load A and W "
                            f"rows in 16-byte cp.async chunks (fp16 rows must be 16-byte aligned, as for "
                            f"CUTLASS's alignment-8 kernels)")
    dev = device or default_device(arch)
    if streamk is None:
        streamk = dev.streamk
    best = None
    names = kernels or K.GEMM_MULTISTAGE
    for order, name in enumerate(names):
        if arch not in K.kernel_specs()[name].get("archs", K.GEMM_MULTISTAGE_ARCHS):
            continue
        t = K.gemm_tile(name)
        regs = K.load_kernel(name, arch).registers
        prof = loop_profile(name, arch, dev.smem_interval, dev.smem_bytes_per_cycle)
        for s in splits:
            r = estimate(dev, t, regs, M, N, Kd, s, prof)
            if r is None:
                continue
            cyc, d = r
            if s > 1 and d["splits"] == 1:
                continue  # clipped to no split: the s == 1 candidate stands for it
            if M * N * d["splits"] >= 2 ** 31:
                continue
            key = (cyc, d["splits"], order)
            if best is None or key < best[0]:
                best = (key, name, t, d, cyc)
        sk = SK.STREAMK_OF.get(name)
        if streamk and sk is not None and arch in K.kernel_specs()[sk]["archs"]:
            r = estimate_streamk(dev, K.gemm_tile(sk), K.load_kernel(sk, arch).registers, M, N, Kd, prof)
            if r is not None and M * N < 2 ** 31:
                key = (r[0], 1, len(names) + order)
                if best is None or key < best[0]:
                    best = (key, sk, t, r[1], r[0])
    if best is None and M * N >= 2 ** 31:
        raise K.KernelError(f"{op}: M x N = {M} x {N} = {M * N:,} elements of C: the GEMM kernels index C (and "
                            f"split-K partials) with 32-bit offsets, below 2**31 elements; split the GEMM along M")
    if best is None:
        raise K.KernelError(f"{op}: no GEMM kernel fits an SM of this GPU for M={M}, N={N}, K={Kd}")
    _, name, t, d, cyc = best
    return Choice(kernel=name, tile=f"{t['BM']}x{t['BN']}x{t['BK']}", BM=t["BM"], BN=t["BN"], BK=t["BK"],
                  stages=t["stages"], warps=t["threads"] // 32, splits=d["splits"], k_tiles_per_split=d["ktps"],
                  ctas=d["ctas"], ctas_per_sm=d["ctas_per_sm"], waves=d["waves"], est_cycles=cyc,
                  streamk=d.get("streamk"))


@dataclass(frozen=True)
class WgmmaChoice:
    """The Hopper fp16 / fp8 GEMM :func:`select_wgmma` picked: the tile of :func:`kernels.gemm_wgmma_tile`
    unsplit, or the 128 x 128 split-K kernel with ``splits`` > 1."""

    kernel: str
    tile: str                  # "BMxBNxBK"
    splits: int                # 1 = no split
    est_cycles: float          # estimate_wgmma of the choice (a ranking score, not a prediction)
    unsplit_cycles: float      # ... of the unsplit tile

    def as_dict(self) -> dict:
        return {"kernel": self.kernel, "tile": self.tile, "splits": self.splits,
                "est_cycles": round(self.est_cycles), "unsplit_est_cycles": round(self.unsplit_cycles)}


def estimate_wgmma(dev: Device, M: int, N: int, Kd: int, BM: int, BN: int, BK: int, splits: int,
                   dtype: str = "fp16") -> float:
    """Estimated cycles of a Hopper warp-specialised GEMM (one CTA per SM) with ``splits``-way split-K:
    CTA waves (``ceil(tiles x splits / SMs)``) of ``ceil(k tiles / splits)`` k tiles at the per-tile time of
    :func:`kernels.wgmma_tile_cycles_per_k` (the longer of the tile's wgmma time and its operands' L2 time), plus one
    pipeline fill (``memory.dram_latency_cycles``) per wave; at least the DRAM time of A, W and the output
    (C, or the fp32 partials); split-K adds the reduction kernel's DRAM traffic (read the partials, write C)
    and one ``launch.kernel_launch_latency``; fp8 (``dtype``): one byte per A / W element at twice the
    wgmma rate.  A ranking score from config fields, not a prediction.

    Unlike :func:`estimate` it charges every partial to DRAM (:func:`splitk_costs` with no L2): with the L2
    term, and with the L2 slices shared by only the SMs a small grid occupies, it ranked the simulated
    candidates worse on 6 of 10 decode and short-prefill shapes (e.g. 64 x 7168 x 8192 unsplit, 46.0 us,
    over split-K 2, 43.1 us; benchmarks/results/gemm_select_ranking_a100.json, ``hopper``): these small
    grids stream W below the DRAM peak, which neither term models."""
    eb = 1 if dtype == "fp8" else 2
    per_k = K.wgmma_tile_cycles_per_k(BM, BN, dtype)
    ktps, s = K.split_k(-(-Kd // BK), splits)
    waves = -(-(-(-M // BM) * -(-N // BN) * s) // dev.sms)
    out, reduction = splitk_costs(dev, M, N, s, l2_bytes=0)
    cyc = max(waves * (ktps * BK * per_k + dev.dram_latency_cycles),
              (eb * (M * Kd + N * Kd) + out) / dev.dram_bytes_per_cycle)
    return cyc + reduction


def select_wgmma(M: int, N: int, Kd: int, dev: Device, splits: tuple[int, ...] = SPLIT_CANDIDATES,
                 dtype: str = "fp16") -> WgmmaChoice:
    """The fp16 (or fp8, ``dtype``) GEMM on sm_90a: the unsplit tile of :func:`kernels.gemm_wgmma_tile`, or the 128 x 128 split-K
    kernel (:func:`kernels.gemm_wgmma_splitk`) where :func:`estimate_wgmma` ranks some split below it --
    grids of fewer tiles than SMs with a long K, such as decode and short-prefill GEMMs (M <= 128: one row
    of tiles; 32 tiles at N = 4096 on 132 SMs).  CUTLASS's sm90 tile scheduler has a split-K mode
    (``DecompositionMode::SplitK``) and its profiler sweeps ``--split_k_slices`` as on Ampere; ties keep
    the unsplit kernel, and fewer splits."""
    tile = K.gemm_wgmma_tile(M, N, dtype, dev.sms)
    name = K.WGMMA_GEMMS[(dtype, tile)]
    t = K.kernel_specs()[name]["tile"]
    base = estimate_wgmma(dev, M, N, Kd, t["BM"], t["BN"], t["BK"], 1, dtype)
    best = WgmmaChoice(name, f"{t['BM']}x{t['BN']}x{t['BK']}", 1, base, base)
    sname = K.WGMMA_SPLITK_GEMMS[(dtype, "128x128")]
    st = K.kernel_specs()[sname]["tile"]
    kt = -(-Kd // st["BK"])
    for s in splits:
        if s < 2 or s > kt or M * N * s >= 2 ** 31 or M >= 65536:
            continue
        eff = K.split_k(kt, s)[1]
        if eff < 2:
            continue
        e = estimate_wgmma(dev, M, N, Kd, st["BM"], st["BN"], st["BK"], s, dtype)
        if e < best.est_cycles * (1 - 1e-9):
            best = WgmmaChoice(sname, f"{st['BM']}x{st['BN']}x{st['BK']}", eff, e, base)
    return best


def gemm_calls(arch: str, choice: Choice, M: int, N: int, Kd: int, A: int, W: int, C: int,
               workspace: int = 0) -> list[K.KernelCall]:
    """The launches of a chosen GEMM: the kernel, and the split-K reduction when ``choice.splits`` > 1, or the
    stream-K kernel and its fixup (``workspace``: an fp32 buffer of :func:`workspace_bytes`)."""
    if choice.streamk is not None:
        from gpusim.llm import streamk as SK

        return SK.streamk_calls(arch, choice.kernel, choice.streamk, M, N, Kd, A, W, C, workspace)
    call = K.gemm_multistage(arch, choice.kernel, M, N, Kd, A, W, C, workspace, choice.splits)
    if choice.splits == 1:
        return [call]
    return [call, K.gemm_splitk_reduce(arch, M, N, workspace, C, call.launch.grid[2])]


def workspace_bytes(choice: Choice, M: int, N: int) -> int:
    if choice.streamk is not None:
        return choice.streamk.workspace_bytes()
    return 4 * choice.splits * M * N if choice.splits > 1 else 0


def describe(choice: Choice) -> str:
    s = f", split-K {choice.splits}" if choice.splits > 1 else ""
    if choice.streamk is not None:
        k = choice.streamk
        s = (f", stream-K: {k.dp_tiles} tiles data-parallel + {k.sk_tiles} tiles over {k.sk_ctas} CTAs of "
             f"{k.q} k tiles")
    return f"{choice.kernel} ({choice.tile}, {choice.stages} stages, {choice.warps} warps{s}; {choice.waves:.2f} waves)"


__all__ = ["Choice", "Device", "WgmmaChoice", "estimate_wgmma", "select_wgmma", "SPLIT_CANDIDATES", "default_device", "describe", "estimate", "estimate_streamk",
           "gemm_calls", "round_model", "select", "splitk_costs", "tail_ctas_per_sm",
           "workspace_bytes", "ctas_per_sm"]

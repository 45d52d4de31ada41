"""The multistage mma.sync GEMM family (traces/kernels/src/gemm_multistage.cu) and its selector
(gpusim/llm/gemm_select.py), checked by walking the real SASS (no GPU) and against analytic oracles:
conflict-free swizzled ldmatrix, ragged M/N/K edges, split-K covering K once, the per-shape choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpusim.config import load_config
from gpusim.core.coalesce import coalesce
from gpusim.frontend.opcodes import load_opcode_table
from gpusim.frontend.reader import intern_opcodes
from gpusim.llm import gemm_select as GS
from gpusim.llm import kernels as K
from gpusim.llm.walker import memory_accesses
from tests.test_walker import count_ops, ptrs, touches

A100 = "a100-sxm4-80gb"
FAMILY = K.GEMM_MULTISTAGE


def _mma_per_warp(t: dict, k_tiles: int) -> int:
    return (t["BM"] // t["warps_m"] // 16) * (t["BN"] // t["warps_n"] // 8) * (t["BK"] // 16) * k_tiles


# --------------------------------------------------------------------------------------------
# shared-memory layout
# --------------------------------------------------------------------------------------------


def _ldsm_phases(kt) -> np.ndarray:
    """Shared byte addresses of every LDSM, one row of 32 lane addresses each (lanes 8p..8p+7 are
    the 8 row addresses of matrix p, one 16-byte row each)."""
    inst, addr = memory_accesses(kt)
    ldsm = np.array([o.split(".")[0] == "LDSM" for o in kt.st_opcode])[kt.inst_static[inst]]
    a = addr[ldsm].astype(np.int64) - np.int64(kt.header.shmem_base)
    assert a.size % 32 == 0 and a.size > 0
    return a.reshape(-1, 32)


def _conflicting_phases(rows: np.ndarray) -> int:
    """Phases (8 lanes of 16 bytes = one 128-byte wavefront if conflict-free) whose 8 row addresses
    do not fall into 8 different 16-byte bank groups (bank group = address / 16 mod 8)."""
    groups = (rows.reshape(-1, 8) // 16) % 8
    return int(sum(len(set(g.tolist())) < 8 for g in groups))


@pytest.mark.parametrize("name", FAMILY)
def test_ldmatrix_swizzle_is_bank_conflict_free(name):
    """Rule: with the XOR-swizzled K-major tiles (64-byte rows: chunk ^ (row>>1 & 3); 128-byte rows:
    chunk ^ (row & 7)) the 8 row addresses of every ldmatrix phase hit 8 different 16-byte bank
    groups, so each LDSM.x4 is 4 wavefronts with no replay -- checked on the walked addresses of one
    CTA and by the core's own bank-conflict count (coalesce: L1 ways == 4 per LDSM).  The oracle can
    fail: the same fragment rows without the swizzle (plain row * row_bytes + chunk * 16) conflict."""
    t = K.gemm_tile(name)
    call = K.gemm_multistage("sm_80", name, t["BM"], t["BN"], 2 * t["BK"], *ptrs(3))
    kt = call.trace(range(1))
    rows = _ldsm_phases(kt)
    assert _conflicting_phases(rows) == 0
    # the core's view: wavefronts per LDSM = 4 (512 bytes, no replay)
    intern_opcodes(kt)
    table = load_opcode_table(kt.isa_family)
    mem = load_config(A100).memory
    _, _, _, _, ways, _ = coalesce(kt.inst_static, kt.inst_mask, kt.inst_mem, kt.st_mem_width.astype(np.int32),
                                   table.mem_space[kt.st_op].astype(np.int8), kt.mem_mode, kt.mem_base,
                                   kt.mem_stride, kt.mem_ptr, kt.lane_off, mem.line_size_bytes,
                                   mem.sector_size_bytes, kt.header.shmem_base, kt.header.local_base)
    is_ldsm = np.array([o.split(".")[0] == "LDSM" for o in kt.st_opcode])[kt.inst_static]
    assert np.all(ways[is_ldsm] == 4)
    # negative control: undo the swizzle (recover row and logical chunk, re-lay out unswizzled)
    row_bytes = 2 * t["BK"]
    stage_off = rows % (row_bytes * 8)  # the swizzle pattern repeats every 8 rows
    r = (rows // row_bytes)
    chunk = (rows % row_bytes) // 16
    logical = chunk ^ (((r >> 1) & 3) if t["BK"] == 32 else (r & 7))
    plain = r * row_bytes + logical * 16
    assert stage_off.size and _conflicting_phases(plain) > 0


# --------------------------------------------------------------------------------------------
# edges and split-K
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("N", [2145, 2144])
def test_gemm_predicates_ragged_edges(name, N):
    """Rule: any M and N (here M = 200, N = 2145 odd / 2144 even) and K a multiple of 8 but not of BK
    (136): every C element is stored exactly once, nothing is stored or read outside A, W and C, C is
    never read; each A element is read exactly once per N tile and each W element once per M tile (one
    k tile at a time: chunks past K are zero-filled by cp.async with src-size 0, which reads nothing,
    and tile rows past M (N) are predicated off, as CUTLASS's predicated tile iterators do); every warp
    issues the MMAs of its warp tile for ceil(K / BK) k tiles.  (The kernel used to reload the last
    row for the rows past M; checked to fail with the walker counting zero-filled lanes as reads:
    chunks past K then run past the end of A.)"""
    M, Kd = 200, 136
    if "x256" in name:
        N = N // 7  # keep the walk small for the 256-wide tiles (306 / 305: still ragged)
    t = K.gemm_tile(name)
    A, W, C = ptrs(3)
    kt = K.gemm_multistage("sm_80", name, M, N, Kd, A, W, C).trace()
    tt = touches(kt, {"A": 2 * M * Kd, "W": 2 * N * Kd, "C": 2 * M * N})
    n_m, n_n = math.ceil(M / t["BM"]), math.ceil(N / t["BN"])
    assert kt.num_ctas == n_m * n_n
    assert np.all(tt["C"][1] == 1) and not tt["C"][0].any()
    assert not tt["A"][1].any() and not tt["W"][1].any()
    a = tt["A"][0].reshape(M, Kd)
    w = tt["W"][0].reshape(N, Kd)
    assert np.all(a == n_n) and np.all(w == n_m)
    assert np.all(count_ops(kt, "HMMA", per_warp=True) == _mma_per_warp(t, math.ceil(Kd / t["BK"])))


@pytest.mark.parametrize("arch", ["sm_86", "sm_89"])
def test_gemm_predicates_ragged_edges_on_sm86_and_sm89_listings(arch):
    """Rule: as test_gemm_predicates_ragged_edges, on the other sm_8x listings (every kernel built there,
    M = 72, N = 145, K = 40: one partial tile in each dimension)."""
    M, N, Kd = 72, 145, 40
    for name in FAMILY:
        if arch not in K.kernel_specs()[name].get("archs", K.GEMM_MULTISTAGE_ARCHS):
            continue
        t = K.gemm_tile(name)
        kt = K.gemm_multistage(arch, name, M, N, Kd, *ptrs(3)).trace()
        tt = touches(kt, {"A": 2 * M * Kd, "W": 2 * N * Kd, "C": 2 * M * N})
        n_m, n_n = math.ceil(M / t["BM"]), math.ceil(N / t["BN"])
        assert np.all(tt["C"][1] == 1) and not tt["C"][0].any(), name
        assert np.all(tt["A"][0].reshape(M, Kd)[:-1] == n_n) and np.all(tt["W"][0].reshape(N, Kd)[:-1] == n_m), name


@pytest.mark.parametrize("name", ["gemm_f16_tn_64x64x32_s6", "gemm_f16_tn_64x128x64_s3"])
def test_split_k_covers_k_once(name):
    """Rule: with split-K, the CTAs of one output tile (grid z = splits) take disjoint, contiguous
    ranges of whole k tiles that together cover K once: every A and W element is read exactly as
    often as without split-K, each split writes its fp32 partial of every C element once (P[z, m, n],
    4 bytes = 2 units), the GEMM never writes C, and the reduction reads each partial once and writes
    each C element once.  7 k tiles over 3 splits: 3 + 3 + 1 (BK = 32: K = 208; BK = 64, the skinny
    tiles: K = 416).  (Checked to fail: launching the same grid with ktps = 2 leaves the last k tile (the K
    tail: 16 columns of A and W at BK = 32) unread.)"""
    t = K.gemm_tile(name)
    M, N, Kd, S = 96, 200, 208 * t["BK"] // 32, 3
    A, W, C, P = ptrs(4)
    call = K.gemm_multistage("sm_80", name, M, N, Kd, A, W, C, P, S)
    assert call.launch.grid[2] == S and call.launch.params["ktps"] == 3
    kt = call.trace()
    tt = touches(kt, {"A": 2 * M * Kd, "W": 2 * N * Kd, "C": 2 * M * N, "P": 4 * S * M * N})
    n_m, n_n = math.ceil(M / t["BM"]), math.ceil(N / t["BN"])
    a, w = tt["A"][0].reshape(M, Kd), tt["W"][0].reshape(N, Kd)
    assert np.all(a[:-1] == n_n) and np.all(w[:-1] == n_m)
    assert not tt["C"][1].any() and not tt["C"][0].any()
    assert np.all(tt["P"][1] == 1) and not tt["P"][0].any()
    hmma = count_ops(kt, "HMMA", per_warp=True).reshape(-1, 4)[:, 0]  # per CTA, CTAs in grid order
    per_split = hmma.reshape(S, -1)
    assert per_split.sum(axis=0).tolist() == [_mma_per_warp(K.gemm_tile(name), 7)] * (n_m * n_n)
    red = K.gemm_splitk_reduce("sm_80", M, N, P, C, S).trace()
    tr = touches(red, {"A": 2, "W": 2, "C": 2 * M * N, "P": 4 * S * M * N})
    assert np.all(tr["P"][0] == 1) and not tr["P"][1].any()
    assert np.all(tr["C"][1] == 1) and not tr["C"][0].any()


def test_multistage_kernels_fit_the_register_file_without_spills():
    """Rule: ptxas fits every kernel in 255 registers with no local memory (a spill would put LDL/STL in
    the main loop); an A100 SM holds at least one CTA of each (registers, 164 KiB shared memory)."""
    dev = GS.default_device("sm_80")
    for arch in K.GEMM_MULTISTAGE_ARCHS:
        man = K._manifest(arch)["kernels"]
        for name in FAMILY:
            if arch not in K.kernel_specs()[name].get("archs", K.GEMM_MULTISTAGE_ARCHS):
                assert name not in man  # e.g. 128x256x64: 144 KiB of shared memory, sm_80 only
                continue
            assert man[name]["registers"] <= 255 and man[name]["local_bytes"] == 0 and man[name]["stack_bytes"] == 0
    for name in FAMILY:
        t = K.gemm_tile(name)
        assert GS.ctas_per_sm(dev, t["threads"], K.load_kernel(name, "sm_80").registers, t["smem"]) >= 1


# --------------------------------------------------------------------------------------------
# the selector
# --------------------------------------------------------------------------------------------


def test_gemm_selector_picks_split_k_for_skinny_shapes():
    """Rule (cuBLAS / CUTLASS split-K): when the output tiles cannot fill the SMs and K is long
    (M = 128, N = 1024, K = 8192 on the A100's 108 SMs: at most 16 tiles of 128x64 or larger) the
    selector splits K so that the CTAs cover at least half the SMs; a large square (4096^3, 128 tiles
    of 128x256 and more) is not split, and the chosen grid never exceeds the split count's k tiles."""
    dev = GS.default_device("sm_80")
    c = GS.select("sm_80", 128, 1024, 8192, dev)
    assert c.splits > 1 and c.ctas >= dev.sms // 2, GS.describe(c)
    assert c.splits * c.k_tiles_per_split >= math.ceil(8192 / c.BK) > (c.splits - 1) * c.k_tiles_per_split
    big = GS.select("sm_80", 4096, 4096, 4096, dev)
    assert big.splits == 1, GS.describe(big)
    # no split-K candidates: the same shape keeps one split
    assert GS.select("sm_80", 128, 1024, 8192, dev, splits=(1,)).splits == 1


def test_gemm_selector_prefers_fewer_splits_when_the_grid_is_already_full():
    """Rule: split-K only pays where waves are short: for M = N = 8192 (>= 4 waves of any tile) no
    split is chosen, and the cost of a split candidate includes its reduction (more DRAM bytes + one
    more launch), so it is never cheaper than the same tile unsplit on a full grid."""
    dev = GS.default_device("sm_80")
    c = GS.select("sm_80", 8192, 8192, 4096, dev)
    assert c.splits == 1
    t = K.gemm_tile(c.kernel)
    prof = GS.loop_profile(c.kernel, "sm_80", dev.smem_interval, dev.smem_bytes_per_cycle)
    regs = K.load_kernel(c.kernel, "sm_80").registers
    one = GS.estimate(dev, t, regs, 8192, 8192, 4096, 1, prof)[0]
    two = GS.estimate(dev, t, regs, 8192, 8192, 4096, 2, prof)[0]
    assert two > one


def test_gemm_selector_splits_k_when_the_grid_is_just_over_a_wave():
    """Rule (the CUTLASS profiler tries split-K on every shape): a grid just over one wave wastes most of
    its second wave, and two k splits turn it into more, shorter waves.  1,024 x 4,096 x 11,008 on the A100
    (256 tiles of 128x128 on 108 SMs x 2 = 216 CTA slots: 1.19 waves) is estimated cheaper with split-K 2
    (512 CTAs of half the k tiles: 2.37 waves of half the length) than unsplit, so the selector splits it,
    though the unsplit grid already fills a wave (the tile it picks, 128x256x64 at one CTA per SM: 128
    tiles on 108 SMs, split 4 ways into 4.74 waves)."""
    dev = GS.default_device("sm_80")
    c = GS.select("sm_80", 1024, 4096, 11008, dev, streamk=False)
    slots = dev.sms * c.ctas_per_sm
    assert c.splits >= 2 and slots < c.ctas // c.splits < 2 * slots, GS.describe(c)
    unsplit = GS.select("sm_80", 1024, 4096, 11008, dev, splits=(1,), streamk=False)
    assert c.est_cycles < unsplit.est_cycles


def test_gemm_tail_wave_runs_as_many_ctas_per_sm_as_a_full_wave():
    """Rule (CTA dispatch, gpusim.core.dispatch): a grid smaller than one wave is dealt one CTA per SM at a
    time; after whole waves each freed slot takes the next CTA, and the CTAs of an SM, started together,
    free their slots together, so the tail goes as many to an SM as a full wave had.  2048^3 on the A100
    with 128 x 128 tiles (2 per SM): 256 CTAs = 216 + a 40-CTA tail that runs 2 per SM, so the kernel
    takes about two full waves (simulated 153 k cycles; one wave 79 k) and the 128 x 64 tile, 512 CTAs
    in 2.37 waves, is faster (simulated 94.7 against 108.8 us: benchmarks/results/
    gemm_select_ranking_a100.json).  (With the tail spread one CTA per SM the selector picks 128 x 128.)"""
    dev = GS.default_device("sm_80")
    assert GS.tail_ctas_per_sm(dev, 2, 0, 150) == 2 and GS.tail_ctas_per_sm(dev, 2, 0, 40) == 1
    assert GS.tail_ctas_per_sm(dev, 2, 1, 40) == 2 and GS.tail_ctas_per_sm(dev, 2, 3, 1) == 1
    c = GS.select("sm_80", 2048, 2048, 2048, dev)
    assert (c.BM, c.BN, c.splits) == (128, 64, 1), GS.describe(c)


def test_splitk_partials_that_fit_the_l2_are_read_there_and_the_rest_stream_from_dram():
    """Rule (write-back LRU L2, gpusim.core.memsys): split-K's fp32 partials are written into the L2, which
    holds the last L2-size bytes of them dirty when the GEMM ends.  Partials that fit (16 x 4096 x 3 splits:
    786 KB in the A100's 40 MiB) cost the GEMM no DRAM write and the reduction no DRAM read: it reads them at
    the SMs' L2 return rate.  Partials that do not fit (2048 x 4096 x 2 splits: 64 MiB) are streamed back
    from DRAM, and the 40 MiB the L2 held dirty are written back while the reduction runs: (64 + 40 + 16)
    MiB of DRAM traffic, where the old estimate charged only the 80 MiB read + C (58 k cycles) while the
    simulator takes 91 k.  Unsplit: C, no reduction."""
    dev = GS.default_device("sm_80")
    L2 = 40 * 2 ** 20
    assert dev.l2_bytes == L2
    assert GS.splitk_costs(dev, 2048, 4096, 1) == (2 * 2048 * 4096, 0.0)
    p = 4 * 3 * 16 * 4096
    out, red = GS.splitk_costs(dev, 16, 4096, 3)
    assert out == 0
    l2_read = p / (dev.sms * dev.l2_return_bytes_per_cycle)
    dram = (p + 2 * 16 * 4096) / dev.dram_bytes_per_cycle
    assert red == pytest.approx(max(dram, l2_read) + dev.launch_cycles)
    p = 4 * 2 * 2048 * 4096
    out, red = GS.splitk_costs(dev, 2048, 4096, 2)
    assert out == p - L2
    assert red == pytest.approx((p + L2 + 2 * 2048 * 4096) / dev.dram_bytes_per_cycle + dev.launch_cycles)
    assert red > 91_000 * 0.9


def test_gemm_shape_the_kernels_cannot_run_is_one_error_naming_the_operator():
    """Rule: K not a multiple of 8 (16-byte cp.async rows) is refused with one KernelError naming the
    operator and the reason; an arch without the family too."""
    with pytest.raises(K.KernelError, match=r"layer\.qkv_proj: K = 4100 is not a multiple of 8"):
        GS.select("sm_80", 512, 4096, 4100, op="layer.qkv_proj")
    with pytest.raises(K.KernelError, match=r"lm_head: M x N = 70000 x 40000 = 2,800,000,000 elements of C: "
                                            r"the GEMM kernels index C .* with 32-bit offsets"):
        GS.select("sm_80", 70000, 40000, 4096, op="lm_head")
    with pytest.raises(K.KernelError, match=r"lm_head: no multistage GEMM kernels for sm_90a"):
        GS.select("sm_90a", 512, 4096, 4096, op="lm_head")
    with pytest.raises(K.KernelError, match=r"must be a multiple of 8"):
        K.gemm_multistage("sm_80", FAMILY[0], 64, 64, 100, *ptrs(3))
    # through the step's kernel choice (gpusim llm): the operator is named on every architecture
    from gpusim.llm.run import _gemm

    with pytest.raises(K.KernelError, match=r"^layer\.o_proj: K = 4100 is not a multiple of 8"):
        _gemm("sm_86", 512, 4096, 4100, *ptrs(3), op="layer.o_proj")
    with pytest.raises(K.KernelError, match=r"^layer\.o_proj: gemm_f16_tn_128x128x32_s3: N = 2145 must be"):
        _gemm("sm_90a", 512, 2145, 4128, *ptrs(3), op="layer.o_proj")


def test_gemm_selection_is_cheap():
    """Rule: the selector costs no simulation: 100 selections of distinct shapes take well under a second
    once the listings are parsed."""
    import time

    GS.select("sm_80", 64, 64, 64)
    t0 = time.perf_counter()
    for i in range(100):
        GS.select("sm_80", 16 + 40 * i, 4096, 4096)
    assert time.perf_counter() - t0 < 1.0


# --------------------------------------------------------------------------------------------
# skinny shapes: whole-line k tiles, DRAM activates, bytes in flight
# --------------------------------------------------------------------------------------------


def test_sub_line_k_tiles_are_bounded_by_the_hbm_activate_window():
    """Rule (HBM tFAW): a pseudo-channel issues at most four activates per tFAW, so a stream whose every
    access opens a row moves at most 4 x access bytes x channels / tFAW.  Oracle on the A100 config
    (80 PCs, tFAW 15 ns at 1.41 GHz = 21.15 cycles): 64-byte accesses (BK = 32: half a 128-byte line per
    k tile) 4 x 64 x 80 / 21.15 = 968 B/cycle, two thirds of the 2.039 TB/s bus (1,446 B/cycle);
    128-byte accesses (BK = 64) are bus-bound.  (Dropping the activate term from
    gemm_select.dram_bytes_per_cycle makes the first assertion fail.)"""
    dev = GS.default_device("sm_80")
    tfaw = 15e-9 * 1.41e9
    assert dev.tfaw_cycles == pytest.approx(tfaw)
    assert GS.dram_bytes_per_cycle(dev, 64) == pytest.approx(4 * 64 * 80 / tfaw)
    assert GS.dram_bytes_per_cycle(dev, 128) == pytest.approx(2.039e12 / 1.41e9)
    assert GS.dram_cycles(dev, 2 ** 25, 32) == pytest.approx(2 ** 25 / (4 * 64 * 80 / tfaw))
    assert GS.dram_cycles(dev, 2 ** 25, 64) == pytest.approx(2 ** 25 / (2.039e12 / 1.41e9))
    # a config without the HBM timing model has no activate term (the bus alone)
    from dataclasses import replace

    flat = replace(dev, tfaw_cycles=0.0)
    assert GS.dram_bytes_per_cycle(flat, 64) == flat.dram_bytes_per_cycle


@pytest.mark.parametrize("M, N", [(16, 4096), (64, 4096), (16, 11008)])
def test_skinny_gemm_selects_a_whole_line_small_tile(M, N):
    """Rule (cuBLAS's skinny kernels *_64x64_*_stages_64x5 / *_64x128_*_stages_64x3): a DRAM-bound
    GEMM with M <= 64 streams W with a 64-row-M tile (no 128-row tile of which most rows lie past M)
    and BK = 64, whose k tiles move whole 128-byte lines: a BK = 32 candidate's operand stream is
    activate-bound at 968 B/cycle (test above), at least 1.49x the bus time of the whole-line tile."""
    dev = GS.default_device("sm_80")
    c = GS.select("sm_80", M, N, 4096, dev)
    assert c.BM == 64 and c.BK == 64, GS.describe(c)
    operand = 2 * (M + N) * 4096
    assert GS.dram_cycles(dev, operand, 32) >= 1.49 * GS.dram_cycles(dev, operand, 64)


def test_small_tile_keeps_enough_bytes_in_flight():
    """Rule (Little's law): to stream at the DRAM peak the GPU must hold bandwidth x latency bytes in
    flight.  The skinny choice (M = 64, N = K = 4096) keeps stages - 1 k tiles of (BM + BN) x BK fp16
    per CTA in flight; summed over its CTAs (at most one wave) that covers the A100's 1,446 B/cycle x
    550 cycles = 795 KB.  The old single-split 64x64x32 s6 grid (64 CTAs of 5 x 8 KiB) did too -- its
    shortfall was the activate-bound half-line accesses, not the bytes in flight."""
    dev = GS.default_device("sm_80")
    c = GS.select("sm_80", 64, 4096, 4096, dev)
    assert c.waves <= 1.0
    in_flight = c.ctas * (c.stages - 1) * (c.BM + c.BN) * c.BK * 2
    assert in_flight >= dev.dram_bytes_per_cycle * dev.dram_latency_cycles, GS.describe(c)


def test_compute_bound_shapes_keep_the_big_tile():
    """Rule: the activate term only binds DRAM-bound shapes; where cuBLAS keeps its big tiles (4096^3: 128x256,
    1024^3 and the 512..2048-token Llama-2-7B projections: 128x128 or larger) the selector does too.  Among
    the data-parallel kernels 4096^3 takes 128x256x64; with stream-K (128x256x32 only, its 4.74 waves
    balanced) still a 128x256 tile."""
    dev = GS.default_device("sm_80")
    assert GS.select("sm_80", 4096, 4096, 4096, dev, streamk=False).tile == "128x256x64"
    assert GS.select("sm_80", 4096, 4096, 4096, dev, streamk=True).tile.startswith("128x256x")
    assert GS.select("sm_80", 1024, 1024, 1024, dev).tile == "128x128x32"
    for M in (512, 1024, 2048):
        for N, Kd in ((12288, 4096), (4096, 4096), (22016, 4096), (4096, 11008)):
            c = GS.select("sm_80", M, N, Kd, dev)
            assert c.BM == 128 and c.BN >= 128, (M, N, Kd, GS.describe(c))

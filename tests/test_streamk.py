"""Stream-K GEMM (gpusim/llm/streamk.py, gemm_multistage.cu Gemm::run_streamk + gemm_streamk_fixup_*) and its
place in the selector (gpusim/llm/gemm_select.py): the partition covers every (tile, k tile) iteration once,
the walked kernels do what the partition says, partial tiles are reduced once, and the selector takes
stream-K only where its estimate is the least."""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.llm import gemm_select as GS
from gpusim.llm import kernels as K
from gpusim.llm import streamk as SK
from tests.test_walker import count_ops, ptrs, touches

SK128 = "gemm_f16_tn_streamk_128x128x32_s4"
# 3 x 2 tiles of 128 x 128, 11 k tiles each (K = 328: the last k tile is 8 columns, zero-filled past K); 4 slots:
# 4 tiles data-parallel, 2 tiles = 22 iterations over 4 stream-K CTAs of 6: a CTA inside one tile, one that
# ends one tile and starts the next, and the short last CTA
SMALL = dict(M=300, N=200, Kd=328, slots=4)


def _small():
    s = SK.schedule(SMALL["M"], SMALL["N"], SMALL["Kd"], 128, 128, 32, SMALL["slots"])
    assert (s.dp_tiles, s.sk_tiles, s.sk_ctas, s.q, s.kt) == (4, 2, 4, 6, 11)
    return s


@pytest.fixture(scope="module")
def walked():
    """The walked stream-K GEMM and fixup of SMALL and the buffers' read / write counts."""
    M, N, Kd = SMALL["M"], SMALL["N"], SMALL["Kd"]
    s = _small()
    A, W, C, P = ptrs(4)
    gemm, fix = SK.streamk_calls("sm_80", SK128, s, M, N, Kd, A, W, C, P)
    kt, kf = gemm.trace(), fix.trace()
    bufs = {"A": 2 * M * Kd, "W": 2 * N * Kd, "C": 2 * M * N, "P": s.workspace_bytes()}
    return s, kt, touches(kt, bufs), touches(kf, {**bufs, "A": 2, "W": 2})


def test_fast_div_equals_integer_division_below_2_31():
    """Rule: the kernels' division by a runtime divisor, (umulhi(n, mul) + n) >> shr with fast_divisor's
    constants, is n // d for every 0 <= n < 2^31 (Granlund & Montgomery's round-up method).  Checked for
    d = 1 .. 3000 and large divisors at the ends of each divisor's quotient steps.  (Checked to fail: mul
    without the + 1 gives 6 // 3 = 1.)"""
    rng = np.random.default_rng(1)
    for d in list(range(1, 3001)) + [2 ** 20 + 7, 2 ** 30 - 1, 2 ** 30, 2 ** 31 - 1]:
        mul, shr = SK.fast_divisor(d)
        assert -2 ** 31 <= mul < 2 ** 31 and 0 <= shr <= 31
        qs = rng.integers(0, (2 ** 31 - 1) // d + 1, 40).tolist() + [0, 1, (2 ** 31 - 1) // d]
        for n in {x * d + r for x in qs for r in (0, d - 1)} | {0, 2 ** 31 - 1}:
            if n < 2 ** 31:
                assert SK.fast_div(n, mul, shr) == n // d, (n, d)


@pytest.mark.parametrize("M,N,Kd,BM,BN,slots", [(300, 200, 328, 128, 128, 4), (1024, 4096, 11008, 128, 256, 108),
                                                 (2048, 4096, 4096, 128, 256, 108), (1000, 1000, 64, 128, 128, 216),
                                                 (4096, 11008, 4096, 128, 128, 216), (130, 70, 8, 128, 128, 3)])
def test_streamk_covers_every_k_iteration_of_every_tile_exactly_once(M, N, Kd, BM, BN, slots):
    """Rule: the CTAs' pieces (Schedule.pieces, the kernel's loop) cover each of the tiles x kt (tile, k tile)
    iterations exactly once; data-parallel CTAs take whole tiles; stream-K CTAs take q iterations each (the
    last one fewer, none empty) and so at most ceil(q / kt) + 1 tiles; the tiles are the grid's tiles, each
    once (grouped order is a bijection)."""
    s = SK.schedule(M, N, Kd, BM, BN, 32, slots)
    kt = -(-Kd // 32)
    assert s is not None and s.kt == kt and s.tiles == -(-M // BM) * -(-N // BN)
    seen = np.zeros((s.tiles, kt), np.int64)
    for cta in range(s.ctas):
        ps = s.pieces(cta)
        n = sum(p[2] for p in ps)
        if cta < s.dp_tiles:
            assert ps == [(cta, 0, kt, -1)]
        else:
            assert 0 < n <= s.q and (n == s.q or cta == s.ctas - 1)
            assert len(ps) <= -(-s.q // kt) + 1
        for L, k0, nk, _ in ps:
            seen[L, k0:k0 + nk] += 1
    assert np.all(seen == 1)
    assert s.dp_tiles % slots == 0 and 0 < s.sk_tiles < slots and s.sk_ctas <= slots
    origins = {s.tile_origin(L) for L in range(s.tiles)}
    assert origins == {(m * BM, n * BN) for m in range(-(-M // BM)) for n in range(-(-N // BN))}


def test_streamk_is_not_scheduled_when_the_tiles_fill_whole_waves():
    """Rule: with tiles a multiple of the resident slots, data-parallel has no partial wave: no stream-K."""
    assert SK.schedule(128 * 27, 1024, 4096, 128, 128, 32, 216) is None
    assert SK.schedule(128 * 27 + 1, 1024, 4096, 128, 128, 32, 216) is not None


def test_streamk_partition_computes_the_product():
    """Rule: summing what the pieces compute -- whole tiles straight to C, partial pieces into their
    workspace slots, then per partial tile the slots the fixup names -- gives A . W^T (numpy oracle, small
    integers so float sums are exact).  The walker computes no floating point, so this runs the partition
    (the same functions the launch uses) on the values; the walked tests below check the kernels follow it.
    (Checked to fail: the fixup taking CTA first's slot 2*first where it began before the tile.)"""
    M, N, Kd = SMALL["M"], SMALL["N"], SMALL["Kd"]
    s = _small()
    rng = np.random.default_rng(0)
    A = rng.integers(-3, 4, (M, Kd)).astype(np.float64)
    W = rng.integers(-3, 4, (N, Kd)).astype(np.float64)
    C = np.full((M, N), np.nan)
    P = np.full((2 * s.sk_ctas, 128, 128), np.nan)
    for cta in range(s.ctas):
        for L, k0, nk, slot in s.pieces(cta):
            m0, n0 = s.tile_origin(L)
            a, w = A[m0:m0 + 128, k0 * 32:(k0 + nk) * 32], W[n0:n0 + 128, k0 * 32:(k0 + nk) * 32]
            acc = a @ w.T
            if slot < 0:
                C[m0:m0 + 128, n0:n0 + 128] = acc
            else:
                P[slot, :acc.shape[0], :acc.shape[1]] = acc
    for t in range(s.sk_tiles):
        slots = s.contributors(t)
        if slots:
            m0, n0 = s.tile_origin(s.dp_tiles + t)
            h, w = min(128, M - m0), min(128, N - n0)
            C[m0:m0 + h, n0:n0 + w] = P[slots, :h, :w].sum(axis=0)
    assert np.array_equal(C, A @ W.T)


def test_streamk_kernel_reads_each_operand_chunk_once_per_tile(walked):
    """Rule: the walked stream-K GEMM reads every element of A once per N tile and of W once per M tile,
    the same as the data-parallel grid (its CTAs' k ranges of a tile are disjoint and cover K), and each
    CTA issues the HMMAs of exactly its pieces' k tiles (Schedule.pieces)."""
    s, kt, tt, _ = walked
    M, N, Kd = SMALL["M"], SMALL["N"], SMALL["Kd"]
    assert np.all(tt["A"][0].reshape(M, Kd) == s.n_n) and np.all(tt["W"][0].reshape(N, Kd) == s.n_m)
    hmma = count_ops(kt, "HMMA", per_warp=True).reshape(s.ctas, 4)
    per_ktile = (64 // 16) * (64 // 8) * (32 // 16)
    assert hmma[:, 0].tolist() == [per_ktile * sum(p[2] for p in s.pieces(c)) for c in range(s.ctas)]


def test_streamk_partial_tiles_are_reduced_once(walked):
    """Rule: every C element is written exactly once in all -- by the CTA that computed its whole tile, or
    by the fixup for a tile several CTAs shared -- and the fixup reads each fp32 partial the GEMM wrote
    exactly once and nothing else of the workspace; the slots written are the ones Schedule.contributors
    names.  (Checked to fail: contributors taking slot 2z of every CTA z, CTA first's first-piece slot where it
    began before the tile.)"""
    s, _, tt, tf = walked
    assert np.all(tt["C"][1] + tf["C"][1] == 1) and not tt["C"][0].any() and not tf["C"][0].any()
    assert np.array_equal(tf["P"][0], tt["P"][1]) and not tf["P"][1].any() and not tt["P"][0].any()
    written = tt["P"][1].reshape(2 * s.sk_ctas, -1).any(axis=1)
    want = np.zeros(2 * s.sk_ctas, bool)
    want[[x for t in range(s.sk_tiles) for x in s.contributors(t)]] = True
    assert np.array_equal(written, want)


SHAPES = [(1024, 4096, 11008), (1024, 4096, 4096), (2048, 4096, 4096), (2048, 12288, 4096), (4096, 4096, 4096),
          (16, 4096, 4096), (128 * 27, 1024, 4096), (200, 300, 4096)]


@pytest.mark.parametrize("M,N,Kd", SHAPES)
def test_selector_picks_streamk_only_when_its_estimate_wins(M, N, Kd):
    """Rule: the selector returns a stream-K kernel exactly when some stream-K estimate (estimate_streamk)
    is below every data-parallel / split-K candidate's (select with streamk=False), and then the least one;
    turning stream-K off gives back the previous choice."""
    dev = GS.default_device("sm_80")
    ch, base = GS.select("sm_80", M, N, Kd, streamk=True), GS.select("sm_80", M, N, Kd, streamk=False)
    assert base.streamk is None
    ests = {}
    for name, sk in SK.STREAMK_OF.items():
        r = GS.estimate_streamk(dev, K.gemm_tile(sk), K.load_kernel(sk, "sm_80").registers, M, N, Kd,
                                GS.loop_profile(name, "sm_80", dev.smem_interval, dev.smem_bytes_per_cycle))
        if r is not None:
            ests[sk] = r[0]
    if ests and min(ests.values()) < base.est_cycles:
        assert ch.streamk is not None and ch.kernel == min(ests, key=ests.get) and ch.est_cycles == min(ests.values())
    else:
        assert ch == base


def test_streamk_estimate_charges_the_fixup():
    """Rule: the stream-K estimate includes the fixup kernel: one launch plus reading the partials and writing
    the partial tiles' C at DRAM bandwidth -- a device with a longer launch latency raises it by exactly the
    difference (the data-parallel estimate without split-K does not change)."""
    import dataclasses

    dev = GS.default_device("sm_80")
    slow = dataclasses.replace(dev, launch_cycles=dev.launch_cycles + 10000)
    t, sk = K.gemm_tile("gemm_f16_tn_streamk_128x128x32_s4"), "gemm_f16_tn_streamk_128x128x32_s4"
    regs = K.load_kernel(sk, "sm_80").registers
    a, b = (GS.estimate_streamk(d, t, regs, 1024, 4096, 11008)[0] for d in (dev, slow))
    assert b - a == pytest.approx(10000)
    t0 = K.gemm_tile("gemm_f16_tn_128x128x32_s4")
    r0 = K.load_kernel("gemm_f16_tn_128x128x32_s4", "sm_80").registers
    assert GS.estimate(dev, t0, r0, 1024, 4096, 11008, 1)[0] == GS.estimate(slow, t0, r0, 1024, 4096, 11008, 1)[0]


def test_gemm_calls_emit_the_streamk_kernel_and_its_fixup():
    """Rule: a stream-K choice launches the stream-K GEMM on dp_tiles + sk_ctas CTAs (1-D) and the fixup on
    BM x BN / 2048 CTAs per stream-K tile, both on the same workspace of two BM x BN fp32 slots per stream-K CTA; describe()
    and the report dict name the partition."""
    M, N, Kd = 1024, 4096, 11008
    ch = GS.select("sm_80", M, N, Kd, streamk=True)
    assert ch.streamk is not None, GS.describe(ch)
    s = ch.streamk
    ws = GS.workspace_bytes(ch, M, N)
    assert ws == 2 * s.sk_ctas * ch.BM * ch.BN * 4
    calls = GS.gemm_calls("sm_80", ch, M, N, Kd, *ptrs(3), workspace=ptrs(4)[3])
    assert [c.name for c in calls] == [ch.kernel, K.gemm_tile(ch.kernel)["fixup"]]
    assert calls[0].launch.grid == (s.dp_tiles + s.sk_ctas, 1, 1) and calls[1].launch.grid == (s.sk_tiles, ch.BM * ch.BN // 2048, 1)
    assert calls[0].launch.params["P"] == calls[1].launch.params["P"] == ptrs(4)[3]
    assert "stream-K" in GS.describe(ch) and ch.as_dict()["streamk"]["sk_ctas"] == s.sk_ctas


def test_streamk_kernels_are_never_cta_wave_sampled():
    """Rule: CTA-wave sampling simulates the first CTAs and extrapolates, which stands for a kernel only if
    its CTAs are alike; the stream-K GEMM's last CTAs (the stream-K ones) differ from its first (whole tiles),
    so its kernels.yaml entry says ``sampling: false`` and sample_plan gives no plan, while the data-parallel
    kernel of the same many-wave shape is sampled.  (Checked to fail without the kernels.yaml flag: the plan
    then simulates 1272 of 1704 CTAs, all of them whole tiles.)"""
    from gpusim.config import load_config
    from gpusim.llm import run as R

    cfg = load_config("a100-sxm4-80gb")
    M, N, Kd = 2048, 12288, 256
    s = SK.schedule(M, N, Kd, 128, 128, 32, 216)
    sk = SK.streamk_calls("sm_80", SK128, s, M, N, Kd, *ptrs(4))[0]
    assert s.ctas > 6 * 216 and R.sample_plan(cfg, sk.trace(range(1)), s.ctas, 4)[1] is None
    dp = K.gemm_multistage("sm_80", "gemm_f16_tn_128x128x32_s4", M, N, Kd, *ptrs(3))
    assert R.sample_plan(cfg, dp.trace(range(1)), dp.launch.num_ctas, 4)[1] is not None


@pytest.mark.parametrize("M,N,Kd,BM,BN,slots", [(300, 200, 328, 128, 128, 4), (1024, 4096, 11008, 128, 256, 108),
                                                 (2048, 12288, 4096, 128, 128, 216), (130, 70, 8, 128, 128, 3)])
def test_streamk_cost_counts_match_the_pieces(M, N, Kd, BM, BN, slots):
    """Rule: the counts the estimate charges (closed forms) are those of the partition: workspace slots
    written = pieces that are not whole tiles = slots the fixup reads; partial tiles = tiles with
    contributors; the most pieces of one CTA = max over CTAs of Schedule.pieces."""
    s = SK.schedule(M, N, Kd, BM, BN, 32, slots)
    pieces = [s.pieces(c) for c in range(s.dp_tiles, s.ctas)]
    written = sum(1 for ps in pieces for p in ps if p[3] >= 0)
    assert s.partial_pieces() == written == sum(len(s.contributors(t)) for t in range(s.sk_tiles))
    assert s.partial_tiles() == sum(1 for t in range(s.sk_tiles) if s.contributors(t))
    assert s.max_pieces() == max(len(ps) for ps in pieces)


def test_streamk_is_a_candidate_only_when_launch_gemm_streamk_is_set():
    """Rule: stream-K is opt-in (launch.gemm_streamk, default false, until the validation suites are
    regenerated with it): the default A100 device keeps the data-parallel / split-K choice of a shape whose
    tiles leave a partial wave (1024 x 4096 x 11008: 1.19 waves of 128x128 tiles); with the key set the
    selector picks the stream-K kernel there."""
    from gpusim.config import load_config

    M, N, Kd = 1024, 4096, 11008
    off = GS.Device.from_config(load_config("a100-sxm4-80gb"), "sm_80")
    on = GS.Device.from_config(load_config("a100-sxm4-80gb", ["launch.gemm_streamk=true"]), "sm_80")
    assert not off.streamk and on.streamk
    assert GS.select("sm_80", M, N, Kd, off).streamk is None
    assert GS.select("sm_80", M, N, Kd, on).streamk is not None

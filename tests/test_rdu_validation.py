"""RDU validation checks V1-V5, V7, V9, V11 of research/rdu-sn40l.md section 5.7.

Each test states the published value, its source, its role and the tolerance with a one-line reason.
Roles as in validation/README.md: CALIBRATION = a preset value was derived from this very figure (the test
shows the model reproduces its input); PREDICTION = nothing in the presets or the code takes it.  The
end-to-end figures (V6 decode on 8 sockets, V8 on 16 sockets, V10 Samba-CoE vs DGX) are predictions in the
validation suite validation/suites/rdu-sn40l.yaml (tests/test_validation_rdu.py).  Where the paper does not publish a
workload's shapes, the graph is a reconstruction (gpusim/accel/rdu/programs.py says which numbers were
chosen); those checks carry wider tolerances and say so.  Sources: [paper] Prabhakar et al., arXiv:2405.07518
(MICRO'24); [KL] Koeplinger et al., arXiv:2410.23668; [DAC25] DAC 2025 talk SSSN027; [HC24] Hot Chips 36;
[Plasticine] Prabhakar et al., ISCA'17.
"""

from __future__ import annotations

import pytest

from gpusim.accel.rdu.config import load_rdu_config
from gpusim.accel.rdu.programs import TABLE_III, flashfftconv_graph, gemm_graph, monarch_graph, traffic
from gpusim.accel.rdu.schedule import simulate_graph, simulate_step, switch_time_s
from gpusim.llm.model import load_model

A100_RIDGE = 150.0   # FLOP/B: [paper] sec. III-A, ~300 TFLOPS / 2 TB/s, the line Table I is read against


def _model(m):
    return load_model(m) if isinstance(m, str) else m


@pytest.fixture(scope="module")
def one_socket():
    return load_rdu_config("sn40l-8", ["system.sockets=1"])


def test_v1_large_gemm_approaches_but_never_exceeds_638_tflops(one_socket):
    """V1 — [paper] Table II: 638 BF16 TFLOPS per socket.  CALIBRATION: the clock estimate (1.6 GHz) was chosen
    so that 1040 PCUs x 192 MAC reach 638 (row RDU001).  A compute-bound GEMM (16384 x 8192 x 8192, weights in
    HBM) on one socket must not exceed it and should approach it.  Tolerance: <= 638 TFLOPS (a peak) and >= 80%
    (fill = 90% of the PCUs, minus the resident weights' load before the first tile).  Ours: 542 TFLOPS (85%)."""
    M, N, K = 16384, 8192, 8192
    r = simulate_graph(one_socket, gemm_graph(M, N, K), "fused_ho")
    achieved = 2 * M * N * K / r.step_time_s
    assert achieved <= 638e12 and achieved <= one_socket.peak_flops
    assert achieved >= 0.80 * 638e12, achieved / 1e12


def test_v2_monarch_fft_fusion_raises_operational_intensity_as_in_table_i(one_socket):
    """V2 — [paper] Table I, Monarch-FFT toy graph of Fig. 3: 39.5 (no fusion), 102.6 (Gemm0-Mul-Transpose
    fused), 410.4 (full fusion) FLOP/B.  Fig. 3's shapes are not in the text; our reconstruction (1024
    sequences of 256 x 256 points, BF16) gives 51.2 / 85.4 / 255.9.  PREDICTION of traffic accounting (no value
    is taken from Table I), on reconstructed shapes.  Tolerance: factor 2 because Fig. 3's shapes are unknown,
    plus the same reading against the A100 ridge (150 FLOP/B: the first two
    memory-bound, full fusion compute-bound), and full fusion at least 4x the unfused intensity (published 10.4x)."""
    g = monarch_graph()
    published = (39.5, 102.6, 410.4)
    plans = ([[0], [1], [2], [3], [4]], [[0, 1, 2], [3], [4]], [[0, 1, 2, 3, 4]])
    ours = []
    for p in plans:
        flops, nbytes = traffic(one_socket, g, p)
        ours.append(flops / nbytes)
    for o, p in zip(ours, published):
        assert p / 2 <= o <= 2 * p, (o, p)
    assert ours[0] < A100_RIDGE and ours[1] < A100_RIDGE < ours[2]
    assert ours[0] < ours[1] < ours[2] and ours[2] / ours[0] >= 4


def test_v3_flashfftconv_1m_fused_into_one_call_is_13x_faster(one_socket):
    """V3 — [paper] sec. VI-A: FlashFFTConv at 1M sequence length on one socket runs 13x faster fused than
    unfused, as one kernel call; HO vs SO leaves it unchanged.  Reconstruction: order-4 Monarch FFT of 32-point
    DFTs on 128 sequences (batch x channels not published).  PREDICTION on a reconstructed graph.  Tolerance:
    13x +- 30% because the sequence count and channels are reconstructions; one fused call; HO/SO <= 1.1 (the
    paper's prefill/train bound, a single call has nothing to orchestrate).
    Ours: 13.5x, 1 call (15 unfused), HO/SO 1.08."""
    g = flashfftconv_graph()
    t = {f: simulate_graph(one_socket, g, f) for f in ("unfused", "fused_so", "fused_ho")}
    speedup = t["unfused"].step_time_s / t["fused_so"].step_time_s
    assert 13 * 0.7 <= speedup <= 13 * 1.3, speedup
    assert t["fused_so"].calls == 1 and t["unfused"].calls > 10
    assert t["fused_so"].step_time_s / t["fused_ho"].step_time_s <= 1.1


def test_v4_fused_llama2_7b_decoder_layer_uses_85pct_hbm_and_90pct_of_units():
    """V4 — [paper] sec. VI-C: the fused decoder layer of a Llama2-7B expert on 8 sockets (TP8, HO) sustains
    ~85% of HBM bandwidth and allocates ~90% of PCUs and PMUs.  CALIBRATION: hbm.efficiency = 0.85 and
    mapper.fill = 0.9 are taken from this same sentence (rows RDU004, RDU005), so the layer can only approach
    85% and gets 90% of the units by construction.  Tolerance: +- 5 points, the rounding of '~85%' / '~90%'.
    Ours: 82.9% HBM, 90% PCUs, 89% PMUs; the test guards that the layer fits one section and the pipeline
    reaches its input efficiency."""
    sp = load_rdu_config("sn40l-8")
    r = simulate_step(sp, load_model("llama-2-7b"), "decode:batch=1,context=4096", "fused_ho_looped")
    layer = [cg for cg in r.groups if cg.section.startswith("decoder layer")]
    assert len(layer) == 1 and layer[0].looped
    cg = layer[0]
    hbm = cg.plan.hbm_bytes / (cg.steady_s * sp.hbm.bandwidth_bytes_per_s)
    assert 0.80 <= hbm <= 0.90, hbm
    assert 0.85 <= cg.plan.pcus / sp.pcu.count <= 0.95
    assert 0.85 <= cg.plan.pmus / sp.pmu.count <= 0.95


@pytest.fixture(scope="module")
def table_iii():
    sp = load_rdu_config("sn40l-8")
    out = {}
    for name, m, seq in TABLE_III:
        for phase, step in (("decode", f"decode:batch=1,context={seq}"), ("prefill", f"prefill:tokens={seq}")):
            out[name, phase] = {f: simulate_step(sp, _model(m), step, f)
                                for f in ("unfused", "fused_so", "fused_ho")}
    return out


def test_v5_table_iii_fusion_and_orchestration_gains_fall_in_the_published_ranges(table_iii):
    """V5 — [paper] sec. VI-A, Fig. 10-11, 8 sockets: fusion speeds decode up 1x-13x and prefill 1.5x-3x;
    hardware orchestration speeds decode up 1.4x-8x and prefill <= 1.1x.  Benchmarks: the Table III models the
    shared operator graph expresses (Llama2-7B 4K, Llama2-70B 4K, Mistral-7B 2K and 4K; decode at batch 1).
    Roles: CALIBRATION for HO/SO (launch.software = 70 us was chosen inside the window these two ranges leave,
    gpusim/accel/rdu/README.md), PREDICTION for the fusion ranges (no constant was set from them).  Tolerance:
    5% beyond each end of a range because the paper gives ranges read off bars, 10% for fusion because the
    unfused operator granularity of the shared graph is not PyTorch's.  Ours: decode fusion 5.5-9.4x, decode
    HO/SO 1.43-2.34x, prefill fusion 2.2-2.9x, prefill HO/SO 1.03-1.11x."""
    for (name, phase), t in table_iii.items():
        fusion = t["unfused"].step_time_s / t["fused_so"].step_time_s
        ho = t["fused_so"].step_time_s / t["fused_ho"].step_time_s
        if phase == "decode":
            assert 1.0 * 0.9 <= fusion <= 13 * 1.1, (name, fusion)
            assert 1.4 * 0.95 <= ho <= 8 * 1.05, (name, ho)
        else:
            assert 1.5 * 0.9 <= fusion <= 3 * 1.1, (name, fusion)
            assert ho <= 1.1 * 1.05, (name, ho)


def test_v5_llama7b_4k_prefill_needs_11x_fewer_kernel_calls(table_iii):
    """V5 — [paper] Fig. 11: fusion cuts the kernel calls of llama7B-4k-inf-prefill 11x.  PREDICTION (call counts
    follow from the graph and the fusion rule).  Tolerance +-25% because the unfused count depends on the
    operator granularity of the shared graph.  Ours: 13.4x (454 -> 34)."""
    t = table_iii["llama2-7b-4k", "prefill"]
    ratio = t["unfused"].calls / t["fused_so"].calls
    assert 11 * 0.75 <= ratio <= 11 * 1.25, ratio


@pytest.mark.parametrize("model", ["llama-2-7b", "llama-2-70b", "llama-3-8b"])
def test_v7_kernel_looping_gain_scaling_and_fraction_of_peak(model):
    """V7 — [KL] abstract: kernel looping speeds decode up by up to 2.2x on SN40L, scaling 8 -> 16 sockets
    gives up to 2.5x, and decode reaches > 90% of peak (arXiv v1) / > 75% ([DAC25]) on 8 and 16 sockets.
    Roles: the looping gain is CALIBRATION (launch.sync = 10 us was set against this 2.2x bound), the 8 -> 16
    scaling and the fraction of peak are PREDICTIONS bounded by the calibrated efficiency.  Tolerance: gain in
    (1, 2.2 x 1.05] and scaling in (1, 2.5 x 1.05] because 'up to' figures bound every model, 5% for reading;
    HBM >= 75% of peak, DAC25's floor (the > 90% of v1 is out of reach by construction: hbm.efficiency = 0.85).
    Ours (context 4096): gain 1.13-1.96x, 8 -> 16 1.8-2.1x, 78-84% of peak."""
    m = load_model(model)
    step = "decode:batch=1,context=4096"
    looped = {}
    for preset in ("sn40l-8", "sn40l-16"):
        sp = load_rdu_config(preset)
        lo = simulate_step(sp, m, step, "fused_ho_looped")
        ho = simulate_step(sp, m, step, "fused_ho")
        gain = ho.step_time_s / lo.step_time_s
        assert 1.0 < gain <= 2.2 * 1.05, (preset, gain)
        assert lo.hbm_utilisation() >= 0.75, (preset, lo.hbm_utilisation())
        looped[preset] = lo.step_time_s
    scale = looped["sn40l-8"] / looped["sn40l-16"]
    assert 1.0 < scale <= 2.5 * 1.05, scale


def test_v9_llama31_8b_model_switch_on_16_sockets_takes_10ms():
    """V9 — [HC24]: model switching of Llama 3.1 8B on the 16-socket system takes ~0.01 s.  CALIBRATION:
    sn40l-16's ddr.to_hbm_bandwidth comes from the same slide and was checked against this 0.01 s (row RDU009).
    Tolerance +-10% because the slide rounds to one digit.
    Ours: 16.06 GB / (16 x 100 GB/s) = 10.04 ms (llama-3-8b preset: same shapes as 3.1 8B)."""
    t = switch_time_s(load_rdu_config("sn40l-16"), load_model("llama-3-8b"))
    assert 0.009 <= t <= 0.011, t


def test_v11_plasticine_preset_peak_and_sram():
    """V11 — [Plasticine] abstract: 12.3 single-precision TFLOPS, 16 MB on chip.  CALIBRATION: pcu.count = 64 and
    pmu.count = 64 are derived from these two numbers (row RDU011).  Tolerance: configured peak within 1% (the
    abstract's rounding), SRAM 16 MiB, and a large FP32 GEMM at 80-100% of the peak (fill = 90%).  Ours: 12.288
    TFLOPS peak, 16 MiB, 10.9 TFLOPS achieved (89%)."""
    sp = load_rdu_config("plasticine")
    assert abs(sp.peak_flops / 12.3e12 - 1) <= 0.01
    assert sp.sram_bytes == 16 * 2**20
    n = 4096
    r = simulate_graph(sp, gemm_graph(n, n, n), "fused_ho")
    achieved = 2 * n**3 / r.step_time_s
    assert 0.8 * sp.peak_flops <= achieved <= sp.peak_flops, achieved / 1e12

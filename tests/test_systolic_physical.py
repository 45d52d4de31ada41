"""The physical memory model (``--memory physical``): the properties an architect relies on.

* monotonic: more SRAM (any of the three buffers) or more DRAM bandwidth never makes a layer slower;
* bounded: never faster than the compute bound ``ceil(MACs / (P R C))`` nor than moving each
  operand once over the DRAM channel (compulsory traffic / bandwidth);
* DRAM traffic is at least the compulsory traffic, and exactly it when everything fits on chip;
* several arrays share the DRAM: a compute-bound GEMM speeds up with the array count, a
  bandwidth-bound GEMV does not;
* the TPU-v4-like preset loads with its sources and runs the Llama-2-7B layers.
"""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gpusim.accel.systolic import Dataflow, Layer, gemm_layer, load_systolic_config
from gpusim.accel.systolic.config import SystolicConfig
from gpusim.accel.systolic.physical import plan_layer, simulate_layer_physical


def _cfg(df="ws", R=16, C=16, si=4096, sf=4096, so=4096, bw=8.0, arrays=1, lat=0):
    return SystolicConfig(name="p", source="test", rows=R, cols=C, dataflow=Dataflow(df), ifmap_sram_words=si,
                          filter_sram_words=sf, ofmap_sram_words=so, dram_bw_words_per_cycle=bw,
                          dram_latency_cycles=lat, arrays=arrays)


def _t(layer, cfg):
    return plan_layer(layer, cfg).total


def _compulsory(layer):
    """Each operand once; the IFMAP as the model counts it: the tensor, or the im2col matrix if smaller."""
    return layer.batch * (min(layer.ifmap_words, layer.M * layer.K) + layer.filter_words + layer.ofmap_words)


cfgs = st.builds(_cfg, st.sampled_from(["os", "ws", "is"]), st.sampled_from([4, 8, 16, 32]),
                 st.sampled_from([4, 8, 16, 32]), st.integers(64, 1 << 16), st.integers(64, 1 << 16),
                 st.integers(64, 1 << 16), st.floats(0.5, 256.0), st.sampled_from([1, 2, 3, 4, 8]),
                 st.integers(0, 300))
gemms = st.builds(lambda m, n, k, b: gemm_layer("g", m, n, k, batch=b), st.integers(1, 700), st.integers(1, 700),
                  st.integers(1, 700), st.sampled_from([1, 1, 1, 4]))
convs = st.builds(lambda h, r, c, n, s: Layer("c", h, h, r, r, c, n, s), st.integers(4, 30), st.integers(1, 4),
                  st.integers(1, 32), st.integers(1, 64), st.integers(1, 3))
layers = st.one_of(gemms, convs)


@settings(max_examples=80, deadline=None)
@given(layer=layers, cfg=cfgs, which=st.sampled_from(["ifmap_sram_words", "filter_sram_words", "ofmap_sram_words"]),
       factor=st.sampled_from([2, 3, 8]))
def test_more_sram_never_slower(layer, cfg, which, factor):
    """A larger buffer admits every tiling a smaller one did; the model takes the fastest."""
    big = dataclasses.replace(cfg, **{which: getattr(cfg, which) * factor})
    assert _t(layer, big) <= _t(layer, cfg)


@settings(max_examples=80, deadline=None)
@given(layer=layers, cfg=cfgs, factor=st.floats(1.01, 16.0))
def test_more_bandwidth_never_slower(layer, cfg, factor):
    """Every step takes max(compute, words / bandwidth): non-increasing in bandwidth."""
    fast = dataclasses.replace(cfg, dram_bw_words_per_cycle=cfg.dram_bw_words_per_cycle * factor)
    assert _t(layer, fast) <= _t(layer, cfg)


@settings(max_examples=80, deadline=None)
@given(layer=layers, cfg=cfgs)
def test_never_faster_than_compute_or_dram_bound(layer, cfg):
    """Time >= ceil(MACs / (P R C)) and >= compulsory DRAM words / bandwidth; the plan's own
    DRAM traffic is at least the compulsory one."""
    p = plan_layer(layer, cfg)
    assert p.total >= p.compute >= math.ceil(layer.macs / (cfg.arrays * cfg.rows * cfg.cols))
    words = p.dram_ifmap_reads + p.dram_filter_reads + p.dram_ofmap_writes + p.dram_ofmap_reads
    assert words >= _compulsory(layer) - layer.batch   # conv IFMAP words are rounded per tile
    assert p.total >= words / cfg.dram_bw_words_per_cycle - 1
    r = simulate_layer_physical(layer, cfg)
    assert r.stall_cycles >= 0
    assert r.total_cycles_incl_prefetch >= r.total_cycles >= r.total_cycles - r.stall_cycles
    assert 0 < r.overall_util <= 100.0 + 1e-9


def test_everything_on_chip_reads_each_operand_once():
    """With SRAMs larger than the operands and a DRAM-bound layer, the fastest plan moves each
    operand once (the compulsory traffic)."""
    layer = gemm_layer("g", 100, 200, 300)
    p = plan_layer(layer, _cfg(si=1 << 20, sf=1 << 20, so=1 << 20, bw=0.25))
    assert (p.dram_ifmap_reads, p.dram_filter_reads, p.dram_ofmap_writes, p.dram_ofmap_reads) == (
        100 * 300, 300 * 200, 100 * 200, 0)


def test_small_sram_forces_refetch():
    """When tiles must be small, an operand is fetched more than once (reuse lost)."""
    layer = gemm_layer("g", 512, 512, 512)
    p = plan_layer(layer, _cfg(si=2048, sf=2048, so=2048, bw=1e6))
    assert p.dram_ifmap_reads + p.dram_filter_reads > 2 * 512 * 512


def test_arrays_share_dram_bandwidth():
    """8 arrays: a compute-bound prefill GEMM runs ~8x faster; a decode GEMV, which one array
    consumes at 128 weights/cycle, speeds up only until the shared DRAM channel (571 words/cycle)
    is saturated: 16 arrays are no faster than 8."""
    prefill = gemm_layer("prefill", 2048, 4096, 4096)
    gemv = gemm_layer("gemv", 1, 4096, 4096)
    one = _cfg("ws", 128, 128, 1 << 21, 1 << 22, 1 << 21, bw=571.0)
    eight = dataclasses.replace(one, arrays=8)
    assert 7.0 < _t(prefill, one) / _t(prefill, eight) <= 8.0
    sixteen = dataclasses.replace(one, arrays=16)
    assert 4.0 < _t(gemv, one) / _t(gemv, eight) < 4.6
    assert _t(gemv, eight) / _t(gemv, sixteen) < 1.05
    assert _t(gemv, sixteen) >= 4096 * 4096 / 571.0


def test_batched_gemm_spreads_over_arrays():
    """A batch of independent GEMMs (attention heads) is split over arrays without sharing."""
    heads = gemm_layer("qk", 128, 128, 128, batch=32)
    p = plan_layer(heads, _cfg("ws", 128, 128, 1 << 20, 1 << 20, 1 << 20, bw=1e4, arrays=8))
    assert p.parts[0] == 8
    assert p.total < _t(heads, _cfg("ws", 128, 128, 1 << 20, 1 << 20, 1 << 20, bw=1e4, arrays=1))


def test_tpu_v4_preset():
    """configs/accel/tpu-v4.yaml: 8 x 128x128 bf16 MXUs, 1050 MHz, 1200 GB/s, with sources; the
    decode GEMV is HBM-bound (~weights/bandwidth) and the 2048-token FFN compute-bound."""
    cfg = load_systolic_config("tpu-v4")
    assert (cfg.rows, cfg.cols, cfg.arrays, cfg.word_bytes, cfg.clock_hz) == (128, 128, 8, 2, 1_050_000_000)
    assert abs(cfg.dram_bw_words_per_cycle - 1200e9 / 1.05e9 / 2) < 1e-6
    assert len(cfg.sources) >= 3 and any("cloud.google.com/tpu/docs/v4" in s for s in cfg.sources)
    gemv = simulate_layer_physical(gemm_layer("qkv", 1, 4096, 4096), cfg)
    hbm = 4096 * 4096 * 2 / 1200e9 * 1.05e9
    assert hbm <= gemv.total_cycles_incl_prefetch < 1.15 * hbm + 1000
    assert gemv.extra["bound"] == "memory"
    ffn = simulate_layer_physical(gemm_layer("ffn", 2048, 11008, 4096), cfg)
    peak = 2048 * 11008 * 4096 / (8 * 128 * 128)
    assert ffn.extra["bound"] == "compute"
    assert peak <= ffn.total_cycles_incl_prefetch < 1.1 * peak

"""Speed of Light (issue 18): per unit, achieved over the configured peak, as Nsight Compute's SOL
section; the bound names the busiest unit, and "latency" only when every unit is below 60%."""

from __future__ import annotations

import pytest

from gpusim.config import load_config
from gpusim.stats.sol import LATENCY_SOL_PCT, bound, speed_of_light

ZERO = dict(warp_instructions=0, memory_instructions=0, shared_wavefronts=0, l1_load_sectors=0, l1_store_sectors=0,
            l2_read_sectors=0, l2_write_sectors=0, l2_atomic_sectors=0, dram_bytes_read=0, dram_bytes_written=0)


def test_each_unit_is_its_achieved_rate_over_the_configured_peak():
    """Analytic oracle on the A100 config (108 SMs x 4 sub-cores, 1 memory instruction per 2 cycles per SM,
    128 B/clk L1, 80 slices x 64 B/clk L2, 2.039 TB/s DRAM at 1.41 GHz)."""
    cfg = load_config("a100-sxm4-80gb")
    c = 1000
    sms = cfg.sm.count
    n = dict(ZERO, warp_instructions=2 * c * sms, memory_instructions=c * sms // 4, shared_wavefronts=c * sms // 2,
             l1_load_sectors=2 * c * sms, l2_read_sectors=c * 40, dram_bytes_read=int(0.9 * c * 2.039e12 / cfg.sm.clock_hz))
    sol = speed_of_light(n, c, cfg, tensor_flops=0.3 * 312e12 * c / cfg.sm.clock_hz, tensor_peak_flops_per_s=312e12)
    assert sol["issue"] == pytest.approx(50.0)          # 2 of 4 sub-core issue slots per cycle
    assert sol["lsu"] == pytest.approx(50.0)            # 1/4 instruction per cycle vs 1/2
    assert sol["shared"] == pytest.approx(50.0)
    assert sol["l1"] == pytest.approx(50.0)             # 2 sectors x 32 B of 128 B per cycle
    assert sol["l2"] == pytest.approx(100.0 * 40 * 32 / (80 * 64))
    assert sol["dram"] == pytest.approx(90.0, abs=0.01)
    assert sol["tensor"] == pytest.approx(30.0)


def test_bound_names_the_busiest_unit_and_latency_only_when_all_are_below_60pct():
    assert bound({"dram": 91.0, "l2": 40.0, "issue": 12.0}) == "memory:dram"
    assert bound({"tensor": 71.0, "shared": 65.0}) == "compute:tensor"
    assert bound({"tensor": 54.0, "shared": 41.0}, {"selected": 9, "long_scoreboard": 5, "barrier": 7}) == \
        "latency (barrier)"
    assert LATENCY_SOL_PCT == 60.0


def test_a_decode_gemv_is_dram_bound_and_named_so():
    """A batch-1 GEMV over a weight larger than the L2 streams from DRAM: its busiest unit is the DRAM."""
    from gpusim.llm import machines as M
    from gpusim.llm.op import op_graph
    from tests.test_llm_sanity import A100, a100_slice

    o = M.run_gpu(None, None, load_config(A100, a100_slice(4)), graph=op_graph("gemv:batch=1,n=2048,k=2048"))["operators"][0]
    assert o["bound"] == "memory" and o["bound_unit"] == "dram", o["speed_of_light"]
    assert o["kernels"][0]["bound"] == "memory:dram"

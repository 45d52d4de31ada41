"""Shipped GPU configs against the published facts they cite (issue 6, "tested configs").

Rule protected: every ``configs/gpus/*.yaml`` loads, and its chip-level facts (SM count, SM clock,
L2 size, resident warps, shared memory and L1 per SM, DRAM bandwidth) and the peaks derived from
it (FP32/FP64 lanes, tensor FMA per clock) equal the rows of ``research/gpu_specs.csv`` and
``research/hw_ground_truth.csv`` that the file's ``sources:`` cite.

Two layers, each fact a separate case:

* ``EXPECTED`` - a small inline table (values copied from those rows, cited beside each) that
  runs everywhere, including a user's clone without ``../shared``;
* the CSV cases - read ``../shared/research`` through the ``shared_research`` fixture and skip
  when it is absent.  They compare against the CSV text itself, so a config that drifts from
  its citation, or a CSV row that is corrected, fails here.

DRAM bandwidth and derived peaks are compared within 5 %; counts, sizes and clocks exactly.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from gpusim.config import list_configs, load_config
from gpusim.config.specs import GPUConfig
from gpusim.frontend.opcodes import mma_formula_bits, mma_shape

KiB, MiB = 1024, 2**20
MHz, GHz = 10**6, 10**9
REL_TOL = 0.05  # DRAM bandwidth and derived peaks

# ---------------------------------------------------------------------------------------------
# Inline expectations: runs without ../shared.  Source of each value in the trailing comment
# (gpu_specs = research/gpu_specs.csv row "GPU, param"; HWnnn = research/hw_ground_truth.csv).

EXPECTED: dict[str, dict[str, Any]] = {
    "rtx-a6000": dict(
        arch="ampere", compute_capability=86,   # gpu_specs RTX A6000 compute_capability 8.6
        sm_count=84,                            # gpu_specs RTX A6000 SM_count
        clock_hz=1800 * MHz,                    # gpu_specs RTX A6000 core_clock_locked_for_validation
        l2_bytes=6 * MiB,                       # gpu_specs RTX A6000 L2_size / L2_organization
        max_warps=48,                           # gpu_specs RTX A6000 max_resident_warps_per_SM
        shared_bytes=102400,                    # gpu_specs RTX A6000 max_shared_memory_per_SM
        l1_bytes=128 * KiB,                     # gpu_specs RTX A6000 L1D+shared_per_SM
        dram_bw=768e9,                          # 24 partitions x 16 bit x 16 Gb/s (2 x 8000 MHz) / 8
    ),
    "rtx3070": dict(  # no gpu_specs rows: Accel-Sim SM86_RTX3070 gpgpusim.config, as the file cites
        arch="ampere", compute_capability=86,
        sm_count=46,                            # -gpgpu_n_clusters 46
        clock_hz=1132 * MHz,                    # -gpgpu_clock_domains 1132:...
        l2_bytes=4 * MiB,                       # dl2 S:64:128:16 x 32 sub-partitions
        max_warps=48, shared_bytes=102400, l1_bytes=128 * KiB,   # cc 8.6 limits (RTX A6000 / 3090 rows)
        dram_bw=448e9,                          # 256 bit x 14 Gb/s / 8
    ),
    "a100-sxm4-80gb": dict(
        arch="ampere", compute_capability=80,   # gpu_specs A100 SXM4 80GB compute_capability 8.0
        sm_count=108,                           # gpu_specs A100 SXM4 80GB SM_count
        clock_hz=1410 * MHz,                    # gpu_specs A100 SXM4 80GB boost_clock
        l2_bytes=40 * MiB,                      # gpu_specs A100 SXM4 80GB L2_size
        max_warps=64,                           # gpu_specs A100 SXM4 80GB max_resident_warps_per_SM
        shared_bytes=167936,                    # gpu_specs A100 SXM4 80GB max_shared_memory_per_SM
        l1_bytes=192 * KiB,                     # gpu_specs A100 SXM4 80GB L1_size_per_SM
        dram_bw=2000e9,                         # gpu_specs A100 SXM4 80GB HBM_bandwidth_spec (2039 elsewhere)
    ),
    "h100-sxm5-80gb": dict(
        arch="hopper", compute_capability=90,   # gpu_specs H100 SXM5 80GB compute_capability 9.0
        sm_count=132,                           # gpu_specs H100 SXM5 80GB SM_count
        clock_hz=1980 * MHz,                    # gpu_specs H100 SXM5 80GB max_boost_clock
        l2_bytes=52428800,                      # gpu_specs H100 SXM5 80GB L2_size (50 MiB)
        max_warps=64,                           # gpu_specs H100 SXM5 80GB max_resident_warps_per_SM
        shared_bytes=233472,                    # gpu_specs H100 SXM5 80GB max_shared_memory_per_SM (228 KiB)
        l1_bytes=256 * KiB,                     # gpu_specs H100 SXM5 80GB L1+shared_per_SM
        dram_bw=3352e9,                         # gpu_specs H100 SXM5 80GB HBM3_bandwidth_spec
    ),
    "h800-pcie": dict(
        arch="hopper", compute_capability=90,   # cc 9.0 (the H100 SXM5 rows give the cc 9.0 limits)
        sm_count=114,                           # gpu_specs H800 PCIe 'SM_count / boost / memory'
        clock_hz=1755 * MHz,                    # same row; = clock_during_Luo_latency_test
        l2_bytes=50 * MiB,                      # same row ('50 MB L2', MiB as on the H100 SXM5)
        max_warps=64, shared_bytes=233472,      # cc 9.0 limits (H100 SXM5 80GB rows)
        l1_bytes=256 * KiB,                     # same row ('256 KB L1+SMEM per SM')
        dram_bw=2039e9,                         # HW046 'spec 2039 GB/s'
    ),
    "rtx4090": dict(
        arch="ada", compute_capability=89,      # gpu_specs RTX 4090 compute_capability 8.9
        sm_count=128,                           # gpu_specs RTX 4090 SM_count
        clock_hz=2520 * MHz,                    # gpu_specs RTX 4090 max_boost_clock 2520-2535 (lower bound)
        l2_bytes=75497472,                      # gpu_specs RTX 4090 L2_size (72 MiB)
        max_warps=48,                           # gpu_specs RTX 4090 max_resident_warps_per_SM
        shared_bytes=102400,                    # gpu_specs RTX 4090 max_shared_memory_per_SM
        l1_bytes=128 * KiB,                     # gpu_specs RTX 4090 L1_size_per_SM
        dram_bw=1008e9,                         # gpu_specs RTX 4090 DRAM_bandwidth_spec
    ),
    "rtx2080ti": dict(
        arch="turing", compute_capability=75,   # gpu_specs RTX 2080 Ti compute_capability 7.5
        sm_count=68,                            # gpu_specs RTX 2080 Ti SM_count
        clock_hz=1350 * MHz,                    # gpu_specs RTX 2080 Ti core_clock_locked_for_validation
        l2_bytes=5632 * KiB,                    # gpu_specs RTX 2080 Ti L2_size 5.5 MB (MiB)
        max_warps=32,                           # gpu_specs RTX 2080 Ti max_resident_warps_per_SM
        shared_bytes=65536,                     # gpu_specs RTX 2080 Ti max_shared_memory_per_SM
        l1_bytes=96 * KiB,                      # gpu_specs RTX 2080 Ti L1D+shared_per_SM
        dram_bw=616e9,                          # 22 partitions x 16 bit x 14 Gb/s (2 x 7000 MHz) / 8
    ),
    # no V100 rows in research/gpu_specs.csv: NVIDIA Tesla V100 whitepaper Table 1 (SXM2) and the CUDA guide (cc 7.0)
    "v100-sxm2-32gb": dict(
        arch="volta", compute_capability=70,    # CUDA guide: V100 is cc 7.0
        sm_count=80,                            # whitepaper Table 1: 80 SMs
        clock_hz=1530 * MHz,                    # whitepaper Table 1: boost clock 1530 MHz
        l2_bytes=6144 * KiB,                    # whitepaper Table 1: 6144 KB L2
        max_warps=64,                           # CUDA guide cc 7.0
        shared_bytes=96 * KiB,                  # CUDA guide cc 7.0: 96 KB shared memory per SM
        l1_bytes=128 * KiB,                     # whitepaper: 128 KB combined L1 / shared per SM
        dram_bw=900e9,                          # whitepaper Table 1: 900 GB/s
    ),
}

# fact name -> how to read it from a loaded config
ACTUAL: dict[str, Callable[[GPUConfig], Any]] = {
    "arch": lambda c: c.arch.value,
    "compute_capability": lambda c: c.compute_capability,
    "sm_count": lambda c: c.sm.count,
    "clock_hz": lambda c: c.sm.clock_hz,
    "l2_bytes": lambda c: c.memory.l2_size_bytes,
    "max_warps": lambda c: c.sm.max_warps,
    "shared_bytes": lambda c: c.sm.shared_memory_bytes,
    "l1_bytes": lambda c: c.memory.l1_size_bytes,
    "dram_bw": lambda c: c.memory.dram_bandwidth_bytes_per_s,
}
APPROX_FACTS = {"dram_bw"}


def _check(actual: Any, expected: Any, fact: str) -> None:
    if isinstance(expected, tuple):                      # a published range (RTX 4090 boost clock)
        lo, hi = expected
        assert lo <= actual <= hi, f"{fact}: {actual} outside the published range {lo}..{hi}"
    elif fact in APPROX_FACTS or isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=REL_TOL), f"{fact}: {actual} vs {expected} (5 %)"
    else:
        assert actual == expected, f"{fact}: config {actual} != published {expected}"


@pytest.fixture(scope="module")
def configs() -> dict[str, GPUConfig]:
    return {name: load_config(name) for name in list_configs()}


def test_every_shipped_gpu_config_has_expected_facts():
    # a new configs/gpus/*.yaml must come with its published facts here
    assert set(list_configs()) == set(EXPECTED)


@pytest.mark.parametrize(("gpu", "fact"), [(g, f) for g in EXPECTED for f in EXPECTED[g]],
                         ids=lambda v: v)
def test_config_fact_matches_the_inline_table(configs, gpu, fact):
    _check(ACTUAL[fact](configs[gpu]), EXPECTED[gpu][fact], fact)


def test_h100_allows_227_kib_of_shared_memory_per_cta(configs):
    # 228 KiB per SM minus the 1 KiB the runtime reserves per CTA (gpu_specs H100 rows)
    sm = configs["h100-sxm5-80gb"].sm
    assert sm.shared_memory_bytes - sm.reserved_shared_memory_per_cta_bytes == 227 * KiB


# ---------------------------------------------------------------------------------------------
# Against the CSV files themselves (skip without ../shared/research).


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def specs(shared_research) -> dict[tuple[str, str], str]:
    return {(r["gpu"], r["param"]): r["value"] for r in _read(shared_research / "gpu_specs.csv")}


@pytest.fixture(scope="module")
def hw(shared_research) -> dict[str, dict[str, str]]:
    return {r["id"]: r for r in _read(shared_research / "hw_ground_truth.csv")}


def _mb_as_mib(text: str) -> int:
    # MICRO'25 Table 4 and Luo et al. write binary sizes as "MB"/"KB" (RTX A6000 L2_organization:
    # 64 x 16 x 128 B x 48 = 6 MiB is listed as "6 MB")
    m = re.fullmatch(r"\s*([\d.]+)\s*(MB|KB)\s*", text)
    assert m, text
    return round(float(m.group(1)) * (MiB if m.group(2) == "MB" else KiB))


def _h800(specs, field: str) -> float:
    row = specs[("H800 PCIe", "SM_count / boost / memory")]
    pattern = {"sm_count": r"(\d+) SMs", "clock_mhz": r"(\d+) MHz", "bus_bits": r"(\d+)-bit",
               "l2_mb": r"(\d+) MB L2", "l1_kb": r"(\d+) KB L1"}[field]
    return float(re.search(pattern, row).group(1))


def _partitions_bw(specs, gpu: str) -> float:
    # 16-bit GDDR6 channel per memory partition, 2 transfers per memory-clock cycle (as cited)
    parts = int(specs[(gpu, "memory_partitions")])
    mhz = int(specs[(gpu, "memory_clock_locked_for_validation")])
    return parts * 16 / 8 * 2 * mhz * MHz


def _cc(specs, gpu: str) -> int:
    major, minor = specs[(gpu, "compute_capability")].split(".")
    return int(major) * 10 + int(minor)


H100, A100, A6000, RTX4090, RTX2080TI = "H100 SXM5 80GB", "A100 SXM4 80GB", "RTX A6000", "RTX 4090", "RTX 2080 Ti"

# (config, fact) -> expected value read from the CSVs: fn(specs, hw)
CSV_FACTS: dict[tuple[str, str], Callable[[dict, dict], Any]] = {
    # RTX A6000
    ("rtx-a6000", "compute_capability"): lambda s, h: _cc(s, A6000),
    ("rtx-a6000", "sm_count"): lambda s, h: int(s[(A6000, "SM_count")]),
    ("rtx-a6000", "clock_hz"): lambda s, h: int(s[(A6000, "core_clock_locked_for_validation")]) * MHz,
    ("rtx-a6000", "l2_bytes"): lambda s, h: _mb_as_mib(s[(A6000, "L2_size")]),
    ("rtx-a6000", "max_warps"): lambda s, h: int(s[(A6000, "max_resident_warps_per_SM")]),
    ("rtx-a6000", "shared_bytes"): lambda s, h: int(s[(A6000, "max_shared_memory_per_SM")]),
    ("rtx-a6000", "l1_bytes"): lambda s, h: _mb_as_mib(s[(A6000, "L1D+shared_per_SM")]),
    ("rtx-a6000", "dram_bw"): lambda s, h: _partitions_bw(s, A6000),
    # A100 SXM4 80GB
    ("a100-sxm4-80gb", "compute_capability"): lambda s, h: _cc(s, A100),
    ("a100-sxm4-80gb", "sm_count"): lambda s, h: int(s[(A100, "SM_count")]),
    ("a100-sxm4-80gb", "clock_hz"): lambda s, h: int(s[(A100, "boost_clock")]) * MHz,
    ("a100-sxm4-80gb", "l2_bytes"): lambda s, h: int(s[(A100, "L2_size")]) * MiB,
    ("a100-sxm4-80gb", "max_warps"): lambda s, h: int(s[(A100, "max_resident_warps_per_SM")]),
    ("a100-sxm4-80gb", "shared_bytes"): lambda s, h: int(s[(A100, "max_shared_memory_per_SM")]),
    ("a100-sxm4-80gb", "l1_bytes"): lambda s, h: int(s[(A100, "L1_size_per_SM")]) * KiB,
    ("a100-sxm4-80gb", "dram_bw"): lambda s, h: float(s[(A100, "HBM_bandwidth_spec")]) * 1e9,
    # H100 SXM5 80GB
    ("h100-sxm5-80gb", "compute_capability"): lambda s, h: _cc(s, H100),
    ("h100-sxm5-80gb", "sm_count"): lambda s, h: int(s[(H100, "SM_count")]),
    ("h100-sxm5-80gb", "clock_hz"): lambda s, h: int(s[(H100, "max_boost_clock")]) * MHz,
    ("h100-sxm5-80gb", "l2_bytes"): lambda s, h: int(s[(H100, "L2_size")]),
    ("h100-sxm5-80gb", "max_warps"): lambda s, h: int(s[(H100, "max_resident_warps_per_SM")]),
    ("h100-sxm5-80gb", "shared_bytes"): lambda s, h: int(s[(H100, "max_shared_memory_per_SM")]),
    ("h100-sxm5-80gb", "l1_bytes"): lambda s, h: _mb_as_mib(s[(H100, "L1+shared_per_SM")]),
    ("h100-sxm5-80gb", "dram_bw"): lambda s, h: float(s[(H100, "HBM3_bandwidth_spec")]) * 1e9,
    # H800 PCIe: chip facts from its one combined row; per-SM limits are cc 9.0's (H100 rows)
    ("h800-pcie", "sm_count"): lambda s, h: int(_h800(s, "sm_count")),
    ("h800-pcie", "clock_hz"): lambda s, h: int(_h800(s, "clock_mhz")) * MHz,
    ("h800-pcie", "l2_bytes"): lambda s, h: int(_h800(s, "l2_mb")) * MiB,
    ("h800-pcie", "max_warps"): lambda s, h: int(s[(H100, "max_resident_warps_per_SM")]),
    ("h800-pcie", "shared_bytes"): lambda s, h: int(s[(H100, "max_shared_memory_per_SM")]),
    ("h800-pcie", "l1_bytes"): lambda s, h: int(_h800(s, "l1_kb")) * KiB,
    ("h800-pcie", "dram_bw"): lambda s, h: float(re.search(r"spec (\d+) GB/s", h["HW046"]["conditions"]).group(1)) * 1e9,
    # RTX 4090
    ("rtx4090", "compute_capability"): lambda s, h: _cc(s, RTX4090),
    ("rtx4090", "sm_count"): lambda s, h: int(s[(RTX4090, "SM_count")]),
    ("rtx4090", "clock_hz"): lambda s, h: tuple(int(x) * MHz for x in s[(RTX4090, "max_boost_clock")].split("-")),
    ("rtx4090", "l2_bytes"): lambda s, h: int(s[(RTX4090, "L2_size")]),
    ("rtx4090", "max_warps"): lambda s, h: int(s[(RTX4090, "max_resident_warps_per_SM")]),
    ("rtx4090", "shared_bytes"): lambda s, h: int(s[(RTX4090, "max_shared_memory_per_SM")]),
    ("rtx4090", "l1_bytes"): lambda s, h: int(s[(RTX4090, "L1_size_per_SM")]) * KiB,
    ("rtx4090", "dram_bw"): lambda s, h: float(s[(RTX4090, "DRAM_bandwidth_spec")]) * 1e9,
    # RTX 2080 Ti
    ("rtx2080ti", "compute_capability"): lambda s, h: _cc(s, RTX2080TI),
    ("rtx2080ti", "sm_count"): lambda s, h: int(s[(RTX2080TI, "SM_count")]),
    ("rtx2080ti", "clock_hz"): lambda s, h: int(s[(RTX2080TI, "core_clock_locked_for_validation")]) * MHz,
    ("rtx2080ti", "l2_bytes"): lambda s, h: _mb_as_mib(s[(RTX2080TI, "L2_size")]),
    ("rtx2080ti", "max_warps"): lambda s, h: int(s[(RTX2080TI, "max_resident_warps_per_SM")]),
    ("rtx2080ti", "shared_bytes"): lambda s, h: int(s[(RTX2080TI, "max_shared_memory_per_SM")]),
    ("rtx2080ti", "l1_bytes"): lambda s, h: _mb_as_mib(s[(RTX2080TI, "L1D+shared_per_SM")]),
    ("rtx2080ti", "dram_bw"): lambda s, h: _partitions_bw(s, RTX2080TI),
}


@pytest.mark.parametrize(("gpu", "fact"), list(CSV_FACTS), ids=lambda v: v)
def test_config_fact_matches_the_csv_row_it_cites(configs, specs, hw, gpu, fact):
    _check(ACTUAL[fact](configs[gpu]), CSV_FACTS[(gpu, fact)](specs, hw), fact)


# ---------------------------------------------------------------------------------------------
# Latencies: the cited hw_ground_truth rows, in SM cycles of the config's clock.


def _hw_cycles(hw, row_id: str) -> float:
    row = hw[row_id]
    assert row["unit"] == "cycles", row
    return float(row["value"])


def _rtx4090_at_config_clock(specs, hw, row_id: str, cfg: GPUConfig) -> float:
    # measured at 2235 MHz; the memory-side latency is fixed in ns, so scale to the config clock
    measured_mhz = int(specs[(RTX4090, "clock_during_Luo_latency_test")])
    return _hw_cycles(hw, row_id) * cfg.sm.clock_hz / (measured_mhz * MHz)


# (config, latency field) -> HW row id, or a function(specs, hw, cfg) for converted values
LATENCY_ROWS: dict[tuple[str, str], Any] = {
    ("rtx-a6000", "l1_hit_latency_cycles"): "HW094",
    ("rtx-a6000", "shared_latency_cycles"): "HW098",
    ("rtx-a6000", "const_latency_cycles"): "HW099",
    ("rtx-a6000", "l2_hit_latency_cycles"): "HW245",      # GA106, same sm_86 family
    ("rtx-a6000", "dram_latency_cycles"): "HW247",        # GA106
    ("a100-sxm4-80gb", "l1_hit_latency_cycles"): "HW055",
    ("a100-sxm4-80gb", "shared_latency_cycles"): "HW056",
    ("a100-sxm4-80gb", "l2_hit_latency_cycles"): "HW062",
    ("a100-sxm4-80gb", "dram_latency_cycles"): "HW063",
    ("h100-sxm5-80gb", "l1_hit_latency_cycles"): "HW024",
    ("h100-sxm5-80gb", "shared_latency_cycles"): "HW025",
    ("h100-sxm5-80gb", "const_latency_cycles"): "HW099",  # no Hopper LDC row: Ampere's
    ("h100-sxm5-80gb", "l2_hit_latency_cycles"): "HW026",
    ("h100-sxm5-80gb", "dram_latency_cycles"): "HW027",
    ("h800-pcie", "l1_hit_latency_cycles"): "HW004",
    ("h800-pcie", "shared_latency_cycles"): "HW049",
    ("h800-pcie", "l2_hit_latency_cycles"): "HW005",
    ("h800-pcie", "dram_latency_cycles"): "HW048",
    ("rtx4090", "l1_hit_latency_cycles"): "HW007",        # SM-clock structure: cycles kept
    ("rtx4090", "l2_hit_latency_cycles"): lambda s, h, c: _rtx4090_at_config_clock(s, h, "HW008", c),
    ("rtx4090", "dram_latency_cycles"): lambda s, h, c: _rtx4090_at_config_clock(s, h, "HW009", c),
    ("rtx2080ti", "l1_hit_latency_cycles"): "HW077",      # RTX 2070, same TU10x SM
    ("rtx2080ti", "shared_latency_cycles"): "HW078",
    ("rtx2080ti", "l2_hit_latency_cycles"): "HW076",
    ("rtx2080ti", "const_latency_cycles"): "HW099",       # no Turing LDC row: Ampere's
    ("rtx2080ti", "dram_latency_cycles"): "HW247",        # no Turing DRAM row: GA106's
}


@pytest.mark.parametrize(("gpu", "field"), list(LATENCY_ROWS), ids=lambda v: v.removesuffix("_cycles"))
def test_latency_is_the_cited_measurement(configs, specs, hw, gpu, field):
    cfg = configs[gpu]
    ref = LATENCY_ROWS[(gpu, field)]
    expected = ref(specs, hw, cfg) if callable(ref) else _hw_cycles(hw, ref)
    actual = getattr(cfg.memory, field)
    assert abs(actual - expected) <= 0.5 + 1e-9, f"{gpu} {field}: {actual} vs measured {expected:.2f}"


def test_rtx4090_l2_latency_also_matches_the_published_ns(configs, hw):
    # HW008 states 127.4 ns; 127.4 ns at 2520 MHz = 321 cycles (gpusim.units.time_to_cycles)
    from gpusim.units import time_to_cycles

    ns = float(re.search(r"([\d.]+) ns", hw["HW008"]["conditions"]).group(1))
    cfg = configs["rtx4090"]
    assert cfg.memory.l2_hit_latency_cycles == time_to_cycles(round(ns * 1000), cfg.sm.clock_hz)


# ---------------------------------------------------------------------------------------------
# Derived peaks.  The tensor rate follows the released formula (research/modern-gpu-cores.md §5)
# exactly as gpusim/isa/semantics.py applies it: cycles = M*N*K*b // rate, interval = cycles // 2
# (+ tensor_f32_extra for HMMA.16816.F32 / HMMA.1688.F32), one tensor pipe per sub-core.  For a
# Hopper warpgroup MMA (HGMMA), the M*N*K of one instruction is shared by the 4 warps of the
# warpgroup, one per sub-core, so each warp's share is (M/4)*N*K.


def mma_fma_per_clk_per_sm(cfg: GPUConfig, mnemonic: str) -> float:
    shape, bits = mma_shape(mnemonic), mma_formula_bits(mnemonic)
    assert shape is not None and bits is not None, mnemonic
    warpgroup = mnemonic.split(".")[0].endswith("GMMA")
    per_warp_m = shape.m // 4 if warpgroup else shape.m
    fmas = per_warp_m * shape.n * shape.k
    rate = (cfg.pipes.warpgroup_tensor_rate_per_cycle or cfg.pipes.tensor_rate_per_cycle) if warpgroup \
        else cfg.pipes.tensor_rate_per_cycle
    cycles = max(1, fmas * bits // rate)
    extra = cfg.pipes.tensor_f32_extra_cycles if bits == 32 and (shape.m, shape.n, shape.k) in (
        (16, 8, 16), (16, 8, 8)) else 0
    interval = max(1, cycles // 2) + extra
    return cfg.sm.subcores * fmas / interval


def fp32_fma_per_clk_per_sm(cfg: GPUConfig) -> float:
    p = cfg.pipes
    lanes = 32 / p.fp32.initiation_interval_cycles
    if cfg.subcore.fp32_on_int_pipe:
        lanes += 32 / p.int.initiation_interval_cycles
    return cfg.sm.subcores * lanes


def fp64_fma_per_clk_per_sm(cfg: GPUConfig) -> float:
    per_unit = 32 / cfg.pipes.fp64.initiation_interval_cycles
    return per_unit if cfg.pipes.fp64_shared else cfg.sm.subcores * per_unit


def tflops(cfg: GPUConfig, fma_per_clk_per_sm: float) -> float:
    return 2 * fma_per_clk_per_sm * cfg.sm.count * cfg.sm.clock_hz / 1e12


def _hw_value(hw, row_id: str, unit: str) -> float:
    assert hw[row_id]["unit"] == unit, hw[row_id]
    return float(hw[row_id]["value"])


# (config, what) -> (derived from the config, published value): fn(cfg, specs, hw)
PEAKS: dict[tuple[str, str], Callable[[GPUConfig, dict, dict], tuple[float, float]]] = {
    # FP32 / FP64 lanes
    ("a100-sxm4-80gb", "fp32_fma_per_clk_per_sm"): lambda c, s, h: (
        fp32_fma_per_clk_per_sm(c), float(s[(A100, "FP32_cores_per_SM")])),
    ("h100-sxm5-80gb", "fp32_fma_per_clk_per_sm"): lambda c, s, h: (
        fp32_fma_per_clk_per_sm(c), float(s[(H100, "CUDA_cores_per_SM")])),
    ("h100-sxm5-80gb", "fp32_flop_per_clk_per_sm_HW022"): lambda c, s, h: (
        2 * fp32_fma_per_clk_per_sm(c), _hw_value(h, "HW022", "flop/clk/SM")),
    ("h100-sxm5-80gb", "fp64_flop_per_clk_per_sm_HW023"): lambda c, s, h: (
        2 * fp64_fma_per_clk_per_sm(c), _hw_value(h, "HW023", "flop/clk/SM")),
    # tensor: A100 (HMMA.16816.F32, the shape of mma.sync m16n8k16 f16 -> f32)
    ("a100-sxm4-80gb", "fp16_tensor_fma_per_clk_per_sm"): lambda c, s, h: (
        mma_fma_per_clk_per_sm(c, "HMMA.16816.F32"), float(s[(A100, "FP16_tensor_FMA_per_clk_per_SM")])),
    ("a100-sxm4-80gb", "fp16_tensor_dense_tflops"): lambda c, s, h: (
        tflops(c, mma_fma_per_clk_per_sm(c, "HMMA.16816.F32")), float(s[(A100, "FP16_tensor_dense_peak")])),
    # tensor: Hopper wgmma m64n256k16 FP16 -> FP32
    ("h100-sxm5-80gb", "wgmma_fp16_f32_tflops_HW032"): lambda c, s, h: (
        tflops(c, mma_fma_per_clk_per_sm(c, "HGMMA.64x256x16.F32")), _hw_value(h, "HW032", "TFLOPS")),
    ("h100-sxm5-80gb", "fp16_tensor_dense_tflops"): lambda c, s, h: (
        tflops(c, mma_fma_per_clk_per_sm(c, "HGMMA.64x256x16.F32")), float(s[(H100, "FP16_tensor_dense_peak")])),
    ("h100-sxm5-80gb", "mma_sync_fp16_f32_tflops_HW041"): lambda c, s, h: (
        tflops(c, mma_fma_per_clk_per_sm(c, "HMMA.16816.F32")), _hw_value(h, "HW041", "TFLOPS")),
    ("h800-pcie", "wgmma_fp16_f32_tflops_HW050"): lambda c, s, h: (
        tflops(c, mma_fma_per_clk_per_sm(c, "HGMMA.64x256x16.F32")), _hw_value(h, "HW050", "TFLOPS")),
    # tensor: RTX 2080 Ti mma.sync (Sun et al.)
    ("rtx2080ti", "mma_m16n8k8_f16_f32_HW084"): lambda c, s, h: (
        mma_fma_per_clk_per_sm(c, "HMMA.1688.F32"), _hw_value(h, "HW084", "FMA/clk/SM")),
    ("rtx2080ti", "mma_m16n8k8_f16_f16_HW085"): lambda c, s, h: (
        mma_fma_per_clk_per_sm(c, "HMMA.1688.F16"), _hw_value(h, "HW085", "FMA/clk/SM")),
    ("rtx2080ti", "mma_m8n8k16_s8_HW086"): lambda c, s, h: (
        mma_fma_per_clk_per_sm(c, "IMMA.8816.S8.S8"), _hw_value(h, "HW086", "ops(FMA)/clk/SM")),
}


@pytest.mark.parametrize(("gpu", "what"), list(PEAKS), ids=lambda v: v)
def test_derived_peak_matches_the_published_figure(configs, specs, hw, gpu, what):
    derived, published = PEAKS[(gpu, what)](configs[gpu], specs, hw)
    assert derived == pytest.approx(published, rel=REL_TOL), f"{gpu} {what}: derived {derived:.1f}, published {published}"


def test_a100_hmma_16816_f32_issues_every_8_cycles(configs):
    # HW229: HMMA.16816.F32 CPI 8 per sub-core tensor core on A100 (inline: runs without ../shared)
    cfg = configs["a100-sxm4-80gb"]
    assert 4 * 16 * 8 * 16 / mma_fma_per_clk_per_sm(cfg, "HMMA.16816.F32") == 8

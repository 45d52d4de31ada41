"""Per-layer results in SCALE-Sim's report vocabulary (the three CSV files' columns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LayerResult"]


@dataclass(slots=True)
class LayerResult:
    """One row of COMPUTE_REPORT, BANDWIDTH_REPORT and DETAILED_ACCESS_REPORT.

    Cycle fields that SCALE-Sim prints as floats (they come from its float trace matrices) are
    Python floats here too, so the CSV text matches (``1.0``, ``-52.0``).
    """

    name: str
    total_cycles_incl_prefetch: int
    total_cycles: int
    stall_cycles: int
    overall_util: float
    mapping_efficiency: float
    compute_util: float
    ifmap_sram_start: float
    ifmap_sram_stop: float
    ifmap_sram_reads: int
    filter_sram_start: float
    filter_sram_stop: float
    filter_sram_reads: int
    ofmap_sram_start: float
    ofmap_sram_stop: float
    ofmap_sram_writes: int
    ifmap_dram_start: float
    ifmap_dram_stop: float
    ifmap_dram_reads: int
    filter_dram_start: float
    filter_dram_stop: float
    filter_dram_reads: int
    ofmap_dram_start: float
    ofmap_dram_stop: float
    ofmap_dram_writes: int
    extra: dict[str, Any] = field(default_factory=dict)   # model-specific figures (not in the CSVs)

    def _bw(self, n: int, start: float, stop: float) -> float:
        span = stop - start + 1
        return n / span if span > 0 else 0.0

    def compute_items(self) -> list:
        return [self.total_cycles_incl_prefetch, self.total_cycles, self.stall_cycles, self.overall_util,
                self.mapping_efficiency, self.compute_util]

    def bandwidth_items(self) -> list:
        tc = self.total_cycles or float("inf")   # a one-row layer has Total Cycles 0 (SCALE-Sim divides by it)
        return [self.ifmap_sram_reads / tc, self.filter_sram_reads / tc, self.ofmap_sram_writes / tc,
                self._bw(self.ifmap_dram_reads, self.ifmap_dram_start, self.ifmap_dram_stop),
                self._bw(self.filter_dram_reads, self.filter_dram_start, self.filter_dram_stop),
                self._bw(self.ofmap_dram_writes, self.ofmap_dram_start, self.ofmap_dram_stop)]

    def detail_items(self) -> list:
        return [self.ifmap_sram_start, self.ifmap_sram_stop, self.ifmap_sram_reads,
                self.filter_sram_start, self.filter_sram_stop, self.filter_sram_reads,
                self.ofmap_sram_start, self.ofmap_sram_stop, self.ofmap_sram_writes,
                self.ifmap_dram_start, self.ifmap_dram_stop, self.ifmap_dram_reads,
                self.filter_dram_start, self.filter_dram_stop, self.filter_dram_reads,
                self.ofmap_dram_start, self.ofmap_dram_stop, self.ofmap_dram_writes]

"""Frozen dataclasses describing one RDU system (SambaNova SN40L-style): the only home of RDU defaults.

Field names carry their canonical unit as in :mod:`gpusim.config.specs`; the YAML key is the
field name without the unit suffix (``clock_hz`` -> ``clock: 1.6 GHz``):

=====================  ==================  ==========================
field suffix           YAML value          canonical value
=====================  ==================  ==========================
``_hz``                ``1.6 GHz``         int Hz
``_bytes``             ``512 KiB``         int bytes
``_bytes_per_s``       ``1.8 TB/s``        float bytes/s
``_bytes_per_clk``     ``64 B/clk``        float bytes per clock of ``clock``
``_ps``                ``250 ns``          int picoseconds
``_cycles``            ``10``              int cycles of ``clock``
``_frac``              ``0.85``            float in (0, 1]
=====================  ==================  ==========================

Every value in a preset carries a ``source`` (``{value: 1040, source: "[paper] Table II"}``);
a source that starts with ``estimate`` marks an undisclosed constant (a calibration knob).
``RDUSpec.provenance`` keeps ``(key path, source, file)`` for every leaf; reports print them.

No field has a default: a preset must say every number and where it comes from.  Nothing here
imports numba; :mod:`gpusim.accel.rdu.lower` turns a spec into integer rates for the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RDUSpec", "SystemSpec", "PCUSpec", "PMUSpec", "AGCUSpec", "NetworkSpec", "HBMSpec", "DDRSpec",
    "P2PSpec", "HostSpec", "LaunchSpec", "MapperSpec", "ESTIMATE_PREFIX",
]

ESTIMATE_PREFIX = "estimate"  # a source string starting with this marks an undisclosed constant


def _f(doc: str, *, min: float | None = 1, max: float | None = None) -> Any:
    return field(metadata={"doc": doc, "min": min, "max": max})


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemSpec:
    sockets: int = _f("RDU sockets (chips) working on one model with tensor parallelism")
    dies_per_socket: int = _f("reconfigurable dataflow dies per socket (informational)")


@dataclass(frozen=True, slots=True, kw_only=True)
class PCUSpec:
    count: int = _f("pattern compute units per socket")
    lanes: int = _f("SIMD lanes per PCU (elements per cycle per stage)")
    stages: int = _f("pipelined SIMD stages per PCU (element-wise ops chained per pass)")
    systolic_rows: int = _f("rows of the output-stationary systolic array (the M dimension of a GEMM tile)")
    systolic_cols: int = _f("columns of the systolic array (the N dimension of a GEMM tile)")
    latency_cycles: int = _f("pipeline fill latency of one PCU (header + stages + tail)")


@dataclass(frozen=True, slots=True, kw_only=True)
class PMUSpec:
    count: int = _f("pattern memory units per socket")
    size_bytes: int = _f("scratchpad SRAM per PMU")
    banks: int = _f("SRAM banks per PMU (informational; bank conflicts are not modelled)")
    read_bytes_per_clk: float = _f("read bandwidth of one PMU")
    write_bytes_per_clk: float = _f("write bandwidth of one PMU (concurrent with reads)")
    latency_cycles: int = _f("read latency of a PMU (address pipeline + SRAM)")


@dataclass(frozen=True, slots=True, kw_only=True)
class AGCUSpec:
    count: int = _f("address generation and coalescing units per socket (the tile's ports to memory and P2P)")
    bandwidth_bytes_per_clk: float = _f("bytes one AGCU moves per cycle")


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSpec:
    link_bytes_per_clk: float = _f("vector-network link width per direction (one vector per cycle)")
    hop_latency_cycles: int = _f("latency of one switch hop (data and credits)")
    hops: int = _f("switch hops charged to every stream between two units (placement is not modelled)")
    fifo_depth: int = _f("default stream depth in tiles (credits) between two stages")


@dataclass(frozen=True, slots=True, kw_only=True)
class HBMSpec:
    size_bytes: int = _f("HBM capacity per socket")
    bandwidth_bytes_per_s: float = _f("peak HBM bandwidth per socket")
    efficiency_frac: float = _f("fraction of the peak a streaming access pattern sustains", min=0.01, max=1)
    latency_ps: int = _f("load-to-use latency of an HBM access", min=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class DDRSpec:
    size_bytes: int = _f("DDR capacity per socket")
    bandwidth_bytes_per_s: float = _f("peak DDR bandwidth per socket")
    efficiency_frac: float = _f("fraction of the peak a streaming access pattern sustains", min=0.01, max=1)
    latency_ps: int = _f("load-to-use latency of a DDR access", min=0)
    to_hbm_bandwidth_bytes_per_s: float = _f("effective DDR->HBM copy bandwidth per socket (model switching)")


@dataclass(frozen=True, slots=True, kw_only=True)
class P2PSpec:
    bandwidth_bytes_per_s: float = _f("peer-to-peer bandwidth per socket per direction")
    step_latency_ps: int = _f("latency of one step of a ring collective (send, hop, receive)", min=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSpec:
    link_bandwidth_bytes_per_s: float = _f("host link (PCIe) bandwidth per socket")


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchSpec:
    software_ps: int = _f("cost of one software-orchestrated kernel call (host issues program/argument "
                          "load and execute)", min=0)
    hardware_ps: int = _f("cost of one hardware-orchestrated kernel call (AGCU-sequenced schedule)", min=0)
    sync_ps: int = _f("synchronisation at a kernel-call boundary (drain, barrier across sockets); "
                      "removed between iterations of a looped kernel", min=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class MapperSpec:
    weight_tile_bytes: int = _f("bytes of one weight / KV tile streamed from memory (one token of a load stream)")
    activation_tile_bytes: int = _f("largest activation tile (one token of an activation stream)")
    fill_frac: float = _f("fraction of PCUs and PMUs the place-and-route can use in one section", min=0.01, max=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class RDUSpec:
    name: str = _f("preset name")
    description: str = _f("one line on what the preset models")
    clock_hz: int = _f("clock of the RDU tile; every *_cycles value counts this clock")
    element_bytes: int = _f("bytes per element of the datatype the peak FLOP/s refers to (2 B: BF16); tensor sizes "
                            "come from the model's dtypes")
    system: SystemSpec = _f("sockets working together")
    pcu: PCUSpec = _f("pattern compute units")
    pmu: PMUSpec = _f("pattern memory units")
    agcu: AGCUSpec = _f("address generation and coalescing units")
    network: NetworkSpec = _f("reconfigurable dataflow network")
    hbm: HBMSpec = _f("high-bandwidth memory (the model's working set)")
    ddr: DDRSpec = _f("DDR (capacity tier: inactive models, spills)")
    p2p: P2PSpec = _f("peer-to-peer links between sockets (collectives)")
    host: HostSpec = _f("host link")
    launch: LaunchSpec = _f("kernel-call costs")
    mapper: MapperSpec = _f("compiler (mapping) parameters")
    provenance: tuple[tuple[str, str, str], ...] = field(default=(), metadata={"internal": True})
    source_file: str = field(default="", metadata={"internal": True})

    # ---- derived quantities (no new numbers: products of fields) --------------------------------
    @property
    def macs_per_pcu_cycle(self) -> int:
        return self.pcu.systolic_rows * self.pcu.systolic_cols

    @property
    def peak_flops(self) -> float:
        """Peak dense FLOP/s of one socket: PCUs x rows x cols x 2 x clock."""
        return float(self.pcu.count * self.macs_per_pcu_cycle * 2 * self.clock_hz)

    @property
    def simd_flops(self) -> float:
        """Peak element-wise op/s of one socket: PCUs x lanes x stages x clock."""
        return float(self.pcu.count * self.pcu.lanes * self.pcu.stages * self.clock_hz)

    @property
    def sram_bytes(self) -> int:
        return self.pmu.count * self.pmu.size_bytes

    @property
    def hbm_bytes_per_clk(self) -> float:
        return self.hbm.bandwidth_bytes_per_s / self.clock_hz

    def sources(self) -> dict[str, str]:
        return {p: s for p, s, _ in self.provenance}

    def estimates(self) -> list[tuple[str, str]]:
        """(key path, source) of every value marked as an estimate."""
        return [(p, s) for p, s, _ in self.provenance if s.lower().startswith(ESTIMATE_PREFIX)]

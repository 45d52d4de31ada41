"""The structured report of a run: the only output contract (JSON); human text is rendered from it.

Single responsibility: hold per-kernel results and run totals, derive the metrics people
read (IPC, stall breakdown, achieved occupancy), and write them as JSON or a short summary.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gpusim.stats.catalog import REASONS, name_counters
from gpusim.stats.sol import bound as sol_bound
from gpusim.stats.sol import speed_of_light


@dataclass
class KernelReport:
    name: str
    kernel_id: int
    trace: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    ctas: int
    warps: int
    cycles: int
    launch_latency_cycles: int
    warp_instructions: int
    thread_instructions: int
    ipc: float
    occupancy: dict
    stall_reasons: dict
    units: dict
    memory: dict
    register_file: dict
    hot_pcs: list
    control_bits: dict
    counters: dict
    partial: dict | None = None   # {"ctas": traced, "grid_ctas": declared}: a partial trace run with --allow-partial
    speed_of_light: dict = field(default_factory=dict)   # % of peak per unit (gpusim.stats.sol)
    bound: str = ""               # busiest unit ("memory:dram", "compute:issue") or "latency (<top stall>)"


@dataclass
class Report:
    gpusim_version: str
    gpu: str
    gpu_config: str
    trace: str
    model: str
    total_cycles: int
    kernels: list[KernelReport] = field(default_factory=list)
    memcpy: list[dict] = field(default_factory=list)
    sim: dict = field(default_factory=dict)
    #: the end-of-run write-back of dirty L2 sectors (``memory.l2_writeback_at_end``): sectors and
    #: dram_bytes_written, outside every kernel's cycles; the run's DRAM writes are the kernels' plus these
    l2_writeback: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def summary(self) -> str:
        lines = [f"gpusim {self.gpusim_version} | {self.gpu} | model: {self.model}",
                 f"trace: {self.trace}"]
        w = max([len(k.name[:48]) for k in self.kernels] + [6])
        lines.append(f"  {'kernel':<{w}}  {'grid':>13} {'cycles':>12} {'warp insts':>12} {'IPC':>7} {'L1 hit':>6} "
                     f"{'L2 hit':>6} {'DRAM%':>5}  bound (speed of light)")
        for k in self.kernels:
            stalls = {n: v for n, v in k.stall_reasons.items() if n != "selected"}
            top = max(stalls, key=stalls.get) if stalls and max(stalls.values()) > 0 else "-"
            g = "x".join(str(v) for v in k.grid)
            if k.partial:
                g += f" ({k.partial['ctas']}/{k.partial['grid_ctas']} CTAs, PARTIAL)"
            m = k.memory
            l1 = f"{100 * m.get('l1_hit_rate', 0):.0f}%" if m.get("l1_load_sectors") else "-"
            l2 = f"{100 * m.get('l2_hit_rate', 0):.0f}%" if m.get("l2_read_sectors") else "-"
            dram = f"{m.get('dram_throughput_pct_of_peak', 0):.0f}"
            lines.append(f"  {k.name[:48]:<{w}}  {g:>13} {k.cycles:>12,} {k.warp_instructions:>12,} {k.ipc:>7.2f} "
                         f"{l1:>6} {l2:>6} {dram:>5}  {_bound_text(k, top)}")
        sim = self.sim
        lines.append(f"total: {self.total_cycles:,} cycles ({len(self.kernels)} kernels, launch latency included)")
        if self.l2_writeback.get("sectors"):
            kb = sum(k.memory.get("dram_bytes_written", 0) for k in self.kernels)
            lines.append(f"end of run: {self.l2_writeback['dram_bytes_written']:,} B of dirty L2 sectors written back "
                         f"to DRAM (run total written {kb + self.l2_writeback['dram_bytes_written']:,} B)")
        if sim:
            jit = sim.get("jit_seconds", 0.0)
            note = f" (+ {jit:.2f} s compiling/loading the Numba core, not counted)" if jit >= 0.01 else ""
            lines.append(f"simulated in {sim['wall_seconds']:.2f} s: {sim['simulated_cycles_per_second']:,.0f} cycles/s, "
                         f"{sim['warp_instructions_per_second']:,.0f} warp-inst/s{note}")
        return "\n".join(lines)


def _bound_text(k: KernelReport, top_stall: str) -> str:
    sol = k.speed_of_light
    if not sol:
        return f"top stall {top_stall}"
    unit = k.bound.split(":")[-1]
    if unit in sol:
        return f"{k.bound} {sol[unit]:.0f}%"
    busiest = max(sol, key=lambda u: (sol[u], u))
    return f"{k.bound}, busiest {busiest} {sol[busiest]:.0f}%"


def kernel_report(kt, occ, status_cycles: int, counters, launch_latency: int, control_bits: dict,
                  cfg, pc_stats=None, top_pcs: int = 10) -> KernelReport:
    named = name_counters(counters)
    cycles = int(status_cycles)
    warp_insts = named["warp_instructions"]
    stall = {n: named[f"stall_{n}"] for n, _ in REASONS}
    units = {k.removeprefix("issued_"): v for k, v in named.items() if k.startswith("issued_") and v}
    h = kt.header
    return KernelReport(
        name=h.name, kernel_id=h.kernel_id, trace=kt.path, grid=h.grid, block=h.block,
        ctas=named["ctas_launched"], warps=named["warps_launched"], cycles=cycles,
        launch_latency_cycles=launch_latency, warp_instructions=warp_insts,
        thread_instructions=named["thread_instructions"], ipc=(warp_insts / cycles) if cycles else 0.0,
        occupancy={"ctas_per_sm": occ.ctas_per_sm, "limiter": occ.limiter, "limits": occ.limits,
                   "warps_per_cta": occ.warps_per_cta, "registers_per_cta": occ.registers_per_cta,
                   "shared_bytes_per_cta": occ.shared_bytes_per_cta,
                   "achieved_active_warps_per_sm": (named["active_warp_cycles"] / cycles / cfg.sm.count) if cycles else 0.0},
        stall_reasons=stall, units=units,
        memory=memory_metrics(named, cycles, cfg),
        register_file={"rf_cache_hits": named["rf_cache_hits"], "bank_reads": named["rf_reads"],
                       "rf_cache_hit_rate": named["rf_cache_hits"] / max(1, named["rf_cache_hits"] + named["rf_reads"]),
                       "allocate_stall_cycles": named["allocate_stall_cycles"],
                       "fp32_on_int_pipe": named["fp32_on_int_pipe"]},
        hot_pcs=_hot_pcs(kt, pc_stats, top_pcs),
        control_bits=control_bits, counters=named,
        speed_of_light=(sol := speed_of_light(named, cycles, cfg)), bound=sol_bound(sol, stall),
    )


def _hot_pcs(kt, pc_stats, top: int) -> list[dict]:
    """The PCs where warps spent the most cycles, with their stall-reason breakdown."""
    if pc_stats is None or pc_stats.size == 0:
        return []
    reasons = [n for n, _ in REASONS]
    cycles = pc_stats[:, 1:1 + len(reasons)].sum(axis=1)
    out = []
    for s in cycles.argsort(kind="stable")[::-1][:top]:
        if cycles[s] == 0:
            break
        row = pc_stats[s]
        out.append({"pc": f"0x{int(kt.st_pc[s]):04x}", "opcode": kt.st_opcode[s], "issued": int(row[0]),
                    "warp_cycles": int(cycles[s]),
                    "stalls": {r: int(row[1 + k]) for k, r in enumerate(reasons) if row[1 + k]}})
    return out


def memory_metrics(named: dict, cycles: int, cfg) -> dict:
    """Derived memory metrics (Nsight Compute names where one exists)."""
    ld = named["l1_load_sectors"]
    l2r = named["l2_read_sectors"]
    dram = named["dram_bytes_read"] + named["dram_bytes_written"]
    peak_per_cycle = cfg.memory.dram_bandwidth_bytes_per_s / cfg.sm.clock_hz
    shared = named["shared_instructions"]
    return {
        "global_sectors": named["global_sectors"],
        "l1_load_sectors": ld,
        "l1_hit_rate": named["l1_load_sector_hits"] / ld if ld else 0.0,
        "l1_inflight_hits": named["l1_inflight_hits"],
        "l1_store_sectors": named["l1_store_sectors"],
        "l1_mshr_stall_cycles": named["l1_mshr_stall_cycles"],
        "l2_read_sectors": l2r,
        "l2_write_sectors": named["l2_write_sectors"],
        "l2_atomic_sectors": named["l2_atomic_sectors"],
        "l2_hit_rate": named["l2_read_sector_hits"] / l2r if l2r else 0.0,
        "dram_bytes_read": named["dram_bytes_read"],
        "dram_bytes_written": named["dram_bytes_written"],
        "dram_throughput_pct_of_peak": 100.0 * dram / (cycles * peak_per_cycle) if cycles else 0.0,
        "memory_instructions": named["memory_instructions"],
        "shared_instructions": shared,
        "shared_wavefronts": named["shared_wavefronts"],
        "shared_bank_conflict_replays": named["shared_bank_conflicts"],
        "ldgsts_instructions": named["ldgsts_instructions"],
    }

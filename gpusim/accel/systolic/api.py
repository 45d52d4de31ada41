"""Facade of the systolic-array model: config + topology -> per-layer results -> report files."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from gpusim.accel.systolic.config import SystolicConfig, load_systolic_config
from gpusim.accel.systolic.physical import simulate_layer_physical
from gpusim.accel.systolic.results import LayerResult
from gpusim.accel.systolic.scalesim_mode import simulate_layer_scalesim
from gpusim.accel.systolic.topology import Layer, read_topology
from gpusim.errors import GpusimError

__all__ = ["MEMORY_MODELS", "simulate", "simulate_files", "summary_lines", "write_reports"]

MEMORY_MODELS = ("physical", "scalesim")

COMPUTE_HEADER = ("LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, "
                  "Mapping Efficiency %, Compute Util %,\n")
BANDWIDTH_HEADER = ("LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, "
                    "Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,\n")
DETAIL_HEADER = ("LayerID, "
                 "SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, "
                 "SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, "
                 "SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
                 "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
                 "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, "
                 "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,\n")


def _repeat(r: LayerResult, times: int) -> LayerResult:
    """A batched layer in SCALE-Sim terms: ``times`` identical layers back to back, each with fresh
    buffers (SCALE-Sim resets its memories per layer), reported as one row: cycles and counts
    add up, utilisations and the first repetition's start/stop cycles stay."""
    if times == 1:
        return r
    add = ("total_cycles_incl_prefetch", "total_cycles", "stall_cycles", "ifmap_sram_reads", "filter_sram_reads",
           "ofmap_sram_writes", "ifmap_dram_reads", "filter_dram_reads", "ofmap_dram_writes")
    return dataclasses.replace(r, **{k: getattr(r, k) * times for k in add},
                               extra={**r.extra, "batch": times})


def simulate(cfg: SystolicConfig, layers: Sequence[Layer], memory: str = "physical") -> list[LayerResult]:
    """Per-layer results of ``layers`` on ``cfg`` with the ``physical`` or ``scalesim`` memory model."""
    if memory not in MEMORY_MODELS:
        raise GpusimError(f"--memory: expected one of {', '.join(MEMORY_MODELS)}, got {memory!r}")
    out = []
    for layer in layers:
        if memory == "scalesim":
            r = simulate_layer_scalesim(dataclasses.replace(layer, batch=1), cfg)
            out.append(_repeat(r, layer.batch))
        else:
            out.append(simulate_layer_physical(layer, cfg))
    return out


def simulate_files(config: str | Path, topology: str | Path, memory: str = "physical", form: str = "auto",
                   overrides: Sequence[str] = ()) -> tuple[SystolicConfig, list[Layer], list[LayerResult]]:
    cfg = load_systolic_config(config, overrides)
    layers = read_topology(topology, form)
    return cfg, layers, simulate(cfg, layers, memory)


def _row(lid: int, items: list) -> str:
    return f"{lid}, " + ", ".join(str(x) for x in items) + ",\n"


def write_reports(results: Sequence[LayerResult], out_dir: str | Path, *, cfg: SystolicConfig | None = None,
                  memory: str = "", layers: Sequence[Layer] = ()) -> list[Path]:
    """COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, DETAILED_ACCESS_REPORT.csv in SCALE-Sim's format
    (same headers, ``LayerID, v1, v2, ...,`` rows), plus ``systolic_summary.json``."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for name, header, getter in (("COMPUTE_REPORT.csv", COMPUTE_HEADER, LayerResult.compute_items),
                                     ("BANDWIDTH_REPORT.csv", BANDWIDTH_HEADER, LayerResult.bandwidth_items),
                                     ("DETAILED_ACCESS_REPORT.csv", DETAIL_HEADER, LayerResult.detail_items)):
            p = out / name
            p.write_text(header + "".join(_row(i, getter(r)) for i, r in enumerate(results)))
            files.append(p)
        p = out / "systolic_summary.json"
        p.write_text(json.dumps(_summary(results, cfg, memory, layers), indent=2) + "\n")
        files.append(p)
    except OSError as e:
        raise GpusimError(f"{out}: cannot write the reports: {e.strerror or e}") from None
    return files


def _summary(results: Sequence[LayerResult], cfg: SystolicConfig | None, memory: str, layers: Sequence[Layer]) -> dict:
    clock = cfg.clock_hz if cfg else None
    rows = []
    for i, r in enumerate(results):
        row = {"layer_id": i, "name": r.name, "total_cycles": r.total_cycles_incl_prefetch,
               "compute_cycles": r.total_cycles - r.stall_cycles, "stall_cycles": r.stall_cycles,
               "overall_util_pct": r.overall_util,
               "dram_words": r.ifmap_dram_reads + r.filter_dram_reads + r.ofmap_dram_writes
               + int(r.extra.get("dram_ofmap_reads", 0))}
        if i < len(layers):
            row["macs"] = layers[i].macs
        if clock:
            row["seconds"] = r.total_cycles_incl_prefetch / clock
        plan = r.extra.get("plan")
        if plan is not None:
            row["bound"] = r.extra.get("bound")
            row["plan"] = {"parts_batch_m_n": list(plan.parts), "tiles_mnk": list(plan.tiles), "order": plan.order,
                           "compute_bound_cycles": plan.compute_bound, "memory_bound_cycles": plan.memory_bound}
        rows.append(row)
    doc = {"memory_model": memory, "layers": rows,
           "total_cycles": sum(r["total_cycles"] for r in rows)}
    if cfg is not None:
        doc["config"] = {"name": cfg.name, "source": cfg.source, "rows": cfg.rows, "cols": cfg.cols,
                         "dataflow": cfg.dataflow.value, "arrays": cfg.arrays, "word_bytes": cfg.word_bytes,
                         "clock_hz": cfg.clock_hz, "sources": list(cfg.sources)}
        if clock:
            doc["total_seconds"] = doc["total_cycles"] / clock
    return doc


def summary_lines(results: Sequence[LayerResult], cfg: SystolicConfig, memory: str) -> list[str]:
    """A short human-readable table (one line per layer and a total)."""
    arrays = cfg.arrays if memory == "physical" else 1
    head = (f"{cfg.name}: {arrays} x {cfg.rows}x{cfg.cols} {cfg.dataflow.value.upper()}, memory model {memory}"
            + (f", {cfg.clock_hz / 1e6:g} MHz" if cfg.clock_hz else ""))
    lines = [head, f"{'layer':<24} {'cycles':>14} {'stall':>12} {'util %':>7}  bound"]
    total = 0
    for r in results:
        total += r.total_cycles_incl_prefetch
        bound = r.extra.get("bound", "memory" if r.stall_cycles else "compute")
        lines.append(f"{r.name[:24]:<24} {r.total_cycles_incl_prefetch:>14,} {r.stall_cycles:>12,} "
                     f"{r.overall_util:>7.2f}  {bound}")
    t = f"total {total:,} cycles"
    if cfg.clock_hz:
        t += f" = {total / cfg.clock_hz * 1e6:,.1f} us"
    lines.append(t)
    if memory == "scalesim" and cfg.arrays > 1:
        lines.append(f"note: --memory scalesim models one array (SCALE-Sim has no multi-array model); "
                     f"the config has {cfg.arrays}")
    return lines

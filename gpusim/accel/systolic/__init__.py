"""Systolic-array accelerators: SCALE-Sim-compatible inputs and reports, exact compute model,
a SCALE-Sim-compatible memory mode and a physical memory model (docs/systolic.md).

    from gpusim.accel.systolic import simulate_files, write_reports
    cfg, layers, results = simulate_files("tpu-v4", "layers.csv", memory="physical")
"""

from gpusim.accel.systolic.api import (
    MEMORY_MODELS,
    simulate,
    simulate_files,
    summary_lines,
    write_reports,
)
from gpusim.accel.systolic.compute import ComputeFigures, compute_figures
from gpusim.accel.systolic.config import Dataflow, SystolicConfig, load_systolic_config
from gpusim.accel.systolic.results import LayerResult
from gpusim.accel.systolic.topology import Layer, gemm_layer, read_topology

__all__ = [
    "MEMORY_MODELS",
    "ComputeFigures",
    "Dataflow",
    "Layer",
    "LayerResult",
    "SystolicConfig",
    "compute_figures",
    "gemm_layer",
    "load_systolic_config",
    "read_topology",
    "simulate",
    "simulate_files",
    "summary_lines",
    "write_reports",
]

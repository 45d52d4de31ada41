"""Config sweeps: many (config point x workload) simulations, in worker processes or on Dask.

Single responsibility: read a sweep file, expand its axes into points, check every point's
config *before* anything runs, run the points through one executor interface (in-process,
a local process pool, or a Dask distributed cluster) and append each finished point to a
journal and a tidy table, so that a killed sweep resumes where it stopped.

A sweep file (``configs/sweeps/*.yaml``)::

    name: vecadd-sm-l2                 # optional; default: the file's stem
    base: rtx3070                      # GPU config name or YAML path (``gpu:`` is a synonym)
    set: [subcore.issue_policy=gto]    # optional fixed overrides, KEY=VALUE as for --set
    workloads:                         # one or more; each is one kind:
      - traces/examples/vecadd-sm86    #   a bare string is a trace
      - {trace: traces/examples/vecadd-sm86, name: vecadd}
      - {microbench: pointer_chase, params: {working_set: 4 MiB}}
    axes:                              # config key paths (or ``gpu``) -> list of values
      sm.count: [46, 84]
      memory.l2_size: [4 MiB, 6 MiB]
    combine: product                   # or zip (all axes the same length)

Relative trace paths are looked up in the sweep file's folder, then the current folder, then
the gpusim checkout.  A new workload kind is one class with ``parse``/``check``/``run`` added to
:data:`WORKLOAD_KINDS` (``llm`` steps will be one).

A point's id hashes its config (base + overrides), its workload (trace list bytes and kernel file
sizes, or benchmark parameters) and the gpusim version and model name: re-running resumes only
points that would give the same result.

Output folder: ``points.jsonl`` (the journal: one JSON line per finished point, fsync'ed),
``results.csv`` (appended as points finish; one row per point x kernel: the axis values, then
every numeric leaf of the kernel's report), ``results.parquet`` (written from the journal when the
sweep ends, is interrupted, or is run again) and ``sweep.yaml`` (a copy of the sweep file).
The package, by stage: :mod:`~gpusim.sweep.workloads` (the workload kinds, each one class registered
in :data:`WORKLOAD_KINDS`), :mod:`~gpusim.sweep.spec` (reading a sweep file into points),
:mod:`~gpusim.sweep.run` (running points: executors, journal and table), :mod:`~gpusim.sweep.plot`
(reading the table back and plotting it).
"""

from __future__ import annotations

from gpusim.config.yamlio import Lines, check_keys, format_keypath, load_yaml
from gpusim.errors import InputFileError as SweepError
from gpusim.sweep.plot import plot_results, read_table
from gpusim.sweep.run import run_point, run_sweep
from gpusim.sweep.spec import Point, Sweep, load_sweep
from gpusim.sweep.workloads import (REPO_ROOT, WORKLOAD_KINDS, MicrobenchWorkload, TraceWorkload, flatten_kernel,
                                    parse_workload, resolve_path, workload_from_dict)

__all__ = [
    "SweepError",
    "Lines",
    "load_yaml",
    "check_keys",
    "format_keypath",
    "REPO_ROOT",
    "WORKLOAD_KINDS",
    "TraceWorkload",
    "MicrobenchWorkload",
    "parse_workload",
    "resolve_path",
    "workload_from_dict",
    "Point",
    "Sweep",
    "load_sweep",
    "run_sweep",
    "run_point",
    "flatten_kernel",
    "read_table",
    "plot_results",
]

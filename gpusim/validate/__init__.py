"""Accuracy validation: simulate suite cases, compare with measured hardware numbers, report errors.

Single responsibility: read validation suites (``validation/suites/*.yaml``) and reference
measurements (``validation/reference/*.csv``), check *everything* before the first simulation
(reference ids, unit conversions, configs, workloads), run the cases, convert each simulated
result to the reference's metric and unit, and compute the error statistics.  Rendering lives
in :func:`write_report` (Markdown, self-contained HTML, PNG plots through
:mod:`gpusim.stats.render`).

A suite::

    suite: ladder-a100                 # optional; default: the file's stem
    gpu: a100-sxm4-80gb                # default config of the cases
    missing_config: error              # or skip: cases whose config does not exist are skipped
    references: [../reference/a100.csv]  # optional; default: every CSV in validation/reference/
    cases:
      - id: l2-latency                 # unique within the suite
        reference: HW062               # a row id of a reference CSV
        category: mem_latency          # colour in the plots (default: the workload kind)
        workload: {microbench: pointer_chase, params: {working_set: 4 MiB}}
        gpu: ..., set: [KEY=VALUE], note: "..."   # optional
      - id: vecadd-time
        reference: X001
        workload: {trace: traces/examples/vecadd-sm86}
        metric: kernel_cycles          # or total_cycles (launch latency included)
        work: 2.0e9 flop               # optional: the result is work / time (flop, B, token, inst)
      - id: capacity                   # a serving case (gpusim serve): one policy, and find_capacity
        reference: X002                #   (metric capacity, requests/s) or one rate (metric ttft_p99,
        metric: capacity               #   tbt_p99, throughput, ... : SERVE_METRICS)
        workload: {serve: {model: llama-2-7b, arrivals: "poisson:duration=60,prompt=512,output=128",
                           policies: [vllm], slo: "ttft=1,tpot=0.1", find_capacity: true}}

Units (reference column ``unit`` and simulated results) are products of words separated by
``/`` or ``per``: times (``s ms us ns ps``, ``cycles``/``clk``), data (``B KB MB GB TB KiB MiB
GiB``), work (``flop``, ``op``, ``FMA`` = 2 flop, ``inst``, ``warp-inst``, ``token(s)``), rates
(``TFLOPS GFLOPS TOPS``), requests (``req``, ``request``, ``query``; ``QPS`` = requests/s), ``SM``, ``%`` and ``x``.  Cycles convert to seconds with the case's
``sm.clock``; a per-SM quantity converts to a whole-GPU one with its ``sm.count``.

The package, by stage: :mod:`~gpusim.validate.references` (reference rows, the error type),
:mod:`~gpusim.validate.units` (units and conversions), :mod:`~gpusim.validate.roles` (calibration or
prediction, from what the sources cite), :mod:`~gpusim.validate.suite` (reading suites),
:mod:`~gpusim.validate.rdu` (RDU cases), :mod:`~gpusim.validate.run` (running cases, statistics) and
:mod:`~gpusim.validate.report` (compare, Markdown/HTML/plots).
"""

from __future__ import annotations

from gpusim.sweep.workloads import LLM_OP_UNITS
from gpusim.validate.rdu import RDU_MEASURES, RduWorkload
from gpusim.validate.references import (REFERENCE_COLUMNS, REFERENCE_DIR, Reference, ValidationError,
                                        load_references)
from gpusim.validate.report import compare, write_report
from gpusim.validate.roles import _anchor_citations, _paper_anchors, cited_rows, model_sources
from gpusim.validate.run import _run_case, run_validation, summarize
from gpusim.validate.suite import SERVE_METRICS, Case, Suite, load_suites
from gpusim.validate.units import Unit, convert, convertible, parse_unit

__all__ = ["ValidationError", "Unit", "parse_unit", "convert", "convertible", "Reference", "REFERENCE_COLUMNS",
           "REFERENCE_DIR", "load_references", "Suite", "Case", "load_suites", "LLM_OP_UNITS", "SERVE_METRICS", "RDU_MEASURES",
           "RduWorkload", "model_sources", "cited_rows", "run_validation", "summarize", "compare", "write_report",
           "_anchor_citations", "_paper_anchors", "_run_case"]

"""``gpusim systolic``: SCALE-Sim-style runs of a topology on a systolic-array config.

    gpusim systolic --config CFG --topology CSV [--memory physical|scalesim] -o OUT
                    [--topology-form auto|conv|gemm] [--set KEY=VALUE ...] [--quiet]

``CFG`` is a SCALE-Sim ``.cfg``, a gpusim YAML preset path, or a preset name under
``configs/accel/`` (e.g. ``tpu-v4``).  Writes COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv,
DETAILED_ACCESS_REPORT.csv (SCALE-Sim's columns) and systolic_summary.json into OUT.
Hooked into ``gpusim.cli.build_parser`` by :func:`register`.
"""

from __future__ import annotations

import argparse


def _cmd_systolic(a: argparse.Namespace) -> int:
    from gpusim.accel.systolic.api import simulate_files, summary_lines, write_reports

    cfg, layers, results = simulate_files(a.config, a.topology, memory=a.memory, form=a.topology_form,
                                          overrides=a.set or [])
    files = write_reports(results, a.output, cfg=cfg, memory=a.memory, layers=layers)
    if not a.quiet:
        for line in summary_lines(results, cfg, a.memory):
            print(line)
        print("wrote " + ", ".join(str(f) for f in files))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``systolic`` subcommand to gpusim's top-level parser."""
    p = sub.add_parser("systolic", help="run a SCALE-Sim topology on a systolic-array config",
                       description="Systolic-array (TPU-like) model: SCALE-Sim .cfg/topology inputs and reports.")
    p.add_argument("--config", required=True,
                   help="SCALE-Sim .cfg, YAML preset path, or preset name under configs/accel/ (e.g. tpu-v4)")
    p.add_argument("--topology", required=True, help="SCALE-Sim topology CSV (conv or M,N,K form)")
    p.add_argument("--memory", choices=("physical", "scalesim"), default="physical",
                   help="memory model: physical (default) or scalesim (SCALE-Sim 3.0.0's stall model, quirks included)")
    p.add_argument("--topology-form", choices=("auto", "conv", "gemm"), default="auto",
                   help="topology CSV form; auto reads the header (M, N, K -> gemm)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a YAML preset key, e.g. sram.filter='8 MiB' (repeatable)")
    p.add_argument("-o", "--output", default="systolic-out", help="output folder (default: systolic-out)")
    p.add_argument("--quiet", action="store_true", help="no summary on stdout")
    p.set_defaults(fn=_cmd_systolic)

"""``gpusim rdu``: one LLM serving step on a SambaNova SN40L-style RDU system (or Plasticine).

    gpusim rdu --preset sn40l-8 --model llama-2-7b --step decode:batch=1,context=1024 [-o OUT]
               [--fusion unfused|fused_so|fused_ho|fused_ho_looped] [--set KEY=VALUE ...]
               [--coe experts=150,batch=8,prompt=128,out=20] [--quiet]
    gpusim rdu --list

Writes ``OUT/report.json`` (per-operator time, bound, utilisation; step time; tokens/s; sections
with per-stage stall breakdown; memory placement; every configuration value with its source) and
prints a summary that lists every value, estimates marked.  Hooked into ``gpusim.cli`` by
:func:`register`; bad input raises GpusimError (exit status 2).
"""

from __future__ import annotations

import argparse


def _cmd_rdu(a: argparse.Namespace) -> int:
    from gpusim.accel.rdu.config import list_presets
    from gpusim.accel.rdu.lower import FUSION_LEVELS
    from gpusim.errors import GpusimError

    if a.list:
        from gpusim.llm.model import list_models

        print("presets: " + ", ".join(list_presets()))
        print("models:  " + ", ".join(list_models()))
        print("fusion:  " + ", ".join(FUSION_LEVELS))
        return 0
    missing = [f"--{k}" for k in ("preset", "model", "step") if not getattr(a, k)]
    if missing:
        raise GpusimError(f"rdu: {', '.join(missing)} required (or --list)")
    from gpusim.accel.rdu.api import run
    from gpusim.accel.rdu.report import summary_lines, write_report

    rep = run(a.preset, a.model, a.step, a.fusion, a.set or [], a.coe)
    path = write_report(rep, a.output)
    if not a.quiet:
        for line in summary_lines(rep):
            print(line)
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``rdu`` subcommand to gpusim's top-level parser."""
    p = sub.add_parser("rdu", help="simulate an LLM step on an RDU dataflow system (SN40L, Plasticine)",
                       description="SambaNova SN40L-style reconfigurable dataflow unit: fused sections simulated "
                                   "tile by tile, kernel calls, three memory tiers, tensor parallelism.")
    p.add_argument("--preset", help="RDU preset under configs/accel/rdu/ (sn40l-8, sn40l-16, plasticine) or a YAML path")
    p.add_argument("--model", help="model preset under configs/models/ (e.g. llama-2-7b) or a YAML path")
    p.add_argument("--step", help="serving step, e.g. decode:batch=1,context=1024 or prefill:tokens=4096")
    p.add_argument("--fusion", default="fused_ho_looped",
                   choices=("unfused", "fused_so", "fused_ho", "fused_ho_looped"),
                   help="fusion level and orchestration (default: fused_ho_looped)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a preset value, e.g. pcu.lanes=16")
    p.add_argument("--coe", metavar="SPEC", help="also serve a Composition of Experts with --model as router and "
                                                "experts: experts=150,batch=8,prompt=128,out=20[,warm=1] (warm=1: steady state, "
                                                "a warm HBM expert cache and random routing; warm=0: cold cache, every "
                                                "prompt a different expert)")
    p.add_argument("-o", "--output", default="rdu-out", help="output folder (default: rdu-out)")
    p.add_argument("--quiet", action="store_true", help="no summary on stdout")
    p.add_argument("--list", action="store_true", help="list presets, models and fusion levels")
    p.set_defaults(fn=_cmd_rdu)

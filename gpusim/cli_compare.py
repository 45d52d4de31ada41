"""``gpusim compare``: several ``gpusim llm`` reports side by side (table + bar chart).

    gpusim compare out/h100 out/tpu out/sn40l [-o OUT] [--allow-mixed] [--no-chart]

Writes ``OUT/compare.md``, ``OUT/compare.json`` and ``OUT/compare.png`` (see
:mod:`gpusim.llm.compare`) and prints the markdown.  Hooked into ``gpusim.cli`` by :func:`register`.
"""

from __future__ import annotations

import argparse
import sys


def _cmd_compare(a: argparse.Namespace) -> int:
    from gpusim.llm.compare import markdown, write_comparison

    c, files = write_comparison(a.reports, a.output, a.allow_mixed, chart=not a.no_chart)
    if not a.quiet:
        print(markdown(c), end="")
        print("wrote " + ", ".join(str(f) for f in files))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand to gpusim's top-level parser."""
    p = sub.add_parser("compare", help="compare `gpusim llm` reports of several machines (table + bar chart)",
                       description="One workload on several machines (GPU, systolic, RDU): step time, tokens/s "
                                   "and where the time goes, side by side.")
    p.add_argument("reports", nargs="+", help="`gpusim llm` output folders or report.json files")
    p.add_argument("-o", "--output", default="gpusim-compare", help="output folder (default: gpusim-compare)")
    p.add_argument("--allow-mixed", action="store_true", help="compare reports of different models or steps")
    p.add_argument("--no-chart", action="store_true", help="no compare.png")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.set_defaults(fn=_cmd_compare)


if __name__ == "__main__":  # pragma: no cover
    from gpusim.cli import main

    sys.exit(main(["compare", *sys.argv[1:]]))

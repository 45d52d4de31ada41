"""``gpusim compare``: several ``gpusim llm`` reports side by side (table + bar chart), or several
``gpusim serve`` reports (latency percentiles, goodput, capacity; CDFs overlaid).

    gpusim compare out/h100 out/tpu out/sn40l [-o OUT] [--allow-mixed] [--no-chart]
    gpusim compare serve-vllm serve-sarathi [-o OUT]

Writes ``OUT/compare.md``, ``OUT/compare.json`` and ``OUT/compare.png`` (see
:mod:`gpusim.llm.compare` and :mod:`gpusim.serve.compare`) and prints the markdown.  Hooked into
``gpusim.cli`` by :func:`register`.
"""

from __future__ import annotations

import argparse


def _serve_reports(paths) -> list[dict] | None:
    """The reports when every one is a ``gpusim serve`` report; None when none is; an error when mixed."""
    import json
    from pathlib import Path

    from gpusim.errors import GpusimError
    from gpusim.serve import compare as SC

    kinds = []
    for p in paths:
        f = Path(p) / "report.json" if Path(p).is_dir() else Path(p)
        try:
            kinds.append(SC.is_serve_report(json.loads(f.read_text())))
        except (OSError, ValueError):
            kinds.append(False)                # load_report names the problem
    if not any(kinds):
        return None
    if not all(kinds):
        raise GpusimError("compare: " + ", ".join(str(p) for p, k in zip(paths, kinds) if not k) +
                          " not `gpusim serve` reports; serving reports compare only with each other")
    return [SC.load(p) for p in paths]


def _cmd_compare(a: argparse.Namespace) -> int:
    from gpusim.llm.compare import markdown, write_comparison

    serve_reps = _serve_reports(a.reports)
    if serve_reps is not None:
        from gpusim.serve import compare as SC

        c, files = SC.write_comparison(serve_reps, a.output, a.allow_mixed, charts=not a.no_chart)
        if not a.quiet:
            print(SC.markdown(c), end="")
            print("wrote " + ", ".join(str(f) for f in files))
        return 0
    c, files = write_comparison(a.reports, a.output, a.allow_mixed, chart=not a.no_chart)
    if not a.quiet:
        print(markdown(c), end="")
        print("wrote " + ", ".join(str(f) for f in files))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand to gpusim's top-level parser."""
    p = sub.add_parser("compare", help="compare `gpusim llm` reports of several machines (table + bar chart), or "
                                       "`gpusim serve` reports (latencies, goodput, CDFs)",
                       description="One workload on several machines (GPU, systolic, RDU): step time, tokens/s "
                                   "and where the time goes, side by side.")
    p.add_argument("reports", nargs="+", help="`gpusim llm` or `gpusim serve` output folders or report.json files")
    p.add_argument("-o", "--output", default="gpusim-compare", help="output folder (default: gpusim-compare)")
    p.add_argument("--allow-mixed", action="store_true", help="compare reports of different models or steps")
    p.add_argument("--no-chart", action="store_true", help="no compare.png")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.set_defaults(fn=_cmd_compare)

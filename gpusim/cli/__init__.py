"""The ``gpusim`` command: argparse subcommands that translate arguments into ``gpusim.api`` calls.

One module per command group, each with ``register(sub)``, listed in :data:`COMMANDS`; a command module
never imports this one back.

Single responsibility: argument parsing, output files and exit codes.  Bad input
(``GpusimError``) prints one line on stderr and exits with status 2; no model logic here.

    gpusim run TRACE --gpu CONFIG [--sass FILE] [--set key.path=value ...] [-o OUTDIR] [--threads N] [--quiet]
    gpusim trace info TRACE [--json]
    gpusim trace convert RAW_TRACE -o OUTDIR
    gpusim config show NAME | check FILE | list
    gpusim sass info LISTING [--function NAME] [--limit N]
    (gpusim sweep | plot | validate | report, systolic, rdu, llm, compare, serve: see their modules)
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gpusim.cli.common import EXIT_BAD_INPUT
from gpusim.errors import GpusimError

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "build_parser", "main"]

#: The command modules (gpusim.cli.<name>), in the order ``gpusim --help`` lists them.  A new command
#: group is one module with ``register(sub)`` and one entry here.
COMMANDS = (
    "run",        # run, clock, timeline, warmup
    "inspect",    # trace info|convert, config show|check|list, sass info
    "analysis",   # sweep, plot, validate, report
    "systolic",   # systolic arrays
    "rdu",        # RDU dataflow
    "llm",        # LLM serving steps and single operators
    "compare",    # machines side by side
    "serve",      # serving over time
)


def build_parser() -> argparse.ArgumentParser:
    from gpusim import __version__

    ap = argparse.ArgumentParser(prog="gpusim", description="Cycle-level GPU simulator driven by Accel-Sim/NVBit traces.")
    ap.add_argument("--version", action="version", version=f"gpusim {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gpusim.cli.{name}").register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    try:
        return a.fn(a)
    except GpusimError as e:
        print(f"gpusim: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("gpusim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What every ``gpusim`` command shares: argument types and the first-run compile notice."""

from __future__ import annotations

import argparse
import sys

from gpusim.errors import GpusimError

#: Exit status of bad input (a GpusimError): one line on stderr, never a traceback.
EXIT_BAD_INPUT = 2


def positive_int(text: str) -> int:
    """argparse type: a whole number of 1 or more."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return n


def dim3(text: str, flag: str) -> tuple[int, int, int]:
    """``X[,Y[,Z]]`` -> (x, y, z), missing dimensions 1."""
    try:
        v = [int(x) for x in text.split(",")]
        if not 1 <= len(v) <= 3 or min(v) < 1:
            raise ValueError
    except ValueError:
        raise GpusimError(f"{flag} {text!r}: expected X[,Y[,Z]] with positive integers") from None
    return (v + [1, 1])[:3]  # type: ignore[return-value]


def print_compile_notice(quiet: bool = False, threads: int = 1) -> None:
    """Say so before a run that must compile the Numba core first (otherwise it looks hung); ``threads``
    > 1 runs the threaded engine, which compiles on its first use."""
    from gpusim.core import compile_notice

    msg = compile_notice(threads)
    if msg and not quiet:
        print(msg, file=sys.stderr, flush=True)

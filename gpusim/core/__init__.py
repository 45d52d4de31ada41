"""The Numba core.  Importing this package points Numba's on-disk cache at a folder keyed by a hash
of the core's sources and the functional walker's (``gpusim/emu``): Numba re-validates a cached
function against its own file only, so a change in a module it calls (e.g. ``memsys.py`` called from
``sm.py``, an inlined handler of ``gpusim/emu/walk.py``) would otherwise reuse stale machine code.
Set ``NUMBA_CACHE_DIR`` to override the location."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

if "NUMBA_CACHE_DIR" not in os.environ:
    import numba

    # the functional walker (gpusim/emu) is Numba code too: its sources key the same folder
    _sources = sorted(Path(__file__).parent.glob("*.py")) + sorted((Path(__file__).parent.parent / "emu").glob("*.py"))
    _digest = hashlib.blake2b(b"".join(p.read_bytes() for p in _sources), digest_size=8).hexdigest()
    numba.config.CACHE_DIR = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gpusim" /
                                 "numba" / _digest)


def cache_dir() -> Path:
    """Where Numba keeps the core's compiled machine code."""
    import numba

    return Path(numba.config.CACHE_DIR)


def is_compiled(threads: int = 1) -> bool:
    """True when the on-disk cache already holds the SM core's entry point (``engine.run_sm``; with more
    than one thread ``engine.run_sm_threads``, compiled on first use): a run starts in about a second
    instead of compiling first."""
    name = "run_sm_threads" if threads > 1 else "run_sm"
    return any(cache_dir().glob(f"*/engine.{name}-*.nbi"))


#: what the first run costs: 71.9 CPU s before the core was split into stage modules, 103.0 CPU s after
#: (benchmarks/core_refactor.json, an empty Numba cache on the 2-core development machine); a third less
#: after the compile-time work of issue 19 (115.6 -> 75.8 CPU s side by side on the loaded machine,
#: benchmarks/results/compile_time.json; a first run with --threads N > 1 adds about 22 CPU s for the
#: threaded engine); said as "one to two minutes" since machines and their load differ
FIRST_COMPILE_HINT = "one to two minutes"


def compile_notice(threads: int = 1) -> str | None:
    """The one-line notice a command prints before its first simulation when the core is not compiled
    yet (None when it is); ``threads``: the run's ``--threads``."""
    if is_compiled(threads):
        return None
    return (f"gpusim: compiling the simulator core with Numba (first run only, {FIRST_COMPILE_HINT}); "
            f"cached in {cache_dir()} ('gpusim warmup' does this ahead of time)")

"""The Numba core.  Importing this package points Numba's on-disk cache at a folder keyed by a hash
of the core's sources: Numba re-validates a cached function against its own file only, so a
change in a module it calls (e.g. ``memsys.py`` called from ``sm.py``) would otherwise reuse stale
machine code.  Set ``NUMBA_CACHE_DIR`` to override the location."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

if "NUMBA_CACHE_DIR" not in os.environ:
    import numba

    _sources = sorted(Path(__file__).parent.glob("*.py"))
    _digest = hashlib.blake2b(b"".join(p.read_bytes() for p in _sources), digest_size=8).hexdigest()
    numba.config.CACHE_DIR = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gpusim" /
                                 "numba" / _digest)

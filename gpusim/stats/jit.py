"""Time a run spends in Numba rather than simulating: compiling the core (first run) or loading its
machine code from the on-disk cache (every later run).  A run's speed ("simulated in", warp-inst/s)
leaves this time out and reports it beside, so a first run's ~1 minute of compilation never reads as
a slow simulator (issue #18).

Numba holds its global compiler lock while it compiles a function or loads one from its cache and
announces each acquisition as a ``numba:compiler_lock`` event (``numba.core.event``); the lock is
re-entrant and nested functions compile inside the outer one, so only the outermost acquisition of a
nest counts here."""

from __future__ import annotations

import threading
import time

from numba.core import event as _ev


class JitTimer(_ev.Listener):
    """Seconds of the outermost ``numba:compiler_lock`` holds of this thread while the timer is
    installed (``with JitTimer() as t: ...; t.seconds``)."""

    def __init__(self):
        self.seconds = 0.0
        self._depth = 0
        self._t0 = 0.0
        self._thread = threading.get_ident()

    def on_start(self, event):
        if threading.get_ident() != self._thread:
            return
        if self._depth == 0:
            self._t0 = time.perf_counter()
        self._depth += 1

    def on_end(self, event):
        if threading.get_ident() != self._thread or self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._t0

    def __enter__(self):
        self._cm = _ev.install_listener("numba:compiler_lock", self)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)

"""Keep ``scipy.linalg`` out of a run's start-up: installed by ``gpusim/__init__.py``, before anything
imports Numba's NumPy implementations.

Numba imports those implementations on the first jitted call of a process, a cached one included, and
``numba.np.arraymath`` then probes for BLAS by importing ``scipy.linalg`` (``_HAVE_BLAS``): 0.1-0.2 s
of every warm ``gpusim run`` on the 2-core development machine (``python -X importtime``), for linear
algebra the simulator never does.  (It lives outside ``gpusim/core`` on purpose: the Numba cache folder
is keyed by a hash of ``gpusim/core/*.py``.)"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys

__all__ = ["install"]


class _DeferScipyProbe(importlib.abc.MetaPathFinder):
    """Numba loads its NumPy implementations on the first jitted call, cached or not, and
    ``numba.np.arraymath`` then probes for BLAS by importing ``scipy.linalg`` (0.1-0.2 s of every warm
    ``gpusim run``; the core does no linear algebra).  This one-shot import hook lets that module's probe
    (``_check_blas``, which decides ``_HAVE_BLAS``) ask only whether ``scipy.linalg`` is installed, not
    import it: ``_HAVE_BLAS`` comes out as without the hook, and Numba's own linear-algebra functions
    still import scipy (and check its integer width) when a function that uses them is compiled.

    Applies only when ``numba.np.linalg`` is loaded before ``numba.np.arraymath``, as Numba's
    ``CPUContext.load_additional_registries`` does (otherwise, or if Numba's layout differs, nothing
    changes)."""

    _TARGET = "numba.np.arraymath"

    def __init__(self):
        self.done = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self._TARGET or self.done:
            return None
        self.done = True  # one shot (left on sys.meta_path: removing it mid-search would skip a finder)
        linalg = sys.modules.get("numba.np.linalg")
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None or not callable(getattr(linalg, "ensure_blas", None)):
            return spec
        spec.loader = _ProbeLoader(spec.loader, linalg)
        return spec


class _ProbeLoader(importlib.abc.Loader):
    """Runs ``numba.np.arraymath`` with ``numba.np.linalg.ensure_blas`` swapped for an is-installed check
    while the module executes (it binds the name at import and calls it once, in ``_check_blas``)."""

    def __init__(self, loader, linalg):
        self._loader, self._linalg = loader, linalg

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        real = self._linalg.ensure_blas

        def installed() -> None:
            if importlib.util.find_spec("scipy.linalg") is None:
                raise ImportError("scipy 0.16+ is required for linear algebra")

        self._linalg.ensure_blas = installed
        try:
            self._loader.exec_module(module)
        finally:
            self._linalg.ensure_blas = real


def install() -> None:
    """Put the one-shot hook first on ``sys.meta_path`` (no-op once ``numba.np.arraymath`` is loaded or
    the hook is in place)."""
    if "numba.np.arraymath" in sys.modules or any(isinstance(f, _DeferScipyProbe) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _DeferScipyProbe())

"""A warm run's Numba start-up, made shorter: installed by ``gpusim/__init__.py`` before Numba is
imported.  (It lives outside ``gpusim/core`` on purpose: the Numba cache folder is keyed by a hash of
``gpusim/core/*.py``, so a change here recompiles nothing.)

Two import hooks, each acting once, right when Numba loads the module concerned:

* ``numba.core.caching``: loading a function from the on-disk cache first "refreshes" Numba's CPU
  target, i.e. imports and registers all of Numba's Python and NumPy implementations (about 75 modules,
  0.2-0.4 CPU s on the 2-core development machine) -- which only *compiling* needs; Numba's compiler
  refreshes the target itself before it compiles anything (``CompilerBase.__init__``).  For functions of
  ``gpusim`` this hook loads the cached machine code after what such code needs from the process: the
  NRT (Numba's memory allocator, whose symbols the code links against) and the hash secrets of
  ``numba.cpython.hashing`` -- the only run-time symbols Numba registers outside ``BaseContext.__init__``
  besides the threading layer, which a cached ``parallel=True`` function starts itself (its
  ``reload_init``).  Set ``GPUSIM_NUMBA_FULL_REFRESH=1`` to load as Numba does.
* ``numba.np.arraymath`` (when something does compile, or another library's cached function loads):
  its BLAS probe imported ``scipy.linalg`` (0.1-0.2 s) to decide ``_HAVE_BLAS``; here it asks only
  whether ``scipy.linalg`` is installed, so ``_HAVE_BLAS`` comes out the same, and Numba's own
  linear-algebra functions still import scipy (and check its integer width) when a function that uses
  them compiles.

Either hook leaves Numba as it is when its layout differs from what it expects."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

__all__ = ["install", "FULL_REFRESH_ENV"]

#: environment variable: set (to anything but "" or "0") to load cached functions as Numba does
FULL_REFRESH_ENV = "GPUSIM_NUMBA_FULL_REFRESH"


class _Hooks(importlib.abc.MetaPathFinder):
    """Wraps the loader of each target module the first time it is imported (one shot per module; the
    finder stays on ``sys.meta_path``: removing it mid-search would skip the next finder)."""

    def __init__(self):
        self.pending = {"numba.np.arraymath": _defer_scipy_probe, "numba.core.caching": _after_caching}

    def find_spec(self, fullname, path=None, target=None):
        wrap = self.pending.pop(fullname, None)
        if wrap is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _WrappedLoader(spec.loader, wrap)
        return spec


class _WrappedLoader(importlib.abc.Loader):
    """The real loader, with ``wrap(exec_module, module)`` around its ``exec_module``."""

    def __init__(self, loader, wrap):
        self._loader, self._wrap = loader, wrap

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._wrap(self._loader.exec_module, module)


def _defer_scipy_probe(exec_module, module) -> None:
    """Run ``numba.np.arraymath`` with ``numba.np.linalg.ensure_blas`` swapped for an is-installed check
    (the module binds the name at import and calls it once, in ``_check_blas``).  ``numba.np.linalg`` is
    loaded first wherever Numba loads arraymath (``CPUContext.load_additional_registries``)."""
    linalg = sys.modules.get("numba.np.linalg")
    real = getattr(linalg, "ensure_blas", None)
    if not callable(real):
        exec_module(module)
        return

    def installed() -> None:
        if importlib.util.find_spec("scipy.linalg") is None:  # (ModuleNotFoundError without scipy)
            raise ImportError("scipy 0.16+ is required for linear algebra")

    linalg.ensure_blas = installed
    try:
        exec_module(module)
    finally:
        linalg.ensure_blas = real


def _after_caching(exec_module, module) -> None:
    exec_module(module)
    _patch_cache(module)


def _patch_cache(caching) -> None:
    """Replace ``Cache.load_overload`` by one that, for a function of gpusim, skips the target refresh
    (see the module docstring); other functions load as before."""
    cls = getattr(caching, "Cache", None)
    real = getattr(cls, "load_overload", None)
    if real is None or getattr(real, "_gpusim", False) or not hasattr(cls, "_load_overload"):
        return

    def load_overload(self, sig, target_context):
        fn = getattr(self, "_py_func", None)
        if not str(getattr(fn, "__module__", "")).startswith("gpusim.") or os.environ.get(FULL_REFRESH_ENV, "0") not in ("", "0"):
            return real(self, sig, target_context)
        from numba.core.runtime import nrt

        import numba.cpython.hashing  # noqa: F401 - registers the _numba_hashsecret_* symbols

        nrt.rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    load_overload._gpusim = True
    cls.load_overload = load_overload


def install() -> None:
    """Put the hooks first on ``sys.meta_path`` (once); a module Numba has already loaded is patched
    now (the scipy probe then has run already)."""
    if any(isinstance(f, _Hooks) for f in sys.meta_path):
        return
    hooks = _Hooks()
    for name in list(hooks.pending):
        if name in sys.modules:
            del hooks.pending[name]
            if name == "numba.core.caching":
                _patch_cache(sys.modules[name])
    sys.meta_path.insert(0, hooks)

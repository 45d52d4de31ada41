"""gpusim: a cycle-level GPU microarchitecture simulator driven by real SASS traces."""

__version__ = "0.1.0"

from gpusim import _numba_probe

_numba_probe.install()  # scipy.linalg stays unimported by Numba's start-up (see the module)

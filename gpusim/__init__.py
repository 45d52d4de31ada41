"""gpusim: a cycle-level GPU microarchitecture simulator driven by real SASS traces."""

__version__ = "0.1.0"

from gpusim import _numba_start

_numba_start.install()  # a warm run loads its cached machine code without Numba's full start-up (see the module)

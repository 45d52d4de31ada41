"""gpusim: a cycle-level GPU microarchitecture simulator driven by real SASS traces."""

__version__ = "0.1.0"

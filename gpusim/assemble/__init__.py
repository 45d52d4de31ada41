"""The one package that knows both sides: packs a GPUConfig, a KernelTrace and (optionally) the SASS
listing of the kernel into the integer arrays of the Numba SM model (``gpusim.core.sm``), and runs it.

Modules (dataclasses and strings in, typed numpy arrays out):

- :mod:`.residency`: occupancy (CTAs per SM, the limiter named for the report), epoch length, cluster size;
- :mod:`.static`: the per-static-instruction table (ISA semantics from :mod:`gpusim.isa`, control bits
  joined by PC);
- :mod:`.dynamic`: the per-dynamic-instruction arrays (coalesced accesses, spaces, barrier operands);
- :mod:`.memory`: ``MemSystem``, the cache and DRAM state of one GPU across kernels;
- :mod:`.params`: ``pack`` (the core's parameter vector and state: ``SmRun``);
- :mod:`.window`: the trace window a streamed run keeps resident;
- :mod:`.runner`: ``run``, ``run_streamed`` and the loop that acts on the core's ``RunStatus``.

Everything callers use is re-exported here (``from gpusim import assemble; assemble.run(...)``).
``CHUNK_CYCLES`` is read from this package at run time, so ``assemble.CHUNK_CYCLES = n`` sets it.
"""

from gpusim.assemble.dynamic import DSM_RANK_SHIFT, access_lines, barrier_operands, dynamic_arrays
from gpusim.assemble.memory import MemSystem
from gpusim.assemble.params import SmRun, core_params, pack
from gpusim.assemble.residency import MAX_EPOCH_CYCLES, Occupancy, cluster_size, epoch_cycles, occupancy
from gpusim.assemble.runner import (CHUNK_CYCLES, MAX_CYCLES, STREAM_CHUNK_WAVES, STREAM_LOOKAHEAD_WAVES, _drive,  # noqa: F401
                                    run, run_streamed)
from gpusim.assemble.static import static_table
from gpusim.assemble.window import _Window  # noqa: F401  (tests and docs name it)
from gpusim.core.engine import RunStatus
from gpusim.isa import FIXED_LATENCY_READ_OFFSET, TMA_LOADS, WARPGROUP_MMA, wgmma_a_from_registers, wgmma_shared_bytes

__all__ = ["CHUNK_CYCLES", "DSM_RANK_SHIFT", "access_lines", "barrier_operands", "FIXED_LATENCY_READ_OFFSET", "MAX_CYCLES", "MAX_EPOCH_CYCLES", "MemSystem",
           "Occupancy", "RunStatus", "STREAM_CHUNK_WAVES", "STREAM_LOOKAHEAD_WAVES", "SmRun", "TMA_LOADS",
           "WARPGROUP_MMA", "cluster_size", "core_params", "dynamic_arrays", "epoch_cycles", "occupancy", "pack",
           "run", "run_streamed", "static_table", "wgmma_a_from_registers", "wgmma_shared_bytes"]

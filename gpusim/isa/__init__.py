"""SASS semantics for the core: what each opcode means in flags, latencies and operand rules.

The opcode tables themselves are data (``isa/<family>.yaml`` at the repository root, loaded and
compiled into lookup arrays by :mod:`gpusim.frontend.opcodes`); this package holds the rules that the
data cannot express: :mod:`.semantics` (per-opcode flags, latency and interval: memory flags, SYNCS
mbarrier roles, the tensor-pipe formula, MEMBAR / ERRBAR / WARPSYNC costs) and :mod:`.operands`
(rules that read a listing's operands: named barriers, wgmma group ends, wgmma operand sources and
shared-memory bytes).  It sits between the
front end and :mod:`gpusim.assemble`, which writes the results into the core's arrays.
"""

from gpusim.isa.operands import mark_wgmma_group_ends, named_barrier, wgmma_a_from_registers, wgmma_shared_bytes
from gpusim.isa.semantics import (FIXED_LATENCY_READ_OFFSET, OPCODE_FLAGS, RFC_UNITS, TMA_LOADS, WARPGROUP_MMA, Timing,
                                  control_timing, instruction_timing, memory_timing, syncs_flags, tensor_timing)

__all__ = ["FIXED_LATENCY_READ_OFFSET", "OPCODE_FLAGS", "RFC_UNITS", "TMA_LOADS", "WARPGROUP_MMA", "Timing",
           "control_timing", "instruction_timing", "mark_wgmma_group_ends", "memory_timing", "named_barrier",
           "syncs_flags", "tensor_timing", "wgmma_a_from_registers", "wgmma_shared_bytes"]

"""Names, units and descriptions of the core's counter slots: the single source of counter names.

The core (``gpusim.core.sm``) only increments ``int64`` slots; everything a person reads is
named here.  Stall reasons use Nsight Compute's warp-state vocabulary
(``smsp__pcsamp_warps_issue_stalled_<reason>``) where the model has the same meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpusim.core import sm as core
from gpusim.core.layout import Unit


@dataclass(frozen=True)
class CounterInfo:
    slot: int
    name: str
    unit: str
    description: str


#: stall reasons in the order of core.R_*, with their meaning in this model
REASONS: tuple[tuple[str, str], ...] = (
    ("selected", "the warp issued an instruction"),
    ("not_selected", "eligible, but the sub-core issued another warp"),
    ("wait", "stall counter of the previous instruction (fixed-latency dependence, MGC §1.2)"),
    ("long_scoreboard", "wait mask / DEPBAR on an SB counter held by a global/local memory access, or a scoreboard "
                        "wait on such a load"),
    ("short_scoreboard", "wait on an SB counter held by shared memory, SFU or other MIO work"),
    ("math_pipe_throttle", "the fixed-latency unit's input latch is busy (initiation interval)"),
    ("lg_throttle", "the sub-core memory queue is full with global/local instructions"),
    ("mio_throttle", "the sub-core memory queue is full (shared memory and other MIO instructions)"),
    ("barrier", "waiting at BAR.SYNC for the other warps of the CTA"),
    ("no_instruction", "the instruction buffer holds no decoded instruction"),
    ("dispatch_stall", "eligible, but Control/Allocate is backed up or the issue port is busy after IMAD"),
)
assert len(REASONS) == core.N_REASONS

CATALOG: tuple[CounterInfo, ...] = (
    CounterInfo(core.C_CYCLES, "cycles", "cycle", "SM-clock cycles from the first CTA issue to the last write-back"),
    CounterInfo(core.C_WARP_INSTS, "warp_instructions", "inst", "warp instructions issued (all-zero masks included, as Accel-Sim counts)"),
    CounterInfo(core.C_THREAD_INSTS, "thread_instructions", "inst", "sum of active lanes over issued warp instructions"),
    CounterInfo(core.C_CTAS, "ctas_launched", "cta", "CTAs dispatched to SMs"),
    CounterInfo(core.C_WARPS, "warps_launched", "warp", "warps with at least one instruction dispatched"),
    CounterInfo(core.C_ACTIVE_WARP_CYCLES, "active_warp_cycles", "warp*cycle", "resident warps summed over cycles"),
    CounterInfo(core.C_ISSUE_SLOTS, "issue_slots", "slot", "sub-core issue slots (SMs x sub-cores x cycles)"),
    CounterInfo(core.C_SKIPPED, "skipped_cycles", "cycle", "cycles jumped over by idle skipping (counted as if simulated)"),
    CounterInfo(core.C_RFC_HITS, "rf_cache_hits", "read", "source-operand reads served by the register-file cache"),
    CounterInfo(core.C_RFC_MISSES, "rf_reads", "read", "source-operand reads from register-file banks"),
    CounterInfo(core.C_ALLOC_STALL, "allocate_stall_cycles", "cycle", "cycles instructions waited in Allocate for bank read ports"),
    CounterInfo(core.C_STEERED, "fp32_on_int_pipe", "inst", "FP32 instructions issued to the INT pipe's free latch"),
    CounterInfo(core.C_GLOBAL_SECTORS, "global_sectors", "sector", "32-byte sectors requested by global/local memory instructions"),
    CounterInfo(core.C_DRAM_BYTES, "dram_bytes", "byte", "bytes moved through the DRAM bandwidth limit"),
    CounterInfo(core.C_MEM_INSTS, "memory_instructions", "inst", "warp instructions through the sub-core memory unit"),
    CounterInfo(core.C_SHARED_INSTS, "shared_instructions", "inst", "shared-memory warp instructions"),
) + tuple(
    CounterInfo(core.C_REASON_BASE + k, f"stall_{name}", "warp*cycle", desc) for k, (name, desc) in enumerate(REASONS)
) + tuple(
    CounterInfo(core.C_UNIT_BASE + u, f"issued_{u.name.lower()}", "inst", f"warp instructions issued to the {u.name} unit class")
    for u in Unit
)

assert len({c.slot for c in CATALOG}) == len(CATALOG) == core.C_SIZE


def name_counters(values) -> dict[str, int]:
    """Counter vector → {name: value}."""
    return {c.name: int(values[c.slot]) for c in CATALOG}

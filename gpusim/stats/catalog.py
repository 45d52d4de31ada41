"""Names, units and descriptions of the core's counter slots: the single source of counter names.

The core (``gpusim.core``) only increments ``int64`` slots indexed by
``gpusim.core.layout.Counter``; everything a person reads is named here.  Stall names follow
Nsight Compute's warp-state vocabulary (``smsp__pcsamp_warps_issue_stalled_*``) where the
model has the same meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpusim.core.layout import Counter, Unit


@dataclass(frozen=True)
class CounterInfo:
    slot: int
    name: str
    unit: str
    description: str


CATALOG: tuple[CounterInfo, ...] = (
    CounterInfo(Counter.CYCLES, "cycles", "cycle", "SM-clock cycles from the first CTA issue to the last warp exit"),
    CounterInfo(Counter.WARP_INSTS, "warp_instructions", "inst", "warp instructions issued (all-zero masks included, as Accel-Sim counts)"),
    CounterInfo(Counter.THREAD_INSTS, "thread_instructions", "inst", "sum of active lanes over issued warp instructions"),
    CounterInfo(Counter.CTAS_LAUNCHED, "ctas_launched", "cta", "CTAs dispatched to SMs"),
    CounterInfo(Counter.WARPS_LAUNCHED, "warps_launched", "warp", "warps with at least one instruction dispatched"),
    CounterInfo(Counter.ACTIVE_WARP_CYCLES, "active_warp_cycles", "warp*cycle", "resident warps summed over cycles"),
    CounterInfo(Counter.ISSUE_SLOTS, "issue_slots", "slot", "sub-core issue slots (SMs x sub-cores x cycles)"),
    CounterInfo(Counter.STALL_DEPENDENCY, "stall_scoreboard", "warp*cycle", "next instruction waits for a source/destination register (register scoreboard)"),
    CounterInfo(Counter.STALL_PIPE_BUSY, "stall_math_pipe_throttle", "warp*cycle", "next instruction's unit is inside its initiation interval"),
    CounterInfo(Counter.STALL_BARRIER, "stall_barrier", "warp*cycle", "waiting at BAR.SYNC for the other warps of the CTA"),
    CounterInfo(Counter.STALL_NOT_SELECTED, "stall_not_selected", "warp*cycle", "eligible, but the sub-core issued another warp"),
    CounterInfo(Counter.SELECTED, "selected", "warp*cycle", "issued an instruction"),
    CounterInfo(Counter.GLOBAL_SECTORS, "global_sectors", "sector", "32-byte sectors requested by global/local memory instructions"),
    CounterInfo(Counter.SHARED_ACCESSES, "shared_instructions", "inst", "shared-memory warp instructions"),
    CounterInfo(Counter.DRAM_BYTES, "dram_bytes", "byte", "bytes moved through the DRAM bandwidth limit"),
    CounterInfo(Counter.SKIPPED_CYCLES, "skipped_cycles", "cycle", "cycles jumped over by idle skipping (counters are accounted as if simulated)"),
) + tuple(
    CounterInfo(Counter.UNIT_BASE + u, f"issued_{u.name.lower()}", "inst", f"warp instructions issued to the {u.name} unit class")
    for u in Unit
)

assert len({c.slot for c in CATALOG}) == len(CATALOG) == Counter.SIZE

STALL_NAMES = ("stall_scoreboard", "stall_math_pipe_throttle", "stall_barrier", "stall_not_selected", "selected")


def name_counters(values) -> dict[str, int]:
    """Counter vector → {name: value}."""
    return {c.name: int(values[c.slot]) for c in CATALOG}

"""Names, units and descriptions of the core's counter slots: the single source of counter names.

The core (``gpusim.core.sm``) only increments ``int64`` slots; everything a person reads is
named here.  Stall reasons use Nsight Compute's warp-state vocabulary
(``smsp__pcsamp_warps_issue_stalled_<reason>``) where the model has the same meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpusim.core import memsys as msys
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
    CounterInfo(core.C_LDGSTS, "ldgsts_instructions", "inst", "LDGSTS (cp.async global-to-shared) warp instructions"),
    CounterInfo(core.C_MEM_BASE + msys.K_L1_LD_SECTORS, "l1_load_sectors", "sector", "sectors requested from the L1 by loads (l1tex__t_sectors_pipe_lsu_mem_global_op_ld)"),
    CounterInfo(core.C_MEM_BASE + msys.K_L1_LD_HITS, "l1_load_sector_hits", "sector", "load sectors found in the L1 (present or in flight)"),
    CounterInfo(core.C_MEM_BASE + msys.K_L1_ST_SECTORS, "l1_store_sectors", "sector", "sectors written by stores (write-through to L2)"),
    CounterInfo(core.C_MEM_BASE + msys.K_L1_MERGED, "l1_inflight_hits", "sector", "load sectors that merged with a fill still in flight (MSHR hits)"),
    CounterInfo(core.C_MEM_BASE + msys.K_L2_RD_SECTORS, "l2_read_sectors", "sector", "sectors read at the L2 (lts__t_sectors_op_read)"),
    CounterInfo(core.C_MEM_BASE + msys.K_L2_RD_HITS, "l2_read_sector_hits", "sector", "L2 read sectors present or in flight"),
    CounterInfo(core.C_MEM_BASE + msys.K_L2_WR_SECTORS, "l2_write_sectors", "sector", "sectors written at the L2 (lts__t_sectors_op_write)"),
    CounterInfo(core.C_MEM_BASE + msys.K_DRAM_RD_BYTES, "dram_bytes_read", "byte", "bytes read from DRAM (dram__bytes_read)"),
    CounterInfo(core.C_MEM_BASE + msys.K_DRAM_WR_BYTES, "dram_bytes_written", "byte", "bytes written to DRAM by L2 evictions (dram__bytes_write)"),
    CounterInfo(core.C_MEM_BASE + msys.K_L2_ATOM_SECTORS, "l2_atomic_sectors", "sector", "sectors of atomics and reductions executed at the L2"),
    CounterInfo(core.C_MEM_BASE + msys.K_MSHR_STALL, "l1_mshr_stall_cycles", "cycle", "cycles L1 misses waited for a free MSHR"),
    CounterInfo(core.C_SHARED_REPLAYS, "shared_bank_conflicts", "wavefront", "shared-memory wavefronts beyond those the access width needs (bank-conflict replays)"),
    CounterInfo(core.C_SHARED_WAVEFRONTS, "shared_wavefronts", "wavefront", "shared-memory wavefronts, bank-conflict replays included (l1tex__data_pipe_lsu_wavefronts_mem_shared)"),
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

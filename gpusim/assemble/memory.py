"""The cache and DRAM state of one GPU for a whole run (``MemSystem``): sizes and timings from the
config packed into the integer parameters of :mod:`gpusim.core.memsys`, and the arrays it updates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gpusim.config.specs import GPUConfig, ReplacementPolicy, WriteQueueUnit
from gpusim.core import memsys as msys
from gpusim.errors import GpusimError

if TYPE_CHECKING:
    from gpusim.assemble.residency import Occupancy

#: keep the hbm model's per pseudo-channel data-bus statistics (``MemSystem.hbm_stats``; diagnostics such as
#: benchmarks/hbm_stream_breakdown.py set it; off, the model keeps none and runs as before)
KEEP_HBM_STATS = False


class MemSystem:
    """Cache and DRAM state of one GPU for a whole run: the L2 keeps its lines across kernels."""

    def __init__(self, cfg: GPUConfig):
        mem = cfg.memory
        line = mem.line_size_bytes
        if line // mem.sector_size_bytes != 4:
            raise GpusimError("memory.sector_size: the cache model needs 4 sectors per line "
                              f"(line {line} B, sector {mem.sector_size_bytes} B)")
        self.l1_ways = min(mem.l1_ways, max(1, mem.l1_size_bytes // line))
        self.l1_sets = max(1, mem.l1_size_bytes // (line * self.l1_ways))
        self.l2_sets = mem.l2_size_bytes // (mem.l2_slices * mem.l2_ways * line)
        if self.l2_sets < 1:
            raise GpusimError(f"memory.l2_size: {mem.l2_size_bytes} B cannot hold {mem.l2_slices} slices x "
                              f"{mem.l2_ways} ways x {line} B lines")
        n_sm = cfg.sm.count
        i64 = np.int64
        self.l1_tag = np.full((n_sm * self.l1_sets, self.l1_ways), -1, i64)
        self.l1_rdy = np.full((n_sm * self.l1_sets, self.l1_ways, 4), -1, i64)
        self.l1_lru = np.zeros((n_sm * self.l1_sets, self.l1_ways), i64)
        rows = mem.l2_slices * self.l2_sets
        self.l2_tag = np.full((rows, mem.l2_ways), -1, i64)
        self.l2_rdy = np.full((rows, mem.l2_ways, 4), -1, i64)
        self.l2_dirty = np.zeros((rows, mem.l2_ways), i64)
        self.l2_lru = np.zeros((rows, mem.l2_ways), i64)
        words = mem.dram_channels * (2 + 2 * mem.dram_banks)
        hbm = mem.dram_model == "hbm"
        if hbm:
            if mem.dram_banks % mem.dram_bank_groups:
                raise GpusimError(f"memory.dram_banks: {mem.dram_banks} banks do not split into "
                                  f"memory.dram_bank_groups = {mem.dram_bank_groups} equal groups")
            if not mem.dram_write_low_percent < mem.dram_write_high_percent <= 100:
                raise GpusimError(f"memory.dram_write_low_percent ({mem.dram_write_low_percent}) must be below "
                                  f"memory.dram_write_high_percent ({mem.dram_write_high_percent}) <= 100")
            pc_words = msys.hbm_state_words(mem.dram_banks, mem.dram_bank_groups, mem.dram_write_queue_entries)
            words = mem.dram_channels * (1 + pc_words)
        stats_at = msys.MS_BASE + mem.l2_slices + words if hbm and KEEP_HBM_STATS else 0
        self.ms = np.zeros(msys.MS_BASE + mem.l2_slices + words + (mem.dram_channels * msys.S_SIZE if stats_at else 0),
                           i64)
        #: hbm model with KEEP_HBM_STATS: per pseudo-channel data-bus statistics (msys.S_*) summed over the kernels
        self.hbm_stats = np.zeros((mem.dram_channels, msys.S_SIZE), i64) if stats_at else None
        P = mem.read_delay_cycles + mem.address_cycles_regular + 1
        mp = np.zeros(msys.M_SIZE, i64)
        mp[msys.M_L1_SETS] = self.l1_sets
        mp[msys.M_L1_WAYS] = self.l1_ways
        mp[msys.M_L2_SETS] = self.l2_sets
        mp[msys.M_L2_WAYS] = mem.l2_ways
        mp[msys.M_SLICES] = mem.l2_slices
        mp[msys.M_CHANNELS] = mem.dram_channels
        mp[msys.M_A1] = mem.l1_hit_latency_cycles - P
        mp[msys.M_A2] = mem.l2_hit_latency_cycles - P
        mp[msys.M_A3] = mem.dram_latency_cycles - P
        mp[msys.M_H] = (mp[msys.M_A2] - mp[msys.M_A1]) // 2
        sector = mem.sector_size_bytes
        mp[msys.M_SLICE_MILLI_PER_SECTOR] = max(1, round(sector * 1000 / mem.l2_slice_bytes_per_cycle))
        chan_bytes_per_cycle = mem.dram_bandwidth_bytes_per_s / cfg.sm.clock_hz / mem.dram_channels
        mp[msys.M_CHAN_MILLI_PER_SECTOR] = max(1, round(sector * 1000 / chan_bytes_per_cycle))
        mp[msys.M_SECTOR] = sector
        mp[msys.M_HASH] = 0 if mem.l2_slice_hash == "xor" else 1
        mp[msys.M_DRAM_MODEL] = {"simple": 0, "banked": 1, "hbm": 2}[str(mem.dram_model)]
        mp[msys.M_BANKS] = mem.dram_banks
        mp[msys.M_ROW_LINES] = max(1, mem.dram_row_bytes // line)

        def milli(dram_cycles: int) -> int:  # DRAM command cycles -> milli-cycles of the SM clock
            return round(dram_cycles * 1000 * cfg.sm.clock_hz / mem.dram_command_clock_hz)

        mp[msys.M_TRCD] = milli(mem.dram_trcd)
        mp[msys.M_TRP] = milli(mem.dram_trp)
        mp[msys.M_TRC] = milli(mem.dram_trc)
        mp[msys.M_TWTR] = milli(mem.dram_twtr)
        if hbm:
            def ps(v: int) -> int:  # picoseconds -> milli-cycles of the SM clock
                return round(v * cfg.sm.clock_hz / 10**9)

            mp[msys.M_TRCD] = ps(mem.hbm_trcd_ps)
            mp[msys.M_TRP] = ps(mem.hbm_trp_ps)
            for slot, v in ((msys.M_TRAS, mem.hbm_tras_ps), (msys.M_TRTP, mem.hbm_trtp_ps),
                            (msys.M_TCL, mem.hbm_tcl_ps), (msys.M_TRRD_S, mem.hbm_trrd_s_ps),
                            (msys.M_TRRD_L, mem.hbm_trrd_l_ps), (msys.M_TFAW, mem.hbm_tfaw_ps),
                            (msys.M_TCCD_L, mem.hbm_tccd_l_ps), (msys.M_TWTR_S, mem.hbm_twtr_s_ps),
                            (msys.M_TWTR_L, mem.hbm_twtr_l_ps), (msys.M_TRTW, mem.hbm_trtw_ps),
                            (msys.M_TREFI, mem.hbm_trefi_ps), (msys.M_TRFC, mem.hbm_trfc_ps)):
                mp[slot] = ps(v)
            mp[msys.M_BANK_GROUPS] = mem.dram_bank_groups
            mp[msys.M_REF_PER_BANK] = int(mem.hbm_refresh_per_bank)
            mp[msys.M_WQ_SIZE] = mem.dram_write_queue_entries
            mp[msys.M_WQ_REQ] = int(mem.dram_write_queue_unit == WriteQueueUnit.REQUEST)
            mp[msys.M_STATS] = stats_at
            mp[msys.M_WQ_HIGH] = max(1, mem.dram_write_queue_entries * mem.dram_write_high_percent // 100)
            mp[msys.M_WQ_LOW] = mem.dram_write_queue_entries * mem.dram_write_low_percent // 100
            mp[msys.M_CAP] = mem.dram_frfcfs_cap
            mp[msys.M_PC_BLOCK] = pc_words
            msys.reset_refresh_phase(mp, self.ms)
        mp[msys.M_MSHR] = mem.l1_mshr_entries
        mp[msys.M_WRITE_ALLOC] = int(mem.l1_write_allocate)
        mp[msys.M_L1_REPL] = list(ReplacementPolicy).index(mem.l1_replacement)
        mp[msys.M_L2_REPL] = list(ReplacementPolicy).index(mem.l2_replacement)
        self.mshr = np.zeros(n_sm * (mem.l1_mshr_entries + 1), i64)
        if mp[msys.M_A1] < 1:
            raise GpusimError(f"memory.l1_hit_latency: {mem.l1_hit_latency_cycles} is shorter than the core's fixed "
                              f"load path ({P} cycles)")
        self.mp = mp
        self.line = line

    def for_kernel(self, occ: "Occupancy", cfg: GPUConfig) -> np.ndarray:
        """Parameters for one kernel: the L1 loses the ways that the resident CTAs' shared memory takes."""
        mp = self.mp.copy()
        carve = occ.ctas_per_sm * occ.shared_bytes_per_cta
        usable = cfg.memory.l1_size_bytes - carve
        mp[msys.M_L1_WAYS] = max(0, min(self.l1_ways, usable // (self.line * self.l1_sets)))
        return mp

    def preload_l1(self, sm: int, lines) -> None:
        """Install whole lines (line addresses = byte address // line size) in the L1 of one SM, as if
        an earlier access of the same kernel had brought them in (for tests of hit timing)."""
        for line in lines:
            row = sm * self.l1_sets + int(line) % self.l1_sets
            way = int(np.argmin(self.l1_lru[row]))
            self.l1_tag[row, way] = int(line)
            self.l1_rdy[row, way, :] = 0
            self.l1_lru[row, way] = 1 << 40

    def write_back_dirty(self) -> dict:
        """Write every dirty L2 sector back to DRAM (the lines stay valid and clean) and return what was
        written: ``{"sectors": n, "dram_bytes_written": bytes}``.  Takes no simulated time: it models the
        data that leaves the L2 after the run's last kernel."""
        d = self.l2_dirty[self.l2_tag >= 0]
        sectors = int(sum(int(np.count_nonzero(d & (1 << q))) for q in range(4)))
        self.l2_dirty[:] = 0
        return {"sectors": sectors, "dram_bytes_written": sectors * int(self.mp[msys.M_SECTOR])}

    def settle(self) -> None:
        if self.hbm_stats is not None:
            self.hbm_stats += self.ms[int(self.mp[msys.M_STATS]):].reshape(self.hbm_stats.shape)
        msys.settle(self.ms, self.l1_tag, self.l1_rdy, self.l2_rdy)
        msys.reset_refresh_phase(self.mp, self.ms)
        self.mshr[:] = 0


"""``pack``: a GPUConfig and a KernelTrace (and optionally the kernel's SASS listing) into the core's
parameter vector (``core.P_*``), static table, dynamic arrays and zeroed state (``SmRun``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpusim.assemble.dynamic import _cga_distance, dynamic_arrays
from gpusim.assemble.memory import MemSystem
from gpusim.assemble.residency import Occupancy, cluster_size, epoch_cycles, occupancy
from gpusim.assemble.static import static_table
from gpusim.config.specs import GPUConfig
from gpusim.core import sm as core
from gpusim.core.state import CoreState, new_state
from gpusim.errors import GpusimError
from gpusim.frontend.reader import KernelTrace
from gpusim.isa import FIXED_LATENCY_READ_OFFSET


@dataclass
class SmRun:
    """Everything one kernel needs in the core: parameters, static table and the state arrays."""

    params: np.ndarray
    st: np.ndarray
    g: np.ndarray
    state: CoreState
    counters: np.ndarray
    pc_stats: np.ndarray
    issue_log: np.ndarray
    sb_log: np.ndarray
    units: np.ndarray     #: per dynamic instruction: sectors (global/local/texture) or wavefronts (shared)
    occupancy: Occupancy
    control_bits: bool
    extra: dict = field(default_factory=dict)


def pack(cfg: GPUConfig, kt: KernelTrace, listing_fn=None, *, idle_skip: bool = True, log: bool = False,
         log_cycles: int = 4096, memsys: MemSystem | None = None, epoch: int | None = None) -> SmRun:
    """Build the core's parameters, static table and zeroed state for one kernel.

    ``epoch`` overrides the core's epoch length (default ``epoch_cycles(cfg)``; 1 refills CTA slots
    the cycle after they finish, as a fully serial model would)."""
    occ = occupancy(cfg, kt)
    st, ctrl = static_table(cfg, kt, listing_fn)
    p = core_params(cfg, kt, occ, ctrl, idle_skip=idle_skip, log=log, epoch=epoch)
    # the shared-memory bandwidth ledger (gpusim.core.lsu): on for kernels whose warpgroup MMAs read shared memory
    p[core.P_GMMA_SMEM] = int(bool(np.any(st[:, core.S_GMMA_SMEM] > 0)))
    e = int(p[core.P_EPOCH])
    cluster = int(p[core.P_CLUSTER])
    if cfg.regfile.banks > 2:
        raise GpusimError("regfile.banks: the core models 1 or 2 banks per sub-core (MGC §4.1)")
    n_sm, n_sub = cfg.sm.count, cfg.sm.subcores
    i64 = np.int64
    counters = np.zeros(core.C_SIZE, i64)
    pc_stats = np.zeros((st.shape[0], core.N_REASONS + 2), i64)
    issue_log = np.full(kt.inst_static.size if log else 1, -1, i64)
    sb_log = np.zeros((log_cycles if log else 1, core.NSB), i64)
    units, (acc_ptr, acc_line, acc_mask), space = dynamic_arrays(cfg, kt, st, cluster)
    if memsys is None:
        memsys = MemSystem(cfg)
    uses_cga = bool(np.any(st[:, core.S_FLAGS] & (core.F_CGA_ARRIVE | core.F_CGA_WAIT)))
    n_cl = -(-kt.num_ctas // cluster) if (cluster > 1 or uses_cga) else 0
    state = new_state(n_sm, n_sub, occ.ctas_per_sm, occ.warps_per_cta, ctrl, e, int(p[core.P_L0_SETS]),
                      int(p[core.P_L0_WAYS]), int(p[core.P_L1I_SETS]), int(p[core.P_L1I_WAYS]), n_cl,
                      int(p[core.P_CONST_SETS]), int(p[core.P_CONST_WAYS]), smem_ledger=bool(p[core.P_GMMA_SMEM]))
    run = SmRun(p, st, state.sms.g, state, counters, pc_stats, issue_log, sb_log, units, occ, ctrl)
    # clusters couple SMs (cluster launch, cluster barrier): the SMs advance in lockstep epochs that end
    # right after a warp may arrive at the cluster barrier or retire (core._lockstep_epoch)
    p[core.P_LOCKSTEP] = 1 if n_cl > 0 else 0
    cga_dist = _cga_distance(st, kt) if n_cl > 0 else np.zeros(1, np.int32)
    run.extra = {"memsys": memsys, "mp": memsys.for_kernel(occ, cfg), "acc": (acc_ptr, acc_line, acc_mask),
                 "space": space, "cga_dist": cga_dist}
    return run


def core_params(cfg: GPUConfig, kt: KernelTrace, occ: Occupancy, ctrl: bool, *, idle_skip: bool = True,
                log: bool = False, epoch: int | None = None) -> np.ndarray:
    """The core's parameter vector (``core.P_*``) for one kernel, with the epoch and cluster checks."""
    mem = cfg.memory
    p = np.zeros(core.P_SIZE, np.int64)
    p[core.P_NUM_SM] = cfg.sm.count
    p[core.P_SUBCORES] = cfg.sm.subcores
    p[core.P_CTAS_PER_SM] = occ.ctas_per_sm
    p[core.P_WARPS_PER_CTA] = occ.warps_per_cta
    p[core.P_POLICY] = int(cfg.subcore.issue_policy)
    p[core.P_IDLE_SKIP] = int(idle_skip)
    p[core.P_CTRL] = int(ctrl)
    p[core.P_STEER] = int(cfg.subcore.fp32_on_int_pipe)
    p[core.P_IMAD_BUSY] = cfg.subcore.imad_issue_port_busy_cycles
    p[core.P_STALL0_YIELD] = cfg.subcore.stall0_yield_cycles
    p[core.P_STALL_GT11_NOY] = cfg.subcore.stall_above_11_no_yield_cycles
    sub = cfg.subcore
    p[core.P_CONST_WAYS] = sub.const_l0_ways
    p[core.P_CONST_SETS] = sub.const_l0_size_bytes // (sub.const_l0_line_bytes * sub.const_l0_ways)
    p[core.P_CONST_MISS] = sub.const_l0_miss_latency_cycles
    p[core.P_CONST_SWITCH] = sub.const_miss_switch_cycles
    p[core.P_BANKS] = cfg.regfile.banks
    p[core.P_PORTS] = cfg.regfile.read_ports_per_bank
    p[core.P_RFC] = int(cfg.regfile.rf_cache)
    p[core.P_WINDOW] = cfg.regfile.read_window_cycles
    p[core.P_READ_DELAY] = mem.read_delay_cycles
    p[core.P_ADDR_REG] = mem.address_cycles_regular
    p[core.P_ADDR_UNI] = mem.address_cycles_uniform
    p[core.P_MQ_CAP] = mem.subcore_queue_entries + 1
    p[core.P_SM_INTERVAL] = mem.sm_dispatch_interval_cycles
    p[core.P_FIXED_OFFSET] = FIXED_LATENCY_READ_OFFSET
    p[core.P_ST_REG_EXTRA] = mem.store_regular_address_extra_cycles
    p[core.P_LD_REG_EXTRA] = mem.load_regular_address_extra_cycles
    p[core.P_LOG] = int(log)
    p[core.P_CTA_LAUNCH] = cfg.launch.cta_launch_latency_cycles
    p[core.P_LDGSTS_EXTRA] = mem.ldgsts_latency_cycles - mem.l1_hit_latency_cycles
    p[core.P_L1_BPC] = mem.l1_bytes_per_cycle
    ic = cfg.icache
    p[core.P_IPERFECT] = int(ic.perfect)
    p[core.P_L0_WAYS] = ic.l0_ways
    p[core.P_L0_SETS] = max(1, ic.l0_size_bytes // (ic.line_size_bytes * ic.l0_ways))
    p[core.P_L1I_WAYS] = ic.l1_ways
    p[core.P_L1I_SETS] = max(1, ic.l1_size_bytes // (ic.line_size_bytes * ic.l1_ways))
    p[core.P_IL0L1] = ic.l0_to_l1_latency_cycles
    p[core.P_IPREFETCH] = ic.stream_buffer_entries
    p[core.P_IMISS] = mem.l2_hit_latency_cycles  # instructions missing the L1 I-cache come from the L2
    e = epoch_cycles(cfg) if epoch is None else epoch
    if not 1 <= e <= epoch_cycles(cfg):
        raise GpusimError(f"epoch: {e} cycles; the core needs 1 to {epoch_cycles(cfg)} for {cfg.name}")
    p[core.P_EPOCH] = e
    cluster = cluster_size(kt)
    p[core.P_CLUSTER] = cluster
    p[core.P_SM_PER_GPC] = -(-cfg.sm.count // max(1, min(cfg.sm.gpcs, cfg.sm.count)))
    p[core.P_DSM_LAT] = mem.dsm_latency_cycles
    p[core.P_TMA_EXTRA] = mem.tma_extra_latency_cycles
    if cluster > 1:
        if cluster > core.MAX_CLUSTER:
            raise GpusimError(f"{kt.path}: cluster of {cluster} CTAs; the model places at most {core.MAX_CLUSTER}")
        if cluster > p[core.P_SM_PER_GPC]:
            raise GpusimError(f"{kt.path}: a cluster of {cluster} CTAs does not fit the {int(p[core.P_SM_PER_GPC])} "
                              f"SMs of one GPC of {cfg.name} (sm.count {cfg.sm.count}, sm.gpcs {cfg.sm.gpcs})")
        if kt.num_ctas % cluster:
            raise GpusimError(f"{kt.path}: {kt.num_ctas} CTAs is not a multiple of the cluster size {cluster}")
    return p

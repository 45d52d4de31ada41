"""The SM core's state, as typed bundles of numpy arrays, and the one function that allocates them.

Single responsibility: name every array the Numba core reads or writes, with its dtype, shape and
unit, and create them (``new_state``, called by ``gpusim.assemble.pack``).  The bundles are
``typing.NamedTuple``s: Numba types a NamedTuple of arrays as one record type, so a jitted function
takes a bundle whole (``W.pc[ws]``) and compiles once per bundle type; every array of a bundle has a
fixed dtype and number of dimensions (``new_state`` is the only constructor), so no call
specialises twice.  Mutable scalars are 1-element rows of the int64 vectors ``g`` and ``smg``.

Indexing: a warp slot is ``ws = sm * ctas_per_sm * warps_per_cta + cta_slot * warps_per_cta + k``;
warp ``k`` of a CTA runs on sub-core ``sc = sm * subcores + (cta_slot * warps_per_cta + k) % subcores``;
a CTA slot is ``cs = sm * ctas_per_sm + cta_slot``.  Every time is an integer cycle of the SM clock;
``NEVER`` (2^60) means "not scheduled", placeholders above it are unresolved memory results.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gpusim.core.slots import (CL_NCOLS, CL_SLOT0, D_NCOLS, G_SIZE, IB_ENTRIES, MB_NCOLS, MQ_RING, N_UNITS, NB, NBAR,
                               NEVER, NSB, PH, PORT_RING, Q_SIZE, SB_CAP, SG_SIZE, SL_BUCKETS, VIS_WORDS, W_NCOLS)


class Kernel(NamedTuple):
    """What a run of the core reads and never writes: parameters, the static table and the trace window
    (the dynamic arrays hold the resident CTAs' instructions; ``gpusim.assemble._Window`` rebuilds this
    bundle when a streamed trace moves its window)."""

    p: np.ndarray             #: int64 (P_SIZE,): parameters, slots ``slots.P_*`` (cycles, counts, flags)
    st: np.ndarray            #: int32 (statics, S_NCOLS): per static instruction, columns ``slots.S_*``
    cta_warp_ptr: np.ndarray  #: int64 (ctas + 1,): first trace warp of each CTA of the window
    warp_inst_ptr: np.ndarray  #: int64 (warps + 1,): first dynamic instruction of each trace warp
    inst_static: np.ndarray   #: int32 (dyn,): static instruction (row of ``st``) of each dynamic instruction
    inst_mask: np.ndarray     #: uint32 (dyn,): active-lane mask
    inst_units: np.ndarray    #: int16 (dyn,): global/local/texture access: the 32-byte sectors it touches; shared
    #: access: its wavefronts (1 + bank-conflict replays); otherwise unused
    acc_ptr: np.ndarray       #: int32 (dyn + 1,): first coalesced line access of each dynamic instruction
    acc_line: np.ndarray      #: int64 (accesses,): cache line of each access (line index); for SYNCS / BAR
    #: instructions (no line access) their one entry is the operand instead: the shared address of the mbarrier
    #: a SYNCS op works on; the named barrier of BAR.SYNC / BAR.ARV, id + NBAR * warps (warps 0: every live warp
    #: of the CTA; -1: id 0, whole CTA); no entry: -1 (``sync._operand``)
    acc_mask: np.ndarray      #: uint8 (accesses,): sector mask of each access (bit per 32-byte sector)
    inst_space: np.ndarray    #: int8 (dyn,): memory space code (``MemSpace``; ``slots.SP_DSM`` for a peer CTA)
    cga_dist: np.ndarray      #: int32 (dyn,): instructions to the warp's next UCGABAR_ARV or last one (lockstep)


class WarpState(NamedTuple):
    """Per warp slot (rows ``ws``): front end, dependences and bookkeeping of the warp resident there."""

    trace: np.ndarray         #: int64 (nw,): trace warp in the slot (window index; -1: empty)
    pc: np.ndarray            #: int64 (nw,): dynamic instruction index of the next instruction to issue
    fetch: np.ndarray         #: int64 (nw,): dynamic instruction index of the next instruction to fetch
    end: np.ndarray           #: int64 (nw,): one past the warp's last dynamic instruction
    age: np.ndarray           #: int64 (nw,): launch order (kernel-wide count): young = large
    stall: np.ndarray         #: int64 (nw,): cycle from which the stall counter / yield allow an issue
    bar: np.ndarray           #: uint8 (nw,): 0 none, 1 waiting at BAR.SYNC (at named barrier ``bar_id``)
    bar_id: np.ndarray        #: int64 (nw,): named barrier (0..NBAR-1) the warp waits at while ``bar`` is 1
    bar_arv: np.ndarray       #: int64 (nw,): bit b: the warp arrived with BAR.ARV at CTA-wide barrier b (not waiting)
    ibn: np.ndarray           #: int64 (nw,): instruction-buffer entries filled (0..IB_ENTRIES)
    ibh: np.ndarray           #: int64 (nw,): head of the instruction-buffer ring
    ibt: np.ndarray           #: int64 (nw, IB_ENTRIES): cycle each buffered instruction may issue (decoded)
    reason: np.ndarray        #: int64 (nw,): warp state ``R_*`` charged since ``since`` (-1: none)
    since: np.ndarray         #: int64 (nw,): cycle the current state began
    last_issue: np.ndarray    #: int64 (nw,): cycle of the warp's last issue (-10 before any)
    last_wsb: np.ndarray      #: int64 (nw,): write SB of the last issue (-1: none); its increment shows 2 cycles late
    last_rsb: np.ndarray      #: int64 (nw,): read SB of the last issue (-1: none)
    last_rel_w: np.ndarray    #: int64 (nw,): release cycle of that write SB entry
    last_rel_r: np.ndarray    #: int64 (nw,): release cycle of that read SB entry
    ldgsts_done: np.ndarray   #: int64 (nw,): latest LDGSTS completion known at issue (cycle)
    ldgsts_pend: np.ndarray   #: uint8 (nw,): 1: LDGSTS of this epoch are still unresolved
    ldgsts_acc: np.ndarray    #: int64 (nw,): latest completion of this epoch's resolved LDGSTS (cycle)
    depbar: np.ndarray        #: int64 (nw, D_NCOLS): waits of issued DEPBAR / TRYWAIT / UCGABAR_WAIT, cols ``D_*``
    sync: np.ndarray          #: int64 (nw, W_NCOLS): mbarrier phases consumed per slot, then ``W_*`` columns
    sb_rel: np.ndarray        #: int64 (nw, NSB + 1, SB_CAP): release cycle of each pending SB producer (row GSB: wgmma groups)
    sb_long: np.ndarray       #: uint8 (nw, NSB + 1, SB_CAP): 1: that producer is a global/local memory access
    sb_n: np.ndarray          #: int64 (nw, NSB + 1): entries of each SB ring
    reg_ready: np.ndarray     #: int64 (nw | 1, 256): scoreboard mode: cycle each register's value is visible
    reg_war: np.ndarray       #: int64 (nw | 1, 256): scoreboard mode: cycle its pending source reads are done
    reg_long: np.ndarray      #: uint8 (nw | 1, 256): scoreboard mode: producer kind (1 long, 2 short, 0 fixed)
    wake: np.ndarray          #: int64 (nw,): earliest cycle the warp's cached state may change (event-driven skip)
    launch: np.ndarray        #: int64 (nw,): cycle the warp's CTA starts (CTA launch latency included)
    ready: np.ndarray         #: uint8 (nw,): 1: its own issue conditions hold (only sub-core resources can block)
    wmask: np.ndarray         #: int64 (nw,): what ``wake`` came from: bit b SB b, ``WM_REGS``, ``WM_MBAR``


class SubcoreState(NamedTuple):
    """Per sub-core (rows ``sc``): issue, Allocate, execution-unit latches, memory queue, L0 I-cache."""

    greedy: np.ndarray        #: int64 (nsc,): warp slot issued last (-1: none): the greedy warp and fetch target
    control_free: np.ndarray  #: int64 (nsc,): cycle the Control stage takes the next instruction
    alloc_free: np.ndarray    #: int64 (nsc,): cycle Allocate takes the next instruction
    issue_busy: np.ndarray    #: int64 (nsc,): issue port busy until this cycle (IMAD's extra cycle)
    next: np.ndarray          #: int64 (nsc,): next cycle the sub-core must be examined (NEVER: no warps)
    unit_free: np.ndarray     #: int64 (nsc, N_UNITS): cycle each unit's input latch is free
    rfc: np.ndarray           #: int64 (nsc, 4, 2): register-file cache per operand slot and bank: ws * 256 + reg (-1: empty)
    port_cyc: np.ndarray      #: int64 (nsc, 2, PORT_RING): cycle a ring slot of a bank's read ports counts for
    port_used: np.ndarray     #: int64 (nsc, 2, PORT_RING): read ports taken in that cycle
    mq_leave: np.ndarray      #: int64 (nsc, MQ_RING): cycle each memory-queue entry leaves for the SM-shared unit
    mq_n: np.ndarray          #: int64 (nsc,): memory-queue entries
    mq_head: np.ndarray       #: int64 (nsc,): head of the memory-queue ring
    addr_free: np.ndarray     #: int64 (nsc,): cycle the address-calculation unit is free
    il0_tag: np.ndarray       #: int64 (nsc * L0 sets, L0 ways): L0 instruction-cache line tags (-1: invalid)
    il0_rdy: np.ndarray       #: int64 (same): cycle the line is there
    il0_lru: np.ndarray       #: int64 (same): LRU stamp (the SM's instruction-cache clock)
    cl0_tag: np.ndarray       #: int64 (nsc * const sets, const ways): L0 FL constant-cache line tags (-1: invalid)
    cl0_rdy: np.ndarray       #: int64 (same): cycle the line is there
    cl0_lru: np.ndarray       #: int64 (same): LRU stamp (cycle of the last use)


class SmState(NamedTuple):
    """Per SM and per CTA slot, and the epoch machinery shared by the SMs of a kernel."""

    shared_next: np.ndarray   #: int64 (n_sm,): cycle the SM-shared memory unit takes the next instruction
    fp64_free: np.ndarray     #: int64 (n_sm,): cycle the SM-shared FP64 unit is free (where configured)
    il1_tag: np.ndarray       #: int64 (n_sm * L1I sets, L1I ways): L1 instruction-cache tags (-1: invalid)
    il1_rdy: np.ndarray       #: int64 (same): cycle the line is there
    il1_lru: np.ndarray       #: int64 (same): LRU stamp
    c_live: np.ndarray        #: int64 (cta slots,): live warps of the CTA in the slot
    c_bar: np.ndarray         #: int64 (cta slots, NBAR): warps arrived at each named barrier in its current phase
    c_bar_need: np.ndarray    #: int64 (cta slots, NBAR): warps that phase needs (thread count / 32; 0: every live warp)
    cs_cta: np.ndarray        #: int64 (cta slots,): window CTA index in the slot (-1: free)
    mb_addr: np.ndarray       #: int64 (cta slots, NB): shared address of each tracked mbarrier (-1: unused)
    mb_st: np.ndarray         #: int64 (cta slots, NB, MB_NCOLS): mbarrier phase state, columns ``MB_*``
    mb_done: np.ndarray       #: int64 (cta slots, NB, PH): completion cycle per phase ring entry (placeholders: TMA)
    cl: np.ndarray            #: int64 (clusters, CL_NCOLS): cluster barrier rows, columns ``CL_*``
    g: np.ndarray             #: int64 (G_SIZE,): kernel scalars, slots ``G_*``
    smg: np.ndarray           #: int64 (n_sm, SG_SIZE): per-SM scalars, slots ``SG_*`` (one cache line per SM)
    req: np.ndarray           #: int64 (n_sm, rows, Q_SIZE): requests buffered in an epoch, columns ``Q_*``
    dn: np.ndarray            #: int64 (n_sm, ctas_per_sm, 2): CTAs finished in an epoch: (cycle, CTA slot)
    ptr: np.ndarray           #: int64 (n_sm,): scratch of the serial step (read positions, epoch starts)
    vis: np.ndarray           #: int64 (n_sm, VIS_WORDS): cycles each SM examined, a ring of 64-cycle bit words
    sl_tag: np.ndarray        #: int64 (n_sm, SL_BUCKETS or 1): shared-memory ledger: absolute bucket held (-1: none)
    sl_gm: np.ndarray         #: int64 (same): bytes of warpgroup-MMA operand reads booked in the bucket
    sl_mio: np.ndarray        #: int64 (same): bytes of LDS/STS/TMA data booked in the bucket


class MemState(NamedTuple):
    """The memory system below the SM (``gpusim.core.memsys``; owned by ``gpusim.assemble.MemSystem``)."""

    mp: np.ndarray            #: int64: memsys parameters, slots ``memsys.M_*``
    ms: np.ndarray            #: int64: memsys scalars (DRAM and L2-slice clocks in 1/1000 cycle), ``memsys.MS_*``
    l1_tag: np.ndarray        #: int64 (n_sm * sets, ways): L1 data-cache tags
    l1_rdy: np.ndarray        #: int64 (n_sm * sets, ways, 4): cycle each sector is there
    l1_lru: np.ndarray        #: int64 (n_sm * sets, ways): LRU stamp
    l2_tag: np.ndarray        #: int64: L2 tags (slices x sets, ways)
    l2_rdy: np.ndarray        #: int64: cycle each L2 sector is there
    l2_dirty: np.ndarray      #: uint8: dirty sectors (write-back)
    l2_lru: np.ndarray        #: int64: L2 LRU stamps
    mshr: np.ndarray          #: int64: L1 miss-status holding registers (``memsys``)


class SmLocal(NamedTuple):
    """What one SM writes in a round that no other SM touches (built per SM in ``engine.run_sm``)."""

    sg: np.ndarray            #: int64 (SG_SIZE,): the SM's row of ``SmState.smg``
    rq: np.ndarray            #: int64 (rows, Q_SIZE): its request buffer (row of ``SmState.req``)
    dn: np.ndarray            #: int64 (ctas_per_sm, 2): its finished-CTA buffer
    vis: np.ndarray           #: int64 (VIS_WORDS,): its examined-cycle ring
    counters: np.ndarray      #: int64 (>= C_SIZE,): the worker's counter row, slots ``C_*``
    pc_stats: np.ndarray      #: int64 (statics, N_REASONS + 2): the worker's per-PC counts (issues, reasons, RFC hits)
    issue_log: np.ndarray     #: int64 (dyn | 1,): issue cycle of each dynamic instruction (``P_LOG``)
    sb_log: np.ndarray        #: int64 (cycles | 1, NSB): SB values of warp slot 0 per cycle (``P_LOG``)


class CoreState(NamedTuple):
    """The mutable bundles of one kernel (Python side; passed to the core one by one)."""

    warps: WarpState
    subcores: SubcoreState
    sms: SmState


def new_state(n_sm: int, n_sub: int, ctas_per_sm: int, warps_per_cta: int, ctrl: bool, epoch: int,
              l0_sets: int, l0_ways: int, l1i_sets: int, l1i_ways: int, clusters: int, cl0_sets: int = 1,
              cl0_ways: int = 1, smem_ledger: bool = False) -> CoreState:
    """Allocate the zeroed state of one kernel (the only place the core's state is created)."""
    i64, u8 = np.int64, np.uint8
    nw = n_sm * ctas_per_sm * warps_per_cta
    nsc = n_sm * n_sub
    slots = n_sm * ctas_per_sm
    nreg = 1 if ctrl else nw
    depbar = np.zeros((nw, D_NCOLS), i64)
    depbar[:] = np.array([-1, -1, 0, 0, -1, 0, -1, -1], i64)  # D_SB, D_N, ..., D_MBAR, D_MBAR_PH, D_MBAR_SB, D_CGA
    warps = WarpState(
        trace=np.full(nw, -1, i64), pc=np.zeros(nw, i64), fetch=np.zeros(nw, i64), end=np.zeros(nw, i64),
        age=np.zeros(nw, i64), stall=np.zeros(nw, i64), bar=np.zeros(nw, u8), bar_id=np.zeros(nw, i64),
        bar_arv=np.zeros(nw, i64), ibn=np.zeros(nw, i64),
        ibh=np.zeros(nw, i64), ibt=np.zeros((nw, IB_ENTRIES), i64), reason=np.zeros(nw, i64),
        since=np.zeros(nw, i64), last_issue=np.full(nw, -10, i64), last_wsb=np.full(nw, -1, i64),
        last_rsb=np.full(nw, -1, i64), last_rel_w=np.zeros(nw, i64), last_rel_r=np.zeros(nw, i64),
        ldgsts_done=np.zeros(nw, i64), ldgsts_pend=np.zeros(nw, u8), ldgsts_acc=np.zeros(nw, i64), depbar=depbar,
        sync=np.zeros((nw, W_NCOLS), i64), sb_rel=np.zeros((nw, NSB + 1, SB_CAP), i64),
        sb_long=np.zeros((nw, NSB + 1, SB_CAP), u8), sb_n=np.zeros((nw, NSB + 1), i64),
        reg_ready=np.zeros((nreg, 256), i64), reg_war=np.zeros((nreg, 256), i64), reg_long=np.zeros((nreg, 256), u8),
        wake=np.full(nw, NEVER, i64), launch=np.zeros(nw, i64), ready=np.zeros(nw, u8), wmask=np.zeros(nw, i64))
    l0_rows = nsc * l0_sets
    subcores = SubcoreState(
        greedy=np.full(nsc, -1, i64), control_free=np.zeros(nsc, i64), alloc_free=np.zeros(nsc, i64),
        issue_busy=np.zeros(nsc, i64), next=np.full(nsc, NEVER, i64), unit_free=np.zeros((nsc, N_UNITS), i64),
        rfc=np.full((nsc, 4, 2), -1, i64), port_cyc=np.full((nsc, 2, PORT_RING), -1, i64),
        port_used=np.zeros((nsc, 2, PORT_RING), i64), mq_leave=np.zeros((nsc, MQ_RING), i64),
        mq_n=np.zeros(nsc, i64), mq_head=np.zeros(nsc, i64), addr_free=np.zeros(nsc, i64),
        il0_tag=np.full((l0_rows, l0_ways), -1, i64), il0_rdy=np.zeros((l0_rows, l0_ways), i64),
        il0_lru=np.zeros((l0_rows, l0_ways), i64), cl0_tag=np.full((nsc * max(1, cl0_sets), cl0_ways), -1, i64),
        cl0_rdy=np.zeros((nsc * max(1, cl0_sets), cl0_ways), i64), cl0_lru=np.zeros((nsc * max(1, cl0_sets), cl0_ways), i64))
    l1_rows = n_sm * l1i_sets
    nsl = SL_BUCKETS if smem_ledger else 1   # the ledger only for kernels whose wgmma read shared memory
    cl = np.zeros((clusters, CL_NCOLS), i64)
    cl[:, CL_SLOT0:] = -1
    # epoch buffers: at most one issue per sub-core and cycle, and a cluster warp's exit after it; at
    # most one finished CTA per CTA slot
    sms = SmState(
        shared_next=np.zeros(n_sm, i64), fp64_free=np.zeros(n_sm, i64),
        il1_tag=np.full((l1_rows, l1i_ways), -1, i64), il1_rdy=np.zeros((l1_rows, l1i_ways), i64),
        il1_lru=np.zeros((l1_rows, l1i_ways), i64), c_live=np.zeros(slots, i64), c_bar=np.zeros((slots, NBAR), i64),
        c_bar_need=np.zeros((slots, NBAR), i64),
        cs_cta=np.full(slots, -1, i64), mb_addr=np.full((slots, NB), -1, i64),
        mb_st=np.zeros((slots, NB, MB_NCOLS), i64), mb_done=np.zeros((slots, NB, PH), i64), cl=cl,
        g=np.zeros(G_SIZE, i64), smg=np.zeros((n_sm, SG_SIZE), i64),
        req=np.zeros((n_sm, 2 * n_sub * epoch, Q_SIZE), i64), dn=np.zeros((n_sm, ctas_per_sm, 2), i64),
        ptr=np.zeros(n_sm, i64), vis=np.zeros((n_sm, VIS_WORDS), i64),
        sl_tag=np.full((n_sm, nsl), -1, i64), sl_gm=np.zeros((n_sm, nsl), i64), sl_mio=np.zeros((n_sm, nsl), i64))
    return CoreState(warps, subcores, sms)

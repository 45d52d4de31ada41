"""Cycle-level SM model: sub-cores with fetch, instruction buffers, control-bit dependences,
CGGTY issue, Allocate with register-file banks and the register-file cache, execution pipes, and
the per-sub-core memory queue in front of the memory hierarchy (``gpusim.core.memsys``).

Single responsibility: advance the SMs of one kernel cycle by cycle (skipping cycles in which
nothing can change), in parallel threads over SMs, and count what happens.  Rules and numbers come from the digest of
"Dissecting and Modeling the Architecture of Modern GPU Cores" (MICRO'25), referred to as
MGC §n below; the gpusim README lists what is approximated.

Per cycle and per sub-core the stages run in reverse pipeline order, as in the released
simulator (MGC §2.4): issue (with Control and Allocate effects computed at issue time), then
fetch.  Events later in the pipeline (register reads, write-back, counter releases) are
computed at issue as future cycle stamps, because every latency of this model is known then.

* Front end (MGC §3): 1 fetch per sub-core per cycle into a 3-entry instruction buffer per warp,
  available to issue 2 cycles later; the fetch warp follows the last issued warp and moves to the
  youngest warp with free buffer entries when that one is full; instructions come through a
  per-sub-core L0 and a per-SM L1 instruction cache with a stream-buffer prefetcher, or a perfect
  one (``icache.perfect``).
* Dependences (MGC §1): with control bits, a per-warp stall counter (stall 0 + yield = 45
  cycles), yield (no issue the next cycle), six SB counters incremented in Control (visible 2
  cycles after issue) and released at write-back (write SB) or after the source read (read SB),
  wait masks and ``DEPBAR.LE SBx, N``.  Without control bits (MGC §1.8): a RAW/WAW scoreboard
  with per-register ready cycles and a WAR scoreboard on pending source reads.
* Issue (MGC §2): one instruction per sub-core per cycle; CGGTY (greedy, else youngest), GTO
  (greedy, else oldest), LRR.  A fixed-latency instruction needs its unit's input latch free
  (initiation interval); FP32 may be steered to a free INT latch where the config allows
  (IMAD excluded); after any IMAD the issue port is busy one more cycle.
* Allocate (MGC §2.4, §4): a fixed-latency instruction reserves read ports for a 3-cycle window
  (6 for 4-register tensor operands); 2 banks (reg mod banks) with 1 read port each; misses in
  the register-file cache (filled only by reuse bits; hit = same warp, register and operand slot;
  any read of a (bank, slot) evicts it) need a port.  A conflict holds the instruction in
  Allocate, which holds Control and so the issue of later instructions.
* Memory (MGC §6.2-6.3): a 4-entry queue plus latch per sub-core; the address registers are read
  ``read_delay`` cycles after issue at the earliest, then the address unit is busy 4 cycles (2 for
  shared or uniform addresses); the SM-shared unit accepts one instruction per 2 cycles from all
  sub-cores and moves ``l1_bytes_per_cycle``; bank conflicts replay shared accesses; the read SB
  is released 1 cycle before the address calculation ends (plus the store-data read, 2 cycles
  per register); global/local/texture accesses go through ``gpusim.core.memsys`` (L1, L2, DRAM),
  shared and constant loads take their configured latency; load data returns at 512 bits per
  cycle (shared: 1024).

* Warpgroup MMA (Hopper wgmma; research/sass-control-bits.md §5): an HGMMA issues without waiting
  for its result; its quarter of the MMA queues on the sub-core's tensor pipe (busy for its
  initiation interval, so the HGMMAs of a group run back to back) and completes its latency
  later.  The HGMMA carrying ``gsb0`` commits the warp's group; ``WARPGROUP.DEPBAR.LE gsb0, N``
  holds the next instruction (Nsight state "wait") until at most N groups are in flight, outside
  the six SBs; ``WARPGROUP.ARRIVE`` holds it until the warp's in-flight fixed-latency register
  writes have landed.

* Epochs (``run_sm``): SMs interact only through ``gpusim.core.memsys`` (one call per global
  access, TMA copies included, in issue order; the L2 and DRAM are shared), through the CTA
  dispatcher and, in cluster launches, through the cluster barrier.  Time is cut into epochs no
  longer than the shortest issue-to-release time of a global access
  (``gpusim.assemble.epoch_cycles``, 30 cycles on GA10x): an SM buffers its accesses during an
  epoch, with placeholder release stamps above ``NEVER`` (a TMA copy: a placeholder completion of
  its mbarrier phase), and at the epoch end one thread calls the memory system for all SMs in
  issue order (cycle, SM, sub-core) and patches the stamps in.  Every result is due after its
  epoch, so this equals calling it at issue.  A finished CTA's slot is refilled at the end of its
  epoch (a serial model refills it the next cycle: up to one epoch later here).  Kernels with
  thread-block clusters or cluster barriers advance all SMs in lockstep and end an epoch right
  after the earliest cycle in which a warp may arrive at a cluster barrier or retire
  (``P_LOCKSTEP``): the arrivals, exits and cluster launches of that cycle are served at the epoch
  end, the cycle after them, exactly when a serial model makes them visible.  The SMs of an epoch
  can therefore run in any order or in parallel threads with the same result, bit for bit.

Layout: this module is the core's front door (the names ``gpusim.assemble`` and the stats use); the
stages live in one module each, as the pipeline reads (docs/core.md):

* ``slots`` -- parameter, counter, flag and column numbers; ``state`` -- the typed state bundles
  (``Kernel``, ``WarpState``, ``SubcoreState``, ``SmState``, ``MemState``, ``SmLocal``), allocated in
  one place (``new_state``);
* ``fetch`` -- I-caches, stream buffer, instruction buffers; ``select`` -- warp readiness, issue
  policies (a registry), warp-state accounting; ``scoreboard`` -- control bits, SB counters, DEPBAR,
  scoreboard fallback; ``regfile`` -- banks, ports, register-file cache; ``execute`` -- unit latches,
  FP32 steering, variable-latency units, wgmma; ``lsu`` -- sub-core memory queue, SM-shared unit,
  resolution of buffered accesses (``memsys`` below it); ``sync`` -- CTA barriers, mbarriers/TMA,
  cluster barriers; ``issue`` -- what an issued instruction does; ``dispatch`` -- CTA launch;
  ``epoch`` -- the per-SM cycle loop and the epoch end; ``engine`` -- ``run_sm`` and ``RunStatus``.

Contract: state arrays are allocated by ``gpusim.core.state.new_state`` (called from ``gpusim.assemble``)
and passed in as bundles; ``run_sm`` runs until
the kernel finishes or ``until`` cycles and can be called again to resume (progress reporting);
no allocation in the cycle loop; integer cycles; deterministic, whatever the number of threads.
"""

from __future__ import annotations

from gpusim.core.dispatch import init_kernel  # noqa: F401
from gpusim.core.engine import RunStatus, run_sm, run_sm_threads, use_threads  # noqa: F401
from gpusim.core.slots import *  # noqa: F401,F403

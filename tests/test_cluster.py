"""Hopper thread-block clusters: cluster launch on the SMs of one GPC, distributed shared memory (a generic
access whose shared-window address carries a peer CTA's rank in bits 24+) and the cluster barrier
(UCGABAR_ARV / UCGABAR_WAIT).  Oracles: research/hw_ground_truth.csv HW012 (SM-to-SM 181 cycles, cluster
of 2) and HW013 (same SM 33), configs/README.md "Clusters".
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from gpusim import api, assemble
from gpusim.config import load_config
from gpusim.core import sm as core
from gpusim.errors import GpusimError
from gpusim.frontend.microasm import Inst, build
from gpusim.frontend.workload import open_workload
from tests.micro_sim import EXIT, issue_cycles, run_folder

H100 = "h100-sxm5-80gb"
SHMEM_BASE = 0x7F1000000000            # microasm's shared window
PEER = 1 << 24                         # rank 1's shared memory in the window (assemble.DSM_RANK_SHIFT)


def drop_lines(text, cta, pcs):
    """Remove the trace lines of the given PCs from every warp of CTA ``cta`` (a CTA that skips code)."""
    blocks = text.split("#BEGIN_TB")
    out = [blocks[0]]
    for k, b in enumerate(blocks[1:]):
        if k == cta:
            lines = [ln for ln in b.split("\n") if not (re.match(r"^[0-9a-f]{4} ", ln) and int(ln[:4], 16) in pcs)]
            b = "\n".join(lines)
            b = re.sub(r"insts = \d+\n((?:[0-9a-f]{4} .*\n)+)", lambda m: f"insts = {m.group(1).count(chr(10))}\n"
                       + m.group(1), b)
        out.append(b)
    return "#BEGIN_TB".join(out)


def run(tmp_path, prog, cluster=2, overrides=(), patch=None, **kw):
    d = build(prog, tmp_path / f"k{len(list(tmp_path.iterdir()))}", arch="sm_90", **kw)
    tr = d / "kernel-1.traceg"
    text = tr.read_text()
    if cluster:
        text = text.replace("-shmem = ", f"-cluster dim = ({cluster},1,1)\n-shmem = ", 1)
    if patch:
        text = patch(text)
    tr.write_text(text)
    cfg = load_config(H100, ["icache.perfect=true", "sm.gpcs=1", *overrides])
    r, kt, cycles = run_folder(d, cfg)
    return r, kt, cycles, cfg


LD_PEER = Inst("LD.E R8, desc[UR6][R2.64]", base=SHMEM_BASE + PEER + 0x100, wsb=0, stall=2)
USE = Inst("FFMA R9, R8, R8, R8", wait=(0,))


def test_dsm_load_from_a_peer_cta_takes_the_sm_to_sm_latency(tmp_path):
    """Rule: a generic load whose shared-window address names another CTA of the cluster (rank 1, seen
    from rank 0) answers after memory.dsm_latency = 181 cycles (HW012, cluster of 2); the same address
    from rank 1 is its own shared memory, which a generic load reaches through the L1TEX path in the L1-hit
    latency (41 on the H100; HW013 measures 33 through the cluster API on the H800)."""
    r, kt, _, cfg = run(tmp_path, [LD_PEER, USE, EXIT], ctas=2, overrides=["sm.count=2"])
    remote = issue_cycles(r, kt, warp=0)
    local = issue_cycles(r, kt, warp=1)
    print("DSM load-to-use", remote[1] - remote[0], "local", local[1] - local[0])
    assert remote[1] - remote[0] == cfg.memory.dsm_latency_cycles == 181
    assert local[1] - local[0] == cfg.memory.l1_hit_latency_cycles


def test_without_a_cluster_launch_the_window_address_is_plain_shared_memory(tmp_path):
    """Rule: only a cluster launch has peers: the same load in a kernel without clusters is a local access."""
    r, kt, _, cfg = run(tmp_path, [LD_PEER, USE, EXIT], cluster=0, ctas=2, overrides=["sm.count=2"])
    t = issue_cycles(r, kt, warp=0)
    assert t[1] - t[0] == cfg.memory.l1_hit_latency_cycles


CHAIN = 20


def _barrier_prog():
    chain = [Inst("FFMA R2, R2, R3, R4", stall=4)] * CHAIN
    return chain + [Inst("UCGABAR_ARV"), Inst("UCGABAR_WAIT"), Inst("NOP"), EXIT]


def test_cluster_barrier_waits_for_the_slowest_cta(tmp_path):
    """Rule: UCGABAR_WAIT holds every warp of the cluster until all warps of all its CTAs arrived:
    CTA 0 skips the FFMA chain, CTA 1 runs it; CTA 0 goes on only the cycle after CTA 1's arrival, and
    the wait is Nsight's "barrier" state."""
    skip = {16 * k for k in range(CHAIN)}
    r, kt, _, _ = run(tmp_path, _barrier_prog(), ctas=2, warps_per_cta=2, overrides=["sm.count=2"],
                      patch=lambda t: drop_lines(t, 0, skip))
    fast = issue_cycles(r, kt, warp=0)     # CTA 0: ARV, WAIT, NOP, EXIT
    slow = issue_cycles(r, kt, warp=2)     # CTA 1: chain, ARV, WAIT, NOP, EXIT
    last_arrival = max(issue_cycles(r, kt, warp=w)[-4] for w in (2, 3))
    assert fast[2] > last_arrival > fast[1] + 4 * (CHAIN - 4)
    assert fast[2] - last_arrival <= 3
    assert slow[-2] >= last_arrival
    nop = len(kt.st_opcode) - 2
    assert r.pc_stats[nop, 1 + core.R_BARRIER] > 0


def test_a_cluster_of_two_starts_on_two_sms_at_once_and_waits_for_both(tmp_path):
    """Rule: the CTAs of a cluster are launched together on different SMs (one CTA fits an SM here), and
    a cluster starts only when all of its CTAs can be placed: the second cluster waits for the slower
    CTA of the first, although the faster one's SM is free earlier."""
    prog = [Inst("FFMA R2, R2, R3, R4", stall=4)] * CHAIN + [EXIT]
    skip = {16 * k for k in range(CHAIN)}
    r, kt, _, _ = run(tmp_path, prog, ctas=4, shmem=200 * 1024, overrides=["sm.count=2"],
                      patch=lambda t: drop_lines(t, 0, skip))
    first = [issue_cycles(r, kt, warp=w)[0] for w in range(4)]
    assert first[0] == first[1]                                   # cluster 0: both CTAs at once
    assert first[2] == first[3]                                   # cluster 1 likewise
    assert first[2] > issue_cycles(r, kt, warp=1)[-1]              # ... after CTA 1 (the slow one) ended


def test_without_clusters_a_free_sm_takes_the_next_cta_at_once(tmp_path):
    """Rule (contrast): without a cluster launch CTA 2 starts on the SM CTA 0 freed, before CTA 1 ends."""
    prog = [Inst("FFMA R2, R2, R3, R4", stall=4)] * CHAIN + [EXIT]
    skip = {16 * k for k in range(CHAIN)}
    r, kt, _, _ = run(tmp_path, prog, cluster=0, ctas=4, shmem=200 * 1024, overrides=["sm.count=2"],
                      patch=lambda t: drop_lines(t, 0, skip))
    assert issue_cycles(r, kt, warp=2)[0] < issue_cycles(r, kt, warp=1)[-1]


def test_clusters_are_placed_within_one_gpc(tmp_path):
    """Rule: a cluster runs on the SMs of one GPC: 4 SMs in 2 GPCs hold two concurrent clusters of 2
    but not one of 4 (a clean error)."""
    prog = [Inst("NOP"), EXIT]
    r, kt, _, _ = run(tmp_path, prog, cluster=2, ctas=4, shmem=200 * 1024, overrides=["sm.count=4", "sm.gpcs=2"])
    first = [issue_cycles(r, kt, warp=w)[0] for w in range(4)]
    assert len(set(first)) == 1
    with pytest.raises(GpusimError, match="GPC"):
        run(tmp_path, prog, cluster=4, ctas=4, overrides=["sm.count=4", "sm.gpcs=2"])


def test_a_grid_not_divisible_by_the_cluster_is_a_clean_error(tmp_path):
    with pytest.raises(GpusimError, match="multiple of the cluster size"):
        run(tmp_path, [Inst("NOP"), EXIT], cluster=2, ctas=3, overrides=["sm.count=4"])


def test_idle_skipping_gives_identical_counters_with_clusters(tmp_path):
    """Rule: cluster launch, DSM and the cluster barrier give the same counters cycle by cycle."""
    prog = [LD_PEER, USE, *_barrier_prog()]
    out = []
    for skip in (True, False):
        d = build(prog, tmp_path / f"s{int(skip)}", arch="sm_90", ctas=8, warps_per_cta=2)
        tr = d / "kernel-1.traceg"
        tr.write_text(drop_lines(tr.read_text().replace("-shmem = ", "-cluster dim = (2,1,1)\n-shmem = ", 1), 0,
                                 {16 * (k + 2) for k in range(CHAIN)}))
        cfg = load_config(H100, ["sm.count=4", "sm.gpcs=2"])
        wl = open_workload(d)
        kt = wl.load(wl.kernels[0])
        _, fn = api.join_control_bits(kt, api.find_listing(wl.kernels[0].path, None))
        r = assemble.pack(cfg, kt, fn, idle_skip=skip)
        assemble.run(r, kt)
        out.append(r.counters.copy())
    a, b = out
    a[core.C_SKIPPED] = b[core.C_SKIPPED] = 0
    assert np.array_equal(a, b), [(k, a[k], b[k]) for k in np.flatnonzero(a != b)]

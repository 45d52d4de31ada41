"""Streamed traces (issue 7: "traces are generated CTA by CTA as the simulator needs them, not
materialised whole in memory"): ``gpusim.assemble.run_streamed`` keeps a window of CTAs resident,
drops finished ones and walks the next as the dispatcher needs them (``core.run_sm`` status 4).
Oracle: the whole-trace run (``assemble.pack`` + ``assemble.run``); every cycle, counter, per-PC
statistic and the L2 state left behind must be identical, for any chunk and window size and thread
count.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gpusim import api, assemble
from gpusim.config import load_config
from gpusim.frontend.microasm import Inst, build
from gpusim.frontend.reader import KernelTrace, intern_opcodes
from gpusim.frontend.workload import open_workload
from gpusim.llm import kernels as K
from gpusim.llm import run as llm_run
from gpusim.llm.walker import walk_chunks
from tests.micro_sim import EXIT

A100 = "a100-sxm4-80gb"
H100 = "h100-sxm5-80gb"
PTRS = (1 << 40, 2 << 40, 3 << 40, 4 << 40)


def whole(cfg, kt, fn, threads=1):
    intern_opcodes(kt)
    m = assemble.MemSystem(cfg)
    r = assemble.pack(cfg, kt, fn, memsys=m)
    _, cycles, counters = assemble.run(r, kt, threads=threads)
    return cycles, counters.copy(), r.pc_stats.copy(), m.l2_tag.copy(), m.l2_dirty.copy()


def streamed(cfg, chunks, fn, total, look, threads=1):
    m = assemble.MemSystem(cfg)
    r, cycles, counters, info = assemble.run_streamed(cfg, chunks, fn, total_ctas=total, memsys=m,
                                                      lookahead_ctas=look, threads=threads)
    return (cycles, counters.copy(), r.pc_stats.copy(), m.l2_tag.copy(), m.l2_dirty.copy()), info


def same(a, b):
    assert a[0] == b[0], (a[0], b[0])
    for x, y in zip(a[1:], b[1:]):
        assert np.array_equal(x, y)


CASES = [
    # (config, overrides, kernel call): several waves of CTAs on 4 SMs
    (A100, ["sm.count=4"], lambda: K.gemm("sm_80", 640, 1024, 128, *PTRS[:3])),
    (A100, ["sm.count=4"], lambda: K.gemv("sm_80", 2, 4096, 512, *PTRS[:3])),
    (A100, ["sm.count=4"], lambda: K.rmsnorm("sm_80", 151, 1024, *PTRS[:3])),
    (H100, ["sm.count=4"], lambda: K.gemm_wgmma(384, 1024, 128, *PTRS[:3])),   # TMA + mbarriers + wgmma
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_streamed_run_equals_the_whole_trace_run(case):
    """Rule: for chunks of 1, 2 and 3 CTAs and windows from the CTA slots (a refill at nearly every
    epoch end that refills) to a few waves, with 1 and 2 threads, the streamed run is bit-identical."""
    gpu, ov, mk = CASES[case]
    cfg = load_config(gpu, ov)
    call = mk()
    kt = call.trace()
    fn = call.kernel.function
    total = call.launch.num_ctas
    ref = whole(cfg, kt, fn)
    occ = assemble.occupancy(cfg, kt)
    slots = cfg.sm.count * occ.ctas_per_sm
    assert total > 3 * slots, "the case needs several waves"
    n_streamed = 0
    for chunk, look, threads in [(1, 1, 1), (2, slots + 1, 2), (3, 2 * slots + 3, 1), (5, None, 2)]:
        got, info = streamed(cfg, walk_chunks(call.kernel, call.launch, None, chunk), fn, total, look, threads)
        same(ref, got)
        assert info["warp_instructions"] == kt.warp_instructions
        n_streamed += info["streamed"]
        if info["streamed"]:
            assert info["peak_window_instructions"] < kt.warp_instructions
    assert n_streamed >= 3


def test_streamed_run_survives_progress_stops(monkeypatch):
    """Rule: the core's chunked ``until`` stops (progress reporting, CTA-wave probes) and the window
    refills interleave without changing the result; progress counts CTAs of the whole kernel."""
    cfg = load_config(A100, ["sm.count=4"])
    call = K.gemm("sm_80", 640, 1024, 128, *PTRS[:3])
    kt = call.trace()
    ref = whole(cfg, kt, call.kernel.function)
    monkeypatch.setattr(assemble, "CHUNK_CYCLES", 97)
    seen = []
    m = assemble.MemSystem(cfg)
    r, cycles, counters, info = assemble.run_streamed(
        cfg, walk_chunks(call.kernel, call.launch, None, 2), call.kernel.function, total_ctas=call.launch.num_ctas,
        memsys=m, lookahead_ctas=1, progress=lambda c, d, t: seen.append((c, d, t)))
    same(ref, (cycles, counters, r.pc_stats, m.l2_tag, m.l2_dirty))
    assert info["streamed"]
    assert all(t == call.launch.num_ctas for _, _, t in seen)
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and 0 < done[-1] <= call.launch.num_ctas


def split(kt: KernelTrace, step: int):
    """The CTA chunks of a loaded trace (memory rows kept whole: the chunks index them unchanged)."""
    for lo in range(0, kt.num_ctas, step):
        hi = min(lo + step, kt.num_ctas)
        w0, w1 = int(kt.cta_warp_ptr[lo]), int(kt.cta_warp_ptr[hi])
        i0, i1 = int(kt.warp_inst_ptr[w0]), int(kt.warp_inst_ptr[w1])
        yield dataclasses.replace(
            kt, cta_xyz=kt.cta_xyz[lo:hi], cta_warp_ptr=kt.cta_warp_ptr[lo:hi + 1] - w0,
            warp_slot=kt.warp_slot[w0:w1], warp_inst_ptr=kt.warp_inst_ptr[w0:w1 + 1] - i0,
            inst_static=kt.inst_static[i0:i1], inst_mask=kt.inst_mask[i0:i1], inst_mem=kt.inst_mem[i0:i1])


@pytest.mark.parametrize("cluster", [0, 2])
def test_cluster_kernels_run_whole_and_trace_files_stream_too(tmp_path, cluster):
    """Rule: a cluster launch (per-cluster barrier state spans the kernel) is not streamed: it runs
    whole, with the whole run's result; the same trace without clusters streams, bit-identical."""
    prog = [Inst("FFMA R2, R2, R3, R4", stall=4)] * 6 + [Inst("UCGABAR_ARV"), Inst("UCGABAR_WAIT"), Inst("NOP"),
                                                        EXIT] if cluster else \
        [Inst("LDG.E R8, desc[UR6][R2.64]", base=1 << 32, wsb=0, stall=2), Inst("FFMA R9, R8, R8, R8", wait=(0,)),
         Inst("FFMA R2, R2, R3, R4", stall=4), EXIT]
    d = build(prog, tmp_path / "k", arch="sm_90", ctas=40, warps_per_cta=2, shmem=100 * 1024)
    tr = d / "kernel-1.traceg"
    if cluster:
        tr.write_text(tr.read_text().replace("-shmem = ", f"-cluster dim = ({cluster},1,1)\n-shmem = ", 1))
    cfg = load_config(H100, ["sm.count=4", "sm.gpcs=2"])
    wl = open_workload(d)
    kt = wl.load(wl.kernels[0])
    _, fn = api.join_control_bits(kt, api.find_listing(wl.kernels[0].path, None))
    ref = whole(cfg, kt, fn)
    for step, look in [(1, 1), (3, 5)]:
        got, info = streamed(cfg, split(kt, step), fn, kt.num_ctas, look)
        same(ref, got)
        assert info["streamed"] == (not cluster)


def test_simulate_kernel_streams_large_grids_with_the_whole_result(monkeypatch):
    """Rule: ``simulate_kernel`` streams kernels of more than ``STREAM_MIN_WAVES`` waves by default, with
    the result of the whole trace (``stream=False``); CTA-wave sampling still walks only its sample."""
    cfg = load_config(A100, ["sm.count=4"])
    call = K.gemm("sm_80", 640, 1024, 128, *PTRS[:3])
    a = llm_run.simulate_kernel(cfg, call, stream=False)
    b = llm_run.simulate_kernel(cfg, call)
    assert b["streamed"] and not a["streamed"]
    for k in ("cycles", "warp_instructions", "dram_bytes", "l2_hit_rate", "ctas_per_sm"):
        assert a[k] == b[k], k
    call = K.gemm("sm_80", 1024, 1024, 64, *PTRS[:3])     # 8 waves: warm-up + 4 + drain sampled, streamed
    s = llm_run.simulate_kernel(cfg, call, sample=4)
    w = llm_run.simulate_kernel(cfg, call, sample=4, stream=False)
    assert s["streamed"] and s["sampling"]["ctas_simulated"] < call.launch.num_ctas
    assert {k: v for k, v in s.items() if not k.endswith("_seconds") and k != "streamed"} == \
        {k: v for k, v in w.items() if not k.endswith("_seconds") and k != "streamed"}


def test_joined_chunks_equal_the_whole_walk():
    """Rule: the CTA chunks of one launch joined (``gpusim.frontend.concat.concat_traces``, which
    ``run_streamed`` uses for its first window and for kernels run whole) are the trace of the whole
    range: CTA, warp and memory-row pointers rebased, each instruction's memory row shifted by the rows
    of the earlier chunks.  Checked to fail by dropping the memory-row shift in ``_join``."""
    from gpusim.frontend.concat import concat_traces

    call = K.gemv("sm_80", 2, 4096, 512, *PTRS[:3])
    ref = call.trace()
    joined = concat_traces(list(walk_chunks(call.kernel, call.launch, None, 3)))
    assert joined.num_ctas == ref.num_ctas > 3
    for f in ("cta_xyz", "cta_warp_ptr", "warp_slot", "warp_inst_ptr", "inst_static", "inst_mask", "inst_mem",
              "mem_mode", "mem_base", "mem_stride", "mem_ptr", "lane_off"):
        a, b = getattr(joined, f), getattr(ref, f)
        assert a.dtype == b.dtype and np.array_equal(a, b), f

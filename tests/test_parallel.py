"""Parallel simulation over SMs (``--threads``): the report is identical for any number of threads,
and the epoch-synchronous core equals a fully serial one wherever CTA dispatch does not differ."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpusim import api, assemble
from gpusim.config import load_config
from gpusim.core import sm as core
from gpusim.core.memsys import K_L2_ATOM_SECTORS
from gpusim.frontend.microasm import Inst, build
from gpusim.frontend.workload import open_workload
from tests.test_cli_run import VECADD, run_cli

EXIT = Inst("EXIT", stall=5)


def _raw(path, cfg, threads, **pack):
    """Per kernel: (cycles, counters, per-PC stats, issue cycles) straight from the core."""
    wl = open_workload(path)
    memsys = assemble.MemSystem(cfg)
    out = []
    for k in wl.kernels:
        kt = wl.load(k)
        _, fn = api.join_control_bits(kt, api.find_listing(k.path, None))
        r = assemble.pack(cfg, kt, fn, memsys=memsys, **pack)
        _, cycles, counters = assemble.run(r, kt, threads=threads)
        out.append((cycles, counters.copy(), r.pc_stats.copy(), r.issue_log.copy()))
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[0] == y[0]
        for u, v in zip(x[1:], y[1:]):
            assert np.array_equal(u, v)


def _report(path, cfg, threads):
    d = api.simulate(path, cfg, threads=threads).to_dict()
    assert d.pop("sim")["threads"] == threads
    return d


def _memory_heavy(tmp_path, ctas=120, wpc=32):
    """Loads, stores, an atomic and cp.async over more CTAs than fit at once (slots are refilled)."""
    X, Y = 0x7F0000000000, 0x7F4000000000
    step = ctas * wpc * 128
    prog = []
    for k in range(6):
        prog += [
            Inst("LDG.E R4, [R2.64]", wsb=0, base=X + k * step, warp_stride=128),
            Inst("LDG.E R5, [R6.64]", wsb=1, base=Y + (k % 2) * step, warp_stride=128),
            Inst("LDGSTS.E [R20], [R2.64]", base=X + (k + 1) * step, warp_stride=128),
            Inst("LDGDEPBAR"),
            Inst("FFMA R5, R4, R8, R5", stall=4, wait=(0, 1)),
            Inst("STG.E [R6.64], R5", rsb=3, base=Y + k * step, warp_stride=128),
            Inst("RED.E.ADD.STRONG.GPU [R10.64], R5", rsb=4, addr_stride=0, base=Y + step * 8),
            Inst("DEPBAR.LE SB0, 0x0", wait=(3,)),
            Inst("IADD3 R6, P1, R6, R12, RZ", stall=2),
        ]
    return build(prog + [EXIT], tmp_path / "mem", warps_per_cta=wpc, ctas=ctas, name="mem")


def test_vecadd_report_is_identical_with_one_and_two_threads(repo_root):
    cfg = load_config("rtx3070")
    assert _report(repo_root / VECADD, cfg, 1) == _report(repo_root / VECADD, cfg, 2)
    _assert_same(_raw(repo_root / VECADD, cfg, 1, log=True), _raw(repo_root / VECADD, cfg, 2, log=True))


@pytest.mark.parametrize("overrides,idle_skip", [([], True), (["subcore.dependence_mode=scoreboard"], True),
                                                 (["memory.dram_model=banked"], False),
                                                 (["memory.dram_model=hbm"], False)])
def test_memory_heavy_kernel_is_identical_for_any_thread_count(tmp_path, overrides, idle_skip):
    d = _memory_heavy(tmp_path)
    cfg = load_config("rtx3070", overrides)
    one = _raw(d, cfg, 1, idle_skip=idle_skip)
    assert one[0][1][core.C_LDGSTS] > 0 and one[0][1][core.C_MEM_BASE + K_L2_ATOM_SECTORS] > 0
    _assert_same(one, _raw(d, cfg, 2, idle_skip=idle_skip))
    _assert_same(one, _raw(d, cfg, 5, idle_skip=idle_skip))   # more workers than Numba threads
    if not idle_skip:
        return
    assert _report(d, cfg, 1) == _report(d, cfg, 2)


def test_real_trace_is_identical_with_one_and_two_threads(shared_traces):
    d = shared_traces / "accelsim-flashinfer-sm80/flashinfer-singledecode/traces"
    if not d.is_dir():
        pytest.skip(f"{d} is not present")
    cfg = load_config("a100-sxm4-80gb")
    assert _report(d, cfg, 1) == _report(d, cfg, 2)


def test_one_cycle_epochs_equal_the_default_when_no_cta_slot_is_refilled(repo_root, tmp_path):
    # the epochs change only when a finished CTA's slot is refilled: with one-cycle epochs (a serial
    # model) a single-wave kernel gives the same counters, per-PC stats and issue cycles
    cfg = load_config("rtx3070")
    assert assemble.epoch_cycles(cfg) > 1
    d = _memory_heavy(tmp_path, ctas=46)
    for path in (repo_root / VECADD, d):
        _assert_same(_raw(path, cfg, 1, log=True), _raw(path, cfg, 2, log=True, epoch=1))


def test_refilled_slots_change_a_multi_wave_kernel_little(tmp_path):
    # 120 CTAs of 32 warps on 46 SMs of one slot each: a refill starts up to one epoch (30 cycles)
    # later than in a serial model, which also reorders some memory requests
    d = _memory_heavy(tmp_path)
    cfg = load_config("rtx3070")
    (serial,), (epochs,) = _raw(d, cfg, 1, epoch=1), _raw(d, cfg, 2)
    assert serial[1][3] == epochs[1][3] == 120
    assert abs(epochs[0] - serial[0]) <= 0.01 * serial[0], (serial[0], epochs[0])


def test_cli_threads_flag(repo_root, tmp_path):
    reps = []
    for n in ("1", "2"):
        r = run_cli("run", VECADD, "--gpu", "rtx3070", "-o", str(tmp_path / n), "--threads", n, "--quiet", cwd=repo_root)
        assert r.returncode == 0, r.stderr
        rep = json.loads((tmp_path / n / "report.json").read_text())
        assert rep.pop("sim")["threads"] == int(n)
        reps.append(rep)
    assert reps[0] == reps[1]
    r = run_cli("run", VECADD, "--gpu", "rtx3070", "-o", str(tmp_path / "x"), "--threads", "0", cwd=repo_root)
    assert r.returncode != 0 and "--threads" in r.stderr


# ------------------------------------------------------------------ Hopper: TMA + mbarriers, clusters, wgmma

H100 = "h100-sxm5-80gb"


def _raw_dir(d, cfg, threads, patch=None, **pack):
    """(cycles, counters, per-PC stats, issue cycles) of the one kernel in the micro-kernel directory ``d``,
    its trace text first passed through ``patch``."""
    tr = d / "kernel-1.traceg"
    if patch is not None:
        tr.write_text(patch(tr.read_text()))
    return _raw(d, cfg, threads, **pack)


def _tma_kernel(tmp_path, ctas):
    """Each warp: init an mbarrier, then three phases of arrive.expect_tx + TMA copies (two copies charged to
    the second phase, so that both land in one epoch) + TRYWAIT and its consumer; every warp of a CTA
    waits on the same barrier.  Box rows follow tests/test_sync.py."""
    from tests import test_sync as S

    prog = [S.init()]
    for k in range(3):
        prog += [S.arrive_expect(), S.tma(0x7F0000000000 + k * (1 << 24))]
        if k == 1:
            prog += [S.tma(0x7F0000000000 + 7 * (1 << 24))]
        prog += [Inst("FFMA R2, R2, R3, R4", stall=4)] * 3 + [S.trywait(), S.CONSUME]
    d = build(prog + [EXIT], tmp_path / f"tma{ctas}", arch="sm_90", warps_per_cta=4, ctas=ctas,
              shmem=100 * 1024)
    return d, lambda t: t.replace("UTMALDG.2D 0 4 1", f"UTMALDG.2D 0 {S.ROW_BYTES} 1")


def test_tma_mbarrier_kernel_is_identical_for_any_thread_count(tmp_path):
    # TMA copies go through the L2 (memsys) like other global accesses: buffered, served at the epoch end,
    # and the phase they complete is a placeholder until then; 12 CTAs on 4 SMs (2 slots each) refill slots
    cfg = load_config(H100, ["sm.count=4", "icache.perfect=true"])
    d, patch = _tma_kernel(tmp_path, 12)
    one = _raw_dir(d, cfg, 1, patch, log=True)
    consume = 7   # the first TRYWAIT's consumer (after init, arrive, TMA, 3 FFMA, TRYWAIT)
    assert one[0][2][consume, 1 + core.R_LONG_SB] > 0 and one[0][1][core.C_CTAS] == 12
    _assert_same(one, _raw_dir(d, cfg, 2, log=True))
    _assert_same(one, _raw_dir(d, cfg, 5, log=True))
    assert _report(d, cfg, 1) == _report(d, cfg, 2)


def test_tma_kernel_with_one_cycle_epochs_equals_the_default_when_no_slot_is_refilled(tmp_path):
    # a single wave: the epochs change nothing, the mbarrier phases complete exactly as in a serial model
    cfg = load_config(H100, ["sm.count=4", "icache.perfect=true"])
    d, patch = _tma_kernel(tmp_path, 8)
    _assert_same(_raw_dir(d, cfg, 2, patch, log=True), _raw_dir(d, cfg, 1, log=True, epoch=1))


def _cluster_kernel(tmp_path, ctas, wpc, skip_cta):
    """A distributed-shared-memory load from the peer CTA, then an FFMA chain that CTA ``skip_cta`` of the
    trace skips, the cluster barrier (UCGABAR_ARV / UCGABAR_WAIT), a NOP, a longer FFMA chain (full-length
    epochs, run in parallel) and EXIT; clusters of 2."""
    from tests import test_cluster as T

    prog = [T.LD_PEER, T.USE, *T._barrier_prog()[:-1], *[Inst("FFMA R5, R5, R3, R4", stall=2)] * 80, EXIT]
    d = build(prog, tmp_path / f"cl{ctas}", arch="sm_90", ctas=ctas, warps_per_cta=wpc, shmem=150 * 1024)

    def patch(text):
        text = text.replace("-shmem = ", "-cluster dim = (2,1,1)\n-shmem = ", 1)
        return T.drop_lines(text, skip_cta, {16 * (k + 2) for k in range(T.CHAIN)})

    return d, patch


def test_cluster_kernel_is_identical_for_any_thread_count_and_equals_one_cycle_epochs(tmp_path):
    # clusters couple SMs (cluster launch on the SMs of one GPC, the cluster barrier): the SMs advance in
    # lockstep epochs that end right after the earliest possible cluster arrival or warp exit, so the
    # result equals a serial model (one-cycle epochs) even with refilled slots: 16 CTAs of 4 warps, one
    # per SM, on 8 SMs in 2 GPCs
    cfg = load_config(H100, ["sm.count=8", "sm.gpcs=2", "icache.perfect=true"])
    d, patch = _cluster_kernel(tmp_path, 16, 4, 1)
    one = _raw_dir(d, cfg, 1, patch, log=True)
    nop = 2 + 20 + 2   # LD, USE, the chain, ARV, WAIT
    assert one[0][1][core.C_CTAS] == 16 and one[0][2][nop, 1 + core.R_BARRIER] > 0
    _assert_same(one, _raw_dir(d, cfg, 2, log=True))
    _assert_same(one, _raw_dir(d, cfg, 5, log=True))
    _assert_same(one, _raw_dir(d, cfg, 1, log=True, epoch=1))
    assert _report(d, cfg, 1) == _report(d, cfg, 2)


def test_gemm_wgmma_is_identical_with_one_and_two_threads():
    # the real sm_90a TMA + wgmma GEMM (traces/kernels): 16 CTAs on 4 SMs of 2 slots, two waves
    from gpusim.frontend.reader import intern_opcodes
    from gpusim.llm import kernels as K
    from gpusim.llm.run import simulate_kernel

    cfg = load_config(H100, ["sm.count=4"])
    call = K.gemm_wgmma(256, 512, 512, *(0x7F0000000000 + i * (1 << 32) for i in range(3)), tile="64x128")
    out = []
    for threads in (1, 2):
        kt = call.trace()
        intern_opcodes(kt)
        r = assemble.pack(cfg, kt, call.kernel.function, log=True)
        _, cycles, counters = assemble.run(r, kt, threads=threads)
        out.append([(cycles, counters.copy(), r.pc_stats.copy(), r.issue_log.copy())])
    assert out[0][0][1][core.C_CTAS] == 16
    _assert_same(*out)
    a, b = (simulate_kernel(cfg, call, threads=n) for n in (1, 2))
    for x in (a, b):
        x.pop("walk_seconds"), x.pop("simulate_seconds")
    assert a == b and a["cycles"] == out[0][0][0]

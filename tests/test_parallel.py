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
                                                 (["memory.dram_model=banked"], False)])
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

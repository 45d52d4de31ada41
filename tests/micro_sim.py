"""Shared helper of the core and memory tests: build a tiny kernel with gpusim.frontend.microasm,
simulate it with issue logging, and read per-warp issue cycles."""

from __future__ import annotations

import numpy as np

from gpusim import api, assemble
from gpusim.config import load_config
from gpusim.frontend.microasm import Inst, build
from gpusim.frontend.workload import open_workload

EXIT = Inst("EXIT", stall=5)


def simulate(tmp_path, insts, gpu="rtx3070", overrides=(), sass=True, warm_l1=False, **kw):
    """Returns (SmRun, KernelTrace, cycles).  ``warm_l1`` installs the kernel's lines in SM 0's L1."""
    d = build(insts, tmp_path / f"k{len(list(tmp_path.iterdir()))}", **kw)
    if not sass:
        (d / "kernel-1.sass").unlink()
    r, kt, cycles = run_folder(d, load_config(gpu, list(overrides)), warm_l1=warm_l1)
    return r, kt, cycles


def run_folder(d, cfg, warm_l1=False):
    """Simulate the first kernel of trace folder ``d`` on ``cfg`` with its listing joined and the issue log
    on; returns (SmRun, KernelTrace, cycles)."""
    wl = open_workload(d)
    kt = wl.load(wl.kernels[0])
    _, fn = api.join_control_bits(kt, api.find_listing(wl.kernels[0].path, None))
    r = assemble.pack(cfg, kt, fn, log=True)
    if warm_l1:
        acc_ptr, acc_line, _ = r.extra["acc"]
        # (the cache lines of global/local/texture accesses, not the barrier operands folded in)
        r.extra["memsys"].preload_l1(0, np.unique(assemble.access_lines(acc_ptr, acc_line, r.extra["space"])))
    _, cycles, _ = assemble.run(r, kt)
    return r, kt, cycles


def issue_cycles(r, kt, warp=0):
    """Issue cycle of every instruction of one warp, in program order."""
    a, b = kt.warp_inst_ptr[warp], kt.warp_inst_ptr[warp + 1]
    return r.issue_log[a:b]

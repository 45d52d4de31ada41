"""Compact trace encoding (issue 19, "Streaming traces with compact encoding": at most 32 bytes per warp
instruction resident).  The arrays the core holds per dynamic instruction are narrow (int16 sectors or
wavefronts, int32 access pointers, the barrier operands folded into the access lists) and the trace's
memory rows are int32 where their values fit, int64 where they do not; none of it changes a simulated
number (benchmarks/core_golden.py, tests/test_stream.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from gpusim import api, assemble
from gpusim.config import load_config
from gpusim.core import sm as core
from gpusim.frontend.concat import _join
from gpusim.frontend.reader import intern_opcodes, narrow_int
from gpusim.frontend.workload import open_workload
from tests.conftest import REPO

GEMM = REPO / "traces" / "examples" / "gemm-sm80"


def _bundled_gemm():
    wl = open_workload(GEMM)
    kt = intern_opcodes(wl.load(wl.kernels[0]))
    _, fn = api.join_control_bits(kt, api.find_listing(wl.kernels[0].path, None))
    r = assemble.pack(load_config("a100-sxm4-80gb"), kt, fn)
    return kt, r


def test_narrow_int_keeps_int32_only_where_the_values_fit():
    """Rule: a trace array is stored as int32 only when every value fits; otherwise it stays int64 (exact)."""
    a = np.array([-2, 0, 2**31 - 1], np.int64)
    b = np.array([0, 2**31], np.int64)
    na, nb = narrow_int(a), narrow_int(b)
    assert na.dtype == np.int32 and np.array_equal(na, a)
    assert nb.dtype == np.int64 and np.array_equal(nb, b)


def test_joined_chunks_widen_past_int32():
    """Rule: chunks whose own pointers and memory rows fit int32 join into int64 when the joined values pass
    2^31 - 1 (the lane-offset pointers of many chunks; the memory row of a late chunk's instruction)."""
    big = 2**30 + 5
    parts = [SimpleNamespace(mem_ptr=np.array([0, big], np.int32)) for _ in range(3)]
    out = _join(parts, "mem_ptr", ptr=True)
    assert out.dtype == np.int64 and out.tolist() == [0, big, 2 * big, 3 * big]
    parts = [SimpleNamespace(inst_mem=np.array([-1, 0, 7], np.int32)) for _ in range(2)]
    out = _join(parts, "inst_mem", shift=np.array([0, 2**31]))
    assert out.dtype == np.int64 and out.tolist() == [-1, 0, 7, -1, 2**31, 2**31 + 7]


def test_core_window_holds_at_most_32_bytes_per_warp_instruction():
    """Rule (issue 19): what the core holds per dynamic instruction of its trace window -- all a streamed run
    keeps resident -- is at most 32 bytes per warp instruction on the bundled tensor-core GEMM (LDGSTS,
    ldmatrix, mma.sync, BAR)."""
    kt, r = _bundled_gemm()
    w = assemble._Window(r, kt)
    arrays = [w.cwp, w.wip, w.ist, w.imask, w.units, *w.acc, w.space]
    per_inst = sum(a.nbytes for a in arrays) / kt.warp_instructions
    assert per_inst <= 32, per_inst
    assert w.units.dtype == np.int16 and w.acc[0].dtype == np.int32


def test_barrier_operands_ride_in_the_access_lists():
    """Rule: a BAR instruction's named barrier (its listing immediates: id + NBAR * warps) reaches the core as
    the one entry of its access list (``core.sync._operand``), every other non-global instruction has none,
    and the global accesses keep their lines (``access_lines``)."""
    kt, r = _bundled_gemm()
    acc_ptr, acc_line, _ = r.extra["acc"]
    space = r.extra["space"]
    ops = assemble.barrier_operands(acc_ptr, acc_line, space)
    bar = (r.st[kt.inst_static, core.S_FLAGS] & (core.F_BARRIER | core.F_BAR_ARRIVE)) != 0
    assert bar.any()
    want = r.st[kt.inst_static, core.S_BAR].astype(np.int64)
    assert np.array_equal(ops[bar], want[bar])
    assert (ops[~bar] == -1).all()
    lines = assemble.access_lines(acc_ptr, acc_line, space)
    assert lines.size == acc_line.size - np.count_nonzero(want[bar] != -1)

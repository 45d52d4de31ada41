"""End-of-run write-back of dirty L2 lines (issue #18): a run's DRAM writes include the output a
write-back L2 still holds when the last kernel ends."""

import json
import os
import subprocess
import sys
from pathlib import Path

from gpusim import api

VECADD = Path(__file__).resolve().parents[1] / "traces" / "examples" / "vecadd-sm86"
N = 65536 - 80  # elements of the bundled vecadd (traces/examples/make_vecadd.py)


def test_dirty_l2_lines_are_written_back_at_end_of_run():
    """vecadd writes c[0:N] (4-byte floats) once; the 4 MiB L2 of the RTX 3070 evicts nothing during the
    kernel, so the kernel writes 0 B to DRAM and the end-of-run write-back is exactly the 4*N output
    bytes (N*4 is a multiple of the 32-byte sector).  Breaking the rule (no write-back, or counting whole
    lines instead of dirty sectors) fails the equality."""
    rep = api.simulate(VECADD, "rtx3070")
    assert rep.kernels[0].memory["dram_bytes_written"] == 0
    assert rep.l2_writeback == {"sectors": N * 4 // 32, "dram_bytes_written": N * 4}


def test_l2_writeback_takes_no_simulated_time_and_can_be_turned_off():
    on = api.simulate(VECADD, "rtx3070")
    off = api.simulate(VECADD, "rtx3070", overrides=["memory.l2_writeback_at_end=false"])
    assert off.l2_writeback == {}
    assert on.total_cycles == off.total_cycles


def test_run_speed_leaves_out_numba_compile_time():
    """'simulated in' counts simulation only: a fresh process must first compile or load the Numba
    core, and that time is reported as jit_seconds, not in wall_seconds (which would otherwise make a
    first run look 100x slower than the simulator is).  Removing the JitTimer makes jit_seconds 0."""
    code = ("import json,time,sys; t=time.perf_counter(); from gpusim import api; "
            f"r=api.simulate({str(VECADD)!r}, 'rtx3070'); "
            "print(json.dumps([r.sim['wall_seconds'], r.sim['jit_seconds'], time.perf_counter()-t]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(VECADD.parents[2])})
    wall, jit, elapsed = json.loads(out.stdout.strip().splitlines()[-1])
    assert jit > 0.05            # loading even a cached core takes a measurable fraction of a second
    assert wall + jit <= elapsed

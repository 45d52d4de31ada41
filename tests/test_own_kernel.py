"""Your own kernel, no GPU needed (issue 18): ``gpusim run --sass LISTING --kernel NAME --grid --block
--arg ...`` walks a compiled kernel's listing into a trace with the project's functional walker and
simulates it.  Oracle: the bundled vecadd trace (written independently by
traces/examples/make_vecadd.py for the same launch) simulates to the same cycles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpusim.cli import main

REPO = Path(__file__).resolve().parents[1]
VEC = REPO / "traces" / "examples" / "vecadd-sm86"
ARGS = ["--arg", "a=ptr:256KiB", "--arg", "b=ptr:256KiB", "--arg", "c=ptr:256KiB", "--arg", "n=i32:65536"]


def test_a_walked_listing_simulates_like_the_recorded_trace_of_the_same_launch(tmp_path):
    assert main(["run", str(VEC), "--gpu", "rtx3070", "-o", str(tmp_path / "t"), "--quiet"]) == 0
    assert main(["run", "--sass", str(VEC / "kernel-1.sass"), "--kernel", "vecadd", "--grid", "256", "--block", "256",
                 *ARGS, "--regs", "10", "--gpu", "rtx3070", "-o", str(tmp_path / "w"), "--quiet"]) == 0
    t = json.loads((tmp_path / "t" / "report.json").read_text())["kernels"][0]
    w = json.loads((tmp_path / "w" / "report.json").read_text())["kernels"][0]
    assert w["cycles"] == t["cycles"] and w["ctas"] == t["ctas"] == 256
    assert w["control_bits"]["walked"] and w["control_bits"]["arguments"]["n"] == 65536


@pytest.mark.parametrize("argv, message", [
    (["--kernel", "vecadd", "--grid", "4", "--block", "64", *ARGS], "needs --sass"),
    (["--sass", str(VEC / "kernel-1.sass"), "--kernel", "vecadd", "--grid", "4,0", "--block", "64", *ARGS],
     "--grid '4,0'"),
    (["--sass", str(VEC / "kernel-1.sass"), "--kernel", "vecadd", "--grid", "4", "--block", "64",
      "--arg", "a=float:1"], "expected NAME=TYPE:VALUE"),
    (["--sass", str(VEC / "kernel-1.sass"), "--kernel", "vecadd", "--grid", "4", "--block", "64",
      "--arg", "n=i32:1e3"], "bad i32 value"),
    (["--sass", str(VEC / "kernel-1.sass"), "--kernel", "nope", "--grid", "4", "--block", "64", *ARGS], "no function 'nope'"),
    ([str(VEC), "--grid", "4"], "do not apply to the trace"),
    ([], "give a TRACE"),
])
def test_bad_walk_requests_are_one_line_and_exit_status_2(argv, message, tmp_path, capsys):
    rc = main(["run", *argv, "--gpu", "rtx3070", "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_opcode_the_walker_cannot_execute_is_named_with_its_line(tmp_path, capsys):
    text = (VEC / "kernel-1.sass").read_text().replace("FADD R9, R4, R3", "FOOBAR R9, R4, R3")
    p = tmp_path / "k.sass"
    p.write_text(text)
    rc = main(["run", "--sass", str(p), "--kernel", "vecadd", "--grid", "1", "--block", "32", *ARGS, "--gpu", "rtx3070",
               "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "FOOBAR" in err and "Traceback" not in err, err


def test_saved_walked_trace_simulates_like_the_walk(tmp_path):
    """--save-trace writes the walked kernel as an Accel-Sim run (kernelslist.g, kernel-1.traceg and the
    function's listing); simulating that run gives the walk's cycles and instruction counts exactly (the
    trace carries every address and mask, the listing every control bit)."""
    from gpusim import api

    listing = REPO / "traces" / "examples" / "vecadd-sm86" / "kernel-1.sass"
    args = ["a=ptr:16KiB", "b=ptr:16KiB", "c=ptr:16KiB", "n=i32:4096"]
    walked = api.simulate_listing(listing, "rtx3070", kernel="vecadd", grid=(16, 1, 1), block=(256, 1, 1),
                                  args=args, registers=10, save_trace=tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["kernel-1.sass", "kernel-1.traceg", "kernelslist.g"]
    again = api.simulate(tmp_path / "run", "rtx3070")
    assert again.kernels[0].cycles == walked.kernels[0].cycles
    assert again.kernels[0].warp_instructions == walked.kernels[0].warp_instructions
    assert again.kernels[0].control_bits["matched"] == again.kernels[0].control_bits["static"]


def test_bundled_gemm_example_is_the_walk_of_its_listing():
    """traces/examples/gemm-sm80 holds what make_gemm.py's walk writes: its trace and listing join on
    every PC (a stale trace from another build of the kernel would not)."""
    from gpusim import api

    rep = api.simulate(REPO / "traces" / "examples" / "gemm-sm80", "a100-sxm4-80gb")
    k = rep.kernels[0]
    assert k.name == "gemm_f16_tn_128x128x32_s3" and tuple(k.grid) == (4, 4, 1)
    assert k.control_bits["matched"] == k.control_bits["static"]
    assert rep.l2_writeback["dram_bytes_written"] == 512 * 512 * 2   # C, fp16, still dirty in the L2

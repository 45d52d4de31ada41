"""Per-instruction timeline (issue 16): ``gpusim run --timeline FILE`` writes Chrome-trace JSON with
one slice per instruction from its issue to the warp's next issue; ``gpusim timeline FILE`` prints it
as a pipeline diagram.  Oracle: a dependent FFMA chain whose control codes set stall 4 holds each
FFMA for exactly 4 cycles (MGC §1.2)."""

from __future__ import annotations

import json
from pathlib import Path

from gpusim.cli import main

REPO = Path(__file__).resolve().parents[1]
CHAIN = REPO / "validation" / "micro" / "ffma-chain.cuasm"


def _walk_chain(tmp_path, *extra) -> dict:
    tl = tmp_path / "tl.json"
    assert main(["run", "--sass", str(CHAIN), "--kernel", "ffma_chain", "--grid", "2", "--block", "64", "--gpu",
                 "rtx3070", "-o", str(tmp_path / "o"), "--quiet", "--timeline", str(tl), *extra]) == 0
    return json.loads(tl.read_text())


def test_each_dependent_ffma_holds_its_warp_for_its_stall_count(tmp_path):
    d = _walk_chain(tmp_path)
    w0 = sorted((e for e in d["traceEvents"] if e["ph"] == "X" and e["pid"] == 0 and e["tid"] == 0),
                key=lambda e: e["ts"])
    assert [e["name"] for e in w0] == ["CS2R"] + ["FFMA"] * 8 + ["CS2R", "EXIT"]
    assert [e["dur"] for e in w0[1:9]] == [4] * 8
    assert all(b["ts"] == a["ts"] + a["dur"] for a, b in zip(w0, w0[1:]))   # slices tile the warp's time
    assert w0[1]["args"]["stall"] == 4 and w0[1]["args"]["pc"] == "0x0010"


def test_the_window_keeps_only_the_chosen_ctas_and_warps(tmp_path):
    d = _walk_chain(tmp_path, "--timeline-window", "ctas=1,warps=1")
    xs = [e for e in d["traceEvents"] if e["ph"] == "X"]
    assert xs and {(e["pid"], e["tid"]) for e in xs} == {(1, 1)}
    assert any(e["ph"] == "C" for e in d["traceEvents"])                       # the IPC counter track


def test_the_text_view_prints_one_row_per_instruction(tmp_path, capsys):
    _walk_chain(tmp_path)
    capsys.readouterr()
    assert main(["timeline", str(tmp_path / "tl.json"), "--cta", "0", "--warp", "0"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0].split()[:4] == ["cta", "warp", "pc", "opcode"] and len(rows) == 1 + 11
    assert rows[2].split()[3] == "FFMA" and rows[2].split()[5] == "4"


def test_a_bad_window_is_one_error_line(tmp_path, capsys):
    rc = main(["run", str(REPO / "traces/examples/vecadd-sm86"), "--gpu", "rtx3070", "-o", str(tmp_path / "o"), "--quiet",
               "--timeline", str(tmp_path / "t.json"), "--timeline-window", "ctas=3-1"])
    err = capsys.readouterr().err
    assert rc == 2 and "empty or negative range" in err

"""Determinism (issue 18): the same run twice, and with 1 or 2 threads, writes the same report.json
byte for byte apart from the ``sim`` block (wall-clock seconds, speeds and the thread count, which
describe the host, not the simulated GPU)."""

from __future__ import annotations

import json

from gpusim.cli import main


def _report(tmp_path, name, *extra) -> str:
    out = tmp_path / name
    assert main(["run", "traces/examples/vecadd-sm86", "--gpu", "a100-sxm4-80gb", "--set", "sm.count=8", "-o", str(out),
                 "--quiet", *extra]) == 0
    rep = json.loads((out / "report.json").read_text())
    rep.pop("sim")
    return json.dumps(rep, indent=2, sort_keys=True)


def test_the_same_run_twice_and_with_two_threads_writes_identical_reports(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    a = _report(tmp_path, "a")
    b = _report(tmp_path, "b")
    c = _report(tmp_path, "c", "--threads", "2")
    assert a == b
    assert a == c

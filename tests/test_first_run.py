"""Honest first run (issue 18): a command that must compile the Numba core first says so in one line
before it starts, naming where the machine code is cached; a warm cache prints nothing."""

from __future__ import annotations

import gpusim.core as core


def test_a_cold_cache_gets_the_compile_notice_and_a_warm_one_none(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "cache_dir", lambda: tmp_path)
    msg = core.compile_notice()
    assert msg and "compiling the simulator core" in msg and str(tmp_path) in msg and "gpusim warmup" in msg
    d = tmp_path / "core_0123"
    d.mkdir()
    # (the core's entry point is engine.run_sm since the stage split, issue 17)
    (d / "engine.run_sm-1234.py311.nbi").write_bytes(b"")
    assert core.is_compiled() and core.compile_notice() is None
    # more than one thread runs run_sm_threads, compiled on first use (issue 19): still to compile
    assert not core.is_compiled(threads=2) and core.compile_notice(threads=2)
    (d / "engine.run_sm_threads-1234.py311.nbi").write_bytes(b"")
    assert core.compile_notice(threads=2) is None


def test_the_cli_prints_the_notice_on_stderr_before_simulating(tmp_path, monkeypatch, capsys):
    from gpusim.cli import common as cli

    monkeypatch.setattr(core, "compile_notice", lambda threads=1: "gpusim: compiling the simulator core (test)")
    cli.print_compile_notice(quiet=False)
    assert capsys.readouterr().err.strip() == "gpusim: compiling the simulator core (test)"
    cli.print_compile_notice(quiet=True)
    assert capsys.readouterr().err == ""

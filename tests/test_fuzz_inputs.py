"""Property-based fuzzing of the user-facing inputs (issue 18): whatever is done to a SASS listing, a
config file or the command line, gpusim ends in a result or in its own one-line error (a
GpusimError subclass; exit status 2 from the CLI) — never another exception, traceback or hang.
Budget: about 10-30 s of the default run (examples below)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpusim.errors import GpusimError

REPO = Path(__file__).resolve().parents[1]
LISTING = (REPO / "traces" / "examples" / "vecadd-sm86" / "kernel-1.sass").read_text().splitlines()
GPU_YAML = (REPO / "configs" / "gpus" / "rtx3070.yaml").read_text().splitlines()
JUNK = ["", "0x", "R999", "[B------:R-:W-:-:S04]", "/*0000*/", "{", "}", ";", "-1", "1e99", "::", "@P9", "MOV",
        "\t", "ffffffffffffffffffff", ": [", "extends: rtx3070", "sm:", "  count: -3", "null", "'", "\"", "~"]


def _mutate(lines: list[str], muts) -> str:
    out = list(lines)
    for pos, op, junk in muts:
        if not out:
            break
        i = pos % len(out)
        if op == 0:
            out[i] = out[i][: pos % (len(out[i]) + 1)]
        elif op == 1:
            toks = out[i].split(" ")
            toks[pos % len(toks)] = junk
            out[i] = " ".join(toks)
        elif op == 2:
            out.insert(i, junk)
        elif op == 3:
            out[i], out[-1 - i] = out[-1 - i], out[i]
        else:
            del out[i]
    return "\n".join(out) + "\n"


MUTS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 4), st.sampled_from(JUNK)), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(muts=MUTS)
def test_a_mutated_sass_listing_parses_or_raises_a_gpusim_error(muts):
    from gpusim.frontend.sass import parse_sass_text

    try:
        parse_sass_text(_mutate(LISTING, muts))
    except GpusimError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(muts=MUTS)
def test_a_mutated_config_file_loads_or_raises_a_config_error(tmp_path_factory, muts):
    from gpusim.config import load_config

    p = tmp_path_factory.mktemp("cfg") / "fuzzed.yaml"
    p.write_text(_mutate(GPU_YAML, muts).replace("extends: ../arch/ampere.yaml", "extends: ampere"))
    try:
        load_config(p)
        outcome["config_loaded"] += 1
    except GpusimError:
        outcome["config_refused"] += 1


outcome = {"config_loaded": 0, "config_refused": 0}


def test_the_config_fuzzing_reached_both_outcomes():
    """The fuzzer is not vacuous: some mutated configs still load, some are refused (runs after it)."""
    if outcome["config_loaded"] + outcome["config_refused"] == 0:
        pytest.skip("the fuzz test did not run in this session")
    assert outcome["config_loaded"] > 0 and outcome["config_refused"] > 0, outcome


WORDS = ["run", "trace", "info", "sass", "config", "show", "check", "llm", "validate", "sweep", "plot", "compare",
         "report", "--gpu", "rtx3070", "nope-gpu", "--set", "sm.count=0", "sm.count=abc", "memory.l2_size=-1 MiB",
         "--op", "gemm:m=0,n=1,k=1", "gemv:batch=99", "attention:heads=3", "--model", "tiny", "--step",
         "decode:batch=-1", "prefill:tokens=x", "--sample", "1", "-o", "/nonexistent/dir/x", "missing.traceg",
         "traces/examples/vecadd-sm86/kernel-1.sass", "--threads", "0", "--json", "--quiet", "--tp", "3", "list"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6))
def test_random_command_lines_end_in_a_result_or_exit_status_2(argv, capsys):
    """No traceback from any combination of words: exit 0 (something valid and cheap ran), 2 (one
    error line) or argparse's own usage exit."""
    from gpusim.cli import main

    if argv[0] in ("run", "llm", "validate", "sweep") and "--quiet" not in argv:
        argv = [*argv, "--quiet"]
    try:
        rc = main(argv)
    except SystemExit as e:          # argparse: --help / usage errors (status 0 or 2)
        rc = e.code
    err = capsys.readouterr().err
    assert rc in (0, 2), (argv, rc, err)
    assert "Traceback" not in err, (argv, err)

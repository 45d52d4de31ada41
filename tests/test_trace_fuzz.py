"""Property: whatever is done to the lines of a real trace, the reader parses it or raises its own
clear error (TraceError / IsaError) naming the file — never an IndexError, a crash or a hang."""

from __future__ import annotations

import lzma

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpusim.errors import GpusimError
from gpusim.frontend.reader import intern_opcodes, read_kernel_trace

SOURCES = [
    "microgpusim-gtx1080/vectoradd-100-32-trace/kernel-1.traceg",                 # v4, mode 1
    "accelsim-flashinfer-sm80/flashinfer-gemm/traces/kernel-7.traceg.xz",         # v5, modes 1 and 2
    "simpletorch-v100-tracer-v3/kernel-1.traceg.xz",                              # v3
]


def _load_lines(shared, rel):
    data = (shared / rel).read_bytes()
    if rel.endswith(".xz"):
        data = lzma.decompress(data)
    return data.decode().splitlines()  # whole files (83-1,031 lines)


def _mutate(line: str, op: int, pos: int, junk: str) -> str:
    toks = line.split(" ")
    if op == 0:  # truncate
        return line[: pos % (len(line) + 1)]
    if op == 1 and len(toks) > 1:  # swap two fields
        i, j = pos % len(toks), (pos // 7) % len(toks)
        toks[i], toks[j] = toks[j], toks[i]
        return " ".join(toks)
    if op == 2:  # bad hex / junk token
        toks[pos % len(toks)] = junk
        return " ".join(toks)
    if op == 3:  # huge counts
        toks[pos % len(toks)] = "99999999999999999999"
        return " ".join(toks)
    if op == 4:  # duplicate the line
        return line + "\n" + line
    return ""  # delete


outcome = {"parsed": 0, "error": 0}


@pytest.fixture(scope="module")
def sources(shared_traces):
    return {rel: _load_lines(shared_traces, rel) for rel in SOURCES}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(src=st.sampled_from(SOURCES), muts=st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 5),
                                                            st.integers(0, 10_000),
                                                            st.sampled_from(["0xZZ", "R999", "-1", "", "0x", "R",
                                                                             "1e9", "ffffffffffffffffff", "#BEGIN_TB",
                                                                             "warp", "=", "insts = 5"])),
                                                  min_size=1, max_size=4))
def test_mutated_real_trace_parses_or_raises_a_clear_error(sources, tmp_path_factory, monkeypatch, src, muts):
    monkeypatch.setenv("GPUSIM_CACHE_DIR", "off")
    lines = list(sources[src])
    for idx, op, pos, junk in muts:
        i = idx % len(lines)
        lines[i] = _mutate(lines[i], op, pos, junk)
    p = tmp_path_factory.mktemp("fuzz") / "kernel-1.traceg"
    p.write_text("\n".join(lines) + "\n")
    try:
        intern_opcodes(read_kernel_trace(p, use_cache=False))
        outcome["parsed"] += 1
    except GpusimError as e:
        outcome["error"] += 1
        msg = str(e)
        assert str(p) in msg and "\n" not in msg


def test_unmutated_sources_parse(shared_traces):
    # the property above is only meaningful if the originals are valid
    for rel in SOURCES:
        intern_opcodes(read_kernel_trace(shared_traces / rel, use_cache=False))


def test_mutations_exercise_both_outcomes():
    # runs after the property test in file order: both clean parses and clear errors occurred
    if outcome["parsed"] + outcome["error"] == 0:
        pytest.skip("property test did not run")
    assert outcome["parsed"] > 0 and outcome["error"] > 0, outcome

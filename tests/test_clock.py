"""``gpusim clock`` (issue 16): a microbenchmark listing run as it is — cuobjdump text or CuAssembler
``.cuasm`` with its control codes — with every SR_CLOCKLO read returning the simulated issue cycle.

Analytic oracle (MGC §1.2, control bits): a clock read with stall 1, then n dependent FFMAs with stall
4, then the second read: the reads are 1 + 4 n cycles apart."""

from __future__ import annotations

import json
import re

import pytest

from gpusim.cli import main
from gpusim.errors import SassError

CHAIN = """// dependent FFMA chain between two clock reads
.global chain
    [B------:R-:W-:-:S01]   CS2R R2, SR_CLOCKLO ;
{body}    [B------:R-:W-:-:S01]   CS2R R6, SR_CLOCKLO ;
    [B------:R-:W-:-:S05]   EXIT ;
"""


def _chain(n: int, stall: int = 4) -> str:
    return CHAIN.format(body=f"    [B------:R-:W-:-:S{stall:02d}]   FFMA R4, R4, R4, R4 ;\n" * n)


def _clock(capsys, path, *extra) -> dict:
    assert main(["clock", str(path), "--gpu", "rtx3070", "--arch", "sm_86", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("n", [1, 8, 20])
def test_clock_reads_around_a_dependent_ffma_chain_are_the_stall_counts_apart(tmp_path, capsys, n):
    p = tmp_path / "chain.cuasm"
    p.write_text(_chain(n))
    r = _clock(capsys, p, "--threads", "32")
    (w,) = r["warps"]
    assert w["warp"] == 0 and len(w["clock_reads"]) == 2
    assert w["clock_reads"][1] - w["clock_reads"][0] == 1 + 4 * n


def test_the_stall_count_of_the_control_code_sets_the_distance(tmp_path, capsys):
    """Rule: a stall count of 6 on each chain instruction spaces the issues 6 cycles apart (the FFMA
    latency of 4 is already covered), so the reads move 2 cycles per FFMA further apart."""
    p = tmp_path / "c6.cuasm"
    p.write_text(_chain(8, stall=6))
    w = _clock(capsys, p, "--threads", "32")["warps"][0]
    assert w["clock_reads"][1] - w["clock_reads"][0] == 1 + 6 * 8


def test_every_warp_of_the_cta_reports_its_reads(tmp_path, capsys):
    p = tmp_path / "chain.cuasm"
    p.write_text(_chain(4))
    r = _clock(capsys, p, "--threads", "128")
    assert [w["warp"] for w in r["warps"]] == [0, 1, 2, 3]
    assert all(w["clock_reads"][1] - w["clock_reads"][0] == 17 for w in r["warps"])   # one warp per sub-core


def test_a_cuobjdump_listing_of_the_same_code_gives_the_same_reads(tmp_path, capsys):
    from gpusim.frontend.cuasm import cuasm_to_sass_text

    p = tmp_path / "chain.cuasm"
    p.write_text(_chain(8))
    s = tmp_path / "chain.sass"
    s.write_text(cuasm_to_sass_text(p.read_text(), "chain.cuasm", "sm_86"))
    a = _clock(capsys, p, "--threads", "32")["warps"]
    b = _clock(capsys, s, "--threads", "32")["warps"]
    assert a == b


def test_cuasm_control_codes_decode_like_the_hex_words_of_the_cuassembler_listing(shared_traces):
    """The bracket text alone ([reuse:Bwait:Rr:Ww:Y:Sstall]) gives the same control bits as the hex
    words of all 2,848 instructions of CuAssembler's own listing."""
    from gpusim.frontend.cuasm import cuasm_to_sass_text
    from gpusim.frontend.sass import parse_sass_listing, parse_sass_text

    d = shared_traces / "cuassembler-mandelbrot-sm75"
    ref = parse_sass_listing(d / "Mandelbrot.sm_75.sass")
    text = re.sub(r"/\*\s*0x[0-9a-fA-F]+;\s*0x[0-9a-fA-F]+\s*\*/", "", (d / "Mandelbrot.sm_75.cuasm").read_text())
    got = parse_sass_text(cuasm_to_sass_text(text, "m.cuasm"), "m")
    assert sorted(got.functions) == sorted(ref.functions)
    n = 0
    for k, fr in ref.functions.items():
        fg = got.functions[k]
        assert (fg.pc == fr.pc).all() and fg.opcode == fr.opcode
        for f in ("stall", "yield_flag", "wsb", "rsb", "wait_mask", "reuse"):
            assert (getattr(fg, f) == getattr(fr, f)).all(), (k, f)
        n += len(fr)
    assert n == 2848


def test_a_malformed_control_code_names_the_line():
    from gpusim.frontend.cuasm import cuasm_to_sass_text

    with pytest.raises(SassError, match=r"x.cuasm:2: malformed control code"):
        cuasm_to_sass_text(".global k\n  [B-----:R-:W-:-:S04] FFMA R1, R1, R1, R1 ;\n", "x.cuasm", "sm_86")


def test_an_opcode_the_walker_cannot_execute_is_one_error_line(tmp_path, capsys):
    p = tmp_path / "bad.cuasm"
    p.write_text(_chain(1).replace("FFMA R4, R4, R4, R4", "FROB R4, R4"))
    rc = main(["clock", str(p), "--gpu", "rtx3070", "--arch", "sm_86", "--threads", "32"])
    err = capsys.readouterr().err
    assert rc == 2 and "FROB" in err and "Traceback" not in err, err

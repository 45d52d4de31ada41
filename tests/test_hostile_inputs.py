"""Nothing silent (issue 18): inputs that used to "succeed" with exit 0 and a wrong answer are one
error line naming the file and what is wrong, exit status 2; ``--allow-partial`` is the explicit
way to simulate a trace that holds only some of its grid's thread blocks, and the report says so.

The traces are cut from the bundled vecadd trace (256 CTAs of 256 threads, 8 warps each)."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pytest

from gpusim.cli import main

REPO = Path(__file__).resolve().parents[1]
VECADD = REPO / "traces" / "examples" / "vecadd-sm86"


def _lines() -> list[str]:
    return lzma.decompress((VECADD / "kernel-1.traceg.xz").read_bytes()).decode().splitlines(keepends=True)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    d = tmp_path / "t"
    d.mkdir()
    (d / "kernel-1.traceg").write_text("".join(lines))
    (d / "kernelslist.g").write_text("kernel-1.traceg\n")
    return d


def _cut_after_ctas(n: int) -> list[str]:
    out, ends = [], 0
    for ln in _lines():
        out.append(ln)
        if ln.startswith("#END_TB"):
            ends += 1
            if ends == n:
                break
    return out


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _one_line_exit_2(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_an_empty_kernelslist_is_refused_naming_the_file(tmp_path, capsys):
    (tmp_path / "kernelslist.g").write_text("MemcpyHtoD,0x00007f0000000000,16\n\n")
    rc, _, err = _run(capsys, "run", str(tmp_path / "kernelslist.g"), "--gpu", "rtx3070", "-o", str(tmp_path / "o"),
                      "--quiet")
    _one_line_exit_2(rc, err, "kernelslist.g", "lists no kernel")


def test_a_trace_cut_at_a_cta_boundary_is_refused_unless_allow_partial(tmp_path, capsys):
    """A trace holding 129 of the 256 CTAs its header declares used to be simulated and reported as
    the kernel.  Now: exit 2 naming the file and both counts; with --allow-partial it runs and the
    report marks the kernel partial (ctas 129 of grid_ctas 256)."""
    d = _write(tmp_path, _cut_after_ctas(129))
    rc, _, err = _run(capsys, "run", str(d), "--gpu", "rtx3070", "-o", str(tmp_path / "o"), "--quiet", "--no-cache")
    _one_line_exit_2(rc, err, "kernel-1.traceg", "holds 129 of the 256 thread blocks", "--allow-partial")
    rc, out, err = _run(capsys, "run", str(d), "--gpu", "rtx3070", "-o", str(tmp_path / "o"), "--allow-partial",
                        "--no-cache")
    assert rc == 0, err
    k = json.loads((tmp_path / "o" / "report.json").read_text())["kernels"][0]
    assert k["partial"] == {"ctas": 129, "grid_ctas": 256} and k["ctas"] == 129
    assert "PARTIAL" in out


def test_trace_info_shows_a_partial_trace_as_partial(tmp_path, capsys):
    d = _write(tmp_path, _cut_after_ctas(3))
    rc, out, err = _run(capsys, "trace", "info", str(d), "--json")
    assert rc == 0, err
    k = json.loads(out)["kernels"][0]
    assert k["partial"] is True and k["ctas"] == 3 and k["grid_ctas"] == 256


def test_a_thread_block_recorded_twice_is_refused_with_its_line(tmp_path, capsys):
    lines = _cut_after_ctas(2)
    first = lines[lines.index(next(ln for ln in lines if ln.startswith("#BEGIN_TB"))):]
    first = first[: first.index(next(ln for ln in first if ln.startswith("#END_TB"))) + 1]
    d = _write(tmp_path, lines + first)       # CTA (0,0,0) once more at the end
    rc, _, err = _run(capsys, "run", str(d), "--gpu", "rtx3070", "-o", str(tmp_path / "o"), "--quiet", "--no-cache",
                      "--allow-partial")
    _one_line_exit_2(rc, err, "kernel-1.traceg:", "thread block (0, 0, 0) is recorded twice")


def test_a_missing_end_tb_is_refused_with_its_line(tmp_path, capsys):
    lines = _cut_after_ctas(3)
    last_end = max(i for i, ln in enumerate(lines) if ln.startswith("#END_TB"))
    d = _write(tmp_path, lines[:last_end] + lines[last_end + 1:])
    rc, _, err = _run(capsys, "run", str(d), "--gpu", "rtx3070", "-o", str(tmp_path / "o"), "--quiet", "--no-cache",
                      "--allow-partial")
    _one_line_exit_2(rc, err, "kernel-1.traceg")

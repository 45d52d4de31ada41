"""gpusim report: a run's report.json rendered as Markdown, self-contained HTML and a stall chart;
numbers shown are the report's numbers; sections the renderer does not know are still shown."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from gpusim.errors import GpusimError
from gpusim.stats import render

VECADD = "traces/examples/vecadd-sm86"


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpusim", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def rendered(repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    r = run_cli("run", VECADD, "--gpu", "rtx3070", "-o", str(out), "--quiet", cwd=repo_root)
    assert r.returncode == 0, r.stderr
    r = run_cli("report", str(out), cwd=repo_root)
    assert r.returncode == 0, r.stderr
    return out, json.loads((out / "report.json").read_text())


def test_markdown_shows_the_reports_cycles_ipc_and_time_from_the_resolved_clock(rendered):
    out, rep = rendered
    md = (out / "report.md").read_text()
    k = rep["kernels"][0]
    row = next(line for line in md.splitlines() if line.startswith("| 1 | `vecadd`"))
    assert f"{k['cycles']:,}" in row and f"{k['warp_instructions']:,}" in row
    # time = cycles / sm.clock of the resolved config beside report.json (RTX 3070: 1.132 GHz)
    assert f"{k['cycles'] / 1.132e9 * 1e6:.3f}" in row
    assert f"{rep['total_cycles']:,}" in md


def test_stall_breakdown_shares_sum_to_the_reports_counts(rendered):
    out, rep = rendered
    md = (out / "report.md").read_text()
    stalls = {n: c for n, c in rep["kernels"][0]["stall_reasons"].items() if c}
    total = sum(stalls.values())
    for n, c in stalls.items():
        assert f"| {n} | {c:,} | {100 * c / total:.1f}% |" in md
    assert (out / "stalls.png").read_bytes()[:4] == b"\x89PNG"


def test_hot_pcs_and_dram_bandwidth_are_rendered_when_present(rendered):
    out, rep = rendered
    md = (out / "report.md").read_text()
    k = rep["kernels"][0]
    if k.get("hot_pcs"):
        assert f"`{k['hot_pcs'][0]['pc']}`" in md
    cyc, dram = k["cycles"], k["memory"]["dram_bytes_read"]
    assert f"{dram / cyc:.1f} B/clk = {dram / (cyc / 1.132e9) / 1e9:.1f} GB/s" in md


def test_html_is_one_self_contained_file(rendered):
    out, _ = rendered
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html
    assert "data:image/png;base64," in html
    assert not re.search(r'(src|href)="(?!data:)[^"#]+\.(png|css|js)"', html)     # nothing loaded from elsewhere


def test_unknown_sections_and_hit_rates_are_shown_generically(tmp_path):
    rep = {"gpu": "X", "gpu_config": "x", "trace": "t", "model": "m", "gpusim_version": "0", "total_cycles": 10,
           "kernels": [{"name": "k<script>", "kernel_id": 1, "grid": [1, 1, 1], "block": [32, 1, 1], "cycles": 10,
                        "warp_instructions": 5, "ipc": 0.5, "stall_reasons": {"selected": 5, "wait": 5},
                        "l2": {"hits": 3, "misses": 1, "hit_rate": 0.75}}]}
    (tmp_path / "report.json").write_text(json.dumps(rep))
    files = render.render_run_report(tmp_path)
    md = files["markdown"].read_text()
    assert "`l2.hit_rate` | 75.0%" in md and "| `hits` | 3 |" in md
    html = files["html"].read_text()
    assert "<script>" not in html and "k&lt;script&gt;" in html       # text is escaped


def test_missing_report_is_a_one_line_error(tmp_path, repo_root):
    with pytest.raises(GpusimError, match="no report.json"):
        render.render_run_report(tmp_path)
    r = run_cli("report", str(tmp_path), cwd=repo_root)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_markdown_tables_keep_escaped_pipes_and_right_alignment():
    html = render.markdown_to_html("| a | b |\n|---|---:|\n| x \\| y | 3 |\n", title="t")
    assert "<td>x | y</td>" in html and '<td class="r">3</td>' in html

"""gpusim sweep / plot: points are checked before anything runs, the table is tidy and written
incrementally, a killed sweep resumes without redoing finished points, and the process pool and a
Dask cluster give the same rows as an in-process run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gpusim import sweep as sw
from gpusim.errors import GpusimError

VECADD = "traces/examples/vecadd-sm86"


def run_cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "gpusim", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.fixture(scope="module", autouse=True)
def warm_jit(repo_root):
    """Compile (or load) the core once in this process so that worker processes find Numba's disk cache."""
    from gpusim import api

    api.simulate(repo_root / VECADD, "rtx3070")


def tiny_sweep(tmp_path: Path, axes: str, combine: str = "product") -> Path:
    """A sweep over a 1-warp dependent FFMA chain (fast to simulate); ``axes`` is YAML, one axis per line."""
    lines = ["name: tiny", "base: rtx3070", "workloads:",
             "  - {microbench: alu_latency, params: {length: 64}, name: chain}", "axes:"]
    lines += ["  " + a for a in axes.splitlines()]
    lines.append(f"combine: {combine}")
    p = tmp_path / "sweep.yaml"
    p.write_text("\n".join(lines) + "\n")
    return p


# ----------------------------------------------------------------------------------------------
# Expansion and checks before running.


def test_product_combines_every_value_of_every_axis_and_zip_pairs_them(tmp_path):
    p = tiny_sweep(tmp_path, "sm.count: [2, 4, 8]\nsubcore.issue_policy: [gto, lrr]")
    s = sw.load_sweep(p)
    assert [pt.values for pt in s.points][:2] == [{"sm.count": 2, "subcore.issue_policy": "gto"},
                                                  {"sm.count": 2, "subcore.issue_policy": "lrr"}]
    assert len(s.points) == 6
    assert len({pt.point_id for pt in s.points}) == 6
    z = sw.load_sweep(tiny_sweep(tmp_path, "sm.count: [2, 4]\nsubcore.issue_policy: [gto, lrr]", "zip"))
    assert [pt.values for pt in z.points] == [{"sm.count": 2, "subcore.issue_policy": "gto"},
                                              {"sm.count": 4, "subcore.issue_policy": "lrr"}]
    # ids depend on the point's config and workload only: the same point in both sweeps has the same id
    assert z.points[0].point_id == s.points[0].point_id


def test_an_unknown_axis_key_is_one_error_naming_the_file_line_and_a_suggestion(tmp_path):
    p = tiny_sweep(tmp_path, "sm.cout: [2, 4]")
    with pytest.raises(sw.SweepError) as e:
        sw.load_sweep(p)
    msg = str(e.value)
    assert f"{p}:6:" in msg and "axes.sm.cout" in msg and "did you mean 'sm.count'" in msg


def test_an_invalid_value_names_the_line_of_that_value_and_nothing_runs(tmp_path, repo_root):
    p = tiny_sweep(tmp_path, "sm.count: [2,\n  0]")       # the 0 is on line 7
    out = tmp_path / "out"
    r = run_cli("sweep", str(p), "-o", str(out), cwd=repo_root)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{p}:7:" in r.stderr and "sm.count" in r.stderr and ">= 1" in r.stderr
    assert not out.exists()                        # rejected before any simulation


@pytest.mark.parametrize("body, needle", [
    ("sm.count: [2, 4]\nsm.subcores: [4]", "zip needs axes of one length"),
    ("sm.count: []", "non-empty list"),
    ("sm.count: 4", "non-empty list"),
])
def test_malformed_axes_are_rejected(tmp_path, body, needle):
    with pytest.raises(sw.SweepError, match=needle):
        sw.load_sweep(tiny_sweep(tmp_path, body, "zip"))


def test_workloads_a_missing_trace_and_a_kind_not_available_yet_are_errors(tmp_path):
    p = write(tmp_path, """\
        base: rtx3070
        workloads:
          - trace: no/such/trace
        """)
    with pytest.raises(sw.SweepError, match=r"sweep.yaml:3: workloads\[0\].trace: no such trace"):
        sw.load_sweep(p)
    p = write(tmp_path, """\
        base: rtx3070
        workloads:
          - llm: {model: llama-7b}
        """)
    with pytest.raises(sw.SweepError, match=r"workload kind 'llm'.*available kinds: trace, microbench"):
        sw.load_sweep(p)
    p = write(tmp_path, """\
        base: rtx3070
        workloads:
          - {microbench: pointer_chase, params: {workng_set: 4 MiB}}
        """)
    with pytest.raises(sw.SweepError, match="did you mean 'working_set'"):
        sw.load_sweep(p)


def test_unknown_top_level_key_and_bad_yaml(tmp_path):
    with pytest.raises(sw.SweepError, match="did you mean 'axes'"):
        sw.load_sweep(write(tmp_path, "base: rtx3070\nworkloads: [traces/examples/vecadd-sm86]\naxis: {}\n"))
    with pytest.raises(sw.SweepError, match=r"sweep.yaml:2: invalid YAML"):
        sw.load_sweep(write(tmp_path, "base: rtx3070\n  workloads: [x\n"))


def test_dry_run_lists_every_point_and_simulates_nothing(tmp_path, repo_root):
    p = tiny_sweep(tmp_path, "sm.count: [2, 4]\nsubcore.issue_policy: [gto, lrr]")
    r = run_cli("sweep", str(p), "--dry-run", "-o", str(tmp_path / "out"), cwd=repo_root)
    assert r.returncode == 0, r.stderr
    assert "4 points" in r.stdout and "sm.count=4, subcore.issue_policy=lrr" in r.stdout
    assert not (tmp_path / "out").exists()


def test_trace_paths_resolve_against_the_checkout(tmp_path, repo_root):
    # the shipped example sweeps name traces relative to the repository, not to configs/sweeps/
    for f in sorted((repo_root / "configs" / "sweeps").glob("*.yaml")):
        s = sw.load_sweep(f)
        assert s.points and all(Path(p.workload.path).exists() for p in s.points if p.workload.kind == "trace")


# ----------------------------------------------------------------------------------------------
# Running.


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_cli_writes_one_row_per_point_and_kernel_in_csv_and_parquet(tmp_path, repo_root):
    p = write(tmp_path, f"""\
        name: sm
        base: rtx3070
        workloads: [{repo_root / VECADD}]
        axes:
          sm.count: [12, 46]
          memory.l2_size: [4 MiB, 6 MiB]
        """)
    out = tmp_path / "out"
    r = run_cli("sweep", str(p), "-o", str(out), "-j", "2", "--quiet", cwd=repo_root)
    assert r.returncode == 0, r.stderr
    rows = read_csv(out / "results.csv")
    assert len(rows) == 4                                   # 4 points x 1 kernel
    assert {(row["sm.count"], row["memory.l2_size"]) for row in rows} == {("12", "4 MiB"), ("12", "6 MiB"),
                                                                          ("46", "4 MiB"), ("46", "6 MiB")}
    for col in ("point", "point_id", "workload", "kernel", "cycles", "ipc", "warp_instructions", "kernel_time_us"):
        assert col in rows[0]
    by_sm = {row["sm.count"]: int(row["cycles"]) for row in rows}
    assert by_sm["12"] > by_sm["46"]                       # the axis reached the simulation: fewer SMs, longer
    import pyarrow.parquet as pq

    t = pq.read_table(out / "results.parquet").to_pylist()
    assert [(x["point"], x["cycles"]) for x in t] == [(int(row["point"]), int(row["cycles"])) for row in rows]
    lines = (out / "points.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(x)["status"] == "ok" for x in lines)
    # running the same command again simulates nothing
    r2 = run_cli("sweep", str(p), "-o", str(out), "-j", "2", cwd=repo_root)
    assert r2.returncode == 0 and "0 simulated, 4 already done" in r2.stdout
    assert read_csv(out / "results.csv") == rows


def test_killed_sweep_loses_only_points_in_flight_and_resumes(tmp_path, repo_root):
    p = write(tmp_path, f"""\
        name: killme
        base: rtx3070
        workloads: [{repo_root / VECADD}]
        axes:
          sm.count: [4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26]
        """)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "gpusim", "sweep", str(p), "-o", str(out), "-j", "1", "--quiet"],
                            cwd=repo_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = out / "points.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 2:
            break
        if proc.poll() is not None:
            pytest.fail(f"sweep ended before it could be killed: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = [json.loads(x) for x in journal.read_text().splitlines()]
    assert 2 <= len(done_before) < 12, "the sweep finished before the kill; the test needs longer points"
    rows_before = read_csv(out / "results.csv")
    assert len(rows_before) >= len(done_before) - 1      # the CSV keeps up with the journal (one point may be mid-write)
    r = run_cli("sweep", str(p), "-o", str(out), "-j", "1", cwd=repo_root)
    assert r.returncode == 0, r.stderr
    assert f"{12 - len(done_before)} simulated, {len(done_before)} already done" in r.stdout
    rows = read_csv(out / "results.csv")
    assert sorted(int(x["sm.count"]) for x in rows) == list(range(4, 27, 2))
    assert len({x["point_id"] for x in rows}) == 12
    # finished points were not simulated again: their journal records are the same lines, not new ones
    lines = (out / "points.jsonl").read_text().splitlines()
    assert len(lines) == 12
    assert [json.loads(x)["wall_seconds"] for x in lines[: len(done_before)]] == [d["wall_seconds"] for d in done_before]


def test_a_cut_journal_line_is_dropped_on_resume(tmp_path):
    p = tiny_sweep(tmp_path, "sm.count: [2, 4]")
    s = sw.load_sweep(p)
    out = tmp_path / "out"
    sw.run_sweep(s, out, jobs=1, quiet=True)
    text = (out / "points.jsonl").read_text()
    first, second = text.splitlines(keepends=True)
    (out / "points.jsonl").write_text(first + second[: len(second) // 2])     # killed in the middle of a write
    summary = sw.run_sweep(sw.load_sweep(p), out, jobs=1, quiet=True)
    assert summary["ran"] == 1 and summary["resumed"] == 1
    assert len((out / "points.jsonl").read_text().splitlines()) == 2


def test_dask_local_cluster_gives_the_same_rows_as_in_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    p = tiny_sweep(tmp_path, "sm.count: [2, 4]\npipes.fp32.latency: [2, 6]")
    s = sw.load_sweep(p)
    sw.run_sweep(s, tmp_path / "inline", jobs=1, quiet=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        summary = sw.run_sweep(s, tmp_path / "dask", executor=f"dask://{cluster.scheduler_address}", quiet=True)
    assert summary["ran"] == 4
    a, b = read_csv(tmp_path / "inline" / "results.csv"), read_csv(tmp_path / "dask" / "results.csv")
    assert [(x["point_id"], x["cycles"], x["measured[cycles]"]) for x in a] == \
           [(x["point_id"], x["cycles"], x["measured[cycles]"]) for x in b]
    hosts = {json.loads(x)["host"] for x in (tmp_path / "dask" / "points.jsonl").read_text().splitlines()}
    assert hosts
    # the latency axis reached the workers: a chain of fp32 ops is slower with the longer pipe
    lat = {(x["sm.count"], x["pipes.fp32.latency"]): float(x["measured[cycles]"]) for x in b}
    assert lat[("2", "6")] > lat[("2", "2")]


def test_unreachable_dask_scheduler_is_a_one_line_error(tmp_path, repo_root):
    p = tiny_sweep(tmp_path, "sm.count: [2]")
    r = run_cli("sweep", str(p), "-o", str(tmp_path / "o"), "--executor", "dask://127.0.0.1:9", cwd=repo_root, timeout=120)
    assert r.returncode == 2 and "cannot reach the Dask scheduler" in r.stderr and "Traceback" not in r.stderr


def test_bad_executor_name(tmp_path):
    s = sw.load_sweep(tiny_sweep(tmp_path, "sm.count: [2]"))
    with pytest.raises(GpusimError, match="expected 'local' or 'dask://HOST:PORT'"):
        sw.run_sweep(s, tmp_path / "o", executor="slurm", quiet=True)


# ----------------------------------------------------------------------------------------------
# Plot.


def test_plot_writes_a_png_and_names_unknown_columns(tmp_path, repo_root):
    p = tiny_sweep(tmp_path, "sm.count: [2, 4]\nsubcore.issue_policy: [gto, lrr]")
    out = tmp_path / "out"
    sw.run_sweep(sw.load_sweep(p), out, jobs=1, quiet=True)
    r = run_cli("plot", str(out), "--x", "sm.count", "--y", "cycles", "--hue", "subcore.issue_policy", cwd=repo_root)
    assert r.returncode == 0, r.stderr
    png = out / "plot-cycles-vs-sm.count-by-subcore.issue_policy.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # categorical x (bars) from the Parquet file
    png2 = sw.plot_results(out / "results.parquet", "subcore.issue_policy", "ipc", output=tmp_path / "b.png")
    assert png2.stat().st_size > 1000
    # --where takes the YAML spelling of a value; rows of other values are left out of the plot
    png3 = sw.plot_results(out, "sm.count", "cycles", where=["subcore.issue_policy=gto"], output=tmp_path / "w.png")
    assert png3.is_file()
    with pytest.raises(GpusimError, match="no rows"):
        sw.plot_results(out, "sm.count", "cycles", where=["subcore.issue_policy=cggty"], output=tmp_path / "n.png")
    r = run_cli("plot", str(out), "--x", "sm.cnt", "--y", "cycles", cwd=repo_root)
    assert r.returncode == 2 and "did you mean 'sm.count'" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("plot", str(out), "--x", "sm.count", "--y", "kernel", cwd=repo_root)
    assert r.returncode == 2 and "must be a numeric column" in r.stderr


def test_plot_axis_of_an_integer_parameter_has_no_fractional_ticks():
    """regfile.banks 1 and 2 must not be labelled 1.2, 1.4, ... banks (issue #18's misleading axis);
    without _integer_axis matplotlib's default locator puts ticks at fractions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gpusim.sweep.plot import _integer_axis

    fig, ax = plt.subplots()
    ax.plot([1, 2], [5, 6])
    _integer_axis(ax, [1, 2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    assert list(ax.get_xticks()) == [1, 2]
    plt.close(fig)


def test_two_llm_op_workloads_are_two_points_with_their_own_ids(tmp_path):
    """A point's id names its workload's parameters: two operators in one sweep must not share an id
    (they did when the identity of an llm_op workload was its kind alone, so a resumed sweep would
    have reused one operator's result for the other).  Break: return {"kind": self.kind} from
    LlmOpWorkload.identity and this fails."""
    p = write(tmp_path, """\
base: a100-sxm4-80gb
workloads:
  - {llm_op: "gemm:m=128,n=256,k=256", name: small}
  - {llm_op: "gemm:m=256,n=256,k=256", name: large}
""")
    s = sw.load_sweep(p)
    assert len(s.points) == 2
    assert s.points[0].point_id != s.points[1].point_id


def test_every_workload_kind_round_trips_through_its_journal_dict():
    """A worker and the journal carry a workload as its describe() dict; each registered kind reads it
    back with from_dict (one class per kind, one registry line)."""
    from gpusim.sweep import workloads as W

    for kind, cls in W.WORKLOAD_KINDS.items():
        for meth in ("parse", "describe", "from_dict", "identity", "run"):
            assert callable(getattr(cls, meth, None)), f"{kind}: {cls.__name__} lacks {meth}"


def test_a_duplicate_key_in_a_sweep_names_its_line(tmp_path):
    p = write(tmp_path, "base: rtx3070\nworkloads: [traces/examples/vecadd-sm86]\nbase: rtx3070\n")
    with pytest.raises(sw.SweepError, match=r"sweep.yaml:3: duplicate key 'base'"):
        sw.load_sweep(p)

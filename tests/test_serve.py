"""Serving simulation (issue 20): policies, KV cache, metrics and the step-time model.

Policy rules are checked with an analytic step-time model (a step costs ``a + b x tokens``), so each
expectation follows from the schedule alone; one test builds the real model from gpusim llm
simulations of the tiny preset on a 4-SM A100 slice and checks its interpolation at held-out steps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpusim.cli import main
from gpusim.config import load_config
from gpusim.errors import GpusimError
from gpusim.llm.model import load_model
from gpusim.serve import GOODPUT_ATTAINMENT, metrics, parse_policy, serve
from gpusim.serve import steptime as ST
from gpusim.serve import workload as W
from gpusim.serve.engine import BLOCK_TOKENS, Seq, kv_blocks

A, B = 2e-3, 20e-6          # analytic step: 2 ms + 20 us per token


class Linear:
    source = "analytic test model"
    extrapolated = 0

    def step_seconds(self, chunks, decode_contexts):
        n = sum(q for q, _ in chunks) + len(decode_contexts)
        return A + B * n if n else 0.0


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny"), load_config("a100-sxm4-80gb")


def _reqs(*rows):
    return [W.Request(i, t, p, o) for i, (t, p, o) in enumerate(rows)]


def test_a_lone_request_gets_its_first_token_after_one_prefill_then_one_token_per_decode(tiny):
    m, cfg = tiny
    rep = serve(_reqs((0.0, 100, 5)), Linear(), m, cfg, policy="vllm")
    r = rep["per_request"][0]
    assert r["ttft_s"] == pytest.approx(A + B * 100)
    assert r["e2e_s"] == pytest.approx(A + B * 100 + 4 * (A + B))
    assert rep["metrics"]["tpot_s"]["p50"] == pytest.approx(A + B)


def test_sarathi_chunk_bounds_decode_stall(tiny):
    """Rule (Sarathi-Serve §4): with a token budget per iteration, a long prompt arriving while another
    request decodes stalls that decode for at most one budget-sized iteration; vLLM's prefill-first
    schedule stalls it for the whole prompt's prefill."""
    m, cfg = tiny
    reqs = _reqs((0.0, 64, 40), (0.01, 2000, 2))
    v = serve(reqs, Linear(), m, cfg, policy="vllm:max_num_batched_tokens=4096")
    s = serve(reqs, Linear(), m, cfg, policy="sarathi:chunk=256")
    assert max_gap(s, 0) <= A + B * 256 + 1e-9
    assert max_gap(v, 0) >= A + B * 2000 - 1e-9


def max_gap(rep, rid):
    return next(r["max_tbt_s"] for r in rep["per_request"] if r["id"] == rid)


def test_requests_that_can_never_fit_are_rejected_and_reported(tiny):
    m, cfg = tiny
    blocks = kv_blocks(m, cfg, 1)
    too_long = blocks * BLOCK_TOKENS + 1
    # the budget given explicitly: vLLM's default is max(max_model_len, 2048), 4096 for the tiny preset
    rep = serve(_reqs((0.0, too_long, 1), (0.0, 3000, 1)), Linear(), m, cfg, policy="vllm:max_num_batched_tokens=2048")
    reasons = [x["reason"] for x in rep["rejected"]]
    assert any("exceed the KV cache" in r for r in reasons)
    assert any("exceeds max_num_batched_tokens" in r for r in reasons)
    assert rep["metrics"]["requests_completed"] == 0


def test_kv_capacity_is_memory_times_utilisation_minus_weights_over_block_bytes(tiny):
    m, cfg = tiny
    per_token = 2 * m.layers * m.kv_heads * m.head_dim * 2
    expect = int((cfg.memory.dram_size_bytes * 0.9 - m.params() * 2) // (per_token * BLOCK_TOKENS))
    assert kv_blocks(m, cfg, 1) == expect


def test_preemption_by_recompute_when_the_kv_cache_runs_out(tiny, monkeypatch):
    """With 20 blocks three 90-token prompts are admitted (6 blocks each) but cannot all grow to 150 tokens
    (10 blocks each): a decode that finds no free block preempts the most
    recently admitted sequence; it is prefilled again later and still completes."""
    from gpusim.serve import engine

    m, cfg = tiny
    monkeypatch.setattr(engine, "kv_blocks", lambda *a: 20)
    rep = serve(_reqs((0.0, 90, 60), (0.0, 90, 60), (0.0, 90, 60)), Linear(), m, cfg, policy="vllm")
    assert rep["preemptions"] >= 1 and rep["metrics"]["requests_completed"] == 3
    assert rep["kv_peak_utilisation"] <= 1.0


def test_metrics_follow_their_definitions():
    s = Seq(0, 1.0, 10, 3)
    s.token_times = [1.5, 1.7, 2.0]
    out = metrics([s], 2.0, {"ttft": 0.6, "tpot": 0.2})
    assert out["ttft_s"]["p50"] == pytest.approx(0.5) and out["e2e_s"]["p50"] == pytest.approx(1.0)
    assert out["tpot_s"]["p50"] == pytest.approx(0.25) and out["tbt_s"]["p99"] == pytest.approx(0.3, abs=0.01)
    assert out["slo_attainment"] == 0.0                 # TPOT 0.25 > 0.2
    assert GOODPUT_ATTAINMENT == 0.9


def test_poisson_arrivals_have_the_requested_rate_and_lengths():
    r = W.synthetic("poisson:rate=50,duration=200,prompt=uniform:10:20,output=7,seed=3")
    assert abs(len(r) / 200 - 50) < 2.0
    assert all(10 <= x.prompt <= 20 and x.output == 7 for x in r)
    assert np.all(np.diff([x.arrival_s for x in r]) >= 0)
    g = W.synthetic("gamma:rate=50,duration=200,prompt=8,output=8,cv=3,seed=3")
    gaps = np.diff([x.arrival_s for x in g])
    assert gaps.std() / gaps.mean() > 2.0               # bursty


def test_burstgpt_and_azure_traces_read_in_their_own_formats(tmp_path):
    b = tmp_path / "b.csv"
    b.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                 "5,ChatGPT,100,20,120,Conversation log\n7.5,GPT-4,50,0,50,Conversation log\n9,ChatGPT,30,10,40,API log\n")
    r = W.from_trace(b)
    assert [(x.arrival_s, x.prompt, x.output) for x in r] == [(0.0, 100, 20), (4.0, 30, 10)]   # 0-token row skipped
    assert [x.arrival_s for x in W.from_trace(b, scale=2.0)] == [0.0, 2.0]
    a = tmp_path / "a.csv"
    a.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
                 "2023-11-16 18:15:50.9951690,396,109\n")
    r = W.from_trace(a)
    assert r[1].arrival_s == pytest.approx(4.3145790, abs=1e-5) and r[1].prompt == 396
    bad = tmp_path / "x.csv"
    bad.write_text("Timestamp,Request tokens,Response tokens\n1,abc,3\n")
    with pytest.raises(W.WorkloadError, match=r"x.csv:2: bad row"):
        W.from_trace(bad)


@pytest.mark.parametrize("argv, message", [
    (["--arrivals", "poisson:rate=1,duration=1,prompt=8"], "missing output"),
    (["--arrivals", "poisson:rate=1,duration=1,prompt=8,output=8", "--policy", "vlm"], "did you mean 'vllm'"),
    (["--arrivals", "poisson:rate=1,duration=1,prompt=8,output=8", "--policy", "sarathi:chunk=0"], "positive integer"),
    (["--arrivals", "poisson:rate=1,duration=1,prompt=8,output=8", "--slo", "ttft=x"], "expected ttft=SECONDS"),
    ([], "exactly one of --arrivals"),
])
def test_bad_serve_input_is_one_line_and_exit_status_2(argv, message, capsys, tmp_path):
    rc = main(["serve", "--model", "tiny", "--gpu", "a100-sxm4-80gb", *argv, "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err


def test_the_step_time_model_interpolates_simulated_steps(tmp_path, monkeypatch):
    """Built from gpusim llm simulations on a small grid (tiny model, 4-SM A100 slice): exact at grid
    points, within 15% at held-out steps between them, and cached on disk by content hash.  (The
    build-time held-out measurement is off here to keep the test short; the fake-simulator test below
    and the slow end-to-end test cover it.)"""
    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path))
    sl = ["sm.count=4", "memory.l2_slices=3", "memory.l2_size=1536 KiB"]
    kw = dict(tp=1, overrides=sl, sample=None, prefill_tokens=(16, 64, 128), decode_batches=(1, 8),
              decode_contexts=(64, 512), progress=False, held_out=0)
    stm = ST.build("tiny", "a100-sxm4-80gb", **kw)
    p = stm.prefill[128]
    assert stm.step_seconds([(128, 0)], []) == pytest.approx(p["g"] + p["attn"], rel=1e-9)
    errs = ST.check(stm, "tiny", "a100-sxm4-80gb", ["prefill:tokens=96", "decode:batch=4,context=256"],
                    overrides=sl, sample=None)
    assert all(abs(e["error"]) < 0.15 for e in errs), errs
    again = ST.build("tiny", "a100-sxm4-80gb", **kw)
    assert again.source.startswith("cache") and again.prefill == stm.prefill
    info = serve(_reqs((0.0, 100, 3)), again, load_model("tiny"), load_config("a100-sxm4-80gb", sl))["step_model"]
    assert info["source"].startswith("cache")                  # the report states where step times come from


# ---- issue 20, second round: disaggregation, swap, rejections, traces -------------------------------------------

def test_distserve_transfers_kv_before_first_decode(tiny):
    """Rule (DistServe §3): the prefill instance emits the first token; the prompt's KV then crosses the
    link (prompt tokens x KV bytes per token / link bandwidth) before the decode instance's first
    iteration, so the gap to the second token is transfer + one decode step.  Without the transfer the gap
    would be one decode step (A + B): the test fails if the copy is skipped or not charged."""
    from gpusim.serve.engine import kv_bytes_per_token

    m, _ = tiny
    cfg = load_config("a100-sxm4-80gb", ["host.link_bandwidth=0.1 GB/s"])
    rep = serve(_reqs((0.0, 1000, 3)), Linear(), m, cfg, policy="distserve:link=pcie")
    r = rep["per_request"][0]
    copy = 1000 * kv_bytes_per_token(m) / 1e8
    assert copy > 5 * (A + B)                                 # the copy is visible against a step
    assert r["ttft_s"] == pytest.approx(A + B * 1000)         # first token from the prefill pool
    assert r["kv_transfer_s"] == pytest.approx(copy)
    assert r["e2e_s"] == pytest.approx(A + B * 1000 + copy + 2 * (A + B))
    kt = rep["kv_transfer"]
    assert kt["bytes"] == pytest.approx(1000 * kv_bytes_per_token(m)) and kt["config_key"] == "host.link_bandwidth"
    assert rep["gpus"] == 2 and rep["pools"]["prefill"]["iterations"] == 1 and rep["pools"]["decode"]["iterations"] == 2


def test_distserve_nvlink_uses_the_interconnect_bandwidth_and_queues_transfers_per_prefill_replica(tiny):
    """Two prompts prefilled in one iteration share the prefill replica's link: the second copy waits for
    the first (FIFO), at interconnect.bus_bandwidth x min(prefill_tp, decode_tp)."""
    from gpusim.serve.engine import kv_bytes_per_token

    m, _ = tiny
    cfg = load_config("a100-sxm4-80gb", ["interconnect.bus_bandwidth=2 GB/s"])
    rep = serve(_reqs((0.0, 500, 2), (0.0, 500, 2)), {2: Linear()}, m, cfg,
                policy="distserve:prefill_tp=2,decode_tp=2,decode_replicas=2")
    copy = 500 * kv_bytes_per_token(m) / (2e9 * 2)
    waits = sorted(r["kv_transfer_s"] for r in rep["per_request"])
    assert waits == pytest.approx([copy, 2 * copy])
    assert rep["kv_transfer"]["queue_wait_seconds"] == pytest.approx(copy)
    assert rep["gpus"] == 2 * 1 + 2 * 2


def test_swap_preemption_counts_swapped_bytes(tiny, monkeypatch):
    """vLLM preemption by swap: with 20 blocks three 90-token prompts cannot all grow to 150 tokens; the
    victim's blocks go to host memory and come back (out bytes = in bytes = swapped blocks x block bytes),
    the copies cost bytes / host.link_bandwidth in the iterations that do them, and nothing is recomputed.
    Counting the bytes without charging their time (or recomputing instead) fails the test."""
    from gpusim.serve import engine

    m, _ = tiny
    cfg = load_config("a100-sxm4-80gb", ["host.link_bandwidth=1 GB/s"])
    monkeypatch.setattr(engine, "kv_blocks", lambda *a: 20)
    reqs = _reqs((0.0, 90, 60), (0.0, 90, 60), (0.0, 90, 60))
    sw = serve(reqs, Linear(), m, cfg, policy="vllm:preemption=swap")
    rc = serve(reqs, Linear(), m, cfg, policy="vllm")
    p = sw["preemption"]
    bpb = engine.kv_bytes_per_token(m) * BLOCK_TOKENS
    assert p["swap"] >= 1 and p["recompute"] == 0 and p["swap_fallbacks"] == 0
    assert p["swap_out_bytes"] > 0 and p["swap_out_bytes"] == p["swap_in_bytes"]
    assert (p["swap_out_bytes"] / bpb) == pytest.approx(round(p["swap_out_bytes"] / bpb))
    assert p["swap_seconds"] == pytest.approx((p["swap_out_bytes"] + p["swap_in_bytes"]) / 1e9)
    assert sum(x[4] for x in sw["series"]) == pytest.approx(
        sum(A + B * x[6] for x in sw["series"]) + p["swap_seconds"])
    assert sw["metrics"]["requests_completed"] == 3 and sum(r["swaps"] for r in sw["per_request"]) == p["swap"]
    assert rc["preemption"]["recompute"] >= 1 and rc["preemption"]["swap_out_bytes"] == 0


def test_swap_falls_back_to_recompute_when_the_host_swap_space_is_full(tiny, monkeypatch):
    from gpusim.serve import engine

    m, cfg = tiny
    monkeypatch.setattr(engine, "kv_blocks", lambda *a: 20)
    # swap_space_gib is a whole number of GiB: make a block 0.5 GiB so that 1 GiB of host space holds two
    # blocks, fewer than one 90-token victim's six
    monkeypatch.setattr(engine, "kv_bytes_per_token", lambda mm: 2**30 / BLOCK_TOKENS / 2)
    rep = serve(_reqs((0.0, 90, 60), (0.0, 90, 60), (0.0, 90, 60)), Linear(), m, cfg,
                policy="vllm:preemption=swap,swap_space_gib=1")
    p = rep["preemption"]
    assert p["swap_fallbacks"] >= 1 and p["recompute"] == p["swap_fallbacks"]
    assert rep["metrics"]["requests_completed"] == 3


def test_request_longer_than_kv_cache_is_rejected_not_dropped(tiny):
    """A request whose prompt + output cannot fit the whole KV cache is listed with its reason; every
    request is accounted for (completed + rejected + unfinished = arrived), also under distserve."""
    m, cfg = tiny
    too_long = kv_blocks(m, cfg, 1) * BLOCK_TOKENS
    reqs = _reqs((0.0, 100, 4), (0.5, too_long, 1), (1.0, 50, 3))
    for pol in ("vllm", "sarathi", "orca", "distserve"):
        rep = serve(reqs, Linear(), m, cfg, policy=pol)
        assert [x["id"] for x in rep["rejected"]] == [1], pol
        assert "exceed" in rep["rejected"][0]["reason"] and str(too_long + 1) in rep["rejected"][0]["reason"]
        n = rep["metrics"]["requests_completed"] + len(rep["rejected"]) + len(rep["unfinished"])
        assert n == len(reqs) and sorted(r["id"] for r in rep["per_request"]) == [0, 2], pol


def test_sarathi_p99_tbt_is_below_vllm_at_the_same_load(tiny):
    """Sarathi-Serve §5: at the same Poisson load, stall-free batching keeps the p99 time between tokens
    below vLLM's, whose prefill-only iterations stall every running decode for a whole prompt."""
    m, cfg = tiny
    reqs = W.synthetic("poisson:rate=8,duration=20,prompt=uniform:500:1500,output=uniform:20:60,seed=1")
    v = serve(reqs, Linear(), m, cfg, policy="vllm")
    s = serve(reqs, Linear(), m, cfg, policy="sarathi:chunk=256")
    assert s["metrics"]["tbt_s"]["p99"] < v["metrics"]["tbt_s"]["p99"]
    assert s["metrics"]["tbt_s"]["p99"] <= A + B * 256 + 1e-9 < v["metrics"]["tbt_s"]["p99"]


def test_malformed_burstgpt_row_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "burst.csv"
    bad.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                   "5,ChatGPT,100,20,120,Conversation log\n6,ChatGPT,1x0,20,120,Conversation log\n")
    rc = main(["serve", "--model", "tiny", "--gpu", "a100-sxm4-80gb", "--trace", str(bad), "-o", str(tmp_path / "o"),
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "burst.csv:3: bad row" in err and "Traceback" not in err, err


def test_distserve_and_swap_parameters_are_checked(tiny):
    for text, msg in (("vllm:preemption=swop", "expected one of recompute, swap"),
                      ("distserve:link=ib", "expected one of nvlink, pcie"),
                      ("distserve:prefill_tp=0", "positive integer")):
        with pytest.raises(GpusimError, match=msg):
            parse_policy(text)
    m, cfg = tiny
    with pytest.raises(GpusimError, match="not --tp"):
        serve(_reqs((0.0, 10, 2)), Linear(), m, cfg, policy="distserve", tp=2)


class LinearModel(Linear):
    """The analytic step as the CLI's step-time model (with the fields a built model carries)."""
    build_seconds = 0.0
    interp_error = {"max_pct": 1.5, "mean_pct": 0.5, "points": []}


TRACE = "traces/serving/azure-llm-conv-2023-excerpt.csv"


def test_serve_cli_on_the_bundled_trace_writes_json_markdown_html_and_figures(tmp_path, monkeypatch, capsys):
    """The bundled Azure excerpt runs through `gpusim serve` (step-time model replaced by the analytic one):
    report.json holds the issue's metrics, the step-time source and interpolation error, a per-request
    timeline; report.md / report.html / the two figures are written; --find-capacity scales the trace."""
    from pathlib import Path

    monkeypatch.setattr(ST, "build", lambda *a, **k: LinearModel())
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "o"
    rc = main(["serve", "--model", "tiny", "--gpu", "a100-sxm4-80gb", "--trace", str(root / TRACE),
               "--policy", "sarathi", "--slo", "ttft=0.5,tbt=0.05", "--find-capacity", "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "interpolation error" in text
    rep = json.loads((out / "report.json").read_text())
    m = rep["metrics"]
    for k in ("ttft_s", "tbt_s", "e2e_s"):
        assert set(m[k]) >= {"p50", "p90", "p99"} and m[k]["p50"] <= m[k]["p90"] <= m[k]["p99"]
    for k in ("tpot_s", "normalized_latency_s_per_token", "throughput_tokens_per_s", "goodput_requests_per_s",
              "slo_attainment"):
        assert k in m
    assert rep["requests"] == 200 and m["requests_completed"] == 200
    assert rep["step_model"]["source"] == "analytic test model" and rep["step_model"]["interp_error_pct"]["max"] == 1.5
    tl = rep["per_request"][0]
    assert tl["arrival_s"] <= tl["scheduled_s"] <= tl["first_token_s"] <= tl["finish_s"]
    cap = rep["capacity"]["capacity_requests_per_s"]
    assert cap is not None and cap > 0
    for f in ("report.md", "report.html", "latency_cdf.png", "timeline.png"):
        assert (out / f).is_file() and (out / f).stat().st_size > 500, f
    assert "data:image/png;base64" in (out / "report.html").read_text()


def test_compare_puts_two_serving_reports_side_by_side(tmp_path, monkeypatch, capsys):
    """`gpusim compare` on two serve reports (vllm, sarathi; same trace) writes a table whose p99 TBT cells
    are the reports' own values and a CDF chart; a serve report with an llm report is refused (exit 2)."""
    from pathlib import Path

    monkeypatch.setattr(ST, "build", lambda *a, **k: LinearModel())
    root = Path(__file__).resolve().parents[1]
    outs = []
    for pol in ("vllm", "sarathi:chunk=256"):
        o = tmp_path / pol.split(":")[0]
        assert main(["serve", "--model", "tiny", "--gpu", "a100-sxm4-80gb", "--trace", str(root / TRACE), "--policy",
                     pol, "--no-chart", "--quiet", "-o", str(o)]) == 0
        outs.append(o)
    assert main(["compare", *map(str, outs), "-o", str(tmp_path / "c")]) == 0
    md = (tmp_path / "c" / "compare.md").read_text()
    c = json.loads((tmp_path / "c" / "compare.json").read_text())
    for o, col in zip(outs, c["reports"]):
        p99 = json.loads((o / "report.json").read_text())["metrics"]["tbt_s"]["p99"]
        assert col["tbt_s"]["p99"] == p99 and f"{p99 * 1e3:,.1f}" in md
    assert (tmp_path / "c" / "compare.png").stat().st_size > 500
    llm = tmp_path / "llm.json"
    llm.write_text(json.dumps({"model": "tiny", "step": "x"}))
    capsys.readouterr()
    assert main(["compare", str(outs[0]), str(llm), "-o", str(tmp_path / "c2")]) == 2
    assert "serving reports compare only with each other" in capsys.readouterr().err


class BandwidthModel(LinearModel):
    """An analytic step whose time is inversely proportional to the config's DRAM bandwidth (a decode-bound
    machine): enough to check that a sweep's serve rows follow the machine axis."""

    def __init__(self, cfg):
        self.k = 2.0e12 / cfg.memory.dram_bandwidth_bytes_per_s

    def step_seconds(self, chunks, decode_contexts):
        return self.k * super().step_seconds(chunks, decode_contexts)


def _serve_sweep(tmp_path, body: str):
    import textwrap

    p = tmp_path / "sweep.yaml"
    p.write_text(textwrap.dedent(body))
    return p


def test_sweep_serve_rows_give_capacity_per_policy_against_hbm_bandwidth(tmp_path, monkeypatch):
    """`gpusim sweep` with a serve workload: machine axis (memory.dram_bandwidth) x policies x rates, one row
    per policy x rate plus one capacity row per policy; with steps twice as fast at twice the bandwidth
    the capacity grows with it, and the capacity-vs-bandwidth plot is written."""
    from gpusim import sweep as sw

    monkeypatch.setattr(ST, "build", lambda model, cfg, **k: BandwidthModel(cfg))
    p = _serve_sweep(tmp_path, """\
        base: a100-sxm4-80gb
        workloads:
          - serve:
              model: tiny
              arrivals: poisson:duration=20,prompt=uniform:200:800,output=uniform:20:60,seed=2
              rates: [4]
              policies: [vllm, "sarathi:chunk=256"]
              slo: ttft=0.5,tpot=0.02
              find_capacity: true
        axes:
          memory.dram_bandwidth: [1 TB/s, 2 TB/s]
        """)
    out = tmp_path / "out"
    summary = sw.run_sweep(sw.load_sweep(p), out, jobs=1, quiet=True)
    assert summary["rows"] == 2 * 2 * 2 and summary["failed"] == 0
    cols, rows = sw.read_table(out / "results.csv")
    assert {"policy", "rate", "serve.ttft_s.p99", "serve.tbt_s.p99", "serve.goodput_requests_per_s",
            "capacity_requests_per_s", "memory.dram_bandwidth"} <= set(cols)
    cap = {(r["policy"], str(r["memory.dram_bandwidth"])): float(r["capacity_requests_per_s"])
           for r in rows if r["serve.row"] == "capacity"}
    for pol in ("vllm", "sarathi:chunk=256"):
        assert cap[(pol, "2 TB/s")] > cap[(pol, "1 TB/s")] > 0, cap
    png = sw.plot_results(out, "memory.dram_bandwidth", "capacity_requests_per_s", hue="policy",
                          where=["serve.row=capacity"], output=tmp_path / "cap.png")
    assert png.stat().st_size > 1000


@pytest.mark.parametrize("body, needle", [
    ("policies: [vllm]\n      arrivals: poisson:duration=5,prompt=8,output=8", "give rates"),
    ("policies: [vlm]\n      rates: [1]\n      arrivals: poisson:duration=5,prompt=8,output=8", "did you mean 'vllm'"),
    ("policies: [vllm]\n      rates: [1]\n      arrivals: poisson:rate=2,duration=5,prompt=8,output=8", "without rate="),
    ("policies: [vllm]\n      rates: [1]\n      find_capacity: true\n      arrivals: poisson:duration=5,prompt=8,output=8",
     "find_capacity needs slo"),
    ("policies: [vllm]\n      rates: [0]\n      arrivals: poisson:duration=5,prompt=8,output=8", "positive request rates"),
])
def test_sweep_serve_workload_errors_name_the_file_and_line(tmp_path, body, needle):
    from gpusim import sweep as sw

    p = _serve_sweep(tmp_path, "base: a100-sxm4-80gb\nworkloads:\n  - serve:\n      model: tiny\n      " + body + "\n")
    with pytest.raises(sw.SweepError, match=needle) as e:
        sw.load_sweep(p)
    assert "sweep.yaml:" in str(e.value)


def test_an_interrupted_grid_build_resumes_from_its_finished_steps(tmp_path, monkeypatch):
    """A step-time build keeps each finished grid step on disk: after a failure at the third step a second
    build simulates only the steps still missing, then the held-out steps, and removes the partial file.
    (gpusim llm replaced by an analytic report: 1 ms + 1 us per token, attention 10% of it.)"""
    import gpusim.llm.machines as machines
    from gpusim.llm.model import parse_step

    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path))
    calls = []

    def fake(model, step, cfg, **kw):
        calls.append(step)
        if len(calls) == 3 and fail[0]:
            raise RuntimeError("killed")
        g = parse_step(step).groups[0]
        n = g.tokens * g.count
        t = 1e-3 + 1e-6 * n
        return {"step_seconds": t, "operators": [{"kind": "attention", "seconds": 0.1 * t}]}

    fail = [True]
    monkeypatch.setattr(machines, "run_gpu", fake)
    kw = dict(prefill_tokens=(16, 64), decode_batches=(1, 8), decode_contexts=(64, 512), prefill_pasts=(),
              progress=False, held_out=2)
    with pytest.raises(RuntimeError):
        ST.build("tiny", "a100-sxm4-80gb", **kw)
    assert len(list(tmp_path.glob("steptime/*.partial.json"))) == 1
    fail[0] = False
    calls.clear()
    stm = ST.build("tiny", "a100-sxm4-80gb", **kw)
    assert len(calls) == 6 - 2 + 2                      # the four missing grid steps, then two held-out steps
    assert not list(tmp_path.glob("steptime/*.partial.json")) and len(stm.prefill) == 2 and len(stm.decode) == 4
    # the held-out steps: seeded, one prefill and one decode, strictly inside the grid and off its points;
    # their error stored with the model and copied into a serving report
    e = stm.interp_error
    assert [p["step"] for p in e["points"]] == calls[-2:] == ST.held_out_steps(stm, 2)
    assert calls[-2].startswith("prefill:") and calls[-1].startswith("decode:")
    t = int(calls[-2].split("=")[1])
    assert 16 < t < 64
    assert e["max_pct"] >= e["mean_pct"] >= 0 and e["max_pct"] == max(abs(p["error"]) * 100 for p in e["points"])
    calls.clear()
    again = ST.build("tiny", "a100-sxm4-80gb", **kw)
    assert not calls and again.interp_error["max_pct"] == e["max_pct"]          # read back from the model file
    info = serve(_reqs((0.0, 100, 3)), again, load_model("tiny"), load_config("a100-sxm4-80gb"))["step_model"]
    assert info["interp_error_pct"] == {"max": e["max_pct"], "mean": e["mean_pct"]} and info["source"].startswith("cache")


@pytest.mark.slow
def test_serve_cli_with_the_real_simulator_on_a_slice(tmp_path, monkeypatch, capsys):
    """End to end with gpusim llm steps (tiny preset, 4-SM A100 slice, a 2 x 2 x 2 grid, 2 held-out steps):
    the held-out error is printed at build time and stored in report.json with the step-time source."""
    from pathlib import Path

    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path / "cache"))
    root = Path(__file__).resolve().parents[1]
    rc = main(["serve", "--model", "tiny", "--gpu", "a100-sxm4-80gb", "--set", "sm.count=4", "--set",
               "memory.l2_slices=3", "--set", "memory.l2_size=1536 KiB", "--sample", "0",
               "--grid", "prefill=16,128:batch=1,8:context=64,512", "--held-out", "2",
               "--trace", str(root / TRACE), "--window", "0:5", "--policy", "sarathi:chunk=128",
               "-o", str(tmp_path / "o")])
    cap = capsys.readouterr()
    assert rc == 0 and "interpolation error at 2 held-out steps" in cap.err
    sm = json.loads((tmp_path / "o" / "report.json").read_text())["step_model"]
    assert sm["source"].startswith("simulated with gpusim llm") and sm["interp_error_pct"]["max"] >= 0
    assert len(sm["held_out"]) == 2


@pytest.mark.slow
def test_sweep_serve_with_the_real_simulator_on_a_slice(tmp_path, monkeypatch):
    """The sweep's serve kind builds each point's step-time model with gpusim llm (tiny preset, 4-SM slice,
    a 2 x 2 x 2 grid): doubling the DRAM bandwidth of the slice does not lower the capacity."""
    from gpusim import sweep as sw

    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path / "cache"))
    p = _serve_sweep(tmp_path, """\
        base: a100-sxm4-80gb
        set: [sm.count=4, memory.l2_slices=3, memory.l2_size=1536 KiB]
        workloads:
          - serve:
              model: tiny
              arrivals: poisson:duration=5,prompt=uniform:16:128,output=uniform:4:16,seed=1
              rates: [20]
              policies: [sarathi:chunk=128]
              slo: ttft=0.05,tpot=0.01
              find_capacity: true
              sample: null
              held_out: 0
              grid: {prefill_tokens: [16, 128], decode_batches: [1, 8], decode_contexts: [64, 256]}
        axes:
          memory.dram_bandwidth: [100 GB/s, 200 GB/s]
        """)
    out = tmp_path / "out"
    assert sw.run_sweep(sw.load_sweep(p), out, jobs=1, quiet=True)["failed"] == 0
    cols, rows = sw.read_table(out / "results.csv")
    cap = [float(r["capacity_requests_per_s"]) for r in rows if r["serve.row"] == "capacity"]
    assert len(cap) == 2 and cap[1] >= cap[0] > 0, cap


def test_grids_sharing_points_simulate_only_the_new_ones(tmp_path, monkeypatch):
    """Each simulated step is cached on its own: a second grid with one new prefill size and one new
    context simulates just the points it does not share with the first (fake simulator as above)."""
    import gpusim.llm.machines as machines

    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path))
    calls = []

    def fake(model, step, cfg, **kw):
        calls.append(step)
        return {"step_seconds": 1e-3, "operators": [{"kind": "attention", "seconds": 1e-4}]}

    monkeypatch.setattr(machines, "run_gpu", fake)
    ST.build("tiny", "a100-sxm4-80gb", prefill_tokens=(16, 64), decode_batches=(1, 8), decode_contexts=(64,),
             progress=False, held_out=0)
    calls.clear()
    ST.build("tiny", "a100-sxm4-80gb", prefill_tokens=(16, 64, 256), decode_batches=(1, 8), decode_contexts=(64, 512),
             progress=False, held_out=0)
    assert sorted(calls) == sorted(["prefill:tokens=256", "decode:batch=1,context=512", "decode:batch=8,context=512",
                                    *(f"prefill:tokens=256,past={p}" for p in ST.PREFILL_PASTS)])
    calls.clear()
    ST.build("tiny", "a100-sxm4-80gb", tp=2, prefill_tokens=(16,), decode_batches=(1,), decode_contexts=(64,),
             progress=False, held_out=0)
    assert len(calls) == 2 + len(ST.PREFILL_PASTS)     # another TP is another machine: nothing shared


# ---- issue 20, third round: a build simulates each distinct kernel launch once --------------------------------------

def _fake_kernels(monkeypatch):
    """gpusim.llm.run.simulate_kernel replaced by a record of its calls: cycles = 1000 + CTAs (the real
    scheduling, kernel choice and step accounting still run)."""
    import gpusim.llm.run as R

    calls = []

    def fake(cfg, call, memsys=None, progress=None, sample=None, **kw):
        calls.append((R._key(call), call.name))
        return {"kernel": call.name, "grid": list(call.launch.grid), "cycles": 1000 + call.launch.num_ctas,
                "dram_bytes": 0, "sampling": None, "walk_seconds": 0.0, "simulate_seconds": 0.0, "speed_of_light": {}}

    monkeypatch.setattr(R, "simulate_kernel", fake)
    return calls


def test_steptime_reuses_operator_results_across_grid_points(tmp_path, monkeypatch):
    """A serving step is its kernels run one after another, so a launch (kernel, grid, scalar arguments)
    that recurs across grid steps is simulated once: no kernel twice in a build; the decode step at a
    second context of the same batch simulates only its attention and KV-append launches; and the GEMMs of
    the 8-token prefill step are those of the batch-8 decode steps.  Without reuse every step simulates its
    own kernels (more calls), with the same step times here (the fake kernel's cycles do not depend on the
    L2 state).  (Break the rule -- drop ``kernel_cache`` from the build's run_gpu call -- and the first
    assertion fails.)"""
    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path))
    calls = _fake_kernels(monkeypatch)
    kw = dict(prefill_tokens=(8, 64), decode_batches=(1, 8), decode_contexts=(64, 512), progress=False, held_out=0)
    stm = ST.build("tiny", "a100-sxm4-80gb", **kw)
    keys = [k for k, _ in calls]
    assert len(keys) == len(set(keys)) == stm.kernels["simulated"] and stm.kernels["reused"] > 0
    # grid order: prefill 8, prefill 64, decode (1, 64), (1, 512), (8, 64), (8, 512)
    calls.clear()
    stm.prefill.clear(), stm.decode.clear()
    direct = ST.build("tiny", "a100-sxm4-80gb", reuse=False, **kw)
    per_step = len(calls)
    assert per_step > len(keys) and direct.kernels["reused"] == 0
    assert direct.prefill == ST.build("tiny", "a100-sxm4-80gb", **kw).prefill     # read back: the same values
    calls.clear()
    ST.build("tiny", "a100-sxm4-80gb", prefill_tokens=(8,), decode_batches=(8,), decode_contexts=(64, 4096),
             progress=False, held_out=0)
    # only decode:batch=8,context=4096 is new; its GEMMs, norms and element-wise kernels come from the cache
    assert calls and all(("attn" in n or "kv_append" in n or "combine" in n) for _, n in calls), calls


def test_kernel_cache_is_shared_on_disk_by_grids_of_one_machine_only(tmp_path, monkeypatch):
    """The kernel cache lives on disk per (resolved config, sampling, timing model): a second process
    building another grid of the same machine simulates none of the launches the first one did, while a
    config with another SM count shares nothing.  (Break it -- key the cache by the grid too -- and the
    second build simulates again.)"""
    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path))
    calls = _fake_kernels(monkeypatch)
    ST.build("tiny", "a100-sxm4-80gb", prefill_tokens=(16, 64), decode_batches=(1,), decode_contexts=(64,),
             progress=False, held_out=0)
    first = {k for k, _ in calls}
    calls.clear()
    ST.build("tiny", "a100-sxm4-80gb", prefill_tokens=(16, 64, 256), decode_batches=(1,), decode_contexts=(64,),
             progress=False, held_out=0)
    assert calls and not first & {k for k, _ in calls}      # only the 256-token step's launches are new
    assert list(tmp_path.glob("steptime/kernels/*/*.json"))
    calls.clear()
    ST.build("tiny", "a100-sxm4-80gb", overrides=["sm.count=4"], prefill_tokens=(16,), decode_batches=(1,),
             decode_contexts=(64,), progress=False, held_out=0)
    assert first & {k for k, _ in calls}                    # another machine: the same launches simulated again


def test_serve_validation_case_compares_capacity_in_requests_per_second(tmp_path, monkeypatch):
    """A validation suite can hold serving cases: one policy, find_capacity -> the capacity (requests/s,
    DistServe's 90% goodput) compared with a reference row in req/s (QPS accepted); the case's value is the
    sweep serve kind's capacity for the same workload.  A serve case with two policies, or a latency metric
    without one rate, is refused naming the file and line.  (gpusim llm replaced by an analytic step: 1 ms +
    1 us per token.)"""
    import gpusim.llm.machines as machines
    from gpusim import validate as v
    from gpusim.config import load_config
    from gpusim.llm.model import parse_step

    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path / "cache"))

    def fake(model, step, cfg, **kw):
        g = parse_step(step).groups[0]
        t = 1e-3 + 1e-6 * g.tokens * g.count
        return {"step_seconds": t, "operators": [{"kind": "attention", "seconds": 0.1 * t}]}

    monkeypatch.setattr(machines, "run_gpu", fake)
    (tmp_path / "ref.csv").write_text("id,gpu,metric,value,unit,conditions,source\n"
                                      "Q1,A100,capacity,10,QPS,test,test\nQ2,A100,p99 TTFT,20,ms,test,test\n")
    serve = ("{serve: {model: tiny, arrivals: 'poisson:duration=4,prompt=64,output=8,seed=1', policies: [vllm], "
             "slo: 'ttft=0.05,tpot=0.01', held_out: 0, grid: {prefill_tokens: [16, 256], decode_batches: [1, 64], "
             "decode_contexts: [64, 512]}")
    (tmp_path / "s.yaml").write_text(f"gpu: a100-sxm4-80gb\nreferences: [ref.csv]\ncases:\n"
                                     f"  - {{id: cap, reference: Q1, workload: {serve}, find_capacity: true}}}}}}\n"
                                     f"  - {{id: ttft, reference: Q2, metric: ttft_p99, workload: {serve}, rates: [5]}}}}}}\n")
    (s,) = v.load_suites([tmp_path / "s.yaml"])
    res = v.run_validation([s], progress=False)["cases"]
    assert [r["status"] for r in res] == ["ok", "ok"], res
    rows, _ = s.cases[0].workload.run(load_config("a100-sxm4-80gb"))
    assert res[0]["simulated"] == pytest.approx(rows[-1]["capacity_requests_per_s"]) and res[0]["unit"] == "QPS"
    assert res[0]["error_pct"] == pytest.approx((res[0]["simulated"] - 10) / 10 * 100)
    assert res[1]["simulated"] == pytest.approx(s.cases[1].workload.run(load_config("a100-sxm4-80gb"))[0][0]
                                                ["serve.ttft_s.p99"] * 1e3)
    two = serve.replace("[vllm]", "[vllm, orca]")
    (tmp_path / "bad.yaml").write_text(f"gpu: a100-sxm4-80gb\nreferences: [ref.csv]\ncases:\n"
                                       f"  - {{id: two, reference: Q2, metric: ttft_p99, workload: {two}, rates: [5]}}}}}}\n")
    with pytest.raises(v.ValidationError, match=r"bad.yaml:4.*one policy"):
        v.load_suites([tmp_path / "bad.yaml"])


def test_g_at_a_token_count_both_grids_hold_is_the_decode_steps_mean():
    """g(T) (every operator but attention) at a token count that is both a prefill size and a decode batch
    comes from the decode steps (their mean over the contexts: they differ only in the KV append), since
    steps that small are mostly decodes when served; elsewhere from whichever grid holds it.  (Break it --
    let the prefill grid win -- and g(32) reads 1.0.)"""
    stm = ST.StepTimeModel(key="t", prefill={32: {"g": 1.0, "attn": 0.1, "pairs": 528},
                                             512: {"g": 5.0, "attn": 1.0, "pairs": 131328}},
                           decode={(1, 128): {"g": 0.5, "attn": 0.01}, (1, 4096): {"g": 0.5, "attn": 0.2},
                                   (32, 128): {"g": 2.0, "attn": 0.05}, (32, 4096): {"g": 2.2, "attn": 0.5}})
    assert stm.g(32) == pytest.approx(2.1) and stm.g(512) == 5.0 and stm.g(1) == 0.5
    assert stm.g(272) == pytest.approx(2.1 + (5.0 - 2.1) * (272 - 32) / (512 - 32))


def test_prefill_attention_rate_outside_the_grid_is_the_nearest_grid_sizes():
    """The per-pair cost of prefill attention falls with the chunk size towards a floor (fewer, fuller
    tiles), so outside the grid the model keeps the nearest grid size's rate: a linear continuation of
    the falling rate reaches zero (a 4,000-token prompt's attention free) and below.  The query is
    counted as extrapolated.  (Break it -- continue the rate linearly -- and the 4,000-token attention
    is 0.)"""
    stm = ST.StepTimeModel(key="t", prefill={32: {"g": 1.0, "attn": 0.3, "pairs": 528},
                                             512: {"g": 5.0, "attn": 1.5, "pairs": 131328}},
                           decode={(1, 128): {"g": 0.5, "attn": 0.01}})
    big = stm.prefill_attention(4000, 0)
    assert big == pytest.approx(1.5 / 131328 * (4000 * 4001 // 2)) and stm.extrapolated == 1
    assert stm.prefill_attention(16, 0) == pytest.approx(0.3 / 528 * 136)
    assert stm.prefill_attention(272, 0) > 0 and stm.extrapolated == 2


def test_a_prefill_chunk_on_cached_tokens_is_charged_its_simulated_time_not_the_fresh_prompt_rate():
    """Chunked prefill (Sarathi-Serve, vLLM): a chunk of q tokens on top of a long cached past runs its
    query tiles over more key tiles each, for the same launch, fill and tail costs, so its per-pair cost
    is well below a fresh prompt's of the same size (the A100 Llama-2-7B attention at 512 tokens: 368 ps
    per pair at past 0, 178 at past 2,048).  The model reads the chunk's time at the simulated pasts
    (exact at grid points), linear in past between them and beyond the last with the last slope, and
    interpolates the per-pair rate in q.  (Break it -- charge the fresh prompt's rate -- and the 512-token
    chunk at past 2,048 costs 0.432 instead of 0.210.)"""
    p512 = 512 * 513 // 2
    stm = ST.StepTimeModel(key="t", prefill={128: {"g": 1.0, "attn": 0.02, "pairs": 128 * 129 // 2},
                                             512: {"g": 5.0, "attn": 0.048, "pairs": p512}},
                           decode={(1, 128): {"g": 0.5, "attn": 0.01}},
                           chunk={(128, 2048): {"attn": 0.03, "pairs": 128 * 2048 + 128 * 129 // 2},
                                  (512, 2048): {"attn": 0.210, "pairs": 512 * 2048 + p512}})
    assert stm.prefill_attention(512, 0) == pytest.approx(0.048)
    assert stm.prefill_attention(512, 2048) == pytest.approx(0.210)
    assert stm.prefill_attention(512, 1024) == pytest.approx((0.048 + 0.210) / 2)     # linear in past
    assert stm.extrapolated == 0
    assert stm.prefill_attention(512, 4096) == pytest.approx(0.210 + (0.210 - 0.048))  # last slope beyond
    assert stm.extrapolated == 1
    # between chunk sizes: the per-pair rate at that past, interpolated in q
    r128, r512 = 0.03 / (128 * 2048 + 128 * 129 // 2), 0.210 / (512 * 2048 + p512)
    q = 320
    rate = r128 + (r512 - r128) * (q - 128) / (512 - 128)
    assert stm.prefill_attention(q, 2048) == pytest.approx(rate * (q * 2048 + q * (q + 1) // 2))
    back = ST.StepTimeModel.from_json(json.loads(json.dumps(stm.to_json())))
    assert back.chunk == stm.chunk and back.prefill_attention(512, 1024) == pytest.approx((0.048 + 0.210) / 2)


def test_the_grid_simulates_each_prefill_size_on_cached_pasts_and_holds_out_a_chunk(tmp_path, monkeypatch):
    """The build simulates ``prefill:tokens=T,past=P`` for every prefill size and past (their other launches
    are those of the fresh prefill step, reused), and with chunks in the model every third held-out step is
    a chunk strictly inside the grid.  (gpusim llm replaced by an analytic report.)"""
    import gpusim.llm.machines as machines
    from gpusim.llm.model import parse_step

    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path))
    calls = []

    def fake(model, step, cfg, **kw):
        calls.append(step)
        g = parse_step(step).groups[0]
        t = 1e-3 + 1e-6 * g.tokens * g.count
        return {"step_seconds": t + 1e-9 * (g.tokens * g.past), "operators": [{"kind": "attention", "seconds": 0.1 * t + 1e-9 * g.tokens * g.past}]}

    monkeypatch.setattr(machines, "run_gpu", fake)
    stm = ST.build("tiny", "a100-sxm4-80gb", prefill_tokens=(16, 64), decode_batches=(1,), decode_contexts=(64,),
                   prefill_pasts=(256,), progress=False, held_out=3)
    assert {"prefill:tokens=16,past=256", "prefill:tokens=64,past=256"} <= set(calls)
    assert sorted(stm.chunk) == [(16, 256), (64, 256)]
    chunk = calls[-1]
    assert chunk.startswith("prefill:") and ",past=" in chunk
    q, past = (int(x.split("=")[1]) for x in chunk.split(":")[1].split(","))
    assert 16 < q < 64 and 0 < past < 256

"""gpusim validate and the microbenchmark generators: unit conversions, errors before any simulation,
error statistics, the report files, --compare, and the rules each generated benchmark measures."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpusim import microbench as mb
from gpusim import validate as v
from gpusim.config import load_config
from gpusim.frontend.workload import open_workload


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpusim", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


# ----------------------------------------------------------------------------------------------
# Units.


def test_cycles_convert_to_time_with_the_sm_clock():
    assert v.convert(1410, "cycles", "ns", clock_hz=1.41e9, sm_count=108) == pytest.approx(1000.0)
    assert v.convert(1.0, "us", "clk", clock_hz=1.8e9, sm_count=84) == pytest.approx(1800.0)


def test_per_sm_per_clock_rates_scale_by_sm_count_and_clock():
    # A100: 64 FMA/clk/SM x 108 SMs x 1.41 GHz = 19.5 TFLOPS (the datasheet FP32 peak)
    assert v.convert(64, "FMA/clk/SM", "TFLOPS", clock_hz=1.41e9, sm_count=108) == pytest.approx(19.49, abs=0.01)
    assert v.convert(128, "flop/clk/SM", "FMA/clk/SM", clock_hz=1.0, sm_count=1) == pytest.approx(64)
    assert v.convert(1446.1, "B/clk", "TB/s", clock_hz=1.41e9, sm_count=108) == pytest.approx(2.039, abs=1e-3)
    assert v.convert(194.2, "GB/s per SM", "B/clk/SM", clock_hz=1.0e9, sm_count=28) == pytest.approx(194.2)
    assert v.convert(50, "%", "x", clock_hz=1, sm_count=1) == pytest.approx(0.5)


@pytest.mark.parametrize("a, b", [("cycles", "GB/s"), ("cycles/inst", "FMA/clk/SM"), ("%", "cycles"), ("tokens/s", "TFLOPS")])
def test_quantities_of_different_kinds_do_not_convert(a, b):
    with pytest.raises(ValueError, match="cannot convert"):
        v.convert(1.0, a, b, clock_hz=1e9, sm_count=1)


def test_unknown_unit_word_is_named_with_a_suggestion():
    with pytest.raises(ValueError, match="unknown unit word 'cylces'.*did you mean 'cycles'"):
        v.parse_unit("cylces")


# ----------------------------------------------------------------------------------------------
# Suites: every problem is found before the first simulation.


REF = """\
id,gpu,metric,value,unit,conditions,source
R1,RTX A6000,FFMA dependent latency,4,cycles,test row,made up for the test
R2,RTX A6000,some ratio,50,%,test row,made up for the test
"""


def suite(tmp_path: Path, cases: str, ref: str = REF, head: str = "gpu: rtx-a6000") -> Path:
    (tmp_path / "ref.csv").write_text(ref)
    p = tmp_path / "suite.yaml"
    p.write_text(f"suite: t\n{head}\nreferences: [ref.csv]\ncases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))
    return p


CHAIN = "{microbench: alu_latency, params: {length: 64}}"


def test_unknown_reference_id_is_an_error_with_file_line_and_suggestion(tmp_path, repo_root):
    p = suite(tmp_path, f"- id: a\n  reference: R11\n  workload: {CHAIN}\n")
    out = tmp_path / "out"
    r = run_cli("validate", str(p), "-o", str(out), cwd=repo_root)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert f"{p}:6: cases[0].reference: unknown reference id 'R11'" in r.stderr and "did you mean R1?" in r.stderr
    assert not out.exists()


def test_a_unit_that_cannot_be_converted_is_an_error_before_simulating(tmp_path):
    p = suite(tmp_path, f"- id: a\n  reference: R2\n  workload: {CHAIN}\n")
    with pytest.raises(v.ValidationError, match=r"suite.yaml:6: cases\[0\].reference: cannot convert the simulated cycles .* '%'"):
        v.load_suites([p])


def test_a_reference_value_that_is_not_a_number_names_its_csv_line(tmp_path):
    p = suite(tmp_path, f"- id: a\n  reference: R1\n  workload: {CHAIN}\n",
              REF + "R3,RTX A6000,a range,264.5-502,cycles,test row,made up for the test\n")
    with pytest.raises(v.ValidationError, match=r"ref.csv:4: R3: value '264.5-502' is not a number"):
        v.load_suites([p])


def test_unknown_config_key_in_a_case_and_missing_config(tmp_path):
    ref = REF
    p = suite(tmp_path, f"- id: a\n  reference: R1\n  workload: {CHAIN}\n  set: [sm.cuont=4]\n", ref)
    with pytest.raises(v.ValidationError, match=r"cases\[0\].set: .*sm.cuont.*did you mean 'sm.count'"):
        v.load_suites([p])
    p = suite(tmp_path, f"- id: a\n  reference: R1\n  workload: {CHAIN}\n", ref, head="gpu: h200-nope")
    with pytest.raises(v.ValidationError, match=r"suite.yaml:2: gpu: .*h200-nope"):
        v.load_suites([p])
    # missing_config: skip turns the same case into a reported skip
    p = suite(tmp_path, f"- id: a\n  reference: R1\n  workload: {CHAIN}\n", ref, head="gpu: h200-nope\nmissing_config: skip")
    (s,) = v.load_suites([p])
    assert s.cases[0].skip_reason and "h200-nope" in s.cases[0].skip_reason


def test_the_shipped_suites_load_and_their_reference_rows_are_copies_of_the_research_rows(repo_root, shared_research):
    suites = v.load_suites(sorted((repo_root / "validation" / "suites").glob("*.yaml")))
    assert {s.name for s in suites} >= {"ladder-a100", "ladder-rtx-a6000", "ladder-h100"}
    truth = {r["id"]: r for r in csv.DictReader(open(shared_research / "hw_ground_truth.csv"))}
    for f in (repo_root / "validation" / "reference").glob("*.csv"):
        for row in csv.DictReader(open(f)):
            if row["id"].startswith("HW"):
                src = truth[row["id"]]
                assert {k: row[k] for k in v.REFERENCE_COLUMNS} == {k: src[k] for k in v.REFERENCE_COLUMNS}, row["id"]


# ----------------------------------------------------------------------------------------------
# Statistics, report, compare.


def fake(case_id, sim, ref, cat="c", status="ok"):
    err = (sim - ref) / ref * 100
    return {"suite": "s", "id": case_id, "category": cat, "gpu_config": "g", "status": status, "simulated": sim,
            "error_pct": err, "ape": abs(err), "reference": {"id": case_id, "value": ref, "unit": "cycles"}}


def test_summary_statistics_follow_their_definitions():
    rs = [fake("a", 110, 100), fake("b", 50, 100), fake("c", 100, 100), fake("d", 400, 100), fake("e", 80, 100)]
    s = v.summarize(rs + [dict(fake("x", 1, 1), status="skipped")])
    apes = [10, 50, 0, 300, 20]
    assert s["compared"] == 5 and s["skipped"] == 1
    assert s["mape"] == pytest.approx(sum(apes) / 5)
    assert s["median_ape"] == pytest.approx(20)
    assert s["p90_ape"] == pytest.approx(50 + 0.6 * (300 - 50))     # linear interpolation between the top two
    assert s["max_ape"] == 300 and s["max_ape_case"] == "s/d"
    assert s["mean_signed_error"] == pytest.approx((10 - 50 + 0 + 300 - 20) / 5)
    assert s["pearson_r"] is None                       # constant references: correlation undefined
    s2 = v.summarize([fake("a", 2, 1), fake("b", 4, 2), fake("c", 9, 3)])
    # x = (2, 4, 9), y = (1, 2, 3): deviations (-3, -1, 4) and (-1, 0, 1) -> r = 7 / sqrt(26 * 2)
    assert s2["pearson_r"] == pytest.approx(7 / math.sqrt(52)) and s2["pearson_r_log"] > 0.95


def test_validate_end_to_end_writes_json_markdown_self_contained_html_and_plots(tmp_path, repo_root):
    ref = REF + "R4,RTX A6000,shared latency,24,ns,test row,made up\n"
    p = suite(tmp_path, f"""\
        - id: chain
          category: inst_latency
          reference: R1
          workload: {CHAIN}
        - id: shared
          category: mem_latency
          reference: R4
          workload: {{microbench: shared_latency, params: {{steps: 64}}}}
          calibration: true
        """, ref)
    out = tmp_path / "out"
    r = run_cli("validate", str(p), "-o", str(out), "--quiet", cwd=repo_root)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "validation.json").read_text())
    chain, shared = res["cases"]
    assert chain["status"] == "ok" and chain["unit"] == "cycles"
    assert chain["error_pct"] == pytest.approx((chain["simulated"] - 4) / 4 * 100)
    # a reference in ns: the simulated cycles were converted with the config's 1.8 GHz clock
    assert shared["simulated_native"]["unit"] == "cycles"
    assert shared["simulated"] == pytest.approx(shared["simulated_native"]["value"] / 1.8)
    assert res["summary"]["mape"] == pytest.approx((chain["ape"] + shared["ape"]) / 2)
    # a calibration case (the config's value came from that reference) is left out of the prediction summary
    assert res["summary_predictions"]["compared"] == 1 and res["summary_predictions"]["mape"] == pytest.approx(chain["ape"])
    assert res["summary_calibration"]["compared"] == 1 and chain["role"] == "prediction" and shared["role"] == "calibration"
    md = (out / "report.md").read_text()
    assert "| MAPE |" in md.replace("MAPE | median", "MAPE |") and "![simulated vs measured" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and 'src="correlation.png"' not in html
    for png in ("correlation.png", "ape.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # --compare: make the chain case worse in a copy and see it flagged
    worse = json.loads(json.dumps(res))
    worse["cases"][0]["ape"] += 50
    (tmp_path / "new.json").write_text(json.dumps(worse))
    r = run_cli("validate", "--compare", str(out / "validation.json"), str(tmp_path / "new.json"), cwd=repo_root)
    assert r.returncode == 0, r.stderr
    assert "| t/chain |" in r.stdout and "| worse |" in r.stdout and "1 worse, 1 same" in r.stdout
    r = run_cli("validate", "--compare", str(out / "validation.json"), str(tmp_path / "missing.json"), cwd=repo_root)
    assert r.returncode == 2 and "no such file" in r.stderr


# ----------------------------------------------------------------------------------------------
# Microbenchmark generators: valid traces, and the rule each one measures.


@pytest.mark.parametrize("name, params", [
    ("alu_latency", {"length": 64}), ("fma_throughput", {"iterations": 1}), ("pointer_chase", {"steps": 16}),
    ("shared_latency", {"steps": 16}), ("stream", {"iterations": 1}), ("mma_throughput", {"iterations": 2}),
])
def test_generated_traces_parse_and_have_the_expected_shape(tmp_path, name, params):
    cfg = load_config("rtx-a6000", ["sm.count=2"])
    mb.write_trace(name, cfg, params, tmp_path)
    wl = open_workload(tmp_path)
    kt = wl.load(wl.kernels[0], use_cache=False)
    assert kt.header.binary_version == 86 and kt.header.tracer_version == 5
    if name in ("fma_throughput", "mma_throughput"):
        assert kt.num_ctas == 2                                   # one CTA per SM
    ops = kt.opcode_histogram()
    expect = {"alu_latency": "FFMA", "fma_throughput": "FFMA", "pointer_chase": "LDG.E.64", "shared_latency": "LDS",
              "stream": "LDG.E.128", "mma_throughput": "HMMA.16816.F32"}[name]
    assert expect in ops


def test_difference_method_cancels_fixed_costs_dependent_chain_tracks_pipe_latency():
    # rule: in a chain of dependent FFMAs each instruction waits for the previous result, so the
    # per-instruction time grows one-for-one with the fp32 pipe latency
    base = mb.measure("alu_latency", load_config("rtx-a6000"), {"length": 128}).values[0][0]
    longer = mb.measure("alu_latency", load_config("rtx-a6000", ["pipes.fp32.latency=6"]), {"length": 128}).values[0][0]
    assert longer - base == pytest.approx(4, abs=0.25)


def test_cold_pointer_chase_tracks_dram_latency_one_for_one():
    p = {"working_set": "64 MiB", "warmup": False, "steps": 64}
    a = mb.measure("pointer_chase", load_config("rtx-a6000"), p).values[0][0]
    b = mb.measure("pointer_chase", load_config("rtx-a6000", ["memory.dram_latency=629"]), p).values[0][0]
    assert b - a == pytest.approx(100, abs=2)


def test_streaming_read_cannot_beat_the_dram_bandwidth():
    # (a copy's stores can stay in the write-back L2 when the arrays fit in it, so read)
    cfg = load_config("rtx-a6000", ["sm.count=8", "memory.dram_bandwidth=100 GB/s"])
    (value, unit), = mb.measure("stream", cfg, {"iterations": 2, "kind": "read"}).values
    assert unit == "B/clk"
    limit = cfg.memory.dram_bandwidth_bytes_per_s / cfg.sm.clock_hz
    assert value <= limit * 1.01
    assert value >= limit * 0.5                     # and a saturating copy gets close to it


def test_unknown_benchmark_and_parameter_are_named():
    with pytest.raises(mb.MicrobenchError, match="did you mean 'pointer_chase'"):
        mb.check_params("pointer_chace", {})
    with pytest.raises(mb.MicrobenchError, match="expected one of FFMA, DFMA, HFMA2"):
        mb.check_params("fma_throughput", {"opcode": "IMAD"})
    with pytest.raises(mb.MicrobenchError, match="working_set.*unknown unit"):
        mb.check_params("pointer_chase", {"working_set": "4 MB/s"})
    assert math.isclose(mb.check_params("pointer_chase", {"working_set": "4 MiB"})["working_set"], 4 << 20)


# ----------------------------------------------------------------------------------------------
# Roles: calibration or prediction, decided by the code.

ROLE_REF = "id,gpu,metric,value,unit,conditions,source\nHW901,RTX A6000,made-up latency,24,ns,test row,made up\n" \
           "HW902,RTX A6000,made-up latency (quoted elsewhere),24,ns,test row,made up\n" \
           "HW903,RTX A6000,made-up latency,24,ns,same measurement as HW901,made up\n"


def _role_suite(tmp_path, comment: str, calibration: str = "") -> Path:
    (tmp_path / "ref.csv").write_text(ROLE_REF)
    (tmp_path / "cfg.yaml").write_text(f"extends: rtx-a6000\n# {comment}\n")
    (tmp_path / "s.yaml").write_text(textwrap.dedent(f"""\
        gpu: {tmp_path / 'cfg.yaml'}
        references: [ref.csv]
        cases:
          - id: a
            reference: HW901
            workload: {{microbench: shared_latency, params: {{steps: 64}}}}
            {calibration}
          - id: b
            reference: HW902
            workload: {{microbench: shared_latency, params: {{steps: 64}}}}
        """))
    return tmp_path / "s.yaml"


def test_a_case_whose_row_a_config_cites_is_calibration_and_the_others_predictions(tmp_path):
    """Rule (issue 16): the role is derived from the sources the simulation loads — a reference row
    cited by a config file of the case's extends chain makes the case calibration; a row nobody
    cites is a prediction.  (Checked to fail with the scan disabled.)"""
    (s,) = v.load_suites([_role_suite(tmp_path, "memory.shared_latency from HW901")])
    a, b = s.cases
    assert a.calibration and any("cfg.yaml:2" in w for w in a.cited_by)
    assert not b.calibration and b.cited_by == ()


def test_a_row_recording_the_same_measurement_as_a_cited_row_is_calibration(tmp_path):
    """A quote of the same number (same metric, value and unit) under another id is the same input."""
    (s,) = v.load_suites([_role_suite(tmp_path, "value from HW903")])
    assert s.cases[0].calibration and "(HW903)" in s.cases[0].cited_by[0]
    assert not s.cases[1].calibration          # HW902: another metric


def test_a_range_of_row_ids_cites_every_row_inside_it(tmp_path):
    (s,) = v.load_suites([_role_suite(tmp_path, "clock held during the HW900-HW902 runs")])
    assert s.cases[0].calibration and s.cases[1].calibration


def test_a_case_marked_prediction_whose_row_is_cited_is_refused(tmp_path):
    """Rule: ``calibration: false`` (a claimed prediction) with a cited reference row is an error naming
    the case and the citing file:line — a prediction must not compare with an input of the model."""
    p = _role_suite(tmp_path, "memory.shared_latency from HW901", calibration="calibration: false")
    with pytest.raises(v.ValidationError, match=r"s.yaml:\d+.*marked a prediction.*HW901.*cfg.yaml:2"):
        v.load_suites([p])


def test_the_model_code_and_isa_tables_are_scanned_for_citations():
    """The model's own sources count: HW105 (ERRBAR cost) is cited in gpusim/isa/semantics.py (the ISA
    semantics moved there from gpusim/assemble.py, issue 17)."""
    from gpusim.config import load_config

    cited = v.cited_rows(load_config("a100-sxm4-80gb"))
    assert any(w.startswith("gpusim/isa/semantics.py:") for w in cited["HW105"])
    assert any(w.startswith("configs/arch/ampere-ga100.yaml:") for w in cited["HW062"])


def _tiny_requests_suite(tmp_path, reference: str, **cases: str):
    """A one-suite file of llm_requests cases (id -> workload mapping) on a 4-SM A100 against one made-up
    reference row X1 (``reference``: "metric,value,unit")."""
    (tmp_path / "ref.csv").write_text("id,gpu,metric,value,unit,conditions,source\n"
                                      f"X1,A100,{reference},made up,made up\n")
    body = "".join(f"  - id: {cid}\n    reference: X1\n"
                   "    set: [sm.count=4, memory.l2_slices=3, memory.l2_size=1536 KiB]\n"
                   f"    workload: {{llm_requests: {w}}}\n" for cid, w in cases.items())
    (tmp_path / "s.yaml").write_text("gpu: a100-sxm4-80gb\nreferences: [ref.csv]\ncases:\n" + body)
    (s,) = v.load_suites([tmp_path / "s.yaml"])
    return s


def test_an_llm_requests_case_reports_output_tokens_per_second_of_prefill_plus_decodes(tmp_path):
    """The request-level workload: one prefill step, output - 1 decode steps (first and last simulated,
    the rest on the line between them); throughput = batch x output / total seconds."""
    s = _tiny_requests_suite(tmp_path, "tiny model throughput,1000,tokens/s",
                             tiny="{model: tiny, batch: 2, prompt: 32, output: 4}")
    r = v.run_validation([s], progress=False)["cases"][0]
    assert r["status"] == "ok", r
    run = r["runs"][0]
    steps = [x["step_seconds"] for x in run["steps"]]
    assert [x["step"] for x in run["steps"]] == ["prefill:tokens=32,batch=2", "decode:batch=2,context=33",
                                                "decode:batch=2,context=35"]
    assert run["seconds"] == pytest.approx(steps[0] + 3 * (steps[1] + steps[2]) / 2)
    assert r["simulated"] == pytest.approx(2 * 4 / run["seconds"])


def test_gpt_fast_model_size_is_every_parameter_at_two_bytes_before_the_kv_caches_exist():
    """gpt-fast's "Bandwidth achieved" (generate.py:287 and :370-374 @ 9ac48bc): model_size sums the
    parameters and buffers right after loading, before setup_caches creates the KV caches, so for the bf16
    Llama-2-7B it is its 6,738,415,616 parameters x 2 B; bandwidth = model_size x generated tokens / time."""
    from gpusim.sweep.workloads import gpt_fast_bandwidth, gpt_fast_model_bytes

    h, f, L, vocab = 4096, 11008, 32, 32000
    params = L * (3 * h * h + h * h + 3 * h * f + 2 * h) + 2 * vocab * h + h   # QKV, O, SwiGLU, 2 norms; emb, head, norm
    assert params == 6_738_415_616
    assert gpt_fast_model_bytes("llama-2-7b") == 2 * params
    # README row 104.9 tokens/s of 200 generated tokens: 200 / 104.9 s per request
    assert gpt_fast_bandwidth(2 * params, 200, 200 / 104.9) == pytest.approx(2 * params * 104.9)


def test_an_llm_requests_case_with_weight_bandwidth_compares_model_bytes_times_tokens_per_second(tmp_path):
    """weight_bandwidth: the case's GB/s reference is compared with gpt-fast's model_size x output / total
    seconds (B/s, converted); cuda_graph replays the decode steps only, so the prefill step is the same as
    without it; tp > 1 is refused with the key path."""
    from gpusim.llm.model import load_model

    s = _tiny_requests_suite(
        tmp_path, "tiny weight streaming,100,GB/s",
        tiny="{model: tiny, batch: 1, prompt: 8, output: 3, cuda_graph: true, weight_bandwidth: true}",
        **{"tiny-stream": "{model: tiny, batch: 1, prompt: 8, output: 3, weight_bandwidth: true}"})
    r, r_stream = v.run_validation([s], progress=False)["cases"]
    assert r["status"] == "ok" and r_stream["status"] == "ok", (r, r_stream)
    graph, stream = ([x["step_seconds"] for x in c["runs"][0]["steps"]] for c in (r, r_stream))
    assert graph[0] == stream[0]                                      # prefill: stream launches either way
    assert all(g < st for g, st in zip(graph[1:], stream[1:]))        # decode: 0.58 us graph nodes < 1500 cycles
    run = r["runs"][0]
    assert run["model_bytes"] == load_model("tiny").params() * 2
    assert r["simulated_native"]["unit"] == "B/s"
    assert r["simulated"] == pytest.approx(run["model_bytes"] * 3 / run["seconds"] / 1e9)
    (tmp_path / "t.yaml").write_text((tmp_path / "s.yaml").read_text().replace("output: 3,", "output: 3, tp: 2,"))
    from gpusim.errors import InputFileError

    with pytest.raises(InputFileError, match=r"t.yaml:\d+: cases\[0\].workload.llm_requests.weight_bandwidth: .*tp 1"):
        v.load_suites([tmp_path / "t.yaml"])

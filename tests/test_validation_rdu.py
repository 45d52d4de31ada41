"""The RDU validation suite (issue 16 item 8): ``validation/suites/rdu-sn40l.yaml`` against the published SN40L
figures of ``validation/reference/rdu-sn40l.csv``.

The default run loads the suite, checks that the roles come from the sources (the rows the presets cite are
calibration, the end-to-end figures are predictions) and runs every kind of case quickly (the CoE cases on the
``tiny`` model and a 2-GPU node).  ``-m validation`` re-runs the whole suite, GPU node simulations included
(minutes), against the committed report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpusim import validate as v
from gpusim.llm.coe import expected_switches, parse_coe_spec, switches_for

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "validation" / "suites" / "rdu-sn40l.yaml"
COMMITTED = REPO / "validation" / "reports" / "suites" / "rdu-sn40l" / "validation.json"
#: rows a preset or the GPU config derives a value from (tests/test_rdu_validation.py says which value)
CALIBRATION_ROWS = {"RDU001", "RDU004", "RDU005", "RDU009", "RDU011", "RDU113", "RDU114"}


@pytest.fixture(scope="module")
def suite():
    return v.load_suites([SUITE])[0]


def test_rdu_suite_roles_come_from_the_rows_the_presets_cite(suite):
    """Rule (validation/README.md): a case is calibration iff its row is cited by its preset chain, its GPU
    config or the model code.  The presets cite exactly the peak (RDU001), the HBM share and unit share of
    the fused layer (RDU004, RDU005), the 16-socket switch (RDU009), Plasticine's peak (RDU011) and the
    copy-time ratios (RDU113-RDU114); the decode figures and the CoE speed-ups stay predictions.  (Removing
    '(row RDU009)' from sn40l-16.yaml turns v9 into a prediction and fails this test.)"""
    cal = {c.reference.id for c in suite.cases if c.calibration}
    pred = {c.reference.id for c in suite.cases if not c.calibration}
    assert cal == CALIBRATION_ROWS
    assert {"RDU006", "RDU008", "RDU101", "RDU102"} <= pred
    for c in suite.cases:
        assert bool(c.cited_by) == c.calibration, c.id


def test_rdu_case_marked_prediction_with_a_cited_row_is_refused(tmp_path):
    """Rule: ``calibration: false`` on a row the presets cite is an error naming the citing file:line."""
    text = SUITE.read_text().replace("    reference: RDU009\n", "    reference: RDU009\n    calibration: false\n")
    p = tmp_path / "rdu.yaml"
    p.write_text(text.replace("../reference/", str(REPO / "validation" / "reference") + "/"))
    with pytest.raises(v.ValidationError, match="sn40l-16.yaml"):
        v.load_suites([p])


def test_rdu_workload_rejects_a_bad_measure_and_a_missing_step(tmp_path):
    ref = REPO / "validation" / "reference" / "rdu-sn40l.csv"
    for wl, msg in (("{rdu: {preset: sn40l-8, model: llama-3-8b, measure: speed}}", "expected one of"),
                    ("{rdu: {preset: sn40l-8, model: llama-3-8b}}", "needs a step"),
                    ("{rdu: {preset: sn40l-9, model: llama-3-8b, measure: peak_flops}}", "sn40l-8"),
                    ("{rdu: {preset: sn40l-8, model: llama-2-7b, measure: coe_speedup}}", "needs coe")):
        p = tmp_path / "s.yaml"
        p.write_text(f"references: [{ref}]\ncases:\n  - id: a\n    reference: RDU006\n    workload: {wl}\n")
        with pytest.raises(v.ValidationError, match=msg):
            v.load_suites([p])


def test_every_non_coe_rdu_case_runs_and_converts_to_its_reference_unit(suite):
    """Every step, peak, switch and layer case runs (seconds, the RDU DES) and yields a finite value in the
    reference's unit; the CoE cases need GPU node simulations and run under ``-m validation``."""
    for c in suite.cases:
        if c.workload.measure.endswith("speedup"):
            continue
        r = v._run_case(c)
        assert r["status"] == "ok", (c.id, r.get("reason"))
        assert r["simulated"] > 0 and r["unit"] == c.reference.unit


def test_coe_speedups_run_on_a_small_node():
    """The CoE measures divide the GPU node's batch time by the RDU's (tiny model, 2 GPUs vs 2 sockets: seconds).  Rule
    (Table V): the expert speed-up leaves switching out, so it is below the overall speed-up whenever the GPU
    node's copies are slower than the RDU's."""
    vals = {}
    for measure in ("coe_speedup", "expert_speedup", "switch_speedup"):
        wl = v.RduWorkload(preset="sn40l-8", model="tiny", name="t", overrides=("system.sockets=2",),
                           coe="experts=150,batch=2,prompt=16,out=2,gpus=2", fusion="fused_ho",
                           vs_gpu="a100-sxm4-80gb", measure=measure)
        natives, rec = wl.measure_value()
        vals[measure] = natives[0][0]
        assert rec["gpu"]["switches"] == rec["rdu"]["switches"] == 0      # 150 tiny experts all fit: warm, no copies
    assert vals["coe_speedup"] == pytest.approx(vals["expert_speedup"])
    assert vals["switch_speedup"] > 1


def test_warm_expert_cache_copies_each_prompt_with_probability_one_minus_slots_over_experts():
    """Rule ([paper] sec. VI-C): prompts are routed independently; with a warm cache of ``slots`` experts out of
    ``experts`` a prompt finds its expert resident with probability slots/experts (exact for independent uniform
    requests and any demand-filled cache), so a batch of 8 with 39 of 150 resident copies 8 x 111/150 = 5.92;
    all resident -> no copy (the paper's 'under 50 experts' regime); cold (warm=0) -> every distinct prompt."""
    assert expected_switches(8, 150, 39) == pytest.approx(5.92)
    assert expected_switches(8, 40, 47) == 0
    assert switches_for(8, 150, 39, 0, None) == 8
    assert switches_for(3, 150, 2, 1, [0, 0, 1]) == 2
    assert parse_coe_spec("warm=0")["warm"] == 0
    with pytest.raises(Exception, match="warm is 0"):
        parse_coe_spec("warm=2")


@pytest.mark.validation
def test_rdu_suite_predictions_stay_within_one_ape_point_of_the_committed_report():
    """Rule (as tests/test_validation_suites.py): a model change may not silently worsen an RDU prediction."""
    committed = json.loads(COMMITTED.read_text())
    res = v.run_validation(v.load_suites([SUITE]), progress=False)
    new = {r["id"]: r for r in res["cases"]}
    for r in committed["cases"]:
        n = new[r["id"]]
        assert n["status"] == "ok", (r["id"], n.get("reason"))
        assert bool(n["calibration"]) == bool(r["calibration"]), r["id"]
        if not r["calibration"]:
            assert n["ape"] <= r["ape"] + 1.0, (r["id"], r["ape"], n["ape"])

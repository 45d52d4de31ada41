"""``gpusim rdu`` (gpusim/cli/rdu.py) and its report.json (gpusim/accel/rdu/report.py)."""

from __future__ import annotations

import json

import pytest

from gpusim.cli import main


@pytest.fixture(scope="module")
def decode_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rdu")
    rc = main(["rdu", "--preset", "sn40l-8", "--model", "llama-2-7b", "--step", "decode:batch=1,context=1024",
               "-o", str(out), "--quiet"])
    assert rc == 0
    return json.loads((out / "report.json").read_text())


def test_report_has_the_shared_llm_report_shape(decode_report):
    """Rule (issue 10, one workload on three machines): per-operator time, bound and utilisation; step time;
    tokens/s — the same keys as the GPU and systolic LLM reports."""
    r = decode_report
    assert r["machine"]["kind"] == "rdu" and r["machine"]["sockets"] == 8 and r["parallelism"]["tp"] == 8
    assert r["step_time_s"] > 0 and r["tokens_per_s"] == pytest.approx(1 / r["step_time_s"])
    names = {o["name"] for o in r["operators"]}
    assert {"layer.qkv_proj", "layer.attn.decode0", "layer.down_proj", "lm_head"} <= names
    for o in r["operators"]:
        assert {"time_s", "bound", "utilisation", "count", "flops", "hbm_bytes"} <= set(o)
        assert o["bound"] in ("compute", "memory", "memory (ddr)", "network", "launch")
        assert 0 <= o["utilisation"]["compute"] <= 1 and 0 <= o["utilisation"]["hbm_bandwidth"] <= 1
    # the weight-streaming GEMVs of batch-1 decode are memory-bound
    assert all(o["bound"] == "memory" for o in r["operators"] if o["name"].endswith("_proj"))


def test_operator_times_and_launch_costs_add_up_to_the_step_time(decode_report):
    """Rule: the per-operator attribution conserves time — sum(time + launch/sync) = step time."""
    r = decode_report
    total = sum(o["time_s"] + o["launch_sync_s"] for o in r["operators"])
    assert total == pytest.approx(r["step_time_s"], rel=1e-9)


def test_sections_report_a_stall_breakdown_that_covers_every_cycle(decode_report):
    """Rule: each stage's busy + input_starved + output_blocked + memory_bound + finished = section cycles."""
    for s in decode_report["sections"]:
        for st in s["stages"]:
            parts = st["busy"] + st["input_starved"] + st["output_blocked"] + st["memory_bound"] + st["finished"]
            assert parts == s["section_cycles"], (s["name"], st["name"])


def test_every_configuration_value_is_printed_with_its_source(decode_report, capsys, tmp_path):
    """Rule (issue 10): every undisclosed constant is a named parameter marked as an estimate and printed with
    each run."""
    r = decode_report
    assert len(r["config"]) >= 40 and all(c["source"] for c in r["config"])
    est = {c["key"] for c in r["estimates"]}
    assert {"clock", "pcu.lanes", "launch.software", "launch.hardware", "launch.sync"} <= est
    rc = main(["rdu", "--preset", "sn40l-8", "--model", "llama-2-7b", "--step", "decode:batch=1,context=64",
               "-o", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert " * launch.software" in out and "estimate" in out and "wrote" in out


def test_coe_option_adds_a_composition_of_experts_block(tmp_path):
    """Rule (Samba-CoE): with --coe the report carries switches, switching time and total time."""
    rc = main(["rdu", "--preset", "sn40l-8", "--model", "llama-2-7b", "--step", "decode:batch=1,context=256",
               "--coe", "experts=150,batch=8,prompt=128,out=20,warm=0", "-o", str(tmp_path), "--quiet"])
    assert rc == 0
    c = json.loads((tmp_path / "report.json").read_text())["composition_of_experts"]
    # warm=0: the cold case, 8 distinct experts copied (the default warm=1 expects 8 x (1 - slots/150))
    assert c["switches"] == 8 and c["switch_s"] == pytest.approx(8 * 6_738_415_616 * 2 / 1e12)
    assert c["total_s"] > c["switch_s"] and c["tokens_per_s"] > 0


@pytest.mark.parametrize("argv,needle", [
    (["--step", "decode:batch=1"], "needs context=N"),
    (["--step", "decode:batch=1,context=64", "--fusion", "fused_ho_looped", "--set", "hbm.efficiency=2"],
     "hbm.efficiency: must be <= 1"),
    (["--step", "decode:batch=1,context=64", "--coe", "experts=0"], "must be >= 1"),
])
def test_bad_input_exits_2_with_one_line(argv, needle, capsys, tmp_path):
    """Rule: bad input is one line on stderr and exit status 2, never a traceback."""
    rc = main(["rdu", "--preset", "sn40l-8", "--model", "llama-2-7b", *argv, "-o", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err


def test_list_names_presets_models_and_fusion_levels(capsys):
    """Rule: --list shows what --preset, --model and --fusion accept."""
    assert main(["rdu", "--list"]) == 0
    out = capsys.readouterr().out
    assert "sn40l-8" in out and "plasticine" in out and "llama-2-7b" in out and "fused_ho_looped" in out

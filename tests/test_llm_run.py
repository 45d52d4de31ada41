"""Smoke tests of gpusim/llm/run.py (first version of issue 7 part 4): model + step -> kernels -> timing model."""

from __future__ import annotations

import pytest

from gpusim.llm.run import simulate_step


@pytest.fixture(scope="module")
def tiny_decode():
    return simulate_step("tiny", "decode:batch=1,context=256", "a100-sxm4-80gb")


def test_step_time_is_the_sum_of_operator_times_and_launch_overheads(tiny_decode):
    """Rule: the step takes the kernels' simulated time (count x cycles per execution) plus one launch
    latency per kernel launch; every operator with a kernel is simulated, the rest are listed."""
    r = tiny_decode
    clock_s = r["step_seconds"] - r["launch_seconds"]
    assert clock_s == pytest.approx(sum(o["seconds"] for o in r["operators"]))
    assert r["launch_seconds"] > 0 and r["launches"] >= len(r["operators"])
    assert r["tokens_per_second"] == pytest.approx(1 / r["step_seconds"])
    assert all(o["cycles"] > 0 and o["bound"] in ("memory", "compute", "latency") for o in r["operators"])
    names = {o["name"] for o in r["operators"]}
    assert {"layer.qkv_proj", "layer.attn.decode0", "lm_head", "layer.silu_mul"} <= names
    assert {s["kind"] for s in r["not_simulated"]} == {"embedding", "kv_append"}


def test_identical_launches_are_simulated_once_without_changing_the_result(tiny_decode):
    """Rule: deduplication (attn_norm and ffn_norm, the two residual adds, ... share a launch) only saves
    simulation time."""
    again = simulate_step("tiny", "decode:batch=1,context=256", "a100-sxm4-80gb", dedup=False)
    assert tiny_decode["distinct_kernels_simulated"] < again["distinct_kernels_simulated"]
    assert tiny_decode["step_seconds"] == pytest.approx(again["step_seconds"])

"""Facade of the RDU model shared by the CLI, notebooks and tests.

    from gpusim.accel.rdu.api import run
    rep = run("sn40l-8", "llama-2-7b", "decode:batch=1,context=1024")    # report dict (report.json)
"""

from __future__ import annotations

from collections.abc import Sequence

from gpusim.accel.rdu.config import load_rdu_config
from gpusim.accel.rdu.report import step_report
from gpusim.accel.rdu.schedule import StepResult, simulate_coe, simulate_step
from gpusim.llm.coe import parse_coe_spec
from gpusim.llm.model import ModelSpec, load_model

__all__ = ["run", "run_step"]


def _model(model: str | ModelSpec) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else load_model(model)


def run_step(preset: str, model: str | ModelSpec, step: str, fusion: str = "fused_ho_looped",
             overrides: Sequence[str] = ()) -> StepResult:
    return simulate_step(load_rdu_config(preset, overrides), _model(model), step, fusion)


def run(preset: str, model: str | ModelSpec, step: str, fusion: str = "fused_ho_looped",
        overrides: Sequence[str] = (), coe: str | None = None) -> dict:
    """Simulate one step and return the report dict; with ``coe`` also a Composition-of-Experts run of
    ``model`` as every expert and as the router."""
    spec = load_rdu_config(preset, overrides)
    m = _model(model)
    res = simulate_step(spec, m, step, fusion)
    c = None
    if coe is not None:
        p = parse_coe_spec(coe, ("experts", "batch", "prompt", "out", "warm"))
        c = simulate_coe(spec, m, m, experts=p["experts"], batch=p["batch"], prompt_tokens=p["prompt"],
                         output_tokens=p["out"], fusion=fusion, warm=p["warm"])
    return step_report(res, preset, c)

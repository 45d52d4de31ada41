"""Every model preset runs a prefill, a decode and a mixed step on the A100 and H100 configs (issue 7's
"done when").  Slow: ``python -m pytest -m slow tests/test_llm_presets.py`` (tens of minutes on 2
cores; CTA-wave sampling keeps the large prefill GEMMs bounded)."""

from __future__ import annotations

import pytest

from gpusim.llm.model import list_models, load_model
from gpusim.llm.run import simulate_step

GPUS = ("a100-sxm4-80gb", "h100-sxm5-80gb")
STEPS = ("prefill:tokens=128", "decode:batch=4,context=512", "prefill:tokens=64,sample=0+decode:batch=2,context=256")
# serving steps build the Llama block; the GPT-3 presets (LayerNorm, GeLU, learned positions) run train: steps
# only (tests/test_llm_train.py)
PRESETS = [m for m in list_models() if m != "tiny" and load_model(m).norm == "rmsnorm"]


@pytest.mark.slow
@pytest.mark.parametrize("gpu", GPUS)
@pytest.mark.parametrize("model", PRESETS)
def test_preset_runs_prefill_decode_and_mixed_steps(model, gpu):
    m = load_model(model)
    for step in STEPS:
        rep = simulate_step(m, step, gpu, sample=4)
        assert rep["step_seconds"] > 0 and rep["tokens_per_second"] > 0, (model, gpu, step)
        # every operator of the graph that has a kernel took time; only nothing is left unmodelled
        assert rep["not_simulated"] == [], (model, gpu, step, rep["not_simulated"])
        assert all(o["seconds"] > 0 for o in rep["operators"]), (model, gpu, step)
        # a decode step streams at least every weight once: its time is at least the DRAM bound
        if step.startswith("decode"):
            assert rep["step_seconds"] >= m.params() * 2 / rep["dram_bytes_per_s"] * 0.98, (model, gpu)


def test_a_model_preset_with_a_duplicate_key_is_refused_with_its_line(tmp_path):
    """Model presets are read by the one strict YAML reader (gpusim.config.yamlio): PyYAML alone would
    keep the last of two 'layers:' silently."""
    from gpusim.errors import ConfigError
    from gpusim.llm.model import load_model

    p = tmp_path / "m.yaml"
    p.write_text("name: m\nlayers: 2\nlayers: 4\n")
    with pytest.raises(ConfigError, match=r"m.yaml:3: duplicate key 'layers'"):
        load_model(str(p))

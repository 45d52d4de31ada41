"""The estimate said before a long `gpusim llm` step (gpusim/llm/estimate.py, issue #18)."""

from __future__ import annotations

from gpusim.config import load_config
from gpusim.llm import estimate as E
from gpusim.llm import gemm_select as GS
from gpusim.llm import kernels as K
from gpusim.llm import run as R
from gpusim.llm.op import op_graph


def _work(op: str, gpu: str, sample=None):
    cfg = load_config(gpu, [])
    arch = K.arch_for_binary_version(cfg.compute_capability)
    launches, _ = R.schedule(op_graph(op), arch, True, GS.Device.from_config(cfg, arch))
    return cfg, launches, E.plan(launches, cfg, sample, True)


def test_estimate_counts_the_warp_instructions_the_step_then_simulates():
    """A GEMM whose tiles divide the shape gives every CTA the same instructions, so CTA 0 x CTAs is
    exactly what the simulation walks.  Break: count only CTA 0 (drop the x n_s) and this fails."""
    cfg, launches, work = _work("gemm:m=256,n=256,k=256", "a100-sxm4-80gb")
    rep = R.simulate_step(None, None, cfg, graph=op_graph("gemm:m=256,n=256,k=256"))
    simulated = sum(kd["warp_instructions"] for o in rep["operators"] for kd in o["kernels"])
    assert work.warp_instructions == simulated
    assert len(work.kernels) == rep["distinct_kernels_simulated"]


def test_sampled_kernels_are_estimated_at_their_simulated_waves_only():
    """CTA-wave sampling walks warm-up + measured + drain waves; the estimate counts those CTAs."""
    _, _, full = _work("gemm:m=8192,n=8192,k=256", "a100-sxm4-80gb")
    _, _, samp = _work("gemm:m=8192,n=8192,k=256", "a100-sxm4-80gb", sample=4)
    (f,), (s,) = full.kernels, samp.kernels
    assert s.ctas_simulated < f.ctas_simulated
    assert s.warp_instructions * f.ctas_simulated == f.warp_instructions * s.ctas_simulated


def test_a_long_step_is_announced_with_time_and_memory_and_a_short_one_is_not():
    big = E.Work((E.KernelWork(("k",), "k", 10, 90_000_000, False),))
    msg = E.notice(big, 1e6)
    assert msg and "90.0 M warp instructions" in msg and "about 2 min" in msg and "GiB" in msg
    assert "this machine's last run" in msg
    assert E.notice(E.Work((E.KernelWork(("k",), "k", 1, 1000, False),)), None) is None


def test_the_speed_of_the_last_run_is_kept_for_the_next_estimate(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "_speed_file", lambda: tmp_path / "speed.json")
    assert E.measured_speed() is None
    E.record_speed(3_000_000, 1.0)                 # too short to measure: not kept
    assert E.measured_speed() is None
    E.record_speed(3_000_000, 2.0)
    assert E.measured_speed() == 1.5e6


def test_the_progress_bar_counts_warp_instructions_to_the_estimate(capsys, tmp_path, monkeypatch):
    """With progress on, the bar's total is the estimate and the run ends at it (tqdm on stderr)."""
    monkeypatch.setattr(E, "_speed_file", lambda: tmp_path / "speed.json")
    rep = R.simulate_step(None, None, "a100-sxm4-80gb", graph=op_graph("gemm:m=256,n=256,k=256"), progress=True)
    err = capsys.readouterr().err
    assert "warp-inst" in err
    assert rep["step_seconds"] > 0

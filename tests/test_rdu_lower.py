"""Lowering of operator graphs into RDU sections (gpusim/accel/rdu/lower.py) and the schedule level
(gpusim/accel/rdu/schedule.py): PCU rates, fusion traffic, fit check and splitting, buffer sizing,
placement in three memory tiers, model switching, Composition of Experts, simulation granularity."""

from __future__ import annotations

import pytest

import gpusim.accel.rdu.schedule as S
from gpusim.accel.rdu import des
from gpusim.accel.rdu.config import load_rdu_config
from gpusim.accel.rdu.ir import simulate
from gpusim.accel.rdu.lower import Lowering, channels
from gpusim.accel.rdu.programs import gemm_graph
from gpusim.accel.rdu.schedule import RDUError, place, simulate_coe, simulate_graph, simulate_step, switch_time_s
from gpusim.llm.graph import build_graph
from gpusim.llm.model import load_model, parse_step

DECODE = "decode:batch=1,context=1024"


@pytest.fixture(scope="module")
def sn8():
    return load_rdu_config("sn40l-8")


@pytest.fixture(scope="module")
def l7b():
    return load_model("llama-2-7b")


def _layer(g):
    return [i for i, o in enumerate(g.operators) if o.name.startswith("layer.")]


def test_decode_gemv_runs_the_systolic_array_at_batch_over_rows():
    """Rule (digest 5.4.1): a PCU does rows x cols MAC/cycle at min(M, rows)/rows efficiency, so with
    memory out of the way a GEMM with M = 1 takes as long as one with M = rows (6) and M = 2 x rows
    takes twice as long."""
    sp = load_rdu_config("sn40l-8", ["system.sockets=1", "hbm.bandwidth=5000 TB/s", "agcu.bandwidth=100000 B/clk"])
    t = {m: simulate_graph(sp, gemm_graph(m, 32768, 32768), "fused_ho").groups[0].section_s for m in (1, 6, 12)}
    assert t[1] == pytest.approx(t[6], rel=0.02)
    assert t[12] == pytest.approx(2 * t[6], rel=0.05)


def test_fused_layer_moves_only_compulsory_traffic_and_unfused_moves_every_intermediate(sn8, l7b):
    """Rule ([paper] sec. III-A, Table I accounting): inside a section tensors stream on chip, so a fused
    decode layer reads its weights, the past K/V and its input and writes its output and the new K/V;
    one section per operator adds a write and a read of every intermediate."""
    g = build_graph(l7b, parse_step(DECODE), 8)
    low = Lowering(sn8, g)
    layer = _layer(g)
    fused = low.build(layer, "layer").hbm_bytes
    ops = [g.operators[i] for i in layer]
    weights = sum(o.weight_bytes for o in ops)
    kv_past = low.kv_past_bytes(g.find("layer.attn.decode0"))
    x = g.tensors["layer.x"].bytes
    kv_new = g.find("layer.kv_append").bytes_written
    rope = g.find("layer.rotary").shape["tokens"] * 128 * 4
    compulsory = weights + kv_past + 2 * x + kv_new + rope
    assert fused == pytest.approx(compulsory, rel=1e-3)
    unfused = sum(low.build([i], g.operators[i].name).hbm_bytes for i in layer)
    intermediates = sum(g.operators[i].bytes_written for i in layer) - g.operators[layer[-1]].bytes_written
    assert unfused > fused + intermediates


def test_fit_check_splits_a_section_that_does_not_fit(l7b):
    """Rule (digest 5.4.8): when buffers exceed the PMUs, the section is split at the cut with the fewest
    crossing bytes and every part fits."""
    sp = load_rdu_config("sn40l-8", ["pmu.count=60"])
    r = simulate_step(sp, l7b, "prefill:tokens=1024", "fused_ho")
    layer_groups = [cg for cg in r.groups if cg.section.startswith("decoder layer")]
    assert len(layer_groups) >= 2
    assert any("split after" in n for n in r.notes)
    budget = int(60 * sp.mapper.fill_frac)
    assert all(cg.plan.pmus <= budget for cg in layer_groups)
    # looping needs one section per layer: it falls back to separate calls and says so
    rl = simulate_step(sp, l7b, "prefill:tokens=1024", "fused_ho_looped")
    assert any("kernel looping needs" in n for n in rl.notes)


def test_residual_bypass_is_deepened_and_an_undersized_one_throttles_the_fork(sn8, l7b):
    """Rule (digest 5.4.6 / 5.5): a skip edge (the residual) must hold the tokens in flight on the other path;
    the lowering deepens it, and with double buffering only the fork stalls and the prefill layer runs
    > 20% longer.  (When the other path holds a whole-tensor reduction, too small a bypass deadlocks:
    tests/test_rdu_core.py.)"""
    g = build_graph(l7b, parse_step("prefill:tokens=2048"), 8)
    plan = Lowering(sn8, g).build(_layer(g), "layer")
    byp = [e for e in plan.section.streams if e.role == "bypass"]
    assert len(byp) == 2 and all(e.cap > 4 * sn8.network.fifo_depth for e in byp)
    sized = simulate(plan.section, channels(sn8))
    for e in byp:
        e.cap = 2
    small = simulate(plan.section, channels(sn8))
    assert sized.ok and small.ok
    assert small.cycles > 1.2 * sized.cycles


def test_collectives_are_p2p_stages_with_ring_traffic(sn8, l7b):
    """Rule (digest 5.4.7): a TP all-reduce of b bytes moves 2(tp-1)/tp x b over P2P, inside the section."""
    g = build_graph(l7b, parse_step(DECODE), 8)
    plan = Lowering(sn8, g).build(_layer(g), "layer")
    p2p = [s for s in plan.section.stages if s.kind == des.K_P2P]
    assert len(p2p) == 2
    b = g.find("layer.o_proj.allreduce").shape["bytes"]
    assert p2p[0].xfer * p2p[0].n_fire == 2 * 7 * b // 8


def test_weights_spill_to_ddr_when_hbm_is_full(l7b):
    """Rule ([paper] sec. V): HBM first; when the symbols do not fit, the embedding table and then whole
    layers' weights go to DDR, whose loads are then DDR-bound; beyond HBM + DDR the model is refused."""
    sp = load_rdu_config("sn40l-8", ["system.sockets=1", "hbm.size=8 GiB"])
    g = build_graph(l7b, parse_step(DECODE), 1)
    pl = place(sp, g)
    assert "embed.weight" in pl.ddr_symbols and 0 < pl.ddr_layers < l7b.layers
    r = simulate_step(sp, l7b, DECODE, "fused_ho")
    base = simulate_step(load_rdu_config("sn40l-8", ["system.sockets=1"]), l7b, DECODE, "fused_ho")
    assert r.step_time_s > 1.5 * base.step_time_s
    assert any(o.bound == "memory (ddr)" for o in r.ops)
    with pytest.raises(RDUError, match="exceeds DDR"):
        place(load_rdu_config("sn40l-8", ["system.sockets=1", "hbm.size=8 GiB", "ddr.size=1 GiB"]), g)


def test_model_switch_copies_one_socket_share_at_the_ddr_to_hbm_rate(sn8, l7b):
    """Rule ([paper] sec. VI-C, digest 2.4): switch time = model bytes / aggregate DDR->HBM bandwidth; a BF16
    Llama-2-7B expert (13.5 GB) on an 8-socket node (> 1 TB/s) takes about 13.5 ms."""
    t = switch_time_s(sn8, l7b)
    assert t == pytest.approx(l7b.params() * 2 / 1e12, rel=1e-9)
    assert 0.0125 < t < 0.0145


def test_coe_switches_only_on_expert_cache_misses(sn8, l7b):
    """Rule (Samba-CoE flow): the router runs once per batch; each (prompt, expert) pair copies its expert only
    when it is not in the HBM expert cache (LRU)."""
    kw = dict(experts=150, batch=4, prompt_tokens=64, output_tokens=4)
    cold = simulate_coe(sn8, l7b, l7b, assignment=[0, 1, 2, 3], **kw)
    warm = simulate_coe(sn8, l7b, l7b, assignment=[5, 5, 5, 5], **kw)
    assert cold.switches == 4 and warm.switches == 1
    assert cold.total_s - warm.total_s == pytest.approx(3 * switch_time_s(sn8, l7b), rel=1e-9)
    assert cold.cache_slots >= 1


def test_fusion_levels_order_decode_step_times(sn8, l7b):
    """Rule: removing HBM round trips and launches (fusion), then host launches (HO), then call boundaries
    (kernel looping) can only make a decode step faster."""
    t = [simulate_step(sn8, l7b, DECODE, f).step_time_s for f in ("unfused", "fused_so", "fused_ho", "fused_ho_looped")]
    assert t[0] > t[1] > t[2] > t[3]


def test_simulation_granularity_converges(l7b):
    """Rule: the simulation knobs that are not hardware (weight tile merging, looped trips simulated) change a
    decode step by < 2%."""
    sp = load_rdu_config("sn40l-8")
    base = simulate_step(sp, l7b, DECODE, "fused_ho_looped").step_time_s
    fine = simulate_step(load_rdu_config("sn40l-8", ["mapper.weight_tile=32 KiB"]), l7b, DECODE,
                         "fused_ho_looped").step_time_s
    assert fine == pytest.approx(base, rel=0.02)
    old = S.LOOP_TRIPS
    try:
        S.LOOP_TRIPS = l7b.layers
        exact = simulate_step(sp, l7b, DECODE, "fused_ho_looped").step_time_s
    finally:
        S.LOOP_TRIPS = old
    assert exact == pytest.approx(base, rel=0.01)

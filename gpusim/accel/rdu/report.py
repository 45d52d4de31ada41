"""report.json of an RDU run and its text summary (same shape as the GPU and systolic LLM reports:
per-operator time, bound, utilisation; step time; tokens/s), with every configuration value and its
source, estimates flagged."""

from __future__ import annotations

import json
from pathlib import Path

from gpusim import __version__
from gpusim.accel.rdu import des
from gpusim.accel.rdu.config import dump_rdu_config
from gpusim.accel.rdu.schedule import CoEResult, StepResult

__all__ = ["step_report", "summary_lines", "write_report"]


def _section_dict(cg, spec) -> dict:
    sec, res, plan = cg.plan.section, cg.result, cg.plan
    clk = spec.clock_hz
    stages = []
    for si, st in enumerate(sec.stages):
        row = {"name": st.name, "kind": des.KIND_NAMES[st.kind], "firings": st.n_fire, "ii_cycles": st.ii,
               "pcus": st.pcus, "agcus": st.agcus}
        row.update({k: int(v) for k, v in zip(des.STALL_NAMES, res.stats[si])})
        stages.append(row)
    streams = [{"name": e.name, "depth_tiles": e.cap, "tile_bytes": e.token_bytes, "pmus": e.pmus, "role": e.role}
               for e in sec.streams]
    return {
        "name": sec.name, "calls": cg.calls, "executions": cg.executions, "mode": cg.mode, "looped": cg.looped,
        "section_cycles": res.cycles, "section_s": res.cycles / clk, "steady_trip_s": cg.steady_s,
        "launch_s_per_call": cg.launch_s, "sync_s_per_call": cg.sync_s, "total_s": cg.total_s,
        "chunks": plan.chunks, "pcus": plan.pcus, "pmus": plan.pmus, "agcus": plan.agcus,
        "pcu_fraction": plan.pcus / spec.pcu.count, "pmu_fraction": plan.pmus / spec.pmu.count,
        "sram_bytes": plan.sram_bytes, "hbm_bytes": plan.hbm_bytes, "ddr_bytes": plan.ddr_bytes,
        "p2p_bytes": plan.p2p_bytes,
        "hbm_bandwidth_utilisation": plan.hbm_bytes / (spec.hbm.bandwidth_bytes_per_s * res.cycles / clk),
        "stages": stages, "streams": streams,
    }


def step_report(r: StepResult, preset: str = "", coe: CoEResult | None = None) -> dict:
    sp, g = r.spec, r.graph
    cfg = dump_rdu_config(sp)
    out = {
        "gpusim_version": __version__,
        "machine": {"kind": "rdu", "name": sp.name, "preset": preset or sp.source_file, "sockets": sp.system.sockets,
                    "peak_flops_per_socket": sp.peak_flops, "hbm_bandwidth_per_socket": sp.hbm.bandwidth_bytes_per_s,
                    "sram_bytes_per_socket": sp.sram_bytes, "clock_hz": sp.clock_hz},
        "model": g.model.name,
        "step": g.step.text,
        "parallelism": {"tp": g.tp},
        "fusion": r.fusion,
        "step_time_s": r.step_time_s,
        "tokens_per_s": r.tokens_per_s,
        "processed_tokens_per_s": r.processed_tokens_per_s,
        "kernel_calls": r.calls,
        "launch_sync_s": r.launch_sync_s,
        "hbm_bandwidth_utilisation": r.hbm_utilisation(),
        "flops_per_socket": g.flops,
        "operators": [o.to_dict(sp) for o in r.ops],
        "sections": [_section_dict(cg, sp) for cg in r.groups],
        "memory": r.placement.to_dict(),
        "notes": r.notes,
        "estimates": [row for row in cfg if row["status"] == "estimate"],
        "config": cfg,
    }
    if coe is not None:
        out["composition_of_experts"] = coe.to_dict()
    return out


def summary_lines(rep: dict) -> list[str]:
    m = rep["machine"]
    lines = [
        f"gpusim {rep['gpusim_version']} | RDU {m['name']} ({m['sockets']} sockets, TP{rep['parallelism']['tp']}) | "
        f"{rep['model']} | {rep['step']} | {rep['fusion']}",
        f"step time {rep['step_time_s'] * 1e3:.3f} ms | {rep['tokens_per_s']:.1f} tokens/s | "
        f"{rep['kernel_calls']} kernel calls ({rep['launch_sync_s'] * 1e3:.3f} ms launch+sync) | "
        f"HBM bandwidth {100 * rep['hbm_bandwidth_utilisation']:.1f}% of peak",
        f"{'operator':30s} {'count':>5s} {'time':>10s} {'share':>6s} {'bound':>12s} {'compute':>8s} {'hbm bw':>7s}",
    ]
    T = rep["step_time_s"]
    for o in sorted(rep["operators"], key=lambda o: -(o["time_s"] + o["launch_sync_s"]))[:14]:
        tt = o["time_s"] + o["launch_sync_s"]
        lines.append(f"{o['name'][:30]:30s} {o['count']:5d} {tt * 1e6:8.1f}us {100 * tt / T:5.1f}% {o['bound']:>12s} "
                     f"{100 * o['utilisation']['compute']:7.1f}% {100 * o['utilisation']['hbm_bandwidth']:6.1f}%")
    for s in rep["sections"]:
        lines.append(f"section {s['name']}: {s['calls']} call(s) x {s['executions'] // max(1, s['calls'])} "
                     f"execution(s), {s['section_s'] * 1e6:.1f} us each, {s['pcus']} PCUs / {s['pmus']} PMUs "
                     f"({100 * s['pcu_fraction']:.0f}% / {100 * s['pmu_fraction']:.0f}%)")
    if "composition_of_experts" in rep:
        c = rep["composition_of_experts"]
        lines.append(f"CoE: {c['experts']} experts, batch {c['batch']}: {c['switches']:.3g} switches "
                     f"({c['switch_s'] * 1e3:.1f} ms), total {c['total_s'] * 1e3:.1f} ms, {c['tokens_per_s']:.1f} tokens/s")
    for n in rep["notes"]:
        lines.append(f"note: {n}")
    lines.append(f"configuration ({len(rep['config'])} values, {len(rep['estimates'])} estimates marked *):")
    for row in rep["config"]:
        mark = "*" if row["status"] == "estimate" else " "
        lines.append(f" {mark} {row['key']:28s} {row['value']:>14s}  {row['source']}")
    return lines


def write_report(rep: dict, out_dir: str | Path) -> Path:
    from gpusim.errors import GpusimError

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        p = out / "report.json"
        p.write_text(json.dumps(rep, indent=2) + "\n")
    except OSError as e:
        raise GpusimError(f"{out}: cannot write the report: {e.strerror}") from None
    return p

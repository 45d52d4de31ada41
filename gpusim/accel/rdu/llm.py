"""One LLM serving step on an RDU in the report shape every machine of ``gpusim llm`` shares
(:mod:`gpusim.llm.machines`); the native RDU report (:func:`gpusim.accel.rdu.api.run`) stays under ``rdu``.

    gpusim llm --model llama-2-7b --step decode:batch=1,context=1024 --rdu sn40l-8
"""

from __future__ import annotations

from collections.abc import Sequence

from gpusim.errors import GpusimError
from gpusim.llm.machines import BOUND_FRACTION
from gpusim.llm.model import ModelSpec, Step

__all__ = ["run_rdu"]


def run_rdu(model: str | ModelSpec, step: str | Step, preset: str, *, tp: int | None = None,
            fusion: str = "fused_ho_looped", overrides: Sequence[str] = (), coe: str | None = None) -> dict:
    """The RDU report (:func:`gpusim.accel.rdu.api.run`) in the common shape; the native report under ``rdu``."""
    from gpusim.accel.rdu.api import run
    from gpusim.accel.rdu.config import load_rdu_config
    from gpusim.llm.model import load_model_step

    m, st = load_model_step(model, step)
    spec = load_rdu_config(preset, list(overrides))
    if tp is not None and tp != spec.system.sockets:
        raise GpusimError(f"llm: --tp {tp}: the RDU model runs tensor parallel over all sockets of {preset} "
                          f"({spec.system.sockets}); pick a preset with {tp} sockets or leave --tp out")
    nat = run(preset, m, st.text, fusion, list(overrides), coe)
    mach = nat["machine"]
    peak_f, peak_b = mach["peak_flops_per_socket"], mach["hbm_bandwidth_per_socket"]
    ops = []
    for o in nat["operators"]:
        ops.append({"name": o["name"], "kind": o["kind"], "count": o["count"], "seconds": o["time_s"],
                    "overhead_seconds": o["launch_sync_s"], "flops": o["flops"],
                    "bytes": None, "dram_bytes": o["hbm_bytes"] + o["ddr_bytes"],
                    "compute_utilisation": o["utilisation"]["compute"],
                    "memory_utilisation": o["utilisation"]["hbm_bandwidth"], "bound": o["bound"],
                    "section": o["section"]})
    from gpusim.llm.graph import build_graph

    g = build_graph(m, st, mach["sockets"])
    by_name = {op.name: op for op in g.operators}
    for o in ops:
        op = by_name.get(o["name"])
        o["bytes"] = op.bytes * op.count if op is not None else 0
    step_s = nat["step_time_s"]
    return {
        "machine": {"kind": "rdu", "name": mach["name"], "config": preset, "chips": mach["sockets"],
                    "clock_hz": mach["clock_hz"], "peak_flops_per_s": peak_f, "memory_bytes_per_s": peak_b,
                    "description": f"{mach['sockets']} sockets, {peak_b / 1e9:.0f} GB/s HBM per socket, "
                                   f"fusion {nat['fusion']}"},
        "model": nat["model"], "step": nat["step"], "tp": nat["parallelism"]["tp"],
        "step_seconds": step_s, "launch_seconds": nat["launch_sync_s"], "launches": nat["kernel_calls"],
        "launch_model": f"RDU kernel calls ({nat['fusion']}): launch + synchronisation per call",
        "tokens": st.tokens, "sampled_tokens": st.sampled,
        "tokens_per_second": nat["processed_tokens_per_s"], "output_tokens_per_second": nat["tokens_per_s"],
        "peak_flops_per_s": peak_f, "memory_bytes_per_s": peak_b, "bound_fraction": BOUND_FRACTION,
        "operators": ops, "not_simulated": [],
        "composition_of_experts": nat.get("composition_of_experts"),
        "rdu": nat,
    }

"""One workload, three machines: the report shape ``gpusim llm`` writes for a GPU, a systolic chip and an RDU.

    gpusim llm --model llama-2-7b --step decode:batch=1,context=1024 --gpu h100-sxm5-80gb  -o out/h100
    gpusim llm --model llama-2-7b --step decode:batch=1,context=1024 --systolic tpu-v4    -o out/tpu
    gpusim llm --model llama-2-7b --step decode:batch=1,context=1024 --rdu sn40l-8        -o out/sn40l
    gpusim compare out/h100 out/tpu out/sn40l -o out/compare

Every machine's ``report.json`` has the keys of :data:`COMMON_KEYS`:

* ``machine``: ``kind`` (gpu | systolic | rdu), ``name``, ``config``, ``chips`` (GPUs / chips /
  sockets the step runs on, tensor parallel), ``clock_hz``, ``peak_flops_per_s`` and
  ``memory_bytes_per_s`` (per chip: dense fp16/bf16 tensor or array peak; DRAM / HBM bandwidth),
  ``description``;
* ``model``, ``step``, ``tp``; ``step_seconds`` (everything: operators and launch / sync
  overheads), ``launch_seconds`` (the overheads alone), ``tokens`` and ``tokens_per_second``
  (new tokens computed per second), ``sampled_tokens`` and ``output_tokens_per_second``;
* ``operators``: one entry per graph operator (:mod:`gpusim.llm.graph` names, the same on every
  machine) with ``name``, ``kind``, ``count``, ``seconds`` (all ``count`` executions, overheads
  excluded), ``overhead_seconds`` (launch / sync charged to it), ``flops`` and ``bytes`` (graph
  minimum, per chip), ``dram_bytes`` (the machine's off-chip traffic), ``compute_utilisation`` and
  ``memory_utilisation`` (fractions of the per-chip peaks) and ``bound``;
* ``not_simulated``: operators that take no time on that machine, with the reason.

``bound`` is ``compute``, ``memory`` or ``latency`` by :func:`classify` (the larger utilisation
if it reaches :data:`BOUND_FRACTION`) on the GPU and the systolic chip; the RDU model reports its
own finer attribution (``compute``, ``memory``, ``memory (ddr)``, ``network``, ``launch``).
The GPU path is :func:`run_gpu` here; the systolic and RDU paths live with their machines
(:func:`gpusim.accel.systolic.llm.run_systolic`, :func:`gpusim.accel.rdu.llm.run_rdu`), so that
``gpusim.llm`` never imports ``gpusim.accel`` (the accelerators build on the LLM operator graph).
The machine-specific detail stays in the report too (GPU: per-kernel cycles, L2 hit rates; RDU:
``rdu`` with sections, stalls, placement and the configuration with its estimates).
"""

from __future__ import annotations

from collections.abc import Sequence

from gpusim.llm.model import ModelSpec, Step

__all__ = [
    "BOUND_FRACTION",
    "COMMON_KEYS",
    "MACHINE_KINDS",
    "OPERATOR_KEYS",
    "classify",
    "coe_lines",
    "run_gpu",
    "summary_lines",
]

MACHINE_KINDS = ("gpu", "systolic", "rdu")
COMMON_KEYS = ("machine", "model", "step", "tp", "step_seconds", "launch_seconds", "tokens", "tokens_per_second",
               "sampled_tokens", "output_tokens_per_second", "operators", "not_simulated")
OPERATOR_KEYS = ("name", "kind", "count", "seconds", "overhead_seconds", "flops", "bytes", "dram_bytes",
                 "compute_utilisation", "memory_utilisation", "bound")

#: An operator is called memory- (compute-) bound when it sustains at least this fraction of the
#: per-chip memory bandwidth (compute peak); below both it is latency-bound.  A reporting
#: convention of gpusim, not a hardware number.
BOUND_FRACTION = 0.6


def classify(flops_per_s: float, dram_bytes_per_s: float, peak_flops: float, peak_bytes: float) -> str:
    """compute / memory / latency from the achieved fractions of the peaks (module doc)."""
    uc = flops_per_s / peak_flops if peak_flops else 0.0
    um = dram_bytes_per_s / peak_bytes if peak_bytes else 0.0
    if max(uc, um) < BOUND_FRACTION:
        return "latency"
    return "compute" if uc >= um else "memory"


def run_gpu(model: str | ModelSpec | None, step: str | Step | None, gpu, *, tp: int = 1,
            overrides: Sequence[str] = (), graph=None, **kw) -> dict:
    """:func:`gpusim.llm.run.simulate_step` with the common keys added (``machine``, per-operator
    ``compute_utilisation`` / ``memory_utilisation`` / ``overhead_seconds``).  ``graph``: a one-operator
    graph (:func:`gpusim.llm.op.op_graph`) instead of ``model`` and ``step``."""
    from gpusim.config import load_config
    from gpusim.llm.run import resolve, simulate_step

    if graph is None:
        m, st, cfg = resolve(model, step, gpu, list(overrides))
        rep = simulate_step(m, st, cfg, tp=tp, **kw)
    else:
        cfg = load_config(gpu, list(overrides)) if isinstance(gpu, str) else gpu
        rep = simulate_step(None, None, cfg, tp=tp, graph=graph, **kw)
    per_launch_s = rep["launch_cycles_each"] / rep["clock_hz"]
    for o in rep["operators"]:
        o["compute_utilisation"] = o["tensor_utilisation"]
        o["memory_utilisation"] = o["dram_utilisation"]
        o["overhead_seconds"] = o["launches"] * per_launch_s
    rep["machine"] = {"kind": "gpu", "name": cfg.name, "config": gpu if isinstance(gpu, str) else cfg.name,
                      "chips": tp, "clock_hz": rep["clock_hz"],
                      "peak_flops_per_s": rep["peak_tensor_flops_per_s"], "memory_bytes_per_s": rep["dram_bytes_per_s"],
                      "description": f"{cfg.sm.count} SMs, {rep['dram_bytes_per_s'] / 1e9:.0f} GB/s DRAM"}
    rep["memory_bytes_per_s"] = rep["dram_bytes_per_s"]
    rep["peak_flops_per_s"] = rep["peak_tensor_flops_per_s"]
    return rep


def summary_lines(rep: dict) -> list[str]:
    """Text table of a common-shape report (any machine)."""
    mc = rep["machine"]
    lines = [f"gpusim llm | {rep['model']} | {rep['step']} | {mc['kind']} {mc['name']} ({mc['description']}) | "
             f"tp {rep['tp']}"]
    w = max([len(o["name"]) for o in rep["operators"]] + [8])
    lines.append(f"  {'operator':<{w}} {'count':>5} {'us/exec':>9} {'total us':>10} {'compute':>8} {'memory':>7}  bound")
    for o in rep["operators"]:
        lines.append(f"  {o['name']:<{w}} {o['count']:>5} {o['seconds'] / o['count'] * 1e6:>9.2f} "
                     f"{o['seconds'] * 1e6:>10.1f} {100 * o['compute_utilisation']:>7.1f}% "
                     f"{100 * o['memory_utilisation']:>6.1f}%  {o['bound']}")
    for s in rep["not_simulated"]:
        lines.append(f"  {s['name']:<{w}} {s['count']:>5}  not simulated: {s['reason']}")
    lines.append(f"step: {rep['step_seconds'] * 1e3:.4g} ms (overheads {rep['launch_seconds'] * 1e3:.4g} ms)")
    lines.append(f"tokens/s: {rep['tokens_per_second']:,.1f} computed ({rep['tokens']} per step), "
                 f"{rep['output_tokens_per_second']:,.1f} sampled ({rep['sampled_tokens']} per step)")
    if rep.get("composition_of_experts"):
        lines += coe_lines(rep["composition_of_experts"])
    return lines


def coe_lines(c: dict) -> list[str]:
    """One line on a Composition-of-Experts result (GPU node or RDU)."""
    return [f"CoE: {c['experts']} experts, batch {c['batch']}, prompt {c['prompt_tokens']}, {c['output_tokens']} "
            f"output tokens: {c['switches']:.3g} switches ({c['switch_s'] * 1e3:.1f} ms), router {c['router_s'] * 1e3:.1f} ms, "
            f"prefill {c['prefill_s'] * 1e3:.1f} ms, decode {c['decode_s'] * 1e3:.1f} ms, total {c['total_s'] * 1e3:.1f} ms, "
            f"{c['tokens_per_s']:.1f} tokens/s"]

"""``gpusim llm``: one LLM serving step on a GPU config, simulated kernel by kernel.

    gpusim llm --model llama-2-7b --step decode:batch=1,context=1024 --gpu a100-sxm4-80gb [-o OUT]
               [--tp N] [--no-dedup] [--cuda-graph] [--set KEY=VALUE ...] [--quiet]
    gpusim llm --list

Writes ``OUT/report.json`` (see :func:`gpusim.llm.run.simulate_step`: ``step_seconds``,
``tokens_per_second``, ``operators`` with name, count, cycles, seconds, bound, ...) and
``OUT/config.resolved.yaml``, and prints a per-operator summary.  A progress bar runs on a
terminal unless ``--quiet``.  Hooked into ``gpusim.cli`` by :func:`register`; bad input raises
GpusimError (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_llm(a: argparse.Namespace) -> int:
    from gpusim.errors import GpusimError

    if a.list:
        from gpusim.config import list_configs
        from gpusim.llm.model import list_models

        print("models: " + ", ".join(list_models()))
        print("gpus:   " + ", ".join(list_configs()))
        print("steps:  decode:batch=B,context=C | prefill:tokens=T[,batch=B,past=P,sample=0|1] | "
              "groups joined by '+' (mixed batch) | a YAML file {requests: [...]}")
        return 0
    missing = [f"--{k}" for k in ("model", "step", "gpu") if not getattr(a, k)]
    if missing:
        raise GpusimError(f"llm: {', '.join(missing)} required (or --list)")
    if a.tp < 1:
        raise GpusimError(f"llm: --tp {a.tp}: must be >= 1")
    from gpusim.config import dump_config
    from gpusim.llm.run import resolve, simulate_step, summary_lines

    m, st, cfg = resolve(a.model, a.step, a.gpu, a.set or [])
    progress = not a.quiet and sys.stderr.isatty()
    rep = simulate_step(m, st, cfg, tp=a.tp, dedup=not a.no_dedup, cuda_graph=a.cuda_graph, progress=progress)
    rep["gpu_config"] = a.gpu
    rep["overrides"] = list(a.set or [])
    out = Path(a.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
        (out / "config.resolved.yaml").write_text(dump_config(cfg))
    except OSError as e:
        raise GpusimError(f"{out}: cannot write the report: {e.strerror}") from None
    if not a.quiet:
        for line in summary_lines(rep):
            print(line)
        print(f"wrote {out / 'report.json'} and {out / 'config.resolved.yaml'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``llm`` subcommand to gpusim's top-level parser."""
    p = sub.add_parser("llm", help="simulate one LLM serving step (prefill, decode or mixed) on a GPU config",
                       description="Model + step -> operator graph -> gpusim's own kernels (real SASS) walked "
                                   "into traces -> the timing model, with one L2 for the whole step.")
    p.add_argument("--model", help="model preset under configs/models/ (e.g. llama-2-7b, tiny) or a YAML path")
    p.add_argument("--step", help="serving step, e.g. decode:batch=1,context=1024, prefill:tokens=512, "
                                  "prefill:tokens=256,past=768,sample=0+decode:batch=16,context=2048, or a YAML file")
    p.add_argument("--gpu", help="GPU config name (e.g. a100-sxm4-80gb, h100-sxm5-80gb) or YAML path")
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel degree (per-GPU shapes; collectives not simulated)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. "
                                                                       "memory.dram_bandwidth='4 TB/s' (repeatable)")
    p.add_argument("--no-dedup", action="store_true", help="simulate every launch instead of identical launches once")
    p.add_argument("--cuda-graph", action="store_true", help="launch overhead of a CUDA-graph replay instead of "
                                                             "stream launches (launch.kernel_launch_latency)")
    p.add_argument("-o", "--output", default="gpusim-llm-out", help="output folder (default: gpusim-llm-out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--list", action="store_true", help="list model presets, GPU configs and the step grammar")
    p.set_defaults(fn=_cmd_llm)


if __name__ == "__main__":  # pragma: no cover
    from gpusim.cli import main

    sys.exit(main(["llm", *sys.argv[1:]]))

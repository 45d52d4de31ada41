"""``gpusim llm``: one LLM serving step on a GPU (simulated kernel by kernel), a systolic chip or an RDU.

    gpusim llm --model llama-2-7b --step decode:batch=1,context=1024 --gpu a100-sxm4-80gb [-o OUT]
               [--tp N] [--dtype fp16|bf16|fp8|int8|int4 [--group G]] [--no-dedup] [--cuda-graph]
               [--set KEY=VALUE ...] [--quiet]
    gpusim llm --model llama-2-7b --step prefill:tokens=2048 --systolic tpu-v4 [-o OUT]
    gpusim llm --model llama-2-7b --step decode:batch=1,context=1024 --rdu sn40l-8 [--fusion F] [--coe SPEC]
    gpusim llm --op gemm:m=4096,n=4096,k=4096 --gpu a100-sxm4-80gb [-o OUT]   # one operator alone
    gpusim llm --list

Writes ``OUT/report.json`` in the shape shared by the three machines (:mod:`gpusim.llm.machines`:
``step_seconds``, ``tokens_per_second``, ``operators`` with name, count, seconds, bound,
utilisations, ...; GPU: also per-kernel detail and ``OUT/config.resolved.yaml``) and prints a
per-operator summary; ``gpusim compare`` puts several such reports side by side.  A progress bar runs on a
terminal unless ``--quiet``.  Hooked into ``gpusim.cli`` by :func:`register`; bad input raises
GpusimError (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path



def _pct(v):
    """--sample-error E: a fraction (0.01) or a percentage (1%), as a float; None stays None."""
    from gpusim.errors import GpusimError

    if v is None:
        return None
    t = str(v).strip()
    try:
        return float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise GpusimError(f"llm: --sample-error {v!r}: a fraction (0.01) or a percentage (1%)") from None

def _cmd_llm(a: argparse.Namespace) -> int:
    from gpusim.errors import GpusimError

    if a.list:
        from gpusim.accel.rdu.config import list_presets as rdu_presets
        from gpusim.accel.systolic.config import list_presets as sys_presets
        from gpusim.config import list_configs
        from gpusim.llm.model import list_models

        print("models:   " + ", ".join(list_models()))
        print("gpus:     " + ", ".join(list_configs()))
        print("systolic: " + ", ".join(sys_presets()))
        print("rdu:      " + ", ".join(rdu_presets()))
        print("steps:    decode:batch=B,context=C | prefill:tokens=T[,batch=B,past=P,sample=0|1] | "
              "groups joined by '+' (mixed batch) | a YAML file {requests: [...]} | "
              "train:tokens=N[,seq=S (2048),accum=A,zero=0|1] (GPU; --dp D)")
        return 0
    if a.op:
        return _cmd_op(a)
    missing = [f"--{k}" for k in ("model", "step") if not getattr(a, k)]
    machines = [k for k in ("gpu", "systolic", "rdu") if getattr(a, k)]
    if len(machines) != 1:
        missing.append("exactly one of --gpu, --systolic, --rdu" if machines else "--gpu, --systolic or --rdu")
    if missing:
        raise GpusimError(f"llm: {', '.join(missing)} required (or --list)")
    if a.tp is not None and a.tp < 1:
        raise GpusimError(f"llm: --tp {a.tp}: must be >= 1")
    if a.dp is not None and a.dp < 1:
        raise GpusimError(f"llm: --dp {a.dp}: must be >= 1")
    kind = machines[0]
    from gpusim.llm.model import load_step

    train = load_step(a.step).train
    if train and kind != "gpu":
        raise GpusimError(f"llm: train: steps run on --gpu only (the backward and optimizer kernels are GPU kernels; "
                          f"the --{kind} model has no training path)")
    if a.dp is not None and not train:
        raise GpusimError("llm: --dp applies to train: steps only")
    gpu_only = [f for f, on in (("--no-dedup", a.no_dedup), ("--cuda-graph", a.cuda_graph),
                                ("--sample", a.sample), ("--sample-error", a.sample_error), ("--dtype", a.dtype), ("--group", a.group)) if on]
    if gpu_only and kind != "gpu":
        raise GpusimError(f"llm: {', '.join(gpu_only)} apply to --gpu only")
    if kind != "rdu" and a.fusion:
        raise GpusimError("llm: --fusion applies to --rdu only")
    if kind == "systolic" and a.coe:
        raise GpusimError("llm: --coe applies to --gpu (a node of GPUs) and --rdu")
    from gpusim.llm import machines as M

    progress = not a.quiet and sys.stderr.isatty()
    sets = a.set or []
    config_text = None
    if kind == "gpu":
        from gpusim.cli.common import print_compile_notice

        print_compile_notice(a.quiet)
    if kind == "gpu":
        from gpusim.config import dump_config
        from gpusim.llm.run import resolve, summary_lines

        m, st, cfg = resolve(a.model, a.step, a.gpu, sets)
        if a.dtype or a.group:
            from gpusim.llm.model import with_dtype

            m = with_dtype(m, a.dtype or m.weight_dtype, a.group)
        rep = M.run_gpu(m, st, cfg, tp=a.tp or 1, dedup=not a.no_dedup, cuda_graph=a.cuda_graph, progress=progress,
                        sample=a.sample, sample_error=_pct(a.sample_error), check_memory=True, dp=a.dp or 1)
        rep["machine"]["config"] = rep["gpu_config"] = a.gpu
        config_text = dump_config(cfg)
        lines = summary_lines(rep)
        if a.coe:
            from gpusim.llm.coe import gpu_coe, parse_coe_spec

            rep["composition_of_experts"] = c = gpu_coe(a.gpu, m, **parse_coe_spec(a.coe), overrides=sets,
                                                        progress=progress)
            lines += M.coe_lines(c)
    elif kind == "systolic":
        from gpusim.accel.systolic.llm import run_systolic

        rep = run_systolic(a.model, a.step, a.systolic, tp=a.tp or 1, overrides=sets)
        lines = M.summary_lines(rep)
    else:
        from gpusim.accel.rdu.llm import run_rdu

        rep = run_rdu(a.model, a.step, a.rdu, tp=a.tp, fusion=a.fusion or "fused_ho_looped", overrides=sets,
                      coe=a.coe)
        lines = M.summary_lines(rep)
    rep["overrides"] = list(sets)
    out = Path(a.output)
    _write(out, rep, config_text)
    if not a.quiet:
        for line in lines:
            print(line)
        print(f"wrote {out / 'report.json'}" + (f" and {out / 'config.resolved.yaml'}" if config_text else ""))
    return 0


def _write(out: Path, rep: dict, config_text: str | None) -> None:
    from gpusim.errors import GpusimError

    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(rep, indent=2, default=str) + "\n")
        if config_text is not None:
            (out / "config.resolved.yaml").write_text(config_text)
    except OSError as e:
        raise GpusimError(f"{out}: cannot write the report: {e.strerror}") from None


def _cmd_op(a: argparse.Namespace) -> int:
    """``--op``: one operator alone on a GPU config (gpusim.llm.op)."""
    from gpusim.errors import GpusimError

    wrong = [f for f, on in (("--model", a.model), ("--step", a.step), ("--systolic", a.systolic), ("--rdu", a.rdu),
                             ("--dp", a.dp),
                             ("--coe", a.coe), ("--fusion", a.fusion), ("--tp", a.tp), ("--dtype", a.dtype),
                             ("--group", a.group)) if on]
    if wrong:
        raise GpusimError(f"llm --op: {', '.join(wrong)} do not apply to one operator (it runs on one --gpu; "
                          f"give its dtype and group in the --op text, e.g. gemv:batch=1,n=4096,k=4096,dtype=int4,group=128)")
    if not a.gpu:
        raise GpusimError("llm --op: --gpu required")
    from gpusim.config import dump_config, load_config
    from gpusim.llm import machines as M
    from gpusim.llm.op import op_graph
    from gpusim.llm.run import summary_lines

    g = op_graph(a.op)
    sets = a.set or []
    from gpusim.cli.common import print_compile_notice

    print_compile_notice(a.quiet)
    cfg = load_config(a.gpu, sets)
    progress = not a.quiet and sys.stderr.isatty()
    rep = M.run_gpu(None, None, cfg, graph=g, dedup=not a.no_dedup, cuda_graph=a.cuda_graph, progress=progress,
                    sample=a.sample, sample_error=_pct(a.sample_error))
    rep["machine"]["config"] = rep["gpu_config"] = a.gpu
    rep["op"] = a.op
    rep["overrides"] = list(sets)
    out = Path(a.output)
    _write(out, rep, dump_config(cfg))
    if not a.quiet:
        for line in summary_lines(rep):
            print(line)
        o = rep["operators"][0]
        for k in o["kernels"]:
            print(f"  kernel {k['kernel']}: grid {tuple(k['grid'])}, block {tuple(k['block'])}, "
                  f"{k['cycles']:,} cycles, {k['ctas_per_sm']} CTAs/SM")
        print(f"{o['name']}: {o['seconds'] * 1e6:.2f} us, {o['flops_per_s'] / 1e12:.2f} TFLOP/s "
              f"({o['tensor_utilisation']:.1%} of the tensor peak), {o['dram_bytes_per_s'] / 1e9:.0f} GB/s DRAM "
              f"({o['dram_utilisation']:.1%} of peak)")
        print(f"wrote {out / 'report.json'} and {out / 'config.resolved.yaml'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``llm`` subcommand to gpusim's top-level parser."""
    p = sub.add_parser("llm", help="simulate one LLM serving step (prefill, decode or mixed) or one operator on a GPU, "
                                "a systolic chip or an RDU",
                       description="Model + step -> operator graph -> gpusim's own kernels (real SASS) walked "
                                   "into traces -> the timing model, with one L2 for the whole step.")
    p.add_argument("--model", help="model preset under configs/models/ (e.g. llama-2-7b, tiny) or a YAML path")
    p.add_argument("--step", help="serving step, e.g. decode:batch=1,context=1024, prefill:tokens=512, "
                                  "prefill:tokens=256,past=768,sample=0+decode:batch=16,context=2048, or a YAML file; "
                                  "or a training step train:tokens=N[,seq=S,accum=A,zero=1] (forward + backward + "
                                  "AdamW, gpusim.llm.train)")
    p.add_argument("--op", metavar="OP", help="one operator alone instead of --model/--step (GPU only): "
                                              "gemm:m=M,n=N,k=K | gemv:batch=B,n=N,k=K | attention:batch=B,heads=H,"
                                              "kv_heads=G,q_len=Q[,kv_len=L,causal=0|1] | decode_attention:batch=B,"
                                              "heads=H,kv_heads=G,context=C (gpusim.llm.op)")
    p.add_argument("--dtype", choices=("fp16", "bf16", "fp8", "int8", "int4"),
                   help="weights (GPU): fp16 / bf16 set weights, activations and KV cache; fp8 (Hopper only, e4m3 "
                        "wgmma GEMMs), int8 (per-channel scales) and int4 (group-wise scales, --group) quantise the "
                        "transformer blocks' linear weights, activations stay fp16 (default: the model preset's)")
    p.add_argument("--group", type=int, default=None, metavar="G",
                   help="int4 weights per fp16 scale along K (default 128; 32 and 64 also common)")
    p.add_argument("--gpu", help="GPU config name (e.g. a100-sxm4-80gb, h100-sxm5-80gb) or YAML path")
    p.add_argument("--systolic", metavar="PRESET", help="or a systolic-array chip: preset under configs/accel/ "
                                                        "(e.g. tpu-v4) or YAML path")
    p.add_argument("--rdu", metavar="PRESET", help="or an RDU system: preset under configs/accel/rdu/ (e.g. sn40l-8)")
    p.add_argument("--tp", type=int, default=None, help="tensor-parallel degree (per-chip shapes; GPU: default 1, all-reduces "
                                                        "and all-gathers timed from the config's interconnect; systolic: "
                                                        "default 1, collectives not modelled; RDU: all sockets)")
    p.add_argument("--dp", type=int, default=None, help="data-parallel GPUs of a train: step (GPU): the gradient "
                                                        "all-reduce over them (config interconnect) and ZeRO-1's "
                                                        "optimizer sharding (train:...,zero=1); default 1")
    p.add_argument("--fusion", choices=("unfused", "fused_so", "fused_ho", "fused_ho_looped"),
                   help="RDU fusion level and orchestration (default fused_ho_looped)")
    p.add_argument("--coe", metavar="SPEC", help="also serve a Composition of Experts batch with --model as router "
                                                "and every expert: experts=150,batch=8,prompt=128,out=20,warm=1 (GPU: "
                                                "also gpus=8 per node, links=1 host link; see gpusim.llm.coe)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. "
                                                                       "memory.dram_bandwidth='4 TB/s' (repeatable)")
    p.add_argument("--no-dedup", action="store_true", help="simulate every launch instead of identical launches once")
    p.add_argument("--sample", type=int, default=None, metavar="K",
                   help="CTA-wave sampling (GPU): kernels with more waves simulate 1 warm-up + K measured + 1 drain "
                        "waves and extrapolate the rest, with the error bound in the report (K >= 4; default off)")
    p.add_argument("--sample-error", default=None, metavar="E",
                   help="adaptive CTA-wave sampling (GPU): kernels of many waves simulate waves until the 95%% "
                        "interval of the per-wave cycles, projected onto the kernel, is below E of its cycles (e.g. "
                        "1%% or 0.01), then extrapolate; --sample K is then the fewest measured waves (default 4). "
                        "The report says per kernel the waves simulated, the bound and why it stopped")
    p.add_argument("--cuda-graph", action="store_true", help="launch overhead of a CUDA-graph replay "
                                                             "(launch.graph_kernel_launch_latency) instead of stream "
                                                             "launches (launch.kernel_launch_latency)")
    p.add_argument("-o", "--output", default="gpusim-llm-out", help="output folder (default: gpusim-llm-out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--list", action="store_true", help="list model presets, GPU configs and the step grammar")
    p.set_defaults(fn=_cmd_llm)

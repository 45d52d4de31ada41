"""``gpusim serve``: requests arriving over time, served by a batching policy on a GPU whose every step
time comes from the cycle-level model (:mod:`gpusim.serve`).

    gpusim serve --model llama-2-7b --gpu a100-sxm4-80gb --arrivals poisson:rate=2,duration=60,prompt=512,output=128
                 [--policy vllm|orca|sarathi:chunk=512|distserve:prefill_tp=1,decode_tp=1,...] [--tp N] [--replicas R]
                 [--slo ttft=1,tpot=0.1] [--find-capacity] [--trace BURSTGPT_OR_AZURE.csv --window A:B --scale F]
                 [-o OUT]

Writes ``OUT/report.json`` (metrics, per-request timeline, iteration series, step-time source and
interpolation error), ``OUT/report.md``, ``OUT/report.html`` and the figures of
:mod:`gpusim.serve.report`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_serve(a: argparse.Namespace) -> int:
    from gpusim.cli.common import print_compile_notice
    from gpusim.config import load_config
    from gpusim.errors import GpusimError
    from gpusim.llm.model import load_model
    from gpusim.serve import find_capacity, parse_policy, parse_slo, serve
    from gpusim.serve import steptime as ST
    from gpusim.serve import workload as W
    from gpusim.serve.report import write_reports

    if not a.model or not a.gpu:
        raise GpusimError("serve: --model and --gpu required")
    if bool(a.arrivals) == bool(a.trace):
        raise GpusimError("serve: give exactly one of --arrivals SPEC and --trace CSV")
    if a.tp < 1 or a.replicas < 1:
        raise GpusimError("serve: --tp and --replicas must be >= 1")
    name, _, params = parse_policy(a.policy)
    if name == "distserve" and (a.tp != 1 or a.replicas != 1):
        raise GpusimError("serve: --policy distserve sizes its pools itself (prefill_tp, decode_tp, prefill_replicas, "
                          "decode_replicas); leave --tp and --replicas out")
    slo = parse_slo(a.slo)
    model = load_model(a.model)
    cfg = load_config(a.gpu, a.set or [])
    if a.arrivals:
        reqs = W.synthetic(a.arrivals)
    else:
        window = None
        if a.window:
            try:
                lo, hi = (float(x) for x in a.window.split(":"))
                if hi <= lo:
                    raise ValueError
            except ValueError:
                raise GpusimError(f"--window {a.window!r}: expected START:END seconds") from None
            window = (lo, hi)
        reqs = W.from_trace(a.trace, window, a.scale)
    if not reqs:
        raise GpusimError("serve: the arrivals hold no request")
    print_compile_notice(a.quiet)
    grid = parse_grid(a.grid)
    tps = sorted({params["prefill_tp"], params["decode_tp"]}) if name == "distserve" else [a.tp]
    stms = {}
    for tp in tps:
        if not a.quiet:
            print(f"gpusim serve: step-time model for {model.name} on {cfg.name} (tp {tp}) ...", file=sys.stderr)
        stms[tp] = ST.build(a.model, a.gpu, tp=tp, overrides=a.set or [], sample=a.sample, progress=not a.quiet,
                            use_cache=not a.no_cache, held_out=a.held_out, **grid)
    stm = stms[tps[0]] if len(tps) == 1 else stms
    rep = serve(reqs, stm, model, cfg, policy=a.policy, tp=a.tp, replicas=a.replicas, slo=slo)
    rep.update(model=model.name, gpu=cfg.name, workload=a.arrivals or str(a.trace))
    if a.find_capacity:
        if a.arrivals:
            base = a.arrivals

            def make(rate):
                kind, _, body = base.partition(":")
                kv = [x for x in body.split(",") if not x.strip().startswith("rate=")]
                return W.synthetic(f"{kind}:rate={rate}," + ",".join(kv))
        else:
            span = max(reqs[-1].arrival_s - reqs[0].arrival_s, 1e-9) if len(reqs) > 1 else 1.0
            base_rate = len(reqs) / span                   # the trace's own rate (requests/s) at --scale

            def make(rate):                                # the same trace, its timestamps compressed / stretched
                f = rate / base_rate
                return [W.Request(r.id, r.arrival_s / f, r.prompt, r.output) for r in reqs]

        rep["capacity"] = find_capacity(make, stm, model, cfg, policy=a.policy, tp=a.tp, replicas=a.replicas, slo=slo)
        if not a.arrivals:
            rep["capacity"]["note"] = (f"trace rate scaled: requests/s = {len(reqs)} requests over the trace's span "
                                       f"divided by a time compression factor")
    if a.check:
        pts = [f"prefill:tokens={t}" for t in (48, 768)][: a.check] + \
              [f"decode:batch={b},context={c}" for b, c in ((4, 512), (64, 2048))][: a.check]
        rep["step_time_check"] = ST.check(stms[tps[0]], a.model, a.gpu, pts, tp=tps[0], overrides=a.set or [], sample=a.sample)
    out = Path(a.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(rep, indent=1, default=str) + "\n")
        files = [out / "report.json", *write_reports(rep, out, charts=not a.no_chart)]
    except OSError as e:
        raise GpusimError(f"{out}: cannot write the report: {e.strerror}") from None
    if not a.quiet:
        for line in summary_lines(rep):
            print(line)
        print("wrote " + ", ".join(str(f) for f in files))
    return 0


def parse_grid(text: str | None) -> dict:
    """``prefill=16,256,2048:batch=1,32:context=128,4096:past=1024,4096`` -> build() keyword arguments (any
    part may be left out: the default grid's axis; ``past=0``: no prefill chunks on cached tokens)."""
    from gpusim.errors import GpusimError

    if not text:
        return {}
    names = {"prefill": "prefill_tokens", "batch": "decode_batches", "context": "decode_contexts",
             "past": "prefill_pasts"}
    out = {}
    for part in text.split(":"):
        k, eq, v = part.partition("=")
        try:
            if not eq or k.strip() not in names:
                raise ValueError
            vals = tuple(sorted({int(x) for x in v.split(",")}))
            if not vals or vals[0] < (0 if k.strip() == "past" else 1):
                raise ValueError
        except ValueError:
            raise GpusimError(f"--grid {text!r}: expected prefill=T1,T2,..:batch=B1,..:context=C1,..:past=P1,.. "
                              f"(positive integers; past may be 0)") from None
        out[names[k.strip()]] = tuple(v for v in vals if v) if k.strip() == "past" else vals
    return out


def _ms(d: dict, k: str) -> str:
    v = d.get(k)
    return "-" if v is None else f"{v * 1e3:,.1f}"


def summary_lines(rep: dict) -> list[str]:
    m = rep["metrics"]
    lines = [f"gpusim serve | {rep['model']} | {rep['gpu']} x tp {rep['tp']} x {rep['replicas']} replica(s) | "
             f"policy {rep['policy']} {rep['policy_parameters']}",
             f"  requests {rep['requests']}: completed {m['requests_completed']}, rejected {len(rep['rejected'])}, "
             f"unfinished {len(rep['unfinished'])}, preemptions {rep['preemptions']}; {rep['iterations']} iterations "
             f"in {rep['duration_s']:.2f} s",
             f"  {'ms':<10} {'p50':>9} {'p90':>9} {'p99':>9}"]
    for k in ("ttft_s", "tbt_s", "tpot_s", "e2e_s"):
        lines.append(f"  {k[:-2]:<10} {_ms(m[k], 'p50'):>9} {_ms(m[k], 'p90'):>9} {_ms(m[k], 'p99'):>9}")
    lines.append(f"  throughput {m['throughput_tokens_per_s']:,.1f} output tokens/s, {m['throughput_requests_per_s']:.2f} "
                 f"requests/s; KV peak {rep['kv_peak_utilisation']:.0%} of {rep['kv_blocks_per_replica']:,} blocks")
    p = rep["preemption"]
    if p["swap"] or p["recompute"]:
        lines.append(f"  preemptions: {p['recompute']} recompute, {p['swap']} swap ({p['swap_out_bytes'] / 2**20:,.1f} MiB "
                     f"out, {p['swap_in_bytes'] / 2**20:,.1f} MiB in, {p['swap_seconds'] * 1e3:.1f} ms host link)")
    if "kv_transfer" in rep:
        kt = rep["kv_transfer"]
        lines.append(f"  KV prefill -> decode over {kt['link']}: {kt['transfers']} copies, {kt['bytes'] / 2**30:.2f} GiB, "
                     f"{kt['seconds']:.3f} s link time, {kt['queue_wait_seconds']:.3f} s queued")
    if "slo_attainment" in m:
        lines.append(f"  SLO {m['slo']}: attainment {m['slo_attainment']:.1%}, goodput {m['goodput_requests_per_s']:.2f} "
                     f"requests/s")
    if "capacity" in rep:
        c = rep["capacity"]["capacity_requests_per_s"]
        lines.append(f"  capacity at >= 90% SLO attainment: {'none found' if c is None else f'{c:.2f} requests/s'}")
    for ck in rep.get("step_time_check", []):
        lines.append(f"  step-time check {ck['step']}: simulated {ck['simulated_s'] * 1e3:.3f} ms, interpolated "
                     f"{ck['interpolated_s'] * 1e3:.3f} ms ({ck['error']:+.1%})")
    sm = rep["step_model"]
    lines.append(f"  step times: {sm['source']}")
    e = sm.get("interp_error_pct")
    if e and e.get("max") is not None:
        lines.append(f"  step-time interpolation error at held-out steps: max {e['max']:.1f}%, mean {e['mean']:.1f}%")
    return lines


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve requests over time with a batching policy (TTFT, TBT, goodput), every "
                                     "step time from the cycle-level model")
    p.add_argument("--model", help="model preset (configs/models/) or YAML path")
    p.add_argument("--gpu", help="GPU config name or YAML path")
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel GPUs per replica (default 1)")
    p.add_argument("--replicas", type=int, default=1, help="replicas; requests are spread round-robin (default 1)")
    p.add_argument("--arrivals", metavar="SPEC", help="poisson:rate=R,duration=S,prompt=P,output=O[,seed=N] or "
                                                     "gamma:...,cv=C; lengths N | uniform:A:B | lognormal:MEDIAN:SIGMA")
    p.add_argument("--trace", metavar="CSV", help="a BurstGPT or Azure LLM inference trace CSV")
    p.add_argument("--window", metavar="A:B", help="trace arrivals in [A, B) seconds from the first")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the trace's arrival rate (default 1)")
    p.add_argument("--policy", default="vllm", help="vllm | orca | sarathi[:chunk=N] | distserve[:prefill_tp=N,"
                                                    "decode_tp=N,prefill_replicas=N,decode_replicas=N,link=nvlink|pcie], "
                                                    "with max_num_seqs=N, max_num_batched_tokens=N, "
                                                    "preemption=recompute|swap, swap_space_gib=N (default vllm)")
    p.add_argument("--slo", metavar="ttft=S,tpot=S", help="latency SLO in seconds: attainment and goodput")
    p.add_argument("--find-capacity", action="store_true", help="search the highest rate meeting the SLO for >= 90%% "
                                                                "of requests (DistServe's goodput): the --arrivals "
                                                                "rate, or the --trace compressed in time")
    p.add_argument("--sample", type=int, default=4, help="CTA-wave sampling of the simulated grid steps (default 4)")
    p.add_argument("--check", type=int, default=0, metavar="N", help="also simulate N held-out prefill and decode steps "
                                                                     "and print the interpolation error")
    p.add_argument("--grid", metavar="prefill=T,..:batch=B,..:context=C,..:past=P,..",
                   help="the step-time model's grid (default prefill=32,128,512,2048:batch=1,8,32,128:"
                        "context=128,1024,4096:past=1024,4096; past: cached tokens under a prefill chunk, 0 for none)")
    p.add_argument("--held-out", type=int, default=4, metavar="N",
                   help="random held-out steps simulated to measure the interpolation error when a step-time model "
                        "is built (default 4; 0: none)")
    p.add_argument("--no-cache", action="store_true", help="rebuild the step-time grid instead of reading the cache")
    p.add_argument("--no-chart", action="store_true", help="no figures (report.md / report.html without them)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a GPU config value (repeatable)")
    p.add_argument("-o", "--output", default="gpusim-serve-out", help="output folder (default gpusim-serve-out)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_cmd_serve)

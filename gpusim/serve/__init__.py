"""``gpusim serve``: serving-level simulation (TTFT, TBT, goodput) of real batching policies, with every
iteration's time predicted by the cycle-level model.

Pieces: :mod:`~gpusim.serve.workload` (arrivals: synthetic processes, BurstGPT and Azure traces),
:mod:`~gpusim.serve.steptime` (step times simulated on a grid and interpolated, cached),
:mod:`~gpusim.serve.policies` (vllm, orca, sarathi, distserve; a policy is one function and a
registry line), :mod:`~gpusim.serve.engine` (iterations, PagedAttention KV blocks, preemption by
recompute or swap), :mod:`~gpusim.serve.disagg` (DistServe's prefill and decode pools with the KV
copy between them), :func:`serve` (replicas, metrics, SLOs, the report),
:mod:`~gpusim.serve.report` (Markdown / HTML with figures) and :mod:`~gpusim.serve.compare`
(serving reports side by side).
"""

from __future__ import annotations

import difflib

import numpy as np

from gpusim.errors import GpusimError

METRIC_PERCENTILES = (50, 90, 99)
#: DistServe's definition of goodput: the highest request rate at which at least this share of
#: requests meets both the TTFT and the TPOT SLO (Zhong et al., "DistServe", OSDI'24, §2.3, 90%)
GOODPUT_ATTAINMENT = 0.9
#: points of the latency CDFs kept in the report (percentiles 0, 1, ..., 100)
CDF_POINTS = 101


def parse_policy(text: str) -> tuple[str, object, dict]:
    """``name[:key=value,...]`` -> (name, function, parameters with defaults)."""
    from gpusim.serve.policies import CHOICES, POLICIES

    name, _, body = text.partition(":")
    if name not in POLICIES:
        near = difflib.get_close_matches(name, list(POLICIES), n=1)
        raise GpusimError(f"--policy {text!r}: unknown policy (one of {', '.join(POLICIES)})"
                          + (f"; did you mean '{near[0]}'?" if near else ""))
    fn, defaults = POLICIES[name]
    params = dict(defaults)
    for item in filter(None, (x.strip() for x in body.split(","))):
        k, eq, v = item.partition("=")
        if not eq or k not in defaults:
            takes = ", ".join(f"{a}={'|'.join(CHOICES[a]) if a in CHOICES else 'N'}" for a in defaults)
            raise GpusimError(f"--policy {text!r}: '{item}': {name} takes {takes}")
        if k in CHOICES:
            if v not in CHOICES[k]:
                raise GpusimError(f"--policy {text!r}: {k}={v}: expected one of {', '.join(CHOICES[k])}")
            params[k] = v
            continue
        try:
            iv = int(v)
            if iv < 1:
                raise ValueError
        except ValueError:
            raise GpusimError(f"--policy {text!r}: {k}={v}: expected a positive integer") from None
        params[k] = iv
    return name, fn, params


def parse_slo(text: str | None) -> dict | None:
    """``ttft=S,tpot=S`` (seconds; ``tbt`` is accepted for tpot)."""
    if not text:
        return None
    out = {}
    for item in text.split(","):
        k, eq, v = item.partition("=")
        k = {"tbt": "tpot"}.get(k.strip(), k.strip())
        try:
            if not eq or k not in ("ttft", "tpot"):
                raise ValueError
            out[k] = float(v)
            if out[k] <= 0:
                raise ValueError
        except ValueError:
            raise GpusimError(f"--slo {text!r}: expected ttft=SECONDS,tpot=SECONDS") from None
    return out


def _pct(xs) -> dict:
    if len(xs) == 0:
        return {f"p{p}": None for p in METRIC_PERCENTILES} | {"mean": None}
    a = np.asarray(xs, float)
    return {f"p{p}": float(np.percentile(a, p)) for p in METRIC_PERCENTILES} | {"mean": float(a.mean())}


def metrics(done, duration_s: float, slo: dict | None) -> dict:
    """Per-request latencies and their percentiles, throughput, SLO attainment and goodput."""
    ttft, tpot, e2e, norm, tbt = [], [], [], [], []
    ok = 0
    for s in done:
        tt = s.token_times
        ttft.append(tt[0] - s.arrival)
        e2e.append(tt[-1] - s.arrival)
        norm.append((tt[-1] - s.arrival) / s.output)
        gaps = np.diff(tt)
        tbt.extend(gaps.tolist())
        tp = (tt[-1] - tt[0]) / (len(tt) - 1) if len(tt) > 1 else 0.0
        tpot.append(tp)
        if slo and ttft[-1] <= slo.get("ttft", np.inf) and tp <= slo.get("tpot", np.inf):
            ok += 1
    n = len(done)
    grid = np.linspace(0, 100, CDF_POINTS)
    cdf = {k: (np.percentile(np.asarray(v, float), grid).tolist() if len(v) else [])
           for k, v in (("ttft_s", ttft), ("tbt_s", tbt), ("e2e_s", e2e))}
    out = {"requests_completed": n, "ttft_s": _pct(ttft), "tbt_s": _pct(tbt), "tpot_s": _pct(tpot), "e2e_s": _pct(e2e),
           "normalized_latency_s_per_token": _pct(norm),
           "throughput_tokens_per_s": sum(s.output for s in done) / duration_s if duration_s else 0.0,
           "throughput_requests_per_s": n / duration_s if duration_s else 0.0}
    if slo:
        out["slo"] = slo
        out["slo_attainment"] = ok / n if n else 0.0
        out["goodput_requests_per_s"] = ok / duration_s if duration_s else 0.0
    out["cdf_percentiles"] = grid.tolist()
    out["cdf"] = cdf
    return out


#: most points of the iteration series kept in report.json (a longer run keeps every k-th iteration)
SERIES_POINTS = 4000
SERIES_COLUMNS = ("t_s", "running", "waiting", "kv_used_fraction", "step_s", "batch_seqs", "batch_tokens", "swapped")


def _stm_for(stm):
    """A step-time model per TP: ``stm`` is one model (any TP) or a mapping tp -> model."""
    if hasattr(stm, "step_seconds"):
        return lambda tp: stm
    return lambda tp: stm[tp]


def _swap_for(model, cfg, params: dict):
    from gpusim.serve import engine

    def make(tp: int):
        if params.get("preemption") != "swap":
            return None
        bw = cfg.host.link_bandwidth_bytes_per_s
        if bw <= 0:
            raise GpusimError(f"--policy preemption=swap: host.link_bandwidth of {cfg.name} is 0; swapped KV blocks "
                              f"cannot reach host memory")
        bpb = engine.kv_bytes_per_token(model) * engine.BLOCK_TOKENS
        return {"bytes_per_block": bpb, "bandwidth": bw * tp,
                "space_blocks": int(params["swap_space_gib"] * 2**30 * tp // bpb)}
    return make


def _thin(series) -> list:
    k = max(1, -(-len(series) // SERIES_POINTS))
    return [list(x) for x in series[::k]]


def _preemption_counts(runs) -> dict:
    out = {"recompute": 0, "swap": 0, "swap_fallbacks": 0, "swap_out_bytes": 0.0, "swap_in_bytes": 0.0,
           "swap_seconds": 0.0}
    for r in runs:
        for k, v in r["preemption"].items():
            out[k] += v
    return out


def serve(requests, stm, model, cfg, *, policy: str = "vllm", tp: int = 1, replicas: int = 1,
          slo: dict | None = None) -> dict:
    """Serve ``requests`` on ``replicas`` engines (round-robin by arrival) and return the report.

    ``stm``: a step-time model (``step_seconds(chunks, decode_contexts)``) or a mapping tp -> model
    (``distserve`` pools of different TP)."""
    from gpusim.serve import disagg, engine

    name, fn, params = parse_policy(policy)
    if replicas < 1:
        raise GpusimError(f"--replicas {replicas}: must be >= 1")
    if params.get("max_num_batched_tokens", 0) is None:     # vLLM's default for whole-prompt scheduling
        params["max_num_batched_tokens"] = max(model.max_positions, 2048)
    stm_for, swap_for = _stm_for(stm), _swap_for(model, cfg, params)
    first = min((r.arrival_s for r in requests), default=0.0)
    if name == "distserve":
        if tp != 1 or replicas != 1:
            raise GpusimError("--policy distserve: give the pools' sizes as prefill_tp, decode_tp, prefill_replicas "
                              "and decode_replicas in the policy, not --tp / --replicas")
        d = disagg.run(requests, stm_for, model, cfg, fn, params, swap_for)
        runs = d["prefill_runs"] + d["decode_runs"]
        done, rejected, unfinished = d["done"], d["rejected"], d["unfinished"]
        gpus = params["prefill_tp"] * params["prefill_replicas"] + params["decode_tp"] * params["decode_replicas"]
        series = d["decode_runs"][0]["series"]
        extra = {"pools": d["pools"], "kv_transfer": d["kv_transfer"],
                 "series_prefill": _thin(d["prefill_runs"][0]["series"]),
                 "kv_blocks_per_replica": d["pools"]["decode"]["kv_blocks_per_replica"],
                 "kv_peak_utilisation": max(p["kv_peak_utilisation"] for p in d["pools"].values())}
    else:
        blocks = engine.kv_blocks(model, cfg, tp)
        ordered = sorted(requests, key=lambda r: (r.arrival_s, r.id))
        parts = [[r for i, r in enumerate(ordered) if i % replicas == k] for k in range(replicas)]
        runs = [engine.run(p, stm_for(tp), fn, params, blocks, whole_prompts=name in ("vllm", "orca"),
                           swap=swap_for(tp)) for p in parts]
        done = [s for r in runs for s in r["done"]]
        rejected = [x for r in runs for x in r["rejected"]]
        unfinished = [x for r in runs for x in r["unfinished"]]
        gpus = tp * replicas
        series = runs[0]["series"] if runs else []
        extra = {"kv_blocks_per_replica": blocks,
                 "kv_peak_utilisation": max((r["kv_peak_fraction"] for r in runs), default=0.0)}
    end = max((r["end_s"] for r in runs), default=0.0)
    duration = max(end - first, 1e-12)
    m = metrics(done, duration, slo)
    m["goodput_requests_per_s_per_gpu"] = m["goodput_requests_per_s"] / gpus if slo else None
    pc = _preemption_counts(runs)
    rep = {"kind": "serve", "policy": name, "policy_parameters": params, "replicas": replicas, "tp": tp, "gpus": gpus,
           "requests": len(requests), "rejected": rejected, "unfinished": unfinished,
           "preemptions": pc["recompute"] + pc["swap"], "preemption": pc,
           "iterations": sum(r["iterations"] for r in runs), "duration_s": duration,
           "kv_block_tokens": engine.BLOCK_TOKENS, **extra, "metrics": m,
           "step_model": step_model_info(stm),
           "series_columns": list(SERIES_COLUMNS), "series": _thin(series),
           "per_request": [_timeline(s) for s in sorted(done, key=lambda s: s.id)]}
    return rep


def step_model_info(stm) -> dict:
    """Where the step times come from, stated in every report (``step_model``)."""
    models = stm.values() if not hasattr(stm, "step_seconds") else [stm]
    out = []
    for x in models:
        e = getattr(x, "interp_error", None) or {}
        out.append({"source": x.source, "build_seconds": getattr(x, "build_seconds", None),
                    "interp_error_pct": {"max": e.get("max_pct"), "mean": e.get("mean_pct")} if e else None,
                    "held_out": e.get("points") if e else None, "extrapolated_queries": x.extrapolated})
    if len(out) == 1:
        return out[0]
    return {"source": "; ".join(o["source"] for o in out),
            "interp_error_pct": {"max": max((o["interp_error_pct"]["max"] for o in out if o["interp_error_pct"]),
                                            default=None),
                                 "mean": max((o["interp_error_pct"]["mean"] for o in out if o["interp_error_pct"]),
                                             default=None)},
            "models": out}


def _timeline(s) -> dict:
    tt = s.token_times
    return {"id": s.id, "arrival_s": s.arrival, "prompt": s.prompt, "output": s.output,
            "scheduled_s": s.admitted_at if s.admitted_at >= 0 else None, "first_token_s": tt[0],
            "finish_s": tt[-1], "ttft_s": tt[0] - s.arrival, "e2e_s": tt[-1] - s.arrival,
            "max_tbt_s": float(np.max(np.diff(tt))) if len(tt) > 1 else 0.0,
            "preemptions": s.preemptions, "swaps": s.swaps, "kv_transfer_s": s.kv_transfer_s}


def find_capacity(make_requests, stm, model, cfg, *, policy: str, tp: int, replicas: int, slo: dict,
                  lo: float = 0.1, hi: float = 64.0, iters: int = 12) -> dict:
    """Highest request rate (requests/s) whose SLO attainment is at least GOODPUT_ATTAINMENT (DistServe's
    goodput), by bisection over ``make_requests(rate)``."""
    if not slo:
        raise GpusimError("--find-capacity needs --slo ttft=..,tpot=..")
    best = None
    trials = []
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        rep = serve(make_requests(mid), stm, model, cfg, policy=policy, tp=tp, replicas=replicas, slo=slo)
        att = rep["metrics"]["slo_attainment"]
        trials.append({"rate": mid, "slo_attainment": att})
        if att >= GOODPUT_ATTAINMENT and not rep["unfinished"]:
            best, lo = mid, mid
        else:
            hi = mid
        if hi / lo < 1.05:
            break
    return {"capacity_requests_per_s": best, "attainment_target": GOODPUT_ATTAINMENT, "trials": trials}

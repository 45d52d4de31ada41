"""``gpusim serve``: serving-level simulation (TTFT, TBT, goodput) of real batching policies, with every
iteration's time predicted by the cycle-level model.

Pieces: :mod:`~gpusim.serve.workload` (arrivals: synthetic processes, BurstGPT and Azure traces),
:mod:`~gpusim.serve.steptime` (step times simulated on a grid and interpolated, cached),
:mod:`~gpusim.serve.policies` (vllm, orca, sarathi; a policy is one function and a registry line),
:mod:`~gpusim.serve.engine` (iterations, PagedAttention KV blocks, preemption by recompute) and
:func:`serve` (replicas, metrics, SLOs, the report).
"""

from __future__ import annotations

import difflib

import numpy as np

from gpusim.errors import GpusimError

METRIC_PERCENTILES = (50, 90, 99)
#: DistServe's definition of goodput: the highest request rate at which at least this share of
#: requests meets both the TTFT and the TPOT SLO (Zhong et al., "DistServe", OSDI'24, §2.3, 90%)
GOODPUT_ATTAINMENT = 0.9


def parse_policy(text: str) -> tuple[str, object, dict]:
    """``name[:key=value,...]`` -> (name, function, parameters with defaults)."""
    from gpusim.serve.policies import POLICIES

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
            raise GpusimError(f"--policy {text!r}: '{item}': {name} takes {', '.join(f'{a}=N' for a in defaults)}")
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
    out = {"requests_completed": n, "ttft_s": _pct(ttft), "tbt_s": _pct(tbt), "tpot_s": _pct(tpot), "e2e_s": _pct(e2e),
           "normalized_latency_s_per_token": _pct(norm),
           "throughput_tokens_per_s": sum(s.output for s in done) / duration_s if duration_s else 0.0,
           "throughput_requests_per_s": n / duration_s if duration_s else 0.0}
    if slo:
        out["slo"] = slo
        out["slo_attainment"] = ok / n if n else 0.0
        out["goodput_requests_per_s"] = ok / duration_s if duration_s else 0.0
    return out


def serve(requests, stm, model, cfg, *, policy: str = "vllm", tp: int = 1, replicas: int = 1,
          slo: dict | None = None) -> dict:
    """Serve ``requests`` on ``replicas`` engines (round-robin by arrival) and return the report."""
    from gpusim.serve import engine

    name, fn, params = parse_policy(policy)
    if replicas < 1:
        raise GpusimError(f"--replicas {replicas}: must be >= 1")
    blocks = engine.kv_blocks(model, cfg, tp)
    parts = [[r for i, r in enumerate(requests) if i % replicas == k] for k in range(replicas)]
    runs = [engine.run(p, stm, fn, params, blocks, whole_prompts=name in ("vllm", "orca")) for p in parts]
    done = [s for r in runs for s in r["done"]]
    first = min((r.arrival_s for r in requests), default=0.0)
    end = max((r["end_s"] for r in runs), default=0.0)
    duration = max(end - first, 1e-12)
    rep = {"policy": name, "policy_parameters": params, "replicas": replicas, "tp": tp,
           "requests": len(requests), "rejected": [x for r in runs for x in r["rejected"]],
           "unfinished": [x for r in runs for x in r["unfinished"]],
           "preemptions": sum(s.preemptions for s in done), "iterations": sum(r["iterations"] for r in runs),
           "duration_s": duration, "kv_blocks_per_replica": blocks, "kv_block_tokens": engine.BLOCK_TOKENS,
           "kv_peak_utilisation": max((r["kv_peak_fraction"] for r in runs), default=0.0),
           "metrics": metrics(done, duration, slo),
           "step_time_model": {"source": stm.source, "extrapolated_queries": stm.extrapolated},
           "series": [list(x) for x in runs[0]["series"]] if runs else [],
           "per_request": [{"id": s.id, "arrival_s": s.arrival, "prompt": s.prompt, "output": s.output,
                            "ttft_s": s.token_times[0] - s.arrival, "e2e_s": s.token_times[-1] - s.arrival,
                            "max_tbt_s": float(np.max(np.diff(s.token_times))) if len(s.token_times) > 1 else 0.0,
                            "preemptions": s.preemptions} for s in sorted(done, key=lambda s: s.id)]}
    return rep


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

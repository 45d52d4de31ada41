"""``gpusim compare`` of ``gpusim serve`` reports: policies / machines / loads side by side.

    gpusim compare serve-vllm serve-sarathi [-o OUT]

Reads each ``report.json`` written by ``gpusim serve`` and writes ``OUT/compare.md`` (one column per
report: the workload, policy and GPUs, p50/p90/p99 TTFT, TBT, TPOT and end-to-end latency,
throughput, SLO attainment, goodput, capacity, preemptions, step-time source and interpolation
error), ``OUT/compare.json`` (the same) and ``OUT/compare.png`` (the reports' TTFT, TBT and
end-to-end CDFs overlaid).  Reports of different workloads or models are refused unless
``allow_mixed`` (the latencies would not answer one question).
"""

from __future__ import annotations

from pathlib import Path

from gpusim.errors import GpusimError


def is_serve_report(rep) -> bool:
    return isinstance(rep, dict) and rep.get("kind") == "serve" or (
        isinstance(rep, dict) and {"policy", "metrics", "per_request"} <= set(rep))


def load(path) -> dict:
    from gpusim.stats.render import read_report_json

    rep, p = read_report_json(path, "serve")
    if not is_serve_report(rep):
        raise GpusimError(f"{p}: not a `gpusim serve` report (no policy / metrics / per_request)")
    rep["_path"] = str(p)
    return rep


def _label(rep: dict) -> str:
    return f"{rep['policy']} {rep.get('gpu', '?')} x{rep['gpus']}"


ROWS = [("TTFT p50 / p90 / p99 (ms)", "ttft_s"), ("TBT p50 / p90 / p99 (ms)", "tbt_s"),
        ("TPOT p50 / p90 / p99 (ms)", "tpot_s"), ("end-to-end p50 / p90 / p99 (ms)", "e2e_s")]


def compare(reports: list[dict], allow_mixed: bool = False) -> dict:
    if not reports:
        raise GpusimError("compare: give at least one report")
    work = {(r.get("model"), r.get("workload")) for r in reports}
    if len(work) > 1 and not allow_mixed:
        raise GpusimError("compare: the serving reports are not one workload: " +
                          "; ".join(f"{r['_path']}: {r.get('model')} {r.get('workload')}" for r in reports) +
                          " (use --allow-mixed to compare anyway)")
    cols = []
    for r in reports:
        m = r["metrics"]
        sm = r.get("step_model") or r.get("step_time_model") or {}
        cols.append({"label": _label(r), "path": r["_path"], "model": r.get("model"), "gpu": r.get("gpu"),
                     "workload": r.get("workload"), "policy": r["policy"], "policy_parameters": r["policy_parameters"],
                     "gpus": r.get("gpus", r["tp"] * r["replicas"]), "requests": r["requests"],
                     "completed": m["requests_completed"], "rejected": len(r["rejected"]),
                     "unfinished": len(r["unfinished"]),
                     **{k: {p: m[k][p] for p in ("p50", "p90", "p99")} for _, k in ROWS},
                     "throughput_tokens_per_s": m["throughput_tokens_per_s"],
                     "slo": m.get("slo"), "slo_attainment": m.get("slo_attainment"),
                     "goodput_requests_per_s": m.get("goodput_requests_per_s"),
                     "capacity_requests_per_s": (r.get("capacity") or {}).get("capacity_requests_per_s"),
                     "preemptions": r.get("preemptions", 0),
                     "step_source": sm.get("source"), "interp_error_pct": sm.get("interp_error_pct"),
                     "cdf_percentiles": m.get("cdf_percentiles"), "cdf": m.get("cdf")})
    return {"kind": "serve", "workloads": sorted(map(str, work)), "reports": cols}


def _f(v, fmt="{:,.3f}") -> str:
    return "–" if v is None else fmt.format(v)


def markdown(c: dict) -> str:
    cs = c["reports"]
    out = ["# gpusim compare: serving reports", "", "| | " + " | ".join(x["label"] for x in cs) + " |",
           "|---|" + "---:|" * len(cs)]

    def row(name, cells):
        out.append(f"| {name} | " + " | ".join(cells) + " |")

    row("workload", [f"{x['model']}: {x['workload']}" for x in cs])
    row("policy parameters", [", ".join(f"{k}={v}" for k, v in x["policy_parameters"].items()) for x in cs])
    row("GPUs", [str(x["gpus"]) for x in cs])
    row("completed / rejected / unfinished", [f"{x['completed']} / {x['rejected']} / {x['unfinished']}" for x in cs])
    for name, k in ROWS:
        row(name, [" / ".join(_f(None if x[k][p] is None else x[k][p] * 1e3, "{:,.1f}") for p in ("p50", "p90", "p99"))
                   for x in cs])
    row("throughput (output tokens/s)", [_f(x["throughput_tokens_per_s"], "{:,.1f}") for x in cs])
    row("SLO", [str(x["slo"]) if x["slo"] else "–" for x in cs])
    row("SLO attainment", [_f(x["slo_attainment"], "{:.1%}") for x in cs])
    row("goodput (requests/s)", [_f(x["goodput_requests_per_s"]) for x in cs])
    row("capacity (requests/s at >= 90% SLO)", [_f(x["capacity_requests_per_s"]) for x in cs])
    row("preemptions", [str(x["preemptions"]) for x in cs])
    row("step-time interpolation error max / mean (%)",
        [("–" if not x["interp_error_pct"] or x["interp_error_pct"].get("max") is None else
          f"{x['interp_error_pct']['max']:.1f} / {x['interp_error_pct']['mean']:.1f}") for x in cs])
    out += [""] + [f"- {x['label']}: step times {x['step_source']} ({x['path']})" for x in cs]
    return "\n".join(out) + "\n"


def chart(c: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    for ax, (k, label) in zip(axes, (("ttft_s", "TTFT"), ("tbt_s", "time between tokens"), ("e2e_s", "end-to-end"))):
        for x in c["reports"]:
            if x["cdf"] and x["cdf"].get(k):
                ax.plot([v * 1e3 for v in x["cdf"][k]], [q / 100 for q in x["cdf_percentiles"]], lw=2, label=x["label"])
        ax.set_xlabel(f"{label} (ms)")
        ax.set_ylabel("fraction of " + ("tokens" if k == "tbt_s" else "requests"))
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3)
        ax.set_title(f"{label} CDF")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_comparison(reports: list[dict], out_dir, allow_mixed: bool = False, charts: bool = True):
    from gpusim.llm.compare import write_files

    c = compare(reports, allow_mixed)
    return c, write_files(c, out_dir, markdown(c), chart if charts else None, indent=1)

"""Markdown and HTML reports of ``gpusim serve`` with latency CDFs and the engine's state over time.

Writes beside ``report.json``: ``latency_cdf.png`` (TTFT, TBT and end-to-end latency CDFs, ms),
``timeline.png`` (batch size in sequences and KV-cache use in % over simulated time, from the first
replica; ``distserve``: the first decode replica), ``report.md`` and a self-contained ``report.html``
(the same tables, the figures inlined).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

_LAT = (("ttft_s", "TTFT"), ("tbt_s", "TBT (time between tokens)"), ("tpot_s", "TPOT"), ("e2e_s", "end-to-end"),
        ("normalized_latency_s_per_token", "normalised latency (per output token)"))


def _ms(v) -> str:
    return "–" if v is None else f"{v * 1e3:,.1f}"


def latency_table(rep: dict) -> list[str]:
    m = rep["metrics"]
    rows = ["| latency (ms) | p50 | p90 | p99 | mean |", "|---|---:|---:|---:|---:|"]
    for k, label in _LAT:
        d = m[k]
        rows.append(f"| {label} | {_ms(d['p50'])} | {_ms(d['p90'])} | {_ms(d['p99'])} | {_ms(d['mean'])} |")
    return rows


def markdown(rep: dict, figures: dict[str, str]) -> str:
    m = rep["metrics"]
    sm = rep["step_model"]
    err = sm.get("interp_error_pct")
    lines = [f"# gpusim serve: {rep.get('model', '?')} on {rep.get('gpu', '?')}", "",
             f"Policy `{rep['policy']}` {rep['policy_parameters']}; {rep['gpus']} GPU(s) "
             f"(tp {rep['tp']} x {rep['replicas']} replica(s)" + (", disaggregated pools" if "pools" in rep else "")
             + f"); workload `{rep.get('workload', '?')}`.", "",
             f"Requests {rep['requests']}: completed {m['requests_completed']}, rejected {len(rep['rejected'])}, "
             f"unfinished {len(rep['unfinished'])}; {rep['iterations']:,} iterations over {rep['duration_s']:.2f} s "
             f"simulated.", "", *latency_table(rep), "",
             f"Throughput {m['throughput_tokens_per_s']:,.1f} output tokens/s, {m['throughput_requests_per_s']:.3f} "
             f"requests/s."]
    if "slo_attainment" in m:
        lines += ["", f"SLO {m['slo']}: attainment {m['slo_attainment']:.1%}, goodput "
                      f"{m['goodput_requests_per_s']:.3f} requests/s ({m['goodput_requests_per_s_per_gpu']:.3f} per GPU)."]
    if "capacity" in rep:
        c = rep["capacity"]["capacity_requests_per_s"]
        lines += ["", f"Capacity (highest rate with >= {rep['capacity']['attainment_target']:.0%} SLO attainment): "
                      + ("none found" if c is None else f"{c:.3f} requests/s") + "."]
    p = rep["preemption"]
    lines += ["", f"KV cache: {rep['kv_blocks_per_replica']:,} blocks of {rep['kv_block_tokens']} tokens per replica, "
                  f"peak {rep['kv_peak_utilisation']:.0%}.  Preemptions: {p['recompute']} by recompute, {p['swap']} by "
                  f"swap ({p['swap_out_bytes'] / 2**20:,.1f} MiB out, {p['swap_in_bytes'] / 2**20:,.1f} MiB in, "
                  f"{p['swap_seconds'] * 1e3:,.1f} ms of host-link time), {p['swap_fallbacks']} swap fallbacks."]
    if "kv_transfer" in rep:
        kt = rep["kv_transfer"]
        lines += ["", f"KV transfers prefill -> decode: {kt['transfers']} over {kt['link']} ({kt['config_key']} "
                      f"{kt['bandwidth_bytes_per_s_per_gpu'] / 1e9:.1f} GB/s x {kt['parallel_gpu_pairs']} GPU pair(s)), "
                      f"{kt['bytes'] / 2**30:,.2f} GiB in {kt['seconds']:.3f} s of link time, "
                      f"{kt['queue_wait_seconds']:.3f} s waiting for the link."]
    lines += ["", f"Step times: {sm['source']}."]
    if err and err.get("max") is not None:
        lines += ["", f"Interpolation error of the step-time model at held-out steps: max {err['max']:.1f}%, "
                      f"mean {err['mean']:.1f}%."]
    for name, f in figures.items():
        lines += ["", f"![{name}]({f})"]
    return "\n".join(lines) + "\n"


def plot(rep: dict, out: Path) -> dict[str, str]:
    """The two figures; returns {title: file name}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = {}
    cdf, pct = rep["metrics"].get("cdf") or {}, rep["metrics"].get("cdf_percentiles") or []
    if cdf and any(cdf.values()):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        for ax, (k, label) in zip(axes, (("ttft_s", "TTFT"), ("tbt_s", "time between tokens"), ("e2e_s", "end-to-end"))):
            if cdf.get(k):
                ax.plot([v * 1e3 for v in cdf[k]], [q / 100 for q in pct], lw=2)
            ax.set_xlabel(f"{label} (ms)")
            ax.set_ylabel("fraction of " + ("tokens" if k == "tbt_s" else "requests"))
            ax.set_ylim(0, 1.01)
            ax.grid(alpha=0.3)
            ax.set_title(f"{label} CDF")
        fig.suptitle(f"{rep.get('model', '')} on {rep.get('gpu', '')}, policy {rep['policy']}")
        fig.tight_layout()
        fig.savefig(out / "latency_cdf.png", dpi=110)
        plt.close(fig)
        figs["latency CDFs"] = "latency_cdf.png"
    ser, cols = rep.get("series") or [], rep.get("series_columns") or []
    if ser:
        c = {n: i for i, n in enumerate(cols)}
        t = [x[c["t_s"]] for x in ser]
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
        a1.step(t, [x[c["batch_seqs"]] for x in ser], where="post", lw=1)
        a1.set_ylabel("batch size (sequences)")
        a1.grid(alpha=0.3)
        a2.plot(t, [x[c["kv_used_fraction"]] * 100 for x in ser], lw=1, color="tab:red")
        a2.set_ylabel("KV cache used (%)")
        a2.set_ylim(0, 101)
        a2.set_xlabel("simulated time (s)")
        a2.grid(alpha=0.3)
        who = "first decode replica" if "pools" in rep else "first replica"
        a1.set_title(f"batch size and KV-cache use over time ({who})")
        fig.tight_layout()
        fig.savefig(out / "timeline.png", dpi=110)
        plt.close(fig)
        figs["batch size and KV use over time"] = "timeline.png"
    return figs


def write_reports(rep: dict, out: str | Path, charts: bool = True) -> list[Path]:
    out = Path(out)
    figs = plot(rep, out) if charts else {}
    md = markdown(rep, figs)
    (out / "report.md").write_text(md)
    body = []
    for line in md.splitlines():
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("!["):
            f = line[line.index("(") + 1:-1]
            data = base64.b64encode((out / f).read_bytes()).decode()
            body.append(f'<p><img alt="{html.escape(f)}" src="data:image/png;base64,{data}" style="max-width:100%"></p>')
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-:"):
                continue
            tag = "th" if not body or not body[-1].startswith("<tr") and "latency (ms)" in line else "td"
            body.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    joined, rows = [], []
    for b in body:                                   # wrap consecutive rows in one table
        if b.startswith("<tr>"):
            rows.append(b)
            continue
        if rows:
            joined.append("<table>" + "".join(rows) + "</table>")
            rows = []
        joined.append(b)
    if rows:
        joined.append("<table>" + "".join(rows) + "</table>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>gpusim serve</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
            "</style></head><body>" + "\n".join(joined) + "</body></html>\n")
    (out / "report.html").write_text(page)
    return [out / "report.md", out / "report.html", *(out / f for f in figs.values())]

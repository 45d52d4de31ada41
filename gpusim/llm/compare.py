"""Side-by-side comparison of ``gpusim llm`` reports (any mix of GPU, systolic and RDU machines).

    gpusim compare out/h100 out/tpu out/sn40l -o out/compare

Reads each ``report.json`` (a folder or the file), checks the common keys
(:data:`gpusim.llm.machines.COMMON_KEYS`) and writes to the output folder:

* ``compare.md``: a machines table (step time, tokens/s, overheads, where the time goes by operator
  group) and an operators table (time per operator on each machine, with its bound);
* ``compare.json``: the same numbers;
* ``compare.png``: a bar chart, one stacked bar per machine with the step time split into the
  operator groups of :data:`GROUPS` plus the launch / sync overheads, and the tokens/s beside it.

Reports of different models or steps are refused unless ``allow_mixed`` (the comparison would
not be one workload).
"""

from __future__ import annotations

import json
from pathlib import Path

from gpusim.errors import GpusimError
from gpusim.llm.machines import COMMON_KEYS

__all__ = ["GROUPS", "compare", "load_report", "markdown", "write_comparison"]

#: Operator groups of the chart and table: graph operator kinds (gpusim.llm.graph) per group.
GROUPS = {
    "GEMM": ("gemm", "moe_gemm"),
    "attention": ("attention",),
    "element-wise": ("embedding", "rmsnorm", "rotary", "kv_append", "silu_mul", "add", "softmax",
                     "moe_router", "moe_combine"),
    "collectives": ("allreduce", "allgather"),
}
OVERHEAD = "launch/sync"


def load_report(path: str | Path) -> dict:
    from gpusim.stats.render import read_report_json

    rep, p = read_report_json(path, "llm")
    missing = [k for k in COMMON_KEYS if k not in rep] if isinstance(rep, dict) else list(COMMON_KEYS)
    if missing:
        raise GpusimError(f"{p}: not a `gpusim llm` report (missing {', '.join(missing)}); "
                          f"re-run `gpusim llm` to write one")
    rep["_path"] = str(p)
    return rep


def _label(rep: dict) -> str:
    m = rep["machine"]
    return f"{m['name']}" + (f" x{m['chips']}" if m.get("chips", 1) > 1 else "")


def _group_of(kind: str) -> str:
    for g, kinds in GROUPS.items():
        if kind in kinds:
            return g
    return "other"


def compare(reports: list[dict], allow_mixed: bool = False) -> dict:
    """The comparison data: one row per machine, one per operator."""
    if not reports:
        raise GpusimError("compare: give at least one report")
    work = {(r["model"], r["step"]) for r in reports}
    if len(work) > 1 and not allow_mixed:
        raise GpusimError("compare: the reports are not one workload: " +
                          "; ".join(f"{r['_path']}: {r['model']} {r['step']}" for r in reports) +
                          " (use --allow-mixed to compare anyway)")
    machines = []
    for r in reports:
        groups = {g: 0.0 for g in (*GROUPS, "other")}
        for o in r["operators"]:
            groups[_group_of(o["kind"])] += o["seconds"]
        machines.append({
            "label": _label(r), "kind": r["machine"]["kind"], "name": r["machine"]["name"],
            "chips": r["machine"].get("chips", 1), "model": r["model"], "step": r["step"],
            "step_seconds": r["step_seconds"], "overhead_seconds": r["launch_seconds"],
            "tokens_per_second": r["tokens_per_second"], "output_tokens_per_second": r["output_tokens_per_second"],
            "groups_seconds": groups, "report": r["_path"],
            "composition_of_experts": r.get("composition_of_experts"),
        })
    names: list[str] = []
    for r in reports:
        for o in r["operators"]:
            if o["name"] not in names:
                names.append(o["name"])
    ops = []
    for n in names:
        row = {"name": n, "machines": []}
        for r in reports:
            o = next((x for x in r["operators"] if x["name"] == n), None)
            row["machines"].append(None if o is None else {"seconds": o["seconds"], "bound": o["bound"],
                                                          "count": o["count"]})
        ops.append(row)
    base = machines[0]["step_seconds"]
    for m in machines:
        m["speedup_vs_first"] = base / m["step_seconds"] if m["step_seconds"] else 0.0
    return {"workloads": sorted(work), "machines": machines, "operators": ops}


def markdown(c: dict) -> str:
    """The comparison as Markdown tables (``compare.md``)."""
    ms = c["machines"]
    out = [f"# gpusim compare: {', '.join(f'{m} | {s}' for m, s in c['workloads'])}", ""]
    gnames = [g for g in (*GROUPS, "other") if any(m["groups_seconds"][g] for m in ms)]
    out.append("| machine | kind | chips | step ms | tokens/s | output tokens/s | speed-up vs first | "
               + " | ".join(f"{g} ms" for g in gnames) + f" | {OVERHEAD} ms |")
    out.append("|" + "---|" * (8 + len(gnames)))
    for m in ms:
        out.append(f"| {m['label']} | {m['kind']} | {m['chips']} | {m['step_seconds'] * 1e3:.4g} | "
                   f"{m['tokens_per_second']:,.1f} | {m['output_tokens_per_second']:,.1f} | "
                   f"{m['speedup_vs_first']:.2f}x | "
                   + " | ".join(f"{m['groups_seconds'][g] * 1e3:.4g}" for g in gnames)
                   + f" | {m['overhead_seconds'] * 1e3:.4g} |")
    coe = [m for m in ms if m.get("composition_of_experts")]
    if coe:
        t0 = coe[0]["composition_of_experts"]["total_s"]
        out += ["", "Composition of Experts (one batch):", "",
                "| machine | experts | batch | switches | switch ms | router ms | prefill ms | decode ms | total ms | "
                "tokens/s | speed-up vs first |", "|" + "---|" * 11]
        for m in coe:
            x = m["composition_of_experts"]
            node = x.get("node") or m["label"]
            out.append(f"| {node} | {x['experts']} | {x['batch']} | {x['switches']:.3g} | {x['switch_s'] * 1e3:.1f} | "
                       f"{x['router_s'] * 1e3:.1f} | {x['prefill_s'] * 1e3:.1f} | {x['decode_s'] * 1e3:.1f} | "
                       f"{x['total_s'] * 1e3:.1f} | {x['tokens_per_s']:.1f} | {t0 / x['total_s']:.2f}x |")
    out += ["", "| operator | " + " | ".join(f"{m['label']} us (bound)" for m in ms) + " |",
            "|" + "---|" * (1 + len(ms))]
    for o in c["operators"]:
        cells = ["-" if x is None else f"{x['seconds'] * 1e6:.1f} ({x['bound']})" for x in o["machines"]]
        out.append(f"| {o['name']} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _chart(c: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = c["machines"]
    labels = [m["label"] for m in ms]
    segs = [g for g in (*GROUPS, "other") if any(m["groups_seconds"][g] for m in ms)] + [OVERHEAD]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 1.8 + 0.6 * len(ms)), gridspec_kw={"width_ratios": [3, 1.3]})
    left = [0.0] * len(ms)
    for g in segs:
        vals = [(m["overhead_seconds"] if g == OVERHEAD else m["groups_seconds"][g]) * 1e3 for m in ms]
        ax.barh(labels, vals, left=left, label=g)
        left = [a + b for a, b in zip(left, vals)]
    ax.invert_yaxis()
    ax.set_xlabel("step time (ms)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=len(segs), frameon=False)
    ax.set_title(" / ".join(f"{m} {s}" for m, s in c["workloads"]), fontsize=9)
    ax2.barh(labels, [m["tokens_per_second"] for m in ms], color="tab:gray")
    ax2.invert_yaxis()
    ax2.set_yticks([])
    ax2.set_xlabel("tokens/s")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_comparison(paths: list[str | Path], out_dir: str | Path, allow_mixed: bool = False,
                     chart: bool = True) -> tuple[dict, list[Path]]:
    c = compare([load_report(p) for p in paths], allow_mixed)
    return c, write_files(c, out_dir, markdown(c), _chart if chart else None, indent=2)


def write_files(c: dict, out_dir: str | Path, md: str, chart_fn=None, indent: int = 2) -> list[Path]:
    """``OUT/compare.md`` (``md``), ``OUT/compare.json`` (``c``) and, given ``chart_fn(c, path)``,
    ``OUT/compare.png``; one error line naming the folder when it cannot be written."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = [out / "compare.md", out / "compare.json"]
        files[0].write_text(md)
        files[1].write_text(json.dumps(c, indent=indent) + "\n")
        if chart_fn is not None:
            files.append(out / "compare.png")
            chart_fn(c, files[2])
    except OSError as e:
        raise GpusimError(f"{out}: cannot write the comparison: {e.strerror}") from None
    return files


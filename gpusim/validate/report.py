"""Comparing two validation results and writing the report (Markdown, HTML, PNG plots)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from gpusim.errors import GpusimError


# ----------------------------------------------------------------------------------------------
# Compare two runs.


def _load_result(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "validation.json"
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise GpusimError(f"{path}: no such file (expected a validation.json written by gpusim validate)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise GpusimError(f"{p}: not a validation result: {e}") from None
    if not isinstance(d, dict) or not isinstance(d.get("cases"), list):
        raise GpusimError(f"{p}: not a validation result (no 'cases' list)")
    return d


def compare(old_path: str | Path, new_path: str | Path, threshold: float = 1.0) -> tuple[str, dict]:
    """Markdown table of per-case APE changes between two ``validation.json`` files."""
    old, new = _load_result(old_path), _load_result(new_path)

    def key(r):
        return f"{r['suite']}/{r['id']}"

    o = {key(r): r for r in old["cases"]}
    n = {key(r): r for r in new["cases"]}
    rows = []
    counts = {"better": 0, "worse": 0, "same": 0, "new": 0, "removed": 0, "not compared": 0}
    for k in list(o) + [k for k in n if k not in o]:
        a, b = o.get(k), n.get(k)
        if a is None:
            verdict = "new"
        elif b is None:
            verdict = "removed"
        elif a["status"] != "ok" or b["status"] != "ok":
            verdict = "not compared"
        else:
            d = b["ape"] - a["ape"]
            verdict = "better" if d < -threshold else "worse" if d > threshold else "same"
        counts[verdict] += 1
        fa = f"{a['ape']:.1f}" if a and a["status"] == "ok" else (a["status"] if a else "-")
        fb = f"{b['ape']:.1f}" if b and b["status"] == "ok" else (b["status"] if b else "-")
        delta = f"{b['ape'] - a['ape']:+.1f}" if a and b and a["status"] == b["status"] == "ok" else ""
        rows.append((k, fa, fb, delta, verdict))
    order = {"worse": 0, "better": 1, "new": 2, "removed": 3, "not compared": 4, "same": 5}
    rows.sort(key=lambda r: (order[r[4]], r[0]))
    so = old.get("summary_predictions", old.get("summary_independent", old.get("summary", {})))
    sn = new.get("summary_predictions", new.get("summary_independent", new.get("summary", {})))
    lines = [f"# Validation: {old_path} -> {new_path}", ""]
    if "mape" in so and "mape" in sn:
        lines.append(f"prediction MAPE {so['mape']:.1f}% -> {sn['mape']:.1f}% ({sn['mape'] - so['mape']:+.1f} points); "
                     f"median APE {so['median_ape']:.1f}% -> {sn['median_ape']:.1f}%")
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items() if v) + f" (threshold {threshold:g} APE points)")
    lines += ["", "| case | APE old % | APE new % | change | verdict |", "|---|---:|---:|---:|---|"]
    lines += [f"| {k} | {a} | {b} | {d} | {v} |" for k, a, b, d, v in rows]
    return "\n".join(lines) + "\n", counts


# ----------------------------------------------------------------------------------------------
# Report.


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    a = abs(v)
    if a >= 1e5 or a < 1e-2:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if a < 10 else f"{v:.1f}"


def _opt(v: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def correlation_plot(results: list[dict], path: Path, title: str) -> bool:
    from gpusim.stats import render

    ok = [r for r in results if r["status"] == "ok" and r["simulated"] > 0 and r["reference"]["value"] > 0]
    if not ok:
        return False
    plt = render.pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=110)
    cats = sorted({r["category"] for r in ok})
    colors = render.palette(len(cats))
    for cat, col in zip(cats, colors):
        rs = [r for r in ok if r["category"] == cat]
        ax.scatter([r["reference"]["value"] for r in rs], [r["simulated"] for r in rs], s=42, color=col,
                   edgecolor="black", linewidth=0.5, label=cat, zorder=3)
    vals = [r["simulated"] for r in ok] + [r["reference"]["value"] for r in ok]
    lo, hi = min(vals) / 2, max(vals) * 2
    xs = np.array([lo, hi])
    ax.plot(xs, xs, color="black", linewidth=1, label="simulated = measured")
    ax.fill_between(xs, xs * 0.8, xs * 1.2, color="0.85", zorder=0, label="±20%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured (reference unit)")
    ax.set_ylabel("simulated (reference unit)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.6)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def ape_plot(results: list[dict], path: Path, title: str, mape: float | None) -> bool:
    from gpusim.stats import render

    ok = sorted((r for r in results if r["status"] == "ok"), key=lambda r: -r["ape"])
    if not ok:
        return False
    plt = render.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(ok) + 1.4), dpi=110)
    cats = sorted({r["category"] for r in ok})
    cmap = dict(zip(cats, render.palette(len(cats))))
    labels = [f"{r['suite']}/{r['id']}" for r in ok]
    y = np.arange(len(ok))
    ax.barh(y, [r["ape"] for r in ok], color=[cmap[r["category"]] for r in ok], edgecolor="black", linewidth=0.4)
    for yi, r in zip(y, ok):
        ax.text(r["ape"], yi, f" {r['error_pct']:+.0f}%", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, max(r["ape"] for r in ok) * 4 + 10)     # room for the signed-error labels
    if mape is not None:
        ax.axvline(mape, color="black", linestyle="--", linewidth=1, label=f"MAPE {mape:.1f}%")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap[c]) for c in cats]
    leg = ax.legend(handles, cats, fontsize=7, loc="lower right", title="category", title_fontsize=7)
    if mape is not None:
        ax.add_artist(leg)
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("absolute percentage error (%), signed error printed at the bar")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def report_markdown(result: dict, images: dict[str, str]) -> str:
    s = result["summary"]
    names = ", ".join(f"`{x['path']}`" for x in result["suites"])
    out = ["# gpusim validation report", "",
           f"gpusim {result['gpusim_version']}; timing model: {result['model']}.", "",
           f"Suites: {names}.  Regenerate with the command in `validation/README.md`.", ""]
    out += ["## Summary", ""]
    sp = result.get("summary_predictions", result.get("summary_independent", s))
    sc = result.get("summary_calibration", {})
    if "mape" in s:
        out += ["| role | compared | skipped | errors | MAPE | median APE | p90 APE | max APE | Pearson r | Pearson r (log10) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for label, x in (("**predictions**", sp), ("calibration (reproduces its inputs)", sc)):
            if "mape" in x:
                out.append(f"| {label} | {x['compared']} | {x['skipped']} | {x['errors']} | {x['mape']:.1f}% | "
                           f"{x['median_ape']:.1f}% | {x['p90_ape']:.1f}% | {x['max_ape']:.1f}% ({x['max_ape_case']}) | "
                           f"{_opt(x['pearson_r'])} | {_opt(x['pearson_r_log'])} |")
            elif x:
                out.append(f"| {label} | 0 | {x.get('skipped', 0)} | {x.get('errors', 0)} | - | - | - | - | - | - |")
        out += ["", "Roles are decided by the code (`gpusim.validate.model_sources`): a case whose reference row, or a "
                    "row recording the same measurement, is cited by the case's config files, an ISA table or the "
                    "model code is a *calibration* case: it checks that the model reproduces its input, not that "
                    "it predicts.  Every other case is a *prediction*; only predictions make the headline.", ""]
    else:
        out += [f"No case was compared ({s['skipped']} skipped, {s['errors']} errors).", ""]
    for title, key in (("Predictions by suite", "by_suite_predictions"), ("By GPU config", "by_gpu"),
                       ("By category", "by_category")):
        if key not in result:
            continue
        out += [f"### {title}", "", "| group | compared | skipped | MAPE | median APE | max APE |", "|---|---:|---:|---:|---:|---:|"]
        for g, gs in result[key].items():
            if "mape" in gs:
                out.append(f"| {g} | {gs['compared']} | {gs['skipped']} | {gs['mape']:.1f}% | {gs['median_ape']:.1f}% | {gs['max_ape']:.1f}% |")
            else:
                out.append(f"| {g} | 0 | {gs['skipped']} | - | - | - |")
        out.append("")
    for key, alt in (("correlation", "simulated vs measured, log-log"), ("ape", "absolute percentage error per case")):
        if key in images:
            out += [f"![{alt}]({images[key]})", ""]
    out += ["## Cases", "",
            "| suite | case | role | category | config | reference | measured | simulated | unit | error | note |",
            "|---|---|---|---|---|---|---:|---:|---|---:|---|"]
    for r in result["cases"]:
        ref = r["reference"]
        if r["status"] == "ok":
            sim, err = _fmt(r["simulated"]), f"{r['error_pct']:+.1f}%"
        else:
            sim, err = r["status"], ""
        note = r.get("note", "")
        role = "calibration" if r.get("calibration") else "prediction"
        if r.get("cited_by"):
            note = (note + "; " if note else "") + "cited by " + ", ".join(r["cited_by"][:2]) + (
                " ..." if len(r["cited_by"]) > 2 else "")
        if r["status"] != "ok":
            note = (note + "; " if note else "") + r.get("reason", "")
        out.append(f"| {r['suite']} | {r['id']} | {role} | {r['category']} | {r['gpu_config']} | {ref['id']} | "
                   f"{_fmt(ref['value'])} | {sim} | {ref['unit']} | {err} | {_md(note)} |")
    out += ["", "## References", "", "| id | GPU | metric | value | unit | conditions | source |", "|---|---|---|---:|---|---|---|"]
    seen = set()
    for r in result["cases"]:
        ref = r["reference"]
        if ref["id"] in seen:
            continue
        seen.add(ref["id"])
        out.append(f"| {ref['id']} | {_md(ref['gpu'])} | {_md(ref['metric'])} | {_fmt(ref['value'])} | {ref['unit']} | "
                   f"{_md(ref['conditions'])} | {_md(ref['source'])} |")
    out += ["", "## Method", "",
            "Each microbenchmark case is simulated twice, with the measured work at scale 1 and 2; the result is the "
            "difference of the two runs (kernel cycles, launch latency excluded), as a hardware microbenchmark "
            "differences two clock reads.  Cycles convert to time with the config's `sm.clock`; per-SM rates to "
            "whole-GPU rates with its `sm.count`.  Error = (simulated - measured) / measured.  APE = |error|; "
            "Pearson r is over the raw values (dominated by the largest) and over their log10.", ""]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_report(result: dict, out: Path) -> dict[str, Path]:
    """validation.json, report.md, report.html, correlation.png, ape.png under ``out``."""
    from gpusim.stats import render

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GpusimError(f"{out}: cannot create the output folder: {e.strerror}") from None
    files = {"json": out / "validation.json", "markdown": out / "report.md", "html": out / "report.html"}
    files["json"].write_text(json.dumps(result, indent=1, default=str) + "\n")
    s = result["summary"]
    images = {}
    title = f"{', '.join(x['name'] for x in result['suites'])}: " + (f"MAPE {s['mape']:.1f}%" if "mape" in s else "no data")
    if correlation_plot(result["cases"], out / "correlation.png", title):
        images["correlation"] = "correlation.png"
        files["correlation"] = out / "correlation.png"
    if ape_plot(result["cases"], out / "ape.png", title, s.get("mape")):
        images["ape"] = "ape.png"
        files["ape"] = out / "ape.png"
    md = report_markdown(result, images)
    files["markdown"].write_text(md)
    files["html"].write_text(render.markdown_to_html(md, title="gpusim validation report", base=out))
    return files

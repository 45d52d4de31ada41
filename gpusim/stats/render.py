"""Human-readable renderings of JSON results: Markdown, self-contained HTML and PNG plots.

Single responsibility: turn a run's ``report.json`` (``gpusim report OUT``) into ``report.md``,
``report.html`` (images embedded, no external files) and ``stalls.png``; and provide the small
Markdown-to-HTML converter and plotting helpers the validation report shares.  It reads only
the JSON contract of :class:`gpusim.stats.report.Report` (and ``config.resolved.yaml`` beside
it for the clock), so it renders reports written by any model version: sections it does not
know are shown as key/value tables.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpusim.errors import GpusimError

__all__ = ["pyplot", "palette", "markdown_to_html", "render_run_report", "load_run", "read_report_json"]

MAX_KERNEL_SECTIONS = 20     # kernels with a detailed section (the longest ones)
MAX_BAR_KERNELS = 30         # kernels in the stall chart


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def palette(n: int) -> list:
    """``n`` distinguishable colours (tab10, then tab20)."""
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


# ----------------------------------------------------------------------------------------------
# Markdown -> HTML for the subset gpusim writes: headings, paragraphs, pipe tables, images
# on their own line, bullet lists, `code`, **bold**, [links](url).

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #ddd;padding-bottom:.2em}h2{border-bottom:1px solid #eee;margin-top:1.6em}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}th,td{border:1px solid #ccc;padding:.25em .55em;vertical-align:top}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f4f4f4;padding:0 .25em;border-radius:3px;font-size:.92em}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""


def _inline(text: str) -> str:
    t = html.escape(text, quote=False).replace("\\|", "|")
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', t)
    return t


def _cells(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", s)]


def _image(src: str, alt: str, base: Path | None) -> str:
    p = Path(src) if base is None else base / src
    if p.is_file():
        data = base64.b64encode(p.read_bytes()).decode()
        return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'
    return f"<p><em>(missing image {html.escape(src)})</em></p>"


def markdown_to_html(md: str, *, title: str, base: Path | None = None) -> str:
    """A self-contained HTML page: images under ``base`` are embedded as base64 data URIs."""
    out = []
    lines = md.splitlines()
    i = 0
    para: list[str] = []

    def flush():
        if para:
            out.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        s = line.strip()
        m_img = re.fullmatch(r"!\[([^\]]*)\]\(([^)]+)\)", s)
        m_h = re.match(r"(#{1,6})\s+(.*)", s)
        if not s:
            flush()
        elif m_h:
            flush()
            n = len(m_h.group(1))
            out.append(f"<h{n}>{_inline(m_h.group(2))}</h{n}>")
        elif m_img:
            flush()
            out.append(_image(m_img.group(2), m_img.group(1), base))
        elif s.startswith("|"):
            flush()
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i])
                i += 1
            i -= 1
            head = _cells(block[0])
            align = []
            rows = block[1:]
            if rows and re.fullmatch(r"\|?[\s:|-]+\|?", rows[0].strip()):
                align = ["r" if c.endswith(":") else "" for c in _cells(rows[0])]
                rows = rows[1:]

            def cls(j, align=align):
                return ' class="r"' if j < len(align) and align[j] else ""

            t = ["<table>"]
            if any(head):                                   # a header of empty cells is a key/value table
                t.append("<thead><tr>" + "".join(f"<th{cls(j)}>{_inline(c)}</th>" for j, c in enumerate(head)) + "</tr></thead>")
            t.append("<tbody>")
            for r in rows:
                t.append("<tr>" + "".join(f"<td{cls(j)}>{_inline(c)}</td>" for j, c in enumerate(_cells(r))) + "</tr>")
            t.append("</tbody></table>")
            out.append("".join(t))
        elif s.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].strip().startswith("- "):
                items.append(f"<li>{_inline(lines[i].strip()[2:])}</li>")
                i += 1
            i -= 1
            out.append("<ul>" + "".join(items) + "</ul>")
        else:
            para.append(s)
        i += 1
    flush()
    body = "\n".join(out)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


# ----------------------------------------------------------------------------------------------
# A run's report.


def read_report_json(out: str | Path, command: str) -> tuple[object, Path]:
    """The parsed ``report.json`` of an output folder (or the file itself) written by ``gpusim COMMAND``;
    GpusimError naming the path when it is missing or not JSON."""
    p = Path(out)
    rep_path = p / "report.json" if p.is_dir() else p
    if not rep_path.is_file():
        raise GpusimError(f"{out}: no report.json here (pass the folder given to gpusim {command} -o, or the file)")
    try:
        return json.loads(rep_path.read_text()), rep_path
    except (OSError, json.JSONDecodeError) as e:
        raise GpusimError(f"{rep_path}: not a gpusim {command} report: {e}") from None


def load_run(out: str | Path) -> tuple[dict, dict | None, Path]:
    """``report.json`` (and the resolved config, if beside it) of a run folder or a report file."""
    rep, rep_path = read_report_json(out, "run")
    if not isinstance(rep, dict) or not isinstance(rep.get("kernels"), list):
        raise GpusimError(f"{rep_path}: not a gpusim report (no 'kernels' list)")
    cfg = None
    cfg_path = rep_path.parent / "config.resolved.yaml"
    if cfg_path.is_file():
        import yaml

        try:
            cfg = yaml.safe_load(cfg_path.read_text())
        except yaml.YAMLError:
            cfg = None
    return rep, cfg if isinstance(cfg, dict) else None, rep_path.parent


def _clock_hz(cfg: Mapping | None) -> float | None:
    try:
        from gpusim import units

        return float(units.parse_frequency(cfg["sm"]["clock"]))
    except (TypeError, KeyError, ValueError):
        return None


def _n(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        a = abs(v)
        return f"{v:.3g}" if (a and (a < 0.01 or a >= 1e6)) else (f"{v:,.1f}" if a >= 100 else f"{v:.3f}".rstrip("0").rstrip(".") or "0")
    return str(v).replace("|", "\\|")


def _stall_reasons(k: Mapping) -> dict[str, float]:
    s = k.get("stall_reasons") or {}
    return {n: float(v) for n, v in s.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _top_stall(k: Mapping) -> str:
    s = {n: v for n, v in _stall_reasons(k).items() if n != "selected"}
    if not s or max(s.values()) <= 0:
        return "-"
    n = max(s, key=s.get)
    tot = sum(_stall_reasons(k).values())
    return f"{n} ({100 * s[n] / tot:.0f}%)" if tot else n


def stall_chart(kernels: list[Mapping], path: Path, title: str) -> bool:
    """Stacked horizontal bars: each kernel's warp-cycles split by stall reason (fractions)."""
    ks = [k for k in kernels if sum(_stall_reasons(k).values()) > 0]
    if not ks:
        return False
    ks = sorted(ks, key=lambda k: -k.get("cycles", 0))[:MAX_BAR_KERNELS]
    reasons: list[str] = []
    for k in ks:
        for n in _stall_reasons(k):
            if n not in reasons:
                reasons.append(n)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, max(2.6, 0.38 * len(ks) + 1.4)), dpi=110)
    colors = palette(len(reasons))
    left = [0.0] * len(ks)
    labels = [f"{k.get('kernel_id', '')}: {str(k.get('name', ''))[:40]}" for k in ks]
    for n, col in zip(reasons, colors):
        frac = []
        for k in ks:
            s = _stall_reasons(k)
            tot = sum(s.values())
            frac.append(100.0 * s.get(n, 0.0) / tot if tot else 0.0)
        ax.barh(range(len(ks)), frac, left=left, color=col, edgecolor="white", linewidth=0.3, label=n)
        left = [a + b for a, b in zip(left, frac)]
    ax.set_yticks(range(len(ks)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of warp-cycles (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="reason", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return True


def _kv_table(d: Mapping, prefix: str = "") -> list[str]:
    rows = []

    def walk(p, v):
        if isinstance(v, Mapping):
            for kk, vv in v.items():
                walk(f"{p}.{kk}" if p else str(kk), vv)
        elif isinstance(v, (list, tuple)):
            if all(not isinstance(x, (Mapping, list)) for x in v):
                rows.append((p, ", ".join(_n(x) for x in v)))
        else:
            rows.append((p, _n(v)))

    walk(prefix, d)
    if not rows:
        return []
    return ["| key | value |", "|---|---:|"] + [f"| `{k}` | {v} |" for k, v in rows]


_KNOWN_SECTIONS = {"name", "kernel_id", "trace", "grid", "block", "ctas", "warps", "cycles", "launch_latency_cycles",
                   "warp_instructions", "thread_instructions", "ipc", "stall_reasons", "hot_pcs", "memory", "units",
                   "counters", "occupancy", "speed_of_light", "bound"}


def _hit_rates(k: Mapping) -> list[tuple[str, float]]:
    out = []

    def walk(p, v):
        if isinstance(v, Mapping):
            for kk, vv in v.items():
                walk(f"{p}.{kk}" if p else str(kk), vv)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and "hit_rate" in p:
            out.append((p, float(v)))

    for key, v in k.items():
        if key != "counters":
            walk(key, v)
    return out


def _kernel_section(k: Mapping, clock: float | None) -> list[str]:
    cyc = k.get("cycles") or 0
    out = [f"### Kernel {k.get('kernel_id', '?')}: `{str(k.get('name', ''))[:120]}`", ""]
    grid = "x".join(map(str, k.get("grid", []))) if isinstance(k.get("grid"), list) else k.get("grid")
    block = "x".join(map(str, k.get("block", []))) if isinstance(k.get("block"), list) else k.get("block")
    facts = [("grid / block", f"{grid} / {block}"), ("CTAs / warps", f"{_n(k.get('ctas'))} / {_n(k.get('warps'))}"),
             ("cycles", _n(cyc))]
    if clock and cyc:
        facts.append(("time", f"{cyc / clock * 1e6:.3f} µs at {clock / 1e9:g} GHz"))
    facts += [("warp instructions", _n(k.get("warp_instructions"))), ("IPC (warp inst / cycle, GPU)", _n(k.get("ipc")))]
    occ = k.get("occupancy") or {}
    if occ:
        facts.append(("occupancy", f"{_n(occ.get('ctas_per_sm'))} CTAs/SM (limited by {occ.get('limiter')}), "
                                   f"{_n(occ.get('achieved_active_warps_per_sm'))} active warps/SM achieved"))
    out += ["| | |", "|---|---|"] + [f"| {a} | {b} |" for a, b in facts] + [""]
    sol = k.get("speed_of_light") or {}
    if sol:
        out += [f"**Speed of Light** (% of the configured peak; bound: {k.get('bound', '-')})", "",
                "| unit | % of peak |", "|---|---:|"]
        out += [f"| {u} | {v:.1f}% |" for u, v in sorted(sol.items(), key=lambda kv: -kv[1])]
        out.append("")
    s = _stall_reasons(k)
    tot = sum(s.values())
    if tot:
        out += ["**Stall reasons** (warp-cycles; Nsight Compute names)", "", "| reason | warp-cycles | share |", "|---|---:|---:|"]
        out += [f"| {n} | {_n(int(v))} | {100 * v / tot:.1f}% |" for n, v in sorted(s.items(), key=lambda kv: -kv[1]) if v]
        out.append("")
    hot = k.get("hot_pcs") or []
    if isinstance(hot, list) and hot and all(isinstance(h, Mapping) for h in hot):
        out += ["**Hottest PCs** (by warp-cycles spent there)", "", "| PC | opcode | issued | warp-cycles | top stall reasons |",
                "|---|---|---:|---:|---|"]
        for h in hot:
            st = h.get("stalls") or {}
            tot_h = sum(v for v in st.values() if isinstance(v, (int, float))) or 1
            top = ", ".join(f"{n} {100 * v / tot_h:.0f}%" for n, v in sorted(st.items(), key=lambda kv: -kv[1])[:3])
            out.append(f"| `{h.get('pc')}` | `{h.get('opcode')}` | {_n(h.get('issued'))} | {_n(h.get('warp_cycles'))} | {top} |")
        out.append("")
    mem = k.get("memory") or {}
    if mem:
        out += ["**Memory**", "", "| counter | value | achieved bandwidth |", "|---|---:|---:|"]
        for name, v in mem.items():
            bw = ""
            if isinstance(v, (int, float)) and (name.endswith("_bytes") or "_bytes_" in name) and cyc:
                bw = f"{v / cyc:.1f} B/clk" + (f" = {v / (cyc / clock) / 1e9:.1f} GB/s" if clock else "")
            if not isinstance(v, Mapping):
                out.append(f"| `{name}` | {_n(v)} | {bw} |")
        for name, v in mem.items():
            if isinstance(v, Mapping):
                out += _kv_table(v, name)
        out.append("")
    rates = _hit_rates(k)
    if rates:
        out += ["**Hit rates**", "", "| counter | rate |", "|---|---:|"] + [f"| `{n}` | {100 * v:.1f}% |" for n, v in rates] + [""]
    units = k.get("units") or {}
    if units:
        tot_u = sum(v for v in units.values() if isinstance(v, (int, float))) or 1
        out += ["**Issued warp instructions per unit**", "", "| unit | issued | share |", "|---|---:|---:|"]
        out += [f"| {u} | {_n(v)} | {100 * v / tot_u:.1f}% |" for u, v in sorted(units.items(), key=lambda kv: -kv[1])]
        out.append("")
    for key, v in k.items():
        if key in _KNOWN_SECTIONS or not isinstance(v, Mapping) or not v:
            continue
        t = _kv_table(v)
        if t:
            out += [f"**{key.replace('_', ' ')}**", ""] + t + [""]
    return out


def run_markdown(rep: Mapping, cfg: Mapping | None, images: Mapping[str, str]) -> str:
    clock = _clock_hz(cfg)
    ks = rep["kernels"]
    out = [f"# gpusim run: {rep.get('gpu', '?')}", "",
           "| | |", "|---|---|",
           f"| trace | `{rep.get('trace')}` |", f"| GPU config | `{rep.get('gpu_config')}` ({rep.get('gpu')}) |",
           f"| model | {rep.get('model')} |", f"| gpusim | {rep.get('gpusim_version')} |",
           f"| total cycles | {_n(rep.get('total_cycles'))} ({len(ks)} kernels, launch latency included) |"]
    if clock and rep.get("total_cycles"):
        out.append(f"| total time | {rep['total_cycles'] / clock * 1e6:.3f} µs at {clock / 1e9:g} GHz |")
    sim = rep.get("sim") or {}
    if sim.get("wall_seconds") is not None:
        out.append(f"| simulated in | {sim['wall_seconds']:.2f} s ({_n(sim.get('simulated_cycles_per_second'))} cycles/s, "
                   f"{_n(sim.get('warp_instructions_per_second'))} warp-inst/s) |")
        if sim.get("jit_seconds"):
            out.append(f"| Numba compile / cache load | {sim['jit_seconds']:.2f} s (not counted in the speed) |")
    wb = rep.get("l2_writeback") or {}
    if wb.get("sectors"):
        out.append(f"| end-of-run L2 write-back | {_n(wb['dram_bytes_written'])} B of dirty sectors to DRAM |")
    mc = rep.get("memcpy") or []
    if mc:
        out.append(f"| host-to-device copies | {len(mc)} ({_n(sum(m.get('bytes', 0) for m in mc))} B) |")
    out += ["", "## Kernels", "",
            "| # | kernel | grid | block | cycles | time (µs) | warp insts | IPC | active warps/SM | bound (SOL) | top stall |",
            "|---:|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for k in ks:
        g = "x".join(map(str, k.get("grid", []))) if isinstance(k.get("grid"), list) else k.get("grid")
        b = "x".join(map(str, k.get("block", []))) if isinstance(k.get("block"), list) else k.get("block")
        t = f"{k['cycles'] / clock * 1e6:.3f}" if clock and k.get("cycles") else ""
        aw = (k.get("occupancy") or {}).get("achieved_active_warps_per_sm")
        out.append(f"| {k.get('kernel_id')} | `{str(k.get('name', ''))[:60]}` | {g} | {b} | {_n(k.get('cycles'))} | {t} | "
                   f"{_n(k.get('warp_instructions'))} | {_n(k.get('ipc'))} | {_n(aw)} | {k.get('bound') or '-'} | "
                   f"{_top_stall(k)} |")
    out.append("")
    if "stalls" in images:
        out += ["## Stall reasons", "", f"![stall reasons per kernel]({images['stalls']})", ""]
    longest = sorted(ks, key=lambda k: -(k.get("cycles") or 0))[:MAX_KERNEL_SECTIONS]
    out += ["## Kernel details", ""]
    if len(ks) > len(longest):
        out += [f"The {len(longest)} longest of {len(ks)} kernels.", ""]
    for k in longest:
        out += _kernel_section(k, clock)
    return "\n".join(out) + "\n"


def render_run_report(out: str | Path, dest: str | Path | None = None) -> dict[str, Path]:
    """Write report.md, report.html and stalls.png for the run in ``out`` (into ``dest``, default ``out``)."""
    rep, cfg, folder = load_run(out)
    d = Path(dest) if dest is not None else folder
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GpusimError(f"{d}: cannot create the output folder: {e.strerror}") from None
    files: dict[str, Path] = {}
    images = {}
    if stall_chart(rep["kernels"], d / "stalls.png", f"{rep.get('gpu')}: warp-cycles by stall reason"):
        images["stalls"] = "stalls.png"
        files["stalls"] = d / "stalls.png"
    md = run_markdown(rep, cfg, images)
    files["markdown"] = d / "report.md"
    files["markdown"].write_text(md)
    files["html"] = d / "report.html"
    files["html"].write_text(markdown_to_html(md, title=f"gpusim run: {rep.get('gpu')}", base=d))
    return files

"""Per-instruction timeline of a run: Chrome-trace / Perfetto JSON and a text pipeline view.

Built from the core's issue log (``assemble.pack(..., log=True)``: the cycle every dynamic
instruction issued).  One process per CTA, one thread per warp; one slice per instruction from its
issue to the warp's next issue (the time the warp spent on it: its own stall count, then whatever
held the next instruction — a dependence, a full queue, a barrier, not being selected), with the
instruction's PC, opcode, control bits and nominal latency (the pipe's latency, or the unloaded
latency of its memory space) as arguments; a counter track gives the IPC of the window's warps per
:data:`COUNTER_BUCKET` cycles.  Time is in SM cycles, written where Chrome traces put microseconds
(``displayTimeUnit`` and ``otherData`` say so).  Open the file in ui.perfetto.dev or chrome://tracing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gpusim.errors import GpusimError

#: cycles per point of the IPC counter track
COUNTER_BUCKET = 100
#: CTAs in the window when none is given
DEFAULT_CTAS = 4


def parse_window(text: str | None) -> dict:
    """``ctas=A-B``, ``warps=A-B`` (warp index within the CTA), ``cycles=A-B``, comma-separated;
    inclusive ranges, ``A`` alone for one.  Default: the first :data:`DEFAULT_CTAS` CTAs."""
    out = {"ctas": (0, DEFAULT_CTAS - 1), "warps": None, "cycles": None}
    if not text:
        return out
    for part in text.split(","):
        k, eq, v = part.partition("=")
        k = k.strip()
        if not eq or k not in ("ctas", "warps", "cycles"):
            raise GpusimError(f"--timeline-window {text!r}: expected ctas=A-B, warps=A-B or cycles=A-B (comma-separated)")
        a, _, b = v.partition("-")
        try:
            lo, hi = int(a), int(b) if b else int(a)
        except ValueError:
            raise GpusimError(f"--timeline-window {text!r}: '{part}' needs integers") from None
        if lo < 0 or hi < lo:
            raise GpusimError(f"--timeline-window {text!r}: '{part}' is an empty or negative range")
        out[k] = (lo, hi)
    return out


def build(kt, run, window: dict) -> dict:
    """The Chrome-trace dict of the warps inside ``window`` (see :func:`parse_window`)."""
    from gpusim.core import sm as core

    log = run.issue_log
    if log.size != kt.inst_static.size:
        raise GpusimError("timeline: the run was packed without its issue log (assemble.pack(log=True))")
    st = run.st
    ev: list[dict] = []
    issues: list[np.ndarray] = []
    c_lo, c_hi = window["ctas"]
    for c in range(min(c_lo, kt.num_ctas), min(c_hi + 1, kt.num_ctas)):
        cta = tuple(int(v) for v in kt.cta_xyz[c])
        ev.append({"ph": "M", "name": "process_name", "pid": c, "args": {"name": f"CTA {cta}"}})
        for w in range(int(kt.cta_warp_ptr[c]), int(kt.cta_warp_ptr[c + 1])):
            slot = int(kt.warp_slot[w])
            if window["warps"] and not window["warps"][0] <= slot <= window["warps"][1]:
                continue
            a, b = int(kt.warp_inst_ptr[w]), int(kt.warp_inst_ptr[w + 1])
            t = log[a:b]
            ev.append({"ph": "M", "name": "thread_name", "pid": c, "tid": slot, "args": {"name": f"warp {slot}"}})
            for j in range(b - a):
                if t[j] < 0:
                    continue
                if window["cycles"] and not window["cycles"][0] <= t[j] <= window["cycles"][1]:
                    continue
                s = int(kt.inst_static[a + j])
                nxt = int(t[j + 1]) if j + 1 < b - a and t[j + 1] >= 0 else int(t[j]) + 1
                ev.append({"ph": "X", "pid": c, "tid": slot, "ts": int(t[j]), "dur": max(1, nxt - int(t[j])),
                           "name": kt.st_opcode[s],
                           "args": {"pc": f"0x{int(kt.st_pc[s]):04x}", "stall": int(st[s, core.S_STALL]),
                                    "yield": int(st[s, core.S_YIELD]), "nominal_latency": int(st[s, core.S_LAT]),
                                    "wait_mask": int(st[s, core.S_WAIT]), "held_cycles": max(1, nxt - int(t[j]))}})
            issues.append(t[t >= 0])
    if issues:
        allt = np.concatenate(issues)
        if allt.size:
            hist = np.bincount(allt // COUNTER_BUCKET)
            for i, n in enumerate(hist.tolist()):
                ev.append({"ph": "C", "pid": -1, "name": "IPC (window warps)", "ts": i * COUNTER_BUCKET,
                           "args": {"ipc": n / COUNTER_BUCKET}})
    return {"traceEvents": ev, "displayTimeUnit": "ns",
            "otherData": {"time_unit": "SM cycles (written as microseconds)", "kernel": kt.name,
                          "slices": "issue to the warp's next issue", "source": "gpusim.stats.timeline"}}


def write(path: str | Path, kt, run, window_text: str | None = None) -> int:
    """Write the timeline JSON; returns the number of instruction slices."""
    d = build(kt, run, parse_window(window_text))
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(d))
    except OSError as e:
        raise GpusimError(f"{path}: cannot write the timeline: {e.strerror}") from None
    return sum(1 for e in d["traceEvents"] if e["ph"] == "X")


def text_view(path: str | Path, warp: int | None = None, cta: int | None = None, limit: int = 200) -> list[str]:
    """The pipeline diagram of a timeline file: one row per instruction (CTA, warp, PC, opcode, issue
    cycle, cycles held until the warp's next issue, nominal latency, stall count)."""
    try:
        d = json.loads(Path(path).read_text())
        evs = [e for e in d["traceEvents"] if e.get("ph") == "X"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise GpusimError(f"{path}: not a gpusim timeline ({e})") from None
    if cta is not None:
        evs = [e for e in evs if e["pid"] == cta]
    if warp is not None:
        evs = [e for e in evs if e["tid"] == warp]
    evs.sort(key=lambda e: (e["pid"], e["tid"], e["ts"]))
    rows = [f"{'cta':>4} {'warp':>4} {'pc':>7}  {'opcode':<28} {'issue':>8} {'held':>5} {'latency':>7} {'stall':>5}"]
    for e in evs[:limit]:
        a = e["args"]
        rows.append(f"{e['pid']:>4} {e['tid']:>4} {a['pc']:>7}  {e['name'][:28]:<28} {e['ts']:>8} {e['dur']:>5} "
                    f"{a['nominal_latency']:>7} {a['stall']:>5}")
    if len(evs) > limit:
        rows.append(f"... {len(evs) - limit} more (--limit)")
    return rows

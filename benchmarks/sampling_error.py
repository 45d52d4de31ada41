#!/usr/bin/env python3
"""Evidence for CTA-wave sampling (issue 19 item 3): sampled against full simulation, kernel by kernel.

Every case is simulated three times from a fresh memory system: in full (every CTA), with adaptive
sampling to a target error (``sample_error``, :class:`gpusim.llm.sampling.AdaptiveSampler`), and with
the fixed sample of ``sample=4`` (1 warm-up + 4 measured waves + the kernel's tail).  Per run: cycles,
the error against the full run, the reported bound and whether it held, the warp instructions
simulated (their ratio to the full run's: the reduction factor), the waves simulated / total, why the
sample stopped, and the CPU seconds (``time.process_time``: this machine is shared, wall time is not
the simulator's).

Operators (``gemm``, ``gemv``, ``attention``, ``decode_attention``) run through the ``--op`` path
(:func:`gpusim.llm.op.op_graph`, every kernel of the operator: cycles and instructions are the
operator's sums, the bound the sum of its kernels' bounds); the elementwise kernels run alone
(:func:`gpusim.llm.run.simulate_kernel`).  Cases run on A100 SM slices
(``tests.test_llm_sanity.a100_slice``: a few SMs with their share of the L2 and DRAM) so that the full
runs are feasible on a small machine while the kernels keep tens of waves.

    PYTHONPATH=$PWD python benchmarks/sampling_error.py [--error 0.01] [--only NAME ...] [--reuse-full] \\
        [--no-fixed] [--out benchmarks/results/sampling_error_a100.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpusim.config import load_config  # noqa: E402
from gpusim.llm import kernels as K  # noqa: E402
from gpusim.llm.op import op_graph  # noqa: E402
from gpusim.llm.run import simulate_kernel, simulate_step  # noqa: E402
from tests.test_llm_sanity import a100_slice  # noqa: E402

A100 = "a100-sxm4-80gb"
P = tuple((i + 1) << 40 for i in range(4))

#: name -> (SMs of the slice, ("op", grammar) or ("kernel", builder)); cheap cases first.
CASES = {
    "rmsnorm_4096x4096": (4, ("kernel", lambda: K.rmsnorm("sm_80", 4096, 4096, *P[:3]))),
    "residual_add_16M": (4, ("kernel", lambda: K.residual_add("sm_80", 16 * 2**20, *P[:3]))),
    "softmax_4096x2048": (4, ("kernel", lambda: K.softmax("sm_80", 4096, 2048, *P[:2]))),
    "silu_mul_512x8192": (4, ("kernel", lambda: K.silu_mul("sm_80", 512, 8192, *P[:2]))),
    "gemv_b1_8192x2048": (4, ("op", "gemv:batch=1,n=8192,k=2048")),
    "decode_attention_b8_h32_c4096": (4, ("op", "decode_attention:batch=8,heads=32,kv_heads=8,context=4096")),
    "gemm_skinny_64x16384x1024": (8, ("op", "gemm:m=64,n=16384,k=1024")),
    "gemm_1024x4096x1024": (8, ("op", "gemm:m=1024,n=4096,k=1024")),
    "gemm_square_2048": (8, ("op", "gemm:m=2048,n=2048,k=2048")),
    "attention_prefill_causal_h16_q1024": (8, ("op", "attention:batch=1,heads=16,kv_heads=8,q_len=1024")),
    "attention_prefill_h16_q1024_kv2048": (8, ("op", "attention:batch=1,heads=16,kv_heads=8,q_len=1024,kv_len=2048,causal=0")),
    # many waves: how the reduction grows with the kernel's length
    "silu_mul_2048x8192": (4, ("kernel", lambda: K.silu_mul("sm_80", 2048, 8192, *P[:2]))),
    "gemm_8192x4096x512": (8, ("op", "gemm:m=8192,n=4096,k=512")),
    "residual_add_64M": (4, ("kernel", lambda: K.residual_add("sm_80", 64 * 2**20, *P[:3]))),
    "rmsnorm_16384x4096": (4, ("kernel", lambda: K.rmsnorm("sm_80", 16384, 4096, *P[:3]))),
}


def run_case(name: str, sms: int, what, **kw) -> dict:
    cfg = load_config(A100, a100_slice(sms))
    kind, spec = what
    t0 = time.process_time()
    w0 = time.perf_counter()
    if kind == "kernel":
        r = simulate_kernel(cfg, spec(), **kw)
        ks = [{**r, "launches": 1, "simulated": 1, "cycles_total": r["cycles"]}]
    else:
        rep = simulate_step(None, None, cfg, graph=op_graph(spec), **kw)
        ks = [k for o in rep["operators"] for k in o["kernels"]]
    cpu = time.process_time() - t0
    wall = time.perf_counter() - w0
    # (a kernel launched several times by the operator is simulated once: cycles and bounds count every
    # launch, simulated instructions the one simulation)
    cyc = sum(k["cycles_total"] for k in ks)
    sim = sum(k["simulated"] * k["warp_instructions"] * (k["sampling"]["ctas_simulated"] / k["sampling"]["ctas_total"]
                                                         if k["sampling"] else 1.0) for k in ks)
    err = sum(k["launches"] * k["sampling"]["absolute_error_cycles"] for k in ks if k["sampling"])
    per = []
    for k in ks:
        s = k["sampling"]
        per.append({"kernel": k["kernel"], "cycles": k["cycles"], "launches": k["launches"], "ctas": s["ctas_total"] if s else None,
                    "waves_simulated": s and round(s["waves_simulated"], 2), "waves_total": s and s["waves_total"],
                    "measured_waves": s and s["measured_waves"], "stop_reason": s and s["stop_reason"],
                    "drift_restarts": s and s.get("drift_restarts"), "l2_fill_waits": s and s.get("l2_fill_waits"),
                    "ci_half_width_cycles": s and s["ci_half_width_cycles"],
                    "relative_error_bound": s and s["relative_error"]})
    return {"cycles": cyc, "warp_instructions_simulated": round(sim), "error_bound_cycles": err,
            "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2), "kernels": per}


#: Main-loop trip-count experiment (issue 19 item 3, measured here only, not a simulator mode): the walker
#: walks our kernels from their arguments, so a GEMM's K (or a non-causal attention's kv_len) sets the
#: main loop's trip count.  In steady state the cycles are affine in it: simulate the operator at two
#: truncated trip counts (1/8 and 1/4 of the real one, every CTA) and extrapolate the line to the real one.
#: (Prefill attention is left out: the operator needs kv_len >= q_len, and a causal one is not affine.)
TRIP = {
    "gemm_square_2048": ("gemm:m=2048,n=2048,k={}", 2048),
    "gemm_1024x4096x1024": ("gemm:m=1024,n=4096,k={}", 1024),
}


def trip_count(name: str, sms: int, full: dict) -> dict:
    fmt, t = TRIP[name]
    t1, t2 = t // 8, t // 4
    a = run_case(name, sms, ("op", fmt.format(t1)))
    b = run_case(name, sms, ("op", fmt.format(t2)))
    slope = (b["cycles"] - a["cycles"]) / (t2 - t1)
    est = b["cycles"] + slope * (t - t2)
    sim = a["warp_instructions_simulated"] + b["warp_instructions_simulated"]
    return {"trip_counts": [t1, t2, t], "cycles_at": [a["cycles"], b["cycles"]], "cycles": round(est),
            "error": (est - full["cycles"]) / full["cycles"], "warp_instructions_simulated": sim,
            "reduction": full["warp_instructions_simulated"] / sim,
            "cpu_seconds": round(a["cpu_seconds"] + b["cpu_seconds"], 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--error", type=float, default=0.01, help="sample_error target (default 0.01)")
    ap.add_argument("--only", nargs="*", help="case names (default all)")
    ap.add_argument("--out", default="benchmarks/results/sampling_error_a100.json")
    ap.add_argument("--reuse-full", action="store_true", help="take a case's full run from --out when it is there")
    ap.add_argument("--no-fixed", action="store_true", help="skip the sample=4 runs")
    ap.add_argument("--no-error", action="store_true", help="skip the sample_error runs")
    ap.add_argument("--trip-count", action="store_true", help="also the main-loop trip-count experiment (TRIP cases)")
    ap.add_argument("--table", action="store_true", help="print the results in --out as a Markdown table and exit")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.table:
        print(table(json.loads(out.read_text())))
        return 0
    res = json.loads(out.read_text()) if out.exists() else {}
    res.setdefault("commands", [])
    res["commands"].append("PYTHONPATH=$PWD python benchmarks/sampling_error.py " + " ".join(argv or sys.argv[1:]))
    res.setdefault("config", f"{A100} SM slices (tests.test_llm_sanity.a100_slice)")
    cases = res.setdefault("cases", {})
    for name, (sms, what) in CASES.items():
        if a.only and name not in a.only:
            continue
        row = cases.get(name, {})
        full = row["full"] if a.reuse_full and "full" in row else run_case(name, sms, what)
        row.update({"sms": sms, "spec": what[1] if what[0] == "op" else name, "full": full})
        runs = ([] if a.no_error else [(f"error_{a.error:g}", {"sample_error": a.error})]) \
            + ([] if a.no_fixed else [("fixed_4", {"sample": 4})])
        for tag, kw in runs:
            s = run_case(name, sms, what, **kw)
            e = (s["cycles"] - full["cycles"]) / full["cycles"]
            s.update(error=e, bound=s["error_bound_cycles"] / s["cycles"] if s["cycles"] else 0.0,
                     reduction=full["warp_instructions_simulated"] / max(s["warp_instructions_simulated"], 1))
            s["bound_held"] = abs(e) <= s["bound"] + 1e-12
            row[tag] = s
        if a.trip_count and name in TRIP:
            row["trip_count"] = tc = trip_count(name, sms, full)
            print(f"{name:38s} trip count {tc['trip_counts']}: {tc['error']:+.2%} x{tc['reduction']:.1f} fewer warp-inst",
                  flush=True)
        cases[name] = row
        _save(out, res)
        if a.no_error:
            continue
        f = row[f"error_{a.error:g}"]
        print(f"{name:38s} full {full['cycles']:>10,} cyc {full['cpu_seconds']:7.1f} s | E={a.error:g}: "
              f"{f['error']:+.2%} (bound {f['bound']:.2%}, {'held' if f['bound_held'] else 'BROKEN'}) "
              f"x{f['reduction']:.1f} fewer warp-inst {f['cpu_seconds']:6.1f} s"
              + ("" if a.no_fixed else f" | fixed 4: {row['fixed_4']['error']:+.2%} (bound {row['fixed_4']['bound']:.2%}) "
                                       f"x{row['fixed_4']['reduction']:.1f}"), flush=True)
    return 0


def table(res: dict) -> str:
    """The results as a Markdown table: one row per case and sampling mode."""
    rows = ["| case | SMs | waves (main kernel) | full cycles | mode | sampled cycles | error | bound | held | "
            "warp-inst full / sampled | reduction | CPU s full / sampled | stop |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in res["cases"].items():
        f = c["full"]
        for tag in sorted(k for k in c if k.startswith(("error_", "fixed_"))):
            s = c[tag]
            k = max((x for x in s["kernels"] if x["waves_total"]), key=lambda x: x["waves_total"], default=None)
            waves = f"{k['waves_simulated']:g}/{k['waves_total']}" if k else "-"
            stop = (k["stop_reason"] + (f", {k['drift_restarts']} restarts" if k.get("drift_restarts") else "")) if k else "-"
            rows.append(f"| {name} | {c['sms']} | {waves} | {f['cycles']:,} | {tag} | {s['cycles']:,} | {s['error']:+.2%} | "
                        f"{s['bound']:.2%} | {'yes' if s['bound_held'] else 'NO'} | {f['warp_instructions_simulated']:,} / "
                        f"{s['warp_instructions_simulated']:,} | {s['reduction']:.1f}x | {f['cpu_seconds']:.1f} / "
                        f"{s['cpu_seconds']:.1f} | {stop} |")
        if "trip_count" in c:
            t = c["trip_count"]
            rows.append(f"| {name} | {c['sms']} | - | {f['cycles']:,} | trip count {t['trip_counts'][:2]} -> "
                        f"{t['trip_counts'][2]} | {t['cycles']:,} | {t['error']:+.2%} | - | - | "
                        f"{f['warp_instructions_simulated']:,} / {t['warp_instructions_simulated']:,} | "
                        f"{t['reduction']:.1f}x | {f['cpu_seconds']:.1f} / {t['cpu_seconds']:.1f} | - |")
    return "\n".join(rows)


def _save(out: Path, res: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    raise SystemExit(main())

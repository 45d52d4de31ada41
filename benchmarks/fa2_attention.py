#!/usr/bin/env python3
"""FlashAttention-2 forward and backward on an SM slice of the A100 / H100 configs: simulated TFLOPS and % of
the config's tensor peak per pass, at three sequence lengths.

    PYTHONPATH=$PWD python benchmarks/fa2_attention.py [--gpu a100-sxm4-80gb] [--sms 8] [--seqlens 512,1024,2048]

Each shape runs ``attention:...,pass=fwdbwd`` (gpusim.llm.op) once; the forward is the flash_attn_fwd
kernel's time, the backward the sum of the three backward kernels (FA2's preprocess, main kernel, dQ
conversion); FLOPs follow FlashAttention-2's benchmark convention (fwd 4 N^2 d heads batch, bwd 2.5x, causal
counts the N(N+1)/2 pairs).  The slice keeps the config's per-SM rates and gives the L2 slices, L2 bytes and
DRAM channels/bandwidth in proportion to the SMs (as tests/test_llm_sanity.a100_slice), so the % of peak is
that of the whole GPU running a grid of (full SMs / slice SMs) times as many CTAs -- an estimate, stated as
such: a slice does not model the full chip's L2 crossbar contention.  Heads x batch are chosen so that every
kernel runs >= 4 CTA waves on the slice (hdim 128, 16 heads, 8 k tokens per shape scaled to the slice)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from gpusim.config import load_config
from gpusim.llm import run as M
from gpusim.llm.machines import run_gpu
from gpusim.llm.op import op_graph


def slice_overrides(gpu: str, n_sm: int) -> list[str]:
    cfg = load_config(gpu)
    share = n_sm / cfg.sm.count
    slices = max(1, round(cfg.memory.l2_slices * share))
    channels = max(1, math.ceil(cfg.memory.dram_channels * share))
    return [f"sm.count={n_sm}", f"memory.l2_slices={slices}",
            f"memory.l2_size={cfg.memory.l2_size_bytes // cfg.memory.l2_slices * slices} B",
            f"memory.dram_channels={channels}", f"memory.dram_bandwidth={cfg.memory.dram_bandwidth_bytes_per_s * share:.0f} B/s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gpu", default="a100-sxm4-80gb")
    ap.add_argument("--sms", type=int, default=8)
    ap.add_argument("--seqlens", default="512,1024,2048")
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=2048, help="batch x seqlen per shape")
    ap.add_argument("--causal", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--sample", type=int, default=4, help="CTA-wave sampling (gpusim llm --sample)")
    a = ap.parse_args()
    cfg = load_config(a.gpu, slice_overrides(a.gpu, a.sms))
    arch = M.K.arch_for_binary_version(cfg.compute_capability)
    peak = M.tensor_peak_flops(cfg, arch)
    rows = []
    for L in map(int, a.seqlens.split(",")):
        B = max(1, a.tokens // L)
        op = f"attention:batch={B},heads={a.heads},kv_heads={a.heads},q_len={L},causal={a.causal},pass=fwdbwd"
        rep = run_gpu(None, None, cfg, graph=op_graph(op), sample=a.sample)
        o = rep["operators"][0]
        clock = cfg.sm.clock_hz
        fwd_c = sum(k["cycles_total"] for k in o["kernels"] if k["kernel"].startswith("flash_attn_fwd"))
        bwd_c = sum(k["cycles_total"] for k in o["kernels"] if k["kernel"].startswith("flash_attn_bwd"))
        ffl = o["flops"] / 3.5
        r = {"op": op, "seqlen": L, "fwd_tflops_slice": ffl / (fwd_c / clock) / 1e12,
             "bwd_tflops_slice": 2.5 * ffl / (bwd_c / clock) / 1e12, "fwd_pct_peak": 100 * ffl / (fwd_c / clock) / peak,
             "bwd_pct_peak": 100 * 2.5 * ffl / (bwd_c / clock) / peak,
             "kernels": {k["kernel"]: k["cycles_total"] for k in o["kernels"]}}
        full = load_config(a.gpu)
        r["fwd_tflops_full_gpu_equiv"] = r["fwd_pct_peak"] / 100 * M.tensor_peak_flops(full, arch) / 1e12
        r["bwd_tflops_full_gpu_equiv"] = r["bwd_pct_peak"] / 100 * M.tensor_peak_flops(full, arch) / 1e12
        rows.append(r)
        print(f"{a.gpu} ({a.sms} SMs) L={L} B={B} H={a.heads}: fwd {r['fwd_pct_peak']:.1f}% of peak "
              f"({r['fwd_tflops_full_gpu_equiv']:.0f} TFLOPS full-GPU equiv.), bwd {r['bwd_pct_peak']:.1f}% "
              f"({r['bwd_tflops_full_gpu_equiv']:.0f})", flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"gpu": a.gpu, "sms": a.sms, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())

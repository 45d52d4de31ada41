"""Golden hashes of the functional SASS walker: the guard of the walker's move to ``gpusim/emu`` (issue 17
item 4, a behaviour-preserving refactor).

Walks a representative set of launches and hashes every array of each produced ``KernelTrace``
(static table and dynamic columns), or the walker's error message where it refuses one:

* every kernel that the schedules of a few model steps launch (the tiny model and Llama-3-8B / Mixtral
  prefill, decode and a training step; the GEMM selector's tiles for those shapes) on sm_80 (A100
  preset) and sm_90a (H100 preset): the first two CTAs and the last CTA of each distinct launch;
* every ``validation/micro/*.cuasm`` listing of ``gpusim clock`` (one CTA of 32 and of 64 threads,
  the default pointer parameters), through the same path as ``gpusim clock`` (``clock.listing_file``).

The stored hashes (``benchmarks/results/walk_golden.json``) are the walker's outputs BEFORE the move: a
regression guard for a refactor, not hardware truth.

Usage: PYTHONPATH=$PWD python benchmarks/walk_golden.py [--write]   (compare is the default)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "benchmarks" / "results" / "walk_golden.json"

#: (model, step) pairs whose schedules supply the LLM launches
STEPS = [
    ("tiny", "decode:batch=1,context=256"),
    ("tiny", "prefill:tokens=512"),
    ("tiny", "train:tokens=512,seq=256"),
    ("llama-3-8b", "decode:batch=8,context=1024"),
    ("llama-3-8b", "prefill:tokens=1024"),
    ("mixtral-8x7b", "decode:batch=4,context=512"),
    ("gpt3-1.3b", "train:tokens=512,seq=256"),
] + [("op", t) for t in (
    *(f"gemv:batch={b},n=4096,k=4096,dtype={d}" for b in (1, 2, 4, 8, 16) for d in ("fp16", "bf16", "int8", "int4")),
    "gemm:m=256,n=4096,k=4096", "gemm:m=4096,n=4096,k=4096", "gemm:m=128,n=128,k=16384",
    "gemm:m=1024,n=1024,k=1024,dtype=fp8", "gemm:m=4096,n=8192,k=4096,dtype=fp8", "gemm:m=256,n=4096,k=4096,dtype=fp8",
    *(f"attention:batch=1,heads=8,kv_heads=8,q_len=512,head_dim={d},causal={c},pass={p}"
      for d in (64, 80, 128, 256) for c in (0, 1) for p in ("fwd", "bwd")),
    "attention:batch=1,heads=8,kv_heads=2,q_len=512,head_dim=128,impl=fa2",
    *(f"decode_attention:batch=4,heads=32,kv_heads=8,context={c},head_dim={d}" for d in (64, 128) for c in (64, 2048)),
)]
#: sm_70 (Volta, CUDA 12 listings) as well, so the Volta GEMMs are walked too
ARCHS = ["sm_70", "sm_80", "sm_90a"]
TRACE_FIELDS = ["st_pc", "st_ndst", "st_dst", "st_nsrc", "st_src", "st_mem_width", "st_imm", "st_line", "cta_xyz",
                "cta_warp_ptr", "warp_slot", "warp_inst_ptr", "inst_static", "inst_mask", "inst_mem", "mem_mode",
                "mem_base", "mem_stride", "mem_ptr", "lane_off"]


#: trace rows kept as int32 when every value fits, else int64 (gpusim/frontend/reader.py narrow_int): hashed as
#: int64 so that the golden file records values, not the storage width
NARROWED = ("inst_mem", "mem_stride", "mem_ptr", "lane_off")


def trace_hash(kt) -> str:
    h = hashlib.blake2b(digest_size=12)
    for f in TRACE_FIELDS:
        a = np.ascontiguousarray(getattr(kt, f))
        if f in NARROWED and a.dtype == np.int32:
            a = a.astype(np.int64)      # stored int32 where the values fit (reader.narrow_int): hash the values
        h.update(f"{f}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    h.update(repr(tuple(kt.st_opcode)).encode())
    return h.hexdigest()


def _walk(fn) -> tuple[str, int]:
    from gpusim.errors import GpusimError

    try:
        kt = fn()
    except GpusimError as e:
        return "error: " + hashlib.blake2b(str(e).encode(), digest_size=8).hexdigest(), 0
    return trace_hash(kt), int(kt.inst_static.size)


def llm_cases(out: dict) -> int:
    from gpusim.llm.graph import build_graph
    from gpusim.llm.launch import schedule
    from gpusim.errors import GpusimError
    from gpusim.llm.model import load_model_step
    from gpusim.llm.op import op_graph
    from gpusim.llm.train import build_train_graph
    from gpusim.llm.walker import trace_kernel

    n_inst = 0
    seen: set[str] = set()
    for model, step in STEPS:
        if model == "op":
            g, train = op_graph(step), False
        else:
            m, st = load_model_step(model, step)
            g, train = (build_train_graph(m, st), True) if st.train else (build_graph(m, st), False)
        for arch in ARCHS:
            if train and arch != "sm_80":
                continue
            try:
                launches, _ = schedule(g, arch, True)
            except GpusimError as e:
                out[f"{arch}:{model}:{step}:schedule"] = "error: " + type(e).__name__
                continue
            for kl in launches:
                c = kl.call
                lk = f"{arch}:{c.name}:{c.launch.grid}:{c.launch.block}"
                if lk in seen:
                    continue
                seen.add(lk)
                n = c.launch.num_ctas
                for lo, hi in ((0, min(2, n)), (n - 1, n)):
                    h, k = _walk(lambda: trace_kernel(c.kernel, c.launch, range(lo, hi)))
                    out[f"{lk}:ctas{lo}-{hi}"] = h
                    n_inst += k
    # tiles no schedule above picks: called directly
    from gpusim.llm import kernels as K
    A, Wt, C = 1 << 40, 2 << 40, 3 << 40
    direct = [("sm_80", lambda: K.gemm("sm_80", 256, 256, 256, A, Wt, C)),
              ("sm_90a", lambda: K.gemm_wgmma(256, 256, 256, A, Wt, C, tile="64x128")),
              ("sm_90a", lambda: K.gemm_wgmma(4096, 8192, 4096, A, Wt, C, tile="128x256")),
              ("sm_70", lambda: K.gemm_volta("sm_70", 256, 256, 256, A, Wt, C, name="gemm_f16_tn_volta_128x128x32_s2"))]
    for arch, mk in direct:
        try:
            c = mk()
        except GpusimError as e:
            out[f"{arch}:direct:{len(out)}"] = "error: " + type(e).__name__
            continue
        n = c.launch.num_ctas
        for lo, hi in ((0, min(2, n)), (n - 1, n)):
            h, k = _walk(lambda: trace_kernel(c.kernel, c.launch, range(lo, hi)))
            out[f"{arch}:{c.name}:{c.launch.grid}:{c.launch.block}:ctas{lo}-{hi}"] = h
            n_inst += k
    return n_inst


def micro_cases(out: dict) -> int:
    from gpusim.api import listing_params, parse_listing_args
    from gpusim.clock import DEFAULT_BUFFER, DEFAULT_POINTER_PARAMS, listing_file
    from gpusim.llm.walker import Launch, kernel_from_listing, trace_kernel

    parsed = parse_listing_args([f"p{i}=ptr:{DEFAULT_BUFFER}" for i in range(DEFAULT_POINTER_PARAMS)])
    params, _ = listing_params(parsed)
    n_inst = 0
    for src in sorted((REPO / "validation" / "micro").glob("*.cuasm")):
        with tempfile.TemporaryDirectory() as td:
            lp = listing_file(src, Path(td), None, {})
            for threads in (32, 64):
                def go():
                    kb = kernel_from_listing(lp, None, [(n, t) for n, t, _ in parsed])
                    return trace_kernel(kb, Launch((1, 1, 1), (threads, 1, 1), params))
                h, k = _walk(go)
                out[f"micro:{src.name}:{threads}"] = h
                n_inst += k
    return n_inst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="store the hashes instead of comparing")
    a = ap.parse_args()
    out: dict[str, str] = {}
    t0 = time.perf_counter()
    n = llm_cases(out) + micro_cases(out)
    dt = time.perf_counter() - t0
    errors = sum(v.startswith("error") for v in out.values())
    print(f"walk_golden: {len(out)} walks ({errors} refused), {n} warp instructions, {dt:.1f} s", file=sys.stderr)
    if a.write:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN}")
        return 0
    old = json.loads(GOLDEN.read_text())
    diff = sorted(k for k in set(old) | set(out) if old.get(k) != out.get(k))
    for k in diff[:20]:
        print(f"DIFFERENT {k}: {old.get(k)} -> {out.get(k)}")
    print("walk_golden: identical" if not diff else f"walk_golden: {len(diff)} of {len(old)} differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())

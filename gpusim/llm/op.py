"""One operator alone: ``gpusim llm --op gemm:m=4096,n=4096,k=4096 --gpu CFG``.

A user who measured one GEMM or one attention call on their GPU wants the simulator's number for
exactly that shape, chosen and run the way a serving step would run it (same kernel selection,
same kernels, same report).  This module parses an operator description into a one-operator
:class:`~gpusim.llm.graph.OperatorGraph`; :func:`gpusim.llm.run.simulate_step` runs it like any
step (``graph=``), and the report's ``operators[0]`` carries ``seconds``, ``flops_per_s``,
``dram_bytes_per_s`` and the chosen kernel(s) with their tile.

Grammar (``kind:key=value,...``; sizes are integers)::

    gemm:m=M,n=N,k=K[,dtype=fp16|bf16|fp8|int8|int4][,group=G]
                                                   Y[M,N] = X[M,K] W[N,K]^T (nn.Linear layout; fp8 = e4m3 on sm_90a;
                                                   int8 / int4 = weight-only quantised weights with fp16
                                                   activations, M <= 16: the dequantising GEMVs; int4 scales
                                                   per G weights along K, default 128)
    gemv:batch=B,n=N,k=K[,dtype=...][,group=G]    the same with M = B decode rows, as a decode step runs
                                                   them (B = 1: the GEMV; 2-8: the tensor-core GEMM on
                                                   sm_80/86/89/90a, the GEMV of B rows elsewhere)
    attention:batch=B,heads=H,kv_heads=G,q_len=Q[,kv_len=L][,head_dim=128][,causal=0|1][,impl=auto|fa2|fa3]
              [,pass=fwd|bwd|fwdbwd]
                                                   prefill attention (the queries are the last Q of L
                                                   positions: chunked prefill when L > Q): on sm_90a the
                                                   FlashAttention-3-style forward, head_dim 128 or 256;
                                                   FlashAttention-2 elsewhere, head_dim 64 / 80 / 128 / 256
                                                   (sm_80; sm_86/89: 128); impl=fa2 / fa3 names the kernel
                                                   family instead (fa2 on sm_90a: 64 / 80 / 128 / 256);
                                                   pass=bwd: FlashAttention-2's backward (dQ, dK, dV: preprocess,
                                                   main kernel, dQ conversion; head_dim 64 / 128, sm_80 /
                                                   sm_90a), pass=fwdbwd: forward then backward, one operator
    decode_attention:batch=B,heads=H,kv_heads=G,context=C[,head_dim=128]
                                                   one new token per sequence attending to C positions

FLOPs and minimum bytes follow :mod:`gpusim.llm.graph`'s conventions (a multiply-add is 2 FLOPs;
attention counts the causal triangle).  The attention backward pass counts 2.5x the forward FLOPs
(FlashAttention-2's benchmark convention: five matrix products instead of two; the recomputation of S
is not counted extra), fwdbwd 3.5x.  A shape or dtype no kernel can run is refused with one
line naming the operator and the reason (exit status 2), never run on a substitute.
"""

from __future__ import annotations

import difflib

from gpusim.errors import GpusimError
from gpusim.llm.graph import Operator, OperatorGraph, Tensor
from gpusim.llm.model import DEFAULT_WEIGHT_GROUP, DTYPE_BITS, ModelSpec, RequestGroup, Step, quant_scale_bytes

#: keys per operator kind: (required, optional with defaults)
OP_KEYS: dict[str, tuple[tuple[str, ...], dict[str, int | str]]] = {
    "gemm": (("m", "n", "k"), {"dtype": "fp16", "group": 0}),
    "gemv": (("batch", "n", "k"), {"dtype": "fp16", "group": 0}),
    "attention": (("batch", "heads", "kv_heads", "q_len"), {"kv_len": 0, "head_dim": 128, "causal": 1, "dtype": "fp16",
                                                          "impl": "auto", "pass": "fwd"}),
    "decode_attention": (("batch", "heads", "kv_heads", "context"), {"head_dim": 128, "dtype": "fp16"}),
}
#: prefill attention kernels a user may name (``impl=``): auto = the arch's own (FA3-style on sm_90a,
#: FA2-style elsewhere), fa2 / fa3 = that kernel family (refused where it is not built)
ATTN_IMPLS = ("auto", "fa2", "fa3")
#: attention passes (``pass=``) and their FLOPs relative to the forward pass (FlashAttention-2's
#: convention: benchmarks/benchmark_flash_attention.py counts bwd as 2.5x fwd, Dao-AILab/flash-attention @
#: 0251105a2fb19d2957484b7f023cd8c115286ced)
ATTENTION_PASSES = {"fwd": 1.0, "bwd": 2.5, "fwdbwd": 3.5}
#: dtypes the project's kernels compute in (bf16 runs the fp16 kernels unchanged: same widths, same
#: tensor-core rate on Ampere and Hopper; fp8 = e4m3 GEMMs on Hopper only, refused elsewhere when run;
#: int8 / int4 = weight-only quantised GEMM / GEMV weights, fp16 activations)
OP_DTYPES = ("fp16", "bf16", "fp8", "int8", "int4")
#: dtypes that describe only the weights of a GEMM / GEMV (the rest of the operator is fp16)
WEIGHT_ONLY = ("int8", "int4")


class OpError(GpusimError):
    """A malformed ``--op`` description or a shape no kernel can run."""


#: keys whose value is one of a named set (the rest are integers)
_CHOICE_KEYS = {"impl": ATTN_IMPLS, "pass": tuple(ATTENTION_PASSES), "dtype": tuple(DTYPE_BITS)}


def parse_op(text: str) -> tuple[str, dict]:
    """``kind:key=value,...`` -> (kind, values with defaults filled in).  OpError names the part at fault."""
    if not text or not text.strip():
        raise OpError("op: empty (e.g. gemm:m=4096,n=4096,k=4096)")
    kind, sep, body = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in OP_KEYS:
        near = difflib.get_close_matches(kind, sorted(OP_KEYS), n=1)
        raise OpError(f"op '{text}': unknown operator '{kind}' (one of {', '.join(OP_KEYS)})"
                      + (f"; did you mean '{near[0]}'?" if near else ""))
    if not sep:
        raise OpError(f"op '{text}': expected '{kind}:key=value,...'")
    required, optional = OP_KEYS[kind]
    vals: dict = dict(optional)
    seen: set[str] = set()
    for item in filter(None, (x.strip() for x in body.split(","))):
        k, eq, v = item.partition("=")
        k, v = k.strip().lower(), v.strip()
        if not eq or k not in (*required, *optional):
            near = difflib.get_close_matches(k, sorted((*required, *optional)), n=1)
            raise OpError(f"op '{text}': '{item}': expected key=value with key in {sorted((*required, *optional))}"
                          + (f" (did you mean '{near[0]}'?)" if near else ""))
        if k in seen:
            raise OpError(f"op '{text}': '{k}' given twice")
        seen.add(k)
        choices = _CHOICE_KEYS.get(k)
        if choices is not None:        # impl / pass / dtype: one of a named set
            v = v.lower()
            if v not in choices:
                raise OpError(f"op '{text}': {k} '{v}' unknown (one of {', '.join(choices)})")
            vals[k] = v
            continue
        try:
            iv = int(v)
        except ValueError:
            raise OpError(f"op '{text}': '{item}': value must be an integer") from None
        if iv < (0 if k == "causal" else 1) or (k == "causal" and iv > 1):
            raise OpError(f"op '{text}': '{item}': out of range")
        vals[k] = iv
    missing = [k for k in required if k not in seen]
    if missing:
        raise OpError(f"op '{text}': missing {', '.join(missing)}")
    if vals["dtype"] not in OP_DTYPES:
        raise OpError(f"op '{text}': dtype {vals['dtype']}: gpusim's kernels compute in "
                      f"{' / '.join(OP_DTYPES)} (no {vals['dtype']} kernel yet)")
    if vals["dtype"] in WEIGHT_ONLY and kind not in ("gemm", "gemv"):
        raise OpError(f"op '{text}': dtype {vals['dtype']} is a weight-only format (gemm / gemv weights); "
                      f"no {vals['dtype']} {kind} kernel")
    if "group" in vals:
        if vals["group"] and vals["dtype"] != "int4":
            raise OpError(f"op '{text}': group applies to dtype=int4 only")
        if vals["dtype"] == "int4":
            g = vals["group"] = vals["group"] or DEFAULT_WEIGHT_GROUP
            if g & (g - 1):
                raise OpError(f"op '{text}': group {g} must be a power of two")
    return kind, vals


def _nbytes(shape: tuple[int, ...], dtype: str) -> int:
    n = 1
    for s in shape:
        n *= s
    return (n * DTYPE_BITS[dtype] + 7) // 8


def op_graph(text: str) -> OperatorGraph:
    """The one-operator graph of ``text`` (module grammar).  Its model is a stand-in named after the
    operator (no weights beyond the operator's own); its step has the operator's rows as tokens."""
    kind, v = parse_op(text)
    dt = v["dtype"]
    tensors: dict[str, Tensor] = {}

    def t(name: str, shape: tuple[int, ...]) -> str:
        tensors[name] = Tensor(name, shape, dt)
        return name

    if kind in ("gemm", "gemv"):
        M = v["m"] if kind == "gemm" else v["batch"]
        N, K = v["n"], v["k"]
        wdt, adt = dt, ("fp16" if dt in WEIGHT_ONLY else dt)
        g = v.get("group") or DEFAULT_WEIGHT_GROUP
        dt = adt
        x, y = t("op.x", (M, K)), t("op.y", (M, N))
        w = "op.weight"
        tensors[w] = Tensor(w, (N, K), wdt)
        ins: tuple[str, ...] = (x, w)
        sb = quant_scale_bytes(wdt, N, K, g) if wdt in WEIGHT_ONLY else 0
        if sb:
            tensors["op.scales"] = Tensor("op.scales", (sb // 2,), "fp16")
            ins = (x, w, "op.scales")
        wbytes = _nbytes((N, K), wdt) + sb
        shape = {"M": M, "N": N, "K": K, **({"group": g} if wdt == "int4" else {})}
        op = Operator("op.gemm", "gemm", 1, shape, adt, 2 * M * N * K,
                      _nbytes((M, K), adt) + wbytes, _nbytes((M, N), adt), ins, (y,), wdt, wbytes)
        model = ModelSpec(name=f"op {kind}", layers=1, hidden=K, heads=1, kv_heads=1, ffn=N, vocab=N, head_dim=128,
                          dtype=adt, weight_dtype=wdt, kv_dtype=adt, weight_group=g)
        step = Step((RequestGroup("prefill", 1, M, 0, sample=False),), text.strip())
        return OperatorGraph(model=model, step=step, tp=1, operators=(op,), tensors=tensors)

    B, H, G, D = v["batch"], v["heads"], v["kv_heads"], v["head_dim"]
    if H % G:
        raise OpError(f"op '{text}': heads {H} is not a multiple of kv_heads {G}")
    if kind == "attention":
        q = v["q_len"]
        L = v["kv_len"] or q
        if L < q:
            raise OpError(f"op '{text}': kv_len {L} < q_len {q} (the queries are the last q_len of kv_len positions)")
        causal = bool(v["causal"])
        phase, past = "prefill", L - q
        pairs = q * past + q * (q + 1) // 2 if causal else q * L
    else:
        q, L, causal, phase = 1, v["context"], True, "decode"
        past, pairs = L - 1, L
    ps = v.get("pass", "fwd")
    flops = int(4 * D * pairs * H * B * ATTENTION_PASSES[ps])
    rd = _nbytes((B, q, H, D), dt) + 2 * _nbytes((B, L, G, D), dt)
    wr = _nbytes((B, q, H, D), dt)
    if ps != "fwd":   # backward: reads Q, K, V, O, dO (+ LSE), writes dQ, dK, dV
        rd, wr = 3 * _nbytes((B, q, H, D), dt) + 2 * _nbytes((B, L, G, D), dt), _nbytes((B, q, H, D), dt) + 2 * _nbytes((B, L, G, D), dt)
        if ps == "fwdbwd":
            rd, wr = rd + _nbytes((B, q, H, D), dt) + 2 * _nbytes((B, L, G, D), dt), wr + _nbytes((B, q, H, D), dt)
    t("layer.qkv", (B * q, (H + 2 * G) * D))
    t("layer.kv_cache", (B, L, 2 * G, D))
    t("layer.attn_out", (B * q, H * D))
    op = Operator(f"op.attn.{phase}0", "attention", 1,
                  {"batch": B, "heads": H, "kv_heads": G, "head_dim": D, "q_len": q, "kv_len": L, "causal": causal,
                   "phase": phase, **({"impl": v["impl"]} if v.get("impl", "auto") != "auto" else {}),
                   **({"pass": ps} if ps != "fwd" else {})}, dt, flops, rd, wr,
                  ("layer.qkv", "layer.kv_cache"), ("layer.attn_out",))
    model = ModelSpec(name=f"op {kind}", layers=1, hidden=H * D, heads=H, kv_heads=G, ffn=H * D, vocab=1,
                      head_dim=D, max_positions=max(L, 1), dtype=dt, weight_dtype=dt, kv_dtype=dt)
    step = Step((RequestGroup(phase, B, q, past, sample=False),), text.strip())
    return OperatorGraph(model=model, step=step, tp=1, operators=(op,), tensors=tensors)

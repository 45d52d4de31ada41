"""Operator graphs that are not LLM steps, for the validation checks: a peak-rate GEMM (V1, V11), the
Monarch-FFT toy graph of the SN40L paper's Fig. 3 (V2) and FlashFFTConv at 1M sequence length (V3);
and the Table III benchmark list (V5).  They use :class:`gpusim.ops.graph.Operator` so the same lowering
runs them.

Shapes the paper does not publish are reconstructions, named in each builder's docstring.
"""

from __future__ import annotations

from gpusim.accel.rdu.lower import Lowering
from gpusim.accel.rdu.spec import RDUSpec
from gpusim.ops.graph import Operator, OperatorGraph, Tensor
from gpusim.llm.model import ModelSpec, Step, model_from_dict

__all__ = ["gemm_graph", "monarch_graph", "flashfftconv_graph", "traffic", "MISTRAL_7B", "TABLE_III"]

_E = 2  # bytes per BF16 element (the paper's benchmarks run in BF16, [paper] Table II)

# A stand-in model for graphs that are not LLMs (the graph type carries one).
_MICRO = model_from_dict({"name": "micro-program", "layers": 1, "hidden": 64, "heads": 1, "kv_heads": 1,
                          "ffn": 64, "vocab": 64, "dtype": "bf16", "sources": ["not a model: a test program"]})

#: Mistral-7B v0.1, for the Table III benchmarks (not a shared preset; same SwiGLU decoder as Llama).
MISTRAL_7B: ModelSpec = model_from_dict({
    "name": "mistral-7b", "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8, "ffn": 14336, "vocab": 32000,
    "max_positions": 32768, "rope_theta": 10000.0, "dtype": "bf16",
    "sources": ["Jiang et al., Mistral 7B, arXiv:2310.06825 (2023), Table 1: dim 4096, n_layers 32, head_dim 128, "
                "hidden_dim 14336, n_heads 32, n_kv_heads 8, vocab_size 32000 (sliding window not modelled)"]})

#: [paper] Table III benchmarks that the shared operator graph can express (SwiGLU decoders): name, model,
#: sequence length.  Bloom-176B and Falcon-40B (GeLU MLP, LayerNorm, parallel attention) and LLaVA1.5-7B
#: (a Llama-2-7B language model behind a vision tower) are left out; sparseGPT-13B is training.
TABLE_III = (("llama2-7b-4k", "llama-2-7b", 4096), ("llama2-70b-4k", "llama-2-70b", 4096),
             ("mistral-7b-2k", MISTRAL_7B, 2048), ("mistral-7b-4k", MISTRAL_7B, 4096))


def _graph(name: str, ops: list[Operator], tensors: dict[str, Tensor], tp: int = 1) -> OperatorGraph:
    return OperatorGraph(model=_MICRO, step=Step((), name), tp=tp, operators=tuple(ops), tensors=tensors)


def _t(tensors: dict, name: str, shape: tuple[int, ...]) -> str:
    tensors[name] = Tensor(name, shape, "bf16")
    return name


def gemm_graph(M: int, N: int, K: int) -> OperatorGraph:
    """Y[M,N] = X[M,K] W[N,K]^T in BF16, X and W in HBM, Y written back (the V1/V11 peak-rate microbenchmark)."""
    ts: dict[str, Tensor] = {}
    x, w, y = _t(ts, "x", (M, K)), _t(ts, "w.weight", (N, K)), _t(ts, "y", (M, N))
    op = Operator("gemm", "gemm", 1, {"M": M, "N": N, "K": K}, "bf16", 2 * M * N * K,
                  ts[x].bytes + ts[w].bytes, ts[y].bytes, (x, w), (y,), "bf16", ts[w].bytes)
    return _graph(f"gemm {M}x{N}x{K}", [op], ts)


def _gemm(ts, name, x, y, rows, M, K, N, wname=None) -> Operator:
    w = _t(ts, wname or f"{name}.weight", (N, K))
    _t(ts, y, (rows, M * N // rows))
    return Operator(name, "gemm", 1, {"rows": rows, "M": M, "N": N, "K": K}, "bf16", 2 * M * N * K,
                    ts[x].bytes + ts[w].bytes, ts[y].bytes, (x, w), (y,), "bf16", ts[w].bytes)


def _pointwise(ts, name, ins, y, rows, cols, flops_per_elem) -> Operator:
    _t(ts, y, (rows, cols))
    return Operator(name, "cmul", 1, {"rows": rows, "cols": cols}, "bf16", flops_per_elem * rows * cols,
                    sum(ts[i].bytes for i in ins), ts[y].bytes, tuple(ins), (y,))


def _transpose(ts, name, x, y) -> Operator:
    _t(ts, y, ts[x].shape)
    return Operator(name, "transpose", 1, {"rows": ts[x].shape[0]}, "bf16", 0, ts[x].bytes, ts[y].bytes, (x,), (y,))


def monarch_graph(batch: int = 1024, n: int = 256) -> OperatorGraph:
    """The simplified Monarch FFT graph of [paper] Fig. 3 — Gemm0 -> Mul -> Transpose0 -> Gemm1 -> Transpose1 —
    on ``batch`` sequences of n x n points, real BF16, with an n x n DFT matrix per GEMM and an n x n twiddle
    matrix.  The figure's shapes are not in the text, so ``batch`` and ``n`` are a reconstruction (n = 256,
    batch = 1024); Table I's operational intensities (39.5 / 102.6 / 410.4) are compared with tolerance."""
    ts: dict[str, Tensor] = {}
    nn = n * n
    x = _t(ts, "x", (batch, nn))
    tw = _t(ts, "twiddle", (1, nn))
    ops = [
        _gemm(ts, "gemm0", x, "g0", batch, batch * n, n, n),
        _pointwise(ts, "mul", ("g0", tw), "m0", batch, nn, 1),
        _transpose(ts, "transpose0", "m0", "t0"),
        _gemm(ts, "gemm1", "t0", "g1", batch, batch * n, n, n),
        _transpose(ts, "transpose1", "g1", "y"),
    ]
    return _graph("monarch-fft toy", ops, ts)


def flashfftconv_graph(rows: int = 128, n: int = 32, order: int = 4) -> OperatorGraph:
    """FlashFFTConv (Fu et al., arXiv:2311.05908) of ``rows`` (batch x channels) sequences of ``n**order``
    points (32**4 = 1M): forward FFT as ``order`` Monarch stages (complex n-point DFT as a real GEMM with
    K = N = 2n, twiddle multiply, transpose), a pointwise complex multiply by the kernel's FFT (one per
    sequence), and the inverse FFT the same way.  Complex tensors are BF16 (re, im) pairs.  The n = 32 DFT
    matrices follow the SN40L paper's remark that the graph pipelines many tiny (<= 32x32x32) GEMMs
    ([paper] sec. III-A); ``rows`` is not published (reconstruction: 128;
    the unfused/fused ratio moves from 12.5x to 14.5x for 64 to 512 rows).  Unfused, each of these PyTorch-level
    operators is one kernel with its output in HBM; fused, the whole convolution is one kernel."""
    ts: dict[str, Tensor] = {}
    N = n ** order
    cols_c = 2 * N            # complex as (re, im) BF16 pairs
    x = _t(ts, "u", (rows, N))
    kf = _t(ts, "k_fft", (rows, cols_c))
    ops: list[Operator] = []
    cur, cur_cols = x, N
    M = rows * N // n         # GEMM rows: every n-point DFT of every sequence
    for direction in ("fwd", "inv"):
        for s in range(order):
            last = direction == "inv" and s == order - 1
            K = (n if cur_cols == N else 2 * n)
            Nout = n if last else 2 * n
            g = f"{direction}{s}"
            ops.append(_gemm(ts, f"{g}.dft", cur, f"{g}.y", rows, M, K, Nout, wname=f"{g}.dft.weight"))
            cur, cur_cols = f"{g}.y", ts[f"{g}.y"].shape[1]
            if s < order - 1:
                tw = _t(ts, f"{g}.twiddle", (1, cols_c))
                ops.append(_pointwise(ts, f"{g}.twiddle_mul", (cur, tw), f"{g}.tw", rows, cur_cols, 6))
                ops.append(_transpose(ts, f"{g}.transpose", f"{g}.tw", f"{g}.t"))
                cur = f"{g}.t"
        if direction == "fwd":
            ops.append(_pointwise(ts, "kernel_mul", (cur, kf), "conv", rows, cols_c, 6))
            cur = "conv"
    return _graph(f"flashfftconv {rows}x{N}", ops, ts)


def traffic(spec: RDUSpec, g: OperatorGraph, sections: list[list[int]]) -> tuple[float, int]:
    """(FLOPs, HBM bytes) of ``g`` lowered as ``sections`` (each a list of operator indices): the traffic
    accounting of [paper] Table I — inside a section tensors stream on chip, across sections through HBM."""
    low = Lowering(spec, g)
    flops = sum(o.flops * o.count for o in g.operators)
    return flops, sum(low.build(list(s), f"s{k}").hbm_bytes for k, s in enumerate(sections))

"""gpusim's own LLM kernels: their committed listings, parameter layouts and launch builders.

The kernels are CUDA C++ under ``traces/kernels/src/``; ``traces/kernels/build.py`` compiles them
for sm_80, sm_86, sm_89 and sm_90a and writes ``traces/kernels/sass/<arch>/*.sass`` (nvdisasm -c
-hex) and ``manifest.json`` (registers, shared memory, parameter offsets and the parameter base
in constant bank 0, all read from the cubin).  ``traces/kernels/kernels.yaml`` names every
kernel's parameters and launch constants.  This module turns those files into
:class:`~gpusim.llm.walker.KernelBinary` objects and builds :class:`~gpusim.llm.walker.Launch`
objects for given shapes, checking each kernel's preconditions (GpusimError otherwise).

Layouts (all fp16 unless noted, row-major, element offsets):
    GEMM / GEMV      C[M, N] = A[M, K] . W[N, K]^T (nn.Linear weight layout)
    attention        Q [batch, tokens, heads, 128], K/V cache [batch, positions, kv_heads, 128]
    decode attention Q [batch, heads, 128]; partial outputs Opart [batch, heads, splits, 128] fp32,
                     ML [batch, heads, splits] float2 (running max, sum)
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from gpusim.errors import GpusimError
from gpusim.frontend.reader import KernelTrace
from gpusim.frontend.sass import parse_sass_listing
from gpusim.llm.walker import (
    KernelBinary,
    Launch,
    ParamSpec,
    TensorMap,
    trace_kernel,
    walk,
)

KERNELS_DIR = Path(__file__).resolve().parents[2] / "traces" / "kernels"
ARCHS = ("sm_80", "sm_86", "sm_89", "sm_90a")
HEAD_DIM = 128  #: head dimension compiled into the attention kernels (all presets use 128)
#: Keys per split of split-KV decode attention when the caller does not choose (FlashDecoding
#: splits the KV range so that batch x heads x splits CTAs fill the GPU; 256 keys keeps a split's
#: loop long enough to hide its prologue).  A modelling choice of this project, not a measured value.
DEFAULT_SPLIT_KEYS = 256
MAX_SPLITS = 128    #: decode_attn_combine keeps one (max, sum) pair per split in shared memory, 128 slots
GEMV_BATCHES = (1, 2, 4, 8)


class KernelError(GpusimError):
    """A kernel that does not exist for an architecture, or shapes that break a kernel's preconditions."""


@dataclass(frozen=True)
class KernelCall:
    """A kernel and one launch of it."""

    kernel: KernelBinary
    launch: Launch

    @property
    def name(self) -> str:
        return self.kernel.name

    def trace(self, ctas: range | None = None) -> KernelTrace:
        return trace_kernel(self.kernel, self.launch, ctas)

    def walk(self, ctas: range | None = None, chunk_ctas: int | None = None):
        return walk(self.kernel, self.launch, ctas, chunk_ctas)


@functools.lru_cache(maxsize=1)
def kernel_specs() -> dict:
    """``traces/kernels/kernels.yaml``: kernel name -> source, block, params, tile constants."""
    return yaml.safe_load((KERNELS_DIR / "kernels.yaml").read_text())["kernels"]


@functools.lru_cache(maxsize=8)
def _manifest(arch: str) -> dict:
    p = KERNELS_DIR / "sass" / arch / "manifest.json"
    if not p.is_file():
        raise KernelError(f"{p}: no listings for {arch} (have: {', '.join(ARCHS)}; regenerate with "
                          f"traces/kernels/build.py)")
    return json.loads(p.read_text())


@functools.lru_cache(maxsize=32)
def _listing(arch: str, file: str):
    return parse_sass_listing(KERNELS_DIR / "sass" / arch / file)


@functools.lru_cache(maxsize=128)
def load_kernel(name: str, arch: str) -> KernelBinary:
    """The committed listing of kernel ``name`` for ``arch`` with its parameter layout and resources."""
    man = _manifest(arch)
    k = man["kernels"].get(name)
    if k is None:
        raise KernelError(f"kernel '{name}' is not built for {arch} (built: {', '.join(sorted(man['kernels']))})")
    fn = _listing(arch, k["listing"]).find_function(name)
    if fn is None:
        raise KernelError(f"{KERNELS_DIR / 'sass' / arch / k['listing']}: no function '{name}' (stale manifest?)")
    params = tuple(ParamSpec(p["name"], p["type"], p["offset"], p["size"]) for p in k["params"])
    return KernelBinary(function=fn, arch=arch, params=params, param_base=k["param_base"],
                        registers=k["registers"], static_shared_bytes=k["static_shared_bytes"])


def arch_for_binary_version(v: int) -> str:
    """Listing directory for a GPU's compute capability (x10): the newest built target not newer
    than it (sm_90 uses the sm_90a listings, whose extra instructions only the wgmma GEMM uses)."""
    nums = {80: "sm_80", 86: "sm_86", 89: "sm_89", 90: "sm_90a"}
    best = [n for n in nums if n <= v]
    if not best:
        raise KernelError(f"no kernel listings for compute capability {v / 10:.1f} (oldest built: sm_80)")
    return nums[max(best)]


def _block(name: str) -> tuple[int, int, int]:
    return tuple(kernel_specs()[name]["block"])  # type: ignore[return-value]


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise KernelError(msg)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------------------------------
# launch builders
# --------------------------------------------------------------------------------------------


def gemm(arch: str, M: int, N: int, K: int, A: int, W: int, C: int) -> KernelCall:
    """C[M,N] = A[M,K] . W[N,K]^T with the cp.async + mma.sync kernel (128x128x32 tiles, 3 stages)."""
    name = "gemm_f16_tn_128x128x32_s3"
    t = kernel_specs()[name]["tile"]
    _need(min(M, N, K) >= 1, f"{name}: M, N, K must be positive (got {M}, {N}, {K})")
    _need(K % t["BK"] == 0, f"{name}: K = {K} must be a multiple of {t['BK']}")
    _need(N % 8 == 0, f"{name}: N = {N} must be a multiple of 8")
    grid = (_cdiv(N, t["BN"]), _cdiv(M, t["BM"]), 1)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), dict(A=A, W=W, C=C, M=M, N=N, K=K)))


#: The multistage mma.sync GEMM family of gemm_multistage.cu (sm_80 / sm_86 / sm_89; 128x256x64 on
#: sm_80 only: kernels.yaml ``archs``), largest tile first; gpusim.llm.gemm_select picks one per shape.
GEMM_MULTISTAGE = ("gemm_f16_tn_128x256x64_s3", "gemm_f16_tn_128x256x32_s3", "gemm_f16_tn_128x128x32_s4",
                   "gemm_f16_tn_128x64x32_s6", "gemm_f16_tn_64x64x32_s6")
GEMM_MULTISTAGE_ARCHS = ("sm_80", "sm_86", "sm_89")
SPLITK_REDUCE = "gemm_splitk_reduce_f16"
#: K granularity of the multistage kernels: 16-byte cp.async chunks of fp16 rows (CUTLASS's alignment-8
#: f16 kernels have the same requirement); a K tile past K is zero-filled chunk by chunk.
GEMM_K_ALIGN = 8


def gemm_tile(name: str) -> dict:
    """Launch constants of a GEMM kernel (kernels.yaml ``tile``) plus its ``threads`` and ``smem`` bytes."""
    t = dict(kernel_specs()[name]["tile"])
    t["threads"] = _block(name)[0]
    t["smem"] = t["stages"] * (t["BM"] + t["BN"]) * t["BK"] * 2
    return t


def gemm_multistage(arch: str, name: str, M: int, N: int, K: int, A: int, W: int, C: int, P: int = 0,
                    splits: int = 1) -> KernelCall:
    """C[M,N] = A[M,K] . W[N,K]^T with one kernel of the multistage family, any M and N, K % 8 == 0.
    ``splits`` > 1: split-K, the CTAs of grid z write fp32 partials to ``P`` [splits, M, N] and
    :func:`gemm_splitk_reduce` must follow.  Returns the launch; ``splits`` is clipped so that every
    split gets at least one k tile (the grid's z is the effective count)."""
    _need(name in GEMM_MULTISTAGE, f"gemm: no multistage kernel '{name}' (have {', '.join(GEMM_MULTISTAGE)})")
    built = kernel_specs()[name].get("archs", GEMM_MULTISTAGE_ARCHS)
    _need(arch in built, f"{name}: built for {', '.join(built)}, not {arch}")
    _need(min(M, N, K) >= 1, f"{name}: M, N, K must be positive (got {M}, {N}, {K})")
    _need(K % GEMM_K_ALIGN == 0, f"{name}: K = {K} must be a multiple of {GEMM_K_ALIGN} (16-byte rows of A and W)")
    _need(M * N * max(splits, 1) < 2 ** 31, f"{name}: M*N*splits = {M * N * splits} does not fit the kernel's int32 indices")
    _need(splits == 1 or P != 0, f"{name}: split-K over {splits} splits needs a workspace P")
    t = gemm_tile(name)
    kt = _cdiv(K, t["BK"])
    ktps = _cdiv(kt, max(1, min(splits, kt)))
    z = _cdiv(kt, ktps)
    grid = (_cdiv(N, t["BN"]), _cdiv(M, t["BM"]), z)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), dict(A=A, W=W, C=C, P=P, M=M, N=N, K=K,
                                                                                    ktps=ktps),
                                                      dynamic_shared_bytes=t["smem"]))


def gemm_splitk_reduce(arch: str, M: int, N: int, P: int, C: int, splits: int) -> KernelCall:
    """C[M,N] (fp16) = sum over ``splits`` of the fp32 partials P[z, M, N] of a split-K GEMM."""
    _need(splits >= 2, f"{SPLITK_REDUCE}: needs at least 2 splits (got {splits})")
    MN = M * N
    grid = (_cdiv(MN, 256 * kernel_specs()[SPLITK_REDUCE]["tile"]["elements_per_thread"]), 1, 1)
    return KernelCall(load_kernel(SPLITK_REDUCE, arch),
                      Launch(grid, _block(SPLITK_REDUCE), dict(P=P, C=C, MN=MN, splits=splits)))


def gemm_wgmma(M: int, N: int, K: int, A: int, W: int, C: int, arch: str = "sm_90a") -> KernelCall:
    """The same GEMM with TMA + wgmma (sm_90a): 64x128x64 tiles, 4 stages, 32-row TMA boxes."""
    name = "gemm_f16_tn_wgmma_64x128x64_s4"
    t = kernel_specs()[name]["tile"]
    _need(K % t["BK"] == 0, f"{name}: K = {K} must be a multiple of {t['BK']}")
    _need(N % 8 == 0, f"{name}: N = {N} must be a multiple of 8")
    box = (t["tma_box_cols"], t["tma_box_rows"])
    maps = {"tmA": TensorMap(A, (K, M), 2 * K, box), "tmW": TensorMap(W, (K, N), 2 * K, box)}
    grid = (_cdiv(N, t["BN"]), _cdiv(M, t["BM"]), 1)
    smem = t["stages"] * (t["BM"] + t["BN"]) * t["BK"] * 2 + 1024  # + alignment slack (see gemm_wgmma.cu)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), dict(C=C, M=M, N=N, K=K),
                                                      dynamic_shared_bytes=smem, tensormaps=maps))


def gemv(arch: str, batch: int, N: int, K: int, X: int, W: int, Y: int, x_row_stride: int | None = None,
         y_row_stride: int | None = None) -> KernelCall:
    """Y[b, N] = X[b, K] . W[N, K]^T for a decode batch of 1, 2, 4 or 8 rows."""
    _need(batch in GEMV_BATCHES, f"gemv: batch {batch} not built (batches {GEMV_BATCHES}; use the GEMM)")
    name = f"gemv_f16_b{batch}"
    _need(K % 8 == 0 and K > 0 and N > 0, f"{name}: K = {K} must be a positive multiple of 8, N = {N} positive")
    grid = (_cdiv(N, kernel_specs()[name]["tile"]["rows_per_cta"]), 1, 1)
    p = dict(X=X, W=W, Y=Y, N=N, K=K, x_row_stride=x_row_stride or K, y_row_stride=y_row_stride or N)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), p))


def _gqa_shift(heads: int, kv_heads: int) -> int:
    _need(kv_heads >= 1 and heads % kv_heads == 0, f"attention: heads {heads} not a multiple of kv_heads {kv_heads}")
    g = heads // kv_heads
    _need(g & (g - 1) == 0, f"attention: the GQA group size {g} must be a power of two (kernels use a shift)")
    return g.bit_length() - 1


def flash_attn(arch: str, batch: int, heads: int, kv_heads: int, q_len: int, kv_len: int, Q: int, K: int, V: int,
               O: int, causal: bool = True, softmax_scale: float | None = None) -> KernelCall:
    """Prefill attention over contiguous Q/O [batch, q_len, heads, 128] and K/V [batch, kv_len, kv_heads, 128]
    (the queries are the last q_len positions: chunked prefill when kv_len > q_len)."""
    name = "flash_attn_fwd_f16_d128"
    _need(1 <= q_len <= kv_len, f"{name}: need 1 <= q_len ({q_len}) <= kv_len ({kv_len})")
    shift = _gqa_shift(heads, kv_heads)
    t = kernel_specs()[name]["tile"]
    scale = (softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(HEAD_DIM)) * math.log2(math.e)
    p = dict(Q=Q, K=K, V=V, O=O, q_len=q_len, kv_len=kv_len, gqa_shift=shift, causal=1 if causal else 0,
             scale_log2=scale, q_batch_stride=q_len * heads * HEAD_DIM, q_row_stride=heads * HEAD_DIM,
             kv_batch_stride=kv_len * kv_heads * HEAD_DIM, kv_row_stride=kv_heads * HEAD_DIM,
             o_batch_stride=q_len * heads * HEAD_DIM, o_row_stride=heads * HEAD_DIM)
    grid = (_cdiv(q_len, t["BLOCK_M"]), heads, batch)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), p))


def decode_splits(ctx: int, split_len: int | None = None) -> tuple[int, int]:
    """(split_len, num_splits) of split-KV decode attention over ``ctx`` keys."""
    sl = split_len or max(DEFAULT_SPLIT_KEYS, _cdiv(ctx, MAX_SPLITS))
    return sl, _cdiv(ctx, sl)


def decode_attn(arch: str, batch: int, heads: int, kv_heads: int, ctx: int, Q: int, K: int, V: int, Opart: int,
                ML: int, O: int, split_len: int | None = None, kv_capacity: int | None = None,
                softmax_scale: float | None = None) -> tuple[KernelCall, KernelCall]:
    """Split-KV decode attention (one new token per sequence, all sequences at context ``ctx``):
    the split kernel and the combine kernel.  K/V caches hold ``kv_capacity`` (default ctx) positions
    per sequence."""
    _need(ctx >= 1, f"decode_attn: context {ctx} must be positive")
    shift = _gqa_shift(heads, kv_heads)
    sl, ns = decode_splits(ctx, split_len)
    _need(ns <= MAX_SPLITS, f"decode_attn: {ns} splits exceed the combine kernel's {MAX_SPLITS}")
    cap = kv_capacity or ctx
    _need(cap >= ctx, f"decode_attn: kv_capacity {cap} < context {ctx}")
    scale = (softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(HEAD_DIM)) * math.log2(math.e)
    n1 = "decode_attn_split_f16_d128"
    p1 = dict(Q=Q, K=K, V=V, Opart=Opart, ML=ML, ctx=ctx, split_len=sl, gqa_shift=shift, scale_log2=scale,
              q_batch_stride=heads * HEAD_DIM, kv_batch_stride=cap * kv_heads * HEAD_DIM,
              kv_row_stride=kv_heads * HEAD_DIM)
    n2 = "decode_attn_combine_f16_d128"
    p2 = dict(Opart=Opart, ML=ML, O=O, num_splits=ns, o_batch_stride=heads * HEAD_DIM)
    return (KernelCall(load_kernel(n1, arch), Launch((ns, heads, batch), _block(n1), p1)),
            KernelCall(load_kernel(n2, arch), Launch((heads, batch, 1), _block(n2), p2)))


def rmsnorm(arch: str, rows: int, hidden: int, X: int, Wt: int, Y: int, eps: float = 1e-5) -> KernelCall:
    name = "rmsnorm_f16"
    _need(hidden % 8 == 0 and hidden > 0 and rows > 0, f"{name}: hidden = {hidden} must be a positive multiple of 8")
    p = dict(X=X, Wt=Wt, Y=Y, hidden=hidden, eps=eps, x_row_stride=hidden, y_row_stride=hidden)
    return KernelCall(load_kernel(name, arch), Launch((rows, 1, 1), _block(name), p))


def softmax(arch: str, rows: int, cols: int, X: int, Y: int) -> KernelCall:
    name = "softmax_f16"
    _need(cols % 8 == 0 and cols > 0 and rows > 0, f"{name}: cols = {cols} must be a positive multiple of 8")
    p = dict(X=X, Y=Y, cols=cols, x_row_stride=cols, y_row_stride=cols)
    return KernelCall(load_kernel(name, arch), Launch((rows, 1, 1), _block(name), p))


def silu_mul(arch: str, tokens: int, F: int, GU: int, Out: int) -> KernelCall:
    name = "silu_mul_f16"
    _need(F % 8 == 0 and F > 0 and tokens > 0, f"{name}: F = {F} must be a positive multiple of 8")
    p = dict(GU=GU, Out=Out, F=F, gu_row_stride=2 * F, out_row_stride=F)
    return KernelCall(load_kernel(name, arch), Launch((_cdiv(F, 2048), tokens, 1), _block(name), p))


def residual_add(arch: str, n: int, A: int, B: int, Out: int) -> KernelCall:
    name = "residual_add_f16"
    _need(n % 8 == 0 and 0 < n < 2**31, f"{name}: n = {n} must be a positive multiple of 8 below 2**31")
    return KernelCall(load_kernel(name, arch), Launch((_cdiv(n, 2048), 1, 1), _block(name), dict(A=A, B=B, Out=Out, n=n)))


def rotary(arch: str, tokens: int, heads: int, kv_heads: int, Q: int, K: int, CosSin: int, Positions: int,
           positions: np.ndarray, q_row_stride: int | None = None, k_row_stride: int | None = None) -> KernelCall:
    """In-place rotary embedding of Q [tokens, heads, 128] and K [tokens, kv_heads, 128] (row strides in
    halves; a fused QKV output has stride (heads + 2 kv_heads) * 128).  ``positions`` (int32, one per token)
    is the content of the Positions buffer: it decides which CosSin rows are read, so the walker is
    given it as a memory image."""
    name = "rotary_f16"
    pos = np.ascontiguousarray(positions, dtype=np.int32)
    _need(pos.shape == (tokens,), f"{name}: positions must hold one int32 per token ({tokens}), got {pos.shape}")
    p = dict(Q=Q, K=K, CosSin=CosSin, Positions=Positions, heads=heads, kv_heads=kv_heads,
             q_row_stride=q_row_stride or heads * HEAD_DIM, k_row_stride=k_row_stride or kv_heads * HEAD_DIM)
    grid = (_cdiv((heads + kv_heads) * 8, _block(name)[0]), tokens, 1)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), p, memory={Positions: pos}))


def embedding_gather(arch: str, tokens: int, hidden: int, Tokens: int, Table: int, Out: int, token_ids: np.ndarray,
                     vocab: int | None = None, out_row_stride: int | None = None) -> KernelCall:
    """Out[t, :] = Table[token_ids[t], :] (Table [vocab, hidden] fp16, Out row stride in halves).
    ``token_ids`` (int32, one per token) is the content of the Tokens buffer: it decides which table
    rows are read, so the walker is given it as a memory image."""
    name = "embedding_gather_f16"
    ids = np.ascontiguousarray(token_ids, dtype=np.int32)
    _need(tokens > 0 and hidden > 0 and hidden % 8 == 0,
          f"{name}: tokens = {tokens} must be positive, hidden = {hidden} a positive multiple of 8")
    _need(ids.shape == (tokens,), f"{name}: token_ids must hold one int32 per token ({tokens}), got {ids.shape}")
    _need(bool(np.all(ids >= 0)) and (vocab is None or bool(np.all(ids < vocab))),
          f"{name}: token ids must lie in [0, {vocab if vocab is not None else 'vocab'})")
    stride = out_row_stride or hidden
    _need(stride >= hidden and stride % 8 == 0, f"{name}: out_row_stride {stride} must be >= hidden and a multiple of 8")
    p = dict(Tokens=Tokens, Table=Table, Out=Out, hidden=hidden, out_row_stride=stride)
    grid = (_cdiv(hidden, 8 * _block(name)[0]), tokens, 1)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), p, memory={Tokens: ids}))


def kv_append(arch: str, batch: int, q_len: int, kv_heads: int, past: int, QKV: int, Kc: int, Vc: int,
              heads: int, kv_capacity: int | None = None, qkv_row_stride: int | None = None) -> KernelCall:
    """Write the K and V rows of ``q_len`` new tokens of each of ``batch`` sequences into the caches
    Kc / Vc [batch, kv_capacity, kv_heads, 128] at positions past .. past + q_len - 1.  The rows come
    from the fused QKV projection output [batch * q_len, (heads + 2 kv_heads) * 128] (Q, then K,
    then V; row stride ``qkv_row_stride`` halves)."""
    name = "kv_append_f16"
    _need(min(batch, q_len, kv_heads, heads) >= 1 and past >= 0,
          f"{name}: batch {batch}, q_len {q_len}, heads {heads}, kv_heads {kv_heads} must be positive, past {past} >= 0")
    cap = kv_capacity or past + q_len
    _need(cap >= past + q_len, f"{name}: kv_capacity {cap} < past + q_len = {past + q_len}")
    _need(batch <= 65535 and q_len <= 65535, f"{name}: batch {batch} and q_len {q_len} must be <= 65535 (grid y/z)")
    kv_dim = kv_heads * HEAD_DIM
    row = qkv_row_stride or (heads + 2 * kv_heads) * HEAD_DIM
    _need(row >= (heads + 2 * kv_heads) * HEAD_DIM and row % 8 == 0, f"{name}: qkv_row_stride {row} too small or not a multiple of 8")
    p = dict(QKV=QKV, Kc=Kc, Vc=Vc, kv_dim=kv_dim, past=past, qkv_row_stride=row, k_offset=heads * HEAD_DIM,
             v_offset=(heads + kv_heads) * HEAD_DIM, cache_seq_stride=cap * kv_dim)
    grid = (_cdiv(kv_dim, 8 * _block(name)[0]), q_len, batch)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), p))

"""gpusim's own LLM kernels: their committed listings, parameter layouts and launch builders.

The kernels are CUDA C++ under ``traces/kernels/src/``; ``traces/kernels/build.py`` compiles them
for sm_70 (CUDA 12 tools), sm_80, sm_86, sm_89 and sm_90a and writes ``traces/kernels/sass/<arch>/*.sass`` (nvdisasm -c
-hex) and ``manifest.json`` (registers, shared memory, parameter offsets and the parameter base
in constant bank 0, all read from the cubin).  ``traces/kernels/kernels.yaml`` names every
kernel's parameters and launch constants.  This module turns those files into
:class:`~gpusim.llm.walker.KernelBinary` objects and builds :class:`~gpusim.llm.walker.Launch`
objects for given shapes, checking each kernel's preconditions (GpusimError otherwise).

Layouts (all fp16 unless noted, row-major, element offsets):
    GEMM / GEMV      C[M, N] = A[M, K] . W[N, K]^T (nn.Linear weight layout)
    attention        Q [batch, tokens, heads, 128], K/V cache [batch, positions, kv_heads, 128]
    decode attention Q [batch, heads, 128]; paged K/V pools [blocks, 16, kv_heads, 128] with an int32
                     block table [batch, max_blocks]; partial outputs Opart [batch, heads, splits, 128]
                     fp32, ML [batch, heads, splits] float2 (running max, sum)
"""

from __future__ import annotations

import dataclasses
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
ARCHS = ("sm_70", "sm_80", "sm_86", "sm_89", "sm_90a")
HEAD_DIM = 128  #: head dimension compiled into the attention kernels (all presets use 128)
#: Keys per split of split-KV decode attention when the caller does not choose (FlashDecoding
#: splits the KV range so that batch x heads x splits CTAs fill the GPU; 256 keys keeps a split's
#: loop long enough to hide its prologue).  A modelling choice of this project, not a measured value;
#: FlashInfer's single-request decode also splits into chunks of at least 256 keys
#: (kv_chunk_size = max(ceil_div(seq_len, max_num_kv_chunks), 256), flashinfer-ai/flashinfer
#: include/flashinfer/attention/decode.cuh @00b57feb).
DEFAULT_SPLIT_KEYS = 256
MAX_SPLITS = 128    #: decode_attn_combine keeps one (max, sum) pair per split in shared memory, 128 slots
KV_PAGE_TOKENS = 16  #: tokens per paged KV-cache block (vLLM's default block_size; decode_attn.cu PAGE)
DECODE_TILE_KEYS = 64  #: default split lengths are multiples of this (decode_attn_paged's tile: 4 pages, one per warp)
DECODE_HEAD_DIMS = (64, 128)  #: head sizes decode_attn_paged / decode_attn_combine are built for
DECODE_MAX_GROUP = 16  #: query heads per KV head the paged decode kernel computes (its MMA M rows)
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
    if k.get("const2"):
        fn = _fold_const2(fn, k["const2"])
    params = tuple(ParamSpec(p["name"], p["type"], p["offset"], p["size"]) for p in k["params"])
    return KernelBinary(function=fn, arch=arch, params=params, param_base=k["param_base"],
                        registers=k["registers"], static_shared_bytes=k["static_shared_bytes"])


def _fold_const2(fn, words: list[int]):
    """``c[0x2][off]`` operands (the compiler constant bank of CUDA 12's ptxas: shared-array addresses and
    other link-time constants, whose words build.py copies from the cubin into the manifest) -> the
    immediates they hold, so that the walker computes with them like with any literal."""
    from gpusim.frontend.sass import Operand

    def fold(o: Operand) -> Operand:
        if o.kind != "const" or o.bank != 2 or o.reg >= 0 or o.ureg >= 0 or o.offset % 4 or o.offset // 4 >= len(words):
            return o
        v = int(words[o.offset // 4])
        return Operand(kind="imm", text=o.text, value=-v if o.negated else v, inverted=o.inverted)

    ops = tuple(tuple(fold(o) for o in row) for row in fn.operands)
    return dataclasses.replace(fn, operands=ops)


def arch_for_binary_version(v: int) -> str:
    """Listing directory for a GPU's compute capability (x10): the newest built target not newer
    than it (sm_90 uses the sm_90a listings, whose extra instructions only the wgmma GEMM uses;
    sm_72 uses sm_70's)."""
    nums = {70: "sm_70", 80: "sm_80", 86: "sm_86", 89: "sm_89", 90: "sm_90a"}
    if 75 <= v < 80:
        raise KernelError(f"no kernel listings for compute capability {v / 10:.1f} (built: sm_70, sm_80+; "
                          f"Turing would need its own build)")
    best = [n for n in nums if n <= v]
    if not best:
        raise KernelError(f"no kernel listings for compute capability {v / 10:.1f} (oldest built: sm_70)")
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


#: Hopper GEMM kernels by (dtype, tile): the one-warpgroup kernel of issue #15 and the
#: warp-specialised cooperative kernels (gemm_wgmma_ws.cu).
WGMMA_GEMMS = {
    ("fp16", "64x128"): "gemm_f16_tn_wgmma_64x128x64_s4",
    ("fp16", "128x128"): "gemm_f16_tn_wgmma_coop_128x128x64_s5",
    ("fp16", "128x256"): "gemm_f16_tn_wgmma_coop_128x256x64_s4",
    ("fp8", "128x128"): "gemm_e4m3_tn_wgmma_coop_128x128x128_s5",
    ("fp8", "128x256"): "gemm_e4m3_tn_wgmma_coop_128x256x128_s4",
    ("fp16", "128x256p"): "gemm_f16_tn_wgmma_coop_persistent_128x256x64_s4",
    ("fp8", "128x256p"): "gemm_e4m3_tn_wgmma_coop_persistent_128x256x128_s4",
}
WGMMA_DTYPES = ("fp16", "fp8")
#: Machine numbers of the tile choice: the H100 SXM5 config (configs/gpus/h100-sxm5-80gb.yaml and
#: configs/arch/hopper.yaml; tests/test_gemm_hopper_ws.py checks them against it): SMs, the dense FP16
#: wgmma rate per SM (4 sub-cores x 16*256*16 FMAs per 140-cycle pipe interval of HGMMA.64x256x16) and
#: the L2's data bandwidth per SM (80 slices x 64 B/clk shared by 132 SMs).
HOPPER_SMS = 132
HOPPER_WGMMA_FMA_PER_CLK = 4 * 16 * 256 * 16 / 140
HOPPER_L2_BYTES_PER_CLK_PER_SM = 80 * 64 / 132
WS_TILES = ((128, 256), (128, 128))


def gemm_wgmma_tile(M: int, N: int, dtype: str = "fp16", sms: int = HOPPER_SMS) -> str:
    """The CTA tile ``gemm_wgmma`` uses for an M x N output: the tile with the least estimated time =
    CTA waves (ceil(tiles / sms), one CTA per SM) x one tile's time per unit of K, where a tile's time
    is the longer of its MMA time (BM*BN FMAs at the wgmma rate; FP8 twice) and the time to bring its
    operands from the L2 ((BM + BN) x element bytes at the L2 bandwidth per SM).  128 x 256 needs half
    the operand bytes per MMA of 128 x 128 (the L2 cannot feed 128 x 128 at the wgmma peak), 128 x 128
    has twice the CTAs and wins when the 128 x 256 grid leaves SMs idle (e.g. M = 64, N = 4096).
    Ties go to the larger tile.  A rule from the machine's numbers, not fitted to a measurement."""
    eb = 1 if dtype == "fp8" else 2
    rate = HOPPER_WGMMA_FMA_PER_CLK * (2 if dtype == "fp8" else 1)
    best, best_t = None, None
    for bm, bn in WS_TILES:
        tiles = _cdiv(M, bm) * _cdiv(N, bn)
        per_k = max(bm * bn / rate, (bm + bn) * eb / HOPPER_L2_BYTES_PER_CLK_PER_SM)
        t = _cdiv(tiles, sms) * per_k
        if best_t is None or t < best_t * (1 - 1e-9):
            best, best_t = f"{bm}x{bn}", t
    return best


def gemm_wgmma(M: int, N: int, K: int, A: int, W: int, C: int, arch: str = "sm_90a", dtype: str = "fp16",
               tile: str | None = None, alpha: float = 1.0, sms: int = HOPPER_SMS) -> KernelCall:
    """C[M,N] = A[M,K] . W[N,K]^T on Hopper with TMA + wgmma (sm_90a): picks the kernel.

    ``dtype`` "fp16" (A, W fp16) or "fp8" (A, W e4m3, C = alpha * acc in fp16).  ``tile`` None picks
    by :func:`gemm_wgmma_tile` among the warp-specialised cooperative kernels (128x128, 128x256);
    "64x128" is the one-warpgroup kernel of issue #15 (fp16 only), kept for comparison."""
    _need(dtype in WGMMA_DTYPES, f"gemm_wgmma: dtype '{dtype}' not built (have: {', '.join(WGMMA_DTYPES)})")
    _need(min(M, N, K) >= 1, f"gemm_wgmma: M, N, K must be positive (got {M}, {N}, {K})")
    tile = tile or gemm_wgmma_tile(M, N, dtype, sms)
    name = WGMMA_GEMMS.get((dtype, tile))
    _need(name is not None, f"gemm_wgmma: no {dtype} kernel with tile {tile} "
                            f"(have: {', '.join(t for d, t in WGMMA_GEMMS if d == dtype)})")
    t = kernel_specs()[name]["tile"]
    eb = t.get("elem_bytes", 2)
    _need(K % t["BK"] == 0, f"{name}: K = {K} must be a multiple of {t['BK']}")
    _need(N % 8 == 0, f"{name}: N = {N} must be a multiple of 8")
    box = (t["tma_box_cols"], t["tma_box_rows"])
    maps = {"tmA": TensorMap(A, (K, M), eb * K, box, eb), "tmW": TensorMap(W, (K, N), eb * K, box, eb)}
    grid = (_cdiv(N, t["BN"]), _cdiv(M, t["BM"]), 1)
    if t.get("persistent"):
        grid = (min(grid[0] * grid[1], sms), 1, 1)
    smem = t["stages"] * (t["BM"] + t["BN"]) * t["BK"] * eb + 1024  # + alignment slack (see the .cu)
    params = dict(C=C, M=M, N=N, K=K)
    if "alpha" in kernel_specs()[name]["params"]:
        params["alpha"] = float(alpha)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), params,
                                                      dynamic_shared_bytes=smem, tensormaps=maps))


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


#: Volta's tensor-core GEMMs (gemm_volta.cu): mma.sync m8n8k4, ld.global -> registers -> st.shared double
#: buffering; BK 64 by default (whole 128-byte lines of A and W per k tile), BK 32 is CUTLASS's sm70 tile
GEMM_VOLTA = "gemm_f16_tn_volta_128x128x64_s2"
GEMM_VOLTA_KERNELS = ("gemm_f16_tn_volta_128x128x64_s2", "gemm_f16_tn_volta_128x128x32_s2")


def gemm_volta(arch: str, M: int, N: int, K: int, A: int, W: int, C: int, name: str | None = None) -> KernelCall:
    """C[M,N] = A[M,K] . W[N,K]^T on sm_70 with an m8n8k4 tensor-core kernel (128 x 128 tiles; BK 64 when K
    allows it, else BK 32, or the kernel ``name``)."""
    if name is None:
        name = GEMM_VOLTA if K % 64 == 0 else GEMM_VOLTA_KERNELS[1]
    _need(name in GEMM_VOLTA_KERNELS, f"{name}: not a Volta GEMM (have {', '.join(GEMM_VOLTA_KERNELS)})")
    _need(arch == "sm_70", f"{name}: built for sm_70 only, not {arch}")
    t = kernel_specs()[name]["tile"]
    _need(min(M, N, K) > 0 and K % t["BK"] == 0,
          f"{name}: M, N, K = {M}, {N}, {K} must be positive with K a multiple of {t['BK']}")
    _need(N % 2 == 0, f"{name}: N = {N} must be even (half2 stores)")
    _need(max(M, N) < 2**31 // max(K, 1), f"{name}: M*K and N*K must stay below 2**31")
    grid = (_cdiv(N, t["BN"]), _cdiv(M, t["BM"]), 1)
    _need(grid[1] <= 65535, f"{name}: {grid[1]} M tiles exceed the grid's 65535")
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), dict(A=A, W=W, C=C, M=M, N=N, K=K),
                                                      dynamic_shared_bytes=t.get("dynamic_shared_bytes", 0)))


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
    _need(arch != "sm_70", f"{name}: no Volta (sm_70) build: the kernel's ldmatrix (sm_75+), cp.async and mma.sync "
                           f"m16n8k16 (sm_80+) do not exist on sm_70, and no m8n8k4 attention kernel is written yet "
                           f"(decode attention runs on Volta: decode_attn_paged_simt_f16_d128)")
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
    """(split_len, num_splits) of split-KV decode attention over ``ctx`` keys.  The default split
    length is a multiple of :data:`DECODE_TILE_KEYS` (the paged kernel's tile) of at least
    :data:`DEFAULT_SPLIT_KEYS` keys and few enough splits for the combine kernel."""
    sl = split_len or _cdiv(max(DEFAULT_SPLIT_KEYS, _cdiv(ctx, MAX_SPLITS)), DECODE_TILE_KEYS) * DECODE_TILE_KEYS
    return sl, _cdiv(ctx, sl)


def contiguous_block_table(batch: int, ctx: int, page: int = KV_PAGE_TOKENS) -> np.ndarray:
    """Block table of a KV pool allocated sequence after sequence: sequence b owns physical blocks
    b*n .. b*n + n - 1 (n = ceil(ctx / page)), so the paged pool [blocks, page, kv_heads, 128] has the
    addresses of a contiguous cache [batch, n*page, kv_heads, 128] (what ``kv_append`` writes)."""
    n = _cdiv(ctx, page)
    return np.arange(batch * n, dtype=np.int32).reshape(batch, n)


def decode_attn(arch: str, batch: int, heads: int, kv_heads: int, ctx: int, Q: int, K: int, V: int, Opart: int,
                ML: int, O: int, BlockTable: int, block_table: np.ndarray | None = None,
                split_len: int | None = None, q_batch_stride: int | None = None,
                softmax_scale: float | None = None, head_dim: int = HEAD_DIM) -> tuple[KernelCall, KernelCall]:
    """Split-KV decode attention over a paged KV cache (one new token per sequence, all sequences at
    context ``ctx``): the split kernel (grid (splits, kv_heads, batch); each CTA reads its KV head's
    keys once for the whole query group) and the combine kernel (grid (heads, batch)).

    K / V are pools [num_blocks, 16, kv_heads, head_dim] (vLLM's layout, 16-token blocks; head_dim one of
    :data:`DECODE_HEAD_DIMS`, the step uses :data:`HEAD_DIM`); ``block_table``
    (int32 [batch, max_blocks], default :func:`contiguous_block_table`) maps a sequence's logical
    block i to its physical block and is the content of the buffer at ``BlockTable`` (the walker is
    given it as a memory image).  Q rows are ``q_batch_stride`` halves apart (default heads x head_dim)."""
    _need(head_dim in DECODE_HEAD_DIMS, f"decode_attn: head_dim {head_dim} not built (have {DECODE_HEAD_DIMS})")
    Dh = head_dim
    name, comb = f"decode_attn_paged_f16_d{Dh}", f"decode_attn_combine_f16_d{Dh}"
    if arch == "sm_70":  # no cp.async / ldmatrix / m16n8k16 on Volta: the CUDA-core kernel (decode_attn_simt.cu)
        name = f"decode_attn_paged_simt_f16_d{Dh}"
    tile = kernel_specs()[name]["tile"]
    _need(ctx >= 1 and batch >= 1, f"{name}: context {ctx} and batch {batch} must be positive")
    _need(batch <= 65535 and kv_heads <= 65535, f"{name}: batch {batch} and kv_heads {kv_heads} must be <= 65535 (grid z/y)")
    shift = _gqa_shift(heads, kv_heads)
    group = 1 << shift
    max_group = tile.get("max_group", DECODE_MAX_GROUP)
    rows = "query" if arch == "sm_70" else "MMA"   # the CUDA-core kernel has no MMA rows
    _need(group <= max_group, f"{name}: the GQA group {group} exceeds the kernel's {max_group} {rows} rows")
    _need(split_len is None or split_len > 0, f"{name}: split_len {split_len} must be positive")
    sl, ns = decode_splits(ctx, split_len)
    _need(sl % tile["tile_keys"] == 0, f"{name}: split_len {sl} must be a multiple of {tile['tile_keys']} keys")
    _need(ns <= MAX_SPLITS, f"{name}: {ns} splits exceed the combine kernel's {MAX_SPLITS}")
    bt = contiguous_block_table(batch, ctx) if block_table is None else np.ascontiguousarray(block_table, np.int32)
    need = _cdiv(ctx, KV_PAGE_TOKENS)
    _need(bt.ndim == 2 and bt.shape[0] == batch and bt.shape[1] >= need,
          f"{name}: block_table must be int32 [batch={batch}, >= {need} blocks], got {bt.shape}")
    _need(bool(np.all(bt[:, :need] >= 0)), f"{name}: block_table holds negative block numbers")
    qs = q_batch_stride or heads * Dh
    _need(qs >= heads * Dh and qs % 8 == 0, f"{name}: q_batch_stride {qs} too small or not a multiple of 8")
    scale = (softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(Dh)) * math.log2(math.e)
    p1 = dict(Q=Q, Kc=K, Vc=V, BlockTable=BlockTable, Opart=Opart, ML=ML, ctx=ctx, split_len=sl, group=group,
              scale_log2=scale, q_batch_stride=qs, kv_row_stride=kv_heads * Dh, max_blocks=bt.shape[1])
    smem = tile["dynamic_shared_bytes"]
    p2 = dict(Opart=Opart, ML=ML, O=O, num_splits=ns, o_batch_stride=heads * Dh)
    return (KernelCall(load_kernel(name, arch), Launch((ns, kv_heads, batch), _block(name), p1,
                                                       dynamic_shared_bytes=smem, memory={BlockTable: bt})),
            KernelCall(load_kernel(comb, arch), Launch((heads, batch, 1), _block(comb), p2)))


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

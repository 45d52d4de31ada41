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
    if arch == "sm_70" and k.get("const2_words"):   # CUDA 12's ptxas: shared-array addresses in bank 2
        fn = _fold_const2(fn, k["const2_words"])
    params = tuple(ParamSpec(p["name"], p["type"], p["offset"], p["size"]) for p in k["params"])
    c2 = b"".join(int(w).to_bytes(4, "little") for w in k.get("const2_words", ()))
    return KernelBinary(function=fn, arch=arch, params=params, param_base=k["param_base"],
                        registers=k["registers"], static_shared_bytes=k["static_shared_bytes"], const2=c2)


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


def wgmma_tile_cycles_per_k(BM: int, BN: int, dtype: str = "fp16") -> float:
    """SM cycles per unit of K of one BM x BN warp-specialised wgmma tile: the longer of its MMA time (BM*BN
    FMAs at the wgmma rate; FP8 twice) and the time to bring its operands from the L2 ((BM + BN) x element
    bytes at the L2 bandwidth per SM)."""
    eb = 1 if dtype == "fp8" else 2
    rate = HOPPER_WGMMA_FMA_PER_CLK * (2 if dtype == "fp8" else 1)
    return max(BM * BN / rate, (BM + BN) * eb / HOPPER_L2_BYTES_PER_CLK_PER_SM)


def split_k(k_tiles: int, splits: int) -> tuple[int, int]:
    """(k tiles per split, effective splits) of a split-K launch asking for ``splits``: every split gets
    ``ceil(k_tiles / splits)`` k tiles (at least one), so fewer splits may remain."""
    ktps = _cdiv(k_tiles, max(1, min(splits, k_tiles)))
    return ktps, _cdiv(k_tiles, ktps)


def gemm_wgmma_tile(M: int, N: int, dtype: str = "fp16", sms: int = HOPPER_SMS) -> str:
    """The CTA tile ``gemm_wgmma`` uses for an M x N output: the tile with the least estimated time =
    CTA waves (ceil(tiles / sms), one CTA per SM) x one tile's time per unit of K, where a tile's time
    is the longer of its MMA time (BM*BN FMAs at the wgmma rate; FP8 twice) and the time to bring its
    operands from the L2 ((BM + BN) x element bytes at the L2 bandwidth per SM).  128 x 256 needs half
    the operand bytes per MMA of 128 x 128 (the L2 cannot feed 128 x 128 at the wgmma peak), 128 x 128
    has twice the CTAs and wins when the 128 x 256 grid leaves SMs idle (e.g. M = 64, N = 4096).
    Ties go to the larger tile.  A rule from the machine's numbers, not fitted to a measurement."""
    best, best_t = None, None
    for bm, bn in WS_TILES:
        tiles = _cdiv(M, bm) * _cdiv(N, bn)
        t = _cdiv(tiles, sms) * wgmma_tile_cycles_per_k(bm, bn, dtype)
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


#: Hopper split-K GEMMs by (dtype, tile), fp16 and e4m3: CTA z of grid z takes ktps k tiles and writes fp32 partials,
#: gemv_splitk_reduce_f32 sums them (:func:`gemm_wgmma_splitk`; the choice: gemm_select.select_wgmma).
WGMMA_SPLITK_GEMMS = {("fp16", "128x128"): "gemm_f16_tn_wgmma_coop_splitk_128x128x64_s5",
                      ("fp8", "128x128"): "gemm_e4m3_tn_wgmma_coop_splitk_128x128x128_s5"}


def gemm_wgmma_splitk(M: int, N: int, K: int, A: int, W: int, C: int, P: int, splits: int, arch: str = "sm_90a",
                      dtype: str = "fp16", tile: str = "128x128", alpha: float = 1.0) -> list[KernelCall]:
    """C[M,N] = A[M,K] . W[N,K]^T on Hopper split over K: the warp-specialised wgmma kernel with grid z =
    splits, each CTA ``ktps = ceil(K tiles / splits)`` k tiles, fp32 partials to ``P`` [splits, M, N], then
    ``gemv_splitk_reduce_f32`` (one thread per C element, one CTA row per C row) writes C in fp16.
    ``splits`` is clipped so that every split has at least one k tile (the grid's z is the effective count).
    ``dtype`` "fp8": A and W e4m3, the partials are ``alpha`` x the fp32 sums (as :func:`gemm_wgmma`'s C)."""
    name = WGMMA_SPLITK_GEMMS.get((dtype, tile))
    _need(name is not None, f"gemm_wgmma_splitk: no {dtype} split-K kernel with tile {tile} "
                            f"(have: {', '.join(f'{d} {t}' for d, t in WGMMA_SPLITK_GEMMS)})")
    t = kernel_specs()[name]["tile"]
    eb = t["elem_bytes"]
    _need(min(M, N, K) >= 1, f"{name}: M, N, K must be positive (got {M}, {N}, {K})")
    _need(K % t["BK"] == 0, f"{name}: K = {K} must be a multiple of {t['BK']}")
    _need(N % 8 == 0, f"{name}: N = {N} must be a multiple of 8")
    kt = K // t["BK"]
    ktps, z = split_k(kt, splits)
    _need(z >= 2, f"{name}: split-K needs at least 2 splits (got {splits} over {kt} k tiles)")
    _need(M * N * z < 2 ** 31 and M < 65536, f"{name}: M*N*splits = {M * N * z} (or M = {M} reduction rows) too "
                                             f"large for the kernels' int32 offsets / grid y")
    _need(P != 0, f"{name}: split-K over {z} splits needs a workspace P")
    box = (t["tma_box_cols"], t["tma_box_rows"])
    maps = {"tmA": TensorMap(A, (K, M), eb * K, box, eb), "tmW": TensorMap(W, (K, N), eb * K, box, eb)}
    grid = (_cdiv(N, t["BN"]), _cdiv(M, t["BM"]), z)
    smem = t["stages"] * (t["BM"] + t["BN"]) * t["BK"] * eb + 1024  # + alignment slack (see the .cu)
    r = QUANT_SPLITK_REDUCE
    params = dict(P=P, M=M, N=N, K=K, ktps=ktps)
    if "alpha" in kernel_specs()[name]["params"]:
        params["alpha"] = float(alpha)
    return [KernelCall(load_kernel(name, arch), Launch(grid, _block(name), params,
                                                       dynamic_shared_bytes=smem, tensormaps=maps)),
            KernelCall(load_kernel(r, arch), Launch((_cdiv(N, _block(r)[0]), M, 1), _block(r),
                                                    dict(P=P, Y=C, N=N, rows=M, splits=z, y_row_stride=N)))]


#: The multistage mma.sync GEMM family of gemm_multistage.cu (sm_80 / sm_86 / sm_89; 128x256x64 on
#: sm_80 only: kernels.yaml ``archs``), largest tile first; gpusim.llm.gemm_select picks one per shape.
GEMM_MULTISTAGE = ("gemm_f16_tn_128x256x64_s3", "gemm_f16_tn_128x256x32_s3", "gemm_f16_tn_128x128x32_s4",
                   "gemm_f16_tn_128x64x32_s6", "gemm_f16_tn_64x64x32_s6", "gemm_f16_tn_128x64x64_s3",
                   "gemm_f16_tn_64x128x64_s3", "gemm_f16_tn_64x64x64_s5")
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
    ktps, z = split_k(_cdiv(K, t["BK"]), splits)
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
         y_row_stride: int | None = None, dtype: str = "fp16") -> KernelCall:
    """Y[b, N] = X[b, K] . W[N, K]^T for a decode batch of 1, 2, 4 or 8 rows; ``dtype`` fp16 (gemv.cu) or
    bf16 (gemv_bf16.cu: the same kernel on bfloat16 tensors)."""
    _need(batch in GEMV_BATCHES, f"gemv: batch {batch} not built (batches {GEMV_BATCHES}; use the GEMM)")
    _need(dtype in ("fp16", "bf16"), f"gemv: dtype {dtype} not built (fp16, bf16; int8 / int4: gemv_quant)")
    name = f"gemv_{'bf16' if dtype == 'bf16' else 'f16'}_b{batch}"
    _need(K % 8 == 0 and K > 0 and N > 0, f"{name}: K = {K} must be a positive multiple of 8, N = {N} positive")
    grid = (_cdiv(N, kernel_specs()[name]["tile"]["rows_per_cta"]), 1, 1)
    p = dict(X=X, W=W, Y=Y, N=N, K=K, x_row_stride=x_row_stride or K, y_row_stride=y_row_stride or N)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), p))


#: Weight-only quantised GEMV (gemv_quant.cu): batches built, bits per weight, weights per lane per
#: 16-byte load, and the group sizes the int4 kernels are checked with (any power of two >= 32 works:
#: the kernel takes log2(group); AWQ and GPTQ checkpoints use 128, some 32 or 64).
QUANT_GEMV_BATCHES = (1, 2, 4, 8, 16)
QUANT_BITS = {"int8": 8, "int4": 4}
QUANT_DEFAULT_GROUP = 128
QUANT_GEMV_ROWS_PER_CTA = 4
QUANT_SPLITK_REDUCE = "gemv_splitk_reduce_f32"


def quant_scale_bytes(dtype: str, N: int, K: int, group: int = QUANT_DEFAULT_GROUP) -> int:
    """Bytes of the fp16 scales of a weight-only quantised [N, K] weight: per channel (int8, [N]) or per
    group of ``group`` K elements (int4, [K / group, N])."""
    return 2 * N if dtype == "int8" else 2 * (K // group) * N


def quant_gemv_splits(N: int, K: int, dtype: str, sms: int) -> int:
    """Split-K factor of a quantised GEMV: 1 when ceil(N/4) CTAs fill the SMs, else enough K slices
    (whole warp steps of 32 lanes x one 16-byte load) that the grid gives every SM a CTA, at most one
    slice per warp step.  A rule of this module, as gemm_select's split-K: no idle SM while weights wait."""
    ctas = _cdiv(N, QUANT_GEMV_ROWS_PER_CTA)
    if ctas >= sms:
        return 1
    steps = _cdiv(K, 32 * (128 // QUANT_BITS[dtype]))
    return max(1, min(steps, _cdiv(sms, ctas)))


def gemv_quant(arch: str, dtype: str, batch: int, N: int, K: int, X: int, W: int, S: int, Y: int, P: int = 0,
               group: int = QUANT_DEFAULT_GROUP, splits: int = 1, x_row_stride: int | None = None,
               y_row_stride: int | None = None) -> list[KernelCall]:
    """Y[b, N] = X[b, K] . dq(W)[N, K]^T with int8 (per-channel scales S [N]) or int4 (group-wise scales
    S [K/group, N]) weights, for a decode batch of 1, 2, 4, 8 or 16 rows (gemv_quant.cu).  ``splits`` > 1:
    split-K over grid y with fp32 partials in ``P`` [splits, batch, N] and the reduction kernel after
    (returned as the second call).  ``splits`` is clipped to whole warp steps per split."""
    _need(dtype in QUANT_BITS, f"gemv_quant: dtype '{dtype}' (have: {', '.join(QUANT_BITS)})")
    _need(batch in QUANT_GEMV_BATCHES, f"gemv_quant: batch {batch} not built (batches {QUANT_GEMV_BATCHES})")
    name = f"gemv_{dtype}_b{batch}"
    bits = QUANT_BITS[dtype]
    kpl = 128 // bits
    kpw = 32 * kpl
    _need(N > 0 and K > 0 and K % kpl == 0,
          f"{name}: K = {K} must be a positive multiple of {kpl} (one 16-byte load of {dtype} weights), N = {N} positive")
    gshift = 0
    if dtype == "int4":
        _need(group >= kpl and group & (group - 1) == 0,
              f"{name}: group size {group} must be a power of two >= {kpl} (a lane's {kpl} weights share one scale)")
        _need(K % group == 0, f"{name}: K = {K} must be a multiple of the group size {group}")
        gshift = group.bit_length() - 1
    _need(batch * max(N, K) < 2 ** 31, f"{name}: batch x max(N, K) exceeds the kernel's int32 offsets")
    steps = _cdiv(K, kpw)
    per = _cdiv(steps, max(1, min(splits, steps)))
    z = _cdiv(steps, per)
    _need(z == 1 or P != 0, f"{name}: split-K over {z} splits needs a workspace P")
    ys = y_row_stride or N
    p = dict(X=X, W=W, S=S, Y=Y, P=P, N=N, K=K, group_shift=gshift, k_per_split=per * kpw,
             x_row_stride=x_row_stride or K, y_row_stride=ys)
    calls = [KernelCall(load_kernel(name, arch), Launch((_cdiv(N, QUANT_GEMV_ROWS_PER_CTA), z, 1), _block(name), p))]
    if z > 1:
        r = QUANT_SPLITK_REDUCE
        calls.append(KernelCall(load_kernel(r, arch), Launch((_cdiv(N, _block(r)[0]), batch, 1), _block(r),
                                                             dict(P=P, Y=Y, N=N, rows=batch, splits=z, y_row_stride=ys))))
    return calls


def _gqa_shift(heads: int, kv_heads: int) -> int:
    _need(kv_heads >= 1 and heads % kv_heads == 0, f"attention: heads {heads} not a multiple of kv_heads {kv_heads}")
    g = heads // kv_heads
    _need(g & (g - 1) == 0, f"attention: the GQA group size {g} must be a power of two (kernels use a shift)")
    return g.bit_length() - 1


#: FlashAttention-2 forward kernels per (architecture, head dim): (non-causal, causal) kernel names.  The
#: tile configurations are FlashAttention-2's own (flash_fwd_launch_template.h @ 0251105a; traces/kernels/
#: kernels.yaml): sm86/89 use 128x32 non-causal and 64x64 causal at head dim 128 and have no other head dim
#: built (listing size budget); head dim 80 runs FlashAttention-2's hdim-96 tiles with 80 valid columns.
FA2_FWD = {
    ("sm_80", 64): ("flash_attn_fwd_f16_d64_128x128_w4",) * 2,
    ("sm_80", 80): ("flash_attn_fwd_f16_d80_128x64_w4",) * 2,
    ("sm_80", 128): ("flash_attn_fwd_f16_d128_128x64_w4",) * 2,
    ("sm_80", 256): ("flash_attn_fwd_f16_d256_128x64_w8",) * 2,
    ("sm_90a", 64): ("flash_attn_fwd_f16_d64_128x128_w4",) * 2,
    ("sm_90a", 80): ("flash_attn_fwd_f16_d80_128x64_w4",) * 2,
    ("sm_90a", 128): ("flash_attn_fwd_f16_d128_128x64_w4",) * 2,
    ("sm_90a", 256): ("flash_attn_fwd_f16_d256_64x64_w4",) * 2,
    ("sm_86", 128): ("flash_attn_fwd_f16_d128_128x32_w4", "flash_attn_fwd_f16_d128_64x64_w4"),
    ("sm_89", 128): ("flash_attn_fwd_f16_d128_128x32_w4", "flash_attn_fwd_f16_d128_64x64_w4"),
}
#: FlashAttention-2 backward kernels per (architecture, head dim): (preprocess, main, convert dQ).
FA2_BWD = {(a, d): (f"flash_attn_bwd_dot_do_o_f16_d{d}", f"flash_attn_bwd_f16_d{d}_{t}_w8",
                    f"flash_attn_bwd_convert_dq_f16_d{d}")
           for a in ("sm_80", "sm_90a") for d, t in ((128, "64x128"), (64, "128x128"))}
#: dQaccum / Dsum rows are padded to a multiple of 128 (flash_api.cpp seqlen_q_rounded)
FA2_Q_ROUND = 128


def _fa2_built(table: dict, arch: str, head_dim: int, what: str) -> tuple:
    names = table.get((arch, head_dim))
    _need(arch != "sm_70", f"flash_attn {what}: no Volta (sm_70) build: FlashAttention-2's ldmatrix (sm_75+), "
                           f"cp.async and mma.sync m16n8k16 (sm_80+) do not exist on sm_70, and no m8n8k4 attention "
                           f"kernel is written yet (decode attention runs on Volta: decode_attn_paged_simt_f16_d128)")
    if names is None:
        dims = sorted({d for a, d in table if a == arch})
        built = f"head dims {', '.join(map(str, dims))}" if dims else "no head dim"
        raise KernelError(f"flash_attn {what}: head_dim {head_dim} is not built for {arch} ({built} built for {arch}; "
                          f"gpusim builds FlashAttention-2's configurations only where listed in kernels.yaml)")
    return names


def fa2_fwd_kernel(arch: str, head_dim: int, causal: bool) -> str:
    """Name of the FlashAttention-2 forward kernel FlashAttention-2 would launch (KernelError if not built)."""
    return _fa2_built(FA2_FWD, arch, head_dim, "forward")[1 if causal else 0]


def _fa2_check(name: str, batch: int, heads: int, kv_heads: int, q_len: int, kv_len: int, head_dim: int) -> int:
    _need(1 <= q_len <= kv_len, f"{name}: need 1 <= q_len ({q_len}) <= kv_len ({kv_len})")
    _need(batch >= 1 and heads >= 1 and batch <= 65535 and heads <= 65535,
          f"{name}: batch {batch} and heads {heads} must be in 1..65535 (grid y / z)")
    return _gqa_shift(heads, kv_heads)


def flash_attn(arch: str, batch: int, heads: int, kv_heads: int, q_len: int, kv_len: int, Q: int, K: int, V: int,
               O: int, causal: bool = True, softmax_scale: float | None = None, head_dim: int = HEAD_DIM,
               LSE: int | None = None, q_row_stride: int | None = None, kv_row_stride: int | None = None) -> KernelCall:
    """FlashAttention-2 forward over Q/O [batch, q_len, heads, head_dim] and K/V [batch, kv_len, kv_heads,
    head_dim] (row strides in halves, default contiguous; the queries are the last q_len positions: chunked
    prefill when kv_len > q_len), writing LSE fp32 [batch, heads, q_len] at ``LSE`` (default: right after O,
    256-byte aligned).  The kernel is the one :func:`fa2_fwd_kernel` names."""
    name = fa2_fwd_kernel(arch, head_dim, causal)
    shift = _fa2_check(name, batch, heads, kv_heads, q_len, kv_len, head_dim)
    t = kernel_specs()[name]["tile"]
    D = head_dim
    qs, ks = q_row_stride or heads * D, kv_row_stride or kv_heads * D
    _need(qs >= heads * D and ks >= kv_heads * D and qs % 8 == 0 and ks % 8 == 0,
          f"{name}: row strides {qs}, {ks} must cover the heads and be multiples of 8 halves")
    if LSE is None:
        LSE = O + _cdiv(2 * batch * q_len * qs, 256) * 256
    scale = (softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(D)) * math.log2(math.e)
    p = dict(Q=Q, K=K, V=V, O=O, LSE=LSE, q_len=q_len, kv_len=kv_len, gqa_shift=shift, causal=1 if causal else 0,
             scale_log2=scale, q_batch_stride=q_len * qs, q_row_stride=qs,
             kv_batch_stride=kv_len * ks, kv_row_stride=ks, o_batch_stride=q_len * qs, o_row_stride=qs)
    grid = (_cdiv(q_len, t["BLOCK_M"]), batch, heads)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), p, dynamic_shared_bytes=t["smem_bytes"]))


def fa2_workspace_bytes(batch: int, heads: int, q_len: int, head_dim: int) -> tuple[int, int]:
    """(Dsum bytes, dQaccum bytes) of the FlashAttention-2 backward pass: fp32 [batch, heads, q_rounded] and
    fp32 [batch, q_rounded, heads, head_dim], q_rounded = q_len rounded up to 128."""
    qr = _cdiv(q_len, FA2_Q_ROUND) * FA2_Q_ROUND
    return 4 * batch * heads * qr, 4 * batch * qr * heads * head_dim


def flash_attn_bwd(arch: str, batch: int, heads: int, kv_heads: int, q_len: int, kv_len: int, *, Q: int, K: int,
                   V: int, O: int, dO: int, LSE: int, Dsum: int, dQaccum: int, dQ: int, dK: int, dV: int,
                   causal: bool = True, softmax_scale: float | None = None, head_dim: int = HEAD_DIM
                   ) -> tuple[KernelCall, KernelCall, KernelCall]:
    """FlashAttention-2 backward: (preprocess D = rowsum(dO o O) + zero dQaccum, main dK/dV/dQ kernel, dQ
    conversion), as run_flash_bwd_seqk_parallel launches them.  Layouts as :func:`flash_attn` (contiguous);
    dK / dV are [batch, kv_len, heads, head_dim] (per query head: FlashAttention-2's dk_expanded when
    kv_heads < heads); workspaces from :func:`fa2_workspace_bytes`."""
    pre, main, cvt = _fa2_built(FA2_BWD, arch, head_dim, "backward")
    shift = _fa2_check(main, batch, heads, kv_heads, q_len, kv_len, head_dim)
    D = head_dim
    qr = _cdiv(q_len, FA2_Q_ROUND) * FA2_Q_ROUND
    _need(qr * heads * D < 2 ** 31, f"{main}: q_rounded * heads * head_dim = {qr * heads * D} must fit int32 (dQaccum rows)")
    qs, ks = heads * D, kv_heads * D
    sl2 = (softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(D)) * math.log2(math.e)
    tm = kernel_specs()[main]["tile"]
    bm = kernel_specs()[pre]["tile"]["BLOCK_M"]
    grid_m = (_cdiv(q_len, bm), batch, heads)
    c1 = KernelCall(load_kernel(pre, arch), Launch(grid_m, _block(pre), dict(
        dO=dO, O=O, Dsum=Dsum, dQaccum=dQaccum, q_len=q_len, q_rounded=qr, q_batch_stride=q_len * qs, q_row_stride=qs)))
    c2 = KernelCall(load_kernel(main, arch), Launch((_cdiv(kv_len, tm["BLOCK_N"]), batch, heads), _block(main), dict(
        Q=Q, K=K, V=V, dO=dO, LSE=LSE, Dsum=Dsum, dQaccum=dQaccum, dK=dK, dV=dV, q_len=q_len, kv_len=kv_len,
        gqa_shift=shift, causal=1 if causal else 0, scale_log2=sl2, q_rounded=qr, q_batch_stride=q_len * qs,
        q_row_stride=qs, kv_batch_stride=kv_len * ks, kv_row_stride=ks, dkv_batch_stride=kv_len * heads * D,
        dkv_row_stride=heads * D), dynamic_shared_bytes=tm["smem_bytes"]))
    c3 = KernelCall(load_kernel(cvt, arch), Launch(grid_m, _block(cvt), dict(
        dQaccum=dQaccum, dQ=dQ, q_len=q_len, q_rounded=qr, scale=sl2 / math.log2(math.e), q_batch_stride=q_len * qs,
        q_row_stride=qs)))
    return c1, c2, c3


#: FlashAttention-3-style Hopper forward kernels (fa3_fwd.cu, sm_90a only) by (head_dim, causal): FA3's
#: tile per head dim (Dao-AILab/flash-attention hopper/tile_size.h @ 07602adc2baa7a3ea037321ef2ca71c83096e5d5:
#: hdim 128 -> 128 x 176, 128 x 128 when causal; hdim 256 -> 128 x 80).  Head dim 64 (FA3: 192 x 192 with
#: three MMA warpgroups) is not built.
FA3_KERNELS = {
    (128, False): "fa3_fwd_f16_d128_128x176",
    (128, True): "fa3_fwd_f16_d128_128x128_causal",
    (256, False): "fa3_fwd_f16_d256_128x80",
    (256, True): "fa3_fwd_f16_d256_128x80_causal",
}
FA3_HEAD_DIMS = (128, 256)
FA3_ARCHS = ("sm_90a",)


def fa3_smem_bytes(name: str) -> int:
    """Dynamic shared memory of an fa3_fwd kernel: Q tile + 2 stages of K and V tiles + 1 KiB alignment slack."""
    t = kernel_specs()[name]["tile"]
    return (t["BLOCK_M"] + 2 * t["stages"] * t["BLOCK_N"]) * t["head_dim"] * 2 + 1024


def fa3_fwd(arch: str, batch: int, heads: int, kv_heads: int, q_len: int, kv_len: int, Q: int, K: int, V: int,
            O: int, head_dim: int = HEAD_DIM, causal: bool = True, softmax_scale: float | None = None) -> KernelCall:
    """Prefill attention on Hopper with the FlashAttention-3-style kernel (TMA producer warp, two ping-pong
    consumer warpgroups, wgmma): contiguous Q/O [batch, q_len, heads, D] and K/V [batch, kv_len, kv_heads, D]
    (the queries are the last q_len positions).  The kernel (tile) is FA3's for ``head_dim`` and ``causal``."""
    _need(arch in FA3_ARCHS, f"fa3_fwd: built for {', '.join(FA3_ARCHS)} only, not {arch}")
    name = FA3_KERNELS.get((head_dim, bool(causal)))
    _need(name is not None, f"fa3_fwd: head_dim {head_dim} not built (have {', '.join(map(str, FA3_HEAD_DIMS))})")
    _need(1 <= q_len <= kv_len, f"{name}: need 1 <= q_len ({q_len}) <= kv_len ({kv_len})")
    _need(batch >= 1 and heads >= 1, f"{name}: batch {batch} and heads {heads} must be positive")
    shift = _gqa_shift(heads, kv_heads)
    _need(batch * kv_len < 2 ** 31 and batch * q_len * heads * head_dim < 2 ** 31,
          f"{name}: batch x sequence too large for the kernel's int32 row coordinates")
    t = kernel_specs()[name]["tile"]
    box = (t["tma_box_cols"], t["q_box_rows"])
    kv_box = (t["tma_box_cols"], t["kv_box_rows"])
    maps = {"tmQ": TensorMap(Q, (heads * head_dim, batch * q_len), 2 * heads * head_dim, box, 2),
            "tmK": TensorMap(K, (kv_heads * head_dim, batch * kv_len), 2 * kv_heads * head_dim, kv_box, 2),
            "tmV": TensorMap(V, (kv_heads * head_dim, batch * kv_len), 2 * kv_heads * head_dim, kv_box, 2)}
    scale = (softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(head_dim)) * math.log2(math.e)
    p = dict(O=O, q_len=q_len, kv_len=kv_len, gqa_shift=shift, scale_log2=scale,
             o_batch_stride=q_len * heads * head_dim, o_row_stride=heads * head_dim)
    grid = (_cdiv(q_len, t["BLOCK_M"]), heads, batch)
    return KernelCall(load_kernel(name, arch), Launch(grid, _block(name), p, dynamic_shared_bytes=fa3_smem_bytes(name),
                                                      tensormaps=maps))


def prefill_attention(arch: str, batch: int, heads: int, kv_heads: int, q_len: int, kv_len: int, Q: int, K: int,
                      V: int, O: int, head_dim: int = HEAD_DIM, causal: bool = True,
                      softmax_scale: float | None = None, impl: str = "auto", LSE: int | None = None) -> KernelCall:
    """The prefill attention (forward) kernel for ``arch``: the FlashAttention-3-style kernel on sm_90a
    (every head dim it is built for; others are refused, never run on a substitute), FlashAttention-2
    elsewhere (its head dims per arch, :func:`flash_attn`; ``LSE`` for its backward pass).  ``impl``
    "fa2" / "fa3" asks for that family explicitly (the kernel name is reported either way)."""
    _need(impl in ("auto", "fa2", "fa3"), f"attention: impl '{impl}' unknown (auto, fa2, fa3)")
    if impl == "fa3" or (impl == "auto" and arch in FA3_ARCHS):
        return fa3_fwd(arch, batch, heads, kv_heads, q_len, kv_len, Q, K, V, O, head_dim, causal, softmax_scale)
    return flash_attn(arch, batch, heads, kv_heads, q_len, kv_len, Q, K, V, O, causal, softmax_scale,
                      head_dim=head_dim, LSE=LSE)


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


# --------------------------------------------------------------------------------------------
# training-step kernels (train.cu; gpusim.llm.train): sm_80 and sm_90a, the FlashAttention-2 backward's archs
# --------------------------------------------------------------------------------------------

#: Architectures train.cu is built for (kernels.yaml): those of the FlashAttention-2 backward kernels.
TRAIN_ARCHS = ("sm_80", "sm_90a")
#: Largest hidden size norm_bwd_f16 handles (8 halves x 256 threads x MAX_STEPS = 4 in train.cu).
NORM_BWD_MAX_HIDDEN = 8192
#: Rows per CTA of norm_bwd_f16: each CTA adds its partial dW / dB column sums once with fp32 atomics, so
#: hidden x ceil(rows / NORM_BWD_ROWS) atomics in all (a choice of this module: 32 rows keep 256 CTAs for
#: 8k tokens, more than 2 waves on 108 SMs, and the atomics at 1/32 of the dX stores).
NORM_BWD_ROWS = 32
#: Parameters per adamw_f16 launch at most: the kernel indexes with int32 (8 per thread), so larger
#: parameter sets are updated in launches of this many (apex's multi_tensor_apply also splits the
#: parameter list into chunks and launches; its chunks are smaller).
ADAMW_MAX_PARAMS = 1 << 30
#: Bytes adamw_f16 reads and writes per parameter: fp32 master weight, m and v read and written (12 + 12),
#: the fp16/bf16 gradient read (2) and the fp16/bf16 model copy written (2) -- train.cu's kernel.
ADAMW_BYTES_PER_PARAM = 28


def _train_kernel(name: str, arch: str):
    _need(arch in TRAIN_ARCHS, f"{name}: the training kernels (train.cu) are built for {', '.join(TRAIN_ARCHS)} "
                               f"only (the FlashAttention-2 backward's architectures), not {arch}")
    return load_kernel(name, arch)


def layernorm(arch: str, rows: int, hidden: int, X: int, Wt: int, Bs: int, Y: int, eps: float = 1e-5) -> KernelCall:
    name = "layernorm_f16"
    _need(hidden % 8 == 0 and hidden > 0 and rows > 0, f"{name}: hidden = {hidden} must be a positive multiple of 8")
    return KernelCall(_train_kernel(name, arch), Launch((rows, 1, 1), _block(name),
                                                       dict(X=X, Wt=Wt, Bs=Bs, Y=Y, hidden=hidden, eps=eps)))


def gelu(arch: str, n: int, X: int, Out: int) -> KernelCall:
    name = "gelu_f16"
    _need(n % 8 == 0 and 0 < n < 2**31, f"{name}: n = {n} must be a positive multiple of 8 below 2**31")
    return KernelCall(_train_kernel(name, arch), Launch((_cdiv(n, 2048), 1, 1), _block(name), dict(X=X, Out=Out, n=n)))


def gelu_bwd(arch: str, n: int, dY: int, X: int, dX: int) -> KernelCall:
    name = "gelu_bwd_f16"
    _need(n % 8 == 0 and 0 < n < 2**31, f"{name}: n = {n} must be a positive multiple of 8 below 2**31")
    return KernelCall(_train_kernel(name, arch), Launch((_cdiv(n, 2048), 1, 1), _block(name),
                                                       dict(dY=dY, X=X, dX=dX, n=n)))


def silu_mul_bwd(arch: str, tokens: int, F: int, dY: int, GU: int, dGU: int) -> KernelCall:
    name = "silu_mul_bwd_f16"
    _need(F % 8 == 0 and F > 0 and 0 < tokens <= 65535, f"{name}: F = {F} must be a positive multiple of 8, "
                                                         f"tokens = {tokens} in 1..65535")
    return KernelCall(_train_kernel(name, arch), Launch((_cdiv(F, 2048), tokens, 1), _block(name),
                                                       dict(dY=dY, GU=GU, dGU=dGU, F=F)))


def norm_bwd(arch: str, rows: int, hidden: int, dY: int, X: int, Wt: int, dX: int, dW: int, dB: int,
             layernorm: bool, eps: float = 1e-5, rows_per_cta: int = NORM_BWD_ROWS) -> KernelCall:
    name = "norm_bwd_f16"
    _need(hidden % 8 == 0 and 0 < hidden <= NORM_BWD_MAX_HIDDEN and rows > 0,
          f"{name}: hidden = {hidden} must be a positive multiple of 8 up to {NORM_BWD_MAX_HIDDEN}")
    p = dict(dY=dY, X=X, Wt=Wt, dX=dX, dW=dW, dB=dB, hidden=hidden, rows=rows, rows_per_cta=rows_per_cta,
             layernorm=1 if layernorm else 0, eps=eps)
    return KernelCall(_train_kernel(name, arch), Launch((_cdiv(rows, rows_per_cta), 1, 1), _block(name), p))


def cross_entropy(arch: str, rows: int, cols: int, Logits: int, Labels: int, dLogits: int, Loss: int,
                  labels: np.ndarray) -> KernelCall:
    """Fused softmax cross-entropy over logits [rows, cols] (loss fp32 per row, dlogits fp16 = (softmax -
    onehot) / rows, in place when dLogits == Logits).  ``labels`` (int32, one per row) is the content of the
    Labels buffer (a memory image: it decides which logit each row reads for its loss)."""
    name = "cross_entropy_f16"
    ids = np.ascontiguousarray(labels, dtype=np.int32)
    _need(cols % 8 == 0 and cols > 0 and rows > 0, f"{name}: cols = {cols} must be a positive multiple of 8")
    _need(ids.shape == (rows,) and bool(np.all((ids >= 0) & (ids < cols))),
          f"{name}: labels must hold one int32 in [0, {cols}) per row ({rows})")
    p = dict(Logits=Logits, Labels=Labels, dLogits=dLogits, Loss=Loss, cols=cols, grad_scale=1.0 / rows)
    return KernelCall(_train_kernel(name, arch), Launch((rows, 1, 1), _block(name), p, memory={Labels: ids}))


def adamw(arch: str, n: int, P: int, M: int, V: int, G: int, P16: int, lr: float = 2e-4, beta1: float = 0.9,
          beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.1, step: int = 1) -> list[KernelCall]:
    """Fused AdamW over ``n`` parameters (fp32 P, M, V; fp16/bf16 G in, P16 out): one launch per
    :data:`ADAMW_MAX_PARAMS` parameters (n % 8 == 0)."""
    name = "adamw_f16"
    _need(n % 8 == 0 and n > 0, f"{name}: n = {n} parameters must be a positive multiple of 8")
    out = []
    for s in range(0, n, ADAMW_MAX_PARAMS):
        c = min(ADAMW_MAX_PARAMS, n - s)
        p = dict(P=P + 4 * s, M=M + 4 * s, V=V + 4 * s, G=G + 2 * s, P16=P16 + 2 * s, n=c, lr=lr, beta1=beta1,
                 beta2=beta2, eps=eps, weight_decay=weight_decay, inv_bc1=1.0 / (1.0 - beta1 ** step),
                 inv_sqrt_bc2=1.0 / math.sqrt(1.0 - beta2 ** step))
        out.append(KernelCall(_train_kernel(name, arch), Launch((_cdiv(c, 2048), 1, 1), _block(name), p)))
    return out

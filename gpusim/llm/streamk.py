"""Stream-K GEMM: the partition, its launches, and the reference of what each CTA computes.

Stream-K (Osama, Merrill, Cecka, Garland, Owens, "Stream-K: Work-centric Parallel Decomposition for Dense
Matrix-Matrix Multiplication on the GPU", PPoPP 2023; CUTLASS GemmUniversal's stream-K mode) gives every
persistent CTA an equal share of the MAC-loop iterations -- one iteration = one k tile of one output tile
-- instead of one output tile per CTA, so a grid whose tiles leave the last wave part-empty (the wave
quantisation of e.g. 256 tiles on 108 SMs x 2 CTAs = 1.19 waves) keeps every SM busy to the end.

gpusim builds the "data-parallel + stream-K" hybrid (the paper's section 5 and CUTLASS's default): the
whole waves of tiles run data-parallel, one CTA per tile, and only the tiles of the remaining partial wave
are split by iterations:

* ``tiles = ceil(M/BM) x ceil(N/BN)`` numbered in the grouped launch order (``grouped_tile_at``),
  ``kt = ceil(K/BK)`` iterations each; ``slots = SMs x resident CTAs per SM``;
* ``dp_tiles = floor(tiles / slots) x slots`` tiles computed whole by CTAs ``0 .. dp_tiles-1``;
* the ``sk_tiles = tiles - dp_tiles`` others form ``sk_iters = sk_tiles x kt`` iterations, split over
  ``sk_ctas`` CTAs (at most ``slots``) of ``q = ceil(sk_iters / slots)`` iterations each (the last fewer):
  CTA ``dp_tiles + j`` takes iterations ``[j q, min((j+1) q, sk_iters))``, piece by piece (the part of its
  range inside one tile); a piece covering a whole tile is stored to C, a partial one as fp32 to the
  workspace (two BM x BN slots per stream-K CTA: its first piece, its last piece);
* a separate fixup kernel, BM x BN / 2048 CTAs per stream-K tile (256 threads x 8 elements each), sums the partial slots of every tile that several
  CTAs shared into C.  CTAs never wait for each other (the walker traces CTAs independently, so the
  paper's flag-spinning fixup inside the GEMM cannot be traced); the price is one more launch and the
  partials' DRAM round trip, which :func:`gpusim.llm.gemm_select.estimate_streamk` charges.

A grid without a partial wave (``tiles`` a multiple of ``slots``) has nothing to balance: no stream-K.
The kernels divide by runtime values (``kt``, tiles along N, ``q``) with :func:`fast_divisor` constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpusim.llm import kernels as K

#: the multistage kernels that have a stream-K variant (gemm_multistage.cu GEMM_STREAMK_KERNEL): base -> stream-K
STREAMK_OF = {"gemm_f16_tn_128x256x32_s3": "gemm_f16_tn_streamk_128x256x32_s3",
              "gemm_f16_tn_128x128x32_s4": "gemm_f16_tn_streamk_128x128x32_s4"}
LOG_GROUP_M = 3          # gemm_multistage.cu: tiles rasterised in groups of 8 M tiles


def fast_divisor(d: int) -> tuple[int, int]:
    """(mul, shr) for the kernels' ``fast_div(n) = (umulhi(n, mul) + n) >> shr`` = n // d for 0 <= n < 2^31
    (Granlund & Montgomery 1994, Fig. 4.1): shr = ceil(log2 d), mul = floor(2^32 (2^shr - d) / d) + 1,
    passed as an i32 (two's complement)."""
    if d < 1 or d >= 2 ** 31:
        raise K.KernelError(f"stream-K: divisor {d} out of range 1 .. 2^31-1")
    shr = (d - 1).bit_length()
    mul = (2 ** 32 * (2 ** shr - d)) // d + 1
    return (mul - 2 ** 32 if mul >= 2 ** 31 else mul), shr


def fast_div(n: int, mul: int, shr: int) -> int:
    """What the kernels compute from :func:`fast_divisor`'s constants (32-bit unsigned arithmetic)."""
    m = mul & 0xFFFFFFFF
    return (((n * m) >> 32) + n) >> shr


def grouped_tile_at(bx: int, by: int, n_n: int, n_m: int, log_g: int = LOG_GROUP_M) -> tuple[int, int]:
    """(tile_m, tile_n) of grid position (bx, by), as gemm_multistage.cu grouped_tile_at computes it."""
    lg = 0
    for g in range(log_g, 0, -1):
        if lg == 0 and by < (n_m & ~((1 << g) - 1)):
            lg = g
    first = (by >> lg) << lg
    local = (by - first) * n_n + bx
    return first + (local & ((1 << lg) - 1)), local >> lg


@dataclass(frozen=True)
class Schedule:
    """A stream-K partition of a GEMM (see the module docstring)."""

    BM: int
    BN: int
    n_m: int            # tiles along M
    n_n: int            # tiles along N
    kt: int             # k iterations (k tiles of BK) per tile
    dp_tiles: int       # tiles computed whole by one CTA each (CTAs 0 .. dp_tiles-1)
    sk_ctas: int        # stream-K CTAs (dp_tiles .. dp_tiles + sk_ctas - 1)
    q: int              # iterations per stream-K CTA (the last one may have fewer)

    @property
    def tiles(self) -> int:
        return self.n_m * self.n_n

    @property
    def sk_tiles(self) -> int:
        return self.tiles - self.dp_tiles

    @property
    def sk_iters(self) -> int:
        return self.sk_tiles * self.kt

    @property
    def ctas(self) -> int:
        return self.dp_tiles + self.sk_ctas

    def tile_origin(self, L: int) -> tuple[int, int]:
        """(m0, n0) of tile number L (grouped launch order)."""
        tm, tn = grouped_tile_at(L % self.n_n, L // self.n_n, self.n_n, self.n_m)
        return tm * self.BM, tn * self.BN

    def pieces(self, cta: int) -> list[tuple[int, int, int, int]]:
        """What CTA ``cta`` computes, as the kernel walks it: (tile, first k tile, k tiles, workspace slot or
        -1 where the piece is the whole tile and goes to C)."""
        j = cta - self.dp_tiles
        if j < 0:
            return [(cta, 0, self.kt, -1)]
        u_s = self.dp_tiles * self.kt + j * self.q
        u_e = min(u_s + self.q, self.tiles * self.kt)
        out, u = [], u_s
        while u < u_e:
            L, k0 = divmod(u, self.kt)
            nk = min(self.kt - k0, u_e - u)
            out.append((L, k0, nk, -1 if nk == self.kt else 2 * j + (u != u_s)))
            u += nk
        return out

    def contributors(self, t: int) -> list[int]:
        """The workspace slots the fixup sums for stream-K tile ``t`` (tile dp_tiles + t), as the fixup
        kernel computes them; empty where one CTA computed the tile whole (then it wrote C)."""
        u0 = t * self.kt
        first, last = u0 // self.q, (u0 + self.kt - 1) // self.q
        if first == last:
            return []
        return [2 * z + (1 if z == first and z * self.q < u0 else 0) for z in range(first, last + 1)]

    def _spans(self) -> np.ndarray:
        """CTAs per stream-K tile (last - first + 1 of :meth:`contributors`; 1: one CTA computed it whole)."""
        u0 = np.arange(self.sk_tiles, dtype=np.int64) * self.kt
        return (u0 + self.kt - 1) // self.q - u0 // self.q + 1

    def partial_pieces(self) -> int:
        """Workspace slots written (= read by the fixup): the CTAs of every tile that several CTAs share."""
        n = self._spans()
        return int(n[n > 1].sum())

    def partial_tiles(self) -> int:
        return int((self._spans() > 1).sum())

    def max_pieces(self) -> int:
        """The most pieces (main-loop runs, each refilling the cp.async pipeline) of one stream-K CTA: the tiles
        its iteration range touches."""
        u_s = np.arange(self.sk_ctas, dtype=np.int64) * self.q
        u_e = np.minimum(u_s + self.q, self.sk_iters)
        return int(((u_e - 1) // self.kt - u_s // self.kt).max() + 1)

    def workspace_bytes(self) -> int:
        return 2 * self.sk_ctas * self.BM * self.BN * 4

    def as_dict(self) -> dict:
        return {"dp_tiles": self.dp_tiles, "sk_tiles": self.sk_tiles, "sk_ctas": self.sk_ctas,
                "iterations_per_sk_cta": self.q, "k_tiles_per_tile": self.kt}


def schedule(M: int, N: int, Kd: int, BM: int, BN: int, BK: int, slots: int) -> Schedule | None:
    """The hybrid partition for ``slots`` resident CTAs (SMs x CTAs per SM); None when the tiles fill whole
    waves (nothing to balance)."""
    n_m, n_n, kt = -(-M // BM), -(-N // BN), -(-Kd // BK)
    tiles = n_m * n_n
    full, rest = divmod(tiles, slots)
    if rest == 0 or slots < 1:
        return None
    sk_iters = rest * kt
    q = -(-sk_iters // min(slots, sk_iters))
    return Schedule(BM=BM, BN=BN, n_m=n_m, n_n=n_n, kt=kt, dp_tiles=full * slots, sk_ctas=-(-sk_iters // q), q=q)


def streamk_calls(arch: str, name: str, s: Schedule, M: int, N: int, Kd: int, A: int, W: int, C: int,
                  P: int) -> list[K.KernelCall]:
    """The launches of stream-K schedule ``s`` with stream-K kernel ``name`` (a value of :data:`STREAMK_OF`):
    the stream-K GEMM and its fixup (``P``: fp32 workspace of :meth:`Schedule.workspace_bytes`)."""
    K._need(name in STREAMK_OF.values(), f"stream-K: no stream-K kernel {name} (have {', '.join(STREAMK_OF.values())})")
    spec = K.kernel_specs()[name]
    K._need(arch in spec["archs"], f"{name}: built for {', '.join(spec['archs'])}, not {arch}")
    K._need(Kd % K.GEMM_K_ALIGN == 0 and min(M, N, Kd) >= 1, f"{name}: M, N, K = {M}, {N}, {Kd} (K % 8 == 0)")
    K._need(M * N < 2 ** 31 and s.tiles * s.kt < 2 ** 31, f"{name}: M*N or tiles*k tiles exceed int32")
    K._need(P != 0, f"{name}: stream-K needs a workspace P")
    t = K.gemm_tile(name)
    kt_mul, kt_shr = fast_divisor(s.kt)
    nn_mul, nn_shr = fast_divisor(s.n_n)
    q_mul, q_shr = fast_divisor(s.q)
    main = K.KernelCall(K.load_kernel(name, arch), K.Launch(
        (s.ctas, 1, 1), K._block(name), dict(A=A, W=W, C=C, P=P, M=M, N=N, K=Kd, dp_tiles=s.dp_tiles, q=s.q,
                                             kt_mul=kt_mul, kt_shr=kt_shr, nn_mul=nn_mul, nn_shr=nn_shr),
        dynamic_shared_bytes=t["smem"]))
    fix = t["fixup"]
    fixup = K.KernelCall(K.load_kernel(fix, arch), K.Launch(
        (s.sk_tiles, s.BM * s.BN // 2048, 1), K._block(fix), dict(P=P, C=C, M=M, N=N, kt=s.kt, dp_tiles=s.dp_tiles, q=s.q,
                                                q_mul=q_mul, q_shr=q_shr, nn_mul=nn_mul, nn_shr=nn_shr)))
    return [main, fixup]


__all__ = ["STREAMK_OF", "Schedule", "fast_div", "fast_divisor", "grouped_tile_at", "schedule", "streamk_calls"]

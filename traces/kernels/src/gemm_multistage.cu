// Multistage tensor-core GEMM family for sm_80 / sm_86 / sm_89 (mma.sync m16n8k16, cp.async, ldmatrix),
// built the way CUTLASS 2.x builds its sm80 "MmaMultistage" kernels (our own code):
//
//   C[M,N] = A[M,K] * W[N,K]^T     A: activations, row-major (lda = K)
//                                   W: weights in nn.Linear layout [out, in], row-major (ldw = K)
//                                   C: row-major (ldc = N); fp16 in/out, fp32 accumulation
//
// * STAGES-deep cp.async pipeline (STAGES-1 k tiles in flight while one is consumed), dynamic shared memory.
// * Shared tiles are K-major rows of BK halves (BK/8 16-byte chunks) with an XOR swizzle of the chunk
//   index (64-byte rows: chunk ^ ((row >> 1) & 3); 128-byte rows: chunk ^ (row & 7)), so the 8 row
//   addresses of every ldmatrix phase and of every 8-thread cp.async group hit 8 different 16-byte
//   bank groups (tests/test_gemm_kernels.py walks the addresses and checks it).
// * Register fragments are double buffered: the ldmatrix loads of k slice i+1 issue before the MMAs of
//   slice i; the barrier that releases a shared stage sits before the last slice of a tile, so the
//   first fragments of the next tile load while that slice's MMAs run (CUTLASS MmaMultistage order).
// * Warp tiles WM x WN (64 x 64 for the big tiles, as CUTLASS's sm80 128x256 / 256x128 / 128x128 configs).
// * Tiles rasterised in groups of 8 M tiles (common.cuh grouped_tile; CUTLASS's default swizzle is Identity8).
// * Main loop as CUTLASS's MmaMultistage compiles (NVIDIA/cutlass @ 7107b05535f8977f5ecb9d01ee203205b1fd9bc4,
//   default sm80 f16 TN config 128x256x64, 3 stages, warp tile 64x64x64: 273 instructions per warp and k
//   tile, 128 of them HMMA, one branch; this file's 128x256x64 loop: 226, 128 HMMA, one branch): the
//   copies' global pointers and the fragments' shared addresses are computed once (a k slice's fragment
//   offset is the base XOR a constant), every cp.async is predicated, none is branched around.
// * Predicated edges: rows of A past M and of W past N are not loaded (their products land in C rows /
//   columns that are never stored), 16-byte K chunks past K read 0 bytes and are zero-filled (cp.async
//   src-size 0, CUTLASS's cp_async_zfill: no global access); C is stored only inside [M, N] (half2 stores
//   when N is even, single halves otherwise).  Precondition: K % 8 == 0 (16-byte aligned rows, as
//   CUTLASS's alignment-8 kernels).
// * Split-K (gridDim.z = splits > 1): CTA z accumulates k tiles [z*ktps, min((z+1)*ktps, ceil(K/BK))) and
//   writes fp32 partials to P[z][M][N]; gemm_splitk_reduce_f16 sums them into C (CUTLASS's
//   GemmSplitKParallel + ReduceSplitK scheme).  With splits == 1 the kernel writes C directly and P is unused.
// * Stream-K (gemm_f16_tn_streamk_*, Gemm::run_streamk; Osama et al., "Stream-K: Work-centric Parallel
//   Decomposition for Dense Matrix-Matrix Multiplication on the GPU", PPoPP 2023), the "data-parallel +
//   stream-K" hybrid: a 1-D grid of dp_tiles CTAs that compute one whole tile each and sk_ctas CTAs that each
//   take q consecutive (tile, k tile) iterations of the remaining tiles, running the same main loop
//   (gemm_mainloop.inc) once per tile piece; whole pieces go to C, partial ones as fp32 to two workspace slots
//   per CTA, summed into C by gemm_streamk_fixup_* (BM * BN / 2048 CTAs per tile; no CTA waits for another: the walker traces CTAs
//   independently).  gpusim/llm/streamk.py computes the partition and the launch parameters.
#include "common.cuh"

namespace {
constexpr int LOG_GROUP_M = 3;  // grouped rasterisation, GROUP_M = 8 M tiles

// n / d for 0 <= n < 2^31 and a runtime divisor d >= 1, without the float reciprocal of a runtime division
// (which the walker cannot follow): mul = floor(2^32 (2^l - d) / d) + 1 and l = ceil(log2 d), computed by the
// launcher (gpusim/llm/kernels.py fast_divisor); q = (umulhi(n, mul) + n) >> l, exact for every n < 2^31
// (Granlund & Montgomery, "Division by invariant integers using multiplication", PLDI 1994, Fig. 4.1; the
// sum cannot overflow 32 bits there).  CUTLASS's stream-K scheduler divides by its FastDivmod the same way.
DEVI int fast_div(int n, int mul, int shr) {
    return static_cast<int>((__umulhi(static_cast<uint32_t>(n), static_cast<uint32_t>(mul)) + static_cast<uint32_t>(n)) >> shr);
}

// common.cuh grouped_tile for an explicit grid position (bx, by) of an nN x nM tile grid: the tile a CTA of a
// 2-D grouped launch at blockIdx (bx, by) would compute (the stream-K kernels number tiles linearly).
template <int LOG_G>
DEVI void grouped_tile_at(unsigned bx, unsigned by, unsigned nN, unsigned nM, int &tile_m, int &tile_n) {
    unsigned lg = 0;
#pragma unroll
    for (int g = LOG_G; g > 0; --g)
        if (lg == 0 && by < (nM & ~((1u << g) - 1))) lg = g;
    const unsigned first = (by >> lg) << lg;
    const unsigned local = (by - first) * nN + bx;
    tile_m = static_cast<int>(first + (local & ((1u << lg) - 1)));
    tile_n = static_cast<int>(local >> lg);
}

template <int BK>
DEVI int swz(int row, int chunk) {
    if constexpr (BK == 32)
        return row * BK + ((chunk ^ ((row >> 1) & 3)) << 3);
    else
        return row * BK + ((chunk ^ (row & 7)) << 3);
}

// 16-byte global -> shared copy to a 32-bit shared address (SASS LDGSTS.E.BYPASS.128) that reads
// ``bytes`` (16 or 0) from global memory and zero-fills the rest: CUTLASS's cp_async_zfill (NVIDIA/cutlass
// include/cutlass/arch/memory_sm80.h @ 7107b05535f8977f5ecb9d01ee203205b1fd9bc4, the cp.async src-size form).
DEVI void cp_async16_zfill(uint32_t saddr, const void *gmem, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(saddr), "l"(gmem), "r"(bytes));
}
DEVI void ldsm_x4_s(uint32_t (&r)[4], uint32_t saddr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(saddr));
}

template <int BM, int BN, int BK, int WARPS_M, int WARPS_N, int STAGES>
struct Gemm {
    static constexpr int THREADS = WARPS_M * WARPS_N * 32;
    static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // warp tile
    static constexpr int MT = WM / 16, NT = WN / 8;             // mma tiles per warp
    static constexpr int KS = BK / 16;                          // k slices per tile
    static constexpr int CH = BK / 8;                           // 16-byte chunks per tile row
    static constexpr int A_IT = BM * CH / THREADS, W_IT = BN * CH / THREADS;  // chunks per thread per tile
    static constexpr int STAGE_HALVES = (BM + BN) * BK;
    static constexpr int STAGE_BYTES = STAGE_HALVES * 2;
    static_assert(NT % 2 == 0 && MT >= 1, "warp tile");
    static_assert(BM * CH % THREADS == 0 && BN * CH % THREADS == 0, "loader");
    static_assert(BK == 32 || BK == 64, "swizzle");

    static constexpr int ROWS_PER_IT = THREADS / CH;  // rows one pass of the CTA's threads covers
    static_assert(ROWS_PER_IT % 8 == 0, "swizzle phase is the same for every pass");

    // The copies of one k tile: a thread copies chunk c0 = tid % CH of rows r0 + j * ROWS_PER_IT
    // (r0 = tid / CH) of A (j < A_IT) and W (j < W_IT), to one swizzled offset plus j * ROWS_PER_IT rows.
    // As CUTLASS's PredicatedTileAccessIterator and MmaMultistage do, the thread's global pointers are
    // computed once and advanced by BK per k tile, and every copy is one predicated cp.async without a
    // branch: rows past M (N) are not loaded (their products only feed C rows / columns that are never
    // stored), copies of the tiles past the last are predicated off, and a chunk past K (the last k tile
    // when K % BK != 0) reads 0 bytes and is zero-filled (it meets valid rows of the other operand).
    static constexpr int NCHUNK = A_IT + W_IT;               // 16-byte copies per thread per k tile
    static constexpr int COPY_SLOTS = (KS - 1) * MT;          // MMA rows of the k slices before the barrier
    static_assert(KS >= 2, "the copies of the next tile are spread over the k slices before the barrier");

    struct Loader {
        const half *a, *w;  // row r0 of this CTA's A / W tile, column chunk c0 of the next k tile to load
        size_t rstep;       // elements between a thread's rows (ROWS_PER_IT rows of K)
        int na, nw;         // the thread's rows j < na (nw) lie inside M (N)
        uint32_t dst;       // byte offset of its chunk in a stage (A part)
        int kcol;           // column of its chunk in the next k tile to load
    };

    // Copy c (0 <= c < NCHUNK; A chunks first) of the loader's k tile into the stage at shared address st;
    // lim_a / lim_w: copies j < lim go (0 when the tile is past the last); bytes: 16, or 0 past K.
    static DEVI void copy_chunk(int c, uint32_t st, const Loader &ld, int lim_a, int lim_w, int bytes) {
        const bool is_a = c < A_IT;
        const int j = is_a ? c : c - A_IT;
        const uint32_t d = st + ld.dst + (is_a ? 0 : BM * BK * 2) + j * ROWS_PER_IT * BK * 2;
        if (j < (is_a ? lim_a : lim_w)) cp_async16_zfill(d, (is_a ? ld.a : ld.w) + j * ld.rstep, bytes);
    }

    static DEVI void run(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C,
                         float *__restrict__ P, int M, int N, int K, int ktps) {
        extern __shared__ __align__(128) unsigned char smem_raw[];
        const uint32_t sbase = smem_u32(smem_raw);
        const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
        const int wm = warp % WARPS_M, wn = warp / WARPS_M;
        int tile_m, tile_n;
        grouped_tile<LOG_GROUP_M>(tile_m, tile_n);
        const int m0 = tile_m * BM, n0 = tile_n * BN;
        const int kt_all = (K + BK - 1) / BK;
        const int kt0 = blockIdx.z * ktps;
        const int nkt = min(kt_all - kt0, ktps);  // >= 1 (the launcher sizes ktps so)

#include "gemm_mainloop.inc"

        // epilogue: each lane holds rows (lane>>2, +8) x columns 2*(lane&3), +1 of every 16x8 tile.  An
        // fp16 column pair is one 32-bit store where N is even, else two element stores; fp32 split-K
        // partials are two 32-bit stores (keeps the listing small); all predicated on [M, N].
        const int rbase = m0 + wm * WM + (lane >> 2), cbase = n0 + wn * WN + (lane & 3) * 2;
        const bool even = (N & 1) == 0;
        if (gridDim.z > 1) {
            float *Pz = P + (size_t)blockIdx.z * M * N;
            store_tile(acc, rbase, cbase, M, N, [&](size_t o, int col, float v0, float v1) {
                Pz[o] = v0;
                if (col + 1 < N) Pz[o + 1] = v1; });
        } else {
            store_tile(acc, rbase, cbase, M, N, [&](size_t o, int col, float v0, float v1) {
                if (even) {
                    *reinterpret_cast<uint32_t *>(C + o) = pack_half2(v0, v1);
                } else {
                    C[o] = __float2half_rn(v0);
                    if (col + 1 < N) C[o + 1] = __float2half_rn(v1);
                } });
        }
    }

    // Stream-K, "data-parallel + stream-K" hybrid (see the file comment).  Tiles are numbered L = by * nN + bx
    // in the grouped order of a 2-D launch; every tile has kt = ceil(K / BK) k iterations.  CTA b < dp_tiles
    // computes tile b whole; CTA dp_tiles + j computes the iterations [j*q, min((j+1)*q, sk_iters)) of the
    // stream-K range (tiles dp_tiles.., iterations counted from dp_tiles*kt), piece by piece: a piece is the
    // part of the range inside one tile, computed by the main loop over its k tiles.  A whole tile is stored
    // to C in fp16; a partial one as fp32 to P slot 2j (the CTA's first piece) or 2j+1 (its last piece),
    // BM x BN, tile-local rows of BN; gemm_streamk_fixup_* sums the slots of each partial tile into C.
    static DEVI void run_streamk(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C,
                                 float *__restrict__ P, int M, int N, int K, int dp_tiles, int q,
                                 int kt_mul, int kt_shr, int nn_mul, int nn_shr) {
        extern __shared__ __align__(128) unsigned char smem_raw[];
        const uint32_t sbase = smem_u32(smem_raw);
        const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
        const int wm = warp % WARPS_M, wn = warp / WARPS_M;
        const int kt = (K + BK - 1) / BK, nN = (N + BN - 1) / BN, nM = (M + BM - 1) / BM;
        const int j = static_cast<int>(blockIdx.x) - dp_tiles;
        const int u_s = j < 0 ? blockIdx.x * kt : dp_tiles * kt + j * q;   // the CTA's iterations [u_s, u_e)
        const int u_e = j < 0 ? u_s + kt : min(u_s + q, nM * nN * kt);
        const bool even = (N & 1) == 0;
        for (int u = u_s; u < u_e;) {
            const int L = fast_div(u, kt_mul, kt_shr), by = fast_div(L, nn_mul, nn_shr);
            const int kt0 = u - L * kt;
            const int nkt = min(kt - kt0, u_e - u);
            int tile_m, tile_n;
            grouped_tile_at<LOG_GROUP_M>(L - by * nN, by, nN, nM, tile_m, tile_n);
            const int m0 = tile_m * BM, n0 = tile_n * BN;
            if (u != u_s) __syncthreads();  // every warp is done reading the previous piece's shared stages

#include "gemm_mainloop.inc"

            const int rbase = m0 + wm * WM + (lane >> 2), cbase = n0 + wn * WN + (lane & 3) * 2;
            if (nkt == kt) {
                store_tile(acc, rbase, cbase, M, N, [&](size_t o, int col, float v0, float v1) {
                    if (even) {
                        *reinterpret_cast<uint32_t *>(C + o) = pack_half2(v0, v1);
                    } else {
                        C[o] = __float2half_rn(v0);
                        if (col + 1 < N) C[o + 1] = __float2half_rn(v1);
                    } });
            } else {
                float *Pt = P + (size_t)(2 * j + (u != u_s)) * (BM * BN);
                store_tile_rc(acc, rbase, cbase, M, N, [&](int row, int col, float v0, float v1) {
                    const int o = (row - m0) * BN + (col - n0);
                    Pt[o] = v0;
                    if (col + 1 < N) Pt[o + 1] = v1; });
            }
            u += nkt;
        }
    }

    template <class Store>
    static DEVI void store_tile_rc(const float (&acc)[MT][NT][4], int rbase, int cbase, int M, int N, Store st) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int row = rbase + mt * 16 + h * 8, col = cbase + nt * 8;
                    if (row < M && col < N) st(row, col, acc[mt][nt][2 * h], acc[mt][nt][2 * h + 1]);
                }
    }

    template <class Store>
    static DEVI void store_tile(const float (&acc)[MT][NT][4], int rbase, int cbase, int M, int N, Store st) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int row = rbase + mt * 16 + h * 8, col = cbase + nt * 8;
                    if (row < M && col < N) st((size_t)row * N + col, col, acc[mt][nt][2 * h], acc[mt][nt][2 * h + 1]);
                }
    }
};
}  // namespace

#define GEMM_KERNEL(NAME, BM, BN, BK, WMS, WNS, ST)                                                        \
    extern "C" __global__ void __launch_bounds__(WMS * WNS * 32)                                          \
    NAME(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C, float *__restrict__ P, \
         int M, int N, int K, int ktps) {                                                                  \
        Gemm<BM, BN, BK, WMS, WNS, ST>::run(A, W, C, P, M, N, K, ktps);                                  \
    }

// CTA tile, warps (M x N), stages: a subset of CUTLASS's sm80 f16 tensor-op tile list (see kernels.yaml)
GEMM_KERNEL(gemm_f16_tn_128x256x32_s3, 128, 256, 32, 2, 4, 3)  // 8 warps, warp tile 64x64, 72 KiB
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ == 800  // 144 KiB of shared memory: GA100's 164 KiB SM only
GEMM_KERNEL(gemm_f16_tn_128x256x64_s3, 128, 256, 64, 2, 4, 3)  // 8 warps, warp tile 64x64, 144 KiB
#endif
GEMM_KERNEL(gemm_f16_tn_128x128x32_s4, 128, 128, 32, 2, 2, 4)  // 4 warps, warp tile 64x64, 64 KiB
GEMM_KERNEL(gemm_f16_tn_128x64x32_s6, 128, 64, 32, 2, 2, 6)    // 4 warps, warp tile 64x32, 72 KiB
GEMM_KERNEL(gemm_f16_tn_64x64x32_s6, 64, 64, 32, 2, 2, 6)      // 4 warps, warp tile 32x32, 48 KiB
// BK = 64 small tiles for skinny / small-M shapes: every k tile moves a whole 128-byte line of each A and W
// row (BK = 32 moves half a line), the tiles cuBLAS names *_64x64_..._stages_64x5, 64x128 / 128x64 stages_64x3
GEMM_KERNEL(gemm_f16_tn_64x64x64_s5, 64, 64, 64, 2, 2, 5)      // 4 warps, warp tile 32x32, 80 KiB
GEMM_KERNEL(gemm_f16_tn_64x128x64_s3, 64, 128, 64, 2, 2, 3)    // 4 warps, warp tile 32x64, 72 KiB
GEMM_KERNEL(gemm_f16_tn_128x64x64_s3, 128, 64, 64, 2, 2, 3)    // 4 warps, warp tile 64x32, 72 KiB

// Split-K reduction: C[i] = sum_z P[z][i] over the M*N elements (8 per thread, 16-byte vectors where
// the 8 elements are inside; the last partial group element by element).
extern "C" __global__ void __launch_bounds__(256)
gemm_splitk_reduce_f16(const float *__restrict__ P, half *__restrict__ C, int MN, int splits) {
    const long i0 = ((long)blockIdx.x * 256 + threadIdx.x) * 8;
    if (i0 >= MN) return;
    if (i0 + 8 <= MN && (MN & 3) == 0) {
        float s[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) s[e] = 0.f;
        for (int z = 0; z < splits; ++z) {
            const float4 *p = reinterpret_cast<const float4 *>(P + (size_t)z * MN + i0);
            const float4 u = p[0], v = p[1];
            s[0] += u.x; s[1] += u.y; s[2] += u.z; s[3] += u.w;
            s[4] += v.x; s[5] += v.y; s[6] += v.z; s[7] += v.w;
        }
        if ((MN & 7) == 0) {
            *reinterpret_cast<uint4 *>(C + i0) = pack8(s);
        } else {
#pragma unroll
            for (int e = 0; e < 8; ++e) C[i0 + e] = __float2half_rn(s[e]);
        }
    } else {
        for (long i = i0; i < MN && i < i0 + 8; ++i) {
            float s = 0.f;
            for (int z = 0; z < splits; ++z) s += P[(size_t)z * MN + i];
            C[i] = __float2half_rn(s);
        }
    }
}

// Stream-K: the hybrid kernels (Gemm::run_streamk; grid (dp_tiles + sk_ctas, 1, 1)) and the fixup that sums
// the fp32 partials of the tiles several CTAs shared (grid (sk_tiles, BM * BN / 2048, 1)).
#define GEMM_STREAMK_KERNEL(NAME, BM, BN, BK, WMS, WNS, ST)                                                \
    extern "C" __global__ void __launch_bounds__(WMS * WNS * 32)                                          \
    NAME(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C, float *__restrict__ P, \
         int M, int N, int K, int dp_tiles, int q, int kt_mul, int kt_shr, int nn_mul, int nn_shr) {       \
        Gemm<BM, BN, BK, WMS, WNS, ST>::run_streamk(A, W, C, P, M, N, K, dp_tiles, q, kt_mul, kt_shr,     \
                                                    nn_mul, nn_shr);                                       \
    }
GEMM_STREAMK_KERNEL(gemm_f16_tn_streamk_128x256x32_s3, 128, 256, 32, 2, 4, 3)
GEMM_STREAMK_KERNEL(gemm_f16_tn_streamk_128x128x32_s4, 128, 128, 32, 2, 2, 4)

// Stream-K fixup for BM x BN tiles: stream-K tile t (tile dp_tiles + t) has the iterations [t*kt, (t+1)*kt)
// of the stream-K range; its CTAs are first = t*kt / q .. last = ((t+1)*kt - 1) / q.  first == last: that CTA
// stored the tile.  Else C = the sum of the slots 2z of CTAs z in (first, last] and of CTA first's slot
// (2 first + 1 when it began before the tile, its last piece; 2 first when it began at the tile, its first).
// Grid (sk_tiles, BM * BN / 2048): CTA y of a tile sums rows [y * 2048 / BN, (y + 1) * 2048 / BN), 8 consecutive
// columns per thread (16-byte vectors when N % 8 == 0, else element by element), so the partials' reads come
// from sk_tiles x BM x BN / 2048 CTAs at once.
template <int BM, int BN>
DEVI void streamk_fixup(const float *__restrict__ P, half *__restrict__ C, int M, int N, int kt, int dp_tiles,
                        int q, int q_mul, int q_shr, int nn_mul, int nn_shr) {
    const int u0 = blockIdx.x * kt;
    const int first = fast_div(u0, q_mul, q_shr), last = fast_div(u0 + kt - 1, q_mul, q_shr);
    if (first == last) return;
    const int nN = (N + BN - 1) / BN, nM = (M + BM - 1) / BM;
    const int L = dp_tiles + blockIdx.x, by = fast_div(L, nn_mul, nn_shr);
    int tile_m, tile_n;
    grouped_tile_at<LOG_GROUP_M>(L - by * nN, by, nN, nM, tile_m, tile_n);
    const int m0 = tile_m * BM, n0 = tile_n * BN;
    const bool vec = (N & 7) == 0;
    static_assert(BM * BN % 2048 == 0, "whole CTAs of 256 threads x 8 elements per tile");
    {
        const int v = blockIdx.y * 256 + threadIdx.x;
        const int r = v / (BN / 8), c = (v % (BN / 8)) * 8, row = m0 + r, col = n0 + c;
        if (row >= M || col >= N) return;
        float s[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) s[e] = 0.f;
        for (int z = first; z <= last; ++z) {
            const float *p = P + (size_t)(2 * z + (z == first && z * q < u0)) * (BM * BN) + r * BN + c;
            if (vec) {
                const float4 a = reinterpret_cast<const float4 *>(p)[0], b = reinterpret_cast<const float4 *>(p)[1];
                s[0] += a.x; s[1] += a.y; s[2] += a.z; s[3] += a.w;
                s[4] += b.x; s[5] += b.y; s[6] += b.z; s[7] += b.w;
            } else {
                for (int e = 0; e < 8 && col + e < N; ++e) s[e] += p[e];
            }
        }
        half *o = C + (size_t)row * N + col;
        if (vec) {
            *reinterpret_cast<uint4 *>(o) = pack8(s);
        } else {
            for (int e = 0; e < 8 && col + e < N; ++e) o[e] = __float2half_rn(s[e]);
        }
    }
}

#define GEMM_STREAMK_FIXUP(NAME, BM, BN)                                                                    \
    extern "C" __global__ void __launch_bounds__(256)                                                     \
    NAME(const float *__restrict__ P, half *__restrict__ C, int M, int N, int kt, int dp_tiles, int q,      \
         int q_mul, int q_shr, int nn_mul, int nn_shr) {                                                  \
        streamk_fixup<BM, BN>(P, C, M, N, kt, dp_tiles, q, q_mul, q_shr, nn_mul, nn_shr);                 \
    }
GEMM_STREAMK_FIXUP(gemm_streamk_fixup_f16_128x256, 128, 256)
GEMM_STREAMK_FIXUP(gemm_streamk_fixup_f16_128x128, 128, 128)

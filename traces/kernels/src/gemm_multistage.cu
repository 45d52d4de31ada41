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
// * Predicated edges: rows of A past M and of W past N load the last valid row (their products land in C
//   rows / columns that are never stored), 16-byte K chunks past K are zero-filled in shared memory (no
//   global access); C is stored only inside [M, N] (half2 stores when N is even, single halves otherwise).  Precondition: K % 8 == 0 (16-byte aligned rows, as CUTLASS's alignment-8 kernels).
// * Split-K (gridDim.z = splits > 1): CTA z accumulates k tiles [z*ktps, min((z+1)*ktps, ceil(K/BK))) and
//   writes fp32 partials to P[z][M][N]; gemm_splitk_reduce_f16 sums them into C (CUTLASS's
//   GemmSplitKParallel + ReduceSplitK scheme).  With splits == 1 the kernel writes C directly and P is unused.
#include "common.cuh"

namespace {
constexpr int LOG_GROUP_M = 3;  // grouped rasterisation, GROUP_M = 8 M tiles

template <int BK>
DEVI int swz(int row, int chunk) {
    if constexpr (BK == 32)
        return row * BK + ((chunk ^ ((row >> 1) & 3)) << 3);
    else
        return row * BK + ((chunk ^ (row & 7)) << 3);
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
    static_assert(NT % 2 == 0 && MT >= 1, "warp tile");
    static_assert(BM * CH % THREADS == 0 && BN * CH % THREADS == 0, "loader");
    static_assert(BK == 32 || BK == 64, "swizzle");

    static constexpr int ROWS_PER_IT = THREADS / CH;  // rows one pass of the CTA's threads covers
    static_assert(ROWS_PER_IT % 8 == 0, "swizzle phase is the same for every pass");

    // One k tile (kt) of A and W into a stage.  A thread copies chunk c0 = tid % CH of rows
    // r0 + j * ROWS_PER_IT (r0 = tid / CH), to one swizzled offset plus j * ROWS_PER_IT rows.  Rows past
    // M (N) are clamped to the last row: they only feed C rows (columns) that are never stored, so no
    // per-row predicate is needed (CUTLASS zero-fills them instead; ptxas packs that many predicates into
    // a register bitfield).  Chunks past K are zero-filled: they meet valid rows of the other operand.
    static constexpr int NCHUNK = A_IT + W_IT;               // 16-byte copies per thread per k tile
    static constexpr int COPY_SLOTS = (KS - 1) * MT;          // MMA rows of the k slices before the barrier
    static_assert(KS >= 2, "the copies of the next tile are spread over the k slices before the barrier");

    // Copy c (0 <= c < NCHUNK; A chunks first) of one k tile into a stage.
    static DEVI void load_chunk(int c, half *stage, const half *__restrict__ A, const half *__restrict__ W, int arow,
                                int wrow, int M, int N, int dst, int k, bool kok, int K) {
        const bool is_a = c < A_IT;
        const int j = is_a ? c : c - A_IT;
        half *d = stage + (is_a ? 0 : BM * BK) + dst + j * ROWS_PER_IT * BK;
        if (kok) {
            const int row = is_a ? min(arow + j * ROWS_PER_IT, M - 1) : min(wrow + j * ROWS_PER_IT, N - 1);
            cp_async16(d, (is_a ? A : W) + (size_t)row * K + k);
        } else {
            *reinterpret_cast<uint4 *>(d) = make_uint4(0, 0, 0, 0);
        }
    }

    // One whole k tile (kt) into a stage (prologue).
    static DEVI void load_stage(half *stage, const half *__restrict__ A, const half *__restrict__ W, int arow,
                                int wrow, int M, int N, int c0, int dst, int kt, int K) {
        const int k = kt * BK + c0 * 8;
#pragma unroll
        for (int c = 0; c < NCHUNK; ++c) load_chunk(c, stage, A, W, arow, wrow, M, N, dst, k, k < K, K);
    }

    static DEVI void load_frags(uint32_t (&a)[MT][4], uint32_t (&b)[NT / 2][4], const half *stage, int kk, int wm,
                                int wn, int lane) {
        const half *as = stage, *bs = stage + BM * BK;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
            ldsm_x4(a[mt], as + swz<BK>(wm * WM + mt * 16 + (lane & 15), kk * 2 + (lane >> 4)));
#pragma unroll
        for (int np = 0; np < NT / 2; ++np)
            ldsm_x4(b[np], bs + swz<BK>(wn * WN + np * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1)));
    }

    static DEVI void run(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C,
                         float *__restrict__ P, int M, int N, int K, int ktps) {
        extern __shared__ __align__(128) unsigned char smem_raw[];
        half *smem = reinterpret_cast<half *>(smem_raw);
        const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
        const int wm = warp % WARPS_M, wn = warp / WARPS_M;
        int tile_m, tile_n;
        grouped_tile<LOG_GROUP_M>(tile_m, tile_n);
        const int m0 = tile_m * BM, n0 = tile_n * BN;
        const int kt_all = (K + BK - 1) / BK;
        const int kt0 = blockIdx.z * ktps;
        const int nkt = min(kt_all - kt0, ktps);  // >= 1 (the launcher sizes ktps so)

        // the thread's cp.async chunks: column chunk c0 of rows r0 + j * ROWS_PER_IT of the tiles
        const int r0 = tid / CH, c0 = tid % CH, dst = swz<BK>(r0, c0);
        const int arow = m0 + r0, wrow = n0 + r0;

        float acc[MT][NT][4];
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j)
#pragma unroll
                for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;

        // prologue: STAGES-1 k tiles in flight
#pragma unroll
        for (int s = 0; s < STAGES - 1; ++s) {
            if (s < nkt) load_stage(smem + s * STAGE_HALVES, A, W, arow, wrow, M, N, c0, dst, kt0 + s, K);
            cp_async_commit();
        }
        cp_async_wait<STAGES - 2>();
        __syncthreads();

        uint32_t fa[2][MT][4], fb[2][NT / 2][4];
        int rs = 0, ws = STAGES - 1;  // stage read / stage written by the prefetch
        load_frags(fa[0], fb[0], smem, 0, wm, wn, lane);

        for (int it = 0; it < nkt; ++it) {
            // the copies of k tile it+STAGES-1 go to stage ws, freed by the previous iteration's barrier;
            // they are spread between the MMA rows of the k slices before this iteration's barrier
            // (CUTLASS MmaMultistage's "copy groups"), so no warp issues them as one burst
            const bool more = it + STAGES - 1 < nkt;
            const int knext = (kt0 + it + STAGES - 1) * BK + c0 * 8;
            const bool kok = knext < K;
            half *wstage = smem + ws * STAGE_HALVES;
#pragma unroll
            for (int kk = 0; kk < KS; ++kk) {
                if (kk == KS - 1) {
                    cp_async_commit();
                    ws = (ws + 1 == STAGES) ? 0 : ws + 1;
                    cp_async_wait<STAGES - 2>();  // k tile it+1 has landed (for this thread) ...
                    __syncthreads();              // ... for all, and every warp is done reading stage it-1
                    rs = (rs + 1 == STAGES) ? 0 : rs + 1;
                }
                // fragments of the next k slice (of the next stage after the barrier)
                load_frags(fa[(kk + 1) & 1], fb[(kk + 1) & 1], smem + rs * STAGE_HALVES, (kk + 1) % KS, wm, wn, lane);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
                    for (int nt = 0; nt < NT; ++nt)
                        mma_16816(acc[mt][nt], fa[kk & 1][mt], fb[kk & 1][nt / 2][(nt & 1) * 2],
                                  fb[kk & 1][nt / 2][(nt & 1) * 2 + 1]);
                    if (kk < KS - 1) {
                        const int slot = kk * MT + mt;
#pragma unroll
                        for (int c = 0; c < NCHUNK; ++c)
                            if (c * COPY_SLOTS / NCHUNK == slot && more)
                                load_chunk(c, wstage, A, W, arow, wrow, M, N, dst, knext, kok, K);
                    }
                }
            }
        }
        cp_async_wait<0>();

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

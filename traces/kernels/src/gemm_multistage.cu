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

        // the thread's cp.async chunks: column chunk c0 of rows r0 + j * ROWS_PER_IT of the tiles
        const int r0 = tid / CH, c0 = tid % CH;
        const int arow = m0 + r0, wrow = n0 + r0;
        Loader ld;
        ld.kcol = kt0 * BK + c0 * 8;
        ld.rstep = (size_t)ROWS_PER_IT * K;
        ld.a = A + (size_t)min(arow, M - 1) * K + ld.kcol;
        ld.w = W + (size_t)min(wrow, N - 1) * K + ld.kcol;
        ld.na = arow < M ? (M - arow + ROWS_PER_IT - 1) / ROWS_PER_IT : 0;
        ld.nw = wrow < N ? (N - wrow + ROWS_PER_IT - 1) / ROWS_PER_IT : 0;
        ld.dst = swz<BK>(r0, c0) * 2;

        // fragment addresses: the byte offset of k slice kk is off ^ (kk << 5) (the slice's chunk pair
        // kk*2, kk*2+1 XOR the row's swizzle phase, which does not depend on mt / np); mt / np add
        // whole 16-row blocks
        const uint32_t a_off = swz<BK>(wm * WM + (lane & 15), lane >> 4) * 2;
        const uint32_t b_off = BM * BK * 2 + swz<BK>(wn * WN + (lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1) * 2;

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
            const bool go = s < nkt;
            const uint32_t st = sbase + s * STAGE_BYTES;
#pragma unroll
            for (int c = 0; c < NCHUNK; ++c) copy_chunk(c, st, ld, go ? ld.na : 0, go ? ld.nw : 0, ld.kcol < K ? 16 : 0);
            cp_async_commit();
            ld.a += BK;
            ld.w += BK;
            ld.kcol += BK;
        }
        cp_async_wait<STAGES - 2>();
        __syncthreads();

        uint32_t fa[2][MT][4], fb[2][NT / 2][4];
        uint32_t rst = sbase;                                // stage read
        uint32_t wst = sbase + (STAGES - 1) * STAGE_BYTES;   // stage written by the prefetch
        auto load_frags = [&](uint32_t (&a)[MT][4], uint32_t (&b)[NT / 2][4], uint32_t st, int kk) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) ldsm_x4_s(a[mt], st + (a_off ^ (kk << 5)) + mt * 16 * BK * 2);
#pragma unroll
            for (int np = 0; np < NT / 2; ++np) ldsm_x4_s(b[np], st + (b_off ^ (kk << 5)) + np * 16 * BK * 2);
        };
        load_frags(fa[0], fb[0], rst, 0);

        for (int it = 0; it < nkt; ++it) {
            // the copies of k tile it+STAGES-1 go to stage wst, freed by the previous iteration's barrier;
            // they are spread between the MMA rows of the k slices before this iteration's barrier
            // (CUTLASS MmaMultistage's "copy groups"), so no warp issues them as one burst
            const bool go = it + STAGES - 1 < nkt;
            const int lim_a = go ? ld.na : 0, lim_w = go ? ld.nw : 0, bytes = ld.kcol < K ? 16 : 0;
#pragma unroll
            for (int kk = 0; kk < KS; ++kk) {
                if (kk == KS - 1) {
                    cp_async_commit();
                    wst = (wst == sbase + (STAGES - 1) * STAGE_BYTES) ? sbase : wst + STAGE_BYTES;
                    cp_async_wait<STAGES - 2>();  // k tile it+1 has landed (for this thread) ...
                    __syncthreads();              // ... for all, and every warp is done reading stage it-1
                    rst = (rst == sbase + (STAGES - 1) * STAGE_BYTES) ? sbase : rst + STAGE_BYTES;
                    ld.a += BK;
                    ld.w += BK;
                    ld.kcol += BK;
                }
                // fragments of the next k slice (of the next stage after the barrier)
                load_frags(fa[(kk + 1) & 1], fb[(kk + 1) & 1], rst, (kk + 1) % KS);
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
                            if (c * COPY_SLOTS / NCHUNK == slot) copy_chunk(c, wst, ld, lim_a, lim_w, bytes);
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

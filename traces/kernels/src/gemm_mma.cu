// Tiled tensor-core GEMM for the linear layers of prefill and large-batch decode (sm_80+).
//
//   C[M,N] = A[M,K] * W[N,K]^T     A: activations, row-major (lda = K)
//                                   W: weights in PyTorch nn.Linear layout [out, in], row-major (ldw = K)
//                                   C: row-major (ldc = N); fp16 in/out, fp32 accumulation
//
// Tiling (launch constants, see also traces/kernels/kernels.yaml):
//   CTA tile BM x BN x BK = 128 x 128 x 32, 8 warps as 2 (M) x 4 (N), warp tile 64 x 32
//   = 4 x 4 mma.sync.m16n8k16 per 16-wide k step; STAGES = 3 cp.async pipeline stages
//   (2 tiles in flight while one is consumed), 48 KiB static shared memory.
//   Grid (ceil(N/BN), ceil(M/BM)); block 256 threads.  Tiles are rasterised in groups of GROUP_M = 8
//   M tiles (common.cuh grouped_tile): consecutive CTAs share W tiles in L2.
// Shared-memory tiles are 64-byte rows (4 chunks of 16 B) with chunk' = chunk ^ ((row >> 1) & 3),
// so the 8 row addresses of every ldmatrix phase hit 8 different 16-byte bank groups.
// Preconditions: K % 32 == 0, N % 8 == 0, 16-byte aligned pointers.  Rows past M or N are
// zero-filled in shared memory (no global access) and never stored.
#include "common.cuh"

namespace {
constexpr int BM = 128, BN = 128, BK = 32, WARPS_M = 2, WARPS_N = 4, STAGES = 3;
constexpr int LOG_GROUP_M = 3;  // grouped rasterisation, GROUP_M = 8 M tiles (common.cuh grouped_tile)
constexpr int THREADS = WARPS_M * WARPS_N * 32;   // 256
constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // 64 x 32 per warp
constexpr int MT = WM / 16, NT = WN / 8;            // 4 x 4 mma tiles per warp
constexpr int CHUNKS = BK / 8;                      // 16-byte chunks per tile row

DEVI int swz(int row, int chunk) { return row * BK + ((chunk ^ ((row >> 1) & 3)) << 3); }

// One BR x BK tile of a K-major matrix (g: its first row) into shared memory; rows >= rows_left are zero-filled.
template <int BR>
DEVI void load_tile(half *smem, const half *g, int rows_left, int K, int k0, int tid) {
#pragma unroll
    for (int j = 0; j < BR * CHUNKS / THREADS; ++j) {
        const int idx = tid + j * THREADS, row = idx / CHUNKS, ch = idx % CHUNKS;
        half *dst = smem + swz(row, ch);
        if (row < rows_left)
            cp_async16(dst, g + (size_t)row * K + k0 + ch * 8);
        else
            *reinterpret_cast<uint4 *>(dst) = make_uint4(0, 0, 0, 0);
    }
}
}  // namespace

extern "C" __global__ void __launch_bounds__(THREADS)
gemm_f16_tn_128x128x32_s3(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C,
                          int M, int N, int K) {
    __shared__ __align__(128) half As[STAGES][BM * BK];
    __shared__ __align__(128) half Ws[STAGES][BN * BK];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    int tile_m, tile_n;
    grouped_tile<LOG_GROUP_M>(tile_m, tile_n);
    const int m0 = tile_m * BM, n0 = tile_n * BN;
    const int KT = K / BK;
    const half *Ag = A + (size_t)m0 * K, *Wg = W + (size_t)n0 * K;  // the CTA's A and W row panels
    const int a_rows = M - m0, w_rows = N - n0;                      // rows of them inside the matrices

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;

    // prologue: STAGES-1 tiles in flight
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < KT) {
            load_tile<BM>(As[s], Ag, a_rows, K, s * BK, tid);
            load_tile<BN>(Ws[s], Wg, w_rows, K, s * BK, tid);
        }
        cp_async_commit();
    }

    int rs = 0, ws = STAGES - 1;  // stage read this iteration / stage written by the prefetch
    for (int kt = 0; kt < KT; ++kt) {
        cp_async_wait<STAGES - 2>();  // tile kt has landed
        __syncthreads();              // ... for every thread, and stage ws is free again
        if (kt + STAGES - 1 < KT) {
            load_tile<BM>(As[ws], Ag, a_rows, K, (kt + STAGES - 1) * BK, tid);
            load_tile<BN>(Ws[ws], Wg, w_rows, K, (kt + STAGES - 1) * BK, tid);
        }
        cp_async_commit();

        const half *as = As[rs], *bs = Ws[rs];
#pragma unroll
        for (int kk = 0; kk < BK / 16; ++kk) {
            uint32_t a[MT][4], b[NT / 2][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
                ldsm_x4(a[mt], as + swz(wm * WM + mt * 16 + (lane & 15), kk * 2 + (lane >> 4)));
#pragma unroll
            for (int np = 0; np < NT / 2; ++np)
                ldsm_x4(b[np], bs + swz(wn * WN + np * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1)));
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < NT; ++nt)
                    mma_16816(acc[mt][nt], a[mt], b[nt / 2][(nt & 1) * 2], b[nt / 2][(nt & 1) * 2 + 1]);
        }
        rs = (rs + 1 == STAGES) ? 0 : rs + 1;
        ws = (ws + 1 == STAGES) ? 0 : ws + 1;
    }

    // epilogue: fp32 accumulators -> fp16, two adjacent columns per store
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
            const int row = m0 + wm * WM + mt * 16 + (lane >> 2);
            const int col = n0 + wn * WN + nt * 8 + (lane & 3) * 2;
            if (col < N) {
                if (row < M)
                    *reinterpret_cast<uint32_t *>(C + (size_t)row * N + col) = pack_half2(acc[mt][nt][0], acc[mt][nt][1]);
                if (row + 8 < M)
                    *reinterpret_cast<uint32_t *>(C + (size_t)(row + 8) * N + col) = pack_half2(acc[mt][nt][2], acc[mt][nt][3]);
            }
        }
}

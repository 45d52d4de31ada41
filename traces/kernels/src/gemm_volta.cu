// Volta (sm_70) tensor-core GEMM: C[M,N] = A[M,K] . W[N,K]^T, fp16 in, fp32 accumulate, fp16 out.
//
// Volta has neither cp.async (sm_80) nor ldmatrix (sm_75) nor mma m16n8k16 (sm_80): its only mma.sync
// shape is m8n8k4, which the warp executes as four independent 8x8x4 products, one per "quad pair"
// (QP q = lanes 4q..4q+3 and 4q+16..4q+19), and which ptxas lowers to 4 HMMA.884.F32.F32.STEPn
// instructions (f32 accumulators).  Like CUTLASS's Volta tensor-op path (NVIDIA/cutlass
// include/cutlass/arch/mma_sm70.h: Mma<GemmShape<16,16,4>, 32, half, RowMajor, half, ColumnMajor, float>
// is ONE mma.sync.aligned.m8n8k4 in which the four QPs cover the four 8x8 quadrants of a 16x16 tile;
// include/cutlass/gemm/warp/mma_tensor_op_sm70.h builds the warp tile from those 16x16x4 steps;
// include/cutlass/gemm/threadblock/default_mma_core_sm70.h: 2-stage "pipelined" mainloop, global ->
// registers -> shared memory), the CTA computes a 128x128 tile with 8 warps (2 x 4, 64x32 each):
//   * QP q of an m8n8k4 takes rows (q & 1) * 8 .. +7 and columns (q >> 1) * 8 .. +7 of the 16x16 tile;
//     in a QP, lane l (l & 3, and +4 for the upper half-warp) holds row l of A (4 consecutive k, .row)
//     and column l of B (4 consecutive k, .col: W's K-contiguous rows), PTX ISA "Matrix Fragments for
//     mma.m8n8k4 with .f16 floating point type"; the f32 accumulator element i of lane l sits at row
//     (l & 1) + (i & 2) + 4 * (l >= 16), column (i & 4) + (l & 2) + (i & 1) of the QP's 8x8 block.
//   * Mainloop over BK = 32 or 64 (two kernels): the next A/W tile is loaded with 16-byte ld.global into registers while
//     the current one is multiplied from shared memory, then stored to the other shared buffer (two
//     buffers, one __syncthreads per k tile).  Shared rows are padded by 8 halves (BK 32, 80 B) or
//     XOR-swizzled (BK 64, see soff) so that the 16-byte fragment loads spread over the 32 banks.
//   * Each thread reads 8 consecutive k of its A row / W column with one 16-byte ld.shared (two k4 steps).
// Grid (ceil(N/128), ceil(M/128)), tiles in grouped order (group_m 8, common.cuh).  Rows of A / W past
// M / N are zero-filled and not stored.  One CTA per SM (see the launch bounds).  Preconditions: K % BK == 0, 16-byte aligned rows.
#include "common.cuh"

namespace {
constexpr int BM = 128, BN = 128, THREADS = 256, WM = 64, WN = 32;

DEVI void mma_884(float (&d)[8], const uint32_t a0, const uint32_t a1, const uint32_t b0, const uint32_t b1) {
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f32.f16.f16.f32 {%0,%1,%2,%3,%4,%5,%6,%7}, {%8,%9}, {%10,%11}, "
                 "{%0,%1,%2,%3,%4,%5,%6,%7};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
                 : "r"(a0), "r"(a1), "r"(b0), "r"(b1));
}

template <int BK>
DEVI void gemm_volta(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C, int M, int N,
                     int K, half *smem) {
    // BK 32: rows padded by 8 halves.  BK 64: unpadded 128-byte rows with the 16-byte chunk index XORed with
    // swz(row) = (row & 3) | ((row >> 3) & 1) << 2 -- a 128-bit ld.shared is served in 4 phases of 8 lanes,
    // and a phase of the fragment loads reads rows {r..r+3} and {r+8..r+11} (quad pairs 0/1 or 2/3), which
    // fall on the same banks under any padding (8 rows apart); the XOR spreads them over all 32 banks, and
    // the 8 lanes of a phase of the tile stores (one row) over 8 distinct chunks.  This is the purpose of
    // CUTLASS's Volta shared-memory layouts (include/cutlass/layout/tensor_op_multiplicand_sm70.h).
    constexpr bool SWZ = BK == 64;
    constexpr int LDS_H = SWZ ? BK : BK + 8;       // shared row, halves
    constexpr int CHUNKS = BM * BK / 8 / THREADS;  // 16-byte chunks per thread per operand tile
    constexpr int CPR = BK / 8;                    // 16-byte chunks per tile row
    int tile_m, tile_n;
    grouped_tile<3>(tile_m, tile_n);
    const int m0 = tile_m * BM, n0 = tile_n * BN;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = (warp & 1) * WM, wn = (warp >> 1) * WN;
    const int qp = (lane >> 2) & 3, lrow = (lane & 3) + ((lane >> 4) << 2);
    half *As = smem, *Bs = smem + 2 * BM * LDS_H;   // [2][BM][LDS_H], [2][BN][LDS_H]
    // halves offset of chunk c (8 halves) of shared row r
    auto soff = [&](int r, int c) { return r * LDS_H + ((SWZ ? c ^ ((r & 3) | (((r >> 3) & 1) << 2)) : c) << 3); };

    // global -> register staging: chunk c of the tile is row c / CPR, 8 halves at (c % CPR) * 8
    uint4 ra[CHUNKS], rb[CHUNKS];
    auto load_tile = [&](int k0) {
#pragma unroll
        for (int i = 0; i < CHUNKS; ++i) {
            const int c = tid + i * THREADS, r = c / CPR, col = (c % CPR) * 8;
            ra[i] = rb[i] = make_uint4(0u, 0u, 0u, 0u);
            if (m0 + r < M) ra[i] = __ldg(reinterpret_cast<const uint4 *>(A + (size_t)(m0 + r) * K + k0 + col));
            if (n0 + r < N) rb[i] = __ldg(reinterpret_cast<const uint4 *>(W + (size_t)(n0 + r) * K + k0 + col));
        }
    };
    auto store_tile = [&](int buf) {
#pragma unroll
        for (int i = 0; i < CHUNKS; ++i) {
            const int c = tid + i * THREADS, r = c / CPR, col = (c % CPR) * 8;
            *reinterpret_cast<uint4 *>(As + soff(buf * BM + r, col >> 3)) = ra[i];
            *reinterpret_cast<uint4 *>(Bs + soff(buf * BN + r, col >> 3)) = rb[i];
        }
    };

    float acc[WM / 16][WN / 16][8];
#pragma unroll
    for (int i = 0; i < WM / 16; ++i)
#pragma unroll
        for (int j = 0; j < WN / 16; ++j)
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[i][j][e] = 0.f;

    const int KT = K / BK;
    load_tile(0);
    store_tile(0);
    __syncthreads();
    for (int kt = 0; kt < KT; ++kt) {
        const int buf = kt & 1;
        if (kt + 1 < KT) load_tile((kt + 1) * BK);
#pragma unroll
        for (int k8 = 0; k8 < BK / 8; ++k8) {
            uint4 af[WM / 16], bf[WN / 16];
#pragma unroll
            for (int i = 0; i < WM / 16; ++i)
                af[i] = *reinterpret_cast<const uint4 *>(
                    As + soff(buf * BM + wm + i * 16 + (qp & 1) * 8 + lrow, k8));
#pragma unroll
            for (int j = 0; j < WN / 16; ++j)
                bf[j] = *reinterpret_cast<const uint4 *>(
                    Bs + soff(buf * BN + wn + j * 16 + (qp >> 1) * 8 + lrow, k8));
#pragma unroll
            for (int i = 0; i < WM / 16; ++i)
#pragma unroll
                for (int j = 0; j < WN / 16; ++j) {
                    mma_884(acc[i][j], af[i].x, af[i].y, bf[j].x, bf[j].y);   // k 0..3 of the 8
                    mma_884(acc[i][j], af[i].z, af[i].w, bf[j].z, bf[j].w);   // k 4..7
                }
        }
        if (kt + 1 < KT) store_tile(buf ^ 1);
        __syncthreads();
    }

    // epilogue: element pairs (e, e + 1) are adjacent columns -> one half2 store each
#pragma unroll
    for (int i = 0; i < WM / 16; ++i)
#pragma unroll
        for (int j = 0; j < WN / 16; ++j)
#pragma unroll
            for (int e = 0; e < 8; e += 2) {
                const int row = m0 + wm + i * 16 + (qp & 1) * 8 + (lane & 1) + (e & 2) + ((lane >> 4) << 2);
                const int col = n0 + wn + j * 16 + (qp >> 1) * 8 + (e & 4) + (lane & 2);
                if (row < M && col < N)
                    *reinterpret_cast<uint32_t *>(C + (size_t)row * N + col) = pack_half2(acc[i][j][e], acc[i][j][e + 1]);
            }
}
}  // namespace

// (256, 1): ptxas then takes 138 (BK 32) / 162 (BK 64) registers, one CTA of 8 warps per SM (the mainloop's
// 256 / 512 HMMA steps per warp and k tile cover the global-load latency); with its default 128 for BK 32
// it spills the tile index to local memory, which the walker cannot follow (no local-memory image).
// BK 32 is CUTLASS's sm70 tile (python/cutlass_library/generator.py GenerateSM70_TensorOp_884: 128x128x32,
// 2 stages); BK 64 reads whole 128-byte lines of A and W per k tile (BK 32: half lines, so every line is
// missed twice) at 64 KiB of dynamic shared memory, XOR-swizzled (see soff).
extern "C" __global__ void __launch_bounds__(THREADS, 1)
    gemm_f16_tn_volta_128x128x32_s2(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C,
                                     int M, int N, int K) {
    __shared__ __align__(16) half smem[2 * (BM + BN) * (32 + 8)];
    gemm_volta<32>(A, W, C, M, N, K, smem);
}
extern "C" __global__ void __launch_bounds__(THREADS, 1)
    gemm_f16_tn_volta_128x128x64_s2(const half *__restrict__ A, const half *__restrict__ W, half *__restrict__ C,
                                     int M, int N, int K) {
    extern __shared__ __align__(16) half dsmem[];  // 2 * (BM + BN) * 64 halves = 65,536 bytes
    gemm_volta<64>(A, W, C, M, N, K, dsmem);
}

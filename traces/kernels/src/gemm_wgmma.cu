// Hopper GEMM with TMA loads and warpgroup MMA (sm_90a only; wgmma needs the "a" target).
//
//   C[M,N] = A[M,K] * W[N,K]^T, fp16 in/out, fp32 accumulation (same contract as gemm_mma.cu).
//
// Tiling (launch constants, traces/kernels/kernels.yaml): one warpgroup (128 threads) per CTA computes
// a BM x BN = 64 x 128 tile with wgmma.mma_async m64n128k16; K advances in BK = 64 slices (one
// 128-byte swizzle atom) through a STAGES = 4 ring of shared-memory buffers.  Thread 0 issues the
// TMA loads (cp.async.bulk.tensor.2d) of a stage and arms the stage's mbarrier with the byte count;
// every thread waits on the mbarrier's phase before the four wgmma k-steps of the stage.  One wgmma
// group stays in flight (wait_group 1): a stage is released to the TMA one iteration after its group.
// Each TMA box is 64 halves (128 B) x 32 rows, so a stage takes 2 boxes of A and 4 of W
// (gpusim's trace convention records one address per box row, at most 32 per instruction).
// Dynamic shared memory: STAGES * (64 + 128) * 64 * 2 B = 96 KiB + 1 KiB alignment slack.
// Grid (ceil(N/128), ceil(M/64)), tiles rasterised in groups of GROUP_M = 8 M tiles (common.cuh
// grouped_tile) so that consecutive CTAs share W tiles in L2.  Rows past M or N are zero-filled by
// the TMA unit and not stored.
// The tensor maps (tmA over A [M, K], tmW over W [N, K], 128-byte swizzle, box 64 x 32) are
// __grid_constant__ kernel parameters built on the host with cuTensorMapEncodeTiled.
// Preconditions: K % 64 == 0, N % 8 == 0.
#include "common.cuh"

struct alignas(64) TensorMap { unsigned char opaque[128]; };  // CUtensorMap

namespace {
constexpr int BM = 64, BN = 128, BK = 64, STAGES = 4, THREADS = 128, BOX_ROWS = 32;
constexpr int LOG_GROUP_M = 3;  // grouped rasterisation, GROUP_M = 8 M tiles (common.cuh grouped_tile)
constexpr int A_BYTES = BM * BK * 2, W_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + W_BYTES;

DEVI void mbar_init(uint32_t bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
DEVI void mbar_expect_tx(uint32_t bar, int bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes));
}
DEVI void mbar_wait(uint32_t bar, int parity) {
    asm volatile(
        "{\n .reg .pred p;\n"
        "WAIT:\n mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
        " @!p bra WAIT;\n}\n" ::"r"(bar), "r"(parity));
}
DEVI void tma_load_2d(uint32_t dst, const TensorMap *map, uint32_t bar, int c0, int c1) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n"
        ::"r"(dst), "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1) : "memory");
}
// shared-memory matrix descriptor: K-major, 128-byte swizzle, 8-row groups 1024 B apart
DEVI uint64_t smem_desc(uint32_t addr) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) | ((uint64_t)1 << 62);
}

DEVI void wgmma_m64n128k16(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, 1, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db));
}
}  // namespace

extern "C" __global__ void __launch_bounds__(THREADS)
gemm_f16_tn_wgmma_64x128x64_s4(const __grid_constant__ TensorMap tmA, const __grid_constant__ TensorMap tmW,
                               half *__restrict__ C, int M, int N, int K) {
    extern __shared__ unsigned char smem_raw[];
    __shared__ __align__(8) uint64_t full[STAGES];
    const uint32_t base = (smem_u32(smem_raw) + 1023) & ~1023u;  // 128-byte swizzle wants 1 KiB alignment
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int tile_m, tile_n;
    grouped_tile<LOG_GROUP_M>(tile_m, tile_n);
    const int m0 = tile_m * BM, n0 = tile_n * BN, KT = K / BK;

    if (tid == 0) {
        for (int s = 0; s < STAGES; ++s) mbar_init(smem_u32(&full[s]), 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::);
    }
    __syncthreads();

    auto issue = [&](int kt, int s) {  // thread 0 only
        const uint32_t a = base + s * STAGE_BYTES, w = a + A_BYTES, bar = smem_u32(&full[s]);
        mbar_expect_tx(bar, STAGE_BYTES);
#pragma unroll
        for (int r = 0; r < BM / BOX_ROWS; ++r) tma_load_2d(a + r * BOX_ROWS * BK * 2, &tmA, bar, kt * BK, m0 + r * BOX_ROWS);
#pragma unroll
        for (int r = 0; r < BN / BOX_ROWS; ++r) tma_load_2d(w + r * BOX_ROWS * BK * 2, &tmW, bar, kt * BK, n0 + r * BOX_ROWS);
    };
    if (tid == 0)
        for (int s = 0; s < STAGES - 1 && s < KT; ++s) issue(s, s);

    float d[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) d[i] = 0.f;

    // One wgmma group stays in flight: after committing stage kt's group, wait_group 1 waits for stage
    // kt-1's group only, and only then is stage kt-1's buffer (slot (kt+STAGES-1) % STAGES) released to
    // the TMA for k tile kt+STAGES-1 -- the release lags the MMA issue by one iteration.
    int s = 0, phase = 0;
    for (int kt = 0; kt < KT; ++kt) {
        mbar_wait(smem_u32(&full[s]), phase);
        const uint32_t a = base + s * STAGE_BYTES, w = a + A_BYTES;
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int k = 0; k < BK / 16; ++k) wgmma_m64n128k16(d, smem_desc(a + k * 32), smem_desc(w + k * 32));
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");  // stage kt-1's group is done
        __syncthreads();  // ... in every warp: its slot may be refilled
        const int pf = kt + STAGES - 1;
        if (tid == 0 && pf < KT) issue(pf, pf % STAGES);
        if (++s == STAGES) {
            s = 0;
            phase ^= 1;
        }
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");

    // epilogue: accumulator fragment j*4+{0,1} is row 16*warp + lane/4, columns 8j + 2*(lane%4) + {0,1}
    const int row = m0 + warp * 16 + (lane >> 2);
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
        const int col = n0 + j * 8 + (lane & 3) * 2;
        if (col < N) {
            if (row < M) *reinterpret_cast<uint32_t *>(C + (size_t)row * N + col) = pack_half2(d[4 * j], d[4 * j + 1]);
            if (row + 8 < M)
                *reinterpret_cast<uint32_t *>(C + (size_t)(row + 8) * N + col) = pack_half2(d[4 * j + 2], d[4 * j + 3]);
        }
    }
}

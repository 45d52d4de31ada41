// Hopper warp-specialised GEMMs (sm_90a): one TMA producer warpgroup, two consumer warpgroups.
//
//   C[M,N] = A[M,K] * W[N,K]^T, fp32 accumulation, fp16 output.
//   gemm_f16_tn_wgmma_coop_*:   A, W fp16, wgmma m64nBNk16 (SASS HGMMA)
//   gemm_e4m3_tn_wgmma_coop_*:  A, W fp8 e4m3, wgmma m64nBNk32 (SASS QGMMA), C = alpha * acc
//                               (alpha = the product of the per-tensor scales of A and W)
//
// The organisation is that of CUTLASS 3.x's sm90 "KernelTmaWarpSpecializedCooperative" kernel
// (NVIDIA/cutlass include/cutlass/gemm/kernel/sm90_gemm_tma_warpspecialized_cooperative.hpp at
// commit 05cacc3: 384 threads = 1 producer warpgroup + 2 MMA warpgroups that share one tile of at
// least 128 rows; setmaxnreg 40 for the producer and 232 for the MMA warpgroups when the tile needs
// fewer than 208 accumulator registers per thread).  The code is our own:
//   * CTA tile BM x BN = 128 x 128 or 128 x 256; K advances 128 bytes per stage (BK = 64 fp16 or
//     128 fp8 elements, one 128-byte swizzle atom per row).
//   * Warpgroup 0 (producer) lowers its register budget (setmaxnreg.dec 40); its thread 0 runs the
//     k loop: it waits until both consumer warpgroups released the stage (empty barriers; skipped in
//     the first pass over the ring), arms the stage's full barrier with the byte count
//     (arrive.expect_tx) and issues the TMA box loads.  The producer's other warps exit.
//   * Warpgroups 1 and 2 (consumers) raise theirs (setmaxnreg.inc 232) and split the tile along M:
//     consumer c computes rows 64c .. 64c+63 with four wgmma per stage (k16 fp16 / k32 fp8).  Each waits
//     on the stage's full barrier, issues its group, keeps one group in flight (wait_group 1) and then
//     releases the previous stage: one thread of the warpgroup arrives on its own empty barrier of
//     that stage.  Every mbarrier therefore sees exactly one arrival per phase (count 1).
//   * Epilogue: each consumer converts its 64 x BN accumulators and stores them straight to global
//     memory (rows past M and columns past N are not stored; the TMA zero-fills what lies outside A/W).
// Each TMA box is 128 bytes x 32 rows (gpusim's trace convention: one address per box row, at most 32
// rows per instruction), so a stage is BM/32 boxes of A and BN/32 boxes of W.
// Tiles are rasterised in groups of GROUP_M = 8 M tiles (common.cuh grouped_tile).  Not persistent:
// one CTA per tile (CUTLASS's default tile scheduler is persistent; see traces/kernels/README.md).
// Dynamic shared memory: STAGES * (BM + BN) * 128 B + 1 KiB alignment slack.
// Split-K variants (gemm_{f16,e4m3}_tn_wgmma_coop_splitk_128x128x*_s5): grid z = splits, CTA z runs k tiles
// [z * ktps, min(KT, (z + 1) * ktps)) and stores fp32 partials to P[z][M][N] instead of C.
// Preconditions: K a multiple of BK, N % 8 == 0 (kernels.py checks them).
#include "common.cuh"

struct alignas(64) TensorMap { unsigned char opaque[128]; };  // CUtensorMap

namespace {
constexpr int BM = 128, ROW_BYTES = 128, THREADS = 384, BOX_ROWS = 32, LOG_GROUP_M = 3;

DEVI void mbar_init(uint32_t bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
DEVI void mbar_expect_tx(uint32_t bar, int bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes));
}
DEVI void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
DEVI void mbar_wait(uint32_t bar, int parity) {
    asm volatile(
        "{\n .reg .pred p;\n"
        "WAIT:\n mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
        " @!p bra WAIT;\n}\n" ::"r"(bar), "r"(parity) : "memory");
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

DEVI void wgmma_f16_n128(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
        "}, %64, %65, 1, 1, 1, 0, 0;\n"
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

DEVI void wgmma_f16_n256(float (&d)[128], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
        "}, %128, %129, 1, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(da), "l"(db));
}

DEVI void wgmma_e4m3_n128(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
        "}, %64, %65, 1, 1, 1;\n"
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

DEVI void wgmma_e4m3_n256(float (&d)[128], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        "wgmma.mma_async.sync.aligned.m64n256k32.f32.e4m3.e4m3 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
        "}, %128, %129, 1, 1, 1;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(da), "l"(db));
}


template <int BN, bool FP8> struct Mma;
template <> struct Mma<128, false> { DEVI static void run(float (&d)[64], uint64_t a, uint64_t b) { wgmma_f16_n128(d, a, b); } };
template <> struct Mma<256, false> { DEVI static void run(float (&d)[128], uint64_t a, uint64_t b) { wgmma_f16_n256(d, a, b); } };
template <> struct Mma<128, true> { DEVI static void run(float (&d)[64], uint64_t a, uint64_t b) { wgmma_e4m3_n128(d, a, b); } };
template <> struct Mma<256, true> { DEVI static void run(float (&d)[128], uint64_t a, uint64_t b) { wgmma_e4m3_n256(d, a, b); } };

// SPLITK: CTA z of grid z takes k tiles [z * ktps, min(KT, (z + 1) * ktps)) and stores its fp32 partial
// tile to P[z][M][N] (gemv_splitk_reduce_f32 then sums the splits into C), as the split-K mode of
// CUTLASS's sm90 stream-K tile scheduler (DecompositionMode::SplitK) and cuBLAS's split-K kernels do.
template <int BN, int STAGES, bool FP8, bool SPLITK = false>
DEVI void gemm_ws_coop(const TensorMap &tmA, const TensorMap &tmW, half *__restrict__ C, int M, int N, int K,
                       float alpha, float *__restrict__ P = nullptr, int ktps = 0) {
    constexpr int ELEM = FP8 ? 1 : 2, BK = ROW_BYTES / ELEM;
    constexpr int A_BYTES = BM * ROW_BYTES, W_BYTES = BN * ROW_BYTES, STAGE_BYTES = A_BYTES + W_BYTES;
    constexpr int NACC = BN / 2;  // fp32 accumulators per thread of an m64nBN wgmma
    extern __shared__ unsigned char smem_raw[];
    __shared__ __align__(8) uint64_t full[STAGES], empty[2][STAGES];
    const uint32_t base = (smem_u32(smem_raw) + 1023) & ~1023u;  // 128-byte swizzle wants 1 KiB alignment
    const int tid = threadIdx.x, wg = tid >> 7, wtid = tid & 127;
    int tile_m, tile_n;
    grouped_tile<LOG_GROUP_M>(tile_m, tile_n);
    const int m0 = tile_m * BM, n0 = tile_n * BN;
    int k_first = 0, KT = K / BK;
    if (SPLITK) {
        k_first = blockIdx.z * ktps;
        KT = min(KT - k_first, ktps);  // the k tiles of this split
    }

    if (tid == 0) {
        for (int s = 0; s < STAGES; ++s) {
            mbar_init(smem_u32(&full[s]), 1);
            mbar_init(smem_u32(&empty[0][s]), 1);
            mbar_init(smem_u32(&empty[1][s]), 1);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::);
    }
    __syncthreads();

    if (wg == 0) {  // ---- producer warpgroup
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::);
        if (tid == 0) {
            int s = 0, phase = 0;
            for (int kt = 0; kt < KT; ++kt) {
                const int kc = (k_first + kt) * BK;  // element column of this k tile
                if (kt >= STAGES) {  // the stage's previous use (round kt/STAGES - 1) must be released
                    mbar_wait(smem_u32(&empty[0][s]), phase ^ 1);
                    mbar_wait(smem_u32(&empty[1][s]), phase ^ 1);
                }
                const uint32_t a = base + s * STAGE_BYTES, w = a + A_BYTES, bar = smem_u32(&full[s]);
                mbar_expect_tx(bar, STAGE_BYTES);
#pragma unroll
                for (int r = 0; r < BM / BOX_ROWS; ++r)
                    tma_load_2d(a + r * BOX_ROWS * ROW_BYTES, &tmA, bar, kc, m0 + r * BOX_ROWS);
#pragma unroll
                for (int r = 0; r < BN / BOX_ROWS; ++r)
                    tma_load_2d(w + r * BOX_ROWS * ROW_BYTES, &tmW, bar, kc, n0 + r * BOX_ROWS);
                if (++s == STAGES) {
                    s = 0;
                    phase ^= 1;
                }
            }
        }
        return;
    }

    // ---- consumer warpgroups 1 and 2: rows 64 * (wg - 1) .. of the tile
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::);
    const int cw = wg - 1;
    float d[NACC];
#pragma unroll
    for (int i = 0; i < NACC; ++i) d[i] = 0.f;
    int s = 0, phase = 0, prev = 0;
    for (int kt = 0; kt < KT; ++kt) {
        mbar_wait(smem_u32(&full[s]), phase);
        const uint32_t a = base + s * STAGE_BYTES + cw * 64 * ROW_BYTES, w = base + s * STAGE_BYTES + A_BYTES;
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int k = 0; k < 4; ++k) Mma<BN, FP8>::run(d, smem_desc(a + k * 32), smem_desc(w + k * 32));
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");  // the previous stage's group is done
        if (kt > 0 && wtid == 0) mbar_arrive(smem_u32(&empty[cw][prev]));  // ... so its stage may be refilled
        prev = s;
        if (++s == STAGES) {
            s = 0;
            phase ^= 1;
        }
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");

    // epilogue: accumulator fragment j*4+{0,1} is row 16*warp + lane/4, columns 8j + 2*(lane%4) + {0,1}
    const int lane = tid & 31, warp = wtid >> 5;
    const int row = m0 + cw * 64 + warp * 16 + (lane >> 2);
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
        const int col = n0 + j * 8 + (lane & 3) * 2;
        if (col < N) {
            float s0 = d[4 * j], s1 = d[4 * j + 1], s2 = d[4 * j + 2], s3 = d[4 * j + 3];
            if (FP8) {
                s0 *= alpha;
                s1 *= alpha;
                s2 *= alpha;
                s3 *= alpha;
            }
            if (SPLITK) {  // fp32 partials of split blockIdx.z
                float *pz = P + (size_t)blockIdx.z * M * N;
                if (row < M) *reinterpret_cast<float2 *>(pz + (size_t)row * N + col) = make_float2(s0, s1);
                if (row + 8 < M) *reinterpret_cast<float2 *>(pz + (size_t)(row + 8) * N + col) = make_float2(s2, s3);
            } else {
                if (row < M) *reinterpret_cast<uint32_t *>(C + (size_t)row * N + col) = pack_half2(s0, s1);
                if (row + 8 < M) *reinterpret_cast<uint32_t *>(C + (size_t)(row + 8) * N + col) = pack_half2(s2, s3);
            }
        }
    }
}

// Persistent variant (CUTLASS's default sm90 tile scheduler is persistent): gridDim.x = min(tiles, SMs)
// CTAs each take tiles blockIdx.x, blockIdx.x + gridDim.x, ... in grouped launch order, and the
// mbarrier ring runs on across tiles, so the producer loads the next tile's first stages while the
// consumers run the previous tile's epilogue.  The last stage of a tile is released right after its
// wait_group 0.
// Tile t of the grouped order (the launch order of grouped_tile, as a linear index): groups of 8 M
// tiles, then the rest in groups of 4, 2, 1; division-free (loops), for the walker.
DEVI void grouped_tile_linear(int t, int nM, int nN, int &tile_m, int &tile_n) {
    int first = 0, g = 1 << LOG_GROUP_M;
    while (g > nM) g >>= 1;
    while (t >= (first + g) * nN) {
        first += g;
        while (g > nM - first) g >>= 1;
    }
    const int local = t - first * nN;
    int lg = 0;
    while ((1 << lg) < g) ++lg;
    tile_m = first + (local & (g - 1));
    tile_n = local >> lg;
}

template <int BN, int STAGES, bool FP8>
DEVI void gemm_ws_coop_persistent(const TensorMap &tmA, const TensorMap &tmW, half *__restrict__ C, int M, int N,
                                  int K, float alpha) {
    constexpr int ELEM = FP8 ? 1 : 2, BK = ROW_BYTES / ELEM;
    constexpr int A_BYTES = BM * ROW_BYTES, W_BYTES = BN * ROW_BYTES, STAGE_BYTES = A_BYTES + W_BYTES;
    constexpr int NACC = BN / 2;
    extern __shared__ unsigned char smem_raw[];
    __shared__ __align__(8) uint64_t full[STAGES], empty[2][STAGES];
    const uint32_t base = (smem_u32(smem_raw) + 1023) & ~1023u;
    const int tid = threadIdx.x, wg = tid >> 7, wtid = tid & 127;
    const int nM = (M + BM - 1) / BM, nN = (N + BN - 1) / BN, tiles = nM * nN, KT = K / BK;

    if (tid == 0) {
        for (int s = 0; s < STAGES; ++s) {
            mbar_init(smem_u32(&full[s]), 1);
            mbar_init(smem_u32(&empty[0][s]), 1);
            mbar_init(smem_u32(&empty[1][s]), 1);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::);
    }
    __syncthreads();

    if (wg == 0) {  // ---- producer warpgroup
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::);
        if (tid == 0) {
            int s = 0, phase = 0, it = 0;
            for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
                int tile_m, tile_n;
                grouped_tile_linear(t, nM, nN, tile_m, tile_n);
                const int m0 = tile_m * BM, n0 = tile_n * BN;
                for (int kt = 0; kt < KT; ++kt, ++it) {
                    if (it >= STAGES) {
                        mbar_wait(smem_u32(&empty[0][s]), phase ^ 1);
                        mbar_wait(smem_u32(&empty[1][s]), phase ^ 1);
                    }
                    const uint32_t a = base + s * STAGE_BYTES, w = a + A_BYTES, bar = smem_u32(&full[s]);
                    mbar_expect_tx(bar, STAGE_BYTES);
#pragma unroll
                    for (int r = 0; r < BM / BOX_ROWS; ++r)
                        tma_load_2d(a + r * BOX_ROWS * ROW_BYTES, &tmA, bar, kt * BK, m0 + r * BOX_ROWS);
#pragma unroll
                    for (int r = 0; r < BN / BOX_ROWS; ++r)
                        tma_load_2d(w + r * BOX_ROWS * ROW_BYTES, &tmW, bar, kt * BK, n0 + r * BOX_ROWS);
                    if (++s == STAGES) {
                        s = 0;
                        phase ^= 1;
                    }
                }
            }
        }
        return;
    }

    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::);
    const int cw = wg - 1, lane = tid & 31, warp = wtid >> 5;
    int s = 0, phase = 0;
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int tile_m, tile_n;
        grouped_tile_linear(t, nM, nN, tile_m, tile_n);
        const int m0 = tile_m * BM, n0 = tile_n * BN;
        float d[NACC];
#pragma unroll
        for (int i = 0; i < NACC; ++i) d[i] = 0.f;
        int prev = 0;
        for (int kt = 0; kt < KT; ++kt) {
            mbar_wait(smem_u32(&full[s]), phase);
            const uint32_t a = base + s * STAGE_BYTES + cw * 64 * ROW_BYTES, w = base + s * STAGE_BYTES + A_BYTES;
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
            for (int k = 0; k < 4; ++k) Mma<BN, FP8>::run(d, smem_desc(a + k * 32), smem_desc(w + k * 32));
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
            if (kt > 0 && wtid == 0) mbar_arrive(smem_u32(&empty[cw][prev]));
            prev = s;
            if (++s == STAGES) {
                s = 0;
                phase ^= 1;
            }
        }
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        if (wtid == 0) mbar_arrive(smem_u32(&empty[cw][prev]));  // the tile's last stage

        const int row = m0 + cw * 64 + warp * 16 + (lane >> 2);
#pragma unroll
        for (int j = 0; j < BN / 8; ++j) {
            const int col = n0 + j * 8 + (lane & 3) * 2;
            if (col < N) {
                float s0 = d[4 * j], s1 = d[4 * j + 1], s2 = d[4 * j + 2], s3 = d[4 * j + 3];
                if (FP8) {
                    s0 *= alpha;
                    s1 *= alpha;
                    s2 *= alpha;
                    s3 *= alpha;
                }
                if (row < M) *reinterpret_cast<uint32_t *>(C + (size_t)row * N + col) = pack_half2(s0, s1);
                if (row + 8 < M) *reinterpret_cast<uint32_t *>(C + (size_t)(row + 8) * N + col) = pack_half2(s2, s3);
            }
        }
    }
}
}  // namespace

#define WS_KERNEL(NAME, BN, STAGES, FP8)                                                                        \
    extern "C" __global__ void __launch_bounds__(THREADS, 1)                                                   \
    NAME(const __grid_constant__ TensorMap tmA, const __grid_constant__ TensorMap tmW, half *__restrict__ C,    \
         int M, int N, int K) {                                                                                \
        gemm_ws_coop<BN, STAGES, FP8>(tmA, tmW, C, M, N, K, 1.f);                                              \
    }
#define WS_KERNEL_SCALED(NAME, BN, STAGES, FP8)                                                                 \
    extern "C" __global__ void __launch_bounds__(THREADS, 1)                                                   \
    NAME(const __grid_constant__ TensorMap tmA, const __grid_constant__ TensorMap tmW, half *__restrict__ C,    \
         int M, int N, int K, float alpha) {                                                                   \
        gemm_ws_coop<BN, STAGES, FP8>(tmA, tmW, C, M, N, K, alpha);                                            \
    }

// 5 stages of 32 KiB (3 mbarriers per stage; gpusim tracks 16 per CTA) and 4 of 48 KiB (227 KiB limit)
WS_KERNEL(gemm_f16_tn_wgmma_coop_128x128x64_s5, 128, 5, false)
WS_KERNEL(gemm_f16_tn_wgmma_coop_128x256x64_s4, 256, 4, false)
WS_KERNEL_SCALED(gemm_e4m3_tn_wgmma_coop_128x128x128_s5, 128, 5, true)
WS_KERNEL_SCALED(gemm_e4m3_tn_wgmma_coop_128x256x128_s4, 256, 4, true)

// split-K (grid z = splits; C unused, the partials go to P; kernels.py launches gemv_splitk_reduce_f32 after it)
extern "C" __global__ void __launch_bounds__(THREADS, 1)
gemm_f16_tn_wgmma_coop_splitk_128x128x64_s5(const __grid_constant__ TensorMap tmA,
                                            const __grid_constant__ TensorMap tmW, float *__restrict__ P, int M,
                                            int N, int K, int ktps) {
    gemm_ws_coop<128, 5, false, true>(tmA, tmW, nullptr, M, N, K, 1.f, P, ktps);
}
// fp8 e4m3: the partials are alpha * acc (the reduction only sums them)
extern "C" __global__ void __launch_bounds__(THREADS, 1)
gemm_e4m3_tn_wgmma_coop_splitk_128x128x128_s5(const __grid_constant__ TensorMap tmA,
                                              const __grid_constant__ TensorMap tmW, float *__restrict__ P, int M,
                                              int N, int K, int ktps, float alpha) {
    gemm_ws_coop<128, 5, true, true>(tmA, tmW, nullptr, M, N, K, alpha, P, ktps);
}

#define COMMA_ALPHA , float alpha
#define WS_KERNEL_P(NAME, BN, STAGES, FP8, ALPHA_PARAM, ALPHA)                                                  \
    extern "C" __global__ void __launch_bounds__(THREADS, 1)                                                   \
    NAME(const __grid_constant__ TensorMap tmA, const __grid_constant__ TensorMap tmW, half *__restrict__ C,    \
         int M, int N, int K ALPHA_PARAM) {                                                                    \
        gemm_ws_coop_persistent<BN, STAGES, FP8>(tmA, tmW, C, M, N, K, ALPHA);                                 \
    }
WS_KERNEL_P(gemm_f16_tn_wgmma_coop_persistent_128x256x64_s4, 256, 4, false, , 1.f)
WS_KERNEL_P(gemm_e4m3_tn_wgmma_coop_persistent_128x256x128_s4, 256, 4, true, COMMA_ALPHA, alpha)

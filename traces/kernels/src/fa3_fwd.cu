// FlashAttention-3-style forward attention for Hopper (sm_90a): warp-specialised TMA producer, two
// consumer warpgroups with wgmma, online softmax in registers, inter-warpgroup ping-pong and
// intra-warpgroup overlap of the softmax with the next QK^T.  fp16 in, fp32 accumulation, fp16 out.
//
//   O[b, t, h, :] = softmax(scale * Q[b, t, h, :] . K[b, s, hk, :]^T over s) V[b, s, hk, :],
//   hk = h >> gqa_shift (grouped-query attention, 2^gqa_shift query heads per KV head).  The queries
//   are the last q_len of kv_len positions (past = kv_len - q_len); causal: query t sees s <= past + t.
//
// Configuration facts, each from Dao-AILab/flash-attention (FA3, hopper/; Shah et al., arXiv:2407.08608):
//   * tiles (hopper/tile_size.h @ 07602adc2baa7a3ea037321ef2ca71c83096e5d5, tile_size_fwd_sm90, 16-bit
//     elements): hdim 128 -> kBlockM 128, kBlockN 176 (128 when causal), MmaPV_is_RS, IntraWGOverlap;
//     hdim 256 -> kBlockM 128, kBlockN 80, MmaPV_is_RS, IntraWGOverlap.  (hdim 64 -> 192 x 192, 128
//     when causal, with three MMA warpgroups and P through shared memory when not causal: not built.)
//   * kStages = 2 on sm90 (hopper/flash_fwd_launch_template.h @ 000090d02f0398e9087a8823fc1f5242becfac99).
//   * kBlockM / 64 MMA warpgroups (AtomLayoutQK) + 1 producer warpgroup of which one warp issues the
//     TMA loads (NumProducerThreads = 32 with TMA Q/K/V); V is MN-major in shared memory for 16-bit
//     types; QK^T is SS (MmaQK_is_RS = false) (hopper/mainloop_fwd_sm90_tma_gmma_ws.hpp @
//     5e0a82d0edb19383df59799cb7a49dc6d9b50eb2).
//   * setmaxnreg 24 for the producer and 240 for the two MMA warpgroups (hopper/flash_fwd_kernel_sm90.h @
//     c082294e0f6c01d46318694a6f3e0274225a9683, Load/MmaRegisterRequirement with TMA K/V).
//   * ping-pong (paper section 3.1; hopper/mainloop_fwd_sm90_tma_gmma_ws.hpp @
//     c082294e0f6c01d46318694a6f3e0274225a9683: warp_scheduler_barrier_sync / _arrive, mma_init, mma):
//     hardware named barriers, `bar.sync id, 256` / `bar.arrive id, 256` (2 x 128 threads: the waiting
//     warpgroup and the signalling one).  Ids: FwdNamedBarriers QueryEmpty = 0, WarpSchedulerWG1 = 1,
//     WarpSchedulerWG2 = 2 (hopper/named_barrier.hpp, same commit), offset by CUTLASS's
//     ReservedNamedBarrierCount = FirstUserBarrier = 6 (NVIDIA/cutlass include/cutlass/arch/barrier.h @
//     019c5c979aea82c3f314c1eda803bda2b8b44077, NamedBarrier::sync/arrive add it): hardware ids 6, 7, 8.
//     mma_init: MMA warpgroup 1 arrives on its own barrier (so its first sync completes at once) and every
//     MMA thread arrives on QueryEmpty (256 + 32 threads), which the producer warp syncs on before it
//     loads Q.  Per key block after the first (fwd_step): sync on the own barrier, QK^T, [only MMA
//     warpgroup 1 waits for K / V's full barriers: the other is ordered behind it by the scheduler
//     barrier], PV, arrive on the other warpgroup's barrier.  The first block has no scheduler barrier.
//     UseSchedulerBarrier = IntraWGOverlap && 2+ MMA warpgroups && hdim <= 128 for 16-bit types: hdim 256
//     runs without ping-pong, and with RescaleOBeforeGemm (hdim > 128) O is rescaled before the PV GEMM
//     is issued instead of after it completes.
//   * K/V blocks are visited from the last to the first (n_block_max - 1 down to n_block_min), so the
//     blocks that need masking come first; fully masked causal blocks are never loaded or computed
//     (n_block_max = ceil((past + min(m0 + kBlockM, q_len)) / kBlockN)); the producer loads K of the
//     first block and Q, then (K_{n-1}, V_n) pairs, then the last V (load() in the same file: V one
//     block behind K with IntraWGOverlap, paper Algorithm 2).  FA3 issues that first K before Q (and
//     waits for the consumers' QueryEmpty signal before Q); so do we.
//
// Our code (written for gpusim; the structure above is FA3's, the code is not):
//   * 384 threads: warpgroup 0 = producer (warp 0 syncs on QueryEmpty, its thread 0 issues every TMA
//     box; the other producer warps exit after setmaxnreg), warpgroups 1 and 2 = consumers taking rows
//     0-63 / 64-127 of the tile.
//   * Shared memory (dynamic, 1 KiB aligned): Q [D/64 slabs][128 rows][128 B], then STAGES K tiles
//     and STAGES V tiles, each [D/64 slabs][BN rows][128 B] with the 128-byte swizzle (one TMA box
//     column = 64 halves).  TMA boxes are 64 halves x 32 rows for Q and x KV_BOX rows for K/V (gpusim's
//     trace convention caps a box at 32 rows; FA3 issues one box per 64-column slab).
//   * mbarriers (all with arrival count 1): q_full; full_k[s], full_v[s] (producer arrive.expect_tx);
//     empty_k[wg][s], empty_v[wg][s] (one thread of each consumer warpgroup releases the stage).  The
//     scheduler and QueryEmpty barriers are named barriers, as in FA3 (above).
//   * S = Q K^T: wgmma m64nBNk16, A (Q) and B (K) from shared memory (K-major descriptors);
//     O += P V: wgmma m64nDk16 with P from registers (the S accumulators converted to fp16 in place:
//     the accumulator fragment of m64nN and the A fragment of m64k16 have the same thread mapping)
//     and V as an MN-major B operand (imm-trans-b = 1).
//   * Softmax: exp2 domain (scale_log2 = softmax scale * log2 e), running max with two quad
//     shuffles per row, per-thread partial row sums reduced once in the epilogue.
//   * Epilogue: O normalised and stored straight from registers (FA3 stages O through shared memory
//     and stores it with TMA; gpusim's walker has no TMA store).  Not persistent: one CTA per
//     (128-row tile, head, batch) (FA3 uses a persistent tile scheduler and, for hdim >= 128
//     non-causal, clusters of 2 with TMA multicast of K/V: not modelled).
// Not run on hardware (no GPU in this project): the descriptors follow the PTX ISA 8.x matrix
// descriptor format; the simulator needs the control flow, addresses and instruction mix only.
#include "common.cuh"

struct alignas(64) TensorMap { unsigned char opaque[128]; };  // CUtensorMap

namespace {
constexpr int BM = 128, THREADS = 384, STAGES = 2, ROW_BYTES = 128, SLAB = 64, Q_BOX = 32;
constexpr int REG_PRODUCER = 24, REG_CONSUMER = 240;
// hardware named-barrier ids (FA3 FwdNamedBarriers + CUTLASS's 6 reserved ids, see the header)
constexpr int BAR_QUERY_EMPTY = 6, BAR_SCHED_WG1 = 7;
constexpr int MMA_THREADS = 256, SCHED_THREADS = 256;

DEVI void mbar_init(uint32_t bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
DEVI void mbar_expect_tx(uint32_t bar, int bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
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
DEVI void named_bar_sync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
DEVI void named_bar_arrive(int id, int threads) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
DEVI void tma_load_2d(uint32_t dst, const TensorMap *map, uint32_t bar, int c0, int c1) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n"
        ::"r"(dst), "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1) : "memory");
}
// K-major operand, 128-byte swizzle: 8-row groups 1024 B apart (stride byte offset)
DEVI uint64_t desc_k(uint32_t addr) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) | ((uint64_t)1 << 62);
}
// MN-major operand (V as B of P.V), 128-byte swizzle: 64-element slabs along N lbo bytes apart,
// 8-row groups along K 1024 B apart
DEVI uint64_t desc_mn(uint32_t addr, uint32_t lbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFF) << 16) |
           ((uint64_t)(1024 >> 4) << 32) | ((uint64_t)1 << 62);
}
DEVI void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
DEVI void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> DEVI void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
template <int N> DEVI void fence_regs(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
// ---- generated wgmma wrappers (operand lists spelled out; PTX ISA 8.x "wgmma.mma_async")
DEVI void wgmma_ss_n176(float (&d)[88], uint64_t da, uint64_t db, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %90, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n176k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87}, %88, %89, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87])
        : "l"(da), "l"(db), "r"(scale_d));
}

DEVI void wgmma_ss_n128(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(scale_d));
}

DEVI void wgmma_ss_n80(float (&d)[40], uint64_t da, uint64_t db, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %42, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n80k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39}, %40, %41, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39])
        : "l"(da), "l"(db), "r"(scale_d));
}

DEVI void wgmma_rs_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
    asm volatile(
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, 1, 1, 1, 1;\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

DEVI void wgmma_rs_n256(float (&d)[128], const uint32_t (&a)[4], uint64_t db) {
    asm volatile(
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, {%128, %129, %130, %131}, %132, 1, 1, 1, 1;\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}


template <int BN> struct MmaQK;
template <> struct MmaQK<176> { DEVI static void run(float (&d)[88], uint64_t a, uint64_t b, int sd) { wgmma_ss_n176(d, a, b, sd); } };
template <> struct MmaQK<128> { DEVI static void run(float (&d)[64], uint64_t a, uint64_t b, int sd) { wgmma_ss_n128(d, a, b, sd); } };
template <> struct MmaQK<80> { DEVI static void run(float (&d)[40], uint64_t a, uint64_t b, int sd) { wgmma_ss_n80(d, a, b, sd); } };
template <int D> struct MmaPV;
template <> struct MmaPV<128> { DEVI static void run(float (&d)[64], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_n128(d, a, b); } };
template <> struct MmaPV<256> { DEVI static void run(float (&d)[128], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_n256(d, a, b); } };

template <int D, int BN, bool CAUSAL>
DEVI void fa3_fwd(const TensorMap &tmQ, const TensorMap &tmK, const TensorMap &tmV, half *__restrict__ O, int q_len,
                  int kv_len, int gqa_shift, float scale_log2, long long o_batch_stride, int o_row_stride) {
    constexpr int SLABS = D / SLAB, KV_BOX = (BN % 32 == 0) ? 32 : 16;
    constexpr int Q_BYTES = BM * D * 2, KV_BYTES = BN * D * 2, SLAB_Q = BM * ROW_BYTES, SLAB_KV = BN * ROW_BYTES;
    constexpr int NS = BN / 2, NO = D / 2, KS = BN / 16;  // S and O accumulators per thread; k16 steps of P.V
    extern __shared__ unsigned char smem_raw[];
    __shared__ __align__(8) uint64_t q_full, full_k[STAGES], full_v[STAGES], empty_k[2][STAGES], empty_v[2][STAGES];
    constexpr bool SCHED = D <= 128, RESCALE_BEFORE_PV = D > 128;  // UseSchedulerBarrier, RescaleOBeforeGemm
    const uint32_t qs = (smem_u32(smem_raw) + 1023) & ~1023u, ks = qs + Q_BYTES, vs = ks + STAGES * KV_BYTES;
    const int tid = threadIdx.x, wg = tid >> 7, wtid = tid & 127;
    const int m0 = blockIdx.x * BM, h = blockIdx.y, b = blockIdx.z, hk = h >> gqa_shift;
    const int past = kv_len - q_len;
    int nblk = (kv_len + BN - 1) / BN;
    if (CAUSAL) nblk = min(nblk, (past + min(m0 + BM, q_len) + BN - 1) / BN);  // fully masked blocks skipped

    if (tid == 0) {
        mbar_init(smem_u32(&q_full), 1);
        for (int s = 0; s < STAGES; ++s) {
            mbar_init(smem_u32(&full_k[s]), 1);
            mbar_init(smem_u32(&full_v[s]), 1);
            for (int c = 0; c < 2; ++c) {
                mbar_init(smem_u32(&empty_k[c][s]), 1);
                mbar_init(smem_u32(&empty_v[c][s]), 1);
            }
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::);
    }
    __syncthreads();

    if (wg == 0) {  // ---- producer warpgroup: warp 0 waits for QueryEmpty, its thread 0 issues every TMA box
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(REG_PRODUCER));
        if (tid >= 32) return;
        const int qrow = b * q_len + m0, kvrow = b * kv_len;
        // one K or V tile into stage (it % STAGES) once both consumers released its previous use
        auto load = [&](const TensorMap *map, uint32_t base, uint64_t *full, uint64_t (*empty)[STAGES], int n, int it) {
            const int s = it % STAGES, round = it / STAGES;
            if (round > 0) {
                mbar_wait(smem_u32(&empty[0][s]), (round - 1) & 1);
                mbar_wait(smem_u32(&empty[1][s]), (round - 1) & 1);
            }
            const uint32_t dst = base + s * KV_BYTES, bar = smem_u32(&full[s]);
            mbar_expect_tx(bar, KV_BYTES);
#pragma unroll
            for (int sl = 0; sl < SLABS; ++sl)
#pragma unroll
                for (int r = 0; r < BN / KV_BOX; ++r)
                    tma_load_2d(dst + sl * SLAB_KV + r * KV_BOX * ROW_BYTES, map, bar, hk * D + sl * SLAB,
                                kvrow + n * BN + r * KV_BOX);
        };
        int kit = 0, vit = 0;
        if (tid == 0) load(&tmK, ks, full_k, empty_k, nblk - 1, kit++);
        named_bar_sync(BAR_QUERY_EMPTY, MMA_THREADS + 32);  // the MMA warpgroups are ready for Q
        if (tid == 0) {
            mbar_expect_tx(smem_u32(&q_full), Q_BYTES);
#pragma unroll
            for (int sl = 0; sl < SLABS; ++sl)
#pragma unroll
                for (int r = 0; r < BM / Q_BOX; ++r)
                    tma_load_2d(qs + sl * SLAB_Q + r * Q_BOX * ROW_BYTES, &tmQ, smem_u32(&q_full), h * D + sl * SLAB,
                                qrow + r * Q_BOX);
            for (int n = nblk - 1; n > 0; --n) {
                load(&tmK, ks, full_k, empty_k, n - 1, kit++);
                load(&tmV, vs, full_v, empty_v, n, vit++);
            }
            load(&tmV, vs, full_v, empty_v, 0, vit++);
        }
        return;
    }

    // ---- consumer warpgroups 1, 2 (c = 0, 1): rows 64c .. 64c+63 of the tile
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(REG_CONSUMER));
    const int c = wg - 1, lane = tid & 31, warp = wtid >> 5;
    const bool leader = wtid == 0;
    // mma_init: tell the producer that Q's buffer is free; MMA warpgroup 1 gives itself the first turn
    named_bar_arrive(BAR_QUERY_EMPTY, MMA_THREADS + 32);
    if (SCHED && c == 0) named_bar_arrive(BAR_SCHED_WG1, SCHED_THREADS);

    float o[NO], s[NS];
    uint32_t p[KS][4];
#pragma unroll
    for (int i = 0; i < NO; ++i) o[i] = 0.f;
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
    const int row0 = m0 + c * 64 + warp * 16 + (lane >> 2);  // this thread's first row in the sequence
    const uint32_t qa = qs + c * 64 * ROW_BYTES;

    auto qk = [&](int kstage) {  // S = Q K^T (issue only)
        const uint32_t kb = ks + kstage * KV_BYTES;
        wg_fence();
#pragma unroll
        for (int k = 0; k < D / 16; ++k)
            MmaQK<BN>::run(s, desc_k(qa + (k / 4) * SLAB_Q + (k % 4) * 32), desc_k(kb + (k / 4) * SLAB_KV + (k % 4) * 32),
                           k > 0);
        wg_commit();
    };
    auto pv = [&](int vstage) {  // O += P V (issue only)
        const uint32_t vb = vs + vstage * KV_BYTES;
        wg_fence();
#pragma unroll
        for (int k = 0; k < KS; ++k) MmaPV<D>::run(o, p[k], desc_mn(vb + k * 16 * ROW_BYTES, SLAB_KV));
        wg_commit();
    };
    // keys at or past kv_len and, when causal, keys after the row's position get -inf
    auto mask = [&](int n) {
        const int n0 = n * BN;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int key = n0 + j * 8 + (lane & 3) * 2 + (e & 1), qpos = past + row0 + (e >> 1) * 8;
                if (key >= kv_len || (CAUSAL && key > qpos)) s[4 * j + e] = -INFINITY;
            }
    };
    // online softmax of S (in place -> exp2 values), returns the correction of the old rows in corr
    auto softmax = [&](float (&corr)[2]) {
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
            float mx = row_max[hr];
#pragma unroll
            for (int j = 0; j < BN / 8; ++j) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * hr], s[4 * j + 2 * hr + 1]) * scale_log2);
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float base = (mx == -INFINITY) ? 0.f : mx;
            corr[hr] = exp2f(row_max[hr] - base);
            row_max[hr] = mx;
            float sum = 0.f;
#pragma unroll
            for (int j = 0; j < BN / 8; ++j) {
                s[4 * j + 2 * hr] = exp2f(s[4 * j + 2 * hr] * scale_log2 - base);
                s[4 * j + 2 * hr + 1] = exp2f(s[4 * j + 2 * hr + 1] * scale_log2 - base);
                sum += s[4 * j + 2 * hr] + s[4 * j + 2 * hr + 1];
            }
            row_sum[hr] = row_sum[hr] * corr[hr] + sum;
        }
    };
    auto to_p = [&]() {  // fp32 S accumulators -> fp16 A fragments of P (same thread mapping)
#pragma unroll
        for (int k = 0; k < KS; ++k)
#pragma unroll
            for (int r = 0; r < 4; ++r) p[k][r] = pack_half2(s[8 * k + 2 * r], s[8 * k + 2 * r + 1]);
    };
    auto release = [&](uint64_t (*empty)[STAGES], int it) {
        if (leader) mbar_arrive(smem_u32(&empty[c][it % STAGES]));
    };
    // a block needs masking if it reaches past kv_len or (causal) past the tile's first query
    auto needs_mask = [&](int n) { return (n + 1) * BN > kv_len || (CAUSAL && (n + 1) * BN - 1 > past + m0); };

    mbar_wait(smem_u32(&q_full), 0);
    int kit = 0, vit = 0;
    float corr[2];
    {  // first block (the last K/V block of the range): no scheduler barrier
        mbar_wait(smem_u32(&full_k[kit % STAGES]), (kit / STAGES) & 1);
        qk(kit % STAGES);
        wg_wait<0>();
        fence_regs(s);
        release(empty_k, kit++);
        if (needs_mask(nblk - 1)) mask(nblk - 1);
        softmax(corr);
        to_p();
    }
    auto rescale_o = [&]() {
#pragma unroll
        for (int j = 0; j < NO / 4; ++j) {
            o[4 * j] *= corr[0];
            o[4 * j + 1] *= corr[0];
            o[4 * j + 2] *= corr[1];
            o[4 * j + 3] *= corr[1];
        }
    };
    for (int n = nblk - 2; n >= 0; --n) {  // fwd_step: QK^T of block n, PV of block n + 1, softmax of n
        if (!SCHED || c == 0) mbar_wait(smem_u32(&full_k[kit % STAGES]), (kit / STAGES) & 1);
        if (SCHED) named_bar_sync(BAR_SCHED_WG1 + c, SCHED_THREADS);  // my turn on the tensor cores
        qk(kit % STAGES);  // S_next = Q K_n^T
        if (RESCALE_BEFORE_PV) rescale_o();
        if (!SCHED || c == 0) mbar_wait(smem_u32(&full_v[vit % STAGES]), (vit / STAGES) & 1);
        pv(vit % STAGES);  // O += P V_{n+1}, overlapping the softmax below
        if (SCHED) named_bar_arrive(BAR_SCHED_WG1 + (c ^ 1), SCHED_THREADS);  // the other warpgroup's turn
        wg_wait<1>();  // S_next landed
        fence_regs(s);
        release(empty_k, kit++);
        if (needs_mask(n)) mask(n);
        softmax(corr);
        wg_wait<0>();  // P V landed
        fence_regs(o);
        release(empty_v, vit++);
        to_p();
        if (!RESCALE_BEFORE_PV) rescale_o();
    }
    if (RESCALE_BEFORE_PV) rescale_o();
    mbar_wait(smem_u32(&full_v[vit % STAGES]), (vit / STAGES) & 1);
    pv(vit % STAGES);
    wg_wait<0>();
    fence_regs(o);
    release(empty_v, vit++);

    // epilogue: full row sums over the quad, normalise, store two halves per lane and 8-column chunk
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
        row_sum[hr] += __shfl_xor_sync(0xffffffffu, row_sum[hr], 1);
        row_sum[hr] += __shfl_xor_sync(0xffffffffu, row_sum[hr], 2);
        row_sum[hr] = row_sum[hr] > 0.f ? 1.f / row_sum[hr] : 0.f;
    }
    half *out = O + b * o_batch_stride + h * D + (lane & 3) * 2;
#pragma unroll
    for (int j = 0; j < D / 8; ++j) {
        if (row0 < q_len)
            *reinterpret_cast<uint32_t *>(out + (size_t)row0 * o_row_stride + j * 8) =
                pack_half2(o[4 * j] * row_sum[0], o[4 * j + 1] * row_sum[0]);
        if (row0 + 8 < q_len)
            *reinterpret_cast<uint32_t *>(out + (size_t)(row0 + 8) * o_row_stride + j * 8) =
                pack_half2(o[4 * j + 2] * row_sum[1], o[4 * j + 3] * row_sum[1]);
    }
}
}  // namespace

#define FA3_KERNEL(NAME, D, BN, CAUSAL)                                                                       \
    extern "C" __global__ void __launch_bounds__(THREADS, 1)                                                 \
    NAME(const __grid_constant__ TensorMap tmQ, const __grid_constant__ TensorMap tmK,                       \
         const __grid_constant__ TensorMap tmV, half *__restrict__ O, int q_len, int kv_len, int gqa_shift,  \
         float scale_log2, long long o_batch_stride, int o_row_stride) {                                     \
        fa3_fwd<D, BN, CAUSAL>(tmQ, tmK, tmV, O, q_len, kv_len, gqa_shift, scale_log2, o_batch_stride,        \
                               o_row_stride);                                                                \
    }

// dynamic shared memory: 128 x D x 2 (Q) + 2 stages x 2 (K, V) x BN x D x 2 + 1 KiB alignment slack
FA3_KERNEL(fa3_fwd_f16_d128_128x176, 128, 176, false)         // 208 KiB + 1 KiB
FA3_KERNEL(fa3_fwd_f16_d128_128x128_causal, 128, 128, true)   // 160 KiB + 1 KiB
FA3_KERNEL(fa3_fwd_f16_d256_128x80, 256, 80, false)           // 224 KiB + 1 KiB
FA3_KERNEL(fa3_fwd_f16_d256_128x80_causal, 256, 80, true)     // 224 KiB + 1 KiB

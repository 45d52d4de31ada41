// Shared helpers of gpusim's own LLM kernels (traces/kernels/src/*.cu).
//
// Thin inline-PTX wrappers so that every kernel reads as plain CUDA C++.  The PTX forms are from
// the PTX ISA 8.x manual (sections "cp.async", "ldmatrix", "mma.sync ... m16n8k16").  All kernels
// are fp16 in / fp16 out with fp32 accumulation, and assume 16-byte aligned rows (sizes that are
// multiples of 8 halves); the launcher (gpusim/llm/kernels.py) checks these preconditions.
#pragma once
#include <cuda_fp16.h>
#include <stdint.h>

#define DEVI __device__ __forceinline__

// 32-bit shared-memory address of a generic pointer into shared memory.
DEVI uint32_t smem_u32(const void *p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

// 16-byte global -> shared copy that bypasses L1 (cp.async.cg; SASS: LDGSTS.E.BYPASS.128).
DEVI void cp_async16(void *smem, const void *gmem) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(smem)), "l"(gmem));
}
DEVI void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }          // LDGDEPBAR
template <int N> DEVI void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }  // DEPBAR.LE SB0, N

// ldmatrix: four (or two) 8x8 b16 matrices from shared memory; lane i supplies row address i.
DEVI void ldsm_x4(uint32_t (&r)[4], const void *smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(smem)));
}
DEVI void ldsm_x4_trans(uint32_t (&r)[4], const void *smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(smem)));
}

// D = A * B + D, m16n8k16, fp16 inputs, fp32 accumulators (SASS: HMMA.16816.F32).
DEVI void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Grouped tile rasterisation of a GEMM grid (gridDim.x = N tiles, gridDim.y = M tiles): the CTA
// launch order (blockIdx.x fastest) is remapped so that consecutive CTAs take the tiles of a group
// of 2^LOG_G M tiles column by column -- (m0,n0), (m0+1,n0), ..., (m0+G-1,n0), (m0,n0+1), ... --
// instead of sweeping every N tile of one M tile.  A wave of CTAs then shares each W tile among the
// G M tiles of its group (the weights are read from DRAM about ceil(M tiles / G) times instead of
// once per M tile) while the group's G A panels stay in L2.  This is Triton's "grouped ordering"
// (matmul tutorial, section "L2 Cache Optimizations", GROUP_SIZE_M = 8 in all its configs) and the
// idea of CUTLASS's GemmIdentityThreadblockSwizzle.  Division-free (the walker cannot follow the
// float reciprocal of a runtime division): full groups of 2^LOG_G rows, then the remaining
// nM mod 2^LOG_G rows in groups of the powers of two of its binary digits, largest first (Triton
// uses one group of the remainder's size instead); each group is a bijection onto its rows.
template <int LOG_G>
DEVI void grouped_tile(int &tile_m, int &tile_n) {
    const unsigned nN = gridDim.x, nM = gridDim.y, by = blockIdx.y;
    unsigned lg = 0;
#pragma unroll
    for (int g = LOG_G; g > 0; --g)
        if (lg == 0 && by < (nM & ~((1u << g) - 1))) lg = g;
    const unsigned first = (by >> lg) << lg;               // first M tile of the group
    const unsigned local = (by - first) * nN + blockIdx.x;  // position in the group's launch order
    tile_m = static_cast<int>(first + (local & ((1u << lg) - 1)));
    tile_n = static_cast<int>(local >> lg);
}

DEVI uint32_t pack_half2(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}

DEVI float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
DEVI float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Eight halves <-> eight floats through one 16-byte vector.
DEVI void unpack8(const uint4 &v, float (&f)[8]) {
    const __half2 *h = reinterpret_cast<const __half2 *>(&v);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        float2 t = __half22float2(h[i]);
        f[2 * i] = t.x;
        f[2 * i + 1] = t.y;
    }
}
DEVI uint4 pack8(const float (&f)[8]) {
    uint4 v;
    v.x = pack_half2(f[0], f[1]);
    v.y = pack_half2(f[2], f[3]);
    v.z = pack_half2(f[4], f[5]);
    v.w = pack_half2(f[6], f[7]);
    return v;
}

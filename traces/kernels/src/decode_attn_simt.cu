// Split-KV decode attention over a paged KV cache on the CUDA cores (no tensor-core MMA), for Volta
// (sm_70): decode_attn.cu's kernel needs cp.async (sm_80), ldmatrix (sm_75) and mma m16n8k16 (sm_80).
// Same interface, grid and outputs as decode_attn_paged_f16_d{64,128}, so decode_attn.cu's combine
// kernel merges the splits.  FlashInfer's paged decode kernel computes on the CUDA cores the same way
// (one CTA per request chunk and KV head; each thread holds vec_size = 16 B / sizeof(half) elements of
// a K/V row and the partial dot products are reduced with warp shuffles over the bdx = head_dim /
// vec_size threads of a row: flashinfer-ai/flashinfer include/flashinfer/attention/decode.cuh
// @00b57feb, compute_qk / BatchDecodeWithPagedKVCacheKernel); its K/V staging uses cp.async, which
// Volta lacks, so here each row is loaded straight into registers, U = 4 rows per lane group in flight.
//
// Grid (num_splits, kv_heads, batch), block 128 threads (4 warps).  A key row of D halves is read by
// LPK = D / 8 lanes (one 16-byte load each): a warp covers 32 / LPK keys at a time; the CTA's
// NG = 4 * 32 / LPK lane groups take keys k_begin + g, k_begin + g + NG, ... of the split.  Every lane
// group keeps, for each of the group's query heads (GQA group <= MAXG = 8), a running max / sum in the
// log2 domain and 8 output dims of the unnormalised O; at the end the lane groups are merged through
// shared memory and Opart[b, h, s, :] (fp32) and ML[b, h, s] = (max, sum) are written as in
// decode_attn.cu.  Paged layout: K/V pools [blocks, 16, kv_heads, D], token p of sequence b in block
// BlockTable[b, p / 16], row p % 16.
#include "common.cuh"

namespace {
constexpr int PAGE = 16, THREADS = 128, WARPS = THREADS / 32, U = 4, MAXG = 8;

template <int D> struct SimtCfg {
    static constexpr int LPK = D / 8;        // lanes per key row
    static constexpr int KPW = 32 / LPK;     // keys per warp step
    static constexpr int NG = WARPS * KPW;   // lane groups per CTA
};

template <int D>
DEVI void decode_simt(const half *__restrict__ Q, const half *__restrict__ Kc, const half *__restrict__ Vc,
                      const int *__restrict__ BlockTable, float *__restrict__ Opart, float2 *__restrict__ ML,
                      int ctx, int split_len, int group, float scale_log2, int q_batch_stride, int kv_row_stride,
                      int max_blocks) {
    using C = SimtCfg<D>;
    __shared__ __align__(16) float qs[MAXG][D];
    __shared__ __align__(16) float red_o[C::NG][MAXG][D];
    __shared__ float red_m[C::NG][MAXG], red_l[C::NG][MAXG];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int s = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
    const int g = warp * C::KPW + lane / C::LPK, c = lane % C::LPK;
    const half *q = Q + (size_t)b * q_batch_stride + (size_t)hk * group * D;
    for (int i = tid; i < group * D; i += THREADS) qs[i / D][i % D] = __half2float(q[i]);
    __syncthreads();

    const int k_begin = s * split_len, k_end = min(ctx, k_begin + split_len);
    float m[MAXG], l[MAXG], o[MAXG][8];
#pragma unroll
    for (int r = 0; r < MAXG; ++r) {
        m[r] = -INFINITY;
        l[r] = 0.f;
#pragma unroll
        for (int i = 0; i < 8; ++i) o[r][i] = 0.f;
    }
    const int *bt = BlockTable + (size_t)b * max_blocks;
    const size_t head_off = (size_t)hk * D + c * 8;
    for (int base = k_begin; base < k_end; base += C::NG * U) {
        uint4 kr[U], vr[U];
        bool valid[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int p = base + g + C::NG * u;
            valid[u] = p < k_end;
            kr[u] = vr[u] = make_uint4(0u, 0u, 0u, 0u);
            if (valid[u]) {
                const size_t row = (size_t)bt[p >> 4] * PAGE + (p & (PAGE - 1));
                kr[u] = __ldg(reinterpret_cast<const uint4 *>(Kc + row * kv_row_stride + head_off));
                vr[u] = __ldg(reinterpret_cast<const uint4 *>(Vc + row * kv_row_stride + head_off));
            }
        }
        float kf[U][8], vf[U][8];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            unpack8(kr[u], kf[u]);
            unpack8(vr[u], vf[u]);
        }
#pragma unroll
        for (int r = 0; r < MAXG; ++r) {
            if (r >= group) break;
            const float4 q0 = *reinterpret_cast<const float4 *>(&qs[r][c * 8]);
            const float4 q1 = *reinterpret_cast<const float4 *>(&qs[r][c * 8 + 4]);
            float sc[U], mx = m[r];
#pragma unroll
            for (int u = 0; u < U; ++u) {
                float d = q0.x * kf[u][0] + q0.y * kf[u][1] + q0.z * kf[u][2] + q0.w * kf[u][3] +
                          q1.x * kf[u][4] + q1.y * kf[u][5] + q1.z * kf[u][6] + q1.w * kf[u][7];
#pragma unroll
                for (int off = C::LPK / 2; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
                sc[u] = valid[u] ? d * scale_log2 : -INFINITY;
                mx = fmaxf(mx, sc[u]);
            }
            const float ms = mx == -INFINITY ? 0.f : mx;  // no key yet: keep exp2 away from -inf - -inf
            const float corr = exp2f(m[r] - ms);
            l[r] *= corr;
#pragma unroll
            for (int i = 0; i < 8; ++i) o[r][i] *= corr;
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const float p = exp2f(sc[u] - ms);
                l[r] += p;
#pragma unroll
                for (int i = 0; i < 8; ++i) o[r][i] = fmaf(p, vf[u][i], o[r][i]);
            }
            m[r] = mx;
        }
    }
#pragma unroll
    for (int r = 0; r < MAXG; ++r) {
        if (r >= group) break;
        float4 *dst = reinterpret_cast<float4 *>(&red_o[g][r][c * 8]);
        dst[0] = make_float4(o[r][0], o[r][1], o[r][2], o[r][3]);
        dst[1] = make_float4(o[r][4], o[r][5], o[r][6], o[r][7]);
        if (c == 0) {
            red_m[g][r] = m[r];
            red_l[g][r] = l[r];
        }
    }
    __syncthreads();
    const int heads = gridDim.y * group;
    for (int r = 0; r < group; ++r) {
        float M = -INFINITY;
#pragma unroll
        for (int gg = 0; gg < C::NG; ++gg) M = fmaxf(M, red_m[gg][r]);
        const float Ms = M == -INFINITY ? 0.f : M;
        const size_t row = ((size_t)b * heads + hk * group + r) * gridDim.x + s;
        for (int d = tid; d < D; d += THREADS) {
            float L = 0.f, out = 0.f;
#pragma unroll
            for (int gg = 0; gg < C::NG; ++gg) {
                const float wt = exp2f(red_m[gg][r] - Ms);  // 0 for a lane group that saw no key
                L += red_l[gg][r] * wt;
                out += red_o[gg][r][d] * wt;
            }
            Opart[row * D + d] = out;
            if (d == 0) ML[row] = make_float2(M, L);
        }
    }
}
}  // namespace

#define DECODE_SIMT(NAME, D)                                                                                  \
    extern "C" __global__ void __launch_bounds__(THREADS)                                                    \
    NAME(const half *__restrict__ Q, const half *__restrict__ Kc, const half *__restrict__ Vc,               \
         const int *__restrict__ BlockTable, float *__restrict__ Opart, float2 *__restrict__ ML, int ctx,    \
         int split_len, int group, float scale_log2, int q_batch_stride, int kv_row_stride, int max_blocks) { \
        decode_simt<D>(Q, Kc, Vc, BlockTable, Opart, ML, ctx, split_len, group, scale_log2, q_batch_stride, \
                       kv_row_stride, max_blocks);                                                           \
    }
DECODE_SIMT(decode_attn_paged_simt_f16_d64, 64)
DECODE_SIMT(decode_attn_paged_simt_f16_d128, 128)

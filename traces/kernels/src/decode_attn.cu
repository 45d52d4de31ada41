// Split-KV decode attention (FlashDecoding): one new token per sequence, head_dim 128, fp16 KV cache.
//
// Kernel 1, decode_attn_split_f16_d128: grid (num_splits, heads, batch), block 128 threads.
//   CTA (s, h, b) handles keys [s*split_len, min(ctx, (s+1)*split_len)) of KV head hk = h >> gqa_shift.
//   The 4 warps are split into 8 half-warp groups; group g takes keys start+g, start+g+8, ...; each
//   of its 16 lanes holds 8 of the 128 dims (one 16-byte load of K and of V per key), the q.k dot
//   product is reduced over the 16 lanes with 4 shuffles, and each group keeps its own running
//   max / sum / output.  The 8 groups are merged through shared memory; thread d writes the
//   unnormalised output Opart[b, h, s, d] (fp32) and thread 0 writes ML[b, h, s] = (max, sum).
// Kernel 2, decode_attn_combine_f16_d128: grid (heads, batch), block 128 threads (one per dim):
//   O[b, h, d] = sum_s Opart[b,h,s,d] * 2^(m_s - M) / sum_s l_s * 2^(m_s - M).   num_splits <= 128.
// Layouts (halves): Q[b, h, d] at Q + b*q_batch_stride + h*128 + d; K/V[b, pos, hk, d] at
// K + b*kv_batch_stride + pos*kv_row_stride + hk*128 + d; O[b, h, d] at O + b*o_batch_stride + h*128 + d.
// Scores are scaled by scale_log2 = softmax_scale * log2(e) and exponentiated with exp2.
#include "common.cuh"

namespace {
constexpr int D = 128, THREADS = 128, GROUPS = THREADS / 16;
}

extern "C" __global__ void __launch_bounds__(THREADS)
decode_attn_split_f16_d128(const half *__restrict__ Q, const half *__restrict__ K, const half *__restrict__ V,
                           float *__restrict__ Opart, float2 *__restrict__ ML, int ctx, int split_len,
                           int gqa_shift, float scale_log2, int q_batch_stride, long long kv_batch_stride,
                           int kv_row_stride) {
    __shared__ float sm_acc[GROUPS][D];
    __shared__ float sm_m[GROUPS], sm_l[GROUPS];
    const int tid = threadIdx.x, g = tid >> 4, l16 = tid & 15;
    const int s = blockIdx.x, h = blockIdx.y, b = blockIdx.z, hk = h >> gqa_shift;
    const int start = s * split_len, end = min(ctx, start + split_len);

    float q[8];
    unpack8(__ldg(reinterpret_cast<const uint4 *>(Q + (size_t)b * q_batch_stride + h * D + l16 * 8)), q);
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] *= scale_log2;

    const half *kp = K + b * kv_batch_stride + hk * D + l16 * 8;
    const half *vp = V + b * kv_batch_stride + hk * D + l16 * 8;
    float m = -INFINITY, l = 0.f, acc[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[i] = 0.f;

    // warp-uniform trip count (the shuffles need both half-warps); the key itself may be past the end
    for (int base = start + (tid >> 5) * 2; base < end; base += GROUPS) {
        const int key = base + (g & 1);
        const bool valid = key < end;
        uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
        if (valid) {
            kv = __ldg(reinterpret_cast<const uint4 *>(kp + (size_t)key * kv_row_stride));
            vv = __ldg(reinterpret_cast<const uint4 *>(vp + (size_t)key * kv_row_stride));
        }
        float kf[8], vf[8], dot = 0.f;
        unpack8(kv, kf);
        unpack8(vv, vf);
#pragma unroll
        for (int i = 0; i < 8; ++i) dot = fmaf(q[i], kf[i], dot);
#pragma unroll
        for (int o = 8; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        if (valid) {
            const float mn = fmaxf(m, dot), corr = exp2f(m - mn), p = exp2f(dot - mn);
            l = l * corr + p;
#pragma unroll
            for (int i = 0; i < 8; ++i) acc[i] = fmaf(p, vf[i], acc[i] * corr);
            m = mn;
        }
    }

#pragma unroll
    for (int i = 0; i < 8; ++i) sm_acc[g][l16 * 8 + i] = acc[i];
    if (l16 == 0) {
        sm_m[g] = m;
        sm_l[g] = l;
    }
    __syncthreads();
    float M = -INFINITY;
#pragma unroll
    for (int i = 0; i < GROUPS; ++i) M = fmaxf(M, sm_m[i]);
    float L = 0.f, out = 0.f;
#pragma unroll
    for (int i = 0; i < GROUPS; ++i) {
        const float w = (sm_l[i] > 0.f) ? exp2f(sm_m[i] - M) : 0.f;
        L += sm_l[i] * w;
        out += sm_acc[i][tid] * w;
    }
    const size_t row = ((size_t)b * gridDim.y + h) * gridDim.x + s;
    Opart[row * D + tid] = out;
    if (tid == 0) ML[row] = make_float2(M, L);
}

extern "C" __global__ void __launch_bounds__(THREADS)
decode_attn_combine_f16_d128(const float *__restrict__ Opart, const float2 *__restrict__ ML, half *__restrict__ O,
                             int num_splits, int o_batch_stride) {
    __shared__ float sm_m[THREADS], sm_l[THREADS];
    const int tid = threadIdx.x, h = blockIdx.x, b = blockIdx.y;
    const size_t row0 = ((size_t)b * gridDim.x + h) * num_splits;
    if (tid < num_splits) {
        const float2 ml = ML[row0 + tid];
        sm_m[tid] = ml.x;
        sm_l[tid] = ml.y;
    }
    __syncthreads();
    float M = -INFINITY;
    for (int i = 0; i < num_splits; ++i) M = fmaxf(M, sm_m[i]);
    float L = 0.f, out = 0.f;
    for (int i = 0; i < num_splits; ++i) {
        const float w = exp2f(sm_m[i] - M);
        L += sm_l[i] * w;
        out += Opart[(row0 + i) * D + tid] * w;
    }
    O[(size_t)b * o_batch_stride + h * D + tid] = __float2half(out / L);
}

// Element-wise kernels of a Llama block: SwiGLU activation, residual add, rotary embedding.
// Every thread handles 8 halves through 16-byte loads and stores; block 256 threads (128 for rotary).
//
// silu_mul_f16: Out[t, i] = silu(GU[t, i]) * GU[t, F + i] for i < F (GU is the fused gate|up
//   projection output, gate first).  Grid (ceil(F / 2048), tokens).  F % 8 == 0.
// residual_add_f16: Out[i] = A[i] + B[i] for i < n.  Grid ceil(n / 2048).  n % 8 == 0.
// rotary_f16: in-place rotary position embedding (GPT-NeoX / Hugging Face Llama "rotate_half"
//   layout, head_dim 128): for each head of Q (heads) and K (kv_heads) of token t and i < 64,
//   (x_i, x_{i+64}) <- (x_i cos - x_{i+64} sin, x_{i+64} cos + x_i sin) with angle table
//   CosSin[pos, 0:64] = cos, CosSin[pos, 64:128] = sin (fp32) at pos = Positions[t].
//   Eight threads per head (8 pairs each); grid (ceil((heads + kv_heads) * 8 / 128), tokens).
#include "common.cuh"

namespace {
constexpr int THREADS = 256, RT_THREADS = 128, D = 128;
}

extern "C" __global__ void __launch_bounds__(THREADS)
silu_mul_f16(const half *__restrict__ GU, half *__restrict__ Out, int F, int gu_row_stride, int out_row_stride) {
    const int i = (blockIdx.x * THREADS + threadIdx.x) * 8, t = blockIdx.y;
    if (i >= F) return;
    const half *gu = GU + (size_t)t * gu_row_stride + i;
    float g[8], u[8];
    unpack8(*reinterpret_cast<const uint4 *>(gu), g);
    unpack8(*reinterpret_cast<const uint4 *>(gu + F), u);
#pragma unroll
    for (int k = 0; k < 8; ++k) g[k] = g[k] / (1.f + __expf(-g[k])) * u[k];
    *reinterpret_cast<uint4 *>(Out + (size_t)t * out_row_stride + i) = pack8(g);
}

extern "C" __global__ void __launch_bounds__(THREADS)
residual_add_f16(const half *__restrict__ A, const half *__restrict__ B, half *__restrict__ Out, int n) {
    const int i = (blockIdx.x * THREADS + threadIdx.x) * 8;
    if (i >= n) return;
    float a[8], b[8];
    unpack8(*reinterpret_cast<const uint4 *>(A + i), a);
    unpack8(*reinterpret_cast<const uint4 *>(B + i), b);
#pragma unroll
    for (int k = 0; k < 8; ++k) a[k] += b[k];
    *reinterpret_cast<uint4 *>(Out + i) = pack8(a);
}

extern "C" __global__ void __launch_bounds__(RT_THREADS)
rotary_f16(half *__restrict__ Q, half *__restrict__ K, const float *__restrict__ CosSin,
           const int *__restrict__ Positions, int heads, int kv_heads, int q_row_stride, int k_row_stride) {
    const int j = blockIdx.x * RT_THREADS + threadIdx.x, t = blockIdx.y;
    const int head = j >> 3, c = (j & 7) * 8;  // 8 threads per head, 8 rotation pairs each
    half *x;
    if (head < heads)
        x = Q + (size_t)t * q_row_stride + head * D;
    else if (head < heads + kv_heads)
        x = K + (size_t)t * k_row_stride + (head - heads) * D;
    else
        return;
    const float *cs = CosSin + (size_t)__ldg(Positions + t) * D;
    float x1[8], x2[8];
    unpack8(*reinterpret_cast<const uint4 *>(x + c), x1);
    unpack8(*reinterpret_cast<const uint4 *>(x + c + D / 2), x2);
    const float4 c0 = __ldg(reinterpret_cast<const float4 *>(cs + c)), c1 = __ldg(reinterpret_cast<const float4 *>(cs + c + 4));
    const float4 s0 = __ldg(reinterpret_cast<const float4 *>(cs + D / 2 + c)),
                 s1 = __ldg(reinterpret_cast<const float4 *>(cs + D / 2 + c + 4));
    const float co[8] = {c0.x, c0.y, c0.z, c0.w, c1.x, c1.y, c1.z, c1.w};
    const float si[8] = {s0.x, s0.y, s0.z, s0.w, s1.x, s1.y, s1.z, s1.w};
    float y1[8], y2[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        y1[k] = x1[k] * co[k] - x2[k] * si[k];
        y2[k] = x2[k] * co[k] + x1[k] * si[k];
    }
    *reinterpret_cast<uint4 *>(x + c) = pack8(y1);
    *reinterpret_cast<uint4 *>(x + c + D / 2) = pack8(y2);
}

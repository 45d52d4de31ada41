// Row-wise reductions: RMSNorm (every transformer block, twice) and softmax (sampling / MoE router).
//
// rmsnorm_f16: Y[r, :] = X[r, :] * rsqrt(mean(X[r, :]^2) + eps) * Wt[:]
//   grid (rows), block 256 threads; each thread reads 8 halves (16 B) per step, 2048 per block step.
//   Pass 1 sums squares (warp shuffles, then the 8 warp sums through shared memory); pass 2
//   re-reads X (an L1/L2 hit) with the weight and writes Y.  Preconditions: hidden % 8 == 0.
// softmax_f16: Y[r, :] = softmax(X[r, :]) in fp32, stored as fp16.  Same launch shape; pass 1 keeps
//   a running (max, sum of exp) per thread, merged across the block; pass 2 re-reads X and writes Y.
// Row r of X starts at X + r*x_row_stride, of Y at Y + r*y_row_stride (halves).
#include "common.cuh"

namespace {
constexpr int THREADS = 256, WARPS = THREADS / 32, STEP = THREADS * 8;

// block-wide sum; every thread gets the result
DEVI float block_sum(float v, float *red) {
    v = warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = (lane < WARPS) ? red[lane] : 0.f;
    v = warp_sum(v);
    return v;
}
}  // namespace

extern "C" __global__ void __launch_bounds__(THREADS)
rmsnorm_f16(const half *__restrict__ X, const half *__restrict__ Wt, half *__restrict__ Y, int hidden, float eps,
            int x_row_stride, int y_row_stride) {
    __shared__ float red[WARPS];
    const half *x = X + (size_t)blockIdx.x * x_row_stride;
    half *y = Y + (size_t)blockIdx.x * y_row_stride;
    float ss = 0.f;
    for (int k = threadIdx.x * 8; k < hidden; k += STEP) {
        float f[8];
        unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
#pragma unroll
        for (int i = 0; i < 8; ++i) ss = fmaf(f[i], f[i], ss);
    }
    const float inv = rsqrtf(block_sum(ss, red) / hidden + eps);
    for (int k = threadIdx.x * 8; k < hidden; k += STEP) {
        float f[8], w[8];
        unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
        unpack8(__ldg(reinterpret_cast<const uint4 *>(Wt + k)), w);
#pragma unroll
        for (int i = 0; i < 8; ++i) f[i] = f[i] * inv * w[i];
        *reinterpret_cast<uint4 *>(y + k) = pack8(f);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
softmax_f16(const half *__restrict__ X, half *__restrict__ Y, int cols, int x_row_stride, int y_row_stride) {
    __shared__ float red_m[WARPS], red_s[WARPS];
    const half *x = X + (size_t)blockIdx.x * x_row_stride;
    half *y = Y + (size_t)blockIdx.x * y_row_stride;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float m = -INFINITY, s = 0.f;
    for (int k = threadIdx.x * 8; k < cols; k += STEP) {
        float f[8];
        unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
        float mx = m;
#pragma unroll
        for (int i = 0; i < 8; ++i) mx = fmaxf(mx, f[i]);
        s *= __expf(m - mx);
#pragma unroll
        for (int i = 0; i < 8; ++i) s += __expf(f[i] - mx);
        m = mx;
    }
    // merge (m, s) pairs: first within the warp, then across warps
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float mo = __shfl_xor_sync(0xffffffffu, m, o), so = __shfl_xor_sync(0xffffffffu, s, o);
        const float mn = fmaxf(m, mo);
        s = (mn == -INFINITY) ? 0.f : s * __expf(m - mn) + so * __expf(mo - mn);
        m = mn;
    }
    if (lane == 0) {
        red_m[warp] = m;
        red_s[warp] = s;
    }
    __syncthreads();
    float M = -INFINITY, S = 0.f;
#pragma unroll
    for (int i = 0; i < WARPS; ++i) M = fmaxf(M, red_m[i]);
#pragma unroll
    for (int i = 0; i < WARPS; ++i) S += red_s[i] * __expf(red_m[i] - M);
    const float inv = 1.f / S;
    for (int k = threadIdx.x * 8; k < cols; k += STEP) {
        float f[8];
        unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
#pragma unroll
        for (int i = 0; i < 8; ++i) f[i] = __expf(f[i] - M) * inv;
        *reinterpret_cast<uint4 *>(y + k) = pack8(f);
    }
}

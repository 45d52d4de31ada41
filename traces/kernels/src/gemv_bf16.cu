// Decode GEMV with bf16 activations and weights: gemv.cu's kernel for bfloat16 tensors.
//
//   Y[b, n] = sum_k X[b, k] * W[n, k]    for b < BATCH; W [N, K] row-major (nn.Linear layout), bf16
//
// Same work split as gemv.cu (one warp per output row, each lane one 16-byte load of 8 weights and of
// every X row per step, fp32 accumulation, shuffle reduction, 128 threads = 4 rows per CTA) so that a
// bf16 step runs bf16 code: a bf16 element becomes fp32 by moving its 16 bits into the upper half of a
// 32-bit register (integer PRMT / IMAD.U32 / LOP3 in SASS) where fp16 converts on the FMA pipe
// (HADD2.F32), and the result is packed with F2FP.BF16.  Preconditions as gemv.cu: K % 8 == 0,
// 16-byte aligned rows.
#include <cuda_bf16.h>
#include "common.cuh"

namespace {
constexpr int THREADS = 128, ROWS = THREADS / 32;

// Eight bf16 (one 16-byte vector) -> eight floats: the bf16 bits are the upper 16 bits of the float.
DEVI void unpack8_bf16(const uint4 &v, float (&f)[8]) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        f[2 * i] = __uint_as_float(w[i] << 16);
        f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}

template <int BATCH>
DEVI void gemv(const __nv_bfloat16 *__restrict__ X, const __nv_bfloat16 *__restrict__ W, __nv_bfloat16 *__restrict__ Y,
               int N, int K, int x_row_stride, int y_row_stride) {
    const int lane = threadIdx.x & 31;
    const int n = blockIdx.x * ROWS + (threadIdx.x >> 5);
    if (n >= N) return;
    float acc[BATCH];
#pragma unroll
    for (int b = 0; b < BATCH; ++b) acc[b] = 0.f;
    const __nv_bfloat16 *w = W + (size_t)n * K;
    for (int k = lane * 8; k < K; k += 32 * 8) {
        float wf[8];
        unpack8_bf16(__ldg(reinterpret_cast<const uint4 *>(w + k)), wf);
#pragma unroll
        for (int b = 0; b < BATCH; ++b) {
            float xf[8];
            unpack8_bf16(__ldg(reinterpret_cast<const uint4 *>(X + (size_t)b * x_row_stride + k)), xf);
#pragma unroll
            for (int i = 0; i < 8; ++i) acc[b] = fmaf(wf[i], xf[i], acc[b]);
        }
    }
#pragma unroll
    for (int b = 0; b < BATCH; ++b) {
        const float s = warp_sum(acc[b]);
        if (lane == 0) Y[(size_t)b * y_row_stride + n] = __float2bfloat16(s);
    }
}
}  // namespace

#define GEMV_BF16(B)                                                                                         \
    extern "C" __global__ void __launch_bounds__(THREADS)                                                    \
        gemv_bf16_b##B(const __nv_bfloat16 *__restrict__ X, const __nv_bfloat16 *__restrict__ W,             \
                       __nv_bfloat16 *__restrict__ Y, int N, int K, int x_row_stride, int y_row_stride) {    \
        gemv<B>(X, W, Y, N, K, x_row_stride, y_row_stride);                                                  \
    }
GEMV_BF16(1)
GEMV_BF16(2)
GEMV_BF16(4)
GEMV_BF16(8)

// Decode GEMV: the linear layers of small-batch decode, where the weight stream dominates.
//
//   Y[b, n] = sum_k X[b, k] * W[n, k]    for b < BATCH; W [N, K] row-major (nn.Linear layout)
//   X rows are x_row_stride halves apart, Y rows y_row_stride halves apart.
//
// One warp per output row n; each lane reads 8 consecutive halves (one 16-byte load) of the
// weight row and of every X row per step, so a warp covers 256 columns per step; the 32 partial
// sums are reduced with shuffles and lane 0 writes Y.  Block 128 threads (4 rows); grid
// ceil(N/4).  BATCH (1, 2, 4, 8) is a template parameter: one kernel per batch size.
// Preconditions: K % 8 == 0, 16-byte aligned rows.
#include "common.cuh"

namespace {
constexpr int THREADS = 128, ROWS = THREADS / 32;

template <int BATCH>
DEVI void gemv(const half *__restrict__ X, const half *__restrict__ W, half *__restrict__ Y, int N, int K,
               int x_row_stride, int y_row_stride) {
    const int lane = threadIdx.x & 31;
    const int n = blockIdx.x * ROWS + (threadIdx.x >> 5);
    if (n >= N) return;
    float acc[BATCH];
#pragma unroll
    for (int b = 0; b < BATCH; ++b) acc[b] = 0.f;
    const half *w = W + (size_t)n * K;
    for (int k = lane * 8; k < K; k += 32 * 8) {
        float wf[8];
        unpack8(__ldg(reinterpret_cast<const uint4 *>(w + k)), wf);
#pragma unroll
        for (int b = 0; b < BATCH; ++b) {
            float xf[8];
            unpack8(__ldg(reinterpret_cast<const uint4 *>(X + (size_t)b * x_row_stride + k)), xf);
#pragma unroll
            for (int i = 0; i < 8; ++i) acc[b] = fmaf(wf[i], xf[i], acc[b]);
        }
    }
#pragma unroll
    for (int b = 0; b < BATCH; ++b) {
        const float s = warp_sum(acc[b]);
        if (lane == 0) Y[(size_t)b * y_row_stride + n] = __float2half(s);
    }
}
}  // namespace

#define GEMV(B)                                                                                              \
    extern "C" __global__ void __launch_bounds__(THREADS)                                                    \
        gemv_f16_b##B(const half *__restrict__ X, const half *__restrict__ W, half *__restrict__ Y, int N, int K, \
                      int x_row_stride, int y_row_stride) {                                                  \
        gemv<B>(X, W, Y, N, K, x_row_stride, y_row_stride);                                                  \
    }
GEMV(1)
GEMV(2)
GEMV(4)
GEMV(8)

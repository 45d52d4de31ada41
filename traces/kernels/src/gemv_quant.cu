// Weight-only quantised decode GEMV (W8A16 / W4A16): the linear layers of small-batch decode with int8
// or int4 weights and fp16 activations, dequantised in registers on the way to the FMA.
//
//   Y[b, n] = sum_k X[b, k] * dq(W)[n, k]      for b < BATCH (1, 2, 4, 8, 16)
//
// Weight layout: each output channel's K weights contiguous (W "[N, K]" as nn.Linear stores it; the
// "ColumnMajor" [k, n] layout of TensorRT-LLM's weight-only batched GEMV, NVIDIA/TensorRT-LLM
// cpp/tensorrt_llm/kernels/weightOnlyBatchedGemv/kernel.h @ 08758178cceefe5326e26c2e6fd0bcf2ecaff494,
// whose scales are [k / GroupSize, n] (group-wise) or [1, n] (per channel) row-major, as here).
//   int8 (BITS 8):  one signed byte per weight, row n at byte n*K; per-channel fp16 scale S[n]
//                   (TensorRT-LLM's per-channel `weight_only` int8: w = q * S[n]).
//   int4 (BITS 4):  8 weights per 32-bit word along K, row n at byte n*K/2; word j of a row holds
//                   k = 8j .. 8j+7 with AWQ's nibble order (value i at bit 4*[0,4,1,5,2,6,3,7][i], i.e. the
//                   shifts 0,16,4,20,8,24,12,28 of llm-awq's pack order, mit-han-lab/llm-awq
//                   awq/kernels/csrc/quantization/dequantize.cuh: the order that lets one LOP3 turn a
//                   word into two consecutive fp16 pairs); symmetric, zero point 8 (GPTQ sym=True):
//                   w = (q - 8) * S[k >> group_shift, n], fp16 scales S [K / group, N] row-major.
//                   group = 1 << group_shift, any power of two >= 32 (128 and 32 are what AWQ/GPTQ
//                   checkpoints use); one lane's 32 weights of a step then share one scale.
//
// Dequantisation is the magic-number trick of FasterTransformer / TensorRT-LLM
// (cutlass_extensions/interleaved_numeric_conversion.h) and llm-awq's dequantize.cuh: OR the integer
// bits into the mantissa of fp16 1024.0 (0x6400) and subtract the bias with one HADD2/HFMA2 per
// pair.  int8: PRMT places bytes under 0x64 (= 1024 + u, u = q + 128 after flipping the sign bit),
// minus 1152.  int4: LOP3 (w & 0x000f000f) | 0x64006400 = {1024 + v0, 1024 + v1} minus 1032
// (1024 + zero point 8); the 0x00f000f0 nibbles give 1024 + 16 v, times 1/16 minus 72.  Products in
// fp16 (HFMA2, a step's 16 (int4) or 8 (int8) products per half), each step's sum converted to fp32
// and scaled into an fp32 accumulator, as TensorRT-LLM's kernel multiplies in the activation type.
//
// Work split (as gemv.cu): one warp per output row n, each lane one 16-byte load of packed weights
// per step (32 int4 / 16 int8 weights) and the matching 64 / 32 bytes of every X row; a warp covers
// 1024 (int4) / 512 (int8) k per step; 128 threads (4 rows) per CTA.  Split-K over grid y when the
// grid (ceil(N/4) CTAs) would leave SMs idle: CTA row z covers k in [z*k_per_split, (z+1)*k_per_split)
// and writes fp32 partials P[z][b][n] (k_per_split a multiple of the warp's k per step), then
// gemv_splitk_reduce_f32 sums them into Y.  With grid y == 1 the kernel writes Y and P is unused.
// Preconditions (checked by gpusim/llm/kernels.py): K % 32 (int4) / 16 (int8) == 0, K % group == 0,
// 16-byte aligned rows of X.
#include "common.cuh"

namespace {
constexpr int THREADS = 128, ROWS = THREADS / 32;

DEVI __half2 as_h2(uint32_t u) { return *reinterpret_cast<__half2 *>(&u); }

// One 32-bit word of 8 int4 (AWQ order) -> 4 fp16 pairs (k0,k1) (k2,k3) (k4,k5) (k6,k7), values q - 8.
DEVI void dq_int4(uint32_t w, __half2 (&h)[4]) {
    const uint32_t t = w >> 8;
    const __half2 k1032 = as_h2(0x64086408u), sixteenth = as_h2(0x2c002c00u), m72 = as_h2(0xd480d480u);
    h[0] = __hsub2(as_h2((w & 0x000f000fu) | 0x64006400u), k1032);
    h[1] = __hfma2(as_h2((w & 0x00f000f0u) | 0x64006400u), sixteenth, m72);
    h[2] = __hsub2(as_h2((t & 0x000f000fu) | 0x64006400u), k1032);
    h[3] = __hfma2(as_h2((t & 0x00f000f0u) | 0x64006400u), sixteenth, m72);
}

// One 32-bit word of 4 signed int8 -> 2 fp16 pairs (k0,k1) (k2,k3).
DEVI void dq_int8(uint32_t w, __half2 (&h)[2]) {
    const uint32_t u = w ^ 0x80808080u;             // q + 128 in every byte
    const __half2 k1152 = as_h2(0x64806480u);        // 1024 + 128
    h[0] = __hsub2(as_h2(__byte_perm(u, 0x64646464u, 0x5140)), k1152);
    h[1] = __hsub2(as_h2(__byte_perm(u, 0x64646464u, 0x7342)), k1152);
}

template <int BATCH, int BITS>
DEVI void gemv_q(const half *__restrict__ X, const uint8_t *__restrict__ W, const half *__restrict__ S,
                 half *__restrict__ Y, float *__restrict__ P, int N, int K, int group_shift, int k_per_split,
                 int x_row_stride, int y_row_stride) {
    constexpr int KPL = 128 / BITS;        // weights per lane per step (one 16-byte load)
    constexpr int KPW = 32 * KPL;          // weights per warp per step
    constexpr int PAIRS = KPL / 2;         // fp16 pairs per lane per step
    const int lane = threadIdx.x & 31;
    const int n = blockIdx.x * ROWS + (threadIdx.x >> 5);
    if (n >= N) return;
    const int k_end = min(K, (int)(blockIdx.y + 1) * k_per_split);
    const uint8_t *w = W + (size_t)n * (K / (8 / BITS));
    float acc[BATCH];
#pragma unroll
    for (int b = 0; b < BATCH; ++b) acc[b] = 0.f;
    // two steps in flight per warp (one at batch 16); explicit because ptxas's own choices spilled
    // registers to the stack in some instantiations (gemv_int8_b2 on sm_8x, gemv_int4_b16 on sm_80)
#pragma unroll (BATCH >= 16 ? 1 : 2)
    for (int k = blockIdx.y * k_per_split + lane * KPL; k < k_end; k += KPW) {
        const uint4 q = __ldg(reinterpret_cast<const uint4 *>(w + k * BITS / 8));
        const uint32_t qw[4] = {q.x, q.y, q.z, q.w};
        __half2 wh[PAIRS];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if constexpr (BITS == 4) {
                __half2 t[4];
                dq_int4(qw[j], t);
#pragma unroll
                for (int i = 0; i < 4; ++i) wh[4 * j + i] = t[i];
            } else {
                __half2 t[2];
                dq_int8(qw[j], t);
                wh[2 * j] = t[0];
                wh[2 * j + 1] = t[1];
            }
        }
        float s = 1.f;
        if constexpr (BITS == 4) s = __half2float(__ldg(S + (size_t)(k >> group_shift) * N + n));
#pragma unroll
        for (int b = 0; b < BATCH; ++b) {
            // in 16-byte units (int: < 2^31 halves): keeps ptxas from folding a 64-bit addend into a
            // constant-bank-2 operand, which the walker does not read
            const uint4 *x = reinterpret_cast<const uint4 *>(X) + ((b * x_row_stride + k) >> 3);
            __half2 p = __float2half2_rn(0.f);
#pragma unroll
            for (int c = 0; c < KPL / 8; ++c) {
                const uint4 xv = __ldg(x + c);
                const uint32_t xw[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
                for (int i = 0; i < 4; ++i) p = __hfma2(wh[4 * c + i], as_h2(xw[i]), p);
            }
            const float2 f = __half22float2(p);
            acc[b] = fmaf(f.x + f.y, s, acc[b]);
        }
    }
#pragma unroll
    for (int b = 0; b < BATCH; ++b) {
        float v = warp_sum(acc[b]);
        if (lane == 0) {
            if constexpr (BITS == 8) v *= __half2float(__ldg(S + n));
            if (gridDim.y == 1)
                Y[(size_t)b * y_row_stride + n] = __float2half(v);
            else
                P[((size_t)blockIdx.y * BATCH + b) * N + n] = v;
        }
    }
}
}  // namespace

#define GEMV_Q(NAME, BITS, B)                                                                                \
    extern "C" __global__ void __launch_bounds__(THREADS)                                                    \
        NAME##_b##B(const half *__restrict__ X, const uint8_t *__restrict__ W, const half *__restrict__ S,   \
                    half *__restrict__ Y, float *__restrict__ P, int N, int K, int group_shift,              \
                    int k_per_split, int x_row_stride, int y_row_stride) {                                   \
        gemv_q<B, BITS>(X, W, S, Y, P, N, K, group_shift, k_per_split, x_row_stride, y_row_stride);        \
    }
GEMV_Q(gemv_int8, 8, 1)
GEMV_Q(gemv_int8, 8, 2)
GEMV_Q(gemv_int8, 8, 4)
GEMV_Q(gemv_int8, 8, 8)
GEMV_Q(gemv_int8, 8, 16)
GEMV_Q(gemv_int4, 4, 1)
GEMV_Q(gemv_int4, 4, 2)
GEMV_Q(gemv_int4, 4, 4)
GEMV_Q(gemv_int4, 4, 8)
GEMV_Q(gemv_int4, 4, 16)

// Split-K reduction: Y[b, n] = sum over z < splits of P[z][b][n] (fp32 partials of `rows` rows).
// Grid (ceil(N/256), rows): one thread per output element, no division (the walker computes integers only).
extern "C" __global__ void __launch_bounds__(256)
gemv_splitk_reduce_f32(const float *__restrict__ P, half *__restrict__ Y, int N, int rows, int splits,
                       int y_row_stride) {
    const int n = blockIdx.x * 256 + threadIdx.x, b = blockIdx.y;
    if (n >= N) return;
    float s = 0.f;
    for (int z = 0; z < splits; ++z) s += P[((size_t)z * rows + b) * N + n];
    Y[(size_t)b * y_row_stride + n] = __float2half(s);
}

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
// Work split: int8 as gemv.cu, one warp per output row n, each lane one 16-byte load of 16 packed
// weights per step and the matching 32 bytes of every X row, 512 weights per warp step, 128 threads
// (4 rows) per CTA.  int4 channel-tiled (gemv_q4t below): 4 rows per CTA, 8 lanes per row in every
// warp, the 4 warps splitting each 1024-weight CTA step along K.  Split-K over grid y when the grid
// (N/4 CTAs) would leave SMs idle: CTA row z covers k in [z*k_per_split, (z+1)*k_per_split)
// and writes fp32 partials P[z][b][n] (k_per_split a multiple of the CTA's k per step), then
// gemv_splitk_reduce_f32 sums them into Y.  With grid y == 1 the kernel writes Y and P is unused.
// Preconditions (checked by gpusim/llm/kernels.py): K % 32 (int4) / 16 (int8) == 0, K % group == 0,
// N % 4 == 0 (int4), 16-byte aligned rows of X.
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

// int4, channel-tiled: a CTA computes CH = 4 consecutive output channels n0 .. n0+3 over its K range.
// Lane l of warp w serves channel n0 + l / 8 and covers k = k0 + 256 w + 32 (l % 8) .. +31 of every
// CTA step of 1024 weights (k0 = the step's first k): the 8 lanes of a channel load 128 contiguous bytes
// of its packed row, the 4 channels' group scales of a warp step are 4 consecutive halves of one or more
// [K/G, N] rows (2 sectors at G = 128, 8 at G = 32, where one warp per channel touches 8 and 32), and
// the 4 channels share each X load (the same 512 bytes of every X row per warp).  Several columns per
// CTA with the threads along K is the organisation of TensorRT-LLM's kernel (kernel.h above; it also
// interleaves the weight layout, which we do not).  CH = 4 was chosen by simulating 1 x 4096 x 4096 at
// G = 128 / 32 on the A100 config: CH = 8 (64-byte row pieces, 512 CTAs) 11.0 / 11.7 us, CH = 4 7.4 /
// 10.4 us, CH = 2 8.3 / 31.4 us, one warp per channel (the int8 kernel's split) 7.6 / 12.5 us.  The
// lanes of a channel are reduced with shuffles, the 4 warps through shared memory.  Requires N % 4 == 0.
constexpr int CH = 4, LPC = 32 / CH, Q4_STEP = ROWS * LPC * 32;  // lanes per channel, weights per CTA step

template <int BATCH>
DEVI void gemv_q4t(const half *__restrict__ X, const uint8_t *__restrict__ W, const half *__restrict__ S,
                   half *__restrict__ Y, float *__restrict__ P, int N, int K, int group_shift, int k_per_split,
                   int x_row_stride, int y_row_stride) {
    __shared__ float red[ROWS][BATCH][CH];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, c = lane / LPC;
    const int n = blockIdx.x * CH + c;
    const int k_end = min(K, (int)(blockIdx.y + 1) * k_per_split);
    const uint8_t *w = W + (size_t)n * (K / 2);
    float acc[BATCH];
#pragma unroll
    for (int b = 0; b < BATCH; ++b) acc[b] = 0.f;
#pragma unroll (BATCH >= 16 ? 1 : 2)
    for (int k = blockIdx.y * k_per_split + warp * (LPC * 32) + (lane % LPC) * 32; k < k_end; k += Q4_STEP) {
        const uint4 q = __ldg(reinterpret_cast<const uint4 *>(w + k / 2));
        const uint32_t qw[4] = {q.x, q.y, q.z, q.w};
        __half2 wh[16];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            __half2 t[4];
            dq_int4(qw[j], t);
#pragma unroll
            for (int i = 0; i < 4; ++i) wh[4 * j + i] = t[i];
        }
        const float s = __half2float(__ldg(S + (size_t)(k >> group_shift) * N + n));
#pragma unroll
        for (int b = 0; b < BATCH; ++b) {
            const uint4 *x = reinterpret_cast<const uint4 *>(X) + ((b * x_row_stride + k) >> 3);
            __half2 p = __float2half2_rn(0.f);
#pragma unroll
            for (int cc = 0; cc < 4; ++cc) {
                const uint4 xv = __ldg(x + cc);
                const uint32_t xw[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
                for (int i = 0; i < 4; ++i) p = __hfma2(wh[4 * cc + i], as_h2(xw[i]), p);
            }
            const float2 f = __half22float2(p);
            acc[b] = fmaf(f.x + f.y, s, acc[b]);
        }
    }
#pragma unroll
    for (int b = 0; b < BATCH; ++b) {
        float v = acc[b];
#pragma unroll
        for (int o = 1; o < LPC; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane % LPC == 0) red[warp][b][c] = v;
    }
    __syncthreads();
    if (threadIdx.x < BATCH * CH) {
        const int b = threadIdx.x / CH, cn = threadIdx.x % CH;
        const float v = red[0][b][cn] + red[1][b][cn] + red[2][b][cn] + red[3][b][cn];
        const int on = blockIdx.x * CH + cn;
        if (gridDim.y == 1)
            Y[(size_t)b * y_row_stride + on] = __float2half(v);
        else
            P[((size_t)blockIdx.y * BATCH + b) * N + on] = v;
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
#define GEMV_Q4(B)                                                                                           \
    extern "C" __global__ void __launch_bounds__(THREADS, 1)  /* min 1 CTA/SM: no spill (sm_90a b2) */      \
        gemv_int4_b##B(const half *__restrict__ X, const uint8_t *__restrict__ W, const half *__restrict__ S, \
                       half *__restrict__ Y, float *__restrict__ P, int N, int K, int group_shift,           \
                       int k_per_split, int x_row_stride, int y_row_stride) {                                \
        gemv_q4t<B>(X, W, S, Y, P, N, K, group_shift, k_per_split, x_row_stride, y_row_stride);            \
    }
GEMV_Q4(1)
GEMV_Q4(2)
GEMV_Q4(4)
GEMV_Q4(8)
GEMV_Q4(16)

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

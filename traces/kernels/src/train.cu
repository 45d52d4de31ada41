// Memory-bound kernels of a training step (gpusim llm --step train:...): the forward LayerNorm and GeLU
// of GPT-style blocks, the backward of the norms and activations, the LM head's fused softmax
// cross-entropy (loss and dlogits) and the fused AdamW update.  Every thread moves 8 halves (16 B)
// per access, 256 threads per CTA.
//
// layernorm_f16: Y[r,:] = (X[r,:] - mean) * rstd * Wt + Bs, one CTA per row, pass 1 sums x and x^2,
//   pass 2 re-reads X (L1/L2 hit).  hidden % 8 == 0.
// gelu_f16: Out[i] = gelu(X[i]) (tanh approximation, GPT-2 / Megatron-LM's), grid ceil(n / 2048).
// gelu_bwd_f16: dX[i] = dY[i] * gelu'(X[i]) (X = the saved pre-activation), grid ceil(n / 2048).
// silu_mul_bwd_f16: for the SwiGLU output Out = silu(g) * u of silu_mul_f16 (GU = [gate | up] per row):
//   dGU[t, i] = dY * u * silu'(g), dGU[t, F + i] = dY * silu(g).  Grid (ceil(F / 2048), tokens).
// norm_bwd_f16: backward of LayerNorm (layernorm = 1) or RMSNorm (0) over rows_per_cta rows per CTA:
//   pass 1 per row sums g = dY * w, g * x, x and x^2 (the statistics are recomputed from X, nothing is
//   saved by the forward); pass 2 re-reads the row and writes dX = rstd * (g - (xhat * sum(g xhat) +
//   [layernorm] sum(g)) / hidden) and accumulates dW += dY * xhat (and dB += dY) in registers; at the
//   end the CTA adds its partial column sums into fp32 dW / dB with atomics (RED.ADD.F32).
//   hidden % 8 == 0, hidden <= 8 * 256 * MAX_STEPS.
// cross_entropy_f16: one CTA per row of the logits: pass 1 online (max, sum of exp) and the logit of
//   the row's label (Labels, int32); Loss[r] = log(sum) + max - x[label] (fp32); pass 2 re-reads the
//   row and writes dLogits = (softmax - onehot(label)) * grad_scale (fp16; may alias Logits).
// adamw_f16: fused AdamW (Loshchilov & Hutter, decoupled weight decay) with fp32 master weights P, fp32
//   moments M and V, fp16 gradients G and the fp16 model copy P16 written back: per element
//   m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr (m / bc1 / (sqrt(v / bc2) + eps) + wd p).
//   Reads 4 + 4 + 4 + 2 and writes 4 + 4 + 4 + 2 bytes per parameter.  Grid ceil(n / 2048).
#include "common.cuh"

namespace {
constexpr int THREADS = 256, WARPS = THREADS / 32, STEP = THREADS * 8, MAX_STEPS = 4;

DEVI float block_sum(float v, float *red) {
    v = warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = (lane < WARPS) ? red[lane] : 0.f;
    return warp_sum(v);
}

DEVI float gelu_tanh(float x) {
    const float u = 0.7978845608f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.f + tanhf(u));
}
DEVI float gelu_tanh_grad(float x) {
    const float u = 0.7978845608f * (x + 0.044715f * x * x * x);
    const float t = tanhf(u);
    return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * 0.7978845608f * (1.f + 3.f * 0.044715f * x * x);
}
}  // namespace

extern "C" __global__ void __launch_bounds__(THREADS)
layernorm_f16(const half *__restrict__ X, const half *__restrict__ Wt, const half *__restrict__ Bs,
              half *__restrict__ Y, int hidden, float eps) {
    __shared__ float red[WARPS];
    const half *x = X + (size_t)blockIdx.x * hidden;
    half *y = Y + (size_t)blockIdx.x * hidden;
    float s = 0.f, ss = 0.f;
    for (int k = threadIdx.x * 8; k < hidden; k += STEP) {
        float f[8];
        unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            s += f[i];
            ss = fmaf(f[i], f[i], ss);
        }
    }
    const float mean = block_sum(s, red) / hidden;
    const float var = fmaxf(block_sum(ss, red) / hidden - mean * mean, 0.f);
    const float rstd = rsqrtf(var + eps);
    for (int k = threadIdx.x * 8; k < hidden; k += STEP) {
        float f[8], w[8], b[8];
        unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
        unpack8(__ldg(reinterpret_cast<const uint4 *>(Wt + k)), w);
        unpack8(__ldg(reinterpret_cast<const uint4 *>(Bs + k)), b);
#pragma unroll
        for (int i = 0; i < 8; ++i) f[i] = (f[i] - mean) * rstd * w[i] + b[i];
        *reinterpret_cast<uint4 *>(y + k) = pack8(f);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
gelu_f16(const half *__restrict__ X, half *__restrict__ Out, int n) {
    const int i = (blockIdx.x * THREADS + threadIdx.x) * 8;
    if (i >= n) return;
    float f[8];
    unpack8(*reinterpret_cast<const uint4 *>(X + i), f);
#pragma unroll
    for (int k = 0; k < 8; ++k) f[k] = gelu_tanh(f[k]);
    *reinterpret_cast<uint4 *>(Out + i) = pack8(f);
}

extern "C" __global__ void __launch_bounds__(THREADS)
gelu_bwd_f16(const half *__restrict__ dY, const half *__restrict__ X, half *__restrict__ dX, int n) {
    const int i = (blockIdx.x * THREADS + threadIdx.x) * 8;
    if (i >= n) return;
    float g[8], x[8];
    unpack8(*reinterpret_cast<const uint4 *>(dY + i), g);
    unpack8(*reinterpret_cast<const uint4 *>(X + i), x);
#pragma unroll
    for (int k = 0; k < 8; ++k) g[k] *= gelu_tanh_grad(x[k]);
    *reinterpret_cast<uint4 *>(dX + i) = pack8(g);
}

extern "C" __global__ void __launch_bounds__(THREADS)
silu_mul_bwd_f16(const half *__restrict__ dY, const half *__restrict__ GU, half *__restrict__ dGU, int F) {
    const int i = (blockIdx.x * THREADS + threadIdx.x) * 8, t = blockIdx.y;
    if (i >= F) return;
    const half *gu = GU + (size_t)t * 2 * F + i;
    half *dgu = dGU + (size_t)t * 2 * F + i;
    float dy[8], g[8], u[8], dg[8], du[8];
    unpack8(*reinterpret_cast<const uint4 *>(dY + (size_t)t * F + i), dy);
    unpack8(*reinterpret_cast<const uint4 *>(gu), g);
    unpack8(*reinterpret_cast<const uint4 *>(gu + F), u);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        const float sg = 1.f / (1.f + __expf(-g[k]));
        du[k] = dy[k] * g[k] * sg;
        dg[k] = dy[k] * u[k] * sg * (1.f + g[k] * (1.f - sg));
    }
    *reinterpret_cast<uint4 *>(dgu) = pack8(dg);
    *reinterpret_cast<uint4 *>(dgu + F) = pack8(du);
}

extern "C" __global__ void __launch_bounds__(THREADS)
norm_bwd_f16(const half *__restrict__ dY, const half *__restrict__ X, const half *__restrict__ Wt,
             half *__restrict__ dX, float *__restrict__ dW, float *__restrict__ dB, int hidden, int rows,
             int rows_per_cta, int layernorm, float eps) {
    __shared__ float red[WARPS];
    float aw[MAX_STEPS][8], ab[MAX_STEPS][8];
#pragma unroll
    for (int j = 0; j < MAX_STEPS; ++j)
#pragma unroll
        for (int i = 0; i < 8; ++i) aw[j][i] = ab[j][i] = 0.f;
    const int r0 = blockIdx.x * rows_per_cta, r1 = min(rows, r0 + rows_per_cta);
    for (int r = r0; r < r1; ++r) {
        const half *x = X + (size_t)r * hidden, *dy = dY + (size_t)r * hidden;
        float sgx = 0.f, sg = 0.f, sx = 0.f, sxx = 0.f;
#pragma unroll
        for (int j = 0; j < MAX_STEPS; ++j) {
            const int k = threadIdx.x * 8 + j * STEP;
            if (k < hidden) {
                float f[8], d[8], w[8];
                unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
                unpack8(*reinterpret_cast<const uint4 *>(dy + k), d);
                unpack8(__ldg(reinterpret_cast<const uint4 *>(Wt + k)), w);
#pragma unroll
                for (int i = 0; i < 8; ++i) {
                    const float g = d[i] * w[i];
                    sgx = fmaf(g, f[i], sgx);
                    sg += g;
                    sx += f[i];
                    sxx = fmaf(f[i], f[i], sxx);
                }
            }
        }
        sgx = block_sum(sgx, red);
        sg = block_sum(sg, red);
        sx = block_sum(sx, red);
        sxx = block_sum(sxx, red);
        const float mean = layernorm ? sx / hidden : 0.f;
        const float rstd = rsqrtf(fmaxf(sxx / hidden - mean * mean, 0.f) + eps);
        const float sgxh = rstd * (sgx - mean * sg);                 // sum of g * xhat
        const float c1 = sgxh / hidden, c2 = layernorm ? sg / hidden : 0.f;
#pragma unroll
        for (int j = 0; j < MAX_STEPS; ++j) {
            const int k = threadIdx.x * 8 + j * STEP;
            if (k < hidden) {
                float f[8], d[8], w[8], o[8];
                unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
                unpack8(*reinterpret_cast<const uint4 *>(dy + k), d);
                unpack8(__ldg(reinterpret_cast<const uint4 *>(Wt + k)), w);
#pragma unroll
                for (int i = 0; i < 8; ++i) {
                    const float xh = (f[i] - mean) * rstd;
                    o[i] = rstd * (d[i] * w[i] - xh * c1 - c2);
                    aw[j][i] = fmaf(d[i], xh, aw[j][i]);
                    ab[j][i] += d[i];
                }
                *reinterpret_cast<uint4 *>(dX + (size_t)r * hidden + k) = pack8(o);
            }
        }
    }
#pragma unroll
    for (int j = 0; j < MAX_STEPS; ++j) {
        const int k = threadIdx.x * 8 + j * STEP;
        if (k < hidden) {
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                atomicAdd(dW + k + i, aw[j][i]);
                if (layernorm) atomicAdd(dB + k + i, ab[j][i]);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
cross_entropy_f16(const half *__restrict__ Logits, const int *__restrict__ Labels, half *dLogits,
                  float *__restrict__ Loss, int cols, float grad_scale) {
    __shared__ float red_m[WARPS], red_s[WARPS];
    const half *x = Logits + (size_t)blockIdx.x * cols;
    half *dx = dLogits + (size_t)blockIdx.x * cols;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int label = __ldg(Labels + blockIdx.x);
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
    if (threadIdx.x == 0) Loss[blockIdx.x] = __logf(S) + M - __half2float(x[label]);
    __syncthreads();   // the label's logit is read before pass 2 overwrites it (in place)
    const float inv = grad_scale / S;
    for (int k = threadIdx.x * 8; k < cols; k += STEP) {
        float f[8];
        unpack8(*reinterpret_cast<const uint4 *>(x + k), f);
#pragma unroll
        for (int i = 0; i < 8; ++i) f[i] = __expf(f[i] - M) * inv - (k + i == label ? grad_scale : 0.f);
        *reinterpret_cast<uint4 *>(dx + k) = pack8(f);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
adamw_f16(float *__restrict__ P, float *__restrict__ M, float *__restrict__ V, const half *__restrict__ G,
          half *__restrict__ P16, int n, float lr, float beta1, float beta2, float eps, float weight_decay,
          float inv_bc1, float inv_sqrt_bc2) {
    const int i = (blockIdx.x * THREADS + threadIdx.x) * 8;
    if (i >= n) return;
    float g[8], p[8], m[8], v[8];
    unpack8(*reinterpret_cast<const uint4 *>(G + i), g);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const float4 a = *reinterpret_cast<const float4 *>(P + i + 4 * h);
        const float4 b = *reinterpret_cast<const float4 *>(M + i + 4 * h);
        const float4 c = *reinterpret_cast<const float4 *>(V + i + 4 * h);
        p[4 * h] = a.x; p[4 * h + 1] = a.y; p[4 * h + 2] = a.z; p[4 * h + 3] = a.w;
        m[4 * h] = b.x; m[4 * h + 1] = b.y; m[4 * h + 2] = b.z; m[4 * h + 3] = b.w;
        v[4 * h] = c.x; v[4 * h + 1] = c.y; v[4 * h + 2] = c.z; v[4 * h + 3] = c.w;
    }
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        m[k] = beta1 * m[k] + (1.f - beta1) * g[k];
        v[k] = beta2 * v[k] + (1.f - beta2) * g[k] * g[k];
        const float den = sqrtf(v[k]) * inv_sqrt_bc2 + eps;
        p[k] -= lr * (m[k] * inv_bc1 / den + weight_decay * p[k]);
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        *reinterpret_cast<float4 *>(P + i + 4 * h) = make_float4(p[4 * h], p[4 * h + 1], p[4 * h + 2], p[4 * h + 3]);
        *reinterpret_cast<float4 *>(M + i + 4 * h) = make_float4(m[4 * h], m[4 * h + 1], m[4 * h + 2], m[4 * h + 3]);
        *reinterpret_cast<float4 *>(V + i + 4 * h) = make_float4(v[4 * h], v[4 * h + 1], v[4 * h + 2], v[4 * h + 3]);
    }
    *reinterpret_cast<uint4 *>(P16 + i) = pack8(p);
}

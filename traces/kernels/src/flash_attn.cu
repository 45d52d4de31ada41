// FlashAttention-2 forward pass (prefill and chunked prefill), fp16, with FlashAttention-2's own tile
// configurations per head dim and architecture.
//
//   O[b, t, h, :] = softmax(scale * Q[b, t, h, :] . K[b, s, hk, :]^T over s) V[b, s, hk, :],  hk = h >> gqa_shift
//   LSE[b, h, t] = log-sum-exp of the scaled scores of row t (what the backward pass reads)
//   The queries are the last q_len of kv_len positions (past = kv_len - q_len); causal: query t sees keys
//   s <= past + t (FlashAttention-2's bottom-right aligned mask).
//
// Tile configurations (kHeadDim, kBlockM, kBlockN, kNWarps) are FlashAttention-2's fp16 forward choices,
// Dao-AILab/flash-attention csrc/flash_attn/src/flash_fwd_launch_template.h @
// 0251105a2fb19d2957484b7f023cd8c115286ced (run_mha_fwd_hdim64/96/128/256, no dropout):
//   hdim 64:  128 x 128, 4 warps (all archs)
//   hdim 96:  128 x 64, 4 warps (sm80, sm90; sm86/89 non-causal; 64 x 64 for sm86/89 causal, not built).
//             Head dim 80 runs this kernel: FlashAttention-2 rounds the head dim up to 96
//             (HEADDIM_SWITCH in static_switch.h, head_size_rounded in flash_api.cpp) and predicates the
//             columns past d (Is_even_K = false); here d = 80 is a compile-time constant.
//   hdim 128: 128 x 64, 4 warps (sm80, sm90); sm86/89: 128 x 32 non-causal, 64 x 64 causal
//   hdim 256: 128 x 64, 8 warps when max smem per block >= 128 KiB and per SM < 192 KiB (A100);
//             64 x 64, 4 warps otherwise (H100: 2 CTAs per SM; sm86/89: 99 KiB per block)
// Shared memory (Flash_fwd_kernel_traits::kSmemSize, kernel_traits.h): Q tile + one K tile + one V tile,
// (kBlockM + 2 kBlockN) x kHeadDim halves, dynamic.  Warps split the M rows (TiledMMA 4x1x1 / 8x1x1 with
// Tile<16 kNWarps, 16, 16>: warp w owns rows w*16 + i*16*kNWarps), each warp computes all kBlockN scores
// of its rows.  Q stays in shared memory and is re-read by ldmatrix for every key block
// (Is_Q_in_regs = false in every config above).  Per key block, as compute_attn_1rowblock
// (flash_fwd_kernel.h) does: wait for K_j, start V_j (cp.async), S = Q K_j^T, mask (only the
// ceil(kBlockM / kBlockN) blocks that cross the causal diagonal or kv_len: n_masking_steps), wait V_j,
// start K_{j-1}, online softmax (running max allreduced over the quad each block, exp2 with the scale
// folded into one FFMA, row sums kept per thread and reduced once at the end), O += P V_j with P from
// registers.  Key blocks run from the last to the first; causal CTAs stop at the diagonal (blocks past it
// are never loaded).  Epilogue: O normalised, converted, staged through shared memory (the Q tile) and
// stored 16 bytes per thread; LSE written by the quad's first lane.
// Grid (ceil(q_len / kBlockM), batch, heads), as run_flash_fwd.  Element (t, h, d) of Q is at
// Q + b*q_batch_stride + t*q_row_stride + h*HD + d (halves); K/V use kv_*, O uses o_*; LSE is
// fp32 [batch, heads, q_len].
#include "fa2_common.cuh"

namespace {

template <int HD, int HDP, int BM, int BN, int NW>
DEVI void fa2_fwd(const half *__restrict__ Q, const half *__restrict__ K, const half *__restrict__ V,
                  half *__restrict__ O, float *__restrict__ LSE, int q_len, int kv_len, int gqa_shift, int causal,
                  float scale_log2, long long q_batch_stride, int q_row_stride, long long kv_batch_stride,
                  int kv_row_stride, long long o_batch_stride, int o_row_stride) {
    using namespace fa2;
    constexpr int NT = NW * 32;
    constexpr int MT = BM / (16 * NW);   // 16-row m tiles per warp
    constexpr int NTN = BN / 8;          // 8-key n tiles of S
    constexpr int DT = HDP / 8;          // 8-column tiles of O
    constexpr int KK = HDP / 16;         // k slices of Q K^T
    static_assert(MT >= 1 && BM % (16 * NW) == 0, "kBlockM must be a multiple of 16 * kNWarps");
    extern __shared__ __align__(128) unsigned char smem_raw[];
    half *Qs = reinterpret_cast<half *>(smem_raw);
    half *Ks = Qs + BM * HDP;
    half *Vs = Ks + BN * HDP;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int m_block = blockIdx.x, b = blockIdx.y, h = blockIdx.z, hk = h >> gqa_shift;
    const int m0 = m_block * BM, past = kv_len - q_len;
    const half *q = Q + b * q_batch_stride + h * HD;
    const half *k = K + b * kv_batch_stride + hk * HD;
    const half *v = V + b * kv_batch_stride + hk * HD;

    // key blocks [0, n_max); causal: up to the diagonal of this CTA's last row
    int n_max = (kv_len + BN - 1) / BN;
    if (causal) n_max = min(n_max, (past + min(m0 + BM, q_len) + BN - 1) / BN);

    load_tile<BM, HDP, HD, NT>(Qs, q, m0, q_len, q_row_stride, tid);
    load_tile<BN, HDP, HD, NT>(Ks, k, (n_max - 1) * BN, kv_len, kv_row_stride, tid);
    cp_async_commit();

    float o[MT][DT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int i = 0; i < DT; ++i)
#pragma unroll
            for (int r = 0; r < 4; ++r) o[mt][i][r] = 0.f;
    float row_max[MT][2], row_sum[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) row_max[mt][hr] = -INFINITY, row_sum[mt][hr] = 0.f;

    for (int j = n_max - 1; j >= 0; --j) {
        const int n0 = j * BN;
        cp_async_wait<0>();  // K_j landed
        __syncthreads();     // and every warp is done with V_{j+1}
        load_tile<BN, HDP, HD, NT>(Vs, v, n0, kv_len, kv_row_stride, tid);
        cp_async_commit();

        // S = Q K_j^T: per warp MT x 16 rows by BN keys
        float s[MT][NTN][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int i = 0; i < NTN; ++i)
#pragma unroll
                for (int r = 0; r < 4; ++r) s[mt][i][r] = 0.f;
#pragma unroll 2  // fully unrolled, ptxas spills (48 bytes at hdim 128); two k slices per trip spill 8 bytes
        for (int kk = 0; kk < KK; ++kk) {
            uint32_t qf[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) lda<BM, HDP>(qf[mt], Qs, mt * 16 * NW + warp * 16, kk, lane);
#pragma unroll
            for (int np = 0; np < BN / 16; ++np) {
                uint32_t kf[4];
                ldb<BN, HDP>(kf, Ks, np * 16, kk, lane);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    mma_16816(s[mt][2 * np], qf[mt], kf[0], kf[1]);
                    mma_16816(s[mt][2 * np + 1], qf[mt], kf[2], kf[3]);
                }
            }
        }

        // mask: keys past kv_len and, when causal, keys after the query (only the blocks that need it)
        if (n0 + BN > kv_len || (causal && n0 + BN - 1 > past + m0)) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < NTN; ++nt)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int key = n0 + nt * 8 + (lane & 3) * 2 + (r & 1);
                        const int qpos = past + m0 + mt * 16 * NW + warp * 16 + (lane >> 2) + (r >> 1) * 8;
                        if (key >= kv_len || (causal && key > qpos)) s[mt][nt][r] = -INFINITY;
                    }
        }

        cp_async_wait<0>();  // V_j landed
        __syncthreads();     // and every warp is done with K_j
        if (j > 0) load_tile<BN, HDP, HD, NT>(Ks, k, n0 - BN, kv_len, kv_row_stride, tid);
        cp_async_commit();

        // online softmax (softmax_rescale_o): max over the quad, scale folded into the exponent's FFMA
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int hr = 0; hr < 2; ++hr) {
                float mx = row_max[mt][hr];
#pragma unroll
                for (int nt = 0; nt < NTN; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * hr], s[mt][nt][2 * hr + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float ms = (mx == -INFINITY) ? 0.f : mx * scale_log2;
                const float corr = exp2f((row_max[mt][hr] == -INFINITY ? 0.f : row_max[mt][hr] * scale_log2) - ms);
                row_max[mt][hr] = mx;
                float sum = 0.f;
#pragma unroll
                for (int nt = 0; nt < NTN; ++nt) {
                    s[mt][nt][2 * hr] = exp2f(s[mt][nt][2 * hr] * scale_log2 - ms);
                    s[mt][nt][2 * hr + 1] = exp2f(s[mt][nt][2 * hr + 1] * scale_log2 - ms);
                    sum += s[mt][nt][2 * hr] + s[mt][nt][2 * hr + 1];
                }
                row_sum[mt][hr] = row_sum[mt][hr] * corr + sum;
#pragma unroll
                for (int dt = 0; dt < DT; ++dt) {
                    o[mt][dt][2 * hr] *= corr;
                    o[mt][dt][2 * hr + 1] *= corr;
                }
            }

        // O += P V_j: P (fp16) is the A operand straight from the S accumulators (gemm_rs)
#pragma unroll
        for (int ks = 0; ks < BN / 16; ++ks) {
            uint32_t pf[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                pf[mt][0] = pack_half2(s[mt][2 * ks][0], s[mt][2 * ks][1]);
                pf[mt][1] = pack_half2(s[mt][2 * ks][2], s[mt][2 * ks][3]);
                pf[mt][2] = pack_half2(s[mt][2 * ks + 1][0], s[mt][2 * ks + 1][1]);
                pf[mt][3] = pack_half2(s[mt][2 * ks + 1][2], s[mt][2 * ks + 1][3]);
            }
#pragma unroll
            for (int dp = 0; dp < DT / 2; ++dp) {
                uint32_t vf[4];
                ldb_t<BN, HDP>(vf, Vs, ks * 16, dp * 2, lane);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    mma_16816(o[mt][2 * dp], pf[mt], vf[0], vf[1]);
                    mma_16816(o[mt][2 * dp + 1], pf[mt], vf[2], vf[3]);
                }
            }
        }
    }

    // epilogue: quad-reduce the row sums, normalise, LSE, O -> shared (the Q tile) -> 16-byte global stores
    float *lse = LSE + ((long long)b * gridDim.z + h) * q_len;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
            float sm = row_sum[mt][hr];
            sm += __shfl_xor_sync(0xffffffffu, sm, 1);
            sm += __shfl_xor_sync(0xffffffffu, sm, 2);
            const float inv = (sm == 0.f || sm != sm) ? 1.f : 1.f / sm;
            const int r = m0 + mt * 16 * NW + warp * 16 + (lane >> 2) + hr * 8;
            if ((lane & 3) == 0 && r < q_len)
                lse[r] = (sm == 0.f || sm != sm) ? INFINITY : row_max[mt][hr] * (scale_log2 * 0.6931471805599453f) + __logf(sm);
#pragma unroll
            for (int dt = 0; dt < DT; ++dt) {
                o[mt][dt][2 * hr] *= inv;
                o[mt][dt][2 * hr + 1] *= inv;
            }
        }
    __syncthreads();  // every warp is done reading Q from shared memory
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int dt = 0; dt < DT; ++dt)
#pragma unroll
            for (int hr = 0; hr < 2; ++hr) {
                const int r = mt * 16 * NW + warp * 16 + (lane >> 2) + hr * 8;
                *reinterpret_cast<uint32_t *>(Qs + soff<BM, HDP>(r, dt) + (lane & 3) * 2) =
                    pack_half2(o[mt][dt][2 * hr], o[mt][dt][2 * hr + 1]);
            }
    __syncthreads();
    half *out = O + b * o_batch_stride + h * HD;
    constexpr int TPR = Smem<HDP>::CPB, RPP = NT / TPR;
#pragma unroll
    for (int rp = 0; rp < BM / RPP; ++rp)
#pragma unroll
        for (int cb = 0; cb < HDP / Smem<HDP>::KS; ++cb) {
            const int r = rp * RPP + tid / TPR, ch = cb * TPR + tid % TPR;
            const uint4 val = *reinterpret_cast<const uint4 *>(Qs + soff<BM, HDP>(r, ch));
            if (m0 + r < q_len && (HD == HDP || ch * 8 < HD))
                *reinterpret_cast<uint4 *>(out + (long long)(m0 + r) * o_row_stride + ch * 8) = val;
        }
}

}  // namespace

#define FA2_FWD_PARAMS                                                                                          \
    const half *__restrict__ Q, const half *__restrict__ K, const half *__restrict__ V, half *__restrict__ O,    \
        float *__restrict__ LSE, int q_len, int kv_len, int gqa_shift, int causal, float scale_log2,           \
        long long q_batch_stride, int q_row_stride, long long kv_batch_stride, int kv_row_stride,               \
        long long o_batch_stride, int o_row_stride
#define FA2_FWD_ARGS                                                                                            \
    Q, K, V, O, LSE, q_len, kv_len, gqa_shift, causal, scale_log2, q_batch_stride, q_row_stride, kv_batch_stride, \
        kv_row_stride, o_batch_stride, o_row_stride
#define FA2_FWD(NAME, HD, HDP, BM, BN, NW)                                                                      \
    extern "C" __global__ void __launch_bounds__(NW * 32) NAME(FA2_FWD_PARAMS) {                                \
        fa2_fwd<HD, HDP, BM, BN, NW>(FA2_FWD_ARGS);                                                             \
    }

// Only the configurations FlashAttention-2 launches on each architecture are built (kernels.yaml `archs`).
// sm_86 / sm_89 get the two head-dim-128 configurations only (the listings' size budget); the other head
// dims are built for sm_80 and sm_90a, the A100 and H100 of the validation suites.
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ == 860 || __CUDA_ARCH__ == 890
FA2_FWD(flash_attn_fwd_f16_d128_128x32_w4, 128, 128, 128, 32, 4)
FA2_FWD(flash_attn_fwd_f16_d128_64x64_w4, 128, 128, 64, 64, 4)
#else
FA2_FWD(flash_attn_fwd_f16_d64_128x128_w4, 64, 64, 128, 128, 4)
FA2_FWD(flash_attn_fwd_f16_d80_128x64_w4, 80, 96, 128, 64, 4)
FA2_FWD(flash_attn_fwd_f16_d128_128x64_w4, 128, 128, 128, 64, 4)
#if __CUDA_ARCH__ == 800
FA2_FWD(flash_attn_fwd_f16_d256_128x64_w8, 256, 256, 128, 64, 8)
#else
FA2_FWD(flash_attn_fwd_f16_d256_64x64_w4, 256, 256, 64, 64, 4)
#endif
#endif
#endif

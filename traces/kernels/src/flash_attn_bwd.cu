// FlashAttention-2 backward pass, fp16, organised as FlashAttention-2 runs it on sm80 / sm90
// (Dao-AILab/flash-attention @ 0251105a2fb19d2957484b7f023cd8c115286ced):
//
//   1. flash_attn_bwd_dot_do_o_*   (flash_bwd_preprocess_kernel.h, compute_dot_do_o with Clear_dQaccum):
//      D[b, h, t] = sum_d dO[b, t, h, d] * O[b, t, h, d] (fp32) and dQaccum rows set to 0;
//      grid (ceil(q_len / kBlockM), batch, heads), kNThreads threads, 16-byte loads,
//      kGmemThreadsPerRow lanes per row reduced by shuffles.
//   2. flash_attn_bwd_*            (flash_bwd_kernel.h compute_dq_dk_dv_seqk_parallel ->
//      compute_dq_dk_dv_1colblock with Seq_parallel): one CTA per kBlockN keys of one (batch, head); it
//      iterates over the query blocks from the last to the first (causal: down to the block holding
//      the diagonal, m_block_min), keeps dK and dV for its keys in fp32 registers and adds each
//      block's dQ contribution into the fp32 dQaccum with atomic adds (RED.ADD.F32).  Per query block:
//        S = Q K^T, P = exp2(S * scale_log2 - LSE * log2 e) (mask only on blocks crossing the diagonal),
//        P -> shared, dP = dO V^T, dS = P * (dP - D), dS -> shared,
//        dV += P^T dO, dQ = dS K (-> atomics), dK += dS^T Q,
//      with Q double-buffered and the next Q / dO copies (cp.async) started as the current ones are
//      last read.  dK is scaled by the softmax scale; dK, dV leave through shared memory, 16 bytes per
//      thread.  Grid (ceil(kv_len / kBlockN), batch, heads).  With GQA each query head writes its own
//      dK / dV rows [batch, kv_len, heads, d] (FlashAttention-2's dk_expanded; the sum over the group that
//      flash_api.cpp then does with at::sum_out is not part of these kernels).
//   3. flash_attn_bwd_convert_dq_* (convert_dQ): dQ = dQaccum * softmax scale -> fp16,
//      grid (ceil(q_len / kBlockM), batch, heads).
//
// Tile configuration (flash_bwd_launch_template.h run_mha_bwd_hdim128 / hdim64, max smem per block >=
// 144 KiB, i.e. A100 and H100): Flash_bwd_kernel_traits<kHeadDim, kBlockM, kBlockN, kNWarps,
// AtomLayoutMSdP, AtomLayoutNdKV, AtomLayoutMdQ, Is_V_in_regs = false, No_double_buffer = false>
//   hdim 128: <128, 64, 128, 8, 2, 4, 2>      hdim 64: <64, 128, 128, 8, 4, 4, 4>
// Shared memory (kSmemSize1colblock, kernel_traits.h): Q x 2 (double buffer) + dO (kBlockM x d each),
// K + V (kBlockN x d each), dS + P (kBlockM x kBlockN each): 144 KiB for both.  Warps: S and dP as
// AtomLayoutMSdP (M) x kNWarps / AtomLayoutMSdP (N); dK, dV as AtomLayoutNdKV (keys) x rest (d);
// dQ as AtomLayoutMdQ (M) x rest (d).  Layouts: fa2_common.cuh.  The code is this project's own.
// The k loops of the five GEMMs are unrolled by two (FlashAttention-2's CuTe gemm unrolls them fully; fully
// unrolled, ptxas spills 288 bytes per thread at hdim 128, by two 64 bytes).
#include "fa2_common.cuh"

namespace {

constexpr float LOG2E = 1.4426950408889634f;

template <int HD, int BM, int BN, int NW, int AM, int AN, int AQ>
DEVI void fa2_bwd(const half *__restrict__ Q, const half *__restrict__ K, const half *__restrict__ V,
                  const half *__restrict__ dO, const float *__restrict__ LSE, const float *__restrict__ Dsum,
                  float *__restrict__ dQaccum, half *__restrict__ dK, half *__restrict__ dV, int q_len, int kv_len,
                  int gqa_shift, int causal, float scale_log2, int q_rounded, long long q_batch_stride,
                  int q_row_stride, long long kv_batch_stride, int kv_row_stride, long long dkv_batch_stride,
                  int dkv_row_stride) {
    using namespace fa2;
    constexpr int NT = NW * 32;
    // S / dP warp tile
    constexpr int S_WM = BM / AM, S_WN = BN / (NW / AM), S_MT = S_WM / 16, S_NT = S_WN / 8;
    // dK / dV warp tile (rows = keys, cols = d)
    constexpr int KV_WM = BN / AN, KV_WN = HD / (NW / AN), KV_MT = KV_WM / 16, KV_NT = KV_WN / 8;
    // dQ warp tile
    constexpr int Q_WM = BM / AQ, Q_WN = HD / (NW / AQ), Q_MT = Q_WM / 16, Q_NT = Q_WN / 8;
    static_assert(S_NT % 2 == 0 && KV_NT % 2 == 0 && Q_NT % 2 == 0, "warp tiles of whole n-tile pairs");

    extern __shared__ __align__(128) unsigned char smem_raw[];
    half *sQ = reinterpret_cast<half *>(smem_raw);  // [2][BM x HD]
    half *sdO = sQ + 2 * BM * HD;                    // [BM x HD]
    half *sK = sdO + BM * HD;                        // [BN x HD]
    half *sV = sK + BN * HD;                         // [BN x HD]
    half *sdS = sV + BN * HD;                        // [BM x BN]
    half *sP = sdS + BM * BN;                        // [BM x BN]

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int n_block = blockIdx.x, b = blockIdx.y, h = blockIdx.z, hk = h >> gqa_shift, H = gridDim.z;
    const int n0 = n_block * BN, past = kv_len - q_len;
    const int m_max = (q_len + BM - 1) / BM;
    const int m_min = causal ? max(0, (n0 - past) / BM) : 0;

    const half *q = Q + b * q_batch_stride + h * HD;
    const half *dob = dO + b * q_batch_stride + h * HD;
    const half *k = K + b * kv_batch_stride + hk * HD;
    const half *v = V + b * kv_batch_stride + hk * HD;
    const float *lse_g = LSE + ((long long)b * H + h) * q_len;
    const float *dsum_g = Dsum + ((long long)b * H + h) * q_rounded;
    float *dqa = dQaccum + ((long long)b * q_rounded * H + h) * HD;

    const int swm = warp % AM, swn = warp / AM;   // S / dP
    const int kwm = warp % AN, kwn = warp / AN;   // dK / dV
    const int qwm = warp % AQ, qwn = warp / AQ;   // dQ

    int m_block = m_max - 1;
    int buf = 0;
    load_tile<BM, HD, HD, NT>(sdO, dob, m_block * BM, q_len, q_row_stride, tid);
    load_tile<BM, HD, HD, NT>(sQ, q, m_block * BM, q_len, q_row_stride, tid);
    float lse[S_MT][2];
#pragma unroll
    for (int mt = 0; mt < S_MT; ++mt)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
            const int r = m_block * BM + swm * S_WM + mt * 16 + (lane >> 2) + hr * 8;
            lse[mt][hr] = r < q_len ? lse_g[r] * LOG2E : INFINITY;
        }
    load_tile<BN, HD, HD, NT>(sK, k, n0, kv_len, kv_row_stride, tid);
    load_tile<BN, HD, HD, NT>(sV, v, n0, kv_len, kv_row_stride, tid);
    cp_async_commit();

    float dv[KV_MT][KV_NT][4], dk[KV_MT][KV_NT][4];
#pragma unroll
    for (int mt = 0; mt < KV_MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < KV_NT; ++nt)
#pragma unroll
            for (int r = 0; r < 4; ++r) dv[mt][nt][r] = 0.f, dk[mt][nt][r] = 0.f;

    for (; m_block >= m_min; --m_block) {
        const int m0 = m_block * BM;
        half *sQc = sQ + buf * BM * HD;
        cp_async_wait<0>();
        __syncthreads();
        float dsum[S_MT][2];
#pragma unroll
        for (int mt = 0; mt < S_MT; ++mt)
#pragma unroll
            for (int hr = 0; hr < 2; ++hr) dsum[mt][hr] = dsum_g[m0 + swm * S_WM + mt * 16 + (lane >> 2) + hr * 8];

        // S = Q K^T
        float s[S_MT][S_NT][4];
#pragma unroll
        for (int mt = 0; mt < S_MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < S_NT; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r) s[mt][nt][r] = 0.f;
#pragma unroll 2
        for (int kk = 0; kk < HD / 16; ++kk) {
            uint32_t af[S_MT][4];
#pragma unroll
            for (int mt = 0; mt < S_MT; ++mt) lda<BM, HD>(af[mt], sQc, swm * S_WM + mt * 16, kk, lane);
#pragma unroll
            for (int np = 0; np < S_NT / 2; ++np) {
                uint32_t bf[4];
                ldb<BN, HD>(bf, sK, swn * S_WN + np * 16, kk, lane);
#pragma unroll
                for (int mt = 0; mt < S_MT; ++mt) {
                    mma_16816(s[mt][2 * np], af[mt], bf[0], bf[1]);
                    mma_16816(s[mt][2 * np + 1], af[mt], bf[2], bf[3]);
                }
            }
        }
        // mask (keys past kv_len; causal: keys after the query) on the blocks that cross it
        if (n0 + BN > kv_len || (causal && m0 < n0 + BN - past)) {
#pragma unroll
            for (int mt = 0; mt < S_MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < S_NT; ++nt)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int key = n0 + swn * S_WN + nt * 8 + (lane & 3) * 2 + (r & 1);
                        const int qpos = past + m0 + swm * S_WM + mt * 16 + (lane >> 2) + (r >> 1) * 8;
                        if (key >= kv_len || (causal && key > qpos)) s[mt][nt][r] = -INFINITY;
                    }
        }
        // P = exp(S * scale - LSE), stored to shared memory as fp16
#pragma unroll
        for (int mt = 0; mt < S_MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < S_NT; ++nt) {
#pragma unroll
                for (int r = 0; r < 4; ++r) s[mt][nt][r] = exp2f(s[mt][nt][r] * scale_log2 - lse[mt][r >> 1]);
#pragma unroll
                for (int hr = 0; hr < 2; ++hr)
                    *reinterpret_cast<uint32_t *>(sP + soff<BM, BN>(swm * S_WM + mt * 16 + (lane >> 2) + hr * 8,
                                                                   (swn * S_WN) / 8 + nt) + (lane & 3) * 2) =
                        pack_half2(s[mt][nt][2 * hr], s[mt][nt][2 * hr + 1]);
            }

        // dP = dO V^T
        float dp[S_MT][S_NT][4];
#pragma unroll
        for (int mt = 0; mt < S_MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < S_NT; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r) dp[mt][nt][r] = 0.f;
#pragma unroll 2
        for (int kk = 0; kk < HD / 16; ++kk) {
            uint32_t af[S_MT][4];
#pragma unroll
            for (int mt = 0; mt < S_MT; ++mt) lda<BM, HD>(af[mt], sdO, swm * S_WM + mt * 16, kk, lane);
#pragma unroll
            for (int np = 0; np < S_NT / 2; ++np) {
                uint32_t bf[4];
                ldb<BN, HD>(bf, sV, swn * S_WN + np * 16, kk, lane);
#pragma unroll
                for (int mt = 0; mt < S_MT; ++mt) {
                    mma_16816(dp[mt][2 * np], af[mt], bf[0], bf[1]);
                    mma_16816(dp[mt][2 * np + 1], af[mt], bf[2], bf[3]);
                }
            }
        }
        // next Q into the other buffer while this block finishes
        if (m_block > m_min) load_tile<BM, HD, HD, NT>(sQ + (buf ^ 1) * BM * HD, q, m0 - BM, q_len, q_row_stride, tid);
        cp_async_commit();
        // dS = P (dP - D) -> shared (fp16)
#pragma unroll
        for (int mt = 0; mt < S_MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < S_NT; ++nt)
#pragma unroll
                for (int hr = 0; hr < 2; ++hr) {
                    const float d0 = s[mt][nt][2 * hr] * (dp[mt][nt][2 * hr] - dsum[mt][hr]);
                    const float d1 = s[mt][nt][2 * hr + 1] * (dp[mt][nt][2 * hr + 1] - dsum[mt][hr]);
                    *reinterpret_cast<uint32_t *>(sdS + soff<BM, BN>(swm * S_WM + mt * 16 + (lane >> 2) + hr * 8,
                                                                    (swn * S_WN) / 8 + nt) + (lane & 3) * 2) =
                        pack_half2(d0, d1);
                }
        __syncthreads();

        // dV += P^T dO   (A = P^T from shared, B = dO; k = the BM query rows)
#pragma unroll 2
        for (int ks = 0; ks < BM / 16; ++ks) {
            uint32_t af[KV_MT][4];
#pragma unroll
            for (int mt = 0; mt < KV_MT; ++mt) lda_t<BM, BN>(af[mt], sP, ks * 16, (kwm * KV_WM + mt * 16) / 8, lane);
#pragma unroll
            for (int np = 0; np < KV_NT / 2; ++np) {
                uint32_t bf[4];
                ldb_t<BM, HD>(bf, sdO, ks * 16, (kwn * KV_WN + np * 16) / 8, lane);
#pragma unroll
                for (int mt = 0; mt < KV_MT; ++mt) {
                    mma_16816(dv[mt][2 * np], af[mt], bf[0], bf[1]);
                    mma_16816(dv[mt][2 * np + 1], af[mt], bf[2], bf[3]);
                }
            }
        }
        __syncthreads();  // every warp is done with dO
        if (m_block > m_min) load_tile<BM, HD, HD, NT>(sdO, dob, m0 - BM, q_len, q_row_stride, tid);
        cp_async_commit();

        // dQ = dS K   (A = dS, B = K; k = the BN keys) -> fp32 atomics into dQaccum
        float dq[Q_MT][Q_NT][4];
#pragma unroll
        for (int mt = 0; mt < Q_MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < Q_NT; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r) dq[mt][nt][r] = 0.f;
#pragma unroll 2
        for (int kk = 0; kk < BN / 16; ++kk) {
            uint32_t af[Q_MT][4];
#pragma unroll
            for (int mt = 0; mt < Q_MT; ++mt) lda<BM, BN>(af[mt], sdS, qwm * Q_WM + mt * 16, kk, lane);
#pragma unroll
            for (int np = 0; np < Q_NT / 2; ++np) {
                uint32_t bf[4];
                ldb_t<BN, HD>(bf, sK, kk * 16, (qwn * Q_WN + np * 16) / 8, lane);
#pragma unroll
                for (int mt = 0; mt < Q_MT; ++mt) {
                    mma_16816(dq[mt][2 * np], af[mt], bf[0], bf[1]);
                    mma_16816(dq[mt][2 * np + 1], af[mt], bf[2], bf[3]);
                }
            }
        }
        if (m_block > m_min) {
#pragma unroll
            for (int mt = 0; mt < S_MT; ++mt)
#pragma unroll
                for (int hr = 0; hr < 2; ++hr) {
                    const int r = m0 - BM + swm * S_WM + mt * 16 + (lane >> 2) + hr * 8;
                    lse[mt][hr] = lse_g[r] * LOG2E;
                }
        }
#pragma unroll
        for (int mt = 0; mt < Q_MT; ++mt)
#pragma unroll
            for (int hr = 0; hr < 2; ++hr) {
                float *row = dqa + (m0 + qwm * Q_WM + mt * 16 + (lane >> 2) + hr * 8) * (H * HD);  // int: < 2^31 (launcher)
#pragma unroll
                for (int nt = 0; nt < Q_NT; ++nt)
#pragma unroll
                    for (int c = 0; c < 2; ++c)
                        atomicAdd(row + qwn * Q_WN + nt * 8 + (lane & 3) * 2 + c, dq[mt][nt][2 * hr + c]);
            }

        // dK += dS^T Q   (A = dS^T from shared, B = Q; k = the BM query rows)
#pragma unroll 2
        for (int ks = 0; ks < BM / 16; ++ks) {
            uint32_t af[KV_MT][4];
#pragma unroll
            for (int mt = 0; mt < KV_MT; ++mt) lda_t<BM, BN>(af[mt], sdS, ks * 16, (kwm * KV_WM + mt * 16) / 8, lane);
#pragma unroll
            for (int np = 0; np < KV_NT / 2; ++np) {
                uint32_t bf[4];
                ldb_t<BM, HD>(bf, sQc, ks * 16, (kwn * KV_WN + np * 16) / 8, lane);
#pragma unroll
                for (int mt = 0; mt < KV_MT; ++mt) {
                    mma_16816(dk[mt][2 * np], af[mt], bf[0], bf[1]);
                    mma_16816(dk[mt][2 * np + 1], af[mt], bf[2], bf[3]);
                }
            }
        }
        buf ^= 1;
    }

    // epilogue: dK *= softmax scale; dK -> shared (Q buffers), dV -> shared (K tile); 16-byte stores
    const float scale = scale_log2 * 0.6931471805599453f;
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < KV_MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < KV_NT; ++nt)
#pragma unroll
            for (int hr = 0; hr < 2; ++hr) {
                const int r = kwm * KV_WM + mt * 16 + (lane >> 2) + hr * 8, ch = (kwn * KV_WN) / 8 + nt;
                *reinterpret_cast<uint32_t *>(sQ + soff<BN, HD>(r, ch) + (lane & 3) * 2) =
                    pack_half2(dk[mt][nt][2 * hr] * scale, dk[mt][nt][2 * hr + 1] * scale);
                *reinterpret_cast<uint32_t *>(sK + soff<BN, HD>(r, ch) + (lane & 3) * 2) =
                    pack_half2(dv[mt][nt][2 * hr], dv[mt][nt][2 * hr + 1]);
            }
    __syncthreads();
    half *dkb = dK + b * dkv_batch_stride + h * HD, *dvb = dV + b * dkv_batch_stride + h * HD;
    constexpr int TPR = Smem<HD>::CPB, RPP = NT / TPR;
#pragma unroll
    for (int rp = 0; rp < BN / RPP; ++rp)
#pragma unroll
        for (int cb = 0; cb < HD / Smem<HD>::KS; ++cb) {
            const int r = rp * RPP + tid / TPR, ch = cb * TPR + tid % TPR;
            if (n0 + r < kv_len) {
                const long long off = (long long)(n0 + r) * dkv_row_stride + ch * 8;
                *reinterpret_cast<uint4 *>(dkb + off) = *reinterpret_cast<const uint4 *>(sQ + soff<BN, HD>(r, ch));
                *reinterpret_cast<uint4 *>(dvb + off) = *reinterpret_cast<const uint4 *>(sK + soff<BN, HD>(r, ch));
            }
        }
}

// D = rowsum(dO * O) for BM rows of one (batch, head); dQaccum rows zeroed
template <int HD, int BM, int NT>
DEVI void fa2_dot_do_o(const half *__restrict__ dO, const half *__restrict__ O, float *__restrict__ Dsum,
                       float *__restrict__ dQaccum, int q_len, int q_rounded, long long q_batch_stride,
                       int q_row_stride) {
    using namespace fa2;
    constexpr int TPR = Smem<HD>::CPB, RPP = NT / TPR;
    const int tid = threadIdx.x, m0 = blockIdx.x * BM, b = blockIdx.y, h = blockIdx.z, H = gridDim.z;
    const half *dob = dO + b * q_batch_stride + h * HD, *ob = O + b * q_batch_stride + h * HD;
    float *ds = Dsum + ((long long)b * H + h) * q_rounded;
#pragma unroll
    for (int rp = 0; rp < BM / RPP; ++rp) {
        const int r = m0 + rp * RPP + tid / TPR;
        float acc = 0.f;
#pragma unroll
        for (int cb = 0; cb < HD / Smem<HD>::KS; ++cb) {
            const int ch = cb * TPR + tid % TPR;
            if (r < q_len) {
                float a[8], c[8];
                unpack8(*reinterpret_cast<const uint4 *>(dob + (long long)r * q_row_stride + ch * 8), a);
                unpack8(*reinterpret_cast<const uint4 *>(ob + (long long)r * q_row_stride + ch * 8), c);
#pragma unroll
                for (int i = 0; i < 8; ++i) acc += a[i] * c[i];
            }
        }
#pragma unroll
        for (int o = TPR / 2; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (tid % TPR == 0) ds[r] = acc;
    }
    // zero this block's dQaccum rows [b, m0 .. m0 + BM, h, :] (fp32, 16 bytes per store)
    float *dqa = dQaccum + ((long long)b * q_rounded * H + h) * HD;
#pragma unroll
    for (int i = 0; i < BM * HD / 4 / NT; ++i) {
        const int idx = tid + i * NT, r = idx / (HD / 4), c = idx % (HD / 4);
        *reinterpret_cast<float4 *>(dqa + (long long)(m0 + r) * H * HD + c * 4) = make_float4(0.f, 0.f, 0.f, 0.f);
    }
}

// dQ[b, t, h, :] = dQaccum * softmax scale, fp16
template <int HD, int BM, int NT>
DEVI void fa2_convert_dq(const float *__restrict__ dQaccum, half *__restrict__ dQ, int q_len, int q_rounded,
                         float scale, long long q_batch_stride, int q_row_stride) {
    const int tid = threadIdx.x, m0 = blockIdx.x * BM, b = blockIdx.y, h = blockIdx.z, H = gridDim.z;
    const float *dqa = dQaccum + ((long long)b * q_rounded * H + h) * HD;
    half *dq = dQ + b * q_batch_stride + h * HD;
#pragma unroll
    for (int i = 0; i < BM * HD / 8 / NT; ++i) {
        const int idx = tid + i * NT, r = idx / (HD / 8), c = idx % (HD / 8);
        if (m0 + r < q_len) {
            const float *src = dqa + (long long)(m0 + r) * H * HD + c * 8;
            const float4 x = *reinterpret_cast<const float4 *>(src), y = *reinterpret_cast<const float4 *>(src + 4);
            const float f[8] = {x.x * scale, x.y * scale, x.z * scale, x.w * scale,
                                y.x * scale, y.y * scale, y.z * scale, y.w * scale};
            *reinterpret_cast<uint4 *>(dq + (long long)(m0 + r) * q_row_stride + c * 8) = pack8(f);
        }
    }
}

}  // namespace

#define FA2_BWD(NAME, HD, BM, BN, NW, AM, AN, AQ)                                                              \
    extern "C" __global__ void __launch_bounds__(NW * 32) NAME(                                               \
        const half *__restrict__ Q, const half *__restrict__ K, const half *__restrict__ V,                   \
        const half *__restrict__ dO, const float *__restrict__ LSE, const float *__restrict__ Dsum,           \
        float *__restrict__ dQaccum, half *__restrict__ dK, half *__restrict__ dV, int q_len, int kv_len,     \
        int gqa_shift, int causal, float scale_log2, int q_rounded, long long q_batch_stride, int q_row_stride, \
        long long kv_batch_stride, int kv_row_stride, long long dkv_batch_stride, int dkv_row_stride) {         \
        fa2_bwd<HD, BM, BN, NW, AM, AN, AQ>(Q, K, V, dO, LSE, Dsum, dQaccum, dK, dV, q_len, kv_len, gqa_shift,  \
                                            causal, scale_log2, q_rounded, q_batch_stride, q_row_stride,       \
                                            kv_batch_stride, kv_row_stride, dkv_batch_stride, dkv_row_stride); \
    }
#define FA2_BWD_AUX(HD, BM, NT)                                                                                 \
    extern "C" __global__ void __launch_bounds__(NT) flash_attn_bwd_dot_do_o_f16_d##HD(                        \
        const half *__restrict__ dO, const half *__restrict__ O, float *__restrict__ Dsum,                     \
        float *__restrict__ dQaccum, int q_len, int q_rounded, long long q_batch_stride, int q_row_stride) {   \
        fa2_dot_do_o<HD, BM, NT>(dO, O, Dsum, dQaccum, q_len, q_rounded, q_batch_stride, q_row_stride);        \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(NT) flash_attn_bwd_convert_dq_f16_d##HD(                      \
        const float *__restrict__ dQaccum, half *__restrict__ dQ, int q_len, int q_rounded, float scale,       \
        long long q_batch_stride, int q_row_stride) {                                                          \
        fa2_convert_dq<HD, BM, NT>(dQaccum, dQ, q_len, q_rounded, scale, q_batch_stride, q_row_stride);        \
    }

// built for sm_80 and sm_90a (the configurations above need 144 KiB of shared memory per block)
FA2_BWD(flash_attn_bwd_f16_d128_64x128_w8, 128, 64, 128, 8, 2, 4, 2)
FA2_BWD_AUX(128, 64, 256)
FA2_BWD(flash_attn_bwd_f16_d64_128x128_w8, 64, 128, 128, 8, 4, 4, 4)
FA2_BWD_AUX(64, 128, 256)

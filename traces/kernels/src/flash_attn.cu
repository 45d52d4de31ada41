// FlashAttention-2-style forward pass for prefill (and chunked prefill), fp16, head_dim 128.
//
//   O[b, t, h, :] = softmax(scale * Q[b, t, h, :] . K[b, s, hk, :]^T over s) V[b, s, hk, :]
//   with hk = h >> gqa_shift (grouped-query attention: 2^gqa_shift query heads per KV head).
//   Queries are the last q_len of kv_len positions (past = kv_len - q_len tokens already cached);
//   with causal != 0 query t sees keys s <= past + t.
//
// Tiling (launch constants, traces/kernels/kernels.yaml): BLOCK_M = 64 query rows per CTA, 4 warps of
// 16 rows; BLOCK_N = 64 keys per step.  Grid (ceil(q_len/64), heads, batch); block 128 threads.
// Q, K and V tiles (64 x 128 halves each, 48 KiB) are staged through shared memory with cp.async;
// V_j is fetched while S = Q K_j^T is computed and K_{j+1} while P V_j is computed (FA2's
// overlap).  Q stays in registers (ldmatrix), S and P never leave registers, the softmax is
// the online (running max / running sum) form with exp2, and O is normalised once at the end.
// Shared rows are 256 B (16 chunks of 16 B) swizzled as chunk' = chunk ^ (row & 7).
// Element (t, h, d) of Q is at Q + b*q_batch_stride + t*q_row_stride + h*128 + d (halves);
// K, V use kv_batch_stride / kv_row_stride, O uses o_batch_stride / o_row_stride.
#include "common.cuh"

namespace {
constexpr int D = 128, BLOCK_M = 64, BLOCK_N = 64, WARPS = 4, THREADS = WARPS * 32;
constexpr int CH = D / 8;  // 16-byte chunks per row

DEVI int swz(int row, int ch) { return row * D + ((ch ^ (row & 7)) << 3); }

// rows [row0, row0 + 64) of a [*, 128] slice (rows ld halves apart); rows >= rows_valid are zero-filled
DEVI void load_rows(half *smem, const half *g, int row0, int rows_valid, int ld, int tid) {
#pragma unroll
    for (int j = 0; j < BLOCK_M * CH / THREADS; ++j) {
        const int idx = tid + j * THREADS, row = idx / CH, ch = idx % CH;
        half *dst = smem + swz(row, ch);
        if (row0 + row < rows_valid)
            cp_async16(dst, g + (size_t)(row0 + row) * ld + ch * 8);
        else
            *reinterpret_cast<uint4 *>(dst) = make_uint4(0, 0, 0, 0);
    }
}
}  // namespace

extern "C" __global__ void __launch_bounds__(THREADS)
flash_attn_fwd_f16_d128(const half *__restrict__ Q, const half *__restrict__ K, const half *__restrict__ V,
                        half *__restrict__ O, int q_len, int kv_len, int gqa_shift, int causal, float scale_log2,
                        long long q_batch_stride, int q_row_stride, long long kv_batch_stride, int kv_row_stride,
                        long long o_batch_stride, int o_row_stride) {
    __shared__ __align__(128) half Qs[BLOCK_M * D];
    __shared__ __align__(128) half Ks[BLOCK_N * D];
    __shared__ __align__(128) half Vs[BLOCK_N * D];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int m0 = blockIdx.x * BLOCK_M, h = blockIdx.y, b = blockIdx.z, hk = h >> gqa_shift;
    const int past = kv_len - q_len;
    const half *q = Q + b * q_batch_stride + h * D;
    const half *k = K + b * kv_batch_stride + hk * D;
    const half *v = V + b * kv_batch_stride + hk * D;

    int n_blocks = (kv_len + BLOCK_N - 1) / BLOCK_N;
    if (causal) n_blocks = min(n_blocks, (past + min(m0 + BLOCK_M, q_len) + BLOCK_N - 1) / BLOCK_N);

    load_rows(Qs, q, m0, q_len, q_row_stride, tid);
    load_rows(Ks, k, 0, kv_len, kv_row_stride, tid);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    uint32_t qf[D / 16][4];  // this warp's 16 x 128 slice of Q as mma A fragments
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) ldsm_x4(qf[kk], Qs + swz(warp * 16 + (lane & 15), kk * 2 + (lane >> 4)));

    float o[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; ++i)
#pragma unroll
        for (int r = 0; r < 4; ++r) o[i][r] = 0.f;
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
    const int qpos0 = past + m0 + warp * 16 + (lane >> 2);  // absolute position of this thread's first row

    for (int j = 0; j < n_blocks; ++j) {
        const int n0 = j * BLOCK_N;
        if (j > 0) {
            cp_async_wait<0>();  // K_j landed
            __syncthreads();     // and every warp is done with V_{j-1}
        }
        load_rows(Vs, v, n0, kv_len, kv_row_stride, tid);
        cp_async_commit();

        // S = Q K_j^T (16 x 64 per warp)
        float s[BLOCK_N / 8][4];
#pragma unroll
        for (int i = 0; i < BLOCK_N / 8; ++i)
#pragma unroll
            for (int r = 0; r < 4; ++r) s[i][r] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
            for (int np = 0; np < BLOCK_N / 16; ++np) {
                uint32_t kf[4];
                ldsm_x4(kf, Ks + swz(np * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1)));
                mma_16816(s[2 * np], qf[kk], kf[0], kf[1]);
                mma_16816(s[2 * np + 1], qf[kk], kf[2], kf[3]);
            }

        // mask keys past kv_len and, when causal, keys after the query's position
        if (n0 + BLOCK_N > kv_len || (causal && n0 + BLOCK_N - 1 > past + m0)) {
#pragma unroll
            for (int nt = 0; nt < BLOCK_N / 8; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int key = n0 + nt * 8 + (lane & 3) * 2 + (r & 1);
                    const int qpos = qpos0 + (r >> 1) * 8;
                    if (key >= kv_len || (causal && key > qpos)) s[nt][r] = -INFINITY;
                }
        }

        // online softmax over the two rows this thread holds (a row is spread over a quad of lanes)
        float corr[2];
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
            float mx = row_max[hr];
#pragma unroll
            for (int nt = 0; nt < BLOCK_N / 8; ++nt)
                mx = fmaxf(mx, fmaxf(s[nt][2 * hr], s[nt][2 * hr + 1]) * scale_log2);
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float base = (mx == -INFINITY) ? 0.f : mx;
            corr[hr] = exp2f(row_max[hr] - base);
            row_max[hr] = mx;
            float sum = 0.f;
#pragma unroll
            for (int nt = 0; nt < BLOCK_N / 8; ++nt) {
                s[nt][2 * hr] = exp2f(s[nt][2 * hr] * scale_log2 - base);
                s[nt][2 * hr + 1] = exp2f(s[nt][2 * hr + 1] * scale_log2 - base);
                sum += s[nt][2 * hr] + s[nt][2 * hr + 1];
            }
            row_sum[hr] = row_sum[hr] * corr[hr] + sum;
        }
#pragma unroll
        for (int dt = 0; dt < D / 8; ++dt) {
            o[dt][0] *= corr[0];
            o[dt][1] *= corr[0];
            o[dt][2] *= corr[1];
            o[dt][3] *= corr[1];
        }

        cp_async_wait<0>();  // V_j landed
        __syncthreads();     // and every warp is done with K_j
        if (j + 1 < n_blocks) load_rows(Ks, k, n0 + BLOCK_N, kv_len, kv_row_stride, tid);
        cp_async_commit();

        // O += P V_j: P (fp16) is the A operand straight from the S accumulators
#pragma unroll
        for (int ks = 0; ks < BLOCK_N / 16; ++ks) {
            uint32_t pf[4] = {pack_half2(s[2 * ks][0], s[2 * ks][1]), pack_half2(s[2 * ks][2], s[2 * ks][3]),
                              pack_half2(s[2 * ks + 1][0], s[2 * ks + 1][1]), pack_half2(s[2 * ks + 1][2], s[2 * ks + 1][3])};
#pragma unroll
            for (int dp = 0; dp < D / 16; ++dp) {
                uint32_t vf[4];
                ldsm_x4_trans(vf, Vs + swz(ks * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), dp * 2 + (lane >> 4)));
                mma_16816(o[2 * dp], pf, vf[0], vf[1]);
                mma_16816(o[2 * dp + 1], pf, vf[2], vf[3]);
            }
        }
    }

    // epilogue: row sums over the quad, normalise, store two halves per lane and 8-column tile
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
        row_sum[hr] += __shfl_xor_sync(0xffffffffu, row_sum[hr], 1);
        row_sum[hr] += __shfl_xor_sync(0xffffffffu, row_sum[hr], 2);
        row_sum[hr] = 1.f / row_sum[hr];
    }
    const int r0 = m0 + warp * 16 + (lane >> 2);
    half *out = O + b * o_batch_stride + h * D + (lane & 3) * 2;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt) {
        if (r0 < q_len)
            *reinterpret_cast<uint32_t *>(out + (size_t)r0 * o_row_stride + dt * 8) =
                pack_half2(o[dt][0] * row_sum[0], o[dt][1] * row_sum[0]);
        if (r0 + 8 < q_len)
            *reinterpret_cast<uint32_t *>(out + (size_t)(r0 + 8) * o_row_stride + dt * 8) =
                pack_half2(o[dt][2] * row_sum[1], o[dt][3] * row_sum[1]);
    }
}

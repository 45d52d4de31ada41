// Split-KV decode attention over a paged KV cache, grouped-query aware (FlashDecoding + FlashInfer's
// tensor-core GQA decode), fp16, head_dim D = 128 (the presets' size) or 64.  One new token per sequence.
//
// Kernel 1, decode_attn_paged_f16_d{64,128}: grid (num_splits, kv_heads, batch), block 128 threads
//   (4 warps).  The template also compiles D = 256 as decode_paged<256, 2> (2 warps and 32-key tiles so
//   that two stages fit sm_86/89's 99 KiB of shared memory, Q re-read from shared memory per tile);
//   it is not instantiated, to keep the committed listings small (it adds ~1 MB over the 4 targets).
//   CTA (s, hk, b) handles keys [s*split_len, min(ctx, (s+1)*split_len)) of KV head hk of sequence b
//   for ALL `group` = heads / kv_heads query heads hk*group .. hk*group + group - 1 (group <= 16).
//   Each K/V byte of the split is therefore fetched from global memory once per CTA, not once per
//   query head (the old kernel's grid (splits, heads, batch) read a KV head `group` times).
//   * The group's query rows are the M dimension of mma.sync m16n8k16 (rows >= group are zero), so
//     S = Q K^T and O += P V run on the tensor cores; the MMA work per key does not depend on the
//     group size.  FlashInfer runs GQA decode on tensor cores ("use_tensor_cores", through its
//     prefill kernel); vLLM enables it when num_qo_heads // num_kv_heads > 4
//     (vllm-project/vllm vllm/v1/attention/backends/flashinfer.py @5314c90d, _get_decode_wrapper).
//     We use the tensor-core path for every group size: one kernel; even at group 1 it issues fewer
//     warp instructions than this project's former CUDA-core kernel (Llama-2-7B decode, context 1024:
//     1.23 M vs 1.77 M).
//   * K/V tiles of 16 keys per warp (64 keys = 4 pages of 16 tokens; warp w owns page w) are copied with
//     16-byte cp.async into a 2-stage shared-memory ring (tile t+2 is fetched while t+1 is in flight
//     and t is computed).  FlashInfer's paged decode launches the same grid shape -- nblks(batch,
//     num_kv_heads), threads (bdx = head_dim / vec_size, bdy = GROUP_SIZE, bdz), i.e. one CTA per
//     request (chunk) and KV head for the whole query group -- with NUM_STAGES_SMEM cp.async K/V
//     stages (2 in its releases with a fixed count) and vec_size = max(16 B / sizeof(half),
//     head_dim / 32) elements per load (flashinfer-ai/flashinfer include/flashinfer/attention/
//     decode.cuh @00b57feb, BatchDecodeWithPagedKVCacheDispatched).
//     The Q fragments stay in registers for D <= 128 (for D = 256 they would be re-read from shared
//     memory per tile: the 16 x 256 fp32 accumulator alone is 128 registers per thread).
//   * Each warp keeps its own online softmax (running max / sum in the log2 domain, exp2) and O
//     accumulator for its keys; the warps are merged through shared memory at the end.  Thread d
//     writes the unnormalised output Opart[b, h, s, d] (fp32) of each query head h of the group,
//     thread 0 ML[b, h, s] = (max, sum), as the combine kernel expects.
//   Paged KV cache as vLLM's FlashAttention backend lays it out: K and V pools
//   [num_blocks, PAGE = 16, kv_heads, D] halves (get_kv_cache_shape -> (2, num_blocks, block_size,
//   num_kv_heads, head_size), vllm-project/vllm vllm/attention/backends/flash_attn.py @6c8a9786;
//   block_size 16 is vLLM's default: vllm/platforms/cuda.py @002db495, check_and_update_config sets
//   cache_config.block_size = 16 when unset), addressed through BlockTable[b, i] (int32, row stride
//   max_blocks): token p of sequence b lies in physical block BlockTable[b, p / 16], row p % 16,
//   at K + (block * 16 + p % 16) * kv_row_stride + hk * D (kv_row_stride = kv_heads * D).
//   Only the blocks that hold keys of the split are looked up and read; key rows past the context
//   are zero-filled in shared memory and masked to -inf.  split_len must be a multiple of the tile
//   (64 keys).
// Kernel 2, decode_attn_combine_f16_d{64,128}: grid (heads, batch), block D threads (one per dim):
//   O[b, h, d] = sum_s Opart[b,h,s,d] * 2^(m_s - M) / sum_s l_s * 2^(m_s - M).   num_splits <= 128.
// Layouts (halves): Q[b, h, d] at Q + b*q_batch_stride + h*D + d; O[b, h, d] at
// O + b*o_batch_stride + h*D + d.  Scores are scaled by scale_log2 = softmax_scale * log2(e).
// Shared rows are 2D bytes (D/8 chunks of 16 B) swizzled chunk' = chunk ^ (row & 7), as in flash_attn.cu;
// the ldmatrix addressing of the Q, K and V fragments is flash_attn.cu's.
#include "common.cuh"

namespace {
constexpr int PAGE = 16;              // tokens per KV-cache block (vLLM's default block_size)
constexpr int STAGES = 2;
constexpr int ROWS = 16;              // MMA M: the group's query heads, zero-padded
static_assert(PAGE == 16, "load_tile finds a key's block with >> 4");

template <int D> DEVI int swz(int row, int ch) { return row * D + ((ch ^ (row & 7)) << 3); }

template <int D, int WARPS> struct Cfg {
    static constexpr int THREADS = WARPS * 32, TILE = WARPS * PAGE, CH = D / 8;
    static constexpr int STAGE_HALVES = 2 * TILE * D;  // K tile then V tile
    static constexpr int SMEM_BYTES = (ROWS * D + STAGES * STAGE_HALVES) * 2;  // kernels.yaml dynamic_shared_bytes
    static_assert(SMEM_BYTES <= 99 * 1024, "two stages must fit sm_86/sm_89's 99 KiB per CTA");
    static constexpr bool Q_IN_REGS = D <= 128;
    static_assert(WARPS * ROWS * D * 4 + 2 * WARPS * ROWS * 4 <= STAGES * STAGE_HALVES * 2, "merge buffer");
};

template <int D, int WARPS>
DEVI void decode_paged(const half *__restrict__ Q, const half *__restrict__ Kc, const half *__restrict__ Vc,
                       const int *__restrict__ BlockTable, float *__restrict__ Opart, float2 *__restrict__ ML,
                       int ctx, int split_len, int group, float scale_log2, int q_batch_stride, int kv_row_stride,
                       int max_blocks, half *smem) {
    using C = Cfg<D, WARPS>;
    constexpr int THREADS = C::THREADS, TILE = C::TILE, CH = C::CH, STAGE_HALVES = C::STAGE_HALVES;
    half *Qs = smem;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int s = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
    const int start = s * split_len, end = min(ctx, start + split_len);
    const int n_tiles = (end - start + TILE - 1) / TILE;
    const int *bt = BlockTable + (size_t)b * max_blocks;
    const long long page_stride = (long long)PAGE * kv_row_stride;
    const half *kb = Kc + hk * D, *vb = Vc + hk * D;

    // K and V rows of tile t (keys start + TILE t ...) into stage t % 2; one block-table entry per page
    auto load_tile = [&](int t) {
        half *ks = smem + ROWS * D + (t & 1) * STAGE_HALVES, *vs = ks + TILE * D;
        const int key0 = start + t * TILE;
#pragma unroll
        for (int p = 0; p < WARPS; ++p) {
            const int pkey = key0 + p * PAGE;
            long long off = 0;
            if (pkey < end) off = (long long)__ldg(bt + (pkey >> 4)) * page_stride;
#pragma unroll
            for (int j = 0; j < PAGE * CH / THREADS; ++j) {
                const int idx = tid + j * THREADS, r = idx / CH, ch = idx % CH, row = p * PAGE + r;
                const long long g = off + (long long)r * kv_row_stride + ch * 8;
                if (pkey + r < end) {
                    cp_async16(ks + swz<D>(row, ch), kb + g);
                    cp_async16(vs + swz<D>(row, ch), vb + g);
                } else {
                    *reinterpret_cast<uint4 *>(ks + swz<D>(row, ch)) = make_uint4(0, 0, 0, 0);
                    *reinterpret_cast<uint4 *>(vs + swz<D>(row, ch)) = make_uint4(0, 0, 0, 0);
                }
            }
        }
    };

    // the group's query rows (rows >= group zero), with tile 0 in the first cp.async group
    const half *qg = Q + (size_t)b * q_batch_stride + (size_t)hk * group * D;
#pragma unroll
    for (int j = 0; j < ROWS * CH / THREADS; ++j) {
        const int idx = tid + j * THREADS, r = idx / CH, ch = idx % CH;
        if (r < group)
            cp_async16(Qs + swz<D>(r, ch), qg + r * D + ch * 8);
        else
            *reinterpret_cast<uint4 *>(Qs + swz<D>(r, ch)) = make_uint4(0, 0, 0, 0);
    }
    load_tile(0);
    cp_async_commit();
    if (n_tiles > 1) load_tile(1);
    cp_async_commit();
    cp_async_wait<1>();  // Q and tile 0 landed
    __syncthreads();

    // the 16 x D query rows as mma A fragments (the same in every warp)
    uint32_t qf[C::Q_IN_REGS ? D / 16 : 1][4];
    if constexpr (C::Q_IN_REGS) {
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) ldsm_x4(qf[kk], Qs + swz<D>(lane & 15, kk * 2 + (lane >> 4)));
    }

    float o[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; ++i)
#pragma unroll
        for (int r = 0; r < 4; ++r) o[i][r] = 0.f;
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
    const int kw = warp * PAGE;  // this warp's 16 keys (one page) of every tile

    for (int t = 0; t < n_tiles; ++t) {
        if (t > 0) {
            cp_async_wait<1>();  // tile t landed (tile t+1 may still be in flight)
            __syncthreads();
        }
        const half *ks = smem + ROWS * D + (t & 1) * STAGE_HALVES, *vs = ks + TILE * D;

        // S = Q K^T: 16 rows x this warp's 16 keys
        float sc[2][4];
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int r = 0; r < 4; ++r) sc[i][r] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            uint32_t kf[4];
            ldsm_x4(kf, ks + swz<D>(kw + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1)));
            if constexpr (C::Q_IN_REGS) {
                mma_16816(sc[0], qf[kk], kf[0], kf[1]);
                mma_16816(sc[1], qf[kk], kf[2], kf[3]);
            } else {
                ldsm_x4(qf[0], Qs + swz<D>(lane & 15, kk * 2 + (lane >> 4)));
                mma_16816(sc[0], qf[0], kf[0], kf[1]);
                mma_16816(sc[1], qf[0], kf[2], kf[3]);
            }
        }
        const int key0 = start + t * TILE + kw;
        if (key0 + PAGE > end) {
#pragma unroll
            for (int nt = 0; nt < 2; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    if (key0 + nt * 8 + (lane & 3) * 2 + (r & 1) >= end) sc[nt][r] = -INFINITY;
        }

        // online softmax of the two rows this thread holds (a row is spread over a quad of lanes)
        float corr[2];
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
            float mx = row_max[hr];
#pragma unroll
            for (int nt = 0; nt < 2; ++nt) mx = fmaxf(mx, fmaxf(sc[nt][2 * hr], sc[nt][2 * hr + 1]) * scale_log2);
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float base = (mx == -INFINITY) ? 0.f : mx;
            corr[hr] = exp2f(row_max[hr] - base);
            row_max[hr] = mx;
            float sum = 0.f;
#pragma unroll
            for (int nt = 0; nt < 2; ++nt) {
                sc[nt][2 * hr] = exp2f(sc[nt][2 * hr] * scale_log2 - base);
                sc[nt][2 * hr + 1] = exp2f(sc[nt][2 * hr + 1] * scale_log2 - base);
                sum += sc[nt][2 * hr] + sc[nt][2 * hr + 1];
            }
            row_sum[hr] = row_sum[hr] * corr[hr] + sum;
        }

        // O = O * corr + P V (P, fp16, is the A operand straight from the S accumulators)
        const uint32_t pf[4] = {pack_half2(sc[0][0], sc[0][1]), pack_half2(sc[0][2], sc[0][3]),
                                pack_half2(sc[1][0], sc[1][1]), pack_half2(sc[1][2], sc[1][3])};
#pragma unroll
        for (int dp = 0; dp < D / 16; ++dp) {
            uint32_t vf[4];
            ldsm_x4_trans(vf, vs + swz<D>(kw + (lane & 7) + (((lane >> 3) & 1) << 3), dp * 2 + (lane >> 4)));
#pragma unroll
            for (int h2 = 0; h2 < 2; ++h2) {
                float *acc = o[2 * dp + h2];
                acc[0] *= corr[0];
                acc[1] *= corr[0];
                acc[2] *= corr[1];
                acc[3] *= corr[1];
            }
            mma_16816(o[2 * dp], pf, vf[0], vf[1]);
            mma_16816(o[2 * dp + 1], pf, vf[2], vf[3]);
        }

        __syncthreads();  // every warp is done with stage t % 2
        if (t + 2 < n_tiles) load_tile(t + 2);
        cp_async_commit();
    }

    // merge the warps' (max, sum, O) per query row through shared memory (the stage buffers)
    cp_async_wait<0>();
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
        row_sum[hr] += __shfl_xor_sync(0xffffffffu, row_sum[hr], 1);
        row_sum[hr] += __shfl_xor_sync(0xffffffffu, row_sum[hr], 2);
    }
    float *red_o = reinterpret_cast<float *>(smem + ROWS * D);  // [WARPS][ROWS][D]
    float *red_m = red_o + WARPS * ROWS * D, *red_l = red_m + WARPS * ROWS;
    const int r0 = lane >> 2;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt) {
        const int col = dt * 8 + (lane & 3) * 2;
        *reinterpret_cast<float2 *>(red_o + (warp * ROWS + r0) * D + col) = make_float2(o[dt][0], o[dt][1]);
        *reinterpret_cast<float2 *>(red_o + (warp * ROWS + r0 + 8) * D + col) = make_float2(o[dt][2], o[dt][3]);
    }
    if ((lane & 3) == 0) {
        red_m[warp * ROWS + r0] = row_max[0];
        red_m[warp * ROWS + r0 + 8] = row_max[1];
        red_l[warp * ROWS + r0] = row_sum[0];
        red_l[warp * ROWS + r0 + 8] = row_sum[1];
    }
    __syncthreads();
    const int heads = gridDim.y * group;
    for (int r = 0; r < group; ++r) {
        float M = -INFINITY;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) M = fmaxf(M, red_m[w * ROWS + r]);
        const size_t row = ((size_t)b * heads + hk * group + r) * gridDim.x + s;
#pragma unroll
        for (int d = tid; d < D; d += THREADS) {
            float L = 0.f, out = 0.f;
#pragma unroll
            for (int w = 0; w < WARPS; ++w) {
                const float wt = exp2f(red_m[w * ROWS + r] - M);  // 0 for a warp that saw no key
                L += red_l[w * ROWS + r] * wt;
                out += red_o[(w * ROWS + r) * D + d] * wt;
            }
            Opart[row * D + d] = out;
            if (d == 0) ML[row] = make_float2(M, L);
        }
    }
}

// O[b, h, :] from the splits' partial rows (one thread per dimension)
template <int D>
DEVI void decode_combine(const float *__restrict__ Opart, const float2 *__restrict__ ML, half *__restrict__ O,
                         int num_splits, int o_batch_stride, float *sm_m, float *sm_l) {
    const int tid = threadIdx.x, h = blockIdx.x, b = blockIdx.y;
    const size_t row0 = ((size_t)b * gridDim.x + h) * num_splits;
    for (int i = tid; i < num_splits; i += D) {
        const float2 ml = ML[row0 + i];
        sm_m[i] = ml.x;
        sm_l[i] = ml.y;
    }
    __syncthreads();
    float M = -INFINITY;
    for (int i = 0; i < num_splits; ++i) M = fmaxf(M, sm_m[i]);
    float L = 0.f, out = 0.f;
    for (int i = 0; i < num_splits; ++i) {
        const float w = exp2f(sm_m[i] - M);
        L += sm_l[i] * w;
        out += Opart[(row0 + i) * D + tid] * w;
    }
    O[(size_t)b * o_batch_stride + h * D + tid] = __float2half(out / L);
}
constexpr int MAX_SPLITS = 128;  // (max, sum) slots of the combine kernel
}  // namespace

#define DECODE_PAGED(NAME, D, WARPS)                                                                          \
    extern "C" __global__ void __launch_bounds__(WARPS * 32)                                                 \
    NAME(const half *__restrict__ Q, const half *__restrict__ Kc, const half *__restrict__ Vc,               \
         const int *__restrict__ BlockTable, float *__restrict__ Opart, float2 *__restrict__ ML, int ctx,    \
         int split_len, int group, float scale_log2, int q_batch_stride, int kv_row_stride, int max_blocks) { \
        extern __shared__ __align__(128) half smem[];                                                        \
        decode_paged<D, WARPS>(Q, Kc, Vc, BlockTable, Opart, ML, ctx, split_len, group, scale_log2,         \
                               q_batch_stride, kv_row_stride, max_blocks, smem);                             \
    }
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800  // cp.async, ldmatrix, m16n8k16; sm_70: decode_attn_simt.cu
DECODE_PAGED(decode_attn_paged_f16_d64, 64, 4)
DECODE_PAGED(decode_attn_paged_f16_d128, 128, 4)
#endif

#define DECODE_COMBINE(NAME, D)                                                                               \
    extern "C" __global__ void __launch_bounds__(D)                                                          \
    NAME(const float *__restrict__ Opart, const float2 *__restrict__ ML, half *__restrict__ O, int num_splits, \
         int o_batch_stride) {                                                                               \
        __shared__ float sm_m[MAX_SPLITS], sm_l[MAX_SPLITS];                                                 \
        decode_combine<D>(Opart, ML, O, num_splits, o_batch_stride, sm_m, sm_l);                             \
    }
DECODE_COMBINE(decode_attn_combine_f16_d64, 64)
DECODE_COMBINE(decode_attn_combine_f16_d128, 128)

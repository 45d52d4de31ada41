// Data-movement kernels of a serving step: the token-embedding gather and the KV-cache append.
// Every thread moves 8 halves through 16-byte loads and stores; block 128 threads (1024 halves).
//
// embedding_gather_f16: Out[t, i] = Table[Tokens[t], i] for i < hidden (Tokens int32, Table
//   [vocab, hidden] row-major).  Grid (ceil(hidden / 1024), tokens).  hidden % 8 == 0.  The row
//   address depends on the loaded token id: the walker takes it from the Tokens memory image.
// kv_append_f16: the K and V rows of this step's new tokens, taken from the fused QKV projection
//   output (after rotary), written into the layer's cache at positions past .. past + q_len - 1:
//   for sequence b = blockIdx.z, new token j = blockIdx.y (qkv row b * q_len + j, q_len = gridDim.y)
//   and i < kv_dim (kv_heads * head_dim):
//     Kc[b * cache_seq_stride + (past + j) * kv_dim + i] = QKV[row * qkv_row_stride + k_offset + i]
//     Vc[...same...]                                     = QKV[row * qkv_row_stride + v_offset + i]
//   Cache layout [batch, positions, kv_heads, head_dim] (as the attention kernels read it).
//   Grid (ceil(kv_dim / 1024), q_len, batch).  kv_dim, offsets and strides % 8 == 0.
#include "common.cuh"

namespace {
constexpr int THREADS = 128;
}

extern "C" __global__ void __launch_bounds__(THREADS)
embedding_gather_f16(const int *__restrict__ Tokens, const half *__restrict__ Table, half *__restrict__ Out,
                     int hidden, int out_row_stride) {
    const int i = (blockIdx.x * THREADS + threadIdx.x) * 8, t = blockIdx.y;
    if (i >= hidden) return;
    const int id = __ldg(Tokens + t);
    const uint4 v = __ldg(reinterpret_cast<const uint4 *>(Table + (size_t)id * hidden + i));
    *reinterpret_cast<uint4 *>(Out + (size_t)t * out_row_stride + i) = v;
}

extern "C" __global__ void __launch_bounds__(THREADS)
kv_append_f16(const half *__restrict__ QKV, half *__restrict__ Kc, half *__restrict__ Vc, int kv_dim, int past,
              int qkv_row_stride, int k_offset, int v_offset, long long cache_seq_stride) {
    const int i = (blockIdx.x * THREADS + threadIdx.x) * 8, j = blockIdx.y, b = blockIdx.z;
    if (i >= kv_dim) return;
    const half *src = QKV + (size_t)(b * gridDim.y + j) * qkv_row_stride + i;
    const size_t dst = (size_t)b * cache_seq_stride + (size_t)(past + j) * kv_dim + i;
    const uint4 k = *reinterpret_cast<const uint4 *>(src + k_offset);
    const uint4 v = *reinterpret_cast<const uint4 *>(src + v_offset);
    *reinterpret_cast<uint4 *>(Kc + dst) = k;
    *reinterpret_cast<uint4 *>(Vc + dst) = v;
}

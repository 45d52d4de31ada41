// Shared pieces of gpusim's FlashAttention-2 kernels (flash_attn.cu forward, flash_attn_bwd.cu backward).
//
// Shared-memory tiles follow FlashAttention-2's layout (Dao-AILab/flash-attention
// csrc/flash_attn/src/kernel_traits.h @ 0251105a2fb19d2957484b7f023cd8c115286ced):
//   kBlockKSmem = 64 halves when the (padded) head dim is a multiple of 64, else 32; a [rows x HDP] tile
//   is stored as HDP / kBlockKSmem column blocks one after the other (tile_to_shape of an 8 x kBlockKSmem
//   atom), each row of a column block is kBlockKSmem halves, and the 16-byte chunks of a row are XOR-
//   swizzled: Swizzle<3,3,3> (chunk ^= row & 7) for 128-byte rows, Swizzle<2,3,3> (chunk ^= (row >> 1) & 3)
//   for 64-byte rows, so that the eight row addresses of every ldmatrix phase hit distinct banks.
//   Global -> shared copies use kBlockKSmem / 8 threads per row (kGmemThreadsPerRow), 16 bytes each.
// The code is this project's own (CUDA C++ with inline PTX), not a copy of FlashAttention's CuTe code.
#pragma once
#include "common.cuh"

namespace fa2 {

template <int HDP> struct Smem {
    static constexpr int KS = (HDP % 64 == 0) ? 64 : 32;  // kBlockKSmem (halves per row of a column block)
    static constexpr int CPB = KS / 8;                     // 16-byte chunks per row of a column block
    static constexpr int CH = HDP / 8;                     // 16-byte chunks per full row
};

// half offset of 16-byte chunk `ch` (0 .. HDP/8-1) of row `r` of a ROWS x HDP tile
template <int ROWS, int HDP> DEVI int soff(int r, int ch) {
    constexpr int KS = Smem<HDP>::KS, CPB = Smem<HDP>::CPB;
    const int blk = ch / CPB, c = ch % CPB;
    const int sw = (KS == 64) ? (r & 7) : ((r >> 1) & 3);
    return blk * ROWS * KS + r * KS + ((c ^ sw) << 3);
}

// global rows [row0, row0 + ROWS) of a [*, HD] slice (rows `ld` halves apart) -> shared tile (cp.async, 16 B per
// thread and pass, kGmemThreadsPerRow threads per row); rows >= rows_valid and chunks past HD are zero-filled
template <int ROWS, int HDP, int HD, int NT>
DEVI void load_tile(half *s, const half *g, int row0, int rows_valid, long long ld, int tid) {
    constexpr int TPR = Smem<HDP>::CPB, RPP = NT / TPR;
    static_assert(ROWS % RPP == 0, "tile rows must be a multiple of the rows one pass copies");
#pragma unroll
    for (int rp = 0; rp < ROWS / RPP; ++rp)
#pragma unroll
        for (int cb = 0; cb < HDP / Smem<HDP>::KS; ++cb) {
            const int r = rp * RPP + tid / TPR, ch = cb * TPR + tid % TPR;
            half *dst = s + soff<ROWS, HDP>(r, ch);
            if (row0 + r < rows_valid && (HD == HDP || ch * 8 < HD))
                cp_async16(dst, g + (row0 + r) * ld + ch * 8);
            else
                *reinterpret_cast<uint4 *>(dst) = make_uint4(0, 0, 0, 0);
        }
}

DEVI void ldsm_x2(uint32_t (&r)[2], const void *smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(smem_u32(smem)));
}

// A fragment (16 x 16, row-major in shared memory: rows = M, chunks along K) at rows r0.., k slice kk
template <int ROWS, int HDP> DEVI void lda(uint32_t (&a)[4], const half *s, int r0, int kk, int lane) {
    ldsm_x4(a, s + soff<ROWS, HDP>(r0 + (lane & 15), kk * 2 + (lane >> 4)));
}
// A fragment stored K-major (shared tile rows = K): the transpose of a 16 x 16 block (ldmatrix.trans)
template <int ROWS, int HDP> DEVI void lda_t(uint32_t (&a)[4], const half *s, int k0, int m_ch, int lane) {
    // matrices: (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15)
    ldsm_x4_trans(a, s + soff<ROWS, HDP>(k0 + (lane & 7) + ((lane >> 4) << 3), m_ch + ((lane >> 3) & 1)));
}
// two B fragments (n 16 x k 16; shared rows = N, chunks along K): b[0..1] n-tile 0, b[2..3] n-tile 1
template <int ROWS, int HDP> DEVI void ldb(uint32_t (&b)[4], const half *s, int n0, int kk, int lane) {
    ldsm_x4(b, s + soff<ROWS, HDP>(n0 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1)));
}
// two B fragments from a K-major tile (shared rows = K, chunks along N): ldmatrix.trans
template <int ROWS, int HDP> DEVI void ldb_t(uint32_t (&b)[4], const half *s, int k0, int n_ch, int lane) {
    ldsm_x4_trans(b, s + soff<ROWS, HDP>(k0 + (lane & 7) + (((lane >> 3) & 1) << 3), n_ch + (lane >> 4)));
}

}  // namespace fa2

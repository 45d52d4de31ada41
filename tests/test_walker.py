"""Tests of the functional SASS walker (gpusim/llm/walker.py, gpusim/emu/) on our own kernels.

Independent checks (issue 7, part 3): for every kernel and architecture, the per-lane addresses the
walker derives from the compiler's SASS must touch every element of each input exactly as often
as the kernel's tiling implies and every output element exactly once, never outside a buffer;
and dynamic instruction counts must match the tiling.  The quick-start vecadd trace, written by
hand from its listing, must be reproduced exactly.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from gpusim.errors import GpusimError
from gpusim.frontend.reader import intern_opcodes, read_kernel_trace
from gpusim.frontend.sass import parse_sass_listing
from gpusim.frontend.writer import write_traceg
from gpusim.llm import kernels as K
from gpusim.llm.walker import (
    Launch,
    WalkError,
    kernel_from_listing,
    memory_accesses,
    trace_kernel,
)

REPO = Path(__file__).resolve().parent.parent
VECADD = REPO / "traces" / "examples" / "vecadd-sm86"
ARCHS = K.ARCHS
#: targets of the cp.async / ldmatrix / mma m16n8k16 kernels (gemm_mma.cu, flash_attn.cu): none of these
#: instructions exists on sm_70, whose GEMM is gemm_volta.cu (tests/test_volta.py)
MMA_ARCHS = tuple(a for a in ARCHS if a != "sm_70")
GLOBAL_OPS = {"LDG", "STG", "LDGSTS", "UTMALDG", "LD", "ST", "RED", "ATOMG"}
STORE_OPS = {"STG", "ST", "RED"}
UNIT = 2  # bytes: every buffer is counted in 2-byte units (fp16 elements, halves of fp32 values)


def _base(i: int) -> int:
    # buffers 64 GiB apart, above 4 GiB like real device pointers, each starting 64 KiB below a
    # 4 GiB boundary so that 64-bit address arithmetic must carry from the low into the high word
    return ((i + 1) << 36) + 0xFFFF_0000


def touches(kt, buffers: dict[str, int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per buffer (name -> size in bytes, placed at _base(i)): read and write counts per 2-byte unit.
    Every global access must lie entirely inside one buffer."""
    inst, addr = memory_accesses(kt)
    st = kt.inst_static[inst]
    roots = np.array([o.split(".")[0] for o in kt.st_opcode])
    op = roots[st]
    glob = np.isin(op, list(GLOBAL_OPS))
    store = np.isin(op, list(STORE_OPS))
    width = kt.st_mem_width[st].astype(np.int64)
    addr = addr.astype(np.int64)
    covered = np.zeros(addr.size, bool)
    out = {}
    for i, (name, size) in enumerate(buffers.items()):
        b = _base(i)
        sel = glob & (addr >= b) & (addr < b + size)
        assert np.all(addr[sel] + width[sel] <= b + size), f"{name}: access runs past the end"
        assert np.all((addr[sel] - b) % UNIT == 0) and np.all(width[sel] % UNIT == 0)
        covered |= sel
        res = []
        for want_store in (False, True):
            s = sel & (store == want_store)
            n = width[s] // UNIT
            units = np.repeat((addr[s] - b) // UNIT, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
            res.append(np.bincount(units, minlength=size // UNIT))
        out[name] = (res[0], res[1])
    assert covered[glob].all(), f"global access outside every buffer at {hex(int(addr[glob & ~covered][0]))}"
    return out


def count_ops(kt, root: str, per_warp: bool = False):
    ids = [i for i, o in enumerate(kt.st_opcode) if o.split(".")[0] == root]
    hit = np.isin(kt.inst_static, ids)
    if not per_warp:
        return int(hit.sum())
    return np.add.reduceat(hit.astype(np.int64), kt.warp_inst_ptr[:-1]) if kt.num_warps else np.zeros(0)


def ptrs(n: int) -> list[int]:
    return [_base(i) for i in range(n)]


# --------------------------------------------------------------------------------------------
# the bundled quick-start trace
# --------------------------------------------------------------------------------------------


def test_walker_reproduces_the_hand_written_vecadd_trace():
    """Rule: the walker records what NVBit records -- PC sequence, active mask AND guard, per-lane
    addresses, tracer register lists -- here against make_vecadd.py's hand derivation."""
    ref = read_kernel_trace(VECADD / "kernel-1.traceg.xz", use_cache=False)
    k = kernel_from_listing(VECADD / "kernel-1.sass", "vecadd", [("a", "ptr"), ("b", "ptr"), ("c", "ptr"), ("n", "i32")])
    n = 65536 - 80
    a, b, c = 0x7F0000000000, 0x7F0000100000, 0x7F0000200000
    kt = trace_kernel(k, Launch(ref.header.grid, ref.header.block, {"a": a, "b": b, "c": c, "n": n}))
    assert kt.num_warps == ref.num_warps and kt.warp_instructions == ref.warp_instructions
    assert np.array_equal(kt.st_pc[kt.inst_static], ref.st_pc[ref.inst_static])
    assert np.array_equal(kt.inst_mask, ref.inst_mask)
    ia, aa = memory_accesses(kt)
    ib, ab = memory_accesses(ref)
    assert np.array_equal(ia, ib) and np.array_equal(aa, ab)
    # tracer register lists of the executed PCs
    for s, pc in enumerate(ref.st_pc):
        i = int(np.flatnonzero(kt.st_pc == pc)[0])
        assert list(kt.st_dst[i][: kt.st_ndst[i]]) == list(ref.st_dst[s][: ref.st_ndst[s]]), hex(pc)
        assert list(kt.st_src[i][: kt.st_nsrc[i]]) == list(ref.st_src[s][: ref.st_nsrc[s]]), hex(pc)


# --------------------------------------------------------------------------------------------
# every kernel: addresses against the tiling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", MMA_ARCHS)
def test_gemm_mma_touches_and_counts_match_the_128x128x32_tiling(arch):
    """Rule: a 128x128 CTA tile reads its A rows once per N tile and its W rows once per M tile,
    writes each C element once; per k-tile every warp issues 2x16 HMMA.16816, 12 LDSM and one BAR."""
    M, N, Kd = 200, 264, 96
    A, W, C = ptrs(3)
    kt = K.gemm(arch, M, N, Kd, A, W, C).trace()
    t = touches(kt, {"A": 2 * M * Kd, "W": 2 * N * Kd, "C": 2 * M * N})
    assert np.all(t["A"][0] == math.ceil(N / 128)) and not t["A"][1].any()
    assert np.all(t["W"][0] == math.ceil(M / 128)) and not t["W"][1].any()
    assert np.all(t["C"][1] == 1) and not t["C"][0].any()
    kt_tiles = Kd // 32
    ctas = math.ceil(N / 128) * math.ceil(M / 128)
    assert kt.num_ctas == ctas and kt.num_warps == 8 * ctas
    assert np.all(count_ops(kt, "HMMA", per_warp=True) == 2 * 16 * kt_tiles)
    assert np.all(count_ops(kt, "LDSM", per_warp=True) == 2 * (4 + 2) * kt_tiles)
    assert np.all(count_ops(kt, "BAR", per_warp=True) == kt_tiles)


def test_gemm_wgmma_tma_touches_and_counts_match_the_64x128x64_tiling():
    """Rule: TMA boxes (64 halves x 32 rows) cover the A tile once per N tile and the W tile once per
    M tile (rows past the tensor are not fetched); 4 HGMMA m64n128k16 per 64-wide k step."""
    M, N, Kd = 100, 264, 384
    A, W, C = ptrs(3)
    kt = K.gemm_wgmma(M, N, Kd, A, W, C, tile="64x128").trace()
    t = touches(kt, {"A": 2 * M * Kd, "W": 2 * N * Kd, "C": 2 * M * N})
    assert np.all(t["A"][0] == math.ceil(N / 128)) and not t["A"][1].any()
    assert np.all(t["W"][0] == math.ceil(M / 64)) and not t["W"][1].any()
    assert np.all(t["C"][1] == 1) and not t["C"][0].any()
    ktiles = Kd // 64
    ctas = math.ceil(N / 128) * math.ceil(M / 64)
    assert np.all(count_ops(kt, "HGMMA", per_warp=True) == 4 * ktiles)
    # one elected thread issues 2 A boxes + 4 W boxes per k tile
    assert count_ops(kt, "UTMALDG") == ctas * 6 * ktiles


def _grouped_order(n_m: int, n_n: int, group: int = 8) -> list[tuple[int, int]]:
    """(M tile, N tile) of each CTA in launch order under grouped rasterisation: groups of ``group``
    M tiles swept column by column (Triton's grouped ordering), the remainder in groups of its binary
    digits, largest first."""
    sizes = [group] * (n_m // group) + [g for g in (4, 2, 1) if g < group and (n_m % group) & g]
    order, first = [], 0
    for g in sizes:
        order += [(first + m, n) for n in range(n_n) for m in range(g)]
        first += g
    return order


def _cta_tiles(kt, C: int, N: int, bm: int, bn: int) -> list[tuple[int, int]]:
    """The C tile each CTA stores (all its C stores must lie in one bm x bn tile)."""
    inst, addr = memory_accesses(kt)
    st = np.isin(np.array([o.split(".")[0] for o in kt.st_opcode])[kt.inst_static[inst]], list(STORE_OPS))
    inst, elem = inst[st], (addr[st].astype(np.int64) - C) // UNIT
    cta = np.searchsorted(kt.cta_warp_ptr, np.searchsorted(kt.warp_inst_ptr, inst, "right") - 1, "right") - 1
    tiles = []
    for c in range(kt.num_ctas):
        e = elem[cta == c]
        tm, tn = set((e // N // bm).tolist()), set((e % N // bn).tolist())
        assert len(tm) == 1 and len(tn) == 1, (c, tm, tn)
        tiles.append((tm.pop(), tn.pop()))
    return tiles


@pytest.mark.parametrize("arch", MMA_ARCHS)
def test_gemm_mma_rasterises_tiles_in_groups_of_8_m_tiles(arch):
    """Rule: consecutive CTAs take the tiles of a group of 8 M tiles column by column (grouped
    ordering for L2 reuse of the W tiles); 15 M tiles = groups of 8, 4, 2 and 1 rows."""
    M, N, Kd = 15 * 128 - 40, 3 * 128 - 8, 32
    A, W, C = ptrs(3)
    assert K.kernel_specs()["gemm_f16_tn_128x128x32_s3"]["tile"]["group_m"] == 8
    kt = K.gemm(arch, M, N, Kd, A, W, C).trace()
    assert _cta_tiles(kt, C, N, 128, 128) == _grouped_order(15, 3)


def test_gemm_wgmma_rasterises_tiles_in_groups_of_8_m_tiles():
    """Rule: as the mma.sync GEMM, with 64-row M tiles."""
    M, N, Kd = 15 * 64 - 8, 3 * 128 - 8, 64
    A, W, C = ptrs(3)
    assert K.kernel_specs()["gemm_f16_tn_wgmma_64x128x64_s4"]["tile"]["group_m"] == 8
    kt = K.gemm_wgmma(M, N, Kd, A, W, C, tile="64x128").trace()
    assert _cta_tiles(kt, C, N, 64, 128) == _grouped_order(15, 3)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch", [1, 4])
def test_gemv_touches_each_weight_once_and_x_once_per_row(arch, batch):
    """Rule: one warp per output row streams its weight row once (16-byte loads) and re-reads X."""
    N, Kd = 100, 1032
    X, W, Y = ptrs(3)
    kt = K.gemv(arch, batch, N, Kd, X, W, Y).trace()
    t = touches(kt, {"X": 2 * batch * Kd, "W": 2 * N * Kd, "Y": 2 * batch * N})
    assert np.all(t["W"][0] == 1)
    assert np.all(t["X"][0] == N)
    assert np.all(t["Y"][1] == 1)
    live = (np.arange(kt.num_warps) % 4) + 4 * (np.arange(kt.num_warps) // 4) < N
    steps = math.ceil(Kd / 256)
    ldg = count_ops(kt, "LDG", per_warp=True)
    assert np.all(ldg[live] == steps * (1 + batch)) and np.all(ldg[~live] == 0)
    # sm_70: ptxas puts a never-executed `@!PT SHFL.IDX PT, RZ, RZ, RZ, RZ` at PC 0x10 of every kernel (it is
    # issued with its guard false, so the trace holds it once per warp)
    extra = 1 if arch == "sm_70" else 0
    assert np.all(count_ops(kt, "SHFL", per_warp=True)[live] == 5 * batch + extra)


def _fa_blocks(q_len, kv_len, causal, bm, bn):
    past = kv_len - q_len
    out = []
    for mb in range(math.ceil(q_len / bm)):
        n = math.ceil(kv_len / bn)
        if causal:
            n = min(n, math.ceil((past + min(mb * bm + bm, q_len)) / bn))
        out.append(n)
    return out


@pytest.mark.parametrize("arch", MMA_ARCHS)
@pytest.mark.parametrize("causal", [True, False])
def test_flash_attention_touches_follow_the_causal_tile_schedule(arch, causal):
    """Rule: query block mb (FlashAttention-2's BLOCK_M rows for the arch) loads key/value blocks
    0..n(mb)-1 of BLOCK_N keys (n limited by the causal diagonal), once per query head of the KV head's
    GQA group; Q read once, O written once, one LSE per row; 2 * BLOCK_M * BLOCK_N * d / 2048 HMMA per
    CTA and key block.  (Updated for FlashAttention-2's tile configurations: was 64 x 64 on every arch.)"""
    B, H, Hkv, q_len, kv_len, D = 2, 4, 2, 100, 130, 128
    Q, Kc, V, O, L = ptrs(5)
    call = K.flash_attn(arch, B, H, Hkv, q_len, kv_len, Q, Kc, V, O, causal=causal, LSE=L)
    t = K.kernel_specs()[call.name]["tile"]
    bm, bn = t["BLOCK_M"], t["BLOCK_N"]
    kt = call.trace()
    tch = touches(kt, {"Q": 2 * B * q_len * H * D, "K": 2 * B * kv_len * Hkv * D, "V": 2 * B * kv_len * Hkv * D,
                       "O": 2 * B * q_len * H * D, "LSE": 4 * B * H * q_len})
    nb = _fa_blocks(q_len, kv_len, causal, bm, bn)
    per_pos = np.array([sum(1 for n in nb if p // bn < n) for p in range(kv_len)]) * (H // Hkv)
    expect = np.repeat(np.tile(per_pos, B), Hkv * D)
    assert np.array_equal(tch["K"][0], expect) and np.array_equal(tch["V"][0], expect)
    assert np.all(tch["Q"][0] == 1) and np.all(tch["O"][1] == 1)
    assert count_ops(kt, "HMMA") == B * H * 2 * bm * bn * D // 2048 * sum(nb)
    assert np.all(tch["LSE"][1] == 1) and np.all(tch["LSE"][0] == 0)


# decode attention (paged, GQA-aware split-KV): tests/test_decode_attn.py


@pytest.mark.parametrize("arch", ARCHS)
def test_row_kernels_touch_rows_as_their_passes_imply(arch):
    """Rule: RMSNorm and softmax read X in two passes, the norm weight once per row, write Y once;
    SiLU-mul, residual add read each input once and write each output once."""
    rows, hid, cols = 3, 2056, 3000
    X, Wt, Y = ptrs(3)
    t = touches(K.rmsnorm(arch, rows, hid, X, Wt, Y).trace(), {"X": 2 * rows * hid, "W": 2 * hid, "Y": 2 * rows * hid})
    assert np.all(t["X"][0] == 2) and np.all(t["W"][0] == rows) and np.all(t["Y"][1] == 1)
    t = touches(K.softmax(arch, rows, cols, X, Wt).trace(), {"X": 2 * rows * cols, "Y": 2 * rows * cols})
    assert np.all(t["X"][0] == 2) and np.all(t["Y"][1] == 1)
    F = 2056
    t = touches(K.silu_mul(arch, rows, F, X, Wt).trace(), {"GU": 2 * rows * 2 * F, "Out": 2 * rows * F})
    assert np.all(t["GU"][0] == 1) and np.all(t["Out"][1] == 1)
    n = 10000
    t = touches(K.residual_add(arch, n, X, Wt, Y).trace(), {"A": 2 * n, "B": 2 * n, "Out": 2 * n})
    assert np.all(t["A"][0] == 1) and np.all(t["B"][0] == 1) and np.all(t["Out"][1] == 1)


@pytest.mark.parametrize("arch", ARCHS)
def test_rotary_reads_the_angle_rows_of_the_given_positions(arch):
    """Rule: rotary rewrites the Q and K heads of a fused QKV row in place (V untouched) and reads the
    cos/sin row of Positions[t] -- a data-dependent address the walker takes from the memory image."""
    T, H, Hkv, D = 5, 4, 2, 128
    qkv, cs, pos_ptr = ptrs(3)
    positions = np.array([7, 3, 9, 0, 11], np.int32)
    row = (H + 2 * Hkv) * D
    call = K.rotary(arch, T, H, Hkv, qkv, qkv + 2 * H * D, cs, pos_ptr, positions, q_row_stride=row, k_row_stride=row)
    t = touches(call.trace(), {"QKV": 2 * T * row, "CosSin": 4 * 12 * D, "Positions": 4 * T})
    qk = np.tile(np.r_[np.ones((H + Hkv) * D, int), np.zeros(Hkv * D, int)], T)
    assert np.array_equal(t["QKV"][0], qk) and np.array_equal(t["QKV"][1], qk)
    used = np.zeros(12, int)
    used[positions] = H + Hkv
    assert np.array_equal(t["CosSin"][0], np.repeat(used, 2 * D))  # fp32: 2 units per element
    assert np.all(t["Positions"][0] == (H + Hkv) * 8)



@pytest.mark.parametrize("arch", ARCHS)
def test_embedding_gather_reads_the_table_rows_of_the_given_tokens(arch):
    """Rule: the embedding gather reads row Tokens[t] of the table once per occurrence of the token
    (a data-dependent address taken from the memory image), each token id once per 16-byte chunk of
    the row, writes every output element once; one 16-byte load and store per thread."""
    T, V, h = 6, 11, 1032   # h not a multiple of the 1024 halves of a CTA: a partial last CTA
    tok, tab, out = ptrs(3)
    ids = np.array([7, 3, 7, 0, 10, 3], np.int32)
    call = K.embedding_gather(arch, T, h, tok, tab, out, ids, vocab=V)
    assert call.launch.grid == (2, T, 1)
    kt = call.trace()
    t = touches(kt, {"Tokens": 4 * T, "Table": 2 * V * h, "Out": 2 * T * h})
    rows = np.bincount(ids, minlength=V)
    assert np.array_equal(t["Table"][0], np.repeat(rows, h))
    assert np.all(t["Table"][1] == 0) and np.all(t["Out"][1] == 1) and np.all(t["Out"][0] == 0)
    assert np.all(t["Tokens"][0] == h // 8)  # int32 = 2 units, each read by every thread of its row
    threads = T * (h // 8)
    lanes = np.bitwise_count(kt.inst_mask[np.isin(kt.inst_static, [i for i, o in enumerate(kt.st_opcode)
                                                                     if o.startswith("STG")])]).sum()
    assert lanes == threads and count_ops(kt, "STG") == T * math.ceil(h / 8 / 32)
    with pytest.raises(K.KernelError, match=r"token ids must lie in \[0, 11\)"):
        K.embedding_gather(arch, 2, h, tok, tab, out, np.array([1, 11]), vocab=V)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kv_heads, q_len", [(1, 3), (10, 1)])
def test_kv_append_writes_each_new_cache_row_once_from_the_k_and_v_columns(arch, kv_heads, q_len):
    """Rule: the KV append reads the K and V columns of every new token's fused QKV row once (Q
    untouched) and writes them at cache positions past .. past + q_len - 1 of the token's sequence,
    each element exactly once; the rest of the cache is untouched.  kv_heads 10 = 1280 halves per
    row needs two CTAs per token, the second partly idle."""
    B, H, past, cap, D = 2, 2 * kv_heads, 5, 12, 128
    qkv, kc, vc = ptrs(3)
    call = K.kv_append(arch, B, q_len, kv_heads, past, qkv, kc, vc, heads=H, kv_capacity=cap)
    kv_dim = kv_heads * D
    assert call.launch.grid == (math.ceil(kv_dim / 1024), q_len, B)
    kt = call.trace()
    row = (H + 2 * kv_heads) * D
    t = touches(kt, {"QKV": 2 * B * q_len * row, "K": 2 * B * cap * kv_dim, "V": 2 * B * cap * kv_dim})
    cols = np.r_[np.zeros(H * D, int), np.ones(2 * kv_dim, int)]
    assert np.array_equal(t["QKV"][0], np.tile(cols, B * q_len)) and np.all(t["QKV"][1] == 0)
    pos = (np.arange(cap) >= past) & (np.arange(cap) < past + q_len)
    expect = np.tile(np.repeat(pos.astype(int), kv_dim), B)
    for c in ("K", "V"):
        assert np.array_equal(t[c][1], expect) and np.all(t[c][0] == 0)
    assert count_ops(kt, "STG") == 2 * B * q_len * math.ceil(kv_dim / 8 / 32)

# --------------------------------------------------------------------------------------------
# API behaviour and errors
# --------------------------------------------------------------------------------------------


def test_chunked_walk_equals_one_trace_and_round_trips_through_the_traceg_writer(tmp_path):
    """Rule: generating CTA by CTA changes nothing; the result is a valid trace (reader grammar,
    opcode tables, every warp ends with EXIT)."""
    call = K.gemv("sm_86", 2, 40, 512, *ptrs(3))
    whole = call.trace()
    parts = list(call.walk(chunk_ctas=3))
    assert len(parts) == math.ceil(whole.num_ctas / 3)
    assert sum(p.warp_instructions for p in parts) == whole.warp_instructions
    assert np.array_equal(np.concatenate([p.inst_mask for p in parts]), whole.inst_mask)
    assert np.array_equal(np.concatenate([p.cta_xyz for p in parts]), whole.cta_xyz)
    intern_opcodes(whole)
    out = tmp_path / "kernel-1.traceg"
    write_traceg(whole, out)
    back = read_kernel_trace(out, use_cache=False)
    assert back.warp_instructions == whole.warp_instructions
    assert np.array_equal(back.st_pc[back.inst_static], whole.st_pc[whole.inst_static])
    assert np.array_equal(memory_accesses(back)[1], memory_accesses(whole)[1])


def test_parameters_start_where_the_cubin_says_and_listings_reference_only_known_constants():
    """Rule: kernel parameters sit at c[0x0][0x160] on sm_80..89 and c[0x0][0x210] on sm_90
    (EIATTR_PARAM_CBANK); every c[0x0][off] in our listings is a parameter or a driver constant the
    walker models (block/grid dims, stack top, memory descriptor, parameter window)."""
    known_driver = {0x0, 0x4, 0x8, 0xC, 0x10, 0x14, 0x28}
    for arch in ARCHS:
        man = K._manifest(arch)
        for name, k in man["kernels"].items():
            base = k["param_base"]
            assert base == (0x210 if arch == "sm_90a" else 0x160), (arch, name)
            fn = K.load_kernel(name, arch).function
            driver = known_driver | ({0x198, 0x19C, 0x208, 0x20C} if arch == "sm_90a" else {0x118, 0x11C})
            for ops in fn.operands:
                for o in ops:
                    if o.kind == "const" and o.bank == 0 and o.reg < 0:
                        assert o.offset in driver or base <= o.offset < base + k["param_bytes"], (arch, name, o.text)


def test_unsupported_instruction_is_a_clear_error_naming_it(tmp_path):
    """Rule: an instruction outside the walker's repertoire stops the walk with its listing line and text."""
    text = """
        code for sm_86
                Function : k
        /*0000*/                   S2R R0, SR_TID.X ;          /* 0x0000000000007919 */
                                                               /* 0x000e220000002100 */
        /*0010*/                   BPT.TRAP 0x1 ;              /* 0x000000040000795c */
                                                               /* 0x000fea0000300000 */
        /*0020*/                   EXIT ;                      /* 0x000000000000794d */
                                                               /* 0x000fea0003800000 */
    """
    p = tmp_path / "k.sass"
    p.write_text(text)
    k = kernel_from_listing(p, "k", [])
    with pytest.raises(WalkError, match=r"k\.sass:6: k: PC 0x0010 'BPT.TRAP 0x1': unsupported instruction"):
        trace_kernel(k, Launch((1, 1, 1), (32, 1, 1), {}))
    assert issubclass(WalkError, GpusimError)


def test_address_from_memory_contents_needs_a_memory_image(tmp_path):
    """Rule: an address loaded from memory is refused unless the launch supplies those bytes; with the
    image the dependent load goes exactly where the data points."""
    text = """
        code for sm_86
                Function : chase
        /*0000*/ ULDC.64 UR4, c[0x0][0x118] ; /* 0x0000460000047ab9 */
        /* 0x000fe20000000a00 */
        /*0010*/ MOV R2, c[0x0][0x160] ; /* 0x0000580000027a02 */
        /* 0x000fe20000000f00 */
        /*0020*/ MOV R3, c[0x0][0x164] ; /* 0x0000590000037a02 */
        /* 0x000fca0000000f00 */
        /*0030*/ LDG.E.64 R4, [R2.64] ; /* 0x0000000402047981 */
        /* 0x000ea8000c1e1b00 */
        /*0040*/ LDG.E R6, [R4.64] ; /* 0x0000000404067981 */
        /* 0x004ea8000c1e1900 */
        /*0050*/ EXIT ; /* 0x000000000000794d */
        /* 0x000fea0003800000 */
    """
    p = tmp_path / "chase.sass"
    p.write_text(text)
    k = kernel_from_listing(p, "chase", [("table", "ptr")])
    table = _base(0)
    with pytest.raises(WalkError, match=r"PC 0x0040 'LDG.E R6, \[R4.64\]': address depends on a value"):
        trace_kernel(k, Launch((1, 1, 1), (32, 1, 1), {"table": table}))
    target = _base(5) + 0x40
    kt = trace_kernel(k, Launch((1, 1, 1), (32, 1, 1), {"table": table},
                                memory={table: np.array([target], np.uint64)}))
    inst, addr = memory_accesses(kt)
    assert set(addr[kt.inst_static[inst] == 4].tolist()) == {target}


def test_launch_errors_name_the_parameter():
    """Rule: bad launches are one-line GpusimErrors, not tracebacks from the core."""
    k = K.load_kernel("residual_add_f16", "sm_80")
    with pytest.raises(WalkError, match=r"lacks parameter\(s\) \['n'\]"):
        trace_kernel(k, Launch((1, 1, 1), (256, 1, 1), {"A": 1, "B": 2, "Out": 3}))
    with pytest.raises(WalkError, match="unknown parameter"):
        trace_kernel(k, Launch((1, 1, 1), (256, 1, 1), {"A": 1, "B": 2, "Out": 3, "n": 8, "m": 1}))
    with pytest.raises(K.KernelError, match="multiple of 32"):
        K.gemm("sm_80", 128, 128, 100, 1, 2, 3)
    with pytest.raises(K.KernelError, match="power of two"):
        K.flash_attn("sm_80", 1, 6, 2, 64, 64, 1, 2, 3, 4)
    with pytest.raises(K.KernelError, match="not built for sm_80"):
        K.load_kernel("gemm_f16_tn_wgmma_64x128x64_s4", "sm_80")


def test_committed_listings_cover_every_kernel_and_stay_small():
    """Rule: the listings are committed for all five targets (no nvcc needed) and stay small: under 20 MiB
    for the whole kernel family (text listings; about 15 MiB since FlashAttention-2 got its per-head-dim
    tiles and backward, FlashAttention-3, the quantised GEMVs and the Volta builds were added)."""
    total = 0
    for arch in ARCHS:
        d = REPO / "traces" / "kernels" / "sass" / arch
        man = K._manifest(arch)
        expect = {n for n, s in K.kernel_specs().items() if arch in s.get("archs", ARCHS)}
        assert set(man["kernels"]) == expect
        for f in d.iterdir():
            total += f.stat().st_size
        for name, k in man["kernels"].items():
            lst = parse_sass_listing(d / k["listing"])
            assert name in lst.functions
    assert total < 20 * 2**20


@pytest.mark.slow
def test_listings_match_a_fresh_build(tmp_path):
    """Rule: the committed listings are what build.py produces from the sources (needs nvcc)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not installed")
    subprocess.run([sys.executable, str(REPO / "traces/kernels/build.py"), "--arch", "sm_86", "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for f in (REPO / "traces/kernels/sass/sm_86").glob("*.sass"):
        new = (tmp_path / "sm_86" / f.name).read_text()
        strip = re.compile(r"^\s*\.(elftype|headerflags).*$", re.MULTILINE)
        assert strip.sub("", new) == strip.sub("", f.read_text()), f.name


def test_walker_speed_is_recorded_in_warp_instructions_per_second():
    """Not a rule but a guard: a 4096x4096 decode GEMV CTA wave walks at > 200k warp instructions/s
    after compilation (a regression to per-lane calls that pass arrays made it ~40x slower)."""
    import time

    call = K.gemv("sm_80", 1, 4096, 4096, *ptrs(3))
    call.trace(range(4))  # compile / load the cache
    t0 = time.perf_counter()
    kt = call.trace(range(256))
    dt = time.perf_counter() - t0
    assert kt.warp_instructions / dt > 2e5

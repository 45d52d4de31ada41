"""Paged, GQA-aware split-KV decode attention (traces/kernels/src/decode_attn.cu) as the walker runs it.

The walker does not compute floating-point values, so the rules are checked on the global-memory
trace (addresses and counts per 2-byte unit) and on instruction counts, against analytic oracles
derived from the kernel's contract: grid (splits, kv_heads, batch), one CTA per split computes the
KV head's whole query group, K/V live in 16-token blocks addressed through an int32 block table.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpusim.llm import kernels as K
from gpusim.llm.graph import build_graph
from gpusim.llm.model import load_model, parse_step
from gpusim.llm.run import schedule
from gpusim.llm.walker import memory_accesses
from tests.test_walker import ARCHS, count_ops, ptrs, touches

D, PAGE = K.HEAD_DIM, K.KV_PAGE_TOKENS


def _skip_volta_big_group(arch: str, group: int) -> None:
    max_group = K.kernel_specs()["decode_attn_paged_simt_f16_d128"]["tile"]["max_group"]
    if arch == "sm_70" and group > max_group:
        pytest.skip(f"sm_70's CUDA-core decode kernel takes GQA groups <= {max_group} (tests/test_volta.py checks the error)")


def _shuffled_table(batch: int, ctx: int, spare: int, seed: int = 7) -> tuple[np.ndarray, int]:
    """A fragmented allocation: the batch's blocks are a random subset of a pool with ``spare``
    blocks that belong to no sequence (what a vLLM block manager hands out after some churn)."""
    n = math.ceil(ctx / PAGE)
    pool = batch * n + spare
    return np.random.default_rng(seed).permutation(pool)[: batch * n].reshape(batch, n).astype(np.int32), pool


def _expected_kv(bt: np.ndarray, ctx: int, pool: int, kv_heads: int, per_key: int = 1, hd: int = D) -> np.ndarray:
    """Reads per 2-byte unit of a K (or V) pool [pool, 16, kv_heads, hd] when every key of every
    sequence is read ``per_key`` times."""
    rows = np.zeros(pool * PAGE, np.int64)
    for b in range(bt.shape[0]):
        p = np.arange(ctx)
        np.add.at(rows, bt[b, p // PAGE] * PAGE + p % PAGE, per_key)
    return np.repeat(rows, kv_heads * hd)


def _buffers(B, H, Hkv, pool, bt, ns, hd: int = D) -> dict[str, int]:
    return {"Q": 2 * B * H * hd, "K": 2 * pool * PAGE * Hkv * hd, "V": 2 * pool * PAGE * Hkv * hd,
            "BT": 4 * bt.size, "Opart": 4 * B * H * ns * hd, "ML": 8 * B * H * ns, "O": 2 * B * H * hd}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("group", [1, 2, 4, 8, 16])
def test_gqa_decode_loads_each_kv_tile_once(arch, group):
    """Rule (FlashDecoding/FlashInfer GQA decode): a KV head's keys and values are fetched from global
    memory once per split kernel, whatever the number of query heads sharing them -- one CTA per
    (split, KV head, sequence) computes the whole group.  Broken once by launching grid
    (splits, heads, batch) (a CTA per query head, the old kernel's grid): every byte then counts
    `group` reads (group 1 aside) and the test fails."""
    _skip_volta_big_group(arch, group)
    B, Hkv, ctx = 2, 2, 300
    H = Hkv * group
    bt, pool = _shuffled_table(B, ctx, spare=5)
    Q, Kp, Vp, BT, Op, ML, O = ptrs(7)
    k1, _ = K.decode_attn(arch, B, H, Hkv, ctx, Q, Kp, Vp, Op, ML, O, BT, block_table=bt, split_len=128)
    ns = math.ceil(ctx / 128)
    assert k1.launch.grid == (ns, Hkv, B)
    t = touches(k1.trace(), _buffers(B, H, Hkv, pool, bt, ns))
    exp = _expected_kv(bt, ctx, pool, Hkv)
    assert np.array_equal(t["K"][0], exp) and np.array_equal(t["V"][0], exp)
    assert not t["K"][1].any() and not t["V"][1].any()
    assert np.all(t["Q"][0] == ns)  # each query row once per split CTA


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("hd, group", [(64, 1), (64, 8), (64, 16)])
def test_head_dim_64_loads_each_kv_tile_once_and_combines_once(arch, hd, group):
    """Rule: the head-dim 64 build keeps the contract of the 128 one -- each K/V byte once per split
    kernel, each partial row written once, combined once."""
    _skip_volta_big_group(arch, group)
    B, Hkv, ctx = 2, 2, 200
    H = Hkv * group
    bt, pool = _shuffled_table(B, ctx, spare=4, seed=11)
    Q, Kp, Vp, BT, Op, ML, O = ptrs(7)
    k1, k2 = K.decode_attn(arch, B, H, Hkv, ctx, Q, Kp, Vp, Op, ML, O, BT, block_table=bt, split_len=64, head_dim=hd)
    ns = math.ceil(ctx / 64)
    assert k1.launch.grid == (ns, Hkv, B) and k2.launch.block == (hd, 1, 1)
    bufs = _buffers(B, H, Hkv, pool, bt, ns, hd)
    t = touches(k1.trace(), bufs)
    exp = _expected_kv(bt, ctx, pool, Hkv, hd=hd)
    assert np.array_equal(t["K"][0], exp) and np.array_equal(t["V"][0], exp)
    assert np.all(t["Opart"][1] == 1) and np.all(t["ML"][1] == 1)
    t2 = touches(k2.trace(), bufs)
    assert np.all(t2["Opart"][0] == 1) and np.all(t2["ML"][0] == 1) and np.all(t2["O"][1] == 1)
    warps = k1.launch.block[0] // 32
    tiles = sum(math.ceil((min(ctx, s + 64) - s) / (16 * warps)) for s in range(0, ctx, 64))
    # sm_70 runs the CUDA-core kernel (decode_attn_simt.cu): no tensor-core work at all
    want = 0 if arch == "sm_70" else B * Hkv * tiles * warps * hd // 4  # (hd/16) x 2 x 2 per warp-tile
    assert count_ops(k1.trace(), "HMMA") == want


@pytest.mark.parametrize("arch", ARCHS)
def test_paged_decode_reads_only_mapped_blocks(arch):
    """Rule (vLLM paged KV cache): the kernel reads only the blocks the block table maps for the
    sequence's context -- spare pool blocks, the tail of the last block past the context and the
    table's padding entries (here -1: reading one would address outside the pool and fail) are never
    touched; each table entry the context needs is read by the CTA(s) whose split covers it."""
    B, H, Hkv, ctx, pad = 3, 8, 1, 200, 3  # 200 = 12.5 blocks: the last block is half used
    n = math.ceil(ctx / PAGE)
    table, pool = _shuffled_table(B, ctx, spare=9, seed=3)
    bt = np.full((B, n + pad), -1, np.int32)
    bt[:, :n] = table
    Q, Kp, Vp, BT, Op, ML, O = ptrs(7)
    k1, _ = K.decode_attn(arch, B, H, Hkv, ctx, Q, Kp, Vp, Op, ML, O, BT,
                          block_table=bt, split_len=64)
    ns = math.ceil(ctx / 64)
    t = touches(k1.trace(), _buffers(B, H, Hkv, pool, bt, ns))
    exp = _expected_kv(table, ctx, pool, Hkv)
    assert np.array_equal(t["K"][0], exp) and np.array_equal(t["V"][0], exp)
    mapped = np.zeros(pool, bool)
    mapped[table.ravel()] = True
    assert not t["K"][0].reshape(pool, -1)[~mapped].any()  # spare blocks untouched
    # table entries: read by every thread of the (one) CTA whose 64-key split holds the block
    reads = t["BT"][0].reshape(B, n + pad, 2)[:, :, 0]  # int32 entries: 2 units each
    if arch == "sm_70":   # the CUDA-core kernel looks the entry up once per key a thread loads, not per block
        assert np.all(reads[:, :n] > 0) and not reads[:, n:].any()
    else:
        assert np.all(reads[:, :n] == k1.launch.block[0] * Hkv) and not reads[:, n:].any()


@pytest.mark.parametrize("arch", ARCHS)
def test_split_partials_are_written_once_and_combined_once(arch):
    """Rule (FlashDecoding combine): every (sequence, query head, split) partial output row and its
    (max, sum) pair are written exactly once by the split kernel -- all `group` heads of a KV head by
    the same CTA -- and read exactly once by the combine kernel, which writes each output once.
    (The walker does not compute values: the combine's exactness is checked as this dataflow.)"""
    B, H, Hkv, ctx = 2, 8, 2, 260
    bt, pool = _shuffled_table(B, ctx, spare=0)
    Q, Kp, Vp, BT, Op, ML, O = ptrs(7)
    k1, k2 = K.decode_attn(arch, B, H, Hkv, ctx, Q, Kp, Vp, Op, ML, O, BT, block_table=bt, split_len=128)
    ns = k1.launch.grid[0]
    assert ns == 3 and k2.launch.grid == (H, B, 1)
    bufs = _buffers(B, H, Hkv, pool, bt, ns)
    t1 = touches(k1.trace(), bufs)
    assert np.all(t1["Opart"][1] == 1) and np.all(t1["ML"][1] == 1) and not t1["O"][1].any()
    t2 = touches(k2.trace(), bufs)
    assert np.all(t2["Opart"][0] == 1) and np.all(t2["ML"][0] == 1) and np.all(t2["O"][1] == 1)
    assert not t2["K"][0].any()


@pytest.mark.parametrize("group", [1, 8])
def test_gqa_decode_tensor_work_is_per_key_tile_not_per_query_head(group):
    """Rule: the group's query heads are the M rows of m16n8k16 MMAs, so a 64-key tile costs each of
    the 4 warps 8 k-steps x 2 n-tiles (S = Q K^T) + 8 x 2 (O += P V) = 32 HMMA whatever the group
    size; tiles per CTA = ceil(split keys / 64)."""
    B, Hkv, ctx, sl = 2, 1, 300, 128
    k1, _ = K.decode_attn("sm_80", B, Hkv * group, Hkv, ctx, *ptrs(7), split_len=sl)
    tiles = sum(math.ceil((min(ctx, s + sl) - s) / 64) for s in range(0, ctx, sl))
    assert count_ops(k1.trace(), "HMMA") == B * Hkv * tiles * 4 * 32


def test_paged_decode_preconditions_are_one_clear_error():
    """Rule: bad shapes are one KernelError naming the kernel, never a bad trace."""
    p = ptrs(7)
    with pytest.raises(K.KernelError, match="multiple of 64"):
        K.decode_attn("sm_80", 1, 8, 1, 300, *p, split_len=96)
    with pytest.raises(K.KernelError, match="MMA rows"):
        K.decode_attn("sm_80", 1, 64, 2, 300, *p)
    with pytest.raises(K.KernelError, match="block_table"):
        K.decode_attn("sm_80", 2, 8, 1, 300, *p, block_table=np.zeros((2, 3), np.int32))
    with pytest.raises(K.KernelError, match="head_dim 256"):
        K.decode_attn("sm_80", 1, 8, 1, 300, *p, head_dim=256)
    with pytest.raises(K.KernelError, match="negative"):
        K.decode_attn("sm_80", 1, 8, 1, 32, *p, block_table=np.array([[0, -1]], np.int32))


def test_decode_step_reads_the_kv_rows_kv_append_wrote():
    """Rule: in a decode step the attention reads the new token's K/V row where the step's KV-cache
    append wrote it (the step's block table allocates blocks sequence after sequence, so with a
    context that is a multiple of 16 the paged pool has the contiguous cache's addresses)."""
    g = build_graph(load_model("tiny"), parse_step("decode:batch=3,context=64"), 1)
    launches, _ = schedule(g, "sm_80")
    l0 = [ln for ln in launches if ln.layer == 0]
    app = next(ln.call for ln in l0 if ln.call.name == "kv_append_f16")
    att = next(ln.call for ln in l0 if ln.call.name == "decode_attn_paged_f16_d128")
    kt_a, kt_r = app.trace(), att.trace()
    ia, aa = memory_accesses(kt_a)
    st_ids = [i for i, o in enumerate(kt_a.st_opcode) if o.startswith("STG")]
    written = set(aa[np.isin(kt_a.inst_static[ia], st_ids)].tolist())
    ir, ar = memory_accesses(kt_r)
    cp_ids = [i for i, o in enumerate(kt_r.st_opcode) if o.startswith("LDGSTS")]
    read = set(ar[np.isin(kt_r.inst_static[ir], cp_ids)].tolist())
    assert written and written <= read


def test_gqa_decode_attention_streams_the_kv_cache_near_dram_peak():
    """Rule (FlashDecoding/FlashInfer: GQA decode attention is memory-bound and reads the KV cache
    once): a group-8 decode batch whose cache is 4x the L2 (64 sequences x 1024 keys, one KV head,
    33.6 MB) on an 8-SM A100 slice (its share of L2 and DRAM bandwidth) moves about the cache's
    bytes from DRAM, at >= 70% of the slice's DRAM bandwidth, with a low L2 hit rate.  Checked to
    fail on the former kernel (grid (splits, heads, batch), a CTA per query head, commit 7445e4f):
    same DRAM bytes but 29% of the slice's bandwidth and 83% L2 hits, every KV byte requested 8x."""
    from gpusim.config import load_config
    from gpusim.llm.run import simulate_kernel
    from tests.test_llm_sanity import A100, a100_slice

    cfg = load_config(A100, a100_slice(8))
    B, H, Hkv, ctx = 64, 8, 1, 1024
    k1, _ = K.decode_attn("sm_80", B, H, Hkv, ctx, *ptrs(7))
    r = simulate_kernel(cfg, k1)
    cache = 2 * 2 * B * ctx * Hkv * D
    assert cache >= 4 * cfg.memory.l2_size_bytes
    assert cache <= r["dram_bytes"] <= 1.05 * cache
    util = r["dram_bytes"] / (r["cycles"] / cfg.sm.clock_hz) / cfg.memory.dram_bandwidth_bytes_per_s
    assert util >= 0.7, util
    assert r["l2_hit_rate"] < 0.2

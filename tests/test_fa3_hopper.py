"""The FlashAttention-3-style Hopper forward kernels (traces/kernels/src/fa3_fwd.cu) and their selection.

Walker level, against the tiling of FA3 (Shah et al., arXiv:2407.08608; Dao-AILab/flash-attention hopper/):
one producer warp issues every TMA load -- Q once, each K and V tile of the CTA's key range once -- the two
consumer warpgroups hand the tensor cores to each other on scheduler barriers (ping-pong), causal CTAs
never touch key blocks above the diagonal, every output element is stored once.  Selection: sm_90a runs
the FA3 kernel with FA3's tile for the head dim; unbuilt head dims are refused with exit status 2.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.cli import main
from gpusim.llm import kernels as K
from gpusim.llm.op import op_graph
from gpusim.llm.walker import memory_accesses
from tests.test_walker import count_ops, ptrs, touches

ARCH = "sm_90a"


def _per_warp(kt, prefix):
    """Dynamic count per warp of the instructions whose opcode starts with ``prefix`` and run in >= 1 lane."""
    ids = [i for i, o in enumerate(kt.st_opcode) if o.startswith(prefix)]
    hit = (np.isin(kt.inst_static, ids) & (kt.inst_mask != 0)).astype(np.int64)
    return np.add.reduceat(hit, kt.warp_inst_ptr[:-1])


def _trace(B, H, G, q, L, causal, D=128):
    Q, Kp, V, O = ptrs(4)
    call = K.fa3_fwd(ARCH, B, H, G, q, L, Q, Kp, V, O, head_dim=D, causal=causal)
    return call, call.trace()


def _sizes(B, H, G, q, L, D=128):
    return {"Q": 2 * B * q * H * D, "K": 2 * B * L * G * D, "V": 2 * B * L * G * D, "O": 2 * B * q * H * D}


@pytest.mark.parametrize("D, causal", [(128, False), (128, True), (256, False)])
def test_fa3_producer_warp_loads_each_kv_tile_once_per_cta(D, causal):
    """Rule (FA3 warp specialisation): only warp 0 of the producer warpgroup issues TMA loads; per CTA it
    loads the 128-row Q tile once and each K and V tile of the CTA's key range once (64-column boxes of
    q_box_rows / kv_box_rows rows), arming the full barrier once per tile (arrive.expect_tx).  So each K/V
    element is read by every CTA of its KV head exactly once (GQA: 2 query heads per KV head x q tiles)
    and each Q element once.  Checked to fail with the causal bound removed from the kernel (extra tiles)."""
    B, H, G, q = 1, 2, 1, 256
    name = K.FA3_KERNELS[(D, causal)]
    t = K.kernel_specs()[name]["tile"]
    BN = t["BLOCK_N"]
    L = 4 * BN if not causal else q  # whole key blocks: no row of a neighbouring batch is touched
    call, kt = _trace(B, H, G, q, L, causal, D)
    assert call.name == name and call.launch.grid == (q // 128, H, B)
    role = np.asarray(kt.warp_slot)
    tma = count_ops(kt, "UTMALDG", per_warp=True)
    slabs = D // 64
    nblk = [(L + BN - 1) // BN] * (q // 128)
    if causal:
        nblk = [min(n, ((i + 1) * 128 + BN - 1) // BN) for i, n in enumerate(nblk)]
    per_cta = [slabs * 128 // t["q_box_rows"] + 2 * n * slabs * BN // t["kv_box_rows"] for n in nblk]
    cta_of = np.repeat(np.arange(kt.cta_warp_ptr.size - 1), np.diff(kt.cta_warp_ptr))
    for w in range(kt.num_warps):
        want = per_cta[cta_of[w] % (q // 128)] if role[w] == 0 else 0
        assert tma[w] == want, (w, role[w], tma[w], want)
    expect = _per_warp(kt, "SYNCS.ARRIVE.TRANS64") - _per_warp(kt, "SYNCS.ARRIVE.TRANS64.A1T0")
    for w in np.flatnonzero(role == 0):
        assert expect[w] == 1 + 2 * nblk[cta_of[w] % (q // 128)]  # Q + one K and one V tile per block
    tch = touches(kt, _sizes(B, H, G, q, L, D))
    assert np.all(tch["Q"][0] == 1)
    assert np.all(tch["O"][1] == 1) and not tch["O"][0].any()
    # K and V rows: read once by each (q tile, query head) CTA whose key range covers them
    rows = np.arange(L)
    reads = sum(H * (rows < n * BN) for n in nblk)
    for buf in ("K", "V"):
        per_row = tch[buf][0].reshape(L, G * D)
        assert np.all(per_row == reads[:, None]), buf


def test_fa3_causal_skips_masked_blocks():
    """Rule (FA3 / FA2 causal): a CTA's key range ends at ceil((past + last query + 1) / BLOCK_N) blocks;
    the blocks above the diagonal are neither loaded nor multiplied.  Oracle: tile i of 128 queries visits
    i + 1 key blocks of 128 (q = kv), so the K reads and the consumers' wgmma count follow the triangle;
    non-causal every tile visits all blocks.  Checked to fail with the causal bound removed from the kernel."""
    B, H, G, q = 1, 1, 1, 512
    _, kc = _trace(B, H, G, q, q, True)
    _, kn = _trace(B, H, G, q, q, False)
    kr_c = touches(kc, _sizes(B, H, G, q, q))["K"][0].reshape(q, 128)[:, 0]
    # key row r is read by tiles i >= r // 128: 4 - r // 128 of them
    assert np.array_equal(kr_c, 4 - np.arange(q) // 128)
    kr_n = touches(kn, _sizes(B, H, G, q, q))["K"][0].reshape(q, 128)[:, 0]
    assert np.all(kr_n == 4)
    # per visited block (tile i visits i + 1): 8 QK (k16 over D=128) + 8 PV (k16 over 128 keys) wgmma
    # per consumer warp
    role = np.asarray(kc.warp_slot)
    hg = _per_warp(kc, "HGMMA")
    cta_of = np.repeat(np.arange(kc.cta_warp_ptr.size - 1), np.diff(kc.cta_warp_ptr))
    for w in np.flatnonzero(role >= 4):
        assert hg[w] == 16 * (cta_of[w] + 1), (w, hg[w])


def _syncs_addr(kt):
    """Shared address of each dynamic SYNCS instruction (-1 elsewhere)."""
    inst, addr = memory_accesses(kt)
    out = np.full(kt.inst_static.size, -1, np.int64)
    first = np.unique(inst, return_index=True)
    out[first[0]] = addr[first[1]].astype(np.int64)
    return out


def test_fa3_consumers_pingpong_on_scheduler_barriers():
    """Rule (FA3 inter-warpgroup ping-pong, paper section 3.1): before issuing its GEMMs of a key block
    each consumer warpgroup waits on its own scheduler barrier and, after issuing them, one thread
    signals the other warpgroup's barrier; warpgroup 2 signals warpgroup 1 once at the start so that
    warpgroup 1 goes first.  So per CTA: every consumer warp waits nblk times on its own barrier,
    always before the block's first wgmma, and the two warpgroups' barriers differ; warp 0 of each
    warpgroup arrives nblk times on the other's (+1 for warpgroup 2's initial signal).  (FA3 uses
    hardware named barriers for this; gpusim's SM has only the CTA-wide one, so the kernel uses
    mbarriers, see fa3_fwd.cu.)  Checked to fail with the scheduler waits removed from the kernel."""
    B, H, G, q, L = 1, 1, 1, 128, 4 * 176
    nblk = 4
    _, kt = _trace(B, H, G, q, L, False)
    role = np.asarray(kt.warp_slot)
    addr = _syncs_addr(kt)
    ops = np.array(kt.st_opcode)[kt.inst_static]
    own = {}
    for w in np.flatnonzero(role >= 4):
        a, b = kt.warp_inst_ptr[w], kt.warp_inst_ptr[w + 1]
        seq = [(ops[i], addr[i]) for i in range(a, b) if ops[i].startswith(("SYNCS.PHASECHK", "HGMMA.64x176"))]
        # the wait right before the first QK wgmma of each block, skipping the full_k wait
        sched = []
        for k, (o, _) in enumerate(seq):
            if o.startswith("HGMMA") and (k == 0 or not seq[k - 1][0].startswith("HGMMA")):
                waits = [x for x in seq[:k] if x[0].startswith("SYNCS")]
                sched.append(waits[-2][1])  # ... TRYWAIT sched, TRYWAIT full_k, HGMMA
        assert len(sched) == nblk and len(set(sched)) == 1, (w, sched)
        own.setdefault(role[w] // 4, set()).add(sched[0])
    assert len(own[1]) == 1 and len(own[2]) == 1 and own[1] != own[2]
    s1, s2 = own[1].pop(), own[2].pop()
    arrive = np.array([o.startswith("SYNCS.ARRIVE.TRANS64.A1T0") for o in ops]) & (kt.inst_mask != 0)
    for w, mine, other, extra in ((4, s1, s2, 0), (8, s2, s1, 1)):
        a, b = kt.warp_inst_ptr[w], kt.warp_inst_ptr[w + 1]
        assert int(np.sum(arrive[a:b] & (addr[a:b] == other))) == nblk + extra, w  # + WG2's initial signal
        assert int(np.sum(arrive[a:b] & (addr[a:b] == mine))) == 0, w


def test_fa3_intra_warpgroup_overlap_issues_next_qk_before_waiting_for_pv():
    """Rule (FA3 Algorithm 2, intra-warpgroup overlap): in steady state a consumer warp issues S_next =
    Q K^T and O += P V back to back and waits with wait_group 1 (S ready, P V still in flight) before
    the softmax, then wait_group 0.  Oracle: every block after the first shows QK wgmmas, PV wgmmas
    (RS form: A from registers), WARPGROUP.DEPBAR.LE gsb0, 1 then 0.  Checked to fail with wait_group 0
    in place of 1 (no overlap)."""
    _, kt = _trace(1, 1, 1, 128, 3 * 176, False)
    role = np.asarray(kt.warp_slot)
    w = int(np.flatnonzero(role == 4)[0])
    a, b = kt.warp_inst_ptr[w], kt.warp_inst_ptr[w + 1]
    ops = [kt.st_opcode[s] for s in kt.inst_static[a:b]]
    imm = [int(kt.st_imm[s]) for s in kt.inst_static[a:b]]
    seq = []
    for o, i in zip(ops, imm):
        tag = "QK" if o.startswith("HGMMA.64x176") else "PV" if o.startswith("HGMMA.64x128") else \
            f"D{i}" if o.startswith("WARPGROUP.DEPBAR") else None
        if tag and not (seq and seq[-1] == tag and tag in ("QK", "PV")):
            seq.append(tag)
    assert seq == ["QK", "D0", "QK", "PV", "D1", "D0", "QK", "PV", "D1", "D0", "PV", "D0"], seq


def test_fa3_selection_on_sm90a_names_the_kernel_and_refuses_unbuilt_head_dims():
    """Rule: prefill attention on sm_90a runs the FA3 kernel with FA3's tile for the head dim (hdim 128:
    128 x 176, causal 128 x 128; hdim 256: 128 x 80; Dao-AILab/flash-attention hopper/tile_size.h); other
    archs FA2; impl=fa2 asks for FA2 explicitly; an unbuilt head dim is a KernelError (exit 2), never a
    silent substitute."""
    p = ptrs(4)
    assert K.prefill_attention(ARCH, 1, 4, 4, 256, 256, *p, causal=False).name == "fa3_fwd_f16_d128_128x176"
    assert K.prefill_attention(ARCH, 1, 4, 4, 256, 256, *p, causal=True).name == "fa3_fwd_f16_d128_128x128_causal"
    assert K.prefill_attention(ARCH, 1, 4, 4, 256, 256, *p, head_dim=256).name == "fa3_fwd_f16_d256_128x80_causal"
    # FlashAttention-2's own hdim-128 tile (128 x 64, 4 warps) since flash_attn.cu follows FA2's launch templates
    assert K.prefill_attention(ARCH, 1, 4, 4, 256, 256, *p, impl="fa2").name == "flash_attn_fwd_f16_d128_128x64_w4"
    assert K.prefill_attention("sm_80", 1, 4, 4, 256, 256, *p).name == "flash_attn_fwd_f16_d128_128x64_w4"
    with pytest.raises(K.KernelError, match="head_dim 64 not built"):
        K.prefill_attention(ARCH, 1, 4, 4, 256, 256, *p, head_dim=64)
    with pytest.raises(K.KernelError, match="built for sm_90a only"):
        K.prefill_attention("sm_80", 1, 4, 4, 256, 256, *p, impl="fa3")
    assert op_graph("attention:batch=1,heads=2,kv_heads=1,q_len=8,impl=fa2").operators[0].shape["impl"] == "fa2"


@pytest.mark.parametrize("op, message", [
    ("attention:batch=1,heads=2,kv_heads=2,q_len=128,head_dim=64", "head_dim 64 not built"),
    ("attention:batch=1,heads=2,kv_heads=2,q_len=128,impl=fa4", "impl 'fa4' unknown"),
])
def test_fa3_cli_refuses_unbuilt_attention_with_exit_status_2(op, message, capsys, tmp_path):
    rc = main(["llm", "--op", op, "--gpu", "h100-sxm5-80gb", "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

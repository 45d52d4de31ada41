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

from gpusim import assemble
from gpusim.cli import main
from gpusim.config import load_config
from gpusim.core import sm as core
from gpusim.frontend.reader import intern_opcodes
from gpusim.llm import kernels as K
from gpusim.llm.op import op_graph
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


def _named_barriers(call, kt):
    """Per dynamic instruction the named barrier the core sees (id + NBAR * warps; -1 for non-BAR), with the
    listing's immediates and the walker's register values joined as ``gpusim.assemble`` does."""
    r = assemble.pack(load_config("h100-sxm5-80gb"), intern_opcodes(kt), call.kernel.function)
    acc_ptr, acc_line, _ = r.extra["acc"]
    return assemble.barrier_operands(acc_ptr, acc_line, r.extra["space"])


def test_fa3_consumers_pingpong_on_named_scheduler_barriers():
    """Rule (FA3 inter-warpgroup ping-pong, paper section 3.1; hopper/mainloop_fwd_sm90_tma_gmma_ws.hpp @
    c082294: mma_init, warp_scheduler_barrier_sync / _arrive): hardware named barriers of 256 threads,
    ids 7 (MMA warpgroup 1) and 8 (warpgroup 2) (FwdNamedBarriers 1, 2 + CUTLASS's 6 reserved ids).  At the
    start warpgroup 1 arrives on its own barrier and every consumer warp arrives on QueryEmpty (id 6, 288
    threads), which producer warp 0 syncs on after its first K load and before Q.  Each key block after
    the first: the warp syncs on its own barrier right before the block's first QK wgmma and arrives on the
    other's after its PV wgmma.  Oracle: the counts and order per warp, ids and thread counts as the core
    decodes them (the register ids recorded by the walker).  Checked to fail with the scheduler sync
    removed from the kernel."""
    B, H, G, q, L = 1, 1, 1, 128, 4 * 176
    nblk = 4
    call, kt = _trace(B, H, G, q, L, False)
    bar = _named_barriers(call, kt)
    role = np.asarray(kt.warp_slot)
    ops = np.array(kt.st_opcode)[kt.inst_static]
    live = kt.inst_mask != 0
    sched_n, qe_n = core.NBAR * 256 // 32, core.NBAR * 288 // 32
    for w in range(kt.num_warps):
        a, b = kt.warp_inst_ptr[w], kt.warp_inst_ptr[w + 1]
        seq = []
        for i in range(a, b):
            if ops[i].startswith("BAR.SYNC") and bar[i] > 0 and live[i]:
                seq.append(("S", int(bar[i])))
            elif ops[i].startswith("BAR.ARV") and live[i]:
                seq.append(("A", int(bar[i])))
            elif ops[i].startswith("HGMMA.64x176") and (not seq or seq[-1] != ("QK", 0)):
                seq.append(("QK", 0))  # the first QK wgmma of a block (its k-steps collapse into one)
            elif ops[i].startswith("UTMALDG") and live[i]:
                seq.append(("TMA", 0))
        if role[w] == 0:  # producer warp 0: K boxes, QueryEmpty sync, then Q and the rest
            k0 = seq.index(("S", 6 + qe_n))
            assert k0 > 0 and all(x == ("TMA", 0) for x in seq[:k0]), seq[:k0 + 1]
        elif role[w] >= 4:
            c = (role[w] - 4) // 4
            mine, other = 7 + c + sched_n, 7 + (c ^ 1) + sched_n
            head = [("A", 6 + qe_n)] + ([("A", mine)] if c == 0 else [])
            body = [("QK", 0)] + [("S", mine), ("QK", 0), ("A", other)] * (nblk - 1)
            assert seq == head + body, (w, seq)


def test_fa3_hdim256_runs_without_scheduler_barriers():
    """Rule (FA3 UseSchedulerBarrier = IntraWGOverlap and hdim <= 128 for 16-bit types, same file and
    commit): the hdim-256 kernel has no ping-pong -- no BAR on ids 7 / 8, only QueryEmpty and the
    CTA-wide start barrier."""
    call, kt = _trace(1, 1, 1, 128, 2 * 80, False, D=256)
    bar = _named_barriers(call, kt)
    ops = np.array(kt.st_opcode)[kt.inst_static]
    is_bar = np.array([o.startswith("BAR.") for o in ops]) & (kt.inst_mask != 0)
    assert set((bar[is_bar] % core.NBAR).tolist()) == {0, 6}


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

"""FlashAttention-2 as FlashAttention-2 builds it (traces/kernels/src/flash_attn.cu, flash_attn_bwd.cu).

Oracles: FlashAttention-2's launch templates (Dao-AILab/flash-attention @
0251105a2fb19d2957484b7f023cd8c115286ced, csrc/flash_attn/src/flash_fwd_launch_template.h and
flash_bwd_launch_template.h: the (kBlockM, kBlockN, kNWarps) each head dim runs with on A100 / H100 /
sm86-89 in fp16 without dropout) and kernel_traits.h (shared-memory sizes), and the FLOP counts of the
matrix products (an m16n8k16 HMMA is 16 * 8 * 16 multiply-adds)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpusim.llm import kernels as K
from gpusim.llm.op import op_graph

REPO = Path(__file__).resolve().parents[1]
HMMA_FLOPS = 2 * 16 * 8 * 16

# FlashAttention-2's forward configurations (kHeadDim padded, kBlockM, kBlockN, kNWarps) per (arch, head dim,
# causal), read off flash_fwd_launch_template.h @ 0251105a (run_mha_fwd_hdim64/96/128/256)
FA2_FWD_TABLE = {
    ("sm_80", 64, False): (64, 128, 128, 4), ("sm_80", 64, True): (64, 128, 128, 4),
    ("sm_80", 80, False): (96, 128, 64, 4), ("sm_80", 80, True): (96, 128, 64, 4),
    ("sm_80", 128, False): (128, 128, 64, 4), ("sm_80", 128, True): (128, 128, 64, 4),
    ("sm_80", 256, False): (256, 128, 64, 8), ("sm_80", 256, True): (256, 128, 64, 8),
    ("sm_90a", 64, False): (64, 128, 128, 4), ("sm_90a", 128, False): (128, 128, 64, 4),
    ("sm_90a", 80, True): (96, 128, 64, 4), ("sm_90a", 256, False): (256, 64, 64, 4),
    ("sm_86", 128, False): (128, 128, 32, 4), ("sm_86", 128, True): (128, 64, 64, 4),
    ("sm_89", 128, False): (128, 128, 32, 4), ("sm_89", 128, True): (128, 64, 64, 4),
}
# backward (kHeadDim, kBlockM, kBlockN, kNWarps) for max smem per block >= 144 KiB (A100, H100)
FA2_BWD_TABLE = {128: (128, 64, 128, 8), 64: (64, 128, 128, 8)}


@pytest.mark.parametrize("key", sorted(FA2_FWD_TABLE))
def test_fa2_fwd_tile_config_matches_flash_attention_for_head_dim(key):
    """Rule: the forward kernel run for (arch, head dim, causal) has FlashAttention-2's tile: kBlockM x
    kBlockN keys with kNWarps warps (the listing's block size), shared memory (kBlockM + 2 kBlockN) x
    padded head dim halves (Flash_fwd_kernel_traits::kSmemSize), 16 x kNWarps-row MMA layout (kBlockM a
    multiple of it) and registers that let the CTA launch.  Breaking it (e.g. the old 64 x 64 tile for
    every head dim) fails here."""
    arch, d, causal = key
    hdp, bm, bn, nw = FA2_FWD_TABLE[key]
    name = K.fa2_fwd_kernel(arch, d, causal)
    t = K.kernel_specs()[name]["tile"]
    assert (t["head_dim"], t["head_dim_padded"], t["BLOCK_M"], t["BLOCK_N"], t["warps"]) == (d, hdp, bm, bn, nw)
    call = K.flash_attn(arch, 1, 2, 2, 300, 300, 1 << 40, 2 << 40, 3 << 40, 4 << 40, causal=causal, head_dim=d)
    assert call.launch.block == (32 * nw, 1, 1)
    assert call.launch.dynamic_shared_bytes == (bm + 2 * bn) * hdp * 2
    assert call.launch.grid == (math.ceil(300 / bm), 1, 2)
    kb = call.kernel
    assert kb.registers * 32 * nw <= 65536 and bm % (16 * nw) == 0


@pytest.mark.parametrize("d", sorted(FA2_BWD_TABLE))
def test_fa2_bwd_tile_config_matches_flash_attention(d):
    """Rule: the backward kernel has Flash_bwd_kernel_traits' tile for the head dim on A100 / H100 and its
    kSmemSize1colblock: Q double-buffered + dO (3 kBlockM x d), K + V (2 kBlockN x d), P + dS
    (2 kBlockM x kBlockN) halves; the preprocess and dQ-conversion grids run over kBlockM query rows."""
    hd, bm, bn, nw = FA2_BWD_TABLE[d]
    P = [(i + 1) << 40 for i in range(11)]
    pre, main, cvt = K.flash_attn_bwd("sm_80", 1, 2, 2, 300, 300, Q=P[0], K=P[1], V=P[2], O=P[3], dO=P[4], LSE=P[5],
                                      Dsum=P[6], dQaccum=P[7], dQ=P[8], dK=P[9], dV=P[10], head_dim=d)
    assert main.launch.block == (32 * nw, 1, 1) and main.launch.grid == (math.ceil(300 / bn), 1, 2)
    assert main.launch.dynamic_shared_bytes == (3 * bm * hd + 2 * bn * hd + 2 * bm * bn) * 2
    assert pre.launch.grid == cvt.launch.grid == (math.ceil(300 / bm), 1, 2)


def _hmma(call) -> int:
    kt = call.trace()
    ops = np.array([o.split(".")[0] for o in kt.st_opcode])
    return int((ops[kt.inst_static] == "HMMA").sum())


@pytest.mark.parametrize("arch", ["sm_80", "sm_86"])
def test_causal_fa2_skips_fully_masked_kv_blocks(arch):
    """Rule: a causal CTA of query block mb computes only key blocks 0 .. ceil((mb+1) kBlockM / kBlockN)-1
    (the blocks above the diagonal are never loaded or multiplied), so its HMMA count is that many blocks x
    2 kBlockM kBlockN d / 2048; over a 1024-token sequence that is about half of the non-causal count
    (72 of 128 blocks with 128 x 64 tiles).  Processing every block with a mask would fail the equality."""
    L, d = 1024, 128
    n_hmma = {}
    for causal in (False, True):
        call = K.flash_attn(arch, 1, 1, 1, L, L, 1 << 40, 2 << 40, 3 << 40, 4 << 40, causal=causal, head_dim=d)
        t = K.kernel_specs()[call.name]["tile"]
        bm, bn = t["BLOCK_M"], t["BLOCK_N"]
        blocks = sum(min(L // bn, math.ceil((mb + 1) * bm / bn)) if causal else L // bn for mb in range(L // bm))
        n_hmma[causal] = _hmma(call)
        assert n_hmma[causal] == blocks * 2 * bm * bn * d // 2048
    assert 0.5 <= n_hmma[True] / n_hmma[False] <= 0.6


@pytest.mark.parametrize("causal", [False, True])
def test_fa2_bwd_computes_dq_dk_dv_flops(causal):
    """Rule: the backward main kernel does FlashAttention-2's five products per (query block, key block)
    pair it visits -- S = QK^T, dP = dO V^T, dV += P^T dO, dQ = dS K, dK += dS^T Q, each 2 x 64 x 128 x d
    FLOPs -- so non-causal it executes exactly 2.5x the forward FLOPs (4 N^2 d per head) in HMMAs; causal
    it visits only the query blocks at or below each key block's diagonal.  Each warp adds its 32 dQ
    values per visited block with RED.ADD.F32 (FlashAttention-2's atomicAdd into dQaccum)."""
    B, H, L, d = 1, 2, 256, 128
    hd, bm, bn, nw = FA2_BWD_TABLE[d]
    P = [(i + 1) << 40 for i in range(11)]
    pre, main, cvt = K.flash_attn_bwd("sm_80", B, H, H, L, L, Q=P[0], K=P[1], V=P[2], O=P[3], dO=P[4], LSE=P[5],
                                      Dsum=P[6], dQaccum=P[7], dQ=P[8], dK=P[9], dV=P[10], causal=causal, head_dim=d)
    kt = main.trace()
    ops = np.array([o.split(".")[0] for o in kt.st_opcode])[kt.inst_static]
    visits = sum(L // bm - (max(0, nb * bn // bm) if causal else 0) for nb in range(L // bn))
    assert int((ops == "HMMA").sum()) * HMMA_FLOPS == B * H * visits * 5 * 2 * bm * bn * d
    if not causal:
        assert int((ops == "HMMA").sum()) * HMMA_FLOPS == 2.5 * 4 * L * L * d * H * B
    assert int((ops == "RED").sum()) == B * H * visits * nw * (bm * d // (32 * nw))


def test_attention_op_counts_fa2_flops_per_pass():
    """Rule: FlashAttention-2's benchmark convention: bwd = 2.5 x fwd FLOPs, fwd + bwd = 3.5 x, the forward
    being 4 N^2 d per head (non-causal)."""
    base = "attention:batch=2,heads=4,kv_heads=4,q_len=512,causal=0,head_dim=64"
    f = {p: op_graph(f"{base},pass={p}").operators[0].flops for p in ("fwd", "bwd", "fwdbwd")}
    assert f["fwd"] == 4 * 512 * 512 * 64 * 4 * 2
    assert f["bwd"] == 2.5 * f["fwd"] and f["fwdbwd"] == 3.5 * f["fwd"]


@pytest.mark.parametrize("op, gpu, says", [
    ("attention:batch=1,heads=2,kv_heads=2,q_len=128,head_dim=96", "a100-sxm4-80gb", "head_dim 96 is not built for sm_80"),
    ("attention:batch=1,heads=2,kv_heads=2,q_len=128,head_dim=64", "rtx3070", "head_dim 64 is not built for sm_86"),
    ("attention:batch=1,heads=2,kv_heads=2,q_len=128,head_dim=80,pass=bwd", "h100-sxm5-80gb",
     "backward: head_dim 80 is not built for sm_90a"),
])
def test_unbuilt_head_dim_exits_2(op, gpu, says, tmp_path):
    """Rule: a head dim (or pass) no FlashAttention-2 kernel is built for is refused with one line naming
    it, exit status 2, before any simulation (never run on a substitute kernel)."""
    r = subprocess.run([sys.executable, "-m", "gpusim.cli", "llm", "--op", op, "--gpu", gpu, "-o", str(tmp_path)],
                       capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                       timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert says in r.stderr and "Traceback" not in r.stderr


def test_walker_restores_spilled_registers_from_local_memory():
    """Rule: ptxas spills registers of the 128 x 64 hdim-128 forward to local memory (STL at the prologue,
    LDL in the epilogue); the walker keeps what STL stored per thread so that the refilled register (an
    address part) is known again and the O / LSE stores get exact addresses.  Without the local-memory
    model the walk stops at the LDL (the test fails with a WalkError)."""
    call = K.flash_attn("sm_80", 1, 1, 1, 64, 64, 1 << 40, 2 << 40, 3 << 40, 4 << 40, causal=False)
    ops = set(call.kernel.function.opcode)
    assert "STL" in ops and "LDL" in ops
    kt = call.trace()
    assert kt.num_warps == 4

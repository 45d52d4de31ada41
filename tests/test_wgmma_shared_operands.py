"""Hopper warpgroup MMAs read their shared-memory operands through the SM's shared-memory data path.

Rule (PTX ISA, wgmma.mma_async: B is always in shared memory, A in shared memory (SS) or registers (RS);
configs/README.md "Warpgroup MMA"): one m64nNk16 instruction reads A = 64 x 16 and B = N x 16 elements
of the operand width (fp16: 2 KiB and N x 32 B), B once per warpgroup (``pipes.wgmma_b_reads``), through
the same ``memory.l1_bytes_per_cycle`` (128 B/clk) path LDS/STS/TMA data use.  An MMA whose operands
cannot arrive at that rate holds its tensor pipe until they have.  Each test has an analytic oracle and
runs the same kernel with the rule switched off (``pipes.wgmma_b_reads=0``) to show the oracle is not met
without it (the "break the rule once" check, kept in the test).
"""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.assemble import wgmma_shared_bytes
from gpusim.config import load_config
from gpusim.core import sm as core
from gpusim.frontend.microasm import Inst
from tests.micro_sim import EXIT, issue_cycles, simulate

H100 = "h100-sxm5-80gb"
BASE = ["icache.perfect=true"]
OFF = BASE + ["pipes.wgmma_b_reads=0"]
ARRIVE = Inst("WARPGROUP.ARRIVE")


def ss(n, last=False):
    return Inst(f"HGMMA.64x{n}x16.F32 R24, gdesc[UR4], R24{', gsb0' if last else ''}")


def rs(n, last=False):
    return Inst(f"HGMMA.64x{n}x16.F32 R24, R8, gdesc[UR8].tnspB, R24{', gsb0' if last else ''}")


def depbar(n):
    return Inst(f"WARPGROUP.DEPBAR.LE gsb0, 0x{n:x}")


def warp_ii(cfg, n):
    """One warp's tensor-pipe interval of HGMMA.64x{n}x16.F32 (gpusim/isa/semantics.py tensor_timing, MGC §5 formula)."""
    return max(1, (16 * n * 16 * 32) // cfg.pipes.warpgroup_tensor_rate_per_cycle) // 2


def stream(tmp_path, mma, n, groups, overrides, extra=()):
    """Cycles per group of 4 MMAs (wait_group 1, so the pipe never waits for a group) of one warpgroup,
    measured between the first ARRIVE and the instruction after the final wait_group 0."""
    body = []
    for _ in range(groups):
        body += [ARRIVE, mma(n), mma(n), mma(n), mma(n, last=True), *extra, depbar(1)]
    prog = body + [depbar(0), Inst("NOP"), EXIT]
    r, kt, _ = simulate(tmp_path, prog, gpu=H100, arch="sm_90", overrides=overrides, warps_per_cta=4)
    first = min(int(issue_cycles(r, kt, w)[0]) for w in range(4))
    done = max(int(issue_cycles(r, kt, w)[len(prog) - 2]) for w in range(4))
    return (done - first) / groups, r


def test_wgmma_shared_bytes_follow_the_instruction_shape():
    """Rule: SS reads A (64 x K) and B (N x K), RS only B; fp8 (k32) moves the same bytes as fp16 (k16)."""
    assert wgmma_shared_bytes("HGMMA.64x128x16.F32", False, 1) == 64 * 16 * 2 + 128 * 16 * 2
    assert wgmma_shared_bytes("HGMMA.64x128x16.F32", True, 1) == 128 * 16 * 2
    assert wgmma_shared_bytes("QGMMA.64x256x32.F32.E4M3.E4M3", False, 1) == 64 * 32 + 256 * 32
    assert wgmma_shared_bytes("HGMMA.64x128x16.F32", False, 4) == 64 * 16 * 2 + 4 * 128 * 16 * 2
    assert wgmma_shared_bytes("HGMMA.64x128x16.F32", False, 0) == 0


def test_wgmma_ss_reads_both_operands_from_shared_memory(tmp_path):
    """Rule: SS m64n16k16 reads 2 KiB (A) + 512 B (B) per warpgroup instruction = 20 cycles of the
    128 B/clk path, more than its 8-cycle tensor interval: a dense stream runs at the shared-memory rate,
    (A + B) / 128 cycles per instruction (within 10%), 2.5x slower than the tensor pipe alone.  Without
    the rule it runs at the tensor interval (the 'broken' run below)."""
    cfg = load_config(H100, BASE)
    n = 16
    per, r = stream(tmp_path, ss, n, 16, BASE)
    oracle = 4 * (64 * 16 * 2 + n * 16 * 2) / cfg.memory.l1_bytes_per_cycle
    assert per == pytest.approx(oracle, rel=0.10), (per, oracle)
    off, _ = stream(tmp_path, ss, n, 16, OFF)
    assert off < 0.6 * oracle, off            # rule off: tensor-bound (4 x 8 cycles + overhead)
    assert off >= 4 * warp_ii(cfg, n)
    g = np.flatnonzero(r.st[:, core.S_FLAGS] & core.F_GMMA)
    assert set(r.st[g, core.S_GMMA_SMEM].tolist()) == {(2048 + n * 32) // 4}


def test_wgmma_rs_reads_only_b_from_shared(tmp_path):
    """Rule: RS m64n16k16 (A from registers) reads only B = 512 B per instruction, 4 cycles of the path,
    within its 8-cycle tensor interval: it keeps the tensor rate (within 10% of the SS-without-the-rule
    time) while the same MMA in SS form is shared-memory bound (previous test)."""
    cfg = load_config(H100, BASE)
    n = 16
    per_rs, r = stream(tmp_path, rs, n, 16, BASE)
    per_off, _ = stream(tmp_path, rs, n, 16, OFF)
    assert per_rs == pytest.approx(per_off, rel=0.10), (per_rs, per_off)
    assert per_rs < 0.6 * 4 * (64 * 16 * 2 + n * 16 * 2) / cfg.memory.l1_bytes_per_cycle
    g = np.flatnonzero(r.st[:, core.S_FLAGS] & core.F_GMMA)
    assert set(r.st[g, core.S_GMMA_SMEM].tolist()) == {n * 32 // 4}


def test_wgmma_contends_with_lds_for_shared_bandwidth(tmp_path):
    """Rule: the MMA operand reads and LDS data share the 128 B/clk path.  Per group: 4 SS m64n64k16
    (4 x 4 KiB = 128 cycles of the path, under the 4 x 35-cycle tensor time) and 8 LDS.128 per warp
    (4 warps x 8 x 512 B = 128 cycles).  Either alone fits in the 140-cycle tensor time; together they
    need 256 cycles of the path, so a group takes (16 KiB + 16 KiB) / 128 = 256 cycles (within 10%).
    Without the rule the LDS hide under the MMAs (about 140 cycles per group)."""
    cfg = load_config(H100, BASE)
    n = 64
    lds = [Inst(f"LDS.128 R{40 + 4 * (k % 4)}, [R2]", addr_stride=16, base=0) for k in range(8)]
    per, _ = stream(tmp_path, ss, n, 12, BASE, extra=lds)
    oracle = (4 * (2048 + n * 32) + 4 * 8 * 512) / cfg.memory.l1_bytes_per_cycle
    assert 4 * warp_ii(cfg, n) < oracle
    assert per == pytest.approx(oracle, rel=0.10), (per, oracle)
    off, _ = stream(tmp_path, ss, n, 12, OFF, extra=lds)
    assert off < 0.7 * oracle, off
    alone, _ = stream(tmp_path, ss, n, 12, BASE)
    assert alone == pytest.approx(4 * warp_ii(cfg, n), rel=0.10), alone   # under 128 B/clk: tensor-bound


def test_dense_m64n256k16_ss_keeps_the_calibrated_rate(tmp_path):
    """Rule: SS m64n256k16 needs (2 KiB + 8 KiB) per 4 x 140 cycles of tensor time, 73 B/clk: under the
    128 B/clk path, so the HW032 calibration (SS 974.9 vs RS 976.6 TFLOPS) is unchanged by the rule:
    SS and RS streams take the same time (within 2%)."""
    per_ss, _ = stream(tmp_path, ss, 256, 6, BASE)
    per_rs, _ = stream(tmp_path, rs, 256, 6, BASE)
    assert per_ss == pytest.approx(per_rs, rel=0.02), (per_ss, per_rs)

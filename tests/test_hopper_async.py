"""Hopper asynchronous warpgroup MMA (wgmma -> HGMMA, WARPGROUP.ARRIVE, WARPGROUP.DEPBAR.LE gsb0).

research/sass-control-bits.md §5-6: HGMMA sets no SB; the compiler marks the last MMA of a wgmma group
with the ``gsb0`` operand and waits with ``WARPGROUP.DEPBAR.LE gsb0, N`` (wgmma.wait_group N), outside
the six SB counters.  Each test simulates a micro kernel (or our sm_90a GEMM listing) and checks an
analytic oracle or the H100 measurement.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.config import load_config
from gpusim.core import sm as core
from gpusim.frontend.microasm import Inst
from tests.micro_sim import EXIT, issue_cycles, run_folder, simulate

H100 = "h100-sxm5-80gb"
PERFECT_ICACHE = ["icache.perfect=true"]
ARRIVE = Inst("WARPGROUP.ARRIVE")


def hgmma(n=256, last=False):
    return Inst(f"HGMMA.64x{n}x16.F32 R24, gdesc[UR4], R24{', gsb0' if last else ''}")


def depbar(n, stall=1):
    return Inst(f"WARPGROUP.DEPBAR.LE gsb0, 0x{n:x}", stall=stall)


def pipe_timing(cfg, n=256):
    """(interval, latency) of one warp's quarter of HGMMA.64x{n}x16.F32 by the released formula
    (MGC §5, as gpusim/isa/semantics.py applies it to warpgroup MMAs: (M/4)*N*K*b / warpgroup rate, the rate
    on random fp16 operands with an fp32 accumulator: pipes.wgmma_random_permille_f16_f32)."""
    rate = cfg.pipes.warpgroup_tensor_rate_per_cycle * cfg.pipes.wgmma_random_permille_f16_f32 // 1000
    cyc = (64 // 4) * n * 16 * 32 // rate
    return cyc // 2, cyc - cyc // 2


def _run(tmp_path, prog, **kw):
    return simulate(tmp_path, prog, gpu=H100, arch="sm_90", overrides=PERFECT_ICACHE, **kw)


# ------------------------------------------------------------------ completion and wait_group

def test_depbar_gsb0_0_waits_for_the_hgmma_to_complete(tmp_path):
    """Rule: WARPGROUP.DEPBAR.LE gsb0, 0 holds the next instruction until the committed HGMMA is done:
    it enters the tensor pipe 2 cycles after issue (Control, as any instruction) and completes its
    interval + latency later; the release is visible the cycle after."""
    ii, lat = pipe_timing(load_config(H100))
    r, kt, _ = _run(tmp_path, [ARRIVE, hgmma(last=True), depbar(0), Inst("NOP"), EXIT])
    t = issue_cycles(r, kt)
    assert t[3] - t[1] == 2 + ii + lat + 1


def test_hgmma_issues_without_waiting_for_its_result(tmp_path):
    """Rule: wgmma.mma_async is asynchronous: without a DEPBAR the warp goes on at its stall count."""
    r, kt, _ = _run(tmp_path, [ARRIVE, hgmma(last=True), Inst("NOP"), depbar(0), EXIT])
    t = issue_cycles(r, kt)
    assert t[2] - t[1] == 1


def test_depbar_gsb0_1_lets_the_next_group_start_while_one_is_in_flight(tmp_path):
    """Rule: wait_group 1 only waits until at most one group is pending: the second group is issued at
    once and queues on the tensor pipe behind the first (back to back), so both are done one interval
    after the first group's pipe time plus one latency; gsb0, 0 after each group serialises them."""
    ii, lat = pipe_timing(load_config(H100))
    pipelined = [ARRIVE, hgmma(last=True), depbar(1), ARRIVE, hgmma(last=True), depbar(1), depbar(0), Inst("NOP"), EXIT]
    r, kt, _ = _run(tmp_path, pipelined)
    t = issue_cycles(r, kt)
    assert t[4] - t[1] <= 4                              # the second HGMMA did not wait for the first
    assert t[7] - t[1] == 2 + 2 * ii + lat + 1           # ... and ran right behind it in the pipe
    serial = [ARRIVE, hgmma(last=True), depbar(0), ARRIVE, hgmma(last=True), depbar(0), Inst("NOP"), EXIT]
    r, kt, _ = _run(tmp_path, serial)
    t = issue_cycles(r, kt)
    assert t[4] - t[1] >= 2 + ii + lat + 1
    assert t[6] - t[4] == 2 + ii + lat + 1


def test_the_hgmmas_of_one_group_run_back_to_back_and_complete_together(tmp_path):
    """Rule: only the gsb0 HGMMA commits the group; the group completes when its last MMA does: four
    k-steps take 4 intervals in the pipe plus one latency."""
    ii, lat = pipe_timing(load_config(H100))
    prog = [ARRIVE, hgmma(), hgmma(), hgmma(), hgmma(last=True), depbar(0), Inst("NOP"), EXIT]
    r, kt, _ = _run(tmp_path, prog)
    t = issue_cycles(r, kt)
    assert t[6] - t[1] == 2 + 4 * ii + lat + 1


def test_depbar_counts_groups_not_instructions(tmp_path):
    """Rule: gsb0, 1 after two groups of two MMAs waits for the first group only (in-order completion)."""
    ii, lat = pipe_timing(load_config(H100))
    prog = [ARRIVE, hgmma(), hgmma(last=True), hgmma(), hgmma(last=True), depbar(1), Inst("NOP"), EXIT]
    r, kt, _ = _run(tmp_path, prog)
    t = issue_cycles(r, kt)
    assert t[6] - t[1] == 2 + 2 * ii + lat + 1


def test_a_warp_waiting_at_warpgroup_depbar_is_in_the_wait_state(tmp_path):
    """Rule: the wait for a wgmma group is charged to Nsight's "wait" (a fixed-latency dependence: the
    group ends a known number of cycles after it entered the pipe), not to the SB states."""
    ii, lat = pipe_timing(load_config(H100))
    r, kt, _ = _run(tmp_path, [ARRIVE, hgmma(last=True), depbar(0), Inst("NOP"), EXIT])
    waited = r.pc_stats[3, 1 + core.R_WAIT]  # charged at the held instruction (the NOP)
    assert waited >= ii + lat
    assert r.pc_stats[3, 1 + core.R_SHORT_SB] == 0 and r.pc_stats[3, 1 + core.R_LONG_SB] == 0


def test_warpgroup_arrive_waits_for_inflight_register_writes(tmp_path):
    """Rule: WARPGROUP.ARRIVE (wgmma.fence) orders the warp's earlier register writes before the MMA:
    after an FFMA issued with stall 1 the next instruction waits for its write-back, the FFMA's
    dependent latency (4 cycles, MGC §5), instead of issuing 2 cycles after it."""
    prog = [Inst("FFMA R24, R2, R3, R24", stall=1), Inst("WARPGROUP.ARRIVE", stall=1), Inst("NOP"), EXIT]
    r, kt, _ = _run(tmp_path, prog)
    t = issue_cycles(r, kt)
    assert t[2] - t[0] == 4


def test_group_ends_without_a_listing_are_the_last_hgmma_before_a_warpgroup_instruction(tmp_path):
    """Rule: in scoreboard mode (no listing, so no gsb0 operand) the group is closed by the last HGMMA
    before the next WARPGROUP instruction, and the accumulators chain inside the pipe (the scoreboard
    does not make an HGMMA wait for the previous one's accumulator)."""
    ii, lat = pipe_timing(load_config(H100))
    uop = Inst("UIADD3 UR4, UR4, 0x20, URZ")  # descriptor arithmetic between the k-steps, as in real code
    prog = [ARRIVE, hgmma(), uop, hgmma(), uop, hgmma(), uop, hgmma(last=True), depbar(0), Inst("NOP"), EXIT]
    r, kt, _ = simulate(tmp_path, prog, gpu=H100, arch="sm_90", sass=False, overrides=PERFECT_ICACHE)
    commits = [bool(r.st[s, core.S_FLAGS] & core.F_GMMA_COMMIT) for s in (1, 3, 5, 7)]
    assert commits == [False, False, False, True]
    t = issue_cycles(r, kt)
    assert t[7] - t[1] <= 8
    assert t[9] - t[1] == 2 + 4 * ii + lat + 1


# ------------------------------------------------------------------ throughput

def test_dense_hgmma_stream_reaches_the_measured_h100_wgmma_rate(tmp_path):
    """Rule: a dense stream of HGMMA.64x256x16.F32 groups (4 k-steps, wait_group 1) from one warpgroup
    keeps the 4 tensor pipes of the SM busy: 132 SMs x 1980 MHz x the simulated FMA/clk gives the
    measured 901.9 TFLOPS on random operands (research/hw_ground_truth.csv HW032's conditions; 976.6 on zero
    operands) within 10%, and never more than the configured rate."""
    groups = 16
    body = []
    for _ in range(groups):
        body += [ARRIVE, hgmma(), hgmma(), hgmma(), hgmma(last=True), depbar(1)]
    prog = body + [depbar(0), Inst("NOP"), EXIT]
    r, kt, _ = _run(tmp_path, prog, warps_per_cta=4)
    cfg = load_config(H100)
    first = min(int(issue_cycles(r, kt, w)[1]) for w in range(4))
    done = max(int(issue_cycles(r, kt, w)[len(prog) - 2]) for w in range(4))  # the NOP after the last wait
    flops = 2 * groups * 4 * 64 * 256 * 16
    tflops = flops / (done - first) * cfg.sm.count * cfg.sm.clock_hz / 1e12
    assert tflops == pytest.approx(901.9, rel=0.10), tflops
    ii, _ = pipe_timing(cfg)
    assert tflops <= 2 * 4 * 16 * 256 * 16 / ii * cfg.sm.count * cfg.sm.clock_hz / 1e12 * 1.001


def test_wait_group_0_after_every_group_of_one_warpgroup_leaves_the_pipe_idle_for_the_latency(tmp_path):
    """Rule: with wait_group 0 after each group a single warpgroup cannot overlap its groups: each group
    costs its pipe time plus one latency (and the wait/issue overhead), so it stays below the dense rate."""
    ii, lat = pipe_timing(load_config(H100))
    groups = 8
    body = []
    for _ in range(groups):
        body += [ARRIVE, hgmma(), hgmma(), hgmma(), hgmma(last=True), depbar(0)]
    prog = body + [Inst("NOP"), EXIT]
    r, kt, _ = _run(tmp_path, prog, warps_per_cta=4)
    t = issue_cycles(r, kt, 0)
    per_group = (t[len(prog) - 2] - t[1]) / groups
    assert per_group >= 4 * ii + lat


# ------------------------------------------------------------------ our sm_90a GEMM listing

def test_gemm_wgmma_listing_runs_with_async_mma_and_keeps_one_group_in_flight():
    """Rule: the real TMA + wgmma GEMM (traces/kernels, gemm_f16_tn_wgmma_64x128x64_s4: wait_group 1 at
    every 64-wide K stage, so one group stays in flight, and wait_group 0 after the loop; 2 CTAs of one
    warpgroup per SM) runs; its HGMMAs are asynchronous (the wait is charged at the instruction after
    WARPGROUP.DEPBAR), the per-stage wait is shorter than one MMA latency (the previous stage's group ran
    while this one was issued) while the final wait_group 0 waits at least one latency, and one SM reaches
    between 45% of the configured wgmma peak and the shared-memory bound: per 64-wide stage a CTA's TMA
    writes 24 KiB (A 64x64, B 128x64 halves) and its 4 SS HGMMA.64x128x16 read 24 KiB (4 x (2 + 4) KiB)
    through the 128 B/clk path, 384 cycles against 280 of MMA, so at most 280/384 = 73% (configs/README.md,
    "Warpgroup MMA"; before the operand reads were charged the floor was 60%, with no such ceiling)."""
    from gpusim import assemble
    from gpusim.frontend.reader import intern_opcodes
    from gpusim.llm import kernels as K

    cfg = load_config(H100, ["sm.count=1"])
    M, N, Kd = 128, 256, 1024
    # the one-warpgroup kernel by name (gemm_wgmma's default is now a warp-specialised kernel)
    call = K.gemm_wgmma(M, N, Kd, *(0x7F0000000000 + i * (1 << 32) for i in range(3)), tile="64x128")
    kt = call.trace()
    intern_opcodes(kt)
    r = assemble.pack(cfg, kt, call.kernel.function, log=True)
    _, cycles, _ = assemble.run(r, kt)
    ii, lat = pipe_timing(cfg, 128)  # the kernel's HGMMA.64x128x16.F32: peak = 4 sub-cores x (16*128*16) / ii
    util = M * N * Kd / cycles / (4 * 16 * 128 * 16 / ii)
    stage_bytes = (64 * 64 + 128 * 64) * 2 + 4 * (64 * 16 + 128 * 16) * 2
    smem_bound = 4 * ii / (stage_bytes / cfg.memory.l1_bytes_per_cycle)
    assert 0.45 <= util <= smem_bound, (util, smem_bound)
    # asynchronous: a warp issues the 4 k-step HGMMAs of a stage within less than 3 pipe intervals (a
    # synchronous MMA would hold the 4th behind the 3 before it).  Single gaps may exceed one interval when
    # the other CTA's warp on the sub-core issues its own stage in between (greedy scheduler; since the
    # operand reads were charged, the two CTAs' stages line up), so the check is on the stage's spread
    a, b = kt.warp_inst_ptr[0], kt.warp_inst_ptr[1]
    ops = [kt.st_opcode[s] for s in kt.inst_static[a:b]]
    t_mma = np.array([r.issue_log[a + k] for k, o in enumerate(ops) if o.startswith("HGMMA")])
    assert t_mma.size == 4 * (Kd // 64)
    spread = t_mma.reshape(-1, 4)
    assert np.all(spread[:, 3] - spread[:, 0] < 3 * ii)
    # ... the waits at WARPGROUP.DEPBAR are charged at the instruction after it: the in-loop
    # DEPBAR.LE gsb0, 1 (once per stage) waits less than one latency, the final DEPBAR.LE gsb0, 0 (the
    # listing's last DEPBAR, once per warp) at least one
    dep = sorted((s for s in range(len(kt.st_opcode)) if kt.st_opcode[s].startswith("WARPGROUP.DEPBAR")),
                 key=lambda s: kt.st_pc[s])
    wait = {s: int(r.pc_stats[int(np.flatnonzero(kt.st_pc == kt.st_pc[s] + 16)[0]), 1 + core.R_WAIT]) for s in dep}
    loop, final = dep[:-1], dep[-1]
    stages = sum(int(r.pc_stats[s, 0]) for s in loop)
    assert stages == kt.num_warps * (Kd // 64) and int(r.pc_stats[final, 0]) == kt.num_warps
    assert sum(wait[s] for s in loop) / stages < lat
    assert wait[final] / kt.num_warps >= lat


# ------------------------------------------------------------------ BAR.ARV (warp-specialised kernels)

def _two_role_kernel(tmp_path, producer_len):
    """Warp 0 (producer): BAR.ARV, then ``producer_len`` dependent FFMAs, EXIT.  Warp 1 (consumer):
    BAR.SYNC, NOP, EXIT.  One SASS listing, a different instruction stream per warp (the trace of
    gpusim.frontend.microasm with warp 1's lines replaced)."""
    from gpusim.frontend.microasm import build

    prog = [Inst("BAR.ARV 0x1, 0x40", stall=1)] + [Inst("FFMA R2, R2, R4, R2", stall=4)] * producer_len + \
        [Inst("BAR.SYNC.DEFER_BLOCKING 0x1, 0x40", stall=1), Inst("NOP"), EXIT]
    d = build(prog, tmp_path / f"arv{producer_len}", warps_per_cta=2, arch="sm_90")
    tr = d / "kernel-1.traceg"
    text = tr.read_text()
    head, w0, w1 = text.split("warp = ")
    lines0 = w0.split("\n")
    insts = [ln for ln in lines0[2:] if ln.strip()]
    bar_sync, nop, exit_ = insts[-3], insts[-2], insts[-1]
    producer = insts[:1 + producer_len] + [exit_]
    consumer = [bar_sync, nop, exit_]
    tail = w1[w1.index("#END_TB"):]
    tr.write_text(head + f"warp = 0\ninsts = {len(producer)}\n" + "\n".join(producer) + "\n\n" +
                  f"warp = 1\ninsts = {len(consumer)}\n" + "\n".join(consumer) + "\n\n" + tail)
    cfg = load_config(H100, PERFECT_ICACHE)
    r, kt, _ = run_folder(d, cfg)
    return issue_cycles(r, kt, 0), issue_cycles(r, kt, 1)


def test_bar_arv_counts_the_arrival_without_waiting(tmp_path):
    """Rule: BAR.ARV (barrier.arrive) releases its share of the barrier count and does not block: the
    producer goes on at once, and the consumer waiting at BAR.SYNC is released as soon as both warps
    have arrived, long before the producer exits (an exited warp would also count, MGC-style)."""
    t0, t1 = _two_role_kernel(tmp_path, producer_len=40)
    assert t0[1] - t0[0] == 1                 # the producer did not wait at BAR.ARV
    assert t1[1] - max(t0[0], t1[0]) <= 4     # the consumer's NOP right after both arrivals
    assert t1[1] < t0[-1] - 100               # ... not at the producer's EXIT (40 FFMAs x 4 cycles later)

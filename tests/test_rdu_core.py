"""Rules of the RDU section simulator (gpusim/accel/rdu/des.py via ir.simulate).

Each test builds a small section by hand, so the expected cycle counts follow from the firing
rules in the module doc: bounded FIFOs with credits, tiles costing their service time, memory
channels shared first-come first-served, deadlock detection, stall attribution.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.accel.rdu import des
from gpusim.accel.rdu.ir import Channel, Section, Stage, simulate

CH = [Channel("hbm", 1000 * 100, 0)]          # 100 B/cycle, no latency


def _chain(n: int, iis: list[int], depth: int, lat: int = 0) -> Section:
    sec = Section("chain")
    ids = [sec.add(Stage(f"s{k}", des.K_SIMD, n, ii=ii)) for k, ii in enumerate(iis)]
    for a, b in zip(ids, ids[1:]):
        sec.connect(a, b, cap=depth, ntok=n, lat=lat)
    return sec


def test_pipeline_throughput_is_set_by_the_slowest_stage():
    """Rule: a pipeline of stages joined by FIFOs of depth >= 2 finishes n tiles in
    (sum of service times of one tile) + (n - 1) x (largest service time)."""
    r = simulate(_chain(100, [3, 7, 2], depth=4), CH)
    assert r.ok
    assert r.cycles == (3 + 7 + 2) + 99 * 7


def test_a_one_slot_fifo_serialises_producer_and_consumer_through_its_credit():
    """Rule: with one credit the producer may not start tile i+1 before the consumer has taken tile i,
    so a 2-stage chain of service times a, b takes n x max(a, b) + min(a, b) only with >= 2 slots; with
    one slot and a credit-return latency h it takes longer (each tile waits for the credit)."""
    deep = simulate(_chain(50, [5, 5], depth=2), CH).cycles
    shallow = simulate(_chain(50, [5, 5], depth=1, lat=3), CH).cycles
    assert deep == 5 + 50 * 5
    # one slot: producer tile i+1 can start only when tile i was taken (at its arrival, t+5+3) plus the
    # credit's return (3 cycles): period = 5 + 3 + 3 = 11 cycles
    assert shallow == 49 * 11 + 5 + 3 + 5


def test_memory_channel_is_shared_first_come_first_served():
    """Rule: two loads of 1000 B each on one 100 B/cycle channel, requested at cycle 0, take 10 cycles
    each back to back: the second is memory-bound for 10 cycles and both are done at cycle 20."""
    sec = Section("fcfs")
    a = sec.add(Stage("load a", des.K_LOAD, 1, chan=0, xfer=1000))
    b = sec.add(Stage("load b", des.K_LOAD, 1, chan=0, xfer=1000))
    r = simulate(sec, CH)
    assert r.cycles == 20
    assert r.stats[a, des.S_BUSY] == 10 and r.stats[a, des.S_MEMORY] == 0
    assert r.stats[b, des.S_MEMORY] == 10 and r.stats[b, des.S_BUSY] == 10
    assert r.ch_bytes[0] == 2000 and r.ch_busy[0] == 20


def test_each_tile_costs_the_max_of_its_compute_and_bandwidth_time():
    """Rule: a load stage with an AGCU limit of ii cycles per tile is busy max(ii, bytes / channel rate)."""
    sec = Section("max")
    sec.add(Stage("slow agcu", des.K_LOAD, 4, chan=0, xfer=500, ii=20))   # channel 5 cycles, AGCU 20
    r = simulate(sec, CH)
    assert r.cycles == 4 * 20


def test_undersized_bypass_buffer_deadlocks_and_is_reported():
    """Rule: a fork-join where one branch consumes the whole tensor before emitting (a reduction over
    chunks) needs the bypass FIFO to hold every chunk; with fewer slots the fork blocks on the full
    bypass while the reduction waits for the next chunk: no stage can fire -> deadlock, naming the
    full stream.  With enough slots the same section finishes."""
    def fork_join(bypass_depth: int) -> Section:
        sec = Section("rmsnorm over chunks")
        src = sec.add(Stage("src", des.K_SIMD, 8, ii=1))
        red = sec.add(Stage("sumsq", des.K_SIMD, 8, ii=1))
        nrm = sec.add(Stage("normalise", des.K_SIMD, 8, ii=1))
        sec.connect(src, red, cap=4, ntok=8)
        sec.connect(src, nrm, cap=bypass_depth, ntok=8, name="bypass")
        sec.connect(red, nrm, cap=1, ntok=1, pe=8, ce=8, name="statistic")
        return sec

    bad = simulate(fork_join(4), CH)
    assert bad.status == des.ST_DEADLOCK
    assert "deadlock" in bad.deadlock and "'bypass' is full (4 tiles)" in bad.deadlock
    assert "undersized buffers: bypass" in bad.deadlock
    good = simulate(fork_join(8), CH)
    assert good.ok and good.done.sum() == 24


def test_stall_attribution_partitions_every_cycle_and_names_the_cause():
    """Rule: for every stage busy + input_starved + output_blocked + memory_bound + finished = section
    cycles; a stage behind a slow producer is input-starved, a stage in front of a slow consumer is
    output-blocked, a load waiting for a busy channel is memory-bound."""
    sec = Section("stalls")
    ld = sec.add(Stage("load", des.K_LOAD, 20, chan=0, xfer=300))        # 3 cycles per tile
    fast = sec.add(Stage("fast", des.K_SIMD, 20, ii=1))
    slow = sec.add(Stage("slow", des.K_SIMD, 20, ii=10))
    other = sec.add(Stage("other load", des.K_LOAD, 5, chan=0, xfer=1000))
    sec.connect(ld, fast, cap=2, ntok=20)
    sec.connect(fast, slow, cap=2, ntok=20)
    r = simulate(sec, CH)
    assert r.ok
    assert np.all(r.stats.sum(axis=1) == r.cycles)
    assert r.stats[fast, des.S_OUTPUT] > r.stats[fast, des.S_BUSY]          # blocked by the slow stage
    assert r.stats[slow, des.S_INPUT] < r.stats[slow, des.S_BUSY]
    assert r.stats[ld, des.S_MEMORY] + r.stats[other, des.S_MEMORY] > 0     # the channel was contended


def test_simulation_is_deterministic():
    """Rule: equal inputs give bit-identical results (ties go to the lower stage index)."""
    sec = _chain(64, [4, 4, 4], depth=2)
    a, b = simulate(sec, CH), simulate(sec, CH)
    assert a.cycles == b.cycles and np.array_equal(a.stats, b.stats)


def test_loop_carried_tokens_let_trip_two_overlap_only_where_the_dependence_allows():
    """Rule: with trips = 2 and a loop-carried edge (one initial token) from the last stage back to the
    first, trip 2 may not start its first stage before trip 1 finished its last; independent stages
    (a weight load) run ahead into trip 2."""
    sec = Section("loop")
    w = sec.add(Stage("weights", des.K_LOAD, 4, chan=0, xfer=1000))       # 10 cycles per tile
    first = sec.add(Stage("first", des.K_SIMD, 1, ii=5))
    mm = sec.add(Stage("gemm", des.K_SYSTOLIC, 4, ii=2))
    last = sec.add(Stage("last", des.K_SIMD, 1, ii=5))
    sec.connect(w, mm, cap=8, ntok=4)
    sec.connect(first, mm, cap=2, ntok=1, ce=4)
    sec.connect(mm, last, cap=2, ntok=1, pe=4)
    sec.connect(last, first, cap=2, ntok=1, init=1, name="loop")
    one, two = simulate(sec, CH, 1), simulate(sec, CH, 2)
    assert one.ok and two.ok
    assert one.cycles == 40 + 2 + 5           # loads bound: last tile at 40, gemm 2, last 5
    assert two.cycles < 2 * one.cycles        # trip 2's loads overlapped trip 1's compute
    assert two.cycles >= 80 + 2 + 5           # ...but the channel still moves 8 tiles


def test_token_balance_is_checked_before_simulating():
    """Rule: a stream whose producer cannot emit ntok tokens per trip is a lowering bug, refused."""
    sec = Section("bad")
    a = sec.add(Stage("a", des.K_SIMD, 2))
    b = sec.add(Stage("b", des.K_SIMD, 4))
    sec.connect(a, b, cap=2, ntok=4)
    with pytest.raises(ValueError, match="emits 2"):
        simulate(sec, CH)

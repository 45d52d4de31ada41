"""Section simulator: a discrete-event model of one fused kernel ("section") on one RDU socket.

A section is a graph of *stages* (PCU compute, PMU buffers, AGCU loads/stores, P2P transfers)
joined by *streams*: bounded FIFOs whose slots are credits.  Time is integer cycles of the RDU
clock and advances from event to event (cost grows with tiles, not cycles).  Rules, one per
firing of stage ``s`` (per-trip firing index ``i``):

* **inputs** — on stream ``e`` into ``s`` the firing needs one token when ``i % ce == 0`` and
  ``i // ce < ntok`` (``ce`` consumer firings per token, ``ntok`` tokens per trip); the token must
  have *arrived* (its ready time <= t).
* **outputs** — on stream ``e`` out of ``s`` the firing emits one token when ``(i+1) % pe == 0``
  and ``(i+1) // pe <= ntok``; it needs a free slot (a credit) whose return time <= t.  A slot
  freed by the consumer at ``t`` is back at the producer at ``t + hop latency``.
* **service** — compute stages are busy ``ii`` cycles (the max of their compute and bandwidth
  terms, worked out by the lowering); memory and P2P stages take their channel first-come
  first-served: ``start = max(t, channel free)``, the channel is held ``ceil(bytes / rate)``
  cycles and the data arrives after the channel's latency.  Outputs arrive ``lat`` cycles (plus
  the stream's hop latency) after the service ends.
* **order** — the enabled firing with the smallest start time goes first; ties go to the lower
  stage index (deterministic).
* **deadlock** — no stage can fire and some have firings left: the section reports a deadlock
  (undersized buffers or a cyclic wait) with the cycle it happened at.
* **stall attribution** — every cycle of every stage is one of: busy, input-starved (waiting for
  a token), output-blocked (waiting for a credit), memory-bound (waiting for its memory channel),
  finished (after its last firing until the section ends).

``trips`` repeats the whole section (kernel looping): a stage fires ``n_fire * trips`` times
and streams count tokens per trip; ``init`` tokens sit in a stream at cycle 0 (loop-carried
dependences).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = [
    "K_LOAD", "K_STORE", "K_SYSTOLIC", "K_SIMD", "K_PMU", "K_P2P", "KIND_NAMES",
    "S_BUSY", "S_INPUT", "S_OUTPUT", "S_MEMORY", "S_FINISHED", "STALL_NAMES",
    "ST_OK", "ST_DEADLOCK", "run_section",
]

# stage kinds (int codes crossing into the core)
K_LOAD = 0       # AGCU load from a memory channel (HBM, DDR)
K_STORE = 1      # AGCU store to a memory channel
K_SYSTOLIC = 2   # PCU(s) as output-stationary systolic arrays
K_SIMD = 3       # PCU(s) as pipelined SIMD cores (element-wise, reductions)
K_PMU = 4        # PMU buffer stage (transpose / re-layout as an access pattern)
K_P2P = 5        # peer-to-peer transfer to other sockets (collective step)
KIND_NAMES = ("ag_load", "ag_store", "pcu_systolic", "pcu_simd", "pmu_buffer", "p2p")

# stall categories (columns of the per-stage statistics)
S_BUSY = 0
S_INPUT = 1
S_OUTPUT = 2
S_MEMORY = 3
S_FINISHED = 4
STALL_NAMES = ("busy", "input_starved", "output_blocked", "memory_bound", "finished")

ST_OK = 0
ST_DEADLOCK = 1

_INF = np.int64(2**62)


@njit(cache=True)
def _candidate(s, now, n_fire, busy_until, done, in_ptr, in_idx, out_ptr, out_idx,
               e_cap, e_ntok, e_pe, e_ce, e_init, e_off, e_prod, e_cons, ready, free, tio):
    """Earliest cycle stage ``s`` can fire (or _INF); tio[0], tio[1] get the input/output bounds."""
    i = done[s] % n_fire[s]
    t_in = np.int64(0)
    t_out = np.int64(0)
    for k in range(in_ptr[s], in_ptr[s + 1]):
        e = in_idx[k]
        if i % e_ce[e] == 0 and i // e_ce[e] < e_ntok[e]:
            if e_init[e] + e_prod[e] - e_cons[e] < 1:
                return _INF
            r = ready[e_off[e] + e_cons[e] % e_cap[e]]
            if r > t_in:
                t_in = r
    for k in range(out_ptr[s], out_ptr[s + 1]):
        e = out_idx[k]
        if (i + 1) % e_pe[e] == 0 and (i + 1) // e_pe[e] <= e_ntok[e]:
            if e_init[e] + e_prod[e] - e_cons[e] >= e_cap[e]:
                return _INF
            f = free[e_off[e] + (e_init[e] + e_prod[e]) % e_cap[e]]
            if f > t_out:
                t_out = f
    t = busy_until[s]
    if t_in > t:
        t = t_in
    if t_out > t:
        t = t_out
    if now > t:
        t = now
    tio[0] = t_in
    tio[1] = t_out
    return t


class Stages(NamedTuple):
    """Per stage (int64 arrays of S): unit kind (K_*), firings per trip, initiation interval, latency,
    memory channel and bytes moved per firing."""
    kind: np.ndarray
    n_fire: np.ndarray
    ii: np.ndarray
    lat: np.ndarray
    chan: np.ndarray
    xfer: np.ndarray


class Streams(NamedTuple):
    """Per stream (int64 arrays of E): producer and consumer stage, buffer capacity (tokens), tokens per
    trip, tokens per producer / consumer firing, tokens present at the start and transfer latency; then
    the CSR lists of each stage's input and output streams."""
    src: np.ndarray
    dst: np.ndarray
    cap: np.ndarray
    ntok: np.ndarray
    pe: np.ndarray
    ce: np.ndarray
    init: np.ndarray
    lat: np.ndarray
    in_ptr: np.ndarray
    in_idx: np.ndarray
    out_ptr: np.ndarray
    out_idx: np.ndarray


class Channels(NamedTuple):
    """Per memory channel (int64 arrays of C): bytes per 1000 cycles (exact integer rates) and latency."""
    rate_milli: np.ndarray
    lat: np.ndarray


@njit(cache=True)
def run_section(st, sm, ch, trips):
    """Simulate one section (``st``: :class:`Stages`, ``sm``: :class:`Streams`, ``ch``: :class:`Channels`)
    ``trips`` times; returns (status, end_cycle, stats[S,5], first[S], last[S], done[S], ch_busy[C],
    ch_bytes[C], e_prod[E], e_cons[E])."""
    kind, n_fire, ii, lat, chan, xfer = st
    e_src, e_dst, e_cap, e_ntok, e_pe, e_ce, e_init, e_lat, in_ptr, in_idx, out_ptr, out_idx = sm
    ch_rate_milli, ch_lat = ch
    S = kind.shape[0]
    E = e_src.shape[0]
    C = ch_rate_milli.shape[0]
    e_off = np.zeros(E + 1, dtype=np.int64)
    for e in range(E):
        e_off[e + 1] = e_off[e] + e_cap[e]
    ready = np.zeros(e_off[E] + 1, dtype=np.int64)
    free = np.zeros(e_off[E] + 1, dtype=np.int64)
    e_prod = np.zeros(E, dtype=np.int64)
    e_cons = np.zeros(E, dtype=np.int64)
    busy_until = np.zeros(S, dtype=np.int64)
    done = np.zeros(S, dtype=np.int64)
    first = np.full(S, -1, dtype=np.int64)
    last = np.zeros(S, dtype=np.int64)
    stats = np.zeros((S, 5), dtype=np.int64)
    ch_free = np.zeros(C, dtype=np.int64)
    ch_busy = np.zeros(C, dtype=np.int64)
    ch_bytes = np.zeros(C, dtype=np.int64)
    total = np.zeros(S, dtype=np.int64)
    remaining = np.int64(0)
    for s in range(S):
        total[s] = n_fire[s] * trips
        remaining += total[s]
    tio = np.zeros(2, dtype=np.int64)
    best_io = np.zeros(2, dtype=np.int64)
    now = np.int64(0)
    end = np.int64(0)
    status = ST_OK
    while remaining > 0:
        best = -1
        best_t = _INF
        for s in range(S):
            if done[s] >= total[s]:
                continue
            t = _candidate(s, now, n_fire, busy_until, done, in_ptr, in_idx, out_ptr, out_idx,
                           e_cap, e_ntok, e_pe, e_ce, e_init, e_off, e_prod, e_cons, ready, free, tio)
            if t < best_t:
                best_t = t
                best = s
                best_io[0] = tio[0]
                best_io[1] = tio[1]
        if best < 0:
            status = ST_DEADLOCK
            break
        s = best
        t = best_t
        now = t
        # stall attribution of the gap since this stage was last free
        gap = t - busy_until[s]
        if gap > 0:
            if best_io[1] > best_io[0] and best_io[1] > busy_until[s]:
                stats[s, S_OUTPUT] += gap
            else:
                stats[s, S_INPUT] += gap
        k = kind[s]
        if k == K_LOAD or k == K_STORE or k == K_P2P:
            c = chan[s]
            start = t
            if ch_free[c] > start:
                start = ch_free[c]
            x = (xfer[s] * 1000 + ch_rate_milli[c] - 1) // ch_rate_milli[c]
            ch_free[c] = start + x
            ch_busy[c] += x
            ch_bytes[c] += xfer[s]
            fin = start + x
            if t + ii[s] > fin:
                fin = t + ii[s]
            stats[s, S_MEMORY] += start - t
            stats[s, S_BUSY] += fin - start
            arrive = fin + ch_lat[c] + lat[s]
        else:
            fin = t + ii[s]
            stats[s, S_BUSY] += ii[s]
            arrive = fin + lat[s]
        i = done[s] % n_fire[s]
        for kk in range(in_ptr[s], in_ptr[s + 1]):
            e = in_idx[kk]
            if i % e_ce[e] == 0 and i // e_ce[e] < e_ntok[e]:
                free[e_off[e] + e_cons[e] % e_cap[e]] = t + e_lat[e]
                e_cons[e] += 1
        for kk in range(out_ptr[s], out_ptr[s + 1]):
            e = out_idx[kk]
            if (i + 1) % e_pe[e] == 0 and (i + 1) // e_pe[e] <= e_ntok[e]:
                ready[e_off[e] + (e_init[e] + e_prod[e]) % e_cap[e]] = arrive + e_lat[e]
                e_prod[e] += 1
        if first[s] < 0:
            first[s] = t
        busy_until[s] = fin
        last[s] = arrive
        done[s] += 1
        remaining -= 1
        if arrive > end:
            end = arrive
    if status == ST_DEADLOCK:
        end = now
    for s in range(S):
        tail = end - busy_until[s]
        if tail > 0:
            if done[s] >= total[s]:
                stats[s, S_FINISHED] += tail
            else:
                stats[s, S_INPUT] += tail
    return status, end, stats, first, last, done, ch_busy, ch_bytes, e_prod, e_cons

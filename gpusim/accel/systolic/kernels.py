"""Numba kernels of the SCALE-Sim-compatible memory model (``--memory scalesim``).

These reproduce, in integer arithmetic, the double-buffered SRAM / DRAM-port model of SCALE-Sim
3.0.0 (``scalesim/memory/{read_buffer,read_buffer_estimate_bw,write_buffer}.py`` and
``double_buffered_scratchpad_mem.py``) as digested in ``research/scalesim-model.md`` §5.5, quirks
included (docs/systolic.md lists them).  No demand or trace matrices are built: each demand row
(one stall-free cycle) is described by closed forms of the fold geometry, see
:func:`_request` and :func:`_ofmap_count`.

Vocabulary (SCALE-Sim's, ``research/scalesim-model.md`` §5.2):

* dataflow codes ``DF_OS = 0``, ``DF_WS = 1``, ``DF_IS = 2``;
* ``M`` ofmap pixels (GEMM M), ``N`` filters (GEMM N), ``K`` window (GEMM K);
* the array has ``R`` rows and ``C`` columns; row folds ``Fr``, column folds ``Fc``, iterated
  column-fold outer, row-fold inner; ``ur``/``uc`` the used rows/columns of one fold;
* a *prefetch matrix* ``P`` (one per read operand) is the order in which SCALE-Sim fetches an
  operand from DRAM: ``Fb`` blocks of ``H`` rows by ``Wd`` columns, the last block has only
  ``u_last`` valid columns, flattened either along anti-diagonals (``FLAT_DIAG``) or row-major
  (``FLAT_ROWS``).  Every operand element appears in ``P`` exactly once.
* a demand row asks one read operand for a contiguous run of ``P`` positions: columns
  ``lo..hi`` of one anti-diagonal or one row (``line``).

An operand is either *structured* (GEMM, or a convolution whose im2col matrix has neither
repeated nor out-of-image addresses: the rank of a position among the valid ones is a closed
form) or *explicit* (the rank-to-address map is given as arrays, and an address may live in
several SRAM sets).  Both give identical results where both apply (tests/test_systolic_kernels.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

DF_OS = 0
DF_WS = 1
DF_IS = 2

FLAT_DIAG = 1
FLAT_ROWS = 2

# SCALE-Sim's fixed timing constants (scalesim/memory/read_buffer.py, read_port.py, write_port.py,
# double_buffered_scratchpad_mem.py): SRAM hit latency 1 cycle, DRAM read latency 1 cycle,
# DRAM write latency 0 cycles, 100 SRAM "sets" per buffer in both the USER and the CALC model,
# CALC mode's first-fill read bandwidth 10 words/cycle (single_layer_sim.py).
HIT_LATENCY = 1
DRAM_READ_LATENCY = 1
SETS_PER_BUFFER = 100
CALC_FIRST_FILL_BW = 10

# Result vector layout of the kernels (int64); read by gpusim/accel/systolic/scalesim_mode.py.
RES_TOTAL = 0             # int(max OFMAP serviced cycle)
RES_STALL = 1             # sum of per-row stalls
RES_ROWS = 2              # demand rows (stall-free cycles)
RES_I_SRAM_START = 3      # serviced cycle of the first / last row with an IFMAP request
RES_I_SRAM_STOP = 4
RES_F_SRAM_START = 5
RES_F_SRAM_STOP = 6
RES_O_SRAM_START = 7
RES_O_SRAM_STOP = 8
RES_I_DRAM_START = 9
RES_I_DRAM_STOP = 10
RES_I_DRAM_READS = 11
RES_F_DRAM_START = 12
RES_F_DRAM_STOP = 13
RES_F_DRAM_READS = 14
RES_O_DRAM_START = 15
RES_O_DRAM_STOP = 16
RES_O_DRAM_WRITES = 17
RES_I_PREFETCHES = 18     # USER mode: number of window moves (new_prefetch calls)
RES_F_PREFETCHES = 19
RES_LEN = 20

# Read-operand parameter vector (int64) for the USER-mode kernel.
RP_FLAT = 0      # FLAT_DIAG or FLAT_ROWS
RP_FB = 1        # blocks in P
RP_H = 2         # rows per block
RP_WD = 3        # columns of P
RP_ULAST = 4     # valid columns of the last block
RP_E = 5         # elements per SRAM set, ceil(W / 100)
RP_L = 6         # number of sets, (valid elements // e) + 1
RP_A = 7         # sets in the active window
RP_P = 8         # sets the window moves per prefetch
RP_NPRE = 9      # DRAM lines per prefetch, ceil(prefetch_size / bw)
RP_NINIT = 10    # DRAM lines of the initial fill
RP_BW = 11       # words per DRAM line (the port bandwidth)
RP_EXPLICIT = 12  # 1: use the explicit address arrays
RP_LEN = 13

# Write-buffer parameter vector.
WP_TOTAL = 0     # SRAM words
WP_ACTIVE = 1    # ceil(0.5 * total)
WP_DRAIN = 2     # total - active
WP_BW = 3        # words per DRAM line
WP_LEN = 4


# ------------------------------------------------------------------------------------------------
# Fold geometry: which P positions and how many OFMAP words a demand row touches.


@njit(cache=True)
def _request(df, is_filter, t, fr, fc, ur, uc, R, T, K):
    """(kind, line, lo, hi) of the read request of fold row ``t``; kind 0 = none.

    ``T`` is the temporal dimension (OS: K, WS: M, IS: N), ``K`` the window (rows of the
    row-major P matrices).  research/scalesim-model.md §5.3 gives the demand matrices.
    """
    if df == DF_OS:
        lo = t - T + 1
        if lo < 0:
            lo = 0
        hi = t
        lim = (uc if is_filter else ur) - 1
        if hi > lim:
            hi = lim
        line = (fc if is_filter else fr) * T + t
        if lo <= hi:
            return FLAT_DIAG, line, lo, hi
        return 0, 0, 0, -1
    # WS filter and IS ifmap: the R x C block, rows flipped, one block row per cycle, no skew.
    if (df == DF_WS and is_filter) or (df == DF_IS and not is_filter):
        if t < R and t >= R - ur:
            return FLAT_ROWS, fc * K + fr * R + (R - 1 - t), 0, uc - 1
        return 0, 0, 0, -1
    # WS ifmap and IS filter: R idle rows, then T rows skewed across the R ports.
    lo = t - R - T + 1
    if lo < 0:
        lo = 0
    hi = t - R
    if hi > ur - 1:
        hi = ur - 1
    if lo <= hi:
        return FLAT_DIAG, fr * T + t - R, lo, hi
    return 0, 0, 0, -1


@njit(cache=True)
def _ofmap_count(df, t, ur, uc, R, T):
    """Valid OFMAP writes of fold row ``t`` (research/scalesim-model.md §5.3)."""
    if df == DF_OS:
        lo = t - T - R + 2
        hi = t - T - R + 1 + ur
    else:
        lo = t - 2 * R - T + 2
        hi = t - 2 * R + 1
    if lo < 0:
        lo = 0
    if hi > uc - 1:
        hi = uc - 1
    if hi < lo:
        return 0
    return hi - lo + 1


@njit(cache=True)
def diag_prefix(fb, h, wd, u_last):
    """``out[d]`` = valid entries of P on anti-diagonals ``< d``; ``out[nd]`` the total (int64)."""
    mrows = fb * h
    nd = mrows + wd - 1
    out = np.zeros(nd + 1, dtype=np.int64)
    rl = (fb - 1) * h
    acc = 0
    for d in range(nd):
        out[d] = acc
        cmin = d - mrows + 1
        if cmin < 0:
            cmin = 0
        cmax = d
        if cmax > wd - 1:
            cmax = wd - 1
        n = cmax - cmin + 1
        lo = cmin if cmin > u_last else u_last
        hi = cmax if cmax < d - rl else d - rl
        if hi >= lo:
            n -= hi - lo + 1
        acc += n
    out[nd] = acc
    return out


@njit(cache=True)
def diag_start(fb, h, wd):
    """``out[d]`` = position (valid or not) where anti-diagonal ``d`` starts in the flattened P."""
    mrows = fb * h
    nd = mrows + wd - 1
    out = np.zeros(nd + 1, dtype=np.int64)
    acc = 0
    for d in range(nd):
        out[d] = acc
        cmin = d - mrows + 1
        if cmin < 0:
            cmin = 0
        cmax = d
        if cmax > wd - 1:
            cmax = wd - 1
        acc += cmax - cmin + 1
    out[nd] = acc
    return out


@njit(cache=True)
def _rank(rp, vpre, line, col):
    """Rank among the valid entries of P (fetch order) of the entry at ``line``, ``col``."""
    fb = rp[RP_FB]
    h = rp[RP_H]
    wd = rp[RP_WD]
    u_last = rp[RP_ULAST]
    if rp[RP_FLAT] == FLAT_ROWS:
        b = line // h
        u = wd if b < fb - 1 else u_last
        return b * h * wd + (line - b * h) * u + col
    mrows = fb * h
    rl = (fb - 1) * h
    cmin = line - mrows + 1
    if cmin < 0:
        cmin = 0
    n = col - cmin
    lo = cmin if cmin > u_last else u_last
    hi = col - 1 if col - 1 < line - rl else line - rl
    if hi >= lo:
        n -= hi - lo + 1
    return vpre[line] + n


@njit(cache=True)
def _position(rp, dstart, line, col):
    """Position (counting invalid entries) in the flattened P of the entry at ``line``, ``col``."""
    if rp[RP_FLAT] == FLAT_ROWS:
        return line * rp[RP_WD] + col
    mrows = rp[RP_FB] * rp[RP_H]
    cmin = line - mrows + 1
    if cmin < 0:
        cmin = 0
    return dstart[line] + col - cmin


# ------------------------------------------------------------------------------------------------
# USER mode read buffer (scalesim/memory/read_buffer.py, non-layout branch).
#
# State vector rs (int64): [0] window start set, [1] prefetches done, [2] last prefetch cycle.


@njit(cache=True)
def _in_window(s, start, A, L):
    d = s - start
    if d < 0:
        d += L
    return d < A


@njit(cache=True)
def _miss_walk(rs, rp, x, s_list, s_lo, s_hi, single):
    """Move the window until a set of the address is in it; returns the new ``t + offset``.

    ``x`` is ``t + offset`` before.  SCALE-Sim's ``service_reads``: after each ``new_prefetch``,
    ``p = last_prefetch_cycle - (t + offset)``; ``offset += p``, and again ``+= p`` when ``p > 0``
    (positive slack counted twice, negative slack subtracted).  ``new_prefetch`` moves the window
    by P sets round the ring and finishes ``NPRE + 1`` cycles after the previous prefetch.
    """
    A = rp[RP_A]
    L = rp[RP_L]
    P = rp[RP_P]
    step = rp[RP_NPRE] + DRAM_READ_LATENCY
    while True:
        if single:
            hit = _in_window(s_lo, rs[0], A, L)
        else:
            hit = False
            for j in range(s_lo, s_hi):
                if _in_window(s_list[j], rs[0], A, L):
                    hit = True
                    break
        if hit:
            return x
        rs[0] = (rs[0] + P) % L
        rs[1] += 1
        rs[2] += step
        last = rs[2]
        if last > x:
            x = 2 * last - x
        else:
            x = last


@njit(cache=True)
def _serve_read(rs, rp, vpre, dstart, pos_aid, csr_ptr, csr_sets, t, line, lo, hi):
    """SCALE-Sim ``read_buffer.service_reads`` for one demand row; returns the serviced cycle."""
    x = t + HIT_LATENCY
    if rp[RP_A] >= rp[RP_L]:       # the whole operand fits in the active window: never a miss
        return x
    if rp[RP_EXPLICIT] == 0:
        e = rp[RP_E]
        r0 = _rank(rp, vpre, line, lo)
        s0 = r0 // e
        s1 = (r0 + hi - lo) // e
        for s in range(s0, s1 + 1):
            x = _miss_walk(rs, rp, x, csr_sets, s, s, True)
        return x
    for col in range(lo, hi + 1):
        aid = pos_aid[_position(rp, dstart, line, col)]
        if aid < 0:
            continue
        x = _miss_walk(rs, rp, x, csr_sets, csr_ptr[aid], csr_ptr[aid + 1], False)
    return x


# ------------------------------------------------------------------------------------------------
# Write buffer (scalesim/memory/write_buffer.py), shared by the USER and CALC modes.
#
# State vector ws (int64):
#   [0] free space (words)        [1] fill of the open line     [2] lines closed so far
#   [3] first line not yet drained [4] drain end cycle           [5] DRAM words written
#   [6] first drain start cycle (-1: none yet)                   [7] last drain end cycle
#   [8] FIFO head   [9] FIFO tail   (FIFO of forced partial lines: line id, valid words)


@njit(cache=True)
def _force_line(ws, fifo):
    """``append_to_trace_mat(force=True)``: close the open partial line (remember its fill)."""
    if ws[1] > 0:
        tail = ws[9]
        cap = fifo.shape[0]
        if tail - ws[8] >= cap:  # pragma: no cover - more pending partial lines than capacity
            raise RuntimeError("write-buffer FIFO overflow")
        fifo[tail % cap, 0] = ws[2]
        fifo[tail % cap, 1] = ws[1]
        ws[9] = tail + 1
        ws[2] += 1
        ws[1] = 0


@njit(cache=True)
def _drain(ws, wp, fifo, start_cycle):
    """``empty_drain_buf``: write the next lines from ``start_cycle``, one per cycle; returns the end."""
    bw = wp[WP_BW]
    want = (wp[WP_DRAIN] + bw - 1) // bw
    first = ws[3]
    end_line = first + want
    if end_line > ws[2]:
        end_line = ws[2]
    n = end_line - first
    last_line = end_line - 1
    words = n * bw
    cap = fifo.shape[0]
    # Only the padding of the *last* drained line is subtracted (SCALE-Sim quirk): partial lines
    # earlier in the range count as full.
    while ws[8] < ws[9] and fifo[ws[8] % cap, 0] < last_line:
        ws[8] += 1
    if ws[8] < ws[9] and fifo[ws[8] % cap, 0] == last_line:
        words -= bw - fifo[ws[8] % cap, 1]
        ws[8] += 1
    ws[5] += words
    ws[0] += words
    ws[3] = end_line
    end = start_cycle + n - 1
    if ws[7] < -(1 << 60):     # first drain of the layer
        ws[6] = start_cycle
    if end > ws[7]:            # drains may overlap: the final ones start before earlier ones end
        ws[7] = end
    return end


@njit(cache=True)
def _serve_write(ws, wp, fifo, t, n):
    """``write_buffer.service_writes`` for one demand row with ``n`` valid outputs; returns the
    serviced cycle.  Stores are grouped between the events (stall or drain) of the per-word loop."""
    cur = t
    bw = wp[WP_BW]
    active = wp[WP_TOTAL] - wp[WP_DRAIN]
    while n > 0:
        if cur < ws[4]:
            # Drain in flight: the store that leaves no free space stalls to the drain end.
            j = ws[0] if ws[0] >= 1 else 1
            if n < j:
                k = n
            else:
                k = j
            ws[0] -= k
            f = ws[1] + k
            ws[2] += f // bw
            ws[1] = f % bw
            n -= k
            if ws[0] <= 0:
                cur = ws[4]
        else:
            # Store until the free space drops below the active half, then drain from ``cur``.
            if ws[0] - 1 < active:
                j = 1
            else:
                j = ws[0] - active + 1
            k = n if n < j else j
            ws[0] -= k
            f = ws[1] + k
            ws[2] += f // bw
            ws[1] = f % bw
            n -= k
            if ws[0] < active:
                _force_line(ws, fifo)
                ws[4] = _drain(ws, wp, fifo, cur)
    return cur


@njit(cache=True)
def _empty_all(ws, wp, fifo, cycle):
    """``empty_all_buffers``: drain everything left back to back from ``cycle``."""
    _force_line(ws, fifo)
    while ws[3] < ws[2]:
        ws[4] = _drain(ws, wp, fifo, cycle)
        cycle = ws[4] + 1


def new_write_state():
    ws = np.zeros(10, dtype=np.int64)
    ws[6] = -1
    ws[7] = -(1 << 62)
    return ws


# ------------------------------------------------------------------------------------------------
# USER mode: the whole layer.


class ReadSide(NamedTuple):
    """One read operand (IFMAP or filter) of the USER-bandwidth simulation: its read parameters
    ``rp`` (RP_*), prefetch ranks ``vpre``, set starts ``dstart``, operand ids ``aid`` and the CSR
    (``ptr``, ``sets``) of the sets each id lives in."""
    rp: np.ndarray
    vpre: np.ndarray
    dstart: np.ndarray
    aid: np.ndarray
    ptr: np.ndarray
    sets: np.ndarray


class WriteSide(NamedTuple):
    """The OFMAP write side: write parameters ``wp``, state ``ws`` (:func:`new_write_state`, ``ws[0]`` =
    the OFMAP SRAM size) and the drain ``fifo``."""
    wp: np.ndarray
    ws: np.ndarray
    fifo: np.ndarray


class CalcSide(NamedTuple):
    """One read operand of the CALC-bandwidth simulation: ``rp``, set starts ``dstart``, operand ids
    ``aid``, its set table ``sets`` (int32, -1 filled) and entries per set ``e``."""
    rp: np.ndarray
    dstart: np.ndarray
    aid: np.ndarray
    sets: np.ndarray
    e: int


@njit(cache=True)
def simulate_user(df, R, C, M, N, K, ifmap, filt, out):
    """SCALE-Sim USER-bandwidth memory simulation of one layer (``ifmap``, ``filt``: :class:`ReadSide`;
    ``out``: :class:`WriteSide`); returns the RES_* vector."""
    rpi, vpre_i, dst_i, aid_i, ptr_i, sets_i = ifmap
    rpf, vpre_f, dst_f, aid_f, ptr_f, sets_f = filt
    wp, ws, fifo = out
    res = np.zeros(RES_LEN, dtype=np.int64)
    if df == DF_OS:
        Sr, Sc, T = M, N, K
        Lf = T + R + C - 2
    elif df == DF_WS:
        Sr, Sc, T = K, N, M
        Lf = 2 * R + C + T - 2
    else:
        Sr, Sc, T = K, M, N
        Lf = 2 * R + C + T - 2
    Fr = (Sr + R - 1) // R
    Fc = (Sc + C - 1) // C
    # Initial fill at the first request (row 0, cycle 0): lines end at cycle -1.
    rsi = np.zeros(3, dtype=np.int64)
    rsf = np.zeros(3, dtype=np.int64)
    rsi[2] = -1
    rsf[2] = -1
    stall = 0
    row = 0
    first_i = -1
    last_i = 0
    first_f = -1
    last_f = 0
    first_o = -1
    last_o = 0
    max_o = -(1 << 62)
    out_o = 0
    for fc in range(Fc):
        uc = Sc - fc * C
        if uc > C:
            uc = C
        for fr in range(Fr):
            ur = Sr - fr * R
            if ur > R:
                ur = R
            for t in range(Lf):
                tt = row + stall
                out_i = tt + HIT_LATENCY
                kind, line, lo, hi = _request(df, False, t, fr, fc, ur, uc, R, T, K)
                if kind != 0:
                    out_i = _serve_read(rsi, rpi, vpre_i, dst_i, aid_i, ptr_i, sets_i, tt, line, lo, hi)
                    if rpi[RP_EXPLICIT] == 0 or _any_valid(rpi, dst_i, aid_i, line, lo, hi):
                        if first_i < 0:
                            first_i = out_i
                        last_i = out_i
                out_f = tt + HIT_LATENCY
                kind, line, lo, hi = _request(df, True, t, fr, fc, ur, uc, R, T, K)
                if kind != 0:
                    out_f = _serve_read(rsf, rpf, vpre_f, dst_f, aid_f, ptr_f, sets_f, tt, line, lo, hi)
                    if rpf[RP_EXPLICIT] == 0 or _any_valid(rpf, dst_f, aid_f, line, lo, hi):
                        if first_f < 0:
                            first_f = out_f
                        last_f = out_f
                n_o = _ofmap_count(df, t, ur, uc, R, T)
                out_o = tt
                if n_o > 0:
                    out_o = _serve_write(ws, wp, fifo, tt, n_o)
                    if first_o < 0:
                        first_o = out_o
                    last_o = out_o
                if out_o > max_o:
                    max_o = out_o
                s = out_i - tt - HIT_LATENCY
                sf = out_f - tt - HIT_LATENCY
                if sf > s:
                    s = sf
                if out_o - tt > s:
                    s = out_o - tt
                stall += s
                row += 1
    _empty_all(ws, wp, fifo, out_o)  # from the last row's OFMAP serviced cycle
    res[RES_TOTAL] = max_o
    res[RES_STALL] = stall
    res[RES_ROWS] = row
    res[RES_I_SRAM_START] = first_i
    res[RES_I_SRAM_STOP] = last_i
    res[RES_F_SRAM_START] = first_f
    res[RES_F_SRAM_STOP] = last_f
    res[RES_O_SRAM_START] = first_o
    res[RES_O_SRAM_STOP] = last_o
    # Read DRAM traffic: the initial fill is issued at cycles -NINIT..-1; every prefetch requests
    # NPRE whole lines (addresses repeat; only counts and timing are meaningful).
    res[RES_I_DRAM_START] = -rpi[RP_NINIT]
    res[RES_I_DRAM_STOP] = rsi[2]
    res[RES_I_DRAM_READS] = (rpi[RP_NINIT] + rsi[1] * rpi[RP_NPRE]) * rpi[RP_BW]
    res[RES_F_DRAM_START] = -rpf[RP_NINIT]
    res[RES_F_DRAM_STOP] = rsf[2]
    res[RES_F_DRAM_READS] = (rpf[RP_NINIT] + rsf[1] * rpf[RP_NPRE]) * rpf[RP_BW]
    res[RES_O_DRAM_START] = ws[6]
    res[RES_O_DRAM_STOP] = ws[7]
    res[RES_O_DRAM_WRITES] = ws[5]
    res[RES_I_PREFETCHES] = rsi[1]
    res[RES_F_PREFETCHES] = rsf[1]
    return res


@njit(cache=True)
def _any_valid(rp, dstart, pos_aid, line, lo, hi):
    for col in range(lo, hi + 1):
        if pos_aid[_position(rp, dstart, line, col)] >= 0:
            return True
    return False


# ------------------------------------------------------------------------------------------------
# CALC mode read buffer (scalesim/memory/read_buffer_estimate_bw.py): reads never stall; SRAM
# "sets" of floor(W/100) distinct words are formed in demand order, and each time 50 sets have
# filled the bandwidth needed to have fetched them is recorded.  Only the DRAM read count and the
# first/last DRAM cycles reach the reports.
#
# State vector cs (int64):
#   [0] current set id       [1] words in the current set   [2] read window start set
#   [3] read window end set (inclusive)                      [4] prefetch window start set
#   [5] last prefetch start cycle   [6] last prefetch end cycle   [7] first request cycle
#   [8] first request seen   [9] active buffer prefetched   [10] DRAM words (all adds)
#   [11] first DRAM cycle (-inf: none)   [12] last DRAM cycle   [13] prefetches done
CS_LEN = 14
CALC_ACTIVE_SETS = SETS_PER_BUFFER // 2     # int(0.5 * 100): active_buf_frac = 0.5
CALC_PREFETCH_SETS = SETS_PER_BUFFER - CALC_ACTIVE_SETS


@njit(cache=True)
def _calc_record(cs, cycles_needed):
    """``prefetch()``: the trace rows answer at ``last_start + 1 .. last_end + 1``."""
    if cycles_needed <= 0:
        raise ValueError("CALC mode: two prefetch windows in one cycle (SCALE-Sim crashes here too)")
    if cs[11] < -(1 << 60):
        cs[11] = cs[5] + 1
    cs[12] = cs[6] + 1
    cs[13] += 1


@njit(cache=True)
def _calc_trigger(cs, cycle, e):
    """50 sets have filled since the window last moved: record a prefetch, move the window.

    Called with ``cs[0]`` (current set) already advanced to ``cs[3] + 1``.
    """
    if cs[9] == 0:
        cs[6] = cs[7] - 1 - DRAM_READ_LATENCY
        need = (CALC_PREFETCH_SETS * e + CALC_FIRST_FILL_BW - 1) // CALC_FIRST_FILL_BW
        cs[5] = cs[6] - need + 1
        _calc_record(cs, cs[6] - cs[5] + 1)
        cs[4] = cs[3] + 1
        cs[9] = 1
    else:
        _calc_record(cs, cs[6] - cs[5] + 1)
        cs[4] += CALC_PREFETCH_SETS
    cs[2] += CALC_PREFETCH_SETS
    cs[3] += CALC_PREFETCH_SETS
    cs[5] = cs[6] + 1
    cs[6] = cycle


@njit(cache=True)
def _calc_finish(cs, e):
    """``complete_all_prefetches`` at the end of the layer."""
    if cs[1] == 0:
        cs[0] -= 1
    if cs[9] == 0:
        cs[6] = -1 - DRAM_READ_LATENCY
        n_sets = cs[0] + 1
        need = (n_sets * e + CALC_FIRST_FILL_BW - 1) // CALC_FIRST_FILL_BW
        cs[5] = cs[6] - need + 1
        _calc_record(cs, cs[6] - cs[5] + 1)
        cs[9] = 1
    else:
        _calc_record(cs, cs[6] - cs[5] + 1)


@njit(cache=True)
def _calc_row(cs, rp, dstart, pos_aid, set_of, t, line, lo, hi, e):
    """One demand row of one operand (``manage_prefetches`` per valid address, in port order).

    An address is skipped (hit, or already in the set being filled) exactly when the set it was
    last added to is at or after the read-window start: sets are only ever added at the current
    set, and the window start jumps to the current set every 50 sets.  Returns True when the row
    held a valid address.
    """
    any_valid = False
    wd = rp[RP_WD]
    mode = 0 if rp[RP_EXPLICIT] == 1 else (1 if rp[RP_FLAT] == FLAT_ROWS else 2)
    cur = cs[0]
    cnt = cs[1]
    rs = cs[2]
    adds = cs[10]
    for col in range(lo, hi + 1):
        if mode == 0:
            ident = np.int64(pos_aid[_position(rp, dstart, line, col)])
            if ident < 0:
                continue
        elif mode == 1:
            ident = line * wd + col
        else:
            ident = (line - col) * wd + col
        if not any_valid:
            any_valid = True
            if cs[8] == 0:
                cs[8] = 1
                cs[7] = t
        if set_of[ident] >= rs:
            continue
        set_of[ident] = cur
        cnt += 1
        adds += 1
        if cnt == e:
            cnt = 0
            cur += 1
            if cur == rs + CALC_ACTIVE_SETS:
                cs[0] = cur
                _calc_trigger(cs, t, e)
                rs = cs[2]
    cs[0] = cur
    cs[1] = cnt
    cs[2] = rs
    cs[10] = adds
    return any_valid


@njit(cache=True)
def simulate_calc(df, R, C, M, N, K, ifmap, filt, out):
    """SCALE-Sim CALC-bandwidth memory simulation of one layer (``ifmap``, ``filt``: :class:`CalcSide`;
    ``out``: :class:`WriteSide`); returns the RES_* vector."""
    rpi, dst_i, aid_i, set_i, e_i = ifmap
    rpf, dst_f, aid_f, set_f, e_f = filt
    wp, ws, fifo = out
    res = np.zeros(RES_LEN, dtype=np.int64)
    if df == DF_OS:
        Sr, Sc, T = M, N, K
        Lf = T + R + C - 2
    elif df == DF_WS:
        Sr, Sc, T = K, N, M
        Lf = 2 * R + C + T - 2
    else:
        Sr, Sc, T = K, M, N
        Lf = 2 * R + C + T - 2
    Fr = (Sr + R - 1) // R
    Fc = (Sc + C - 1) // C
    csi = np.zeros(CS_LEN, dtype=np.int64)
    csf = np.zeros(CS_LEN, dtype=np.int64)
    for cs in (csi, csf):
        cs[3] = CALC_ACTIVE_SETS - 1
        cs[5] = -2
        cs[6] = -1
        cs[11] = -(1 << 62)
    stall = 0
    row = 0
    first_i = -1
    last_i = 0
    first_f = -1
    last_f = 0
    first_o = -1
    last_o = 0
    max_o = -(1 << 62)
    out_o = 0
    for fc in range(Fc):
        uc = Sc - fc * C
        if uc > C:
            uc = C
        for fr in range(Fr):
            ur = Sr - fr * R
            if ur > R:
                ur = R
            for t in range(Lf):
                tt = row + stall
                kind, line, lo, hi = _request(df, False, t, fr, fc, ur, uc, R, T, K)
                if kind != 0 and _calc_row(csi, rpi, dst_i, aid_i, set_i, tt, line, lo, hi, e_i):
                    if first_i < 0:
                        first_i = tt + HIT_LATENCY
                    last_i = tt + HIT_LATENCY
                kind, line, lo, hi = _request(df, True, t, fr, fc, ur, uc, R, T, K)
                if kind != 0 and _calc_row(csf, rpf, dst_f, aid_f, set_f, tt, line, lo, hi, e_f):
                    if first_f < 0:
                        first_f = tt + HIT_LATENCY
                    last_f = tt + HIT_LATENCY
                n_o = _ofmap_count(df, t, ur, uc, R, T)
                out_o = tt
                if n_o > 0:
                    out_o = _serve_write(ws, wp, fifo, tt, n_o)
                    if first_o < 0:
                        first_o = out_o
                    last_o = out_o
                if out_o > max_o:
                    max_o = out_o
                stall += out_o - tt
                row += 1
    _calc_finish(csi, e_i)
    _calc_finish(csf, e_f)
    _empty_all(ws, wp, fifo, out_o)
    res[RES_TOTAL] = max_o
    res[RES_STALL] = stall
    res[RES_ROWS] = row
    res[RES_I_SRAM_START] = first_i
    res[RES_I_SRAM_STOP] = last_i
    res[RES_F_SRAM_START] = first_f
    res[RES_F_SRAM_STOP] = last_f
    res[RES_O_SRAM_START] = first_o
    res[RES_O_SRAM_STOP] = last_o
    res[RES_I_DRAM_START] = csi[11]
    res[RES_I_DRAM_STOP] = csi[12]
    res[RES_I_DRAM_READS] = csi[10]
    res[RES_F_DRAM_START] = csf[11]
    res[RES_F_DRAM_STOP] = csf[12]
    res[RES_F_DRAM_READS] = csf[10]
    res[RES_O_DRAM_START] = ws[6]
    res[RES_O_DRAM_STOP] = ws[7]
    res[RES_O_DRAM_WRITES] = ws[5]
    res[RES_I_PREFETCHES] = csi[13]
    res[RES_F_PREFETCHES] = csf[13]
    return res


# ------------------------------------------------------------------------------------------------
# Explicit fetch orders (convolutions whose im2col matrix repeats addresses).


@njit(cache=True)
def ifmap_fetch_sequence(df, R, C, M, Kw, Ew, H, W, Ch, S, stride, flat, fb, h, wd, dstart, out):
    """The IFMAP fetch order (int32 addresses, -1 = padding or outside the image) into ``out``.

    Combines SCALE-Sim's im2col address formula (``operand_matrix.calc_ifmap_elem_addr``: pixel
    ``p`` -> output (oh, ow), window index ``q`` -> (row, col, channel), no padding), the
    prefetch-matrix layout of the dataflow and its flattening, without building the matrices.
    """
    mrows = fb * h
    for row in range(mrows):
        b = row // h
        i = row - b * h
        for col in range(wd):
            if df == DF_OS:          # P[fr*K + k, r] = A[fr*R + r, k]
                p = b * R + col
                q = i
            elif df == DF_WS:        # P[fr*M + m, r] = A[m, fr*R + r]
                p = i
                q = b * R + col
            else:                    # IS: P[fc*K + k, c] = A[fc*C + c, k]
                p = b * C + col
                q = i
            a = -1
            if p < M and q < Kw:
                oh = p // Ew
                ow = p - oh * Ew
                c_row = q // (S * Ch)
                rem = q - c_row * S * Ch
                c_col = rem // Ch
                c_ch = rem - c_col * Ch
                if c_row + oh * stride < H and c_col + ow * stride < W:
                    a = (oh * stride * W + ow * stride) * Ch + (c_row * W + c_col) * Ch + c_ch
            if flat == FLAT_ROWS:
                pos = row * wd + col
            else:
                d = row + col
                cmin = d - mrows + 1
                if cmin < 0:
                    cmin = 0
                pos = dstart[d] + col - cmin
            out[pos] = a


@njit(cache=True)
def address_sets(seq, e, n_addr):
    """CSR of the SRAM sets holding each address: set = (rank among valid entries) // e."""
    ptr = np.zeros(n_addr + 1, dtype=np.int64)
    for pos in range(seq.shape[0]):
        a = seq[pos]
        if a >= 0:
            ptr[a + 1] += 1
    for a in range(n_addr):
        ptr[a + 1] += ptr[a]
    fill = ptr[:-1].copy()
    sets = np.empty(max(ptr[n_addr], 1), dtype=np.int32)
    rank = 0
    for pos in range(seq.shape[0]):
        a = seq[pos]
        if a >= 0:
            sets[fill[a]] = rank // e
            fill[a] += 1
            rank += 1
    return ptr, sets

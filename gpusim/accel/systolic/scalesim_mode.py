"""``--memory scalesim``: SCALE-Sim 3.0.0's memory model, reproduced (kernels in :mod:`.kernels`).

This module prepares the integer parameters of the kernels from a layer and a config - SRAM
sizes in words, SCALE-Sim's 100-set buffer geometry, DRAM line counts - and, for convolution
layers whose im2col IFMAP matrix repeats addresses or holds out-of-image entries, the explicit
position -> address -> SRAM-set maps.  research/scalesim-model.md §5.5 is the specification.
"""

from __future__ import annotations

import math

import numpy as np

from gpusim.accel.systolic import kernels as K_
from gpusim.accel.systolic.compute import ComputeFigures, compute_figures
from gpusim.accel.systolic.config import Dataflow, SystolicConfig
from gpusim.accel.systolic.results import LayerResult
from gpusim.accel.systolic.topology import Layer

__all__ = ["needs_explicit_ifmap", "simulate_layer_scalesim"]

_DF_CODE = {Dataflow.OS: K_.DF_OS, Dataflow.WS: K_.DF_WS, Dataflow.IS: K_.DF_IS}
_EMPTY_I64 = np.zeros(1, dtype=np.int64)
_EMPTY_I32 = np.zeros(1, dtype=np.int32)


# ------------------------------------------------------------------------------------------------
# Operand matrices (addresses without SCALE-Sim's offsets; -1 = outside the image); the IFMAP one
# of a convolution is built directly in fetch order by kernels.ifmap_fetch_sequence.


def needs_explicit_ifmap(layer: Layer) -> bool:
    """True when the im2col IFMAP matrix repeats an address or has out-of-image entries.

    Then an address may sit in several SRAM sets (SCALE-Sim's hit test is by address), which the
    closed-form rank of the structured path cannot express.
    """
    if layer.is_gemm:
        return False
    rows_out = (layer.ofmap_h - 1) * layer.stride + layer.filter_h > layer.ifmap_h
    cols_out = (layer.ofmap_w - 1) * layer.stride + layer.filter_w > layer.ifmap_w
    overlap_h = layer.ofmap_h > 1 and layer.filter_h > layer.stride
    overlap_w = layer.ofmap_w > 1 and layer.filter_w > layer.stride
    return rows_out or cols_out or overlap_h or overlap_w


def _filter_operand_matrix(layer: Layer) -> np.ndarray:
    k = np.arange(layer.K, dtype=np.int64)[:, None]
    n = np.arange(layer.N, dtype=np.int64)[None, :]
    return n * layer.K + k


# ------------------------------------------------------------------------------------------------
# Prefetch-matrix geometry (research/scalesim-model.md §5.5 step 1).


def _p_geometry(df: Dataflow, is_filter: bool, M: int, N: int, Kw: int, R: int, C: int) -> tuple[int, int, int, int, int]:
    """(flat, Fb, H, Wd, u_last) of the prefetch matrix of one read operand."""
    Fr_os, Fc_os = -(-M // R), -(-N // C)
    if df == Dataflow.OS:
        if is_filter:
            return K_.FLAT_DIAG, Fc_os, Kw, C, N - (Fc_os - 1) * C
        return K_.FLAT_DIAG, Fr_os, Kw, R, M - (Fr_os - 1) * R
    Fk = -(-Kw // R)
    if df == Dataflow.WS:
        if is_filter:
            return K_.FLAT_ROWS, Fc_os, Kw, C, N - (Fc_os - 1) * C
        return K_.FLAT_DIAG, Fk, M, R, Kw - (Fk - 1) * R
    # IS
    if is_filter:
        return K_.FLAT_DIAG, Fk, N, R, Kw - (Fk - 1) * R
    Fm = -(-M // C)
    return K_.FLAT_ROWS, Fm, Kw, C, M - (Fm - 1) * C


def _p_matrix(df: Dataflow, is_filter: bool, A: np.ndarray, R: int, C: int) -> np.ndarray:
    """The prefetch matrix (``Fb*H x Wd`` addresses, -1 padding) from an operand matrix.

    ``A`` is the IFMAP (``M x K``) or FILTER (``K x N``) address matrix.
    """
    if is_filter:
        Kw, N = A.shape
        if df == Dataflow.IS:           # blocks of R filter rows, transposed: (N x R) per block
            Fb = -(-Kw // R)
            pad = np.full((Fb * R, N), -1, dtype=np.int64)
            pad[:Kw] = A
            return pad.reshape(Fb, R, N).transpose(0, 2, 1).reshape(Fb * N, R)
        Fb = -(-N // C)                  # OS, WS: blocks of C filter columns, K x C each
        pad = np.full((Kw, Fb * C), -1, dtype=np.int64)
        pad[:, :N] = A
        return pad.reshape(Kw, Fb, C).transpose(1, 0, 2).reshape(Fb * Kw, C)
    M, Kw = A.shape
    if df == Dataflow.WS:                # blocks of R window columns: (M x R) per block
        Fb = -(-Kw // R)
        pad = np.full((M, Fb * R), -1, dtype=np.int64)
        pad[:, :Kw] = A
        return pad.reshape(M, Fb, R).transpose(1, 0, 2).reshape(Fb * M, R)
    width = R if df == Dataflow.OS else C   # OS: R pixels per block; IS: C pixels per block
    Fb = -(-M // width)
    pad = np.full((Fb * width, Kw), -1, dtype=np.int64)
    pad[:M] = A
    return pad.reshape(Fb, width, Kw).transpose(0, 2, 1).reshape(Fb * Kw, width)


def _flatten(P: np.ndarray, flat: int, fb: int, h: int) -> np.ndarray:
    """The fetch order of ``P`` (anti-diagonals, rows descending within one; or row-major)."""
    if flat == K_.FLAT_ROWS:
        return P.reshape(-1)
    mrows, wd = P.shape
    dstart = K_.diag_start(fb, h, wd)
    r = np.arange(mrows, dtype=np.int64)[:, None]
    c = np.arange(wd, dtype=np.int64)[None, :]
    d = r + c
    pos = dstart[d] + c - np.maximum(0, d - mrows + 1)
    out = np.empty(P.size, dtype=np.int64)
    out[pos.reshape(-1)] = P.reshape(-1)
    return out


# ------------------------------------------------------------------------------------------------
# Parameters.


def _read_params(flat: int, fb: int, h: int, wd: int, u_last: int, valid: int, sram_words: int, bw: int,
                 explicit: bool) -> np.ndarray:
    """RP_* vector of one read buffer (``read_buffer.set_params``/``set_fetch_matrix``/``prepare_hashed_buffer``)."""
    W = sram_words
    active = math.ceil(W * 0.5)              # active_buf_frac = 0.5 (single_layer_sim.py)
    prefetch = W - active
    e = math.ceil(W / K_.SETS_PER_BUFFER)
    L = valid // e + 1                        # the trailing (possibly empty) set counts
    A = min(math.ceil(active / e), L)
    P = min(math.ceil(prefetch / e), L - A)
    fetch_rows = math.ceil(fb * h * wd / bw)  # padding included
    n_init = min(math.ceil(active / bw), fetch_rows)
    rp = np.zeros(K_.RP_LEN, dtype=np.int64)
    rp[K_.RP_FLAT], rp[K_.RP_FB], rp[K_.RP_H], rp[K_.RP_WD], rp[K_.RP_ULAST] = flat, fb, h, wd, u_last
    rp[K_.RP_E], rp[K_.RP_L], rp[K_.RP_A], rp[K_.RP_P] = e, L, A, P
    rp[K_.RP_NPRE] = math.ceil(prefetch / bw)
    rp[K_.RP_NINIT] = n_init
    rp[K_.RP_BW] = bw
    rp[K_.RP_EXPLICIT] = 1 if explicit else 0
    return rp


def _operand(df: Dataflow, is_filter: bool, layer: Layer, cfg: SystolicConfig, bw: int, force_explicit: bool,
             calc: bool):
    M, N, Kw, R, C = layer.M, layer.N, layer.K, cfg.rows, cfg.cols
    flat, fb, h, wd, u_last = _p_geometry(df, is_filter, M, N, Kw, R, C)
    sram = cfg.filter_sram_words if is_filter else cfg.ifmap_sram_words
    explicit = force_explicit or (not is_filter and needs_explicit_ifmap(layer))
    vpre = dst = _EMPTY_I64
    aid = _EMPTY_I32
    ptr = _EMPTY_I64
    sets = _EMPTY_I32
    if explicit:
        if flat == K_.FLAT_DIAG:
            dst = K_.diag_start(fb, h, wd)
        if is_filter:      # only when forced (tests): addresses n*K + k, all distinct
            seq = _flatten(_p_matrix(df, True, _filter_operand_matrix(layer), R, C), flat, fb, h).astype(np.int32)
            n_addr = Kw * N
        else:
            seq = np.empty(fb * h * wd, dtype=np.int32)
            K_.ifmap_fetch_sequence(_DF_CODE[df], R, C, M, Kw, layer.ofmap_w, layer.ifmap_h, layer.ifmap_w,
                                    layer.channels, layer.filter_w, layer.stride, flat, fb, h, wd, dst, seq)
            n_addr = layer.ifmap_words
        valid = int(np.count_nonzero(seq >= 0))
        e = math.ceil(sram / K_.SETS_PER_BUFFER)
        ptr, sets = K_.address_sets(seq, e, n_addr)
        aid = seq                 # addresses are dense ids in [0, n_addr)
    else:
        valid = (fb - 1) * h * wd + h * u_last
        if flat == K_.FLAT_DIAG:
            vpre = K_.diag_prefix(fb, h, wd, u_last)
    rp = _read_params(flat, fb, h, wd, u_last, valid, sram, bw, explicit)
    return rp, vpre, dst, aid, ptr, sets


def _write_params(words: int, bw: int) -> np.ndarray:
    wp = np.zeros(K_.WP_LEN, dtype=np.int64)
    active = math.ceil(words * 0.5)
    wp[K_.WP_TOTAL], wp[K_.WP_ACTIVE], wp[K_.WP_DRAIN], wp[K_.WP_BW] = words, active, words - active, bw
    return wp


# ------------------------------------------------------------------------------------------------
# One layer.


def simulate_layer_scalesim(layer: Layer, cfg: SystolicConfig, *, force_explicit: bool = False,
                            figures: ComputeFigures | None = None) -> LayerResult:
    """SCALE-Sim's numbers for one layer (a batched layer: its first repetition; see :mod:`.api`)."""
    df = cfg.dataflow
    R, C = cfg.rows, cfg.cols
    cf = figures or compute_figures(layer, df, R, C)
    calc = cfg.interface_mode == "CALC"
    if calc:
        res = _run_calc(layer, cfg, force_explicit)
    else:
        bwi, bwf, bwo = cfg.ifmap_dram_bw_words, cfg.filter_dram_bw_words, cfg.ofmap_dram_bw_words
        assert bwi and bwf and bwo
        rpi, vpi, dsi, aii, pti, sei = _operand(df, False, layer, cfg, bwi, force_explicit, False)
        rpf, vpf, dsf, aif, ptf, sef = _operand(df, True, layer, cfg, bwf, force_explicit, False)
        wp = _write_params(cfg.ofmap_sram_words, bwo)
        ws = K_.new_write_state()
        ws[0] = cfg.ofmap_sram_words
        fifo = np.zeros((1 << 16, 2), dtype=np.int64)
        res = K_.simulate_user(_DF_CODE[df], R, C, layer.M, layer.N, layer.K, K_.ReadSide(rpi, vpi, dsi, aii, pti, sei),
                               K_.ReadSide(rpf, vpf, dsf, aif, ptf, sef), K_.WriteSide(wp, ws, fifo))
    total = int(res[K_.RES_TOTAL])
    i_start, i_stop = float(res[K_.RES_I_DRAM_START]), float(res[K_.RES_I_DRAM_STOP])
    f_start, f_stop = float(res[K_.RES_F_DRAM_START]), float(res[K_.RES_F_DRAM_STOP])
    o_stop = float(res[K_.RES_O_DRAM_STOP])
    return LayerResult(
        name=layer.name,
        total_cycles_incl_prefetch=int(o_stop - min(i_start, f_start)),
        total_cycles=total,
        stall_cycles=int(res[K_.RES_STALL]),
        overall_util=(cf.macs * 100) / (total * R * C) if total else 0.0,   # SCALE-Sim: ZeroDivisionError
        mapping_efficiency=cf.mapping_efficiency,
        compute_util=cf.compute_util,
        ifmap_sram_start=float(res[K_.RES_I_SRAM_START]), ifmap_sram_stop=float(res[K_.RES_I_SRAM_STOP]),
        ifmap_sram_reads=cf.ifmap_sram_reads,
        filter_sram_start=float(res[K_.RES_F_SRAM_START]), filter_sram_stop=float(res[K_.RES_F_SRAM_STOP]),
        filter_sram_reads=cf.filter_sram_reads,
        ofmap_sram_start=float(res[K_.RES_O_SRAM_START]), ofmap_sram_stop=float(res[K_.RES_O_SRAM_STOP]),
        ofmap_sram_writes=cf.ofmap_sram_writes,
        ifmap_dram_start=i_start, ifmap_dram_stop=i_stop, ifmap_dram_reads=int(res[K_.RES_I_DRAM_READS]),
        filter_dram_start=f_start, filter_dram_stop=f_stop, filter_dram_reads=int(res[K_.RES_F_DRAM_READS]),
        ofmap_dram_start=float(res[K_.RES_O_DRAM_START]), ofmap_dram_stop=o_stop,
        ofmap_dram_writes=int(res[K_.RES_O_DRAM_WRITES]),
        extra={"stall_free_cycles": cf.stall_free_cycles, "folds": cf.folds,
               "ifmap_prefetches": int(res[K_.RES_I_PREFETCHES]),
               "filter_prefetches": int(res[K_.RES_F_PREFETCHES])},
    )


def _run_calc(layer: Layer, cfg: SystolicConfig, force_explicit: bool) -> np.ndarray:
    """CALC mode: reads never stall; the OFMAP port writes ``C`` words per cycle (single_layer_sim.py)."""
    df = cfg.dataflow
    R, C = cfg.rows, cfg.cols
    # The read "bandwidth" only sizes DRAM lines in USER mode; CALC sets are floor(W/100) words.
    rpi, _, dsi, aii, _, _ = _operand(df, False, layer, cfg, 1, force_explicit, True)
    rpf, _, dsf, aif, _, _ = _operand(df, True, layer, cfg, 1, force_explicit, True)

    def identities(rp: np.ndarray, aid: np.ndarray) -> np.ndarray:
        n = int(aid.max()) + 1 if rp[K_.RP_EXPLICIT] else int(rp[K_.RP_FB] * rp[K_.RP_H] * rp[K_.RP_WD])
        return np.full(max(n, 1), -1, dtype=np.int32)   # the SRAM set each identity was last added to

    e_i = cfg.ifmap_sram_words // K_.SETS_PER_BUFFER
    e_f = cfg.filter_sram_words // K_.SETS_PER_BUFFER
    wp = _write_params(cfg.ofmap_sram_words, C)
    ws = K_.new_write_state()
    ws[0] = cfg.ofmap_sram_words
    fifo = np.zeros((1 << 16, 2), dtype=np.int64)
    return K_.simulate_calc(_DF_CODE[df], R, C, layer.M, layer.N, layer.K,
                            K_.CalcSide(rpi, dsi, aii, identities(rpi, aii), e_i),
                            K_.CalcSide(rpf, dsf, aif, identities(rpf, aif), e_f), K_.WriteSide(wp, ws, fifo))

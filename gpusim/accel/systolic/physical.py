"""``--memory physical`` (the default): a memory model an architect can defend.

The layer (a GEMM ``M x N x K``; a convolution through im2col) runs on ``P`` arrays of ``R x C``
PEs that share one DRAM channel.  Per array:

1. **Partition.**  Batch items, M rows or N columns are split over the arrays (every
   ``p_b * p_m * p_n <= P`` is tried; the other arrays idle); the busy arrays run the same
   sub-problem shape and share the DRAM bandwidth equally.  Operands two arrays both need are
   read twice (no multicast).
2. **Tiling.**  The sub-GEMM is cut into SRAM tiles ``(Mt, Nt, Kt)`` visited by a loop nest of
   some order.  A tile is fetched when one of its indices changed since the previous step
   (reuse at the SRAM level), output tiles stay in the OFMAP SRAM while K is the innermost of
   their indices and are otherwise spilled and re-read as partial sums.  Every tile that is not
   the only one of its operand is double-buffered: it must fit in half its SRAM.
3. **Compute** of one tile step: its folds back to back, fill and drain overlapped across folds
   and steps: ``folds * max(T, R)`` cycles (``T`` the temporal dimension of the dataflow; ``R``
   the cycles to load a stationary block or drain an output block), plus one array fill/drain
   ``2R + C - 2`` per layer.
4. **Memory.**  The transfers of step ``s`` (its new tiles, and the store of the previous output
   tile) overlap the compute of step ``s - 1``: a step takes ``max(compute, words / bandwidth)``.
   DMA requests are pipelined, so the DRAM latency is paid once, by the first load; that load
   (prologue) and the last store (epilogue) are exposed.
5. The layer time is the minimum over all partitions, tile sizes (powers of two times the array
   dimension, down to 1, and the full dimension) and the six loop orders.

Consequences, tested in tests/test_systolic_physical.py: more SRAM or more bandwidth never
makes a layer slower (larger SRAM only admits more tilings; each tiling's time is non-increasing
in bandwidth), and no layer is faster than its compute bound ``ceil(MACs / (P R C))`` or its
DRAM bound.  Where it differs from SCALE-Sim: docs/systolic.md.

Numbers: none beyond the config's (array size, SRAM sizes, DRAM bandwidth and latency, word
size); the fill/drain ``2R + C - 2`` is the systolic skew (``R + C - 2``, research/scalesim-model.md
§5.3) plus one ``R``-cycle stationary load or output drain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from gpusim.accel.systolic.compute import compute_figures
from gpusim.accel.systolic.config import Dataflow, SystolicConfig
from gpusim.accel.systolic.results import LayerResult
from gpusim.accel.systolic.topology import Layer, gemm_layer

__all__ = ["PhysicalPlan", "simulate_layer_physical"]

# Dimension ids and the six loop orders (outer -> inner).
_DM, _DN, _DK = 0, 1, 2
_ORDERS = np.array([[0, 1, 2], [1, 0, 2], [0, 2, 1], [2, 0, 1], [1, 2, 0], [2, 1, 0]], dtype=np.int64)
_DF_CODE = {Dataflow.OS: 0, Dataflow.WS: 1, Dataflow.IS: 2}

# Result vector of _evaluate.
_R_TOTAL, _R_BODY, _R_COMPUTE, _R_PRO, _R_EPI, _R_I, _R_F, _R_OW, _R_OR, _R_STEPS = range(10)
_R_LEN = 10


@njit(cache=True)
def _step_compute(df, R, C, sm, sn, sk):
    """Cycles of one tile step: its folds back to back (fill/drain counted once per layer)."""
    if df == 0:     # OS: M on rows, N on columns, K streamed
        return ((sm + R - 1) // R) * ((sn + C - 1) // C) * max(sk, R)
    if df == 1:     # WS: K on rows, N on columns, M streamed
        return ((sk + R - 1) // R) * ((sn + C - 1) // C) * max(sm, R)
    return ((sk + R - 1) // R) * ((sm + C - 1) // C) * max(sn, R)   # IS: K rows, M columns, N streamed


@njit(cache=True)
def _xfer(words, bw):
    """Whole cycles to move ``words`` at ``bw`` words/cycle."""
    if words <= 0.0:
        return 0
    return int(math.ceil(words / bw - 1e-9))


@njit(cache=True)
def _cls(c, d, typ, cnt, last, tiles, depth):
    """(count, tile size, allowed) of index class ``c`` of dim ``d`` in steps of type ``typ``."""
    nd = cnt[d]
    if c == 0:
        k = 1
    elif c == 1:
        k = nd - 2 if nd > 2 else 0
    else:
        k = 1 if nd > 1 else 0
    dep = depth[d]
    if typ == 0:
        ok = c == 0
    elif dep == typ:
        ok = c != 0
    elif dep > typ:
        ok = c == 0
    else:
        ok = True
    size = last[d] if (c == 2 or (c == 0 and nd == 1)) else tiles[d]
    return k, size, ok and k > 0


@njit(cache=True)
def _evaluate(df, R, C, dims, tiles, order, bw, lat, ratio, items, out):
    """Time and traffic of one tiling/order on one array; fills ``out`` (the _R_* vector).

    ``dims``/``tiles`` are (M, N, K) of the sub-problem and of a tile; ``ratio`` scales IFMAP
    words (distinct DRAM words per im2col word, 1 for a GEMM); ``items`` batch repetitions.
    Steps are grouped by the depth of the loop that advances (0: the first step) and by the
    class of each index (first / middle / last tile), so the sum is exact and O(1).
    """
    cnt = np.empty(3, dtype=np.int64)
    last = np.empty(3, dtype=np.int64)
    depth = np.empty(3, dtype=np.int64)
    for d in range(3):
        cnt[d] = (dims[d] + tiles[d] - 1) // tiles[d]
        last[d] = dims[d] - (cnt[d] - 1) * tiles[d]
    for j in range(3):
        depth[order[j]] = j + 1
    k_inner = depth[_DK] > depth[_DM] and depth[_DK] > depth[_DN]
    body = 0          # cycles of all steps but the first one
    comp = 0          # compute cycles of all steps
    first_step = 0
    first_words = 0.0
    dram_i = 0.0
    dram_f = 0.0
    dram_ow = 0.0
    dram_or = 0.0
    steps = 0
    # index classes per dim: 0 = first (index 0), 1 = middle, 2 = last (index n-1 > 0)
    for typ in range(4):       # 0: first step; j >= 1: the loop at depth j advances
        for c0 in range(3):
            n0, s0, ok0 = _cls(c0, 0, typ, cnt, last, tiles, depth)
            if not ok0:
                continue
            for c1 in range(3):
                n1, s1, ok1 = _cls(c1, 1, typ, cnt, last, tiles, depth)
                if not ok1:
                    continue
                for c2 in range(3):
                    n2, s2, ok2 = _cls(c2, 2, typ, cnt, last, tiles, depth)
                    if not ok2:
                        continue
                    n = n0 * n1 * n2
                    ch_m = typ == 0 or depth[_DM] == typ or (depth[_DM] > typ and cnt[_DM] > 1)
                    ch_n = typ == 0 or depth[_DN] == typ or (depth[_DN] > typ and cnt[_DN] > 1)
                    ch_k = typ == 0 or depth[_DK] == typ or (depth[_DK] > typ and cnt[_DK] > 1)
                    w_i = s0 * s2 * ratio if (ch_m or ch_k) else 0.0
                    w_f = float(s2 * s1) if (ch_k or ch_n) else 0.0
                    o_chg = ch_m or ch_n
                    w_or = float(s0 * s1) if (o_chg and c2 != 0 and not k_inner) else 0.0
                    w_ow = float(s0 * s1) if o_chg else 0.0       # this visit's tile, written later
                    c = _step_compute(df, R, C, s0, s1, s2)
                    steps += n
                    comp += n * c
                    dram_i += n * w_i
                    dram_f += n * w_f
                    dram_or += n * w_or
                    dram_ow += n * w_ow
                    if typ == 0:
                        first_step = c
                        first_words = w_i + w_f
                    else:
                        # loads of this step + the store of the previous output tile (sized as this one)
                        w = w_i + w_f + w_or + w_ow
                        t = c
                        if w > 0.0:
                            x = _xfer(w, bw)
                            if x > t:
                                t = x
                        body += n * t
    prologue = lat + _xfer(first_words, bw)
    # Each output store is timed at the next step that changes the output tile, sized as that
    # step's tile; the epilogue store is sized as the first (full) tile, so that the timed words
    # add up to the DRAM traffic exactly (no step is timed faster than its transfers).
    last_out = float(min(tiles[_DM], dims[_DM]) * min(tiles[_DN], dims[_DN]))
    epilogue = _xfer(last_out, bw)
    # Batch items back to back: later items' first step overlaps the previous item's last step.
    first_ov = first_step
    x = _xfer(first_words + last_out, bw)
    if x > first_ov:
        first_ov = x
    total_body = first_step + body + (items - 1) * (first_ov + body)
    out[_R_BODY] = total_body
    out[_R_COMPUTE] = comp * items
    out[_R_PRO] = prologue
    out[_R_EPI] = epilogue
    out[_R_TOTAL] = prologue + total_body + epilogue
    out[_R_I] = int(round(dram_i * items))
    out[_R_F] = int(round(dram_f * items))
    out[_R_OW] = int(round(dram_ow * items))
    out[_R_OR] = int(round(dram_or * items))
    out[_R_STEPS] = steps * items


@njit(cache=True)
def _fits(dims, tiles, ratio, si, sf, so):
    cnt_m = (dims[0] + tiles[0] - 1) // tiles[0]
    cnt_n = (dims[1] + tiles[1] - 1) // tiles[1]
    cnt_k = (dims[2] + tiles[2] - 1) // tiles[2]
    wi = tiles[0] * tiles[2] * ratio * (2 if (cnt_m > 1 or cnt_k > 1) else 1)
    wf = tiles[2] * tiles[1] * (2 if (cnt_k > 1 or cnt_n > 1) else 1)
    wo = tiles[0] * tiles[1] * (2 if (cnt_m > 1 or cnt_n > 1) else 1)
    return wi <= si and wf <= sf and wo <= so


@njit(cache=True)
def _search(df, R, C, dims, cand_m, cand_n, cand_k, bw, lat, ratio, items, si, sf, so, best_out, best_sel):
    """Minimum-time tiling and order over the candidates; ties go to less DRAM traffic."""
    out = np.zeros(_R_LEN, dtype=np.int64)
    tiles = np.empty(3, dtype=np.int64)
    best_t = -1
    best_w = 0
    for a in range(cand_m.shape[0]):
        for b in range(cand_n.shape[0]):
            for c in range(cand_k.shape[0]):
                tiles[0] = cand_m[a]
                tiles[1] = cand_n[b]
                tiles[2] = cand_k[c]
                if not _fits(dims, tiles, ratio, si, sf, so):
                    continue
                for o in range(_ORDERS.shape[0]):
                    _evaluate(df, R, C, dims, tiles, _ORDERS[o], bw, lat, ratio, items, out)
                    t = out[_R_TOTAL]
                    w = out[_R_I] + out[_R_F] + out[_R_OW] + out[_R_OR]
                    if best_t < 0 or t < best_t or (t == best_t and w < best_w):
                        best_t = t
                        best_w = w
                        best_out[:] = out
                        best_sel[0] = tiles[0]
                        best_sel[1] = tiles[1]
                        best_sel[2] = tiles[2]
                        best_sel[3] = o
    return best_t


def _candidates(dim: int, g: int) -> np.ndarray:
    """Tile sizes for one dimension: ``g * 2^i`` (i may be negative, down to 1) below ``dim``, and ``dim``."""
    vals = {dim}
    v = g
    while v >= 1:
        if v < dim:
            vals.add(v)
        v //= 2
    v = g * 2
    while v < dim:
        vals.add(v)
        v *= 2
    return np.array(sorted(vals), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class PhysicalPlan:
    """The chosen partition and tiling of one layer (for reports and tests)."""

    parts: tuple[int, int, int]          # (p_batch, p_m, p_n) arrays along batch, M, N
    sub: tuple[int, int, int, int]       # (items, M, N, K) per array (largest part)
    tiles: tuple[int, int, int]          # (Mt, Nt, Kt)
    order: str                           # loop order outer -> inner, e.g. "mnk"
    total: int                           # cycles, prologue and epilogue included
    body: int                            # cycles from the first compute to the last
    compute: int                         # stall-free compute cycles (fill/drain included)
    prologue: int
    epilogue: int
    dram_ifmap_reads: int                # words, all arrays
    dram_filter_reads: int
    dram_ofmap_writes: int
    dram_ofmap_reads: int                # partial sums re-read
    compute_bound: int                   # ceil(MACs / (P R C))
    memory_bound: int                    # DRAM words / bandwidth


def _split(total: int, parts: int) -> list[tuple[int, int]]:
    """(size, how many parts have it) when ``total`` is split as evenly as possible."""
    q, r = divmod(total, parts)
    out = []
    if r:
        out.append((q + 1, r))
    if q and parts - r:
        out.append((q, parts - r))
    return out


def _partitions(n: int) -> list[tuple[int, int, int]]:
    """(p_batch, p_m, p_n) with p_batch * p_m * p_n <= n: arrays beyond the product stay idle."""
    return [(a, b, c) for a in range(1, n + 1) for b in range(1, n // a + 1) for c in range(1, n // (a * b) + 1)]


def plan_layer(layer: Layer, cfg: SystolicConfig) -> PhysicalPlan:
    """Search partitions, tilings and loop orders; the fastest plan."""
    if cfg.dram_bw_words_per_cycle is None:
        from gpusim.errors import ConfigError

        raise ConfigError("Bandwidth", "the physical memory model needs a DRAM bandwidth "
                                       "([architecture_presets] Bandwidth in a .cfg, dram.bandwidth in YAML)",
                          file=cfg.source)
    df = _DF_CODE[cfg.dataflow]
    R, C, P = cfg.rows, cfg.cols, cfg.arrays
    M, N, K, B = layer.M, layer.N, layer.K, layer.batch
    ratio = min(1.0, layer.ifmap_words / (M * K))
    lat = cfg.dram_latency_cycles
    gm, gn, gk = {0: (R, C, 1), 1: (1, C, R), 2: (C, 1, R)}[df]
    best: tuple | None = None
    out = np.zeros(_R_LEN, dtype=np.int64)
    sel = np.zeros(4, dtype=np.int64)
    for pb, pm, pn in _partitions(P):
        if pb > B or pm > M or pn > N:
            continue
        bw = cfg.dram_bw_words_per_cycle / (pb * pm * pn)    # the busy arrays share the channel
        items, m_a, n_a = -(-B // pb), -(-M // pm), -(-N // pn)
        dims = np.array([m_a, n_a, K], dtype=np.int64)
        t = _search(df, R, C, dims, _candidates(m_a, gm), _candidates(n_a, gn), _candidates(K, gk), bw, lat, ratio,
                    items, cfg.ifmap_sram_words, cfg.filter_sram_words, cfg.ofmap_sram_words, out, sel)
        if t < 0:
            continue
        w = int(out[_R_I] + out[_R_F] + out[_R_OW] + out[_R_OR])
        key = (t, w)
        if best is None or key < best[0]:
            best = (key, (pb, pm, pn), (items, m_a, n_a, K), tuple(int(x) for x in sel), out.copy(), bw)
    if best is None:
        from gpusim.errors import ConfigError

        raise ConfigError("sram", f"no tiling of layer {layer.name} fits the SRAMs "
                                  f"({cfg.ifmap_sram_words}/{cfg.filter_sram_words}/{cfg.ofmap_sram_words} words)",
                          file=cfg.source)
    _, parts, sub, sel_t, res, bw = best
    pb, pm, pn = parts
    # DRAM traffic of all arrays: the chosen tiling on every part shape (parts differ by one row).
    tot = np.zeros(4, dtype=np.float64)
    tiles = np.array(sel_t[:3], dtype=np.int64)
    order = _ORDERS[sel_t[3]]
    tmp = np.zeros(_R_LEN, dtype=np.int64)
    for ib, nb in _split(B, pb):
        for im, nm in _split(M, pm):
            for in_, nn in _split(N, pn):
                dims = np.array([im, in_, K], dtype=np.int64)
                t_ = np.minimum(tiles, dims)
                _evaluate(df, R, C, dims, t_, order, bw, lat, ratio, ib, tmp)
                tot += nb * nm * nn * tmp[[_R_I, _R_F, _R_OW, _R_OR]]
    fill = 2 * R + C - 2
    words = float(tot.sum())
    return PhysicalPlan(
        parts=parts, sub=sub, tiles=(int(tiles[0]), int(tiles[1]), int(tiles[2])),
        order="".join("mnk"[d] for d in order), total=int(res[_R_TOTAL]) + fill, body=int(res[_R_BODY]) + fill,
        compute=int(res[_R_COMPUTE]) + fill, prologue=int(res[_R_PRO]), epilogue=int(res[_R_EPI]),
        dram_ifmap_reads=int(tot[0]), dram_filter_reads=int(tot[1]), dram_ofmap_writes=int(tot[2]),
        dram_ofmap_reads=int(tot[3]), compute_bound=-(-layer.macs // (P * R * C)),
        memory_bound=int(math.ceil(words / cfg.dram_bw_words_per_cycle)),
    )


def simulate_layer_physical(layer: Layer, cfg: SystolicConfig) -> LayerResult:
    """The physical model's figures for one layer, in SCALE-Sim's report columns."""
    plan = plan_layer(layer, cfg)
    R, C, P = cfg.rows, cfg.cols, cfg.arrays
    _, m_a, n_a, K = plan.sub
    # Array-side SRAM traffic and mapping figures of one array's part (closed forms of compute.py),
    # scaled to all arrays; OS without SCALE-Sim's phantom OFMAP writes.
    sub = gemm_layer(layer.name, m_a, n_a, K)
    cf = compute_figures(sub, cfg.dataflow, R, C)
    scale = layer.macs / max(1, cf.macs)     # all arrays, all items, relative to one part-item
    ofmap_writes = cf.ofmap_sram_writes - (cf.folds * (R + C) if cfg.dataflow == Dataflow.OS else 0)
    total = plan.total
    body = plan.body
    stall = body - plan.compute
    start = float(plan.prologue)
    stop = float(plan.prologue + body - 1)
    return LayerResult(
        name=layer.name,
        total_cycles_incl_prefetch=total,
        total_cycles=body,
        stall_cycles=stall,
        overall_util=(layer.macs * 100) / (body * R * C * P),
        mapping_efficiency=cf.mapping_efficiency,
        compute_util=(layer.macs * 100) / (plan.compute * R * C * P),
        ifmap_sram_start=start, ifmap_sram_stop=stop, ifmap_sram_reads=int(round(cf.ifmap_sram_reads * scale)),
        filter_sram_start=start, filter_sram_stop=stop, filter_sram_reads=int(round(cf.filter_sram_reads * scale)),
        ofmap_sram_start=start, ofmap_sram_stop=stop, ofmap_sram_writes=int(round(ofmap_writes * scale)),
        ifmap_dram_start=0.0, ifmap_dram_stop=float(total - plan.epilogue - 1), ifmap_dram_reads=plan.dram_ifmap_reads,
        filter_dram_start=0.0, filter_dram_stop=float(total - plan.epilogue - 1),
        filter_dram_reads=plan.dram_filter_reads,
        ofmap_dram_start=float(plan.prologue), ofmap_dram_stop=float(total - 1),
        ofmap_dram_writes=plan.dram_ofmap_writes,
        extra={"plan": plan, "bound": "memory" if plan.memory_bound > plan.compute else "compute",
               "dram_ofmap_reads": plan.dram_ofmap_reads},
    )

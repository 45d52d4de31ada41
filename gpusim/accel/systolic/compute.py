"""SCALE-Sim's compute model in closed form (research/scalesim-model.md §5.2-5.4).

For a layer with ``M`` ofmap pixels, ``N`` filters and window ``K`` on an ``R x C`` array:

=========  =======  =======  =======  ======================  ===============================
dataflow   S_r      S_c      T        rows per fold           compute-util fold length
=========  =======  =======  =======  ======================  ===============================
OS         M        N        K        ``T + R + C - 2``       ``T + R + C - 2``
WS         K        N        M        ``2R + C + T - 2``      ``2R + 2C + T - 3`` (quirk)
IS         K        M        N        ``2R + C + T - 2``      ``2R + 2C + T - 3`` (quirk)
=========  =======  =======  =======  ======================  ===============================

``F_r = ceil(S_r / R)``, ``F_c = ceil(S_c / C)`` folds, column fold outer.  Stall-free cycles are
``F_r F_c`` times the rows per fold.  Mapping efficiency and compute utilisation are means over
folds, summed in SCALE-Sim's order so that the floats are bit-identical.  SRAM counts:

=====  ==============  ==============  =====================================
       IFMAP reads     FILTER reads    OFMAP writes
=====  ==============  ==============  =====================================
OS     ``M K F_c``     ``K N F_r``     ``M N + F (R + C)`` (SCALE-Sim's counting bug)
WS     ``M K F_c``     ``K N``         ``M N F_r``
IS     ``M K``         ``K N F_c``     ``M N F_r``
=====  ==============  ==============  =====================================
"""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from gpusim.accel.systolic.config import Dataflow
from gpusim.accel.systolic.topology import Layer

__all__ = ["ComputeFigures", "compute_figures", "fold_geometry"]


@dataclass(frozen=True, slots=True)
class ComputeFigures:
    Sr: int
    Sc: int
    T: int
    Fr: int
    Fc: int
    rows_per_fold: int
    stall_free_cycles: int         # demand rows: F * rows_per_fold
    mapping_efficiency: float      # percent, as SCALE-Sim reports it
    compute_util: float            # percent, as SCALE-Sim reports it
    ifmap_sram_reads: int
    filter_sram_reads: int
    ofmap_sram_writes: int
    macs: int

    @property
    def folds(self) -> int:
        return self.Fr * self.Fc


def fold_geometry(df: Dataflow, M: int, N: int, K: int, R: int, C: int) -> tuple[int, int, int, int, int, int]:
    """(S_r, S_c, T, F_r, F_c, rows per fold) of a layer."""
    if df == Dataflow.OS:
        Sr, Sc, T = M, N, K
        rows = T + R + C - 2
    elif df == Dataflow.WS:
        Sr, Sc, T = K, N, M
        rows = 2 * R + C + T - 2
    else:
        Sr, Sc, T = K, M, N
        rows = 2 * R + C + T - 2
    return Sr, Sc, T, -(-Sr // R), -(-Sc // C), rows


@njit(cache=True)
def _fold_mean(Fr, Fc, v_full, v_last_r, v_last_c, v_last_both):
    """Python's ``sum(list) / len(list)`` over the per-fold values, in SCALE-Sim's fold order."""
    acc = 0.0
    for fc in range(Fc):
        last_c = fc == Fc - 1
        for fr in range(Fr):
            if fr == Fr - 1:
                acc += v_last_both if last_c else v_last_r
            else:
                acc += v_last_c if last_c else v_full
    return acc / (Fr * Fc)


def compute_figures(layer: Layer, df: Dataflow, R: int, C: int) -> ComputeFigures:
    """The exact compute figures of one (unbatched) layer."""
    M, N, K = layer.M, layer.N, layer.K
    Sr, Sc, T, Fr, Fc, rows = fold_geometry(df, M, N, K, R, C)
    ur_last = Sr - (Fr - 1) * R
    uc_last = Sc - (Fc - 1) * C
    cyc = rows if df == Dataflow.OS else 2 * R + 2 * C + T - 3
    rc = R * C

    def util(ur: int, uc: int) -> float:
        return (ur * uc * T) / (rc * cyc)

    mapping = _fold_mean(Fr, Fc, (R * C) / rc, (ur_last * C) / rc, (R * uc_last) / rc, (ur_last * uc_last) / rc)
    cu = _fold_mean(Fr, Fc, util(R, C), util(ur_last, C), util(R, uc_last), util(ur_last, uc_last))
    F = Fr * Fc
    if df == Dataflow.OS:
        ir, fr_, ow = M * K * Fc, K * N * Fr, M * N + F * (R + C)
    elif df == Dataflow.WS:
        ir, fr_, ow = M * K * Fc, K * N, M * N * Fr
    else:
        ir, fr_, ow = M * K, K * N * Fc, M * N * Fr
    return ComputeFigures(Sr=Sr, Sc=Sc, T=T, Fr=Fr, Fc=Fc, rows_per_fold=rows, stall_free_cycles=F * rows,
                          mapping_efficiency=mapping * 100, compute_util=cu * 100, ifmap_sram_reads=ir,
                          filter_sram_reads=fr_, ofmap_sram_writes=ow, macs=M * N * K)

"""SCALE-Sim topology CSVs (convolution and M,N,K forms) -> :class:`Layer` objects.

The files are read as SCALE-Sim 3.0.0 reads them (``scalesim/topology_utils.py``,
research/scalesim-model.md §3.2):

* the first line is a header and is skipped; blank lines are skipped;
* a trailing comma ends every row in SCALE-Sim's own files (it drops the last field); here an
  empty last field is dropped and a row without one is read whole (SCALE-Sim would lose the last
  value or crash);
* conv form: ``name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num filters, Stride[, N:M]``
  (one stride for both directions); a name containing ``DP`` is a depth-wise layer expanded into
  ``Channels`` single-channel layers named ``<name>Channel_<i>``;
* GEMM form: ``name, M, N, K[, N:M]`` meaning ``OFMAP[M x N] = IFMAP[M x K] . FILTER[K x N]``,
  mapped to the conv layer ``H=M, W=K, R=1, S=K, C=1, filters=N, stride 1``.

Beyond SCALE-Sim: a GEMM header may name a ``Batch`` (or ``B``) column after ``K``: the row is
then that many independent GEMMs of the same shape (attention's per-head products).

Errors name ``file:line`` and exit the CLI with status 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from gpusim.errors import GpusimError

__all__ = ["Layer", "TopologyError", "gemm_layer", "read_topology"]


class TopologyError(GpusimError):
    """A malformed topology CSV; ``where`` is ``file:line``."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Layer:
    """One SCALE-Sim layer (a GEMM is the conv layer H=M, W=K, R=1, S=K, C=1, stride 1)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    num_filters: int
    stride: int
    is_gemm: bool = False
    batch: int = 1                 # independent repetitions (batched GEMM); SCALE-Sim has none
    where: str = ""                # file:line it came from

    @property
    def ofmap_h(self) -> int:
        # SCALE-Sim's ceil((H - R + s) / s): one more output than floor((H-R)/s)+1 when
        # H-R is not a multiple of s (research/scalesim-model.md §3.2).
        return math.ceil((self.ifmap_h - self.filter_h + self.stride) / self.stride)

    @property
    def ofmap_w(self) -> int:
        return math.ceil((self.ifmap_w - self.filter_w + self.stride) / self.stride)

    @property
    def M(self) -> int:
        """Ofmap pixels per filter (GEMM M, SCALE-Sim's M')."""
        return self.ofmap_h * self.ofmap_w

    @property
    def N(self) -> int:
        """Filters (GEMM N)."""
        return self.num_filters

    @property
    def K(self) -> int:
        """Convolution window R*S*C (GEMM K)."""
        return self.filter_h * self.filter_w * self.channels

    @property
    def macs(self) -> int:
        return self.M * self.N * self.K * self.batch

    @property
    def ifmap_words(self) -> int:
        """Distinct IFMAP words in DRAM (the tensor, not its im2col matrix)."""
        return self.ifmap_h * self.ifmap_w * self.channels

    @property
    def filter_words(self) -> int:
        return self.K * self.N

    @property
    def ofmap_words(self) -> int:
        return self.M * self.N


def gemm_layer(name: str, m: int, n: int, k: int, batch: int = 1, where: str = "") -> Layer:
    """The layer SCALE-Sim builds from a GEMM row ``name, M, N, K``."""
    return Layer(name=name, ifmap_h=m, ifmap_w=k, filter_h=1, filter_w=k, channels=1, num_filters=n,
                 stride=1, is_gemm=True, batch=batch, where=where)


_GEMM_NAMES = ("m", "n", "k")
_BATCH_NAMES = ("batch", "b", "batch size")


def _detect_gemm(header: list[str], first_row: list[str] | None) -> bool:
    names = [h.strip().lower() for h in header[1:4]]
    if names == list(_GEMM_NAMES):
        return True
    if first_row is not None:
        numeric = [f for f in first_row[1:] if f.strip() and ":" not in f]
        return len(numeric) in (3, 4) and len(header) < 8
    return False


def _int(text: str, what: str, where: str, minimum: int = 1) -> int:
    t = text.strip()
    try:
        v = int(t)
    except ValueError:
        raise TopologyError(where, f"{what} must be an integer, got {t!r}") from None
    if v < minimum:
        raise TopologyError(where, f"{what} must be >= {minimum}, got {v}")
    return v


def _sparsity(text: str, where: str) -> None:
    t = text.strip()
    parts = t.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise TopologyError(where, f"sparsity ratio must look like N:M (e.g. 2:4), got {t!r}")
    # Ignored: SCALE-Sim applies the ratio only with [sparsity] SparsitySupport, which gpusim
    # refuses (gpusim/accel/systolic/scalecfg.py).


def read_topology(path: str | Path, form: str = "auto") -> list[Layer]:
    """Read a SCALE-Sim topology CSV.  ``form``: ``auto`` (from the header), ``conv`` or ``gemm``."""
    p = Path(path)
    shown = str(path)
    if form not in ("auto", "conv", "gemm"):
        raise TopologyError(shown, f"unknown topology form {form!r} (expected auto, conv or gemm)")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TopologyError(shown, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TopologyError(shown, "not a text file (UTF-8 expected)") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise TopologyError(f"{shown}:1", "empty file; expected a header line then one layer per line")
    header = [h.strip() for h in lines[0].split(",")]
    if header and header[-1] == "":
        header = header[:-1]
    rows: list[tuple[int, list[str]]] = []
    for i, raw in enumerate(lines[1:], start=2):
        row = raw.strip()
        if not row:
            continue
        fields = row.split(",")
        if fields[-1].strip() == "":
            fields = fields[:-1]
        rows.append((i, fields))
    if not rows:
        raise TopologyError(f"{shown}:1", "no layers (only a header line)")
    is_gemm = form == "gemm" or (form == "auto" and _detect_gemm(header, rows[0][1]))
    batch_col = None
    if is_gemm:
        lowered = [h.lower() for h in header]
        for j, h in enumerate(lowered[4:], start=4):
            if h in _BATCH_NAMES:
                batch_col = j
    layers: list[Layer] = []
    for lineno, fields in rows:
        where = f"{shown}:{lineno}"
        name = fields[0].strip()
        if not name:
            raise TopologyError(where, "empty layer name")
        if is_gemm:
            if len(fields) < 4:
                raise TopologyError(where, f"a GEMM row needs name, M, N, K; got {len(fields)} field(s)")
            m = _int(fields[1], "M", where)
            n = _int(fields[2], "N", where)
            k = _int(fields[3], "K", where)
            batch = 1
            for j, f in enumerate(fields[4:], start=4):
                if j == batch_col:
                    batch = _int(f, "Batch", where)
                elif ":" in f:
                    _sparsity(f, where)
                elif f.strip():
                    raise TopologyError(where, f"unexpected field {j + 1} {f.strip()!r} after K "
                                               f"(allowed: an N:M sparsity ratio, or a 'Batch' column named in the header)")
            layers.append(gemm_layer(name, m, n, k, batch, where))
            continue
        if len(fields) < 8:
            raise TopologyError(where, "a conv row needs name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, "
                                       f"Num filters, Stride; got {len(fields)} field(s)"
                                       + ("; is this an M,N,K file? pass --topology-form gemm" if len(fields) == 4 else ""))
        h = _int(fields[1], "IFMAP height", where)
        w = _int(fields[2], "IFMAP width", where)
        r = _int(fields[3], "Filter height", where)
        s = _int(fields[4], "Filter width", where)
        c = _int(fields[5], "Channels", where)
        n = _int(fields[6], "Num filters", where)
        st = _int(fields[7], "Stride", where)
        for j, f in enumerate(fields[8:], start=8):
            if ":" in f:
                _sparsity(f, where)
            elif f.strip():
                raise TopologyError(where, f"unexpected field {j + 1} {f.strip()!r} after Stride "
                                           "(SCALE-Sim reads only an N:M sparsity ratio there)")
        if r > h:
            raise TopologyError(where, f"Filter height {r} is larger than IFMAP height {h}")
        if s > w:
            raise TopologyError(where, f"Filter width {s} is larger than IFMAP width {w}")
        if "DP" in name:
            for ch in range(c):
                layers.append(Layer(f"{name}Channel_{ch}", h, w, r, s, 1, n, st, where=where))
        else:
            layers.append(Layer(name, h, w, r, s, c, n, st, where=where))
    return layers

"""Units of reference rows and simulated results, and conversions between them."""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any


# ----------------------------------------------------------------------------------------------
# Units.

_DIMS = ("s", "cycle", "byte", "op", "inst", "token", "request", "sm")
_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_WORDS: dict[str, tuple[float, dict[str, int]]] = {
    "s": (1.0, {"s": 1}), "sec": (1.0, {"s": 1}), "ms": (1e-3, {"s": 1}), "us": (1e-6, {"s": 1}),
    "ns": (1e-9, {"s": 1}), "ps": (1e-12, {"s": 1}),
    "cycle": (1.0, {"cycle": 1}), "cycles": (1.0, {"cycle": 1}), "clk": (1.0, {"cycle": 1}),
    "clock": (1.0, {"cycle": 1}), "clocks": (1.0, {"cycle": 1}),
    "B": (1.0, {"byte": 1}), "byte": (1.0, {"byte": 1}), "bytes": (1.0, {"byte": 1}),
    "KiB": (2.0**10, {"byte": 1}), "MiB": (2.0**20, {"byte": 1}), "GiB": (2.0**30, {"byte": 1}),
    "TiB": (2.0**40, {"byte": 1}),
    "flop": (1.0, {"op": 1}), "flops": (1.0, {"op": 1}), "op": (1.0, {"op": 1}), "ops": (1.0, {"op": 1}),
    "FMA": (2.0, {"op": 1}), "fma": (2.0, {"op": 1}),
    "inst": (1.0, {"inst": 1}), "insts": (1.0, {"inst": 1}), "warp-inst": (1.0, {"inst": 1}),
    "token": (1.0, {"token": 1}), "tokens": (1.0, {"token": 1}),
    "request": (1.0, {"request": 1}), "requests": (1.0, {"request": 1}), "req": (1.0, {"request": 1}),
    "query": (1.0, {"request": 1}), "queries": (1.0, {"request": 1}), "QPS": (1.0, {"request": 1, "s": -1}),
    "SM": (1.0, {"sm": 1}),
    # "per GPU" marks a per-device figure (TFLOPS/GPU of a data-parallel training run); a simulated GPU's
    # result is already per device, so the word carries no dimension
    "GPU": (1.0, {}),
    "%": (0.01, {}), "x": (1.0, {}),
}
for _p, _f in _SI.items():
    if _p:
        _WORDS[f"{_p}B"] = (_f, {"byte": 1})
    _WORDS[f"{_p}FLOPS"] = (_f, {"op": 1, "s": -1})
    _WORDS[f"{_p}OPS"] = (_f, {"op": 1, "s": -1})


@dataclasses.dataclass(frozen=True)
class Unit:
    text: str
    scale: float
    dims: tuple[tuple[str, int], ...]      # sorted non-zero exponents

    def dim(self, name: str) -> int:
        return dict(self.dims).get(name, 0)

    def physical(self) -> tuple[tuple[str, int], ...]:
        """Dimensions once cycles are seconds and 'per SM' is a share of the GPU."""
        d = dict(self.dims)
        cyc = d.pop("cycle", 0)
        d.pop("sm", None)
        if cyc:
            d["s"] = d.get("s", 0) + cyc
        return tuple(sorted((k, v) for k, v in d.items() if v))


def parse_unit(text: Any) -> Unit:
    """``'flop/clk/SM'`` -> Unit.  ValueError with the reason for an unknown word."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a unit string, got {text!r}")
    t = re.sub(r"\s+per\s+", "/", text.strip())
    parts = [p.strip() for p in t.split("/")]
    if any(not p for p in parts):
        raise ValueError(f"bad unit {text!r}")
    scale = 1.0
    dims: dict[str, int] = {}
    for i, part in enumerate(parts):
        sign = 1 if i == 0 else -1
        for word in part.split():
            if word not in _WORDS:
                close = difflib.get_close_matches(word, list(_WORDS), n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ValueError(f"unknown unit word {word!r} in {text!r}{hint}")
            f, d = _WORDS[word]
            scale *= f ** sign
            for k, v in d.items():
                dims[k] = dims.get(k, 0) + sign * v
    return Unit(text, scale, tuple(sorted((k, v) for k, v in dims.items() if v)))


def convertible(a: Unit, b: Unit) -> bool:
    return a.physical() == b.physical()


def convert(value: float, src: Unit | str, dst: Unit | str, *, clock_hz: float, sm_count: int) -> float:
    """Convert ``value`` from ``src`` to ``dst``; cycles use ``clock_hz``, SM shares ``sm_count``."""
    a = src if isinstance(src, Unit) else parse_unit(src)
    b = dst if isinstance(dst, Unit) else parse_unit(dst)
    if not convertible(a, b):
        raise ValueError(f"cannot convert {a.text} to {b.text}")

    def to_base(u: Unit) -> float:
        f = u.scale
        f *= (1.0 / clock_hz) ** u.dim("cycle")
        f *= (1.0 / sm_count) ** u.dim("sm")
        return f

    return value * to_base(a) / to_base(b)

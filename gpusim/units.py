"""Physical-unit strings in, canonical integers (or floats) out: the only code that reads units.

Canonical units: frequency in Hz (int), size in bytes (int), time in picoseconds (int),
bandwidth in bytes per second (float) or bytes per clock (float).  Every parser takes a
string such as ``"1.41 GHz"`` and raises :class:`ValueError` with a short reason on anything
else; the config loader turns that into a :class:`~gpusim.errors.ConfigError` naming the key.

Numbers are read with :class:`decimal.Decimal`, so ``"1.41 GHz"`` is exactly 1_410_000_000 Hz
and ``"2.039 TB/s"`` is the float nearest to 2.039e12.  Every ``format_*`` function writes a
string that its ``parse_*`` twin reads back to the same value (tests/test_units.py).
"""

from __future__ import annotations

import difflib
import math
import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "parse_frequency",
    "parse_size",
    "parse_bandwidth",
    "parse_bandwidth_per_clock",
    "parse_time",
    "format_frequency",
    "format_size",
    "format_bandwidth",
    "format_bandwidth_per_clock",
    "format_time",
    "time_to_cycles",
]

# One spelling per unit.  Binary (IEC) prefixes for KiB/MiB/GiB/TiB, decimal (SI) for KB/MB/GB/TB.
_FREQUENCY_UNITS: dict[str, int] = {"Hz": 1, "kHz": 10**3, "MHz": 10**6, "GHz": 10**9}
_SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
}
_BANDWIDTH_UNITS: dict[str, int] = {f"{u}/s": f for u, f in _SIZE_UNITS.items()}
_PER_CLOCK_UNITS: dict[str, int] = {"B/clk": 1}
_TIME_UNITS: dict[str, int] = {"ps": 1, "ns": 10**3, "us": 10**6, "ms": 10**9, "s": 10**12}

# A decimal number (no sign: every quantity here is non-negative) followed by a unit word.
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*([A-Za-z/]+)\s*$")


def _split(text: object, what: str, units: dict[str, int], example: str) -> tuple[Decimal, str]:
    """Split ``"<number> <unit>"`` and check the unit; returns the exact number and the unit."""
    if not isinstance(text, str):
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            raise ValueError(f"{what} needs a unit: write it as a string like '{example}', not {text!r}")
        raise ValueError(f"expected a {what} string like '{example}', got {type(text).__name__} {text!r}")
    m = _QUANTITY.match(text)
    if not m:
        if text.strip().startswith("-"):
            raise ValueError(f"bad {what} {text!r}: must not be negative")
        raise ValueError(f"bad {what} {text!r}: expected '<number> <unit>' like '{example}'")
    mantissa, exponent, unit = m.groups()
    if unit not in units:
        hint = difflib.get_close_matches(unit, list(units), n=1, cutoff=0.5)
        did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
        raise ValueError(
            f"bad {what} {text!r}: unknown unit '{unit}' (expected one of {', '.join(units)}){did_you_mean}"
        )
    try:
        number = Decimal(mantissa) * (Decimal(10) ** int(exponent or 0))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"bad {what} {text!r}: {exc}") from None
    return number, unit


def _exact_int(value: Decimal, text: str, what: str, canonical: str) -> int:
    if value != value.to_integral_value():
        raise ValueError(f"bad {what} {text!r}: not a whole number of {canonical} ({value.normalize()} {canonical})")
    return int(value)


def parse_frequency(text: str) -> int:
    """``"1.41 GHz"`` -> 1_410_000_000 (Hz).  Units: Hz, kHz, MHz, GHz."""
    number, unit = _split(text, "frequency", _FREQUENCY_UNITS, "1.41 GHz")
    return _exact_int(number * _FREQUENCY_UNITS[unit], text, "frequency", "Hz")


def parse_size(text: str) -> int:
    """``"40 MiB"`` -> 41_943_040 (bytes).  KiB/MiB/GiB/TiB are binary, KB/MB/GB/TB decimal, B bytes."""
    number, unit = _split(text, "size", _SIZE_UNITS, "40 MiB")
    return _exact_int(number * _SIZE_UNITS[unit], text, "size", "bytes")


def parse_bandwidth(text: str) -> float:
    """``"1.55 TB/s"`` -> 1.55e12 (bytes/s).  Units: B/s, KB/s .. TB/s, KiB/s .. TiB/s.

    ``B/clk`` is refused here because it needs a clock; use :func:`parse_bandwidth_per_clock`.
    """
    if isinstance(text, str) and text.strip().endswith("/clk"):
        raise ValueError(
            f"bad bandwidth {text!r}: a per-clock bandwidth needs a clock; this key takes bytes per second"
            " (e.g. '768 GB/s')"
        )
    number, unit = _split(text, "bandwidth", _BANDWIDTH_UNITS, "768 GB/s")
    return float(number * _BANDWIDTH_UNITS[unit])


def parse_bandwidth_per_clock(text: str) -> float:
    """``"64 B/clk"`` -> 64.0 (bytes per clock cycle of whatever clock the key is tied to)."""
    number, unit = _split(text, "per-clock bandwidth", _PER_CLOCK_UNITS, "64 B/clk")
    return float(number * _PER_CLOCK_UNITS[unit])


def parse_time(text: str) -> int:
    """``"25 ns"`` -> 25_000 (picoseconds).  Units: ps, ns, us, ms, s."""
    number, unit = _split(text, "time", _TIME_UNITS, "25 ns")
    return _exact_int(number * _TIME_UNITS[unit], text, "time", "ps")


# ----------------------------------------------------------------------------------------------
# Writers: the largest unit that still shows the value exactly.


def _plain(d: Decimal) -> str:
    """Decimal without exponent or trailing zeros: Decimal('1.4100') -> '1.41', Decimal('6E+1') -> '60'."""
    s = format(d.normalize(), "f")
    return s


def _format_int(value: int, units: dict[str, int], what: str, exact_multiples_only: bool) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    for name, factor in sorted(units.items(), key=lambda kv: -kv[1]):
        if value >= factor and (not exact_multiples_only or value % factor == 0):
            return f"{_plain(Decimal(value) / Decimal(factor))} {name}"
    smallest = min(units, key=units.__getitem__)
    return f"{value} {smallest}"


def format_frequency(hz: int) -> str:
    """1_410_000_000 -> ``"1.41 GHz"``."""
    return _format_int(hz, _FREQUENCY_UNITS, "frequency", exact_multiples_only=False)


def format_size(nbytes: int) -> str:
    """41_943_040 -> ``"40 MiB"``; 5_500_000 -> ``"5.5 MB"``; 100 -> ``"100 B"``.

    Binary units are used when the size is a whole multiple of one; otherwise the largest
    decimal unit that shows the size exactly in at most three decimals; otherwise bytes.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise ValueError(f"size must be an int, got {nbytes!r}")
    if nbytes < 0:
        raise ValueError(f"size must not be negative, got {nbytes}")
    for name in ("TiB", "GiB", "MiB", "KiB"):
        factor = _SIZE_UNITS[name]
        if nbytes >= factor and nbytes % factor == 0:
            return f"{nbytes // factor} {name}"
    for name in ("TB", "GB", "MB", "KB"):
        factor = _SIZE_UNITS[name]
        if nbytes >= factor and (nbytes * 1000) % factor == 0:
            return f"{_plain(Decimal(nbytes) / Decimal(factor))} {name}"
    return f"{nbytes} B"


def format_bandwidth(bytes_per_s: float) -> str:
    """7.68e11 -> ``"768 GB/s"``; always parses back to the identical float."""
    if isinstance(bytes_per_s, bool) or not isinstance(bytes_per_s, (int, float)):
        raise ValueError(f"bandwidth must be a number, got {bytes_per_s!r}")
    if not math.isfinite(bytes_per_s) or bytes_per_s < 0:
        raise ValueError(f"bandwidth must be finite and non-negative, got {bytes_per_s!r}")
    exact = Decimal(repr(float(bytes_per_s)))  # shortest decimal that round-trips to this float
    for name in ("TB/s", "GB/s", "MB/s", "KB/s"):
        factor = _BANDWIDTH_UNITS[name]
        if exact >= factor:
            text = f"{_plain(exact / Decimal(factor))} {name}"
            if parse_bandwidth(text) == float(bytes_per_s):
                return text
    return f"{_plain(exact)} B/s"


def format_bandwidth_per_clock(bytes_per_clock: float) -> str:
    """64.0 -> ``"64 B/clk"``."""
    if isinstance(bytes_per_clock, bool) or not isinstance(bytes_per_clock, (int, float)):
        raise ValueError(f"per-clock bandwidth must be a number, got {bytes_per_clock!r}")
    if not math.isfinite(bytes_per_clock) or bytes_per_clock < 0:
        raise ValueError(f"per-clock bandwidth must be finite and non-negative, got {bytes_per_clock!r}")
    return f"{_plain(Decimal(repr(float(bytes_per_clock))))} B/clk"


def format_time(ps: int) -> str:
    """25_000 -> ``"25 ns"``."""
    return _format_int(ps, _TIME_UNITS, "time", exact_multiples_only=False)


def time_to_cycles(ps: int, clock_hz: int) -> int:
    """Round a duration in picoseconds to the nearest whole number of cycles of ``clock_hz``.

    Example: 23.4 ns at 1395 MHz -> ``time_to_cycles(23_400, 1_395_000_000)`` == 33.
    Ties round half up; the arithmetic is exact (integers only).
    """
    if ps < 0 or clock_hz <= 0:
        raise ValueError(f"need ps >= 0 and clock_hz > 0, got ps={ps}, clock_hz={clock_hz}")
    num = ps * clock_hz
    den = 10**12
    return (2 * num + den) // (2 * den)

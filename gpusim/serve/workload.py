"""Request arrivals for ``gpusim serve``: synthetic processes and public request-trace formats.

``--arrivals poisson:rate=R,duration=S,prompt=P,output=O,seed=N`` draws exponential inter-arrival
gaps (a Poisson process of R requests/s for S seconds); ``gamma:...,cv=C`` draws gamma gaps with
coefficient of variation C (C > 1: bursty, as BurstGPT reports for real traffic).  ``prompt`` and
``output`` are lengths: ``512`` (fixed), ``uniform:A:B``, ``lognormal:MEDIAN:SIGMA``.

Trace files, in their own formats (header row required, extra columns ignored):

* BurstGPT (HPMLL/BurstGPT, CC-BY-4.0): ``Timestamp`` (s), ``Request tokens``, ``Response tokens``
  (``Model``, ``Log Type`` ... ignored; rows with 0 response tokens are failures there and are skipped);
* Azure LLM inference trace (Azure/AzurePublicDataset, CC-BY-4.0): ``TIMESTAMP`` (a date-time),
  ``ContextTokens``, ``GeneratedTokens``.

``window=A:B`` keeps arrivals in [A, B) seconds from the first; ``scale=F`` multiplies the arrival
rate (divides every timestamp by F).  Bad input is one line naming ``file:line`` or the key, exit 2.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from gpusim.errors import GpusimError


class WorkloadError(GpusimError):
    """A malformed arrival spec or request trace."""


@dataclass(frozen=True)
class Request:
    id: int
    arrival_s: float
    prompt: int
    output: int


_PROC_KEYS = {"rate", "duration", "prompt", "output", "seed", "cv"}


def _length(spec: str, key: str, text: str):
    parts = spec.split(":")
    try:
        if len(parts) == 1:
            v = int(parts[0])
            if v < 1:
                raise ValueError
            return lambda rng, n: np.full(n, v, np.int64)
        if parts[0] == "uniform" and len(parts) == 3:
            a, b = int(parts[1]), int(parts[2])
            if not 1 <= a <= b:
                raise ValueError
            return lambda rng, n: rng.integers(a, b + 1, n)
        if parts[0] == "lognormal" and len(parts) == 3:
            med, sig = float(parts[1]), float(parts[2])
            if med < 1 or sig < 0:
                raise ValueError
            return lambda rng, n: np.maximum(1, np.round(rng.lognormal(np.log(med), sig, n))).astype(np.int64)
    except ValueError:
        pass
    raise WorkloadError(f"arrivals '{text}': {key}={spec}: expected N, uniform:A:B or lognormal:MEDIAN:SIGMA "
                        f"(positive lengths)")


def synthetic(text: str) -> list[Request]:
    """Requests of an arrival spec ``poisson:...`` / ``gamma:...`` (module doc)."""
    kind, sep, body = text.partition(":")
    if kind not in ("poisson", "gamma") or not sep:
        raise WorkloadError(f"arrivals '{text}': expected poisson:rate=R,duration=S,prompt=P,output=O[,seed=N] or "
                            f"gamma:...,cv=C")
    kv: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in body.split(","))):
        k, eq, v = item.partition("=")
        if not eq or k not in _PROC_KEYS:
            near = difflib.get_close_matches(k, sorted(_PROC_KEYS), n=1)
            raise WorkloadError(f"arrivals '{text}': '{item}': expected key=value with key in {sorted(_PROC_KEYS)}"
                                + (f" (did you mean '{near[0]}'?)" if near else ""))
        kv[k] = v
    missing = [k for k in ("rate", "duration", "prompt", "output") if k not in kv]
    if missing:
        raise WorkloadError(f"arrivals '{text}': missing {', '.join(missing)}")
    try:
        rate, dur = float(kv["rate"]), float(kv["duration"])
        seed = int(kv.get("seed", 0))
        cv = float(kv.get("cv", 1.0))
        if rate <= 0 or dur <= 0 or cv <= 0:
            raise ValueError
    except ValueError:
        raise WorkloadError(f"arrivals '{text}': rate, duration (and cv) must be positive numbers, seed an integer") \
            from None
    if kind == "poisson" and "cv" in kv:
        raise WorkloadError(f"arrivals '{text}': cv applies to gamma arrivals")
    pl, ol = _length(kv["prompt"], "prompt", text), _length(kv["output"], "output", text)
    rng = np.random.default_rng(seed)
    n_max = int(rate * dur * 3 + 100)
    if kind == "poisson":
        gaps = rng.exponential(1.0 / rate, n_max)
    else:                                    # gamma with mean 1/rate and coefficient of variation cv
        shape = 1.0 / cv ** 2
        gaps = rng.gamma(shape, 1.0 / (rate * shape), n_max)
    t = np.cumsum(gaps)
    t = t[t < dur]
    p, o = pl(rng, t.size), ol(rng, t.size)
    return [Request(i, float(t[i]), int(p[i]), int(o[i])) for i in range(t.size)]


_FORMATS = {
    "burstgpt": ("Timestamp", "Request tokens", "Response tokens"),
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
}


def _parse_time(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        s = v.strip().replace("Z", "+00:00")
        if "." in s:                                       # Azure writes 7 fractional digits
            head, frac = s.split(".", 1)
            digits = "".join(ch for ch in frac if ch.isdigit())
            rest = frac[len(digits):]
            s = f"{head}.{digits[:6]}{rest}"
        return datetime.fromisoformat(s).timestamp()


def from_trace(path: str | Path, window: tuple[float, float] | None = None, scale: float = 1.0) -> list[Request]:
    """Requests of a BurstGPT or Azure CSV (format detected from the header)."""
    p = Path(path)
    try:
        f = open(p, newline="")
    except OSError as e:
        raise WorkloadError(f"{p}: cannot read the request trace: {e.strerror}") from None
    with f:
        rd = csv.reader(f)
        try:
            header = [h.strip() for h in next(rd)]
        except StopIteration:
            raise WorkloadError(f"{p}:1: empty file (expected a BurstGPT or Azure LLM trace CSV)") from None
        fmt = next((k for k, cols in _FORMATS.items() if all(c in header for c in cols)), None)
        if fmt is None:
            raise WorkloadError(f"{p}:1: header {header[:6]} is neither BurstGPT (Timestamp, Request tokens, "
                                f"Response tokens) nor Azure (TIMESTAMP, ContextTokens, GeneratedTokens)")
        ti, pi, oi = (header.index(c) for c in _FORMATS[fmt])
        rows = []
        for line, row in enumerate(rd, 2):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                t, pr, out = _parse_time(row[ti]), int(float(row[pi])), int(float(row[oi]))
            except (ValueError, IndexError):
                raise WorkloadError(f"{p}:{line}: bad row {row[:6]} (time, prompt and output tokens expected)") from None
            if pr < 0 or out < 0:
                raise WorkloadError(f"{p}:{line}: negative token count")
            if out == 0 or pr == 0:
                continue                                    # failed / empty requests in the trace
            rows.append((t, pr, out))
    if not rows:
        raise WorkloadError(f"{p}: no request with prompt and output tokens")
    rows.sort()
    t0 = rows[0][0]
    if scale <= 0:
        raise WorkloadError(f"scale {scale}: must be positive")
    reqs = []
    for t, pr, out in rows:
        rel = (t - t0)
        if window and not window[0] <= rel < window[1]:
            continue
        reqs.append(Request(len(reqs), (rel - (window[0] if window else 0.0)) / scale, pr, out))
    if not reqs:
        raise WorkloadError(f"{p}: no request inside the window {window}")
    return reqs

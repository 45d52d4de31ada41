"""How long a ``gpusim llm`` step will take to simulate, said before it starts (issue #18: no unexplained wait).

Before the first kernel runs, :func:`plan` walks one CTA of every distinct kernel of the step (the
functional walker, milliseconds per kernel) and multiplies its warp instructions by the CTAs that
will be simulated (all of them, or the warm-up + measured + drain waves of CTA-wave sampling).  The
total over the simulation speed gives the expected time; the progress bar then counts warp
instructions, so its ETA follows the work rather than the number of launches.

The speed is the one this machine reached the last time it ran a step (kept in ``speed.json`` beside
the Numba cache), or else :data:`NOMINAL_WARP_INST_PER_S`.  Memory: a kernel that is not streamed
holds its whole walked trace, :data:`RESIDENT_BYTES_PER_WARP_INST` per warp instruction; a streamed
one a few CTA waves (:mod:`gpusim.assemble`).  CTA 0 stands for every CTA, so kernels whose CTAs do
unequal work (causal attention, split-K tails) make the figure approximate: it is stated as "about".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

#: warp-instructions/s of the timing model on an LLM step when this machine has no measurement yet:
#: Llama-2-7B batch-1 decode on the A100 config, 43.7 M warp instructions in 49 s, one thread
#: (README "Speed", benchmarks/llm_speed.py, 2-core development machine).
NOMINAL_WARP_INST_PER_S = 0.9e6

#: bytes of memory per warp instruction of a walked trace held whole (not streamed): the mma.sync GEMM
#: 2048x2048x1024 on the RTX 3070 config, 9.06 M warp instructions, 1.1 GiB peak RSS (README "Speed",
#: benchmarks/llm_speed.py); the interpreter's own ~0.2 GiB is included, so this is an upper figure.
RESIDENT_BYTES_PER_WARP_INST = 130

#: Say the estimate only when the step is expected to take longer than this (seconds of wall time).
NOTICE_SECONDS = 20.0


@dataclass(frozen=True)
class KernelWork:
    key: tuple
    name: str
    ctas_simulated: int
    warp_instructions: int        # of the simulated CTAs (CTA 0's count x CTAs)
    streamed: bool


@dataclass(frozen=True)
class Work:
    kernels: tuple[KernelWork, ...]

    @property
    def warp_instructions(self) -> int:
        return sum(k.warp_instructions for k in self.kernels)

    @property
    def resident_bytes(self) -> int:
        """The largest walked trace held at once (kernels that are not streamed)."""
        held = [k.warp_instructions for k in self.kernels if not k.streamed]
        return max(held, default=0) * RESIDENT_BYTES_PER_WARP_INST


def _speed_file():
    from gpusim.core import cache_dir

    return cache_dir() / "speed.json"


def measured_speed() -> float | None:
    """warp-instructions/s of the last step simulated on this machine (None if none was recorded)."""
    try:
        v = float(json.loads(_speed_file().read_text())["warp_inst_per_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return v if v > 0 and math.isfinite(v) else None


def record_speed(warp_instructions: int, seconds: float) -> None:
    """Keep this run's speed for the next estimate (only runs long enough to measure it: >= 2 s)."""
    if seconds < 2.0 or warp_instructions <= 0:
        return
    try:
        p = _speed_file()
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"warp_inst_per_s": warp_instructions / seconds}))
    except OSError:
        pass


def plan(launches, cfg, sample: int | None, dedup: bool) -> Work:
    """The simulated work of ``launches`` (distinct kernels once when ``dedup``, named as the step's cache
    names them), with the CTA-wave sampling plan the simulation will use (:func:`gpusim.llm.run.sample_plan`;
    with ``sample_error`` the adaptive sample's length is known only as it runs: this is its least)."""
    from gpusim.llm import run as R

    seen: dict = {}
    for i, ln in enumerate(launches):
        k = R._key(ln.call) if dedup else ("#", i)
        if k in seen:
            continue
        head = ln.call.trace(range(1))
        wave, sp = R.sample_plan(cfg, head, ln.call.launch.num_ctas, sample)
        n_s = sp[3] if sp else ln.call.launch.num_ctas
        seen[k] = KernelWork(k, ln.call.name, n_s, head.warp_instructions * n_s, -(-n_s // wave) > R.STREAM_MIN_WAVES)
    return Work(tuple(seen.values()))


def notice(work: Work, speed: float | None) -> str | None:
    """The one line said before a long step (None for a short one)."""
    rate = speed or NOMINAL_WARP_INST_PER_S
    secs = work.warp_instructions / rate
    if secs < NOTICE_SECONDS:
        return None
    src = "this machine's last run" if speed else "the nominal speed, README 'Speed'"
    mem = work.resident_bytes
    return (f"gpusim: about {work.warp_instructions / 1e6:,.1f} M warp instructions in {len(work.kernels)} distinct "
            f"kernels: about {_duration(secs)} at {rate / 1e6:.2f} M warp-inst/s ({src}); largest trace held "
            f"at once about {mem / 2**30:.1f} GiB" + ("" if mem else " (all streamed)")
            + "; --sample K or --sample-error E simulates fewer CTA waves")


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"

"""Finds the kernels of a run: ``kernelslist.g``, a trace directory, or a single kernel trace.

Single responsibility: turn the TRACE argument of ``gpusim run`` / ``gpusim trace info`` into
an ordered list of commands (kernel launches and host-to-device copies), checking that
every named file exists.  Kernel files are parsed lazily (``Workload.kernel(i)``).

``kernelslist.g`` rules (research/accel-sim-trace-format.md §3.1): blank lines skipped;
``MemcpyHtoD,0x<addr>,<bytes>`` is a copy; a line starting with ``kernel`` names a kernel
trace relative to the list's folder; anything else (``MemcpyDtoH``...) is ignored.
We accept ``.traceg``, ``.traceg.xz`` and, unlike Accel-Sim, raw ``.trace``/``.trace.xz``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gpusim.errors import TraceError
from gpusim.frontend.reader import KernelTrace, intern_opcodes, read_kernel_trace

_TRACE_SUFFIXES = (".traceg", ".traceg.xz", ".trace", ".trace.xz")


@dataclass(frozen=True)
class Memcpy:
    dst: int
    nbytes: int
    where: str


@dataclass(frozen=True)
class KernelLaunch:
    path: Path
    where: str  # "kernelslist.g:LINE" or the file itself


@dataclass
class Workload:
    source: str
    commands: list = field(default_factory=list)

    @property
    def kernels(self) -> list[KernelLaunch]:
        return [c for c in self.commands if isinstance(c, KernelLaunch)]

    def load(self, k: KernelLaunch, use_cache: bool = True, intern: bool = True,
             allow_partial: bool = False) -> KernelTrace:
        """The kernel's trace.  A trace holding fewer CTAs than its header's grid (cut short, or
        recorded with NVBit's CTA filter) is refused with TraceError unless ``allow_partial``: the
        simulation of such a trace is not the kernel the header describes."""
        kt = read_kernel_trace(k.path, use_cache=use_cache)
        if not allow_partial:
            check_complete(kt)
        return intern_opcodes(kt) if intern else kt


def check_complete(kt: KernelTrace) -> None:
    """TraceError unless the trace holds every CTA of its grid."""
    have, want = kt.num_ctas, kt.header.num_ctas
    if have < want:
        raise TraceError(kt.path, f"holds {have} of the {want} thread blocks its header declares (grid "
                                  f"{kt.header.grid}): the trace is cut short or was recorded for some CTAs only; "
                                  f"pass --allow-partial to simulate just those (reported as partial)")


def _is_trace_file(p: Path) -> bool:
    return any(p.name.endswith(s) for s in _TRACE_SUFFIXES)


def _kernel_number(p: Path) -> tuple[int, str]:
    m = re.search(r"kernel-(\d+)", p.name)
    return (int(m.group(1)) if m else 1 << 30, p.name)


def read_kernelslist(path: Path) -> Workload:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise TraceError(str(path), f"cannot read: {e.strerror}") from None
    wl = Workload(source=str(path))
    for ln, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        where = f"{path}:{ln}"
        if not s:
            continue
        if s.startswith("MemcpyHtoD"):
            parts = [p.strip() for p in s.split(",")]
            try:
                if len(parts) != 3:
                    raise ValueError
                wl.commands.append(Memcpy(int(parts[1], 16), int(parts[2]), where))
            except ValueError:
                raise TraceError(where, f"malformed copy line {s!r} (expected MemcpyHtoD,0x<address>,<bytes>)") from None
        elif s.startswith("kernel"):
            kp = path.parent / s
            if not _is_trace_file(kp) and not _is_trace_file(kp.with_name(kp.name + ".xz")):
                raise TraceError(where, f"kernel file {s!r} must end in .traceg, .traceg.xz, .trace or .trace.xz")
            if not kp.is_file() and kp.with_name(kp.name + ".xz").is_file():
                kp = kp.with_name(kp.name + ".xz")  # a list naming the uncompressed file of a recompressed trace
            if not kp.is_file():
                raise TraceError(where, f"kernel file {s!r} named here does not exist")
            wl.commands.append(KernelLaunch(kp, where))
        # anything else (MemcpyDtoH, comments) is ignored, as Accel-Sim does
    if not wl.kernels:
        raise TraceError(str(path), "lists no kernel (no 'kernel-N.traceg' line): nothing to simulate")
    return wl


def open_workload(trace: str | Path) -> Workload:
    """TRACE is a ``kernelslist.g`` file, a folder holding one (or ``kernel-*.traceg*`` files),
    or a single kernel trace file."""
    p = Path(trace)
    if p.is_dir():
        for cand in ("kernelslist.g", "kernelslist", "traces/kernelslist.g"):
            if (p / cand).is_file():
                return read_kernelslist(p / cand)
        files = sorted((f for f in p.iterdir() if _is_trace_file(f)), key=_kernel_number)
        if not files:
            raise TraceError(str(p), "folder holds no kernelslist.g and no kernel-*.traceg[.xz] files")
        return Workload(source=str(p), commands=[KernelLaunch(f, str(f)) for f in files])
    if not p.exists():
        raise TraceError(str(p), "no such file or folder")
    if _is_trace_file(p):
        return Workload(source=str(p), commands=[KernelLaunch(p, str(p))])
    return read_kernelslist(p)

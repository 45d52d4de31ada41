"""Program IR of the RDU model: stages and streams of one section, packed into arrays for the core.

:class:`Section` is built by the lowering (:mod:`gpusim.accel.rdu.lower`) or by hand in tests;
:func:`simulate` runs it in :func:`gpusim.accel.rdu.des.run_section` and returns a
:class:`SectionResult` (cycles, per-stage stall breakdown, channel traffic, deadlock report).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpusim.accel.rdu import des
from gpusim.errors import GpusimError

__all__ = ["Stage", "Stream", "Channel", "Section", "SectionResult", "DeadlockError", "simulate",
           "CH_HBM", "CH_DDR", "CH_P2P", "CH_HOST"]

# channel indices of the channel table built by lower.channels()
CH_HBM, CH_DDR, CH_P2P, CH_HOST = 0, 1, 2, 3


class DeadlockError(GpusimError):
    """A section cannot finish: some stage waits forever (undersized buffers / cyclic wait)."""


@dataclass
class Stage:
    name: str
    kind: int                 # des.K_*
    n_fire: int               # firings per trip
    ii: int = 1               # service cycles per firing (compute) / minimum cycles (memory)
    lat: int = 0              # pipeline latency added to output arrival
    chan: int = -1            # memory channel (loads, stores, p2p)
    xfer: int = 0             # bytes per firing on the channel
    op: int = -1              # index of the operator it belongs to (-1: section plumbing)
    pcus: int = 0             # units allocated (reported, and used by the lowering for ii)
    agcus: int = 0
    flops: float = 0.0        # work per firing (reported)
    w1: float = 0.0           # lowering: cycles of one firing on one PCU (ii = ceil(w1 / pcus))
    umin: int = 1             # lowering: fewest PCUs the stage can run on (chained SIMD passes)
    pmus_own: int = 0         # lowering: PMUs of a PMU stage (transpose buffer)


@dataclass
class Stream:
    name: str
    src: int
    dst: int
    cap: int                  # slots (credits), in tokens
    ntok: int                 # tokens per trip
    pe: int = 1               # producer firings per token
    ce: int = 1               # consumer firings per token
    init: int = 0             # tokens present at cycle 0
    lat: int = 0              # hop latency (data and credit return)
    token_bytes: int = 0
    pmus: int = 0             # PMUs holding the buffer (reported)
    role: str = "act"         # act | weight | kv | loop | bypass


@dataclass(frozen=True)
class Channel:
    name: str
    bytes_per_kcycle: int     # bytes per 1000 cycles (exact integer rate)
    latency: int              # cycles


@dataclass
class Section:
    name: str
    stages: list[Stage] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    ops: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, st: Stage) -> int:
        self.stages.append(st)
        return len(self.stages) - 1

    def connect(self, src: int, dst: int, **kw) -> int:
        name = kw.pop("name", f"{self.stages[src].name}->{self.stages[dst].name}")
        self.streams.append(Stream(name=name, src=src, dst=dst, **kw))
        return len(self.streams) - 1

    def check(self) -> None:
        """Token balance: producer emissions == consumer takes per trip on every stream."""
        for e in self.streams:
            p, c = self.stages[e.src], self.stages[e.dst]
            if e.cap < 1 or e.ntok < 1 or e.pe < 1 or e.ce < 1:
                raise ValueError(f"stream {e.name}: cap, ntok, pe, ce must be >= 1")
            if p.n_fire // e.pe < e.ntok or (c.n_fire + e.ce - 1) // e.ce < e.ntok:
                raise ValueError(f"stream {e.name}: {p.name} emits {p.n_fire // e.pe} and {c.name} takes up to "
                                 f"{(c.n_fire + e.ce - 1) // e.ce} tokens per trip, but ntok = {e.ntok}")


@dataclass
class SectionResult:
    name: str
    status: int
    cycles: int
    stats: np.ndarray          # [S, 5] busy, input_starved, output_blocked, memory_bound, finished
    first: np.ndarray
    last: np.ndarray
    done: np.ndarray
    ch_busy: np.ndarray
    ch_bytes: np.ndarray
    trips: int
    deadlock: str = ""

    @property
    def ok(self) -> bool:
        return self.status == des.ST_OK


def _pack(sec: Section):
    S, E = len(sec.stages), len(sec.streams)
    i64 = np.int64
    kind = np.array([s.kind for s in sec.stages], dtype=i64)
    n_fire = np.array([s.n_fire for s in sec.stages], dtype=i64)
    ii = np.array([max(0, s.ii) for s in sec.stages], dtype=i64)
    lat = np.array([s.lat for s in sec.stages], dtype=i64)
    chan = np.array([s.chan for s in sec.stages], dtype=i64)
    xfer = np.array([s.xfer for s in sec.stages], dtype=i64)
    f = {k: np.array([getattr(e, k) for e in sec.streams], dtype=i64).reshape(E)
         for k in ("src", "dst", "cap", "ntok", "pe", "ce", "init", "lat")}
    order_in = np.argsort(f["dst"], kind="stable") if E else np.zeros(0, i64)
    order_out = np.argsort(f["src"], kind="stable") if E else np.zeros(0, i64)
    in_ptr = np.zeros(S + 1, dtype=i64)
    out_ptr = np.zeros(S + 1, dtype=i64)
    np.add.at(in_ptr, f["dst"] + 1, 1)
    np.add.at(out_ptr, f["src"] + 1, 1)
    in_ptr = np.cumsum(in_ptr).astype(i64)
    out_ptr = np.cumsum(out_ptr).astype(i64)
    return (des.Stages(kind, n_fire, ii, lat, chan, xfer),
            des.Streams(f["src"], f["dst"], f["cap"], f["ntok"], f["pe"], f["ce"], f["init"], f["lat"], in_ptr,
                        order_in.astype(i64), out_ptr, order_out.astype(i64)))


def simulate(sec: Section, channels: list[Channel], trips: int = 1) -> SectionResult:
    """Run a section ``trips`` times back to back (kernel looping when > 1) in the DES core."""
    sec.check()
    for s in sec.stages:
        if s.kind in (des.K_LOAD, des.K_STORE, des.K_P2P) and not 0 <= s.chan < len(channels):
            raise ValueError(f"stage {s.name}: memory stage without a channel")
        if s.n_fire < 1:
            raise ValueError(f"stage {s.name}: n_fire must be >= 1")
    rate = np.array([c.bytes_per_kcycle for c in channels], dtype=np.int64)
    clat = np.array([c.latency for c in channels], dtype=np.int64)
    st, sm = _pack(sec)
    out = des.run_section(st, sm, des.Channels(rate, clat), np.int64(trips))
    status, end, stats, first, last, done, ch_busy, ch_bytes, e_prod, e_cons = out
    res = SectionResult(sec.name, int(status), int(end), stats, first, last, done, ch_busy, ch_bytes, trips)
    if status == des.ST_DEADLOCK:
        res.deadlock = _explain(sec, done, e_prod, e_cons, int(end), trips)
    return res


def _explain(sec: Section, done, e_prod, e_cons, cycle: int, trips: int) -> str:
    """One line naming the stuck stages, what each waits for, and the buffers to enlarge."""
    parts = []
    undersized = []
    for si, st in enumerate(sec.stages):
        if done[si] >= st.n_fire * trips:
            continue
        i = int(done[si]) % st.n_fire
        why = []
        for e in sec.streams:
            if e.dst == si and i % e.ce == 0 and i // e.ce < e.ntok and e.init + e_prod[sec.streams.index(e)] - e_cons[sec.streams.index(e)] < 1:
                why.append(f"waits for a token on '{e.name}'")
            if e.src == si and (i + 1) % e.pe == 0 and (i + 1) // e.pe <= e.ntok:
                ei = sec.streams.index(e)
                if e.init + e_prod[ei] - e_cons[ei] >= e.cap:
                    why.append(f"blocked: '{e.name}' is full ({e.cap} tiles)")
                    undersized.append(e.name)
        parts.append(f"{st.name} (firing {int(done[si])}/{st.n_fire * trips}: {'; '.join(why) or 'busy'})")
    hint = f"; undersized buffers: {', '.join(dict.fromkeys(undersized))}" if undersized else ""
    return f"deadlock at cycle {cycle} in section '{sec.name}': " + ", ".join(parts[:6]) + \
        (f" and {len(parts) - 6} more" if len(parts) > 6 else "") + hint

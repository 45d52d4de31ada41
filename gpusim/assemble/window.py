"""The trace arrays the core reads during a run: the whole kernel's, or for a streamed trace a window
of consecutive CTAs that moves as the dispatcher goes (``_Window.refill``)."""

from __future__ import annotations

import numpy as np
from numba import njit

from gpusim.assemble.dynamic import dynamic_arrays
from gpusim.assemble.params import SmRun
from gpusim.core import sm as core
from gpusim.errors import GpusimError
from gpusim.frontend.reader import KernelTrace


@njit(cache=True)
def _shift(buf, d, m, sub):
    """buf[i] = buf[i + d] - sub for i < m, in place (a forward copy: safe although the ranges overlap)."""
    for i in range(m):
        buf[i] = buf[i + d] - sub


class _Window:
    """The trace arrays the core reads: the whole kernel's, or (streamed) those of a window of consecutive
    CTAs from ``cta0``, with more CTAs walked from ``source`` as the dispatcher needs them."""

    def __init__(self, r: SmRun, kt: KernelTrace, total: int | None = None, source=None, cfg=None,
                 lookahead: int = 0):
        self.cwp, self.wip, self.ist, self.imask = kt.cta_warp_ptr, kt.warp_inst_ptr, kt.inst_static, kt.inst_mask
        self.units, self.acc, self.space = r.units, r.extra["acc"], r.extra["space"]
        self.cta0 = 0
        self.hi = kt.num_ctas               # CTAs walked so far (the window ends there)
        self.total = kt.num_ctas if total is None else total
        self.source, self.cfg, self.lookahead = source, cfg, lookahead
        self.insts = kt.warp_instructions   # warp instructions walked so far
        self.peak_insts = kt.warp_instructions
        self.bufs: dict[str, np.ndarray] = {}
        r.g[core.G_MORE] = int(self.hi < self.total)

    def _place(self, name: str, cur: np.ndarray, d: int, sub: int, chunks: list, ptr: bool = False) -> np.ndarray:
        """``cur`` without its first ``d`` entries (minus ``sub``: pointer arrays), then ``chunks`` (pointer
        arrays from 0, joined end to start), in a buffer reused in place while it has room (no second copy
        of the window), as a view of the exact size."""
        buf = self.bufs.get(name, cur)
        m = cur.shape[0] - d
        need = m + sum(q.shape[0] - 1 if ptr else q.shape[0] for q in chunks)
        if buf.shape[0] < need:
            nb = np.empty((need + need // 4 + 16,) + buf.shape[1:], buf.dtype)
            np.subtract(cur[d:], sub, out=nb[:m], casting="unsafe") if sub else np.copyto(nb[:m], cur[d:])
            buf = nb
        elif d:
            _shift(buf, d, m, buf.dtype.type(sub))
        pos = m
        off = int(buf[m - 1]) if ptr else 0
        if ptr and off + sum(int(q[-1]) for q in chunks) > np.iinfo(buf.dtype).max:
            raise GpusimError(f"streamed trace: the window's {name} passes {np.iinfo(buf.dtype).max:,} "
                              f"({buf.dtype}): keep fewer CTAs ahead (lookahead_ctas)")
        for q in chunks:
            if ptr:
                k = q.shape[0] - 1
                np.add(q[1:], off, out=buf[pos: pos + k], casting="unsafe")
                off += int(q[-1])
            else:
                k = q.shape[0]
                buf[pos: pos + k] = q
            pos += k
        self.bufs[name] = buf
        return buf[:pos]

    def refill(self, r: SmRun) -> None:
        """Drop the CTAs below the oldest resident one, append chunks until ``lookahead`` CTAs follow
        ``g[G_NEXT_CTA]`` (or the kernel's last), and rebase the indices the core state holds."""
        from gpusim.frontend.reader import intern_opcodes

        g, W = r.g, r.state.warps
        cs_cta = r.state.sms.cs_cta
        nxt = int(g[core.G_NEXT_CTA])
        res = cs_cta[cs_cta >= 0]
        d_cta = min(int(res.min()), nxt) if res.size else nxt
        d_warp = int(self.cwp[d_cta])
        d_inst = int(self.wip[d_warp])
        d_acc = int(self.acc[0][d_inst])
        # rebase: CTA indices (dispatcher, resident CTA slots), warp and instruction indices of resident
        # warps, instruction indices of requests buffered by SMs that ran ahead
        g[core.G_NEXT_CTA] = nxt - d_cta
        cs_cta[cs_cta >= 0] -= d_cta
        live = W.trace >= 0
        W.trace[live] -= d_warp
        for a in (W.pc, W.fetch, W.end):
            a[live] -= d_inst
            a[~live] = 0
        smg, req = r.state.sms.smg, r.state.sms.req
        for sm in range(smg.shape[0]):
            q = req[sm, : int(smg[sm, core.SG_NREQ]), core.Q_INST]
            q[q >= 0] -= d_inst
        self.cta0 += d_cta
        # walk the next chunks
        parts = []
        ahead = self.hi - self.cta0 - (nxt - d_cta)
        while ahead < self.lookahead and self.hi < self.total:
            kt = next(self.source, None)
            if kt is None:
                raise GpusimError(f"streamed trace: the chunks end after {self.hi} of {self.total} CTAs")
            intern_opcodes(kt)
            parts.append((kt, dynamic_arrays(self.cfg, kt, r.st, 1)))
            self.hi += kt.num_ctas
            ahead += kt.num_ctas
            self.insts += kt.warp_instructions
        if self.hi == self.total:
            self.source = None

        pl = self._place
        self.cwp = pl("cwp", self.cwp, d_cta, d_warp, [k.cta_warp_ptr for k, _ in parts], True)
        self.wip = pl("wip", self.wip, d_warp, d_inst, [k.warp_inst_ptr for k, _ in parts], True)
        self.ist = pl("ist", self.ist, d_inst, 0, [k.inst_static for k, _ in parts])
        self.imask = pl("imask", self.imask, d_inst, 0, [k.inst_mask for k, _ in parts])
        self.units = pl("units", self.units, d_inst, 0, [a[0] for _, a in parts])
        acc_ptr, acc_line, acc_mask = self.acc
        self.acc = (pl("acc_ptr", acc_ptr, d_inst, d_acc, [a[1][0] for _, a in parts], True),
                    pl("acc_line", acc_line, d_acc, 0, [a[1][1] for _, a in parts]),
                    pl("acc_mask", acc_mask, d_acc, 0, [a[1][2] for _, a in parts]))
        self.space = pl("space", self.space, d_inst, 0, [a[2] for _, a in parts])
        self.peak_insts = max(self.peak_insts, int(self.ist.size))
        # (the run holds the current window only)
        r.units, r.extra["acc"], r.extra["space"] = self.units, self.acc, self.space
        g[core.G_MORE] = int(self.hi < self.total)

    def truncate(self, r: SmRun, n: int) -> None:
        """End the kernel after its first ``n`` CTAs (at least those dispatched so far): the dispatcher
        places no CTA beyond them, the resident ones drain (CTA-wave sampling, ``stop`` of
        :func:`gpusim.assemble.run`).  CTAs walked beyond ``n`` are dropped (and not counted in ``insts``)."""
        nxt = self.cta0 + int(r.g[core.G_NEXT_CTA])
        if n < nxt:
            raise GpusimError(f"truncate: {n} CTAs but {nxt} are already dispatched")
        if n < self.hi:
            loc = n - self.cta0
            self.insts -= int(self.wip[self.cwp[self.hi - self.cta0]] - self.wip[self.cwp[loc]])
            self.cwp = self.cwp[: loc + 1]
            self.hi = n
        self.total = min(self.total, n)
        if self.hi >= self.total:
            self.source = None
        r.g[core.G_MORE] = int(self.hi < self.total)

"""Lowering ("mini-compiler"): operators of :mod:`gpusim.llm.graph` (types in :mod:`gpusim.ops`) -> sections of
stages and streams; the rule of each operator kind is the ``rdu`` backend's (``RDU``, :mod:`gpusim.ops.registry`).

Rules (research/rdu-sn40l.md section 5.4), per socket of a ``tp``-way tensor-parallel group:

1. **Tiling.**  Activations stream in row chunks: ``rows per chunk = activation_tile / widest row``
   of the section (at least the systolic rows), so a section moves ``C`` chunk tokens through every
   operator; when all rows fit ``fifo_depth`` activation tiles there is one chunk (decode).  Weights and KV caches stream in ``weight_tile`` tokens.
2. **GEMM** -> AGCU load of the weights (HBM or DDR) -> PCU systolic stage.  A PCU does
   ``rows x cols`` MAC/cycle at ``min(rows of the chunk, rows) / rows`` efficiency (batch-1 decode
   runs at 1/rows of peak).  With ``C > 1`` chunks and weights that fit the SRAM budget, weights
   are loaded once and stay resident (one pass of loads, reused by every chunk); otherwise they
   stream once per chunk.
3. **Element-wise / reductions** (RMSNorm, SiLU*mul, add, rotary, softmax, KV append) -> PCU SIMD
   stage: ``lanes`` elements/cycle per PCU per ``ceil(ops / stages)`` chained PCUs.  Row-wise
   reductions need no cross-chunk buffer (a chunk holds whole rows).
4. **Attention** -> one streaming stage (online softmax, flash style): decode loads the past K/V
   from HBM in tiles; prefill keeps the prompt's K/V on chip (PMUs) and charges each chunk the
   average causal work.
5. **Collectives** -> P2P stage inside the section: ring all-reduce moves ``2(tp-1)/tp`` of the
   message with ``2(tp-1)`` step latencies; all-gather ``(tp-1)/tp`` and ``tp-1`` steps.
6. **Service time** of a firing = max(compute, PCU link bandwidth) / PCUs; memory stages are
   limited by their channel (FCFS in the core) and by their AGCUs (``agcu bandwidth x AGCUs``).
7. **Buffers** (stream PMUs) = max(capacity / PMU size, bandwidth / PMU read bandwidth); a bypass
   stream (a residual skip edge) is deepened to the tokens in flight on the longest other path,
   so it never throttles the fork.
8. **Fit**: minimum PCUs, PMUs (buffers, resident weights, on-chip K/V) must fit ``fill`` of the
   socket; otherwise the section is split at the cut with the fewest crossing bytes (those
   tensors go through HBM).  Units left over are then handed out: PCUs in proportion to work,
   PMUs to deepen weight/KV prefetch and to interleave buffers for bandwidth (the compiler's
   "use the whole chip" policy, which is why ~``fill`` of the units end up allocated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gpusim.accel.rdu import des
from gpusim.accel.rdu.ir import CH_DDR, CH_HBM, CH_P2P, Channel, Section, Stage
from gpusim.accel.rdu.spec import RDUSpec
from gpusim.errors import GpusimError
from gpusim.ops.dtypes import DTYPE_BITS
from gpusim.ops.graph import Operator, OperatorGraph
from gpusim.ops.kinds import ELEMENTWISE_FLOPS
from gpusim.ops.kinds import OperatorKind as OK
from gpusim.ops.registry import Unsupported, register_backend
from gpusim.units import time_to_cycles

__all__ = ["channels", "Lowering", "SectionPlan", "NoFit", "FUSION_LEVELS", "RduRule", "RDU"]

FUSION_LEVELS = ("unfused", "fused_so", "fused_ho", "fused_ho_looped")

# element-wise op counts per output element of kinds the graph does not list (this module's convention,
# same style as gpusim.ops.kinds.ELEMENTWISE_FLOPS): kv_append and embedding are copies (1 op per element).
_COPY_OPS = 1

# aliases: graph tensor names that are another operator's output under a different name
_ALIASES = {"final.h_sampled": "final.h"}

#: simulation granularity, not hardware: the tiles of one weight/KV stream are merged so that a stage
#: fires at most this many times per chunk sweep (tests/test_rdu_lower.py checks the result converges)
MAX_FIRINGS = 4096

#: slots of a double buffer (one being written while one is read): the least a stream, a transposing PMU
#: or a workspace holds ([paper] sec. VII: double buffers on disjoint banks)
DOUBLE_BUFFER = 2
CARRY_IN, CARRY_OUT = "layer.x", "layer.x2"   # a block's input is the previous block's output


def channels(spec: RDUSpec) -> list[Channel]:
    """Channel table (indices CH_HBM, CH_DDR, CH_P2P, CH_HOST) in bytes per 1000 cycles of the RDU clock."""
    clk = spec.clock_hz

    def rate(bps: float, eff: float = 1.0) -> int:
        return max(1, int(round(bps * eff * 1000 / clk)))

    return [
        Channel("hbm", rate(spec.hbm.bandwidth_bytes_per_s, spec.hbm.efficiency_frac), time_to_cycles(spec.hbm.latency_ps, clk)),
        Channel("ddr", rate(spec.ddr.bandwidth_bytes_per_s, spec.ddr.efficiency_frac), time_to_cycles(spec.ddr.latency_ps, clk)),
        Channel("p2p", rate(spec.p2p.bandwidth_bytes_per_s), 0),
        Channel("host", rate(spec.host.link_bandwidth_bytes_per_s), 0),
    ]


class NoFit(Exception):
    """A section does not fit the socket (PCUs, PMUs or SRAM); carries the reason."""


@dataclass
class SectionPlan:
    """A lowered section plus what the schedule and the report need to know about it."""

    section: Section
    ops: list[int]
    chunks: int
    pcus: int
    pmus: int
    agcus: int
    sram_bytes: int
    carry_in: int = -1          # loader stage of the block input (kernel looping)
    carry_out: int = -1         # store stage of the block output
    hbm_bytes: int = 0          # per trip
    ddr_bytes: int = 0
    p2p_bytes: int = 0
    flops: float = 0.0
    notes: list[str] = field(default_factory=list)


def _ceil(a: float, b: float) -> int:
    return int(-(-a // b)) if b > 0 else 0


class Lowering:
    """Lower a graph's operators into sections for one socket of ``spec``.

    ``weights_in_ddr``: names of operators whose weights live in DDR (placement by the schedule).
    """

    def __init__(self, spec: RDUSpec, graph: OperatorGraph, weights_in_ddr: frozenset[str] = frozenset()):
        self.spec = spec
        self.g = graph
        self.ops = list(graph.operators)
        self.tp = graph.tp
        self.ddr_ops = weights_in_ddr
        sp = spec
        self.e = DTYPE_BITS[graph.model.dtype] // 8          # activation element (the model's dtype)
        self.kv_e = DTYPE_BITS[graph.model.kv_dtype] // 8    # KV-cache element
        self.hop = sp.network.hops * sp.network.hop_latency_cycles + sp.pmu.latency_cycles  # switch hops + buffer read
        self.pcu_budget = max(1, int(sp.pcu.count * sp.mapper.fill_frac))
        self.pmu_budget = max(1, int(sp.pmu.count * sp.mapper.fill_frac))
        self.depth = sp.network.fifo_depth
        self.step_lat = time_to_cycles(sp.p2p.step_latency_ps, sp.clock_hz)
        self.rules = [_rule(op) for op in self.ops]          # the rdu backend's rule of each operator's kind
        # producer of each input of each operator (index into self.ops, or -1 = from memory)
        self.producer: list[dict[str, int]] = []
        last: dict[str, int] = {}
        for i, op in enumerate(self.ops):
            src = {}
            for name in op.inputs:
                n = _ALIASES.get(name, name)
                if n == CARRY_IN:
                    n = CARRY_OUT if CARRY_OUT in last else "x0"
                src[name] = last.get(n, -1) if not n.endswith(".weight") and n != "layer.kv_cache" else -1
            self.producer.append(src)
            for name in op.outputs:
                last[name] = i
        self.consumers: dict[int, list[int]] = {i: [] for i in range(len(self.ops))}
        for j, src in enumerate(self.producer):
            for i in src.values():
                if i >= 0 and j not in self.consumers[i]:
                    self.consumers[i].append(j)

    # ---------------------------------------------------------------------------------------------
    # per-operator facts

    def rows(self, op: Operator) -> int:
        sh = op.shape
        for k in ("rows", "tokens", "M"):
            if k in sh:
                return int(sh[k])
        if op.kind == OK.ATTENTION:
            return int(sh["batch"] * sh["q_len"])
        t = self.g.tensors.get(op.outputs[0]) if op.outputs else None
        return int(t.shape[0]) if t is not None and t.shape else 1

    def row_bytes(self, op: Operator) -> int:
        return max(1, op.bytes_written // max(1, self.rows(op)))

    def kv_past_bytes(self, op: Operator) -> int:
        """K and V of positions cached before this step (attention loads them from memory)."""
        sh = op.shape
        past = sh["kv_len"] - sh["q_len"]
        per_pos = 2 * sh["kv_heads"] * sh["head_dim"] * self.kv_e
        return int(sh["batch"] * max(0, past) * per_pos)

    def kv_onchip_bytes(self, op: Operator) -> int:
        sh = op.shape
        return int(sh["batch"] * sh["q_len"] * 2 * sh["kv_heads"] * sh["head_dim"] * self.kv_e)

    def simd_ops(self, op: Operator) -> int:
        return _rule(op).simd_ops(op)

    def elements(self, op: Operator) -> int:
        return _rule(op).elements(self, op)

    # ---------------------------------------------------------------------------------------------

    def build(self, idx: list[int], name: str) -> SectionPlan:
        """Lower operators ``idx`` (graph order) into one section; raises NoFit when they do not fit.

        Weights are kept resident (loaded once, reused by every chunk) when that fits; otherwise
        they stream once per chunk.
        """
        try:
            return self._build(idx, name, True)
        except NoFit:
            return self._build(idx, name, False)

    def _build(self, idx: list[int], name: str, allow_resident: bool) -> SectionPlan:
        sp = self.spec
        ops = [self.ops[i] for i in idx]
        inset = set(idx)
        sec = Section(name=name, ops=list(idx))
        widest = max(self.row_bytes(o) for o in ops)
        rows_max = max(self.rows(o) for o in ops)
        if rows_max * widest <= self.depth * sp.mapper.activation_tile_bytes:
            m_c = rows_max           # the whole activation fits the stream buffers: one chunk, weights stream once
        else:                        # row chunks of one activation tile, never thinner than the systolic array
            floor = max([_ceil(sp.pcu.systolic_rows * self.rows(o), o.shape["M"]) for o in ops
                         if _rule(o).unit == "systolic" and "M" in o.shape] or [1])
            m_c = max(floor, sp.mapper.activation_tile_bytes // widest)
        chunks = {i: max(1, _ceil(self.rows(self.ops[i]), m_c)) for i in idx}
        C = max(chunks.values())
        w_tile = sp.mapper.weight_tile_bytes
        plan = SectionPlan(sec, list(idx), C, 0, 0, 0, 0)
        stage_of: dict[int, int] = {}          # op -> its main stage
        w_streams: list[int] = []
        resident_bytes = 0
        onchip_kv = 0
        # ---- compute / transfer stage per operator
        for i in idx:
            op = self.ops[i]
            c = chunks[i]
            rows_c = max(1, _ceil(self.rows(op), c))
            rule = self.rules[i]
            systolic = rule.unit == "systolic"
            bulk = 0
            bulk_chan = CH_DDR if op.name in self.ddr_ops else CH_HBM
            if rule.bulk == "weights":
                bulk = op.weight_bytes
            elif rule.bulk == "kv":
                bulk = self.kv_past_bytes(op)
                onchip_kv += self.kv_onchip_bytes(op) if op.shape["q_len"] > 1 else 0
            tiles = max(1, _ceil(bulk, w_tile)) if bulk else 0
            resident = (allow_resident and systolic and c > 1)
            if resident:
                resident_bytes += bulk
                k = 1
            else:
                k = tiles if systolic else max(1, _ceil(tiles, c))
                k = max(1, min(k, MAX_FIRINGS // c))
            n = c * k
            if rule.unit == "p2p":
                steps, moved = rule.ring(int(op.shape["bytes"]), self.tp)
                st = Stage(op.name, des.K_P2P, c, chan=CH_P2P, xfer=max(1, _ceil(moved, c)),
                           lat=steps * self.step_lat, op=i)
                plan.p2p_bytes += st.xfer * c
            elif rule.unit == "pmu":   # a buffer access pattern: a PMU stage, no PCU ([paper] sec. IV-B)
                tok = max(1, _ceil(op.bytes_written, c))
                pm = max(1, _ceil(DOUBLE_BUFFER * tok, sp.pmu.size_bytes))   # double-buffered tile, diagonally striped
                st = Stage(op.name, des.K_PMU, c, op=i, lat=sp.pmu.latency_cycles,
                           ii=max(1, _ceil(tok, pm * min(sp.pmu.read_bytes_per_clk, sp.pmu.write_bytes_per_clk))))
                st.pmus_own = pm
            else:
                st = Stage(op.name, des.K_SYSTOLIC if systolic else des.K_SIMD, n, op=i,
                           lat=sp.pcu.latency_cycles, flops=op.flops / n)
                st.w1 = self._work1(op, n, rows_c, bulk)
                st.umin = max(1, _ceil(self.simd_ops(op), sp.pcu.stages)) if st.kind == des.K_SIMD else 1
                plan.flops += op.flops
            s = sec.add(st)
            stage_of[i] = s
            if tiles:
                nl = tiles if resident else n
                ld = sec.add(Stage(f"{op.name}.load", des.K_LOAD, nl, chan=bulk_chan, xfer=max(1, _ceil(bulk, nl)), op=i))
                if resident:   # one token = all weights; the operator waits for it once, then reuses it
                    ei = sec.connect(ld, s, cap=1, ntok=1, pe=nl, ce=n, lat=self.hop, token_bytes=bulk, role="weight")
                else:
                    ei = sec.connect(ld, s, cap=min(nl, self.depth), ntok=nl, lat=self.hop,
                                     token_bytes=sec.stages[ld].xfer, role="kv" if rule.bulk == "kv" else "weight")
                if not resident:
                    w_streams.append(ei)
                if bulk_chan == CH_HBM:
                    plan.hbm_bytes += sec.stages[ld].xfer * nl
                else:
                    plan.ddr_bytes += sec.stages[ld].xfer * nl
        # ---- activation streams between operators, loads of external inputs, stores of outputs
        ext_load: dict[str, int] = {}
        for i in idx:
            op = self.ops[i]
            s = stage_of[i]
            for name, p in self.producer[i].items():
                if name.endswith(".weight") or name == "layer.kv_cache":
                    continue
                if p in inset:
                    ps = stage_of[p]
                    self._link(sec, ps, s, chunks[p], chunks[i], self.ops[p].bytes_written)
                    continue
                nbytes = self._input_bytes(op, name)
                if nbytes <= 0:
                    continue
                if name not in ext_load:
                    c = chunks[i]
                    ld = sec.add(Stage(f"load {name}", des.K_LOAD, c, chan=CH_HBM, xfer=max(1, _ceil(nbytes, c))))
                    plan.hbm_bytes += sec.stages[ld].xfer * c
                    ext_load[name] = ld
                    if _ALIASES.get(name, name) == CARRY_IN or name == CARRY_IN:
                        plan.carry_in = ld
                ld = ext_load[name]
                self._link(sec, ld, s, sec.stages[ld].n_fire, chunks[i], nbytes)
            outs_needed = [j for j in self.consumers[i] if j not in inset]
            stored = bool(outs_needed) or not any(j in inset for j in self.consumers[i]) or self.rules[i].store
            if stored:
                c = chunks[i]
                nbytes = max(1, op.bytes_written)
                stw = sec.add(Stage(f"store {op.outputs[0] if op.outputs else op.name}", des.K_STORE, c,
                                    chan=CH_HBM, xfer=max(1, _ceil(nbytes, c)), op=i))
                plan.hbm_bytes += sec.stages[stw].xfer * c
                self._link(sec, stage_of[i], stw, chunks[i], c, op.bytes_written)
                if CARRY_OUT in op.outputs:
                    plan.carry_out = stw
        # ---- unit allocation, buffer sizing, fit check
        self._size_bypass(sec)
        self._allocate(plan, resident_bytes, onchip_kv, w_streams)
        return plan

    def _input_bytes(self, op: Operator, name: str) -> int:
        t = self.g.tensors.get(name)
        if op.kind == OK.ATTENTION:
            sh = op.shape
            q = sh["batch"] * sh["q_len"] * sh["heads"] * sh["head_dim"] * self.e
            new_kv = sh["batch"] * sh["q_len"] * 2 * sh["kv_heads"] * sh["head_dim"] * self.e
            return int(q + new_kv)
        if op.kind == OK.ROTARY and name == "rope.cos_sin":
            return int(op.shape["tokens"] * op.shape["head_dim"] * 4)
        if op.kind == OK.EMBEDDING:
            return int(op.shape["tokens"] * 4) if name == "tokens" else 0
        if t is None:
            return 0
        if op.kind == OK.ROTARY and name == "layer.qkv":
            return int(op.bytes_written)
        return int(t.bytes)

    def _link(self, sec: Section, src: int, dst: int, c_src: int, c_dst: int, tensor_bytes: int) -> int:
        ps, cs = sec.stages[src], sec.stages[dst]
        if c_src == c_dst:
            ntok = c_src
            pe, ce = ps.n_fire // ntok, cs.n_fire // ntok
            # depth in activation tiles; a token larger than one tile is double-buffered
            tok = max(1, _ceil(tensor_bytes, ntok))
            cap = max(DOUBLE_BUFFER, min(self.depth, self.depth * self.spec.mapper.activation_tile_bytes // tok))
        else:  # different chunking: the whole tensor is one token (barrier)
            ntok, pe, ce, cap = 1, ps.n_fire, cs.n_fire, DOUBLE_BUFFER
        return sec.connect(src, dst, cap=cap, ntok=ntok, pe=max(1, pe), ce=max(1, ce), lat=self.hop,
                           token_bytes=max(1, _ceil(tensor_bytes, ntok)), role="act")

    def _work1(self, op: Operator, n: int, rows_c: int, bulk: int) -> float:
        """Cycles one PCU needs for one firing of ``op`` (compute and link bandwidth; divided by PCUs later)."""
        sp = self.spec
        link = sp.network.link_bytes_per_clk
        unit = _rule(op).unit
        in_b = (op.bytes_read - (op.weight_bytes if unit == "systolic" else 0)) / n
        data = (bulk + 0.0) / n + in_b
        if unit == "systolic":
            m_c = op.shape["M"] * rows_c / max(1, self.rows(op)) if "M" in op.shape else rows_c
            eff = min(m_c, sp.pcu.systolic_rows) / sp.pcu.systolic_rows
            comp = op.flops / n / (2 * sp.macs_per_pcu_cycle * eff)
        elif unit == "attention":
            sh = op.shape
            rows = (sh["heads"] // max(1, sh["kv_heads"])) * (sh["q_len"] if sh["q_len"] > 1 else 1)
            eff = min(rows, sp.pcu.systolic_rows) / sp.pcu.systolic_rows
            simd = op.flops * ELEMENTWISE_FLOPS["softmax"] / (4 * sh["head_dim"])
            comp = op.flops / n / (2 * sp.macs_per_pcu_cycle * eff) + simd / n / (sp.pcu.lanes * sp.pcu.stages)
        else:
            passes = _ceil(self.simd_ops(op), sp.pcu.stages)
            comp = self.elements(op) / n * passes / sp.pcu.lanes
        return max(comp, data / link, op.bytes_written / n / link, 1.0)

    def _size_bypass(self, sec: Section) -> None:
        """Deepen skip edges to the tokens in flight on the longest other path between their ends."""
        S = len(sec.stages)
        act = [ei for ei, st in enumerate(sec.streams) if st.role == "act"]
        succ: dict[int, list[int]] = {s: [] for s in range(S)}
        indeg = [0] * S
        for ei in act:
            succ[sec.streams[ei].src].append(ei)
            indeg[sec.streams[ei].dst] += 1
        order = [s for s in range(S) if indeg[s] == 0]   # Kahn: a topological order of the act edges
        for u in order:
            for ei in succ[u]:
                v = sec.streams[ei].dst
                indeg[v] -= 1
                if indeg[v] == 0:
                    order.append(v)
        for ei in act:
            e = sec.streams[ei]
            if len(succ[e.src]) < 2:
                continue
            # longest path (in slots + stages) from e.src to e.dst avoiding e
            best: dict[int, int] = {e.src: 0}
            for u in order:
                if u not in best:
                    continue
                for fj in succ[u]:
                    if fj == ei:
                        continue
                    f = sec.streams[fj]
                    v = f.dst
                    cand = best[u] + f.cap + 1
                    if cand > best.get(v, -1):
                        best[v] = cand
            if e.dst in best and best[e.dst] > e.cap:
                e.cap = best[e.dst]
                e.role = "bypass"

    def _allocate(self, plan: SectionPlan, resident_bytes: int, onchip_kv: int, w_streams: list[int]) -> None:
        sp, sec = self.spec, plan.section
        comp = [s for s, st in enumerate(sec.stages) if st.kind in (des.K_SYSTOLIC, des.K_SIMD)]
        mem = [s for s, st in enumerate(sec.stages) if st.kind in (des.K_LOAD, des.K_STORE, des.K_P2P)]
        umin = {s: sec.stages[s].umin for s in comp}
        if sum(umin.values()) > self.pcu_budget:
            raise NoFit(f"needs at least {sum(umin.values())} PCUs, {self.pcu_budget} usable")
        # PCUs in proportion to work (water-filling above the minimum)
        work = {s: sec.stages[s].w1 * sec.stages[s].n_fire for s in comp}
        total = sum(work.values()) or 1.0
        u = {s: max(umin[s], int(self.pcu_budget * work[s] / total)) for s in comp}
        while sum(u.values()) > self.pcu_budget:
            s = max(u, key=lambda x: (u[x] - umin[x], -x))
            u[s] -= 1
        for s in comp:
            st = sec.stages[s]
            st.pcus = u[s]
            st.ii = max(1, math.ceil(st.w1 / u[s]))
        # AGCUs in proportion to bytes, >= 1 each (oversubscribed when there are more streams than AGCUs)
        mbytes = {s: sec.stages[s].xfer * sec.stages[s].n_fire for s in mem if sec.stages[s].kind != des.K_P2P}
        tb = sum(mbytes.values()) or 1
        agb = sp.agcu.bandwidth_bytes_per_clk
        for s, b in mbytes.items():
            st = sec.stages[s]
            st.agcus = max(1, int(sp.agcu.count * b / tb))
            st.ii = max(1, math.ceil(st.xfer / (st.agcus * agb)))
        # stream PMUs: capacity or bandwidth (the rate the slower end of the stream can sustain)
        chan = channels(sp)
        eff = [max(st.ii, _ceil(st.xfer * 1000, chan[st.chan].bytes_per_kcycle) if st.chan >= 0 else 0)
               for st in sec.stages]
        pmu_b, rd = sp.pmu.size_bytes, sp.pmu.read_bytes_per_clk
        used = 0
        per_tok = []
        for st in sec.streams:
            t = max(1, st.ce * eff[st.dst], st.pe * eff[st.src])
            per_tok.append(t)
            if st.role in ("act", "weight", "kv") and st.ntok > st.cap:
                # credits must cover the round trip (producer latency, data hop, credit hop) at the token rate
                src = sec.stages[st.src]
                rt = 2 * st.lat + (chan[src.chan].latency if src.chan >= 0 else src.lat)
                st.cap = min(st.ntok, max(st.cap, _ceil(rt, t) + DOUBLE_BUFFER))
            st.pmus = max(1, _ceil(st.cap * st.token_bytes, pmu_b), _ceil(st.token_bytes / t, rd),
                          _ceil(st.token_bytes / t, sp.pmu.write_bytes_per_clk))
            used += st.pmus
        used += sum(st.pmus_own for st in sec.stages)
        kv_pmus = _ceil(onchip_kv, pmu_b)
        used += kv_pmus
        if used > self.pmu_budget:
            raise NoFit(f"needs {used} PMUs for buffers ({kv_pmus} for on-chip K/V), {self.pmu_budget} usable")
        # deepen streamed weight / KV prefetch with the PMUs left
        free = (self.pmu_budget - used) * pmu_b
        wbytes = sum(sec.streams[ei].token_bytes * sec.streams[ei].ntok for ei in w_streams) or 1
        for ei in w_streams:
            st = sec.streams[ei]
            want = min(st.ntok, max(st.cap, int(free * st.token_bytes * st.ntok / wbytes) // st.token_bytes))
            if want > st.cap:
                extra = _ceil((want - st.cap) * st.token_bytes, pmu_b)
                if extra <= self.pmu_budget - used:
                    st.cap = want
                    st.pmus += extra
                    used += extra
        # interleave buffers over the remaining PMUs for bandwidth headroom (allocation only)
        left = self.pmu_budget - used
        if left > 0 and sec.streams:
            bw = [st.token_bytes / t for st, t in zip(sec.streams, per_tok)]
            tot = sum(bw) or 1.0
            for st, b in zip(sec.streams, bw):
                add = int(left * b / tot)
                st.pmus += add
                used += add
        plan.pcus = sum(u.values())
        plan.pmus = used
        plan.agcus = min(sp.agcu.count, sum(sec.stages[s].agcus for s in mbytes))
        plan.sram_bytes = sum(st.cap * st.token_bytes for st in sec.streams) + onchip_kv
        if plan.sram_bytes > self.pmu_budget * pmu_b:
            raise NoFit(f"needs {plan.sram_bytes} B of SRAM, {self.pmu_budget * pmu_b} usable")


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# ---------------------------------------------------------------------------------------------
# the rdu backend: how each operator kind lowers (gpusim.ops.registry)


def _flops_per_op(low: Lowering, op: Operator) -> int:
    return max(1, op.flops // max(1, low.simd_ops(op)))


def _copied(low: Lowering, op: Operator) -> int:
    return max(1, op.bytes_written // low.e)


@dataclass(frozen=True)
class RduRule:
    """How one operator kind lowers onto a socket (module rules 2-5).

    ``unit``: "systolic" (GEMM: PCU systolic stage, weights resident when they fit), "simd" (PCU SIMD
    stage), "attention" (one streaming PCU stage, rule 4), "p2p" (a collective's P2P stage), "pmu" (a
    transposing buffer, no PCU); ``bulk``: what streams from memory in weight tiles ("weights": the
    operator's weight bytes, "kv": the past K/V); ``simd_ops``: operations per element on the SIMD
    stages; ``elements``: elements the SIMD stages process; ``store``: the output is always stored
    (the KV cache); ``ring``: (steps, bytes moved per socket) of a collective of ``bytes`` over ``tp``."""
    unit: str
    bulk: str = ""
    simd_ops: object = lambda op: _COPY_OPS
    elements: object = _flops_per_op
    store: bool = False
    ring: object = None


def _allreduce_ring(b: int, tp: int) -> tuple[int, int]:
    steps = 2 * (tp - 1)
    return steps, b * steps // max(1, tp)


def _allgather_ring(b: int, tp: int) -> tuple[int, int]:
    return tp - 1, b * (tp - 1) // tp


def _elementwise(kind: OK) -> RduRule:
    return RduRule("simd", simd_ops=lambda op: ELEMENTWISE_FLOPS[kind])


_TRAIN_ONLY = Unsupported("training-graph operator: the RDU model runs serving steps only (gpusim llm refuses "
                          "train: steps for RDUs)")

#: The rdu backend: per operator kind its lowering rule.
RDU = register_backend("rdu", {
    OK.GEMM: RduRule("systolic", bulk="weights"), OK.MOE_GEMM: RduRule("systolic", bulk="weights"),
    OK.ATTENTION: RduRule("attention", bulk="kv"),
    OK.EMBEDDING: RduRule("simd", bulk="weights", elements=_copied),
    OK.KV_APPEND: RduRule("simd", elements=_copied, store=True),
    **{k: _elementwise(k) for k in ELEMENTWISE_FLOPS},
    OK.MOE_ROUTER: RduRule("simd", simd_ops=lambda op: ELEMENTWISE_FLOPS[OK.SOFTMAX] + int(op.shape["top_k"])),
    OK.MOE_COMBINE: RduRule("simd", simd_ops=lambda op: 2 * int(op.shape["top_k"]),
                            elements=lambda low, op: int(op.shape["tokens"] * op.shape["hidden"])),
    OK.ALLREDUCE: RduRule("p2p", ring=_allreduce_ring), OK.ALLGATHER: RduRule("p2p", ring=_allgather_ring),
    OK.CMUL: RduRule("simd"), OK.TRANSPOSE: RduRule("pmu"),
    **{k: _TRAIN_ONLY for k in (OK.LAYERNORM, OK.GELU, OK.GELU_BWD, OK.SILU_MUL_BWD, OK.NORM_BWD, OK.CROSS_ENTROPY,
                                OK.EMBEDDING_BWD, OK.ADAMW)},
}, "RDU dataflow lowering (gpusim.accel.rdu.lower)")


def _rule(op: Operator) -> RduRule:
    r = RDU.handler(op.kind)
    if r is None:
        raise GpusimError(f"rdu: operator {op.name} ({op.kind}): {RDU.reason(op.kind)}")
    return r

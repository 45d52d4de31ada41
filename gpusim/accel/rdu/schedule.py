"""Schedule level: sections -> kernel calls -> one serving step on a multi-socket RDU system.

* **Placement** (three tiers, per socket): weights, KV cache and a workspace go to HBM if they fit
  (the compiler default, [paper] sec. V); otherwise the symbols with the smallest transfer per
  byte per step are spilled to DDR first (embedding table, then whole layers' weights), and their
  loads run on the DDR channel.  Beyond HBM + DDR the model does not fit (an error).
* **Calls**: ``unfused`` = one software-orchestrated (SO) call per operator execution;
  ``fused_so`` / ``fused_ho`` = one call per section execution, SO or hardware-orchestrated (HO);
  ``fused_ho_looped`` = the identical decoder layers run as one call of a looped kernel whose
  body is the layer section (needs the layer to fit in one section; falls back to ``fused_ho``).
  A call costs ``launch + sync + section time``; a looped call of ``L`` trips costs
  ``launch + sync + T_k + (L-k)(T_k - T_(k-1))`` with ``T_k`` the section simulated for ``k =
  min(L, LOOP_TRIPS)`` trips (the next layer's loads overlap the current layer's drain).
* **Tensor parallelism**: every socket runs the same per-socket graph (``tp = sockets``); the
  collectives are P2P stages inside the sections, so the step time is one socket's time.
* **Model switching**: a model's per-socket weights copied DDR -> HBM at the per-socket effective
  bandwidth, all sockets in parallel.  **Composition of Experts**: router step, then each
  (prompt, expert) pair in order: copy the expert if it is not in the HBM expert cache (LRU) ->
  prefill -> decode steps ([paper] sec. II, V, VI-C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gpusim.accel.rdu import des
from gpusim.accel.rdu.ir import CH_HBM, SectionResult, simulate
from gpusim.accel.rdu.lower import DOUBLE_BUFFER, FUSION_LEVELS, Lowering, NoFit, SectionPlan, channels
from gpusim.accel.rdu.spec import RDUSpec
from gpusim.errors import GpusimError
from gpusim.llm.coe import switches_for
from gpusim.llm.graph import build_graph
from gpusim.llm.model import ModelSpec, Step, parse_step
from gpusim.ops.graph import OperatorGraph
from gpusim.ops.kinds import OperatorKind as OK

__all__ = ["StepResult", "OpResult", "CallGroup", "simulate_step", "simulate_graph", "Placement", "place",
           "switch_time_s", "RDUError",
           "CoEResult", "simulate_coe"]


#: simulation granularity, not hardware: a looped kernel of L trips is simulated for min(L, LOOP_TRIPS) trips and
#: extended by the increment of the last trip (the pipeline is in steady state by then; tests check it)
LOOP_TRIPS = 8


class RDUError(GpusimError):
    """A workload that cannot run on the RDU system (does not fit, unknown fusion level...)."""


# ------------------------------------------------------------------------------------------------
# placement

@dataclass
class Placement:
    hbm_bytes: int                 # per socket, placed in HBM
    ddr_bytes: int                 # per socket, spilled to DDR
    weights_bytes: int
    kv_bytes: int
    workspace_bytes: int
    ddr_symbols: list[str] = field(default_factory=list)
    ddr_layers: int = 0            # decoder layers whose weights live in DDR

    def to_dict(self) -> dict:
        return {"hbm_bytes_per_socket": self.hbm_bytes, "ddr_bytes_per_socket": self.ddr_bytes,
                "weights_bytes_per_socket": self.weights_bytes, "kv_cache_bytes_per_socket": self.kv_bytes,
                "workspace_bytes_per_socket": self.workspace_bytes, "spilled_to_ddr": self.ddr_symbols,
                "layers_with_weights_in_ddr": self.ddr_layers}


def _layers(g: OperatorGraph) -> int:
    return max((o.count for o in g.operators if o.name.startswith("layer.")), default=1)


def _layer_weight_bytes(g: OperatorGraph) -> int:
    return sum(o.weight_bytes for o in g.operators if o.name.startswith("layer.") and o.weight_bytes) + sum(
        t.bytes for n, t in g.tensors.items() if n.startswith("layer.") and n.endswith("norm.weight"))


def place(spec: RDUSpec, g: OperatorGraph, reserved_hbm: int = 0) -> Placement:
    """Three-tier placement of one socket's symbols; ``reserved_hbm`` is held for other models (CoE)."""
    L = _layers(g)
    layer_w = _layer_weight_bytes(g)
    embed = g.tensors["embed.weight"].bytes if "embed.weight" in g.tensors else 0
    other_w = sum(t.bytes for n, t in g.tensors.items() if n.endswith(".weight") and not n.startswith("layer.")
                  and n != "embed.weight")
    if g.model.tie_embeddings and "lm_head.weight" in g.tensors:
        other_w -= g.tensors["lm_head.weight"].bytes
    kv = g.tensors["layer.kv_cache"].bytes * L if "layer.kv_cache" in g.tensors else 0
    work = DOUBLE_BUFFER * max((t.bytes for n, t in g.tensors.items() if not n.endswith(".weight") and n != "layer.kv_cache"),
                   default=0)
    weights = L * layer_w + embed + other_w
    cap = spec.hbm.size_bytes - reserved_hbm
    total = weights + kv + work
    pl = Placement(min(total, cap), 0, weights, kv, work)
    if total <= cap:
        return pl
    excess = total - cap
    # smallest transfer per byte first: the embedding table (only T rows read per step)
    if embed:
        pl.ddr_symbols.append("embed.weight")
        excess -= embed
    if excess > 0:
        n = min(L, math.ceil(excess / max(1, layer_w)))
        pl.ddr_layers = n
        pl.ddr_symbols.append(f"weights of {n} of {L} layers")
        excess -= n * layer_w
    if excess > 0:
        raise RDUError(f"{g.model.name}: {total / 2**30:.1f} GiB per socket (weights, KV cache, workspace) does not "
                       f"fit {spec.hbm.size_bytes / 2**30:.0f} GiB of HBM even with every layer's weights in DDR")
    pl.ddr_bytes = total - cap + max(0, -excess)
    pl.hbm_bytes = total - pl.ddr_bytes
    if pl.ddr_bytes > spec.ddr.size_bytes:
        raise RDUError(f"{g.model.name}: {pl.ddr_bytes / 2**30:.1f} GiB spilled per socket exceeds DDR "
                       f"({spec.ddr.size_bytes / 2**30:.0f} GiB)")
    return pl


def switch_time_s(spec: RDUSpec, model: ModelSpec) -> float:
    """DDR -> HBM copy of one model's weights, all sockets in parallel (model switching)."""
    per_socket = model.params() * _wbytes(model) / spec.system.sockets
    return per_socket / spec.ddr.to_hbm_bandwidth_bytes_per_s


def _wbytes(model: ModelSpec) -> float:
    from gpusim.ops.dtypes import DTYPE_BITS
    return DTYPE_BITS[model.weight_dtype] / 8


# ------------------------------------------------------------------------------------------------
# results

@dataclass
class OpResult:
    name: str
    kind: str
    count: int
    time_s: float            # total over its executions, launch/sync excluded
    launch_s: float          # launch + sync attributed to it
    bound: str
    flops: float
    hbm_bytes: float
    ddr_bytes: float
    p2p_bytes: float
    section: str
    stalls: dict

    def to_dict(self, spec: RDUSpec) -> dict:
        t = self.time_s
        peak, hbm = spec.peak_flops, spec.hbm.bandwidth_bytes_per_s
        return {
            "name": self.name, "kind": self.kind, "count": self.count, "time_s": t, "launch_sync_s": self.launch_s,
            "bound": self.bound, "flops": self.flops, "hbm_bytes": self.hbm_bytes, "ddr_bytes": self.ddr_bytes,
            "p2p_bytes": self.p2p_bytes,
            "utilisation": {"compute": self.flops / (peak * t) if t else 0.0,
                            "hbm_bandwidth": self.hbm_bytes / (hbm * t) if t else 0.0},
            "section": self.section, "stall_cycles": self.stalls,
        }


@dataclass
class CallGroup:
    section: str
    calls: int               # kernel calls
    executions: int          # section executions (= calls unless looped)
    mode: str                # so | ho
    looped: bool
    section_s: float         # one execution (T1)
    steady_s: float          # per extra loop trip (T2 - T1), looped only
    launch_s: float          # per call
    sync_s: float            # per call
    total_s: float
    plan: SectionPlan
    result: SectionResult


@dataclass
class StepResult:
    spec: RDUSpec
    graph: OperatorGraph
    fusion: str
    placement: Placement
    groups: list[CallGroup]
    ops: list[OpResult]
    step_time_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(g.calls for g in self.groups)

    @property
    def launch_sync_s(self) -> float:
        return sum(g.calls * (g.launch_s + g.sync_s) for g in self.groups)

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second (sequences that sample a token this step)."""
        return self.graph.step.sampled / self.step_time_s

    @property
    def processed_tokens_per_s(self) -> float:
        return self.graph.step.tokens / self.step_time_s

    @property
    def hbm_bytes(self) -> float:
        return sum(o.hbm_bytes for o in self.ops)

    def hbm_utilisation(self) -> float:
        return self.hbm_bytes / (self.spec.hbm.bandwidth_bytes_per_s * self.step_time_s)


# ------------------------------------------------------------------------------------------------
# sections and calls

def _groups(g: OperatorGraph) -> tuple[list[int], list[int], list[int]]:
    pre, layer, post = [], [], []
    for i, o in enumerate(g.operators):
        if o.name.startswith("layer."):
            layer.append(i)
        elif layer:
            post.append(i)
        else:
            pre.append(i)
    return pre, layer, post


def _crossing(low: Lowering, left: list[int], right: list[int]) -> int:
    rs = set(right)
    return sum(low.ops[i].bytes_written for i in left if any(j in rs for j in low.consumers[i]))


def _fit(low: Lowering, idx: list[int], name: str, notes: list[str]) -> list[SectionPlan]:
    """One section if it fits, else split at the cut with the fewest crossing bytes (recursively)."""
    try:
        return [low.build(idx, name)]
    except NoFit as exc:
        if len(idx) == 1:
            raise RDUError(f"operator {low.ops[idx[0]].name} does not fit one socket: {exc}") from None
        best = min(range(1, len(idx)), key=lambda k: (_crossing(low, idx[:k], idx[k:]), abs(2 * k - len(idx))))
        notes.append(f"section '{name}' split after {low.ops[idx[best - 1]].name}: {exc}")
        return _fit(low, idx[:best], f"{name}/a", notes) + _fit(low, idx[best:], f"{name}/b", notes)


def _unfused_groups(low: Lowering, idx: list[int]) -> list[list[int]]:
    """One kernel per operator, except that a transpose is a layout (a view in PyTorch, a buffer access
    pattern on the RDU): it joins the kernel of the operator that consumes it (or, last, produces it)."""
    out: list[list[int]] = []
    pending: list[int] = []
    for i in idx:
        if low.ops[i].kind == OK.TRANSPOSE:
            pending.append(i)
            continue
        out.append(pending + [i])
        pending = []
    if pending:
        if out:
            out[-1].extend(pending)
        else:
            out.append(pending)
    return out


def _add_loop_edge(plan: SectionPlan) -> bool:
    sec = plan.section
    if plan.carry_in < 0 or plan.carry_out < 0:
        return False
    c = sec.stages[plan.carry_in].n_fire
    if sec.stages[plan.carry_out].n_fire != c:
        return False
    sec.connect(plan.carry_out, plan.carry_in, cap=DOUBLE_BUFFER * c, ntok=c, init=c, lat=0, token_bytes=0,
                role="loop", name="loop-carried layer output")
    return True


def simulate_step(spec: RDUSpec, model: ModelSpec, step: Step | str, fusion: str = "fused_ho_looped",
                  reserved_hbm: int = 0) -> StepResult:
    """One serving step of ``model`` on ``spec`` (all sockets, tensor parallel) at a fusion level."""
    if fusion not in FUSION_LEVELS:
        raise RDUError(f"fusion level '{fusion}': expected one of {', '.join(FUSION_LEVELS)}")
    if isinstance(step, str):
        step = parse_step(step)
    return simulate_graph(spec, build_graph(model, step, spec.system.sockets), fusion, reserved_hbm)


def simulate_graph(spec: RDUSpec, g: OperatorGraph, fusion: str = "fused_ho_looped",
                   reserved_hbm: int = 0, sections: list[list[int]] | None = None) -> StepResult:
    """Place, lower, simulate and schedule an operator graph (per socket, ``g.tp`` sockets in parallel).

    Operators named ``layer.*`` are the repeated decoder block (their ``count`` is the layer count);
    the others run once, before (``pre``) or after (``post``) the block.  ``sections`` overrides the
    fusion plan of the fused levels with explicit groups of operator indices.
    """
    if fusion not in FUSION_LEVELS:
        raise RDUError(f"fusion level '{fusion}': expected one of {', '.join(FUSION_LEVELS)}")
    pl = place(spec, g, reserved_hbm)
    notes: list[str] = []
    ch = channels(spec)
    clk = spec.clock_hz
    L = _layers(g)
    pre, layer, post = _groups(g)
    low_hbm = Lowering(spec, g)
    ddr_names = frozenset(g.operators[i].name for i in layer if g.operators[i].weight_bytes)
    low_ddr = Lowering(spec, g, ddr_names) if pl.ddr_layers else None
    if "embed.weight" in pl.ddr_symbols:
        low_hbm.ddr_ops = low_hbm.ddr_ops | {"embedding"}
        if low_ddr:
            low_ddr.ddr_ops = low_ddr.ddr_ops | {"embedding"}
    so = fusion in ("unfused", "fused_so")
    launch = (spec.launch.software_ps if so else spec.launch.hardware_ps) * 1e-12
    sync = spec.launch.sync_ps * 1e-12
    groups: list[CallGroup] = []

    def run(plan: SectionPlan, trips: int = 1) -> SectionResult:
        res = simulate(plan.section, ch, trips)
        if not res.ok:
            raise RDUError(res.deadlock)
        return res

    def add(plan: SectionPlan, executions: int, looped: bool) -> None:
        r1 = run(plan)
        t1 = r1.cycles / clk
        if looped and executions > 1:
            k = min(executions, LOOP_TRIPS)
            rk1 = run(plan, k - 1) if k > 2 else r1
            rk = run(plan, k)
            steady = max(0.0, (rk.cycles - rk1.cycles) / clk)
            total = launch + sync + rk.cycles / clk + (executions - k) * steady
            groups.append(CallGroup(plan.section.name, 1, executions, "ho", True, t1, steady, launch, sync, total,
                                    plan, r1))
        else:
            groups.append(CallGroup(plan.section.name, executions, executions, "so" if so else "ho", False, t1, t1,
                                    launch, sync, executions * (launch + sync + t1), plan, r1))

    layer_sets = [(low_hbm, L - pl.ddr_layers, "")] + ([(low_ddr, pl.ddr_layers, " (weights in DDR)")]
                                                        if pl.ddr_layers else [])
    if fusion == "unfused":
        for grp in _unfused_groups(low_hbm, pre) + _unfused_groups(low_hbm, post):
            for plan in _fit(low_hbm, grp, g.operators[grp[-1]].name, notes):
                add(plan, 1, False)
        for low, n, tag in layer_sets:
            if n and layer:
                for grp in _unfused_groups(low, layer):
                    for plan in _fit(low, grp, g.operators[grp[-1]].name + tag, notes):
                        add(plan, n, False)
    elif sections is not None:   # an explicit fusion plan (groups of operator indices, graph order)
        for k, idx in enumerate(sections):
            for plan in _fit(low_hbm, list(idx), f"section {k}", notes):
                add(plan, g.operators[idx[0]].count, False)
    else:
        if pre:
            for plan in _fit(low_hbm, pre, "pre", notes):
                add(plan, 1, False)
        for low, n, tag in layer_sets:
            if not n or not layer:
                continue
            plans = _fit(low, layer, "decoder layer" + tag, notes)
            looped = fusion == "fused_ho_looped"
            if looped and len(plans) > 1:
                notes.append("kernel looping needs the decoder layer in one section; it was split, so the layer "
                             "sections run as separate HO calls")
                looped = False
            if looped and not _add_loop_edge(plans[0]):
                notes.append("kernel looping: no loop-carried edge found; layers run as separate calls")
                looped = False
            for plan in plans:
                add(plan, n, looped)
        if post:
            for plan in _fit(low_hbm, post, "post", notes):
                add(plan, 1, False)
    ops = _attribute(spec, g, groups)
    step_time = sum(x.total_s for x in groups)
    return StepResult(spec, g, fusion, pl, groups, ops, step_time, notes)


def _attribute(spec: RDUSpec, g: OperatorGraph, groups: list[CallGroup]) -> list[OpResult]:
    """Split each call group's time over its operators in proportion to their busiest stage."""
    ch = channels(spec)
    acc: dict[int, dict] = {}
    for cg in groups:
        sec, res = cg.plan.section, cg.result
        # an operator's weight = its busiest resource: PCU busy cycles, or its bytes at the full channel rate
        per_op: dict[int, float] = {}
        for si, st in enumerate(sec.stages):
            if st.op < 0:
                continue
            if st.kind in (des.K_LOAD, des.K_STORE, des.K_P2P):
                w = st.xfer * st.n_fire * res.trips * 1000 / ch[st.chan].bytes_per_kcycle
            else:
                w = float(res.stats[si, des.S_BUSY])
            per_op[st.op] = max(per_op.get(st.op, 0.0), w)
        tot = sum(per_op.values()) or 1.0
        run_s = cg.total_s - cg.calls * (cg.launch_s + cg.sync_s)
        ls = cg.calls * (cg.launch_s + cg.sync_s)
        for i, w in per_op.items():
            d = acc.setdefault(i, {"time": 0.0, "launch": 0.0, "comp": 0, "mem": 0, "memddr": 0, "net": 0, "hbm": 0.0,
                                   "ddr": 0.0, "p2p": 0.0, "stalls": np.zeros(5, dtype=np.int64), "sections": []})
            d["time"] += run_s * w / tot
            d["launch"] += ls * w / tot
            d["sections"].append(sec.name)
            for si, st in enumerate(sec.stages):
                if st.op != i:
                    continue
                d["stalls"] += res.stats[si] * cg.executions
                b = int(res.stats[si, des.S_BUSY]) * cg.executions
                nbytes = st.xfer * st.n_fire * cg.executions
                if st.kind in (des.K_SYSTOLIC, des.K_SIMD, des.K_PMU):
                    d["comp"] += b
                elif st.kind == des.K_P2P:
                    d["net"] += b
                    d["p2p"] += nbytes
                else:
                    d["mem" if st.chan == CH_HBM else "memddr"] += b
                    d["hbm" if st.chan == CH_HBM else "ddr"] += nbytes
    out = []
    for i, op in enumerate(g.operators):
        d = acc.get(i)
        if d is None:
            continue
        if d["launch"] > d["time"]:
            bound = "launch"
        else:
            bound = max((("compute", d["comp"]), ("memory", d["mem"]), ("memory (ddr)", d["memddr"]),
                         ("network", d["net"])), key=lambda x: x[1])[0]
        out.append(OpResult(op.name, op.kind, op.count, d["time"], d["launch"], bound, float(op.flops * op.count),
                            d["hbm"], d["ddr"], d["p2p"], ", ".join(dict.fromkeys(d["sections"])),
                            {n: int(v) for n, v in zip(des.STALL_NAMES, d["stalls"])}))
    return out


# ------------------------------------------------------------------------------------------------
# Composition of Experts

@dataclass
class CoEResult:
    experts: int
    batch: int
    prompt_tokens: int
    output_tokens: int
    cache_slots: int
    switches: float
    switch_s: float
    router_s: float
    prefill_s: float
    decode_s: float
    total_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.batch * self.output_tokens / self.total_s

    def to_dict(self) -> dict:
        return {"experts": self.experts, "batch": self.batch, "prompt_tokens": self.prompt_tokens,
                "output_tokens": self.output_tokens, "hbm_expert_cache_slots": self.cache_slots,
                "switches": self.switches, "switch_s": self.switch_s, "router_s": self.router_s,
                "prefill_s": self.prefill_s, "decode_s": self.decode_s, "total_s": self.total_s,
                "tokens_per_s": self.tokens_per_s}


def simulate_coe(spec: RDUSpec, expert: ModelSpec, router: ModelSpec, *, experts: int, batch: int,
                 prompt_tokens: int, output_tokens: int, assignment: list[int] | None = None,
                 fusion: str = "fused_ho_looped", warm: int = 1) -> CoEResult:
    """Samba-CoE serving ([paper] sec. II, V, VI-C): all experts in DDR, router + KV in HBM, a cache
    of experts in the rest of HBM; the router runs once for the batch, then each (prompt, expert) pair runs
    in order: copy the expert DDR -> HBM if missing, prefill the prompt, decode ``output_tokens`` tokens.

    Switches (:func:`gpusim.llm.coe.switches_for`): ``warm=1`` (default) the steady state with a warm cache
    and independent uniform routing ([paper] sec. VI-C: prompts in a batch are unrelated), a prompt copies
    its expert with probability ``1 - slots/experts``; ``warm=0`` the cold worst case (prompt i -> expert
    i mod experts, all distinct, cache empty); ``assignment`` gives each prompt's expert explicitly (cache
    starting empty).
    """
    tp = spec.system.sockets
    wb = _wbytes(expert)
    expert_b = expert.params() * wb / tp
    router_b = router.params() * _wbytes(router) / tp
    if experts * expert_b > spec.ddr.size_bytes:
        raise RDUError(f"{experts} experts of {expert_b / 2**30:.1f} GiB per socket exceed DDR "
                       f"({spec.ddr.size_bytes / 2**30:.0f} GiB per socket)")
    kv_g = build_graph(expert, parse_step(f"decode:batch=1,context={prompt_tokens + output_tokens}"), tp)
    kv = kv_g.tensors["layer.kv_cache"].bytes * expert.layers
    work = DOUBLE_BUFFER * max(t.bytes for n, t in kv_g.tensors.items() if not n.endswith(".weight") and n != "layer.kv_cache")
    slots = int((spec.hbm.size_bytes - router_b - kv - work) // expert_b)
    if slots < 1:
        raise RDUError(f"no room in HBM for one expert ({expert_b / 2**30:.1f} GiB per socket) next to the router")
    router_s = simulate_step(spec, router, f"prefill:tokens={prompt_tokens},batch={batch},sample=1",
                             fusion).step_time_s
    pre_s = simulate_step(spec, expert, f"prefill:tokens={prompt_tokens}", fusion,
                          reserved_hbm=int(router_b + (slots - 1) * expert_b)).step_time_s
    mid = prompt_tokens + (output_tokens + 1) // 2
    dec_step = simulate_step(spec, expert, f"decode:batch=1,context={mid}", fusion,
                             reserved_hbm=int(router_b + (slots - 1) * expert_b)).step_time_s
    switch = switch_time_s(spec, expert)
    switches = switches_for(batch, experts, slots, warm, assignment)
    prefill_s = batch * pre_s
    decode_s = batch * output_tokens * dec_step
    total = router_s + switches * switch + prefill_s + decode_s
    return CoEResult(experts, batch, prompt_tokens, output_tokens, slots, switches, switches * switch, router_s,
                     prefill_s, decode_s, total)

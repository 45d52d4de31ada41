"""The serving simulator's event loop: iterations of one engine (a model replica on ``tp`` GPUs).

Between iterations the engine moves arrived requests into the waiting queue, swaps preempted
sequences back in when their blocks fit, asks the policy (:mod:`gpusim.serve.policies`) for the
next iteration's work, makes room in the KV cache for the decodes by preempting the most recently
admitted sequences, times the iteration with the step-time model (:mod:`gpusim.serve.steptime`) plus
any swap traffic, and advances the clock.

Preemption (the policy's ``preemption`` parameter, vLLM's ``preemption_mode``):

* ``recompute`` (vLLM's default for single-sequence requests): the victim's blocks are freed and its
  prompt plus generated tokens are prefilled again later;
* ``swap``: a decoding victim's blocks are copied to host memory over the GPU's host link
  (``host.link_bandwidth``, one direction, each of the ``tp`` GPUs moving its share in parallel) and
  copied back before it decodes again; the copies' time is added to the iteration that does them
  (vLLM issues the block copies before the model runs).  Swapped sequences come back FCFS before any
  new prompt is admitted by a whole-prompt policy (vLLM V0 ``_schedule_default`` schedules prefills
  only when nothing is swapped out).  Host swap space is ``swap_space_gib`` per GPU (vLLM
  ``EngineArgs.swap_space`` = 4 GiB, vllm-project/vllm vllm/engine/arg_utils.py at 99d7eb5); where it
  is full, or the victim is still in its prefill, the victim is recomputed instead and the report
  counts it (``swap_fallbacks``).

Requests whose prompt KV arrives already computed (the decode pool of ``distserve``,
:mod:`gpusim.serve.disagg`) enter with their first token emitted and go straight to decoding once
their blocks fit.  A prefill
that completes emits a token (the first, or the next one after a recompute); every decode emits
one.  Requests that can never fit (prompt + output beyond the KV cache, or a whole prompt beyond the
policy's token budget) are rejected at arrival and reported, never dropped silently.

KV cache (PagedAttention): blocks of :data:`BLOCK_TOKENS` tokens; capacity = (GPU memory x
:data:`GPU_MEMORY_UTILIZATION` x tp - weights) / bytes per block; bytes per token = 2 (K and V) x
layers x kv_heads x head_dim x the KV dtype's bytes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from gpusim.errors import GpusimError

#: tokens per KV block (vLLM's default block_size, vllm/config.py CacheConfig)
BLOCK_TOKENS = 16
#: share of GPU memory vLLM lets the engine use (vLLM default gpu_memory_utilization 0.9); what is left
#: after the weights holds the KV cache (activations are small at serving batch sizes and left out)
GPU_MEMORY_UTILIZATION = 0.9


@dataclass(eq=False)
class Seq:
    id: int
    arrival: float
    prompt: int
    output: int
    prefilled: int = 0
    generated: int = 0
    recompute: int = 0              # generated tokens to prefill again after a preemption
    blocks: int = 0
    token_times: list = field(default_factory=list)
    admitted_at: float = -1.0
    preemptions: int = 0
    swaps: int = 0
    swapped_blocks: int = 0
    kv_transfer_s: float = 0.0

    @property
    def prefill_len(self) -> int:
        return self.prompt + self.recompute

    @property
    def context(self) -> int:
        return self.prompt + self.generated


class KVCache:
    def __init__(self, blocks: int):
        self.total = blocks
        self.free = blocks
        self.used_max = 0

    @staticmethod
    def blocks_for(tokens: int) -> int:
        return -(-tokens // BLOCK_TOKENS)

    def can_admit(self, s: Seq) -> bool:
        return self.blocks_for(s.prefill_len + 1) <= self.free

    def take(self, s: Seq, tokens: int) -> bool:
        need = self.blocks_for(tokens) - s.blocks
        if need > self.free:
            return False
        if need > 0:
            self.free -= need
            s.blocks += need
            self.used_max = max(self.used_max, self.total - self.free)
        return True

    def release(self, s: Seq) -> None:
        self.free += s.blocks
        s.blocks = 0


class State:
    def __init__(self, kv: KVCache):
        self.kv = kv
        self.waiting: deque[Seq] = deque()
        self.prefilling: list[Seq] = []
        self.decoding: list[Seq] = []
        self.swapped: deque[Seq] = deque()

    @property
    def running(self) -> list[Seq]:
        return self.prefilling + self.decoding

    def admit(self, s: Seq) -> None:
        self.waiting.remove(s)
        self.kv.take(s, s.prefill_len + 1)
        self.prefilling.append(s)


def kv_bytes_per_token(model) -> float:
    """KV-cache bytes of one token over all layers: 2 (K and V) x layers x kv_heads x head_dim x dtype bytes."""
    from gpusim.llm.model import DTYPE_BITS

    return 2 * model.layers * model.kv_heads * model.head_dim * DTYPE_BITS[model.kv_dtype] / 8


def kv_blocks(model, cfg, tp: int) -> int:
    """KV-cache blocks of one replica (module doc)."""
    from gpusim.llm.model import DTYPE_BITS

    mem = cfg.memory.dram_size_bytes
    if not mem:
        raise GpusimError(f"{cfg.name}: memory.dram_size is not set; the KV cache's capacity needs it")
    weights = model.params() * DTYPE_BITS[model.weight_dtype] / 8
    per_token = kv_bytes_per_token(model)
    free = mem * GPU_MEMORY_UTILIZATION * tp - weights
    if free <= per_token * BLOCK_TOKENS:
        raise GpusimError(f"{model.name} on {tp} x {cfg.name}: the weights ({weights / 2**30:.1f} GiB) leave no room "
                          f"for a KV cache in {GPU_MEMORY_UTILIZATION:.0%} of {tp} x {mem / 2**30:.0f} GiB")
    return int(free // (per_token * BLOCK_TOKENS))


def run(requests, stm, policy, params: dict, blocks: int, whole_prompts: bool, horizon_s: float | None = None,
        *, swap: dict | None = None, ready: dict | None = None) -> dict:
    """Serve ``requests`` (sorted by arrival) on one replica; returns per-request records and series.

    ``swap``: ``{"bytes_per_block": B, "bandwidth": bytes/s of the replica's host links together,
    "space_blocks": N}`` for ``preemption=swap``.  ``ready``: request id -> (original arrival, first-token
    time) for requests whose prompt KV was computed elsewhere (they arrive at their KV's arrival)."""
    kv = KVCache(blocks)
    st = State(kv)
    pending = deque(sorted(requests, key=lambda r: (r.arrival_s, r.id)))
    done: list[Seq] = []
    rejected = []
    series = []           # (time, running, waiting, kv used fraction, step seconds, batch seqs, batch tokens, swapped)
    t = 0.0
    iterations = 0
    budget = params.get("max_num_batched_tokens")
    max_seqs = params.get("max_num_seqs", 1 << 30)
    mode = params.get("preemption", "recompute")
    if mode == "swap" and swap is None:
        raise GpusimError("preemption=swap needs the host link (internal error: no swap parameters)")
    ready = ready or {}
    cnt = {"recompute": 0, "swap": 0, "swap_fallbacks": 0, "swap_out_bytes": 0.0, "swap_in_bytes": 0.0,
           "swap_seconds": 0.0}
    swap_used = 0                                 # host blocks holding swapped-out KV

    def preempt(v: Seq, decs: list) -> float:
        """Free ``v``'s blocks by swap or recompute; returns the swap-out seconds."""
        nonlocal swap_used
        was_decoding = v in st.decoding
        if was_decoding:
            st.decoding.remove(v)
            if v in decs:
                decs.remove(v)
        else:
            st.prefilling.remove(v)
        v.preemptions += 1
        if mode == "swap" and was_decoding and swap_used + v.blocks <= swap["space_blocks"]:
            nbytes = v.blocks * swap["bytes_per_block"]
            v.swapped_blocks = v.blocks
            swap_used += v.blocks
            kv.release(v)
            v.swaps += 1
            cnt["swap"] += 1
            cnt["swap_out_bytes"] += nbytes
            st.swapped.append(v)
            return nbytes / swap["bandwidth"]
        if mode == "swap":
            cnt["swap_fallbacks"] += 1
        cnt["recompute"] += 1
        kv.release(v)
        v.recompute = v.generated
        v.prefilled = 0
        st.waiting.appendleft(v)
        return 0.0

    while pending or st.waiting or st.running or st.swapped:
        while pending and pending[0].arrival_s <= t:
            r = pending.popleft()
            s = Seq(r.id, r.arrival_s, r.prompt, r.output)
            if r.id in ready:
                s.arrival, first = ready[r.id]
                s.prefilled, s.generated, s.token_times = r.prompt, 1, [first]
                s.kv_transfer_s = r.arrival_s - first
            if KVCache.blocks_for(r.prompt + r.output) > blocks:
                rejected.append({"id": r.id, "reason": f"prompt + output = {r.prompt + r.output} tokens exceed the "
                                                      f"KV cache ({blocks} blocks of {BLOCK_TOKENS})"})
            elif whole_prompts and budget is not None and r.prompt > budget and r.id not in ready:
                rejected.append({"id": r.id, "reason": f"prompt of {r.prompt} tokens exceeds max_num_batched_tokens "
                                                      f"{budget} of a whole-prompt policy"})
            else:
                st.waiting.append(s)
        if not st.waiting and not st.running and not st.swapped:
            if not pending:
                break
            t = pending[0].arrival_s
            continue
        extra = 0.0                               # swap traffic of this iteration (seconds)
        # swapped-out sequences come back first (FCFS), while their blocks fit
        while st.swapped and len(st.running) < max_seqs:
            s = st.swapped[0]
            if KVCache.blocks_for(s.context + 1) > kv.free:
                break
            st.swapped.popleft()
            kv.take(s, s.context)
            swap_used -= s.swapped_blocks
            nbytes = s.swapped_blocks * swap["bytes_per_block"]
            s.swapped_blocks = 0
            cnt["swap_in_bytes"] += nbytes
            extra += nbytes / swap["bandwidth"]
            st.decoding.append(s)
        # sequences whose prompt KV arrived computed join the decodes (FCFS) while their blocks fit
        for s in [x for x in st.waiting if x.prefilled >= x.prefill_len]:
            if len(st.running) >= max_seqs or not kv.take(s, s.context + 1):
                break
            st.waiting.remove(s)
            s.admitted_at = t
            st.decoding.append(s)
        hold = None
        if st.swapped and whole_prompts:          # no new prompt while anything is swapped out (vLLM V0)
            hold, st.waiting = st.waiting, deque()
        plan = policy(st, params)
        if hold is not None:
            st.waiting = hold
        decs = list(st.decoding) if plan.decode else []
        # room for the decodes' new tokens: preempt the latest admitted sequences
        for s in list(decs):
            if s not in decs:
                continue                          # preempted by an earlier decode of this iteration
            while not kv.take(s, s.context + 1):
                victims = sorted((x for x in st.running if x is not s and x.blocks),
                                 key=lambda x: (x.admitted_at, x.arrival, x.id))
                if not victims:
                    raise GpusimError(f"request {s.id}: no KV block left even after preempting every other sequence")
                v = victims[-1]
                plan.chunks = [(x, q) for x, q in plan.chunks if x is not v]
                extra += preempt(v, decs)
        chunks = [(q, s.prefilled) for s, q in plan.chunks]
        dt = stm.step_seconds(chunks, [s.context for s in decs])
        if dt <= 0 and extra <= 0:
            if pending:
                t = max(t, pending[0].arrival_s)
                continue
            raise GpusimError(f"serve: the policy scheduled nothing while requests wait (internal error: "
                              f"waiting {[(x.id, x.prefill_len) for x in st.waiting]}, decoding "
                              f"{[(x.id, x.context) for x in st.decoding]}, prefilling {[(x.id, x.prefilled, x.prefill_len) for x in st.prefilling]}, free blocks {kv.free})")
        for s, _ in plan.chunks:
            if s.admitted_at < 0:
                s.admitted_at = t
        cnt["swap_seconds"] += extra
        t += dt + extra
        iterations += 1
        for s, q in plan.chunks:
            s.prefilled += q
            if s.prefilled >= s.prefill_len:
                st.prefilling.remove(s)
                s.recompute = 0
                s.generated += 1
                s.token_times.append(t)
                if s.generated >= s.output:
                    kv.release(s)
                    done.append(s)
                else:
                    st.decoding.append(s)
        for s in decs:
            s.generated += 1
            s.token_times.append(t)
            if s.generated >= s.output:
                st.decoding.remove(s)
                kv.release(s)
                done.append(s)
        series.append((t, len(st.running), len(st.waiting), 1 - kv.free / kv.total, dt + extra,
                       len(plan.chunks) + len(decs), sum(q for _, q in plan.chunks) + len(decs), len(st.swapped)))
        if horizon_s is not None and t > horizon_s:
            break
    return {"done": done, "rejected": rejected, "unfinished": [s.id for s in st.running] + [s.id for s in st.waiting]
            + [s.id for s in st.swapped] + [r.id for r in pending], "series": series, "iterations": iterations,
            "end_s": t, "kv_blocks": blocks, "kv_peak_fraction": kv.used_max / kv.total, "preemption": cnt}

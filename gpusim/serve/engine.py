"""The serving simulator's event loop: iterations of one engine (a model replica on ``tp`` GPUs).

Between iterations the engine moves arrived requests into the waiting queue, asks the policy
(:mod:`gpusim.serve.policies`) for the next iteration's work, makes room in the KV cache for the
decodes (preempting the most recently admitted sequences by *recompute*, as vLLM does by default:
their blocks are freed and their prompt plus generated tokens are prefilled again later), times the
iteration with the step-time model (:mod:`gpusim.serve.steptime`) and advances the clock.  A prefill
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

    @property
    def running(self) -> list[Seq]:
        return self.prefilling + self.decoding

    def admit(self, s: Seq) -> None:
        self.waiting.remove(s)
        self.kv.take(s, s.prefill_len + 1)
        self.prefilling.append(s)


def kv_blocks(model, cfg, tp: int) -> int:
    """KV-cache blocks of one replica (module doc)."""
    from gpusim.llm.model import DTYPE_BITS

    mem = cfg.memory.dram_size_bytes
    if not mem:
        raise GpusimError(f"{cfg.name}: memory.dram_size is not set; the KV cache's capacity needs it")
    weights = model.params() * DTYPE_BITS[model.weight_dtype] / 8
    per_token = 2 * model.layers * model.kv_heads * model.head_dim * DTYPE_BITS[model.kv_dtype] / 8
    free = mem * GPU_MEMORY_UTILIZATION * tp - weights
    if free <= per_token * BLOCK_TOKENS:
        raise GpusimError(f"{model.name} on {tp} x {cfg.name}: the weights ({weights / 2**30:.1f} GiB) leave no room "
                          f"for a KV cache in {GPU_MEMORY_UTILIZATION:.0%} of {tp} x {mem / 2**30:.0f} GiB")
    return int(free // (per_token * BLOCK_TOKENS))


def run(requests, stm, policy, params: dict, blocks: int, whole_prompts: bool, horizon_s: float | None = None) -> dict:
    """Serve ``requests`` (sorted by arrival) on one replica; returns per-request records and series."""
    kv = KVCache(blocks)
    st = State(kv)
    pending = deque(sorted(requests, key=lambda r: r.arrival_s))
    done: list[Seq] = []
    rejected = []
    series = []                                   # (time, running, waiting, kv used fraction, step seconds)
    t = 0.0
    iterations = 0
    budget = params.get("max_num_batched_tokens")
    while pending or st.waiting or st.running:
        while pending and pending[0].arrival_s <= t:
            r = pending.popleft()
            s = Seq(r.id, r.arrival_s, r.prompt, r.output)
            if KVCache.blocks_for(r.prompt + r.output) > blocks:
                rejected.append({"id": r.id, "reason": f"prompt + output = {r.prompt + r.output} tokens exceed the "
                                                      f"KV cache ({blocks} blocks of {BLOCK_TOKENS})"})
            elif whole_prompts and budget is not None and r.prompt > budget:
                rejected.append({"id": r.id, "reason": f"prompt of {r.prompt} tokens exceeds max_num_batched_tokens "
                                                      f"{budget} of a whole-prompt policy"})
            else:
                st.waiting.append(s)
        if not st.waiting and not st.running:
            if not pending:
                break
            t = pending[0].arrival_s
            continue
        plan = policy(st, params)
        decs = list(st.decoding) if plan.decode else []
        # room for the decodes' new tokens: preempt the latest admitted sequences (recompute)
        for s in list(decs):
            if s not in decs:
                continue                          # preempted by an earlier decode of this iteration
            while not kv.take(s, s.context + 1):
                victims = sorted((x for x in st.running if x is not s and x.blocks),
                                 key=lambda x: (x.admitted_at, x.arrival, x.id))
                if not victims:
                    raise GpusimError(f"request {s.id}: no KV block left even after preempting every other sequence")
                v = victims[-1]
                kv.release(v)
                v.recompute = v.generated
                v.prefilled = 0
                v.preemptions += 1
                if v in st.decoding:
                    st.decoding.remove(v)
                    if v in decs:
                        decs.remove(v)
                else:
                    st.prefilling.remove(v)
                plan.chunks = [(x, q) for x, q in plan.chunks if x is not v]
                st.waiting.appendleft(v)
        chunks = [(q, s.prefilled) for s, q in plan.chunks]
        dt = stm.step_seconds(chunks, [s.context for s in decs])
        if dt <= 0:
            if pending:
                t = max(t, pending[0].arrival_s)
                continue
            raise GpusimError(f"serve: the policy scheduled nothing while requests wait (internal error: "
                              f"waiting {[(x.id, x.prefill_len) for x in st.waiting]}, decoding "
                              f"{[(x.id, x.context) for x in st.decoding]}, prefilling {[(x.id, x.prefilled, x.prefill_len) for x in st.prefilling]}, free blocks {kv.free})")
        for s, _ in plan.chunks:
            if s.admitted_at < 0:
                s.admitted_at = t
        t += dt
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
        series.append((t, len(st.running), len(st.waiting), 1 - kv.free / kv.total, dt))
        if horizon_s is not None and t > horizon_s:
            break
    return {"done": done, "rejected": rejected, "unfinished": [s.id for s in st.running] + [s.id for s in st.waiting]
            + [r.id for r in pending], "series": series, "iterations": iterations, "end_s": t,
            "kv_blocks": blocks, "kv_peak_fraction": kv.used_max / kv.total}

"""Batching policies of the serving simulator: one function each, registered by name in :data:`POLICIES`.

A policy sees the engine's state between two iterations and returns the next iteration's work: the
prefill chunks ``[(request, tokens)]`` and whether the running decodes join.  The engine
(:mod:`gpusim.serve.engine`) does the rest (KV blocks, preemption, clocks, metrics).

* ``vllm`` — vLLM's default (V0) scheduler: prefill-prioritised continuous batching; whenever waiting
  prompts fit (``max_num_seqs`` sequences, ``max_num_batched_tokens`` tokens, free KV blocks) an
  iteration prefills whole prompts only, otherwise every running sequence decodes one token
  (Kwon et al., "Efficient Memory Management for LLM Serving with PagedAttention", SOSP'23, §4.2 and
  vLLM's ``Scheduler._schedule_default``).
* ``orca`` — iteration-level scheduling without chunking: each iteration runs every running decode
  plus whole prompts of newly admitted requests (Yu et al., "Orca", OSDI'22, §3).
* ``sarathi:chunk=N`` — Sarathi-Serve's stall-free batching: each iteration takes all running decodes
  first, then fills the token budget ``N`` with prefill chunks (Agrawal et al., "Taming
  Throughput-Latency Tradeoff in LLM Inference with Sarathi-Serve", OSDI'24, §4).

Adding one: a function ``(state, params) -> Plan`` and a line in :data:`POLICIES` (with its parameters
and defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Plan:
    chunks: list = field(default_factory=list)   # [(Seq, tokens)] prefill work of the iteration
    decode: bool = False                          # the running (fully prefilled) sequences decode a token


def _admit(state, budget_tokens: int, max_seqs: int, whole: bool, chunk_cap: int | None = None) -> list:
    """Prefill work for waiting / partially prefilled sequences in FCFS order within the budgets."""
    chunks = []
    used = 0
    n_seqs = len(state.running)
    for s in list(state.prefilling) + list(state.waiting):
        left = s.prefill_len - s.prefilled
        if s in state.waiting and n_seqs >= max_seqs:
            break
        take = left if whole else min(left, budget_tokens - used)
        if chunk_cap is not None:
            take = min(take, chunk_cap)
        if take <= 0 or used + take > budget_tokens:
            break
        if s in state.waiting:
            if not state.kv.can_admit(s):
                break
            state.admit(s)
            n_seqs += 1
        chunks.append((s, take))
        used += take
    return chunks


def vllm(state, p: dict) -> Plan:
    chunks = _admit(state, p["max_num_batched_tokens"], p["max_num_seqs"], whole=True)
    if chunks:
        return Plan(chunks, decode=False)
    return Plan([], decode=True)


def orca(state, p: dict) -> Plan:
    n_dec = len(state.decoding)
    chunks = _admit(state, p["max_num_batched_tokens"] - n_dec, p["max_num_seqs"], whole=True)
    return Plan(chunks, decode=True)


def sarathi(state, p: dict) -> Plan:
    n_dec = len(state.decoding)
    chunks = _admit(state, p["chunk"] - n_dec, p["max_num_seqs"], whole=False)
    return Plan(chunks, decode=True)


#: name -> (policy function, parameters with defaults: vLLM's defaults max_num_seqs 256,
#: max_num_batched_tokens 2048 (vLLM EngineArgs); Sarathi-Serve's chunk 512 for its A100 runs)
POLICIES = {
    "vllm": (vllm, {"max_num_seqs": 256, "max_num_batched_tokens": 2048}),
    "orca": (orca, {"max_num_seqs": 256, "max_num_batched_tokens": 2048}),
    "sarathi": (sarathi, {"chunk": 512, "max_num_seqs": 256}),
}

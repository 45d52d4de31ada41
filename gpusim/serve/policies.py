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
* ``distserve:prefill_tp=..,decode_tp=..,prefill_replicas=..,decode_replicas=..,link=nvlink|pcie`` —
  DistServe's disaggregation (Zhong et al., OSDI'24, §3-4): a prefill pool and a decode pool, each
  replica running ``vllm`` on its own GPUs, every prompt's KV cache copied from its prefill replica to
  a decode replica before its first decode (:mod:`gpusim.serve.disagg`).

Every policy takes ``preemption=recompute|swap`` (:mod:`gpusim.serve.engine`; vLLM's preemption
mode) and ``swap_space_gib=N`` (host swap space per GPU, vLLM's default 4 GiB).

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


#: parameters every policy takes: how a sequence is preempted and the host swap space per GPU (GiB;
#: vLLM EngineArgs.swap_space = 4, vllm-project/vllm vllm/engine/arg_utils.py at 99d7eb5)
ENGINE_DEFAULTS = {"preemption": "recompute", "swap_space_gib": 4}
#: parameters whose value is a word, with the words allowed
CHOICES = {"preemption": ("recompute", "swap"), "link": ("nvlink", "pcie")}

#: name -> (policy function, parameters with defaults: vLLM's defaults max_num_seqs 256 and, for
#: whole-prompt scheduling, max_num_batched_tokens = max(the model's max_positions, 2048) (None here,
#: resolved by gpusim.serve.serve; vLLM V0 SchedulerConfig in vllm/config.py: without chunked prefill
#: max(max_model_len, _DEFAULT_MAX_NUM_BATCHED_TOKENS = 2048)); Sarathi-Serve's chunk 512 for its A100 runs;
#: distserve: one replica of one GPU per pool, the KV copied over NVLink by default (DistServe places
#: the two instances of a pair in one node so that the copy goes over NVLink, OSDI'24 §4.3))
POLICIES = {
    "vllm": (vllm, {"max_num_seqs": 256, "max_num_batched_tokens": None, **ENGINE_DEFAULTS}),
    "orca": (orca, {"max_num_seqs": 256, "max_num_batched_tokens": None, **ENGINE_DEFAULTS}),
    "sarathi": (sarathi, {"chunk": 512, "max_num_seqs": 256, **ENGINE_DEFAULTS}),
    "distserve": (vllm, {"prefill_tp": 1, "decode_tp": 1, "prefill_replicas": 1, "decode_replicas": 1,
                         "link": "nvlink", "max_num_seqs": 256, "max_num_batched_tokens": None, **ENGINE_DEFAULTS}),
}

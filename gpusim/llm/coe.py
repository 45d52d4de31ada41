"""Composition of Experts (CoE) on a GPU node: the DGX side of the SN40L paper's comparison.

Samba-CoE (research/rdu-sn40l.md §2.4): a router model and many independently trained experts; a
batch of ``batch`` prompts runs the router once (prefill of all prompts), then each (prompt,
expert) pair in order: the expert's weights are copied into device memory if they are not
resident, the prompt is prefilled and ``out`` tokens are decoded.  On the RDU the experts live in
the sockets' DDR (:func:`gpusim.accel.rdu.schedule.simulate_coe`); on a DGX they live in host
memory and come over the host links.

GPU node model (:func:`gpu_coe`):

* the node has ``gpus`` GPUs of one config; every model (router, expert) runs tensor parallel over
  all of them (per-GPU shapes; the all-reduces and the logits all-gather take the config's
  ``interconnect`` time, :mod:`gpusim.llm.collectives`);
* router, expert prefill and one expert decode step (at the mean context ``prompt + out / 2``)
  are simulated by ``gpusim llm``'s GPU path (:func:`gpusim.llm.machines.run_gpu`);
* device memory (``memory.dram_size`` per GPU) holds the router, one sequence's KV cache and
  as many experts as fit (unlimited when the config has no ``dram_size``);
* switches: by default (``warm=1``) the paper's steady state (:func:`expected_switches`): each prompt
  picks its expert independently and uniformly ([paper] sec. VI-C: "samples in a batch have no
  relationship with each other") and the device-memory expert cache is warm, as the paper's DGX
  baseline assumes ("all experts fit in HBM" below ~50 experts: no switching at all), so a prompt
  copies its expert with probability ``1 - slots/experts``.  ``warm=0`` is the cold worst case: prompt
  i picks expert i (all distinct), an LRU cache that starts empty (:func:`count_switches`);
* a switch copies one expert over ``links`` host links of ``host.link_bandwidth`` each: the paper
  counts ONE host link per DGX (32 GB/s DGX A100, 64 GB/s DGX H100; rdu-sn40l.md §2.4, about
  421 ms and 211 ms per Llama-2-7B expert), so ``links`` defaults to 1.  Host-memory capacity is
  not checked (the paper assumes it holds every expert).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from gpusim.errors import GpusimError
from gpusim.llm.model import DTYPE_BITS, ModelSpec, load_model

__all__ = ["COE_DEFAULTS", "count_switches", "expected_switches", "gpu_coe", "parse_coe_spec", "switch_seconds",
           "switches_for"]

#: The paper's scenario (research/rdu-sn40l.md §2.4): 150 Llama-2-7B experts, BS=8 prompts, 20 output
#: tokens; prompt length 128 is this module's choice (the paper's is not stated in the digest);
#: ``warm=1``: steady state with a warm expert cache and independent uniform routing (module doc);
#: one host link per node as the paper counts it; a DGX has 8 GPUs.
COE_DEFAULTS = {"experts": 150, "batch": 8, "prompt": 128, "out": 20, "warm": 1, "links": 1, "gpus": 8}


def parse_coe_spec(text: str, keys: Sequence[str] = tuple(COE_DEFAULTS)) -> dict[str, int]:
    """``experts=150,batch=8,prompt=128,out=20[,links=1,gpus=8]`` -> dict with the defaults filled in."""
    d = {k: COE_DEFAULTS[k] for k in keys}
    for item in filter(None, (x.strip() for x in text.split(","))):
        k, eq, v = item.partition("=")
        k = k.strip()
        if not eq or k not in d:
            raise GpusimError(f"--coe '{text}': '{item}': expected key=value with key in {', '.join(d)}")
        try:
            d[k] = int(v)
        except ValueError:
            raise GpusimError(f"--coe '{text}': '{item}': value must be an integer") from None
        if k == "warm":
            if d[k] not in (0, 1):
                raise GpusimError(f"--coe '{text}': '{item}': warm is 0 (cold cache, distinct experts) or 1 (steady state)")
        elif d[k] < 1:
            raise GpusimError(f"--coe '{text}': '{item}': must be >= 1")
    return d


def count_switches(assignment: Sequence[int], slots: int) -> int:
    """Expert copies for prompts served in ``assignment`` order with an LRU cache of ``slots`` experts
    that starts empty."""
    cache: OrderedDict[int, None] = OrderedDict()
    switches = 0
    for e in assignment:
        if e in cache:
            cache.move_to_end(e)
            continue
        switches += 1
        cache[e] = None
        if len(cache) > slots:
            cache.popitem(last=False)
    return switches


def expected_switches(batch: int, experts: int, slots: int) -> float:
    """Expert copies per batch in steady state: every prompt picks one of ``experts`` independently and
    uniformly, and a warm cache holds ``slots`` distinct experts.  Under independent uniform requests any
    demand-filled cache of ``slots`` experts (LRU included) holds the requested one with probability
    ``min(slots, experts) / experts``, for every prompt of the batch alike."""
    return batch * (1.0 - min(slots, experts) / experts)


def switches_for(batch: int, experts: int, slots: int, warm: int, assignment: Sequence[int] | None) -> float:
    """Copies for one batch: an explicit ``assignment`` runs the LRU cache from empty; otherwise
    ``warm`` = 1 gives :func:`expected_switches`, 0 the cold case of distinct experts (prompt i -> i mod experts)."""
    if assignment is not None:
        return float(count_switches(list(assignment), slots))
    if warm:
        return expected_switches(batch, experts, slots)
    return float(count_switches([i % experts for i in range(batch)], slots))


#: GPU step reports of :func:`gpu_coe` by (model, step, config, tp, overrides): the simulation is
#: deterministic, so scenarios sharing a step (a router prefill of one prompt is an expert prefill) reuse it
_STEP_CACHE: dict[tuple, dict] = {}


def _weight_bytes(m: ModelSpec) -> float:
    return m.params() * DTYPE_BITS[m.weight_dtype] / 8


def switch_seconds(cfg, model: ModelSpec, links: int = 1) -> float:
    """Seconds to copy ``model``'s weights from host memory over ``links`` host links of GPU config ``cfg``."""
    bw = links * cfg.host.link_bandwidth_bytes_per_s
    if bw <= 0:
        raise GpusimError(f"{cfg.name}: host.link_bandwidth is 0; cannot copy experts from host memory")
    return _weight_bytes(model) / bw


def gpu_coe(gpu: str, expert: str | ModelSpec, router: str | ModelSpec | None = None, *, experts: int = 150,
            batch: int = 8, prompt: int = 128, out: int = 20, warm: int = 1, links: int = 1, gpus: int = 8,
            overrides: Sequence[str] = (), assignment: Sequence[int] | None = None, progress: bool = False) -> dict:
    """Serve one CoE batch on a node of ``gpus`` GPUs of config ``gpu`` (module doc); returns a dict with
    the same keys as the RDU's ``composition_of_experts`` report plus the node description."""
    from gpusim.config import load_config
    from gpusim.llm.graph import build_graph
    from gpusim.llm.machines import run_gpu
    from gpusim.llm.model import parse_step

    cfg = load_config(gpu, list(overrides))
    ex = expert if isinstance(expert, ModelSpec) else load_model(expert)
    ro = ex if router is None else (router if isinstance(router, ModelSpec) else load_model(router))
    tp = gpus
    expert_b = _weight_bytes(ex) / tp
    router_b = _weight_bytes(ro) / tp
    kv_g = build_graph(ex, parse_step(f"decode:batch=1,context={prompt + out}"), tp)
    kv = kv_g.tensors["layer.kv_cache"].bytes * ex.layers
    cap = cfg.memory.dram_size_bytes
    if cap is None:
        slots = experts
    else:
        slots = int((cap - router_b - kv) // expert_b)
        if slots < 1:
            raise GpusimError(f"{gpu}: no room in device memory for one expert ({expert_b / 2**30:.1f} GiB per GPU) "
                              f"next to the router")
    def step(model: ModelSpec, text: str) -> dict:     # one GPU simulation per distinct step (memoised)
        key = (model, text, gpu, tp, tuple(overrides))
        if key not in _STEP_CACHE:
            _STEP_CACHE[key] = run_gpu(model, text, gpu, tp=tp, overrides=overrides, progress=progress)
        return _STEP_CACHE[key]

    router_rep = step(ro, f"prefill:tokens={prompt},batch={batch},sample=1")
    pre_rep = step(ex, f"prefill:tokens={prompt}")
    mid = prompt + (out + 1) // 2
    dec_rep = step(ex, f"decode:batch=1,context={mid}")
    switch = switch_seconds(cfg, ex, links)
    switches = switches_for(batch, experts, slots, warm, assignment)
    router_s = router_rep["step_seconds"]
    prefill_s = batch * pre_rep["step_seconds"]
    decode_s = batch * out * dec_rep["step_seconds"]
    total = router_s + switches * switch + prefill_s + decode_s
    return {"node": f"{gpus} x {cfg.name}, TP{tp}, {links} host link(s) of "
                    f"{cfg.host.link_bandwidth_bytes_per_s / 1e9:.0f} GB/s",
            "gpu_config": gpu, "gpus": gpus, "host_links": links, "experts": experts, "batch": batch,
            "prompt_tokens": prompt, "output_tokens": out, "hbm_expert_cache_slots": slots,
            "expert_bytes": _weight_bytes(ex), "switch_s_each": switch,
            "switches": switches, "warm_cache": bool(warm) and assignment is None, "switch_s": switches * switch, "router_s": router_s, "prefill_s": prefill_s,
            "decode_s": decode_s, "total_s": total, "tokens_per_s": batch * out / total,
            "notes": ["tensor-parallel collectives: analytic interconnect model (gpusim.llm.collectives)",
                      "host-memory capacity is not checked (as the paper assumes)"]}

"""DistServe-style disaggregated serving: a prefill pool and a decode pool on separate GPUs.

Zhong et al., "DistServe: Disaggregating Prefill and Decoding for Goodput-optimized Large Language
Model Serving", OSDI'24, §3-4: prefill instances compute each prompt and emit its first token; the
prompt's KV cache then moves to a decode instance, which generates the remaining tokens.  Here:

* prefill pool: ``prefill_replicas`` engines of ``prefill_tp`` GPUs each, requests round-robin by
  arrival, each running the ``vllm`` policy on whole prompts (a request leaves the prefill engine
  with its first token; its blocks are freed there when the prefill completes);
* KV transfer: the prompt's KV bytes (prompt tokens x :func:`~gpusim.serve.engine.kv_bytes_per_token`)
  over the configured link, one transfer at a time per prefill replica (FIFO by prefill completion),
  each of the ``min(prefill_tp, decode_tp)`` GPU pairs moving its share in parallel.  The link is
  ``link=nvlink`` (the GPU config's ``interconnect.bus_bandwidth``, NCCL bus bandwidth per GPU: the
  NVLink rate a GPU sustains, configs/arch/hopper.yaml HW174, the A100 default HW175 in
  gpusim/config/specs.py) or ``link=pcie`` (``host.link_bandwidth``, one direction of the GPU's PCIe
  link: PCIe 4.0 x16 32 GB/s by default, 64 GB/s on Hopper).  No fixed per-transfer latency is
  modelled (the configs hold none for a point-to-point copy);
* decode pool: ``decode_replicas`` engines of ``decode_tp`` GPUs, KV arrivals assigned round-robin in
  order of arrival; a request decodes once its KV has arrived and its blocks fit (the engine's
  ``ready`` path), so its second token comes no earlier than prefill end + transfer + one decode step.

Requests whose prompt + output exceed a decode replica's KV cache are rejected before their prefill.
"""

from __future__ import annotations

from gpusim.errors import GpusimError
from gpusim.serve import engine
from gpusim.serve.workload import Request


def link_bandwidth(cfg, link: str) -> tuple[float, str]:
    """(bytes/s of one GPU's link, the config key it comes from)."""
    if link == "nvlink":
        return cfg.interconnect.bus_bandwidth_bytes_per_s, "interconnect.bus_bandwidth"
    return cfg.host.link_bandwidth_bytes_per_s, "host.link_bandwidth"


def run(requests, stm_for, model, cfg, fn, params: dict, swap_for) -> dict:
    """Serve ``requests`` on the two pools; returns the engine-level pieces :func:`gpusim.serve.serve`
    turns into the report."""
    ptp, dtp = params["prefill_tp"], params["decode_tp"]
    pr, dr = params["prefill_replicas"], params["decode_replicas"]
    bw_gpu, key = link_bandwidth(cfg, params["link"])
    if bw_gpu <= 0:
        raise GpusimError(f"--policy distserve link={params['link']}: {key} of {cfg.name} is 0; the KV cache "
                          f"cannot move from the prefill to the decode pool")
    bw = bw_gpu * min(ptp, dtp)
    per_tok = engine.kv_bytes_per_token(model)
    pblocks, dblocks = engine.kv_blocks(model, cfg, ptp), engine.kv_blocks(model, cfg, dtp)
    rejected, admitted = [], []
    for r in requests:
        if engine.KVCache.blocks_for(r.prompt + r.output) > dblocks:
            rejected.append({"id": r.id, "reason": f"prompt + output = {r.prompt + r.output} tokens exceed a decode "
                                                  f"replica's KV cache ({dblocks} blocks of {engine.BLOCK_TOKENS})"})
        else:
            admitted.append(r)
    ordered = sorted(admitted, key=lambda r: (r.arrival_s, r.id))
    by_id = {r.id: r for r in ordered}
    prefill_runs = []
    for k in range(pr):
        part = [Request(r.id, r.arrival_s, r.prompt, 1) for i, r in enumerate(ordered) if i % pr == k]
        prefill_runs.append(engine.run(part, stm_for(ptp), fn, params, pblocks, whole_prompts=True,
                                       swap=swap_for(ptp)))
    # KV transfers: FIFO per prefill replica's link
    finished_at_prefill, arrivals = [], []
    total_bytes = total_s = wait_s = 0.0
    for k, run_k in enumerate(prefill_runs):
        rejected += run_k["rejected"]
        free_at = 0.0
        for s in sorted(run_k["done"], key=lambda s: (s.token_times[0], s.id)):
            r = by_id[s.id]
            first = s.token_times[0]
            if r.output == 1:
                s.output = 1
                finished_at_prefill.append(s)
                continue
            nbytes = r.prompt * per_tok
            start = max(first, free_at)
            free_at = start + nbytes / bw
            total_bytes += nbytes
            total_s += nbytes / bw
            wait_s += start - first
            arrivals.append((free_at, r, first, s))
    arrivals.sort(key=lambda a: (a[0], a[1].id))
    decode_parts = [([], {}) for _ in range(dr)]
    prefill_seq = {}
    for i, (at, r, first, s) in enumerate(arrivals):
        reqs, ready = decode_parts[i % dr]
        reqs.append(Request(r.id, at, r.prompt, r.output))
        ready[r.id] = (r.arrival_s, first)
        prefill_seq[r.id] = s
    decode_runs = [engine.run(reqs, stm_for(dtp), fn, params, dblocks, whole_prompts=True, swap=swap_for(dtp),
                              ready=ready) for reqs, ready in decode_parts]
    for d in decode_runs:
        rejected += d["rejected"]
        for s in d["done"]:                       # preemptions at the prefill replica count too
            s.preemptions += prefill_seq[s.id].preemptions
            s.admitted_at = prefill_seq[s.id].admitted_at
    unfinished = [x for r in prefill_runs + decode_runs for x in r["unfinished"]]
    return {"prefill_runs": prefill_runs, "decode_runs": decode_runs, "rejected": rejected,
            "unfinished": unfinished, "done": finished_at_prefill + [s for d in decode_runs for s in d["done"]],
            "pools": {"prefill": {"tp": ptp, "replicas": pr, "kv_blocks_per_replica": pblocks,
                                  "iterations": sum(r["iterations"] for r in prefill_runs),
                                  "kv_peak_utilisation": max(r["kv_peak_fraction"] for r in prefill_runs)},
                      "decode": {"tp": dtp, "replicas": dr, "kv_blocks_per_replica": dblocks,
                                 "iterations": sum(r["iterations"] for r in decode_runs),
                                 "kv_peak_utilisation": max(r["kv_peak_fraction"] for r in decode_runs)}},
            "kv_transfer": {"link": params["link"], "config_key": key, "bandwidth_bytes_per_s_per_gpu": bw_gpu,
                            "parallel_gpu_pairs": min(ptp, dtp), "bytes_per_token": per_tok,
                            "transfers": len(arrivals), "bytes": total_bytes, "seconds": total_s,
                            "queue_wait_seconds": wait_s}}

"""The workload kinds a sweep point (or a validation case) runs: one class per kind, registered by its
key in :data:`WORKLOAD_KINDS`; a class parses its YAML entry, describes itself and runs on a config."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any


from gpusim.config.yamlio import Lines, check_keys
from gpusim.errors import GpusimError


REPO_ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------------------
# Workload kinds.
#
# Besides what a sweep needs, each kind answers a validation case (:mod:`gpusim.validate`):
# ``native_units(metric, work)`` (the units its result comes in, checked against the reference's before
# anything runs) and ``validation_values(cfg, metric, work)`` -> (``[(value, unit), ...]`` in those
# units, the run records of the case); a result that cannot be had raises ``GpusimError``.

#: what a validation case of a trace yields, by its ``metric``
TRACE_METRICS = {"kernel_cycles": "sum of the kernels' cycles (launch latency excluded)",
                 "total_cycles": "the run's total cycles (launch latency included)"}

#: what an ``llm_op`` case yields: the operator's FLOP rate, DRAM byte rate and time
#: (``operators[0]`` of the ``gpusim llm --op`` report)
LLM_OP_UNITS = ("flop/s", "B/s", "s")

#: what a ``serve`` case yields, by its ``metric``: (report.json ``metrics`` path or ``capacity``, unit).  A serve
#: case names one policy and either one rate (the latency / throughput metrics at that rate) or
#: ``find_capacity`` (``capacity``: the highest rate whose SLO attainment reaches 90%, DistServe's goodput)
SERVE_METRICS = {"capacity": ("capacity", "request/s"), "throughput": ("throughput_requests_per_s", "request/s"),
                 "token_throughput": ("throughput_tokens_per_s", "token/s"),
                 **{f"{m}_{p}": (f"{m}_s.{p}", "s") for m in ("ttft", "tbt", "tpot", "e2e") for p in ("p50", "p90", "p99")}}


def resolve_path(text: str, base_dir: Path) -> Path | None:
    p = Path(text).expanduser()
    if p.is_absolute():
        return p if p.exists() else None
    for root in (base_dir, Path.cwd(), REPO_ROOT):
        cand = root / p
        if cand.exists():
            return cand.resolve()
    return None


@dataclasses.dataclass(frozen=True)
class TraceWorkload:
    """An Accel-Sim trace: a kernelslist.g, a folder holding one, or one kernel file."""

    path: str               # absolute
    name: str
    kind: str = "trace"
    fingerprint: str = ""   # list file bytes + kernel file names and sizes: an edited trace is a new point

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple, base_dir: Path,
              kp_value: tuple | None = None) -> "TraceWorkload":
        kv = kp_value if kp_value is not None else (*kp, "trace")
        check_keys(extra, ("name",), lines, kp)
        if not isinstance(value, str) or not value.strip():
            raise lines.error(kv, f"expected a trace path, got {value!r}")
        p = resolve_path(value, base_dir)
        if p is None:
            raise lines.error(kv, f"no such trace: {value} (looked in {base_dir}, the current folder and {REPO_ROOT})")
        from gpusim.frontend.workload import open_workload

        try:
            wl = open_workload(p)
        except GpusimError as e:
            raise lines.error(kv, str(e)) from None
        if not wl.kernels:
            raise lines.error(kv, f"{value}: the trace launches no kernel")
        name = extra.get("name") or Path(value.rstrip("/")).name
        h = hashlib.blake2b(digest_size=8)
        src = Path(wl.source)
        if src.is_file():
            h.update(src.read_bytes())
        for k in wl.kernels:
            h.update(f"{k.path.name}:{k.path.stat().st_size};".encode())
        return cls(path=str(p), name=str(name), fingerprint=h.hexdigest())

    @classmethod
    def from_dict(cls, d: Mapping) -> "TraceWorkload":
        """The object back from :meth:`describe`'s dict (a journal line, a worker's task)."""
        return cls(path=d["path"], name=d["name"])

    def identity(self) -> dict:
        """What names a point's result: the path and the trace's fingerprint."""
        return {"kind": "trace", "path": self.path, "fingerprint": self.fingerprint}

    def describe(self) -> dict:
        return {"kind": "trace", "name": self.name, "path": self.path}

    def run(self, cfg) -> tuple[list[dict], dict]:
        """Rows (one per kernel) and the run's report dict."""
        from gpusim import api

        rep = api.simulate(self.path, cfg)
        return [flatten_kernel(k) for k in rep.to_dict()["kernels"]], rep.to_dict()

    def native_units(self, metric: str, work) -> tuple[str, ...]:
        """A rate per cycle of the case's ``work`` (an amount and its unit), or cycles."""
        return (f"{work[1]}/clk",) if work is not None else ("cycles",)

    def validation_values(self, cfg, metric: str, work) -> tuple[list, list[dict]]:
        """The kernels' cycles (``metric`` kernel_cycles) or the run's (total_cycles), or ``work`` per cycle."""
        from gpusim import api

        rep = api.simulate(self.path, cfg)
        cycles = rep.total_cycles if metric == "total_cycles" else sum(k.cycles for k in rep.kernels)
        runs = [{"cycles": cycles, "warp_instructions": sum(k.warp_instructions for k in rep.kernels)}]
        return ([(work[0] / cycles, f"{work[1]}/clk")] if work else [(float(cycles), "cycles")]), runs


@dataclasses.dataclass(frozen=True)
class MicrobenchWorkload:
    """A generated microbenchmark (:mod:`gpusim.microbench`), measured by the two-scale difference."""

    bench: str
    params: tuple            # sorted (key, value) pairs as written
    name: str
    kind: str = "microbench"

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple, base_dir: Path) -> "MicrobenchWorkload":
        from gpusim.microbench import MicrobenchError, check_params

        check_keys(extra, ("name", "params"), lines, kp)
        params = extra.get("params") or {}
        if not isinstance(params, Mapping):
            raise lines.error((*kp, "params"), f"expected a mapping of benchmark parameters, got {params!r}")
        try:
            check_params(value, params)
        except MicrobenchError as e:
            bad = next((k for k in params if f".{k}" in str(e) or f"'{k}'" in str(e)), None)
            raise lines.error((*kp, "params", bad) if bad else (*kp, "microbench"), str(e)) from None
        name = extra.get("name") or value
        return cls(bench=value, params=tuple(sorted(params.items())), name=str(name))

    @classmethod
    def from_dict(cls, d: Mapping) -> "MicrobenchWorkload":
        return cls(bench=d["bench"], params=tuple(sorted(d["params"].items())), name=d["name"])

    def identity(self) -> dict:
        return {"kind": self.kind, "bench": self.bench, "params": dict(self.params)}

    def describe(self) -> dict:
        return {"kind": "microbench", "name": self.name, "bench": self.bench, "params": dict(self.params)}

    def measure(self, cfg):
        from gpusim.microbench import measure

        return measure(self.bench, cfg, dict(self.params))

    def run(self, cfg) -> tuple[list[dict], dict]:
        m = self.measure(cfg)
        rep = m.reports[1].to_dict()
        rows = []
        for k in rep["kernels"]:
            row = flatten_kernel(k)
            for value, unit in m.values:
                row[f"measured[{unit}]"] = value
            rows.append(row)
        return rows, rep

    def native_units(self, metric: str, work) -> tuple[str, ...]:
        from gpusim.microbench import BENCHES

        return BENCHES[self.bench].units

    def validation_values(self, cfg, metric: str, work) -> tuple[list, list[dict]]:
        m = self.measure(cfg)
        return list(m.values), m.runs


@dataclasses.dataclass(frozen=True)
class LlmOpWorkload:
    """One LLM operator alone (:mod:`gpusim.llm.op`, as ``gpusim llm --op``): the kernel selection,
    kernels and report of a serving step; ``sample`` = CTA-wave sampling of long kernels."""

    op: str
    name: str
    sample: int | None = None
    kind: str = "llm_op"

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple, base_dir: Path) -> "LlmOpWorkload":
        from gpusim.llm.op import op_graph
        from gpusim.llm.run import check_sample

        check_keys(extra, ("name", "sample"), lines, kp)
        if not isinstance(value, str):
            raise lines.error((*kp, "llm_op"), f"expected an operator like gemm:m=4096,n=4096,k=4096, got {value!r}")
        try:
            op_graph(value)
            sample = check_sample(extra.get("sample"))
        except GpusimError as e:
            raise lines.error((*kp, "sample") if "sample" in str(e) else (*kp, "llm_op"), str(e)) from None
        return cls(op=value, name=str(extra.get("name") or value), sample=sample)

    @classmethod
    def from_dict(cls, d: Mapping) -> "LlmOpWorkload":
        return cls(op=d["op"], name=d["name"], sample=d.get("sample"))

    def identity(self) -> dict:
        return self.describe()                      # every parameter names the point

    def describe(self) -> dict:
        return {"kind": "llm_op", "name": self.name, "op": self.op, "sample": self.sample}

    def report(self, cfg) -> dict:
        from gpusim.llm.machines import run_gpu
        from gpusim.llm.op import op_graph

        return run_gpu(None, None, cfg, graph=op_graph(self.op), sample=self.sample)

    def run(self, cfg) -> tuple[list[dict], dict]:
        rep = self.report(cfg)
        o = rep["operators"][0]
        rows = [{**flatten_kernel({k: v for k, v in kd.items() if k != "sampling"}),
                 "op.seconds": o["seconds"], "op.flops_per_s": o["flops_per_s"], "op.dram_bytes_per_s": o["dram_bytes_per_s"]}
                for kd in o["kernels"]]
        return rows, rep

    def native_units(self, metric: str, work) -> tuple[str, ...]:
        return LLM_OP_UNITS

    def validation_values(self, cfg, metric: str, work) -> tuple[list, list[dict]]:
        o = self.report(cfg)["operators"][0]
        natives = [(o["flops_per_s"], "flop/s"), (o["dram_bytes_per_s"], "B/s"), (o["seconds"], "s")]
        return natives, [{"cycles": o["cycles"], "kernels": [k["kernel"] for k in o["kernels"]], "sampled": o["sampled"],
                          "sampling_error": o["relative_error"], "dram_bytes": o["dram_bytes"]}]


@dataclasses.dataclass(frozen=True)
class LlmRequestsWorkload:
    """A batch of identical requests served start to finish on a GPU config: one prefill step of
    ``batch`` prompts of ``prompt`` tokens, then ``output - 1`` decode steps of the batch (the prefill
    step produces the first token).  The decode steps' contexts run from prompt + 1 to
    prompt + output - 1; the first and the last are simulated and the others taken on the line
    between them (a decode step's time is linear in its context: the attention term grows with it,
    the rest does not).  Result: output tokens per second = batch x output / total time.

    ``cuda_graph``: the decode steps are replayed CUDA graphs (``gpusim llm --cuda-graph``; the prefill
    step keeps stream launches), as gpt-fast runs them (``torch.compile(decode_one_token,
    mode="reduce-overhead")``, prefill eager).  ``weight_bandwidth``: also report gpt-fast's "Bandwidth
    achieved" (:func:`gpt_fast_bandwidth`), in B/s."""

    model: str
    batch: int
    prompt: int
    output: int
    name: str
    tp: int = 1
    sample: int | None = None
    cuda_graph: bool = False
    weight_bandwidth: bool = False
    kind: str = "llm_requests"

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple, base_dir: Path) -> "LlmRequestsWorkload":
        from gpusim.llm.model import load_model
        from gpusim.llm.run import check_sample

        check_keys(extra, ("name",), lines, kp)
        if not isinstance(value, Mapping):
            raise lines.error((*kp, "llm_requests"), "expected {model, batch, prompt, output[, tp, sample, cuda_graph, "
                                                     "weight_bandwidth]}")
        check_keys(value, ("model", "batch", "prompt", "output", "tp", "sample", "cuda_graph", "weight_bandwidth"), lines,
                   (*kp, "llm_requests"), required=("model", "batch", "prompt", "output"))
        for k in ("batch", "prompt", "output", "tp"):
            v = value.get(k, 1)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise lines.error((*kp, "llm_requests", k), f"expected a positive integer, got {v!r}")
        for k in ("cuda_graph", "weight_bandwidth"):
            if not isinstance(value.get(k, False), bool):
                raise lines.error((*kp, "llm_requests", k), f"expected true or false, got {value[k]!r}")
        if value.get("weight_bandwidth") and value.get("tp", 1) != 1:
            raise lines.error((*kp, "llm_requests", "weight_bandwidth"),
                              "gpt-fast's bandwidth figure is defined here for one GPU (tp 1) only")
        try:
            load_model(str(value["model"]))
            sample = check_sample(value.get("sample"))
        except GpusimError as e:
            raise lines.error((*kp, "llm_requests"), str(e)) from None
        name = extra.get("name") or f"{value['model']} b{value['batch']} in{value['prompt']}/out{value['output']}"
        return cls(model=str(value["model"]), batch=value["batch"], prompt=value["prompt"], output=value["output"],
                   name=str(name), tp=value.get("tp", 1), sample=sample, cuda_graph=value.get("cuda_graph", False),
                   weight_bandwidth=value.get("weight_bandwidth", False))

    @classmethod
    def from_dict(cls, d: Mapping) -> "LlmRequestsWorkload":
        return cls(**{k: v for k, v in d.items() if k != "kind"})

    def identity(self) -> dict:
        return self.describe()                      # every parameter names the point

    def describe(self) -> dict:
        d = {"kind": "llm_requests", "name": self.name, "model": self.model, "batch": self.batch,
             "prompt": self.prompt, "output": self.output, "tp": self.tp, "sample": self.sample}
        # the options only when set: a point without them keeps the identity it had before they existed
        return {**d, **{k: True for k in ("cuda_graph", "weight_bandwidth") if getattr(self, k)}}

    def report(self, cfg) -> dict:
        from gpusim.llm.machines import run_gpu

        def step(text, graph=False):
            return run_gpu(self.model, text, cfg, tp=self.tp, sample=self.sample, cuda_graph=graph)

        pre = step(f"prefill:tokens={self.prompt},batch={self.batch}")
        n_dec = self.output - 1
        dec = []
        if n_dec >= 1:
            dec.append(step(f"decode:batch={self.batch},context={self.prompt + 1}", self.cuda_graph))
        if n_dec >= 2:
            dec.append(step(f"decode:batch={self.batch},context={self.prompt + n_dec}", self.cuda_graph))
        t_dec = n_dec * sum(d["step_seconds"] for d in dec) / len(dec) if dec else 0.0
        total = pre["step_seconds"] + t_dec
        rep = {"seconds": total, "prefill_seconds": pre["step_seconds"], "decode_seconds": t_dec,
               "output_tokens": self.batch * self.output, "tokens_per_second": self.batch * self.output / total,
               "sampling_error": max(((r.get("sampling") or {}).get("relative_error", 0.0) for r in (pre, *dec)),
                                     default=0.0),
               "steps": [{"step": r["step"], "step_seconds": r["step_seconds"]} for r in (pre, *dec)]}
        if self.weight_bandwidth:
            rep["model_bytes"] = gpt_fast_model_bytes(self.model)
            rep["weight_bandwidth_bytes_per_s"] = gpt_fast_bandwidth(rep["model_bytes"], self.output, total)
        return rep

    def run(self, cfg) -> tuple[list[dict], dict]:
        rep = self.report(cfg)
        return [{"kernel": "(requests)", **{k: v for k, v in rep.items() if k != "steps"}}], rep

    def native_units(self, metric: str, work) -> tuple[str, ...]:
        return ("token/s", "s", "B/s") if self.weight_bandwidth else ("token/s", "s")

    def validation_values(self, cfg, metric: str, work) -> tuple[list, list[dict]]:
        rep = self.report(cfg)
        natives = [(rep["tokens_per_second"], "token/s"), (rep["seconds"], "s")]
        if self.weight_bandwidth:
            natives.append((rep["weight_bandwidth_bytes_per_s"], "B/s"))
        return natives, [rep]


def gpt_fast_model_bytes(model) -> int:
    """The ``model_size`` of gpt-fast's generate.py for an unquantised model: pytorch-labs/gpt-fast @ 9ac48bc
    (the commit whose README first gives the Llama-2-7B benchmark row), generate.py:287 ``model_size =
    sum([p.numel() * p.dtype.itemsize for p in itertools.chain(model.parameters(), model.buffers())])``,
    evaluated right after ``_load_model`` (generate.py:272), before ``generate`` calls ``setup_caches``
    (generate.py:154): model.py:89-105 creates the KV caches, ``freqs_cis`` and ``causal_mask`` there, so
    no buffer exists yet and the sum is every parameter (embedding, blocks, final norm, LM head) at
    bf16's 2 bytes (generate.py:266).  Here: the preset's weights as stored,
    :meth:`gpusim.llm.model.ModelSpec.weight_bytes` (= ``params() x 2`` for an fp16 / bf16 preset).
    Later gpt-fast (ebd10d3, 2024-05-09, ``_get_model_size``) leaves the nn.Embedding out; not this."""
    from gpusim.llm.model import load_model

    m = load_model(model) if isinstance(model, str) else model
    return m.weight_bytes()


def gpt_fast_bandwidth(model_bytes: int, output: int, seconds: float) -> float:
    """gpt-fast's "Bandwidth achieved" in B/s: generate.py:370-374 @ 9ac48bc, ``tokens_sec =
    tokens_generated / t`` with ``t`` the wall time of one ``generate`` call (prefill and every decode
    step, generate.py:335-364) and ``tokens_generated = max_new_tokens`` of the one sequence, then
    ``model_size * tokens_sec`` (printed / 1e9 as GB/s)."""
    return model_bytes * output / seconds


@dataclasses.dataclass(frozen=True)
class LlmTrainWorkload:
    """One training step (``gpusim llm --step train:... --dp D``, :mod:`gpusim.llm.train`) on a GPU config.
    Result: model FLOP/s per GPU in FlashAttention-2's convention (``training.model_tflops_per_gpu``) and the
    optimizer step's seconds."""

    model: str
    step: str
    name: str
    dp: int = 1
    sample: int | None = None
    kind: str = "llm_train"

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple, base_dir: Path) -> "LlmTrainWorkload":
        from gpusim.llm.model import load_model, parse_step
        from gpusim.llm.run import check_sample

        check_keys(extra, ("name",), lines, kp)
        if not isinstance(value, Mapping):
            raise lines.error((*kp, "llm_train"), "expected {model, step[, dp, sample]}")
        check_keys(value, ("model", "step", "dp", "sample"), lines, (*kp, "llm_train"), required=("model", "step"))
        dp = value.get("dp", 1)
        if not isinstance(dp, int) or dp < 1:
            raise lines.error((*kp, "llm_train", "dp"), f"expected a positive integer, got {dp!r}")
        try:
            load_model(str(value["model"]))
            if not parse_step(str(value["step"])).train:
                raise GpusimError(f"step {value['step']!r}: an llm_train workload runs a train: step")
            sample = check_sample(value.get("sample"))
        except GpusimError as e:
            raise lines.error((*kp, "llm_train"), str(e)) from None
        name = extra.get("name") or f"{value['model']} {value['step']} dp{dp}"
        return cls(model=str(value["model"]), step=str(value["step"]), name=str(name), dp=dp, sample=sample)

    @classmethod
    def from_dict(cls, d: Mapping) -> "LlmTrainWorkload":
        return cls(**{k: v for k, v in d.items() if k != "kind"})

    def identity(self) -> dict:
        return self.describe()                      # every parameter names the point

    def describe(self) -> dict:
        return {"kind": "llm_train", "name": self.name, "model": self.model, "step": self.step, "dp": self.dp,
                "sample": self.sample}

    def report(self, cfg) -> dict:
        from gpusim.llm.machines import run_gpu

        return run_gpu(self.model, self.step, cfg, dp=self.dp, sample=self.sample)

    def run(self, cfg) -> tuple[list[dict], dict]:
        rep = self.report(cfg)
        tr = rep["training"]
        return [{"kernel": "(train step)", "step_seconds": tr["step_seconds"],
                 "model_tflops_per_gpu": tr["model_tflops_per_gpu"]}], rep

    def native_units(self, metric: str, work) -> tuple[str, ...]:
        return ("flop/s", "s")

    def validation_values(self, cfg, metric: str, work) -> tuple[list, list[dict]]:
        rep = self.report(cfg)
        tr = rep["training"]
        return [(tr["model_tflops_per_gpu"] * 1e12, "flop/s"), (tr["step_seconds"], "s")], [
            {"step_seconds": tr["step_seconds"], "phase_seconds": tr["phase_seconds"],
             "sampling_error": (rep.get("sampling") or {}).get("relative_error", 0.0)}]


@dataclasses.dataclass(frozen=True)
class ClockWorkload:
    """A microbenchmark listing run as it is by ``gpusim clock`` (:mod:`gpusim.clock`): one CTA of
    ``threads`` threads, the result is the difference of two clock reads of one warp, in cycles::

        {clock: {listing: validation/micro/x.cuasm, threads: 32, warp: 0, delta: [0, 1],
                 baseline: validation/micro/y.cuasm, per: 8, offset: -1}}

    ``delta: [i, j]`` = read j - read i of warp ``warp`` (its i-th and j-th clock reads, from 0).
    Optional, each stated in the suite next to its reason: ``baseline`` (another listing whose same
    delta is subtracted: an A/B pair differing in the one property under test), ``per`` (divide by the
    number of repetitions in the region) and ``offset`` (cycles added after that, e.g. -1 for the
    issue slot of a first read that issues one cycle before the instruction timed)."""

    listing: str            # absolute
    name: str
    threads: int = 32
    warp: int = 0
    delta: tuple = (0, 1)
    baseline: str | None = None
    per: int = 1
    offset: int = 0
    fingerprint: str = ""   # the listings' bytes: an edited listing is a new point
    kind: str = "clock"

    _KEYS = ("listing", "threads", "warp", "delta", "baseline", "per", "offset")

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple, base_dir: Path) -> "ClockWorkload":
        check_keys(extra, ("name",), lines, kp)
        kc = (*kp, "clock")
        if not isinstance(value, Mapping):
            raise lines.error(kc, "expected {listing, threads, warp, delta[, baseline, per, offset]}")
        check_keys(value, cls._KEYS, lines, kc, required=("listing",))
        paths = {}
        for key in ("listing", "baseline"):
            if key not in value:
                continue
            v = value[key]
            if not isinstance(v, str) or not v.strip():
                raise lines.error((*kc, key), f"expected a listing path, got {v!r}")
            p = resolve_path(v, base_dir)
            if p is None or not p.is_file():
                raise lines.error((*kc, key), f"no such listing: {v} (looked in {base_dir}, the current folder "
                                              f"and {REPO_ROOT})")
            paths[key] = p
        ints = {}
        for key, lo, hi, default in (("threads", 1, 1024, 32), ("warp", 0, 31, 0), ("per", 1, 1 << 20, 1),
                                     ("offset", -(1 << 20), 1 << 20, 0)):
            v = value.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise lines.error((*kc, key), f"expected an integer in [{lo}, {hi}], got {v!r}")
            ints[key] = v
        if ints["warp"] * 32 >= ints["threads"]:
            raise lines.error((*kc, "warp"), f"warp {ints['warp']} is not in a CTA of {ints['threads']} threads")
        d = value.get("delta", [0, 1])
        if not (isinstance(d, list) and len(d) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                            and x >= 0 for x in d) and d[0] != d[1]):
            raise lines.error((*kc, "delta"), f"expected [i, j]: two different clock-read indices (from 0), got {d!r}")
        h = hashlib.blake2b(digest_size=8)
        for p in paths.values():
            h.update(p.read_bytes())
        name = extra.get("name") or Path(str(value["listing"])).stem
        return cls(listing=str(paths["listing"]), name=str(name), threads=ints["threads"], warp=ints["warp"],
                   delta=(d[0], d[1]), baseline=str(paths["baseline"]) if "baseline" in paths else None,
                   per=ints["per"], offset=ints["offset"], fingerprint=h.hexdigest())

    @classmethod
    def from_dict(cls, d: Mapping) -> "ClockWorkload":
        # (``describe`` shows listings relative to the repository: resolved back here, for a worker in any folder)
        return cls(**{k: (tuple(v) if k == "delta" else _located(v) if k in ("listing", "baseline") else v)
                      for k, v in d.items() if k != "kind"})

    def identity(self) -> dict:
        return {**self.describe(), "fingerprint": self.fingerprint}

    def describe(self) -> dict:
        return {"kind": "clock", "name": self.name, "listing": _shown(self.listing), "threads": self.threads,
                "warp": self.warp, "delta": list(self.delta), "baseline": _shown(self.baseline), "per": self.per,
                "offset": self.offset}

    def _delta(self, listing: str, cfg) -> tuple[int, dict]:
        from gpusim.clock import clock_reads

        r = clock_reads(listing, cfg, threads=self.threads)
        w = next((x for x in r["warps"] if x["warp"] == self.warp), None)
        reads = w["clock_reads"] if w else []
        i, j = self.delta
        if max(i, j) >= len(reads):
            raise GpusimError(f"{listing}: warp {self.warp} makes {len(reads)} clock read(s); delta {list(self.delta)} "
                              f"needs read {max(i, j)}")
        return reads[j] - reads[i], {"listing": _shown(listing), "clock_reads": reads, "delta": reads[j] - reads[i]}

    def measure(self, cfg) -> tuple[float, list[dict]]:
        """(result in cycles, [run of the listing, run of the baseline])."""
        d, run = self._delta(self.listing, cfg)
        runs = [run]
        if self.baseline:
            b, brun = self._delta(self.baseline, cfg)
            runs.append(brun)
            d -= b
        return d / self.per + self.offset, runs

    def run(self, cfg) -> tuple[list[dict], dict]:
        value, runs = self.measure(cfg)
        rep = {"cycles": value, "runs": runs}
        return [{"kernel": self.name, "clock.cycles": value}], rep

    def native_units(self, metric: str, work) -> tuple[str, ...]:
        return ("cycles",)

    def validation_values(self, cfg, metric: str, work) -> tuple[list, list[dict]]:
        value, runs = self.measure(cfg)
        return [(float(value), "cycles")], runs


@dataclasses.dataclass(frozen=True)
class ServeWorkload:
    """Requests served over time (:mod:`gpusim.serve`) on each point's GPU config: one row per policy x
    rate (output ``serve.*`` columns: latency percentiles, throughput, SLO attainment, goodput) and, with
    ``find_capacity``, one row per policy at its capacity (``serve.row`` = ``capacity``), so that capacity
    can be plotted against a machine axis such as ``memory.dram_bandwidth``::

        - serve:
            model: llama-2-7b
            arrivals: poisson:duration=60,prompt=512,output=128,seed=0   # no rate: the rates list gives it
            rates: [1, 2, 4]                 # requests/s (for a trace: its timestamps compressed to each rate)
            policies: [vllm, "sarathi:chunk=512"]
            slo: ttft=1,tpot=0.1             # optional; find_capacity needs it
            find_capacity: true
            tp: 1                            # optional: tp, sample, held_out, grid
            grid: {prefill_tokens: [16, 256, 2048], decode_batches: [1, 32], decode_contexts: [128, 4096]}

    ``trace: FILE`` (BurstGPT / Azure CSV) replaces ``arrivals``.  The step-time model of each point is
    built (or read from the cache) by :func:`gpusim.serve.steptime.build` for that point's config."""

    model: str
    policies: tuple
    rates: tuple
    name: str
    arrivals: str | None = None
    trace: str | None = None
    slo: str | None = None
    find_capacity: bool = False
    tp: int = 1
    sample: int | None = 4
    held_out: int = 4
    grid: tuple | None = None             # (prefill_tokens, decode_batches, decode_contexts)
    fingerprint: str = ""
    kind: str = "serve"

    KEYS = ("model", "arrivals", "trace", "rates", "policies", "slo", "find_capacity", "tp", "sample", "held_out", "grid")

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple, base_dir: Path) -> "ServeWorkload":
        from gpusim.llm.model import load_model
        from gpusim.serve import parse_policy, parse_slo
        from gpusim.serve import workload as W

        check_keys(extra, ("name",), lines, kp)
        k0 = (*kp, "serve")
        if not isinstance(value, Mapping):
            raise lines.error(k0, "expected {model, arrivals | trace, policies[, rates, slo, find_capacity, tp, sample, "
                                  "held_out, grid]}")
        check_keys(value, cls.KEYS, lines, k0, required=("model", "policies"))
        if ("arrivals" in value) == ("trace" in value):
            raise lines.error(k0, "give exactly one of arrivals (a poisson/gamma spec without rate) and trace (a CSV)")
        try:
            load_model(str(value["model"]))
        except GpusimError as e:
            raise lines.error((*k0, "model"), str(e)) from None
        pols = value["policies"]
        pols = [pols] if isinstance(pols, str) else pols
        if not isinstance(pols, list) or not pols:
            raise lines.error((*k0, "policies"), f"expected a list of policies such as vllm, sarathi:chunk=512, got {pols!r}")
        for i, pt in enumerate(pols):
            try:
                parse_policy(str(pt))
            except GpusimError as e:
                raise lines.error((*k0, "policies", i), str(e)) from None
        rates = value.get("rates") or []
        if not isinstance(rates, list) or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0
                                                  for r in rates):
            raise lines.error((*k0, "rates"), f"expected a list of positive request rates (requests/s), got {rates!r}")
        fc = value.get("find_capacity", False)
        if not isinstance(fc, bool):
            raise lines.error((*k0, "find_capacity"), f"expected true or false, got {fc!r}")
        if not rates and not fc:
            raise lines.error(k0, "give rates (requests/s), find_capacity: true, or both")
        slo = value.get("slo")
        try:
            parse_slo(slo)
        except GpusimError as e:
            raise lines.error((*k0, "slo"), str(e)) from None
        if fc and not slo:
            raise lines.error((*k0, "find_capacity"), "find_capacity needs slo: ttft=S,tpot=S")
        for k in ("tp", "held_out"):
            v = value.get(k, 1)
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if k == "tp" else 0):
                raise lines.error((*k0, k), f"expected a {'positive' if k == 'tp' else 'non-negative'} integer, got {v!r}")
        sample = value.get("sample", 4)
        if sample is not None and (not isinstance(sample, int) or sample < 1):
            raise lines.error((*k0, "sample"), f"expected a positive integer or null, got {sample!r}")
        grid = value.get("grid")
        if grid is not None:
            gk = ("prefill_tokens", "decode_batches", "decode_contexts")
            if not isinstance(grid, Mapping):
                raise lines.error((*k0, "grid"), f"expected a mapping with {', '.join(gk)}")
            check_keys(grid, gk, lines, (*k0, "grid"), required=gk)
            for k in gk:
                v = grid[k]
                if not isinstance(v, list) or not v or not all(isinstance(x, int) and x > 0 for x in v):
                    raise lines.error((*k0, "grid", k), f"expected a list of positive integers, got {v!r}")
            grid = tuple(tuple(sorted(grid[k])) for k in gk)
        arrivals, trace, fp = value.get("arrivals"), None, ""
        if arrivals is not None:
            if not isinstance(arrivals, str) or "rate=" in arrivals:
                raise lines.error((*k0, "arrivals"), "expected a poisson:/gamma: spec without rate= (the rates list "
                                                     f"gives it), got {arrivals!r}")
            try:
                W.synthetic(arrivals.replace(":", ":rate=1,", 1))
            except GpusimError as e:
                raise lines.error((*k0, "arrivals"), str(e)) from None
        else:
            p = resolve_path(str(value["trace"]), base_dir)
            if p is None:
                raise lines.error((*k0, "trace"), f"no such trace: {value['trace']}")
            try:
                W.from_trace(p)
            except GpusimError as e:
                raise lines.error((*k0, "trace"), str(e)) from None
            trace, fp = str(p), hashlib.blake2b(p.read_bytes(), digest_size=8).hexdigest()
        name = extra.get("name") or f"serve {value['model']}"
        return cls(model=str(value["model"]), policies=tuple(map(str, pols)), rates=tuple(float(r) for r in rates),
                   name=str(name), arrivals=arrivals, trace=trace, slo=slo, find_capacity=fc, tp=value.get("tp", 1),
                   sample=sample, held_out=value.get("held_out", 4), grid=grid, fingerprint=fp)

    @classmethod
    def from_dict(cls, d: Mapping) -> "ServeWorkload":
        return cls(**{**{k: v for k, v in d.items() if k != "kind"}, "policies": tuple(d["policies"]),
                      "rates": tuple(d["rates"]), "grid": tuple(tuple(g) for g in d["grid"]) if d.get("grid") else None})

    def identity(self) -> dict:
        return self.describe()                      # every parameter, and the trace's bytes, name the point

    def describe(self) -> dict:
        d = dataclasses.asdict(self)
        d["policies"], d["rates"] = list(self.policies), list(self.rates)
        d["grid"] = [list(g) for g in self.grid] if self.grid else None
        return d

    def requests_at(self, rate: float):
        from gpusim.serve import workload as W

        if self.arrivals:
            kind, _, body = self.arrivals.partition(":")
            return W.synthetic(f"{kind}:rate={rate},{body}")
        reqs = W.from_trace(self.trace)
        span = max(reqs[-1].arrival_s - reqs[0].arrival_s, 1e-9) if len(reqs) > 1 else 1.0
        f = rate / (len(reqs) / span)
        return [W.Request(r.id, r.arrival_s / f, r.prompt, r.output) for r in reqs]

    def run(self, cfg) -> tuple[list[dict], dict]:
        from gpusim.llm.model import load_model
        from gpusim.serve import find_capacity, parse_policy, parse_slo, serve
        from gpusim.serve import steptime as ST

        model = load_model(self.model)
        slo = parse_slo(self.slo)
        grid = {} if not self.grid else dict(zip(("prefill_tokens", "decode_batches", "decode_contexts"), self.grid))
        stms: dict = {}

        def stm_for(policy):
            name, _, params = parse_policy(policy)
            tps = sorted({params["prefill_tp"], params["decode_tp"]}) if name == "distserve" else [self.tp]
            for t in tps:
                if t not in stms:
                    stms[t] = ST.build(model, cfg, tp=t, sample=self.sample, held_out=self.held_out, progress=False,
                                       **grid)
            return (stms[tps[0]] if len(tps) == 1 else {t: stms[t] for t in tps}), name

        rows, reps = [], []
        for pol in self.policies:
            stm, pname = stm_for(pol)
            tp = 1 if pname == "distserve" else self.tp
            for rate in self.rates:
                rep = serve(self.requests_at(rate), stm, model, cfg, policy=pol, tp=tp, slo=slo)
                rows.append(self._row(pol, "rate", rate, rep))
                reps.append({"policy": pol, "rate": rate, "metrics": rep["metrics"]})
            if self.find_capacity:
                cap = find_capacity(self.requests_at, stm, model, cfg, policy=pol, tp=tp, replicas=1, slo=slo)
                c = cap["capacity_requests_per_s"]
                rep = serve(self.requests_at(c), stm, model, cfg, policy=pol, tp=tp, slo=slo) if c else None
                rows.append(self._row(pol, "capacity", c, rep, capacity=c))
                reps.append({"policy": pol, "capacity": cap})
        return rows, {"serve": reps}

    def native_units(self, metric: str, work) -> tuple[str, ...]:
        return (SERVE_METRICS[metric][1],)

    def validation_values(self, cfg, metric: str, work) -> tuple[list, list[dict]]:
        """The serving run's ``metric`` (:data:`SERVE_METRICS`) for the case's one policy (at its one rate)."""
        rows, _ = self.run(cfg)
        key, unit = SERVE_METRICS[metric]
        row = rows[-1]
        v = row["capacity_requests_per_s"] if key == "capacity" else row.get(f"serve.{key}")
        if v is None:
            raise GpusimError(f"no {metric}: the serving run met the SLO at no rate searched" if key == "capacity"
                              else f"no {metric} in the serving run")
        return [(float(v), unit)], [{k: v for k, v in row.items() if k.startswith(("serve.", "capacity", "rate",
                                                                                    "step_model"))}]

    @staticmethod
    def _row(policy: str, kind: str, rate, rep: dict | None, capacity=None) -> dict:
        row = {"kernel": "(serve)", "policy": policy, "serve.row": kind, "rate": rate,
               "capacity_requests_per_s": capacity}
        if rep is not None:
            m = {k: v for k, v in rep["metrics"].items() if k not in ("cdf", "cdf_percentiles", "slo")}
            flat = flatten_kernel({"serve": m, "step_model": {"interp_error_pct": rep["step_model"].get("interp_error_pct")},
                                   "gpus": rep["gpus"], "preemptions": rep["preemptions"]})
            flat.pop("kernel", None), flat.pop("kernel_id", None)
            row.update(flat)
        return row


#: The workload kinds by their YAML key.  A new kind is one class with ``parse`` (YAML entry -> object),
#: ``describe``/``from_dict`` (object <-> the JSON a worker and the journal carry), ``identity`` (what
#: names its result) and ``run(cfg)``, plus one line here.
WORKLOAD_KINDS: dict[str, type] = {
    "trace": TraceWorkload,
    "microbench": MicrobenchWorkload,
    "llm_op": LlmOpWorkload,
    "llm_requests": LlmRequestsWorkload,
    "llm_train": LlmTrainWorkload,
    "clock": ClockWorkload,
    "serve": ServeWorkload,
}
_PLANNED_KINDS = {"llm": "LLM serving steps (not available yet)"}


def parse_workload(item: Any, lines: Lines, kp: tuple, base_dir: Path):
    """One ``workloads:`` entry -> a workload object.  A bare string is a trace path."""
    if isinstance(item, str):
        return TraceWorkload.parse(item, {}, lines, kp, base_dir, kp_value=kp)
    if not isinstance(item, Mapping):
        raise lines.error(kp, f"expected a trace path or a mapping with one of {', '.join(WORKLOAD_KINDS)}, got {item!r}")
    kinds = [k for k in item if k in WORKLOAD_KINDS or k in _PLANNED_KINDS]
    if len(kinds) != 1:
        if not kinds:
            keys = [str(k) for k in item]
            close = next((difflib.get_close_matches(k, list(WORKLOAD_KINDS), n=1, cutoff=0.5) for k in keys), [])
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise lines.error(kp, f"a workload names exactly one kind ({', '.join(WORKLOAD_KINDS)}); got keys "
                                  f"{', '.join(keys) or 'none'}{hint}")
        raise lines.error(kp, f"a workload names exactly one kind, got {', '.join(kinds)}")
    kind = kinds[0]
    if kind in _PLANNED_KINDS:
        raise lines.error((*kp, kind), f"workload kind '{kind}' ({_PLANNED_KINDS[kind]}); "
                                       f"available kinds: {', '.join(WORKLOAD_KINDS)}")
    extra = {k: v for k, v in item.items() if k != kind}
    return WORKLOAD_KINDS[kind].parse(item[kind], extra, lines, kp, base_dir)


def workload_from_dict(d: Mapping):
    """A workload object back from its :meth:`describe` dict."""
    cls = WORKLOAD_KINDS.get(d["kind"])
    if cls is None:  # pragma: no cover - journal written by us
        raise GpusimError(f"unknown workload kind {d['kind']!r}")
    return cls.from_dict(d)


# ----------------------------------------------------------------------------------------------
# Report rows.

_META_KERNEL_KEYS = ("name", "kernel_id", "trace")


def flatten_kernel(k: Mapping) -> dict:
    """A kernel report dict -> one flat row: scalars as they are, nested dicts joined with '.'.

    ``grid``/``block`` become ``"x,y,z"`` strings; other lists (not tidy data) are left out.
    """
    row: dict[str, Any] = {"kernel": k.get("name"), "kernel_id": k.get("kernel_id")}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, Mapping):
            for kk, vv in v.items():
                walk(f"{prefix}.{kk}" if prefix else str(kk), vv)
        elif isinstance(v, (list, tuple)):
            if prefix in ("grid", "block") and all(isinstance(x, int) for x in v):
                row[prefix] = ",".join(map(str, v))
        elif v is None or isinstance(v, (bool, int, float, str)):
            row[prefix] = v

    for key, v in k.items():
        if key in _META_KERNEL_KEYS:
            continue
        walk(key, v)
    return row


def _located(path: str | None) -> str | None:
    """A listing path from :func:`_shown`: a relative one that is not in the current folder is the
    repository's."""
    if path is None or Path(path).is_absolute() or Path(path).is_file():
        return path
    return str(REPO_ROOT / path)


def _shown(path: str | None) -> str | None:
    """A listing path as reports show it: relative to the repository (or the current folder) when it lies
    inside, so a committed report names no machine's folders."""
    if path is None:
        return None
    p = Path(path)
    for base in (REPO_ROOT, Path.cwd()):
        try:
            return p.resolve().relative_to(Path(base).resolve()).as_posix()
        except ValueError:
            continue
    return str(path)

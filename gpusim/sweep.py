"""Config sweeps: many (config point x workload) simulations, in worker processes or on Dask.

Single responsibility: read a sweep file, expand its axes into points, check every point's
config *before* anything runs, run the points through one executor interface (in-process,
a local process pool, or a Dask distributed cluster) and append each finished point to a
journal and a tidy table, so that a killed sweep resumes where it stopped.

A sweep file (``configs/sweeps/*.yaml``)::

    name: vecadd-sm-l2                 # optional; default: the file's stem
    base: rtx3070                      # GPU config name or YAML path (``gpu:`` is a synonym)
    set: [subcore.issue_policy=gto]    # optional fixed overrides, KEY=VALUE as for --set
    workloads:                         # one or more; each is one kind:
      - traces/examples/vecadd-sm86    #   a bare string is a trace
      - {trace: traces/examples/vecadd-sm86, name: vecadd}
      - {microbench: pointer_chase, params: {working_set: 4 MiB}}
    axes:                              # config key paths (or ``gpu``) -> list of values
      sm.count: [46, 84]
      memory.l2_size: [4 MiB, 6 MiB]
    combine: product                   # or zip (all axes the same length)

Relative trace paths are looked up in the sweep file's folder, then the current folder, then
the gpusim checkout.  A new workload kind is one class with ``parse``/``check``/``run`` added to
:data:`WORKLOAD_KINDS` (``llm`` steps will be one).

A point's id hashes its config (base + overrides), its workload (trace list bytes and kernel file
sizes, or benchmark parameters) and the gpusim version and model name: re-running resumes only
points that would give the same result.

Output folder: ``points.jsonl`` (the journal: one JSON line per finished point, fsync'ed),
``results.csv`` (appended as points finish; one row per point x kernel: the axis values, then
every numeric leaf of the kernel's report), ``results.parquet`` (written from the journal when the
sweep ends, is interrupted, or is run again) and ``sweep.yaml`` (a copy of the sweep file).
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import io
import itertools
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from gpusim.errors import ConfigError, GpusimError

__all__ = [
    "SweepError",
    "Lines",
    "load_yaml",
    "WORKLOAD_KINDS",
    "TraceWorkload",
    "MicrobenchWorkload",
    "parse_workload",
    "Sweep",
    "load_sweep",
    "run_sweep",
    "run_point",
    "flatten_kernel",
    "read_table",
]

REPO_ROOT = Path(__file__).resolve().parents[1]


class SweepError(GpusimError):
    """A bad sweep or suite file; the message starts with ``file:line: key.path:``."""


# ----------------------------------------------------------------------------------------------
# YAML with line numbers.


class Lines:
    """Line numbers of the keys and list items of one YAML file, by key path tuple."""

    def __init__(self, path: Path, lines: dict[tuple, int]):
        self.path = path
        self.lines = lines

    def at(self, keypath: tuple) -> str:
        """``file:line`` of the deepest known prefix of ``keypath``."""
        kp = tuple(keypath)
        while kp and kp not in self.lines:
            kp = kp[:-1]
        line = self.lines.get(kp, 1)
        return f"{self.path}:{line}"

    def error(self, keypath: tuple, message: str) -> SweepError:
        return SweepError(f"{self.at(keypath)}: {format_keypath(keypath)}: {message}" if keypath
                          else f"{self.at(keypath)}: {message}")


def format_keypath(kp: Iterable) -> str:
    out = ""
    for part in kp:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for k, _ in node.value:
        key = loader.construct_object(k, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", k.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path, what: str = "file") -> tuple[Any, Lines]:
    """Parse a YAML file; return the data and the line of every key path.  SweepError on bad YAML."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SweepError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SweepError(f"{path}: cannot read the {what}: {e}") from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SweepError(f"{path}{line}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}

    def walk(n, kp):
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                sub = (*kp, k.value)
                lines[sub] = k.start_mark.line + 1
                walk(v, sub)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[(*kp, i)] = v.start_mark.line + 1
                walk(v, (*kp, i))

    if node is not None:
        lines[()] = node.start_mark.line + 1
        walk(node, ())
    return data, Lines(path, lines)


def check_keys(data: Mapping, allowed: Iterable[str], lines: Lines, kp: tuple, required: Iterable[str] = ()) -> None:
    allowed = list(allowed)
    for k in data:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else f" (allowed: {', '.join(allowed)})"
            raise lines.error((*kp, k), f"unknown key{hint}")
    for k in required:
        if k not in data:
            raise lines.error(kp, f"missing required key '{k}'")


# ----------------------------------------------------------------------------------------------
# Workload kinds.


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

    def describe(self) -> dict:
        return {"kind": "trace", "name": self.name, "path": self.path}

    def run(self, cfg) -> tuple[list[dict], dict]:
        """Rows (one per kernel) and the run's report dict."""
        from gpusim import api

        rep = api.simulate(self.path, cfg)
        return [flatten_kernel(k) for k in rep.to_dict()["kernels"]], rep.to_dict()


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


@dataclasses.dataclass(frozen=True)
class LlmRequestsWorkload:
    """A batch of identical requests served start to finish on a GPU config: one prefill step of
    ``batch`` prompts of ``prompt`` tokens, then ``output - 1`` decode steps of the batch (the prefill
    step produces the first token).  The decode steps' contexts run from prompt + 1 to
    prompt + output - 1; the first and the last are simulated and the others taken on the line
    between them (a decode step's time is linear in its context: the attention term grows with it,
    the rest does not).  Result: output tokens per second = batch x output / total time."""

    model: str
    batch: int
    prompt: int
    output: int
    name: str
    tp: int = 1
    sample: int | None = None
    kind: str = "llm_requests"

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple, base_dir: Path) -> "LlmRequestsWorkload":
        from gpusim.llm.model import load_model
        from gpusim.llm.run import check_sample

        check_keys(extra, ("name",), lines, kp)
        if not isinstance(value, Mapping):
            raise lines.error((*kp, "llm_requests"), "expected {model, batch, prompt, output[, tp, sample]}")
        check_keys(value, ("model", "batch", "prompt", "output", "tp", "sample"), lines, (*kp, "llm_requests"),
                   required=("model", "batch", "prompt", "output"))
        for k in ("batch", "prompt", "output", "tp"):
            v = value.get(k, 1)
            if not isinstance(v, int) or v < 1:
                raise lines.error((*kp, "llm_requests", k), f"expected a positive integer, got {v!r}")
        try:
            load_model(str(value["model"]))
            sample = check_sample(value.get("sample"))
        except GpusimError as e:
            raise lines.error((*kp, "llm_requests"), str(e)) from None
        name = extra.get("name") or f"{value['model']} b{value['batch']} in{value['prompt']}/out{value['output']}"
        return cls(model=str(value["model"]), batch=value["batch"], prompt=value["prompt"], output=value["output"],
                   name=str(name), tp=value.get("tp", 1), sample=sample)

    def describe(self) -> dict:
        return {"kind": "llm_requests", "name": self.name, "model": self.model, "batch": self.batch,
                "prompt": self.prompt, "output": self.output, "tp": self.tp, "sample": self.sample}

    def report(self, cfg) -> dict:
        from gpusim.llm.machines import run_gpu

        def step(text):
            return run_gpu(self.model, text, cfg, tp=self.tp, sample=self.sample)

        pre = step(f"prefill:tokens={self.prompt},batch={self.batch}")
        n_dec = self.output - 1
        dec = []
        if n_dec >= 1:
            dec.append(step(f"decode:batch={self.batch},context={self.prompt + 1}"))
        if n_dec >= 2:
            dec.append(step(f"decode:batch={self.batch},context={self.prompt + n_dec}"))
        t_dec = n_dec * sum(d["step_seconds"] for d in dec) / len(dec) if dec else 0.0
        total = pre["step_seconds"] + t_dec
        return {"seconds": total, "prefill_seconds": pre["step_seconds"], "decode_seconds": t_dec,
                "output_tokens": self.batch * self.output, "tokens_per_second": self.batch * self.output / total,
                "steps": [{"step": r["step"], "step_seconds": r["step_seconds"]} for r in (pre, *dec)]}

    def run(self, cfg) -> tuple[list[dict], dict]:
        rep = self.report(cfg)
        return [{"kernel": "(requests)", **{k: v for k, v in rep.items() if k != "steps"}}], rep


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

    def describe(self) -> dict:
        return {"kind": "clock", "name": self.name, "listing": self.listing, "threads": self.threads,
                "warp": self.warp, "delta": list(self.delta), "baseline": self.baseline, "per": self.per,
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
        return reads[j] - reads[i], {"listing": listing, "clock_reads": reads, "delta": reads[j] - reads[i]}

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


WORKLOAD_KINDS: dict[str, Callable[..., Any]] = {
    "trace": TraceWorkload.parse,
    "microbench": MicrobenchWorkload.parse,
    "llm_op": LlmOpWorkload.parse,
    "llm_requests": LlmRequestsWorkload.parse,
    "llm_train": LlmTrainWorkload.parse,
    "clock": ClockWorkload.parse,
    "serve": ServeWorkload.parse,
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
    return WORKLOAD_KINDS[kind](item[kind], extra, lines, kp, base_dir)


def workload_from_dict(d: Mapping):
    if d["kind"] == "trace":
        return TraceWorkload(path=d["path"], name=d["name"])
    if d["kind"] == "microbench":
        return MicrobenchWorkload(bench=d["bench"], params=tuple(sorted(d["params"].items())), name=d["name"])
    if d["kind"] == "llm_requests":
        return LlmRequestsWorkload(**{k: v for k, v in d.items() if k != "kind"})
    if d["kind"] == "llm_op":
        return LlmOpWorkload(op=d["op"], name=d["name"], sample=d.get("sample"))
    if d["kind"] == "llm_train":
        return LlmTrainWorkload(**{k: v for k, v in d.items() if k != "kind"})
    if d["kind"] == "clock":
        return ClockWorkload(**{k: (tuple(v) if k == "delta" else v) for k, v in d.items() if k != "kind"})
    if d["kind"] == "serve":
        return ServeWorkload(**{**{k: v for k, v in d.items() if k != "kind"}, "policies": tuple(d["policies"]),
                                "rates": tuple(d["rates"]),
                                "grid": tuple(tuple(g) for g in d["grid"]) if d.get("grid") else None})
    raise GpusimError(f"unknown workload kind {d['kind']!r}")  # pragma: no cover - journal written by us


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


# ----------------------------------------------------------------------------------------------
# The sweep.


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=True, width=10**9).strip().removesuffix("...").strip()


@dataclasses.dataclass
class Point:
    index: int
    values: dict                # axis -> value as written
    gpu: str
    overrides: list[str]
    workload: Any
    point_id: str = ""


@dataclasses.dataclass
class Sweep:
    path: Path
    name: str
    base: str
    sets: list[str]
    workloads: list
    axes: dict                  # key -> list of values
    combine: str
    points: list[Point]
    lines: Lines


_SWEEP_KEYS = ("name", "base", "gpu", "set", "workloads", "axes", "combine", "description")


def _check_config(gpu: str, overrides: list[str], lines: Lines, where: Callable[[ConfigError], tuple]) -> None:
    from gpusim.config import load_config

    try:
        load_config(gpu, overrides)
    except ConfigError as e:
        raise lines.error(where(e), str(e)) from None


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file; every point's config is loaded (and so validated) here."""
    path = Path(path)
    data, lines = load_yaml(path, "sweep file")
    if not isinstance(data, Mapping):
        raise SweepError(f"{path}:1: a sweep file is a mapping with base, workloads and axes")
    check_keys(data, _SWEEP_KEYS, lines, ())
    if "base" in data and "gpu" in data:
        raise lines.error(("gpu",), "give the base config once, as 'base' or 'gpu'")
    base_key = "base" if "base" in data else "gpu"
    base = data.get(base_key)
    axes = data.get("axes") or {}
    if not isinstance(axes, Mapping):
        raise lines.error(("axes",), f"expected a mapping of key path -> list of values, got {axes!r}")
    if base is None and "gpu" not in axes:
        raise lines.error((), "missing required key 'base' (the GPU config every point starts from)")
    if base is not None and not isinstance(base, str):
        raise lines.error((base_key,), f"expected a config name or YAML path, got {base!r}")
    if base is not None and (base.endswith((".yaml", ".yml")) or "/" in base):
        rp = resolve_path(base, path.parent)
        base = str(rp) if rp is not None else base
    name = data.get("name") or path.stem
    sets = data.get("set") or []
    if isinstance(sets, str):
        sets = [sets]
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
        raise lines.error(("set",), "expected a list of KEY=VALUE strings")
    combine = data.get("combine", "product")
    if combine not in ("product", "zip"):
        raise lines.error(("combine",), f"expected product or zip, got {combine!r}")
    wl_items = data.get("workloads")
    if not wl_items:
        raise lines.error(("workloads",) if "workloads" in data else (), "needs at least one workload")
    if not isinstance(wl_items, list):
        wl_items = [wl_items]
    workloads = [parse_workload(w, lines, ("workloads", i), path.parent) for i, w in enumerate(wl_items)]
    names = [w.name for w in workloads]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise lines.error(("workloads", i), f"two workloads are named {n!r}; give one a 'name:'")

    axis_values: dict[str, list] = {}
    for key, values in axes.items():
        if not isinstance(key, str) or not key:
            raise lines.error(("axes", key), "an axis is a config key path such as sm.count")
        if not isinstance(values, list) or not values:
            raise lines.error(("axes", key), f"expected a non-empty list of values, got {values!r}")
        if key != "gpu":
            for v in values:
                if isinstance(v, (Mapping, list)):
                    raise lines.error(("axes", key), f"axis values are scalars, got {v!r}")
        axis_values[key] = values
    if combine == "zip" and len({len(v) for v in axis_values.values()}) > 1:
        lens = ", ".join(f"{k}: {len(v)}" for k, v in axis_values.items())
        raise lines.error(("combine",), f"zip needs axes of one length ({lens})")

    # the key of each axis must exist: checked once with the first value, with a key-path error
    keys = list(axis_values)
    if combine == "product":
        combos = list(itertools.product(*(range(len(axis_values[k])) for k in keys))) if keys else [()]
    else:
        combos = [tuple(i for _ in keys) for i in range(len(next(iter(axis_values.values()))))] if keys else [()]

    def where_for(point_idx: dict[str, int]):
        def f(e: ConfigError) -> tuple:
            kp = e.key_path
            for k in keys:
                if k != "gpu" and (kp == k or kp.startswith(k + ".") or k.startswith(kp + ".")):
                    return ("axes", k, point_idx[k])
            if "gpu" in point_idx:
                return ("axes", "gpu", point_idx["gpu"])
            for i, s in enumerate(sets):
                if s.split("=", 1)[0].strip() == kp:
                    return ("set", i)
            return ("axes",) if keys else (base_key,)
        return f

    points: list[Point] = []
    checked: set = set()
    for combo in combos:
        idx = dict(zip(keys, combo))
        values = {k: axis_values[k][i] for k, i in idx.items()}
        gpu = values.get("gpu", base)
        if not isinstance(gpu, str):
            raise lines.error(("axes", "gpu", idx["gpu"]), f"expected a config name, got {gpu!r}")
        overrides = list(sets) + [f"{k}={_scalar_text(v)}" for k, v in values.items() if k != "gpu"]
        cfg_key = (gpu, tuple(overrides))
        if cfg_key not in checked:
            _check_config(gpu, overrides, lines, where_for(idx))
            checked.add(cfg_key)
        for w in workloads:
            points.append(Point(index=len(points), values=values, gpu=gpu, overrides=overrides, workload=w))
    import gpusim
    from gpusim import api

    model = {"gpusim": gpusim.__version__, "model": getattr(api, "MODEL_NAME", "")}
    for p in points:
        # a point is the same point (and resumes) only for the same config, workload and model
        ident = json.dumps({"gpu": p.gpu, "overrides": p.overrides, "workload": _workload_identity(p.workload),
                            **model}, sort_keys=True)
        p.point_id = hashlib.blake2b(ident.encode(), digest_size=8).hexdigest()
    return Sweep(path=path, name=str(name), base=str(base) if base is not None else "", sets=list(sets),
                 workloads=workloads, axes=axis_values, combine=combine, points=points, lines=lines)


def _workload_identity(w) -> dict:
    d = w.describe()
    if d["kind"] == "trace":
        return {"kind": "trace", "path": d["path"], "fingerprint": w.fingerprint}
    if d["kind"] == "clock":
        return {**d, "fingerprint": w.fingerprint}
    if d["kind"] == "serve":                      # every parameter, and the trace's bytes, name the point
        return d
    return {"kind": d["kind"], "bench": d.get("bench"), "params": d.get("params")}


# ----------------------------------------------------------------------------------------------
# Running one point (in a worker).


def run_point(task: Mapping) -> dict:
    """Simulate one point; runs in a worker process or on a Dask worker.  Never raises for bad input."""
    from gpusim.config import load_config

    t0 = time.perf_counter()
    out = {"point_id": task["point_id"], "point": task["point"], "status": "ok", "rows": [], "error": None}
    try:
        cfg = load_config(task["gpu"], task["overrides"])
        wl = workload_from_dict(task["workload"])
        rows, rep = wl.run(cfg)
        for i, r in enumerate(rows):
            r["kernel_index"] = i
            r["gpu_name"] = cfg.name
            r["sm.clock_hz"] = cfg.sm.clock_hz
            if isinstance(r.get("cycles"), int):
                r["kernel_time_us"] = r["cycles"] / cfg.sm.clock_hz * 1e6
            r["total_cycles"] = rep.get("total_cycles")
        out["rows"] = rows
    except GpusimError as e:
        out.update(status="error", error=str(e))
    except Exception as e:  # a bug in gpusim: keep the sweep going, report it with the point
        out.update(status="error", error=f"internal error: {type(e).__name__}: {e}")
    out["wall_seconds"] = time.perf_counter() - t0
    out["host"] = os.uname().nodename
    return out


# ----------------------------------------------------------------------------------------------
# Journal and table.


class _Store:
    """``points.jsonl`` (truth), ``results.csv`` (appended), ``results.parquet`` (at the end)."""

    def __init__(self, out: Path, sweep: Sweep):
        self.out = out
        self.sweep = sweep
        self.journal = out / "points.jsonl"
        self.csv = out / "results.csv"
        self.parquet = out / "results.parquet"
        self.columns: list[str] = []
        self.done: dict[str, dict] = {}
        self.by_id = {p.point_id: p for p in sweep.points}

    def open(self) -> None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SweepError(f"{self.out}: cannot create the output folder: {e.strerror}") from None
        records = []
        if self.journal.exists():
            raw = self.journal.read_bytes()
            good_end = 0
            pos = 0
            for line in raw.splitlines(keepends=True):
                pos += len(line)
                if not line.endswith(b"\n"):
                    break            # a line cut by a kill: dropped
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    break
                good_end = pos
            if good_end != len(raw):
                with open(self.journal, "r+b") as f:
                    f.truncate(good_end)
        for r in records:
            if r.get("status") == "ok":
                self.done[r["point_id"]] = r
            else:
                self.done.pop(r["point_id"], None)   # failed earlier: run again
        if self.sweep.path.resolve() != (self.out / "sweep.yaml").resolve():
            shutil.copyfile(self.sweep.path, self.out / "sweep.yaml")
        self.rewrite_csv()

    def rows_of(self, rec: Mapping) -> list[dict]:
        p = self.by_id[rec["point_id"]]
        meta = {"sweep": self.sweep.name, "point": p.index, "point_id": p.point_id, "workload": p.workload.name,
                "gpu": p.gpu}
        meta.update({k: v for k, v in p.values.items() if k != "gpu"})
        return [{**meta, **r} for r in rec["rows"]]

    def _table_rows(self) -> list[dict]:
        recs = sorted((r for pid, r in self.done.items() if pid in self.by_id), key=lambda r: self.by_id[r["point_id"]].index)
        return [row for r in recs for row in self.rows_of(r)]

    def _merge_columns(self, rows: list[dict]) -> bool:
        grown = False
        for row in rows:
            for k in row:
                if k not in self.columns:
                    self.columns.append(k)
                    grown = True
        return grown

    def rewrite_csv(self) -> None:
        rows = self._table_rows()
        self.columns = []
        self._merge_columns(rows)
        tmp = self.csv.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.csv)

    def add(self, rec: dict) -> None:
        line = json.dumps(rec, separators=(",", ":"), default=str) + "\n"
        with open(self.journal, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if rec["status"] != "ok":
            return
        self.done[rec["point_id"]] = rec
        rows = self.rows_of(rec)
        if self._merge_columns(rows):
            self.rewrite_csv()          # a new column: write the table again with the wider header
            return
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=self.columns).writerows(rows)
        with open(self.csv, "a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def finish(self) -> None:
        self.rewrite_csv()
        rows = self._table_rows()
        write_parquet(rows, self.columns, self.parquet)


def write_parquet(rows: list[dict], columns: list[str], path: Path) -> None:
    """``results.parquet`` beside the CSV when pyarrow is installed (``pip install 'gpusim[parquet]'``);
    without it the CSV is the result and nothing else is written."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return

    arrays = {}
    for c in columns:
        vals = [r.get(c) for r in rows]
        kinds = {type(v) for v in vals if v is not None}
        if kinds and not kinds <= {int, float} and kinds != {bool} and kinds != {str}:
            vals = [None if v is None else str(v) for v in vals]       # mixed column: text
        elif kinds == {int, float}:
            vals = [None if v is None else float(v) for v in vals]
        arrays[c] = pa.array(vals)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.table(arrays) if columns else pa.table({}), tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Executors: one interface (submit + as_completed) over a process pool, Dask, or in-process.


class _Inline:
    def __init__(self):
        self._queue = []

    def submit(self, fn, arg):
        self._queue.append((fn, arg))
        return len(self._queue) - 1

    def as_completed(self, futures):
        for fn, arg in self._queue:
            yield _Done(fn(arg))

    def close(self):
        pass


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _Pool:
    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: workers start clean (no inherited tqdm monitor thread); Numba's on-disk cache
        # (cache=True) and the parsed-trace cache are shared through the file system
        self.ex = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, arg):
        return self.ex.submit(fn, arg)

    def as_completed(self, futures):
        from concurrent.futures import as_completed

        return as_completed(futures)

    def close(self, cancel: bool = False):
        self.ex.shutdown(wait=not cancel, cancel_futures=cancel)


class _Dask:
    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - a dependency of gpusim
            raise GpusimError("--executor dask://...: the 'distributed' package is not installed "
                              "(pip install 'gpusim[cluster]')") from None
        try:
            self.client = Client(address, timeout="5s")
        except (OSError, TimeoutError) as e:
            raise GpusimError(f"--executor dask://{address.removeprefix('tcp://')}: cannot reach the Dask scheduler: {e}") from None

    def submit(self, fn, arg):
        return self.client.submit(fn, arg, pure=False, key=f"gpusim-point-{arg['point_id']}-{time.monotonic_ns()}")

    def as_completed(self, futures):
        from distributed import as_completed

        return as_completed(futures)

    def close(self, cancel: bool = False):
        self.client.close()


def make_executor(spec: str, jobs: int | None, ntasks: int):
    if spec == "local":
        n = jobs if jobs else (os.cpu_count() or 1)
        n = max(1, min(n, ntasks))
        return _Inline() if n == 1 else _Pool(n)
    if spec.startswith("dask://"):
        addr = spec.removeprefix("dask://")
        if not addr:
            raise GpusimError("--executor dask://HOST:PORT: the scheduler address is missing")
        return _Dask(addr if "://" in addr else f"tcp://{addr}")
    raise GpusimError(f"--executor {spec}: expected 'local' or 'dask://HOST:PORT'")


def run_sweep(sweep: Sweep, out: str | Path, *, jobs: int | None = None, executor: str = "local",
              quiet: bool = False) -> dict:
    """Run the points not finished in ``out`` yet; returns a summary dict.  GpusimError if any point failed."""
    out = Path(out)
    store = _Store(out, sweep)
    store.open()
    todo = [p for p in sweep.points if p.point_id not in store.done]
    skipped = len(sweep.points) - len(todo)
    tasks = [{"point_id": p.point_id, "point": p.index, "gpu": p.gpu, "overrides": p.overrides,
              "workload": p.workload.describe()} for p in todo]
    failed: list[dict] = []
    t0 = time.perf_counter()
    ex = make_executor(executor, jobs, len(tasks)) if tasks else None
    from tqdm import tqdm

    bar = tqdm(total=len(sweep.points), initial=skipped, desc=sweep.name, unit="point", file=sys.stderr,
               disable=quiet or not tasks, dynamic_ncols=True)
    interrupted = False
    try:
        if ex is not None:
            futures = [ex.submit(run_point, t) for t in tasks]
            for fut in ex.as_completed(futures):
                rec = fut.result()
                rec["values"] = store.by_id[rec["point_id"]].values
                store.add(rec)
                if rec["status"] != "ok":
                    failed.append(rec)
                    bar.set_postfix_str(f"{len(failed)} failed")
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        if ex is not None:
            if isinstance(ex, _Pool):
                ex.close(cancel=interrupted)
            else:
                ex.close()
        store.finish()
    summary = {"points": len(sweep.points), "ran": len(tasks), "resumed": skipped, "failed": len(failed),
               "rows": sum(len(r["rows"]) for pid, r in store.done.items() if pid in store.by_id),
               "wall_seconds": time.perf_counter() - t0, "csv": str(store.csv), "parquet": str(store.parquet)}
    if failed:
        first = failed[0]
        p = store.by_id[first["point_id"]]
        raise GpusimError(f"{len(failed)} of {len(tasks)} points failed (their rows are missing from {store.csv}; "
                          f"run the same command again to retry them); first: point {p.index} "
                          f"({p.workload.name}, {', '.join(p.overrides) or p.gpu}): {first['error']}")
    return summary


# ----------------------------------------------------------------------------------------------
# Reading a sweep's table back (for plots).


def read_table(path: str | Path) -> tuple[list[str], list[dict]]:
    """Columns and rows of ``OUT`` (a sweep folder), a ``results.csv`` or a ``.parquet`` file.

    Numbers come back as int/float; empty cells as None.
    """
    p = Path(path)
    if p.is_dir():
        if (p / "results.csv").is_file():
            p = p / "results.csv"
        elif (p / "results.parquet").is_file():
            p = p / "results.parquet"
        else:
            raise GpusimError(f"{path}: no results.csv or results.parquet here (is it a sweep output folder?)")
    if not p.is_file():
        raise GpusimError(f"{path}: no such file or folder")
    if p.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise GpusimError(f"{p}: reading Parquet needs pyarrow (pip install 'gpusim[parquet]'); "
                              f"the results.csv beside it holds the same table") from None

        try:
            t = pq.read_table(p)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise GpusimError(f"{p}: not a readable Parquet file: {e}") from None
        return list(t.column_names), t.to_pylist()
    with open(p, newline="") as f:
        r = csv.DictReader(f)
        cols = list(r.fieldnames or [])
        rows = [{k: _num(v) for k, v in row.items()} for row in r]
    return cols, rows


def _num(v: Any) -> Any:
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        return v
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return {"True": True, "False": False}.get(v, v)


# ----------------------------------------------------------------------------------------------
# Plotting a sweep's table.

_AGGS = {"mean": lambda v: sum(v) / len(v), "sum": sum, "min": min, "max": max}


def _column(name: str, cols: list[str], what: str, source: str) -> str:
    if name in cols:
        return name
    close = difflib.get_close_matches(name, cols, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise GpusimError(f"{source}: {what} {name!r} is not a column of the table{hint}")


def _sort_key(v: Any) -> tuple:
    from gpusim import units

    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    for parse in (units.parse_size, units.parse_frequency, units.parse_bandwidth, units.parse_time):
        try:
            return (0, float(parse(v)), "")
        except (ValueError, TypeError):
            pass
    return (1, 0.0, str(v))


def _integer_axis(ax, xs: list) -> None:
    """Ticks of a numeric x axis: at the swept values themselves when there are few of them, and never at
    fractions of an integer parameter (no '1.5 banks')."""
    from matplotlib.ticker import MaxNLocator

    if len(xs) <= 12:
        ax.set_xticks(list(xs), [f"{v:,}" if isinstance(v, int) else f"{v:g}" for v in xs])
    elif all(isinstance(v, int) for v in xs):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _tick_format():
    """Plain numbers with thousands separators (no offset or '1e6' corner label)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:g}")


def plot_results(source: str | Path, x: str, y: str, hue: str | None = None, *, output: str | Path | None = None,
                 where: list[str] = (), agg: str = "mean", title: str | None = None) -> Path:
    """Draw ``y`` against ``x`` (one line or bar group per ``hue`` value) from a sweep table; returns the PNG path."""
    from gpusim.stats import render

    cols, rows = read_table(source)
    src = str(source)
    x = _column(x, cols, "--x", src)
    y = _column(y, cols, "--y", src)
    if hue is not None:
        hue = _column(hue, cols, "--hue", src)
    for cond in where:
        key, sep, val = cond.partition("=")
        if not sep:
            raise GpusimError(f"--where {cond!r}: expected KEY=VALUE")
        key = _column(key.strip(), cols, "--where", src)
        try:
            target = yaml.safe_load(val.strip())          # YAML spelling: true, 46, 4 MiB
        except yaml.YAMLError:
            target = val.strip()
        rows = [r for r in rows if r.get(key) == target or str(r.get(key)) == val.strip()]
    if agg not in _AGGS:
        raise GpusimError(f"--agg {agg!r}: expected one of {', '.join(_AGGS)}")
    rows = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    if not rows:
        raise GpusimError(f"{src}: no rows with both {x!r} and {y!r} (after --where)")
    bad = next((r[y] for r in rows if isinstance(r[y], bool) or not isinstance(r[y], (int, float))), None)
    if bad is not None:
        raise GpusimError(f"{src}: --y {y!r} must be a numeric column (found {bad!r})")
    groups: dict[Any, dict[Any, list[float]]] = {}
    for r in rows:
        groups.setdefault(r.get(hue) if hue else None, {}).setdefault(r[x], []).append(float(r[y]))
    xs = sorted({r[x] for r in rows}, key=_sort_key)
    numeric_x = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    many = max(len(v) for g in groups.values() for v in g.values())
    plt = render.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    hues = sorted(groups, key=_sort_key) if hue else [None]
    colors = render.palette(len(hues))
    width = 0.8 / len(hues)
    for j, (h, col) in enumerate(zip(hues, colors)):
        g = groups[h]
        pts = [(xv, _AGGS[agg](g[xv])) for xv in xs if xv in g]
        label = f"{hue} = {h}" if hue else None
        if numeric_x:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=col, label=label)
        else:
            pos = {xv: i for i, xv in enumerate(xs)}
            ax.bar([pos[p[0]] - 0.4 + width * (j + 0.5) for p in pts], [p[1] for p in pts], width=width, color=col,
                   edgecolor="black", linewidth=0.4, label=label)
    if not numeric_x:
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    else:
        _integer_axis(ax, xs)
    ys = [float(r[y]) for r in rows]
    if min(ys) >= 0:        # from zero: a 10% change reads as 10%, not as the whole height of the plot
        ax.set_ylim(bottom=0, top=max(ys) * 1.05 or 1)
    ax.yaxis.set_major_formatter(_tick_format())
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y} ({agg} of {many} rows)" if many > 1 else y)
    ax.set_title(title or f"{y} vs {x}" + (f" by {hue}" if hue else ""), fontsize=10)
    ax.grid(True, linewidth=0.3, alpha=0.6)
    if hue:
        ax.legend(fontsize=8)
    fig.tight_layout()
    if output is None:
        folder = Path(source) if Path(source).is_dir() else Path(source).parent
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"plot-{y}-vs-{x}" + (f"-by-{hue}" if hue else ""))
        output = folder / f"{safe}.png"
    output = Path(output)
    try:
        fig.savefig(output)
    except OSError as e:
        raise GpusimError(f"{output}: cannot write the plot: {e.strerror}") from None
    finally:
        plt.close(fig)
    return output

"""Step times from the cycle-level model, for the serving simulator.

A serving iteration runs ``T`` new tokens: prefill chunks (``q`` tokens on top of ``past`` cached ones)
and decodes (``B`` sequences at contexts ``C``).  Its time splits along the operator graph
(:mod:`gpusim.llm.graph`):

* ``g(T)`` — every operator except attention (GEMMs, norms, element-wise, embedding, LM head,
  collectives) plus the launch overheads: it depends on the step's token count only;
* prefill attention of a chunk of ``q`` tokens on top of ``past`` cached ones — simulated at chunk sizes
  :data:`PREFILL_TOKENS` and pasts 0 and :data:`PREFILL_PASTS`; between pasts the time is linear in
  ``past`` (one more key tile per query tile costs the same: the time is affine in the query-key pairs
  ``q past + q (q + 1) / 2`` at one ``q``), above the largest it continues with the last segment's slope;
  between chunk sizes the per-pair rate is interpolated (a chunk with a long past is several times
  cheaper per pair than a fresh prompt of the same size: its CTAs run more key tiles each for the same
  launch, fill and tail costs -- measured on the A100 config, Llama-2-7B shapes, 512 tokens: 368 ps per
  pair at past 0, 178 at past 2,048);
* decode attention ``a(B, C)`` — over the batch's mean context.

The model simulates real steps with ``gpusim llm`` (:func:`gpusim.llm.machines.run_gpu`) on a grid —
prefill steps at :data:`PREFILL_TOKENS` tokens and decode steps at :data:`DECODE_BATCHES` x
:data:`DECODE_CONTEXTS` — reads each report's per-operator seconds, and interpolates piecewise-linearly
(``g`` and the prefill pair rate in ``T``; ``a`` bilinearly in ``B`` and ``C``; linear continuation
outside the grid for ``g`` and ``a``, the nearest grid size's rate for the pair rate, all flagged in
``extrapolated``).  The grid's results are cached on disk by a content
hash of the model, the resolved GPU config, TP, the grid and the sampling, and every simulated step
on its own (``steps/``): a build resumes from the steps it finished, and grids that share points
(a coarser grid, another sweep) simulate only the points they do not share.

Build cost: a step is its kernel launches run one after another (``gpusim llm`` adds their cycles and
launch overheads; identical launches within a step are simulated once), and most launches recur across
the grid — the GEMMs of ``T`` rows in the prefill step of ``T`` tokens and in every decode step of batch
``T``, all but the attention and KV-append launches in the decode steps of one batch.  The build
simulates each distinct launch once (:class:`KernelCache`, shared on disk by every grid of the same
config, sampling and timing model), so the grid costs its distinct GEMM sizes plus one attention per
point.  Measured for Llama-2-7B on the A100 config: ``benchmarks/serve_steptime.py``.

Interpolation error: when a model is built, :data:`HELD_OUT` steps drawn at random (seeded,
:data:`HELD_OUT_SEED`) strictly inside the grid's span and off its points — half prefill steps, half
decode steps — are simulated directly and compared with the interpolated time; the max and mean
absolute error (percent) are printed, stored in the cache file (``interp_error``) and copied into
every serving report (``step_model.interp_error_pct``).  :func:`check` does the same at given steps.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: grid of the step-time model (tokens of a prefill step; batch and context of a decode step): geometric,
#: spanning what one GPU serves at once (a choice of this module; ``gpusim serve --grid`` overrides).  The
#: prefill sizes reuse the decode batches' token counts above 8 (32, 128: the same GEMMs, simulated once,
#: :class:`KernelCache`), then go on by 4x; 1 and 8 tokens (the GEMV sizes) are decode-only.
PREFILL_TOKENS = (32, 128, 512, 2048)
#: cached tokens under a prefill chunk (chunked prefill, Sarathi-Serve / vLLM): each prefill size is also
#: simulated on top of these pasts (only its attention differs; the other launches are reused)
PREFILL_PASTS = (1024, 4096)
DECODE_BATCHES = (1, 8, 32, 128)
DECODE_CONTEXTS = (128, 1024, 4096)
#: held-out steps simulated to measure the interpolation error of a new model, and their seed
HELD_OUT = 4
HELD_OUT_SEED = 0


def _cache_dir() -> Path:
    return Path(os.environ.get("GPUSIM_CACHE_DIR", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                               / "gpusim")) / "steptime"


class KernelCache:
    """Simulated kernels shared by every step of every grid of one machine (the resolved GPU config, the
    CTA-wave sampling and the timing model's version): :func:`gpusim.llm.run.simulate_step` takes a
    launch's result from here when its kernel, grid and scalar arguments were simulated before (in an
    earlier grid step, after that step's preceding kernels) and puts every kernel it simulates here.

    A serving step is its kernels run one after another on one stream (``simulate_step`` adds their
    cycles and the launch overheads), so a GEMM of ``T`` rows is the same launch in a prefill step of
    ``T`` tokens and in a decode step of batch ``T``, and a decode step at batch ``B`` differs from
    another at the same batch only in its attention and KV-append launches: with this cache a grid
    simulates each distinct launch once.  What a reused launch does not see is the L2 content its new
    predecessors would have left; the held-out steps (simulated directly, without this cache) measure
    that together with the interpolation.  On disk under ``kernels/<machine digest>/`` (one JSON file per
    kernel key), so later grids, sweeps and CI reuse it; ``directory=None`` keeps it in memory only."""

    def __init__(self, machine: tuple[str, ...], directory: Path | None = None) -> None:
        h = hashlib.blake2b(digest_size=12)
        for part in machine:
            h.update(part.encode())
        self.digest = h.hexdigest()
        self.dir = None if directory is None else directory / "kernels" / self.digest
        self.mem: dict = {}
        self.hits = 0
        self.simulated = 0
        self.simulated_keys: list[str] = []

    @staticmethod
    def _name(key) -> str:
        return hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest()

    def get(self, key):
        r = self.mem.get(key)
        if r is None and self.dir is not None:
            try:
                d = json.loads((self.dir / f"{self._name(key)}.json").read_text())
                if d.get("key") == repr(key):
                    r = d["result"]
            except (OSError, ValueError, KeyError, TypeError):
                r = None
            if r is not None:
                self.mem[key] = r
        if r is not None:
            self.hits += 1
        return r

    def put(self, key, result: dict) -> None:
        self.mem[key] = result
        self.simulated += 1
        self.simulated_keys.append(f"{key[0]} grid {tuple(key[2])}")
        if self.dir is not None:
            _write(self.dir / f"{self._name(key)}.json", {"key": repr(key), "result": _plain(result)})


def _plain(x):
    """``x`` with numpy scalars and arrays as Python numbers and lists (for JSON)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _interp(x: float, xs, ys) -> tuple[float, bool]:
    """Piecewise-linear interpolation with linear continuation outside [xs[0], xs[-1]]; (value, outside).
    ``xs`` ascending (plain lists: this runs once per query of every iteration)."""
    n = len(xs)
    if n == 1:
        return float(ys[0]), x != xs[0]
    if x <= xs[0]:
        i = 0
    elif x >= xs[-1]:
        i = n - 2
    else:
        i = bisect_right(xs, x) - 1
    y = ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])
    return float(y), not (xs[0] <= x <= xs[-1])


@dataclass
class StepTimeModel:
    """Interpolated step times of one (model, GPU config, TP) from simulated grid points."""

    key: str
    prefill: dict = field(default_factory=dict)    # T -> {"g": s, "attn": s, "pairs": n}
    chunk: dict = field(default_factory=dict)      # (T, past > 0) -> {"attn": s, "pairs": n}
    decode: dict = field(default_factory=dict)     # (B, C) -> {"g": s, "attn": s}
    source: str = ""
    build_seconds: float = 0.0
    build_cpu_seconds: float = 0.0
    kernels: dict = field(default_factory=dict)    # {"simulated": n, "reused": n} distinct launches of the build
    extrapolated: int = 0
    interp_error: dict = field(default_factory=dict)   # {"seed", "points": [...], "max_pct", "mean_pct"}

    # ---- queries ----------------------------------------------------------------------------

    def _tables(self):
        """Sorted grid axes and values as lists, built once (the grid does not change after building)."""
        t = self.__dict__.get("_t")
        if t is None or t[0] != (len(self.prefill), len(self.decode), len(self.chunk)):
            # g at a token count both grids hold: the decode steps' (mean over their contexts), as such
            # small steps are mostly decodes when served
            dg: dict = {}
            for (b, c), v in self.decode.items():
                dg.setdefault(b, []).append(v["g"])
            gp = sorted({**{tk: v["g"] for tk, v in self.prefill.items()},
                         **{b: float(np.mean(v)) for b, v in dg.items()}}.items())
            ts = sorted(self.prefill)
            bs = sorted({b for b, _ in self.decode})
            cs = sorted({c for _, c in self.decode})
            # prefill attention seconds per chunk size over the pasts every size was simulated at
            pasts = [0] + sorted({p for _, p in self.chunk} - {0})
            pasts = [p for p in pasts if all((x, p) in self.chunk or p == 0 for x in ts)]
            at = [[self.prefill[x]["attn"] if p == 0 else self.chunk[(x, p)]["attn"] for p in pasts] for x in ts]
            t = ((len(self.prefill), len(self.decode), len(self.chunk)), [p[0] for p in gp], [p[1] for p in gp], ts,
                 pasts, at, bs, cs, [[self.decode[(b, c)]["attn"] for c in cs] for b in bs])
            self.__dict__["_t"] = t
        return t

    def g(self, tokens: int) -> float:
        t = self._tables()
        v, out = _interp(tokens, t[1], t[2])
        self.extrapolated += out
        return max(v, 0.0)

    def prefill_attention(self, q: int, past: int) -> float:
        """Seconds of the attention of a prefill chunk of ``q`` tokens on ``past`` cached ones (module
        doc): at each simulated chunk size the time at ``past`` (linear between the simulated pasts,
        continued with the last segment's slope above them), as a per-pair rate; the rate interpolated in
        ``q`` piecewise-linearly inside the grid and the nearest grid size's outside it (the per-pair cost
        falls with ``q`` towards a floor, so a linear continuation would reach zero and below); times the
        chunk's query-key pairs."""
        t = self._tables()
        xs, pasts, at = t[3], t[4], t[5]
        pairs = q * past + q * (q + 1) // 2
        rates = []
        for x, row in zip(xs, at):
            p0 = x * (x + 1) // 2
            if len(pasts) == 1:            # no chunk simulated: the fresh prompt's per-pair rate
                rates.append(row[0] / p0)
                continue
            sec, _ = _interp(past, pasts, row)
            rates.append(max(sec, 0.0) / (x * past + p0))
        qc = min(max(q, xs[0]), xs[-1])
        rate, _ = _interp(qc, xs, rates)
        self.extrapolated += not (xs[0] <= q <= xs[-1]) or past > pasts[-1]
        return max(rate, 0.0) * pairs

    def decode_attention(self, batch: int, context: float) -> float:
        t = self._tables()
        bs, cs, a = t[6], t[7], t[8]
        per_b = [_interp(context, cs, row) for row in a]
        v, out = _interp(batch, bs, [p[0] for p in per_b])
        self.extrapolated += out or per_b[0][1]
        return max(v, 0.0)

    def step_seconds(self, chunks: list[tuple[int, int]], decode_contexts: list[int]) -> float:
        """Time of one iteration: prefill ``chunks`` (q, past) and decodes at ``decode_contexts``."""
        tokens = sum(q for q, _ in chunks) + len(decode_contexts)
        if tokens == 0:
            return 0.0
        t = self.g(tokens)
        for q, past in chunks:
            t += self.prefill_attention(q, past)
        if decode_contexts:
            t += self.decode_attention(len(decode_contexts), sum(decode_contexts) / len(decode_contexts))
        return t

    # ---- building -----------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {"key": self.key, "source": self.source, "build_seconds": self.build_seconds,
                "build_cpu_seconds": self.build_cpu_seconds, "kernels": self.kernels,
                "interp_error": self.interp_error, "prefill": {str(t): v for t, v in self.prefill.items()},
                "decode": {f"{b},{c}": v for (b, c), v in self.decode.items()},
                "chunk": {f"{t},{p}": v for (t, p), v in self.chunk.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "StepTimeModel":
        return cls(key=d["key"], source=d["source"], build_seconds=d["build_seconds"],
                   build_cpu_seconds=d.get("build_cpu_seconds", 0.0), kernels=d.get("kernels") or {},
                   interp_error=d.get("interp_error") or {},
                   prefill={int(t): v for t, v in d["prefill"].items()},
                   decode={tuple(int(x) for x in k.split(",")): v for k, v in d["decode"].items()},
                   chunk={tuple(int(x) for x in k.split(",")): v for k, v in d.get("chunk", {}).items()})


def _split(rep: dict) -> tuple[float, float]:
    """(non-attention seconds incl. launch overheads, attention seconds) of a gpusim llm report."""
    attn = sum(o["seconds"] for o in rep["operators"] if o["kind"] == "attention")
    return rep["step_seconds"] - attn, attn


def build(model: str, gpu: str, *, tp: int = 1, overrides=(), sample: int | None = 4,
          prefill_tokens=PREFILL_TOKENS, decode_batches=DECODE_BATCHES, decode_contexts=DECODE_CONTEXTS,
          prefill_pasts=PREFILL_PASTS, progress: bool = True, use_cache: bool = True, held_out: int = HELD_OUT, reuse: bool = True) -> StepTimeModel:
    """Simulate the grid (or load it from the cache), measure the interpolation error at ``held_out``
    random steps (module doc; 0: none) and return the model.  ``reuse``: simulate each distinct kernel
    launch once for the whole grid (:class:`KernelCache`, on disk with ``use_cache``); False simulates
    every grid step on its own, as ``gpusim llm`` does."""
    from gpusim.config import dump_config, load_config
    from gpusim.llm.machines import run_gpu
    from gpusim.llm.model import load_model

    m = model if not isinstance(model, str) else load_model(model)
    cfg = load_config(gpu, list(overrides)) if isinstance(gpu, (str, Path)) else gpu
    h = hashlib.blake2b(digest_size=12)
    machine = (repr(m), dump_config(cfg), str(tp), str(sample), _model_version(),
               "kernel reuse" if reuse else "steps on their own")
    grid = (prefill_tokens, decode_batches, decode_contexts)
    pasts = tuple(sorted({int(p) for p in prefill_pasts} - {0}))
    for part in (*machine[:3], repr(grid + ((pasts,) if pasts else ())), *machine[3:]):
        h.update(part.encode())
    key = h.hexdigest()

    def step_path(step: str) -> Path:
        """One simulated step of this model, config, TP, sampling and timing model: shared by every grid."""
        hs = hashlib.blake2b(digest_size=12)
        for part in (*machine, step):
            hs.update(part.encode())
        return _cache_dir() / "steps" / f"{hs.hexdigest()}.json"

    path = _cache_dir() / f"{key}.json"
    if use_cache and path.is_file():
        try:
            stm = StepTimeModel.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError):
            stm = None
        if stm is not None:
            if held_out and len(stm.interp_error.get("points", ())) < held_out:
                stm.interp_error = measure_error(stm, m, cfg, tp=tp, sample=sample, n=held_out, progress=progress)
                _save(stm, path)
            stm.source = f"cache {path} ({stm.source})"
            return stm
    t0, c0 = time.perf_counter(), time.process_time()
    stm = StepTimeModel(key=key)
    partial = path.with_suffix(".partial.json")     # grid points of an interrupted build: resumed, not redone
    earlier = earlier_cpu = 0.0
    counts = {"simulated": 0, "reused": 0}
    if use_cache and partial.is_file():
        try:
            old = StepTimeModel.from_json(json.loads(partial.read_text()))
            stm.prefill, stm.decode, stm.chunk, earlier = old.prefill, old.decode, old.chunk, old.build_seconds
            earlier_cpu = old.build_cpu_seconds
            counts.update(old.kernels)
        except (ValueError, KeyError):
            pass
    kcache = KernelCache((machine[1], *machine[3:5]), _cache_dir() if use_cache else None) if reuse else None
    jobs = [("prefill", t, None) for t in prefill_tokens] + \
           [("decode", b, c) for b in decode_batches for c in decode_contexts] + \
           [("chunk", t, p) for p in pasts for t in prefill_tokens]
    for i, (kind, a, b) in enumerate(jobs):
        if (kind == "prefill" and a in stm.prefill) or (kind == "decode" and (a, b) in stm.decode) or \
                (kind == "chunk" and (a, b) in stm.chunk):
            continue
        step = {"prefill": f"prefill:tokens={a}", "decode": f"decode:batch={a},context={b}",
                "chunk": f"prefill:tokens={a},past={b}"}[kind]
        sp = step_path(step)
        try:
            g, attn = json.loads(sp.read_text())["split"] if use_cache else (None, None)
        except (OSError, ValueError, KeyError, TypeError):
            g = attn = None
        if g is None:
            if progress:
                print(f"  step-time grid {i + 1}/{len(jobs)}: {step} ({earlier + time.perf_counter() - t0:.0f} s so far)",
                      file=sys.stderr, flush=True)
            rep = run_gpu(m, step, cfg, tp=tp, sample=sample, **({"kernel_cache": kcache} if kcache else {}))
            g, attn = _split(rep)
            counts["simulated"] += rep.get("distinct_kernels_simulated", 0)
            counts["reused"] += rep.get("distinct_kernels_reused", 0)
            if use_cache:
                _write(sp, {"step": step, "split": [g, attn]})
        if kind == "prefill":
            stm.prefill[a] = {"g": g, "attn": attn, "pairs": a * (a + 1) // 2}
        elif kind == "chunk":
            stm.chunk[(a, b)] = {"attn": attn, "pairs": a * b + a * (a + 1) // 2}
        else:
            stm.decode[(a, b)] = {"g": g, "attn": attn}
        stm.build_seconds = earlier + time.perf_counter() - t0
        stm.build_cpu_seconds = earlier_cpu + time.process_time() - c0
        stm.kernels = dict(counts)
        if use_cache:
            _save(stm, partial)
    stm.build_seconds = earlier + time.perf_counter() - t0
    stm.build_cpu_seconds = earlier_cpu + time.process_time() - c0
    stm.kernels = dict(counts)
    stm.source = (f"simulated with gpusim llm on {cfg.name} (tp {tp}, sample {sample}): {len(prefill_tokens)} prefill "
                  f"+ {len(decode_batches) * len(decode_contexts)} decode steps"
                  + (f" + {len(prefill_tokens) * len(pasts)} prefill chunks on cached tokens" if pasts else "") + ", "
                  f"{counts['simulated']} distinct kernel "
                  f"launches simulated" + (f" ({counts['reused']} reused across steps)" if reuse else "")
                  + f", in {stm.build_cpu_seconds:.0f} CPU s")
    if use_cache:              # usable before its held-out steps are measured (an interrupted measurement resumes)
        _save(stm, path)
        partial.unlink(missing_ok=True)
    if held_out:
        stm.interp_error = measure_error(stm, m, cfg, tp=tp, sample=sample, n=held_out, progress=progress)
    if use_cache:
        _save(stm, path)
    return stm


def _save(stm: StepTimeModel, path: Path) -> None:
    _write(path, stm.to_json())


def _write(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1))
    except OSError:
        pass


def held_out_steps(stm: StepTimeModel, n: int, seed: int = HELD_OUT_SEED) -> list[str]:
    """``n`` random steps strictly inside the grid's span and off its points, in turn a prefill (tokens),
    a decode (batch, context) and, when the model holds prefill chunks on cached tokens, a chunk
    (tokens, past); the same steps for the same grid and seed."""
    rng = np.random.default_rng(seed)
    ts = sorted(stm.prefill)
    bs, cs = sorted({b for b, _ in stm.decode}), sorted({c for _, c in stm.decode})
    ps = sorted({p for _, p in stm.chunk})

    def draw(lo, hi, avoid):
        for _ in range(1000):
            v = int(rng.integers(lo + 1, hi)) if hi - lo > 1 else lo
            if v not in avoid:
                return v
        return v

    kinds = ["prefill", "decode"] + (["chunk"] if ps else [])
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "prefill" and len(ts) > 1:
            out.append(f"prefill:tokens={draw(ts[0], ts[-1], ts)}")
        elif kind == "chunk" and len(ts) > 1:
            out.append(f"prefill:tokens={draw(ts[0], ts[-1], ts)},past={draw(0, ps[-1], ps)}")
        else:
            out.append(f"decode:batch={draw(bs[0], bs[-1], bs)},context={draw(cs[0], cs[-1], cs)}")
    return out


def measure_error(stm: StepTimeModel, model, cfg, *, tp: int, sample, n: int, progress: bool = True,
                  seed: int = HELD_OUT_SEED) -> dict:
    """Interpolation error at :func:`held_out_steps` (simulated directly); printed when ``progress``."""
    t0, c0 = time.perf_counter(), time.process_time()
    pts = check(stm, model, cfg, held_out_steps(stm, n, seed), tp=tp, sample=sample)
    errs = [abs(p["error"]) * 100 for p in pts]
    res = {"seed": seed, "points": pts, "max_pct": max(errs), "mean_pct": float(np.mean(errs)),
           "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
           "method": "each held-out step simulated directly (gpusim llm, no kernel reuse) vs the interpolated model"}
    if progress:
        for p in pts:
            print(f"  step-time held-out {p['step']}: simulated {p['simulated_s'] * 1e3:.3f} ms, interpolated "
                  f"{p['interpolated_s'] * 1e3:.3f} ms ({p['error']:+.1%})", file=sys.stderr)
        print(f"  step-time interpolation error at {n} held-out steps (seed {seed}): max {res['max_pct']:.1f}%, "
              f"mean {res['mean_pct']:.1f}%", file=sys.stderr, flush=True)
    return res


def check(stm: StepTimeModel, model: str, gpu: str, points: list[str], *, tp: int = 1, overrides=(),
          sample: int | None = 4) -> list[dict]:
    """Interpolation error at held-out steps (``prefill:tokens=..`` / ``decode:batch=..,context=..``):
    simulated vs interpolated seconds."""
    from gpusim.llm.machines import run_gpu
    from gpusim.llm.model import parse_step

    out = []
    for p in points:
        rep = run_gpu(model, p, gpu, tp=tp, overrides=list(overrides), sample=sample)
        saved = stm.extrapolated
        st = parse_step(p)
        gr = st.groups[0]
        pred = stm.step_seconds([(gr.tokens, gr.past)] * gr.count if gr.kind == "prefill" else [],
                                [gr.context] * gr.count if gr.kind == "decode" else [])
        stm.extrapolated = saved                  # a check is not a serving query
        out.append({"step": p, "simulated_s": rep["step_seconds"], "interpolated_s": pred,
                    "error": (pred - rep["step_seconds"]) / rep["step_seconds"]})
    return out


def _model_version() -> str:
    """A digest of the timing model's sources: a changed model invalidates cached grids."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.blake2b(digest_size=8)
    for p in sorted([*root.glob("core/*.py"), *root.glob("assemble/*.py"), *root.glob("isa/*.py"),
                     *root.glob("llm/*.py")]):
        h.update(p.read_bytes())
    return h.hexdigest()

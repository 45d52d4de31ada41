"""Model and serving-step descriptions: decoder-only transformer presets (``configs/models/*.yaml``)
and the step grammar.  Nothing here knows about GPUs; :mod:`gpusim.llm.graph` expands a model and a
step into operators that any accelerator model can consume.

Model YAML keys (every preset cites its sources under ``sources:``)::

    name, layers, hidden, heads, kv_heads, ffn, vocab         (integers; required)
    head_dim        default hidden / heads
    activation      swiglu (gate and up projections, SiLU(gate) * up; default) | gelu (one up projection of
                    ffn columns, GeLU tanh approximation: GPT-2 / GPT-3)
    norm            rmsnorm (default) | layernorm (GPT-2 / GPT-3)
    position        rotary (default) | learned (a table of max_positions rows added to the token embedding)
    norm_eps, rope_theta, max_positions
    dtype           activations and compute: fp16 | bf16 | fp8
    weight_dtype    default = dtype; fp16 | bf16 | fp8 | int8 | int4 (weight-only quantisation of the
                    transformer blocks' linear layers; the embedding, norms, MoE router and LM head keep
                    the activation dtype, as AWQ / GPTQ / TensorRT-LLM checkpoints do)
    weight_group    int4 only: weights per fp16 scale along K (default 128; 32 and 64 also exist)
    kv_dtype        default = dtype; fp16 | bf16 | fp8
    moe             {experts: E, top_k: k} for a mixture-of-experts MLP in every layer
    tie_embeddings  the LM head reuses the embedding matrix (default false)

Step grammar (``--step``)::

    step   := group ("+" group)*  |  "train:" kv ("," kv)*
    group  := "decode:" kv ("," kv)*  |  "prefill:" kv ("," kv)*
    decode  keys: batch (requests, default 1), context (KV positions each new token attends to,
                  itself included; required)
    prefill keys: tokens (prompt tokens computed in this step, required), batch (requests of that
                  shape, default 1), past (tokens of the same prompt already in the KV cache: a
                  later chunk of a chunked prefill, default 0), sample (1: the step ends the prompt
                  and produces a token, so the LM head runs for it; default 1)

    train   keys (one training step of one GPU, alone in the step): tokens (tokens per GPU per micro-batch,
                  required), seq (sequence length, default :data:`TRAIN_DEFAULT_SEQ`; batch = tokens / seq,
                  tokens must be a multiple of seq), accum (micro-batches per optimizer step, gradient
                  accumulation, default 1), zero (1: ZeRO stage 1, the optimizer state and update sharded over
                  the data-parallel GPUs; default 0)

``decode:batch=1,context=1024``, ``prefill:tokens=512``, and a Sarathi-style mixed batch
``prefill:tokens=256,past=768,sample=0+decode:batch=16,context=2048``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from gpusim.config.schema import Field, Raw, Schema, apply_set, flatten, read_yaml, resolve
from gpusim.config.yamlio import strict_load
from gpusim.errors import ConfigError, GpusimError
from gpusim.ops.dtypes import DTYPE_BITS

MODELS_DIR = Path(__file__).resolve().parents[2] / "configs" / "models"

_ACT_DTYPES = ("fp16", "bf16", "fp8")
_WEIGHT_DTYPES = ("fp16", "bf16", "fp8", "int8", "int4")
#: Weight dtypes that quantise only the transformer blocks' linear layers (see ``weight_dtype``).
QUANT_WEIGHT_DTYPES = ("fp8", "int8", "int4")
#: ``--dtype`` choices of ``gpusim llm`` (:func:`with_dtype`).
CLI_DTYPES = ("fp16", "bf16", "fp8", "int8", "int4")
DEFAULT_WEIGHT_GROUP = 128
#: Default sequence length of ``train:`` steps: 2048, the context of GPT-3 (Brown et al., arXiv:2005.14165,
#: section 2.3, "n_ctx = 2048 tokens") and of FlashAttention-2's GPT-3 training runs (Dao, arXiv:2307.08691,
#: Table 1's "2k context" rows).
TRAIN_DEFAULT_SEQ = 2048
#: The keys of a model preset: one :class:`gpusim.config.schema.Schema`, read like every other preset
#: (unknown keys, wrong types and out-of-range values are ``file:line: key.path: message`` errors).
#: ``head_dim``, ``weight_dtype`` and ``kv_dtype`` default to values derived from other keys (None here).
_SCHEMA = Schema([
    Field("name", str, doc="preset name"),
    Field("description", str, doc="one line on the model", default=None, optional=True),
    Field("sources", tuple, doc="where the numbers come from", default=(), min=0),
    Field("layers", int, doc="transformer blocks", min=1),
    Field("hidden", int, doc="model (embedding) width", min=1),
    Field("heads", int, doc="query heads", min=1),
    Field("kv_heads", int, doc="key/value heads (GQA: a divisor of heads)", min=1),
    Field("head_dim", int, doc="width of one head; default hidden / heads", default=None, min=1),
    Field("ffn", int, doc="MLP inner width (per expert)", min=1),
    Field("vocab", int, doc="vocabulary size", min=1),
    Field("activation", str, doc="MLP: swiglu (gate, up, SiLU(gate) * up) or gelu (one up projection)",
          default="swiglu", choices=("swiglu", "gelu")),
    Field("norm", str, doc="rmsnorm or layernorm", default="rmsnorm", choices=("rmsnorm", "layernorm")),
    Field("position", str, doc="rotary or learned (a table of max_positions rows)", default="rotary",
          choices=("rotary", "learned")),
    Field("norm_eps", float, doc="epsilon of the norms", default=1e-5, positive=True),
    Field("rope_theta", float, doc="rotary base", default=10000.0, positive=True),
    Field("max_positions", int, doc="longest context (rows of a learned position table)", default=4096, min=1),
    Field("dtype", str, doc="activations and compute", default="fp16", choices=_ACT_DTYPES),
    Field("weight_dtype", str, doc="weights of the blocks' linear layers; default dtype", default=None,
          choices=_WEIGHT_DTYPES),
    Field("weight_group", int, doc="int4 only: weights per fp16 scale along K", default=DEFAULT_WEIGHT_GROUP, min=1),
    Field("kv_dtype", str, doc="KV cache; default dtype", default=None, choices=_ACT_DTYPES),
    Field("moe.experts", int, doc="experts per MLP (mixture of experts)", default=None, min=1),
    Field("moe.top_k", int, doc="experts each token is routed to (at most moe.experts)", default=None, min=1),
    Field("tie_embeddings", bool, doc="the LM head reuses the embedding matrix", default=False),
], name="model preset")


class StepError(GpusimError):
    """A malformed step description (names the part of the string at fault)."""


@dataclass(frozen=True)
class MoESpec:
    experts: int
    top_k: int


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    head_dim: int
    activation: str = "swiglu"
    norm: str = "rmsnorm"
    position: str = "rotary"
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_positions: int = 4096
    dtype: str = "fp16"
    weight_dtype: str = "fp16"
    kv_dtype: str = "fp16"
    weight_group: int = DEFAULT_WEIGHT_GROUP
    moe: MoESpec | None = None
    tie_embeddings: bool = False
    sources: tuple[str, ...] = ()
    file: str = ""

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def layer_params(self) -> int:
        """Weights of one transformer block (attention, MLP or all experts + router, two norms)."""
        attn = self.hidden * (self.q_dim + 2 * self.kv_dim) + self.q_dim * self.hidden
        mlp = (3 if self.activation == "swiglu" else 2) * self.hidden * self.ffn
        if self.moe:
            mlp = self.moe.experts * mlp + self.hidden * self.moe.experts
        return attn + mlp + (2 if self.norm == "rmsnorm" else 4) * self.hidden   # layernorm: weight + bias

    def params(self) -> int:
        """All weights: blocks, embedding, final norm and (untied) LM head."""
        emb = self.vocab * self.hidden
        pos = self.max_positions * self.hidden if self.position == "learned" else 0
        fin = self.hidden * (1 if self.norm == "rmsnorm" else 2)
        return self.layers * self.layer_params() + emb + pos + fin + (0 if self.tie_embeddings else emb)

    @property
    def dense_weight_dtype(self) -> str:
        """dtype of the weights that are never quantised (embedding, norms, MoE router, LM head)."""
        return self.dtype if self.weight_dtype in QUANT_WEIGHT_DTYPES else self.weight_dtype

    def linear_shapes(self) -> list[tuple[int, int, int]]:
        """(count, N, K) of the quantisable linear weights of one block (nn.Linear [N, K]): the fused QKV
        and the O projection, then the MLP's fused up/gate and down projections (once per expert)."""
        e = self.moe.experts if self.moe else 1
        up = (2 if self.activation == "swiglu" else 1) * self.ffn
        return [(1, self.q_dim + 2 * self.kv_dim, self.hidden), (1, self.hidden, self.q_dim),
                (e, up, self.hidden), (e, self.hidden, self.ffn)]

    def weight_bytes(self) -> int:
        """Bytes of all weights as stored: the blocks' linear layers in ``weight_dtype`` plus their fp16
        scales (:func:`quant_scale_bytes`), everything else in :attr:`dense_weight_dtype`."""
        lin = sum(c * n * k for c, n, k in self.linear_shapes())
        qb = sum(c * ((n * k * DTYPE_BITS[self.weight_dtype] + 7) // 8
                      + quant_scale_bytes(self.weight_dtype, n, k, self.weight_group))
                 for c, n, k in self.linear_shapes())
        rest = self.params() - self.layers * lin
        return self.layers * qb + (rest * DTYPE_BITS[self.dense_weight_dtype] + 7) // 8

    def kv_bytes_per_token(self, tp: int = 1) -> int:
        """KV-cache bytes one token occupies on one GPU of a ``tp`` group (K and V of every layer)."""
        kvh = max(1, self.kv_heads // tp)
        return self.layers * 2 * kvh * self.head_dim * DTYPE_BITS[self.kv_dtype] // 8


def quant_scale_bytes(weight_dtype: str, N: int, K: int, group: int = DEFAULT_WEIGHT_GROUP) -> int:
    """Bytes of the fp16 scales stored with a [N, K] linear weight: int8 one per output channel
    (TensorRT-LLM's per-channel weight-only int8), int4 one per ``group`` weights along K of each channel
    ([K / group, N], AWQ / GPTQ); fp8 one fp32 scale per tensor; none for fp16 / bf16."""
    if weight_dtype == "int8":
        return 2 * N
    if weight_dtype == "int4":
        return 2 * (-(-K // group)) * N
    if weight_dtype == "fp8":
        return 4
    return 0


def with_dtype(m: ModelSpec, dtype: str, group: int | None = None) -> ModelSpec:
    """``m`` with the weights of ``gpusim llm --dtype``: fp16 / bf16 set activations, weights and KV cache
    to that type; fp8 / int8 / int4 quantise the blocks' linear weights only (activations and KV cache
    stay in the model's dtype; ``group`` = int4 weights per scale, default 128).  ConfigError names a bad
    choice."""
    import dataclasses

    if dtype not in CLI_DTYPES:
        raise ConfigError("dtype", f"{dtype!r}: must be one of {', '.join(CLI_DTYPES)}")
    if group is not None and dtype != "int4":
        raise ConfigError("weight_group", f"{group}: a group size applies to int4 weights only (dtype {dtype})")
    g = group or m.weight_group
    if dtype == "int4" and (g < 1 or g & (g - 1)):
        raise ConfigError("weight_group", f"{g}: must be a power of two")
    if dtype in ("fp16", "bf16"):
        return dataclasses.replace(m, dtype=dtype, weight_dtype=dtype, kv_dtype=dtype)
    return dataclasses.replace(m, weight_dtype=dtype, weight_group=g)


def model_schema() -> Schema:
    """The keys of a model preset (for docs and tests)."""
    return _SCHEMA


def model_from_dict(d: dict, file: str = "<dict>", overrides: Mapping | Sequence[str] | None = None) -> ModelSpec:
    """Validate a model mapping (see the module doc); raises ConfigError naming the key."""
    if not isinstance(d, Mapping):
        raise ConfigError("", "a model file must be a mapping", file)
    return _build(_with_overrides(flatten(_SCHEMA, d, file, null_sections=True), overrides), file, file)


def _with_overrides(flat: dict[str, Raw], overrides: Mapping | Sequence[str] | None) -> dict[str, Raw]:
    """``{key: value}`` (a section value replaces the whole section) or ``["key.path=value", ...]``."""
    if isinstance(overrides, Mapping):
        for k in overrides:
            for path in [p for p in flat if p == k or p.startswith(f"{k}.")]:
                del flat[path]
        flat.update(flatten(_SCHEMA, overrides, "override", null_sections=True))
    elif overrides:
        for text in overrides:
            apply_set(_SCHEMA, flat, text, example="dtype=bf16")
    return flat


def _build(flat: dict[str, Raw], file: str, top: str) -> ModelSpec:
    v = resolve(_SCHEMA, flat, top)

    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(key, msg, flat[key].where if key in flat else top)

    heads, kv_heads, hidden = v["heads"], v["kv_heads"], v["hidden"]
    if heads % kv_heads:
        raise bad("kv_heads", f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
    if v["head_dim"] is None and hidden % heads:
        raise bad("heads", f"hidden ({hidden}) is not a multiple of heads ({heads}); give head_dim")
    moe = None
    if (v["moe.experts"] is None) != (v["moe.top_k"] is None):
        gone = "moe.top_k" if v["moe.top_k"] is None else "moe.experts"
        raise ConfigError(gone, "moe needs both experts and top_k", flat.get("moe.experts", flat.get("moe.top_k")).where)
    if v["moe.experts"] is not None:
        if v["moe.top_k"] > v["moe.experts"]:
            raise bad("moe.top_k", f"must be at most moe.experts = {v['moe.experts']}, got {v['moe.top_k']}")
        moe = MoESpec(v["moe.experts"], v["moe.top_k"])
    dtype = v["dtype"]
    return ModelSpec(
        name=v["name"], layers=v["layers"], hidden=hidden, heads=heads, kv_heads=kv_heads, ffn=v["ffn"],
        vocab=v["vocab"], head_dim=v["head_dim"] or hidden // heads, activation=v["activation"], norm=v["norm"],
        position=v["position"], norm_eps=v["norm_eps"], rope_theta=v["rope_theta"],
        max_positions=v["max_positions"], dtype=dtype, weight_dtype=v["weight_dtype"] or dtype,
        kv_dtype=v["kv_dtype"] or dtype, moe=moe, tie_embeddings=v["tie_embeddings"], sources=v["sources"],
        file=file, weight_group=v["weight_group"],
    )


def list_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))


def load_model(name_or_path: str | Path, overrides: Mapping | Sequence[str] | None = None) -> ModelSpec:
    """A preset by name (``configs/models/<name>.yaml``) or a YAML file, with optional key overrides
    (``{"dtype": "bf16", "weight_dtype": "int4"}`` or ``["dtype=bf16"]``), checked like the file's keys."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):   # a preset name (may hold a dot: gpt3-1.3b)
        p = MODELS_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        near = difflib.get_close_matches(str(name_or_path), list_models(), n=1)
        raise ConfigError("model", f"no model '{name_or_path}'" + (f" (did you mean '{near[0]}'?)" if near else "")
                          + f"; presets: {', '.join(list_models())}")
    try:
        shown = str(p.resolve().relative_to(MODELS_DIR.parents[1]))
    except ValueError:
        shown = str(p)
    data, lines = read_yaml(p, shown)
    return _build(_with_overrides(flatten(_SCHEMA, data, shown, lines, null_sections=True), overrides), str(p), shown)


# --------------------------------------------------------------------------------------------
# steps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestGroup:
    """``count`` identical requests: each computes ``tokens`` new tokens on top of ``past`` cached ones."""

    kind: str          # "prefill" or "decode"
    count: int
    tokens: int        # new tokens per request (1 for decode)
    past: int          # tokens already in the KV cache before this step
    sample: bool = True  # produces a token (LM head + sampling run for it)

    @property
    def context(self) -> int:
        """KV positions the last new token attends to (past + tokens)."""
        return self.past + self.tokens


@dataclass(frozen=True)
class Step:
    groups: tuple[RequestGroup, ...]
    text: str = ""
    accum: int = 1     # train steps: micro-batches per optimizer step (gradient accumulation)
    zero: int = 0      # train steps: 1 = ZeRO stage 1 (optimizer state and update sharded over the DP GPUs)

    @property
    def train(self) -> bool:
        """A training step (``train:``): forward, backward and the optimizer update."""
        return any(g.kind == "train" for g in self.groups)

    @property
    def seq(self) -> int:
        """Sequence length of a train step's sequences."""
        return self.groups[0].tokens

    @property
    def tokens(self) -> int:
        """New tokens computed in the step (rows of every linear layer)."""
        return sum(g.count * g.tokens for g in self.groups)

    @property
    def sequences(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def sampled(self) -> int:
        """Sequences that produce a token this step (rows of the LM head)."""
        return sum(g.count for g in self.groups if g.sample)


_GROUP_KEYS = {"decode": {"batch", "context"}, "prefill": {"batch", "tokens", "past", "sample"},
               "train": {"tokens", "seq", "accum", "zero"}}


def parse_step(text: str) -> Step:
    """Parse the step grammar of the module doc; raises StepError naming the part at fault."""
    groups = []
    if not text or not text.strip():
        raise StepError("step: empty (e.g. decode:batch=1,context=1024 or prefill:tokens=512)")
    for part in text.strip().split("+"):
        part = part.strip()
        kind, sep, body = part.partition(":")
        kind = kind.strip().lower()
        if kind not in _GROUP_KEYS or not sep:
            raise StepError(f"step '{text}': '{part}' must start with 'decode:', 'prefill:' or 'train:'")
        kv: dict[str, int] = {}
        for item in filter(None, (x.strip() for x in body.split(","))):
            k, eq, v = item.partition("=")
            k = k.strip()
            if not eq or k not in _GROUP_KEYS[kind]:
                near = difflib.get_close_matches(k, sorted(_GROUP_KEYS[kind]), n=1)
                raise StepError(f"step '{text}': '{item}' in '{part}': expected key=value with key in "
                                f"{sorted(_GROUP_KEYS[kind])}" + (f" (did you mean '{near[0]}'?)" if near else ""))
            try:
                iv = int(v.strip())
            except ValueError:
                raise StepError(f"step '{text}': '{item}': value must be an integer") from None
            if iv < (0 if k in ("past", "sample", "zero") else 1) or (k in ("sample", "zero") and iv > 1):
                raise StepError(f"step '{text}': '{item}': out of range")
            kv[k] = iv
        if kind == "train":
            if "+" in text:
                raise StepError(f"step '{text}': a train: step stands alone (no '+'-joined groups)")
            if "tokens" not in kv:
                raise StepError(f"step '{text}': '{part}' needs tokens=N (tokens per GPU per micro-batch)")
            seq = kv.get("seq", TRAIN_DEFAULT_SEQ)
            if kv["tokens"] % seq:
                raise StepError(f"step '{text}': tokens = {kv['tokens']} is not a multiple of seq = {seq} "
                                f"(batch = tokens / seq sequences of seq tokens)")
            return Step((RequestGroup("train", kv["tokens"] // seq, seq, 0, False),), text.strip(),
                        accum=kv.get("accum", 1), zero=kv.get("zero", 0))
        if kind == "decode":
            if "context" not in kv:
                raise StepError(f"step '{text}': '{part}' needs context=N (KV positions attended, new token included)")
            groups.append(RequestGroup("decode", kv.get("batch", 1), 1, kv["context"] - 1, True))
        else:
            if "tokens" not in kv:
                raise StepError(f"step '{text}': '{part}' needs tokens=N")
            groups.append(RequestGroup("prefill", kv.get("batch", 1), kv["tokens"], kv.get("past", 0),
                                       bool(kv.get("sample", 1))))
    return Step(tuple(groups), text.strip())


def step_from_dict(d: dict) -> Step:
    """A step from YAML: ``{requests: [{kind: decode, batch: 8, context: 2048}, {kind: prefill, tokens: 512}]}``."""
    reqs = d.get("requests") if isinstance(d, dict) else None
    if not isinstance(reqs, list) or not reqs:
        raise StepError("step: expected {requests: [...]} with at least one request group")
    parts = []
    for r in reqs:
        if not isinstance(r, dict) or "kind" not in r:
            raise StepError(f"step: request {r!r} needs 'kind: decode|prefill'")
        kv = ",".join(f"{k}={v}" for k, v in r.items() if k != "kind")
        parts.append(f"{r['kind']}:{kv}")
    return parse_step("+".join(parts))


__all__ = [
    "CLI_DTYPES",
    "DTYPE_BITS",
    "QUANT_WEIGHT_DTYPES",
    "quant_scale_bytes",
    "with_dtype",
    "MODELS_DIR",
    "MoESpec",
    "ModelSpec",
    "RequestGroup",
    "Step",
    "StepError",
    "list_models",
    "load_model",
    "model_from_dict",
    "model_schema",
    "parse_step",
    "step_from_dict",
]


def load_step(step: str | Step) -> Step:
    """A :class:`Step` from the step grammar or a YAML file (``{requests: [...]}``); StepError names the file."""
    if isinstance(step, Step):
        return step
    if not step.strip().endswith((".yaml", ".yml")):
        return parse_step(step)
    p = Path(step.strip())
    if not p.is_file():
        raise StepError(f"{p}: step file not found")
    try:
        d = strict_load(p.read_text())
    except yaml.YAMLError as e:
        raise StepError(f"{p}: not valid YAML: {e}") from None
    try:
        return step_from_dict(d)
    except StepError as e:
        raise StepError(f"{p}: {e}") from None


def load_model_step(model: str | ModelSpec, step: str | Step) -> tuple[ModelSpec, Step]:
    """Model (preset name, YAML path or spec) and step (grammar, YAML path or Step)."""
    return (model if isinstance(model, ModelSpec) else load_model(model)), load_step(step)

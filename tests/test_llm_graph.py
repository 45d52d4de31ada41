"""Tests of the LLM model presets, the step grammar and the operator graph (gpusim/llm/model.py, graph.py).

Closed forms: a decoder block of hidden h, FFN f, H query / Hkv KV heads of size d performs, per new
token, 2*(h*(H+2Hkv)d + Hd*h + 3hf) FLOPs in its linear layers (multiply-add = 2 FLOPs) and
4*d*H FLOPs per attended key; a decode step streams every weight once and the KV cache once.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gpusim.errors import ConfigError
from gpusim.llm.graph import GraphError, build_graph
from gpusim.llm.model import (
    StepError,
    list_models,
    load_model,
    model_from_dict,
    parse_step,
    step_from_dict,
)

GRAPH_PY = Path(__file__).resolve().parent.parent / "gpusim" / "llm" / "graph.py"


def test_presets_have_the_published_parameter_counts_and_cite_sources():
    """Rule: the preset shapes reproduce the published total parameter counts (Hugging Face model
    cards: Llama-2-7b 6.74B, Llama-2-70b 69.0B, Meta-Llama-3-8B 8.03B, Meta-Llama-3-70B 70.6B, Mixtral-8x7B 46.7B)."""
    assert {"llama-2-7b", "llama-2-70b", "llama-3-8b", "llama-3-70b", "mixtral-8x7b", "tiny"} <= set(list_models())
    expect = {"llama-2-7b": 6_738_415_616, "llama-2-70b": 68_976_648_192, "llama-3-8b": 8_030_261_248,
              "llama-3-70b": 70_553_706_496, "mixtral-8x7b": 46_702_792_704}
    for name, n in expect.items():
        m = load_model(name)
        assert m.params() == n, name
        assert m.sources and all(isinstance(s, str) and s for s in m.sources)
    assert load_model("tiny").head_dim == 128


def _linear_flops_per_token(m, tp=1):
    H, Hkv, d, h, f = m.heads // tp, max(1, m.kv_heads // tp), m.head_dim, m.hidden, m.ffn // tp
    return 2 * (h * (H + 2 * Hkv) * d + H * d * h + 3 * h * f)


@pytest.mark.parametrize("batch,context", [(1, 1024), (8, 4000)])
def test_llama2_7b_decode_flops_and_bytes_follow_the_closed_forms(batch, context):
    """Rule: decode = B tokens through every linear layer, attention over `context` keys per head,
    LM head for B rows; minimum traffic = all block weights + LM head once + K and V of every context."""
    m = load_model("llama-2-7b")
    g = build_graph(m, parse_step(f"decode:batch={batch},context={context}"))
    L, h, d, H, V = m.layers, m.hidden, m.head_dim, m.heads, m.vocab
    gemm = sum(o.flops * o.count for o in g.operators if o.kind == "gemm")
    assert gemm == L * batch * _linear_flops_per_token(m) + 2 * batch * h * V
    attn = sum(o.flops * o.count for o in g.operators if o.kind == "attention")
    assert attn == L * 4 * d * H * batch * context
    wbytes = sum(o.weight_bytes * o.count for o in g.operators if o.kind == "gemm")
    assert wbytes == 2 * (L * (4 * h * h + 3 * h * m.ffn) + V * h)
    kv = g.find("layer.attn.decode0")
    assert kv.bytes_read == 2 * batch * H * d + 2 * 2 * batch * context * m.kv_heads * d
    assert g.find("layer.qkv_proj").shape == {"M": batch, "N": 3 * h, "K": h}
    assert g.find("lm_head").shape == {"M": batch, "N": V, "K": h}


def test_llama2_7b_prefill_counts_the_causal_triangle():
    """Rule: a T-token prefill runs T rows through the linear layers and T(T+1)/2 query-key pairs per
    head (causal); only the last token of the prompt reaches the LM head."""
    m = load_model("llama-2-7b")
    T = 512
    g = build_graph(m, parse_step(f"prefill:tokens={T}"))
    assert g.find("layer.qkv_proj").shape["M"] == T
    assert g.find("layer.attn.prefill0").flops == 4 * m.head_dim * m.heads * T * (T + 1) // 2
    assert g.find("layer.attn.prefill0").shape["causal"] is True
    assert g.find("lm_head").shape["M"] == 1
    gemm = sum(o.flops * o.count for o in g.operators if o.kind == "gemm")
    assert gemm == m.layers * T * _linear_flops_per_token(m) + 2 * m.hidden * m.vocab
    # chunked prefill: a 256-token chunk after 768 cached tokens sees 768 + i + 1 keys for query i
    g2 = build_graph(m, parse_step("prefill:tokens=256,past=768,sample=0"))
    a = g2.find("layer.attn.prefill0")
    assert a.flops == 4 * m.head_dim * m.heads * (256 * 768 + 256 * 257 // 2) and a.shape["kv_len"] == 1024
    assert all(o.name != "lm_head" for o in g2.operators)


def test_gqa_shapes_of_llama3_8b():
    """Rule: with grouped-query attention the QKV projection has H + 2 Hkv heads of output and the KV
    cache (and its traffic) has Hkv heads."""
    m = load_model("llama-3-8b")
    g = build_graph(m, parse_step("decode:batch=4,context=2048"))
    assert g.find("layer.qkv_proj").shape["N"] == (32 + 2 * 8) * 128 == 6144
    a = g.find("layer.attn.decode0")
    assert (a.shape["heads"], a.shape["kv_heads"]) == (32, 8)
    assert a.bytes_read == 2 * 4 * 32 * 128 + 2 * 2 * 4 * 2048 * 8 * 128
    assert g.find("lm_head").shape["N"] == 128256
    assert m.dtype == "bf16"


def test_moe_shapes_of_mixtral_balanced_top2():
    """Rule: top-k routing sends tokens x k rows through the experts; with balanced routing
    min(E, tokens x k) experts' weights are read; the router is a dense h x E GEMM."""
    m = load_model("mixtral-8x7b")
    h, f = m.hidden, m.ffn
    g = build_graph(m, parse_step("decode:batch=1,context=512"))
    up = g.find("layer.moe_up_gate")
    assert up.shape["groups"] == 2 and up.shape["rows"] == 2
    assert up.weight_bytes == 2 * 2 * (2 * f) * h and up.flops == 2 * 2 * (2 * f) * h
    assert g.find("layer.router").shape == {"M": 1, "N": 8, "K": h}
    g2 = build_graph(m, parse_step("prefill:tokens=512"))
    down = g2.find("layer.moe_down")
    assert down.shape["groups"] == 8 and down.shape["rows"] == 1024
    assert down.weight_bytes == 2 * 8 * h * f and down.flops == 2 * 1024 * h * f


def test_tensor_parallel_splits_work_without_duplication():
    """Rule (Megatron-LM): tp GPUs each run 1/tp of the heads, FFN columns and vocabulary; two
    all-reduces of tokens x hidden per layer; KV heads replicate only when kv_heads < tp."""
    m = load_model("llama-2-70b")
    step = parse_step("prefill:tokens=128")
    g1 = build_graph(m, step, tp=1)
    g8 = build_graph(m, step, tp=8)
    assert g8.find("layer.qkv_proj").shape["N"] == (64 // 8 + 2 * 1) * 128
    assert g8.find("layer.up_gate_proj").shape["N"] == 2 * 28672 // 8
    ar = [o for o in g8.operators if o.kind == "allreduce" and o.name.startswith("layer.")]
    assert len(ar) == 2 and all(o.count == 80 and o.shape["bytes"] == 128 * 8192 * 2 for o in ar)
    assert not any(o.kind == "allreduce" for o in g1.operators)
    gemm = lambda g: sum(o.flops * o.count for o in g.operators if o.kind == "gemm")
    assert gemm(g8) * 8 == gemm(g1)  # 8 KV heads split evenly over 8 GPUs: nothing replicated
    g16 = build_graph(m, step, tp=16)  # 8 KV heads, 16 GPUs: each GPU keeps one KV head
    assert g16.find("layer.attn.prefill0").shape["kv_heads"] == 1
    with pytest.raises(GraphError, match="not divisible by tp = 3"):
        build_graph(m, step, tp=3)


def test_mixed_batch_shares_linear_layers_and_keeps_attention_per_group():
    """Rule (Sarathi-style batching): prefill chunks and decodes share every linear layer (M = all new
    tokens) while each group keeps its own attention shape."""
    m = load_model("tiny")
    s = parse_step("prefill:tokens=256,past=768,sample=0 + decode:batch=16,context=2048")
    assert (s.tokens, s.sequences, s.sampled) == (256 + 16, 17, 16)
    g = build_graph(m, s)
    assert g.find("layer.up_gate_proj").shape["M"] == 272
    assert g.find("lm_head").shape["M"] == 16
    att = [o for o in g.operators if o.kind == "attention"]
    assert [(a.shape["phase"], a.shape["batch"], a.shape["q_len"], a.shape["kv_len"]) for a in att] == \
        [("prefill", 1, 256, 1024), ("decode", 16, 1, 2048)]
    assert step_from_dict({"requests": [{"kind": "prefill", "tokens": 256, "past": 768, "sample": 0},
                                        {"kind": "decode", "batch": 16, "context": 2048}]}).groups == s.groups


def test_weight_only_quantisation_changes_weight_bytes_not_flops():
    """Rule: int4 weight-only storage is 4 bits per weight plus one fp16 scale per group of 128 weights
    along K ([K/128, N], AWQ/GPTQ); the arithmetic is unchanged.  (Updated when the scales became part of
    the weight bytes: before, the test asserted exactly a quarter of the fp16 bytes.)"""
    fp = build_graph(load_model("llama-2-7b"), parse_step("decode:batch=1,context=128"))
    q4 = build_graph(load_model("llama-2-7b", {"weight_dtype": "int4"}), parse_step("decode:batch=1,context=128"))
    a, b = fp.find("layer.down_proj"), q4.find("layer.down_proj")
    N, K = 4096, 11008
    assert a.flops == b.flops and a.weight_bytes == 2 * N * K
    assert b.weight_bytes == N * K // 2 + 2 * (K // 128) * N
    # the embedding and LM head stay fp16 (AWQ / GPTQ quantise the blocks' linear layers only)
    assert q4.find("lm_head").weight_bytes == fp.find("lm_head").weight_bytes


@pytest.mark.parametrize("text,msg", [
    ("decode:batch=1", "needs context=N"),
    ("decode:batch=1,contxt=5", "did you mean 'context'"),
    ("prefil:tokens=3", "must start with 'decode:', 'prefill:' or 'train:'"),  # train: steps added (gpusim.llm.train)
    ("prefill:tokens=x", "must be an integer"),
    ("prefill:tokens=0", "out of range"),
    ("", "empty"),
])
def test_bad_steps_are_one_line_errors(text, msg):
    """Rule: a malformed --step names the part at fault."""
    with pytest.raises(StepError, match=msg):
        parse_step(text)


def test_bad_model_files_name_the_key():
    """Rule: model YAML errors are ConfigErrors naming the key (with a suggestion for typos)."""
    base = {"name": "x", "layers": 2, "hidden": 256, "heads": 2, "kv_heads": 2, "ffn": 512, "vocab": 100}
    assert model_from_dict(base).head_dim == 128
    with pytest.raises(ConfigError, match="kv_head.*did you mean 'kv_heads'"):
        model_from_dict({**base, "kv_head": 1})
    with pytest.raises(ConfigError, match="multiple of kv_heads"):
        model_from_dict({**base, "kv_heads": 3})
    with pytest.raises(ConfigError, match="weight_dtype"):
        model_from_dict({**base, "weight_dtype": "int3"})
    with pytest.raises(ConfigError, match="no model 'llama-2-7"):
        load_model("llama-2-7")


def test_graph_module_is_free_of_gpu_specifics():
    """Rule: the operator graph is shared with the systolic / dataflow accelerators, so graph.py may
    import only the model description, the operator vocabulary (gpusim.ops) and the error types."""
    tree = ast.parse(GRAPH_PY.read_text())
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in mods if m and m.startswith("gpusim") and not m.startswith("gpusim.ops.")} \
        <= {"gpusim.errors", "gpusim.llm.model"}

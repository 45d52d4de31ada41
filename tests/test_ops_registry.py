"""The operator vocabulary (gpusim.ops): kinds, typed shapes, and every backend's entry per kind."""

from __future__ import annotations

import importlib

import pytest

from gpusim.ops import (BACKENDS, SHAPE_OF_KIND, Operator, OperatorError, OperatorKind, ShapeError, Unsupported,
                        make_shape)
from gpusim.ops.registry import Backend, BackendError

#: the modules that register the backends (importing them registers)
BACKEND_MODULES = {"gpu": "gpusim.llm.launch", "gpu-train": "gpusim.llm.train",
                   "systolic": "gpusim.accel.systolic.llm", "rdu": "gpusim.accel.rdu.lower"}


def _backends() -> dict[str, Backend]:
    for mod in BACKEND_MODULES.values():
        importlib.import_module(mod)
    return BACKENDS


def test_every_operator_kind_has_a_backend_mapping_or_reason():
    """Rule (issue 17 item 5): each backend (GPU serving, GPU training, systolic, RDU) declares for every
    OperatorKind either its handler or Unsupported(reason), so a new kind cannot reach a backend that
    silently ignores it.  Break: delete one entry from a register_backend table (e.g. OK.ADAMW from the
    systolic one) and this fails naming the backend and the kind."""
    bs = _backends()
    assert set(BACKEND_MODULES) <= set(bs), f"backends not registered: {set(BACKEND_MODULES) - set(bs)}"
    missing = {name: [k.value for k in b.missing()] for name, b in bs.items() if b.missing()}
    assert not missing, f"operator kinds without a handler or an Unsupported reason: {missing}"


def test_every_operator_kind_has_a_shape_record():
    """Rule: an operator's shape is the typed record of its kind; every kind has one."""
    assert set(SHAPE_OF_KIND) == set(OperatorKind)


def test_backend_lookup_of_a_kind_without_entry_is_an_error():
    """Rule: a backend asked about a kind it has no entry for says so (never a silent None)."""
    b = Backend("partial", {OperatorKind.GEMM: lambda op: None})
    assert b.missing() and OperatorKind.ADD in b.missing()
    with pytest.raises(BackendError, match="no entry for operator kind 'add'"):
        b.handler(OperatorKind.ADD)
    with pytest.raises(BackendError, match="unknown operator kind"):
        Backend("bad", {"not_a_kind": lambda op: None})
    with pytest.raises(BackendError, match="reason"):
        Unsupported("  ")


def test_operator_kind_is_its_string():
    """Rule: OperatorKind is a StrEnum, so reports and code comparing with the plain name are unchanged."""
    assert OperatorKind.GEMM == "gemm" and f"{OperatorKind.MOE_GEMM}" == "moe_gemm"
    op = Operator("x", "gemm", 1, {"M": 2, "N": 3, "K": 4}, "fp16", 48, 0, 0)
    assert op.kind is OperatorKind.GEMM
    import json
    assert json.dumps({"kind": op.kind, "shape": op.shape.as_dict()}) == \
        '{"kind": "gemm", "shape": {"M": 2, "N": 3, "K": 4}}'


def test_shape_records_are_checked_on_construction():
    """Rule: the typed record is the source of truth: a missing, unknown or ill-typed key is refused when the
    operator is built, naming the operator and the key."""
    ok = {"M": 2, "N": 3, "K": 4}
    with pytest.raises(OperatorError, match="'x'.*lacks K"):
        Operator("x", "gemm", 1, {"M": 2, "N": 3}, "fp16", 0, 0, 0)
    with pytest.raises(OperatorError, match="unknown shape key.*'rows_'"):
        Operator("x", "gemm", 1, {**ok, "rows_": 1}, "fp16", 0, 0, 0)
    with pytest.raises(OperatorError, match="whole number"):
        Operator("x", "gemm", 1, {**ok, "M": 2.5}, "fp16", 0, 0, 0)
    with pytest.raises(OperatorError, match="phase 'verify' not one of prefill, decode"):
        Operator("a", "attention", 1, {"batch": 1, "heads": 1, "kv_heads": 1, "head_dim": 64, "q_len": 1,
                                       "kv_len": 8, "causal": True, "phase": "verify"}, "fp16", 0, 0, 0)
    with pytest.raises(OperatorError, match="unknown operator kind 'gemmm'"):
        Operator("x", "gemmm", 1, ok, "fp16", 0, 0, 0)
    with pytest.raises(ShapeError, match="expected GemmShape"):
        make_shape("gemm", make_shape("add", {"rows": 1, "cols": 2}))


def test_shape_records_read_like_the_dicts_they_replace():
    """Rule: callers index shapes by key; a record answers [], get, in, ==, dict() in the key order given, optional
    keys only when set, and it is read-only."""
    s = make_shape("attention", {"batch": 2, "heads": 8, "kv_heads": 2, "head_dim": 128, "q_len": 16, "kv_len": 64,
                                 "causal": True, "phase": "prefill", "train": True, "pass": "bwd"})
    assert s["pass"] == "bwd" and s.get("impl", "auto") == "auto" and "impl" not in s and "pass" in s
    assert list(s) == ["batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len", "causal", "phase", "train", "pass"]
    assert s == {"batch": 2, "heads": 8, "kv_heads": 2, "head_dim": 128, "q_len": 16, "kv_len": 64, "causal": True,
                 "phase": "prefill", "train": True, "pass": "bwd"}
    with pytest.raises(KeyError):
        s["get"]
    with pytest.raises(AttributeError):
        s.batch = 3


def test_accelerators_take_operator_types_from_gpusim_ops():
    """Rule (issue 17 item 5): gpusim.accel reads the operator vocabulary from gpusim.ops, not from the LLM
    package's graph module (which only builds graphs).  Break: import Operator from gpusim.llm.graph in
    gpusim/accel/rdu/programs.py and this fails."""
    import ast
    from pathlib import Path

    import gpusim

    root = Path(gpusim.__file__).parent / "accel"
    bad = []
    for f in root.rglob("*.py"):
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module == "gpusim.llm.graph":
                bad += [f"{f.relative_to(root)}: {a.name}" for a in n.names if a.name != "build_graph"]
    assert not bad, f"operator types imported from gpusim.llm.graph: {bad}"

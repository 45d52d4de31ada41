"""Compile time of the Numba core (issues 17 and 19).

* ``test_no_literal_arguments_to_separately_compiled_core_functions``: Numba compiles a jitted function
  once per distinct tuple of argument types, and a bare constant argument has a literal type of its own
  (``Literal[bool](True)``, ``Literal[int](-1)``): ``_iline(..., True)`` and ``_iline(..., False)`` are two
  specialisations, each compiled and optimised in full, and so is every function below them.  Before
  this rule the cold compile built two ``_issue``\\ s (a ``best = -1`` that later became a warp slot), two
  to four of each DRAM function and two ``_iline`` (``benchmarks/results/compile_time.json``).  The test
  reads the core's modules and fails on a call of a separately compiled core function (``@njit`` without
  ``inline="always"``) that passes a bare constant or a conditional expression with a constant branch;
  write ``np.bool_(True)`` / ``np.int64(-1)`` instead.  Checked to fail by putting back the bare ``True``
  in ``fetch._fetch``'s ``_iline`` call.
* ``test_one_thread_does_not_compile_the_threaded_engine``: a run with one thread (the default) uses
  ``engine.run_sm``, the body without the ``prange`` loop; ``run_sm_threads`` (``parallel=True``) is
  compiled only when a run asks for threads.  Checked to fail by making ``assemble._drive`` call
  ``run_sm_threads`` always.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "gpusim" / "core"


def _jitted(tree: ast.Module) -> dict[str, bool]:
    """Names of the module's @njit functions -> whether they are inlined (inline="always")."""
    out = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for d in node.decorator_list:
            if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "njit":
                out[node.name] = any(k.arg == "inline" and getattr(k.value, "value", None) == "always"
                                     for k in d.keywords)
    return out


def _literal(arg: ast.expr) -> bool:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, (bool, int)):
        return True
    if isinstance(arg, ast.UnaryOp) and isinstance(arg.operand, ast.Constant):
        return True
    if isinstance(arg, ast.IfExp):
        return _literal(arg.body) or _literal(arg.orelse)
    return False


def test_no_literal_arguments_to_separately_compiled_core_functions():
    trees = {p: ast.parse(p.read_text()) for p in sorted(CORE.glob("*.py")) if p.name != "walk.py"}
    compiled = set()
    for t in trees.values():
        compiled |= {n for n, inline in _jitted(t).items() if not inline}
    bad = []
    for p, t in trees.items():
        for node in ast.walk(t):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in compiled and any(_literal(a) for a in node.args):
                bad.append(f"{p.name}:{node.lineno} {name}(...)")
    assert not bad, f"bare constant arguments (one specialisation each): {bad}"


def test_one_thread_does_not_compile_the_threaded_engine(monkeypatch):
    from gpusim import api
    from gpusim.config import load_config
    from gpusim.core import engine, sm as core

    def refuse(*args):
        raise AssertionError("a one-thread run called (and so compiled) run_sm_threads")

    monkeypatch.setattr(engine, "run_sm_threads", refuse)
    monkeypatch.setattr(core, "run_sm_threads", refuse)
    rep = api.simulate(str(CORE.parent.parent / "traces/examples/vecadd-sm86"), load_config("rtx3070"), threads=1)
    assert rep.total_cycles > 0

"""The package's shape (issue #17): sub-packages depend on each other in one direction only."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import gpusim

PKG = Path(gpusim.__file__).parent


def _subpackage_imports() -> dict[str, set[str]]:
    """sub-package (or top-level module) -> the gpusim sub-packages its code imports, lazy imports included."""
    edges: dict[str, set[str]] = defaultdict(set)
    for f in PKG.rglob("*.py"):
        parts = f.relative_to(PKG).with_suffix("").parts
        if parts == ("__init__",) or parts == ("__main__",):
            continue
        me = parts[0]
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                p = n.split(".")
                if p[0] == "gpusim" and len(p) > 1 and p[1] != me:
                    edges[me].add(p[1])
    return edges


def test_no_import_cycle_between_subpackages():
    """llm <-> accel was a cycle (llm.machines dispatched to the accelerators, which build on the LLM
    operator graph); the accelerators' `gpusim llm` paths now live with them.  Break: import
    gpusim.accel.rdu.llm from gpusim/llm/machines.py and this fails."""
    edges = _subpackage_imports()
    pkgs = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    cycles = sorted((a, b) for a in pkgs for b in edges.get(a, ()) if b in pkgs and a < b and a in edges.get(b, ()))
    assert not cycles, f"import cycles between sub-packages: {cycles}"


def test_the_core_imports_no_other_subpackage():
    """gpusim/core is the only Numba code and sits at the bottom: it never imports upward."""
    ups = _subpackage_imports().get("core", set()) - {"errors", "units"}
    assert not ups, f"gpusim.core imports {sorted(ups)}"


def test_packing_and_isa_semantics_import_nothing_above_them():
    """gpusim/assemble (packing, runs) and gpusim/isa (opcode semantics) sit between the front end and
    the core below and the LLM / serving / validation layers above (issue 17: no upward import into
    llm/).  Break: import gpusim.llm.walker in gpusim/assemble/runner.py and this fails."""
    edges = _subpackage_imports()
    allowed = {"assemble": {"config", "core", "errors", "frontend", "isa", "units"},
               "isa": {"config", "core", "errors", "frontend", "units"}}
    for pkg, ok in allowed.items():
        assert edges.get(pkg, set()) <= ok, f"gpusim.{pkg} imports {sorted(edges[pkg] - ok)}"


def test_the_functional_walker_sits_on_the_core_and_the_frontend_only():
    """gpusim/emu (the SASS walker, issue 17 item 4) is used by llm and clock and uses only the core (its
    Numba cache folder), the listing parser and the errors.  Break: import gpusim.llm.walker from
    gpusim/emu/walk.py and this fails."""
    ups = _subpackage_imports().get("emu", set()) - {"core", "frontend", "errors"}
    assert not ups, f"gpusim.emu imports {sorted(ups)}"


def test_no_function_over_200_lines_or_20_parameters_and_no_module_over_900_lines():
    """Issue 17's bars, for every module of gpusim/ (the walker's dispatch loop was one 1,029-line Numba
    function of 25 parameters; assemble.py 943 lines; tracescan.scan_body 346 lines).  Break: paste two
    handlers of gpusim/emu into one function and this fails."""
    files = sorted(PKG.rglob("*.py"))
    bad = []
    for f in files:
        text = f.read_text()
        if len(text.splitlines()) > 900:
            bad.append(f"{f.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                a = node.args
                p = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
                if n > 200 or p > 20:
                    bad.append(f"{f.name}: {node.name}: {n} lines, {p} parameters")
    assert len(files) > 100 and not bad, bad

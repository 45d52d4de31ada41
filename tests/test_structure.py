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

"""Shape of the SM core's source: module lines, and the functions with the most lines and parameters.

Usage: python benchmarks/core_shape.py [DIR ...] [--top N] [--json]
(``DIR``: a ``gpusim/core`` folder, default this checkout's).  Counts ``def`` lines to the end of the
body (decorators excluded) and positional parameters, over every module of the folder except the
front-end helpers that issue 17 leaves alone (``walk.py``, ``tracescan.py``, ``coalesce.py``,
``memsys.py``, ``layout.py``, ``__init__.py``).
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

SKIP = {"walk.py", "tracescan.py", "coalesce.py", "memsys.py", "layout.py", "__init__.py"}


def shape(d: Path) -> dict:
    mods, funcs = {}, []
    for f in sorted(d.glob("*.py")):
        if f.name in SKIP:
            continue
        src = f.read_text()
        mods[f.name] = len(src.splitlines())
        for n in ast.walk(ast.parse(src)):
            if isinstance(n, ast.FunctionDef):
                funcs.append({"function": f"{f.stem}.{n.name}", "lines": n.end_lineno - n.lineno + 1,
                              "params": len(n.args.args)})
    return {"modules": mods, "functions": funcs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="*", type=Path, default=[Path(__file__).resolve().parent.parent / "gpusim/core"])
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    out = {}
    for d in a.dirs:
        s = shape(d)
        out[str(d)] = {"modules": s["modules"],
                       "max_module_lines": max(s["modules"].values()),
                       "by_lines": sorted(s["functions"], key=lambda r: -r["lines"])[:a.top],
                       "by_params": sorted(s["functions"], key=lambda r: -r["params"])[:a.top]}
    if a.json:
        print(json.dumps(out, indent=1))
        return 0
    for d, s in out.items():
        print(d)
        print("  modules: " + ", ".join(f"{k} {v}" for k, v in s["modules"].items()))
        print("  most lines: " + ", ".join(f"{r['function']} {r['lines']}" for r in s["by_lines"]))
        print("  most params: " + ", ".join(f"{r['function']} {r['params']}" for r in s["by_params"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

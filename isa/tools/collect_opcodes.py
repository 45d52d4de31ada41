"""Collect the SASS opcodes used in Accel-Sim traces and cuobjdump/nvdisasm listings.

Usage:  python isa/tools/collect_opcodes.py [DIR ...]   (default: ../shared/traces)

Prints, per architecture family, every base opcode (text before the first '.') with its
occurrence count and the full mnemonics seen, and marks the ones missing from isa/<family>.yaml.
A development aid for maintaining the tables; the test suite has its own copy of the reader.
"""

from __future__ import annotations

import collections
import lzma
import re
import sys
from pathlib import Path

from gpusim.frontend.opcodes import family_for_binary_version, load_opcode_table

_BINVER = re.compile(r"^-binary version = (\d+)", re.M)
_LINEINFO = re.compile(r"^-enable lineinfo = 1", re.M)
_SASS_ARCH = re.compile(r"code for sm_(\d+)")
_SASS_INST = re.compile(r"^\s*/\*[0-9a-fA-F]{4,}\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Za-z0-9_]+)*)")


def _read(path: Path) -> str:
    if path.suffix == ".xz":
        with lzma.open(path, "rt", errors="replace") as f:
            return f.read()
    return path.read_text(errors="replace")


def trace_mnemonics(path: Path) -> tuple[int, collections.Counter]:
    """(binary version, Counter of full mnemonics) of a .traceg / .traceg.xz / raw .trace.xz file."""
    text = _read(path)
    m = _BINVER.search(text)
    if not m:
        raise ValueError(f"{path}: no '-binary version' header")
    raw = path.name.endswith((".trace", ".trace.xz"))
    skip = (4 if raw else 0) + (1 if _LINEINFO.search(text) else 0)
    counts: collections.Counter = collections.Counter()
    for line in text.splitlines():
        if not line or line[0] in "-#" or "=" in line:
            continue
        tok = line.split(None, skip + 5)
        if len(tok) < skip + 4:
            continue
        try:
            ndst = int(tok[skip + 2])
        except ValueError:
            continue
        tok = line.split(None, skip + 4 + ndst)
        counts[tok[skip + 3 + ndst]] += 1
    return int(m.group(1)), counts


def listing_mnemonics(path: Path) -> dict[int, collections.Counter]:
    """{sm version: Counter of full mnemonics} of a cuobjdump -sass / nvdisasm listing."""
    out: dict[int, collections.Counter] = {}
    arch = None
    for line in _read(path).splitlines():
        m = _SASS_ARCH.search(line)
        if m:
            arch = int(m.group(1))
            continue
        m = _SASS_INST.match(line)
        if m and arch is not None:
            out.setdefault(arch, collections.Counter())[m.group(1)] += 1
    return out


def collect(root: Path) -> dict[str, dict[str, collections.Counter]]:
    """{family: {base opcode: Counter(full mnemonic)}}."""
    res: dict[str, dict[str, collections.Counter]] = {}

    def add(version: int, counts: collections.Counter) -> None:
        fam = family_for_binary_version(version)
        d = res.setdefault(fam, {})
        for mn, n in counts.items():
            d.setdefault(mn.split(".", 1)[0], collections.Counter())[mn] += n

    for p in sorted(root.rglob("*")):
        if p.name.endswith((".traceg", ".traceg.xz", ".trace", ".trace.xz")):
            add(*trace_mnemonics(p))
        elif p.suffix == ".sass":
            for v, c in listing_mnemonics(p).items():
                add(v, c)
    return res


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path(__file__).resolve().parents[2].parent / "shared" / "traces"]
    missing = 0
    for root in roots:
        for fam, ops in sorted(collect(root).items()):
            try:
                table = load_opcode_table(fam)
            except Exception as e:  # table not written yet
                table = None
                print(f"# {fam}: {e}")
            print(f"== {fam}: {len(ops)} base opcodes")
            for op, c in sorted(ops.items()):
                flag = "" if table is not None and table.id_of(op) >= 0 else "  <-- MISSING"
                missing += bool(flag)
                forms = ", ".join(f"{k}({v})" for k, v in c.most_common(6))
                print(f"  {op:12s} {sum(c.values()):8d}  {forms}{flag}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

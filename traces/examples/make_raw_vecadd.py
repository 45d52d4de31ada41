"""Write ``traces/examples/vecadd-sm86-raw/``: the first CTAS thread blocks of the bundled vecadd trace
in NVBit's *raw* layout (what the Accel-Sim tracer writes before ``post-traces-processing``): one
``kernel-1.trace`` whose instruction lines carry a ``tb_x tb_y tb_z warp_in_tb`` prefix and are
interleaved across warps (round-robin, as concurrently running warps reach the tracer), plus a
``kernelslist`` naming it.  Raw layout: research/accel-sim-trace-format.md §3.5.

    python traces/examples/make_raw_vecadd.py          # then: gpusim trace convert traces/examples/vecadd-sm86-raw -o OUT
"""

from __future__ import annotations

import lzma
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "vecadd-sm86" / "kernel-1.traceg.xz"
DST = HERE / "vecadd-sm86-raw"
CTAS = 4


def main() -> None:
    text = lzma.decompress(SRC.read_bytes()).decode()
    head, body = text.split("#BEGIN_TB", 1)
    head = re.sub(r"-grid dim = \(\d+,1,1\)", f"-grid dim = ({CTAS},1,1)", head)
    head = head.replace("-nvbit version = none (written by traces/examples/make_vecadd.py)",
                        "-nvbit version = none (raw layout written by traces/examples/make_raw_vecadd.py)")
    head = re.sub(r"#traces format = \[line_num\] ", "#traces format = threadblock_x threadblock_y threadblock_z "
                                                    "warpid_tb [line_num] ", head)
    warps: list[tuple[str, list[str]]] = []   # (prefix, instruction lines)
    cta = None
    cur: list[str] | None = None
    for ln in body.splitlines():
        s = ln.strip()
        if s.startswith("thread block ="):
            cta = s.split("=")[1].strip().split(",")
            if int(cta[0]) >= CTAS:
                break
        elif s.startswith("warp ="):
            cur = []
            warps.append((f"{cta[0]} {cta[1]} {cta[2]} {s.split('=')[1].strip()}", cur))
        elif s.startswith(("insts =", "#END_TB", "#BEGIN_TB")) or not s:
            continue
        elif cur is not None:
            cur.append(s)
    out = [head.rstrip("\n") + "\n\n"]
    depth = max(len(w[1]) for w in warps)
    for i in range(depth):                 # round-robin over warps: interleaved as NVBit emits them
        for prefix, lines in warps:
            if i < len(lines):
                out.append(f"{prefix} {lines[i]}\n")
    DST.mkdir(exist_ok=True)
    (DST / "kernel-1.trace").write_text("".join(out))
    (DST / "kernelslist").write_text("MemcpyHtoD,0x00007f0000000000,4096\nkernel-1.trace\n")
    print(f"wrote {DST / 'kernel-1.trace'}: {CTAS} CTAs, {len(warps)} warps, {sum(len(w[1]) for w in warps)} lines")


if __name__ == "__main__":
    main()

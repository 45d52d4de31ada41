"""Write configs/cited-sources.csv: the published source behind every ``research/...`` note that a GPU
config, ISA table or model constant cites.  The research notes live in the project's shared research
folder, which a user's clone does not have; this file ships the original sources (papers, public
repositories at a commit, vendor documents) so that a resolved config names something a user can read.

Rows: ``ref`` (an ``HWnnn`` row of research/hw_ground_truth.csv, a ``gpu_specs:<GPU>`` group of rows of
research/gpu_specs.csv, or a research note's file name) and ``source``.  Run from the repository root
with the research folder at ../shared/research:  python configs/make_cited_sources.py"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESEARCH = ROOT.parent / "shared" / "research"
OUT = ROOT / "configs" / "cited-sources.csv"
SCAN = [ROOT / "configs"]   # what a resolved config shows: the config files' own citations ...
SPECS = ROOT / "gpusim" / "config" / "specs.py"   # ... and the declared sources of the defaults (--sources)

#: the research notes are digests of these public works (each note names them in its opening lines)
NOTES = {
    "research/modern-gpu-cores.md": "Huerta, Abaie Shoushtary, Cruz, Gonzalez, 'Dissecting and Modeling the Architecture "
                                    "of Modern GPU Cores' (MICRO'25, pp. 369-384, DOI 10.1145/3725843.3756041; arXiv "
                                    "2503.20481) and the released Accel-Sim configs it describes (accel-sim/"
                                    "gpgpu-sim_distribution configs/tested-cfgs)",
    "research/accel-sim-trace-format.md": "accel-sim/accel-sim-framework (dev branch, 2024-10): gpu-simulator/"
                                          "trace-parser/trace_parser.cc and gpu-simulator/trace-driven/trace_driven.cc",
    "research/sass-control-bits.md": "NVIDIA nvdisasm/cuobjdump output of nvcc 13.0 cubins; control-bit layout after "
                                     "Jia et al., 'Dissecting the NVIDIA Volta GPU Architecture via Microbenchmarking' "
                                     "(arXiv 1804.06826) and cloudcores/CuAssembler",
    "research/rdu-sn40l.md": "Prabhakar et al., 'SambaNova SN40L: Scaling the AI Memory Wall with Dataflow and "
                             "Composition of Experts' (MICRO'24; arXiv 2405.07518)",
    "research/scalesim-model.md": "SCALE-Sim v3 (PyPI scalesim 3.0.0; scalesim-project/scale-sim-v3)",
}


def cited_text() -> str:
    parts = []
    for base in SCAN:
        for p in sorted(base.rglob("*")):
            if p.suffix in (".yaml", ".yml"):
                parts.append(p.read_text(encoding="utf-8", errors="replace"))
    parts.append(SPECS.read_text(encoding="utf-8"))
    return "\n".join(parts)


def main() -> int:
    if not RESEARCH.is_dir():
        print(f"{RESEARCH}: research folder not found", file=sys.stderr)
        return 2
    text = cited_text()
    rows = [(ref, src) for ref, src in NOTES.items()]
    hw = {r["id"]: r for r in csv.DictReader(open(RESEARCH / "hw_ground_truth.csv", encoding="utf-8"))}
    for i in sorted(set(re.findall(r"\bHW\d{3}\b", text))):
        if i in hw:
            r = hw[i]
            rows.append((i, f"{r['gpu']}: {r['metric']} = {r['value']} {r['unit']}. Source: {r['source']}"))
    specs = list(csv.DictReader(open(RESEARCH / "gpu_specs.csv", encoding="utf-8")))
    for gpu in sorted({r["gpu"] for r in specs}):
        if any(gpu in line for line in text.splitlines() if "gpu_specs" in line or "specs: " in line):
            srcs = sorted({r["source"] for r in specs if r["gpu"] == gpu})
            rows.append((f"gpu_specs:{gpu}", " | ".join(srcs)))
    with open(OUT, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ref", "source"])
        w.writerows(rows)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} cited sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of gpusim's systolic-array model against SCALE-Sim 3.0.0 on Llama-2-7B layers.

    python benchmarks/systolic_speed.py                      # gpusim only (both memory models)
    python benchmarks/systolic_speed.py --scalesim .venv-scalesim/bin/python [--layers decode_qkvo]
    python benchmarks/systolic_speed.py --json out.json

SCALE-Sim needs its own virtual environment (it crashes on NumPy >= 2.4):
``python -m venv .venv-scalesim && .venv-scalesim/bin/pip install scalesim==3.0.0 'numpy<2.4'``.
Each SCALE-Sim run is a separate process (``save_disk_space=True``, no trace files), timed by
wall clock with its peak RSS; gpusim runs in this process after a warm-up (JIT compilation is
reported separately), best of three runs.  The config is one 128x128 array with the SRAM sizes of SCALE-Sim's
``configs/google.cfg`` (6144/6144/2048 kB), USER bandwidth mode, 64 words/cycle on each DRAM
port.  (With 1024 kB SRAMs SCALE-Sim's ring over-fetch reads the decode weights 32-159 times
and a single OS decode GEMV ran for over 25 minutes and 9 GB before we stopped it.)

Recorded on the project's 2-core machine (Python 3.11; SCALE-Sim 3.0.0 with NumPy 2.3.5, run
under a 16 GB address-space cap; gpusim best of 3 after warm-up).  Every COMPUTE and
DETAILED_ACCESS figure of ``--memory scalesim`` was identical to SCALE-Sim's:

==================  ==  ===========  =======  ==============  ============  ========  =========
layer (M, N, K)     df  SCALE-Sim s  its MB   gpusim scalesim  speed-up     physical  speed-up
==================  ==  ===========  =======  ==============  ============  ========  =========
decode 1,4096,4096  os  247.2        2725     0.020 s          12,400x      0.001 s   ~250,000x
decode 1,4096,4096  ws  232.2        5184     0.024 s           9,700x      0.001 s   ~230,000x
decode 1,4096,4096  is  238.3        2736     0.015 s          15,900x      0.001 s   ~240,000x
decode 1,11008,4096 os  709.4        7150     0.054 s          13,100x      0.001 s   ~700,000x
decode 1,11008,4096 is  654.9        6750     0.040 s          16,400x      0.001 s   ~650,000x
decode 1,11008,4096 ws  out of memory (16 GB)  0.065 s          -            0.001 s   -
prefill 2048,11008,4096  not runnable          0.63-0.88 s      -            0.013 s   -
==================  ==  ===========  =======  ==============  ============  ========  =========
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpusim.accel.systolic import Dataflow, gemm_layer
from gpusim.accel.systolic.config import SystolicConfig
from gpusim.accel.systolic.physical import simulate_layer_physical
from gpusim.accel.systolic.scalesim_mode import simulate_layer_scalesim

# Llama-2-7B (hidden 4096, FFN 11008; Touvron et al. 2023, arXiv:2307.09288, Table/Appendix).
LAYERS = {
    "decode_qkvo": (1, 4096, 4096),      # one token: a q/k/v/o projection (GEMV)
    "decode_ffn_up": (1, 11008, 4096),   # one token: FFN gate/up projection
    "prefill2048_ffn_up": (2048, 11008, 4096),   # 2048-token prefill FFN (SCALE-Sim cannot run it)
}
SRAM_KB = (6144, 6144, 2048)   # IFMAP, FILTER, OFMAP kB: SCALE-Sim's own configs/google.cfg sizes
PORT_BW = 64
ROWS = COLS = 128

CFG = """[general]
run_name = bench

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {kb[0]}
FilterSramSzkB: {kb[1]}
OfmapSramSzkB: {kb[2]}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : {bw}
Dataflow : {df}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""

RUNNER = textwrap.dedent("""
    import json, resource, sys, time, io, contextlib
    from scalesim.scale_sim import scalesim
    cfg, topo, lay, out = sys.argv[1:5]
    t = time.time()
    with contextlib.redirect_stdout(io.StringIO()):
        s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=lay, input_type_gemm=True)
        s.run_scale(top_path=out)
    wall = time.time() - t
    lo = s.runner.single_layer_sim_object_list[0]
    print(json.dumps({"wall_s": wall, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "compute": [float(x) for x in lo.get_compute_report_items()],
                      "detail": [float(x) for x in lo.get_detail_report_items()]}))
""")


def config(df: str) -> SystolicConfig:
    wi, wf, wo = (kb * 1024 for kb in SRAM_KB)
    return SystolicConfig(name="bench", source="benchmarks/systolic_speed.py", rows=ROWS, cols=COLS,
                          dataflow=Dataflow(df), ifmap_sram_words=wi, filter_sram_words=wf, ofmap_sram_words=wo,
                          interface_mode="USER", ifmap_dram_bw_words=PORT_BW, filter_dram_bw_words=PORT_BW,
                          ofmap_dram_bw_words=PORT_BW, dram_bw_words_per_cycle=float(PORT_BW))


def run_scalesim(python: str, df: str, m: int, n: int, k: int, timeout: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)
        (p / "c.cfg").write_text(CFG.format(rows=ROWS, cols=COLS, kb=SRAM_KB, bw=PORT_BW, df=df))
        (p / "t.csv").write_text(f"Layer, M, N, K,\nl, {m}, {n}, {k},\n")
        (p / "l.csv").write_text("Layer name,\n")
        (p / "r.py").write_text(RUNNER)
        try:
            r = subprocess.run([python, str(p / "r.py"), str(p / "c.cfg"), str(p / "t.csv"), str(p / "l.csv"),
                                str(p / "out")], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {timeout} s"}
        if r.returncode != 0:
            return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
        return json.loads(r.stdout.strip().splitlines()[-1])


def timed(fn, *args, repeat: int = 3):
    """Result and best wall time of ``repeat`` calls (gpusim is deterministic)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scalesim", metavar="PYTHON", help="python of a venv with scalesim==3.0.0 installed")
    ap.add_argument("--layers", nargs="*", default=list(LAYERS), choices=list(LAYERS))
    ap.add_argument("--dataflows", nargs="*", default=["os", "ws", "is"], choices=["os", "ws", "is"])
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per SCALE-Sim run")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    warm = gemm_layer("warm", 8, 8, 8)
    for df in ("os", "ws", "is"):
        simulate_layer_scalesim(warm, config(df))
        simulate_layer_physical(warm, config(df))
    print(f"JIT warm-up (compile or load from cache): {time.perf_counter() - t0:.1f} s")
    rows = []
    for name in a.layers:
        m, n, k = LAYERS[name]
        layer = gemm_layer(name, m, n, k)
        for df in a.dataflows:
            cfg = config(df)
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            res, t_ss = timed(simulate_layer_scalesim, layer, cfg)
            phys, t_ph = timed(simulate_layer_physical, layer, cfg)
            row = {"layer": name, "M": m, "N": n, "K": k, "dataflow": df, "gpusim_scalesim_s": t_ss,
                   "gpusim_physical_s": t_ph, "gpusim_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "gpusim_rss_grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024,
                   "scalesim_mode_total_cycles": res.total_cycles, "scalesim_mode_stall_cycles": res.stall_cycles,
                   "physical_total_cycles": phys.total_cycles_incl_prefetch}
            line = (f"{name:>20} {df}  gpusim scalesim-mode {t_ss:7.3f} s  physical {t_ph:6.3f} s  "
                    f"total cycles {res.total_cycles:,} (physical {phys.total_cycles_incl_prefetch:,})")
            if a.scalesim and name != "prefill2048_ffn_up":
                ref = run_scalesim(a.scalesim, df, m, n, k, a.timeout)
                row["scalesim"] = ref
                if "error" in ref:
                    line += f"  SCALE-Sim: {ref['error']}"
                else:
                    tc = ref["compute"][1]
                    row["speedup_scalesim_mode"] = ref["wall_s"] / t_ss
                    row["speedup_physical"] = ref["wall_s"] / t_ph
                    row["total_cycles_rel_err"] = abs(res.total_cycles - tc) / tc
                    line += (f"\n{'':>23}SCALE-Sim {ref['wall_s']:8.1f} s {ref['rss_mb']:7.0f} MB  total cycles {tc:,.0f}"
                             f"  -> speed-up {row['speedup_scalesim_mode']:,.0f}x (scalesim mode), "
                             f"{row['speedup_physical']:,.0f}x (physical); cycles differ by {row['total_cycles_rel_err']:.2e}")
            print(line, flush=True)
            rows.append(row)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

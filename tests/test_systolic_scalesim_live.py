"""SCALE-Sim 3.0.0 itself against gpusim, on fresh random small layers (marked slow).

Runs only where SCALE-Sim is installed in its own venv (it crashes on NumPy >= 2.4):
``python -m venv .venv-scalesim && .venv-scalesim/bin/pip install scalesim==3.0.0 'numpy<2.4'``, or
point ``GPUSIM_SCALESIM_PYTHON`` at such a python.  ``python -m pytest -m slow
tests/test_systolic_scalesim_live.py``.  Compares every figure of the three reports: the exact
compute model and the ``--memory scalesim`` totals (which agree exactly, not just within 1%).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import textwrap
from pathlib import Path

import pytest

from gpusim.accel.systolic import load_systolic_config, read_topology
from gpusim.accel.systolic.api import simulate

PY = os.environ.get("GPUSIM_SCALESIM_PYTHON",
                    os.path.join(os.path.dirname(__file__), "..", ".venv-scalesim", "bin", "python"))

pytestmark = pytest.mark.slow

RUNNER = textwrap.dedent("""
    import json, sys, io, contextlib
    from scalesim.scale_sim import scalesim
    cfg, topo, lay, out, gemm = sys.argv[1:6]
    with contextlib.redirect_stdout(io.StringIO()):
        s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=lay, input_type_gemm=gemm == "1")
        s.run_scale(top_path=out)
    print(json.dumps([[float(x) for x in lo.get_compute_report_items() + lo.get_bandwidth_report_items()
                       + lo.get_detail_report_items()] for lo in s.runner.single_layer_sim_object_list]))
""")


def _have_scalesim() -> bool:
    if not Path(PY).is_file():
        return False
    r = subprocess.run([PY, "-c", "import scalesim.scale_sim"], capture_output=True)
    return r.returncode == 0


@pytest.fixture(scope="module")
def scalesim_python():
    if not _have_scalesim():
        pytest.skip(f"SCALE-Sim not installed at {PY} (set GPUSIM_SCALESIM_PYTHON)")
    return PY


def _case(rnd: random.Random, df: str, mode: str, gemm: bool):
    base = (Path(__file__).parent / "data" / "scalesim" / "configs" / "os_user.cfg").read_text()
    R, C = rnd.choice([3, 4, 8, 12, 16]), rnd.choice([4, 6, 8, 16])
    text = (base.replace("ArrayHeight:    8", f"ArrayHeight: {R}").replace("ArrayWidth:     8", f"ArrayWidth: {C}")
            .replace("Dataflow : os", f"Dataflow : {df}").replace("InterfaceBandwidth: USER", f"InterfaceBandwidth: {mode}")
            .replace("IfmapSramSzkB:   1", f"IfmapSramSzkB: {rnd.randint(1, 3)}")
            .replace("FilterSramSzkB:  2", f"FilterSramSzkB: {rnd.randint(1, 3)}")
            .replace("IfmapSRAMBankBandwidth: 10", f"IfmapSRAMBankBandwidth: {rnd.randint(1, 32)}")
            .replace("FilterSRAMBankBandwidth: 16", f"FilterSRAMBankBandwidth: {rnd.randint(1, 32)}")
            .replace("Bandwidth : 10", f"Bandwidth : {rnd.randint(1, 16)}"))
    if gemm:
        rows = [f"g{i}, {rnd.randint(1, 90)}, {rnd.randint(1, 90)}, {rnd.randint(1, 90)}," for i in range(2)]
        topo = "Layer, M, N, K,\n" + "\n".join(rows) + "\n"
    else:
        rows = []
        for i in range(2):
            r_, s_ = rnd.randint(1, 4), rnd.randint(1, 4)
            rows.append(f"c{i}, {rnd.randint(r_, 14)}, {rnd.randint(s_, 14)}, {r_}, {s_}, {rnd.randint(1, 6)}, "
                        f"{rnd.randint(1, 24)}, {rnd.randint(1, 3)},")
        topo = "Layer name, H, W, R, S, C, N, Stride,\n" + "\n".join(rows) + "\n"
    return text, topo


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("mode", ["USER", "CALC"])
@pytest.mark.parametrize("gemm", [True, False], ids=["gemm", "conv"])
def test_against_scalesim(scalesim_python, tmp_path, df, mode, gemm):
    """Every report figure equals SCALE-Sim's (floats to 1e-12) on 3 random configs x 2 layers."""
    rnd = random.Random(hash((df, mode, gemm)) & 0xFFFF)
    for trial in range(3):
        cfg_text, topo_text = _case(rnd, df, mode, gemm)
        d = tmp_path / f"t{trial}"
        d.mkdir()
        (d / "c.cfg").write_text(cfg_text)
        (d / "t.csv").write_text(topo_text)
        (d / "l.csv").write_text("Layer name,\n")
        (d / "r.py").write_text(RUNNER)
        r = subprocess.run([scalesim_python, str(d / "r.py"), str(d / "c.cfg"), str(d / "t.csv"), str(d / "l.csv"),
                            str(d / "out"), "1" if gemm else "0"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        ref = json.loads(r.stdout.strip().splitlines()[-1])
        cfg = load_systolic_config(d / "c.cfg")
        ours = simulate(cfg, read_topology(d / "t.csv", "gemm" if gemm else "conv"), memory="scalesim")
        assert len(ours) == len(ref)
        for o, s in zip(ours, ref):
            got = [float(x) for x in o.compute_items() + o.bandwidth_items() + o.detail_items()]
            for i, (a, b) in enumerate(zip(got, s)):
                assert a == pytest.approx(b, rel=1e-12, abs=1e-12), (cfg_text, topo_text, i, got, s)

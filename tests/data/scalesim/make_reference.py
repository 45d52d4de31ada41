"""Regenerate the SCALE-Sim 3.0.0 reference reports in this folder (run with SCALE-Sim's own venv).

    python -m venv .venv-scalesim && .venv-scalesim/bin/pip install scalesim==3.0.0 'numpy<2.4'
    .venv-scalesim/bin/python tests/data/scalesim/make_reference.py

For every config in configs/ (one per dataflow and InterfaceBandwidth mode) and topology in
topologies/ it runs SCALE-Sim through its Python API (``save_disk_space=True``: no trace files)
and copies COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv to
``<config>__<topology>/``.  The recorded files were made with scalesim 3.0.0 and numpy 2.3.5
(SCALE-Sim crashes with numpy >= 2.4, research/scalesim-model.md §8).  tests/test_systolic_reference.py
compares gpusim's reports with them byte for byte.
"""

import contextlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

from scalesim.scale_sim import scalesim

HERE = Path(__file__).resolve().parent
REPORTS = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")


def main() -> int:
    import importlib.metadata as md

    import numpy

    print(f"scalesim {md.version('scalesim')}, numpy {numpy.__version__}", file=sys.stderr)
    for cfg in sorted((HERE / "configs").glob("*.cfg")):
        for topo in sorted((HERE / "topologies").glob("*.csv")):
            case = f"{cfg.stem}__{topo.stem}"
            with tempfile.TemporaryDirectory() as d:
                layout = Path(d) / "layout.csv"     # SCALE-Sim needs a layout file even without layouts
                layout.write_text("Layer name,\n")
                with contextlib.redirect_stdout(io.StringIO()):
                    s = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                                 layout=str(layout), input_type_gemm=topo.stem.startswith("gemm"))
                    s.run_scale(top_path=d)
                out = HERE / case
                out.mkdir(exist_ok=True)
                for name in REPORTS:
                    shutil.copyfile(Path(d) / s.config.get_run_name() / name, out / name)
            print(case, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

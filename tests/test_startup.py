"""Fast start-up (issues 18 and 19, "fast first run"): what a warm ``gpusim run`` does before its first
simulated cycle.  The timings themselves are in ``benchmarks/startup.py``; these tests guard the
mechanisms (which modules a command imports), so they do not depend on the machine's load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from gpusim._numba_start import FULL_REFRESH_ENV

REPO = Path(__file__).resolve().parent.parent


def _python(code: str, **env_extra: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), **env_extra)
    env.pop(FULL_REFRESH_ENV, None) if not env_extra else None
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


_WARM_RUN = """
import json, sys, tempfile
from pathlib import Path
from gpusim import api
rep = api.simulate("traces/examples/vecadd-sm86", "rtx3070")
with tempfile.TemporaryDirectory() as d:
    rep.write_json(Path(d) / "r.json")
    report = json.loads((Path(d) / "r.json").read_text())
report.pop("sim", None)
print(json.dumps({"report": report, "modules": sorted(m for m in ("numba.np.arraymath", "scipy.linalg")
                                                     if m in sys.modules)}))
"""


def test_a_warm_run_loads_the_core_without_numbas_full_start_up():
    """Loading cached machine code needs none of Numba's ~75 implementation modules (only compiling
    does), nor the scipy.linalg they pull in: gpusim._numba_start loads gpusim's cached functions without
    that "refresh", and the report is the same as with Numba's own loading (GPUSIM_NUMBA_FULL_REFRESH=1).
    Break: drop the ``_numba_start.install()`` line from gpusim/__init__.py and numba.np.arraymath and
    scipy.linalg show up."""
    _python(_WARM_RUN)  # compiles the core if this tree's cache is still empty
    fast = _python(_WARM_RUN)
    full = _python(_WARM_RUN, **{FULL_REFRESH_ENV: "1"})
    assert fast["modules"] == []
    assert full["modules"] == ["numba.np.arraymath"]  # the full refresh, with the BLAS probe deferred
    assert fast["report"] == full["report"] and fast["report"]["total_cycles"] > 0


def test_the_light_loading_holds_when_numba_was_imported_before_gpusim():
    """A notebook often imports numba (or a library using it) before gpusim: the caching module is then
    patched at ``import gpusim`` instead of by the import hook.  Break: make ``install()`` skip modules
    already in sys.modules and numba.np.arraymath shows up."""
    r = _python("import numba\n" + _WARM_RUN)
    assert r["modules"] == [] and r["report"]["total_cycles"] > 0


def test_numbas_blas_probe_asks_whether_scipy_is_installed_without_importing_it():
    """numba.np.arraymath's BLAS probe imported scipy.linalg (0.1-0.2 s) whenever Numba compiles or loads
    a function that is not gpusim's; gpusim._numba_start lets it ask whether scipy.linalg is installed
    instead, and ``_HAVE_BLAS`` must come out as without the hook.  Break: make ``installed()`` return
    without looking and a machine without scipy gets ``_HAVE_BLAS`` True; drop the hook and
    scipy.linalg is imported."""
    r = _python("""
import importlib.util, json, sys
import gpusim
import numba.np.linalg, numba.np.arraymath as m
try:
    installed = importlib.util.find_spec("scipy.linalg") is not None
except ImportError:
    installed = False
print(json.dumps({"linalg": "scipy.linalg" in sys.modules, "have_blas": m._HAVE_BLAS, "installed": installed}))
""")
    assert not r["linalg"]
    assert r["have_blas"] == r["installed"]


def test_numba_linear_algebra_still_finds_scipy_after_the_probe():
    """The deferred probe must not take BLAS away from other jitted code in the same process: np.dot in
    a fresh njit function imports scipy's BLAS on first use and gives the right answer.  Break: make
    ``installed()`` in gpusim/_numba_start.py raise ImportError and np.vdot/np.dot lose BLAS (np.dot of
    floats then fails to compile)."""
    r = _python("""
import json, sys
import numpy as np
import gpusim, numba
import numba.np.arraymath as m
@numba.njit
def f(a, b):
    return np.dot(a, b)
print(json.dumps({"dot": f(np.arange(4.0), np.arange(4.0)), "have_blas": m._HAVE_BLAS,
                  "linalg": "scipy.linalg" in sys.modules}))
""")
    assert r["dot"] == 14.0 and r["have_blas"] and r["linalg"]


def test_help_and_config_commands_never_import_numba():
    """``gpusim --help`` and ``gpusim config list`` answer without the simulator: importing Numba alone
    costs 0.2-0.5 s on the development machine.  Break: import gpusim.api at the top of a command module
    (gpusim/cli/run.py) and numba shows up."""
    r = _python("""
import contextlib, io, json, sys
from gpusim.cli import main
out = {}
for argv in (["--help"], ["config", "list"], ["run", "--help"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(argv)
    out[" ".join(argv)] = sorted(m for m in ("numba", "numpy", "gpusim.api", "gpusim.core") if m in sys.modules)
print(json.dumps(out))
""")
    assert r == {"--help": [], "config list": [], "run --help": []}


def test_the_isa_tables_read_the_same_with_the_c_yaml_loader():
    """gpusim.frontend.opcodes reads isa/*.yaml with PyYAML's C loader where available (a warm run maps
    the trace's binary version through all of them): it must give the very objects the pure-Python
    SafeLoader gives.  Break: read with yaml.BaseLoader (strings only) and the comparison fails."""
    from gpusim.frontend import opcodes

    files = sorted((REPO / "isa").glob("*.yaml"))
    assert len(files) >= 7
    for f in files:
        text = f.read_text()
        assert repr(yaml.load(text, Loader=opcodes._YAML_LOADER)) == repr(yaml.load(text, Loader=yaml.SafeLoader)), f

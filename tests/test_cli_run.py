"""`gpusim run` end to end on the bundled trace: report contract, determinism, idle skipping,
occupancy, and one-line errors for bad configs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gpusim import api, assemble
from gpusim.config import load_config
from gpusim.frontend.workload import open_workload

VECADD = "traces/examples/vecadd-sm86"


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpusim", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def vecadd_run(repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    r = run_cli("run", VECADD, "--gpu", "rtx3070", "-o", str(out), cwd=repo_root)
    assert r.returncode == 0, r.stderr
    return r, out


def test_run_writes_report_and_resolved_config(vecadd_run):
    r, out = vecadd_run
    rep = json.loads((out / "report.json").read_text())
    for key in ("total_cycles", "kernels", "sim", "gpusim_version"):
        assert key in rep
    k = rep["kernels"][0]
    for key in ("name", "cycles", "warp_instructions", "thread_instructions", "ipc", "stall_reasons"):
        assert key in k
    assert k["name"] == "vecadd"
    assert k["warp_instructions"] == 32748          # every traced line, zero masks included
    assert k["thread_instructions"] == 982320
    assert rep["total_cycles"] == k["cycles"] + k["launch_latency_cycles"]
    assert set(rep["sim"]) == {"wall_seconds", "jit_seconds", "simulated_cycles_per_second",
                               "warp_instructions_per_second", "threads"}
    assert k["control_bits"]["matched"] == 16        # kernel-1.sass beside the trace joins by PC
    assert (out / "config.resolved.yaml").read_text().strip()
    assert "cycles" in r.stdout and "report.json" in r.stdout


def test_resolved_config_loads_back_to_the_same_config(vecadd_run):
    _, out = vecadd_run
    assert load_config(str(out / "config.resolved.yaml")) == load_config("rtx3070")


def test_streaming_kernel_is_no_faster_than_dram_bandwidth(repo_root):
    # vecadd reads 8 B per element from DRAM (its stores stay in the write-back L2):
    # cycles >= bytes / (bytes per cycle)
    cfg = load_config("rtx3070")
    rep = api.simulate(repo_root / VECADD, cfg)
    k = rep.kernels[0]
    bytes_per_cycle = cfg.memory.dram_bandwidth_bytes_per_s / cfg.sm.clock_hz
    assert k.memory["dram_bytes_read"] == 8 * (65536 - 80)
    assert k.cycles >= k.memory["dram_bytes_read"] / bytes_per_cycle
    assert k.cycles <= 1.6 * k.memory["dram_bytes_read"] / bytes_per_cycle + cfg.memory.dram_latency_cycles


def test_same_inputs_give_an_identical_report(repo_root):
    a = api.simulate(repo_root / VECADD, "rtx-a6000").to_dict()
    b = api.simulate(repo_root / VECADD, "rtx-a6000").to_dict()
    a.pop("sim"), b.pop("sim")
    assert a == b


@pytest.mark.parametrize("mode", ["control_bits", "scoreboard"])
def test_idle_cycle_skipping_leaves_every_counter_identical(repo_root, mode):
    from gpusim.core import sm as core

    cfg = load_config("rtx3070", [f"subcore.dependence_mode={mode}"])
    wl = open_workload(repo_root / VECADD)
    kt = wl.load(wl.kernels[0])
    _, fn = api.join_control_bits(kt, api.find_listing(wl.kernels[0].path, None))
    r1 = assemble.pack(cfg, kt, fn, idle_skip=True)
    s1, c1, k1 = assemble.run(r1, kt)
    r0 = assemble.pack(cfg, kt, fn, idle_skip=False)
    s0, c0, k0 = assemble.run(r0, kt)
    assert k1[core.C_SKIPPED] > k0[core.C_SKIPPED]  # (the drain after the last warp counts in both)
    k1[core.C_SKIPPED] = k0[core.C_SKIPPED] = 0
    assert (s1, c1) == (s0, c0)
    assert np.array_equal(k1, k0)
    assert np.array_equal(r1.pc_stats, r0.pc_stats)


def test_dependent_chain_waits_for_producer_latency(tmp_path):
    # first-order scoreboard: N dependent FFMAs on one warp take N x (fp32 latency + read offset)
    from tests.test_trace_reader import make_trace

    cfg = load_config("rtx3070")
    lat = cfg.pipes.fp32.latency_cycles + assemble.FIXED_LATENCY_READ_OFFSET
    cyc = {}
    for n in (16, 48):
        lines = [f"{16 * i:04x} ffffffff 1 R2 FFMA 3 R2 R4 R2 0 0" for i in range(n)]
        lines.append(f"{16 * n:04x} ffffffff 0 EXIT 0 0 0")
        p = tmp_path / f"k{n}.traceg"
        p.write_text(make_trace([lines]))
        cyc[n] = api.simulate(p, cfg).kernels[0].cycles
    assert (cyc[48] - cyc[16]) == 32 * lat


def test_occupancy_limited_by_registers_gives_fewer_resident_ctas(tmp_path):
    from tests.test_trace_reader import make_trace

    cfg = load_config("rtx3070")
    t = make_trace([["0000 ffffffff 0 EXIT 0 0 0"]] * 8)           # 256 threads per CTA
    p = tmp_path / "k.traceg"
    occ = {}
    for regs in (32, 128, 255):
        p.write_text(t.replace("-nregs = 16", f"-nregs = {regs}"))
        wl = open_workload(p)
        kt = wl.load(wl.kernels[0])
        o = assemble.occupancy(cfg, kt)
        occ[regs] = (o.ctas_per_sm, o.limiter)
    assert occ[32] == (6, "warps")                                   # 48 warps / 8
    assert occ[128] == (2, "registers")                              # 65536 / (128*32*8)
    assert occ[255] == (1, "registers")                              # 256 regs/thread after rounding


def test_bad_config_key_is_one_line_error_with_key_path(repo_root, tmp_path):
    r = run_cli("run", VECADD, "--gpu", "rtx3070", "--set", "sm.cont=40", "-o", str(tmp_path), cwd=repo_root)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "sm.cont" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bad_unit_is_one_line_error(repo_root, tmp_path):
    r = run_cli("run", VECADD, "--gpu", "rtx3070", "--set", "sm.clock=1.5 GHzz", "-o", str(tmp_path), cwd=repo_root)
    assert r.returncode == 2 and "sm.clock" in r.stderr and "Traceback" not in r.stderr


def test_unknown_gpu_name_suggests_close_matches(repo_root, tmp_path):
    r = run_cli("run", VECADD, "--gpu", "rtx307", "-o", str(tmp_path), cwd=repo_root)
    assert r.returncode == 2 and "rtx3070" in r.stderr


def test_config_show_and_check(repo_root):
    r = run_cli("config", "show", "rtx-a6000", cwd=repo_root)
    assert r.returncode == 0 and "count: 84" in r.stdout
    r = run_cli("config", "check", "configs/gpus/rtx3070.yaml", cwd=repo_root)
    assert r.returncode == 0 and "ok" in r.stdout


def test_command_modules_never_import_the_cli_package_back():
    """One module per command group registered by gpusim.cli.COMMANDS; a command module may use
    gpusim.cli.common but never `gpusim.cli` itself (cli.py <-> cli_*.py formed an import circle).
    Break: add `from gpusim.cli import main` to gpusim/cli/llm.py and this fails."""
    import ast
    import importlib
    from pathlib import Path

    import gpusim.cli as C

    folder = Path(C.__file__).parent
    for name in C.COMMANDS:
        mod = importlib.import_module(f"gpusim.cli.{name}")
        assert callable(getattr(mod, "register", None)), f"gpusim.cli.{name} has no register(sub)"
    for f in folder.glob("*.py"):
        if f.name in ("__init__.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "gpusim.cli":
                raise AssertionError(f"{f.name} imports gpusim.cli back: {ast.unparse(node)}")
            if isinstance(node, ast.Import) and any(a.name == "gpusim.cli" for a in node.names):
                raise AssertionError(f"{f.name} imports gpusim.cli back")

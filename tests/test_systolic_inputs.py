"""Inputs and the CLI of the systolic model: SCALE-Sim .cfg and topology CSVs read as SCALE-Sim
reads them, YAML presets with units, and one-line errors (exit status 2) for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gpusim.accel.systolic import Dataflow, load_systolic_config, read_topology
from gpusim.accel.systolic.topology import TopologyError
from gpusim.errors import ConfigError

DATA = Path(__file__).resolve().parent / "data" / "scalesim"
GOOD_CFG = (DATA / "configs" / "ws_user.cfg").read_text()


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpusim", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------------------------------------
# SCALE-Sim .cfg


def test_cfg_units_are_scalesim_words():
    """SCALE-Sim: 1 kB = 1024 one-byte words; USER-mode IFMAP/FILTER DRAM bandwidths come from
    [layout] *SRAMBankBandwidth, the OFMAP one from Bandwidth (research §3.1, quirk 7)."""
    cfg = load_systolic_config(DATA / "configs" / "ws_user.cfg")
    assert (cfg.rows, cfg.cols, cfg.dataflow) == (8, 8, Dataflow.WS)
    assert (cfg.ifmap_sram_words, cfg.filter_sram_words, cfg.ofmap_sram_words) == (1024, 2048, 1024)
    assert (cfg.ifmap_dram_bw_words, cfg.filter_dram_bw_words, cfg.ofmap_dram_bw_words) == (10, 16, 10)
    assert cfg.interface_mode == "USER" and cfg.word_bytes == 1


def test_cfg_keys_case_insensitive_and_ignored_extras(tmp_path):
    """configparser semantics: keys case-insensitive; keys SCALE-Sim ignores (MemoryBanks) are ignored."""
    text = GOOD_CFG.replace("ArrayHeight:    8", "arrayheight = 16").replace("[layout]", "MemoryBanks: 1\n\n[layout]")
    cfg = load_systolic_config(_write(tmp_path, "a.cfg", text))
    assert cfg.rows == 16


@pytest.mark.parametrize("edit, needle", [
    (("ArrayWidth:     8", "ArrayWidht: 8"), "did you mean '[architecture_presets] ArrayWidth'"),
    (("Dataflow : ws", "Dataflow : wss"), "did you mean 'ws'"),
    (("ArrayHeight:    8", "ArrayHeight: eight"), "expected an integer"),
    (("SparsitySupport : false", "SparsitySupport : true"), "sparsity is not modelled"),
    (("IfmapSRAMBankBandwidth: 10", "IfmapSRAMBankBandwidt: 10"), "IFMAP/FILTER DRAM read bandwidth"),
    (("ArrayWidth:     8", "ArrayWidth: 8\nArrayWidth: 9"), "duplicate key"),
    (("InterfaceBandwidth: USER", "InterfaceBandwidth: FAST"), "expected USER or CALC"),
])
def test_cfg_errors_name_the_key(tmp_path, edit, needle):
    """Bad .cfg input: one ConfigError naming the file, the key and a suggestion."""
    p = _write(tmp_path, "bad.cfg", GOOD_CFG.replace(*edit))
    with pytest.raises(ConfigError) as e:
        load_systolic_config(p)
    assert needle in str(e.value)
    assert "bad.cfg" in str(e.value)


# ---------------------------------------------------------------------------------------------
# Topologies


def test_topology_forms():
    """GEMM rows map to the conv layer H=M, W=K, R=1, S=K, C=1 (research §3.2); DP layers expand
    per channel; SCALE-Sim's ceil((H-R+s)/s) output size is kept."""
    g = read_topology(DATA / "topologies" / "gemm.csv")
    assert [(x.M, x.N, x.K) for x in g] == [(20, 30, 40), (64, 17, 33), (1, 50, 70), (100, 9, 12)]
    c = read_topology(DATA / "topologies" / "conv.csv")
    assert [x.name for x in c] == ["conv_s1", "conv_s2_edge", "pw_1x1", "DP_convChannel_0", "DP_convChannel_1"]
    assert (c[1].ofmap_h, c[1].ofmap_w) == (5, 4)         # ceil((10-3+2)/2) = 5, ceil((9-3+2)/2) = 4
    assert c[0].K == 36 and c[3].K == 9


def test_topology_trailing_comma_optional_and_batch_column(tmp_path):
    """Rows without SCALE-Sim's trailing comma are read whole; a 'Batch' header column batches GEMMs."""
    p = _write(tmp_path, "b.csv", "Layer, M, N, K, Batch\nqk, 128, 128, 128, 32\nav, 128, 128, 128\n")
    ls = read_topology(p)
    assert [(x.M, x.N, x.K, x.batch) for x in ls] == [(128, 128, 128, 32), (128, 128, 128, 1)]


@pytest.mark.parametrize("text, needle", [
    ("Layer, M, N, K,\ng, 1, x, 3,\n", ":2: N must be an integer"),
    ("Layer, M, N, K,\ng, 1, 2,\n", ":2: a GEMM row needs name, M, N, K"),
    ("Layer, M, N, K,\ng, 0, 2, 3,\n", ":2: M must be >= 1"),
    ("a,b,c,d,e,f,g,h,\nc1, 3, 3, 5, 1, 1, 1, 1,\n", ":2: Filter height 5 is larger than IFMAP height 3"),
    ("Layer, M, N, K,\n", ":1: no layers"),
])
def test_topology_errors_name_file_and_line(tmp_path, text, needle):
    p = _write(tmp_path, "t.csv", text)
    with pytest.raises(TopologyError) as e:
        read_topology(p)
    assert needle in str(e.value)


# ---------------------------------------------------------------------------------------------
# YAML presets


def test_yaml_unknown_key_and_bad_unit(tmp_path):
    """Presets follow the config rules: unknown key -> did-you-mean, values need units."""
    base = Path(__file__).resolve().parents[1] / "configs" / "accel" / "tpu-v4.yaml"
    text = base.read_text()
    with pytest.raises(ConfigError, match=r"array.colls: unknown key 'colls'; did you mean 'array.cols'"):
        load_systolic_config(_write(tmp_path, "a.yaml", text.replace("  cols: 128", "  colls: 128")))
    with pytest.raises(ConfigError, match=r"dram.bandwidth: .*unknown unit 'GBs'"):
        load_systolic_config(_write(tmp_path, "b.yaml", text.replace("1200 GB/s", "1200 GBs")))
    with pytest.raises(ConfigError, match="did you mean 'tpu-v4'"):
        load_systolic_config("tpu-v3")
    cfg = load_systolic_config("tpu-v4", ["sram.filter=16 MiB", "array.count=4"])
    assert cfg.filter_sram_words == 8 * 1024 * 1024 and cfg.arrays == 4


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_writes_scalesim_reports(tmp_path, repo_root):
    """`gpusim systolic` writes SCALE-Sim's three CSVs; --memory scalesim matches the recording."""
    out = tmp_path / "o"
    r = run_cli("systolic", "--config", str(DATA / "configs" / "os_user.cfg"), "--topology",
                str(DATA / "topologies" / "gemm.csv"), "--memory", "scalesim", "-o", str(out), cwd=repo_root)
    assert r.returncode == 0, r.stderr
    for name in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
        assert (out / name).read_text() == (DATA / "os_user__gemm" / name).read_text()
    assert (out / "systolic_summary.json").is_file()
    r = run_cli("systolic", "--config", "tpu-v4", "--topology", str(DATA / "topologies" / "conv.csv"),
                "-o", str(tmp_path / "p"), cwd=repo_root)
    assert r.returncode == 0, r.stderr
    assert "memory model physical" in r.stdout
    lines = (tmp_path / "p" / "COMPUTE_REPORT.csv").read_text().splitlines()
    assert lines[0].startswith("LayerID, Total Cycles (incl. prefetch)") and len(lines) == 6


@pytest.mark.parametrize("args, needle", [
    (("--config", "nope.cfg"), "no such file"),
    (("--config", "tpu-v5"), "no systolic preset named 'tpu-v5'"),
    (("--topology", "missing.csv"), "cannot read"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, repo_root, args, needle):
    base = {"--config": str(DATA / "configs" / "os_user.cfg"), "--topology": str(DATA / "topologies" / "gemm.csv")}
    base.update(dict(zip(args[::2], args[1::2])))
    r = run_cli("systolic", *[x for kv in base.items() for x in kv], "-o", str(tmp_path / "o"), cwd=repo_root)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr

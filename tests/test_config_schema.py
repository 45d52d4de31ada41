"""One config schema (gpusim/config/schema.py): GPU, systolic, RDU and model presets are declared as
schema Fields and read by one loader, so a bad preset of any kind gives the same one-line error
``file:line: key.path: message`` (with a did-you-mean for unknown keys), and ``--set`` overrides are
checked by the same rules as the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpusim.accel.rdu import config as rdu
from gpusim.accel.systolic import config as systolic
from gpusim.config import loader as gpu
from gpusim.config.schema import MISSING, Field, Schema, apply_set, convert, flatten, resolve
from gpusim.errors import ConfigError
from gpusim.llm import model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _copy(tmp_path: Path, src: Path, old: str, new: str) -> tuple[Path, int]:
    """``src`` with the first line containing ``old`` replaced by ``new``; returns the file and that line."""
    lines = src.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if old in line)
    lines[i] = lines[i].replace(old, new)
    if any(x.startswith("extends:") for x in lines):
        lines = [f"extends: {(src.parent / x.split(':', 1)[1].strip()).resolve()}" if x.startswith("extends:") else x
                 for x in lines]
    p = tmp_path / f"bad-{src.name}"
    p.write_text("\n".join(lines) + "\n")
    return p, i + 1


# kind -> (loader, preset file, a line fragment to edit)
KINDS = {
    "systolic": (systolic.load_systolic_config, CONFIGS / "accel" / "tpu-v4.yaml"),
    "rdu": (rdu.load_rdu_config, CONFIGS / "accel" / "rdu" / "plasticine.yaml"),
    "model": (model.load_model, CONFIGS / "models" / "llama-2-7b.yaml"),
    "gpu": (gpu.load_config, CONFIGS / "gpus" / "rtx-a6000.yaml"),
}


def _error(kind: str, tmp_path: Path, old: str, new: str) -> tuple[str, Path, int]:
    load, src = KINDS[kind]
    p, line = _copy(tmp_path, src, old, new)
    with pytest.raises(ConfigError) as e:
        load(p)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1, msg
    return msg, p, line


def _assert_located(msg: str, p: Path, line: int, key_path: str) -> None:
    assert msg.startswith(f"{p.name}:{line}: {key_path}: ") or re.search(
        rf"{re.escape(p.name)}:{line}: {re.escape(key_path)}: ", msg), msg


def test_unknown_key_in_systolic_preset_names_file_line_and_suggestion(tmp_path):
    msg, p, line = _error("systolic", tmp_path, "  cols: 128", "  colls: 128")
    _assert_located(msg, p, line, "array.colls")
    assert "unknown key 'colls'; did you mean 'array.cols'?" in msg


def test_unknown_key_in_rdu_preset_names_file_line_and_suggestion(tmp_path):
    msg, p, line = _error("rdu", tmp_path, "  lanes: {value: 16", "  lanse: {value: 16")
    _assert_located(msg, p, line, "pcu.lanse")
    assert "unknown key 'lanse'; did you mean 'pcu.lanes'?" in msg


def test_unknown_key_in_model_preset_names_file_line_and_suggestion(tmp_path):
    msg, p, line = _error("model", tmp_path, "kv_heads:", "kv_head:")
    _assert_located(msg, p, line, "kv_head")
    assert "unknown key 'kv_head'; did you mean 'kv_heads'?" in msg


def test_unknown_key_in_gpu_config_names_file_line_and_suggestion(tmp_path):
    msg, p, line = _error("gpu", tmp_path, "  count: 84", "  cont: 84")
    _assert_located(msg, p, line, "sm.cont")
    assert "unknown key 'cont'; did you mean 'sm.count'?" in msg


def test_key_in_the_wrong_section_suggests_its_full_path_in_every_kind(tmp_path):
    """A key written at the top level that lives in a section: the suggestion is the full key path."""
    msg, _, _ = _error("systolic", tmp_path, "clock: 1050 MHz", "rows: 128\nclock: 1050 MHz")
    assert "did you mean 'array.rows'?" in msg
    msg, _, _ = _error("rdu", tmp_path, "clock: {value: 1 GHz", "fifo_depth: 4\nclock: {value: 1 GHz")
    assert "did you mean 'network.fifo_depth'?" in msg


@pytest.mark.parametrize("kind, old, new, key_path, fragment", [
    ("systolic", "  count: 8 ", "  count: 0 ", "array.count", "must be >= 1, got 0"),
    ("rdu", "  efficiency: {value: 0.85", "  efficiency: {value: 1.5", "hbm.efficiency", "must be <= 1, got 1.5"),
    ("model", "layers: 32", "layers: 0", "layers", "must be >= 1, got 0"),
    ("gpu", "  count: 84", "  count: -3", "sm.count", "must be >= 1, got -3"),
])
def test_out_of_bounds_value_names_file_line_and_bound(tmp_path, kind, old, new, key_path, fragment):
    msg, p, line = _error(kind, tmp_path, old, new)
    _assert_located(msg, p, line, key_path)
    assert fragment in msg


@pytest.mark.parametrize("kind, old, new, key_path", [
    ("systolic", "bandwidth: 1200 GB/s", "bandwidth: 1200 GBs", "dram.bandwidth"),
    ("rdu", "{value: 51.2 GB/s", "{value: 51.2 GB", "hbm.bandwidth"),
    ("gpu", "dram_bandwidth: 768 GB/s", "dram_bandwidth: 768 GBs", "memory.dram_bandwidth"),
])
def test_bad_unit_names_file_line_and_the_expected_units(tmp_path, kind, old, new, key_path):
    msg, p, line = _error(kind, tmp_path, old, new)
    _assert_located(msg, p, line, key_path)
    assert "unknown unit" in msg and "did you mean 'GB/s'?" in msg


@pytest.mark.parametrize("kind, old, new, key_path, fragment", [
    ("systolic", "  rows: 128", "  rows: many", "array.rows", "expected an integer"),
    ("systolic", "dataflow: ws", "dataflow: wss", "array.dataflow", "expected one of os, ws, is, got 'wss'; did you mean 'ws'?"),
    ("model", "dtype: fp16", "dtype: fp61", "dtype", "expected one of fp16, bf16, fp8, got 'fp61'; did you mean 'fp16'?"),
    ("rdu", "  lanes: {value: 16", "  lanes: {value: 1.5", "pcu.lanes", "expected an integer, got the float 1.5"),
])
def test_wrong_type_or_choice_names_file_line_and_expected_type(tmp_path, kind, old, new, key_path, fragment):
    msg, p, line = _error(kind, tmp_path, old, new)
    _assert_located(msg, p, line, key_path)
    assert fragment in msg


@pytest.mark.parametrize("kind, name, sets, fragment", [
    ("systolic", "tpu-v4", ["sram.filtr=8 MiB"], "--set sram.filtr=8 MiB: sram.filtr: unknown key 'filtr'; did you mean 'sram.filter'?"),
    ("systolic", "tpu-v4", ["array.count=0"], "--set array.count=0: array.count: must be >= 1, got 0"),
    ("rdu", "sn40l-8", ["pcu.lane=16"], "--set pcu.lane=16: pcu.lane: unknown key 'lane'; did you mean 'pcu.lanes'?"),
    ("rdu", "sn40l-8", ["hbm.efficiency=2"], "--set hbm.efficiency=2: hbm.efficiency: must be <= 1, got 2"),
    ("model", "llama-2-7b", ["layers=0"], "--set layers=0: layers: must be >= 1, got 0"),
    ("model", "llama-2-7b", ["dtyp=bf16"], "--set dtyp=bf16: dtyp: unknown key 'dtyp'; did you mean 'dtype'?"),
    ("gpu", "rtx-a6000", ["sm.cont=40"], "--set sm.cont=40: sm.cont: unknown key 'cont'; did you mean 'sm.count'?"),
    ("gpu", "rtx-a6000", ["sm.clock=1 GHzz"], "--set sm.clock=1 GHzz: sm.clock: bad frequency"),
])
def test_set_override_is_checked_by_the_same_schema_as_the_file(kind, name, sets, fragment):
    load = KINDS[kind][0]
    with pytest.raises(ConfigError) as e:
        load(name, sets)
    assert str(e.value).startswith(fragment), str(e.value)


def test_every_preset_kind_declares_its_keys_as_schema_fields():
    """Rule: one field type for every preset kind: each key has a doc, and unit-carrying keys name
    a unit kind that gpusim.units parses."""
    schemas = {"systolic": systolic.schema(), "rdu": rdu.schema(), "model": model.model_schema(),
               "gpu": gpu.GPU_SCHEMA}
    for kind, sch in schemas.items():
        assert isinstance(sch, Schema) and sch.fields, kind
        for key, f in sch.fields.items():
            assert isinstance(f, Field) and f.key == key and f.doc, (kind, key)
            assert f.unit in (None, "cycles", "fraction", "frequency", "size", "bandwidth", "per_clock", "time")
    assert schemas["systolic"].fields["clock"].unit == "frequency"
    assert schemas["rdu"].fields["hbm.latency"].unit == "time" and schemas["rdu"].fields["hbm.latency"].min == 0
    assert schemas["gpu"].fields["memory.dram_bandwidth"].unit == "bandwidth"


def test_field_conversion_applies_units_bounds_and_choices():
    """Rule: a Field's unit picks the gpusim.units parser; bounds apply to the canonical value."""
    clock = Field("clock", int, "frequency", "clock", positive=True)
    assert convert(clock, "1.41 GHz") == 1_410_000_000
    with pytest.raises(ConfigError, match=r"f.yaml:3: clock: frequency needs a unit"):
        convert(clock, 1410, "f.yaml:3")
    lat = Field("lat", int, "time", "latency", min=1000)
    with pytest.raises(ConfigError, match=r"lat: must be >= 1 ns, got '0.5 ns'"):
        convert(lat, "0.5 ns")
    frac = Field("eff", float, "fraction", "efficiency", min=0.01, max=1)
    assert convert(frac, 1) == 1.0
    mode = Field("mode", str, doc="mode", choices=("USER", "CALC"))
    assert convert(mode, " user ") == "USER"


def test_flatten_resolve_and_set_on_a_small_schema():
    """The loader functions on their own: nested keys flatten to key paths, defaults fill in, a
    missing required key is named, --set replaces a value."""
    sch = Schema([Field("a.b", int, doc="b", min=1), Field("a.c", int, doc="c", default=7),
                  Field("d", str, doc="d")])
    flat = flatten(sch, {"a": {"b": 2}, "d": "x"}, "f.yaml")
    assert resolve(sch, flat) == {"a.b": 2, "a.c": 7, "d": "x"}
    apply_set(sch, flat, "a.c=9")
    assert resolve(sch, flat)["a.c"] == 9 and flat["a.c"].where == "--set a.c=9"
    with pytest.raises(ConfigError, match=r"f.yaml: a.b: missing required key"):
        resolve(sch, flatten(sch, {"d": "x"}, "f.yaml"), "f.yaml")
    with pytest.raises(ConfigError, match=r"a: is a section"):
        flatten(sch, {"a": 3}, "f.yaml")
    assert sch.fields["a.c"].default == 7 and sch.fields["a.b"].default is MISSING


@pytest.mark.parametrize("kind", ["systolic", "rdu", "model", "gpu"])
def test_duplicate_key_and_bad_yaml_name_file_and_line_in_every_kind(tmp_path, kind):
    """Rule: every preset kind is read by the one strict reader (duplicate keys refused, file:line)."""
    load = KINDS[kind][0]
    p = tmp_path / "dup.yaml"
    p.write_text("name: x\nname: y\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:2: duplicate key 'name'$"):
        load(p)
    p.write_text("name: [x\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:2: invalid YAML: "):
        load(p)

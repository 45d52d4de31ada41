"""gpusim.config: shipped configs load, bad input becomes a ConfigError naming key path and file,
extends chains merge, --set overrides apply, and the resolved dump loads back to an equal config."""

from __future__ import annotations

import csv
import re
import dataclasses
import textwrap
from pathlib import Path

import pytest

from gpusim.config import (
    GPUConfig,
    config_from_dict,
    config_to_dict,
    dump_config,
    find_config,
    list_configs,
    load_config,
)
from gpusim.config import loader, specs
from gpusim.config.specs import Arch, IssuePolicy
from gpusim.errors import ConfigError

A6000 = find_config("rtx-a6000")
AMPERE = find_config("ampere")
TURING = find_config("turing")
CONFIGS = Path(loader.CONFIGS_DIR)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def child_of_a6000(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, "child.yaml", f"extends: {A6000}\n" + textwrap.dedent(body))


def config_error(path_or_name, overrides=()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path_or_name, overrides)
    return info.value


# ---------------------------------------------------------------------------------------------
# shipped configs


def test_shipped_gpu_configs_are_listed():
    assert {"rtx-a6000", "rtx3070", "a100-sxm4-80gb"} <= set(list_configs())
    assert {"ampere", "ampere-ga100", "turing"} <= set(list_configs("arch"))


@pytest.mark.parametrize("name", list_configs())
def test_every_gpu_config_loads(name):
    cfg = load_config(name)
    assert isinstance(cfg, GPUConfig)
    assert cfg.sources and cfg.sm.count > 0 and cfg.sm.clock_hz > 0


@pytest.mark.parametrize("path", sorted(p for d in ("gpus", "arch") for p in (CONFIGS / d).rglob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_config_file_lists_its_sources(path):
    # GPU descriptions cite their numbers (accelerator presets carry a source per value, tested with them)
    import yaml

    data = yaml.safe_load(path.read_text())
    assert isinstance(data.get("sources"), list) and data["sources"], f"{path} has no sources:"


def test_rtx_a6000_has_84_sms_at_the_validation_clock():
    cfg = load_config("rtx-a6000")
    assert cfg.sm.count == 84
    assert cfg.sm.clock_hz == 1_800_000_000
    assert cfg.memory.l2_size_bytes == 6 * 2**20
    assert cfg.arch == Arch.AMPERE == "ampere"


def test_rtx3070_has_46_sms():
    cfg = load_config("rtx3070")
    assert cfg.sm.count == 46
    assert cfg.memory.l2_size_bytes == 4 * 2**20
    assert cfg.pipes.tensor_f32_extra_cycles == 16


def _specs_rows(research: Path) -> dict[tuple[str, str], str]:
    with open(research / "gpu_specs.csv", newline="") as f:
        return {(r["gpu"], r["param"]): r["value"] for r in csv.DictReader(f)}


def test_chip_numbers_match_gpu_specs_csv(shared_research):
    rows = _specs_rows(shared_research)
    a6000, a100 = load_config("rtx-a6000"), load_config("a100-sxm4-80gb")
    assert a6000.sm.count == int(rows[("RTX A6000", "SM_count")])
    assert a6000.sm.clock_hz == int(rows[("RTX A6000", "core_clock_locked_for_validation")]) * 10**6
    assert a6000.sm.max_warps == int(rows[("RTX A6000", "max_resident_warps_per_SM")])
    assert a6000.sm.shared_memory_bytes == int(rows[("RTX A6000", "max_shared_memory_per_SM")])
    assert a100.sm.count == int(rows[("A100 SXM4 80GB", "SM_count")])
    assert a100.sm.clock_hz == int(rows[("A100 SXM4 80GB", "boost_clock")]) * 10**6
    assert a100.sm.shared_memory_bytes == int(rows[("A100 SXM4 80GB", "max_shared_memory_per_SM")])
    assert a100.memory.l2_size_bytes == int(rows[("A100 SXM4 80GB", "L2_size")]) * 2**20


def test_ga100_differs_from_ga10x_where_the_chips_differ():
    ga100, ga102 = load_config("a100-sxm4-80gb"), load_config("rtx-a6000")
    assert ga100.compute_capability == 80 and ga102.compute_capability == 86
    assert ga100.sm.max_warps == 64 and ga100.sm.max_threads == 2048
    assert ga100.sm.shared_memory_bytes == 164 * 1024
    assert ga100.memory.l1_size_bytes == 192 * 1024
    assert ga100.memory.l2_size_bytes == 40 * 2**20
    assert not ga100.pipes.fp64_shared and ga102.pipes.fp64_shared
    assert not ga100.subcore.fp32_on_int_pipe and ga102.subcore.fp32_on_int_pipe


def test_an_arch_base_alone_is_not_a_gpu():
    err = config_error("ampere")
    assert err.key_path == "name"
    assert "arch base" in str(err)


def test_a_turing_gpu_file_loads_on_the_turing_base(tmp_path):
    path = write(tmp_path, "tu.yaml", f"""\
        extends: {TURING}
        name: test Turing
        sources: ["test"]
        sm: {{count: 68, clock: 1.35 GHz}}
        memory: {{l2_size: 5.5 MiB, dram_bandwidth: 616 GB/s, const_latency: 26, dram_latency: 500}}
        """)
    cfg = load_config(path)
    assert cfg.arch == "turing" and cfg.sm.max_warps == 32
    assert cfg.subcore.fp32_on_int_pipe is False
    assert cfg.memory.subcore_queue_entries == 3
    assert cfg.memory.l2_size_bytes == 5632 * 1024


def test_the_pipes_mirror_the_core_unit_enum():
    from gpusim.core.layout import Unit

    assert list(specs.PIPE_NAMES) == [u.name.lower() for u in Unit]
    pipe_fields = [f.name for f in dataclasses.fields(specs.PipesConfig) if "PipeConfig" in str(f.type)]
    assert pipe_fields == list(specs.PIPE_NAMES)


def test_configs_are_frozen():
    cfg = load_config("rtx-a6000")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sm.count = 1  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# unknown keys, bad units, bad types


def test_misspelled_key_names_the_key_path_the_file_and_a_suggestion(tmp_path):
    path = child_of_a6000(tmp_path, "sm:\n  cont: 40\n")
    err = config_error(path)
    assert err.key_path == "sm.cont"
    assert err.file and err.file.endswith("child.yaml:3")
    assert "did you mean 'sm.count'" in str(err)


def test_misspelled_key_deep_in_a_section_is_found(tmp_path):
    err = config_error(child_of_a6000(tmp_path, "pipes:\n  fp32: {latncy: 4, initiation_interval: 2}\n"))
    assert err.key_path == "pipes.fp32.latncy"
    assert "did you mean 'pipes.fp32.latency'" in str(err)


def test_key_in_the_wrong_section_suggests_its_full_path(tmp_path):
    err = config_error(child_of_a6000(tmp_path, "l2_size: 3 MiB\n"))
    assert err.key_path == "l2_size"
    assert "did you mean 'memory.l2_size'" in str(err)


def test_unknown_key_in_a_parent_names_the_parent_file(tmp_path):
    parent = write(tmp_path, "parent.yaml", f"extends: {A6000}\nmemory:\n  l2_sise: 1 MiB\n")
    child = write(tmp_path, "leaf.yaml", "extends: parent.yaml\n")
    err = config_error(child)
    assert err.key_path == "memory.l2_sise" and err.file.endswith("parent.yaml:3")
    assert parent.exists()


@pytest.mark.parametrize(
    ("body", "key_path", "fragment"),
    [
        ("sm:\n  clock: 1.41 GHzz\n", "sm.clock", "unknown unit 'GHzz'"),
        ("memory:\n  l2_size: 40 MiBs\n", "memory.l2_size", "unknown unit 'MiBs'"),
        ("memory:\n  dram_bandwidth: 768\n", "memory.dram_bandwidth", "needs a unit"),
        ("memory:\n  dram_bandwidth: 64 B/clk\n", "memory.dram_bandwidth", "needs a clock"),
        ("sm:\n  shared_memory: 100\n", "sm.shared_memory", "needs a unit"),
    ],
)
def test_bad_unit_is_a_config_error_naming_the_path(tmp_path, body, key_path, fragment):
    err = config_error(child_of_a6000(tmp_path, body))
    assert err.key_path == key_path
    assert fragment in str(err) and key_path in str(err)


@pytest.mark.parametrize("value", ["200.5", "200.0", "'200'", "true"])
def test_cycle_count_must_be_an_integer(tmp_path, value):
    err = config_error(child_of_a6000(tmp_path, f"memory:\n  l2_hit_latency: {value}\n"))
    assert err.key_path == "memory.l2_hit_latency"
    assert "whole number of cycles" in err.message


@pytest.mark.parametrize(("body", "key_path"), [
    ("sm:\n  count: 0\n", "sm.count"),
    ("sm:\n  count: -3\n", "sm.count"),
    ("pipes:\n  int: {latency: 0, initiation_interval: 2}\n", "pipes.int.latency"),
    ("subcore:\n  fp32_on_int_pipe: 1\n", "subcore.fp32_on_int_pipe"),
    ("name: 84\n", "name"),
    ("sm: [1, 2]\n", "sm"),
    ("sm: null\n", "sm"),
])
def test_out_of_range_or_wrongly_typed_values_are_rejected(tmp_path, body, key_path):
    assert config_error(child_of_a6000(tmp_path, body)).key_path == key_path


def test_unknown_enum_value_lists_the_choices(tmp_path):
    err = config_error(child_of_a6000(tmp_path, "subcore:\n  issue_policy: gtoo\n"))
    assert err.key_path == "subcore.issue_policy"
    assert "cggty, gto, lrr" in err.message and "did you mean 'gto'" in err.message


def test_duplicate_key_is_an_error_not_last_one_wins(tmp_path):
    err = config_error(child_of_a6000(tmp_path, "sm:\n  count: 3\n  count: 4\n"))
    assert "duplicate key 'count'" in str(err) and err.file.endswith("child.yaml:4")


def test_yaml_syntax_error_is_a_config_error(tmp_path):
    err = config_error(child_of_a6000(tmp_path, "sm: {count: 3\n"))
    assert "invalid YAML" in err.message and re.search(r"child\.yaml:\d+$", err.file)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_empty_or_non_mapping_file_is_rejected(tmp_path, text):
    err = config_error(write(tmp_path, "bad.yaml", text))
    assert err.file.endswith("bad.yaml") and ("empty" in err.message or "must be a mapping" in err.message)


def test_missing_required_key_names_its_path(tmp_path):
    path = write(tmp_path, "partial.yaml", f"extends: {AMPERE}\nname: partial\nsm: {{clock: 1 GHz}}\n")
    err = config_error(path)
    assert err.key_path == "sm.count"
    assert "memory.l2_size" in err.message and "memory.dram_bandwidth" in err.message


# ---------------------------------------------------------------------------------------------
# extends


def test_extends_chain_merges_parent_first_and_child_wins(tmp_path):
    write(tmp_path, "a.yaml", f"extends: {A6000}\nsources: [a]\nsm: {{count: 10}}\nmemory: {{l2_size: 1 MiB}}\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\nsources: [b]\nsm: {count: 20}\n")
    c = write(tmp_path, "c.yaml", "extends: b.yaml\nsources: [c]\nmemory: {dram_bandwidth: 1 TB/s}\n")
    cfg = load_config(c)
    assert cfg.sm.count == 20                       # b overrides a
    assert cfg.memory.l2_size_bytes == 2**20        # from a
    assert cfg.memory.dram_bandwidth_bytes_per_s == 1e12  # from c
    assert cfg.sm.clock_hz == 1_800_000_000         # from rtx-a6000.yaml
    assert cfg.sm.max_warps == 48                   # from ampere.yaml
    assert cfg.sources[-3:] == ("a", "b", "c")      # sources accumulate, parents first
    where = dict(cfg.provenance)
    assert where["sm.count"].endswith("b.yaml") and where["sm.max_warps"] == "configs/arch/ampere.yaml"
    assert where["regfile.banks"] == "default"


def test_shipped_chain_has_three_levels():
    where = dict(load_config("a100-sxm4-80gb").provenance)
    assert where["sm.count"] == "configs/gpus/a100-sxm4-80gb.yaml"
    assert where["sm.max_warps"] == "configs/arch/ampere-ga100.yaml"
    assert where["pipes.int.latency"] == "configs/arch/ampere.yaml"


def test_extends_by_config_name(tmp_path):
    cfg = load_config(write(tmp_path, "n.yaml", "extends: rtx-a6000\nsm: {count: 7}\n"))
    assert cfg.sm.count == 7 and cfg.name == "RTX A6000"


def test_extends_cycle_is_detected(tmp_path):
    write(tmp_path, "x.yaml", "extends: y.yaml\n")
    write(tmp_path, "y.yaml", "extends: x.yaml\n")
    err = config_error(tmp_path / "x.yaml")
    assert err.key_path == "extends" and "cycle" in err.message
    assert "x.yaml -> " in err.message


def test_a_file_extending_itself_is_a_cycle(tmp_path):
    err = config_error(write(tmp_path, "self.yaml", "extends: self.yaml\n"))
    assert "cycle" in err.message


def test_extends_of_a_missing_file_or_name(tmp_path):
    assert "no such file" in config_error(write(tmp_path, "m.yaml", "extends: nothere.yaml\n")).message
    err = config_error(write(tmp_path, "n.yaml", "extends: rtx-a600\n"))
    assert err.key_path == "extends" and "did you mean 'rtx-a6000'" in err.message


# ---------------------------------------------------------------------------------------------
# --set overrides


def test_set_overrides_change_the_value():
    base = load_config("rtx-a6000")
    cfg = load_config("rtx-a6000", ["sm.count=40", "memory.l2_size=20 MiB", "subcore.issue_policy=gto",
                                    "regfile.rf_cache=false"])
    assert (cfg.sm.count, cfg.memory.l2_size_bytes) == (40, 20 * 2**20)
    assert cfg.subcore.issue_policy is IssuePolicy.GTO and cfg.regfile.rf_cache is False
    assert base.sm.count == 84 and cfg != base
    assert dict(cfg.provenance)["sm.count"] == "--set sm.count=40"


def test_set_of_a_whole_pipe_mapping():
    cfg = load_config("rtx-a6000", ["pipes.fp32={latency: 4, initiation_interval: 1}"])
    assert (cfg.pipes.fp32.latency_cycles, cfg.pipes.fp32.initiation_interval_cycles) == (4, 1)


def test_set_of_an_unknown_key_is_an_error_with_suggestion():
    err = config_error("rtx-a6000", ["sm.cont=40"])
    assert err.key_path == "sm.cont" and "did you mean 'sm.count'" in err.message
    assert err.file == "--set sm.cont=40"


@pytest.mark.parametrize(("override", "key_path", "fragment"), [
    ("sm.count", "--set", "KEY=VALUE"),
    ("sm=3", "sm", "is a section"),
    ("sm.count.x=3", "sm.count.x", "is a value, not a section"),
    ("sm.clock=1.41 GHzz", "sm.clock", "unknown unit"),
    ("sm.count=4.5", "sm.count", "integer"),
    ("extends=turing", "extends", "cannot be overridden"),
    ("memory.l2_size=[1", "memory.l2_size", "cannot parse"),
])
def test_bad_overrides_are_config_errors(override, key_path, fragment):
    err = config_error("rtx-a6000", [override])
    assert err.key_path == key_path and fragment in str(err)


# ---------------------------------------------------------------------------------------------
# cross-field checks


@pytest.mark.parametrize(("override", "key_path"), [
    ("sm.max_threads=2048", "sm.max_threads"),          # > 32 * 48
    ("sm.max_threads=1500", "sm.max_threads"),          # not a multiple of 32
    ("sm.subcores=5", "sm.max_warps"),                  # 48 warps over 5 sub-cores
    ("sm.shared_memory=200 KiB", "sm.shared_memory"),   # larger than the 128 KiB unified L1
    ("memory.l1_hit_latency=300", "memory.l1_hit_latency"),
    ("memory.dram_latency=100", "memory.l2_hit_latency"),
    ("memory.sector_size=48 B", "memory.sector_size"),
    ("memory.l2_size=1000 B", "memory.l2_size"),
    ("arch=turing", "compute_capability"),
    ("sm.max_registers_per_thread=300", "sm.max_registers_per_thread"),
])
def test_cross_field_rules_are_checked(override, key_path):
    assert config_error("rtx-a6000", [override]).key_path == key_path


# ---------------------------------------------------------------------------------------------
# resolved dump


@pytest.mark.parametrize("name", list_configs())
def test_dump_then_load_gives_an_equal_config(tmp_path, name):
    cfg = load_config(name, ["sm.count=12"])
    out = tmp_path / "config.resolved.yaml"
    out.write_text(dump_config(cfg), encoding="utf-8")
    again = load_config(out)
    assert again == cfg

    def values(text: str) -> list[str]:  # the dump without its provenance comments
        return [line.split("  # ")[0].rstrip() for line in text.splitlines()[2:]]

    assert values(dump_config(again)) == values(dump_config(cfg))


def test_dump_writes_units_human_readable_with_provenance():
    text = dump_config(load_config("rtx-a6000"))
    assert "clock: 1.8 GHz" in text and "l2_size: 6 MiB" in text and "dram_bandwidth: 768 GB/s" in text
    assert "issue_policy: cggty" in text
    count_line = next(line for line in text.splitlines() if line.strip().startswith("count: 84"))
    assert count_line.endswith("# configs/gpus/rtx-a6000.yaml")
    assert any(line.rstrip().endswith("# default") for line in text.splitlines())


def test_config_to_dict_round_trips_through_config_from_dict():
    cfg = load_config("a100-sxm4-80gb")
    data = config_to_dict(cfg)
    assert data["memory"]["dram_bandwidth"] == "2.039 TB/s" and data["memory"]["dram_clock"] is None
    assert config_from_dict(data) == cfg


# ---------------------------------------------------------------------------------------------
# finding configs and documentation


def test_find_config_by_name_and_by_path():
    assert find_config("rtx-a6000") == A6000 and A6000.parent.name == "gpus"
    assert find_config(str(A6000)) == A6000


def test_unknown_config_name_lists_close_matches():
    with pytest.raises(ConfigError) as info:
        find_config("rtx-a600")
    assert "did you mean 'rtx-a6000'" in str(info.value)
    with pytest.raises(ConfigError, match="no such config file"):
        find_config("nowhere/at-all.yaml")


def test_every_schema_key_is_documented():
    readme = (CONFIGS / "README.md").read_text(encoding="utf-8")
    for path, kind, doc in loader.schema_keys():
        assert doc, f"{path} has no doc in specs.py"
        if not path.startswith("pipes.") or path.count(".") == 1:   # pipe sub-keys are described once
            assert f"`{path}`" in readme, f"configs/README.md does not document {path}"


@pytest.mark.parametrize("name, message", [
    ("llama-2-7b", "is a model preset (configs/models/llama-2-7b.yaml), not a GPU config: give it to --model"),
    ("tpu-v4", "is an accelerator preset"),
    ("a100", "did you mean 'a100-sxm4-80gb'"),
])
def test_a_gpu_name_of_another_kind_says_which_flag_takes_it(name, message):
    """CLI hygiene (issue 18): --gpu looks among GPU configs only; a model or accelerator preset name
    says which flag it belongs to instead of failing on its keys ("unknown key 'layers'")."""
    from gpusim.config import load_config

    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        load_config(name)
    assert "GPU configs: a100-sxm4-80gb" in str(e.value) and "llama" not in str(e.value).split("GPU configs:")[1]


def test_resolved_config_names_published_source_of_every_research_note():
    """A resolved config is read by users who do not have the project's research notes: every
    research/... reference in its sources must resolve to a published source shipped in
    configs/cited-sources.csv (regenerate with configs/make_cited_sources.py when a config cites a new
    row).  Deleting a row of that file makes this fail."""
    from gpusim.config.sources import published_sources

    for p in sorted((CONFIGS / "gpus").glob("*.yaml")):
        cfg = load_config(p.stem)
        text = dump_config(cfg)
        assert "NOT IN configs/cited-sources.csv" not in text, p.name
        for ref, src in published_sources(cfg.sources):
            assert src, f"{p.name}: {ref} has no published source"

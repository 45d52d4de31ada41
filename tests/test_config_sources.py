"""Every number in the GPU model is a config field with a source, as data: each field of
gpusim/config/specs.py declares ``_f(..., source=...)``, the schema Field carries it, and
``gpusim config show <gpu> --sources`` prints, for every resolved value, the preset line that set it
or its default's source.  A default without a source (``estimate:`` / ``unsourced:``) must be listed
here, so adding one is a conscious act."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

from gpusim.config import find_config, load_config
from gpusim.config.explain import dump_config_sources, value_sources, yaml_line_comment
from gpusim.config.loader import GPU_SCHEMA, load_config_where
from gpusim.config.schema import Field, fields_from_dataclass
from gpusim.config.specs import _f

#: the GPU fields whose default has no source: the only ones allowed an ``estimate:`` or ``unsourced:`` source
NO_SOURCE_ALLOWED = {
    "memory.dram_row": "unsourced",             # 2 KiB banked-model page, not from a source file
    "pipes.warpsync_latency": "estimate",       # the branch unit's latency assumed for WARPSYNC
    "interconnect.collective_latency": "estimate",  # 8 us from a 2-GPU 6 us figure (NCCL issue #1259)
}
_NO_SOURCE = ("estimate", "unsourced")
_REQUIRED = ("per GPU:", "per arch:")


def missing_sources(fields: dict[str, Field]) -> list[str]:
    """Key paths of the fields whose source is empty."""
    return [k for k, f in fields.items() if not f.source.strip()]


def no_source(fields: dict[str, Field]) -> dict[str, str]:
    """Key path -> 'estimate' / 'unsourced' for the fields whose source says the number has none."""
    return {k: f.source.split(":")[0] for k, f in fields.items() if f.source.split(":")[0] in _NO_SOURCE}


def test_every_gpu_field_has_a_source():
    """Every numeric, bool and enum GPU field (and name, arch, sources) names where its value comes from.
    Break: blank one ``source=`` in gpusim/config/specs.py and this fails naming its key path."""
    assert len(GPU_SCHEMA.fields) > 100
    assert missing_sources(GPU_SCHEMA.fields) == []


def test_numbers_without_a_source_are_exactly_the_allowlisted_ones():
    """A new ``estimate:``/``unsourced:`` default must be added to NO_SOURCE_ALLOWED; a field that gains a
    citation must leave it (a stale entry fails too)."""
    assert no_source(GPU_SCHEMA.fields) == NO_SOURCE_ALLOWED


def test_required_fields_say_that_the_presets_set_them():
    """A field without a default says ``per GPU:`` / ``per arch:`` (its values come from the presets); a field
    with a default does not (its source is the default's)."""
    for key, f in GPU_SCHEMA.fields.items():
        assert f.source.startswith(_REQUIRED) == f.required, (key, f.source)


def test_the_checks_catch_a_field_without_a_source():
    """The checks above are not vacuous: a dataclass field declared without a source, or with an unlisted
    ``unsourced:`` one, is reported."""

    @dataclasses.dataclass(frozen=True)
    class Tiny:
        cited: int = _f("a cited number", 3, source="MGC §3")
        bare: int = _f("a number without a source", 4)
        guessed: int = _f("a guessed number", 5, source="unsourced: a round number")

    fields = {f.key: f for f in fields_from_dataclass(Tiny, lambda c: {n: (int, False) for n in ("cited", "bare",
                                                                                                 "guessed")})}
    assert fields["cited"].source == "MGC §3"
    assert missing_sources(fields) == ["bare"]
    assert no_source(fields) == {"guessed": "unsourced"}


def test_schema_field_carries_the_declared_source():
    """The schema is read from the dataclasses: ``_f(source=...)`` becomes Field.source (hbm tRCD: ramulator2's
    HBM2 preset, 17 tCK of 833 ps = the default 14161 ps)."""
    f = GPU_SCHEMA.fields["memory.hbm_trcd"]
    assert f.default == 17 * 833 and "ramulator2" in f.source and "nRCDRD" in f.source
    assert GPU_SCHEMA.fields["launch.gemm_streamk"].source.startswith("policy:")


def _line_of(path: Path, startswith: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.strip().startswith(startswith))


def test_value_sources_name_the_preset_line_the_override_or_the_default(tmp_path):
    """A value a file sets -> ``file:line: its comment`` (a comment continued on the next line included); an
    override -> ``--set``; a default -> ``default: <its declared source>``."""
    child = tmp_path / "child.yaml"
    child.write_text(textwrap.dedent(f"""\
        extends: {find_config("a100-sxm4-80gb")}
        name: child
        sm:
          count: 100        # test: fused-off SMs
                            # second line of the note
          clock: 1.2 GHz
        """))
    cfg, wheres = load_config_where(child, ["subcore.ibuffer_entries=2"])
    child = child.resolve()
    src = value_sources(cfg, wheres)
    assert src["sm.count"] == f"{child}:4: test: fused-off SMs second line of the note"
    assert src["sm.clock"] == f"{child}:6"
    assert src["subcore.ibuffer_entries"] == "--set subcore.ibuffer_entries=2"
    assert src["sm.subcores"] == "default: " + GPU_SCHEMA.fields["sm.subcores"].source
    a100 = find_config("a100-sxm4-80gb")
    assert src["memory.l2_size"].endswith(f"a100-sxm4-80gb.yaml:{_line_of(a100, 'l2_size:')}: gpu_specs: A100 SXM4 "
                                          "80GB L2_size")
    assert all(src[f"sources[{i}]"] for i in range(len(cfg.sources)))
    assert yaml_line_comment(f"{child}:3") == "" and yaml_line_comment("--set x=1") == ""


def test_sources_dump_loads_back_to_the_same_config(tmp_path):
    """``config show --sources`` is still a resolved config: saved, it loads to an equal GPUConfig."""
    out = tmp_path / "a100.yaml"
    out.write_text(dump_config_sources("a100-sxm4-80gb"))
    assert load_config(out) == load_config("a100-sxm4-80gb")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpusim", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_cli_config_show_sources(repo_root):
    """`gpusim config show a100-sxm4-80gb --sources`: preset values with their file:line and comment, defaults
    with their source; without --sources the output keeps its plain origin comments."""
    a100 = repo_root / "configs" / "gpus" / "a100-sxm4-80gb.yaml"
    r = run_cli("config", "show", "a100-sxm4-80gb", "--sources", cwd=repo_root)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    count = next(t for t in lines if t.strip().startswith("count:"))
    assert count.split("#", 1)[1].strip() == (f"configs/gpus/a100-sxm4-80gb.yaml:{_line_of(a100, 'count:')}: "
                                              "gpu_specs: A100 SXM4 80GB SM_count")
    streamk = next(t for t in lines if t.strip().startswith("gemm_streamk:"))
    assert streamk.split("#", 1)[1].strip() == "default: " + GPU_SCHEMA.fields["launch.gemm_streamk"].source
    plain = run_cli("config", "show", "a100-sxm4-80gb", cwd=repo_root)
    assert plain.returncode == 0 and "default: " not in plain.stdout
    assert next(t for t in plain.stdout.splitlines() if t.strip().startswith("gemm_streamk:")).endswith("# default")

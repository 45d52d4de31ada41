"""RDU presets and their loader (gpusim/accel/rdu/config.py, configs/accel/rdu/).

Rules: every number of a shipped preset carries a source, undisclosed ones say "estimate"; bad input is
one ConfigError naming file:line or the key path, with a did-you-mean; units go through gpusim.units.
"""

from __future__ import annotations

import textwrap

import pytest

from gpusim.accel.rdu.config import (
    NO_SOURCE,
    PRESETS_DIR,
    dump_rdu_config,
    list_presets,
    load_rdu_config,
    rdu_config_from_dict,
    schema_paths,
)
from gpusim.cli import main
from gpusim.errors import ConfigError


def test_shipped_presets_give_every_value_a_source_and_mark_estimates():
    """Rule (project convention): every number is a config field with a unit and a source; undisclosed
    constants are marked as estimates.  A preset with a bare value or a missing key fails here."""
    assert {"sn40l-8", "sn40l-16", "plasticine"} <= set(list_presets())
    leaves = {p for p, _, _ in schema_paths()}
    for name in list_presets():
        sp = load_rdu_config(name)
        rows = dump_rdu_config(sp)
        assert {r["key"] for r in rows} == leaves, name
        for r in rows:
            assert r["source"] and r["source"] != NO_SOURCE, (name, r["key"])
            assert r["status"] in ("sourced", "estimate"), (name, r["key"])
        # values the paper publishes are not estimates
        src = sp.sources()
        if name.startswith("sn40l"):
            for k in ("pcu.count", "pmu.count", "hbm.size", "hbm.bandwidth", "ddr.bandwidth"):
                assert not src[k].startswith("estimate"), k
            for k in ("clock", "pcu.lanes", "launch.software", "p2p.bandwidth"):
                assert src[k].startswith("estimate"), k


def test_sn40l_presets_reproduce_the_published_chip_figures():
    """Rule: [paper] Table II — 1040 PCUs / 1040 PMUs, 520 MiB SRAM, 64 GiB HBM at 1.8 TB/s, 1.5 TiB DDR at
    200 GB/s, 638 BF16 TFLOPS (configured peak within 0.2%); the node has 8 sockets, the rack 16."""
    s8, s16 = load_rdu_config("sn40l-8"), load_rdu_config("sn40l-16")
    assert (s8.system.sockets, s16.system.sockets) == (8, 16)
    for s in (s8, s16):
        assert s.pcu.count == s.pmu.count == 1040
        assert s.sram_bytes == 520 * 2**20
        assert s.hbm.size_bytes == 64 * 2**30 and s.hbm.bandwidth_bytes_per_s == 1.8e12
        assert s.ddr.size_bytes == int(1.5 * 2**40) and s.ddr.bandwidth_bytes_per_s == 2e11
        assert abs(s.peak_flops / 638e12 - 1) < 0.002
    # sn40l-16 inherits everything it does not set, and says where its own values come from
    assert s16.sources()["system.sockets"].startswith("[paper] Table IV")
    assert s16.sources()["pcu.lanes"] == s8.sources()["pcu.lanes"]


def test_unknown_key_names_file_line_and_suggests(tmp_path):
    """Rule: an unknown key is one ConfigError with file:line and a did-you-mean."""
    p = tmp_path / "mine.yaml"
    p.write_text(textwrap.dedent("""\
        extends: %s
        pcu:
          lanse: 16
        """ % (PRESETS_DIR / "sn40l-8.yaml")))
    with pytest.raises(ConfigError) as e:
        load_rdu_config(p)
    msg = str(e.value)
    assert "mine.yaml:3" in msg and "pcu.lanse" in msg and "did you mean 'pcu.lanes'" in msg


def test_bad_unit_and_bad_sourced_value_are_clear_errors(tmp_path):
    """Rule: a value in the wrong unit names the key and the expected unit; a sourced value must be
    {value, source}."""
    base = PRESETS_DIR / "sn40l-8.yaml"
    p = tmp_path / "a.yaml"
    p.write_text(f"extends: {base}\nhbm:\n  bandwidth: 1.8 TB\n")
    with pytest.raises(ConfigError, match=r"a.yaml:3.*hbm.bandwidth.*unknown unit 'TB'.*did you mean 'TB/s'"):
        load_rdu_config(p)
    p.write_text(f"extends: {base}\npmu:\n  size: {{value: 512 KiB, src: x}}\n")
    with pytest.raises(ConfigError, match=r"pmu.size: a sourced value is \{value: ..., source: '...'\}"):
        load_rdu_config(p)
    p.write_text(f"extends: {base}\nhbm:\n  efficiency: 1.5\n")
    with pytest.raises(ConfigError, match=r"hbm.efficiency: must be <= 1"):
        load_rdu_config(p)


def test_set_overrides_are_recorded_as_unsourced():
    """Rule: --set changes a value (units parsed) and the run reports it as a user override."""
    sp = load_rdu_config("sn40l-8", ["hbm.bandwidth=2 TB/s", "pcu.lanes=16"])
    assert sp.hbm.bandwidth_bytes_per_s == 2e12 and sp.pcu.lanes == 16
    assert sp.sources()["pcu.lanes"].startswith("--set")
    with pytest.raises(ConfigError, match="did you mean 'pcu.lanes'"):
        load_rdu_config("sn40l-8", ["pcu.lane=16"])


def test_in_memory_config_requires_every_key():
    """Rule: no RDU field has a default; a missing key is named."""
    with pytest.raises(ConfigError, match="missing required key"):
        rdu_config_from_dict({"name": "x"})


def test_cli_exits_2_with_one_line_on_bad_preset(capsys):
    """Rule: bad input exits with status 2 and one error line, never a traceback."""
    rc = main(["rdu", "--preset", "sn40l-80", "--model", "llama-2-7b", "--step", "decode:batch=1,context=8",
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "did you mean 'sn40l-8'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

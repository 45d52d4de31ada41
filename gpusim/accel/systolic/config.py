"""Systolic-array configuration: one frozen dataclass, read from a SCALE-Sim ``.cfg`` or a YAML preset.

Two spellings of the same machine:

* a SCALE-Sim ``.cfg`` (:mod:`gpusim.accel.systolic.scalecfg`): SCALE-Sim's units, 1-byte words,
  no clock; the physical model then reports cycles only and uses ``Bandwidth`` as the one DRAM
  channel shared by the three operand streams;
* a gpusim YAML preset (``configs/accel/*.yaml``, :func:`load_yaml_config`): physical units
  (``1050 MHz``, ``8 MiB``, ``1200 GB/s``, ``500 ns``), a word size, several arrays sharing the DRAM,
  and ``sources:``.  The keys are one :class:`gpusim.config.schema.Schema`: unknown keys, bad units and
  out-of-range values are ``file:line: key.path: message`` errors with a did-you-mean, and
  ``--set key.path=value`` overrides any key through the same checks.

For ``--memory scalesim`` a YAML preset is converted to SCALE-Sim's units: SRAM words = bytes /
word size, and the three DRAM ports each get the DRAM bandwidth in whole words per cycle
(SCALE-Sim v2's meaning of ``Bandwidth``), one array only.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gpusim import units
from gpusim.config.loader import CONFIGS_DIR
from gpusim.config.schema import Field, Schema, apply_set, flatten, read_yaml, resolve
from gpusim.errors import ConfigError

__all__ = ["PRESETS_DIR", "Dataflow", "SystolicConfig", "list_presets", "load_systolic_config", "load_yaml_config"]

PRESETS_DIR = CONFIGS_DIR / "accel"


class Dataflow(StrEnum):
    OS = "os"   # output stationary
    WS = "ws"   # weight stationary
    IS = "is"   # input stationary


@dataclass(frozen=True, slots=True)
class SystolicConfig:
    """One systolic-array machine.  Sizes are in words (elements) of ``word_bytes`` bytes."""

    name: str
    source: str                          # file it came from
    rows: int                            # PE rows R
    cols: int                            # PE columns C
    dataflow: Dataflow
    ifmap_sram_words: int                # per array
    filter_sram_words: int
    ofmap_sram_words: int
    interface_mode: str = "USER"         # SCALE-Sim InterfaceBandwidth: USER or CALC
    ifmap_dram_bw_words: int | None = None   # SCALE-Sim port bandwidths, words/cycle (USER mode)
    filter_dram_bw_words: int | None = None
    ofmap_dram_bw_words: int | None = None
    dram_bw_words_per_cycle: float | None = None   # physical model: one DRAM channel, all arrays
    dram_latency_cycles: int = 0                   # physical model: first-access latency
    word_bytes: int = 1
    clock_hz: int | None = None
    arrays: int = 1                                 # arrays sharing the DRAM (physical model)
    vector_ops_per_cycle: int = 0                   # whole chip; element-wise work of LLM steps (0: not modelled)
    sources: tuple[str, ...] = ()

    @property
    def sram_words(self) -> int:
        return self.ifmap_sram_words + self.filter_sram_words + self.ofmap_sram_words


# ------------------------------------------------------------------------------------------------
# YAML presets.

_SCHEMA = Schema([
    Field("name", str, doc="preset name"),
    Field("description", str, doc="one line on what the preset models", default="-"),
    Field("array.rows", int, doc="PE rows of one array", min=1),
    Field("array.cols", int, doc="PE columns of one array", min=1),
    Field("array.count", int, doc="arrays (cores) sharing the DRAM; each has the SRAM below", default=1, min=1),
    Field("array.dataflow", Dataflow, doc="os, ws or is"),
    Field("clock", int, "frequency", "array clock", positive=True),
    Field("word_size", int, "size", "bytes per operand word (2 B for bf16)", positive=True),
    Field("sram.ifmap", int, "size", "IFMAP (activation) SRAM per array", positive=True),
    Field("sram.filter", int, "size", "FILTER (weight) SRAM per array", positive=True),
    Field("sram.ofmap", int, "size", "OFMAP (output / partial sum) SRAM per array", positive=True),
    Field("dram.bandwidth", float, "bandwidth", "DRAM bandwidth shared by all arrays", positive=True),
    Field("dram.latency", int, "time", "DRAM access latency (paid once per dependent fetch chain)", default=0),
    Field("vector.ops_per_cycle", int, doc="element-wise operations per cycle of the whole chip's vector units "
                                           "(norms, activations, softmax of `gpusim llm --systolic`); 0: not modelled",
          default=0, min=1),
    Field("scalesim.interface", str, doc="USER or CALC: SCALE-Sim's InterfaceBandwidth for --memory scalesim",
          default="USER", choices=("USER", "CALC")),
    Field("sources", tuple, doc="where the numbers come from", min=1),
], name="systolic preset")


def schema() -> Schema:
    """The keys of a systolic preset (for docs and tests)."""
    return _SCHEMA


def load_yaml_config(path: str | Path, overrides: Sequence[str] = ()) -> SystolicConfig:
    """Read a gpusim systolic preset (``configs/accel/*.yaml``), with ``--set key.path=value`` overrides."""
    shown = str(path)
    data, lines = read_yaml(path, shown)
    flat = flatten(_SCHEMA, data, shown, lines)
    for text in overrides:
        apply_set(_SCHEMA, flat, text, example="sram.filter=8MiB")
    val = resolve(_SCHEMA, flat, shown)
    word = val["word_size"]
    clock = val["clock"]

    def words(key: str) -> int:
        n = val[key] // word
        if n * word != val[key]:
            raise ConfigError(key, f"{units.format_size(val[key])} is not a whole number of "
                                   f"{word}-byte words", file=flat[key].where)
        return n

    bw_words = val["dram.bandwidth"] / clock / word
    port = max(1, int(math.floor(bw_words / val["array.count"])))
    lat = units.time_to_cycles(val["dram.latency"], clock)
    return SystolicConfig(
        name=val["name"], source=shown, rows=val["array.rows"], cols=val["array.cols"],
        dataflow=val["array.dataflow"], ifmap_sram_words=words("sram.ifmap"),
        filter_sram_words=words("sram.filter"), ofmap_sram_words=words("sram.ofmap"),
        interface_mode=val["scalesim.interface"], ifmap_dram_bw_words=port, filter_dram_bw_words=port,
        ofmap_dram_bw_words=port, dram_bw_words_per_cycle=bw_words, dram_latency_cycles=lat, word_bytes=word,
        clock_hz=clock, arrays=val["array.count"], vector_ops_per_cycle=val["vector.ops_per_cycle"],
        sources=val["sources"],
    )


def list_presets() -> list[str]:
    if not PRESETS_DIR.is_dir():
        return []
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_systolic_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> SystolicConfig:
    """A SCALE-Sim ``.cfg`` path, a YAML path, or a preset name under ``configs/accel/``."""
    from gpusim.accel.systolic.scalecfg import read_scalesim_cfg

    text = str(name_or_path)
    p = Path(text).expanduser()
    if p.suffix.lower() == ".cfg":
        if overrides:
            raise ConfigError("--set", "overrides apply to YAML presets; edit the .cfg file instead", file=text)
        return read_scalesim_cfg(p)
    if p.suffix.lower() in (".yaml", ".yml") or "/" in text:
        if not p.is_file():
            raise ConfigError("config", "no such file", file=text)
        return load_yaml_config(p, overrides)
    cand = PRESETS_DIR / f"{text}.yaml"
    if cand.is_file():
        return load_yaml_config(cand, overrides)
    names = list_presets()
    close = difflib.get_close_matches(text, names, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError("config", f"no systolic preset named '{text}' under configs/accel/{hint} "
                                f"(known: {', '.join(names) or 'none'}); or pass a .cfg/.yaml path")

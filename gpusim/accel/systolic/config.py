"""Systolic-array configuration: one frozen dataclass, read from a SCALE-Sim ``.cfg`` or a YAML preset.

Two spellings of the same machine:

* a SCALE-Sim ``.cfg`` (:mod:`gpusim.accel.systolic.scalecfg`): SCALE-Sim's units, 1-byte words,
  no clock; the physical model then reports cycles only and uses ``Bandwidth`` as the one DRAM
  channel shared by the three operand streams;
* a gpusim YAML preset (``configs/accel/*.yaml``, :func:`load_yaml_config`): physical units
  (``1050 MHz``, ``8 MiB``, ``1200 GB/s``, ``500 ns``), a word size, several arrays sharing the DRAM,
  and ``sources:``.  Unknown keys are errors with a did-you-mean; ``--set key.path=value``
  overrides any key.

For ``--memory scalesim`` a YAML preset is converted to SCALE-Sim's units: SRAM words = bytes /
word size, and the three DRAM ports each get the DRAM bandwidth in whole words per cycle
(SCALE-Sim v2's meaning of ``Bandwidth``), one array only.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from gpusim import units
from gpusim.config.loader import (  # strict YAML (duplicate keys refused)
    CONFIGS_DIR,
    _read_yaml,
)
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

# key path -> (kind, doc).  kinds: int, str, dataflow, frequency, size, bandwidth, time, sources.
_SCHEMA: dict[str, tuple[str, str]] = {
    "name": ("str", "preset name"),
    "description": ("str", "one line on what the preset models"),
    "array.rows": ("int", "PE rows of one array"),
    "array.cols": ("int", "PE columns of one array"),
    "array.count": ("int", "arrays (cores) sharing the DRAM; each has the SRAM below"),
    "array.dataflow": ("dataflow", "os, ws or is"),
    "clock": ("frequency", "array clock"),
    "word_size": ("size", "bytes per operand word (2 B for bf16)"),
    "sram.ifmap": ("size", "IFMAP (activation) SRAM per array"),
    "sram.filter": ("size", "FILTER (weight) SRAM per array"),
    "sram.ofmap": ("size", "OFMAP (output / partial sum) SRAM per array"),
    "dram.bandwidth": ("bandwidth", "DRAM bandwidth shared by all arrays"),
    "dram.latency": ("time", "DRAM access latency (paid once per dependent fetch chain)"),
    "vector.ops_per_cycle": ("int", "element-wise operations per cycle of the whole chip's vector units "
                                    "(norms, activations, softmax of `gpusim llm --systolic`)"),
    "scalesim.interface": ("str", "USER or CALC: SCALE-Sim's InterfaceBandwidth for --memory scalesim"),
    "sources": ("sources", "where the numbers come from"),
}
_REQUIRED = ["name", "array.rows", "array.cols", "array.dataflow", "clock", "word_size", "sram.ifmap",
             "sram.filter", "sram.ofmap", "dram.bandwidth", "sources"]
_DEFAULTS: dict[str, Any] = {"array.count": 1, "dram.latency": "0 ns", "scalesim.interface": "USER",
                             "description": "-"}


def _flatten(data: Mapping, prefix: str, file: str, out: dict[str, Any]) -> None:
    sections = {k.split(".")[0] for k in _SCHEMA if "." in k}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ConfigError(f"{prefix}{key}", "keys must be strings", file=file)
        path = f"{prefix}{key}"
        if path in _SCHEMA:
            out[path] = value
            continue
        if not prefix and key in sections:
            if not isinstance(value, Mapping):
                subkeys = [k.split(".", 1)[1] for k in _SCHEMA if k.startswith(key + ".")]
                raise ConfigError(path, f"is a section; needs a mapping of keys ({', '.join(subkeys)})", file=file)
            _flatten(value, path + ".", file, out)
            continue
        siblings = [k[len(prefix):].split(".")[0] for k in _SCHEMA if k.startswith(prefix)]
        close = difflib.get_close_matches(key, sorted(set(siblings)), n=1, cutoff=0.6)
        if not close:
            close = [k for k in _SCHEMA if k.rsplit(".", 1)[-1] == key][:1]
        hint = f"did you mean '{prefix}{close[0]}'?" if close and "." not in close[0] else (
            f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(set(siblings)))}")
        raise ConfigError(path, f"unknown key '{key}'; {hint}", file=file)


def _convert(path: str, raw: Any, file: str) -> Any:
    kind = _SCHEMA[path][0]

    def fail(msg: str) -> ConfigError:
        return ConfigError(path, msg, file=file)

    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise fail(f"expected an integer, got {raw!r}")
        if raw < 1:
            raise fail(f"must be >= 1, got {raw}")
        return raw
    if kind == "str":
        if not isinstance(raw, str) or not raw.strip():
            raise fail(f"expected a non-empty string, got {raw!r}")
        return raw.strip()
    if kind == "dataflow":
        if not isinstance(raw, str) or raw.strip().lower() not in [d.value for d in Dataflow]:
            close = difflib.get_close_matches(str(raw).lower(), [d.value for d in Dataflow], n=1, cutoff=0.3)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise fail(f"expected os, ws or is, got {raw!r}{hint}")
        return Dataflow(raw.strip().lower())
    if kind == "sources":
        if not isinstance(raw, (list, tuple)) or not raw or not all(isinstance(s, str) and s.strip() for s in raw):
            raise fail(f"expected a non-empty list of strings, got {raw!r}")
        return tuple(raw)
    parser = {"frequency": units.parse_frequency, "size": units.parse_size,
              "bandwidth": units.parse_bandwidth, "time": units.parse_time}[kind]
    try:
        value = parser(raw)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if kind in ("frequency", "bandwidth") and value <= 0:
        raise fail(f"must be positive, got {raw!r}")
    if kind == "size" and value <= 0:
        raise fail(f"must be positive, got {raw!r}")
    return value


def _apply_set(flat: dict[str, Any], origin: dict[str, str], text: str) -> None:
    if "=" not in text:
        raise ConfigError("--set", f"expected KEY=VALUE (e.g. sram.filter=8MiB), got {text!r}")
    key, value_text = (s.strip() for s in text.split("=", 1))
    if key not in _SCHEMA:
        close = difflib.get_close_matches(key, list(_SCHEMA), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(_SCHEMA)}"
        raise ConfigError(key, f"unknown key{hint}", file=f"--set {text}")
    try:
        value = yaml.safe_load(value_text) if value_text else None
    except yaml.YAMLError as exc:
        raise ConfigError(key, f"cannot parse value {value_text!r}: {str(exc).splitlines()[0]}",
                          file=f"--set {text}") from None
    flat[key] = value
    origin[key] = f"--set {text}"


def load_yaml_config(path: str | Path, overrides: Sequence[str] = ()) -> SystolicConfig:
    """Read a gpusim systolic preset (``configs/accel/*.yaml``)."""
    p = Path(path)
    shown = str(path)
    data = _read_yaml(p)
    flat: dict[str, Any] = {}
    _flatten(data, "", shown, flat)
    origin = {k: shown for k in flat}
    for text in overrides:
        _apply_set(flat, origin, text)
    for k in _REQUIRED:
        if k not in flat:
            raise ConfigError(k, "missing required key", file=shown)
    for k, v in _DEFAULTS.items():
        flat.setdefault(k, v)
        origin.setdefault(k, "default")
    val = {k: _convert(k, v, origin[k] if origin[k] != "default" else shown) for k, v in flat.items()}
    word = val["word_size"]
    clock = val["clock"]

    def words(key: str) -> int:
        n = val[key] // word
        if n * word != val[key]:
            raise ConfigError(key, f"{units.format_size(val[key])} is not a whole number of "
                                   f"{word}-byte words", file=origin[key])
        return n

    mode = val["scalesim.interface"]
    if mode not in ("USER", "CALC"):
        raise ConfigError("scalesim.interface", f"expected USER or CALC, got {mode!r}", file=origin["scalesim.interface"])
    bw_words = val["dram.bandwidth"] / clock / word
    port = max(1, int(math.floor(bw_words / val["array.count"])))
    lat = units.time_to_cycles(val["dram.latency"], clock)
    return SystolicConfig(
        name=val["name"], source=shown, rows=val["array.rows"], cols=val["array.cols"],
        dataflow=val["array.dataflow"], ifmap_sram_words=words("sram.ifmap"),
        filter_sram_words=words("sram.filter"), ofmap_sram_words=words("sram.ofmap"),
        interface_mode=mode, ifmap_dram_bw_words=port, filter_dram_bw_words=port, ofmap_dram_bw_words=port,
        dram_bw_words_per_cycle=bw_words, dram_latency_cycles=lat, word_bytes=word, clock_hz=clock,
        arrays=val["array.count"], vector_ops_per_cycle=val.get("vector.ops_per_cycle", 0), sources=val["sources"],
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

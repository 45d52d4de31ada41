"""SCALE-Sim ``.cfg`` files -> :class:`~gpusim.accel.systolic.config.SystolicConfig`.

Read as SCALE-Sim 3.0.0 reads them (``scalesim/scale_config.py``, research/scalesim-model.md
§3.1): INI sections, ``key: value`` or ``key = value``, keys case-insensitive, ``#``/``;`` comment
lines.  Units are SCALE-Sim's: SRAM sizes in "kB" of 1-byte words (1 kB = 1024 words whatever the
data type), bandwidths in words per cycle.  In ``InterfaceBandwidth: USER`` mode the IFMAP and
FILTER DRAM bandwidths are ``[layout] IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth`` and
``[architecture_presets] Bandwidth`` (first element) is the OFMAP one - SCALE-Sim's quirk, kept.

Differences from SCALE-Sim, all towards clearer errors: a missing required key, a bad integer, an
unknown ``Dataflow`` (SCALE-Sim warns and runs OS) or a feature gpusim does not model (sparsity,
custom layouts, Ramulator traces) is an error naming ``file:line``; keys SCALE-Sim ignores
(``MemoryBanks``, ``TimeLinearModel``, ...) are ignored, and an unknown key close to a missing
required one is named in the error.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from gpusim.accel.systolic.config import Dataflow, SystolicConfig
from gpusim.errors import ConfigError

__all__ = ["read_scalesim_cfg"]

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_ITEM = re.compile(r"^\s*([^:=\s][^:=]*?)\s*[:=]\s*(.*?)\s*$")

# (section, key) SCALE-Sim 3.0.0 reads unconditionally; gpusim needs only some of them.
_REQUIRED = [
    ("general", "run_name"),
    ("architecture_presets", "arrayheight"),
    ("architecture_presets", "arraywidth"),
    ("architecture_presets", "ifmapsramszkb"),
    ("architecture_presets", "filtersramszkb"),
    ("architecture_presets", "ofmapsramszkb"),
    ("architecture_presets", "dataflow"),
    ("run_presets", "interfacebandwidth"),
]
# Read by SCALE-Sim but without effect on gpusim's results; accepted when present, not required.
_OPTIONAL = {
    ("architecture_presets", "ifmapoffset"), ("architecture_presets", "filteroffset"),
    ("architecture_presets", "ofmapoffset"), ("architecture_presets", "readrequestbuffer"),
    ("architecture_presets", "writerequestbuffer"), ("architecture_presets", "bandwidth"),
    ("layout", "ifmapcustomlayout"), ("layout", "filtercustomlayout"),
    ("layout", "ifmapsrambankbandwidth"), ("layout", "filtersrambankbandwidth"),
    ("layout", "ifmapsrambanknum"), ("layout", "ifmapsrambankport"),
    ("layout", "filtersrambanknum"), ("layout", "filtersrambankport"),
    ("sparsity", "sparsitysupport"), ("sparsity", "sparserep"), ("sparsity", "optimizedmapping"),
    ("sparsity", "blocksize"), ("sparsity", "randomnumbergeneratorseed"),
    ("run_presets", "useramulatortrace"), ("network_presets", "topologycsvloc"),
    ("network_presets", "layoutcsvloc"),
}
# Spelled as in SCALE-Sim's files, for messages.
_SPELLING = {
    "run_name": "run_name", "arrayheight": "ArrayHeight", "arraywidth": "ArrayWidth",
    "ifmapsramszkb": "IfmapSramSzkB", "filtersramszkb": "FilterSramSzkB", "ofmapsramszkb": "OfmapSramSzkB",
    "dataflow": "Dataflow", "interfacebandwidth": "InterfaceBandwidth", "bandwidth": "Bandwidth",
    "ifmapsrambankbandwidth": "IfmapSRAMBankBandwidth", "filtersrambankbandwidth": "FilterSRAMBankBandwidth",
    "sparsitysupport": "SparsitySupport", "ifmapcustomlayout": "IfmapCustomLayout",
    "filtercustomlayout": "FilterCustomLayout", "useramulatortrace": "UseRamulatorTrace",
}


def _spell(section: str, key: str) -> str:
    return f"[{section}] {_SPELLING.get(key, key)}"


def _parse(path: Path, shown: str) -> dict[tuple[str, str], tuple[str, int]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError("config", f"cannot read: {exc.strerror or exc}", file=shown) from None
    except UnicodeDecodeError:
        raise ConfigError("config", "not a text file (UTF-8 expected)", file=shown) from None
    items: dict[tuple[str, str], tuple[str, int]] = {}
    section: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;":
            continue
        m = _SECTION.match(raw)
        if m:
            section = m.group(1).strip()
            continue
        m = _ITEM.match(raw)
        if not m:
            raise ConfigError(f"line {lineno}", f"cannot parse {stripped!r}: expected '[section]' or 'key: value'",
                              file=shown)
        if section is None:
            raise ConfigError(f"line {lineno}", f"key {m.group(1)!r} before any [section] header", file=shown)
        key = m.group(1).strip().lower()
        if (section, key) in items:
            raise ConfigError(f"line {lineno}", f"duplicate key '{m.group(1).strip()}' in [{section}] "
                                                f"(first at line {items[(section, key)][1]})", file=shown)
        items[(section, key)] = (m.group(2), lineno)
    return items


def read_scalesim_cfg(path: str | Path) -> SystolicConfig:
    """Read a SCALE-Sim 3.0.0 ``.cfg`` file."""
    p = Path(path)
    shown = str(path)
    if not p.is_file():
        raise ConfigError("config", "no such file", file=shown)
    items = _parse(p, shown)
    known = set(_REQUIRED) | _OPTIONAL
    unknown = [k for k in items if k not in known]

    def where(sk: tuple[str, str]) -> str:
        return f"line {items[sk][1]}"

    def missing(sk: tuple[str, str], why: str = "") -> ConfigError:
        cands = {f"{s}.{k}": (s, k) for s, k in unknown}
        close = difflib.get_close_matches(f"{sk[0]}.{sk[1]}", list(cands), n=1, cutoff=0.75)
        hint = ""
        if close:
            s, k = cands[close[0]]
            hint = f"; did you mean '{_spell(sk[0], sk[1])}' for '[{s}] {k}' at line {items[(s, k)][1]}?"
        return ConfigError(_spell(*sk), f"missing required key{why}{hint}", file=shown)

    for sk in _REQUIRED:
        if sk not in items:
            raise missing(sk)

    def get_int(sk: tuple[str, str], minimum: int = 1) -> int:
        text, _ = items[sk]
        try:
            v = int(text.strip())
        except ValueError:
            raise ConfigError(f"{where(sk)}: {_spell(*sk)}", f"expected an integer, got {text.strip()!r}",
                              file=shown) from None
        if v < minimum:
            raise ConfigError(f"{where(sk)}: {_spell(*sk)}", f"must be >= {minimum}, got {v}", file=shown)
        return v

    def get_bool(sk: tuple[str, str], default: bool) -> bool:
        if sk not in items:
            return default
        text = items[sk][0].strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ConfigError(f"{where(sk)}: {_spell(*sk)}", f"expected True or False, got {items[sk][0]!r}", file=shown)

    def unsupported(sk: tuple[str, str], what: str) -> None:
        if get_bool(sk, False):
            raise ConfigError(f"{where(sk)}: {_spell(*sk)}",
                              f"{what} is not modelled by gpusim; set it to False (see docs/systolic.md)", file=shown)

    unsupported(("sparsity", "sparsitysupport"), "sparsity")
    unsupported(("layout", "ifmapcustomlayout"), "the custom-layout SRAM bank model")
    unsupported(("layout", "filtercustomlayout"), "the custom-layout SRAM bank model")
    unsupported(("run_presets", "useramulatortrace"), "Ramulator DRAM latency traces")

    df_sk = ("architecture_presets", "dataflow")
    df_text = items[df_sk][0].strip().lower()
    try:
        dataflow = Dataflow(df_text)
    except ValueError:
        close = difflib.get_close_matches(df_text, [d.value for d in Dataflow], n=1, cutoff=0.3)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{where(df_sk)}: {_spell(*df_sk)}",
                          f"expected os, ws or is, got {items[df_sk][0].strip()!r}{hint}"
                          " (SCALE-Sim would warn and run OS)", file=shown) from None

    mode_sk = ("run_presets", "interfacebandwidth")
    mode = items[mode_sk][0].strip()
    if mode not in ("USER", "CALC"):
        raise ConfigError(f"{where(mode_sk)}: {_spell(*mode_sk)}", f"expected USER or CALC, got {mode!r}", file=shown)

    bw_sk = ("architecture_presets", "bandwidth")
    bandwidth: int | None = None
    if bw_sk in items:
        first = items[bw_sk][0].split(",")[0].strip()
        try:
            bandwidth = int(first)
        except ValueError:
            raise ConfigError(f"{where(bw_sk)}: {_spell(*bw_sk)}",
                              f"expected an integer (words/cycle), got {first!r}", file=shown) from None
        if bandwidth < 1:
            raise ConfigError(f"{where(bw_sk)}: {_spell(*bw_sk)}", f"must be >= 1, got {bandwidth}", file=shown)
    ifmap_bw = filter_bw = None
    if mode == "USER":
        if bandwidth is None:
            raise missing(bw_sk, " in InterfaceBandwidth: USER mode (the OFMAP DRAM write bandwidth)")
        for sk in (("layout", "ifmapsrambankbandwidth"), ("layout", "filtersrambankbandwidth")):
            if sk not in items:
                raise missing(sk, " in InterfaceBandwidth: USER mode (SCALE-Sim 3 takes the IFMAP/FILTER "
                                  "DRAM read bandwidth, words/cycle, from it)")
        ifmap_bw = get_int(("layout", "ifmapsrambankbandwidth"))
        filter_bw = get_int(("layout", "filtersrambankbandwidth"))

    kb = 1024  # SCALE-Sim: word_size = 1 byte, size_bytes = 1024 * kB (single_layer_sim.py)
    return SystolicConfig(
        name=items[("general", "run_name")][0].strip() or p.stem,
        source=shown,
        rows=get_int(("architecture_presets", "arrayheight")),
        cols=get_int(("architecture_presets", "arraywidth")),
        dataflow=dataflow,
        ifmap_sram_words=kb * get_int(("architecture_presets", "ifmapsramszkb")),
        filter_sram_words=kb * get_int(("architecture_presets", "filtersramszkb")),
        ofmap_sram_words=kb * get_int(("architecture_presets", "ofmapsramszkb")),
        interface_mode=mode,
        ifmap_dram_bw_words=ifmap_bw,
        filter_dram_bw_words=filter_bw,
        ofmap_dram_bw_words=bandwidth,
        dram_bw_words_per_cycle=float(bandwidth) if bandwidth is not None else None,
        word_bytes=1,
    )

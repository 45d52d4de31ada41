"""Opcode tables (isa/*.yaml) and the modifier helpers of gpusim.frontend.opcodes."""

from __future__ import annotations

import collections
import lzma
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gpusim.core.layout import OPCODE_DTYPE, MemKind, MemSpace, Unit
from gpusim.errors import IsaError
from gpusim.frontend import opcodes as oc
from gpusim.frontend.opcodes import (
    access_width_bytes,
    bypasses_l1,
    family_for_binary_version,
    load_opcode_table,
    mma_operand_bits,
    mma_shape,
)

ALL_FAMILIES = ("pascal", "volta", "turing", "ampere", "ada", "hopper", "blackwell")


# --------------------------------------------------------------------------------------------
# a small reader for the shared traces and listings (independent of the real trace parser)
# --------------------------------------------------------------------------------------------

_BINVER = re.compile(r"^-binary version = (\d+)", re.M)
_LINEINFO = re.compile(r"^-enable lineinfo = 1", re.M)
_SASS_ARCH = re.compile(r"code for sm_(\d+)")
_SASS_INST = re.compile(r"^\s*/\*[0-9a-fA-F]{4,}\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Za-z0-9_]+)*)")


def _text(p: Path) -> str:
    if p.suffix == ".xz":
        with lzma.open(p, "rt", errors="replace") as f:
            return f.read()
    return p.read_text(errors="replace")


def _trace_mnemonics(p: Path) -> tuple[int, set[str]]:
    text = _text(p)
    m = _BINVER.search(text)
    assert m, f"{p}: no -binary version header"
    skip = (4 if p.name.endswith((".trace", ".trace.xz")) else 0) + (1 if _LINEINFO.search(text) else 0)
    seen: set[str] = set()
    for line in text.splitlines():
        if not line or line[0] in "-#" or "=" in line:
            continue
        tok = line.split(None, skip + 4)
        if len(tok) < skip + 4 or not tok[skip + 2].isdigit():
            continue
        ndst = int(tok[skip + 2])
        tok = line.split(None, skip + 4 + ndst)
        seen.add(tok[skip + 3 + ndst])
    return int(m.group(1)), seen


def _listing_mnemonics(p: Path) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    arch = None
    for line in _text(p).splitlines():
        m = _SASS_ARCH.search(line)
        if m:
            arch = int(m.group(1))
            continue
        m = _SASS_INST.match(line)
        if m and arch is not None:
            out.setdefault(arch, set()).add(m.group(1))
    return out


@pytest.fixture(scope="module")
def shared_opcodes(shared_traces: Path) -> dict[int, dict[str, str]]:
    """{binary version: {full mnemonic: first file it was seen in}} over every trace and listing."""
    found: dict[int, dict[str, str]] = collections.defaultdict(dict)
    n_traces = n_listings = 0
    for p in sorted(shared_traces.rglob("*")):
        if p.name.endswith((".traceg", ".traceg.xz", ".trace", ".trace.xz")):
            v, ms = _trace_mnemonics(p)
            n_traces += 1
            for mn in ms:
                found[v].setdefault(mn, str(p.relative_to(shared_traces)))
        elif p.suffix == ".sass":
            n_listings += 1
            for v, ms in _listing_mnemonics(p).items():
                for mn in ms:
                    found[v].setdefault(mn, str(p.relative_to(shared_traces)))
    assert n_traces >= 100 and n_listings >= 100, (n_traces, n_listings)
    return dict(found)


# --------------------------------------------------------------------------------------------
# coverage
# --------------------------------------------------------------------------------------------


def test_every_opcode_in_shared_traces_and_listings_resolves_in_its_architecture_table(shared_opcodes):
    missing = []
    for v, mns in sorted(shared_opcodes.items()):
        table = load_opcode_table(family_for_binary_version(v))
        for mn, where in sorted(mns.items()):
            if table.id_of(mn) < 0:
                missing.append(f"sm_{v} ({table.family}): {mn} in {where}")
            elif table.unit[table.id_of(mn)] == Unit.TENSOR:
                assert mma_shape(mn) is not None, (mn, where)   # the tensor latency formula needs it
    assert not missing, "opcodes missing from isa/*.yaml:\n" + "\n".join(missing)
    # the shared set spans these architectures; losing one would silently weaken the test
    assert {61, 70, 75, 80, 86, 89, 120} <= set(shared_opcodes)
    assert sum(len(m) for m in shared_opcodes.values()) > 300


# research/sass-control-bits.md section 6 (LLM-kernel inventory), per architecture
_LLM_INVENTORY = {
    75: "HMMA.1688.F32 LDSM.16.M88.2 LDSM.16.MT88.2 LDG.E.128.CONSTANT.SYS LDG.E.STRONG.SYS STG.E.64.SYS "
        "LDS.U STS.128 SHFL.BFLY MUFU.EX2 MUFU.RCP MUFU.RSQ FMNMX FADD FMUL FFMA FCHK CALL F2F.F16.F32 "
        "HADD2.F32 PRMT ULDC IMAD.WIDE IADD3 LEA LOP3.LUT SHF.R.U32.HI UIADD3 BRA BSSY BSYNC BAR.SYNC "
        "WARPSYNC EXIT NOP S2R S2UR I2F LDC",
    80: "HMMA.16816.F32 HMMA.16816.F32.BF16 LDSM.16.M88.4 LDSM.16.MT88.2 LDGSTS.E.BYPASS.128 LDGDEPBAR "
        "DEPBAR.LE LDG.E.128.CONSTANT LDG.E.STRONG.SYS STG.E.64 LDS STS SHFL.BFLY MUFU.EX2 FMNMX FCHK "
        "F2FP.PACK_AB HADD2.F32 PRMT ULDC IMAD IADD3 BAR.SYNC.DEFER_BLOCKING BSSY BSYNC WARPSYNC EXIT",
    86: "I2FP.F32.U32 F2FP.PACK_AB HMMA.16816.F32 LDGSTS.E.BYPASS.128",
    89: "F2FP.F16.F32.PACK_AB HMMA.16816.F32.BF16 I2FP.F32.U32 LDSM.16.M88.4",
    90: "HMMA.16816.F32 LDC.64 ULDC VIADD UISETP VIMNMX WARPSYNC.COLLECTIVE ENDCOLLECTIVE "
        "HGMMA.64x64x16.F32 WARPGROUP.ARRIVE WARPGROUP.DEPBAR.LE UTMALDG.2D SYNCS.ARRIVE.TRANS64 "
        "SYNCS.PHASECHK.TRANS64.TRYWAIT SYNCS.EXCH.64 ELECT FENCE.VIEW.ASYNC.S MEMBAR.ALL.CTA "
        "UIADD3 ULOP3.LUT USHF.L.U32 ULEA",
}


@pytest.mark.parametrize("version", sorted(_LLM_INVENTORY))
def test_llm_kernel_inventory_opcodes_resolve(version):
    table = load_opcode_table(family_for_binary_version(version))
    mns = _LLM_INVENTORY[version].split()
    ids = table.intern(mns)          # raises IsaError on any unknown opcode
    assert (ids >= 0).all()


def test_every_family_table_loads_and_later_families_keep_common_opcodes():
    common = "FFMA FADD IMAD IADD3 ISETP LOP3 SHF MOV LDG STG LDS STS LDC S2R SHFL MUFU BRA EXIT BAR NOP".split()
    sizes = {}
    for fam in ALL_FAMILIES:
        t = load_opcode_table(fam)
        sizes[fam] = len(t)
        missing = [op for op in common if fam != "pascal" and t.id_of(op) < 0]
        assert not missing, (fam, missing)
    assert sizes["turing"] > sizes["volta"] and sizes["hopper"] > sizes["ampere"]


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


def test_unknown_opcode_raises_isaerror_naming_the_opcode_where_and_table_file():
    t = load_opcode_table("ampere")
    assert t.id_of("FFMAX.FTZ") == -1
    with pytest.raises(IsaError) as ei:
        t.intern(["FFMA", "FFMAX.FTZ"], where=["kernel-1.traceg:10", "kernel-1.traceg:11"])
    msg = str(ei.value)
    assert msg.startswith("kernel-1.traceg:11: ")
    assert "'FFMAX'" in msg and "isa/ampere.yaml" in msg and "ampere" in msg
    assert "did you mean" in msg and "FFMA" in msg


def test_pascal_only_opcode_is_unknown_on_volta_and_later():
    assert load_opcode_table("pascal").id_of("XMAD.MRG") >= 0
    for fam in ALL_FAMILIES[1:]:
        with pytest.raises(IsaError, match=rf"'XMAD' for {fam} \(isa/{fam}\.yaml\)"):
            load_opcode_table(fam).intern(["XMAD"])


@pytest.mark.parametrize("version", [35, 52, 999, -1])
def test_unsupported_binary_version_raises_isaerror_listing_supported(version):
    with pytest.raises(IsaError, match=rf"unsupported -binary version {version} \(supported: .*61.*86.*\)"):
        family_for_binary_version(version)


@pytest.mark.parametrize(
    "version,family",
    [(60, "pascal"), (61, "pascal"), (62, "pascal"), (70, "volta"), (72, "volta"), (75, "turing"),
     (80, "ampere"), (86, "ampere"), (87, "ampere"), (89, "ada"), (90, "hopper"),
     (100, "blackwell"), (120, "blackwell")],
)
def test_binary_version_selects_family(version, family):
    assert family_for_binary_version(version) == family
    assert oc.table_for_binary_version(version).family == family


def test_unknown_family_raises_isaerror():
    with pytest.raises(IsaError, match="no opcode table for family 'kepler'"):
        load_opcode_table("kepler")


# --------------------------------------------------------------------------------------------
# table contents
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fam", ["volta", "turing", "ampere", "ada", "hopper", "blackwell"])
def test_memory_mufu_s2r_shfl_are_variable_and_alu_ops_fixed(fam):
    t = load_opcode_table(fam)
    for mn in ["LDG.E.128", "STG.E", "LDS.U.128", "STS", "LDL", "LDC.64", "MUFU.EX2", "S2R", "SHFL.BFLY", "I2F.U32"]:
        assert t.variable[t.id_of(mn)], (fam, mn)
    for mn in ["FFMA", "FADD.FTZ", "IADD3.X", "IMAD.WIDE.U32", "LOP3.LUT", "ISETP.GE.AND", "MOV", "CS2R", "ULDC.64"]:
        assert not t.variable[t.id_of(mn)], (fam, mn)


def test_hmma_is_fixed_latency_on_ampere_and_later_but_variable_on_turing():
    # sass-control-bits.md s5: HMMA.1688 sets W+R SBs on sm_75; HMMA.16816 has none on sm_80+
    assert load_opcode_table("turing").entry("HMMA.1688.F32")["variable"]
    for fam in ("ampere", "ada", "hopper", "blackwell"):
        e = load_opcode_table(fam).entry("HMMA.16816.F32")
        assert e["unit"] is Unit.TENSOR and not e["variable"], fam


def test_every_mem_unit_opcode_is_variable_latency_in_every_family():
    for fam in ALL_FAMILIES:
        t = load_opcode_table(fam)
        fixed = [t.names[i] for i in np.flatnonzero(t.unit == Unit.MEM) if not t.variable[i]]
        assert not fixed, (fam, fixed)


def test_modifiers_do_not_change_the_unit_mufu_all_sfu_imad_all_fp32():
    t = load_opcode_table("ampere")
    for mn in ["MUFU.EX2", "MUFU.RCP", "MUFU.RSQ", "MUFU.SIN", "MUFU.COS", "MUFU.LG2", "MUFU.EX2.F16"]:
        assert t.entry(mn)["unit"] is Unit.SFU
    for mn in ["IMAD", "IMAD.WIDE", "IMAD.WIDE.U32", "IMAD.MOV.U32", "IMAD.SHL.U32", "IMAD.X", "IMAD.HI.U32", "IMAD.IADD"]:
        assert t.entry(mn)["unit"] is Unit.FP32
    assert len({t.id_of(m) for m in ["IMAD", "IMAD.WIDE", "IMAD.MOV.U32"]}) == 1


@pytest.mark.parametrize(
    "mn,space,kind",
    [("LDG.E.128", MemSpace.GLOBAL, MemKind.LOAD), ("STG.E.64", MemSpace.GLOBAL, MemKind.STORE),
     ("LDS.128", MemSpace.SHARED, MemKind.LOAD), ("STS", MemSpace.SHARED, MemKind.STORE),
     ("LDL", MemSpace.LOCAL, MemKind.LOAD), ("STL.128", MemSpace.LOCAL, MemKind.STORE),
     ("LD.E", MemSpace.GENERIC, MemKind.LOAD), ("ST.E", MemSpace.GENERIC, MemKind.STORE),
     ("ATOM.E.ADD", MemSpace.GENERIC, MemKind.ATOMIC), ("ATOMS.ADD", MemSpace.SHARED, MemKind.ATOMIC),
     ("ATOMG.E.ADD", MemSpace.GLOBAL, MemKind.ATOMIC), ("RED.E.ADD.F32", MemSpace.GLOBAL, MemKind.REDUCTION),
     ("LDC.64", MemSpace.CONST, MemKind.LOAD), ("LDSM.16.M88.4", MemSpace.SHARED, MemKind.LOAD),
     ("LDGSTS.E.BYPASS.128", MemSpace.GLOBAL, MemKind.ASYNC_COPY), ("MEMBAR.GPU", MemSpace.NONE, MemKind.FENCE),
     ("FFMA", MemSpace.NONE, MemKind.NONE), ("SHFL.BFLY", MemSpace.NONE, MemKind.NONE)],
)
def test_memory_space_and_kind_on_ampere(mn, space, kind):
    e = load_opcode_table("ampere").entry(mn)
    assert (e["space"], e["kind"]) == (space, kind)


def test_compiled_arrays_have_documented_dtypes_and_ids():
    t = load_opcode_table("ampere")
    n = len(t.names)
    assert t.names == tuple(sorted(set(t.names)))
    assert t.unit.dtype == np.int8 and t.variable.dtype == np.bool_ and t.latency.dtype == np.int16
    assert t.mem_space.dtype == np.int8 and t.mem_kind.dtype == np.int8
    assert all(a.shape == (n,) for a in (t.unit, t.variable, t.latency, t.mem_space, t.mem_kind))
    assert set(np.unique(t.unit)) <= {int(u) for u in Unit}
    assert (t.latency == -1).all()      # no per-opcode overrides yet: pipe defaults from the GPU config
    ids = t.intern(["LDG.E.128", "FFMA.FTZ", "LDG.E", "EXIT"])
    assert ids.dtype == OPCODE_DTYPE
    assert ids[0] == ids[2] == t.id_of("LDG") and t.names[ids[1]] == "FFMA" and t.names[ids[3]] == "EXIT"
    assert t.intern([]).shape == (0,)
    with pytest.raises(ValueError):
        t.unit[0] = 0                   # shared cached arrays are read-only
    assert load_opcode_table("ampere") is t


def test_binary_versions_are_unique_and_listed_in_each_table():
    seen = {}
    for fam in ALL_FAMILIES:
        for v in load_opcode_table(fam).binary_versions:
            assert v not in seen, (v, fam, seen.get(v))
            seen[v] = fam
    assert tuple(sorted(seen)) == oc.supported_binary_versions()


# --------------------------------------------------------------------------------------------
# modifier helpers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mn,width",
    [("LDG.E.128", 16), ("STG.E.64", 8), ("LDG.E.U8", 1), ("LDS", 4), ("LDS.U", 4), ("LDS.U.32", 4),
     ("LDS.U.128", 16), ("STG.E.U16.SYS", 2), ("STG.E.U8.SYS", 1), ("LDG.E.S16", 2), ("LDC.64", 8),
     ("LDC.U8", 1), ("LDG.E.128.CONSTANT.SYS", 16), ("LDGSTS.E.BYPASS.LTC128B.128", 16),
     ("LDGSTS.E.LTC128B.64", 8), ("LDG.E.64", 8), ("ATOMG.E.ADD.F64.RN", 8), ("ATOM.E.ADD.F16x2.RN", 4),
     ("RED.E.ADD.F32.FTZ.RN", 4), ("LDSM.16.M88.4", 16), ("LDSM.16.MT88.2", 16), ("LDSM.16.M88", 16),
     ("LDG.E.ENL2.256", 32), ("STL.128", 16)],
)
def test_access_width_bytes_from_modifiers(mn, width):
    assert access_width_bytes(mn) == width


@pytest.mark.parametrize(
    "mn,bypass",
    [("LDG.E.STRONG.GPU", True), ("LDG.E.64.STRONG.GPU", True), ("LDG.E.STRONG.SYS", True),
     ("LDGSTS.E.BYPASS.LTC128B.128", True), ("LDG.E.CG", True), ("LDG.E.STRONG.SM", False),
     ("LDG.E.STRONG.CTA", False), ("LDG.E.CONSTANT", False), ("LDG.E.SYS", False), ("LDG.E.128", False),
     ("LDGSTS.E.LTC128B.128", False), ("STG.E.SYS", False)],
)
def test_bypasses_l1_for_strong_gpu_sys_and_bypass_modifiers(mn, bypass):
    assert bypasses_l1(mn) is bypass


@pytest.mark.parametrize(
    "mn,shape,operand_bits",
    [("HMMA.16816.F32", (16, 8, 16, 32), 16), ("HMMA.16816.F32.BF16", (16, 8, 16, 32), 16),
     ("HMMA.16816.F16", (16, 8, 16, 16), 16), ("HMMA.1688.F16", (16, 8, 8, 16), 16),
     ("HMMA.1688.F32", (16, 8, 8, 32), 16), ("HMMA.1684.F32.TF32", (16, 8, 4, 32), 32),
     ("HMMA.884.F32.F32.STEP2", (8, 8, 4, 32), 16), ("IMMA.16832.S8.S8", (16, 8, 32, 32), 8),
     ("IMMA.8832.U4.U4", (8, 8, 32, 32), 4), ("DMMA.884", (8, 8, 4, 64), 64),
     ("QMMA.16832.F32.E4M3.E4M3", (16, 8, 32, 32), 8), ("HGMMA.64x64x16.F32", (64, 64, 16, 32), 16),
     ("HGMMA.64x128x16.F32.BF16", (64, 128, 16, 32), 16), ("HGMMA.64x256x16.F16", (64, 256, 16, 16), 16), ("BMMA.88128.AND.POPC", (8, 8, 128, 32), 1)],
)
def test_mma_shape_parses_sync_and_warpgroup_shapes(mn, shape, operand_bits):
    s = mma_shape(mn)
    assert tuple(s) == shape and (s.m, s.n, s.k, s.acc_bits) == shape
    assert mma_operand_bits(mn) == operand_bits


def test_mma_shape_gives_released_tensor_latency_for_16816_f32():
    m, n, k, b = mma_shape("HMMA.16816.F32")
    assert m * n * k * b // 2048 == 32          # modern-gpu-cores.md s5: cycles before the II split
    assert oc.is_sparse_mma("HMMA.SP.16832.F32") and not oc.is_sparse_mma("HMMA.16816.F32")


def test_mma_shape_is_none_without_a_shape_modifier():
    # tcgen05 MMAs take their shape from a descriptor; the caller falls back to the pipe default
    for mn in ("FFMA", "HMMA.F32", "UTCHMMA.2CTA", "UTCQMMA"):
        assert mma_shape(mn) is None and mma_operand_bits(mn) is None and oc.mma_formula_bits(mn) is None
    with pytest.raises(IsaError, match="no accumulator type"):
        mma_shape("HMMA.16816")


@pytest.mark.parametrize(
    "mn,bits",
    [("HMMA.16816.F32", 32), ("HMMA.16816.F32.BF16", 32), ("HMMA.1688.F16", 16), ("IMMA.16832.S8.S8", 8),
     ("IMMA.8832.U4.U4", 4), ("QMMA.16832.F32.E4M3.E4M3", 32), ("DMMA.884", 64), ("HGMMA.64x64x16.F32", 32)],
)
def test_mma_formula_bits_is_the_first_type_after_the_shape(mn, bits):
    # modern-gpu-cores.md s5: "b is the second number in the opcode"
    assert oc.mma_formula_bits(mn) == bits


# --------------------------------------------------------------------------------------------
# loader validation, on temporary tables
# --------------------------------------------------------------------------------------------


def _write(d: Path, name: str, body: str) -> None:
    (d / f"{name}.yaml").write_text(textwrap.dedent(body))


@pytest.fixture
def tmp_isa(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUSIM_ISA_DIR", str(tmp_path))
    yield tmp_path
    oc.clear_caches()


def test_table_with_invalid_unit_name_is_rejected_naming_file_and_opcode(tmp_isa):
    _write(tmp_isa, "testfam", """\
        family: testfam
        binary_versions: [1]
        opcodes:
          FFMA: {unit: fp32}
          FOO:  {unit: vector}
        """)
    with pytest.raises(IsaError) as ei:
        load_opcode_table("testfam")
    msg = str(ei.value)
    assert "isa/testfam.yaml" in msg and "FOO" in msg and "'vector'" in msg and "fp32" in msg


@pytest.mark.parametrize(
    "entry,fragment",
    [("{unit: int, latncy: variable}", "unknown field(s) ['latncy']"),
     ("{unit: int, latency: slow}", "latency must be 'fixed' or 'variable'"),
     ("{unit: int, cycles: 0}", "cycles must be a positive integer"),
     ("{unit: mem, space: shared}", "needs both 'space' and 'kind'"),
     ("{unit: int, space: global, kind: load}", "need unit: mem"),
     ("{unit: mem, latency: variable, space: heap, kind: load}", "unknown space 'heap'"),
     ("{latency: variable}", "missing 'unit'")],
)
def test_malformed_entries_are_rejected_naming_file_and_opcode(tmp_isa, entry, fragment):
    _write(tmp_isa, "testfam", f"""\
        family: testfam
        binary_versions: [1]
        opcodes:
          BAD: {entry}
        """)
    with pytest.raises(IsaError) as ei:
        load_opcode_table("testfam")
    assert "isa/testfam.yaml" in str(ei.value) and "BAD" in str(ei.value) and fragment in str(ei.value)


def test_table_level_errors_are_rejected(tmp_isa):
    _write(tmp_isa, "a", "family: b\nopcodes: {X: {unit: int}}\n")
    with pytest.raises(IsaError, match=r"isa/a\.yaml: 'family: b' does not match"):
        load_opcode_table("a")
    _write(tmp_isa, "c", "family: c\nopcode: {X: {unit: int}}\n")
    with pytest.raises(IsaError, match=r"isa/c\.yaml: unknown top-level key"):
        load_opcode_table("c")
    _write(tmp_isa, "d", "family: d\nopcodes: {ldg: {unit: mem}}\n")
    with pytest.raises(IsaError, match="upper case"):
        load_opcode_table("d")
    _write(tmp_isa, "e", "family: e\nextends: e\nopcodes: {X: {unit: int}}\n")
    with pytest.raises(IsaError, match="circular"):
        load_opcode_table("e")


def test_extends_inherits_overrides_fields_replaces_on_unit_and_removes(tmp_isa):
    _write(tmp_isa, "base", """\
        family: base
        binary_versions: [1]
        opcodes:
          FFMA: {unit: fp32}
          HMMA: {unit: tensor, latency: variable, note: "old"}
          XMAD: {unit: int}
          LDX:  {unit: mem, latency: variable, space: global, kind: load}
        """)
    _write(tmp_isa, "child", """\
        family: child
        extends: base
        binary_versions: [2]
        remove: [XMAD]
        opcodes:
          HMMA: {latency: fixed}
          LDX:  {unit: int}
          NEW:  {unit: sfu, latency: variable, cycles: 23}
        """)
    t = load_opcode_table("child")
    assert t.names == ("FFMA", "HMMA", "LDX", "NEW")
    h = t.entry("HMMA")
    assert h["unit"] is Unit.TENSOR and not h["variable"] and h["note"] == "old"
    ldx = t.entry("LDX")     # naming 'unit' replaces the whole inherited entry
    assert ldx["unit"] is Unit.INT and ldx["space"] is MemSpace.NONE and not ldx["variable"]
    assert t.entry("NEW")["latency"] == 23 and t.latency[t.id_of("FFMA")] == -1
    assert load_opcode_table("base").id_of("XMAD") >= 0 and t.id_of("XMAD") == -1
    assert family_for_binary_version(2) == "child" and oc.supported_binary_versions() == (1, 2)


def test_duplicate_binary_version_across_tables_is_rejected(tmp_isa):
    _write(tmp_isa, "one", "family: one\nbinary_versions: [7]\nopcodes: {X: {unit: int}}\n")
    _write(tmp_isa, "two", "family: two\nbinary_versions: [7]\nopcodes: {X: {unit: int}}\n")
    with pytest.raises(IsaError, match="binary version 7 is also claimed"):
        family_for_binary_version(7)

"""Tests of gpusim.frontend.sass: SASS listing reader (control bits, operands, register usage).

Real listings under ../shared/traces (skipped when absent) and our own tiny sm_86 kernel in
tests/data/sass/ (tiny.cu, dumped by both nvdisasm -c -hex and cuobjdump -sass).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gpusim.errors import SassError
from gpusim.frontend.sass import (
    RZ,
    Operand,
    decode_control,
    parse_sass_listing,
    parse_sass_text,
)

DATA = Path(__file__).resolve().parent / "data" / "sass"
NVDISASM = DATA / "tiny_sm86.nvdisasm.txt"
CUOBJDUMP = DATA / "tiny_sm86.cuobjdump.sass"

MANDEL = "cuassembler-mandelbrot-sm75"
SGEMM = "sgemm-naive-sm86"
KING = "sass-king-sm89-sm120"


def _all_listings(shared_traces: Path):
    return {p: parse_sass_listing(p) for p in sorted(shared_traces.rglob("*.sass"))}


@pytest.fixture(scope="module")
def shared_listings(shared_traces):
    return _all_listings(shared_traces)


def _popcount4(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x.astype(np.uint8)[:, None], axis=1).sum(axis=1)


# ----------------------------------------------------------------------------- real listings


def test_every_shared_listing_parses_with_the_documented_instruction_counts(shared_traces, shared_listings):
    assert len(shared_listings) >= 111
    for path, lst in shared_listings.items():
        for fn in lst.functions.values():
            # contiguous 16-byte instructions from offset 0: no instruction line was skipped
            assert fn.pc[0] == 0, path
            assert np.all(np.diff(fn.pc) == 16), (path, fn.name)
            # spare control bits (instruction bits 126..127) are always 0 (sass-control-bits.md §3)
            assert np.all((fn.hi >> np.uint64(62)) == 0), (path, fn.name)

    mandel = shared_listings[shared_traces / MANDEL / "Mandelbrot.sm_75.sass"]
    assert len(mandel.functions) == 6
    assert mandel.n_instructions == 2848
    assert {f.arch for f in mandel.functions.values()} == {"sm_75"}

    sgemm = shared_listings[shared_traces / SGEMM / "kernel.sass"]
    assert sgemm.n_instructions == 96
    assert sgemm.find_function("_Z11sgemm_naiveiiifPfPKffS_").arch == "sm_86"

    per_arch: dict[str, list[int]] = {}
    for path, lst in shared_listings.items():
        if KING in path.parts:
            for fn in lst.functions.values():
                per_arch.setdefault(fn.arch, []).append(len(fn))
    # per sass-king README: 71 sm_89 listings / 3,736 instructions, 38 sm_120 / 2,232
    assert (len(per_arch["sm_89"]), sum(per_arch["sm_89"])) == (71, 3736)
    assert (len(per_arch["sm_120"]), sum(per_arch["sm_120"])) == (38, 2232)


_CUASM_CTRL = re.compile(
    r"^L\w+:\s*\[([R-]{4}):B([0-5-]{6}):R([0-5-]):W([0-5-]):([Y-]):S(\d\d)\]\s*(.*?)\s*;"
    r".*0x([0-9a-f]{16});\s*0x([0-9a-f]{16})"
)


def _read_cuasm(path: Path) -> dict[str, list[tuple]]:
    """Independent reader of CuAssembler's .cuasm: per .text section, the decoded control fields
    (reuse, wait, rbar, wbar, yield, stall) CuAssembler printed, plus its two words."""
    out: dict[str, list[tuple]] = {}
    cur = None
    for line in path.read_text().splitlines():
        if line.startswith("# section .text."):
            cur = out.setdefault(line[len("# section .text."):].strip(), [])
            continue
        m = _CUASM_CTRL.match(line)
        if m:
            reuse_s, wait_s, rb, wb, y, stall, text, lo, hi = m.groups()
            reuse = sum(1 << i for i, ch in enumerate(reuse_s) if ch == "R")
            wait = sum(1 << i for i, ch in enumerate(wait_s) if ch != "-")
            assert all(ch in ("-", str(i)) for i, ch in enumerate(wait_s))
            cur.append((reuse, wait, 7 if rb == "-" else int(rb), 7 if wb == "-" else int(wb),
                        int(y == "Y"), int(stall), int(lo, 16), int(hi, 16), text))
    return out


def test_control_bits_equal_cuassembler_decoding_for_every_mandelbrot_instruction(shared_traces, shared_listings):
    ref = _read_cuasm(shared_traces / MANDEL / "Mandelbrot.sm_75.cuasm")
    lst = shared_listings[shared_traces / MANDEL / "Mandelbrot.sm_75.sass"]
    assert set(ref) == set(lst.functions)
    total = 0
    for name, rows in ref.items():
        fn = lst.functions[name]
        assert len(rows) == len(fn)
        reuse, wait, rbar, wbar, yld, stall, lo, hi, _ = (np.array(c, dtype=object) for c in zip(*rows))
        assert np.array_equal(fn.lo.astype(object), lo) and np.array_equal(fn.hi.astype(object), hi)
        assert np.array_equal(fn.stall, stall.astype(np.uint8))
        assert np.array_equal(fn.yield_flag, yld.astype(np.uint8)), "yield polarity (raw bit 4 == 0 means Y)"
        assert np.array_equal(fn.wsb, wbar.astype(np.uint8))
        assert np.array_equal(fn.rsb, rbar.astype(np.uint8))
        assert np.array_equal(fn.wait_mask, wait.astype(np.uint8))
        assert np.array_equal(fn.reuse, reuse.astype(np.uint8))
        total += len(fn)
    assert total == 2848


def test_worked_example_hi_word_decodes_to_the_documented_fields():
    # research/sass-control-bits.md §3: HMMA.16816.F32.BF16 R28, R40, R54.reuse, R28
    c = decode_control(np.array([0x082FF0000004181C], dtype=np.uint64))
    assert {k: int(v[0]) for k, v in c.items()} == {
        "stall": 8, "yield_flag": 0, "wsb": 7, "rsb": 7, "wait_mask": 0b000010, "reuse": 0b0010,
    }
    assert all(v.dtype == np.uint8 for v in c.values())
    # raw yield bit 0 → logical yield set (bit 4 of ctrl = bit 45 of hi)
    assert int(decode_control([0x082FF0000004181C & ~(1 << 45)])["yield_flag"][0]) == 1


def _check_reuse_counts(listings) -> int:
    n = 0
    for lst in listings:
        for fn in lst.functions.values():
            text_count = np.array([sum(o.reuse for o in ops) for ops in fn.operands])
            bad = np.nonzero(_popcount4(fn.reuse) != text_count)[0]
            assert bad.size == 0, (lst.path, fn.name, [fn.text[i] for i in bad[:3]])
            n += int(text_count.sum())
    return n


def test_reuse_bit_count_equals_reuse_suffixes_in_every_shared_listing(shared_listings):
    assert _check_reuse_counts(shared_listings.values()) > 500  # the listings do use .reuse


def test_reuse_bit_count_equals_reuse_suffixes_in_our_samples():
    assert _check_reuse_counts([parse_sass_listing(NVDISASM), parse_sass_listing(CUOBJDUMP)]) >= 2


# ----------------------------------------------------------------------------- our own cubin


def test_nvdisasm_and_cuobjdump_of_the_same_cubin_agree():
    a, b = parse_sass_listing(NVDISASM), parse_sass_listing(CUOBJDUMP)
    assert set(a.functions) == set(b.functions) == {"saxpy", "_Z9block_sumPK6float4Pfi"}
    for name, x in a.functions.items():
        y = b.functions[name]
        assert x.arch == y.arch == "sm_86"
        for f in ("pc", "lo", "hi", "stall", "yield_flag", "wsb", "rsb", "wait_mask", "reuse", "branch_target"):
            assert np.array_equal(getattr(x, f), getattr(y, f)), f
        assert x.opcode == y.opcode and x.guard == y.guard
        assert x.dst_reg_lists == y.dst_reg_lists and x.src_reg_lists == y.src_reg_lists
        for i, (ox, oy) in enumerate(zip(x.operands, y.operands)):
            if x.branch_target[i] >= 0:  # only the branch-target spelling differs: `(.L_x_3) vs 0x2c0
                assert (ox[-1].kind, oy[-1].kind) == ("label", "imm")
                ox, oy = ox[:-1], oy[:-1]
            assert ox == oy, (name, i)
        # nvdisasm labels resolve to the same byte offsets cuobjdump prints
        assert (x.branch_target >= 0).sum() >= 1
        assert np.all(x.index_of_pc(x.branch_target[x.branch_target >= 0]) >= 0)


def test_both_words_on_one_line_and_trailing_comments_parse_the_same():
    base = parse_sass_listing(NVDISASM)
    text = NVDISASM.read_text()
    # join each high-word line onto its instruction line
    joined = re.sub(r"(\*/)\n\s*(/\* 0x[0-9a-f]{16} \*/)", r"\1 \2", text)
    semi = re.sub(r"/\* (0x[0-9a-f]{16}) \*/\n\s*/\* (0x[0-9a-f]{16}) \*/", r"/* \1; \2 */", text)
    plr = "\n".join(line + "   // |  3 : :  |" for line in text.splitlines())
    for variant in (joined, semi, plr):
        assert variant != text
        lst = parse_sass_text(variant, "variant")
        for name, fn in base.functions.items():
            g = lst.functions[name]
            assert np.array_equal(g.hi, fn.hi) and np.array_equal(g.lo, fn.lo) and g.opcode == fn.opcode


def test_function_lookup_is_exact_mangled_match():
    lst = parse_sass_listing(CUOBJDUMP)
    assert lst.find_function("_Z9block_sumPK6float4Pfi") is lst.functions["_Z9block_sumPK6float4Pfi"]
    assert lst.find_function("block_sum") is None
    assert lst.find_function("saxpy").name == "saxpy"


def test_index_of_pc_is_vectorised_and_minus_one_when_absent():
    fn = parse_sass_listing(CUOBJDUMP).find_function("saxpy")
    got = fn.index_of_pc(np.array([0, 0x10, 0x18, 0xF0, 0x170, 0x180, -16]))
    assert got.dtype == np.int64
    assert got.tolist() == [0, 1, -1, 15, 23, -1, -1]


# ----------------------------------------------------------------------------- operands and registers

_W = "/* 0x0000000000000000 */\n    /* 0x000fe40000000000 */"


def _one(text: str, arch: str = "sm_86"):
    lst = parse_sass_text(f"code for {arch}\nFunction : k\n/*0000*/ {text} ; {_W}\n", "t.sass")
    fn = lst.functions["k"]
    return fn, fn.operands[0]


def test_operand_forms_are_classified():
    fn, ops = _one("@!P0 LDGSTS.E.LTC128B.128 [R19+0x100], desc[UR10][R8.64+0x100]")
    assert fn.guard == ("@!P0",) and fn.opcode == ("LDGSTS.E.LTC128B.128",)
    assert ops[0] == Operand("mem", "[R19+0x100]", reg=19, offset=0x100)
    assert (ops[1].kind, ops[1].desc, ops[1].reg, ops[1].wide, ops[1].offset) == ("desc", 10, 8, True, 0x100)

    _, ops = _one("FSETP.GTU.FTZ.AND P0, PT, -|R0|.reuse, +INF , !PT")
    assert [o.kind for o in ops] == ["pred", "pred", "reg", "imm", "pred"]
    assert ops[1].reg == 7 and ops[4].negated and ops[4].reg == 7
    assert ops[2].negated and ops[2].absolute and ops[2].reuse and ops[2].reg == 0
    assert ops[3].value == float("inf")

    _, ops = _one("IADD3.X R7, R10, ~c[0x0][0x17c], RZ, P2, !PT")
    assert (ops[2].kind, ops[2].bank, ops[2].offset, ops[2].inverted) == ("const", 0, 0x17C, True)
    assert ops[3].reg == RZ

    _, ops = _one("LDS R6, [R7.X4+-0x400]")
    assert (ops[1].reg, ops[1].suffix, ops[1].offset) == (7, ".X4", -0x400)

    _, ops = _one("LDSM.16.M88.4 R4, [R3+UR4+0x10]")
    assert (ops[1].reg, ops[1].ureg, ops[1].offset) == (3, 4, 0x10)

    _, ops = _one("RET.REL.NODEC R2 0x0")
    assert [o.kind for o in ops] == ["reg", "imm"]

    _, ops = _one("S2UR UR5, SR_CgaCtaId")
    assert (ops[0].kind, ops[0].reg, ops[1].kind, ops[1].name) == ("ureg", 5, "special", "SR_CgaCtaId")

    _, ops = _one("FFMA R8, R7, -5.3903029534742383927e-15, R8")
    assert ops[2].kind == "imm" and ops[2].value == pytest.approx(-5.3903029534742383927e-15)

    _, ops = _one("HGMMA.64x64x16.F32 R24, gdesc[UR12], R24, gsb0")
    assert (ops[1].kind, ops[1].desc, ops[1].reg, ops[3].kind) == ("desc", 12, -1, "other")

    _, ops = _one("DEPBAR.LE SB0, 0x1")
    assert (ops[0].kind, ops[0].name, ops[0].reg, ops[1].value) == ("other", "SB", 0, 1)


@pytest.mark.parametrize(
    "text, arch, dst, src",
    [
        ("LDG.E.128.CONSTANT R8, [R2.64]", "sm_86", (8, 9, 10, 11), (2, 3)),
        ("STG.E.64 desc[UR4][R2.64+0x8], R6", "sm_89", (), (2, 3, 6, 7)),
        ("LDG.E.SYS R4, [R2]", "sm_75", (4,), (2, 3)),  # sm_7x: .E means a 64-bit address pair
        ("LDG.E R4, [R2]", "sm_86", (4,), (2,)),
        ("IMAD.WIDE R2, R0, R3, R4", "sm_86", (2, 3), (0, 3, 4, 5)),
        ("SHFL.BFLY PT, R3, R4, 0x10, 0x1f", "sm_86", (3,), (4,)),
        ("LOP3.LUT P0, R5, R13.reuse, 0x1f, RZ, 0xc0, !PT", "sm_86", (5,), (13,)),
        ("ISETP.GE.AND P0, PT, R0, R9, PT", "sm_86", (), (0, 9)),
        ("DFMA R4, R2, R6, R4", "sm_86", (4, 5), (2, 3, 6, 7, 4, 5)),
        ("F2F.F32.F64 R4, R6", "sm_86", (4,), (6, 7)),
        ("I2F.F64 R10, R15", "sm_86", (10, 11), (15,)),
        ("CS2R R18, SRZ", "sm_86", (18, 19), ()),
        ("LDSM.16.M88.2 R4, [R8]", "sm_86", (4, 5), (8,)),
        ("HMMA.16816.F32 R12, R4, R8, R12", "sm_86", (12, 13, 14, 15), (4, 5, 6, 7, 8, 9, 12, 13, 14, 15)),
        ("HMMA.16816.F16 R12, R4, R8, RZ", "sm_86", (12, 13), (4, 5, 6, 7, 8, 9)),
        ("RED.E.ADD.F32.FTZ.RN.STRONG.GPU [R2.64], R5", "sm_86", (), (2, 3, 5)),
        ("@P0 BRA 0x40", "sm_86", (), ()),
        ("IADD.64 R2, R2, R4", "sm_89", (2, 3), (2, 3, 4, 5)),
        ("MOV R1, c[0x0][R2+0x28]", "sm_86", (1,), (2,)),
    ],
)
def test_register_usage_rule(text, arch, dst, src):
    fn, _ = _one(text, arch)
    assert fn.dst_regs(0) == dst
    assert fn.src_regs(0) == src
    csr = fn.register_csr()
    assert tuple(csr["dst"][csr["dst_ptr"][0]:csr["dst_ptr"][1]]) == dst
    assert tuple(csr["src"][csr["src_ptr"][0]:csr["src_ptr"][1]]) == src


def test_multi_arch_listing_needs_an_arch_choice():
    one = f"Function : k\n/*0000*/ EXIT ; {_W}\n"
    text = f"code for sm_80\n{one}code for sm_90\n{one}"
    with pytest.raises(SassError, match=r"^fat\.sass:6: .*sm_80 and sm_90"):
        parse_sass_text(text, "fat.sass")
    assert parse_sass_text(text, "fat.sass", arch="sm_90").functions["k"].arch == "sm_90"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body, line, what",
    [
        # high word missing at end of file
        ("/*0000*/ MOV R1, c[0x0][0x28] ; /* 0x00000a0000017a02 */\n", 3, "high 64-bit word"),
        # high word missing: next line is the next instruction
        ("/*0000*/ MOV R1, RZ ; /* 0x00000a0000017a02 */\n/*0010*/ EXIT ; " + _W + "\n", 3, "high 64-bit word"),
        # non-hex digit in the low word
        ("/*0000*/ MOV R1, RZ ; /* 0x00000a00000g7a02 */\n/* 0x000fe40000000f00 */\n", 3, "bad hex"),
        # non-hex digit in the high word (reported at the high word's line)
        ("/*0000*/ MOV R1, RZ ; /* 0x00000a0000017a02 */\n/* 0x000fe4000000zf00 */\n", 4, "bad hex"),
        # more than 64 bits
        ("/*0000*/ MOV R1, RZ ; /* 0x00000a0000017a0200 */\n/* 0x000fe40000000f00 */\n", 3, "bad hex"),
        # no encoding at all (nvdisasm without -hex)
        ("/*0000*/ MOV R1, RZ ;\n", 3, "hex encoding"),
        # orphan high word
        ("/* 0x000fe40000000f00 */\n", 3, "without an instruction"),
        # offsets must increase
        ("/*0010*/ EXIT ; " + _W + "\n/*0000*/ EXIT ; " + _W + "\n", 5, "does not increase"),
    ],
)
def test_bad_listing_raises_sass_error_naming_file_and_line(body, line, what):
    text = "code for sm_86\nFunction : k\n" + body
    with pytest.raises(SassError) as ei:
        parse_sass_text(text, "bad.sass")
    msg = str(ei.value)
    assert msg.startswith(f"bad.sass:{line}: "), msg
    assert what in msg


def test_listing_without_instructions_raises_sass_error(tmp_path):
    p = tmp_path / "empty.sass"
    p.write_text("\n\tcode for sm_86\n\t\tFunction : k\n\t.headerflags @\"EF_CUDA_SM86\"\n")
    with pytest.raises(SassError, match=rf"^{re.escape(str(p))}:1: no SASS instructions"):
        parse_sass_listing(p)
    with pytest.raises(SassError, match=r"^missing\.sass:0: cannot read"):
        parse_sass_listing("missing.sass")


def test_truncated_real_listing_names_the_last_instruction_line(tmp_path):
    lines = CUOBJDUMP.read_text().splitlines()
    last = max(i for i, s in enumerate(lines[:60]) if re.match(r"\s*/\*[0-9a-f]{4}\*/", s))
    p = tmp_path / "cut.sass"
    p.write_text("\n".join(lines[: last + 1]) + "\n")
    with pytest.raises(SassError, match=rf"^{re.escape(str(p))}:{last + 1}: instruction without its high"):
        parse_sass_listing(p)


def test_nvdisasm_data_sections_and_raw_binary_output_are_handled():
    # full nvdisasm output (no -c) interleaves data sections whose lines also start with /*OFFS*/
    data = (
        '//--------------------- .debug_frame              --------------------------\n'
        '\t.section\t.debug_frame,"",@progbits\n.debug_frame:\n'
        '        /*0000*/ \t.byte\t0xff, 0xff, 0xff, 0xff, 0x24, 0x00, 0x00, 0x00\n'
        '        /*0044*/ \t.dword\tsaxpy\n'
        '\t.section\t.nv.info,"",@"SHT_CUDA_INFO"\n'
        '        /*0002*/ \t.short\t(.L_1 - .L_0)\n.L_0:\n'
    )
    text = NVDISASM.read_text()
    cut = text.index("//---------------------")
    lst = parse_sass_text(text[:cut] + data + text[cut:] + data, "full.txt")
    base = parse_sass_listing(NVDISASM)
    assert set(lst.functions) == set(base.functions)
    for name, fn in base.functions.items():
        assert np.array_equal(lst.functions[name].hi, fn.hi)

    # nvdisasm -b SM86 -hex f.bin: no function header, arch only in .headerflags
    raw = (
        '\t.headerflags\t@"EF_CUDA_64BIT_ADDRESS EF_CUDA_SM86 EF_CUDA_VIRTUAL_SM(EF_CUDA_SM86)"\n'
        '        /*0000*/                   MOV R1, c[0x0][0x28] ;   /* 0x00000a0000017a02 */\n'
        '                                                            /* 0x000fe40000000f00 */\n'
        '        /*0010*/                   S2R R4, SR_CTAID.X ;     /* 0x0000000000047919 */\n'
        '                                                            /* 0x000e280000002500 */\n'
    )
    fn = parse_sass_text(raw, "raw.txt").find_function("")
    assert (fn.arch, len(fn), int(fn.wsb[1]), int(fn.stall[1])) == ("sm_86", 2, 0, 4)

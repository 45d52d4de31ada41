"""Trace reader: the Accel-Sim/NVBit grammar (research/accel-sim-trace-format.md §3) on real and
hand-written traces, and one clear error for every kind of bad input."""

from __future__ import annotations

import lzma
import re
import subprocess
import sys

import numpy as np
import pytest

from gpusim.errors import GpusimError, TraceError
from gpusim.frontend.reader import intern_opcodes, read_kernel_trace
from gpusim.frontend.workload import open_workload

HEADER = """-kernel name = _Z4testv
-kernel id = 1
-grid dim = ({g},1,1)
-block dim = ({b},1,1)
-shmem = 0
-nregs = 16
-binary version = {bv}
-cuda stream id = 0
-shmem base_addr = 0x00007f1000000000
-local mem base_addr = 0x00007f0e00000000
-nvbit version = 1.7
-accelsim tracer version = {tv}
-enable lineinfo = {li}

#traces format = [line_num] PC mask dest_num [reg_dests] opcode src_num [reg_srcs] mem_width [adrrescompress?] [mem_addresses] immediate

"""


def make_trace(warps: list[list[str]], *, tv: int = 5, bv: int = 86, li: int = 0, ctas: int = 1) -> str:
    """A grouped trace with ``ctas`` identical CTAs of the given warps (lines without trailing newline)."""
    out = [HEADER.format(g=ctas, b=32 * len(warps), bv=bv, tv=tv, li=li)]
    for c in range(ctas):
        out.append(f"#BEGIN_TB\n\nthread block = {c},0,0\n\n")
        for w, lines in enumerate(warps):
            out.append(f"warp = {w}\ninsts = {len(lines)}\n" + "".join(ln + "\n" for ln in lines) + "\n")
        out.append("#END_TB\n\n")
    return "".join(out)


def write(tmp_path, text: str, name: str = "kernel-1.traceg"):
    p = tmp_path / name
    if name.endswith(".xz"):
        p.write_bytes(lzma.compress(text.encode()))
    else:
        p.write_text(text)
    return p


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUSIM_CACHE_DIR", str(tmp_path / "cache"))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpusim", *args], capture_output=True, text=True, timeout=300)


# ----------------------------------------------------------------------------- real traces

# warp-instruction counts stated in each folder's README (and stats.csv) of ../shared/traces
REAL_COUNTS = {
    "microgpusim-gtx1080/vectoradd-100-32-trace": (1, 344),
    "microgpusim-gtx1080/matrixmul-32-32-trace": (1, 4416),
    "nvbit-rs-vecadd-raw-sm61": (1, 71974),
    "simpletorch-v100-tracer-v3": (11, 63054),
    "accelsim-flashinfer-sm80/flashinfer-singledecode/traces": (1, 204416),
    "accelsim-flashinfer-sm80/flashinfer-prefill/traces": (1, 29024),
    "accelsim-flashinfer-sm80/flashinfer-gemm/traces": (8, 6451),
}


@pytest.mark.parametrize("folder", sorted(REAL_COUNTS))
def test_real_trace_warp_instruction_counts_match_the_files(shared_traces, folder):
    wl = open_workload(shared_traces / folder)
    kernels = [wl.load(k) for k in wl.kernels]
    n_k, n_inst = REAL_COUNTS[folder]
    assert len(kernels) == n_k
    assert sum(k.warp_instructions for k in kernels) == n_inst


def test_every_shared_kernel_file_parses_including_unlisted_ones(shared_traces):
    files = sorted(p for p in shared_traces.rglob("*") if re.search(r"\.trace(g)?(\.xz)?$", p.name))
    assert len(files) >= 140
    total = 0
    for f in files:
        kt = intern_opcodes(read_kernel_trace(f))
        total += kt.warp_instructions
        # per-warp CSR is consistent and every warp's stream lies inside the arrays
        assert kt.warp_inst_ptr[-1] == kt.inst_static.size
        assert np.all(np.diff(kt.warp_inst_ptr) >= 0)
    # nn-onestep holds 118 kernel files (66,739 warp instructions, README) of which 114 are listed
    assert total == 446418


def test_flashinfer_decode_header_and_shape(shared_traces):
    kt = read_kernel_trace(shared_traces / "accelsim-flashinfer-sm80/flashinfer-singledecode/traces/kernel-1.traceg.xz")
    h = kt.header
    assert h.grid == (1, 32, 1) and h.block == (16, 1, 8)
    assert h.shmem_bytes == 65600 and h.nregs == 91 and h.binary_version == 80 and h.tracer_version == 5
    assert kt.num_ctas == 32 and kt.num_warps == 128


def test_v3_header_with_misleading_format_line_is_read_without_prefix(shared_traces):
    # simpletorch's v3 files still carry the raw '#traces format = threadblock_x ...' line
    kt = read_kernel_trace(shared_traces / "simpletorch-v100-tracer-v3/kernel-2.traceg.xz")
    assert kt.header.tracer_version == 3
    assert kt.num_ctas == 160 and kt.warp_instructions == 55880


def test_raw_nvbit_trace_is_grouped_by_cta_and_warp_in_arrival_order(shared_traces, tmp_path):
    raw = read_kernel_trace(shared_traces / "nvbit-rs-vecadd-raw-sm61/kernel-1.trace.xz")
    assert raw.raw and raw.num_ctas == 98 and raw.num_warps == 3136
    # CTAs in linear order, each warp's stream starts at the kernel entry and ends with EXIT
    assert np.array_equal(raw.cta_xyz[:, 0], np.arange(98))
    intern_opcodes(raw)
    firsts = raw.st_pc[raw.inst_static[raw.warp_inst_ptr[:-1]]]
    assert np.all(firsts == raw.st_pc.min())
    # convert → read back gives the same streams
    r = run_cli("trace", "convert", str(shared_traces / "nvbit-rs-vecadd-raw-sm61"), "-o", str(tmp_path / "conv"))
    assert r.returncode == 0, r.stderr
    conv = read_kernel_trace(tmp_path / "conv" / "kernel-1.traceg")
    assert not conv.raw
    assert np.array_equal(conv.st_pc[conv.inst_static], raw.st_pc[raw.inst_static])
    assert np.array_equal(conv.inst_mask, raw.inst_mask)
    assert np.array_equal(conv.warp_inst_ptr, raw.warp_inst_ptr)


def test_zero_mask_lines_count_as_warp_but_not_thread_instructions(tmp_path):
    t = make_trace([["0000 ffffffff 1 R1 MOV 0 0 0", "0010 00000000 0 EXIT 0 0 0", "0020 0000ffff 0 EXIT 0 0 0"]])
    kt = read_kernel_trace(write(tmp_path, t))
    assert kt.warp_instructions == 3
    assert kt.thread_instructions == 32 + 0 + 16


# ----------------------------------------------------------------------------- grammar


def _mem_lines(mode_block: str, mask: str = "0000000f") -> list[str]:
    return [f"0000 {mask} 1 R2 LDG.E 1 R4 4 {mode_block} 0", f"0010 {mask} 0 EXIT 0 0 0"]


def test_address_modes_list_stride_and_delta_give_the_same_lane_addresses(tmp_path):
    addrs = [0x7F0000000100 + 8 * k for k in range(4)]
    m0 = "0 " + " ".join(hex(a) for a in addrs)
    m1 = f"1 {hex(addrs[0])} 8"
    m2 = f"2 {hex(addrs[0])} 8 8 8"
    got = []
    for i, blk in enumerate((m0, m1, m2)):
        kt = read_kernel_trace(write(tmp_path, make_trace([_mem_lines(blk)]), f"k{i}.traceg"))
        got.append(kt.lane_addresses(0).tolist())
    assert got[0] == got[1] == got[2] == addrs


def test_mode2_carries_one_delta_per_active_lane_after_the_first(tmp_path):
    # 3 active lanes (mask 0b1011) -> base + 2 deltas, each relative to the previous active lane
    kt = read_kernel_trace(write(tmp_path, make_trace([_mem_lines("2 0x1000 16 -4", mask="0000000b")])))
    assert kt.lane_addresses(0).tolist() == [0x1000, 0x1010, 0x100C]
    # one delta too many is an error, not a silent guess
    with pytest.raises(TraceError, match=r"kernel-2.traceg:\d+"):
        read_kernel_trace(write(tmp_path, make_trace([_mem_lines("2 0x1000 16 -4 4", mask="0000000b")]),
                                "kernel-2.traceg"))


def test_tracer_v4_lineinfo_prefix_is_skipped(tmp_path):
    t = make_trace([["17 0000 ffffffff 1 R1 MOV 0 0", "18 0010 ffffffff 0 EXIT 0 0"]], tv=4, li=1)
    kt = read_kernel_trace(write(tmp_path, t))
    assert kt.st_pc.tolist() == [0, 0x10] and kt.st_opcode == ("MOV", "EXIT")


def test_tracer_v12_per_line_tb_warp_prefix_is_skipped(tmp_path):
    t = make_trace([["0 0 0 0 0000 ffffffff 1 R1 MOV 0 0", "0 0 0 0 0010 ffffffff 0 EXIT 0 0"]], tv=1).replace(
        "tracer version = 1", "tracer version = 1.2")
    kt = read_kernel_trace(write(tmp_path, t))
    assert kt.header.tracer_version == 1.2 and kt.st_opcode == ("MOV", "EXIT")


def test_tracer_v5_trailing_immediate_is_kept_per_static_instruction(tmp_path):
    t = make_trace([["0000 ffffffff 0 DEPBAR.LE 0 0 1", "0010 ffffffff 0 EXIT 0 0 0"]])
    kt = read_kernel_trace(write(tmp_path, t))
    assert kt.st_imm.tolist() == [1, 0]


def test_xz_and_plain_files_parse_identically(tmp_path):
    t = make_trace([_mem_lines("1 0x2000 4")], ctas=3)
    a = read_kernel_trace(write(tmp_path, t, "kernel-1.traceg"))
    b = read_kernel_trace(write(tmp_path, t, "kernel-2.traceg.xz"))
    assert np.array_equal(a.inst_static, b.inst_static) and np.array_equal(a.mem_base, b.mem_base)


def test_parsed_trace_cache_is_used_on_the_second_read(tmp_path, monkeypatch):
    import gpusim.frontend.reader as rd

    p = write(tmp_path, make_trace([_mem_lines("1 0x2000 4")], ctas=2))
    first = read_kernel_trace(p)
    assert list((tmp_path / "cache" / "traces").glob("*.npz"))
    monkeypatch.setattr(rd, "_scan", lambda *a, **k: (_ for _ in ()).throw(AssertionError("parsed again")))
    second = read_kernel_trace(p)
    assert np.array_equal(first.inst_static, second.inst_static) and first.st_opcode == second.st_opcode
    # a changed file has another content hash and is parsed again
    p.write_text(make_trace([_mem_lines("1 0x2000 4")], ctas=1))
    with pytest.raises(AssertionError, match="parsed again"):
        read_kernel_trace(p)


# ----------------------------------------------------------------------------- bad input

GOOD = make_trace([["0000 ffffffff 1 R1 MOV 0 0 0", "0010 ffffffff 1 R2 LDG.E 1 R4 4 1 0x1000 4 0",
                    "0020 ffffffff 0 EXIT 0 0 0"]])


def _bad_cli(tmp_path, text: str, name: str = "kernel-1.traceg") -> str:
    p = write(tmp_path, text, name)
    r = run_cli("trace", "info", str(p))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_good_trace_passes_the_cli(tmp_path):
    r = run_cli("trace", "info", "--json", str(write(tmp_path, GOOD)))
    assert r.returncode == 0, r.stderr


def test_truncated_file_names_the_file_and_line(tmp_path):
    err = _bad_cli(tmp_path, GOOD[: GOOD.index("0020 ffffffff")])
    assert re.search(r"kernel-1\.traceg:\d+: .*(truncated|fewer)", err)


def test_warp_with_fewer_lines_than_insts_is_an_error(tmp_path):
    err = _bad_cli(tmp_path, GOOD.replace("insts = 3", "insts = 4"))
    assert re.search(r"kernel-1\.traceg:\d+: .*fewer instruction lines", err)


def test_warp_with_more_lines_than_insts_is_an_error(tmp_path):
    err = _bad_cli(tmp_path, GOOD.replace("insts = 3", "insts = 2"))
    assert re.search(r"kernel-1\.traceg:\d+: more instruction lines", err)


def test_warp_without_final_exit_is_an_error(tmp_path):
    t = GOOD.replace("insts = 3", "insts = 2").replace("0020 ffffffff 0 EXIT 0 0 0\n", "")
    err = _bad_cli(tmp_path, t)
    assert re.search(r"kernel-1\.traceg:\d+: warp 0 of CTA \(0, 0, 0\) ends with 'LDG.E'.*not EXIT", err)


def test_unknown_opcode_names_the_opcode_file_and_line(tmp_path):
    err = _bad_cli(tmp_path, GOOD.replace("1 R1 MOV", "1 R1 FROBNICATE.X"))
    assert "FROBNICATE" in err and re.search(r"kernel-1\.traceg:\d+", err)


def test_malformed_address_block_is_an_error(tmp_path):
    for bad in ("4 1 0x1000", "4 7 0x1000 4", "4 1 0xZZ 4", "4 0 0x1000"):
        err = _bad_cli(tmp_path, GOOD.replace("4 1 0x1000 4", bad))
        assert re.search(r"kernel-1\.traceg:2\d: ", err), err


def test_unsupported_binary_version_is_an_error_not_a_silent_exit(tmp_path):
    err = _bad_cli(tmp_path, GOOD.replace("-binary version = 86", "-binary version = 35"))
    assert "binary version" in err and "35" in err


def test_kernelslist_naming_a_missing_kernel_file_is_an_error(tmp_path):
    write(tmp_path, GOOD)
    (tmp_path / "kernelslist.g").write_text("MemcpyHtoD,0x7f0000000000,64\nkernel-1.traceg\nkernel-7.traceg\n")
    r = run_cli("trace", "info", str(tmp_path))
    assert r.returncode == 2 and "kernelslist.g:3: kernel file 'kernel-7.traceg'" in r.stderr


def test_malformed_memcpy_line_is_an_error(tmp_path):
    write(tmp_path, GOOD)
    (tmp_path / "kernelslist.g").write_text("MemcpyHtoD,zz,64\nkernel-1.traceg\n")
    r = run_cli("trace", "info", str(tmp_path))
    assert r.returncode == 2 and "kernelslist.g:1:" in r.stderr


def test_header_without_format_line_is_an_error(tmp_path):
    with pytest.raises(TraceError, match="header never ends"):
        read_kernel_trace(write(tmp_path, "-kernel name = x\n-grid dim = (1,1,1)\n"))


def test_cta_records_beyond_the_grid_are_an_error(tmp_path):
    t = make_trace([["0000 ffffffff 0 EXIT 0 0 0"]], ctas=2).replace("-grid dim = (2,1,1)", "-grid dim = (1,1,1)")
    with pytest.raises(GpusimError, match="2 thread-block records but the grid"):
        read_kernel_trace(write(tmp_path, t))


def test_trace_info_json_reports_the_files_warp_instruction_counts(shared_traces):
    r = run_cli("trace", "info", "--json", str(shared_traces / "accelsim-flashinfer-sm80/flashinfer-gemm/traces"))
    assert r.returncode == 0, r.stderr
    import json

    info = json.loads(r.stdout)
    assert [k["warp_instructions"] for k in info["kernels"]] and sum(k["warp_instructions"] for k in info["kernels"]) == 6451
    for k in info["kernels"]:
        assert set(k) >= {"name", "grid", "block", "warp_instructions"}

"""Writes a KernelTrace back as a post-processed ``.traceg`` (tracer-v3 grammar, or v5 with immediates).

Single responsibility: the inverse of the reader, used by ``gpusim trace convert`` (raw NVBit
output → grouped ``.traceg``, as Accel-Sim's post-traces-processing does) and by the
generators of bundled example traces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpusim.frontend.reader import KernelTrace


def _header(kt: KernelTrace, version: int) -> str:
    h = kt.header
    g, b = h.grid, h.block
    lines = [
        f"-kernel name = {h.name}",
        f"-kernel id = {h.kernel_id}",
        f"-grid dim = ({g[0]},{g[1]},{g[2]})",
        f"-block dim = ({b[0]},{b[1]},{b[2]})",
        f"-shmem = {h.shmem_bytes}",
        f"-nregs = {h.nregs}",
        f"-binary version = {h.binary_version}",
        f"-cuda stream id = {h.stream_id}",
        f"-shmem base_addr = 0x{h.shmem_base:016x}",
        f"-local mem base_addr = 0x{h.local_base:016x}",
        f"-nvbit version = {h.nvbit_version}",
        f"-accelsim tracer version = {version}",
        "-enable lineinfo = 0",
        "",
        "#traces format = PC mask dest_num [reg_dests] opcode src_num [reg_srcs] mem_width [adrrescompress?] [mem_addresses]"
        + (" immediate" if version >= 5 else ""),
        "",
    ]
    return "\n".join(lines) + "\n"


def _inst_line(kt: KernelTrace, i: int, imm: bool) -> str:
    s = int(kt.inst_static[i])
    parts = [f"{int(kt.st_pc[s]):04x}", f"{int(kt.inst_mask[i]):08x}", str(int(kt.st_ndst[s]))]
    parts += [f"R{int(r)}" for r in kt.st_dst[s][: kt.st_ndst[s]]]
    parts.append(kt.st_opcode[s])
    parts.append(str(int(kt.st_nsrc[s])))
    parts += [f"R{int(r)}" for r in kt.st_src[s][: kt.st_nsrc[s]]]
    parts.append(str(int(kt.st_mem_width[s])))
    m = int(kt.inst_mem[i])
    if kt.st_mem_width[s] > 0 and m >= 0:
        if kt.mem_mode[m] == 1:
            parts += ["1", f"0x{int(kt.mem_base[m]):x}", str(int(kt.mem_stride[m]))]
        else:
            addrs = kt.lane_addresses(i)
            if addrs.size == 0:
                parts += ["1", f"0x{int(kt.mem_base[m]):x}", "0"]
            else:
                d = np.diff(addrs.astype(np.int64))
                parts += ["2", f"0x{int(addrs[0]):x}"] + [str(int(v)) for v in d]
    if imm:
        parts.append(str(int(kt.st_imm[s])))
    return " ".join(parts)


def write_traceg(kt: KernelTrace, path: Path, version: int | None = None) -> None:
    """Write ``kt`` as a grouped ``.traceg``.  ``version`` defaults to 5 if the source had immediates, else 3."""
    if version is None:
        version = 5 if kt.header.tracer_version >= 5 else 3
    imm = version >= 5
    out = [_header(kt, version)]
    gx, gy, _ = kt.header.grid
    for c in range(kt.num_ctas):
        x, y, z = (int(v) for v in kt.cta_xyz[c])
        out.append(f"\n#BEGIN_TB\n\nthread block = {x},{y},{z}\n")
        for w in range(int(kt.cta_warp_ptr[c]), int(kt.cta_warp_ptr[c + 1])):
            a, b = int(kt.warp_inst_ptr[w]), int(kt.warp_inst_ptr[w + 1])
            out.append(f"\nwarp = {int(kt.warp_slot[w])}\ninsts = {b - a}\n")
            out.append("".join(_inst_line(kt, i, imm) + "\n" for i in range(a, b)))
        out.append("\n#END_TB\n")
    path.write_text("".join(out))


def function_listing(listing_text: str, name: str) -> str | None:
    """The part of a listing that holds function ``name``: an ``nvdisasm`` listing's preamble (its
    ``.target`` lines) plus the function's ``.text.NAME`` section, or a ``cuobjdump -sass`` listing's
    ``code for sm_XX`` line plus its ``Function : NAME`` block.  None when the listing lacks it."""
    lines = listing_text.splitlines(keepends=True)
    head, body, inside = [], [], False
    for ln in lines:
        s = ln.strip()
        starts = s.startswith("//----") or s.startswith("Function :") or s.startswith(".section .text.")
        if starts and s.startswith("//----") and ".text." in s:
            inside = s.split(".text.", 1)[1].split()[0] == name
        elif starts and s.startswith("Function :"):
            inside = s.split(":", 1)[1].strip() == name
        elif s.startswith("//----") or s.startswith("......"):
            if inside and s.startswith("//----"):
                inside = False
        if inside:
            body.append(ln)
        elif not body and (s.startswith(".target") or s.startswith("code for") or s.startswith(".elftype")):
            head.append(ln)
    return "".join(head) + "\n" + "".join(body) if body else None


def write_run(kt: KernelTrace, out_dir: Path, listing_text: str | None = None) -> Path:
    """Write ``kt`` as a one-kernel Accel-Sim run: ``kernelslist.g`` + ``kernel-1.traceg`` (tracer-v5
    grammar) and, given the listing it was walked from, ``kernel-1.sass`` with its function (so that
    ``gpusim run OUT_DIR`` joins the control bits, and Accel-Sim reads the trace as it is)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_traceg(kt, out / "kernel-1.traceg", version=5)
    (out / "kernelslist.g").write_text("kernel-1.traceg\n")
    if listing_text is not None:
        fn = function_listing(listing_text, kt.header.name)
        if fn is not None:
            (out / "kernel-1.sass").write_text(fn)
    return out

"""Builds tiny kernels for tests and microbenchmarks: a SASS listing with chosen control bits
plus the Accel-Sim trace of running it, written as a ``kernel-1.traceg`` + ``kernel-1.sass`` pair.

Single responsibility: turn a list of instruction texts with control bits into the two files the
simulator reads, exactly as NVIDIA's tools would print them (cuobjdump layout, the control bits
in ``hi >> 41``; tracer-v5 lines).  The encodings' low words and non-control bits are zero: only
the control bits and the text are meaningful, which is all gpusim reads.

Every warp runs the same straight-line program once (no branches are followed); warps not in
``active_warps`` execute only the final ``EXIT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpusim.core.layout import MemSpace, Unit
from gpusim.frontend.opcodes import access_width_bytes, base_opcode, load_opcode_table
from gpusim.frontend.sass import parse_sass_text

_FAMILY = {"sm_75": "turing", "sm_80": "ampere", "sm_86": "ampere", "sm_89": "ada", "sm_90": "hopper"}


@dataclass(frozen=True)
class Inst:
    """One instruction: SASS text (``.reuse`` suffixes set the reuse bits) and its control bits."""

    text: str
    stall: int = 1
    yield_: bool = False
    wsb: int = 7
    rsb: int = 7
    wait: tuple[int, ...] = ()
    addr_stride: int = 4          # memory instructions: lane k accesses base + k * stride
    base: int = 0x7F0000000000
    warp_stride: int = 0          # ... plus warp_stride * (global warp index), so warps touch different data


def control_word(stall: int, yield_: bool, wsb: int, rsb: int, wait: int, reuse: int) -> int:
    """The 23-bit control field (research/sass-control-bits.md §3); the yield bit is inverted."""
    assert 0 <= stall <= 15 and 0 <= wsb <= 7 and 0 <= rsb <= 7 and 0 <= wait < 64 and 0 <= reuse < 16
    return stall | ((0 if yield_ else 1) << 4) | (wsb << 5) | (rsb << 8) | (wait << 11) | (reuse << 17)


def _reuse_bits(text: str) -> int:
    """Reuse flag k for the k-th source register operand written with ``.reuse``."""
    body = text.split(";")[0]
    if " " not in body.strip():
        return 0
    ops = [o.strip() for o in body.strip().split(" ", 1)[1].split(",")]
    regs = [o for o in ops[1:] if o.lstrip("-|!~").startswith("R")]
    bits = 0
    for k, o in enumerate(regs):
        if ".reuse" in o:
            bits |= 1 << k
    return bits


def listing_text(insts: list[Inst], name: str = "micro", arch: str = "sm_86") -> str:
    lines = [f"\n\tcode for {arch}\n\t\tFunction : {name}\n\t.headerflags\t@\"EF_CUDA_{arch.upper()}\"\n"]
    for k, ins in enumerate(insts):
        wait = 0
        for b in ins.wait:
            wait |= 1 << b
        ctrl = control_word(ins.stall, ins.yield_, ins.wsb, ins.rsb, wait, _reuse_bits(ins.text))
        hi = ctrl << 41
        text = ins.text.rstrip(" ;") + " ;"
        lines.append(f"        /*{16 * k:04x}*/                   {text:<48}/* 0x{0:016x} */\n"
                     f"                                                                      /* 0x{hi:016x} */\n")
    lines.append("\t\t..........\n")
    return "".join(lines)


def build(insts: list[Inst], out_dir: str | Path, *, warps_per_cta: int = 1, ctas: int = 1,
          active_warps: list[int] | None = None, arch: str = "sm_86", name: str = "micro", nregs: int = 32,
          shmem: int = 0) -> Path:
    """Write ``kernel-1.traceg``, ``kernel-1.sass`` and ``kernelslist.g`` into ``out_dir``; returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sass = listing_text(insts, name, arch)
    fn = parse_sass_text(sass, source=str(out / "kernel-1.sass")).functions[name]
    table = load_opcode_table(_FAMILY[arch])
    if base_opcode(fn.opcode[-1]) != "EXIT":
        raise ValueError("the program must end with EXIT")
    lines = []
    mem_at = {}
    for k, ins in enumerate(insts):
        dst = [r for r in fn.dst_regs(k)][:1]
        src = [r for r in fn.src_regs(k)][:4]
        # a guard that is never true (@!PT) leaves no lane active, as NVBit's tracer records it
        mask = "00000000" if ins.text.lstrip().startswith("@!PT") else "ffffffff"
        f = [f"{16 * k:04x}", mask, str(len(dst)), *[f"R{r}" for r in dst], fn.opcode[k], str(len(src)),
             *[f"R{r}" for r in src]]
        entry = table.entry(fn.opcode[k])
        if entry["unit"] == Unit.MEM and entry["space"] != MemSpace.NONE:
            w = access_width_bytes(fn.opcode[k])
            mem_at[k] = len(f) + 2  # index of the base-address field
            f += [str(w), "1", f"0x{ins.base:x}", str(ins.addr_stride)]
        else:
            f.append("0")
        f.append("0")  # tracer-v5 immediate
        lines.append(" ".join(f))
    exit_line = lines[-1]
    bv = int(arch.split("_")[1].rstrip("a"))
    hdr = (f"-kernel name = {name}\n-kernel id = 1\n-grid dim = ({ctas},1,1)\n-block dim = ({32 * warps_per_cta},1,1)\n"
           f"-shmem = {shmem}\n-nregs = {nregs}\n-binary version = {bv}\n-cuda stream id = 0\n"
           "-shmem base_addr = 0x00007f1000000000\n-local mem base_addr = 0x00007f0e00000000\n"
           "-nvbit version = none (gpusim.frontend.microasm)\n-accelsim tracer version = 5\n-enable lineinfo = 0\n\n"
           "#traces format = PC mask dest_num [reg_dests] opcode src_num [reg_srcs] mem_width [adrrescompress?] "
           "[mem_addresses] immediate\n\n")
    body = []
    active = set(range(warps_per_cta) if active_warps is None else active_warps)
    split = [ln.split(" ") for ln in lines]
    per_warp = any(insts[k].warp_stride for k in mem_at)
    for c in range(ctas):
        body.append(f"#BEGIN_TB\n\nthread block = {c},0,0\n\n")
        for w in range(warps_per_cta):
            ls = lines
            if per_warp and w in active:
                gw = c * warps_per_cta + w
                ls = []
                for k, toks in enumerate(split):
                    if k in mem_at and insts[k].warp_stride:
                        toks = list(toks)
                        toks[mem_at[k]] = f"0x{insts[k].base + gw * insts[k].warp_stride:x}"
                    ls.append(" ".join(toks))
            if w not in active:
                ls = [exit_line]
            body.append(f"warp = {w}\ninsts = {len(ls)}\n" + "\n".join(ls) + "\n\n")
        body.append("#END_TB\n\n")
    (out / "kernel-1.traceg").write_text(hdr + "".join(body))
    (out / "kernel-1.sass").write_text(sass)
    (out / "kernelslist.g").write_text("kernel-1.traceg\n")
    return out

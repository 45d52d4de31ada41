"""Microbenchmark trace generators: the hardware microbenchmarks of the validation ladder, as traces.

Single responsibility: write small, valid Accel-Sim tracer-v5 ``.traceg`` kernels (the grammar of
``traces/FORMAT.md``) that do what the published microbenchmarks do, and turn simulated cycles
into the quantity those benchmarks report.  No model logic here: :func:`measure` only calls
:func:`gpusim.api.simulate`.

Each benchmark is built twice, with the measured part of the work at scale 1 and at scale 2
(a chain of N and 2N dependent instructions, N and 2N loop iterations...).  The result is the
*difference* of the two runs, as the hardware microbenchmarks difference two clock reads: the
kernel's fixed costs (launch, prologue, warm-up pass, the last instruction's drain) cancel.

==================  =================================================================  ===================
benchmark           what the kernel does                                               result unit(s)
==================  =================================================================  ===================
``alu_latency``     1 warp, one dependent chain of ``opcode`` (FFMA, DFMA, HFMA2,       cycles
                    IMAD, IADD3) in an unrolled loop
``fma_throughput``  one CTA per SM, ``warps_per_sm`` warps, ``chains`` independent      flop/clk/SM
                    FFMA/DFMA/HFMA2 accumulators per thread
``pointer_chase``   1 thread, dependent loads ``R2 = [R2]`` (``load``: LDG.E.64,       cycles
                    LDG.E or LDG.E.128) over a random
                    cyclic permutation of ``working_set / stride`` lines, after one
                    warm-up pass (``warmup: false``: distinct random lines, all cold)
``shared_latency``  the same chase over shared memory (LDS)                             cycles
``stream``          grid-stride ``copy`` (LDG.128 + STG.128) or ``read`` (LDG.128 +     B/clk
                    FADD) over the whole GPU, ``ctas_per_sm`` CTAs of ``block`` threads
                    per SM (capped by occupancy; 2 x 8 warps x 4 loads in flight per SM
                    already cover the DRAM latency-bandwidth product of an A100)
``mma_throughput``  ``warps_per_sm`` warps per SM issuing independent HMMA chains        cycles/inst (per
                                                                                       sub-core), FMA/clk/SM
==================  =================================================================  ===================

Run ``python -m gpusim.microbench NAME --gpu CONFIG -o DIR [--set k=v] [--param k=v]`` to write a
benchmark's scale-1 trace for inspection with ``gpusim trace info`` / ``gpusim run``.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpusim import units
from gpusim.config.specs import WARP_SIZE, GPUConfig
from gpusim.errors import GpusimError

__all__ = ["BENCHES", "Bench", "Measurement", "MicrobenchError", "check_params", "measure", "write_trace"]

FULL = 0xFFFFFFFF
GLOBAL_BASE = 0x7F0000000000      # device pointers sit above 4 GiB in NVBit traces
GLOBAL_BASE2 = 0x7F4000000000     # second array of the copy kernel (256 GiB above the first)
SHMEM_WINDOW = 0x00007F1000000000
LOCAL_WINDOW = 0x00007F0E00000000


class MicrobenchError(GpusimError):
    """A bad benchmark name or parameter (the caller prefixes the file:line or key path)."""


# ----------------------------------------------------------------------------------------------
# Trace text.


def _inst(pc: int, op: str, dsts=(), srcs=(), mask: int = FULL, mem: tuple[int, int, int] | None = None,
          imm: int = 0) -> str:
    """One tracer-v5 instruction line; ``mem = (width, base, stride)`` uses address mode 1."""
    f = [f"{pc:04x}", f"{mask:08x}", str(len(dsts)), *dsts, op, str(len(srcs)), *srcs]
    if mem is None:
        f.append("0")
    else:
        width, base, stride = mem
        f += [str(width), "1", f"0x{base:x}", str(stride)]
    f.append(str(imm))
    return " ".join(f)


class _Program:
    """Straight-line code with one counted loop; PCs are assigned in program order (16 B each)."""

    def __init__(self) -> None:
        self.pc = 0

    def next_pc(self) -> int:
        pc = self.pc
        self.pc += 16
        return pc


def _header(name: str, grid: tuple[int, int, int], block: tuple[int, int, int], cfg: GPUConfig, shmem: int = 0,
            nregs: int = 32) -> str:
    g = ",".join(map(str, grid))
    b = ",".join(map(str, block))
    return "\n".join([
        f"-kernel name = {name}", "-kernel id = 1", f"-grid dim = ({g})", f"-block dim = ({b})",
        f"-shmem = {shmem}", f"-nregs = {nregs}", f"-binary version = {cfg.compute_capability}",
        "-cuda stream id = 0", f"-shmem base_addr = 0x{SHMEM_WINDOW:016x}",
        f"-local mem base_addr = 0x{LOCAL_WINDOW:016x}",
        "-nvbit version = none (written by gpusim.microbench)", "-accelsim tracer version = 5",
        "-enable lineinfo = 0", "",
        "#traces format = [line_num] PC mask dest_num [reg_dests] opcode src_num [reg_srcs] mem_width "
        "[adrrescompress?] [mem_addresses] immediate", "", ""])


def _cta(idx: int, warps: list[list[str]]) -> str:
    parts = [f"#BEGIN_TB\n\nthread block = {idx},0,0\n"]
    for w, lines in enumerate(warps):
        parts.append(f"\nwarp = {w}\ninsts = {len(lines)}\n" + "\n".join(lines) + "\n")
    parts.append("\n#END_TB\n\n")
    return "".join(parts)


def _loop(prog: _Program, body: Callable[[int], list[tuple]], iterations: int) -> list[str]:
    """``iterations`` passes over a loop body (same PCs each pass) closed by a counter and a branch.

    ``body(pc_of_first)`` returns instruction tuples ``(op, dsts, srcs, mask, mem)``; ``mem`` may be a
    callable of the iteration index.  The loop counter is R30; predicates are not traced.
    """
    start = prog.pc
    proto = body(start)
    pcs = [prog.next_pc() for _ in proto]
    pc_inc, pc_cmp, pc_bra = prog.next_pc(), prog.next_pc(), prog.next_pc()
    out: list[str] = []
    for it in range(iterations):
        for pc, (op, dsts, srcs, mask, mem) in zip(pcs, proto):
            out.append(_inst(pc, op, dsts, srcs, mask, mem(it) if callable(mem) else mem))
        out.append(_inst(pc_inc, "IADD3", ["R30"], ["R30"], FULL))
        out.append(_inst(pc_cmp, "ISETP.GE.AND", [], ["R30"], FULL))
        out.append(_inst(pc_bra, "BRA", [], [], FULL))
    return out


def _prologue(prog: _Program, mask: int = FULL, regs: tuple[str, ...] = ("R2", "R3", "R4")) -> list[str]:
    lines = [_inst(prog.next_pc(), "S2R", ["R0"], [], mask), _inst(prog.next_pc(), "MOV", ["R30"], [], mask)]
    lines += [_inst(prog.next_pc(), "MOV", [r], [], mask) for r in regs]
    return lines


# ----------------------------------------------------------------------------------------------
# Benchmarks.  A builder returns (kernel text, work) for a scale; a deriver turns the two runs
# into [(value, unit), ...].


@dataclass(frozen=True)
class Built:
    text: str
    work: float          # the measured work at this scale (chain steps, flops, bytes, instructions)
    sass: str = ""       # optional SASS listing (control bits, reuse) written beside the trace


@dataclass(frozen=True)
class Bench:
    name: str
    doc: str
    defaults: Mapping[str, Any]
    build: Callable[[GPUConfig, int, dict], Built]
    derive: Callable[[float, float, GPUConfig, dict], list[tuple[float, str]]]
    units: tuple[str, ...]
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_CHAIN_SHAPES = {  # opcode -> (dst, srcs): a dependent chain through R2
    "FFMA": (["R2"], ["R2", "R3", "R4"]),
    "DFMA": (["R2"], ["R2", "R4", "R6"]),
    "HFMA2": (["R2"], ["R2", "R3", "R4"]),
    "IMAD": (["R2"], ["R2", "R3", "R4"]),
    "IADD3": (["R2"], ["R2", "R3", "R4"]),
    "FADD": (["R2"], ["R2", "R3"]),
    "FMUL": (["R2"], ["R2", "R3"]),
}
_FLOP_PER_LANE = {"FFMA": 2, "DFMA": 2, "HFMA2": 4}
_LOAD_WIDTH = {"LDG.E": 4, "LDG.E.64": 8, "LDG.E.128": 16}   # bytes per lane


def _alu_latency(cfg: GPUConfig, scale: int, p: dict) -> Built:
    op, unroll = p["opcode"], p["unroll"]
    iters = scale * p["length"] // unroll
    prog = _Program()
    lines = _prologue(prog, regs=("R2", "R3", "R4", "R6"))
    dsts, srcs = _CHAIN_SHAPES[op]
    lines += _loop(prog, lambda pc: [(op, dsts, srcs, FULL, None)] * unroll, iters)
    lines.append(_inst(prog.next_pc(), "EXIT"))
    text = _header(f"ubench_{op.lower()}_latency", (1, 1, 1), (WARP_SIZE, 1, 1), cfg) + _cta(0, [lines])
    return Built(text, iters * unroll)


def _per_step(w1: float, w2: float, c1: float, c2: float) -> float:
    return (c2 - c1) / (w2 - w1)


def _fma_throughput(cfg: GPUConfig, scale: int, p: dict) -> Built:
    op, warps, chains, unroll = p["opcode"], p["warps_per_sm"], p["chains"], p["unroll"]
    if warps * WARP_SIZE > cfg.sm.max_threads or warps > cfg.sm.max_warps:
        raise MicrobenchError(f"warps_per_sm = {warps} exceeds the SM's limit ({cfg.sm.max_warps} warps, "
                              f"{cfg.sm.max_threads} threads)")
    iters = scale * p["iterations"]
    acc = [f"R{8 + 2 * c}" for c in range(chains)]   # even registers: DFMA pairs do not overlap
    prog = _Program()
    pro = _prologue(prog, regs=("R2", "R3", "R4", *acc))

    def body(_pc: int) -> list[tuple]:
        # sources in SASS operand order (as NVBit lists them): FFMA a, R2, R4, a
        return [(op, [a], ["R2", "R4", a], FULL, None) for _ in range(unroll) for a in acc]

    loop = _loop(prog, body, iters)
    ex = _inst(prog.next_pc(), "EXIT")
    warp = pro + loop + [ex]
    ctas = [_cta(c, [warp] * warps) for c in range(cfg.sm.count)]
    text = _header(f"ubench_{op.lower()}_throughput", (cfg.sm.count, 1, 1), (warps * WARP_SIZE, 1, 1), cfg) + "".join(ctas)
    fmas = cfg.sm.count * warps * WARP_SIZE * iters * unroll * chains
    return Built(text, fmas * _FLOP_PER_LANE[op], _fma_listing(cfg, op, acc, unroll, len(pro)))


def _fma_listing(cfg: GPUConfig, op: str, acc: list[str], unroll: int, n_prologue: int) -> str:
    """The SASS listing of the FMA-throughput kernel as ptxas writes such loops: the two shared
    sources carry reuse flags (they stay in the register-file cache), independent accumulators
    issue every cycle (stall 1), the loop counter's compare waits 13 cycles with yield
    (research/sass-control-bits.md §6, typical control bits)."""
    from gpusim.frontend.microasm import Inst, listing_text

    sm = f"sm_{cfg.compute_capability}"
    pro = [Inst("S2R R0, SR_TID.X", stall=1, wsb=0), Inst("MOV R30, RZ")]
    pro += [Inst(f"MOV {r}, RZ") for r in ("R2", "R3", "R4", *acc)][: n_prologue - 2]
    body = [Inst(f"{op} {a}, R2.reuse, R4.reuse, {a}", stall=1) for _ in range(unroll) for a in acc]
    tail = [Inst("IADD3 R30, R30, 0x1, RZ", stall=1), Inst("ISETP.GE.AND P0, PT, R30, 0x10, PT", stall=13, yield_=True),
            Inst("@!P0 BRA 0x0", stall=5), Inst("EXIT", stall=5)]
    return listing_text(pro + body + tail, name=f"ubench_{op.lower()}_throughput", arch=sm)


def _chase_addresses(p: dict, scale: int) -> tuple[np.ndarray, int]:
    """Byte offsets visited by the chase (warm-up pass included) and the number of measured steps."""
    ws, stride, steps = p["working_set"], p["stride"], p["steps"] * scale
    lines = ws // stride
    rng = np.random.default_rng(p["seed"])
    if p["warmup"]:
        order = rng.permutation(lines)               # one random cycle through every line
        walk = np.concatenate([order, np.resize(order, steps)])
    else:
        walk = rng.choice(lines, size=min(steps, lines), replace=False)
        walk = np.resize(walk, steps)
    return walk.astype(np.int64) * stride, steps


def _pointer_chase(cfg: GPUConfig, scale: int, p: dict, shared: bool = False) -> Built:
    offs, steps = _chase_addresses(p, scale)
    prog = _Program()
    lines = _prologue(prog, mask=1, regs=("R2",))
    pc = prog.next_pc()
    if shared:
        lines += [_inst(pc, "LDS", ["R2"], ["R2"], 1, (4, int(o), 0)) for o in offs]
    else:
        op = p["load"]
        width = _LOAD_WIDTH[op]
        lines += [_inst(pc, op, ["R2"], ["R2"], 1, (width, GLOBAL_BASE + int(o), 0)) for o in offs]
    lines.append(_inst(prog.next_pc(), "EXIT", mask=1))
    shmem = p["working_set"] if shared else 0
    name = "ubench_shared_chase" if shared else "ubench_pointer_chase"
    text = _header(name, (1, 1, 1), (WARP_SIZE, 1, 1), cfg, shmem=shmem) + _cta(0, [lines])
    return Built(text, steps)


def _stream(cfg: GPUConfig, scale: int, p: dict) -> Built:
    kind, unroll, block = p["kind"], p["unroll"], p["block"]
    fit = min(cfg.sm.max_threads // block, cfg.sm.max_ctas, cfg.sm.max_warps // (block // WARP_SIZE))
    per_sm = min(fit, p["ctas_per_sm"])
    if per_sm < 1:
        raise MicrobenchError(f"block = {block} threads does not fit on an SM of {cfg.name}")
    grid = cfg.sm.count * per_sm
    threads = grid * block
    iters = scale * p["iterations"]
    wpc = block // WARP_SIZE
    vec = 16  # LDG.E.128: 16 B per lane
    step = threads * vec  # bytes between consecutive unrolled loads of one thread (grid stride)
    prog = _Program()
    pro = _prologue(prog, regs=("R2", "R3", "R20"))
    regs = [f"R{4 + 4 * u}" for u in range(unroll)]
    pcs_ld = [prog.next_pc() for _ in range(unroll)]
    pcs_2 = [prog.next_pc() for _ in range(unroll)]
    pc_inc, pc_cmp, pc_bra = prog.next_pc(), prog.next_pc(), prog.next_pc()
    pc_exit = prog.next_pc()
    text = [_header(f"ubench_stream_{kind}", (grid, 1, 1), (block, 1, 1), cfg)]
    for c in range(grid):
        warps = []
        for w in range(wpc):
            first = (c * block + w * WARP_SIZE) * vec
            lines = list(pro)
            for it in range(iters):
                for u in range(unroll):
                    off = first + (it * unroll + u) * step
                    lines.append(_inst(pcs_ld[u], "LDG.E.128", [regs[u]], ["R2"], FULL, (vec, GLOBAL_BASE + off, vec)))
                for u in range(unroll):
                    off = first + (it * unroll + u) * step
                    if kind == "copy":
                        lines.append(_inst(pcs_2[u], "STG.E.128", [], ["R3", regs[u]], FULL, (vec, GLOBAL_BASE2 + off, vec)))
                    else:
                        lines.append(_inst(pcs_2[u], "FADD", ["R20"], ["R20", regs[u]], FULL))
                lines.append(_inst(pc_inc, "IADD3", ["R2"], ["R2"], FULL))
                lines.append(_inst(pc_cmp, "ISETP.GE.AND", [], ["R2"], FULL))
                lines.append(_inst(pc_bra, "BRA", [], [], FULL))
            lines.append(_inst(pc_exit, "EXIT"))
            warps.append(lines)
        text.append(_cta(c, warps))
    nbytes = threads * iters * unroll * vec * (2 if kind == "copy" else 1)
    return Built("".join(text), nbytes)


_MMA_SHAPE = re.compile(r"^[HI]MMA\.(\d)(\d)(\d+)")


def _mma_fmas(op: str) -> int:
    """FMAs of one warp-level MMA instruction: M*N*K of its shape (HMMA.16816 -> 16*8*16)."""
    from gpusim.frontend.opcodes import mma_shape

    shape = mma_shape(op)
    if shape is None:
        raise MicrobenchError(f"opcode {op!r} has no MMA shape")
    return shape.m * shape.n * shape.k


def _mma_throughput(cfg: GPUConfig, scale: int, p: dict) -> Built:
    op, warps, chains = p["opcode"], p["warps_per_sm"], p["chains"]
    if warps > cfg.sm.max_warps:
        raise MicrobenchError(f"warps_per_sm = {warps} exceeds sm.max_warps = {cfg.sm.max_warps}")
    iters = scale * p["iterations"]
    acc = [f"R{16 + 4 * c}" for c in range(chains)]
    prog = _Program()
    pro = _prologue(prog, regs=("R4", "R8", *acc))
    loop = _loop(prog, lambda _pc: [(op, [a], ["R4", "R8", a], FULL, None) for a in acc], iters)
    warp = pro + loop + [_inst(prog.next_pc(), "EXIT")]
    ctas = [_cta(c, [warp] * warps) for c in range(cfg.sm.count)]
    text = _header(f"ubench_{op.lower().replace('.', '_')}_throughput", (cfg.sm.count, 1, 1),
                   (warps * WARP_SIZE, 1, 1), cfg) + "".join(ctas)
    return Built(text, warps * iters * chains)   # MMA warp instructions per SM


def _derive_latency(w1, w2, c1, c2, cfg, p):
    return [(_per_step(w1, w2, c1, c2), "cycles")]


def _derive_flops(w1, w2, c1, c2, cfg, p):
    return [((w2 - w1) / (c2 - c1) / cfg.sm.count, "flop/clk/SM")]


def _derive_bytes(w1, w2, c1, c2, cfg, p):
    return [((w2 - w1) / (c2 - c1), "B/clk")]


def _derive_mma(w1, w2, c1, c2, cfg, p):
    per_subcore = (w2 - w1) / cfg.sm.subcores
    return [((c2 - c1) / per_subcore, "cycles/inst"),
            ((w2 - w1) * _mma_fmas(p["opcode"]) / (c2 - c1), "FMA/clk/SM")]


def _wrap(derive):
    def f(a, b, cfg, p):  # a, b: (work, cycles) at scale 1 and 2
        return derive(a[0], b[0], a[1], b[1], cfg, p)
    return f


BENCHES: dict[str, Bench] = {
    b.name: b for b in (
        Bench("alu_latency", "dependent-chain latency of one ALU opcode (1 warp)",
              {"opcode": "FFMA", "length": 512, "unroll": 32}, _alu_latency, _wrap(_derive_latency), ("cycles",),
              {"opcode": tuple(_CHAIN_SHAPES)}),
        Bench("fma_throughput", "FMA throughput per SM (one CTA per SM, independent accumulators)",
              {"opcode": "FFMA", "warps_per_sm": 16, "chains": 8, "unroll": 4, "iterations": 4},
              _fma_throughput, _wrap(_derive_flops), ("flop/clk/SM",), {"opcode": tuple(_FLOP_PER_LANE)}),
        Bench("pointer_chase", "dependent global loads over a random cycle of lines (1 thread)",
              {"working_set": "16 KiB", "stride": "128 B", "steps": 512, "warmup": True, "seed": 1, "load": "LDG.E.64"},
              _pointer_chase, _wrap(_derive_latency), ("cycles",), {"load": tuple(_LOAD_WIDTH)}),
        Bench("shared_latency", "dependent shared-memory loads over a random cycle (1 thread)",
              {"working_set": "4 KiB", "stride": "4 B", "steps": 512, "warmup": True, "seed": 1},
              lambda cfg, s, p: _pointer_chase(cfg, s, p, shared=True), _wrap(_derive_latency), ("cycles",)),
        Bench("stream", "grid-stride streaming copy or read over the whole GPU",
              {"kind": "copy", "block": 256, "ctas_per_sm": 2, "unroll": 4, "iterations": 2},
              _stream, _wrap(_derive_bytes), ("B/clk",), {"kind": ("copy", "read")}),
        Bench("mma_throughput", "tensor-core MMA issue rate (independent accumulator chains)",
              {"opcode": "HMMA.16816.F32", "warps_per_sm": 4, "chains": 4, "iterations": 16},
              _mma_throughput, _wrap(_derive_mma), ("cycles/inst", "FMA/clk/SM")),
    )
}

_SIZE_PARAMS = {"working_set", "stride"}


def check_params(name: Any, params: Mapping[str, Any] | None) -> dict:
    """The full parameter dict of benchmark ``name`` (defaults filled in); MicrobenchError on anything bad."""
    if not isinstance(name, str) or name not in BENCHES:
        close = difflib.get_close_matches(str(name), list(BENCHES), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise MicrobenchError(f"unknown microbenchmark {name!r} (known: {', '.join(BENCHES)}){hint}")
    b = BENCHES[name]
    params = dict(params or {})
    out = dict(b.defaults)
    for k, v in params.items():
        if k not in b.defaults:
            close = difflib.get_close_matches(str(k), list(b.defaults), n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise MicrobenchError(f"{name}: unknown parameter {k!r} (parameters: {', '.join(b.defaults)}){hint}")
        d = b.defaults[k]
        if k in _SIZE_PARAMS:
            if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
                pass                                    # already in bytes
            else:
                try:
                    units.parse_size(v)
                except ValueError as e:
                    raise MicrobenchError(f"{name}.{k}: {e}") from None
        elif isinstance(d, bool):
            if not isinstance(v, bool):
                raise MicrobenchError(f"{name}.{k}: expected true or false, got {v!r}")
        elif isinstance(d, int):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise MicrobenchError(f"{name}.{k}: expected a positive integer, got {v!r}")
        elif isinstance(d, str):
            if not isinstance(v, str):
                raise MicrobenchError(f"{name}.{k}: expected a string, got {v!r}")
        out[k] = v
    for k, allowed in b.choices.items():
        if out[k] not in allowed:
            close = difflib.get_close_matches(str(out[k]), list(allowed), n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise MicrobenchError(f"{name}.{k}: expected one of {', '.join(allowed)}, got {out[k]!r}{hint}")
    if name == "mma_throughput" and not _MMA_SHAPE.match(out["opcode"]):
        raise MicrobenchError(f"{name}.opcode: expected an MMA opcode with its shape, like HMMA.16816.F32, got {out['opcode']!r}")
    for k in _SIZE_PARAMS & set(out):
        if isinstance(out[k], str):
            out[k] = units.parse_size(out[k])
    if "working_set" in out and out["working_set"] < out["stride"]:
        raise MicrobenchError(f"{name}: working_set is smaller than one stride")
    for k in ("length",):
        if k in out and out[k] % out["unroll"]:
            raise MicrobenchError(f"{name}.{k}: {out[k]} is not a multiple of unroll = {out['unroll']}")
    return out


def write_trace(name: str, cfg: GPUConfig, params: Mapping[str, Any] | None, out_dir: Path, scale: int = 1) -> Built:
    """Write benchmark ``name`` at ``scale`` as ``out_dir/kernel-1.traceg`` + ``kernelslist.g``."""
    p = check_params(name, params)
    built = BENCHES[name].build(cfg, scale, p)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "kernel-1.traceg").write_text(built.text)
    (out_dir / "kernelslist.g").write_text("kernel-1.traceg\n")
    if built.sass:
        (out_dir / "kernel-1.sass").write_text(built.sass)
    return built


@dataclass
class Measurement:
    bench: str
    params: dict
    values: list[tuple[float, str]]    # the benchmark's result in each of its units
    runs: list[dict]                   # per scale: work, kernel cycles, warp instructions
    reports: list[Any]                 # the two gpusim Reports (scale 1, scale 2)


def measure(name: str, cfg: GPUConfig, params: Mapping[str, Any] | None = None) -> Measurement:
    """Simulate the benchmark at scale 1 and 2 on ``cfg`` and derive its result."""
    from gpusim import api

    p = check_params(name, params)
    tmp = Path(tempfile.mkdtemp(prefix=f"gpusim-ubench-{name}-"))
    runs, reports = [], []
    try:
        for scale in (1, 2):
            d = tmp / f"scale{scale}"
            built = write_trace(name, cfg, p, d, scale)
            rep = api.simulate(d, cfg, use_cache=False)
            cycles = sum(k.cycles for k in rep.kernels)
            runs.append({"scale": scale, "work": built.work, "cycles": cycles,
                         "warp_instructions": sum(k.warp_instructions for k in rep.kernels)})
            reports.append(rep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    a, b = runs
    if b["cycles"] <= a["cycles"]:
        values = [(float("nan"), u) for u in BENCHES[name].units]
    else:
        values = BENCHES[name].derive((a["work"], a["cycles"]), (b["work"], b["cycles"]), cfg, p)
    return Measurement(name, {k: v for k, v in p.items()}, values, runs, reports)


def main(argv: list[str] | None = None) -> int:
    from gpusim.config import load_config

    ap = argparse.ArgumentParser(prog="python -m gpusim.microbench", description=__doc__.split("\n")[0])
    ap.add_argument("name", choices=sorted(BENCHES))
    ap.add_argument("--gpu", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    import yaml

    try:
        params = {}
        for text in a.param:
            k, _, v = text.partition("=")
            params[k.strip()] = yaml.safe_load(v)
        cfg = load_config(a.gpu, a.set)
        built = write_trace(a.name, cfg, params, Path(a.output), a.scale)
    except GpusimError as e:
        print(f"gpusim.microbench: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {Path(a.output) / 'kernel-1.traceg'} (work at scale {a.scale}: {built.work:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

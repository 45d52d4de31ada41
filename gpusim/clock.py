"""``gpusim clock``: run a microbenchmark listing as it is and read its clock registers.

Hardware microbenchmarks (the MICRO'25 paper's, Jia et al.'s, HPMLL's) time a stretch of SASS by
reading ``SR_CLOCKLO`` (``CS2R R, SR_CLOCKLO`` / ``S2R`` / ``S2UR``) before and after it and storing
the difference.  This module runs the first (or a named) function of a listing — cuobjdump /
nvdisasm text or a CuAssembler ``.cuasm`` (:mod:`gpusim.frontend.cuasm`) — as one CTA of N threads:
the project's functional walker (:mod:`gpusim.llm.walker`) executes it into a trace, the timing
model simulates it with its issue log on, and every clock read returns the simulated cycle at which
it issues (the clock is sampled at a fixed stage after issue, so differences of two reads are
differences of issue cycles).  Kernel parameters point to zero-filled buffers unless given
(``--arg``); an opcode the walker cannot execute is an error naming it and its line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from gpusim.errors import GpusimError

#: special registers that read the SM clock (a read of either half counts as a clock read)
CLOCK_REGISTERS = ("SR_CLOCKLO", "SR_CLOCKHI")
#: parameters given when the user names none: pointer slots to zero-filled buffers covering the
#: parameter window a microbenchmark typically reads (16 x 8 bytes)
DEFAULT_POINTER_PARAMS = 16
DEFAULT_BUFFER = "1MiB"


def listing_file(path: Path, tmp: Path, arch: str | None, line_map: dict[int, int] | None = None) -> Path:
    """The cuobjdump-style listing to read: ``path`` itself, or a CuAssembler file rewritten under ``tmp``
    (``line_map`` then receives {rewritten line: .cuasm line})."""
    from gpusim.frontend.cuasm import cuasm_to_sass_text, is_cuasm

    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise GpusimError(f"{path}: cannot read the listing: {e.strerror}") from None
    if path.suffix == ".cuasm" or is_cuasm(text):
        out = tmp / (path.stem + ".sass")
        out.write_text(cuasm_to_sass_text(text, str(path), arch, line_map))
        return out
    return path


def _user_location(e: GpusimError, rewritten: Path, source: Path, line_map: dict[int, int]) -> GpusimError:
    """``e`` with the rewritten listing's path:line replaced by the user's file and line."""
    import re

    msg = str(e)
    if str(rewritten) not in msg:
        return e

    def sub(m):
        n = line_map.get(int(m.group(1))) if m.group(1) else None
        return f"{source}:{n}" if n else str(source)

    new = re.sub(re.escape(str(rewritten)) + r"(?::(\d+))?", sub, msg)
    err = type(e).__new__(type(e))
    err.args = (new,)
    return err


def clock_reads(listing: str | Path, gpu, *, threads: int, kernel: str | None = None, args: list[str] = (),
                arch: str | None = None, overrides=()) -> dict:
    """``{"kernel", "gpu", "threads", "warps": [{"warp": w, "clock_reads": [cycle, ...]}, ...],
    "cycles"}``: the issue cycle of every clock read of every warp of one CTA of ``threads`` threads."""
    from gpusim import assemble
    from gpusim.api import listing_params, parse_listing_args
    from gpusim.config import load_config
    from gpusim.config.specs import GPUConfig
    from gpusim.frontend.reader import intern_opcodes
    from gpusim.llm.walker import Launch, kernel_from_listing, trace_kernel

    if not 1 <= int(threads) <= 1024:
        raise GpusimError(f"clock: --threads {threads}: one CTA holds 1 to 1024 threads")
    cfg = gpu if isinstance(gpu, GPUConfig) else load_config(gpu, list(overrides))
    parsed = parse_listing_args(list(args)) if args else \
        parse_listing_args([f"p{i}=ptr:{DEFAULT_BUFFER}" for i in range(DEFAULT_POINTER_PARAMS)])
    src = Path(listing)
    line_map: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as td:
        lp = listing_file(src, Path(td), arch, line_map)
        try:
            if kernel is None:
                # the first function of the listing (file order), as the help says; a listing of several
                # kernels (a whole cubin's dump) is run without naming one
                from gpusim.frontend.sass import parse_sass_listing

                names = list(parse_sass_listing(lp).functions)
                kernel = names[0] if len(names) > 1 else None
            kb = kernel_from_listing(lp, kernel, [(n, t) for n, t, _ in parsed], arch=arch)
            params, _ = listing_params(parsed)
            kt = trace_kernel(kb, Launch((1, 1, 1), (int(threads), 1, 1), params))
        except GpusimError as e:
            # errors found in the rewritten text name the line of the file the user wrote
            raise _user_location(e, lp, src, line_map) from None
    intern_opcodes(kt)
    fn = kb.function
    run = assemble.pack(cfg, kt, fn, log=True)
    _, cycles, _ = assemble.run(run, kt)
    idx = fn.index_of_pc(kt.st_pc)
    is_clock = np.array([i >= 0 and any(o.kind == "special" and o.name.split(".")[0] in CLOCK_REGISTERS
                                        for o in fn.operands[i]) for i in idx.tolist()], bool) \
        if len(idx) else np.zeros(0, bool)
    warps = []
    for w in range(kt.num_warps):
        a, b = int(kt.warp_inst_ptr[w]), int(kt.warp_inst_ptr[w + 1])
        sel = is_clock[kt.inst_static[a:b]]
        warps.append({"warp": int(kt.warp_slot[w]), "clock_reads": [int(c) for c in run.issue_log[a:b][sel]]})
    return {"kernel": kb.name, "listing": str(src), "arch": kb.arch, "gpu": cfg.name, "threads": int(threads),
            "cycles": int(cycles), "warps": warps,
            "method": "each clock read returns the simulated cycle its instruction issues (gpusim.clock)"}

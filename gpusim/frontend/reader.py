"""Reads Accel-Sim/NVBit kernel traces into columnar numpy arrays (``KernelTrace``).

Single responsibility: file → validated ``KernelTrace``.  The header is read here in
Python; the body is scanned by the Numba scanner in ``gpusim.core.tracescan``; opcodes are
interned against the ``isa/`` table chosen by the header's ``-binary version``.
The grammar is documented in ``traces/FORMAT.md`` (after research/accel-sim-trace-format.md §3).

Layout of a ``KernelTrace`` (all numpy; no Python object per instruction):

* static instructions (one row per distinct PC): ``st_pc``, ``st_opcode`` (full mnemonic),
  ``st_op`` (opcode-table id), ``st_ndst``/``st_dst`` (n×4), ``st_nsrc``/``st_src`` (n×4),
  ``st_mem_width`` (bytes the tracer wrote, 0 = not memory), ``st_imm``, ``st_line``;
* dynamic stream in CSR form: CTA ``c`` owns warps ``cta_warp_ptr[c]:cta_warp_ptr[c+1]``,
  warp ``w`` owns instructions ``warp_inst_ptr[w]:warp_inst_ptr[w+1]``; per dynamic
  instruction ``inst_static`` (row of the static table), ``inst_mask`` and ``inst_mem``
  (row of the memory table or -1);
* memory table, one row per dynamic memory instruction: ``mem_mode`` 1 = base+stride
  (``mem_base``, ``mem_stride``), 0 = explicit lane offsets from ``mem_base`` in
  ``lane_off[mem_ptr[m]:mem_ptr[m+1]]`` (modes 0 and 2 of the file both become this).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpusim.core import tracescan as ts
from gpusim.errors import GpusimError, TraceError

#: bump when the cached layout or the parsing rules change
PARSER_VERSION = 4

_MESSAGES = {
    ts.ERR_MISSING_FIELD: "missing field (line ends early)",
    ts.ERR_BAD_HEX: "malformed hex number (PC, mask or address)",
    ts.ERR_BAD_INT: "malformed decimal number",
    ts.ERR_BAD_REG: "malformed register operand (expected R0..R255)",
    ts.ERR_REG_COUNT: "register count out of range (expected 0..4)",
    ts.ERR_ADDR_MODE: "malformed address block: unknown address mode (expected 0, 1 or 2)",
    ts.ERR_TRAILING: "unexpected extra fields at end of line (malformed address block or wrong tracer version?)",
    ts.ERR_OUTSIDE_WARP: "instruction line outside a 'warp = N' / 'insts = N' record",
    ts.ERR_TOO_MANY_LINES: "more instruction lines than 'insts =' announced for this warp",
    ts.ERR_TOO_FEW_LINES: "previous warp has fewer instruction lines than 'insts =' announced",
    ts.ERR_BAD_TB: "malformed 'thread block = x,y,z' line",
    ts.ERR_BAD_WARP: "malformed 'warp = N' line",
    ts.ERR_BAD_INSTS: "malformed or misplaced 'insts = N' line",
    ts.ERR_NESTING: "#BEGIN_TB/#END_TB records are not properly nested",
    ts.ERR_TRUNCATED: "file ends inside a thread-block record (truncated trace?)",
    ts.ERR_BAD_OPCODE: "malformed opcode field",
}

_LIT = {
    "begin": np.frombuffer(b"#BEGIN_TB", np.uint8),
    "end": np.frombuffer(b"#END_TB", np.uint8),
    "tb": np.frombuffer(b"thread block", np.uint8),
    "warp": np.frombuffer(b"warp", np.uint8),
    "insts": np.frombuffer(b"insts", np.uint8),
}


@dataclass
class KernelHeader:
    name: str
    kernel_id: int
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    shmem_bytes: int
    nregs: int
    binary_version: int
    stream_id: int
    shmem_base: int
    local_base: int
    nvbit_version: str
    tracer_version: float
    lineinfo: bool
    extra: dict = field(default_factory=dict)

    @property
    def num_ctas(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def threads_per_cta(self) -> int:
        return self.block[0] * self.block[1] * self.block[2]

    @property
    def warps_per_cta(self) -> int:
        return (self.threads_per_cta + 31) // 32


@dataclass
class KernelTrace:
    path: str
    header: KernelHeader
    raw: bool  # read from raw (not post-processed) NVBit output
    # static table
    st_pc: np.ndarray
    st_opcode: tuple[str, ...]
    st_ndst: np.ndarray
    st_dst: np.ndarray
    st_nsrc: np.ndarray
    st_src: np.ndarray
    st_mem_width: np.ndarray
    st_imm: np.ndarray
    st_line: np.ndarray
    # dynamic stream
    cta_xyz: np.ndarray
    cta_warp_ptr: np.ndarray
    warp_slot: np.ndarray
    warp_inst_ptr: np.ndarray
    inst_static: np.ndarray
    inst_mask: np.ndarray
    inst_mem: np.ndarray
    # memory
    mem_mode: np.ndarray
    mem_base: np.ndarray
    mem_stride: np.ndarray
    mem_ptr: np.ndarray
    lane_off: np.ndarray
    # filled by intern()
    st_op: np.ndarray | None = None
    isa_family: str | None = None

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def num_ctas(self) -> int:
        return int(self.cta_warp_ptr.size - 1)

    @property
    def num_warps(self) -> int:
        return int(self.warp_inst_ptr.size - 1)

    @property
    def warp_instructions(self) -> int:
        return int(self.inst_static.size)

    @property
    def thread_instructions(self) -> int:
        return int(np.bitwise_count(self.inst_mask).sum(dtype=np.int64))

    def opcode_histogram(self) -> dict[str, int]:
        """Dynamic warp-instruction count per full mnemonic, most frequent first."""
        counts = np.bincount(self.inst_static, minlength=len(self.st_opcode))
        hist: dict[str, int] = {}
        for op, c in zip(self.st_opcode, counts.tolist()):
            if c:
                hist[op] = hist.get(op, 0) + c
        return dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))

    def lane_addresses(self, i: int) -> np.ndarray:
        """Addresses (uint64) of the active lanes of dynamic instruction ``i``, in lane order."""
        m = int(self.inst_mem[i])
        if m < 0:
            return np.zeros(0, np.uint64)
        if self.mem_mode[m] == 1:
            # base + stride: the active lanes form one contiguous run (tracer rule for mode 1)
            nact = int(np.bitwise_count(self.inst_mask[i]))
            off = np.arange(nact, dtype=np.int64) * self.mem_stride[m]
        else:
            off = self.lane_off[self.mem_ptr[m]: self.mem_ptr[m + 1]]
        return self.mem_base[m] + off.astype(np.uint64)


def narrow_int(a: np.ndarray, dtype=np.int32) -> np.ndarray:
    """A copy of integer array ``a`` as ``dtype`` when every value fits, else as int64 (the trace arrays that only
    the assembler reads, ``inst_mem`` and the memory rows, are kept as narrow as their values allow: issue 19,
    bytes per warp instruction resident; the Numba code that reads them compiles for either)."""
    a = np.asarray(a)
    info = np.iinfo(dtype)
    if a.size == 0 or (info.min <= int(a.min()) and int(a.max()) <= info.max):
        return a.astype(dtype)
    return a.astype(np.int64)


#: KernelTrace arrays stored by ``narrow_int`` (int32 where the values fit)
NARROW_FIELDS = ("inst_mem", "mem_stride", "mem_ptr", "lane_off")


# --------------------------------------------------------------------------- header


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TraceError(str(path), "file not found") from None
    except OSError as e:
        raise TraceError(str(path), f"cannot read: {e.strerror}") from None
    if path.suffix == ".xz":
        try:
            data = lzma.decompress(data)
        except lzma.LZMAError as e:
            raise TraceError(str(path), f"corrupt or truncated .xz data ({e})") from None
    return data


def _parse_triple(text: str, where: str, key: str) -> tuple[int, int, int]:
    t = text.strip()
    if not (t.startswith("(") and t.endswith(")")):
        raise TraceError(where, f"'-{key}' must look like (x,y,z), got {text.strip()!r}")
    parts = t[1:-1].split(",")
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        raise TraceError(where, f"'-{key}' must hold three integers, got {text.strip()!r}") from None
    if len(vals) != 3 or min(vals) < 1:
        raise TraceError(where, f"'-{key}' must hold three positive integers, got {text.strip()!r}")
    return vals  # type: ignore[return-value]


_HEADER_INT = {"kernel id", "shmem", "nregs", "binary version", "cuda stream id"}


def parse_header(data: bytes, path: str) -> tuple[KernelHeader, int, int]:
    """Read the ``-key = value`` header.  Returns (header, body byte offset, body first line)."""
    pos = 0
    line = 0
    kv: dict[str, tuple[str, int]] = {}
    n = len(data)
    while pos < n:
        e = data.find(b"\n", pos)
        if e < 0:
            e = n
        line += 1
        raw = data[pos:e]
        pos = e + 1
        s = raw.decode("utf-8", errors="replace").strip()
        if not s:
            continue
        if s.startswith("#"):
            break  # the '#traces format' line ends the header (its text is not parsed)
        if not s.startswith("-") or "=" not in s:
            raise TraceError(f"{path}:{line}", f"expected a '-key = value' header line or '#traces format', got {s[:60]!r}")
        k, v = s[1:].split("=", 1)
        kv[k.strip()] = (v.strip(), line)
    else:
        raise TraceError(path, "no '#traces format' line: the header never ends (truncated or not a trace)")

    def get(key: str, required: bool = True, default: str = "0") -> tuple[str, str]:
        if key in kv:
            v, ln = kv[key]
            return v, f"{path}:{ln}"
        if required:
            raise TraceError(path, f"header lacks '-{key} = ...'")
        return default, path

    ints: dict[str, int] = {}
    for key in _HEADER_INT:
        v, where = get(key, required=key in ("binary version",), default="0")
        try:
            ints[key] = int(v, 0)
        except ValueError:
            raise TraceError(where, f"'-{key}' must be an integer, got {v!r}") from None
    name, _ = get("kernel name")
    grid_t, where_g = get("grid dim")
    block_t, where_b = get("block dim")
    grid = _parse_triple(grid_t, where_g, "grid dim")
    block = _parse_triple(block_t, where_b, "block dim")
    if block[0] * block[1] * block[2] > 1024:
        raise TraceError(where_b, f"block of {block[0] * block[1] * block[2]} threads exceeds 1024")
    addrs = {}
    for key in ("shmem base_addr", "local mem base_addr"):
        v, where = get(key, required=False, default="0")
        try:
            addrs[key] = int(v, 16)
        except ValueError:
            raise TraceError(where, f"'-{key}' must be a hex address, got {v!r}") from None
    tv_t, where_t = get("accelsim tracer version", required=False, default="3")
    try:
        tracer_version = float(tv_t)
    except ValueError:
        raise TraceError(where_t, f"'-accelsim tracer version' must be a number, got {tv_t!r}") from None
    li_t, where_l = get("enable lineinfo", required=False, default="0")
    if li_t not in ("0", "1"):
        raise TraceError(where_l, f"'-enable lineinfo' must be 0 or 1, got {li_t!r}")
    known = _HEADER_INT | {"kernel name", "grid dim", "block dim", "shmem base_addr", "local mem base_addr",
                           "accelsim tracer version", "enable lineinfo", "nvbit version"}
    hdr = KernelHeader(
        name=name,
        kernel_id=ints["kernel id"],
        grid=grid,
        block=block,
        shmem_bytes=ints["shmem"],
        nregs=ints["nregs"],
        binary_version=ints["binary version"],
        stream_id=ints["cuda stream id"],
        shmem_base=addrs["shmem base_addr"],
        local_base=addrs["local mem base_addr"],
        nvbit_version=get("nvbit version", required=False, default="")[0],
        tracer_version=tracer_version,
        lineinfo=li_t == "1",
        extra={k: v for k, (v, _) in kv.items() if k not in known},
    )
    return hdr, pos, line + 1


# --------------------------------------------------------------------------- body


def _scan(buf: np.ndarray, start: int, line0: int, hdr: KernelHeader, grouped: bool, path: str):
    prefix = grouped is False or hdr.tracer_version < 3
    has_imm = hdr.tracer_version >= 5
    out = ts.scan_body(buf, start, line0, int(prefix), int(hdr.lineinfo), int(has_imm), int(grouped),
                       _LIT["begin"], _LIT["end"], _LIT["tb"], _LIT["warp"], _LIT["insts"])
    (err, err_line, n, pc, mask, ndst, dst, nsrc, src, ophash, opoff, oplen, memw, memi, imm, lineno, pfx,
     cta_xyz, cta_wptr, warp_slot, warp_ptr, mem_base, mem_stride, mem_mode, mem_ptr, lane_off, ncta, nwarp,
     nmem) = out
    if err != ts.OK:
        raise TraceError(f"{path}:{err_line}", _MESSAGES.get(err, f"parse error {err}"))
    nlane = int(mem_ptr[nmem])
    cols = dict(
        pc=pc[:n], mask=mask[:n], ndst=ndst[:n], dst=dst[:n], nsrc=nsrc[:n], src=src[:n], ophash=ophash[:n],
        opoff=opoff[:n], oplen=oplen[:n], memw=memw[:n], memi=memi[:n], imm=imm[:n], lineno=lineno[:n],
        pfx=pfx[:n] if prefix else None,
        cta_xyz=cta_xyz[:ncta], cta_wptr=cta_wptr[: ncta + 1], warp_slot=warp_slot[:nwarp],
        warp_ptr=warp_ptr[: nwarp + 1], mem_base=mem_base[:nmem], mem_stride=mem_stride[:nmem],
        mem_mode=mem_mode[:nmem], mem_ptr=mem_ptr[: nmem + 1], lane_off=lane_off[:nlane],
    )
    return cols


def _group_raw(cols: dict, hdr: KernelHeader, data: bytes, path: str) -> dict:
    """Group raw NVBit lines by CTA and warp, keeping per-warp order (what Accel-Sim's
    post-traces-processing does), and drop every second LDGSTS of a warp (NVBit reports each
    LDGSTS twice, once per memory operand; research/accel-sim-trace-format.md §3.5)."""
    pfx = cols["pfx"]
    n = pfx.shape[0]
    gx, gy, gz = hdr.grid
    if n and ((pfx[:, 0] >= gx).any() or (pfx[:, 1] >= gy).any() or (pfx[:, 2] >= gz).any()):
        bad = int(np.flatnonzero((pfx[:, 0] >= gx) | (pfx[:, 1] >= gy) | (pfx[:, 2] >= gz))[0])
        raise TraceError(f"{path}:{int(cols['lineno'][bad])}", f"thread block index outside the grid {hdr.grid}")
    if n and (pfx[:, 3] >= hdr.warps_per_cta).any():
        bad = int(np.flatnonzero(pfx[:, 3] >= hdr.warps_per_cta)[0])
        raise TraceError(f"{path}:{int(cols['lineno'][bad])}", f"warp index outside the {hdr.warps_per_cta} warps of a CTA")
    cta_lin = pfx[:, 0] + pfx[:, 1] * gx + pfx[:, 2] * gx * gy
    key = cta_lin * 1024 + pfx[:, 3]
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    # drop every second LDGSTS within a warp
    opnames = _opnames(cols, data)
    is_ldgsts = np.array([opnames[h].split(".")[0] == "LDGSTS" for h in cols["ophash"][order].tolist()], bool) \
        if n else np.zeros(0, bool)
    if is_ldgsts.any():
        keep = np.ones(n, bool)
        idx = np.flatnonzero(is_ldgsts)
        k_idx = key_s[idx]
        # rank of each LDGSTS within its warp
        first = np.r_[True, k_idx[1:] != k_idx[:-1]]
        start_pos = np.maximum.accumulate(np.where(first, np.arange(idx.size), 0))
        rank = np.arange(idx.size) - start_pos
        keep[idx[rank % 2 == 1]] = False
        order = order[keep]
        key_s = key_s[keep]
    for name in ("pc", "mask", "ndst", "dst", "nsrc", "src", "ophash", "opoff", "oplen", "memw", "memi", "imm", "lineno"):
        cols[name] = cols[name][order]
    # CSR: warps are runs of equal key, CTAs runs of equal key // 1024
    if key_s.size:
        wstart = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]])
    else:
        wstart = np.zeros(0, np.int64)
    wkey = key_s[wstart]
    cols["warp_ptr"] = np.r_[wstart, key_s.size].astype(np.int64)
    cols["warp_slot"] = (wkey % 1024).astype(np.int64)
    wcta = wkey // 1024
    cstart = np.flatnonzero(np.r_[True, wcta[1:] != wcta[:-1]]) if wcta.size else np.zeros(0, np.int64)
    cols["cta_wptr"] = np.r_[cstart, wcta.size].astype(np.int64)
    clin = wcta[cstart]
    cols["cta_xyz"] = np.stack([clin % gx, (clin // gx) % gy, clin // (gx * gy)], axis=1).astype(np.int64)
    cols["pfx"] = None
    return cols


def _opnames(cols: dict, data: bytes) -> dict[int, str]:
    ophash = cols["ophash"]
    if ophash.size == 0:
        return {}
    uh, first = np.unique(ophash, return_index=True)
    names = {}
    for h, i in zip(uh.tolist(), first.tolist()):
        off = int(cols["opoff"][i])
        names[h] = data[off: off + int(cols["oplen"][i])].decode("ascii", errors="replace")
    return names


def _build(cols: dict, hdr: KernelHeader, data: bytes, path: str, raw: bool) -> KernelTrace:
    pc = cols["pc"]
    n = pc.size
    if n:
        upc, first, inv = np.unique(pc, return_index=True, return_inverse=True)
    else:
        upc = np.zeros(0, np.int64)
        first = np.zeros(0, np.int64)
        inv = np.zeros(0, np.int64)
    inv = inv.astype(np.int32).reshape(-1)
    ophash = cols["ophash"]
    if n:
        bad = np.flatnonzero(ophash != ophash[first[inv]])
        if bad.size:
            b = int(bad[0])
            names = _opnames(cols, data)
            raise TraceError(
                f"{path}:{int(cols['lineno'][b])}",
                f"PC 0x{int(pc[b]):04x} holds '{names[int(ophash[b])]}' here but "
                f"'{names[int(ophash[first[inv[b]]])]}' at line {int(cols['lineno'][first[inv[b]]])}")
    names = _opnames(cols, data)
    st_opcode = tuple(names[h] for h in ophash[first].tolist())
    # empty CTAs (no instruction at all) are skipped, as the post-processor does
    return KernelTrace(
        path=path, header=hdr, raw=raw,
        st_pc=upc.astype(np.int64), st_opcode=st_opcode,
        st_ndst=cols["ndst"][first].copy(), st_dst=cols["dst"][first].copy(),
        st_nsrc=cols["nsrc"][first].copy(), st_src=cols["src"][first].copy(),
        st_mem_width=cols["memw"][first].copy(), st_imm=cols["imm"][first].copy(),
        st_line=cols["lineno"][first].copy(),
        cta_xyz=np.ascontiguousarray(cols["cta_xyz"]), cta_warp_ptr=cols["cta_wptr"].copy(),
        warp_slot=cols["warp_slot"].copy(), warp_inst_ptr=cols["warp_ptr"].copy(),
        inst_static=inv, inst_mask=cols["mask"].copy(), inst_mem=narrow_int(cols["memi"]),
        mem_mode=cols["mem_mode"].copy(), mem_base=cols["mem_base"].copy(), mem_stride=narrow_int(cols["mem_stride"]),
        mem_ptr=narrow_int(cols["mem_ptr"]), lane_off=narrow_int(cols["lane_off"]),
    )


# --------------------------------------------------------------------------- cache

_ARRAYS = ("st_pc", "st_ndst", "st_dst", "st_nsrc", "st_src", "st_mem_width", "st_imm", "st_line", "cta_xyz",
           "cta_warp_ptr", "warp_slot", "warp_inst_ptr", "inst_static", "inst_mask", "inst_mem", "mem_mode",
           "mem_base", "mem_stride", "mem_ptr", "lane_off")


def cache_dir() -> Path | None:
    """Where parsed traces are kept: ``$GPUSIM_CACHE_DIR`` or ``~/.cache/gpusim``; ``GPUSIM_CACHE_DIR=off`` disables it."""
    d = os.environ.get("GPUSIM_CACHE_DIR")
    if d == "off":
        return None
    return Path(d) if d else Path.home() / ".cache" / "gpusim"


def _cache_path(digest: str) -> Path | None:
    d = cache_dir()
    return None if d is None else d / "traces" / f"{digest}.npz"


def _save_cache(p: Path, kt: KernelTrace) -> None:
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = {"header": kt.header.__dict__, "st_opcode": list(kt.st_opcode), "raw": kt.raw, "path": kt.path,
                "parser": PARSER_VERSION}
        tmp = p.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                 **{k: getattr(kt, k) for k in _ARRAYS})
        os.replace(tmp, p)
    except OSError:
        pass  # a read-only or full cache directory only costs speed


def _load_cache(p: Path, path: str) -> KernelTrace | None:
    try:
        with np.load(p) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("parser") != PARSER_VERSION:
                return None
            # (files written before the memory rows were narrowed hold them as int64)
            arrays = {k: narrow_int(z[k]) if k in NARROW_FIELDS else z[k] for k in _ARRAYS}
    except Exception:  # a corrupt cache file is ignored and rewritten
        return None
    h = meta["header"]
    h["grid"] = tuple(h["grid"])
    h["block"] = tuple(h["block"])
    return KernelTrace(path=path, header=KernelHeader(**h), raw=meta["raw"], st_opcode=tuple(meta["st_opcode"]),
                       **arrays)


# --------------------------------------------------------------------------- API


def read_kernel_trace(path: str | os.PathLike, use_cache: bool = True) -> KernelTrace:
    """Parse one ``kernel-N.traceg`` / ``.traceg.xz`` (post-processed) or raw ``kernel-N.trace[.xz]``.

    Raises TraceError (naming file:line) for malformed input; IsaError is raised later by
    :func:`intern_opcodes` for opcodes missing from the table.
    """
    p = Path(path)
    data = _read_bytes(p)
    digest = None
    if use_cache:
        digest = hashlib.blake2b(data, digest_size=20).hexdigest() + f"-p{PARSER_VERSION}"
        cp = _cache_path(digest)
        if cp is not None and cp.exists():
            kt = _load_cache(cp, str(p))
            if kt is not None:
                return kt
    hdr, body, line0 = parse_header(data, str(p))
    buf = np.frombuffer(data, np.uint8)
    grouped = _looks_grouped(data, body)
    cols = _scan(buf, body, line0, hdr, grouped, str(p))
    raw = not grouped
    if raw:
        cols = _group_raw(cols, hdr, data, str(p))
    kt = _build(cols, hdr, data, str(p), raw)
    _check_structure(kt)
    if use_cache and digest is not None:
        cp = _cache_path(digest)
        if cp is not None:
            _save_cache(cp, kt)
    return kt


def _looks_grouped(data: bytes, body: int) -> bool:
    """Post-processed traces hold '#BEGIN_TB' records; raw NVBit output has none."""
    return data.find(b"#BEGIN_TB", body) >= 0 or data.find(b"warp =", body) >= 0 or not data[body:].strip()


def _check_structure(kt: KernelTrace) -> None:
    hdr = kt.header
    if kt.num_ctas > hdr.num_ctas:
        raise TraceError(kt.path, f"{kt.num_ctas} thread-block records but the grid {hdr.grid} has only {hdr.num_ctas} CTAs")
    if kt.num_ctas > 1:
        xyz = np.asarray(kt.cta_xyz, dtype=np.int64).reshape(-1, 3)
        lin = xyz[:, 0] + xyz[:, 1] * hdr.grid[0] + xyz[:, 2] * hdr.grid[0] * hdr.grid[1]
        order = np.argsort(lin, kind="stable")
        dup = np.flatnonzero(lin[order][1:] == lin[order][:-1])
        if dup.size:
            c = int(order[dup[0] + 1])
            w = int(kt.cta_warp_ptr[c])
            line = int(kt.st_line[kt.inst_static[kt.warp_inst_ptr[w]]]) \
                if w < len(kt.warp_inst_ptr) - 1 and kt.warp_inst_ptr[w] < kt.warp_inst_ptr[w + 1] else 0
            raise TraceError(f"{kt.path}:{line}" if line else kt.path,
                             f"thread block {tuple(int(v) for v in xyz[c])} is recorded twice")
    if kt.warp_slot.size and kt.warp_slot.max() >= hdr.warps_per_cta:
        w = int(np.argmax(kt.warp_slot >= hdr.warps_per_cta))
        line = int(kt.st_line[kt.inst_static[kt.warp_inst_ptr[w]]]) if kt.warp_inst_ptr[w] < kt.warp_inst_ptr[w + 1] else 0
        raise TraceError(f"{kt.path}:{line}" if line else kt.path,
                         f"warp {int(kt.warp_slot[w])} outside the {hdr.warps_per_cta} warps of a {hdr.block} block")


def intern_opcodes(kt: KernelTrace, table=None) -> KernelTrace:
    """Attach opcode-table ids (``st_op``) using the table for the trace's ``-binary version``;
    check that every non-empty warp ends with ``EXIT``.  Raises IsaError/TraceError."""
    from gpusim.frontend.opcodes import family_for_binary_version, load_opcode_table

    if table is None:
        try:
            fam = family_for_binary_version(kt.header.binary_version)
        except GpusimError as e:
            raise TraceError(kt.path, str(e)) from None
        table = load_opcode_table(fam)
    where = [f"{kt.path}:{int(ln)}" for ln in kt.st_line.tolist()]
    kt.st_op = table.intern(list(kt.st_opcode), where)
    kt.isa_family = table.family
    # every warp must end with EXIT (a missing EXIT crashed Accel-Sim; §3.3)
    exit_id = table.id_of("EXIT")
    ends = kt.warp_inst_ptr[1:]
    starts = kt.warp_inst_ptr[:-1]
    nonempty = ends > starts
    last_static = kt.inst_static[ends[nonempty] - 1]
    bad = np.flatnonzero(kt.st_op[last_static] != exit_id)
    if bad.size:
        w = int(np.flatnonzero(nonempty)[bad[0]])
        s = int(last_static[bad[0]])
        cta = int(np.searchsorted(kt.cta_warp_ptr, w, side="right") - 1)
        raise TraceError(f"{kt.path}:{int(kt.st_line[s])}",
                         f"warp {int(kt.warp_slot[w])} of CTA {tuple(int(v) for v in kt.cta_xyz[cta])} ends with "
                         f"'{kt.st_opcode[s]}' at PC 0x{int(kt.st_pc[s]):04x}, not EXIT (truncated warp?)")
    return kt

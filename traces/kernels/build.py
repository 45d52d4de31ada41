#!/usr/bin/env python3
"""Compile gpusim's LLM kernels (``src/*.cu``) and write their SASS listings and resource usage.

For every target architecture in ``kernels.yaml`` (sm_80, sm_86, sm_89, sm_90a) and every source
file, this script runs

* ``nvcc -cubin -O3 -use_fast_math -arch=<arch>`` (the flags are ``nvcc_flags`` in kernels.yaml),
* ``nvdisasm -c -hex`` on the cubin -> ``sass/<arch>/<stem>.sass`` (runs of blanks squeezed to one
  blank to keep the committed text small; the gpusim listing parser reads both forms and this
  script checks that they parse to the same instructions),
* ``cuobjdump -res-usage`` -> ``sass/<arch>/<stem>.res-usage.txt`` (registers, shared memory,
  constant bank bytes per kernel),
* ``cuobjdump -elf`` -> the kernel-parameter layout (``EIATTR_KPARAM_INFO``: ordinal, offset and
  size of every parameter; ``EIATTR_PARAM_CBANK``: where the parameters start in constant bank 0,
  0x160 on sm_80..sm_89 and 0x210 on sm_90) -> ``sass/<arch>/manifest.json``.

sm_70 (Volta) is built with a CUDA 12 toolchain, because CUDA 13 dropped Volta: nvcc 13 rejects
``-arch=sm_70`` and the CUDA 13 nvdisasm/cuobjdump refuse SM70 cubins.  The device code is compiled
by NVRTC 12.9 (``pip install nvidia-cuda-nvrtc-cu12==12.9.86``; NVIDIA's runtime compiler, the same
front end and ptxas as nvcc 12.9) against the CUDA 12.9 headers (``pip install
nvidia-cuda-runtime-cu12==12.9.79``), and disassembled by the CUDA 12.8 nvdisasm/cuobjdump that the
Triton 3.6.0 wheel carries (``triton/backends/nvidia/bin``; ``pip install triton==3.6.0``).  The
environment variables CUDA12_NVRTC (libnvrtc.so.12), CUDA12_INCLUDE (the headers' folder) and
CUDA12_BIN (the folder with nvdisasm and cuobjdump) override the search in site-packages.

The listings are committed, so neither CI nor users need nvcc.  Requirements for regenerating
them: ``nvcc`` on PATH (or ``$NVCC``) and the disassemblers (``pip install nvidia-cuda-nvdisasm
nvidia-cuda-cuobjdump``; found on PATH or in the wheel's ``nvidia/cu13/bin``).

    python traces/kernels/build.py                 # all targets, in place
    python traces/kernels/build.py --arch sm_86 --out sass-out   # one target elsewhere
    python traces/kernels/build.py --arch sm_70    # Volta only (CUDA 12 tools, see above)
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TYPE_BYTES = {"ptr": 8, "i32": 4, "i64": 8, "f32": 4, "tensormap": 128}


def find_tool(name: str) -> str:
    p = shutil.which(name)
    if p:
        return p
    try:
        import nvidia  # namespace package of the nvidia-cuda-* wheels

        for root in nvidia.__path__:
            for sub in ("cu13", "cu12", "cuda_nvcc", "cuda_cuobjdump", "cuda_nvdisasm"):
                cand = Path(root) / sub / "bin" / name
                if cand.is_file():
                    return str(cand)
    except ImportError:
        pass
    sys.exit(f"build.py: '{name}' not found (nvcc from the CUDA toolkit; "
             f"pip install nvidia-cuda-nvdisasm nvidia-cuda-cuobjdump for the disassemblers)")


#: architectures that CUDA 13 no longer compiles or disassembles: built with the CUDA 12 tools
CUDA12_ARCHS = ("sm_70",)


def _site_dirs(*parts: str) -> list[Path]:
    """Candidate folders ``<site-packages>/<parts>`` of the namespace/regular packages named by parts[0]."""
    out = []
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        for root in (spec.submodule_search_locations or []):
            out.append(Path(root, *parts[1:]))
    return out


def cuda12_tool(name: str) -> str:
    """nvdisasm / cuobjdump of CUDA 12 (they still read SM70 cubins)."""
    cands = [Path(os.environ["CUDA12_BIN"]) / name] if os.environ.get("CUDA12_BIN") else []
    cands += [d / name for d in _site_dirs("triton", "backends", "nvidia", "bin")]
    for c in cands:
        if c.is_file():
            return str(c)
    sys.exit(f"build.py: a CUDA 12 '{name}' is needed for sm_70 (CUDA 13's refuses SM70): pip install triton==3.6.0 "
             f"(its triton/backends/nvidia/bin has CUDA 12.8's), or set CUDA12_BIN to a folder holding it")


class Nvrtc12:
    """NVRTC 12.x through ctypes: CUDA C++ -> sm_70 cubin (nvcc 13 has no sm_70 back end)."""

    # stdint.h is not among NVRTC's built-in headers: the fixed-width types of the LP64 ABI nvcc uses
    STDINT = (b"#pragma once\ntypedef signed char int8_t; typedef short int16_t; typedef int int32_t; "
              b"typedef long long int64_t;\ntypedef unsigned char uint8_t; typedef unsigned short uint16_t; "
              b"typedef unsigned int uint32_t; typedef unsigned long long uint64_t;\n")

    def __init__(self) -> None:
        lib = os.environ.get("CUDA12_NVRTC")
        cands = [Path(lib)] if lib else []
        cands += [d / "lib" / "libnvrtc.so.12" for d in _site_dirs("nvidia", "cuda_nvrtc")]
        path = next((c for c in cands if c.is_file()), None)
        if path is None:
            sys.exit("build.py: sm_70 needs NVRTC 12 (pip install nvidia-cuda-nvrtc-cu12==12.9.86) or CUDA12_NVRTC")
        inc = os.environ.get("CUDA12_INCLUDE")
        incs = [Path(inc)] if inc else []
        incs += [d / "include" for d in _site_dirs("nvidia", "cuda_runtime")]
        self.include = next((c for c in incs if (c / "cuda_fp16.h").is_file()), None)
        if self.include is None:
            sys.exit("build.py: sm_70 needs the CUDA 12 headers (pip install nvidia-cuda-runtime-cu12==12.9.79) "
                     "or CUDA12_INCLUDE")
        self.lib = ctypes.CDLL(str(path))
        self.lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        major, minor = ctypes.c_int(), ctypes.c_int()
        self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
        self.version = f"NVRTC {major.value}.{minor.value} ({path.name}), headers {self.include}"
        if major.value != 12:
            sys.exit(f"build.py: {path} is NVRTC {major.value}.{minor.value}; sm_70 needs NVRTC 12")

    def _check(self, r: int, prog, what: str) -> None:
        if r == 0:
            return
        msg = self.lib.nvrtcGetErrorString(r).decode()
        if prog is not None:
            n = ctypes.c_size_t()
            self.lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
            buf = ctypes.create_string_buffer(n.value)
            self.lib.nvrtcGetProgramLog(prog, buf)
            msg += "\n" + buf.value.decode(errors="replace")
        sys.exit(f"build.py: NVRTC {what}: {msg}")

    def cubin(self, src: Path, arch: str, flags: list[str]) -> bytes:
        prog = ctypes.c_void_p()
        names = (ctypes.c_char_p * 1)(b"stdint.h")
        bodies = (ctypes.c_char_p * 1)(self.STDINT)
        self._check(self.lib.nvrtcCreateProgram(ctypes.byref(prog), src.read_bytes(), src.name.encode(), 1,
                                                bodies, names), None, f"{src.name}")
        # nvcc's flags in NVRTC's spelling (-O3 is ptxas's default there); INFINITY comes from nvcc's math.h
        opts = [f"-arch={arch}", f"-I{src.parent}", f"-I{self.include}", "-DINFINITY=__int_as_float(0x7f800000)"]
        opts += [f for f in flags if f == "-use_fast_math"]
        arr = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
        try:
            self._check(self.lib.nvrtcCompileProgram(prog, len(opts), arr), prog, f"{src.name} for {arch}")
            n = ctypes.c_size_t()
            self._check(self.lib.nvrtcGetCUBINSize(prog, ctypes.byref(n)), prog, "cubin size")
            buf = ctypes.create_string_buffer(n.value)
            self._check(self.lib.nvrtcGetCUBIN(prog, buf), prog, "cubin")
            return buf.raw
        finally:
            self.lib.nvrtcDestroyProgram(ctypes.byref(prog))


def run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"build.py: {' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def version(tool: str) -> str:
    out = run([tool, "--version"]).strip().splitlines()
    return out[-1] if out else "?"


_KPARAM = re.compile(r"Ordinal\s*:\s*0x([0-9a-f]+)\s+Offset\s*:\s*0x([0-9a-f]+)\s+Size\s*:\s*0x([0-9a-f]+)")
_CBANK = re.compile(r"EIATTR_PARAM_CBANK\s+Format:\s*\S+\s+Value:\s*0x[0-9a-f]+\s+0x([0-9a-f]+)")
_INFO = re.compile(r"^\.nv\.info\.(\S+)\s*$", re.MULTILINE)
# CUDA 12's ptxas may list a compiler constant bank (CONSTANT[2]) before bank 0
_RES = re.compile(r"Function (\S+):\s*\n\s*REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)(?: CONSTANT\[[1-9]\d*\]:\d+)* "
                  r"CONSTANT\[0\]:(\d+)")


def elf_params(elf_text: str) -> dict[str, dict]:
    """Per function: parameter (ordinal, offset, size) list and the param cbank offset/size."""
    out: dict[str, dict] = {}
    starts = [(m.start(), m.group(1)) for m in _INFO.finditer(elf_text)]
    for k, (pos, fn) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(elf_text)
        block = elf_text[pos:end]
        params = sorted((int(o, 16), int(off, 16), int(sz, 16)) for o, off, sz in _KPARAM.findall(block))
        cb = _CBANK.search(block)
        if cb is None:
            continue
        v = int(cb.group(1), 16)
        out[fn] = {"params": params, "param_base": v & 0xFFFF, "param_bytes": v >> 16}
    return out


_CONST2 = re.compile(r"^\.nv\.constant2\.(\S+)\s*\n((?:[ \t]*0x[0-9a-f]+[ \t]*)+(?:\n(?:[ \t]*0x[0-9a-f]+[ \t]*)+)*)",
                     re.MULTILINE)


def const2_words(elf_text: str) -> dict[str, list[int]]:
    """Per function: the 32-bit words of its compiler constant bank 2 (``.nv.constant2.<fn>``): ptxas puts
    literals there that it cannot encode as immediates (e.g. a 64-bit 4 added to an address) and, CUDA 12's
    ptxas on sm_70, shared-array addresses.  The walker reads the bank (sm_70: folds it into immediates)."""
    return {m.group(1): [int(w, 16) for w in m.group(2).split()] for m in _CONST2.finditer(elf_text)}


def squeeze(text: str) -> str:
    return "\n".join(re.sub(r"[ \t]+", " ", ln).rstrip() for ln in text.splitlines()) + "\n"


def check_same(full: str, small: str, where: str) -> None:
    """The squeezed listing must parse to exactly the instructions of nvdisasm's own text."""
    sys.path.insert(0, str(HERE.parents[1]))
    from gpusim.frontend.sass import parse_sass_text

    a, b = parse_sass_text(full, where), parse_sass_text(small, where)
    assert a.functions.keys() == b.functions.keys(), where
    for name, fa in a.functions.items():
        fb = b.functions[name]
        assert (fa.pc == fb.pc).all() and (fa.lo == fb.lo).all() and (fa.hi == fb.hi).all(), (where, name)
        assert fa.opcode == fb.opcode and fa.text == fb.text, (where, name)


def build(archs: list[str], out_root: Path) -> None:
    spec = yaml.safe_load((HERE / "kernels.yaml").read_text())
    flags = list(spec["nvcc_flags"])
    new_archs = [a for a in archs if a not in CUDA12_ARCHS]
    if new_archs:
        nvcc, nvdisasm13, cuobjdump13 = (os.environ.get("NVCC") or find_tool("nvcc")), find_tool("nvdisasm"), find_tool("cuobjdump")
    nvrtc = Nvrtc12() if len(new_archs) < len(archs) else None
    kernels = spec["kernels"]
    sources: dict[str, list[str]] = {}
    for name, k in kernels.items():
        sources.setdefault(k["source"], []).append(name)
    for arch in archs:
        dst = out_root / arch
        dst.mkdir(parents=True, exist_ok=True)
        cuda12 = arch in CUDA12_ARCHS
        if cuda12:
            nvdisasm, cuobjdump = cuda12_tool("nvdisasm"), cuda12_tool("cuobjdump")
        else:
            nvdisasm, cuobjdump = nvdisasm13, cuobjdump13
        manifest = {
            "arch": arch,
            "nvcc": nvrtc.version.split(",")[0] if cuda12 else version(nvcc),
            "nvdisasm": version(nvdisasm),
            "nvcc_flags": flags,
            "note": "generated by traces/kernels/build.py; do not edit",
            "kernels": {},
        }
        with tempfile.TemporaryDirectory() as tmp:
            for src, names in sorted(sources.items()):
                names = [n for n in names if arch in kernels[n].get("archs", spec["targets"])]
                if not names:
                    continue
                stem = Path(src).stem
                cubin = Path(tmp) / f"{stem}.cubin"
                if cuda12:
                    cubin.write_bytes(nvrtc.cubin(HERE / "src" / src, arch, flags))
                else:
                    run([nvcc, *flags, f"-arch={arch}", "-o", str(cubin), str(HERE / "src" / src)])
                full = run([nvdisasm, "-c", "-hex", str(cubin)])
                small = squeeze(full)
                check_same(full, small, f"{arch}/{stem}.sass")
                (dst / f"{stem}.sass").write_text(small)
                res = run([cuobjdump, "-res-usage", str(cubin)])
                (dst / f"{stem}.res-usage.txt").write_text(res)
                usage = {m.group(1): tuple(int(x) for x in m.groups()[1:]) for m in _RES.finditer(res)}
                elf_text = run([cuobjdump, "-elf", str(cubin)])
                elf, c2 = elf_params(elf_text), const2_words(elf_text)
                for name in names:
                    if name not in usage or name not in elf:
                        sys.exit(f"build.py: {src} for {arch} has no kernel '{name}' (kernels.yaml out of date?)")
                    declared = list(kernels[name]["params"].items())
                    found = elf[name]["params"]
                    if [o for o, _, _ in found] != list(range(len(declared))):
                        sys.exit(f"build.py: {name}: kernels.yaml lists {len(declared)} params, the cubin {len(found)}")
                    params = []
                    for (pname, ptype), (_, off, size) in zip(declared, found):
                        if TYPE_BYTES[ptype] != size:
                            sys.exit(f"build.py: {name}.{pname}: kernels.yaml says {ptype} ({TYPE_BYTES[ptype]} B), "
                                     f"the cubin {size} B")
                        params.append({"name": pname, "type": ptype, "offset": off, "size": size})
                    reg, stack, shared, local, const0 = usage[name]
                    manifest["kernels"][name] = {
                        "listing": f"{stem}.sass",
                        "registers": reg,
                        "static_shared_bytes": shared,
                        "stack_bytes": stack,
                        "local_bytes": local,
                        "const0_bytes": const0,
                        "param_base": elf[name]["param_base"],
                        "param_bytes": elf[name]["param_bytes"],
                        "params": params,
                    }
                    if name in c2:
                        manifest["kernels"][name]["const2_words"] = c2[name]
        (dst / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        total = sum(p.stat().st_size for p in dst.iterdir())
        print(f"{arch}: {len(manifest['kernels'])} kernels, {total / 1024:.0f} KiB in {dst}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", action="append", help="target(s), default: all in kernels.yaml")
    ap.add_argument("--out", type=Path, default=HERE / "sass", help="output root (default: traces/kernels/sass)")
    a = ap.parse_args()
    spec = yaml.safe_load((HERE / "kernels.yaml").read_text())
    build(a.arch or spec["targets"], a.out)


if __name__ == "__main__":
    main()

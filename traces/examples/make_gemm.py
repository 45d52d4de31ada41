"""Write the bundled GEMM example, traces/examples/gemm-sm80/: the project's tensor-core GEMM
``gemm_f16_tn_128x128x32_s3`` (traces/kernels/src/gemm_mma.cu: mma.sync m16n8k16, 3-stage cp.async,
swizzled ldmatrix, 128x128x32 CTA tile, 8 warps) compiled for sm_80 by real nvcc/ptxas
(traces/kernels/sass/sm_80/gemm_mma.sass) and walked into an Accel-Sim trace without a GPU, for
C[512,512] = A[512,256] . W[512,256]^T (fp16 in and out, fp32 accumulate): 16 CTAs.

It runs the same command a user would, with ``--save-trace``:

    gpusim run --sass traces/kernels/sass/sm_80/gemm_mma.sass --kernel gemm_f16_tn_128x128x32_s3 \\
        --grid 4,4 --block 256 --arg A=ptr:256KiB --arg W=ptr:256KiB --arg C=ptr:512KiB \\
        --arg M=i32:512 --arg N=i32:512 --arg K=i32:256 --regs 122 --shared 49152 \\
        --gpu a100-sxm4-80gb --save-trace traces/examples/gemm-sm80 -o gemm-walk-out

then compresses the trace (``kernel-1.traceg.xz``; gpusim and Accel-Sim read it).  Run from the
repository root: python traces/examples/make_gemm.py"""

from __future__ import annotations

import lzma
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "traces" / "examples" / "gemm-sm80"
ARGS = ["--sass", "traces/kernels/sass/sm_80/gemm_mma.sass", "--kernel", "gemm_f16_tn_128x128x32_s3",
        "--grid", "4,4", "--block", "256", "--arg", "A=ptr:256KiB", "--arg", "W=ptr:256KiB", "--arg", "C=ptr:512KiB",
        "--arg", "M=i32:512", "--arg", "N=i32:512", "--arg", "K=i32:256", "--regs", "122", "--shared", "49152",
        "--gpu", "a100-sxm4-80gb"]


def main() -> int:
    with tempfile.TemporaryDirectory() as td:
        subprocess.run([sys.executable, "-m", "gpusim.cli", "run", *ARGS, "--save-trace", str(OUT), "-o", td,
                        "--quiet"], cwd=ROOT, check=True)
    tr = OUT / "kernel-1.traceg"
    (OUT / "kernel-1.traceg.xz").write_bytes(lzma.compress(tr.read_bytes(), preset=9))
    tr.unlink()
    (OUT / "kernelslist.g").write_text("kernel-1.traceg.xz\n")
    print(f"wrote {OUT.relative_to(ROOT)}: " + ", ".join(f"{p.name} ({p.stat().st_size:,} B)" for p in sorted(OUT.iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

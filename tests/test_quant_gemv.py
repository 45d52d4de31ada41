"""Weight-only quantised decode GEMVs (traces/kernels/src/gemv_quant.cu) and ``gpusim llm --dtype``.

Rules protected, each with an analytic oracle:

* an int4 weight is half a byte in DRAM: the walked trace loads every packed weight byte exactly
  once (K*N/2 bytes) plus the group-wise fp16 scales ([K/group, N], each read by the group's lanes);
* int8 weights dequantise with one fp16 scale per output channel, applied once after the K loop, and
  the listing's PRMT / HADD2 immediates turn every signed byte into exactly its value;
* the int4 conversion of the listing (LOP3 masks, OR 0x6400, HADD2 -1032 / HFMA2 1/16, -72) gives q - 8
  for AWQ-ordered nibbles;
* split-K: every weight byte still read once, every (split, row) partial written once and reduced once;
* a decode step with int4 weights moves fewer DRAM bytes than fp16 (the weights dominate) and its
  footprint follows the dtype; fp8 weights are refused off Hopper and int weights above 16 rows, with
  exit status 2.

Each rule was checked to fail once broken (e.g. the W oracle with K*N instead of K*N/2, the scale
count with one read per group, the int8 bias 1152 replaced by 1024).
"""

from __future__ import annotations

import numpy as np
import pytest

from gpusim.cli import main
from gpusim.config import load_config
from gpusim.llm import kernels as K
from gpusim.llm.model import load_model, with_dtype
from gpusim.llm.run import memory_footprint, simulate_step
from gpusim.llm.model import parse_step
from gpusim.errors import GpusimError
from tests.test_llm_sanity import A100, a100_slice
from tests.test_walker import ptrs, touches


def _fp16(bits: np.ndarray) -> np.ndarray:
    return np.asarray(bits, np.uint16).view(np.float16).astype(np.float64)


#: the quantised and bf16 GEMVs are not built for Volta (kernels.yaml archs)
BUILT_ARCHS = [a for a in K.ARCHS if a != "sm_70"]


@pytest.mark.parametrize("arch", BUILT_ARCHS)
@pytest.mark.parametrize("group", [128, 32])
def test_int4_gemv_reads_half_a_byte_per_weight_plus_scales(arch, group):
    N, Kd, batch = 10, 2048, 2
    X, W, S, Y, P = ptrs(5)
    (call,) = K.gemv_quant(arch, "int4", batch, N, Kd, X, W, S, Y, P, group=group)
    kt = call.trace()
    wbytes, sbytes = N * Kd // 2, 2 * (Kd // group) * N
    t = touches(kt, {"X": 2 * batch * Kd, "W": wbytes, "S": sbytes, "Y": 2 * batch * N, "P": 4 * batch * N})
    assert np.all(t["W"][0] == 1)              # K*N/2 bytes, each read exactly once
    assert 2 * t["W"][0].sum() == wbytes
    # one scale per 32-weight lane chunk: a scale of group g is read by the g/32 lanes that share it
    assert np.all(t["S"][0] == group // 32) and 2 * t["S"][0].size == sbytes
    assert np.all(t["X"][0] == N) and np.all(t["Y"][1] == 1) and t["P"][1].sum() == 0
    # one 16-byte weight load per lane and step of 1024 weights (two steps here)
    ldg128 = int(sum(int((kt.inst_static == i).sum()) for i, o in enumerate(kt.st_opcode)
                     if o.startswith("LDG") and ".128" in o))
    assert ldg128 == N * (Kd // 1024) * (1 + batch * 4)   # weights + 4 x 16 B of every X row per step


def test_int8_gemv_dequantises_per_channel():
    """Per channel: S[n] is read once per output (by lane 0 of row n's warp, after its last weight load:
    the scale multiplies the reduced sum), nothing else of S; the listing's conversion (XOR 0x80808080,
    PRMT selectors 0x5140 / 0x7342 under 0x64 bytes, HADD2 -1152) maps every byte to its signed value."""
    N, Kd, batch = 6, 1024, 1
    X, W, S, Y, P = ptrs(5)
    (call,) = K.gemv_quant("sm_80", "int8", batch, N, Kd, X, W, S, Y, P)
    kt = call.trace()
    t = touches(kt, {"X": 2 * batch * Kd, "W": N * Kd, "S": 2 * N, "Y": 2 * batch * N, "P": 4 * N})
    assert np.all(t["W"][0] == 1) and np.all(t["S"][0] == batch)
    fn = call.kernel.function
    text = " ".join(fn.text)
    for frag in ("0x80808080, RZ, 0x3c", "PRMT", "0x5140", "0x7342", "HADD2", "-1152, -1152"):
        assert frag in text, frag
    q = np.arange(-128, 128).astype(np.int8).view(np.uint8).astype(np.uint32)
    u = q ^ 0x80                                  # LOP3 0x3c = a ^ b with 0x80 per byte
    half = 0x6400 | u                             # PRMT: byte under 0x64 (selector 0x5140 / 0x7342)
    assert np.array_equal(_fp16(half) - 1152, np.arange(-128, 128))
    # the scale load comes after the weight loads of its warp
    inst_s = [i for i, o in enumerate(fn.opcode) if o.startswith("LDG") and "U16" in o]
    inst_w = [i for i, o in enumerate(fn.opcode) if o.startswith("LDG") and ".128" in o]
    assert inst_s and min(inst_s) > max(inst_w)


def test_int4_conversion_of_the_listing_gives_q_minus_8_in_awq_order():
    fn = K.load_kernel("gemv_int4_b1", "sm_86").function
    text = " ".join(fn.text)
    for frag in ("0xf000f, RZ, 0xc0", "0xf000f0, RZ, 0xc0", "0x64006400, RZ, 0xfc", "-1032, -1032", "-72, -72",
                 "SHF.R.U32.HI"):
        assert frag in text, frag
    rng = np.random.default_rng(1)
    vals = rng.integers(0, 16, 8)                           # k0..k7 of one word
    order = [0, 4, 1, 5, 2, 6, 3, 7]                          # AWQ: value i at nibble order[i]
    w = sum(int(v) << (4 * order[i]) for i, v in enumerate(vals))
    out = []
    for word in (w, w >> 8):                                  # SHF.R.U32.HI 0x8 for the upper pairs
        lo = word & 0x000F000F
        hi = word & 0x00F000F0
        a = _fp16(np.array([(lo | 0x64006400) & 0xFFFF, (lo | 0x64006400) >> 16])) - 1032
        b = _fp16(np.array([(hi | 0x64006400) & 0xFFFF, (hi | 0x64006400) >> 16])) * (1 / 16) - 72
        out += [a, b]
    got = np.concatenate([out[0], out[1], out[2], out[3]])
    assert np.array_equal(got, vals - 8)


def test_split_k_int4_gemv_reads_each_weight_once_and_reduces_each_partial_once():
    N, Kd, batch = 8, 4096, 2
    X, W, S, Y, P = ptrs(5)
    splits = K.quant_gemv_splits(N, Kd, "int4", 108)
    assert splits == 4   # 2 CTAs on 108 SMs: one split per 1024-weight warp step
    c1, c2 = K.gemv_quant("sm_80", "int4", batch, N, Kd, X, W, S, Y, P, splits=splits)
    assert c1.launch.grid == (2, 4, 1) and c2.launch.grid == (1, batch, 1)
    sizes = {"X": 2 * batch * Kd, "W": N * Kd // 2, "S": 2 * (Kd // 128) * N, "Y": 2 * batch * N,
             "P": 4 * splits * batch * N}
    t1, t2 = touches(c1.trace(), sizes), touches(c2.trace(), sizes)
    assert np.all(t1["W"][0] == 1) and np.all(t1["P"][1] == 1) and t1["Y"][1].sum() == 0
    assert np.all(t2["P"][0] == 1) and np.all(t2["Y"][1] == 1)


def test_quant_gemv_preconditions_are_one_error_naming_the_kernel():
    X, W, S, Y, P = ptrs(5)
    with pytest.raises(K.KernelError, match="gemv_int4_b1: K = 4000 must be a multiple of the group size 128"):
        K.gemv_quant("sm_80", "int4", 1, 64, 4000, X, W, S, Y)
    with pytest.raises(K.KernelError, match="group size 16 must be a power of two >= 32"):
        K.gemv_quant("sm_80", "int4", 1, 64, 4096, X, W, S, Y, group=16)
    with pytest.raises(K.KernelError, match="batch 32 not built"):
        K.gemv_quant("sm_80", "int8", 32, 64, 4096, X, W, S, Y)


def test_dtype_int4_decode_step_moves_fewer_bytes_than_fp16():
    """The tiny model's decode on an A100 slice: the linear layers run the int4 GEMV and their DRAM
    traffic falls to about a quarter (plus scales); the LM head stays fp16; the footprint follows."""
    cfg = load_config(A100, a100_slice(4))
    m = load_model("tiny")
    step = "decode:batch=1,context=64"
    fp = simulate_step(m, step, cfg)
    q4 = simulate_step(with_dtype(m, "int4"), step, cfg)
    ops_fp = {o["name"]: o for o in fp["operators"]}
    ops_q = {o["name"]: o for o in q4["operators"]}
    for name in ("layer.qkv_proj", "layer.o_proj", "layer.up_gate_proj", "layer.down_proj"):
        assert ops_q[name]["kernel"] == "gemv_int4_b1", name
        assert ops_q[name]["dram_bytes"] < 0.4 * ops_fp[name]["dram_bytes"], name
    assert ops_q["lm_head"]["kernel"] == ops_fp["lm_head"]["kernel"] == "gemv_f16_b1"
    gemm_bytes = lambda r: sum(o["dram_bytes"] for o in r["operators"] if o["kind"] == "gemm")  # noqa: E731
    assert gemm_bytes(q4) < gemm_bytes(fp)
    # footprint: the blocks' linear weights at 4 bits + [K/128, N] fp16 scales; embedding, norms, LM head fp16
    lin = [(m.q_dim + 2 * m.kv_dim, m.hidden), (m.hidden, m.q_dim), (2 * m.ffn, m.hidden), (m.hidden, m.ffn)]
    full = sum(n * k for n, k in lin)
    q = sum(n * k // 2 + 2 * (k // 128) * n for n, k in lin)
    assert fp["memory_footprint"]["weight_bytes"] == 2 * m.params()
    assert q4["memory_footprint"]["weight_bytes"] == 2 * m.params() - m.layers * (2 * full - q)
    assert q4["weight_dtype"] == "int4"


def test_footprint_refuses_a_model_that_does_not_fit_and_int4_makes_it_fit():
    """Llama-2-70B: 129 GiB of fp16 weights exceed an 80 GB A100; int4 g128 (~34 GiB with scales) fits."""
    cfg = load_config(A100)
    m = load_model("llama-2-70b")
    st = parse_step("decode:batch=1,context=1024")
    with pytest.raises(GpusimError, match="exceed the 80.00 GiB of memory.dram_size"):
        memory_footprint(m, st, 1, cfg)
    f = memory_footprint(with_dtype(m, "int4"), st, 1, cfg)
    assert f["weight_bytes"] < 40 * 2**30 and f["kv_cache_bytes"] == 1024 * 80 * 2 * 8 * 128 * 2


@pytest.mark.parametrize("argv, message", [
    (["--dtype", "fp8"], "fp8 weights on sm_80"),
    (["--dtype", "int4", "--step", "prefill:tokens=64"], "M = 64 rows"),
    (["--dtype", "int8", "--group", "32"], "group size applies to int4 weights only"),
    (["--model", "llama-2-70b"], "exceed the 80.00 GiB of memory.dram_size"),
])
def test_fp8_weights_refused_off_hopper(argv, message, capsys, tmp_path):
    """--dtype fp8 on the A100 (no fp8 kernel before Hopper), int4 weights for a 64-row GEMM (no
    dequantising tensor-core GEMM), a group size for int8 and a model whose fp16 weights exceed the
    GPU's memory (Llama-2-70B on one 80 GB A100): one line, exit status 2."""
    base = ["llm", "--model", "tiny", "--step", "decode:batch=1,context=64", "--gpu", A100, "-o",
            str(tmp_path / "o"), "--quiet"]
    if "--model" in argv:
        base[base.index("--model") + 1] = argv[argv.index("--model") + 1]
        argv = []
    if "--step" in argv:
        i = base.index("--step")
        base[i + 1] = argv[argv.index("--step") + 1]
        argv = [a for j, a in enumerate(argv) if j not in (argv.index("--step"), argv.index("--step") + 1)]
    rc = main([*base, *argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("arch", BUILT_ARCHS)
def test_bf16_gemv_converts_with_integer_ops_and_touches_each_weight_once(arch):
    """bf16 decode runs bf16 code: gemv_bf16 reads every weight once (16-byte loads) like gemv_f16, and
    converts bf16 -> fp32 by moving the 16 bits into the upper half (integer IMAD.U32 / SHF / LOP3), not
    with the fp16 HADD2.F32 conversions of gemv_f16."""
    N, Kd, batch = 20, 1032, 2
    X, W, Y = ptrs(3)
    call = K.gemv(arch, batch, N, Kd, X, W, Y, dtype="bf16")
    assert call.name == "gemv_bf16_b2"
    t = touches(call.trace(), {"X": 2 * batch * Kd, "W": 2 * N * Kd, "Y": 2 * batch * N})
    assert np.all(t["W"][0] == 1) and np.all(t["X"][0] == N) and np.all(t["Y"][1] == 1)
    ops_bf = [o.split(".")[0] for o in call.kernel.function.opcode]
    ops_fp = [o for o in K.load_kernel("gemv_f16_b2", arch).function.opcode]
    assert not any(o.startswith("HADD2.F32") for o in call.kernel.function.opcode)
    assert any(o.startswith("HADD2.F32") for o in ops_fp)
    assert "F2FP" in " ".join(ops_bf)


def test_dtype_bf16_decode_step_runs_the_bf16_gemv():
    cfg = load_config(A100, a100_slice(4))
    r = simulate_step(with_dtype(load_model("tiny"), "bf16"), "decode:batch=1,context=64", cfg)
    ops = {o["name"]: o for o in r["operators"]}
    assert ops["layer.qkv_proj"]["kernel"] == "gemv_bf16_b1" and ops["lm_head"]["kernel"] == "gemv_bf16_b1"
    assert r["weight_dtype"] == "bf16"


@pytest.mark.parametrize("dtype", ["int8", "int4"])
def test_batch_16_gemv_reads_each_weight_once_for_all_16_rows(dtype):
    """Decode batches up to 16 share one pass over the weights: W once, each X row once per channel."""
    N, Kd, batch = 4, 1024, 16
    X, W, S, Y, P = ptrs(5)
    (call,) = K.gemv_quant("sm_90a", dtype, batch, N, Kd, X, W, S, Y, P)
    t = touches(call.trace(), {"X": 2 * batch * Kd, "W": N * Kd * K.QUANT_BITS[dtype] // 8,
                               "S": K.quant_scale_bytes(dtype, N, Kd), "Y": 2 * batch * N, "P": 4 * batch * N})
    assert np.all(t["W"][0] == 1) and np.all(t["X"][0] == N) and np.all(t["Y"][1] == 1)


def test_fp8_weights_run_the_e4m3_wgmma_gemms_on_hopper():
    """--dtype fp8 on the H100 config: the blocks' linear layers run the e4m3 wgmma GEMMs (one byte per
    weight), the LM head stays fp16; the footprint counts one byte per quantised weight."""
    cfg = load_config("h100-sxm5-80gb", ["sm.count=4"])
    m = load_model("tiny")
    r = simulate_step(with_dtype(m, "fp8"), "decode:batch=1,context=64", cfg)
    ops = {o["name"]: o for o in r["operators"]}
    assert ops["layer.down_proj"]["kernel"].startswith("gemm_e4m3_tn_wgmma")
    assert ops["lm_head"]["kernel"] == "gemv_f16_b1"
    lin = sum(n * k for _, n, k in m.linear_shapes())
    assert r["memory_footprint"]["weight_bytes"] == 2 * m.params() - m.layers * (lin - 4 * len(m.linear_shapes()))

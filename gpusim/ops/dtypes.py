"""Element widths of the dtypes operators and tensors carry (re-exported by :mod:`gpusim.llm.model`)."""

#: bits per element of each supported dtype (IEEE half, bfloat16, OCP FP8 E4M3/E5M2, integers)
DTYPE_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "int8": 8, "int4": 4}

__all__ = ["DTYPE_BITS"]

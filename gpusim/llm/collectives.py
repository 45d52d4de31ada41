"""Tensor-parallel collectives of an LLM step on GPUs: an analytic bus-bandwidth model.

The all-reduce after the O and down projections and the all-gather of the LM head's logits
(:mod:`gpusim.llm.graph`, ``tp > 1``) are not simulated instruction by instruction: NCCL's kernels
spend their time waiting on NVLink transfers that the single-GPU timing model does not see.  They
take the time nccl-tests' bus-bandwidth convention gives (github.com/NVIDIA/nccl-tests
doc/PERFORMANCE.md: ``busbw = algbw * 2 (n-1)/n`` for all-reduce, ``algbw * (n-1)/n`` for
all-gather, so that bus bandwidth is comparable across GPU counts):

    all-reduce of S bytes over n GPUs:  latency + 2 (n-1)/n * S / bus_bandwidth
    all-gather into S bytes (all shares):  latency + (n-1)/n * S / bus_bandwidth

``bus_bandwidth`` is the config's ``interconnect.bus_bandwidth`` (measured NCCL all-reduce bus
bandwidth of an 8-GPU node) and ``latency`` its ``interconnect.collective_latency``.  A collective
counts as one launch.
"""

from __future__ import annotations

from gpusim.ops.kinds import OperatorKind as OK

__all__ = ["collective_seconds", "BUS_FACTOR"]

#: bytes on the wire per byte of ``nbytes`` for each collective kind over n GPUs (nccl-tests' busbw factors)
BUS_FACTOR = {OK.ALLREDUCE: lambda n: 2.0 * (n - 1) / n, OK.ALLGATHER: lambda n: (n - 1) / n}


def collective_seconds(kind: str, nbytes: float, gpus: int, bus_bandwidth: float, latency_s: float) -> float:
    """Seconds of one ``allreduce`` (``nbytes`` = the buffer each GPU holds) or ``allgather``
    (``nbytes`` = the gathered buffer, every GPU's share) over ``gpus`` GPUs; 0 for one GPU."""
    if gpus <= 1:
        return 0.0
    if bus_bandwidth <= 0:
        raise ValueError("interconnect.bus_bandwidth must be positive for tensor-parallel collectives")
    factor = BUS_FACTOR.get(kind)
    if factor is None:
        raise ValueError(f"unknown collective {kind!r}")
    wire = factor(gpus) * nbytes
    return latency_s + wire / bus_bandwidth

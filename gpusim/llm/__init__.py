"""LLM workloads: model and step descriptions (``model``), the operator graph (``graph``), the
project's own kernels and their launches (``kernels``), and the functional SASS walker that turns
a listing + launch into a dynamic trace (``walker``)."""

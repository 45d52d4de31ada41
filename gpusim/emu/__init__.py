"""The functional SASS emulator ("walker"): executes the address and control part of a kernel's SASS
listing, CTA by CTA and warp by warp, into the dynamic trace the timing model simulates (issue 17
item 4).  Shared by the LLM kernels (``gpusim.llm.walker`` decodes a listing and drives it) and
``gpusim clock``.

Modules: ``isa`` (encoding: op codes, operand kinds, table columns, status codes), ``state`` (typed
bundles: inputs, trace columns, warp state), ``bits`` (scalar integer primitives), ``operands``
(source gather, special registers, result write-back, LDC), ``alu`` (integer arithmetic, logic,
predicates and compares), ``warp`` (SHFL, VOTE, ELECT), ``memory`` (traced addresses, memory image,
local memory, unknown results of FP/tensor ops), ``tensor`` (TMA, mbarrier waits), ``control``
(independent thread scheduling, branches, convergence barriers, BAR operands), ``walk`` (the dispatch
loop, ``walk_ctas``).

Its Numba functions share the core's on-disk cache folder, keyed by a hash of the core's and this
package's sources (``gpusim.core``), so importing the core first is what points Numba there.
"""

import gpusim.core  # noqa: F401  (sets Numba's cache folder before any function here is compiled)

"""RDU (SambaNova SN40L-style reconfigurable dataflow unit) model: section simulator (Numba, ``des``),
lowering of the shared LLM operator graph (``lower``), schedule level (``schedule``), presets
(``configs/accel/rdu/``), report and CLI (``gpusim rdu``).  See README.md in this folder."""

from gpusim.accel.rdu.api import run, run_step
from gpusim.accel.rdu.config import list_presets, load_rdu_config
from gpusim.accel.rdu.schedule import simulate_coe, simulate_graph, simulate_step, switch_time_s

__all__ = ["run", "run_step", "list_presets", "load_rdu_config", "simulate_step", "simulate_graph", "simulate_coe",
           "switch_time_s"]

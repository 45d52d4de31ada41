"""RDU cases: an SN40L-style preset run as ``gpusim rdu`` / ``gpusim llm --rdu`` runs it, step figures
and Composition-of-Experts ratios against a GPU node."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any


from gpusim.config.yamlio import Lines, check_keys
from gpusim.errors import ConfigError, GpusimError
from gpusim.sweep.workloads import REPO_ROOT
from gpusim.validate.references import _config_exists, _err
from gpusim.validate.roles import model_sources


#: what an ``rdu`` case yields, by ``measure``
RDU_MEASURES = {
    "tokens_per_s": ("token/s", "s"),       # one serving step (`gpusim rdu --step`): tokens/s and step seconds
    "peak_flops": ("flop/s",),              # the preset's peak (lanes x stages x units x clock)
    "switch_s": ("s",),                     # one model switch, DDR -> HBM on all sockets
    "layer_hbm": ("x",),                    # the looped decoder layer's steady-state share of peak HBM bandwidth
    "layer_pcus": ("x",),                   # the fused decoder layer's share of the socket's PCUs
    "coe_speedup": ("x",),                  # CoE batch, GPU node total / RDU total (`--coe`, DGX-like node vs_gpu)
    "expert_speedup": ("x",),               # the same with no switching (router + prefill + decode only)
    "switch_speedup": ("x",),               # one expert copy on the GPU node / on the RDU
}


@dataclasses.dataclass(frozen=True)
class RduWorkload:
    """An RDU run as ``gpusim rdu`` (``gpusim llm --rdu``) makes it: ``{rdu: {preset, model, [step], [fusion],
    [set], [coe], [vs_gpu], [measure]}}``.  ``measure`` picks the result (:data:`RDU_MEASURES`); the CoE
    measures serve ``coe`` (an ``--coe`` spec) on the RDU and on a node of ``vs_gpu`` GPUs
    (:func:`gpusim.llm.coe.gpu_coe`, the paper's DGX baseline) and divide the GPU node's time by the RDU's."""

    preset: str
    model: str
    name: str
    step: str | None = None
    fusion: str = "fused_ho_looped"
    overrides: tuple[str, ...] = ()
    coe: str | None = None
    vs_gpu: str | None = None
    measure: str = "tokens_per_s"
    kind: str = "rdu"

    _KEYS = ("preset", "model", "step", "fusion", "set", "coe", "vs_gpu", "measure")
    #: an RDU case runs on its preset, not on a GPU config (its units convert at 1 Hz, 1 SM)
    uses_gpu_config = False

    @classmethod
    def parse(cls, value: Any, extra: Mapping, lines: Lines, kp: tuple) -> "RduWorkload":
        from gpusim.accel.rdu.config import load_rdu_config
        from gpusim.accel.rdu.lower import FUSION_LEVELS
        from gpusim.llm.coe import parse_coe_spec
        from gpusim.llm.model import load_model, parse_step

        check_keys(extra, ("name",), lines, kp)
        k = (*kp, "rdu")
        if not isinstance(value, Mapping):
            raise _err(lines, k, "expected {preset, model, [step], [fusion], [set], [coe], [vs_gpu], [measure]}")
        check_keys(value, cls._KEYS, lines, k, required=("preset", "model"))
        measure = str(value.get("measure", "tokens_per_s"))
        if measure not in RDU_MEASURES:
            raise _err(lines, (*k, "measure"), f"expected one of {', '.join(RDU_MEASURES)}, got {measure!r}")
        fusion = str(value.get("fusion", "fused_ho_looped"))
        if fusion not in FUSION_LEVELS:
            raise _err(lines, (*k, "fusion"), f"expected one of {', '.join(FUSION_LEVELS)}, got {fusion!r}")
        sets = value.get("set") or []
        sets = [sets] if isinstance(sets, str) else list(sets)
        try:
            load_rdu_config(str(value["preset"]), sets)
        except ConfigError as e:
            raise _err(lines, (*k, "preset"), str(e)) from None
        try:
            load_model(str(value["model"]))
        except GpusimError as e:
            raise _err(lines, (*k, "model"), str(e)) from None
        step = value.get("step")
        needs_step = measure in ("tokens_per_s", "layer_hbm", "layer_pcus")
        if needs_step and not step:
            raise _err(lines, k, f"measure {measure} needs a step (e.g. decode:batch=1,context=4096)")
        if step is not None:
            try:
                parse_step(str(step))
            except GpusimError as e:
                raise _err(lines, (*k, "step"), str(e)) from None
        coe, gpu = value.get("coe"), value.get("vs_gpu")
        if measure.endswith("speedup"):
            if not coe or not gpu:
                raise _err(lines, k, f"measure {measure} needs coe (an --coe spec) and vs_gpu (a GPU config)")
            try:
                parse_coe_spec(str(coe))
            except GpusimError as e:
                raise _err(lines, (*k, "coe"), str(e)) from None
            if not _config_exists(str(gpu)):
                from gpusim.config import load_config
                try:
                    load_config(str(gpu))
                except ConfigError as e:
                    raise _err(lines, (*k, "vs_gpu"), str(e)) from None
        name = extra.get("name") or f"{value['model']} on {value['preset']} ({measure})"
        return cls(preset=str(value["preset"]), model=str(value["model"]), name=str(name),
                   step=None if step is None else str(step), fusion=fusion, overrides=tuple(sets),
                   coe=None if coe is None else str(coe), vs_gpu=None if gpu is None else str(gpu), measure=measure)

    def describe(self) -> dict:
        return {"kind": "rdu", "name": self.name, "preset": self.preset, "model": self.model, "step": self.step,
                "fusion": self.fusion, "set": list(self.overrides), "coe": self.coe, "vs_gpu": self.vs_gpu,
                "measure": self.measure}

    def model_sources(self) -> list[Path]:
        """The preset file and its ``extends`` chain, the GPU config of ``vs_gpu`` and the model code."""
        from gpusim.accel.rdu.config import load_rdu_config

        spec = load_rdu_config(self.preset, self.overrides)
        files = set()
        for _, _, loc in spec.provenance:
            cand = REPO_ROOT / str(loc).rsplit(":", 1)[0]
            if cand.is_file():
                files.add(cand.resolve())
        if self.vs_gpu:
            from gpusim.config import load_config

            files.update(model_sources(load_config(self.vs_gpu), self.vs_gpu))
        else:
            files.update(model_sources(None))
        return sorted(files)

    def native_units(self, metric: str, work) -> tuple[str, ...]:
        return RDU_MEASURES[self.measure]

    def validation_values(self, cfg, metric: str, work) -> tuple[list, list[dict]]:
        natives, rec = self.measure_value()
        return natives, [rec]

    def measure_value(self) -> tuple[list[tuple[float, str]], dict]:
        """(value, unit) pairs in :data:`RDU_MEASURES` order and a run record."""
        from gpusim.accel.rdu.config import load_rdu_config
        from gpusim.accel.rdu.schedule import simulate_step, switch_time_s
        from gpusim.llm.model import load_model

        spec = load_rdu_config(self.preset, self.overrides)
        m = load_model(self.model)
        if self.measure == "peak_flops":
            return [(spec.peak_flops, "flop/s")], {"peak_flops": spec.peak_flops}
        if self.measure == "switch_s":
            t = switch_time_s(spec, m)
            return [(t, "s")], {"switch_s": t}
        if self.measure in ("tokens_per_s", "layer_hbm", "layer_pcus"):
            r = simulate_step(spec, m, self.step, self.fusion)
            rec = {"step_s": r.step_time_s, "tokens_per_s": r.tokens_per_s, "calls": r.calls,
                   "hbm_utilisation": r.hbm_utilisation()}
            if self.measure == "tokens_per_s":
                return [(r.tokens_per_s, "token/s"), (r.step_time_s, "s")], rec
            layer = [cg for cg in r.groups if cg.section.startswith("decoder layer") and cg.looped]
            if not layer:
                raise GpusimError(f"{self.name}: no looped decoder layer (measure {self.measure} needs fusion "
                                  f"fused_ho_looped and the layer in one section)")
            cg = layer[0]
            if self.measure == "layer_pcus":
                frac = cg.plan.pcus / spec.pcu.count
                return [(frac, "x")], {**rec, "layer_pcu_fraction": frac}
            frac = cg.plan.hbm_bytes / (cg.steady_s * spec.hbm.bandwidth_bytes_per_s)
            return [(frac, "x")], {**rec, "layer_hbm_fraction": frac}
        rdu, gpu = _coe_pair(self.preset, self.overrides, self.model, self.coe, self.fusion, self.vs_gpu)
        if self.measure == "coe_speedup":
            v = gpu["total_s"] / rdu["total_s"]
        elif self.measure == "expert_speedup":
            v = (gpu["total_s"] - gpu["switch_s"]) / (rdu["total_s"] - rdu["switch_s"])
        else:
            v = gpu["switch_s_each"] / rdu["switch_s_each"]
        return [(v, "x")], {"rdu": rdu, "gpu": {k: x for k, x in gpu.items() if k != "notes"}}


_COE_CACHE: dict[tuple, tuple[dict, dict]] = {}


def _coe_pair(preset: str, overrides: tuple[str, ...], model: str, coe: str, fusion: str, gpu: str) -> tuple[dict, dict]:
    """One CoE batch on the RDU (``gpusim rdu --coe``) and on the GPU node (``gpusim llm --gpu --coe``);
    memoised so the cases of one scenario share the GPU simulations."""
    key = (preset, overrides, model, coe, fusion, gpu)
    if key not in _COE_CACHE:
        from gpusim.accel.rdu.config import load_rdu_config
        from gpusim.accel.rdu.schedule import simulate_coe, switch_time_s
        from gpusim.llm.coe import gpu_coe, parse_coe_spec
        from gpusim.llm.model import load_model

        p = parse_coe_spec(coe)
        spec = load_rdu_config(preset, overrides)
        m = load_model(model)
        r = simulate_coe(spec, m, m, experts=p["experts"], batch=p["batch"], prompt_tokens=p["prompt"],
                         output_tokens=p["out"], fusion=fusion, warm=p["warm"])
        rdu = {**r.to_dict(), "switch_s_each": switch_time_s(spec, m)}
        g = gpu_coe(gpu, m, **p)
        _COE_CACHE[key] = (rdu, g)
    return _COE_CACHE[key]

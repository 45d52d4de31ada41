"""A sweep file -> its points: axes expanded, every point's config checked before anything runs."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from gpusim.config.yamlio import Lines, check_keys, load_yaml
from gpusim.errors import ConfigError, InputFileError as SweepError
from gpusim.sweep.workloads import parse_workload, resolve_path


# ----------------------------------------------------------------------------------------------
# The sweep.


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=True, width=10**9).strip().removesuffix("...").strip()


@dataclasses.dataclass
class Point:
    index: int
    values: dict                # axis -> value as written
    gpu: str
    overrides: list[str]
    workload: Any
    point_id: str = ""


@dataclasses.dataclass
class Sweep:
    path: Path
    name: str
    base: str
    sets: list[str]
    workloads: list
    axes: dict                  # key -> list of values
    combine: str
    points: list[Point]
    lines: Lines


_SWEEP_KEYS = ("name", "base", "gpu", "set", "workloads", "axes", "combine", "description")


def _check_config(gpu: str, overrides: list[str], lines: Lines, where: Callable[[ConfigError], tuple]) -> None:
    from gpusim.config import load_config

    try:
        load_config(gpu, overrides)
    except ConfigError as e:
        raise lines.error(where(e), str(e)) from None


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file; every point's config is loaded (and so validated) here."""
    path = Path(path)
    data, lines = load_yaml(path, "sweep file")
    if not isinstance(data, Mapping):
        raise SweepError(f"{path}:1: a sweep file is a mapping with base, workloads and axes")
    check_keys(data, _SWEEP_KEYS, lines, ())
    if "base" in data and "gpu" in data:
        raise lines.error(("gpu",), "give the base config once, as 'base' or 'gpu'")
    base_key = "base" if "base" in data else "gpu"
    base = data.get(base_key)
    axes = data.get("axes") or {}
    if not isinstance(axes, Mapping):
        raise lines.error(("axes",), f"expected a mapping of key path -> list of values, got {axes!r}")
    if base is None and "gpu" not in axes:
        raise lines.error((), "missing required key 'base' (the GPU config every point starts from)")
    if base is not None and not isinstance(base, str):
        raise lines.error((base_key,), f"expected a config name or YAML path, got {base!r}")
    if base is not None and (base.endswith((".yaml", ".yml")) or "/" in base):
        rp = resolve_path(base, path.parent)
        base = str(rp) if rp is not None else base
    name = data.get("name") or path.stem
    sets = data.get("set") or []
    if isinstance(sets, str):
        sets = [sets]
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
        raise lines.error(("set",), "expected a list of KEY=VALUE strings")
    combine = data.get("combine", "product")
    if combine not in ("product", "zip"):
        raise lines.error(("combine",), f"expected product or zip, got {combine!r}")
    wl_items = data.get("workloads")
    if not wl_items:
        raise lines.error(("workloads",) if "workloads" in data else (), "needs at least one workload")
    if not isinstance(wl_items, list):
        wl_items = [wl_items]
    workloads = [parse_workload(w, lines, ("workloads", i), path.parent) for i, w in enumerate(wl_items)]
    names = [w.name for w in workloads]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise lines.error(("workloads", i), f"two workloads are named {n!r}; give one a 'name:'")

    axis_values: dict[str, list] = {}
    for key, values in axes.items():
        if not isinstance(key, str) or not key:
            raise lines.error(("axes", key), "an axis is a config key path such as sm.count")
        if not isinstance(values, list) or not values:
            raise lines.error(("axes", key), f"expected a non-empty list of values, got {values!r}")
        if key != "gpu":
            for v in values:
                if isinstance(v, (Mapping, list)):
                    raise lines.error(("axes", key), f"axis values are scalars, got {v!r}")
        axis_values[key] = values
    if combine == "zip" and len({len(v) for v in axis_values.values()}) > 1:
        lens = ", ".join(f"{k}: {len(v)}" for k, v in axis_values.items())
        raise lines.error(("combine",), f"zip needs axes of one length ({lens})")

    # the key of each axis must exist: checked once with the first value, with a key-path error
    keys = list(axis_values)
    if combine == "product":
        combos = list(itertools.product(*(range(len(axis_values[k])) for k in keys))) if keys else [()]
    else:
        combos = [tuple(i for _ in keys) for i in range(len(next(iter(axis_values.values()))))] if keys else [()]

    def where_for(point_idx: dict[str, int]):
        def f(e: ConfigError) -> tuple:
            kp = e.key_path
            for k in keys:
                if k != "gpu" and (kp == k or kp.startswith(k + ".") or k.startswith(kp + ".")):
                    return ("axes", k, point_idx[k])
            if "gpu" in point_idx:
                return ("axes", "gpu", point_idx["gpu"])
            for i, s in enumerate(sets):
                if s.split("=", 1)[0].strip() == kp:
                    return ("set", i)
            return ("axes",) if keys else (base_key,)
        return f

    points: list[Point] = []
    checked: set = set()
    for combo in combos:
        idx = dict(zip(keys, combo))
        values = {k: axis_values[k][i] for k, i in idx.items()}
        gpu = values.get("gpu", base)
        if not isinstance(gpu, str):
            raise lines.error(("axes", "gpu", idx["gpu"]), f"expected a config name, got {gpu!r}")
        overrides = list(sets) + [f"{k}={_scalar_text(v)}" for k, v in values.items() if k != "gpu"]
        cfg_key = (gpu, tuple(overrides))
        if cfg_key not in checked:
            _check_config(gpu, overrides, lines, where_for(idx))
            checked.add(cfg_key)
        for w in workloads:
            points.append(Point(index=len(points), values=values, gpu=gpu, overrides=overrides, workload=w))
    import gpusim
    from gpusim import api

    model = {"gpusim": gpusim.__version__, "model": getattr(api, "MODEL_NAME", "")}
    for p in points:
        # a point is the same point (and resumes) only for the same config, workload and model
        ident = json.dumps({"gpu": p.gpu, "overrides": p.overrides, "workload": p.workload.identity(),
                            **model}, sort_keys=True)
        p.point_id = hashlib.blake2b(ident.encode(), digest_size=8).hexdigest()
    return Sweep(path=path, name=str(name), base=str(base) if base is not None else "", sets=list(sets),
                 workloads=workloads, axes=axis_values, combine=combine, points=points, lines=lines)

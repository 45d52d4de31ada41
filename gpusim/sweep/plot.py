"""Reading a sweep's table back and plotting a column against an axis."""

from __future__ import annotations

import csv
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

from gpusim.errors import GpusimError


# ----------------------------------------------------------------------------------------------
# Reading a sweep's table back (for plots).


def read_table(path: str | Path) -> tuple[list[str], list[dict]]:
    """Columns and rows of ``OUT`` (a sweep folder), a ``results.csv`` or a ``.parquet`` file.

    Numbers come back as int/float; empty cells as None.
    """
    p = Path(path)
    if p.is_dir():
        if (p / "results.csv").is_file():
            p = p / "results.csv"
        elif (p / "results.parquet").is_file():
            p = p / "results.parquet"
        else:
            raise GpusimError(f"{path}: no results.csv or results.parquet here (is it a sweep output folder?)")
    if not p.is_file():
        raise GpusimError(f"{path}: no such file or folder")
    if p.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise GpusimError(f"{p}: reading Parquet needs pyarrow (pip install 'gpusim[parquet]'); "
                              f"the results.csv beside it holds the same table") from None

        try:
            t = pq.read_table(p)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise GpusimError(f"{p}: not a readable Parquet file: {e}") from None
        return list(t.column_names), t.to_pylist()
    with open(p, newline="") as f:
        r = csv.DictReader(f)
        cols = list(r.fieldnames or [])
        rows = [{k: _num(v) for k, v in row.items()} for row in r]
    return cols, rows


def _num(v: Any) -> Any:
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        return v
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return {"True": True, "False": False}.get(v, v)


# ----------------------------------------------------------------------------------------------
# Plotting a sweep's table.

_AGGS = {"mean": lambda v: sum(v) / len(v), "sum": sum, "min": min, "max": max}


def _column(name: str, cols: list[str], what: str, source: str) -> str:
    if name in cols:
        return name
    close = difflib.get_close_matches(name, cols, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise GpusimError(f"{source}: {what} {name!r} is not a column of the table{hint}")


def _sort_key(v: Any) -> tuple:
    from gpusim import units

    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    for parse in (units.parse_size, units.parse_frequency, units.parse_bandwidth, units.parse_time):
        try:
            return (0, float(parse(v)), "")
        except (ValueError, TypeError):
            pass
    return (1, 0.0, str(v))


def _integer_axis(ax, xs: list) -> None:
    """Ticks of a numeric x axis: at the swept values themselves when there are few of them, and never at
    fractions of an integer parameter (no '1.5 banks')."""
    from matplotlib.ticker import MaxNLocator

    if len(xs) <= 12:
        ax.set_xticks(list(xs), [f"{v:,}" if isinstance(v, int) else f"{v:g}" for v in xs])
    elif all(isinstance(v, int) for v in xs):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _tick_format():
    """Plain numbers with thousands separators (no offset or '1e6' corner label)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:g}")


def plot_results(source: str | Path, x: str, y: str, hue: str | None = None, *, output: str | Path | None = None,
                 where: list[str] = (), agg: str = "mean", title: str | None = None) -> Path:
    """Draw ``y`` against ``x`` (one line or bar group per ``hue`` value) from a sweep table; returns the PNG path."""
    from gpusim.stats import render

    cols, rows = read_table(source)
    src = str(source)
    x = _column(x, cols, "--x", src)
    y = _column(y, cols, "--y", src)
    if hue is not None:
        hue = _column(hue, cols, "--hue", src)
    for cond in where:
        key, sep, val = cond.partition("=")
        if not sep:
            raise GpusimError(f"--where {cond!r}: expected KEY=VALUE")
        key = _column(key.strip(), cols, "--where", src)
        try:
            target = yaml.safe_load(val.strip())          # YAML spelling: true, 46, 4 MiB
        except yaml.YAMLError:
            target = val.strip()
        rows = [r for r in rows if r.get(key) == target or str(r.get(key)) == val.strip()]
    if agg not in _AGGS:
        raise GpusimError(f"--agg {agg!r}: expected one of {', '.join(_AGGS)}")
    rows = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    if not rows:
        raise GpusimError(f"{src}: no rows with both {x!r} and {y!r} (after --where)")
    bad = next((r[y] for r in rows if isinstance(r[y], bool) or not isinstance(r[y], (int, float))), None)
    if bad is not None:
        raise GpusimError(f"{src}: --y {y!r} must be a numeric column (found {bad!r})")
    groups: dict[Any, dict[Any, list[float]]] = {}
    for r in rows:
        groups.setdefault(r.get(hue) if hue else None, {}).setdefault(r[x], []).append(float(r[y]))
    xs = sorted({r[x] for r in rows}, key=_sort_key)
    numeric_x = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    many = max(len(v) for g in groups.values() for v in g.values())
    plt = render.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    hues = sorted(groups, key=_sort_key) if hue else [None]
    colors = render.palette(len(hues))
    width = 0.8 / len(hues)
    for j, (h, col) in enumerate(zip(hues, colors)):
        g = groups[h]
        pts = [(xv, _AGGS[agg](g[xv])) for xv in xs if xv in g]
        label = f"{hue} = {h}" if hue else None
        if numeric_x:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=col, label=label)
        else:
            pos = {xv: i for i, xv in enumerate(xs)}
            ax.bar([pos[p[0]] - 0.4 + width * (j + 0.5) for p in pts], [p[1] for p in pts], width=width, color=col,
                   edgecolor="black", linewidth=0.4, label=label)
    if not numeric_x:
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    else:
        _integer_axis(ax, xs)
    ys = [float(r[y]) for r in rows]
    if min(ys) >= 0:        # from zero: a 10% change reads as 10%, not as the whole height of the plot
        ax.set_ylim(bottom=0, top=max(ys) * 1.05 or 1)
    ax.yaxis.set_major_formatter(_tick_format())
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y} ({agg} of {many} rows)" if many > 1 else y)
    ax.set_title(title or f"{y} vs {x}" + (f" by {hue}" if hue else ""), fontsize=10)
    ax.grid(True, linewidth=0.3, alpha=0.6)
    if hue:
        ax.legend(fontsize=8)
    fig.tight_layout()
    if output is None:
        folder = Path(source) if Path(source).is_dir() else Path(source).parent
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"plot-{y}-vs-{x}" + (f"-by-{hue}" if hue else ""))
        output = folder / f"{safe}.png"
    output = Path(output)
    try:
        fig.savefig(output)
    except OSError as e:
        raise GpusimError(f"{output}: cannot write the plot: {e.strerror}") from None
    finally:
        plt.close(fig)
    return output

"""Running a sweep's points: one executor interface (in-process, a local process pool, Dask), a journal
that makes a killed sweep resume, and the tidy results table."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path


from gpusim.errors import GpusimError, InputFileError as SweepError
from gpusim.sweep.spec import Sweep
from gpusim.sweep.workloads import workload_from_dict


# ----------------------------------------------------------------------------------------------
# Running one point (in a worker).


def run_point(task: Mapping) -> dict:
    """Simulate one point; runs in a worker process or on a Dask worker.  Never raises for bad input."""
    from gpusim.config import load_config

    t0 = time.perf_counter()
    out = {"point_id": task["point_id"], "point": task["point"], "status": "ok", "rows": [], "error": None}
    try:
        cfg = load_config(task["gpu"], task["overrides"])
        wl = workload_from_dict(task["workload"])
        rows, rep = wl.run(cfg)
        for i, r in enumerate(rows):
            r["kernel_index"] = i
            r["gpu_name"] = cfg.name
            r["sm.clock_hz"] = cfg.sm.clock_hz
            if isinstance(r.get("cycles"), int):
                r["kernel_time_us"] = r["cycles"] / cfg.sm.clock_hz * 1e6
            r["total_cycles"] = rep.get("total_cycles")
        out["rows"] = rows
    except GpusimError as e:
        out.update(status="error", error=str(e))
    except Exception as e:  # a bug in gpusim: keep the sweep going, report it with the point
        out.update(status="error", error=f"internal error: {type(e).__name__}: {e}")
    out["wall_seconds"] = time.perf_counter() - t0
    out["host"] = os.uname().nodename
    return out


# ----------------------------------------------------------------------------------------------
# Journal and table.


class _Store:
    """``points.jsonl`` (truth), ``results.csv`` (appended), ``results.parquet`` (at the end)."""

    def __init__(self, out: Path, sweep: Sweep):
        self.out = out
        self.sweep = sweep
        self.journal = out / "points.jsonl"
        self.csv = out / "results.csv"
        self.parquet = out / "results.parquet"
        self.columns: list[str] = []
        self.done: dict[str, dict] = {}
        self.by_id = {p.point_id: p for p in sweep.points}

    def open(self) -> None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SweepError(f"{self.out}: cannot create the output folder: {e.strerror}") from None
        records = []
        if self.journal.exists():
            raw = self.journal.read_bytes()
            good_end = 0
            pos = 0
            for line in raw.splitlines(keepends=True):
                pos += len(line)
                if not line.endswith(b"\n"):
                    break            # a line cut by a kill: dropped
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    break
                good_end = pos
            if good_end != len(raw):
                with open(self.journal, "r+b") as f:
                    f.truncate(good_end)
        for r in records:
            if r.get("status") == "ok":
                self.done[r["point_id"]] = r
            else:
                self.done.pop(r["point_id"], None)   # failed earlier: run again
        if self.sweep.path.resolve() != (self.out / "sweep.yaml").resolve():
            shutil.copyfile(self.sweep.path, self.out / "sweep.yaml")
        self.rewrite_csv()

    def rows_of(self, rec: Mapping) -> list[dict]:
        p = self.by_id[rec["point_id"]]
        meta = {"sweep": self.sweep.name, "point": p.index, "point_id": p.point_id, "workload": p.workload.name,
                "gpu": p.gpu}
        meta.update({k: v for k, v in p.values.items() if k != "gpu"})
        return [{**meta, **r} for r in rec["rows"]]

    def _table_rows(self) -> list[dict]:
        recs = sorted((r for pid, r in self.done.items() if pid in self.by_id), key=lambda r: self.by_id[r["point_id"]].index)
        return [row for r in recs for row in self.rows_of(r)]

    def _merge_columns(self, rows: list[dict]) -> bool:
        grown = False
        for row in rows:
            for k in row:
                if k not in self.columns:
                    self.columns.append(k)
                    grown = True
        return grown

    def rewrite_csv(self) -> None:
        rows = self._table_rows()
        self.columns = []
        self._merge_columns(rows)
        tmp = self.csv.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.csv)

    def add(self, rec: dict) -> None:
        line = json.dumps(rec, separators=(",", ":"), default=str) + "\n"
        with open(self.journal, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if rec["status"] != "ok":
            return
        self.done[rec["point_id"]] = rec
        rows = self.rows_of(rec)
        if self._merge_columns(rows):
            self.rewrite_csv()          # a new column: write the table again with the wider header
            return
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=self.columns).writerows(rows)
        with open(self.csv, "a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def finish(self) -> None:
        self.rewrite_csv()
        rows = self._table_rows()
        write_parquet(rows, self.columns, self.parquet)


def write_parquet(rows: list[dict], columns: list[str], path: Path) -> None:
    """``results.parquet`` beside the CSV when pyarrow is installed (``pip install 'gpusim[parquet]'``);
    without it the CSV is the result and nothing else is written."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return

    arrays = {}
    for c in columns:
        vals = [r.get(c) for r in rows]
        kinds = {type(v) for v in vals if v is not None}
        if kinds and not kinds <= {int, float} and kinds != {bool} and kinds != {str}:
            vals = [None if v is None else str(v) for v in vals]       # mixed column: text
        elif kinds == {int, float}:
            vals = [None if v is None else float(v) for v in vals]
        arrays[c] = pa.array(vals)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.table(arrays) if columns else pa.table({}), tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Executors: one interface (submit + as_completed) over a process pool, Dask, or in-process.


class _Inline:
    def __init__(self):
        self._queue = []

    def submit(self, fn, arg):
        self._queue.append((fn, arg))
        return len(self._queue) - 1

    def as_completed(self, futures):
        for fn, arg in self._queue:
            yield _Done(fn(arg))

    def close(self):
        pass


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _Pool:
    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: workers start clean (no inherited tqdm monitor thread); Numba's on-disk cache
        # (cache=True) and the parsed-trace cache are shared through the file system
        self.ex = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, arg):
        return self.ex.submit(fn, arg)

    def as_completed(self, futures):
        from concurrent.futures import as_completed

        return as_completed(futures)

    def close(self, cancel: bool = False):
        self.ex.shutdown(wait=not cancel, cancel_futures=cancel)


class _Dask:
    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - a dependency of gpusim
            raise GpusimError("--executor dask://...: the 'distributed' package is not installed "
                              "(pip install 'gpusim[cluster]')") from None
        try:
            self.client = Client(address, timeout="5s")
        except (OSError, TimeoutError) as e:
            raise GpusimError(f"--executor dask://{address.removeprefix('tcp://')}: cannot reach the Dask scheduler: {e}") from None

    def submit(self, fn, arg):
        return self.client.submit(fn, arg, pure=False, key=f"gpusim-point-{arg['point_id']}-{time.monotonic_ns()}")

    def as_completed(self, futures):
        from distributed import as_completed

        return as_completed(futures)

    def close(self, cancel: bool = False):
        self.client.close()


def make_executor(spec: str, jobs: int | None, ntasks: int):
    if spec == "local":
        n = jobs if jobs else (os.cpu_count() or 1)
        n = max(1, min(n, ntasks))
        return _Inline() if n == 1 else _Pool(n)
    if spec.startswith("dask://"):
        addr = spec.removeprefix("dask://")
        if not addr:
            raise GpusimError("--executor dask://HOST:PORT: the scheduler address is missing")
        return _Dask(addr if "://" in addr else f"tcp://{addr}")
    raise GpusimError(f"--executor {spec}: expected 'local' or 'dask://HOST:PORT'")


def run_sweep(sweep: Sweep, out: str | Path, *, jobs: int | None = None, executor: str = "local",
              quiet: bool = False) -> dict:
    """Run the points not finished in ``out`` yet; returns a summary dict.  GpusimError if any point failed."""
    out = Path(out)
    store = _Store(out, sweep)
    store.open()
    todo = [p for p in sweep.points if p.point_id not in store.done]
    skipped = len(sweep.points) - len(todo)
    tasks = [{"point_id": p.point_id, "point": p.index, "gpu": p.gpu, "overrides": p.overrides,
              "workload": p.workload.describe()} for p in todo]
    failed: list[dict] = []
    t0 = time.perf_counter()
    ex = make_executor(executor, jobs, len(tasks)) if tasks else None
    from tqdm import tqdm

    bar = tqdm(total=len(sweep.points), initial=skipped, desc=sweep.name, unit="point", file=sys.stderr,
               disable=quiet or not tasks, dynamic_ncols=True)
    interrupted = False
    try:
        if ex is not None:
            futures = [ex.submit(run_point, t) for t in tasks]
            for fut in ex.as_completed(futures):
                rec = fut.result()
                rec["values"] = store.by_id[rec["point_id"]].values
                store.add(rec)
                if rec["status"] != "ok":
                    failed.append(rec)
                    bar.set_postfix_str(f"{len(failed)} failed")
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        if ex is not None:
            if isinstance(ex, _Pool):
                ex.close(cancel=interrupted)
            else:
                ex.close()
        store.finish()
    summary = {"points": len(sweep.points), "ran": len(tasks), "resumed": skipped, "failed": len(failed),
               "rows": sum(len(r["rows"]) for pid, r in store.done.items() if pid in store.by_id),
               "wall_seconds": time.perf_counter() - t0, "csv": str(store.csv), "parquet": str(store.parquet)}
    if failed:
        first = failed[0]
        p = store.by_id[first["point_id"]]
        raise GpusimError(f"{len(failed)} of {len(tasks)} points failed (their rows are missing from {store.csv}; "
                          f"run the same command again to retry them); first: point {p.index} "
                          f"({p.workload.name}, {', '.join(p.overrides) or p.gpu}): {first['error']}")
    return summary

"""Reference measurements (``validation/reference/*.csv``), the error type of bad suites and small
helpers every part of the validation shares."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path


from gpusim.config.yamlio import Lines
from gpusim.errors import ConfigError
from gpusim.errors import InputFileError as SweepError
from gpusim.sweep.workloads import REPO_ROOT


REFERENCE_DIR = REPO_ROOT / "validation" / "reference"
REFERENCE_COLUMNS = ("id", "gpu", "metric", "value", "unit", "conditions", "source")


class ValidationError(SweepError):
    """A bad suite, reference file or unit; the message names the file:line and key path."""


# ----------------------------------------------------------------------------------------------
# References.


@dataclasses.dataclass(frozen=True)
class Reference:
    id: str
    gpu: str
    metric: str
    value: float
    unit: str
    conditions: str
    source: str
    where: str                 # file:line


def load_references(paths: list[Path]) -> dict[str, Reference]:
    refs: dict[str, Reference] = {}
    for path in paths:
        try:
            text = path.read_text()
        except OSError as e:
            raise ValidationError(f"{path}: cannot read the reference file: {e.strerror or e}") from None
        reader = csv.reader(text.splitlines(keepends=True))
        try:
            header = next(reader)
        except StopIteration:
            raise ValidationError(f"{path}:1: empty reference file (header {','.join(REFERENCE_COLUMNS)} expected)") from None
        missing = [c for c in REFERENCE_COLUMNS if c not in header]
        if missing:
            raise ValidationError(f"{path}:1: missing column(s) {', '.join(missing)} "
                                  f"(a reference CSV has {','.join(REFERENCE_COLUMNS)})")
        col = {c: header.index(c) for c in REFERENCE_COLUMNS}
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise ValidationError(f"{path}:{line}: bad CSV: {e}") from None
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise ValidationError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
            r = {c: row[i].strip() for c, i in col.items()}
            where = f"{path}:{line}"
            if not r["id"]:
                raise ValidationError(f"{where}: empty id")
            try:
                value = float(r["value"])
            except ValueError:
                raise ValidationError(f"{where}: {r['id']}: value {r['value']!r} is not a number") from None
            if r["id"] in refs:
                raise ValidationError(f"{where}: duplicate reference id {r['id']} (first at {refs[r['id']].where})")
            refs[r["id"]] = Reference(r["id"], r["gpu"], r["metric"], value, r["unit"], r["conditions"], r["source"], where)
    return refs


def _config_exists(name: str) -> bool:
    from gpusim.config import find_config

    try:
        find_config(name)
        return True
    except ConfigError:
        return False


def _err(lines: Lines, kp: tuple, msg: str) -> ValidationError:
    e = lines.error(kp, msg)
    return ValidationError(str(e))


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(p)

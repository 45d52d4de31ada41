"""Print the prediction table of validation/README.md from a committed validation.json.

    python validation/prediction_table.py [validation/reports/suites/validation.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _num(v: float) -> str:
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def rows(result: dict) -> list[str]:
    out = ["| case | reference | simulated | measured | error |", "|---|---|---:|---:|---:|"]
    for c in result["cases"]:
        if c.get("calibration") or c.get("status") != "ok":
            continue
        r = c["reference"]
        err = c["error_pct"]
        out.append(f"| {c['suite']} {r['metric']} | {r['id']} | {_num(c['simulated'])} {c['unit']} | {_num(r['value'])} "
                   f"| {'' if round(abs(err)) == 0 else '+' if err > 0 else '−'}{abs(err):.0f}% |")
    return out


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "validation/reports/suites/validation.json")
    print("\n".join(rows(json.loads(path.read_text()))))

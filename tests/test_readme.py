"""Every command the README shows runs as written (issue 18): the ``bash`` blocks of README.md are
extracted and run line by line, in order, in a scratch folder that sees the repository's bundled
inputs (``traces/``, ``configs/``, ``validation/``).  Block 1 (set-up, main command, tests) runs its
``gpusim`` line only; block 2 ("seconds to a minute") runs in the default suite; block 3 (minutes)
behind ``-m slow``.  A failing line names itself and its output."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def bash_blocks() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    out = []
    for b in blocks:
        cmds = []
        for line in b.splitlines():
            s = line.split("  #", 1)[0].strip()        # a trailing comment starts with two blanks and '#'
            if s and not s.startswith("#"):
                cmds.append(s)
        out.append(cmds)
    return out


def _run_block(cmds: list[str], tmp_path: Path, timeout: int) -> None:
    for name in ("traces", "configs", "validation"):
        (tmp_path / name).symlink_to(REPO / name)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for cmd in cmds:
        argv = shlex.split(cmd)
        if argv[0] != "gpusim":
            continue                                    # pip install / pytest: the set-up and test commands
        r = subprocess.run([sys.executable, "-m", "gpusim.cli", *argv[1:]], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"README command failed: {cmd}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"


def test_the_readme_has_the_three_blocks_this_test_runs():
    blocks = bash_blocks()
    assert len(blocks) == 3, [b[:1] for b in blocks]
    assert blocks[0][0].startswith("pip install") and blocks[0][-1] == "python -m pytest -q"


def test_the_quick_start_and_the_quick_commands_run_as_written(tmp_path):
    blocks = bash_blocks()
    _run_block(blocks[0] + blocks[1], tmp_path, timeout=600)
    assert (tmp_path / "out" / "report.json").is_file() and (tmp_path / "run-a100" / "report.html").is_file()
    assert (tmp_path / "raw-out" / "kernelslist.g").is_file() and (tmp_path / "op-out" / "report.json").is_file()


@pytest.mark.slow
def test_the_longer_readme_commands_run_as_written(tmp_path):
    _run_block(bash_blocks()[2], tmp_path, timeout=1800)
    assert (tmp_path / "cmp" / "compare.md").is_file()

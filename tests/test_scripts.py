"""The development scripts: `scripts/venv.sh` installs only when something it depends on changed, and
`scripts/test.sh --fast` runs the linters and the unit set only. Run in a copy of the scripts whose
`.venv/bin` holds stand-ins that note how they were called (no real install, no real test run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from helpers import ROOT

STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "{calls}"
if [ "$1" = "-VV" ]; then echo "Python 3.11.7 (stand-in)"; fi
"""


def checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of pyproject.toml and scripts/, with stand-ins for python, ruff and mypy in .venv/bin."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "scripts", tree / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    calls = tmp_path / "calls.txt"
    (tree / ".venv" / "bin").mkdir(parents=True)
    for tool in ("python", "ruff", "mypy"):
        path = tree / ".venv" / "bin" / tool
        path.write_text(STAND_IN.format(calls=calls))
        path.chmod(0o755)
    return tree, calls


def run(tree: Path, *args: str) -> None:
    subprocess.run(["bash", *args], cwd=tree, check=True, capture_output=True, timeout=60)


def test_venv_installs_once_until_pyproject_changes(tmp_path: Path) -> None:
    """A second venv.sh with nothing changed runs no pip; a changed pyproject.toml installs again."""
    tree, calls = checkout(tmp_path)
    run(tree, "scripts/venv.sh")
    assert "-m pip install" in calls.read_text()
    calls.write_text("")
    run(tree, "scripts/venv.sh")
    assert "pip" not in calls.read_text()
    with (tree / "pyproject.toml").open("a") as file:
        file.write("\n# changed\n")
    run(tree, "scripts/venv.sh")
    assert "-m pip install" in calls.read_text()


def test_fast_runs_the_linters_and_the_unit_set(tmp_path: Path) -> None:
    """`test.sh --fast -q` lints, type-checks and runs pytest on tests/unit with the arguments given."""
    tree, calls = checkout(tmp_path)
    run(tree, "scripts/test.sh", "--fast", "-q")
    lines = calls.read_text().splitlines()
    assert "ruff check mpmon tests benchmarks examples" in lines
    assert "mypy mpmon tests/typing" in lines
    assert lines[-1] == "python -m pytest -q tests/unit"

"""Each of mpmon's modules imports alone, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT, mpmon_modules

OPTIONAL = ("mpmon.dask", "mpmon.ray", "mpmon.otlp")  # need their extras


@pytest.mark.slow
def test_every_module_imports_in_a_fresh_interpreter() -> None:
    """Each module imports on its own (no order it silently depends on)."""
    names = [n for n in mpmon_modules() if not n.startswith(OPTIONAL) and not n.endswith("__main__")]
    runs = [
        (name, subprocess.Popen([sys.executable, "-c", f"import {name}"], cwd=ROOT, stderr=subprocess.PIPE))
        for name in names
    ]
    outcomes = [(name, run.communicate()[1].decode()[-300:], run.returncode) for name, run in runs]
    failed = {name: error for name, error, code in outcomes if code != 0}
    assert failed == {}

"""Log directories written in the collector's formats, shared by the analysis tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from . import logfactory as lf

RUN_A = "20261125T180000Z-aaaaaa"
RUN_B = "20261125T190000Z-bbbbbb"
OneRun = tuple[Path, list[dict[str, Any]]]
TwoRuns = tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]


@pytest.fixture
def two_runs(tmp_path: Path) -> TwoRuns:
    """One log directory holding two runs an hour apart: A (3 workers) then B (4 workers, rotated log)."""
    return write_two_runs(tmp_path / "logs")


@pytest.fixture(scope="module")
def shared_two_runs(tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    """The two runs of :func:`two_runs`, written once per test module: for tests that only read them."""
    return write_two_runs(tmp_path_factory.mktemp("shared") / "logs")


def write_two_runs(log_dir: Path) -> TwoRuns:
    """Write runs A and B into ``log_dir``."""
    rows_a = lf.make_run(RUN_A, workers=3, tasks=10)
    rows_b = lf.make_run(RUN_B, start=lf.T0 + pd.Timedelta(hours=1), workers=4, tasks=15, pid_base=2000)
    lf.write_run(log_dir, rows_a, tag="first")
    lf.write_run(log_dir, rows_b, tag="second", rotate=3)
    return log_dir, rows_a, rows_b


@pytest.fixture
def one_run(tmp_path: Path) -> OneRun:
    """A log directory with one small run (CSV table, timing.log, error.log)."""
    log_dir = tmp_path / "logs"
    rows = lf.make_run(RUN_A, workers=2, tasks=6)
    lf.write_run(log_dir, rows, tag="single")
    return log_dir, rows

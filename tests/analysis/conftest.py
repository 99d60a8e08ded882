"""Log directories shared by the analysis tests: written in the collector's formats, or by a real run."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REAL_PROGRAM, ROOT, run_program, run_python

from . import logfactory as lf


@pytest.fixture
def two_runs(tmp_path: Path) -> lf.TwoRuns:
    """One log directory holding two runs an hour apart: A (3 workers) then B (4 workers, rotated log)."""
    return lf.write_two_runs(tmp_path / "logs")


@pytest.fixture(scope="module")
def shared_two_runs(tmp_path_factory: pytest.TempPathFactory) -> lf.TwoRuns:
    """The two runs of :func:`two_runs`, written once per test module: for tests that only read them."""
    return lf.write_two_runs(tmp_path_factory.mktemp("shared") / "logs")


@pytest.fixture
def one_run(tmp_path: Path) -> lf.OneRun:
    """A log directory with one small run (CSV table, timing.log, error.log)."""
    log_dir = tmp_path / "logs"
    rows = lf.make_run(lf.RUN_A, workers=2, tasks=6)
    lf.write_run(log_dir, rows, tag="single")
    return log_dir, rows


@pytest.fixture(scope="session")
def real_parquet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log directory of one run of :data:`REAL_PROGRAM` (Parquet results), made once per session."""
    base = tmp_path_factory.mktemp("real")
    run_program(base, REAL_PROGRAM, "logs", timeout=120)
    return base / "logs"


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report folder of one run of examples/demo.py (Pool(2), 400 tasks, errors), made with
    ``mpmon-analyze`` in a fresh interpreter, once per session."""
    base = tmp_path_factory.mktemp("demo")
    run_python([ROOT / "examples" / "demo.py", "logs"], base, timeout=300)
    run_python(
        ["-m", "mpmon.analysis", "--logdir", "logs", "--out", "report", "--tag", "demo", "--quiet"],
        base,
        timeout=300,
    )
    (folder,) = (base / "report").iterdir()
    return folder

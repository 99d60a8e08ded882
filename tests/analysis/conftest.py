"""Log directories shared by the analysis tests: written in the collector's formats, or by a real run."""

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


# A real program: a Pool(2) runs nested calls with errors, then the main process gathers coroutines whose
# calls overlap in one thread. Results go to the Parquet dataset. Calls: 20 work, 16 inner under work,
# 1 gather_all, 4 fetch, 4 inner called by the coroutines = 45.
REAL_PROGRAM = """
import asyncio
import multiprocessing
import sys
import time

import mpmon


@mpmon.Timer(log_to_console=False)
def inner(x):
    time.sleep(0.002)
    return x


@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def work(x):
    if x % 5 == 3:
        raise ValueError(f"bad {x}")
    return inner(x)


def task(x):
    try:
        return work(x)
    except ValueError:
        return None


@mpmon.Timer(log_to_console=False)
async def fetch(i):
    await asyncio.sleep(0.005 * (i + 1))
    return inner(i)


@mpmon.Timer(log_to_console=False)
def gather_all(n):
    async def main():
        return await asyncio.gather(*(fetch(i) for i in range(n)))

    return asyncio.run(main())


if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], results_format="parquet", log_to_console=False, tag="real")
    with multiprocessing.Pool(2) as pool:
        pool.map(task, range(20))
    gather_all(4)
    mpmon.stop_collector()
"""
REAL_CALLS = 45


@pytest.fixture(scope="session")
def real_parquet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log directory of one run of :data:`REAL_PROGRAM` (Parquet results), made once per session."""
    from helpers import run_program

    base = tmp_path_factory.mktemp("real")
    run_program(base, REAL_PROGRAM, "logs", timeout=120)
    return base / "logs"


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report folder of one run of examples/demo.py (Pool(2), 400 tasks, errors), made with
    ``mpmon-analyze`` in a fresh interpreter, once per session."""
    import os
    import subprocess
    import sys

    from helpers import ROOT

    base = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for command in (
        [str(ROOT / "examples" / "demo.py"), "logs"],
        ["-m", "mpmon.analysis", "--logdir", "logs", "--out", "report", "--tag", "demo", "--quiet"],
    ):
        done = subprocess.run(
            [sys.executable, *command], cwd=base, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    (folder,) = (base / "report").iterdir()
    return folder

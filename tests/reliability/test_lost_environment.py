"""A process that lost its MPMON_* variables (a library or a sandbox removed them) says so once on stderr,
with where its records went, instead of spilling them silently where the run never reads."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import PRELUDE, results, run_program, spill_files

PROGRAM = (
    PRELUDE
    + """
def work(i):
    steady(500)
    return os.getpid()

if __name__ == "__main__":
    mpmon.start_collector("run_logs", log_to_console=False)
    steady(1500)
    for name in [k for k in os.environ if k.startswith("MPMON_")]:  # what a sandboxing library does
        del os.environ[name]
    with mp.get_context("spawn").Pool(2) as pool:
        pids = set(pool.map(work, range(6), chunksize=1))
    mpmon.stop_collector()
    print(json.dumps({"workers": sorted(pids)}))
"""
)


@pytest.mark.slow
def test_a_worker_without_its_variables_says_once_where_its_records_went(
    tmp_path: Path, report: Callable[..., None]
) -> None:
    """Two spawn workers started after the variables were removed: each says it once (0b19303: no word),
    naming its spill file in <cwd>/logs, and that file holds its 1,500 records."""
    run = run_program(tmp_path, PROGRAM, timeout=120)
    workers = run.result()["workers"]
    said = re.findall(r"mpmon: process (\d+) finds no collector.*?its records go to (\S+),", run.stderr)
    assert sorted(int(pid) for pid, _ in said) == workers, run.stderr
    for _, path in said:
        assert Path(path).parent == tmp_path / "logs" and Path(path).exists()
    spilled = sum(len(p.read_text().splitlines()) for p in spill_files(tmp_path / "logs"))
    assert spilled == 6 * 500 and len(results(tmp_path / "run_logs")) == 1500
    report("variables removed before a spawn Pool(2)", 4500, 0, run.seconds, said=len(said), spilled=spilled)

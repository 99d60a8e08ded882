"""Calls recorded in real processes: the host name from the environment, the CPU window in pool workers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from helpers import read_csv, run_program

import mpmon


def test_the_host_name_can_be_set_through_the_environment(tmp_path: Path) -> None:
    """MPMON_HOSTNAME replaces socket.gethostname() on every record of the process."""
    run_program(
        tmp_path,
        """
        import mpmon
        mpmon.start_collector("logs", log_to_console=False)
        mpmon.Timer(lambda: None)()
        mpmon.stop_collector()
        """,
        env={"MPMON_HOSTNAME": "node-7"},
    )
    assert read_csv(tmp_path / "logs")["host"].tolist() == ["node-7"]
    assert mpmon.environment.host_name() == socket.gethostname()


CPU_WINDOW = """
import multiprocessing
import mpmon

@mpmon.Timer(log_to_console=False)
def noop(i):
    pass

def task(n):
    for i in range(n):
        noop(i)

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    task(1000)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(task, [250] * 8, chunksize=1)
    mpmon.stop_collector()
"""


@pytest.mark.slow
def test_the_cpu_window_is_the_timed_window_in_pool_workers_too(tmp_path: Path) -> None:
    """No-op calls in the main process and in pool workers: cpu_time_s <= duration_s + 2 us in >= 99%."""
    run_program(tmp_path, CPU_WINDOW)
    rows = read_csv(tmp_path / "logs")
    assert len(rows) == 3000
    for in_main, group in rows.groupby(rows["process_name"] == "MainProcess"):
        within = (group["cpu_time_s"] <= group["duration_s"] + 2e-6).mean()
        assert within >= 0.99, (in_main, within)

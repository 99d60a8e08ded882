"""The functions under test, decorated with mpmon: imported only once ``core.mpmon_missing()`` is None.

Module level and importable (no closures, no lambdas) so pool workers can unpickle them by reference under
any start method. Bodies match ``benchmarks.workloads``, so each pair differs only by mpmon.
"""

from __future__ import annotations

import mpmon
from benchmarks import workloads


@mpmon.Timer(log_to_console=False)
def timer_empty() -> None:
    """Empty body under ``@Timer`` with the default ``track_resources=True``."""


@mpmon.Timer(log_to_console=False, track_resources=False)
def timer_lean_empty() -> None:
    """Empty body under ``@Timer(track_resources=False)``."""


@mpmon.ErrorCatcher(log_to_console=False)
def catcher_empty() -> None:
    """Empty body under ``@ErrorCatcher``: the call returns, so nothing is logged."""


@mpmon.ErrorCatcher(log_to_console=False)
def catcher_raising() -> None:
    """Raises under ``@ErrorCatcher``: one error.log entry with its traceback, then re-raised."""
    raise ValueError("benchmark error")


def hooked_empty() -> None:
    """An empty function timed by hand with the hook pair, as the seed's README shows it."""
    metrics_start = mpmon.get_metrics_start()
    mpmon.get_metrics_end(metrics_start)


@mpmon.Timer(log_to_console=False)
def task_200us(i: int) -> int:
    """``workloads.task_200us`` under ``@Timer``."""
    workloads.busy_wait(200e-6)
    return i


@mpmon.Timer(log_to_console=False)
def task_20us(i: int) -> int:
    """``workloads.task_20us`` under ``@Timer``."""
    workloads.busy_wait(20e-6)
    return i


@mpmon.Timer(log_to_console=False, track_resources=False)
def task_200us_lean(i: int) -> int:
    """``workloads.task_200us`` under ``@Timer(track_resources=False)``."""
    workloads.busy_wait(200e-6)
    return i


@mpmon.Timer(log_to_console=False, track_resources=False)
def task_20us_lean(i: int) -> int:
    """``workloads.task_20us`` under ``@Timer(track_resources=False)``."""
    workloads.busy_wait(20e-6)
    return i


@mpmon.Timer(log_to_console=False, log_to_file=False)
def task_200us_nofile(i: int) -> int:
    """``workloads.task_200us`` under ``@Timer(log_to_file=False)``: no timing.log line."""
    workloads.busy_wait(200e-6)
    return i


@mpmon.Timer(log_to_console=False, log_to_file=False)
def task_20us_nofile(i: int) -> int:
    """``workloads.task_20us`` under ``@Timer(log_to_file=False)``: no timing.log line."""
    workloads.busy_wait(20e-6)
    return i

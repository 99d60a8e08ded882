"""mpmon: time and watch functions in every process of a multiprocessing program.

Decorate functions with `Timer` / `ErrorCatcher` (or use the `get_metrics_start()` /
`get_metrics_end()` hooks), call `start_collector()` once at program start, and every process of the
program sends its records to one collector process, the only writer of the logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .capture import install_from_environment as _install_capture
from .decorators import ErrorCatcher, Timer
from .hooks import MetricsStart, get_metrics_end, get_metrics_start
from .run.control import Collector, RunIncomplete, start_collector, stop_collector
from .sanitizers import sanitizer
from .state import sender as _sender
from .tracking import Progress, progress, track

if TYPE_CHECKING:
    from .run.control import collector
else:  # the package mpmon.collector, which answers the call (run/control.py): a function would hide it
    from . import collector

__all__ = [
    "Collector",
    "ErrorCatcher",
    "MetricsStart",
    "Progress",
    "RunIncomplete",
    "Timer",
    "collector",
    "flush",
    "get_metrics_end",
    "get_metrics_start",
    "progress",
    "sanitizer",
    "start_collector",
    "stop_collector",
    "track",
]
__version__ = "0.1.0"


def flush(wait: bool = False, timeout: float | None = None) -> bool:
    """Hand this process's buffered records to the collector now.

    With `wait=True`, return once every record this process made before the call is on disk and
    confirmed by the collector (True), or False if that could not be confirmed within `timeout`
    seconds (no collector, or a collector too slow): the way for tests and notebooks to read their own
    files, and to keep a process's last records before `os._exit()`.
    """
    return _sender.flush(wait, timeout)


_install_capture()

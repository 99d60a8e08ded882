"""mpmon: time and watch functions in every process of a multiprocessing program.

Decorate functions with `Timer` / `ErrorCatcher` (or use the `get_metrics_start()` /
`get_metrics_end()` hooks), call `start_collector()` once at program start, and every process of the
program sends its records to one collector process, the only writer of the logs.
"""

from __future__ import annotations

from .capture import install_from_environment as _install_capture
from .collector.control import Collector, collector, start_collector, stop_collector
from .decorators import ErrorCatcher, Timer
from .hooks import MetricsStart, get_metrics_end, get_metrics_start
from .sanitizers import sanitizer
from .sender import sender as _sender

__all__ = [
    "Collector",
    "ErrorCatcher",
    "MetricsStart",
    "Timer",
    "collector",
    "flush",
    "get_metrics_end",
    "get_metrics_start",
    "sanitizer",
    "start_collector",
    "stop_collector",
]
__version__ = "0.1.0"


def flush() -> None:
    """Hand this process's buffered records to the collector now."""
    _sender.flush()


_sender.autostart = start_collector
_install_capture()

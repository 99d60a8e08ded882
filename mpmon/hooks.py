"""Manual hooks: `get_metrics_start()` and `get_metrics_end()` around any stretch of code make one row.

For code that cannot take a decorator (an early return, a block inside a long function). The pair is
measured like a Timer call, with source "hook"; the function name defaults to the caller's.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from .decorators import caller_names
from .probe import cpu_ns, perf_counter_ns, rss_of, rss_raw, time_ns
from .sender import sender
from .wire import CALL

__all__ = ["MetricsStart", "get_metrics_end", "get_metrics_start"]

_MIB = 1024.0 * 1024.0
_ROUTE = (None, None, None)


class MetricsStart(NamedTuple):
    """What `get_metrics_start()` measured; pass it to `get_metrics_end()`."""

    func_name: str
    module: str
    call_no: int
    parent_no: int
    start_ns: int
    perf_ns: int
    cpu_ns: int
    rss_raw: bytes | int


def get_metrics_start(func_name: str | None = None) -> MetricsStart:
    """Start measuring: CPU time and memory now, then the clocks."""
    if not sender.limit:
        sender.prepare()
    name, module = caller_names(1)
    cpu0 = cpu_ns()
    rss0 = rss_raw()
    values = (func_name or name, module, next(sender.counter), sender.stack.current, time_ns(),
              perf_counter_ns(), cpu0, rss0)  # fmt: skip
    return tuple.__new__(MetricsStart, values)  # as MetricsStart(*values), without its Python-level __new__


def get_metrics_end(metrics_start: MetricsStart, func_name: str | None = None) -> dict[str, Any]:
    """Finish measuring, hand the row to the collector, and return its figures: mpmon's (`function`,
    `duration_s`, `cpu_time_s`, `mem_delta_mib`, `mem_final_mib`) and, for code written against the
    published "monitoring" package, its `func`, `duration` (s), `wall_end`, `perf_end` (s) and
    `rss_end` (bytes)."""
    t1 = perf_counter_ns()
    if not isinstance(metrics_start, MetricsStart):
        raise TypeError("get_metrics_end() takes the value that get_metrics_start() returned")
    rss1 = rss_raw()
    cpu = cpu_ns() - metrics_start.cpu_ns
    name = func_name or metrics_start.func_name
    duration = t1 - metrics_start.perf_ns
    s = sender
    buffer = s.buffer
    buffer.append(
        (CALL, "hook", name, metrics_start.module, metrics_start.call_no, metrics_start.parent_no,
         metrics_start.start_ns, duration, cpu, metrics_start.rss_raw, rss1,
         threading.current_thread().name, "", None, _ROUTE)
    )  # fmt: skip
    if len(buffer) >= s.limit or (s.eager and not metrics_start.parent_no) or t1 >= s.deadline_ns:
        s.flush()
    final = rss_of(rss1)
    return {
        "function": name,
        "duration_s": duration / 1e9,
        "cpu_time_s": cpu / 1e9,
        "mem_delta_mib": (final - rss_of(metrics_start.rss_raw)) / _MIB,
        "mem_final_mib": final / _MIB,
        # the published package's keys, for code written against it
        "func": name,
        "duration": duration / 1e9,
        "wall_end": (metrics_start.start_ns + duration) / 1e9,
        "perf_end": t1 / 1e9,
        "rss_end": final,
    }

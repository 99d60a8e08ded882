"""Manual hooks: `get_metrics_start()` and `get_metrics_end()` around any stretch of code make one row.

For code that cannot take a decorator (an early return, a block inside a long function). The pair is
measured like a Timer call, with source "hook"; the function name defaults to the caller's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .calls import Begun, begin, finish
from .monitored import caller_names
from .probe import call_cpu_ns, cpu_ns, perf_counter_ns, rss_of

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
    """Start measuring: memory, then the clock, then CPU time."""
    name, module = caller_names(1)
    b = begin(True, push=False)
    return MetricsStart(
        func_name or name, module, b.call_no, b.parent, b.start_ns, b.perf_ns, b.cpu_ns, b.rss
    )


def get_metrics_end(metrics_start: MetricsStart, func_name: str | None = None) -> dict[str, Any]:
    """Finish measuring, hand the row to the collector, and return its figures: mpmon's (`function`,
    `duration_s`, `cpu_time_s`, `mem_delta_mib`, `mem_final_mib`) and, for code written against the
    published "monitoring" package, its `func`, `duration` (s), `wall_end`, `perf_end` (s) and
    `rss_end` (bytes)."""
    cpu1, t1 = cpu_ns(), perf_counter_ns()
    if not isinstance(metrics_start, MetricsStart):
        raise TypeError("get_metrics_end() takes the value that get_metrics_start() returned")
    name = func_name or metrics_start.func_name
    _name, module, call_no, parent, start_ns, perf_ns, cpu0, rss0 = metrics_start
    begun = Begun(call_no, parent, False, start_ns, perf_ns, cpu0, rss0)
    record = finish(begun, "hook", name, module, route=_ROUTE, ended=(t1, cpu1 - cpu0 if cpu0 >= 0 else -1))
    duration, cpu, rss0, rss1 = record[7], record[8], record[9], record[10]
    final = rss_of(rss1)
    return {
        "function": name,
        "duration_s": duration / 1e9,
        "cpu_time_s": call_cpu_ns(cpu) / 1e9,
        "mem_delta_mib": (final - rss_of(rss0)) / _MIB,
        "mem_final_mib": final / _MIB,
        # the published package's keys, for code written against it
        "func": name,
        "duration": duration / 1e9,
        "wall_end": (metrics_start.start_ns + duration) / 1e9,
        "perf_end": t1 / 1e9,
        "rss_end": final,
    }

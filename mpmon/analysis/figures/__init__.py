"""The figures of a run, one module per family; each function takes a DataFrame of call rows and returns
a matplotlib Figure (and an optional precomputed :class:`~mpmon.analysis.stats.Summary`).

:data:`FIGURES` lists them by file stem in report order; :data:`CAPTIONS` says in one sentence how to
read each, for the report and for anyone showing the figure elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable

from matplotlib.figure import Figure

from mpmon.analysis.figures._common import DPI, WIDTH_IN, palette
from mpmon.analysis.figures.distributions import (
    MAX_HISTOGRAMS,
    plot_execution_time,
    plot_histograms,
    plot_memory_delta,
)
from mpmon.analysis.figures.errors import plot_errors_over_time
from mpmon.analysis.figures.memory import plot_memory_over_time
from mpmon.analysis.figures.timeline import TIMELINE_BINS, efficiency_rule, plot_timeline
from mpmon.analysis.figures.totals import OVER_100, plot_cpu_utilisation, plot_top_functions

__all__ = [
    "CAPTIONS",
    "DPI",
    "FIGURES",
    "FROM_SUMMARY",
    "MAX_HISTOGRAMS",
    "TIMELINE_BINS",
    "WIDTH_IN",
    "efficiency_rule",
    "palette",
    "plot_cpu_utilisation",
    "plot_errors_over_time",
    "plot_execution_time",
    "plot_histograms",
    "plot_memory_delta",
    "plot_memory_over_time",
    "plot_timeline",
    "plot_top_functions",
]

FIGURES: dict[str, Callable[..., Figure]] = {
    "execution_time": plot_execution_time,
    "timeline": plot_timeline,
    "memory_delta": plot_memory_delta,
    "memory_over_time": plot_memory_over_time,
    "top_functions": plot_top_functions,
    "histograms": plot_histograms,
    "cpu_utilisation": plot_cpu_utilisation,
    "errors_over_time": plot_errors_over_time,
}
"""Every figure by file stem, in report order; each takes (df, *, subtitle=..., summary=...)."""

FROM_SUMMARY = ("execution_time", "memory_delta", "top_functions", "cpu_utilisation")
"""The figures drawn from the summary's tables alone (the others need its figure data): the report draws
them first, while a thread may still be aggregating the figure data."""

CAPTIONS: dict[str, str] = {
    "execution_time": "Each row is one function (most total time first): the box holds the middle half of "
    "its calls' durations, the whiskers reach from the fastest call to the 99th percentile and the dot "
    "marks the slowest call.",
    "timeline": "Each lane is one process and each bar one call, coloured by function (thin bars are "
    "nested calls, a red x an error, numbers 1-5 the slowest calls; a big run is binned: bar height = "
    "share of the slice busy); the lower panel counts the processes busy in top-level calls at each "
    "moment against the processes that ran the workload.",
    "memory_delta": "Each row is one function, in the same order as the execution times: how much the "
    "process's resident memory grew (right of zero) or shrank during a call, with the same box and "
    "whisker rule, the mean as a diamond.",
    "memory_over_time": "Each line is one process: its resident memory (RSS) at the end of its calls, the "
    "largest value in each time slice; a line that keeps rising is a process that keeps memory.",
    "top_functions": "The longer the bar, the more time the function took over the run; its dark part was "
    "spent on a CPU, its pale part waiting (I/O, sleep, locks).",
    "histograms": "How each function's call durations are spread: one tall bar means steady calls, a long "
    "right tail means a few slow outliers (wide ranges use a logarithmic axis).",
    "cpu_utilisation": "CPU time over wall time per function: near 100% is CPU-bound, low values wait; "
    f"{OVER_100}.",
    "errors_over_time": "Bars count the errors in each time slice by exception type and the line adds them "
    "up: a step in the line is a burst of failures.",
}
"""One sentence per figure on how to read it."""

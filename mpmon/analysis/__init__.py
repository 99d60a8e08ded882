"""See what a multiprocess run did: load its logs, aggregate them, draw figures, write a report.

    from mpmon.analysis import load_run, summarize, plot_timeline
    df = load_run("logs")                 # the most recent run, one typed DataFrame of calls
    summary = summarize(df)               # per function, per process and run totals
    plot_timeline(df, summary=summary)    # a matplotlib Figure
    to_chrome_trace(df, "trace.json")     # for https://ui.perfetto.dev or chrome://tracing
    export_otlp("logs", "http://localhost:4318")  # to Jaeger, Tempo or an OpenTelemetry Collector

The command line is ``mpmon-analyze`` (or ``python -m mpmon.analysis``). Importing :mod:`mpmon` does not
import this package; this package imports only :mod:`mpmon.schema` from the rest of mpmon.
"""

from __future__ import annotations

from mpmon.analysis.load import AnalysisError, Run, list_runs, load_run, read_log_dir, select_run
from mpmon.analysis.otlp import export_otlp
from mpmon.analysis.plots import (
    FIGURES,
    plot_cpu_utilisation,
    plot_errors_over_time,
    plot_execution_time,
    plot_histograms,
    plot_memory_delta,
    plot_timeline,
    plot_top_functions,
)
from mpmon.analysis.report import Report, write_report
from mpmon.analysis.scanned import function_durations
from mpmon.analysis.stats import Summary, summarize
from mpmon.analysis.trace import to_chrome_trace

__all__ = [
    "FIGURES",
    "AnalysisError",
    "Report",
    "Run",
    "Summary",
    "export_otlp",
    "function_durations",
    "list_runs",
    "load_run",
    "plot_cpu_utilisation",
    "plot_errors_over_time",
    "plot_execution_time",
    "plot_histograms",
    "plot_memory_delta",
    "plot_timeline",
    "plot_top_functions",
    "read_log_dir",
    "select_run",
    "summarize",
    "to_chrome_trace",
    "write_report",
]

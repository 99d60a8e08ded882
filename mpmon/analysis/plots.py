"""The figures of a run (kept for ``from mpmon.analysis import plots``): they live in
:mod:`mpmon.analysis.figures`, one module per family; this module re-exports their public names."""

from __future__ import annotations

from mpmon.analysis.figures import (
    CAPTIONS,
    DPI,
    FIGURES,
    MAX_HISTOGRAMS,
    TIMELINE_BINS,
    WIDTH_IN,
    palette,
    plot_cpu_utilisation,
    plot_errors_over_time,
    plot_execution_time,
    plot_histograms,
    plot_memory_delta,
    plot_timeline,
    plot_top_functions,
)
from mpmon.units import format_duration

__all__ = [
    "CAPTIONS",
    "DPI",
    "FIGURES",
    "MAX_HISTOGRAMS",
    "TIMELINE_BINS",
    "WIDTH_IN",
    "format_duration",
    "palette",
    "plot_cpu_utilisation",
    "plot_errors_over_time",
    "plot_execution_time",
    "plot_histograms",
    "plot_memory_delta",
    "plot_timeline",
    "plot_top_functions",
]

"""Distributions per function: execution time and memory delta as boxes, durations as histograms.

Both box figures follow one rule (box p25-p75, median, whiskers min-p99, dot at the max) and list the
functions in one order, the function table's (most total time first), so a row means the same function
in each. Distributions are drawn from quantiles and numpy histograms, fast at a million calls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from mpmon import units
from mpmon.analysis import stats as stats_
from mpmon.analysis.figdata import Histogram
from mpmon.analysis.figures import _common as c

__all__ = ["MAX_HISTOGRAMS", "plot_execution_time", "plot_histograms", "plot_memory_delta"]

MAX_HISTOGRAMS = 60


def plot_execution_time(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None
) -> Figure:
    """Execution time per function: box p25-p75 with median, whiskers min to p99, a dot at the max."""
    summary = c.ensure_summary(df, summary)
    table = summary.functions
    fig = c.new_figure(1.6 + 0.32 * len(table))
    ax = fig.add_subplot()
    c.heading(fig, "Execution time per function", subtitle, summary)
    if table.empty:
        c.say_empty(ax, "no calls")
        return fig
    colours = c.palette(list(table.index))
    columns = ["min_s", "p25_s", "p50_s", "p75_s", "p99_s"]
    boxes = [c.box(str(f), [r[k] for k in columns]) for f, r in table.iterrows()]
    c.draw_boxes(ax, boxes, [colours[f] for f in table.index])
    ax.plot(table["max_s"], np.arange(1, len(table) + 1), "o", ms=3.5, color="0.2")
    unit = c.duration_axis(ax, [float(table["min_s"].min()), float(table["max_s"].max())])
    ax.set_xlabel(f"duration ({unit})  ·  {c.WHISKERS}")
    c.counts_on_right(ax, list(table["calls"]))
    return fig


def plot_memory_delta(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None
) -> Figure:
    """Memory delta (RSS after minus before) per function: box p25-p75, whiskers min-p99, dot at the max,
    diamond at the mean; in KiB, MiB or GiB as the values call for."""
    summary = c.ensure_summary(df, summary)
    table = summary.functions
    tracked = table[table["mem_delta_max_mib"].notna()]
    fig = c.new_figure(1.9 + 0.32 * len(tracked))
    ax = fig.add_subplot()
    c.heading(fig, "Memory delta per function", subtitle, summary)
    if tracked.empty:
        c.say_empty(ax, "memory was not tracked for any call")
        return fig
    levels = summary.extra.get("memory_levels") or c.figure_data(df, summary).memory_levels
    tracked = tracked[[str(f) in levels for f in tracked.index]]
    boxes = [c.box(str(name), levels[str(name)].tolist()) for name in tracked.index]
    colours = c.palette(list(table.index))
    c.draw_boxes(ax, boxes, [colours[f] for f in tracked.index])
    rows = np.arange(1, len(tracked) + 1)
    ax.plot(tracked["mem_delta_max_mib"], rows, "o", ms=3.5, color="0.2")
    ax.plot(tracked["mem_delta_mean_mib"], rows, "D", ms=4, color="#d62728", mfc="white")
    ax.axvline(0, color="0.4", lw=0.8)
    shown = [b[k] for b in boxes for k in ("whislo", "whishi")] + list(tracked["mem_delta_max_mib"])
    unit = c.memory_axis(ax.xaxis, shown)
    ax.set_xlabel(f"memory delta per call ({unit}): RSS after the call minus RSS before")
    fig.legend(
        handles=[
            Patch(color="0.6", label=c.WHISKERS.replace(", dot: max", "")),
            Line2D([], [], marker="D", ls="", color="#d62728", mfc="white", label="mean"),
            Line2D([], [], marker="o", ls="", color="0.2", label="max"),
        ],
        loc="outside lower center",
        ncols=3,
        fontsize=8,
        frameon=False,
    )
    c.counts_on_right(ax, list(tracked["calls"]))
    return fig


def plot_histograms(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None, bins: int = 30
) -> Figure:
    """A duration histogram per function (small multiples), the function with most total time first.

    Bins are log-spaced when a function's durations span more than ten times, linear otherwise; a
    function whose calls all took the same time (one call, say) is one bar with one tick. The grid is
    laid out by hand (no constrained layout): with 50 small axes that halves the drawing time. ``bins``
    is fixed at figdata.HISTOGRAM_BINS (the counts are made where the rows lie) and kept for callers.
    """
    summary = c.ensure_summary(df, summary)
    table = summary.functions
    shown = list(table.index[:MAX_HISTOGRAMS])
    columns = next(
        n for limit, n in ((1, 1), (4, 2), (9, 3), (16, 4), (MAX_HISTOGRAMS, 5)) if len(shown) <= limit
    )
    rows = max(1, -(-len(shown) // columns))
    height = 1.5 + 1.9 * rows
    fig = Figure(figsize=(c.WIDTH_IN, height), dpi=c.DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.7 / c.WIDTH_IN, right=0.98, top=1 - 1.15 / height, bottom=0.6 / height)
    more = f" (top {len(shown)} of {len(table)} by total time)" if len(table) > len(shown) else ""
    c.heading(fig, f"Duration histogram per function{more}", subtitle, summary)
    if not shown:
        c.say_empty(fig.add_subplot(), "no calls")
        return fig
    axes = fig.subplots(rows, columns, squeeze=False, gridspec_kw={"hspace": 0.65, "wspace": 0.28}).ravel()
    colours = c.palette(list(table.index))
    histograms = c.figure_data(df, summary).histograms
    for ax, name in zip(axes, shown, strict=False):
        histogram = histograms.get(str(name))
        if histogram is None:
            c.say_empty(ax, "no positive durations")
            continue
        _histogram(ax, histogram, colours[name])
        ax.set_title(f"{c.short(name, 30)}  ({units.plural(histogram.calls, 'call')})", fontsize=8, y=1.0)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    fig.supxlabel("duration (each panel in its own unit)", fontsize=9, y=0.15 / height)
    fig.supylabel("calls", fontsize=9, x=0.1 / c.WIDTH_IN)
    return fig


def _histogram(ax: Axes, histogram: Histogram, colour: str) -> None:
    """One histogram of positive durations (binned where the rows lie), on a log axis when they span
    more than ten times."""
    ax.tick_params(labelsize=7)
    counts, edges = histogram.counts, histogram.edges
    if not counts.sum():
        c.say_empty(ax, "no positive durations")
        return
    lo, hi = float(edges[0]), float(edges[-1])
    name, scale = units.duration_unit(hi)
    formatter = c.UnitFormatter(scale, f" {name}")
    if lo == hi:  # one call, or every call the same: one bar, one tick
        ax.bar([lo], [int(counts.sum())], width=lo * 0.1, color=colour, alpha=0.8)
        ax.set_xlim(lo * 0.8, lo * 1.2)
        ax.set_xticks([lo])
    else:
        ax.stairs(counts, edges, fill=True, color=colour, alpha=0.8)
        if histogram.log:
            ax.set_xscale("log")
            ax.minorticks_off()
        else:
            ax.xaxis.set_major_locator(MaxNLocator(3))
    ax.xaxis.set_major_formatter(formatter)
    c.count_axis(ax.yaxis, 4)
    ax.grid(alpha=0.2)

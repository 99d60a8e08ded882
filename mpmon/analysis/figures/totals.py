"""Totals per function: where the time went (top functions) and how much of it was on a CPU.

CPU time is the process's (user + system, all threads) over the call's wall time, as the original module
measured it: a value above 100 % means other threads of the process (numpy, thread pools) worked while
the call ran, not that the call itself used more than one core. Functions keep the function table's
order (most total time first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mpmon import units
from mpmon.analysis import stats as stats_
from mpmon.analysis.figures import _common as c

__all__ = ["OVER_100", "plot_cpu_utilisation", "plot_top_functions"]

OVER_100 = (
    "CPU time is process-wide: above 100% means other threads of the process (numpy, thread pools) "
    "worked while the call ran"
)


def plot_top_functions(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None, top: int = 10
) -> Figure:
    """The ``top`` functions by total time: CPU part and waiting part of each bar, with calls and mean."""
    summary = c.ensure_summary(df, summary)
    table = summary.functions.head(top)
    fig = c.new_figure(1.8 + 0.45 * len(table))
    ax = fig.add_subplot()
    c.heading(fig, f"Top {top} functions by total time", subtitle, summary)
    if table.empty:
        c.say_empty(ax, "no calls")
        return fig
    untracked = _cpu_and_rest_bars(ax, table)
    ax.set_yticks(range(len(table)), [c.short(str(f)) for f in table.index])
    ax.set_ylim(len(table) - 0.4, -0.6)
    ax.set_xlim(0, max(float(table["total_s"].max()) * 1.5, 1e-6))
    unit = c.duration_axis(ax, [float(table["total_s"].max())], log=False)
    ax.set_xlabel(f"total time ({unit}) summed over calls (a nested call's time also counts in its caller's)")
    ax.grid(axis="x", alpha=0.3)
    handles = [
        Patch(color="0.3", label="CPU time"),
        Patch(color="0.3", alpha=0.35, label="not on CPU (waiting, I/O)"),
    ]
    if untracked:
        handles.append(Patch(facecolor="0.85", hatch="//", label="CPU not tracked"))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return fig


def _cpu_and_rest_bars(ax: Axes, table: pd.DataFrame) -> bool:
    """A bar per function: CPU time solid, the rest pale (hatched where CPU was not tracked), with a note.

    Returns whether any function lacked CPU tracking.
    """
    rows = np.arange(len(table))
    untracked = table["cpu_s"].isna().to_numpy()
    cpu = table["cpu_s"].fillna(0).clip(upper=table["total_s"])
    colours = [c.palette(list(table.index))[f] for f in table.index]
    ax.barh(rows, cpu, color=colours)
    rest = ax.barh(rows, table["total_s"] - cpu, left=cpu, color=colours, alpha=0.35)
    for bar, blank in zip(rest, untracked, strict=True):
        bar.set_hatch("//" if blank else "")
    for row, (_, r), blank in zip(rows, table.iterrows(), untracked, strict=True):
        note = (
            f" {units.format_duration(r.total_s)} · {units.plural(r.calls, 'call')}"
            f" · mean {units.format_duration(r.mean_s)}"
        )
        note += " · CPU not tracked" if blank else ""
        ax.text(float(r.total_s), float(row), note, va="center", fontsize=8)
    return bool(untracked.any())


def plot_cpu_utilisation(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None
) -> Figure:
    """CPU utilisation (process CPU time / wall time) per function: near 100% is CPU-bound, low is
    waiting, above 100% means other threads of the process worked meanwhile."""
    summary = c.ensure_summary(df, summary)
    table = summary.functions
    tracked = table[table["cpu_util"].notna()]
    fig = c.new_figure(2.0 + 0.3 * len(tracked))
    ax = fig.add_subplot()
    c.heading(fig, "CPU utilisation per function", subtitle, summary)
    if tracked.empty:
        c.say_empty(ax, "CPU time was not tracked for any call")
        return fig
    rows = np.arange(len(tracked))
    percent = tracked["cpu_util"] * 100
    colours = c.palette(list(table.index))
    ax.barh(rows, percent, color=[colours[f] for f in tracked.index], alpha=0.85)
    for row, value in zip(rows, percent, strict=True):
        ax.text(float(value), float(row), f" {value:.0f}%", va="center", fontsize=8)
    ax.axvline(100, color="0.3", ls="--", lw=1)
    ax.set_yticks(rows, [c.short(str(f)) for f in tracked.index])
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlim(0, max(110.0, float(percent.max()) * 1.15))
    untracked = len(table) - len(tracked)
    note = f"; {units.plural(untracked, 'function')} without CPU tracking not shown" if untracked else ""
    ax.set_xlabel(f"CPU time / wall time (%): 100% = one core busy for the whole call{note}\n{OVER_100}")
    ax.grid(axis="x", alpha=0.3)
    return fig

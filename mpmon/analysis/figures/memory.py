"""Resident memory over time per process: the end-of-call RSS that each call records, binned in time.

A worker that grows from 17 to 41 MiB over the run shows as a rising line, which per-call deltas (the
memory-delta figure) hide. Each point is the largest RSS recorded at the end of a call of that process in
one of the timeline's time slices, aggregated where the rows lie (:mod:`mpmon.analysis.figdata`).
"""

from __future__ import annotations

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from matplotlib.figure import Figure

from mpmon.analysis import stats as stats_
from mpmon.analysis.figdata import TIMELINE_BINS
from mpmon.analysis.figures import _common as c

__all__ = ["MAX_LEGEND_LANES", "plot_memory_over_time"]

MAX_LEGEND_LANES = 16


def plot_memory_over_time(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None
) -> Figure:
    """One line per process: its resident memory (RSS after each call, the largest per time slice)."""
    summary = c.ensure_summary(df, summary)
    fig = c.new_figure(4.8)
    ax = fig.add_subplot()
    c.heading(fig, "Resident memory over time per process", subtitle, summary)
    data = c.figure_data(df, summary) if summary.run["calls"] else None
    if data is None or data.memory.empty:
        c.say_empty(ax, "memory was not tracked for any call")
        return fig
    scale = c.time_axis(ax, data.t0_us, data.span_us / 1e6)
    width_s = data.span_us / 1e6 / TIMELINE_BINS
    for lane, rows in data.memory.groupby("lane", sort=True):
        label = c.lane_label(data.lanes[int(lane)]) if 0 <= int(lane) < len(data.lanes) else "?"
        x = (rows["bin"].to_numpy() + 0.5) * width_s / scale
        ax.plot(x, rows["mib"].to_numpy(), lw=1.2, marker="." if len(rows) < 50 else None, label=label)
    unit = c.memory_axis(ax.yaxis, [float(data.memory["mib"].min()), float(data.memory["mib"].max())])
    ax.set_ylabel(f"RSS after the call ({unit})")
    ax.set_xlim(0, data.span_us / 1e6 / scale * 1.01)
    ax.grid(alpha=0.3)
    lanes = data.memory["lane"].nunique()
    if lanes <= MAX_LEGEND_LANES:
        fig.legend(loc="outside lower center", ncols=min(4, lanes), fontsize=8, frameon=False)
    else:
        ax.set_title(f"{lanes} processes (legend left out)", fontsize=8, loc="left")
    return fig

"""Errors over time: how many calls failed when, by exception type, with the running total."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mpmon import units
from mpmon.analysis import stats as stats_
from mpmon.analysis.figures import _common as c
from mpmon.analysis.load import to_micros

__all__ = ["plot_errors_over_time"]


def plot_errors_over_time(
    df: pd.DataFrame,
    *,
    subtitle: str = "",
    summary: stats_.Summary | None = None,
    errors: pd.DataFrame | None = None,
    bins: int = 60,
) -> Figure:
    """Errors per time bin, stacked by exception type, with the running total on the right axis.

    ``errors`` (time, error_type) defaults to the rows whose status is ``error``; the loader's error events
    (``Run.errors``) also hold error.log entries that have no results row.
    """
    summary = c.ensure_summary(df, summary)
    events = errors if errors is not None else _error_rows(df)
    fig = c.new_figure(4.6)
    ax = fig.add_subplot()
    c.heading(fig, "Errors over time", subtitle, summary)
    if events.empty:
        c.say_empty(ax, "no errors in this run")
        return fig
    calls = int(summary.run["calls"])
    data = c.figure_data(df, summary) if calls else None
    t0 = data.t0_us if data is not None else int(to_micros(events["time"]).min())
    when = (to_micros(events["time"]) - t0) / 1e6
    end = max(float(when.max()), data.span_us / 1e6 if data is not None else 0.0, 1e-3)
    scale = c.time_axis(ax, t0, end)
    when = when / scale
    edges = np.linspace(min(0.0, float(when.min())), end / scale, bins + 1)
    kinds = events["error_type"].where(events["error_type"] != "", "(unknown type)").to_numpy(dtype=object)
    _stacked_bars(fig, ax, when, kinds, edges)
    running = ax.twinx()
    running.step(np.sort(when), np.arange(1, len(when) + 1), where="post", color="black", lw=1.2)
    running.set_ylabel("errors so far (line)")
    running.set_ylim(0, len(when) * 1.05)
    c.count_axis(running.yaxis)
    c.count_axis(ax.yaxis)
    rate = f" · {len(events) / calls:.1%} of {units.plural(calls, 'call')}" if calls else ""
    ax.set_title(f"{units.plural(len(events), 'error')}{rate}", fontsize=10, loc="left")
    ax.set_ylabel(f"errors per {units.format_duration((edges[1] - edges[0]) * scale)} (bars)")
    return fig


def _error_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Error events from the rows alone: time (end time) and error_type."""
    failed = df[(df["status"] == "error").to_numpy()]
    return pd.DataFrame({"time": failed["end_time"], "error_type": failed["error_type"]})


def _stacked_bars(
    fig: Figure,
    ax: Axes,
    when: np.ndarray[Any, Any],
    kinds: np.ndarray[Any, Any],
    edges: np.ndarray[Any, Any],
) -> None:
    """Bars of counts per bin, one stacked layer per exception type (the seven commonest, then other)."""
    names, counts = np.unique(kinds, return_counts=True)
    common = list(names[np.argsort(-counts, kind="stable")][:7])
    bottom = np.zeros(len(edges) - 1)
    colours = iter(("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"))
    for kind in [*common, "other"]:
        chosen = np.isin(kinds, common, invert=True) if kind == "other" else kinds == kind
        if not chosen.any():
            continue
        height, _ = np.histogram(when[chosen], bins=edges)
        colour = c.OTHER if kind == "other" else next(colours)
        ax.bar(
            edges[:-1],
            height,
            width=np.diff(edges),
            bottom=bottom,
            align="edge",
            color=colour,
            label=str(kind),
        )
        bottom += height
    fig.legend(loc="outside lower center", ncols=8, fontsize=8, title="exception type", title_fontsize=8)
    ax.set_xlim(edges[0], edges[-1])
    ax.grid(axis="y", alpha=0.3)

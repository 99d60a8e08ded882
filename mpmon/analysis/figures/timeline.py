"""The call timeline: one lane per process, every call (or, for big runs, each lane binned), and below it
how many processes were busy, with the rule of parallel efficiency written on it.

Up to EXACT_TIMELINE_CALLS calls every call is drawn; larger runs are binned per lane at screen
resolution (aggregated where the rows lie, :mod:`mpmon.analysis.figdata`), so the figure costs the same
at a hundred million calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mpmon import units
from mpmon.analysis import stats as stats_
from mpmon.analysis.figdata import EXACT_TIMELINE_CALLS, MARKED_SLOWEST, TIMELINE_BINS, FigureData, depths
from mpmon.analysis.figures import _common as c

__all__ = [
    "EXACT_TIMELINE_CALLS",
    "MARKED_SLOWEST",
    "TIMELINE_BINS",
    "depths",
    "efficiency_rule",
    "plot_timeline",
]


def plot_timeline(df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None) -> Figure:
    """One lane per process, bars from start to end coloured by function; below, busy processes over time.

    Up to EXACT_TIMELINE_CALLS calls every call is drawn (nested calls as thinner bars inside their parent,
    errors marked with a red x); beyond, each lane is binned at screen resolution (a bin's bar height is
    how busy the process was and its colour the function that took most of that time), with the slowest
    calls and the errors drawn individually on top.
    """
    summary = c.ensure_summary(df, summary)
    lanes = list(summary.processes.index)
    lane_height = max(2.0, 0.32 * len(lanes))
    fig = c.new_figure(2.2 + lane_height + 1.6)
    c.heading(fig, "Call timeline (one lane per process)", subtitle, summary)
    if not summary.run["calls"]:
        c.say_empty(fig.add_subplot(), "no calls")
        return fig
    ax, busy_ax = fig.subplots(2, 1, sharex=True, height_ratios=[lane_height, 1.3])
    grid = _Timeline(c.figure_data(df, summary), len(summary.functions))
    grid.unit_us = c.time_axis(busy_ax, grid.data.t0_us, grid.span / 1e6) * 1e6
    if grid.data.calls is not None:
        grid.draw_calls(ax)
    else:
        grid.draw_bins(ax)
    grid.draw_errors(ax)
    grid.mark_slowest(ax)
    grid.draw_busy(busy_ax, summary.run)
    _lane_axis(ax, lanes)
    fig.legend(handles=grid.legend(), loc="outside lower center", ncols=6, fontsize=8, frameon=False)
    return fig


def _lane_axis(ax: Axes, lanes: Sequence[str]) -> None:
    """Label the lanes (thinned when there are many), first process at the top."""
    step = max(1, len(lanes) // 40)
    ax.set_yticks(range(0, len(lanes), step), [c.lane_label(lanes[i]) for i in range(0, len(lanes), step)])
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)


class _Timeline:
    """The timeline's aggregates (:class:`~mpmon.analysis.figdata.FigureData`) and how to draw them."""

    def __init__(self, data: FigureData, functions: int) -> None:
        self.data = data
        self.lanes = data.lanes
        self.functions = data.coloured
        self.rest = functions - len(self.functions)
        self.span = data.span_us
        self.colours = np.array([*c.PALETTE[: len(self.functions)], c.OTHER])
        self.unit_us = 1e6  # microseconds per unit of the x axis

    def legend(self) -> list[Patch]:
        """One patch per coloured function, and one for the rest."""
        handles = [
            Patch(color=colour, label=c.short(f, 30))
            for f, colour in zip(self.functions, self.colours, strict=False)
        ]
        return handles + (
            [Patch(color=c.OTHER, label=units.plural(self.rest, "other function"))] if self.rest > 0 else []
        )

    def draw_calls(self, ax: Axes) -> None:
        """Every call as a bar; a nested call is thinner and drawn over its parent."""
        calls = self.data.calls
        assert calls is not None
        calls = calls.sort_values("depth", kind="stable")
        depth = calls["depth"].to_numpy()
        start, end = calls["start"].to_numpy(), calls["end"].to_numpy()
        height = 0.8 * 0.6**depth
        x0 = start / self.unit_us
        x1 = np.maximum(end, start + self.span / 1500) / self.unit_us
        y0 = calls["lane"].to_numpy() + 0.4 - height
        edges = "white" if len(calls) <= 2_000 else "none"
        ax.add_collection(_rectangles(x0, x1, y0, height, self.colours[calls["colour"].to_numpy()], edges))
        ax.set_xlim(0, self.span / self.unit_us * 1.01)

    def draw_errors(self, ax: Axes) -> None:
        """A red x at the end of each failed call."""
        errors = self.data.errors
        many = len(errors) > 500
        ax.plot(
            errors["end"].to_numpy() / self.unit_us,
            errors["lane"].to_numpy() - 0.3,
            "x",
            color="#d62728",
            ms=3 if many else 5,
            mew=0.6 if many else 1.5,
        )

    def mark_slowest(self, ax: Axes) -> None:
        """Write the rank of the slowest calls (1 = slowest) at their start in their lane: above the
        lane for a top-level call, below it for a nested one (a call and its slow child start together)."""
        marks = self.data.marks
        for rank, (lane, start, below) in enumerate(
            zip(marks["lane"], marks["start"], marks["nested"], strict=True), start=1
        ):
            ax.annotate(
                str(rank),
                (float(start) / self.unit_us, int(lane) + (0.42 if below else -0.42)),
                fontsize=7,
                ha="center",
                va="top" if below else "bottom",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.3", "lw": 0.6},
            )

    def draw_bins(self, ax: Axes) -> None:
        """Each lane binned: a bar per busy bin, height = busy fraction, colour = the dominant function."""
        grid = self.data.occupancy
        busy = np.clip(grid.sum(axis=1), 0, 1)
        lane, where = np.nonzero(busy > 0.005)
        colour = grid.argmax(axis=1)[lane, where]
        width = self.span / TIMELINE_BINS / self.unit_us
        height = 0.8 * busy[lane, where]
        x0 = where * width
        ax.add_collection(
            _rectangles(x0, x0 + width, lane + 0.4 - height, height, self.colours[colour], "none")
        )
        ax.set_xlim(0, self.span / self.unit_us * 1.01)
        ax.set_title(
            f"{units.plural(self.data.calls_total, 'call')}: top-level calls binned into {TIMELINE_BINS} "
            "slices per lane; bar height = share of the slice busy, colour = the function that took most",
            fontsize=8,
            loc="left",
        )

    def draw_busy(self, ax: Axes, totals: dict[str, Any]) -> None:
        """How many processes were busy over time (top-level calls only, so a nested call is not counted
        on top of its parent), against how many ran the workload, and the rule of parallel efficiency."""
        busy = np.clip(self.data.occupancy.sum(axis=1), 0, 1).sum(axis=0)
        edges = np.linspace(0, self.span / self.unit_us, TIMELINE_BINS + 1)
        ax.stairs(busy, edges, fill=True, color="#1f77b4", alpha=0.6)
        working = int(totals.get("workload_processes") or len(self.lanes))
        ax.axhline(working, color="0.3", ls="--", lw=1)
        ax.set_ylim(0, len(self.lanes) * 1.1)
        c.count_axis(ax.yaxis, 4)
        ax.set_ylabel("busy\nprocesses", fontsize=9)
        ax.set_title(efficiency_rule(totals), fontsize=8, loc="left")
        ax.grid(alpha=0.3)


def efficiency_rule(totals: dict[str, Any]) -> str:
    """Parallel efficiency in words: the figure, how it is computed, which processes count."""
    efficiency = totals.get("parallel_efficiency")
    if efficiency is None:
        return "parallel efficiency: n/a (no calls, or a run of zero length)"
    working = int(totals.get("workload_processes") or 0)
    workload = ", ".join(c.short(f, 30) for f in (totals.get("workload_functions") or [])[:3])
    more = " …" if len(totals.get("workload_functions") or []) > 3 else ""
    others = totals.get("other_processes") or []
    left_out = f"; not counted: {', '.join(others[:3])}{' …' if len(others) > 3 else ''}" if others else ""
    return (
        f"parallel efficiency {efficiency:.0%} = busy time of the {units.plural(working, 'process')} "
        f"that ran the workload ({workload}{more}) / ({working} x wall span){left_out}"
        f" · dashed line: {working}"
    )


def _rectangles(
    x0: np.ndarray[Any, Any],
    x1: np.ndarray[Any, Any],
    y0: np.ndarray[Any, Any],
    height: np.ndarray[Any, Any],
    colours: np.ndarray[Any, Any],
    edges: str,
) -> PolyCollection:
    """Many axis-aligned rectangles as one artist."""
    y1 = y0 + height
    verts = np.stack([np.c_[x0, y0], np.c_[x1, y0], np.c_[x1, y1], np.c_[x0, y1]], axis=1)
    return PolyCollection(cast("Sequence[Any]", verts), facecolors=colours, edgecolors=edges, linewidths=0.4)

"""The call timeline: one lane per process, every call (or, for big runs, each lane binned), and below it
how many processes were busy, with the rule of parallel efficiency written on it.

Up to EXACT_TIMELINE_CALLS calls every call is drawn; larger runs are binned per lane at screen
resolution, so the figure costs the same at a million calls.
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
from mpmon.analysis.figures import _common as c
from mpmon.analysis.load import to_micros

__all__ = [
    "EXACT_TIMELINE_CALLS",
    "MARKED_SLOWEST",
    "TIMELINE_BINS",
    "depths",
    "efficiency_rule",
    "plot_timeline",
]

EXACT_TIMELINE_CALLS = 20_000  # up to this many calls the timeline draws every call; beyond, it bins
TIMELINE_BINS = 1_000
MARKED_SLOWEST = 5  # the slowest calls get their rank (as in the report's slowest-calls table) on the lanes


def plot_timeline(df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None) -> Figure:
    """One lane per process, bars from start to end coloured by function; below, busy processes over time.

    Up to EXACT_TIMELINE_CALLS calls every call is drawn (nested calls as thinner bars inside their parent,
    errors marked with a red x); beyond, each lane is binned at screen resolution: a bin's bar height is
    how busy the process was and its colour the function that took most of that time.
    """
    summary = c.ensure_summary(df, summary)
    lanes = list(summary.processes.index)
    lane_height = max(2.0, 0.32 * len(lanes))
    fig = c.new_figure(2.2 + lane_height + 1.6)
    c.heading(fig, "Call timeline (one lane per process)", subtitle, summary)
    if df.empty:
        c.say_empty(fig.add_subplot(), "no calls")
        return fig
    ax, busy_ax = fig.subplots(2, 1, sharex=True, height_ratios=[lane_height, 1.3])
    grid = _Timeline(df, summary)
    grid.unit_us = c.time_axis(busy_ax, grid.t0, grid.span / 1e6) * 1e6
    if len(df) <= EXACT_TIMELINE_CALLS:
        grid.draw_calls(ax)
    else:
        grid.draw_bins(ax)
    grid.mark_slowest(ax, MARKED_SLOWEST)
    grid.draw_busy(busy_ax, summary.run)
    _lane_axis(ax, lanes)
    fig.legend(handles=grid.legend(), loc="outside lower center", ncols=6, fontsize=8, frameon=False)
    return fig


def _lane_axis(ax: Axes, lanes: Sequence[str]) -> None:
    """Label the lanes (thinned when there are many), first process at the top."""
    step = max(1, len(lanes) // 40)
    ax.set_yticks(range(0, len(lanes), step), [c.short(lanes[i], 32) for i in range(0, len(lanes), step)])
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)


class _Timeline:
    """The arrays behind the timeline: each call's lane, colour, start and end (µs from the run start)."""

    def __init__(self, df: pd.DataFrame, summary: stats_.Summary) -> None:
        self.df = df
        self.lanes = list(summary.processes.index)
        self.functions = list(summary.functions.index[: c.COLOURED_FUNCTIONS])
        self.rest = len(summary.functions) - len(self.functions)
        self.t0 = c.run_start_us(df)
        self.start = to_micros(df["start_time"]) - self.t0
        self.end = np.maximum(to_micros(df["end_time"]) - self.t0, self.start)
        self.span = max(int(self.end.max()), 1)
        self.lane = _recode(summary.process_groups(df), self.lanes, len(self.lanes))
        self.colour = _recode(summary.function_groups(df), self.functions, len(self.functions))
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
        """Every call as a bar; a nested call is thinner and drawn over its parent; errors get a red x."""
        depth = depths(self.df)
        order = np.argsort(depth, kind="stable")
        height = 0.8 * 0.6 ** depth[order]
        x0 = self.start[order] / self.unit_us
        x1 = np.maximum(self.end[order], self.start[order] + self.span / 1500) / self.unit_us
        y0 = self.lane[order] + 0.4 - height
        edges = "white" if len(order) <= 2_000 else "none"
        ax.add_collection(_rectangles(x0, x1, y0, height, self.colours[self.colour[order]], edges))
        failed = (self.df["status"] == "error").to_numpy()
        ax.plot(self.end[failed] / self.unit_us, self.lane[failed] - 0.3, "x", color="#d62728", ms=5, mew=1.5)
        ax.set_xlim(0, self.span / self.unit_us * 1.01)

    def mark_slowest(self, ax: Axes, top: int) -> None:
        """Write the rank of the ``top`` slowest calls (1 = slowest) at their start in their lane: above the
        lane for a top-level call, below it for a nested one (a call and its slow child start together)."""
        durations = np.nan_to_num(self.df["duration_s"].to_numpy(dtype=float, na_value=np.nan), nan=-np.inf)
        if len(durations) > top:
            chosen = np.argpartition(-durations, top - 1)[:top]
        else:
            chosen = np.arange(len(durations))
        chosen = chosen[np.lexsort((chosen, -durations[chosen]))]
        nested = (self.df["parent_id"].to_numpy()[chosen] != "").tolist()
        for rank, (row, below) in enumerate(zip(chosen, nested, strict=True), start=1):
            ax.annotate(
                str(rank),
                (self.start[row] / self.unit_us, self.lane[row] + (0.42 if below else -0.42)),
                fontsize=7,
                ha="center",
                va="top" if below else "bottom",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.3", "lw": 0.6},
            )

    def occupancy(self, top_level_only: bool) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Busy fraction of each (lane, colour, bin): the share of the bin each lane spent in each colour."""
        keep = (
            (self.df["parent_id"] == "").to_numpy() if top_level_only else np.ones(len(self.df), dtype=bool)
        )
        width = self.span / TIMELINE_BINS
        last = np.minimum(self.end[keep] / width, TIMELINE_BINS - 1e-9)
        first = np.minimum(self.start[keep] / width, last)
        cell = (self.lane[keep] * (len(self.functions) + 1) + self.colour[keep]) * TIMELINE_BINS
        size = len(self.lanes) * (len(self.functions) + 1) * TIMELINE_BINS
        b0, b1 = first.astype(np.int64), last.astype(np.int64)
        same, cross = b0 == b1, b0 != b1
        grid = np.zeros(size)
        grid += np.bincount(cell[same] + b0[same], weights=(last - first)[same], minlength=size)
        grid += np.bincount(cell[cross] + b0[cross], weights=(b0 + 1 - first)[cross], minlength=size)
        grid += np.bincount(cell[cross] + b1[cross], weights=(last - b1)[cross], minlength=size)
        full = np.bincount(cell[cross] + b0[cross] + 1, minlength=size + 1)[:size].astype(float)
        full -= np.bincount(cell[cross] + b1[cross], minlength=size)
        grid += np.cumsum(full.reshape(-1, TIMELINE_BINS), axis=1).ravel()
        return grid.reshape(len(self.lanes), len(self.functions) + 1, TIMELINE_BINS)

    def draw_bins(self, ax: Axes) -> None:
        """Each lane binned: a bar per busy bin, height = busy fraction, colour = the dominant function."""
        grid = self.occupancy(top_level_only=True)
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
            f"{units.plural(len(self.df), 'call')}: top-level calls binned into {TIMELINE_BINS} slices "
            "per lane; "
            "bar height = share of the slice busy, colour = the function that took most of it",
            fontsize=8,
            loc="left",
        )

    def draw_busy(self, ax: Axes, totals: dict[str, Any]) -> None:
        """How many processes were busy over time, against how many ran the workload, and the rule of
        parallel efficiency."""
        busy = np.clip(self.occupancy(top_level_only=False).sum(axis=1), 0, 1).sum(axis=0)
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


def _recode(groups: stats_.Groups, order: Sequence[str], missing: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each row's position of its group name in ``order`` (``missing`` for names not in it)."""
    position = {name: i for i, name in enumerate(order)}
    by_code = np.array([position.get(name, missing) for name in groups.names], dtype=np.int64)
    return by_code[groups.codes] if len(by_code) else np.zeros(len(groups.codes), dtype=np.int64)


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


def depths(df: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each call's nesting depth: 0 without a parent among the rows, else its parent's depth + 1."""
    parent = pd.Index(df["call_id"]).get_indexer(df["parent_id"])
    depth = np.zeros(len(df), dtype=np.int64)
    current = parent
    for _ in range(32):
        nested = current >= 0
        if not nested.any():
            break
        depth += nested
        current = np.where(nested, parent[np.maximum(current, 0)], -1)
    return depth

"""The figures of a run: one function per figure, a DataFrame of call rows in, a matplotlib Figure out.

Figures use the object API (``matplotlib.figure.Figure`` on an Agg canvas), never pyplot's global state,
so they are safe in notebooks, threads and servers. Each stays readable and fast at 50 functions and a
million calls: distributions are drawn from precomputed quantiles, histograms are binned with numpy, and
the timeline draws every call only for small runs; larger runs are binned per process at screen resolution.
Every function takes an optional precomputed :class:`~mpmon.analysis.stats.Summary` to avoid recomputing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from mpmon.analysis import stats as stats_
from mpmon.analysis.load import to_micros

__all__ = [
    "FIGURES",
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

WIDTH_IN = 11.0
DPI = 100
COLOURED_FUNCTIONS = 10  # the functions with most total time get their own colour; the rest are grey
EXACT_TIMELINE_CALLS = 20_000  # up to this many calls the timeline draws every call; beyond, it bins
TIMELINE_BINS = 1_000
MAX_HISTOGRAMS = 60
_OTHER = "#b0b0b0"
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
)


# --- shared helpers ------------------------------------------------------------------------------------


def _figure(height: float, width: float = WIDTH_IN) -> Figure:
    """A new Agg-backed figure with constrained layout."""
    fig = Figure(figsize=(width, min(max(height, 3.0), 40.0)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _heading(fig: Figure, title: str, subtitle: str, summary: stats_.Summary) -> None:
    """The figure's title, and below it the user's subtitle and what run it shows."""
    runs = summary.run.get("run_ids") or []
    about = f"run {', '.join(runs[:3])}{' …' if len(runs) > 3 else ''}" if runs else "no run id"
    context = f"{about} · {summary.run['calls']:,} calls · {summary.run['processes']} processes"
    fig.suptitle(f"{title}\n{' · '.join(x for x in (subtitle, context) if x)}", fontsize=12)


def _short(name: str, width: int = 38) -> str:
    """A label no wider than ``width`` characters, cut in the middle."""
    return name if len(name) <= width else name[: width // 2 - 1] + "…" + name[-(width // 2 - 1) :]


def palette(functions: Sequence[str]) -> dict[str, str]:
    """Colours for functions listed by importance: the first ten get their own colour, the rest grey."""
    return {f: (_PALETTE[i] if i < COLOURED_FUNCTIONS else _OTHER) for i, f in enumerate(functions)}


def _summary(df: pd.DataFrame, summary: stats_.Summary | None) -> stats_.Summary:
    """The given summary, or one computed now."""
    return summary if summary is not None else stats_.summarize(df)


def _empty(ax: Axes, message: str) -> None:
    """Say on the axes that there is nothing to draw."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])


def _run_start_us(df: pd.DataFrame) -> int:
    """The run's first start time, microseconds since the epoch."""
    return int(to_micros(df["start_time"]).min()) if len(df) else 0


def _seconds_label(t0_us: int) -> str:
    """The x-axis label for times measured from the run start."""
    return f"seconds since {pd.Timestamp(t0_us, unit='us', tz='UTC'):%Y-%m-%d %H:%M:%S} UTC"


def _rows_by_function(
    df: pd.DataFrame, column: str, order: Sequence[str], summary: stats_.Summary
) -> dict[str, np.ndarray[Any, Any]]:
    """The finite values of ``column`` for each function in ``order`` (one sort, no Python loop per row)."""
    groups = summary.function_groups(df)
    values = df[column].to_numpy(dtype=float, na_value=np.nan)
    by_code = np.argsort(groups.codes, kind="stable")
    bounds = np.searchsorted(groups.codes[by_code], np.arange(len(groups.names) + 1))
    split = {n: values[by_code[bounds[i] : bounds[i + 1]]] for i, n in enumerate(groups.names)}
    return {f: (v := split.get(f, np.empty(0)))[np.isfinite(v)] for f in order}


def _box_stats(
    values: dict[str, np.ndarray[Any, Any]], whiskers: tuple[float, float]
) -> list[dict[str, Any]]:
    """Box statistics per function for ``Axes.bxp``: quartiles, median, whiskers at two percentiles."""
    out = []
    for name, v in values.items():
        lo, q1, med, q3, hi = np.percentile(v, [whiskers[0], 25, 50, 75, whiskers[1]])
        out.append({"label": _short(name), "med": med, "q1": q1, "q3": q3, "whislo": lo, "whishi": hi})
    return out


def _draw_boxes(ax: Axes, boxes: list[dict[str, Any]], colours: list[str]) -> None:
    """Horizontal boxes, first at the top, filled with each function's colour."""
    art = ax.bxp(boxes, orientation="horizontal", showfliers=False, patch_artist=True, widths=0.6)
    for patch, colour in zip(art["boxes"], colours, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.75)
    for line in art["medians"]:
        line.set_color("black")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)


def _counts_on_right(ax: Axes, counts: Sequence[int]) -> None:
    """Write each row's call count at the right edge of the axes."""
    transform = ax.get_yaxis_transform()
    for row, n in enumerate(counts, start=1):
        ax.text(1.01, row, f"n={n:,}", transform=transform, va="center", fontsize=8, color="0.3")


# --- execution time ------------------------------------------------------------------------------------


def plot_execution_time(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None
) -> Figure:
    """Execution time per function: box p25-p75 with median, whiskers min to p99, a dot at the max."""
    summary = _summary(df, summary)
    table = summary.functions.sort_values("p50_s", ascending=False)
    fig = _figure(1.6 + 0.32 * len(table))
    ax = fig.add_subplot()
    _heading(fig, "Execution time per function", subtitle, summary)
    if table.empty:
        _empty(ax, "no calls")
        return fig
    colours = palette(list(summary.functions.index))
    boxes = [
        {
            "label": _short(str(f)),
            "med": r.p50_s,
            "q1": r.p25_s,
            "q3": r.p75_s,
            "whislo": r.min_s,
            "whishi": r.p99_s,
        }
        for f, r in table.iterrows()
    ]
    _draw_boxes(ax, boxes, [colours[f] for f in table.index])
    ax.plot(table["max_s"], np.arange(1, len(table) + 1), "o", ms=3.5, color="0.2")
    _duration_axis(ax, float(table["min_s"].min()), float(table["max_s"].max()))
    ax.set_xlabel("duration  ·  box: p25-p75, line: median, whiskers: min-p99, dot: max")
    _counts_on_right(ax, list(table["calls"]))
    return fig


def _duration_axis(ax: Axes, lo: float, hi: float) -> None:
    """A duration x axis in readable units, logarithmic when the values span more than 50 times."""
    if lo > 0 and hi / lo > 50:
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_duration(v)))


# --- memory --------------------------------------------------------------------------------------------


def plot_memory_delta(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None
) -> Figure:
    """Memory delta (RSS after minus before) per function: box p25-p75, whiskers p1-p99, mean and max."""
    summary = _summary(df, summary)
    table = summary.functions
    tracked = table[table["mem_delta_max_mib"].notna()].sort_values("mem_delta_max_mib", ascending=False)
    fig = _figure(1.9 + 0.32 * len(tracked))
    ax = fig.add_subplot()
    _heading(fig, "Memory delta per function", subtitle, summary)
    if tracked.empty:
        _empty(ax, "memory was not tracked for any call")
        return fig
    values = _rows_by_function(df, "mem_delta_mib", list(tracked.index), summary)
    colours = palette(list(table.index))
    _draw_boxes(ax, _box_stats(values, (1, 99)), [colours[f] for f in tracked.index])
    rows = np.arange(1, len(tracked) + 1)
    ax.plot(tracked["mem_delta_max_mib"], rows, "o", ms=3.5, color="0.2")
    ax.plot(tracked["mem_delta_mean_mib"], rows, "D", ms=4, color="#d62728", mfc="white")
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_xlabel("memory delta per call (MiB): RSS after the call minus RSS before")
    fig.legend(
        handles=[
            Patch(color="0.6", label="box: p25-p75, line: median, whiskers: p1-p99"),
            Line2D([], [], marker="D", ls="", color="#d62728", mfc="white", label="mean"),
            Line2D([], [], marker="o", ls="", color="0.2", label="max"),
        ],
        loc="outside lower center",
        ncols=3,
        fontsize=8,
        frameon=False,
    )
    _counts_on_right(ax, list(tracked["calls"]))
    return fig


# --- top functions -------------------------------------------------------------------------------------


def plot_top_functions(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None, top: int = 10
) -> Figure:
    """The ``top`` functions by total time: CPU part and waiting part of each bar, with calls and mean."""
    summary = _summary(df, summary)
    table = summary.functions.head(top)
    fig = _figure(1.8 + 0.45 * len(table))
    ax = fig.add_subplot()
    _heading(fig, f"Top {top} functions by total time", subtitle, summary)
    if table.empty:
        _empty(ax, "no calls")
        return fig
    untracked = _cpu_and_rest_bars(ax, table)
    ax.set_yticks(range(len(table)), [_short(str(f)) for f in table.index])
    ax.set_ylim(len(table) - 0.4, -0.6)
    ax.set_xlim(0, max(float(table["total_s"].max()) * 1.5, 1e-6))
    ax.set_xlabel("total time (s), summed over calls (a nested call's time also counts in its caller's)")
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
    colours = [palette(list(table.index))[f] for f in table.index]
    ax.barh(rows, cpu, color=colours)
    rest = ax.barh(rows, table["total_s"] - cpu, left=cpu, color=colours, alpha=0.35)
    for bar, blank in zip(rest, untracked, strict=True):
        bar.set_hatch("//" if blank else "")
    for row, (_, r), blank in zip(rows, table.iterrows(), untracked, strict=True):
        note = f" {format_duration(r.total_s)} · {r.calls:,} calls · mean {format_duration(r.mean_s)}"
        note += " · CPU not tracked" if blank else ""
        ax.text(float(r.total_s), float(row), note, va="center", fontsize=8)
    return bool(untracked.any())


def format_duration(seconds: float) -> str:
    """A duration in a readable unit: ``1,234 s``, ``12.3 s``, ``4.56 ms``, ``789 µs``, ``12 ns``."""
    if abs(seconds) >= 100:
        return f"{seconds:,.0f} s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


# --- histograms ----------------------------------------------------------------------------------------


def plot_histograms(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None, bins: int = 30
) -> Figure:
    """A duration histogram per function (small multiples), the function with most total time first.

    Bins are log-spaced when a function's durations span more than ten times, linear otherwise. The grid
    is laid out by hand (no constrained layout): with 50 small axes that halves the drawing time.
    """
    summary = _summary(df, summary)
    table = summary.functions
    shown = list(table.index[:MAX_HISTOGRAMS])
    columns = next(
        c for limit, c in ((1, 1), (4, 2), (9, 3), (16, 4), (MAX_HISTOGRAMS, 5)) if len(shown) <= limit
    )
    rows = max(1, -(-len(shown) // columns))
    height = 1.5 + 1.9 * rows
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.7 / WIDTH_IN, right=0.98, top=1 - 1.15 / height, bottom=0.6 / height)
    more = f" (top {len(shown)} of {len(table)} by total time)" if len(table) > len(shown) else ""
    _heading(fig, f"Duration histogram per function{more}", subtitle, summary)
    if not shown:
        _empty(fig.add_subplot(), "no calls")
        return fig
    axes = fig.subplots(rows, columns, squeeze=False, gridspec_kw={"hspace": 0.65, "wspace": 0.28}).ravel()
    colours = palette(list(table.index))
    for ax, (name, values) in zip(
        axes, _rows_by_function(df, "duration_s", shown, summary).items(), strict=False
    ):
        _histogram(ax, values, bins, colours[name])
        ax.set_title(f"{_short(name, 30)}  (n={len(values):,})", fontsize=8)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    fig.supxlabel("duration", fontsize=9, y=0.15 / height)
    fig.supylabel("calls", fontsize=9, x=0.1 / WIDTH_IN)
    return fig


def _histogram(ax: Axes, values: np.ndarray[Any, Any], bins: int, colour: str) -> None:
    """One histogram of positive durations, on a log axis when they span more than ten times."""
    positive = values[values > 0]
    ax.tick_params(labelsize=7)
    if positive.size == 0:
        _empty(ax, "no positive durations")
        return
    lo, hi = float(positive.min()), float(positive.max())
    wide = hi > 10 * lo
    if wide:
        edges = np.geomspace(lo, hi * 1.0001, bins + 1)
    else:
        pad = max(hi - lo, hi * 0.02) * 0.05
        edges = np.linspace(lo - pad, hi + pad, bins + 1)
    counts, edges = np.histogram(positive, bins=edges)
    ax.stairs(counts, edges, fill=True, color=colour, alpha=0.8)
    if wide:
        ax.set_xscale("log")
        ax.minorticks_off()
    else:
        ax.xaxis.set_major_locator(MaxNLocator(3))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_duration(v)))
    ax.yaxis.set_major_locator(MaxNLocator(4, integer=True))
    ax.grid(alpha=0.2)


# --- CPU utilisation -----------------------------------------------------------------------------------


def plot_cpu_utilisation(
    df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None
) -> Figure:
    """CPU utilisation (CPU time / wall time) per function: near 100% is CPU-bound, low is waiting."""
    summary = _summary(df, summary)
    table = summary.functions
    tracked = table[table["cpu_util"].notna()].sort_values("cpu_util", ascending=False)
    fig = _figure(1.8 + 0.3 * len(tracked))
    ax = fig.add_subplot()
    _heading(fig, "CPU utilisation per function", subtitle, summary)
    if tracked.empty:
        _empty(ax, "CPU time was not tracked for any call")
        return fig
    rows = np.arange(len(tracked))
    percent = tracked["cpu_util"] * 100
    colours = palette(list(table.index))
    ax.barh(rows, percent, color=[colours[f] for f in tracked.index], alpha=0.85)
    for row, value in zip(rows, percent, strict=True):
        ax.text(float(value), float(row), f" {value:.0f}%", va="center", fontsize=8)
    ax.axvline(100, color="0.3", ls="--", lw=1)
    ax.set_yticks(rows, [_short(str(f)) for f in tracked.index])
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlim(0, max(110.0, float(percent.max()) * 1.15))
    untracked = len(table) - len(tracked)
    note = f"; {untracked} function(s) without CPU tracking not shown" if untracked else ""
    ax.set_xlabel(f"CPU time / wall time (%): 100% = one core busy for the whole call{note}")
    ax.grid(axis="x", alpha=0.3)
    return fig


# --- errors over time ----------------------------------------------------------------------------------


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
    summary = _summary(df, summary)
    events = errors if errors is not None else _error_rows(df)
    fig = _figure(4.6)
    ax = fig.add_subplot()
    _heading(fig, "Errors over time", subtitle, summary)
    if events.empty:
        _empty(ax, "no errors in this run")
        return fig
    t0 = _run_start_us(df) if len(df) else int(to_micros(events["time"]).min())
    when = (to_micros(events["time"]) - t0) / 1e6
    end = max(float(when.max()), (int(to_micros(df["end_time"]).max()) - t0) / 1e6 if len(df) else 0.0, 1e-3)
    edges = np.linspace(min(0.0, float(when.min())), end, bins + 1)
    kinds = events["error_type"].where(events["error_type"] != "", "(unknown type)").to_numpy(dtype=object)
    _stacked_bars(fig, ax, when, kinds, edges)
    running = ax.twinx()
    running.step(np.sort(when), np.arange(1, len(when) + 1), where="post", color="black", lw=1.2)
    running.set_ylabel("errors so far (line)")
    running.set_ylim(0, len(when) * 1.05)
    rate = f" · {len(events) / len(df):.1%} of {len(df):,} calls" if len(df) else ""
    ax.set_title(f"{len(events):,} errors{rate}", fontsize=10, loc="left")
    ax.set_xlabel(_seconds_label(t0))
    ax.set_ylabel(f"errors per {format_duration(edges[1] - edges[0])} (bars)")
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
        colour = _OTHER if kind == "other" else next(colours)
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


# --- timeline ------------------------------------------------------------------------------------------


def plot_timeline(df: pd.DataFrame, *, subtitle: str = "", summary: stats_.Summary | None = None) -> Figure:
    """One lane per process, bars from start to end coloured by function; below, busy processes over time.

    Up to EXACT_TIMELINE_CALLS calls every call is drawn (nested calls as thinner bars inside their parent,
    errors marked with a red x); beyond, each lane is binned at screen resolution: a bin's bar height is
    how busy the process was and its colour the function that took most of that time.
    """
    summary = _summary(df, summary)
    lanes = list(summary.processes.index)
    lane_height = max(2.0, 0.32 * len(lanes))
    fig = _figure(2.2 + lane_height + 1.6)
    _heading(fig, "Call timeline (one lane per process)", subtitle, summary)
    if df.empty:
        _empty(fig.add_subplot(), "no calls")
        return fig
    ax, busy_ax = fig.subplots(2, 1, sharex=True, height_ratios=[lane_height, 1.3])
    grid = _Timeline(df, summary)
    if len(df) <= EXACT_TIMELINE_CALLS:
        grid.draw_calls(ax)
    else:
        grid.draw_bins(ax)
    grid.draw_busy(busy_ax, summary.run.get("parallel_efficiency"))
    _lane_axis(ax, lanes)
    busy_ax.set_xlabel(_seconds_label(grid.t0))
    fig.legend(handles=grid.legend(), loc="outside lower center", ncols=6, fontsize=8, frameon=False)
    return fig


def _lane_axis(ax: Axes, lanes: Sequence[str]) -> None:
    """Label the lanes (thinned when there are many), first process at the top."""
    step = max(1, len(lanes) // 40)
    ax.set_yticks(range(0, len(lanes), step), [_short(lanes[i], 32) for i in range(0, len(lanes), step)])
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)


class _Timeline:
    """The arrays behind the timeline: each call's lane, colour, start and end (µs from the run start)."""

    def __init__(self, df: pd.DataFrame, summary: stats_.Summary) -> None:
        self.df = df
        self.lanes = list(summary.processes.index)
        self.functions = list(summary.functions.index[:COLOURED_FUNCTIONS])
        self.rest = len(summary.functions) - len(self.functions)
        self.t0 = _run_start_us(df)
        self.start = to_micros(df["start_time"]) - self.t0
        self.end = np.maximum(to_micros(df["end_time"]) - self.t0, self.start)
        self.span = max(int(self.end.max()), 1)
        self.lane = _recode(summary.process_groups(df), self.lanes, len(self.lanes))
        self.colour = _recode(summary.function_groups(df), self.functions, len(self.functions))
        self.colours = np.array([*_PALETTE[: len(self.functions)], _OTHER])

    def legend(self) -> list[Patch]:
        """One patch per coloured function, and one for the rest."""
        handles = [
            Patch(color=c, label=_short(f, 30)) for f, c in zip(self.functions, self.colours, strict=False)
        ]
        return handles + (
            [Patch(color=_OTHER, label=f"{self.rest} other functions")] if self.rest > 0 else []
        )

    def draw_calls(self, ax: Axes) -> None:
        """Every call as a bar; a nested call is thinner and drawn over its parent; errors get a red x."""
        depth = _depths(self.df)
        order = np.argsort(depth, kind="stable")
        height = 0.8 * 0.6 ** depth[order]
        x0 = self.start[order] / 1e6
        x1 = np.maximum(self.end[order], self.start[order] + self.span / 1500) / 1e6
        y0 = self.lane[order] + 0.4 - height
        edges = "white" if len(order) <= 2_000 else "none"
        ax.add_collection(_rectangles(x0, x1, y0, height, self.colours[self.colour[order]], edges))
        failed = (self.df["status"] == "error").to_numpy()
        ax.plot(self.end[failed] / 1e6, self.lane[failed] - 0.3, "x", color="#d62728", ms=5, mew=1.5)
        ax.set_xlim(0, self.span / 1e6 * 1.01)

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
        width = self.span / TIMELINE_BINS / 1e6
        height = 0.8 * busy[lane, where]
        x0 = where * width
        ax.add_collection(
            _rectangles(x0, x0 + width, lane + 0.4 - height, height, self.colours[colour], "none")
        )
        ax.set_xlim(0, self.span / 1e6 * 1.01)
        ax.set_title(
            f"{len(self.df):,} calls: top-level calls binned into {TIMELINE_BINS} slices per lane; "
            "bar height = share of the slice busy, colour = the function that took most of it",
            fontsize=8,
            loc="left",
        )

    def draw_busy(self, ax: Axes, efficiency: float | None) -> None:
        """How many processes were busy over time, against how many there were."""
        busy = np.clip(self.occupancy(top_level_only=False).sum(axis=1), 0, 1).sum(axis=0)
        edges = np.linspace(0, self.span / 1e6, TIMELINE_BINS + 1)
        ax.stairs(busy, edges, fill=True, color="#1f77b4", alpha=0.6)
        ax.axhline(len(self.lanes), color="0.3", ls="--", lw=1)
        ax.set_ylim(0, len(self.lanes) * 1.1)
        ax.set_ylabel("busy\nprocesses", fontsize=9)
        note = f"parallel efficiency {efficiency:.0%} · " if efficiency is not None else ""
        ax.set_title(f"{note}dashed line: {len(self.lanes)} processes", fontsize=9, loc="left")
        ax.grid(alpha=0.3)


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


def _depths(df: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.int64]]:
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


# --- registry ------------------------------------------------------------------------------------------

FIGURES: dict[str, Callable[..., Figure]] = {
    "execution_time": plot_execution_time,
    "timeline": plot_timeline,
    "memory_delta": plot_memory_delta,
    "top_functions": plot_top_functions,
    "histograms": plot_histograms,
    "cpu_utilisation": plot_cpu_utilisation,
    "errors_over_time": plot_errors_over_time,
}
"""Every figure by file stem, in report order; each takes (df, *, subtitle=..., summary=...)."""

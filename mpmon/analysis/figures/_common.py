"""What every figure shares: the canvas, the heading, colours, per-function values, boxes and axes.

Figures use the object API (``matplotlib.figure.Figure`` on an Agg canvas), never pyplot's global state,
so they are safe in notebooks, threads and servers. Units are chosen once per figure (or per panel) from
the values it shows; count axes carry integer ticks only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator

from mpmon import units
from mpmon.analysis import stats as stats_
from mpmon.analysis.figdata import FigureData, of_frame, resolved
from mpmon.analysis.load import to_micros

WIDTH_IN = 11.0
DPI = 100
COLOURED_FUNCTIONS = 10  # the functions with most total time get their own colour; the rest are grey
OTHER = "#b0b0b0"
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#7b4173",  # not the red that marks errors
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
)


def new_figure(height: float, width: float = WIDTH_IN) -> Figure:
    """A new Agg-backed figure with constrained layout."""
    fig = Figure(figsize=(width, min(max(height, 3.0), 40.0)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def heading(fig: Figure, title: str, subtitle: str, summary: stats_.Summary) -> None:
    """The figure's title, and below it the user's subtitle and what run it shows."""
    runs = summary.run.get("run_ids") or []
    about = f"run {', '.join(runs[:3])}{' …' if len(runs) > 3 else ''}" if runs else "no run id"
    calls = units.plural(summary.run["calls"], "call")
    context = f"{about} · {calls} · {units.plural(summary.run['processes'], 'process')}"
    fig.suptitle(f"{title}\n{' · '.join(x for x in (subtitle, context) if x)}", fontsize=12)


def short(name: str, width: int = 38) -> str:
    """A label no wider than ``width`` characters, cut in the middle."""
    return name if len(name) <= width else name[: width // 2 - 1] + "…" + name[-(width // 2 - 1) :]


def palette(functions: Sequence[str]) -> dict[str, str]:
    """Colours for functions listed by importance: the first ten get their own colour, the rest grey."""
    return {f: (PALETTE[i] if i < COLOURED_FUNCTIONS else OTHER) for i, f in enumerate(functions)}


def ensure_summary(df: pd.DataFrame, summary: stats_.Summary | None) -> stats_.Summary:
    """The given summary, or one computed now."""
    return summary if summary is not None else stats_.summarize(df)


def figure_data(df: pd.DataFrame, summary: stats_.Summary) -> FigureData:
    """The figures' aggregates: the scanned run's (in the summary), or computed from ``df`` once."""
    found = resolved(summary)
    if found is None:
        found = summary.extra["figures"] = of_frame(df, summary)
    return found


def lane_label(name: str, width: int = 44) -> str:
    """A process label no wider than ``width``, its name cut at the end so the ``(pid)`` stays whole."""
    if len(name) <= width:
        return name
    head, sep, pid = name.rpartition(" (")
    if not sep:
        return short(name, width)
    tail = sep + pid
    return head[: max(4, width - len(tail) - 1)] + "…" + tail


def say_empty(ax: Axes, message: str) -> None:
    """Say on the axes that there is nothing to draw."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])


def run_start_us(df: pd.DataFrame) -> int:
    """The run's first start time, microseconds since the epoch."""
    return int(to_micros(df["start_time"]).min()) if len(df) else 0


def time_axis(ax: Axes, t0_us: int, span_s: float) -> float:
    """Label the x axis as time since the run start in a unit fitting the span; returns seconds per unit
    (x values must be divided by it)."""
    name, scale = units.duration_unit(span_s)
    ax.set_xlabel(f"{name} since {pd.Timestamp(t0_us, unit='us', tz='UTC'):%Y-%m-%d %H:%M:%S} UTC")
    return scale


def rows_by_function(
    df: pd.DataFrame, column: str, order: Sequence[str], summary: stats_.Summary
) -> dict[str, np.ndarray[Any, Any]]:
    """The finite values of ``column`` for each function in ``order`` (one sort, no Python loop per row)."""
    groups = summary.function_groups(df)
    values = df[column].to_numpy(dtype=float, na_value=np.nan)
    by_code = np.argsort(groups.codes, kind="stable")
    bounds = np.searchsorted(groups.codes[by_code], np.arange(len(groups.names) + 1))
    split = {n: values[by_code[bounds[i] : bounds[i + 1]]] for i, n in enumerate(groups.names)}
    return {f: (v := split.get(f, np.empty(0)))[np.isfinite(v)] for f in order}


WHISKERS = "box: p25-p75, line: median, whiskers: min-p99, dot: max"
"""The one rule of every box figure (execution time and memory), written on each."""


def box(label: str, q: Sequence[float]) -> dict[str, Any]:
    """Box statistics for ``Axes.bxp`` from (min, p25, p50, p75, p99)."""
    lo, q1, med, q3, hi = (float(x) for x in q)
    return {"label": short(label), "med": med, "q1": q1, "q3": q3, "whislo": lo, "whishi": hi}


def draw_boxes(ax: Axes, boxes: list[dict[str, Any]], colours: list[str]) -> None:
    """Horizontal boxes, first at the top, filled with each function's colour."""
    art = ax.bxp(boxes, orientation="horizontal", showfliers=False, patch_artist=True, widths=0.6)
    for patch, colour in zip(art["boxes"], colours, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.75)
    for line in art["medians"]:
        line.set_color("black")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)


def counts_on_right(ax: Axes, counts: Sequence[int]) -> None:
    """Write each row's call count at the right edge of the axes."""
    transform = ax.get_yaxis_transform()
    for row, n in enumerate(counts, start=1):
        ax.text(1.01, row, f"n={units.count(n)}", transform=transform, va="center", fontsize=8, color="0.3")


class UnitFormatter(Formatter):
    """Tick labels as numbers in one unit; more digits only when three would make two labels equal."""

    def __init__(self, scale: float, suffix: str = "") -> None:
        self.scale, self.suffix = scale, suffix

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.format_ticks([x])[0]

    def format_ticks(self, values: Iterable[float]) -> list[str]:
        shown = list(values)
        labels: list[str] = []
        for digits in range(3, 8):
            labels = [units.number(v / self.scale, digits) + self.suffix for v in shown]
            if len(set(labels)) == len(labels):
                break
        return labels


def duration_axis(ax: Axes, values: Iterable[float], which: str = "x", log: bool | None = None) -> str:
    """Put a duration axis (``which``: x or y) in the unit its largest value calls for; returns the
    unit's name. The axis is logarithmic when ``log`` is true, or (``None``) when the positive values
    span more than fifty times.
    """
    shown = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    name, scale = units.duration_unit(shown)
    positive = shown[shown > 0]
    if log is None:
        log = bool(positive.size) and float(positive.max()) > 50 * float(positive.min())
    axis = ax.xaxis if which == "x" else ax.yaxis
    if log:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        ax.minorticks_off()
    axis.set_major_formatter(UnitFormatter(scale))
    return name


def memory_axis(axis: Axis, values: Iterable[float]) -> str:
    """Put a memory axis (values in MiB) in KiB, MiB or GiB as its largest value calls for, with ticks
    at round numbers of that unit."""
    name, scale = units.memory_unit(values)
    axis.set_major_locator(ScaledLocator(scale))
    axis.set_major_formatter(UnitFormatter(scale))
    return name


class ScaledLocator(MaxNLocator):
    """Ticks at round numbers of a unit (``scale`` data units per unit): 256 KiB, not 0.25 MiB."""

    def __init__(self, scale: float, nbins: int = 8) -> None:
        super().__init__(nbins)
        self.scale = scale

    def tick_values(self, vmin: float, vmax: float) -> Any:
        return np.asarray(super().tick_values(vmin / self.scale, vmax / self.scale)) * self.scale


def count_axis(axis: Axis, bins: int = 5) -> None:
    """Integer ticks only: a count axis never shows 0.5 calls."""
    axis.set_major_locator(MaxNLocator(bins, integer=True))

"""Figures: one function each, a DataFrame in and a matplotlib Figure out, readable at scale."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from mpmon.analysis import (
    FIGURES,
    figdata,
    load_run,
    plot_errors_over_time,
    plot_histograms,
    plot_timeline,
    plots,
    summarize,
)
from mpmon.analysis.figures import CAPTIONS, timeline

from . import logfactory as lf
from .logfactory import OneRun


def _texts(fig: Figure) -> str:
    """Every piece of text drawn on a figure, joined."""
    fig.canvas.draw()
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def _png(fig: Figure) -> np.ndarray[Any, Any]:
    """The figure rendered to PNG and decoded."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    return matplotlib.image.imread(buffer, format="png")


@pytest.fixture(scope="module")
def bulk() -> pd.DataFrame:
    """30,000 calls of 50 functions in 8 processes: beyond the timeline's draw-every-call limit."""
    return lf.bulk_rows(30_000)


class TestEveryFigure:
    @pytest.mark.parametrize("name", list(FIGURES))
    def test_a_figure_with_title_and_subtitle(self, name: str, one_run: OneRun) -> None:
        """Each plot function returns a Figure whose heading shows the subtitle and the run id."""
        df = load_run(one_run[0])
        fig = FIGURES[name](df, subtitle="after memory tweaks")
        assert isinstance(fig, Figure)
        heading = fig.get_suptitle()
        assert "after memory tweaks" in heading and "20261125T180000Z-aaaaaa" in heading
        image = _png(fig)
        assert 300 <= image.shape[0] <= 4000 and image.shape[1] == 1100

    @pytest.mark.parametrize("name", list(FIGURES))
    def test_readable_with_fifty_functions(self, name: str, bulk: pd.DataFrame) -> None:
        """With 50 functions and 30,000 calls every figure stays within a sane size and names functions."""
        fig = FIGURES[name](bulk, summary=summarize(bulk))
        width, height = fig.get_size_inches()
        assert width == plots.WIDTH_IN and 3 <= height <= 40
        if name in ("execution_time", "histograms", "cpu_utilisation"):
            text = _texts(fig)
            assert all(f"fn_{i}" in text for i in range(50))

    def test_no_pyplot_figures_and_a_light_mpmon(self, tmp_path: Path) -> None:
        """Figures never enter pyplot's global registry, and ``import mpmon`` does not load the analysis."""
        script = (
            "import io, sys, mpmon\n"
            "assert 'mpmon.analysis' not in sys.modules and 'matplotlib' not in sys.modules\n"
            "from mpmon.analysis import FIGURES\n"
            f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
            "from analysis import logfactory as lf\n"
            "df = lf.bulk_rows(500)\n"
            "for plot in FIGURES.values():\n"
            "    plot(df).savefig(io.BytesIO(), format='png')\n"
            "from matplotlib import pyplot\n"
            "assert pyplot.get_fignums() == []\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr


class TestTimeline:
    def test_every_call_is_a_bar_in_small_runs(self, one_run: OneRun) -> None:
        """Up to the limit, one rectangle per call and one red x per error."""
        df = load_run(one_run[0])
        fig = plot_timeline(df)
        lanes = fig.axes[0]
        (bars,) = [c for c in lanes.collections if isinstance(c, PolyCollection)]
        assert len(bars.get_paths()) == len(df)
        (crosses,) = [line for line in lanes.lines if line.get_marker() == "x"]
        assert len(crosses.get_xdata()) == (df["status"] == "error").sum()
        assert lanes.get_yticklabels()[0].get_text() == "MainProcess (1000)"

    def test_nested_calls_are_drawn_inside_their_parent(self, one_run: OneRun) -> None:
        """A step (nested in a task) is thinner than its task and lies within it."""
        df = load_run(one_run[0])
        depth = timeline.depths(df)
        assert depth[(df["function"] == "step").to_numpy()].tolist() == [1] * (df["function"] == "step").sum()
        assert depth[(df["function"] == "task").to_numpy()].max() == 0

    def test_large_runs_are_binned(self, bulk: pd.DataFrame) -> None:
        """Beyond the limit, each lane holds at most one bar per time slice."""
        fig = plot_timeline(bulk)
        (bars,) = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
        assert 0 < len(bars.get_paths()) <= 8 * plots.TIMELINE_BINS

    def test_busy_processes_add_up_to_the_busy_time(self, bulk: pd.DataFrame) -> None:
        """The busy-processes curve integrates to the summed busy time (calls do not overlap here)."""
        summary = summarize(bulk)
        grid = timeline._Timeline(figdata.of_frame(bulk, summary), len(summary.functions))
        busy = np.clip(grid.data.occupancy.sum(axis=1), 0, 1).sum(axis=0)
        slice_s = grid.span / plots.TIMELINE_BINS / 1e6
        assert busy.sum() * slice_s == pytest.approx(summary.run["busy_s"], rel=1e-6)

    def test_colours_follow_total_time(self, bulk: pd.DataFrame) -> None:
        """The ten functions with most total time get colours; the legend sums up the rest."""
        summary = summarize(bulk)
        fig = plot_timeline(bulk, summary=summary)
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert labels[:10] == list(summary.functions.index[:10])
        assert labels[10] == "40 other functions"


class TestEdgeCases:
    def test_no_errors(self, one_run: OneRun) -> None:
        """A run without errors still gets its errors figure, saying so."""
        df = load_run(one_run[0])
        fig = plot_errors_over_time(df[(df["status"] == "ok").to_numpy()].reset_index(drop=True))
        assert "no errors in this run" in _texts(fig)

    def test_untracked_resources(self, one_run: OneRun) -> None:
        """Without CPU or memory tracking, those figures say so instead of failing."""
        df = load_run(one_run[0])
        df["cpu_time_s"] = np.nan
        df["mem_delta_mib"] = np.nan
        assert "not tracked" in _texts(FIGURES["memory_delta"](df))
        assert "not tracked" in _texts(FIGURES["cpu_utilisation"](df))

    def test_errors_from_the_error_log_are_drawn(self, one_run: OneRun) -> None:
        """Error events passed in (rows plus error.log entries) are what the figure counts."""
        df = load_run(one_run[0])
        kinds = pd.Series(["KeyError", "", "KeyError"], dtype="string")
        events = pd.DataFrame({"time": [df["start_time"].min()] * 3, "error_type": kinds})
        text = _texts(plot_errors_over_time(df, errors=events))
        assert "3 errors" in text and "KeyError" in text and "(unknown type)" in text

    def test_many_functions_show_the_top_histograms(self) -> None:
        """More functions than fit get the top ones by total time, and the title says how many."""
        df = lf.bulk_rows(5_000, functions=plots.MAX_HISTOGRAMS + 5)
        fig = plot_histograms(df)
        assert f"top {plots.MAX_HISTOGRAMS} of {plots.MAX_HISTOGRAMS + 5}" in fig.get_suptitle()

    def test_zero_length_calls(self) -> None:
        """Calls of zero duration (a coarse clock) do not break the log scales or histograms."""
        df = lf.bulk_rows(200, functions=3)
        df["duration_s"] = 0.0
        df["end_time"] = df["start_time"]
        for plot in FIGURES.values():
            _png(plot(df))


def _tick_labels(ax: Any, which: str) -> list[str]:
    """The visible major tick labels of one axis of a drawn figure."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    ticks = [t for t in axis.get_major_ticks() if lo <= t.get_loc() <= hi]
    return [t.label1.get_text() for t in ticks if t.label1.get_visible() and t.label1.get_text()]


def _one_call_run() -> pd.DataFrame:
    """Three functions, one of them called once, memory deltas of a few KiB."""
    df = lf.bulk_rows(300, functions=3)
    first = df.index[df["function"] == df["function"].iloc[0]]
    df = df.drop(first[1:]).reset_index(drop=True)
    df["mem_delta_mib"] = (np.arange(len(df)) % 5) * 4 / 1024
    return df


class TestUnitsAndCounts:
    def test_count_axes_have_integer_ticks(self, one_run: OneRun) -> None:
        """Calls per histogram bin, errors per slice and busy processes: no fractional tick label."""
        df = load_run(one_run[0])
        figures = [plot_histograms(df), plot_errors_over_time(df), plot_timeline(df)]
        labels = []
        for fig in figures:
            fig.canvas.draw()
        labels += [t for ax in figures[0].axes if ax.get_visible() for t in _tick_labels(ax, "y")]
        labels += [t for ax in figures[1].axes for t in _tick_labels(ax, "y")]
        labels += _tick_labels(figures[2].axes[1], "y")
        assert labels and all(t.lstrip("-").isdigit() for t in labels), labels

    def test_a_panel_of_one_call_has_one_tick(self) -> None:
        """A function called once gets one bar and one tick label, not three identical ones."""
        df = _one_call_run()
        fig = plot_histograms(df)
        fig.canvas.draw()
        single = next(ax for ax in fig.axes if "(1 call)" in ax.get_title())
        assert len(_tick_labels(single, "x")) == 1
        for ax in fig.axes:
            if ax.get_visible() and ax.get_xticks().size:
                labels = _tick_labels(ax, "x")
                assert len(labels) == len(set(labels)), labels

    def test_memory_in_the_unit_its_values_call_for(self) -> None:
        """Deltas of a few KiB are drawn in KiB with distinct round ticks, not as 0.00 MiB."""
        fig = FIGURES["memory_delta"](_one_call_run())
        fig.canvas.draw()
        ax = fig.axes[0]
        assert "(KiB)" in ax.get_xlabel()
        labels = _tick_labels(ax, "x")
        steps = np.diff([float(t) for t in labels])
        assert len(set(labels)) == len(labels) >= 3 and max(float(t) for t in labels) >= 5
        assert np.allclose(steps, steps[0]) and steps[0] / 10 ** np.floor(np.log10(steps[0])) in (
            1,
            2,
            2.5,
            5,
        )

    def test_time_and_memory_boxes_share_rule_and_order(self, bulk: pd.DataFrame) -> None:
        """Both box figures state min-p99 whiskers and list the functions in the same order."""
        summary = summarize(bulk)
        time_fig = FIGURES["execution_time"](bulk, summary=summary)
        memory_fig = FIGURES["memory_delta"](bulk, summary=summary)
        order = [t.get_text() for t in time_fig.axes[0].get_yticklabels()]
        assert order == [t.get_text() for t in memory_fig.axes[0].get_yticklabels()]
        assert order == list(summary.functions.index)
        assert "whiskers: min-p99" in time_fig.axes[0].get_xlabel()
        assert "whiskers: min-p99" in _texts(memory_fig)

    def test_duration_unit_per_figure(self) -> None:
        """Microsecond calls get a microsecond axis; the heading counts with plurals."""
        df = lf.bulk_rows(200, functions=1)
        df["duration_s"] = df["duration_s"] / df["duration_s"].max() * 40e-6
        fig = FIGURES["execution_time"](df)
        assert fig.axes[0].get_xlabel().startswith("duration (µs)")
        assert "200 calls · 8 processes" in fig.get_suptitle()
        one = FIGURES["execution_time"](df.head(1))
        assert "1 call · 1 process" in one.get_suptitle()

    def test_cpu_figure_explains_values_over_100(self, one_run: OneRun) -> None:
        """The CPU figure and its caption say that above 100% other threads of the process worked."""
        text = _texts(FIGURES["cpu_utilisation"](load_run(one_run[0])))
        assert "above 100% means other threads of the process" in text
        assert "above 100% means other threads of the process" in CAPTIONS["cpu_utilisation"]

    def test_every_figure_has_a_caption(self) -> None:
        """One sentence per figure on how to read it."""
        assert set(CAPTIONS) == set(FIGURES)
        assert all(c.endswith(".") and c.count(". ") == 0 for c in CAPTIONS.values())

    def test_the_five_slowest_calls_are_numbered(self, one_run: OneRun) -> None:
        """Ranks 1-5 sit at the start of the five longest calls, in their lanes."""
        df = load_run(one_run[0])
        fig = plot_timeline(df)
        marks = {t.get_text(): t.xy for t in fig.axes[0].texts if t.get_text().isdigit()}
        assert sorted(marks) == ["1", "2", "3", "4", "5"]
        longest = df.sort_values("duration_s", ascending=False, kind="stable").iloc[0]
        offset_ms = (longest["start_time"] - df["start_time"].min()).total_seconds() * 1e3
        assert marks["1"][0] == pytest.approx(offset_ms, abs=1e-3)

    def test_the_timeline_states_the_efficiency_rule(self, one_run: OneRun) -> None:
        """Under the timeline: the efficiency, which processes count and which do not."""
        df = load_run(one_run[0])
        summary = summarize(df)
        text = _texts(plot_timeline(df, summary=summary))
        assert f"parallel efficiency {summary.run['parallel_efficiency']:.0%} = busy time of the" in text

"""The report's answers to issue 20: self time beside total time, resident memory over time per process,
the captured log lines, a busy panel that counts top-level calls only, and the small text defects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import StepPatch

from mpmon.analysis import figdata, load_run, plot_timeline, scanned, summarize
from mpmon.analysis.figures import CAPTIONS, _common
from mpmon.analysis.report import write_report

from . import logfactory as lf


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """A synthetic run (nested calls, a log line) analysed into a report folder, once for the module."""
    tmp_path = tmp_path_factory.mktemp("parts")
    rows = lf.make_run(lf.RUN_A)
    lf.write_run(tmp_path / "logs", rows, table="parquet")
    run = scanned.open_run(tmp_path / "logs")
    assert run is not None
    return write_report(run, tmp_path / "report").folder, rows


class TestSelfTime:
    def test_self_time_is_total_less_monitored_children(
        self, report: tuple[Path, list[dict[str, object]]]
    ) -> None:
        """task's self time excludes its nested step; step and flaky have no children: self = total."""
        folder, _rows = report
        table = pd.read_csv(folder / "aggregate.csv", index_col="function")
        task = table.loc["task"]
        assert task["self_s"] == pytest.approx(task["total_s"] - table.loc["step", "total_s"], rel=1e-9)
        for name in ("step", "flaky", "io_wait"):
            assert table.loc[name, "self_s"] == pytest.approx(table.loc[name, "total_s"], rel=1e-12)

    def test_page_ranks_by_self_time(self, report: tuple[Path, list[dict[str, object]]]) -> None:
        """The page has a self-time section, and the functions table shows self beside total."""
        folder, _rows = report
        html = (folder / "report.html").read_text()
        section = html.split("<section id='self_time'>")[1].split("</section>")[0]
        table = pd.read_csv(folder / "aggregate.csv", index_col="function")
        ranked = list(table.sort_values("self_s", ascending=False).index)
        positions = [section.index(f">{name}<") for name in ranked]
        assert positions == sorted(positions)
        functions = html.split("<section id='functions'>")[1].split("</section>")[0]
        assert "<th>total</th><th>self</th>" in functions


def test_memory_over_time_per_process(report: tuple[Path, list[dict[str, object]]]) -> None:
    """A figure of resident memory over time, one line per process, from each call's end RSS."""
    folder, rows = report
    assert (folder / "memory_over_time.png").stat().st_size > 10_000
    df = load_run(folder.parent / "logs")
    data = figdata.of_frame(df, summarize(df))
    by_lane = data.memory.groupby("lane")["mib"].max()
    expected = {40.0 + int(r["pid"]) % 7 for r in rows if r["cpu_time_s"] == r["cpu_time_s"]}  # tracked
    assert set(by_lane) == expected
    assert "Resident memory over time" in (folder / "report.html").read_text()


def test_captured_log_lines(report: tuple[Path, list[dict[str, object]]]) -> None:
    """The captured logging records appear with their level and process, counted by level."""
    folder, _rows = report
    html = (folder / "report.html").read_text()
    section = html.split("<section id='logs'>")[1].split("</section>")[0]
    assert "1 log line by level: INFO: 1" in section
    assert "hello from the test" in section and "MainProcess (999)" in section


def test_busy_panel_counts_top_level_calls_only(tmp_path: Path) -> None:
    """Nested calls do not add to their parent's busy share: the busy panel integrates to the busy time
    (two processes, each busy half the time in calls that spend most of it in a nested child)."""
    rows = []
    for worker in (1, 2):
        at = lf.T0
        for i in range(400):
            parent = f"w{worker}-{i}"
            rows.append(lf.row("busy-run", parent, "outer", at, 0.010, 100 + worker))
            inner_at = at + pd.Timedelta(milliseconds=1)
            rows.append(
                lf.row("busy-run", parent + "-c", "inner", inner_at, 0.008, 100 + worker, parent_id=parent)
            )
            at += pd.Timedelta(milliseconds=20)
    lf.write_run(tmp_path / "logs", rows)
    df = load_run(tmp_path / "logs")
    summary = summarize(df)
    fig = plot_timeline(df, summary=summary)
    (stairs,) = [p for p in fig.axes[1].patches if isinstance(p, StepPatch)]
    values, edges = stairs.get_data().values, stairs.get_data().edges
    seconds_per_unit = summary.run["wall_span_s"] / (edges[-1] - edges[0])
    integral = float((values * np.diff(edges)).sum()) * seconds_per_unit
    assert integral == pytest.approx(summary.run["busy_s"], rel=0.02)


class TestTextDefects:
    def test_lane_labels_keep_the_pid(self) -> None:
        """A long process name is cut before its pid, never through it."""
        label = _common.lane_label("Dask Worker process (from Nanny) with a long name (123456)", 40)
        assert label.endswith("… (123456)") and len(label) <= 40

    def test_no_function_colour_is_the_error_red(self) -> None:
        """The error marks' red is not any function's colour."""
        assert "#d62728" not in _common.PALETTE

    def test_cpu_caption_is_capitalised(self) -> None:
        """The CPU caption does not read 'cPU time'."""
        assert "cPU" not in CAPTIONS["cpu_utilisation"]

    def test_one_host_partition_is_singular(self, tmp_path: Path) -> None:
        """A root with one host partition says '1 host partition'."""
        lf.write_hosts(tmp_path, "cluster-run", {"alpha": 0.0})
        run = scanned.open_run(tmp_path)
        assert run is not None and run.selection.endswith(", 1 host partition")

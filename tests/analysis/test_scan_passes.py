"""The scanned analysis reads the rows in as few passes as it can, and gives the same answers.

Each pass over a big run costs seconds (issue 21's wall-time targets), so what one pass reads is kept for
the next step instead of read again: the slowest calls (the timeline's marks and the report's table), the
failed calls (the error events and the timeline's red x), the run's id. The run view of a one-run
directory has no filter to evaluate per row, Parquet text columns without nulls are read as they are
(DuckDB keeps them dictionary-encoded), and the figure data can be aggregated on a thread while the
summary's figures are drawn. The answers are checked against the DataFrame path (every row in pandas).
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mpmon import schema
from mpmon.analysis import figdata, load_run, scanned, stats

from . import logfactory as lf


@pytest.fixture
def parquet_run(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """One run (Parquet results, timing.log, error.log): 4 workers of 15 tasks, nested steps, errors."""
    log_dir = tmp_path / "logs"
    rows = lf.make_run(lf.RUN_A, workers=4, tasks=15)
    lf.write_run(log_dir, rows, table="parquet", tag="passes")
    return log_dir, rows


def _view_sql(run: Any, name: str) -> str:
    """The SQL text of one of the scan's views."""
    con: duckdb.DuckDBPyConnection = run.source.con
    return str(con.sql("SELECT sql FROM duckdb_views() WHERE view_name = ?", params=[name]).fetchall()[0][0])


def test_the_run_view_filters_only_when_it_must(parquet_run: tuple[Path, Any], tmp_path: Path) -> None:
    """A one-run directory's view is the whole table (no run_id test per row), with the same summary;
    with two runs the view still picks the chosen one and counts only its calls."""
    log_dir, rows = parquet_run
    two_dir, rows_a, rows_b = lf.write_two_runs(tmp_path / "two")
    for path, run_id, want in ((log_dir, None, rows), (two_dir, lf.RUN_A, rows_a)):
        run = scanned.open_run(path, run_id)
        assert run is not None and run.source is not None
        try:
            view = _view_sql(run, scanned.RUN_VIEW).upper()
            summary = scanned.summarize_run(run)
        finally:
            run.source.close()
        assert ("WHERE" in view) == (path == two_dir)
        assert summary.run["run_ids"] == [lf.RUN_A] and summary.run["calls"] == len(want)
        assert run.run_ids == (lf.RUN_A,)
    assert len(rows_a) != len(rows_b)


def test_parquet_text_without_nulls_is_read_as_it_is(tmp_path: Path) -> None:
    """A text column whose Parquet statistics count no null is not wrapped in coalesce; one with a null
    still is, and its null reads as "" (the function table equals the DataFrame path's)."""
    log_dir = tmp_path / "logs"
    rows = lf.make_run(lf.RUN_A, workers=3, tasks=10)
    rows[3] = {**rows[3], "module": None, "thread_name": None}
    lf.write_run(log_dir, rows, table="parquet", tag="nulls")
    part = next((log_dir / schema.RESULTS_PARQUET).glob("*.parquet"))
    assert pq.read_table(part)["module"].null_count == 1
    run = scanned.open_run(log_dir)
    assert run is not None and run.source is not None
    try:
        calls = _view_sql(run, "calls").replace('"', "").lower()
        summary = scanned.summarize_run(run)
    finally:
        run.source.close()
    assert "cast(function as varchar) as function," in calls  # no coalesce: no null in the part
    assert "coalesce(cast(function" not in calls
    assert "coalesce(cast(module as varchar), '') as module," in calls
    base = stats.summarize(load_run(log_dir))
    assert list(summary.functions.index) == list(base.functions.index)
    assert list(summary.functions["module"].astype(str)) == list(base.functions["module"].astype(str))
    assert (summary.functions["calls"] == base.functions["calls"]).all()


def test_the_slowest_calls_are_read_once(parquet_run: tuple[Path, Any]) -> None:
    """One Top-N read gives the timeline's marks (its first five) and the report's slowest calls: as
    slow as the DataFrame path's, with their arguments."""
    log_dir, _rows = parquet_run
    run = scanned.open_run(log_dir)
    assert run is not None and run.source is not None
    try:
        summary = scanned.summarize_run(run)
        kept = summary.extra["slowest_rows"]
        slowest = scanned.slowest_calls(run, summary, 10)
    finally:
        run.source.close()
    assert len(kept) == figdata.SLOWEST_ROWS
    frame = load_run(log_dir)
    base = stats.summarize(frame)
    want = stats.slowest_calls(frame, 10, base.by_process, base.by_function)
    assert list(slowest.index) == list(kept["call_id"].head(10))
    np.testing.assert_allclose(slowest["duration_s"], want["duration_s"])  # (ties ordered by call id)
    marks = summary.extra["figures"].marks
    t0 = summary.extra["figures"].t0_us
    np.testing.assert_array_equal(marks["start"].to_numpy(), kept["start_us"].head(5).to_numpy() - t0)
    args = frame.set_index("call_id")["args"].astype(str)
    assert list(slowest["args"]) == list(args[slowest.index])


def test_figure_data_on_a_thread_equals_the_direct_one(parquet_run: tuple[Path, Any]) -> None:
    """summarize_run(background=True) aggregates the figure data on a thread (a Future until waited
    for): what it holds is what the direct call gives."""
    log_dir, _rows = parquet_run
    found = []
    for background in (True, False):
        run = scanned.open_run(log_dir)
        assert run is not None and run.source is not None
        try:
            summary = scanned.summarize_run(run, background=background)
            assert isinstance(summary.extra["figures"], Future) == background
            data = figdata.resolved(summary)
        finally:
            run.source.close()
        assert isinstance(data, figdata.FigureData)
        found.append(data)
    threaded, direct = found
    np.testing.assert_allclose(threaded.occupancy, direct.occupancy, rtol=1e-12)
    assert threaded.histograms.keys() == direct.histograms.keys()
    for name, histogram in threaded.histograms.items():
        np.testing.assert_array_equal(histogram.counts, direct.histograms[name].counts)
    pd.testing.assert_frame_equal(threaded.marks, direct.marks)
    key = ["lane", "end"]
    pd.testing.assert_frame_equal(
        threaded.errors.sort_values(key, ignore_index=True), direct.errors.sort_values(key, ignore_index=True)
    )
    assert len(threaded.errors) > 0

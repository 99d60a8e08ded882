"""The scanned analysis (DuckDB over the files) gives today's exact answers, and its memory grows with
functions and processes, not with calls.

The expected figures come from the DataFrame path kept as the reference: ``stats.summarize`` over every
row loaded into pandas (``load_run``), the algorithm of the analysis before it scanned, and plain pandas
for self time. The synthetic runs are the benchmark's generator (``benchmarks/bench_analysis.py``): 50
functions, 8 workers, nested calls, errors, untracked functions, a rotated timing.log and error.log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmarks import bench_analysis
from mpmon.analysis import load_run, scanned, stats
from mpmon.analysis.error_groups import error_groups
from mpmon.analysis.load import read_log_dir, select_run
from mpmon.analysis.selection import Run

pytestmark = pytest.mark.slow  # a 1M-row run is written once for the module (about a minute in all)

ROWS = 1_000_000


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1M-row synthetic run, Parquet results, written once for this module."""
    log_dir = tmp_path_factory.mktemp("million") / "logs"
    bench_analysis.write_log_dir(log_dir, bench_analysis.chunks(ROWS), "parquet")
    return log_dir


@pytest.fixture(scope="module")
def loaded(million: Path) -> Run:
    """The run loaded into pandas, every row (the DataFrame path)."""
    return select_run(read_log_dir(million))


@pytest.fixture(scope="module")
def both(million: Path, loaded: Run) -> tuple[Run, stats.Summary, pd.DataFrame, stats.Summary]:
    """The scanned run and its summary; the loaded rows and their summary by the DataFrame path."""
    run = scanned.open_run(million)
    assert run is not None and run.source is not None
    return run, scanned.summarize_run(run), loaded.calls, stats.summarize(loaded.calls)


def _close(got: pd.Series, want: pd.Series, rel: float = 1e-9) -> None:
    """Equal values, floats to ``rel`` (sums in another order), missing where missing."""
    got, want = got.astype(float), want.astype(float)
    assert (got.isna() == want.isna()).all(), f"{got.name}: missing values differ"
    kept = want.notna()
    np.testing.assert_allclose(got[kept], want[kept], rtol=rel, atol=1e-12, err_msg=str(got.name))


class TestMillionRows:
    """A million rows scanned agree with the same rows loaded into pandas."""

    def test_function_table(self, both: Any) -> None:
        """calls, total, self, mean, min, p25-p99 (exact, pandas' linear rule), max, CPU, memory, errors,
        processes: every function, every column, in the same order."""
        _run, summary, _frame, base = both
        got, want = summary.functions, base.functions
        assert list(got.index) == list(want.index)
        assert (got["module"].astype(str) == want["module"].astype(str)).all()
        for name in stats.FUNCTION_COLUMNS[1:]:
            _close(got[name], want[name])

    def test_self_time(self, both: Any) -> None:
        """Self time = total minus the time of monitored children (plain pandas over the rows)."""
        _run, summary, frame, _base = both
        children = frame[frame["parent_id"] != ""].groupby("parent_id", observed=True)["duration_s"].sum()
        own = frame["duration_s"] - frame["call_id"].map(children).astype(float).fillna(0.0)
        want = own.groupby(frame["function"].astype(str)).sum()
        _close(summary.functions["self_s"].rename("self_s"), want.reindex(summary.functions.index), 1e-8)
        assert (summary.functions["self_s"] < summary.functions["total_s"]).any()

    def test_process_table_and_efficiency(self, both: Any) -> None:
        """Busy time (union of intervals), idle gaps, utilisation, workload and parallel efficiency."""
        _run, summary, _frame, base = both
        got, want = summary.processes, base.processes
        assert list(got.index) == list(want.index)
        for name in ("calls", "busy_s", "idle_s", "idle_gaps", "longest_gap_s", "utilisation"):
            _close(got[name], want[name])
        assert list(got["workload"]) == list(want["workload"])
        for key, value in base.run.items():
            if isinstance(value, float):
                assert summary.run[key] == pytest.approx(value, rel=1e-9), key
            else:
                assert summary.run[key] == value, key

    def test_slowest_calls(self, both: Any) -> None:
        """The 20 slowest calls: the same calls, durations, processes, functions and arguments."""
        run, summary, frame, base = both
        got = scanned.slowest_calls(run, summary, 20)
        want = stats.slowest_calls(frame, 20, base.by_process, base.by_function)
        assert list(got.index) == list(want.index)
        for name in ("function", "process", "status", "args"):
            assert list(got[name].astype(str)) == list(want[name].astype(str)), name
        _close(got["duration_s"], want["duration_s"])
        _close(got["offset_s"], want["offset_s"])

    def test_error_groups(self, both: Any, loaded: Run) -> None:
        """Error events and their groups (type x function, counts, first and last) are the same."""
        run, _summary, _frame, _base = both
        assert len(run.errors) == len(loaded.errors) > 0
        got = error_groups(run.errors, run.error_lines).set_index(["error_type", "function"])
        want = error_groups(loaded.errors, loaded.error_lines).set_index(["error_type", "function"])
        assert (
            got[["count", "first", "last"]].sort_index().equals(want[["count", "first", "last"]].sort_index())
        )

    def test_figures_are_aggregates(self, both: Any) -> None:
        """What the figures hold is sized by processes, functions and bins: the histograms count every
        positive duration, the timeline's occupancy adds up to the busy time of top-level calls."""
        _run, summary, _frame, base = both
        data = summary.extra["figures"]
        assert data.calls is None and len(data.marks) == 5
        for name, histogram in data.histograms.items():
            assert histogram.counts.sum() == base.functions.loc[name, "calls"]
        busy = (
            np.clip(data.occupancy.sum(axis=1), 0, 1).sum() * data.span_us / 1e6 / len(data.occupancy[0, 0])
        )
        assert busy == pytest.approx(base.run["busy_s"], rel=1e-3)


def test_list_runs_reads_no_call_rows(million: Path, loaded: Run) -> None:
    """--list-runs of a scanned directory: the run, its calls, processes and errors."""
    runs = scanned.list_runs(million)
    assert runs is not None
    (row,) = runs.itertuples()
    assert (row.calls, row.processes, row.tag) == (ROWS, 8, "bench")
    assert row.errors == len(loaded.errors)


def test_function_durations_for_compare(million: Path, both: Any) -> None:
    """The small public function ``compare`` reads: per function calls, total and quantiles, exact."""
    got = scanned.function_durations(million)
    want = both[3].functions
    for name in ("calls", "total_s", "p50_s", "p95_s", "p99_s", "max_s"):
        _close(got[name].reindex(want.index), want[name])


def test_demo_run_agrees(demo_report: Path) -> None:
    """On examples/demo.py's real run, the report's tables (scanned) equal the DataFrame path's."""
    logs = demo_report.parents[1] / "logs"
    base = stats.summarize(load_run(logs))
    table = pd.read_csv(demo_report / "aggregate.csv", index_col="function")
    assert list(table.index) == list(base.functions.index)
    for name in stats.FUNCTION_COLUMNS[1:]:
        _close(table[name].rename(name), base.functions[name], 1e-12)
    processes = pd.read_csv(demo_report / "processes.csv", index_col="process")
    for name in ("calls", "busy_s", "idle_s", "utilisation"):
        _close(processes[name].rename(name), base.processes[name], 1e-12)
    summary = json.loads((demo_report / "summary.json").read_text())["run"]
    assert summary["parallel_efficiency"] == pytest.approx(base.run["parallel_efficiency"], rel=1e-12)


def test_memory_grows_with_processes_not_calls(tmp_path: Path, million: Path) -> None:
    """Analysing 20x more calls (1M against 50k rows, Parquet) takes at most 1.5x the peak RSS of
    ``mpmon-analyze`` (measured in a fresh process)."""
    small = tmp_path / "small" / "logs"
    bench_analysis.write_log_dir(small, bench_analysis.chunks(ROWS // 20), "parquet")
    peaks = {}
    for rows, log_dir in ((ROWS // 20, small), (ROWS, million)):
        command = [sys.executable, "-m", "mpmon.analysis", "--logdir", str(log_dir), "--out", str(tmp_path)]
        wrapped = [sys.executable, "-c", bench_analysis._WRAPPER, *command]
        done = subprocess.run(wrapped, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout)
        assert result["returncode"] == 0, result["stderr"]
        peaks[rows] = result["peak_rss_mb"]
    print(f"peak RSS of mpmon-analyze, MB by rows: {peaks}")
    assert peaks[ROWS] <= 1.5 * peaks[ROWS // 20], peaks

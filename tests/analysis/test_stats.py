"""Aggregates: per function, per process and for the run, checked against the synthetic run's known values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmon.analysis import load_run, summarize
from mpmon.analysis.stats import (
    FUNCTION_COLUMNS,
    PROCESS_COLUMNS,
    busy_intervals,
    function_groups,
    slowest_calls,
    workload_functions,
)

from . import logfactory as lf
from .logfactory import RUN_A


@pytest.fixture
def summary_and_rows(one_run: tuple[Path, list[dict[str, Any]]]) -> tuple[Any, list[dict[str, Any]]]:
    return summarize(load_run(one_run[0])), one_run[1]


class TestFunctionTable:
    def test_columns_and_order(self, summary_and_rows: tuple[Any, Any]) -> None:
        """Every documented column; the function with the most total time first."""
        table = summary_and_rows[0].functions
        assert list(table.columns) == list(FUNCTION_COLUMNS)
        assert table["total_s"].is_monotonic_decreasing

    def test_counts_and_totals_match_the_rows(self, summary_and_rows: tuple[Any, Any]) -> None:
        """Calls, total, mean and max per function equal the raw rows'."""
        summary, rows = summary_and_rows
        raw = lf.frame(rows).groupby("function")["duration_s"].agg(["size", "sum", "mean", "max"])
        table = summary.functions.loc[raw.index]
        assert table["calls"].tolist() == raw["size"].tolist()
        np.testing.assert_allclose(table["total_s"], raw["sum"])
        np.testing.assert_allclose(table["mean_s"], raw["mean"])
        np.testing.assert_allclose(table["max_s"], raw["max"])

    def test_quantiles(self) -> None:
        """p50, p95 and p99 are the linear-interpolation quantiles of the durations."""
        at = [lf.T0 + pd.Timedelta(seconds=i) for i in range(100)]
        rows = [lf.row("r", f"c{i}", "f", at[i], float(i + 1), 1) for i in range(100)]
        table = summarize(_typed(rows)).functions
        assert table.loc["f", "p50_s"] == pytest.approx(50.5)
        assert table.loc["f", "p95_s"] == pytest.approx(95.05)
        assert table.loc["f", "p99_s"] == pytest.approx(99.01)
        assert table.loc["f", "min_s"] == 1.0

    def test_cpu_utilisation_is_cpu_over_wall(self, summary_and_rows: tuple[Any, Any]) -> None:
        """CPU time / duration (0.5 in the synthetic run); missing where CPU was not tracked."""
        table = summary_and_rows[0].functions
        assert table.loc["task", "cpu_util"] == pytest.approx(0.5)
        assert table.loc["task", "cpu_s"] == pytest.approx(table.loc["task", "total_s"] * 0.5)
        assert np.isnan(table.loc["io_wait", "cpu_util"]) and np.isnan(table.loc["io_wait", "cpu_s"])

    def test_memory_columns(self, summary_and_rows: tuple[Any, Any]) -> None:
        """Memory delta mean and max, and final memory max, per function."""
        table = summary_and_rows[0].functions
        assert table.loc["task", "mem_delta_mean_mib"] == pytest.approx(0.25)
        assert table.loc["task", "mem_delta_max_mib"] == pytest.approx(0.25)
        final = max(40.0 + pid % 7 for pid in (1001, 1002))
        assert table.loc["task", "mem_final_max_mib"] == pytest.approx(final)
        assert np.isnan(table.loc["io_wait", "mem_delta_mean_mib"])

    def test_errors_and_processes(self, summary_and_rows: tuple[Any, Any]) -> None:
        """Error count and rate per function, and how many processes ran it."""
        table = summary_and_rows[0].functions
        assert table.loc["flaky", "errors"] == table.loc["flaky", "calls"] == 2
        assert table.loc["flaky", "error_rate"] == 1.0
        assert table.loc["task", "errors"] == 0
        assert table.loc["task", "processes"] == 2 and table.loc["main", "processes"] == 1

    def test_one_name_in_two_modules_is_two_functions(self) -> None:
        """Functions that share a name across modules are told apart as module.function."""
        rows = [lf.row("r", f"c{i}", "run", lf.T0 + pd.Timedelta(seconds=i), 1.0, 1) for i in range(4)]
        for i, r in enumerate(rows):
            r["module"] = "a" if i % 2 else "b"
        table = summarize(_typed(rows)).functions
        assert sorted(table.index) == ["a.run", "b.run"]
        assert function_groups(_typed(rows)).names == ["b.run", "a.run"]


class TestProcessTable:
    def test_busy_time_counts_nested_calls_once(self, summary_and_rows: tuple[Any, Any]) -> None:
        """A worker's busy time is the union of its calls: a nested step adds nothing to its task."""
        processes = summary_and_rows[0].processes
        assert list(processes.columns) == list(PROCESS_COLUMNS)
        worker = processes.loc["ForkPoolWorker-1 (1001)"]
        assert worker["calls"] == 6 + 5 + 1  # tasks and flaky calls, steps, io_wait
        assert worker["busy_s"] == pytest.approx(5 * lf.TASK_S + lf.FLAKY_S + lf.IO_S)

    def test_idle_gaps(self, summary_and_rows: tuple[Any, Any]) -> None:
        """Pauses between calls add up to the idle time; those of a millisecond or more are counted."""
        worker = summary_and_rows[0].processes.loc["ForkPoolWorker-1 (1001)"]
        # gaps after four tasks, after the flaky call, after the last task
        assert worker["idle_s"] == pytest.approx(4 * 0.002 + 0.001 + 0.002, abs=1e-5)
        assert worker["idle_gaps"] == 6
        assert worker["longest_gap_s"] == pytest.approx(0.002, abs=1e-6)
        assert worker["idle_s"] + worker["busy_s"] == pytest.approx(
            (worker["last_end"] - worker["first_start"]).total_seconds()
        )

    def test_processes_in_order_of_first_call(self, summary_and_rows: tuple[Any, Any]) -> None:
        """MainProcess first (it starts the run), then the workers."""
        assert summary_and_rows[0].processes.index[0] == "MainProcess (1000)"


class TestRunTotals:
    def test_wall_span_and_parallel_efficiency(self, summary_and_rows: tuple[Any, Any]) -> None:
        """Efficiency is the sum of busy time over processes x span."""
        summary, rows = summary_and_rows
        run = summary.run
        span = (
            max(pd.Timestamp(r["end_time"]) for r in rows) - min(pd.Timestamp(r["start_time"]) for r in rows)
        ).total_seconds()
        assert run["wall_span_s"] == pytest.approx(span)
        assert run["parallel_efficiency"] == pytest.approx(summary.processes["busy_s"].sum() / (3 * span))
        assert run["calls"] == len(rows) and run["processes"] == 3
        assert run["errors"] == sum(r["status"] == "error" for r in rows)
        assert run["run_ids"] == [RUN_A]


def _gather_run(main_only: bool = False) -> pd.DataFrame:
    """Two workers run ``task`` back to back with gaps; the main process gathers in one 24 µs call."""
    at = lf.T0
    rows = [lf.row("r", "gather", "gather", at + pd.Timedelta(seconds=0.999976), 24e-6, 1000)]
    for worker in () if main_only else (1001, 1002):
        for i in range(10):
            start = at + pd.Timedelta(seconds=i * 0.1 + (worker - 1001) * 0.01)
            rows.append(lf.row("r", f"t{worker}-{i}", "task", start, 0.08 - (worker - 1001) * 0.01, worker))
    if main_only:
        rows += [
            lf.row("r", f"m{i}", "task", at + pd.Timedelta(seconds=i * 0.1), 0.05, 1000) for i in range(10)
        ]
    return _typed(rows)


class TestParallelEfficiency:
    def test_only_processes_that_ran_the_workload_count(self) -> None:
        """A main process whose one short call gathers results is not a lane that did not work: the
        headline figure is the mean busy / span of the workers, as the processes table shows them."""
        summary = summarize(_gather_run())
        processes = summary.processes
        assert summary.run["workload_functions"] == ["task"]
        assert processes["workload"].to_dict() == {
            "ForkPoolWorker-1 (1001)": True,
            "ForkPoolWorker-2 (1002)": True,
            "MainProcess (1000)": False,
        }
        workers = processes[processes["workload"]]
        assert summary.run["parallel_efficiency"] == pytest.approx(workers["utilisation"].mean())
        assert summary.run["parallel_efficiency"] == pytest.approx((0.8 + 0.7) / 2, rel=1e-3)
        assert summary.run["other_processes"] == ["MainProcess (1000)"]

    def test_a_run_of_the_main_process_alone(self) -> None:
        """When the main process is the only caller it is measured, not shown as 0%."""
        summary = summarize(_gather_run(main_only=True))
        assert summary.run["workload_processes"] == 1
        assert summary.run["parallel_efficiency"] == pytest.approx(
            (10 * 0.05 + 24e-6) / summary.run["wall_span_s"], rel=1e-6
        )

    def test_workload_is_the_top_level_functions_with_most_time(self) -> None:
        """Top-level functions, largest first, until 95% of top-level time; nested calls never count."""
        df = _gather_run().copy()  # writable: the loader's frames may be read-only views of Arrow data
        assert workload_functions(df) == ["task"]
        df.loc[df["function"] == "gather", "duration_s"] = 1.0  # now 40% of top-level time
        assert workload_functions(df) == ["task", "gather"]


_CALLS = st.tuples(st.integers(0, 1), st.integers(0, 1000), st.integers(0, 300))


@settings(max_examples=40, deadline=None)
@given(st.lists(_CALLS, min_size=1, max_size=40))
def test_busy_intervals_are_the_union_of_calls(calls: list[tuple[int, int, int]]) -> None:
    """Merged busy intervals cover exactly the microseconds some call of that process covered."""
    rows = [
        lf.row("r", f"c{i}", "f", lf.T0 + pd.Timedelta(microseconds=s), d / 1e6, 1000 + p)
        for i, (p, s, d) in enumerate(calls)
    ]
    intervals = busy_intervals(_typed(rows))
    for pid in {p for p, _, _ in calls}:
        covered = set()
        for p, s, d in calls:
            if p == pid:
                covered |= set(range(s, s + d))
        mine = intervals[intervals["process"].str.endswith(f"({1000 + pid})")]
        t0 = lf.T0.value // 1000
        merged = set()
        for start, end in zip(mine["start_us"] - t0, mine["end_us"] - t0, strict=True):
            merged |= set(range(int(start), int(end)))
        assert merged == covered
        assert (mine["start_us"].iloc[1:].to_numpy() > mine["end_us"].iloc[:-1].to_numpy()).all()


def _typed(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as the loader types them."""
    from mpmon.analysis.load import _to_pandas, _typed_arrow

    return _to_pandas(_typed_arrow(lf.frame(rows), "test", {}))


def test_slowest_calls() -> None:
    """The longest calls first, with their process label and where they start on the timeline."""
    slowest = slowest_calls(_gather_run(), top=3)
    assert list(slowest["duration_s"]) == pytest.approx([0.08] * 3)
    assert set(slowest["process"]) == {"ForkPoolWorker-1 (1001)"}
    assert slowest["offset_s"].min() >= 0 and slowest.index.name == "call_id"

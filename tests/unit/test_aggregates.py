"""The collector's per-second figures (collector/aggregates.py), fed the call tables the writer builds."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from mpmon.collector import tables
from mpmon.collector.aggregates import Aggregates
from mpmon.wire import call_record

PREFIX = "01234567-89ab-cdef-0123-"


def part(pid: int, durations_ns: list[int], start_ns: int, function: str = "f", fail_every: int = 0,
         parent: int = 0) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:  # fmt: skip
    """A batch of one process: calls of `function` lasting `durations_ns`, 1 ms apart."""
    calls = [
        call_record(
            "timer",
            function,
            "m",
            pid * 100_000 + i + 1,
            parent,
            start_ns + i * 1_000_000,
            d,
            -1,
            -1,
            -1,
            "MainThread",
            "ValueError" if fail_every and i % fail_every == 0 else "",
            None,
            (None, None, None),
        )
        for i, d in enumerate(durations_ns)
    ]
    return (pid, f"Worker-{pid}", "h", PREFIX, ""), calls


def feed(figures: Aggregates, parts: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]) -> None:
    table = tables.call_table(parts, "run").table  # type: ignore[arg-type]
    figures.add_calls(table, [(m[2], m[0], m[1], len(c)) for m, c in parts])


class TestFunctions:
    """Per function: calls, errors, and percentiles from a log-binned histogram."""

    def test_counts_and_percentiles_within_ten_percent(self) -> None:
        rng = np.random.default_rng(1)
        durations = [int(d) for d in rng.lognormal(np.log(200_000), 0.8, 3_000)]
        figures = Aggregates()
        feed(figures, [part(1, durations, time.time_ns() - 30 * 10**9, fail_every=100)])
        (f,) = figures.figures()
        assert (f.name, f.calls, f.errors) == ("f", 3_000, 30)
        assert f.p50_s == pytest.approx(np.percentile(durations, 50) / 1e9, rel=0.1)
        assert f.p95_s == pytest.approx(np.percentile(durations, 95) / 1e9, rel=0.1)
        assert f.total_s == pytest.approx(sum(durations) / 1e9)

    def test_recent_window_holds_only_recent_complete_seconds(self) -> None:
        now = time.time()
        figures = Aggregates()
        old = part(1, [1_000] * 10, int((now - 60) * 1e9))
        recent = part(2, [1_000] * 7, int((int(now) - 4) * 1e9), function="g")  # all within one second
        feed(figures, [old, recent])
        first, last = figures.window(now)
        recent_calls = {f.name: f.calls for f in figures.figures(first, last)}
        assert recent_calls == {"f": 0, "g": 7}
        assert {f.name: f.calls for f in figures.figures()} == {"f": 10, "g": 7}


class TestProcessesAndCalls:
    """Per process: calls, busy time of top-level calls only, last memory; the slowest calls."""

    def test_busy_counts_top_level_calls_only(self) -> None:
        start = time.time_ns() - 10 * 10**9
        figures = Aggregates()
        feed(figures, [part(1, [5_000_000] * 4, start), part(1, [1_000_000] * 4, start, "inner", parent=7)])
        process = figures.processes[("h", 1)]
        assert process.calls == 8
        assert process.busy_s == pytest.approx(0.020)

    def test_slowest_calls_are_the_ten_longest(self) -> None:
        durations = list(range(1_000, 101_000, 1_000))
        figures = Aggregates()
        feed(figures, [part(3, durations[:50], time.time_ns()), part(4, durations[50:], time.time_ns())])
        feed(figures, [part(3, [10, 20], time.time_ns())])
        assert [c["duration_s"] for c in figures.slowest()] == [d / 1e9 for d in durations[::-1][:10]]


class TestErrors:
    """A failed call counts once, whichever of its row and its caught error came first."""

    def test_row_and_caught_error_of_one_call_count_once(self) -> None:
        figures = Aggregates()
        feed(figures, [part(5, [1_000, 2_000], time.time_ns(), fail_every=2)])  # call 500001 failed
        assert figures.errors == 1
        merged = figures.add_error(f"{PREFIX}{500_001:012x}", {"function": "f", "error_message": "bad"})
        assert merged is False and figures.errors == 1
        assert figures.latest_errors[-1]["error_message"] == "bad"
        assert figures.add_error("other", {"function": "g"}) is True and figures.errors == 2

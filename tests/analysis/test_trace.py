"""to_chrome_trace and ``mpmon-analyze --trace``: one valid Chrome trace per run, whose slices nest."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import REAL_CALLS
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmon import schema
from mpmon.analysis import load_run, to_chrome_trace
from mpmon.analysis.cli import main
from mpmon.analysis.trace import NEST_TOLERANCE_US

from . import logfactory as lf
from .logfactory import OneRun

Trace = dict[str, Any]
Event = dict[str, Any]
ARGS = {"call_id", "parent_id", "status", "error_type", "duration_s", "cpu_time_s", "mem_delta_mib"}


# --- helpers -------------------------------------------------------------------------------------------


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read_trace(path: Path) -> Trace:
    """A trace file parsed strictly: ASCII, and NaN or Infinity rejected."""
    data: Trace = json.loads(path.read_text(encoding="ascii"), parse_constant=_no_constants)
    return data


def write_and_read(df: pd.DataFrame, folder: Path) -> Trace:
    """Write the trace of ``df`` into ``folder`` and read it back."""
    return read_trace(to_chrome_trace(df, folder / "trace.json"))


def slices(trace: Trace) -> list[Event]:
    return [e for e in trace["traceEvents"] if e["ph"] == "X"]


def by_call(trace: Trace) -> dict[str, Event]:
    return {e["args"]["call_id"]: e for e in slices(trace)}


def names(trace: Trace, kind: str) -> dict[tuple[int, int], str]:
    """The ``process_name`` or ``thread_name`` metadata: (pid, tid) -> name."""
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"] if e["name"] == kind}


def assert_nested(trace: Trace) -> None:
    """Per (pid, tid), sorted by ts then -dur, each slice ends before the next starts or contains it."""
    lanes: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for event in slices(trace):
        lanes[event["pid"], event["tid"]].append(event)
    for lane, events in lanes.items():
        events.sort(key=lambda e: (e["ts"], -e["dur"]))
        open_ends: list[int] = []
        for event in events:
            while open_ends and open_ends[-1] <= event["ts"]:
                open_ends.pop()
            assert not open_ends or event["ts"] + event["dur"] <= open_ends[-1], (lane, event)
            open_ends.append(event["ts"] + event["dur"])


def call(
    call_id: str,
    start_us: int,
    dur_us: int,
    *,
    parent: str = "",
    pid: int = 101,
    thread: str = "MainThread",
    function: str | None = None,
) -> dict[str, Any]:
    """One results row starting ``start_us`` after lf.T0 and lasting ``dur_us``."""
    at = lf.T0 + pd.Timedelta(microseconds=start_us)
    row = lf.row("run-t", call_id, function or call_id, at, dur_us / 1e6, pid, parent_id=parent)
    row["thread_name"] = thread
    return row


def calls(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows typed as load_run returns them."""
    df = lf.frame(rows)
    for name in schema.TIMESTAMP_COLUMNS:
        df[name] = pd.to_datetime(df[name], utc=True).astype("datetime64[us, UTC]")
    return df


@pytest.fixture
def synthetic(one_run: OneRun, tmp_path: Path) -> tuple[pd.DataFrame, Trace]:
    """The synthetic run (a main call, workers with nested and failing calls) and its trace."""
    df = load_run(one_run[0])
    return df, write_and_read(df, tmp_path)


# --- the format ----------------------------------------------------------------------------------------


class TestFormat:
    def test_one_json_object_with_the_events_last(self, synthetic: tuple[pd.DataFrame, Trace]) -> None:
        """displayTimeUnit, otherData, then traceEvents: Perfetto stops reading at a key it does not know."""
        df, trace = synthetic
        assert list(trace) == ["displayTimeUnit", "otherData", "traceEvents"]
        assert trace["displayTimeUnit"] == "ms"
        assert trace["otherData"]["run_ids"] == sorted(set(df["run_id"]))
        assert trace["otherData"]["calls"] == len(df)

    def test_one_slice_per_row(self, synthetic: tuple[pd.DataFrame, Trace]) -> None:
        """Every row is one X event, named by its call id in args."""
        df, trace = synthetic
        assert len(slices(trace)) == len(df)
        assert sorted(by_call(trace)) == sorted(df["call_id"])

    def test_metadata_first_then_slices_sorted_by_ts(self, synthetic: tuple[pd.DataFrame, Trace]) -> None:
        """Metadata events come first; X events follow in ts order, a parent before a child at equal ts."""
        events = synthetic[1]["traceEvents"]
        phases = [e["ph"] for e in events]
        assert phases == sorted(phases, key=lambda ph: ph != "M")
        keys = [(e["ts"], -e["dur"]) for e in slices(synthetic[1])]
        assert keys == sorted(keys)

    def test_times_are_integer_microseconds_from_the_first_start(
        self, synthetic: tuple[pd.DataFrame, Trace]
    ) -> None:
        """ts counts microseconds from otherData.start_time (the first start); dur is end - start."""
        df, trace = synthetic
        t0 = df["start_time"].min()
        assert trace["otherData"]["start_time"] == t0.isoformat()
        events = by_call(trace)
        for row in df.itertuples():
            event = events[row.call_id]
            assert isinstance(event["ts"], int) and isinstance(event["dur"], int)
            assert event["ts"] == (row.start_time - t0) // pd.Timedelta(microseconds=1)
            assert event["dur"] == (row.end_time - row.start_time) // pd.Timedelta(microseconds=1)
        assert min(e["ts"] for e in events.values()) == 0

    def test_slices_carry_function_source_and_args(self, synthetic: tuple[pd.DataFrame, Trace]) -> None:
        """name = function, cat = source, args = ids, status, error type and resources, exactly."""
        df, trace = synthetic
        events = by_call(trace)
        for row in df.itertuples():
            event = events[row.call_id]
            assert (event["name"], event["cat"], event["pid"]) == (row.function, row.source, row.pid)
            assert set(event["args"]) == ARGS
            assert event["args"]["parent_id"] == row.parent_id
            assert event["args"]["duration_s"] == row.duration_s

    def test_untracked_resources_are_null(self, synthetic: tuple[pd.DataFrame, Trace]) -> None:
        """A call measured without CPU or memory has null there, never NaN."""
        untracked = [e for e in slices(synthetic[1]) if e["name"] == "io_wait"]
        assert untracked
        assert all(e["args"]["cpu_time_s"] is None and e["args"]["mem_delta_mib"] is None for e in untracked)

    def test_error_calls_are_marked(self, synthetic: tuple[pd.DataFrame, Trace]) -> None:
        """A failed call is coloured "terrible" and names its exception; no other call is coloured."""
        for event in slices(synthetic[1]):
            failed = event["args"]["status"] == "error"
            assert event.get("cname") == ("terrible" if failed else None)
            assert event["args"]["error_type"] == ("ValueError" if failed else "")
        assert any(e["args"]["status"] == "error" for e in slices(synthetic[1]))

    def test_metadata_names_every_process_and_thread(self, synthetic: tuple[pd.DataFrame, Trace]) -> None:
        """Every pid has its process name and every (pid, tid) of a slice its thread name."""
        df, trace = synthetic
        processes = {pid: name for (pid, _), name in names(trace, "process_name").items()}
        expected = df.groupby("pid")["process_name"].first().to_dict()
        assert processes == expected
        threads = names(trace, "thread_name")
        assert {(e["pid"], e["tid"]) for e in slices(trace)} == set(threads)
        assert set(threads.values()) == {"MainThread"}

    def test_strings_are_escaped(self, tmp_path: Path) -> None:
        """Quotes, backslashes, control characters and any Unicode come back exactly."""
        odd = ['say "hi"', "back\\slash", "new\nline\ttab", "ünïcødé", "emoji 😀", "\x00\x1f"]
        rows = [call(f"c{i}", 10 * i, 5, function=name) for i, name in enumerate(odd)]
        rows[0]["thread_name"] = rows[1]["thread_name"] = 'worker "1"'
        trace = write_and_read(calls(rows), tmp_path)
        assert [e["name"] for e in slices(trace)] == odd
        assert 'worker "1"' in names(trace, "thread_name").values()

    def test_an_empty_frame_makes_an_empty_trace(
        self, synthetic: tuple[pd.DataFrame, Trace], tmp_path: Path
    ) -> None:
        """No rows: a valid trace with no events."""
        trace = write_and_read(synthetic[0].iloc[:0], tmp_path)
        assert trace["traceEvents"] == [] and trace["otherData"]["calls"] == 0

    def test_the_same_rows_make_the_same_trace(
        self, synthetic: tuple[pd.DataFrame, Trace], tmp_path: Path
    ) -> None:
        """tids and order are stable: the same rows give the same bytes, shuffled rows the same slices."""
        df = synthetic[0]
        first = to_chrome_trace(df, tmp_path / "a.json")
        again = to_chrome_trace(df, tmp_path / "b.json")
        assert first.read_bytes() == again.read_bytes()
        shuffled = write_and_read(df.sample(frac=1, random_state=3), tmp_path)
        assert by_call(shuffled) == by_call(read_trace(first))
        assert shuffled["traceEvents"][: -len(df)] == read_trace(first)["traceEvents"][: -len(df)]


# --- nesting and lanes ---------------------------------------------------------------------------------


class TestNesting:
    def test_a_synthetic_run_nests_on_one_lane_per_thread(
        self, synthetic: tuple[pd.DataFrame, Trace]
    ) -> None:
        """Calls that nest stay on their thread's one lane: each child shares its parent's tid."""
        df, trace = synthetic
        assert_nested(trace)
        events = by_call(trace)
        for row in df[df["parent_id"] != ""].itertuples():
            assert events[row.call_id]["tid"] == events[row.parent_id]["tid"]
        assert len(names(trace, "thread_name")) == df["pid"].nunique()

    def test_a_child_poking_out_by_rounding_is_clamped(self, tmp_path: Path) -> None:
        """A child a microsecond outside its parent, on either side, is clamped into it."""
        rows = [
            call("p", 10, 100),
            call("late", 60, 51, parent="p"),  # ends at 111, the parent at 110
            call("early", 9, 20, parent="p"),  # starts at 9, the parent at 10
        ]
        events = by_call(write_and_read(calls(rows), tmp_path))
        assert (events["late"]["ts"], events["late"]["dur"]) == (51, 50)  # ts from 9, the first start
        assert (events["early"]["ts"], events["early"]["dur"]) == (1, 19)
        assert events["late"]["tid"] == events["early"]["tid"] == events["p"]["tid"]

    def test_a_child_far_outside_keeps_its_times_on_another_lane(self, tmp_path: Path) -> None:
        """A generator consumed long after its parent returned keeps its times, on an extra lane."""
        rows = [call("p", 0, 100), call("gen", 50, 5_000, parent="p")]
        trace = write_and_read(calls(rows), tmp_path)
        events = by_call(trace)
        assert (events["gen"]["ts"], events["gen"]["dur"]) == (50, 5_000)
        assert events["gen"]["tid"] != events["p"]["tid"]
        assert sorted(names(trace, "thread_name").values()) == ["MainThread", "MainThread [2]"]
        assert_nested(trace)

    def test_overlapping_calls_of_one_thread_get_extra_lanes(self, tmp_path: Path) -> None:
        """Coroutines overlapping in one thread go to the first lane where each nests."""
        rows = [
            call("a", 0, 100),
            call("b", 10, 50),  # inside a: nests on lane 1
            call("c", 20, 180),  # overlaps a and b: lane 2
            call("d", 30, 10, parent="c"),  # inside c, and inside b too
            call("e", 150, 10),  # inside c only
        ]
        trace = write_and_read(calls(rows), tmp_path)
        events = by_call(trace)
        assert events["a"]["tid"] == events["b"]["tid"] != events["c"]["tid"]
        assert events["e"]["tid"] in (events["a"]["tid"], events["c"]["tid"])
        assert sorted(names(trace, "thread_name").values()) == ["MainThread", "MainThread [2]"]
        assert_nested(trace)

    def test_a_child_follows_its_parent_onto_an_extra_lane(self, tmp_path: Path) -> None:
        """Where calls overlap, a child goes to its parent's lane, though it would nest on lane 1 too."""
        rows = [call("a", 0, 100), call("p", 10, 190), call("c", 20, 10, parent="p")]
        events = by_call(write_and_read(calls(rows), tmp_path))
        assert events["c"]["tid"] == events["p"]["tid"] != events["a"]["tid"]

    def test_tids_are_small_unique_per_lane_and_never_a_pid(self, tmp_path: Path) -> None:
        """One tid per (pid, thread, lane), numbered from 1 in order of first call, skipping pids."""
        rows = [
            call(f"c{pid}{t}", 10 * pid + i, 5, pid=pid, thread=t)
            for pid in (1, 2, 3)
            for i, t in enumerate("xy")
        ]
        trace = write_and_read(calls(rows), tmp_path)
        threads = names(trace, "thread_name")
        assert sorted(tid for _, tid in threads) == [4, 5, 6, 7, 8, 9]
        assert [threads[pid, tid] for pid, tid in sorted(threads, key=lambda k: k[1])] == list("xy" * 3)

    def test_a_parent_in_another_thread_is_ignored(self, tmp_path: Path) -> None:
        """parent_id links calls of one thread: a link across threads neither clamps nor nests."""
        rows = [call("p", 0, 100, thread="one"), call("c", 90, 50, parent="p", thread="two")]
        events = by_call(write_and_read(calls(rows), tmp_path))
        assert (events["c"]["ts"], events["c"]["dur"]) == (90, 50)

    def test_looping_parent_ids_end(self, tmp_path: Path) -> None:
        """Corrupt rows that are each other's parents are written, and nest."""
        rows = [call("a", 0, 10, parent="b"), call("b", 0, 10, parent="a")]
        trace = write_and_read(calls(rows), tmp_path)
        assert len(slices(trace)) == 2
        assert_nested(trace)


_row = st.tuples(
    st.integers(0, 2_000),  # start
    st.integers(0, 3_000),  # duration
    st.integers(0, 1),  # thread
    st.integers(-1, 30),  # parent: an index into the rows, or none
    st.booleans(),  # failed
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=30))
def test_any_rows_make_a_valid_nested_trace(rows: list[tuple[int, int, int, int, bool]]) -> None:
    """Whatever the overlaps and parent links: one slice per row, lanes nest, times move only by clamping."""
    made = []
    for i, (start, dur, thread, parent, failed) in enumerate(rows):
        made.append(
            call(f"r{i}", start, dur, thread=f"t{thread}", parent=f"r{parent}" if parent >= 0 else "")
        )
        made[-1]["status"] = "error" if failed else "ok"
    with tempfile.TemporaryDirectory() as folder:
        trace = write_and_read(calls(made), Path(folder))
    assert len(slices(trace)) == len(rows)
    assert_nested(trace)
    t0 = min(r[0] for r in rows)
    events = by_call(trace)
    for i, (start, dur, *_rest) in enumerate(rows):
        event = events[f"r{i}"]
        assert abs(event["ts"] - (start - t0)) <= NEST_TOLERANCE_US
        assert abs(event["ts"] + event["dur"] - (start - t0 + dur)) <= NEST_TOLERANCE_US
        assert ("cname" in event) == rows[i][4]


# --- the command line ----------------------------------------------------------------------------------


class TestCommandLine:
    def test_help_says_the_report_is_written_too(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--help describes --trace as an output in addition to the report folder."""
        assert main(["--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "--trace PATH" in text and "the report folder is written as usual" in text

    def test_an_unwritable_trace_path_exits_2_before_the_report(
        self, one_run: OneRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A trace path in a folder that does not exist: exit 2 with one line, and no report written."""
        args = ["--logdir", str(one_run[0]), "--out", str(tmp_path / "out")]
        assert main([*args, "--trace", str(tmp_path / "missing" / "trace.json")]) == 2
        error = capsys.readouterr().err
        assert error.startswith("mpmon-analyze: error: ") and error.count("\n") == 1
        assert not (tmp_path / "out").exists()

    def test_trace_of_a_real_run(self, real_parquet_run: Path, tmp_path: Path) -> None:
        """mpmon-analyze --trace on a real run: the report as usual, and a trace of every call that nests,
        with the overlapping coroutines of the main process on extra lanes."""
        path = tmp_path / "trace.json"
        args = ["--logdir", str(real_parquet_run), "--out", str(tmp_path / "out"), "--trace", str(path)]
        done = subprocess.run(
            [sys.executable, "-m", "mpmon.analysis", *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert f"trace: {path}" in done.stdout
        assert (next((tmp_path / "out").iterdir()) / "report.html").exists()
        trace = read_trace(path)
        assert len(slices(trace)) == REAL_CALLS
        assert_nested(trace)
        assert sum(e.get("cname") == "terrible" for e in slices(trace)) == 4
        assert set(names(trace, "process_name").values()) >= {"MainProcess", "ForkPoolWorker-1"}
        fetch_lanes = {e["tid"] for e in slices(trace) if e["name"] == "fetch"}
        assert len(fetch_lanes) >= 2


class TestHosts:
    """A run of two hosts with the same pids, host b's clock 30 s ahead of the scheduler's."""

    @pytest.fixture
    def trace(self, tmp_path: Path) -> Trace:
        lf.write_hosts(tmp_path / "cluster", "run-h", {"a": 0.0, "b": 30.0})
        return write_and_read(load_run(tmp_path / "cluster"), tmp_path)

    def test_the_same_pid_on_two_hosts_is_two_processes(self, trace: Trace) -> None:
        """Six processes (three pids on each host), each named with its real pid and host; slices nest."""
        processes = {pid: name for (pid, _tid), name in names(trace, "process_name").items()}
        assert len(processes) == len({e["pid"] for e in slices(trace)}) == 6
        assert sorted(processes.values()) == sorted(
            f"{n} (pid {p}) @ {h}"
            for h in ("a", "b")
            for n, p in (("MainProcess", 1000), ("ForkPoolWorker-1", 1001), ("ForkPoolWorker-2", 1002))
        )
        assert_nested(trace)

    def test_host_clocks_are_aligned_by_their_offsets(self, trace: Trace) -> None:
        """Each call of host b starts within 50 ms of the same call of host a (30 s apart in the rows)."""
        calls = by_call(trace)
        pairs = [(e, calls["b-" + key[2:]]) for key, e in calls.items() if key.startswith("a-")]
        assert len(pairs) == len(calls) // 2
        assert max(abs(a["ts"] - b["ts"]) for a, b in pairs) <= 50_000
        assert trace["otherData"]["start_time"] == lf.T0.isoformat()

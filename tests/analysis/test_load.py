"""Reading log directories: every file format, lenient parsing, run selection, user errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mpmon import schema
from mpmon.analysis import AnalysisError, list_runs, load_run, read_log_dir, select_run
from mpmon.analysis.cli import main
from mpmon.analysis.load import parse_time

from . import logfactory as lf
from .logfactory import RUN_A, RUN_B, OneRun, TwoRuns


def _ids(df: pd.DataFrame) -> set[str]:
    return set(df["call_id"])


class TestResultsCsv:
    def test_rows_are_typed_from_the_schema(self, one_run: OneRun) -> None:
        """Every column of the schema, in order, with its schema type (few-valued text as categoricals),
        then the ``lane`` process key; times are UTC microseconds."""
        from mpmon.analysis.load import CATEGORY_COLUMNS

        log_dir, rows = one_run
        df = load_run(log_dir)
        assert list(df.columns) == [*schema.COLUMN_NAMES, "lane"]
        assert len(df) == len(rows)
        for name, dtype in schema.pandas_dtypes().items():
            expected = "category" if name in CATEGORY_COLUMNS else dtype
            assert df[name].dtype == expected, name
        for name in schema.TIMESTAMP_COLUMNS:
            assert str(df[name].dtype) == "datetime64[us, UTC]"

    def test_empty_strings_stay_empty_strings(self, one_run: OneRun) -> None:
        """An empty parent_id or error_type is "" (not missing), so comparisons with "" work."""
        df = load_run(one_run[0])
        assert df["parent_id"].isna().sum() == 0
        assert (df["parent_id"] == "").sum() == sum(r["parent_id"] == "" for r in one_run[1])
        assert (df.loc[df["status"] == "ok", "error_type"] == "").all()

    def test_nan_marks_untracked_resources(self, one_run: OneRun) -> None:
        """``nan`` in the CSV (CPU and memory not tracked) reads as a missing float."""
        df = load_run(one_run[0])
        io = df[df["function"] == "io_wait"]
        assert len(io) > 0
        assert io["cpu_time_s"].isna().all() and io["mem_delta_mib"].isna().all()
        assert df.loc[df["function"] == "task", "cpu_time_s"].notna().all()

    def test_values_round_trip(self, one_run: OneRun) -> None:
        """Times, durations and pids read back as written."""
        log_dir, rows = one_run
        df = load_run(log_dir).set_index("call_id")
        first = rows[1]
        assert df.loc[first["call_id"], "start_time"] == pd.Timestamp(first["start_time"])
        assert df.loc[first["call_id"], "duration_s"] == pytest.approx(first["duration_s"])
        assert df.loc[first["call_id"], "pid"] == first["pid"]

    def test_a_truncated_last_line_is_skipped_and_counted(self, tmp_path: Path) -> None:
        """A collector killed mid-write leaves half a line: the rows before it load, the line is counted."""
        rows = lf.make_run(RUN_A, workers=1, tasks=3)
        path = lf.write_csv(tmp_path, rows)
        with path.open("ab") as fh:
            fh.write(b'"run-x","abc","","timer","f","m","2026-11-25T18:00:00.1')
        data = read_log_dir(tmp_path)
        assert len(data.calls) == len(rows)
        assert data.skipped == {schema.RESULTS_CSV: 1}

    def test_a_cut_quoted_value_is_not_taken_for_a_row(self, tmp_path: Path) -> None:
        """A last line cut inside its final quoted value (all columns present) is still skipped."""
        rows = lf.make_run(RUN_A, workers=1, tasks=2)
        path = lf.write_csv(tmp_path, rows)
        whole = path.read_bytes()
        path.write_bytes(whole[: whole.rstrip(b"\n").rfind(b'"')])
        data = read_log_dir(tmp_path)
        assert len(data.calls) == len(rows) - 1
        assert data.skipped == {schema.RESULTS_CSV: 1}

    def test_malformed_rows_are_skipped_and_counted(self, tmp_path: Path) -> None:
        """A row with the wrong number of fields, or with values that do not convert, is skipped."""
        rows = lf.make_run(RUN_A, workers=1, tasks=3)
        path = lf.write_csv(tmp_path, rows[:2])
        with path.open("ab") as fh:
            fh.write(b'"only","three","fields"\n')
            fh.write((schema.CSV_HEADER + "\n").encode())  # a second header, as a careless writer might leave
        lf.write_csv(tmp_path, rows[2:])
        data = read_log_dir(tmp_path)
        assert _ids(data.calls) == {r["call_id"] for r in rows}
        assert data.skipped == {schema.RESULTS_CSV: 2}
        assert str(data.calls["start_time"].dtype) == "datetime64[us, UTC]"

    def test_several_runs_appended_to_one_csv(self, two_runs: TwoRuns) -> None:
        """Runs appended to one CSV are all read."""
        log_dir, rows_a, rows_b = two_runs
        assert len(read_log_dir(log_dir).calls) == len(rows_a) + len(rows_b)

    def test_the_original_modules_csv_is_mapped_to_the_schema(self, tmp_path: Path) -> None:
        """A results CSV with the original module's header reads as calls without a run id."""
        (tmp_path / schema.RESULTS_CSV).write_text(
            "Timestamp,Process ID,Thread Count,UUID,Function Name,Execution Time (s),CPU Time (sec),"
            "Memory Change (MB),Final Memory Usage (MB),Arguments,Log Message\n"
            '2025-01-01 12:00:00,42,8,u1,old_f,0.5,0.25,1.0,50.0,"{}",done\n'
            '2025-01-01 12:00:01,42,8,u2,old_f,0.25,0.1,0.0,50.0,"{}",done\n'
        )
        df = load_run(tmp_path)
        assert list(df["function"]) == ["old_f", "old_f"]
        assert (df["run_id"] == "").all()
        assert df["start_time"].iloc[0] == pd.Timestamp("2025-01-01 11:59:59.5", tz="UTC")
        assert df["cpu_time_s"].tolist() == [0.25, 0.1]


class TestParquet:
    def test_the_dataset_is_read(self, tmp_path: Path) -> None:
        """Part files of timing_results.parquet/ read as one table."""
        rows = lf.make_run(RUN_A, workers=2, tasks=4)
        lf.write_parquet(tmp_path, rows[:10], "part-1")
        lf.write_parquet(tmp_path, rows[10:], "part-2")
        df = load_run(tmp_path)
        assert _ids(df) == {r["call_id"] for r in rows}
        assert str(df["end_time"].dtype) == "datetime64[us, UTC]"

    def test_in_progress_files_are_ignored(self, tmp_path: Path) -> None:
        """Files starting with ``_`` or ``.`` (a part being written) are not read."""
        rows = lf.make_run(RUN_A, workers=1, tasks=3)
        lf.write_parquet(tmp_path, rows, "part-1")
        directory = tmp_path / schema.RESULTS_PARQUET
        (directory / "_part-2.inprogress").write_bytes(b"PAR1 half written")
        (directory / ".part-3.parquet").write_bytes(b"garbage")
        assert len(load_run(tmp_path)) == len(rows)

    def test_an_unreadable_part_is_skipped_and_counted(self, tmp_path: Path) -> None:
        """A corrupt part file does not stop the others from loading."""
        rows = lf.make_run(RUN_A, workers=1, tasks=3)
        lf.write_parquet(tmp_path, rows, "part-1")
        (tmp_path / schema.RESULTS_PARQUET / "part-2.parquet").write_bytes(b"not parquet at all")
        data = read_log_dir(tmp_path)
        assert len(data.calls) == len(rows)
        assert data.skipped == {f"{schema.RESULTS_PARQUET}/part-2.parquet": 1}

    def test_csv_and_parquet_combine_and_dedupe_on_call_id(self, tmp_path: Path) -> None:
        """Both tables in one directory are combined; a call present in both is kept once."""
        rows = lf.make_run(RUN_A, workers=2, tasks=5)
        lf.write_csv(tmp_path, rows[:20])
        lf.write_parquet(tmp_path, rows[15:])
        df = load_run(tmp_path)
        assert len(df) == len(rows)
        assert df["call_id"].is_unique

    def test_the_original_single_parquet_file(self, tmp_path: Path) -> None:
        """The original module's single Parquet file (old column names) is read as calls."""
        old = pd.DataFrame(
            {
                "Timestamp": ["2025-01-01 12:00:00", "2025-01-01 12:00:02"],
                "UUID": ["a", "b"],
                "Function Name": ["f", "g"],
                "Execution Time (s)": [1.0, 2.0],
            }
        )
        pq.write_table(pa.Table.from_pandas(old), tmp_path / schema.RESULTS_PARQUET)
        df = load_run(tmp_path)
        assert sorted(df["function"]) == ["f", "g"]


class TestJsonLines:
    def test_calls_come_from_timing_log_when_there_is_no_table(self, tmp_path: Path) -> None:
        """Without a results table, call lines of timing.log (and its backups) are the rows."""
        rows = lf.make_run(RUN_A, workers=2, tasks=5)
        lf.write_run(tmp_path, rows, table="none", rotate=4)
        df = load_run(tmp_path)
        assert _ids(df) == {r["call_id"] for r in rows}
        assert df.loc[df["function"] == "io_wait", "cpu_time_s"].isna().all()

    def test_backups_are_read_oldest_first(self, tmp_path: Path) -> None:
        """timing.log.3, .2, .1, then timing.log: the raw lines come out in the order they were written."""
        rows = lf.make_run(RUN_A, workers=2, tasks=5)
        lf.write_run(tmp_path, rows, table="none", rotate=4)
        run = select_run(read_log_dir(tmp_path))
        events = [json.loads(line)["event"] for line in run.timing_lines]
        assert events[0] == schema.RUN_START_EVENT and events[-1] == schema.RUN_SUMMARY_EVENT
        uuids = [json.loads(line).get("uuid") for line in run.timing_lines if b'"event":"call"' in line]
        assert uuids == [r["call_id"] for r in rows]

    def test_calls_missing_from_the_table_are_added_from_the_log(self, tmp_path: Path) -> None:
        """A call in timing.log but not in the table (e.g. the table lost its tail) is still a row."""
        rows = lf.make_run(RUN_A, workers=2, tasks=5)
        lf.write_run(tmp_path, rows)
        table = tmp_path / schema.RESULTS_CSV
        lines = table.read_bytes().splitlines(keepends=True)
        table.write_bytes(b"".join(lines[:-3]))
        df = load_run(tmp_path)
        assert _ids(df) == {r["call_id"] for r in rows}
        assert df["call_id"].is_unique

    def test_spill_files_add_calls(self, tmp_path: Path) -> None:
        """Per-process spill files are read as call lines, deduplicated against the table."""
        rows = lf.make_run(RUN_A, workers=2, tasks=5)
        lf.write_run(tmp_path, rows[:-4])
        lf.write_jsonl(tmp_path / f"{schema.SPILL_PREFIX}1234.jsonl", [lf.call_line(r) for r in rows[-6:]])
        df = load_run(tmp_path)
        assert len(df) == len(rows)
        assert df["call_id"].is_unique

    def test_lines_that_do_not_parse_are_skipped_and_counted(self, tmp_path: Path) -> None:
        """Torn JSON, a non-object line and binary garbage are counted per file; blank lines are ignored."""
        rows = lf.make_run(RUN_A, workers=1, tasks=3)
        lf.write_run(tmp_path, rows, table="none")
        with (tmp_path / schema.TIMING_LOG).open("ab") as fh:
            fh.write(b'{"event": "call", "uuid": "x", "fun\n[1, 2]\n\n\xff\xfe\x00garbage\n')
        data = read_log_dir(tmp_path)
        assert len(data.calls) == len(rows)
        assert data.skipped == {schema.TIMING_LOG: 3}

    def test_run_events_are_never_calls(self, one_run: OneRun) -> None:
        """run_start, run_summary and captured log lines are kept as events or lines, not as calls."""
        log_dir, rows = one_run
        (log_dir / schema.RESULTS_CSV).unlink()
        data = read_log_dir(log_dir)
        assert len(data.calls) == len(rows)
        assert [e["event"] for e in data.events] == [schema.RUN_START_EVENT, schema.RUN_SUMMARY_EVENT]

    def test_the_original_modules_lines_are_calls_without_run_id(self, tmp_path: Path) -> None:
        """Old lines (no event, no run id) with a function and a duration in the message are calls."""
        lf.write_jsonl(tmp_path / schema.TIMING_LOG, lf.legacy_lines(lf.T0, 4))
        hook_end = {
            "timestamp": "2026-11-25 18:00:09,000",
            "level": "INFO",
            "message": "load: end: wall=1795629609.0 perf=12.5 id=hook-1 duration=0.2500sec cpu=1.00% rss=1",
            "function": "N/A",
            "uuid": "N/A",
        }
        ordinary = {"timestamp": "x", "message": "an ordinary log"}
        lf.write_jsonl(tmp_path / schema.TIMING_LOG, [hook_end, ordinary])
        df = load_run(tmp_path)
        assert sorted(df["function"]) == ["load", "old_task", "old_task", "old_task", "old_task"]
        assert (df["run_id"] == "").all()
        old = df[df["function"] == "old_task"]
        assert old["duration_s"].tolist() == [0.2] * 4
        assert old["mem_final_mib"].tolist() == [60.0] * 4
        assert df.loc[df["function"] == "load", "call_id"].item() == "hook-1"


class TestRunSelection:
    def test_the_most_recent_run_by_default(self, two_runs: TwoRuns) -> None:
        """Without --run, the run whose first call started last is picked."""
        log_dir, _, rows_b = two_runs
        df = load_run(log_dir)
        assert set(df["run_id"]) == {RUN_B}
        assert len(df) == len(rows_b)

    def test_each_run_by_id(self, two_runs: TwoRuns) -> None:
        """--run picks exactly that run's rows."""
        log_dir, rows_a, rows_b = two_runs
        assert _ids(load_run(log_dir, run_id=RUN_A)) == {r["call_id"] for r in rows_a}
        assert _ids(load_run(log_dir, run_id=RUN_B)) == {r["call_id"] for r in rows_b}

    def test_a_unique_prefix_names_a_run(self, two_runs: TwoRuns) -> None:
        """A prefix that matches one run id is enough, like a short git hash."""
        assert set(load_run(two_runs[0], run_id="20261125T18")["run_id"]) == {RUN_A}

    def test_an_unknown_or_ambiguous_run_id_is_an_error(self, two_runs: TwoRuns) -> None:
        """An id that matches no run, or several, raises AnalysisError naming the known runs."""
        with pytest.raises(AnalysisError, match=r"unknown.*20261125T190000Z-bbbbbb"):
            load_run(two_runs[0], run_id="nope")
        with pytest.raises(AnalysisError, match="ambiguous"):
            load_run(two_runs[0], run_id="20261125T")

    def test_the_tag_and_raw_lines_belong_to_the_run(self, two_runs: TwoRuns) -> None:
        """The selected run carries its own tag, timing.log lines and error.log lines only."""
        log_dir, rows_a, _ = two_runs
        run = select_run(read_log_dir(log_dir), RUN_A)
        assert run.tag == "first"
        assert {json.loads(line)["run_id"] for line in run.timing_lines} == {RUN_A}
        assert len(run.timing_lines) == len(rows_a) + 3  # run_start, one log line, run_summary
        assert len(run.error_lines) == sum(r["status"] == "error" for r in rows_a)
        assert [e["event"] for e in run.events] == [schema.RUN_START_EVENT, schema.RUN_SUMMARY_EVENT]

    def test_a_time_window_selects_active_calls(self, two_runs: TwoRuns) -> None:
        """--start-time/--end-time keep the calls active in the window, whatever run they belong to."""
        log_dir, rows_a, _ = two_runs
        df = load_run(log_dir, start="2026-11-25 18:00:00.5", end="2026-11-25 18:00:00.6")
        expected = {
            r["call_id"]
            for r in rows_a
            if pd.Timestamp(r["end_time"]) >= pd.Timestamp("2026-11-25T18:00:00.5Z")
            and pd.Timestamp(r["start_time"]) <= pd.Timestamp("2026-11-25T18:00:00.6Z")
        }
        assert _ids(df) == expected
        assert 0 < len(df) < len(rows_a)

    def test_a_window_can_span_runs(self, two_runs: TwoRuns) -> None:
        """A window over both runs holds the rows of both."""
        log_dir, rows_a, rows_b = two_runs
        df = load_run(log_dir, start="2026-11-25T17:00:00+00:00", end="2026-11-25T21:00:00+00:00")
        assert len(df) == len(rows_a) + len(rows_b)

    def test_an_iso_time_with_an_offset_is_converted_to_utc(self) -> None:
        """'2026-11-25T20:00:00+02:00' is 18:00 UTC; a naive time is UTC."""
        assert parse_time("2026-11-25T20:00:00+02:00") == pd.Timestamp("2026-11-25 18:00", tz="UTC")
        assert parse_time("2026-11-25 18:00:00") == pd.Timestamp("2026-11-25 18:00", tz="UTC")

    def test_an_empty_window_is_an_error(self, two_runs: TwoRuns) -> None:
        """A window with no calls raises AnalysisError."""
        with pytest.raises(AnalysisError, match="no calls"):
            load_run(two_runs[0], start="2030-01-01 00:00:00")
        with pytest.raises(AnalysisError, match="no calls in run"):
            load_run(two_runs[0], run_id=RUN_A, start="2026-11-25 19:00:00")

    def test_a_window_that_ends_before_it_starts_is_an_error(self, two_runs: TwoRuns) -> None:
        """--start-time after --end-time raises AnalysisError."""
        with pytest.raises(AnalysisError, match="after"):
            load_run(two_runs[0], start="2026-11-25 19:00:00", end="2026-11-25 18:00:00")

    def test_an_unreadable_time_is_an_error(self, two_runs: TwoRuns) -> None:
        """A time that does not parse raises AnalysisError with the expected format."""
        with pytest.raises(AnalysisError, match="YYYY-MM-DD"):
            load_run(two_runs[0], start="yesterday-ish")

    def test_logs_without_run_ids_use_the_most_recent_dense_cluster(self, tmp_path: Path) -> None:
        """Old lines without run ids split into runs at long gaps; the latest cluster is picked."""
        early = lf.legacy_lines(lf.T0, 5, "early")
        late = lf.legacy_lines(lf.T0 + pd.Timedelta(minutes=10), 3, "late")
        lf.write_jsonl(tmp_path / schema.TIMING_LOG, early + late)
        df = load_run(tmp_path)
        assert set(df["function"]) == {"late"} and len(df) == 3
        runs = list_runs(tmp_path)
        assert runs["run_id"].tolist() == ["cluster-20261125T180000", "cluster-20261125T181000"]
        assert set(load_run(tmp_path, run_id="cluster-20261125T180000")["function"]) == {"early"}


class TestListRuns:
    def test_one_row_per_run_oldest_first(self, two_runs: TwoRuns) -> None:
        """Id, tag, start, duration, calls, processes and errors of each run."""
        log_dir, rows_a, rows_b = two_runs
        runs = list_runs(log_dir)
        columns = ["run_id", "tag", "start", "end", "duration_s", "calls", "processes", "errors"]
        assert runs.columns.tolist() == columns
        assert runs["run_id"].tolist() == [RUN_A, RUN_B]
        assert runs["tag"].tolist() == ["first", "second"]
        assert runs["calls"].tolist() == [len(rows_a), len(rows_b)]
        assert runs["processes"].tolist() == [4, 5]
        errors = [sum(r["status"] == "error" for r in rows) for rows in (rows_a, rows_b)]
        assert runs["errors"].tolist() == errors

    def test_the_run_spans_its_start_and_summary_lines(self, one_run: OneRun) -> None:
        """A run starts at its run_start line and ends at its run_summary line when they are present."""
        runs = list_runs(one_run[0])
        first_call = min(pd.Timestamp(r["start_time"]) for r in one_run[1])
        assert runs["start"].item() == first_call - pd.Timedelta(milliseconds=2)
        assert math.isclose(runs["duration_s"].item(), (runs["end"] - runs["start"]).item().total_seconds())

    def test_a_run_without_calls_is_listed(self, one_run: OneRun) -> None:
        """A run that started but recorded no call shows with zero calls."""
        start = lf.run_start_line("empty-run", "t", lf.T0 + pd.Timedelta(hours=2))
        lf.write_jsonl(one_run[0] / schema.TIMING_LOG, [start])
        runs = list_runs(one_run[0]).set_index("run_id")
        assert runs.loc["empty-run", "calls"] == 0
        with pytest.raises(AnalysisError, match="no calls"):
            load_run(one_run[0], run_id="empty-run")


class TestErrors:
    def test_a_missing_directory(self, tmp_path: Path) -> None:
        """A log directory that does not exist raises AnalysisError."""
        with pytest.raises(AnalysisError, match="does not exist"):
            read_log_dir(tmp_path / "nowhere")

    def test_an_empty_directory(self, tmp_path: Path) -> None:
        """A directory without any mpmon log raises AnalysisError saying what was looked for."""
        (tmp_path / "notes.txt").write_text("hello")
        with pytest.raises(AnalysisError, match="holds no mpmon logs"):
            read_log_dir(tmp_path)

    def test_logs_without_any_call(self, tmp_path: Path) -> None:
        """Log files that hold no call at all raise AnalysisError."""
        (tmp_path / schema.TIMING_LOG).write_text("")
        with pytest.raises(AnalysisError, match="no mpmon calls"):
            read_log_dir(tmp_path)


class TestErrorEvents:
    def test_errors_come_from_rows_and_unmatched_error_log_entries(self, one_run: OneRun) -> None:
        """A failed row is one error; an error.log entry with no row (ErrorCatcher alone) adds one more."""
        log_dir, rows = one_run
        alone = dict(rows[1], call_id="only-in-error-log", function="catcher_only", status="error")
        lonely = lf.error_line(alone)
        lf.write_jsonl(log_dir / schema.ERROR_LOG, [lonely])
        run = select_run(read_log_dir(log_dir))
        failed = sum(r["status"] == "error" for r in rows)
        assert len(run.errors) == failed + 1
        assert run.errors["origin"].value_counts().to_dict() == {"results": failed, schema.ERROR_LOG: 1}
        assert "catcher_only" in set(run.errors["function"])
        assert len(run.error_lines) == failed + 1


class TestHosts:
    """A root of ``host=<name>/`` partitions (two hosts with the same pids, host b's clock 30 s ahead)."""

    SKEWS = {"a": 0.0, "b": 30.0}

    @pytest.fixture
    def root(self, tmp_path: Path) -> tuple[Path, dict[str, list[dict[str, object]]]]:
        root = tmp_path / "cluster"
        return root, lf.write_hosts(root, RUN_A, self.SKEWS)

    def test_every_host_partition_is_read_as_one_run(self, root: tuple[Path, dict[str, Any]]) -> None:
        """Rows of both hosts, one run id; look-alike rows of the two hosts (same function, arguments,
        pid and schedule) are all kept."""
        path, written = root
        run = select_run(read_log_dir(path))
        assert run.run_ids == (RUN_A,)
        assert len(run.calls) == sum(len(rows) for rows in written.values())
        assert _ids(run.calls) == {r["call_id"] for rows in written.values() for r in rows}
        assert set(run.calls["host"]) == {"a", "b"}
        assert list_runs(path)["processes"].tolist() == [6]

    def test_processes_are_keyed_by_host_and_pid(self, root: tuple[Path, dict[str, Any]]) -> None:
        """The lane column is "<host>:<pid>": hosts by first call, then processes by first call."""
        calls = load_run(root[0])
        lanes = ["a:1000", "a:1001", "a:1002", "b:1000", "b:1001", "b:1002"]
        assert list(calls["lane"].cat.categories) == lanes
        assert (calls["lane"] == calls["host"].astype(str) + ":" + calls["pid"].astype(str)).all()
        assert calls.attrs["mpmon"]["hosts"] == ["a", "b"]

    def test_clock_offsets_align_the_hosts_and_the_tables_keep_raw_times(
        self, root: tuple[Path, dict[str, Any]]
    ) -> None:
        """Each host's median offset; shifted by it, the hosts' matching calls start within 50 ms, while
        the start_time column keeps each host's own clock."""
        from mpmon.analysis import hosts

        run = select_run(read_log_dir(root[0]))
        assert run.clock_offsets == {"a": pytest.approx(0.0), "b": pytest.approx(-30.0)}
        calls = run.calls.assign(
            aligned=hosts.aligned_micros(run.calls, "start_time"), key=run.calls["call_id"].str[2:]
        )
        a, b = (calls[calls["host"] == h].set_index("key").sort_index() for h in ("a", "b"))
        assert (b["start_time"] - a["start_time"]).dt.total_seconds().tolist() == [30.0] * len(a)
        assert (b["aligned"] - a["aligned"]).abs().max() <= 50_000

    def test_mpmon_analyze_reads_a_root(self, root: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
        """The command line on the root: one report whose Processes table has a row per (host, pid)."""
        assert main(["--logdir", str(root[0]), "--out", str(tmp_path / "out")]) == 0
        (folder,) = (tmp_path / "out").iterdir()
        processes = pd.read_csv(folder / "processes.csv")
        assert sorted(zip(processes["host"], processes["pid"], strict=True)) == [
            (h, p) for h in ("a", "b") for p in (1000, 1001, 1002)
        ]


class TestColumns:
    """Reading only what the analysis needs: ten million rows must fit in memory."""

    def test_only_the_columns_asked_for_are_read(self, one_run: OneRun) -> None:
        """``columns`` reads those plus the keys run selection needs; args and message stay on disk."""
        df = load_run(one_run[0], columns=("parent_id",))
        keys = ["run_id", "call_id", "parent_id", "function", "start_time", "end_time", "duration_s", "pid"]
        assert list(df.columns) == [*keys, "host", "status", "error_type", "lane"]
        assert len(df) == len(one_run[1])

    def test_csv_and_parquet_read_the_same(self, tmp_path: Path) -> None:
        """The same rows written as CSV and as Parquet load as equal frames (the same dtypes too)."""
        rows = lf.make_run(RUN_A, workers=2, tasks=6)
        lf.write_run(tmp_path / "csv", rows, table="csv")
        lf.write_run(tmp_path / "parquet", rows, table="parquet")
        wanted = ("parent_id", "cpu_time_s")
        csv_df, parquet_df = (load_run(tmp_path / f, columns=wanted) for f in ("csv", "parquet"))
        pd.testing.assert_frame_equal(
            csv_df.sort_values("call_id", ignore_index=True),
            parquet_df.sort_values("call_id", ignore_index=True),
            check_categorical=False,
        )

    def test_an_unknown_column_is_an_error(self, one_run: OneRun) -> None:
        """A name that is not a results column is refused, naming it."""
        with pytest.raises(ValueError, match="not results columns: nope"):
            load_run(one_run[0], columns=("nope",))

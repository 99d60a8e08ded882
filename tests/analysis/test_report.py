"""The report folder: figures, tables that agree with the rows, raw log lines, summary.json, report.html."""

from __future__ import annotations

import base64
import html as html_lib
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.image
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mpmon import schema
from mpmon.analysis import FIGURES, read_log_dir, select_run, write_report
from mpmon.analysis.error_groups import MAX_MESSAGE, NO_DETAILS, error_groups
from mpmon.analysis.figures import CAPTIONS
from mpmon.analysis.report import Report, output_folder

from . import logfactory as lf
from .logfactory import RUN_A, OneRun, TwoRuns

EXPECTED_FILES = {
    *(f"{name}.png" for name in FIGURES),
    "aggregate.csv",
    "processes.csv",
    "errors.csv",
    "slowest_calls.csv",
    "summary.json",
    "report.html",
}


@pytest.fixture(scope="module")
def report(shared_two_runs: TwoRuns) -> Report:
    """The report of run A (the older of two runs in one log directory), written once for these tests."""
    run = select_run(read_log_dir(shared_two_runs[0]), RUN_A)
    return write_report(run, shared_two_runs[0].parent / "out" / "first", subtitle="nightly")


class TestFolder:
    def test_every_output_is_written(self, report: Report) -> None:
        """Each figure as PNG, the small tables, summary.json and report.html: no copy of the raw logs."""
        assert {p.name for p in report.folder.iterdir()} == EXPECTED_FILES
        assert {p.name for p in report.files} == EXPECTED_FILES

    def test_rows_are_exported_only_on_request(self, two_runs: TwoRuns, tmp_path: Path) -> None:
        """``export=True`` adds rows.parquet: exactly the run's rows, readable by pyarrow alone."""
        run = select_run(read_log_dir(two_runs[0]), RUN_A)
        written = write_report(run, tmp_path / "exported", export=True)
        assert {p.name for p in written.folder.iterdir()} == EXPECTED_FILES | {"rows.parquet"}
        rows = pq.read_table(written.folder / "rows.parquet")
        assert rows.schema.names == list(schema.COLUMN_NAMES)
        assert sorted(rows.column("call_id").to_pylist()) == sorted(r["call_id"] for r in two_runs[1])

    def test_pngs_decode_with_sane_sizes(self, report: Report) -> None:
        """Every PNG decodes, is 1100 pixels wide and between 300 and 4000 high."""
        for path in report.figures.values():
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            height, width = matplotlib.image.imread(path).shape[:2]
            assert width == 1100 and 300 <= height <= 4000, path.name

    def test_folder_names(self, tmp_path: Path) -> None:
        """``<tag>_<YYYYmmdd-HHMMSS>``, the tag made safe for a file name, a suffix when taken."""
        now = datetime(2026, 11, 25, 18, 43, 13, tzinfo=timezone.utc)
        assert output_folder(tmp_path, "memory tweaks/2", now).name == "memory-tweaks-2_20261125-184313"
        assert output_folder(tmp_path, "../", now).name == "run_20261125-184313"
        output_folder(tmp_path, "run", now).mkdir()
        assert output_folder(tmp_path, "run", now).name == "run_20261125-184313-2"


class TestTables:
    def test_aggregate_agrees_with_the_raw_rows(self, report: Report, shared_two_runs: TwoRuns) -> None:
        """Calls and total time per function in aggregate.csv equal those of the run's rows."""
        aggregate = pd.read_csv(report.folder / "aggregate.csv", index_col="function")
        raw = lf.frame(shared_two_runs[1]).groupby("function")["duration_s"].agg(["size", "sum"])
        assert aggregate.loc[raw.index, "calls"].tolist() == raw["size"].tolist()
        assert aggregate.loc[raw.index, "total_s"].tolist() == pytest.approx(raw["sum"].tolist())

    def test_processes_table(self, report: Report) -> None:
        """processes.csv has one row per process with its busy time."""
        processes = pd.read_csv(report.folder / "processes.csv", index_col="process")
        assert len(processes) == 4 and (processes["busy_s"] > 0).all()


class TestSummaryJson:
    def test_it_parses_and_agrees_with_the_rows(self, report: Report, shared_two_runs: TwoRuns) -> None:
        """summary.json: run totals, one entry per function and process, errors, collector lines."""
        data = json.loads((report.folder / "summary.json").read_text())
        rows = shared_two_runs[1]
        assert data["format"] == "mpmon-analysis-summary/2"
        assert data["selection"]["run_ids"] == [RUN_A] and data["selection"]["tag"] == "first"
        assert data["run"]["calls"] == len(rows)
        assert data["errors"]["total"] == sum(r["status"] == "error" for r in rows)
        assert {f["function"]: f["calls"] for f in data["functions"]} == lf.frame(rows)[
            "function"
        ].value_counts().to_dict()
        assert len(data["processes"]) == 4
        assert data["collector"]["run_summary"][0]["records_by_source"] == {"timer": len(rows), "hook": 0}
        assert data["skipped_lines"] == {}
        assert set(data["files"]) == EXPECTED_FILES

    def test_missing_values_are_null(self, report: Report) -> None:
        """Untracked CPU utilisation is null, never NaN (which is not JSON)."""
        text = (report.folder / "summary.json").read_text()
        assert "NaN" not in text
        io_wait = next(f for f in json.loads(text)["functions"] if f["function"] == "io_wait")
        assert io_wait["cpu_util"] is None


class TestHtml:
    def test_self_contained_with_every_figure(self, report: Report) -> None:
        """report.html embeds every figure as a PNG data URI and loads nothing from the network."""
        html = (report.folder / "report.html").read_text()
        images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
        assert len(images) == len(FIGURES)
        assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
        assert {base64.b64decode(i) for i in images} == {p.read_bytes() for p in report.figures.values()}
        assert not re.search(r"(src|href)=['\"]?(https?:)?//", html)

    def test_summary_and_tables(self, report: Report) -> None:
        """The headline numbers, the subtitle and every function and process appear in the report."""
        html = (report.folder / "report.html").read_text()
        assert "nightly" in html and RUN_A in html
        for name in ("task", "step", "flaky", "io_wait", "main", "ForkPoolWorker-1 (1001)", "ValueError"):
            assert name in html

    def test_text_is_escaped(self, one_run: OneRun, tmp_path: Path) -> None:
        """A function name with markup is shown as text, not interpreted."""
        log_dir, rows = one_run
        rows = [dict(r, function="<script>alert(1)</script>", run_id="r2") for r in rows]
        lf.write_csv(log_dir, rows)
        run = select_run(read_log_dir(log_dir), "r2")
        html = (write_report(run, tmp_path / "escaped").folder / "report.html").read_text()
        assert "<script>" not in html and "&lt;script&gt;" in html

    def test_sections_captions_and_anchors(self, report: Report) -> None:
        """Every navigation link points at a section of the page; every figure carries its caption."""
        html = (report.folder / "report.html").read_text()
        targets = set(re.findall(r"href='#([\w-]+)'", html))
        ids = set(re.findall(r"id='([\w-]+)'", html))
        assert targets <= ids
        assert {*FIGURES, "functions", "processes", "slowest", "errors", "collector", "files"} <= targets
        for caption in CAPTIONS.values():
            assert html_lib.escape(caption, quote=True) in html

    def test_errors_section_has_messages_and_tracebacks(
        self, report: Report, shared_two_runs: TwoRuns
    ) -> None:
        """Per type and function: the count, first and last time, the message, a folded traceback."""
        html = (report.folder / "report.html").read_text()
        failed = sum(r["status"] == "error" and r["function"] == "flaky" for r in shared_two_runs[1])
        errors = html[html.index("<section id='errors'>") : html.index("<section id='collector'>")]
        assert "<h3>ValueError in flaky</h3>" in errors
        assert f"{failed} times, first at" in errors and "last at" in errors
        assert "<code>boom</code>" in errors
        assert "<details><summary>traceback</summary><pre>Traceback (most recent call last):" in errors

    def test_slowest_calls(self, report: Report, shared_two_runs: TwoRuns) -> None:
        """The 20 longest calls, longest first, with arguments, process and a link to the timeline."""
        html = (report.folder / "report.html").read_text()
        slowest = pd.read_csv(report.folder / "slowest_calls.csv", index_col="call_id")
        rows = lf.frame(shared_two_runs[1])
        assert len(slowest) == min(20, len(rows))
        assert slowest["duration_s"].tolist() == sorted(rows["duration_s"], reverse=True)[: len(slowest)]
        first = html[html.index("<tr id='slow-1'>") : html.index("</tr>", html.index("<tr id='slow-1'>"))]
        assert slowest.index[0] in first and "<a href='#timeline'>+" in first
        assert slowest["process"].iloc[0] in first

    def test_tables_leave_out_all_zero_columns(self, one_run: OneRun, tmp_path: Path) -> None:
        """A run without errors shows no errors or error-rate column, and says it left them out."""
        log_dir, rows = one_run
        rows = [dict(r, status="ok", error_type="", run_id="ok-run") for r in rows]
        lf.write_csv(log_dir, rows)
        html = (
            write_report(select_run(read_log_dir(log_dir), "ok-run"), tmp_path / "ok").folder / "report.html"
        )
        functions = html.read_text().split("<section id='functions'>")[1].split("</section>")[0]
        assert "<th>errors</th>" not in functions and "<th>error rate</th>" not in functions
        assert "left out, only zeros or blanks: errors, error rate" in functions
        assert "<th>calls</th>" in functions and "<th>p95</th>" in functions


class TestErrorGroups:
    def _events(self, *rows: tuple[str, str, str]) -> pd.DataFrame:
        times = pd.date_range("2026-11-25 18:00", periods=len(rows), freq="s", tz="UTC")
        frame = pd.DataFrame(rows, columns=["function", "error_type", "call_id"])
        return frame.assign(time=times)

    def test_groups_by_type_and_function_with_the_latest_message(self) -> None:
        """One row per (type, function), commonest first; the latest entry's message; distinct counted."""
        events = self._events(("f", "ValueError", "a"), ("f", "ValueError", "b"), ("g", "KeyError", "c"))
        lines = [
            json.dumps({"uuid": u, "error_message": m, "traceback": f"Traceback\n{m}\n"}).encode()
            for u, m in (("a", "one"), ("b", "two\x07bell"), ("c", "x" * 900))
        ]
        groups = error_groups(events, lines)
        assert list(zip(groups["error_type"], groups["function"], groups["count"], strict=True)) == [
            ("ValueError", "f", 2),
            ("KeyError", "g", 1),
        ]
        assert groups.loc[0, "message"] == "two\N{REPLACEMENT CHARACTER}bell"
        assert groups.loc[0, "messages"] == 2
        assert groups.loc[0, "first"] < groups.loc[0, "last"]
        assert len(groups.loc[1, "message"]) == MAX_MESSAGE and groups.loc[1, "message"].endswith("…")

    def test_a_failure_without_an_error_log_entry_says_so(self) -> None:
        """A Timer-only failure has no message: the group says what is known instead of inventing one."""
        groups = error_groups(self._events(("f", "OSError", "z")), [b"{not json", b"[1, 2]"])
        assert groups.loc[0, "message"] == NO_DETAILS and groups.loc[0, "traceback"] == ""

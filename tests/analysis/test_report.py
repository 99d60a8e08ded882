"""The report folder: figures, tables that agree with the rows, raw log lines, summary.json, report.html."""

from __future__ import annotations

import base64
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.image
import pandas as pd
import pyarrow as pa
import pytest

from mpmon import schema
from mpmon.analysis import FIGURES, load_run, read_log_dir, select_run, write_report
from mpmon.analysis.report import Report, iso_text, output_folder

from . import logfactory as lf
from .conftest import RUN_A, OneRun, TwoRuns

EXPECTED_FILES = {
    *(f"{name}.png" for name in FIGURES),
    "run_results.csv",
    "aggregate.csv",
    "processes.csv",
    "timing.log.jsonl",
    "error.log.jsonl",
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
        """Each figure as PNG, the tables, the run's raw lines, summary.json and report.html."""
        assert {p.name for p in report.folder.iterdir()} == EXPECTED_FILES
        assert {p.name for p in report.files} == EXPECTED_FILES

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
    def test_run_results_are_the_runs_rows_in_the_collector_format(
        self, report: Report, shared_two_runs: TwoRuns
    ) -> None:
        """run_results.csv has the schema header and reads back as exactly the run's rows."""
        path = report.folder / "run_results.csv"
        assert path.read_text().splitlines()[0] == schema.CSV_HEADER
        copy = path.parent.parent / "reread"
        copy.mkdir()
        shutil.copy(path, copy / schema.RESULTS_CSV)
        again = load_run(copy).set_index("call_id").sort_index()
        original = load_run(shared_two_runs[0], run_id=RUN_A).set_index("call_id").sort_index()
        pd.testing.assert_frame_equal(again, original)

    def test_untracked_values_are_written_as_nan(self, report: Report) -> None:
        """Untracked CPU and memory are ``nan`` in run_results.csv, as the collector writes them."""
        line = next(
            x for x in (report.folder / "run_results.csv").read_text().splitlines() if '"io_wait"' in x
        )
        assert line.count(",nan,") >= 1

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


class TestRawLines:
    def test_only_the_runs_lines_are_copied(self, report: Report, shared_two_runs: TwoRuns) -> None:
        """timing.log.jsonl and error.log.jsonl hold the run's lines (and every line parses)."""
        timing = [json.loads(x) for x in (report.folder / "timing.log.jsonl").read_text().splitlines()]
        errors = [json.loads(x) for x in (report.folder / "error.log.jsonl").read_text().splitlines()]
        assert {x["run_id"] for x in timing + errors} == {RUN_A}
        assert sum(x["event"] == "call" for x in timing) == len(shared_two_runs[1])
        assert len(errors) == sum(r["status"] == "error" for r in shared_two_runs[1])


class TestSummaryJson:
    def test_it_parses_and_agrees_with_the_rows(self, report: Report, shared_two_runs: TwoRuns) -> None:
        """summary.json: run totals, one entry per function and process, errors, collector lines."""
        data = json.loads((report.folder / "summary.json").read_text())
        rows = shared_two_runs[1]
        assert data["format"] == "mpmon-analysis-summary/1"
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


def test_iso_text_is_the_collectors_format() -> None:
    """Timestamps are written as ``YYYY-mm-ddTHH:MM:SS.ffffff+00:00``."""
    times = pa.chunked_array([pa.array([0, 1_795_632_193_963_583], pa.timestamp("us", tz="UTC"))])
    assert iso_text(times).to_pylist() == [
        "1970-01-01T00:00:00.000000+00:00",
        "2026-11-25T18:43:13.963583+00:00",
    ]

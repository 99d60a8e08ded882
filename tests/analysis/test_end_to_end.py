"""Real runs, real files: a collector and a Pool(2) write two runs (CSV, then Parquet) into one log
directory, with errors and nested calls; ``mpmon-analyze`` runs as a subprocess on each run and every
output is checked against the raw rows the collector wrote."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import matplotlib.image
import pandas as pd
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
import pytest
from helpers import analyze, json_lines, log_family, run_python

import mpmon
from mpmon import schema
from mpmon.analysis import FIGURES

pytestmark = pytest.mark.skipif(not hasattr(mpmon, "start_collector"), reason="the core has no collector yet")

SCRIPT = textwrap.dedent(
    """
    import multiprocessing
    import sys
    import time

    import mpmon


    @mpmon.Timer(log_to_console=False)
    def inner(x):
        time.sleep(0.004)
        return x * 2


    @mpmon.ErrorCatcher(log_to_console=False)
    @mpmon.Timer(log_to_console=False)
    def work(x):
        if x % 5 == 3:
            raise ValueError(f"bad {x}")
        return inner(x) + 1


    @mpmon.ErrorCatcher(log_to_console=False)
    def catcher_only(x):
        raise KeyError(x)


    def task(x):
        try:
            work(x)
        except ValueError:
            pass
        if x == 7:
            try:
                catcher_only(x)
            except KeyError:
                pass
        return x


    if __name__ == "__main__":
        log_dir, results_format, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        mpmon.start_collector(log_dir=log_dir, results_format=results_format, tag=tag, log_to_console=False)
        with multiprocessing.Pool(2) as pool:
            pool.map(task, range(count))
        mpmon.stop_collector()
    """
)
RUNS = (("csv", "first", 20), ("parquet", "second", 30))  # results format, tag, tasks


@pytest.fixture(scope="module")
def real_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The log directory after two real runs, and each tag's run id (from its run_start line)."""
    base = tmp_path_factory.mktemp("e2e")
    (base / "app.py").write_text(SCRIPT)
    for results_format, tag, count in RUNS:
        run_python(["app.py", "logs", results_format, tag, count], base, timeout=120)
    lines = log_family(base / "logs", schema.TIMING_LOG)
    ids = {x["tag"]: x["run_id"] for x in lines if x.get("event") == schema.RUN_START_EVENT}
    assert set(ids) == {"first", "second"}
    return base / "logs", ids


def _raw_rows(log_dir: Path, run_id: str) -> pd.DataFrame:
    """The rows the collector wrote for a run, read without mpmon.analysis (pandas and pyarrow only)."""
    csv_rows = pd.read_csv(log_dir / schema.RESULTS_CSV, keep_default_na=False, na_values=["nan"])
    parquet = pa_ds.dataset(log_dir / schema.RESULTS_PARQUET, format="parquet").to_table().to_pandas()
    rows = pd.concat([csv_rows, parquet.astype({"start_time": str, "end_time": str})], ignore_index=True)
    return rows[rows["run_id"] == run_id].reset_index(drop=True)


def _error_log_entries(log_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """The error.log entries of a run."""
    entries = json_lines(log_dir / schema.ERROR_LOG)
    return [e for e in entries if e["run_id"] == run_id]


@pytest.fixture(scope="module", params=["first", "second"])
def report(request: pytest.FixtureRequest, real_logs: tuple[Path, dict[str, str]]) -> dict[str, Any]:
    """mpmon-analyze on one of the runs: its folder, the run id and the raw rows to compare with."""
    log_dir, ids = real_logs
    out = log_dir.parent / f"out-{request.param}"
    args = ["--logdir", str(log_dir), "--out", str(out), "--subtitle", "end to end", "--export-rows"]
    done = analyze(*args, *([] if request.param == "second" else ["--run", ids["first"]]))
    assert done.returncode == 0, done.stderr
    (folder,) = list(out.iterdir())
    run_id = ids[request.param]
    return {
        "folder": folder,
        "run_id": run_id,
        "rows": _raw_rows(log_dir, run_id),
        "errors": _error_log_entries(log_dir, run_id),
        "stdout": done.stdout,
        "tasks": dict((tag, n) for _, tag, n in RUNS)[request.param],
    }


class TestRealRuns:
    def test_the_raw_rows_are_what_the_script_did(self, report: dict[str, Any]) -> None:
        """Sanity of the fixture: one work row per task, one inner row per successful task, nested."""
        rows, tasks = report["rows"], report["tasks"]
        failed = sum(x % 5 == 3 for x in range(tasks))
        assert (rows["function"] == "work").sum() == tasks
        assert (rows["function"] == "inner").sum() == tasks - failed
        work_ids = set(rows.loc[rows["function"] == "work", "call_id"])
        assert set(rows.loc[rows["function"] == "inner", "parent_id"]) <= work_ids

    def test_every_output_exists(self, report: dict[str, Any]) -> None:
        """Figures, tables, the exported rows, summary.json and report.html are all written."""
        names = {p.name for p in report["folder"].iterdir()}
        expected = {f"{n}.png" for n in FIGURES} | {
            "rows.parquet",
            "aggregate.csv",
            "summary.json",
            "report.html",
        }
        assert expected | {"errors.csv", "slowest_calls.csv", "processes.csv"} == names
        assert report["folder"].name.startswith(("first_", "second_"))
        assert f"report: {report['folder'] / 'report.html'}" in report["stdout"]

    def test_pngs_decode_with_sane_sizes(self, report: dict[str, Any]) -> None:
        """Every figure decodes as a PNG between 300x300 and 4000x4000 pixels, and is not blank."""
        for name in FIGURES:
            image = matplotlib.image.imread(report["folder"] / f"{name}.png")
            assert 300 <= image.shape[0] <= 4000 and 300 <= image.shape[1] <= 4000, name
            assert image.std() > 0.01, name

    def test_run_results_are_the_runs_rows(self, report: dict[str, Any]) -> None:
        """rows.parquet (--export-rows) holds exactly the run's call ids, with their durations."""
        results = pq.read_table(report["folder"] / "rows.parquet").to_pandas()
        raw = report["rows"]
        assert sorted(results["call_id"]) == sorted(raw["call_id"])
        merged = results.merge(raw, on="call_id", suffixes=("", "_raw"))
        assert (merged["duration_s"] - merged["duration_s_raw"]).abs().max() < 1e-9
        assert (merged["parent_id"] == merged["parent_id_raw"]).all()

    def test_aggregate_agrees_with_the_raw_rows(self, report: dict[str, Any]) -> None:
        """Calls, total time and errors per function equal the raw rows'."""
        aggregate = pd.read_csv(report["folder"] / "aggregate.csv", index_col="function")
        raw = (
            report["rows"]
            .groupby("function")
            .agg(
                calls=("call_id", "size"),
                total=("duration_s", "sum"),
                errors=("status", lambda s: (s == "error").sum()),
            )
        )
        assert sorted(aggregate.index) == sorted(raw.index) == ["inner", "work"]
        assert aggregate.loc[raw.index, "calls"].tolist() == raw["calls"].tolist()
        assert aggregate.loc[raw.index, "total_s"].tolist() == pytest.approx(raw["total"].tolist())
        assert aggregate.loc[raw.index, "errors"].tolist() == raw["errors"].tolist()

    def test_summary_json(self, report: dict[str, Any]) -> None:
        """summary.json parses; its counts match the rows and error.log; the collector's summary is in it."""
        data = json.loads((report["folder"] / "summary.json").read_text())
        rows = report["rows"]
        assert data["selection"]["run_ids"] == [report["run_id"]]
        assert data["run"]["calls"] == len(rows)
        assert 1 <= data["run"]["processes"] <= 3
        failed_rows = int((rows["status"] == "error").sum())
        assert data["errors"]["total"] == failed_rows + 1  # + catcher_only, in error.log only
        assert data["errors"]["from_error_log_only"] == 1
        assert data["errors"]["by_type"] == {"ValueError": failed_rows, "KeyError": 1}
        (summary_line,) = data["collector"]["run_summary"]
        assert summary_line["run_id"] == report["run_id"] and summary_line["dropped"] == 0

    def test_errors_section(self, report: dict[str, Any]) -> None:
        """report.html shows each error group with its message and its traceback."""
        html = (report["folder"] / "report.html").read_text()
        errors = html[html.index("<section id='errors'>") : html.index("<section id='collector'>")]
        assert "<h3>ValueError in work</h3>" in errors and "<h3>KeyError in catcher_only</h3>" in errors
        assert "<code>bad " in errors and "<code>7</code>" in errors
        assert (
            errors.count("<details><summary>traceback</summary><pre>Traceback (most recent call last)") == 2
        )

    def test_report_html_embeds_every_figure(self, report: dict[str, Any]) -> None:
        """report.html holds every figure inline and needs no network."""
        html = (report["folder"] / "report.html").read_text()
        assert len(re.findall(r"data:image/png;base64,", html)) == len(FIGURES)
        assert not re.search(r"(src|href)=['\"]?(https?:)?//", html)
        assert "end to end" in html and report["run_id"] in html


def test_list_runs_shows_both(real_logs: tuple[Path, dict[str, str]]) -> None:
    """--list-runs on the real log directory lists both runs with their tags, oldest first."""
    log_dir, ids = real_logs
    done = analyze("--logdir", str(log_dir), "--list-runs")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines[1:3]] == [[ids["first"], "first"], [ids["second"], "second"]]


def test_unknown_run_exits_2(real_logs: tuple[Path, dict[str, str]]) -> None:
    """An unknown run id in a real log directory: exit 2, one line, no traceback."""
    done = analyze("--logdir", str(real_logs[0]), "--run", "nope")
    assert done.returncode == 2
    assert (
        done.stderr.startswith("mpmon-analyze: error: run id 'nope' is unknown")
        and "Traceback" not in done.stderr
    )

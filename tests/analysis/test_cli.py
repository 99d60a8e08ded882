"""The command line: flags, where the outputs go, what it prints, and exit code 2 for user errors."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from mpmon import schema
from mpmon.analysis.cli import main

from . import logfactory as lf
from .logfactory import RUN_A, RUN_B, OneRun, TwoRuns


def _folders(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir())


def _summary(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "summary.json").read_text())
    return data


class TestAnalyze:
    def test_the_most_recent_run_into_the_default_folder(
        self, shared_two_runs: TwoRuns, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without flags but --logdir: run B, written to mpmon-report/<its tag>_<time>/ beside the logs."""
        log_dir = shared_two_runs[0]
        assert main(["--logdir", str(log_dir)]) == 0
        (folder,) = _folders(log_dir.parent / "mpmon-report")
        assert folder.name.startswith("second_")
        assert _summary(folder)["selection"] == {
            "run_ids": [RUN_B],
            "tag": "second",
            "how": "the most recent run",
        }
        printed = capsys.readouterr()
        assert f"report: {folder / 'report.html'}" in printed.out
        assert "function" in printed.out and "task" in printed.out and "calls" in printed.out
        assert printed.err == ""  # no progress bar when stderr is not a terminal

    def test_run_tag_subtitle_and_out(self, shared_two_runs: TwoRuns, tmp_path: Path) -> None:
        """--run picks the run, --tag names the folder under --out, --subtitle reaches the figures."""
        args = [
            "--logdir",
            str(shared_two_runs[0]),
            "--run",
            RUN_A,
            "--tag",
            "nightly",
            "--out",
            str(tmp_path),
        ]
        assert main([*args, "--subtitle", "after the fix"]) == 0
        (folder,) = _folders(tmp_path)
        assert folder.name.startswith("nightly_")
        assert _summary(folder)["selection"]["run_ids"] == [RUN_A]  # type: ignore[index]
        assert "after the fix" in (folder / "report.html").read_text()

    def test_time_window(self, shared_two_runs: TwoRuns, tmp_path: Path) -> None:
        """--start-time/--end-time (naive = UTC) select the calls active in the window."""
        args = ["--logdir", str(shared_two_runs[0]), "--out", str(tmp_path)]
        assert (
            main([*args, "--start-time", "2026-11-25 18:00:00", "--end-time", "2026-11-25 18:00:00.3"]) == 0
        )
        (folder,) = _folders(tmp_path)
        run = _summary(folder)["run"]
        assert 0 < run["calls"] < len(shared_two_runs[1])  # type: ignore[index]

    def test_skipped_lines_are_reported(
        self, one_run: OneRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Lines that did not parse are named on stderr and counted in summary.json."""
        with (one_run[0] / schema.TIMING_LOG).open("a") as fh:
            fh.write("{torn\n")
        assert main(["--logdir", str(one_run[0]), "--out", str(tmp_path / "out")]) == 0
        assert "skipped 1 line of timing.log that did not parse" in capsys.readouterr().err
        assert _summary(_folders(tmp_path / "out")[0])["skipped_lines"] == {"timing.log": 1}

    def test_summary_table_at_the_end(
        self, shared_two_runs: TwoRuns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A short table of the run (counts with plurals, efficiency, errors, folder size) before the path."""
        assert main(["--logdir", str(shared_two_runs[0]), "--out", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        data = _summary(_folders(tmp_path)[0])
        calls = data["run"]["calls"]  # type: ignore[index]
        functions = len(data["functions"])  # type: ignore[arg-type]
        assert f"calls                {calls} calls of {functions} functions" in out
        assert "processes            5 processes" in out
        assert re.search(r"parallel efficiency  \d+% over the \d+ processes that ran the workload", out)
        assert re.search(r"report folder        14 files, \d+(\.\d+)? KiB", out)
        assert out.rstrip().splitlines()[-1].startswith("report: ")

    def test_quiet(self, one_run: OneRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--quiet prints only where the report went."""
        assert main(["--logdir", str(one_run[0]), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        printed = capsys.readouterr()
        (folder,) = _folders(tmp_path / "out")
        assert printed.out == f"report: {folder / 'report.html'}\n" and printed.err == ""

    def test_export_rows(self, one_run: OneRun, tmp_path: Path) -> None:
        """Rows are written (as Parquet) only with --export-rows; the folder stays small without it."""
        assert main(["--logdir", str(one_run[0]), "--out", str(tmp_path / "plain"), "-q"]) == 0
        assert (
            main(["--logdir", str(one_run[0]), "--out", str(tmp_path / "rows"), "-q", "--export-rows"]) == 0
        )
        (plain,), (rows,) = _folders(tmp_path / "plain"), _folders(tmp_path / "rows")
        assert not (plain / "rows.parquet").exists()
        assert pq.read_table(rows / "rows.parquet").num_rows == len(one_run[1])
        assert sum(p.stat().st_size for p in plain.iterdir()) < 10 * 2**20

    def test_progress_on_a_terminal(self, one_run: OneRun, tmp_path: Path) -> None:
        """With stderr on a terminal a progress bar names the steps (--quiet and a pipe: see above)."""
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        with os.fdopen(controller, "rb", buffering=0) as screen:
            done = subprocess.run(
                [sys.executable, "-m", "mpmon.analysis", "--logdir", str(one_run[0]), "--out", str(tmp_path)],
                stderr=terminal,
                stdout=subprocess.PIPE,
                timeout=180,
            )
            os.close(terminal)
            drawn = _read_all(screen)
        assert done.returncode == 0
        assert b"mpmon-analyze:" in drawn and b"figure timeline" in drawn and b"%|" in drawn
        assert b"report: " in done.stdout


def _read_all(screen: Any) -> bytes:
    """Everything written to a pseudo-terminal whose other end is closed."""
    chunks = []
    while True:
        try:
            chunk = screen.read(65536)
        except OSError:  # EIO: the terminal side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


class TestListRuns:
    def test_lists_every_run(self, shared_two_runs: TwoRuns, capsys: pytest.CaptureFixture[str]) -> None:
        """--list-runs prints id, tag, start, duration, calls, processes and errors, oldest first."""
        assert main(["--logdir", str(shared_two_runs[0]), "--list-runs"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == [
            "run_id",
            "tag",
            "start",
            "(UTC)",
            "duration*",
            "calls",
            "processes",
            "errors",
        ]
        assert lines[1].split()[:2] == [RUN_A, "first"] and lines[2].split()[:2] == [RUN_B, "second"]
        assert lines[1].split()[-3:] == [str(len(shared_two_runs[1])), "4", "6"]
        assert lines[0].split()[4] == "duration*"
        assert "* duration: from the collector's start to its stop" in "\n".join(lines)
        assert "the report's 'span' counts the calls only" in "\n".join(lines)


class TestUserErrors:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--logdir", "{tmp}/missing"], "does not exist"),
            (["--logdir", "{tmp}/empty"], "holds no mpmon logs"),
            (["--logdir", "{logs}", "--run", "no-such-run"], "run id 'no-such-run' is unknown"),
            (["--logdir", "{logs}", "--start-time", "2031-01-01 00:00:00"], "no calls in"),
            (["--logdir", "{logs}", "--end-time", "not a time"], "cannot read the time"),
            (["--logdir", "{logs}", "--list-runs", "--logdir", "{tmp}/missing"], "does not exist"),
        ],
    )
    def test_exit_2_with_one_line_and_no_traceback(
        self,
        args: list[str],
        message: str,
        shared_two_runs: TwoRuns,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A missing or empty log directory, an unknown run, an empty window: exit 2, one clear line."""
        (tmp_path / "empty").mkdir()
        filled = [a.format(tmp=tmp_path, logs=shared_two_runs[0]) for a in args]
        assert main([*filled, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mpmon-analyze: error: ") and message in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert not (tmp_path / "out").exists()

    def test_a_bad_flag_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown flag prints usage and returns 2 (argparse's convention)."""
        assert main(["--bogus"]) == 2
        assert "usage: mpmon-analyze" in capsys.readouterr().err


class TestEntryPoints:
    def test_python_dash_m(self, one_run: OneRun, tmp_path: Path) -> None:
        """``python -m mpmon.analysis`` runs the same command line."""
        done = subprocess.run(
            [sys.executable, "-m", "mpmon.analysis", "--logdir", str(one_run[0]), "--list-runs"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert RUN_A in done.stdout

    def test_console_script_error_exit_code(self, tmp_path: Path) -> None:
        """The installed ``mpmon-analyze`` exits 2 on a missing directory, with no traceback."""
        script = Path(sys.executable).with_name("mpmon-analyze")
        if not script.exists():
            pytest.skip("mpmon-analyze is not installed next to this interpreter")
        done = subprocess.run(
            [str(script), "--logdir", str(tmp_path / "nope")], capture_output=True, text=True
        )
        assert done.returncode == 2
        assert (
            done.stderr.startswith("mpmon-analyze: error: log directory") and "Traceback" not in done.stderr
        )


def test_legacy_logs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Logs of the original module (no run ids) are analysed as their most recent dense cluster."""
    lf.write_jsonl(tmp_path / "logs" / schema.TIMING_LOG, lf.legacy_lines(lf.T0, 6))
    assert main(["--logdir", str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 0
    (folder,) = _folders(tmp_path / "out")
    assert folder.name.startswith("run_")
    assert _summary(folder)["run"]["calls"] == 6  # type: ignore[index]
    assert re.search(r"^run +cluster-20261125T180000 \(the most recent run\)$", capsys.readouterr().out, re.M)

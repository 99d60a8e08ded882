"""Logging capture: on by default, once per line, and never in the way of the user's own logging setup.

The rule (README, "The collector"): with the root logger untouched, mpmon sets it to INFO as the
original module did and prints each captured line on the console itself; once the user configured
logging (basicConfig, dictConfig, a handler of their own), their handlers print and mpmon only
forwards. Either way every line is in timing.log exactly once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers import log_family, run_program

import mpmon
from mpmon import schema
from mpmon.capture import ForwardingHandler

PROGRAM = """
import logging
import multiprocessing
import os
import mpmon

if os.environ.get("CONFIGURE") == "1":
    logging.basicConfig(level=logging.INFO, format="USER %(processName)s %(message)s")


@mpmon.Timer(log_to_console=False)
def work(i):
    logging.info("work item %d", i)
    logging.debug("debug item %d", i)
    return i


if __name__ == "__main__":
    settings = {"capture_logging": False} if os.environ.get("OFF") else {}
    if os.environ.get("QUIET"):
        settings["log_to_console"] = False
    mpmon.start_collector("logs", **settings)
    logging.info("main says hello")
    logging.warning("main warns")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(work, range(4))
    mpmon.stop_collector()
"""
LINES = ["main says hello", "main warns", *(f"work item {i}" for i in range(4))]


def captured(log_dir: Path) -> list[str]:
    entries = log_family(log_dir, schema.TIMING_LOG)
    return sorted(e["message"] for e in entries if e.get("event") == schema.EVENT_LOG)


@pytest.mark.parametrize("configured", [False, True], ids=["unconfigured", "basicConfig"])
def test_every_line_once_in_timing_log_and_on_the_console(tmp_path: Path, configured: bool) -> None:
    """Main process and spawned pool workers; INFO and above; the console shows each line once,
    in the user's format when they configured logging (also in the spawned workers)."""
    done = run_program(tmp_path, PROGRAM, env={"CONFIGURE": "1" if configured else "0"})
    assert captured(tmp_path / "logs") == sorted(LINES)
    for line in LINES:
        assert done.stderr.count(line) == 1, (line, done.stderr)
    shown = [row for row in done.stderr.splitlines() if any(line in row for line in LINES)]
    if configured:
        assert all(row.startswith("USER ") for row in shown), shown
    else:  # mpmon's line in every process: a worker's `logging.info` adds no handler of Python's
        assert all(" - INFO - " in row or " - WARNING - " in row for row in shown), shown
        assert shown[0].endswith(" - INFO - MainProcess - main says hello"), shown
    assert "debug item" not in done.stderr


def test_log_to_console_false_prints_no_captured_line_in_any_process(tmp_path: Path) -> None:
    """Unconfigured logging, log_to_console=False: every line in timing.log and none on the console, in
    spawned workers too (their first `logging.info` made Python's default handler print INFO lines)."""
    done = run_program(tmp_path, PROGRAM, env={"QUIET": "1"})
    assert captured(tmp_path / "logs") == sorted(LINES)
    assert not [line for line in LINES if line in done.stderr], done.stderr


def test_capture_logging_false_leaves_logging_alone(tmp_path: Path) -> None:
    """No log lines in timing.log, no level changed: only the warning shows, through logging's own
    last-resort handler."""
    done = run_program(tmp_path, PROGRAM, env={"OFF": "1"})
    assert captured(tmp_path / "logs") == []
    assert done.stderr.count("main warns") == 1 and "main says hello" not in done.stderr


def test_one_handler_whatever_is_started_twice(tmp_path: Path) -> None:
    """Starting twice adds no second handler; stopping removes it; a new run adds one again."""
    root = logging.getLogger()

    def ours() -> int:
        return sum(isinstance(h, ForwardingHandler) for h in root.handlers)

    before = root.level
    mpmon.start_collector(tmp_path / "a", log_to_console=False)
    mpmon.start_collector(tmp_path / "a", log_to_console=False)
    assert ours() == 1
    mpmon.stop_collector()
    assert ours() == 0 and root.level == before
    with mpmon.collector(tmp_path / "b", log_to_console=False, capture_logging=False):
        assert ours() == 0
    with mpmon.collector(tmp_path / "c", log_to_console=False):
        logging.getLogger("app").warning("in the test process")
        assert ours() == 1
    assert ours() == 0
    assert captured(tmp_path / "c") == ["in the test process"]


AFTER_THE_RUN = """
import subprocess, sys
import mpmon

mpmon.start_collector("logs")
mpmon.stop_collector()
code = "import logging, mpmon; logging.getLogger('late').warning('after the run')"
subprocess.run([sys.executable, "-c", code], check=True)
"""


def test_a_process_of_a_stopped_run_does_not_start_a_collector_by_logging(tmp_path: Path) -> None:
    """The run's variables outlive stop_collector() in the environment; a later child that only logs
    stays an ordinary program: one run in the logs, the line on stderr through logging's own handler."""
    done = run_program(tmp_path, AFTER_THE_RUN)
    starts = [e for e in log_family(tmp_path / "logs", schema.TIMING_LOG) if e.get("event") == "run_start"]
    assert len(starts) == 1
    assert done.stderr.count("after the run") == 1


HUGE_LINES = """
import logging, multiprocessing
import mpmon

@mpmon.Timer(log_to_console=False)
def work(i):
    logging.info("head %d " + "\u00e9" * 20_000_000 + " tail %d", i, i)
    return i

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(work, range(4))
    mpmon.stop_collector()
"""


def test_a_huge_log_line_is_kept_by_its_two_ends_and_nothing_is_rejected(tmp_path: Path) -> None:
    """Four 20-million-character log lines: each reaches timing.log bounded to MAX_TEXT with both ends
    kept (unbounded, they were refused as oversized batches and took the spill path); every call is a row."""
    from helpers import read_csv

    from mpmon.render import MAX_TEXT

    done = run_program(tmp_path, HUGE_LINES)
    assert "rejected" not in done.stderr, done.stderr
    entries = log_family(tmp_path / "logs", schema.TIMING_LOG)
    lines = [e["message"] for e in entries if e.get("event") == schema.EVENT_LOG]
    assert sorted(line[: len("head 0")] for line in lines) == [f"head {i}" for i in range(4)]
    for line in lines:
        assert line.endswith(f"tail {line[5]}") and "characters left out by mpmon" in line
        assert len(line) <= MAX_TEXT + 100
    expected = [f'{{"args":["{i}"],"kwargs":{{}}}}' for i in range(4)]
    assert sorted(read_csv(tmp_path / "logs")["args"]) == expected

"""Every file the collector writes lies in the run's log directory: an `error_log_file` that a record names
elsewhere (`..`, an absolute path, a symlinked parent, one of the run's own files) is refused with a line on
stderr, and its errors go to error.log instead, never lost."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mpmon import schema
from tests.helpers import log_family, results, run_program, summaries

REFUSED = {  # error_log_file -> where it would have written, from the program's directory "work"
    "../outside.log": "outside.log",
    "ABSOLUTE": "elsewhere/absolute.log",
    "logs/linked/errors.log": "elsewhere/errors.log",  # logs/linked is a symlink to ../elsewhere
    "logs/own/../../sneaky.log": "work/sneaky.log",
    f"logs/{schema.RESULTS_CSV}": None,  # the run's own file: JSON lines in it would break the table
}
LEGAL = "logs/own/errors.log"
CALLS = 20

PROGRAM = f"""
import json, multiprocessing, os, sys
import mpmon

paths = json.loads(sys.argv[1])

def failing(path):
    @mpmon.ErrorCatcher(log_to_console=False, error_log_file=path)
    @mpmon.Timer(log_to_console=False)
    def fail(i):
        raise ValueError(f"failure {{i}} of {{path}}")
    return fail

def run_all(i):
    for path in paths:
        try:
            failing(path)(i)
        except ValueError:
            pass

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False, strict=True)
    with multiprocessing.Pool(2) as pool:
        pool.map(run_all, range({CALLS} // 2))
    for i in range({CALLS} // 2, {CALLS}):
        run_all(i)
    flushed = mpmon.flush(wait=True)
    mpmon.stop_collector()
    print(json.dumps({{"flushed": flushed}}))
"""


def test_error_logs_named_outside_the_log_directory_are_refused_and_their_errors_kept_in_error_log(
    tmp_path: Path,
) -> None:
    """Four paths out of the log directory and one of its own files are refused (counted in
    unsafe_files, said on stderr); nothing is created outside; every error of those decorators is in
    error.log and every call is a row; a path inside the log directory is still a rotating file of its own."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "logs").mkdir(parents=True)
    elsewhere.mkdir()
    (work / "logs" / "linked").symlink_to(elsewhere)
    names = [str(elsewhere / "absolute.log") if p == "ABSOLUTE" else p for p in REFUSED]
    run = run_program(work, PROGRAM, json.dumps([*names, LEGAL]), timeout=120)
    run.assert_ok()
    assert run.result() == {"flushed": True}

    outside = sorted(
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob("*")
        if p.is_file() and not p.is_relative_to(work / "logs")
    )
    assert outside == ["work/prog.py"], outside
    for target in filter(None, REFUSED.values()):
        assert not (tmp_path / target).exists()

    logs = work / "logs"
    refused = log_family(logs, schema.ERROR_LOG)
    by_path = {
        name: sorted(_numbers(e for e in refused if e["error_message"].endswith(f" of {name}")))
        for name in names
    }
    assert by_path == {name: list(range(CALLS)) for name in names}, run.stderr
    own = log_family(logs / "own", "errors.log")
    assert sorted(_numbers(own)) == list(range(CALLS))
    assert len(refused) + len(own) == CALLS * (len(names) + 1)

    rows = results(logs)
    assert len(rows) == CALLS * (len(names) + 1) and set(rows.status) == {"error"}
    summary = summaries(logs)[-1]
    assert summary["unsafe_files"] == len(names) and summary["complete"] is True, summary
    said = [line for line in run.stderr.splitlines() if line.endswith("its errors go to error.log instead")]
    assert len(said) == len(names) and all(line.startswith("mpmon collector: refusing ") for line in said)
    assert os.listdir(elsewhere) == []


def _numbers(entries: Iterable[dict[str, Any]]) -> list[int]:
    """The call numbers of error.log entries ("failure 7 of <path>")."""
    return [int(e["error_message"].split()[1]) for e in entries]


SWAPPED = """
import json, os, sys
import mpmon

@mpmon.ErrorCatcher(log_to_console=False, error_log_file="logs/own/errors.log")
def fail(i):
    raise ValueError(f"failure {i}")

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    flushed = []
    for i in range(2):
        try:
            fail(i)
        except ValueError:
            pass
        flushed.append(mpmon.flush(wait=True))
        if i == 0:  # the error log's directory is swapped for a link out of the log directory
            os.rename("logs/own", "logs/own-moved")
            os.symlink(sys.argv[1], "logs/own")
    mpmon.stop_collector()
    print(json.dumps({"flushed": flushed}))
"""


def test_an_error_log_whose_directory_becomes_a_link_during_the_run_is_refused_from_then_on(
    tmp_path: Path,
) -> None:
    """A path checked when its file was first opened is checked again before each write: once its
    directory is a symlink out of the log directory, the next error goes to error.log (said, counted),
    and nothing is created where the link points."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "logs" / "own").mkdir(parents=True)
    elsewhere.mkdir()
    run = run_program(work, SWAPPED, str(elsewhere), timeout=60)
    run.assert_ok()
    assert run.result() == {"flushed": [True, True]}
    assert os.listdir(elsewhere) == []
    logs = work / "logs"
    assert _numbers(log_family(logs / "own-moved", "errors.log")) == [0]
    assert _numbers(log_family(logs, schema.ERROR_LOG)) == [1]
    assert summaries(logs)[-1]["unsafe_files"] == 1
    assert "/logs/own/errors.log: it is outside the log directory" in run.stderr, run.stderr

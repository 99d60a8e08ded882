"""mpmon-analyze never shows a traceback for a file it reads: a bad file is skipped with one line saying which
and why and the rest analysed (exit 0); a run it cannot analyse at all exits 2 with one line."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mpmon import schema
from tests.helpers import analyze, run_program

PROGRAM = """
import sys, mpmon

@mpmon.Timer(log_to_console=False)
def step(i):
    return i

mpmon.start_collector(sys.argv[1], log_to_console=False, tag="bad")
for i in range(50):
    step(i)
"""


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of 50 calls: timing_results.csv and timing.log."""
    where = tmp_path_factory.mktemp("bad_files")
    run_program(where, PROGRAM, where / "logs")
    return where / "logs"


def _edit_csv(edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def apply(logs: Path) -> None:
        path = logs / schema.RESULTS_CSV
        path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")

    return apply


def _huge_field(lines: list[str]) -> list[str]:
    """A row whose message is 2 MiB (a parser block is 1 MiB): 'straddling object' on 0b19303."""
    return [
        *lines,
        lines[1].replace("-0000000000", "-1000000000").rsplit(",", 1)[0] + ',"' + "z" * (2 << 20) + '"',
    ]


def _bad_types(lines: list[str]) -> list[str]:
    """A duration that is not a number and a start time that is not a time."""
    rows = list(csv.reader(lines))
    rows[3][schema.COLUMN_NAMES.index("duration_s")] = "abc"
    rows[4][schema.COLUMN_NAMES.index("start_time")] = "notatime"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().splitlines()


def _junk(logs: Path) -> None:
    (logs / schema.RESULTS_CSV).write_bytes(b"\x00\x01junk\xff\xfe\n\n,,,\n")


def _repeated_ids(lines: list[str]) -> list[str]:
    """The same call written twice (the second time under another function's name)."""
    return [*lines, lines[5], lines[6].replace('"step"', '"other"')]


CASES = {
    "field over 1 MiB": _edit_csv(_huge_field),
    "bad types in a column": _edit_csv(_bad_types),
    "junk CSV": _junk,
    "repeated call id": _edit_csv(_repeated_ids),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_results_file_is_skipped_with_one_line_and_the_rest_analysed(
    clean_run: Path, tmp_path: Path, case: str
) -> None:
    """Exit 0, no traceback, one line naming what was skipped; the 50 calls are analysed (from timing.log
    where the table was skipped). 0b19303: a traceback and exit 1 in each case."""
    logs = tmp_path / "logs"
    shutil.copytree(clean_run, logs)
    CASES[case](logs)
    done = analyze("--logdir", str(logs), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    said = [line for line in done.stderr.splitlines() if "skipped" in line]
    assert len(said) == 1 and str(logs) in said[0], done.stderr
    assert "50 calls of 1 function" in done.stdout, done.stdout


def test_a_run_that_cannot_be_analysed_exits_2_with_one_line(tmp_path: Path) -> None:
    """Nothing readable left: one line saying why, exit 2."""
    logs = tmp_path / "logs"
    logs.mkdir()
    _junk(logs)
    done = analyze("--logdir", str(logs), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") <= 2 and "error" in done.stderr, done.stderr

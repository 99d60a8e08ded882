"""The console is for people: a line per call while calls are rare, a status line a second when they are not,
a summary at stop, and each error once with its traceback folded (collector/console.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import run_program

# A user's pool job: 20,000 calls in two ProcessPoolExecutor workers, 10 of them failing six frames deep.
POOL_JOB = """
import sys, time
from concurrent.futures import ProcessPoolExecutor
import mpmon

def check(i):
    if i % 2000 == 7:
        raise ValueError(f"bad item {i}")

def load(i):
    return parse(i)

def parse(i):
    return validate(i)

def validate(i):
    return check(i)

@mpmon.ErrorCatcher()
@mpmon.Timer()
def work(i):
    time.sleep(0.0001)
    load(i)
    return i

def safe(i):
    try:
        return work(i)
    except ValueError:
        return None

if __name__ == "__main__":
    mpmon.start_collector("logs")
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(safe, range(20_000), chunksize=20))
    mpmon.stop_collector()
"""

FEW_CALLS = """
import mpmon

@mpmon.ErrorCatcher()
@mpmon.Timer()
def work(i):
    if i == 2:
        raise KeyError(i)
    return i

if __name__ == "__main__":
    mpmon.start_collector("logs")
    for i in range(4):
        try:
            work(i)
        except KeyError:
            pass
    mpmon.stop_collector()
"""


class TestFloodOfCalls:
    """A 20,000-call pool job prints a few dozen lines, not one per call."""

    @pytest.mark.slow
    def test_status_lines_a_summary_and_each_error_once(self, tmp_path: Path) -> None:
        run = run_program(tmp_path, POOL_JOB, timeout=240)
        lines = run.stderr.splitlines()
        assert len(lines) < 400, f"{len(lines)} stderr lines:\n" + "\n".join(lines[:50])
        for i in range(7, 20_000, 2000):
            assert len(re.findall(rf"raised ValueError: bad item {i}\b", run.stderr)) == 1, (i, run.stderr)
        assert "frames folded" in run.stderr
        assert "finished in" not in run.stderr, "no line per call at this rate"
        assert "run ended: 20,000 calls" in run.stderr
        assert re.search(r"calls/s \| work [\d,]+/s p50 ", run.stderr), run.stderr
        assert re.search(r"^  work +20,000 +10 ", run.stderr, re.MULTILINE), run.stderr


class TestFewCalls:
    """Rare calls keep their line each, as the original module printed, and nothing more."""

    def test_a_line_per_call_and_the_error_once(self, tmp_path: Path) -> None:
        run = run_program(tmp_path, FEW_CALLS)
        assert run.stderr.count("work finished in") == 3, run.stderr
        assert run.stderr.count("raised KeyError") == 1, run.stderr  # not again as the Timer's line
        assert run.stderr.count("Traceback (most recent call last)") == 1, run.stderr
        assert "calls/s" not in run.stderr
        assert "run ended" not in run.stderr


class TestFoldTraceback:
    """A traceback keeps its header, its last frames and the exception."""

    def test_long_traceback_folded(self) -> None:
        from mpmon.collector.console import fold_traceback

        frames = [f'  File "f.py", line {n}, in f{n}\n    call{n}()' for n in range(8)]
        trace = "Traceback (most recent call last):\n" + "\n".join(frames) + "\nValueError: x\n"
        folded = fold_traceback(trace, 3).splitlines()
        assert folded[0] == "Traceback (most recent call last):"
        assert folded[1] == "  ... 5 frames folded ..."
        assert folded[2] == '  File "f.py", line 5, in f5'
        assert folded[-1] == "ValueError: x"

    def test_short_traceback_unchanged(self) -> None:
        from mpmon.collector.console import fold_traceback

        trace = 'Traceback (most recent call last):\n  File "f.py", line 1, in f\n    g()\nKeyError: 1'
        assert fold_traceback(trace) == trace

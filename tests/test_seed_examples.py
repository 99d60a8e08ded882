"""The original module's three README examples run unchanged and write its files (issue 12, item 1).

Each example is the seed README's code, word for word: it imports `monitoring`, here an alias of
mpmon. Their `logging.info` lines reach timing.log (JSON) and the console exactly once each, through
the logging capture of the collector started implicitly by the first monitored call.
"""

from __future__ import annotations

from pathlib import Path

from helpers import Run, call_lines, log_family, read_csv, run_program

from mpmon import schema

ALIAS = "import sys\nimport mpmon\nsys.modules[__name__] = mpmon\n"

TIMER_EXAMPLE = '''
from monitoring import Timer
import logging
import time

@Timer(max_arg_length=100, sanitize_func=lambda s: s.replace("secret", "*****"))
def my_function(x, y):
    """Dummy function that simulates processing with the timer decorator."""
    logging.info("My function started")
    time.sleep(2)  # Simulate processing
    logging.info("My function completed")
    return x + y

result = my_function(5, 10)
print(f"Result: {result}")
'''

ERROR_EXAMPLE = '''
from monitoring import ErrorCatcher
import logging

@ErrorCatcher(sanitize_func=lambda s: s.replace("password", "*****"))
def error_function():
    """Dummy function that simulates processing with an error and the error-catching decorator."""
    logging.info("Error function starting")
    # Deliberately raise an exception to test error logging.
    raise ValueError("This is a test error with a secret password!")

try:
    error_function()
except Exception as e:
    print(f"Caught an exception as expected: {e}")
'''

COMBINED_EXAMPLE = '''
from monitoring import Timer, ErrorCatcher, sanitizer
import logging
import time

@ErrorCatcher(sanitize_func=sanitizer)
@Timer(max_arg_length=100, sanitize_func=sanitizer)
def combined_function(a, b):
    """Dummy function to demonstrate both uses of monitoring decorators."""
    logging.info("Combined function started")
    time.sleep(1)
    if a < 0:
        raise ValueError("Invalid value for a!")
    logging.info("Combined function completed")
    return a * b

# Successful run
print("Combined function result:", combined_function(3, 7))

# Exception case
try:
    combined_function(-1, 7)
except Exception as e:
    print(f"Caught an exception: {e}")
'''


def run_example(tmp_path: Path, source: str) -> Run:
    (tmp_path / "monitoring.py").write_text(ALIAS)
    return run_program(tmp_path, source)


def log_messages(log_dir: Path) -> list[str]:
    """The messages of the captured logging records in timing.log, in order."""
    return [
        e["message"] for e in log_family(log_dir, schema.TIMING_LOG) if e.get("event") == schema.EVENT_LOG
    ]


def test_timer_example(tmp_path: Path) -> None:
    """One row and one JSON line in ./logs, about 2 s long, arguments logged; the console shows it."""
    done = run_example(tmp_path, TIMER_EXAMPLE)
    assert done.stdout.strip() == "Result: 15"
    rows = read_csv(tmp_path / "logs")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["function"] == "my_function" and 1.9 < row["duration_s"] < 3
    assert row["args"] == '{"args":["5","10"],"kwargs":{}}'
    assert len(call_lines(tmp_path / "logs")) == 1
    assert "my_function finished in" in done.stderr  # log_to_console defaults to True
    started, completed = "My function started", "My function completed"
    assert log_messages(tmp_path / "logs") == [started, completed]
    assert done.stderr.count(started) == 1 and done.stderr.count(completed) == 1


def test_error_catcher_example(tmp_path: Path) -> None:
    """The error reaches the caller; error.log holds it sanitized, with its traceback."""
    done = run_example(tmp_path, ERROR_EXAMPLE)
    assert (
        done.stdout.strip() == "Caught an exception as expected: This is a test error with a secret password!"
    )
    (entry,) = log_family(tmp_path / "logs", "error.log")
    assert entry["error_message"] == "This is a test error with a secret *****!"
    assert "password" not in entry["traceback"] and "Traceback" in entry["traceback"]
    assert entry["function"] == "error_function"
    assert log_messages(tmp_path / "logs") == ["Error function starting"]
    assert done.stderr.count("Error function starting") == 1


def test_combined_example(tmp_path: Path) -> None:
    """Two rows (one ok, one error), one error.log entry joined to its row, digits masked."""
    done = run_example(tmp_path, COMBINED_EXAMPLE)
    assert done.stdout.splitlines() == [
        "Combined function result: 21",
        "Caught an exception: Invalid value for a!",
    ]
    rows = read_csv(tmp_path / "logs")
    assert list(rows["status"]) == ["ok", "error"]
    assert list(rows["args"]) == ['{"args":["*","*"],"kwargs":{}}', '{"args":["-*","*"],"kwargs":{}}']
    (entry,) = log_family(tmp_path / "logs", "error.log")
    assert entry["uuid"] == rows["call_id"][1]
    assert entry["error_type"] == "ValueError"
    lines = ["Combined function started", "Combined function completed", "Combined function started"]
    assert log_messages(tmp_path / "logs") == lines
    assert done.stderr.count("Combined function started") == 2
    assert done.stderr.count("Combined function completed") == 1

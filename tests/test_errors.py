"""ErrorCatcher in pool workers: logged with the full traceback, re-raised, and sanitized everywhere."""

from __future__ import annotations

from pathlib import Path

from helpers import call_lines, log_family, read_csv, run_program

PROGRAM = """
import multiprocessing, sys
import mpmon

def hide(text):
    return text.replace("hunter2", "*****")

@mpmon.ErrorCatcher(sanitize_func=hide, log_to_console=False)
@mpmon.Timer(sanitize_func=hide, log_to_console=False)
def login(user, password):
    if user % 3 == 0:
        raise PermissionError(f"user {user} has a bad password {password}")
    return user

def attempt(user):
    try:
        return login(user, password="hunter2")
    except PermissionError as exc:
        return "caught: " + str(exc)

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    with multiprocessing.get_context(sys.argv[1]).Pool(2) as pool:
        results = pool.map(attempt, range(30))
    mpmon.stop_collector()
    caught = [r for r in results if isinstance(r, str)]
    assert len(caught) == 10 and all("hunter2" in r for r in caught), caught  # the caller sees the real error
    print(len(caught))
"""


def test_errors_are_logged_reraised_and_sanitized(tmp_path: Path, start_method: str) -> None:
    """One error.log entry per exception, traceback included, row status error, secret in no file."""
    done = run_program(tmp_path, PROGRAM, start_method)
    assert done.stdout.strip() == "10"
    log_dir = tmp_path / "logs"
    errors = log_family(log_dir, "error.log")
    rows = read_csv(log_dir)

    assert len(errors) == 10
    assert len(rows) == 30
    failed = rows[rows["status"] == "error"]
    assert len(failed) == 10 and set(failed["error_type"]) == {"PermissionError"}
    assert {e["uuid"] for e in errors} == set(failed["call_id"])  # the entry joins its Timer row
    for entry in errors:
        assert entry["error_type"] == "PermissionError"
        assert entry["traceback"].startswith("Traceback (most recent call last):")
        assert 'raise PermissionError(f"user {user} has a bad password {password}")' in entry["traceback"]
        assert "*****" in entry["error_message"] and "*****" in entry["args"]
        assert "mpmon/decorators.py" not in entry["traceback"]
    assert {line["status"] for line in call_lines(log_dir)} == {"ok", "error"}
    for path in log_dir.rglob("*"):
        assert b"hunter2" not in path.read_bytes(), path

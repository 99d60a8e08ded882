"""The collector's files: recreated when removed under it, the error results table, FLUSH, a given run id.

Real programs against a real collector; the files are read back with pandas and pyarrow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
from helpers import PRELUDE, log_family, read_csv, run_program

from mpmon import schema

DELETED = (
    PRELUDE
    + """
logs = sys.argv[1]
mpmon.start_collector(logs, log_to_console=False)
for i in range(10):
    step(i)
mpmon.flush()
csv = os.path.join(logs, "timing_results.csv")
deadline = time.monotonic() + 20
while time.monotonic() < deadline and (not os.path.exists(csv) or os.path.getsize(csv) < 1000):
    time.sleep(0.05)
os.unlink(csv)
os.unlink(os.path.join(logs, "timing.log"))
for i in range(10, 25):
    step(i)
mpmon.stop_collector()
"""
)


class TestRemovedFiles:
    """Files removed under a running collector are started anew, as WatchedFileHandler does."""

    def test_a_deleted_csv_and_timing_log_are_recreated_with_their_header_and_later_rows(
        self, tmp_path: Path
    ) -> None:
        """The new CSV starts with the header and holds the 15 later calls; timing.log holds their lines
        and the run_summary, which counts the two files started anew."""
        logs = tmp_path / "logs"
        run_program(tmp_path, DELETED, str(logs))
        assert (logs / schema.RESULTS_CSV).read_text().startswith(schema.CSV_HEADER + "\n")
        rows = read_csv(logs)
        assert sorted(rows["args"].map(lambda a: int(json.loads(a)["args"][0]))) == list(range(10, 25))
        lines = log_family(logs, schema.TIMING_LOG)
        calls = [e for e in lines if e.get("event") == schema.EVENT_CALL]
        assert len(calls) == 15
        summary = [e for e in lines if e.get("event") == schema.RUN_SUMMARY_EVENT][-1]
        assert summary["files_reopened"] == 2


ERRORS = """
import sys
import mpmon

@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def fail(i):
    raise KeyError(f"key {i}")

mpmon.start_collector(sys.argv[1], log_to_console=False, results_format=sys.argv[2])
for i in range(3):
    try:
        fail(i)
    except KeyError:
        pass
mpmon.stop_collector()
"""


@pytest.mark.parametrize("results_format", ["csv", "parquet"])
def test_every_caught_error_is_a_row_of_the_error_results_table(tmp_path: Path, results_format: str) -> None:
    """error_results.csv / error_results.parquet/: one row per caught error, the schema's columns, joined
    to the Timer rows by call_id."""
    logs = tmp_path / "logs"
    run_program(tmp_path, ERRORS, str(logs), results_format)
    if results_format == "csv":
        errors = pd.read_csv(logs / schema.ERROR_RESULTS_CSV, keep_default_na=False)
        assert tuple(errors.columns) == schema.ERROR_COLUMN_NAMES
        timer = read_csv(logs)
    else:
        table = ds.dataset(logs / schema.ERROR_RESULTS_PARQUET, format="parquet").to_table()
        assert table.schema.equals(schema.error_arrow_schema())
        errors = table.to_pandas()
        timer = ds.dataset(logs / schema.RESULTS_PARQUET, format="parquet").to_table().to_pandas()
    assert len(errors) == 3
    assert set(errors["error_type"]) == {"KeyError"}
    assert sorted(errors["error_message"]) == ["'key 0'", "'key 1'", "'key 2'"]
    assert all("Traceback" in t for t in errors["traceback"])
    assert set(errors["call_id"]) == set(timer["call_id"])


FLUSH = """
import json, os, sys, time
from multiprocessing import connection
import pyarrow.dataset as ds
import mpmon
from mpmon import wire

c = mpmon.start_collector(sys.argv[1], log_to_console=False, results_format="parquet")
conn = wire.connect(c.address, bytes.fromhex(os.environ["MPMON_AUTHKEY"]), 5.0)
record = (0, "timer", "flushed", "m", 1, 0, time.time_ns(), 1000, -1, -1, -1, "t", "", None,
          (None, None, None))
conn.send_bytes(wire.encode_batch((os.getpid(), "p", "h", "01234567-0123-0123-0123-", c.run_id), [record], 1))
conn.send_bytes(b"flush")
assert conn.poll(10)
answer = conn.recv_bytes()
rows = ds.dataset(os.path.join(sys.argv[1], "timing_results.parquet"), format="parquet").to_table().num_rows
conn.close()
mpmon.stop_collector()
print(json.dumps({"answer": answer.decode(), "rows": rows}))
"""


def test_flush_writes_and_closes_the_parquet_part_before_the_ack(tmp_path: Path) -> None:
    """After FLUSH's ACK a reader sees the row in the Parquet dataset at once."""
    done = run_program(tmp_path, FLUSH, str(tmp_path / "logs"))
    assert json.loads(done.stdout.splitlines()[-1]) == {"answer": "ack:1", "rows": 1}


RUN_ID = (
    PRELUDE
    + """
try:
    mpmon.start_collector(sys.argv[1], run_id="no spaces allowed")
except ValueError as exc:
    print("refused:", exc)
c = mpmon.start_collector(sys.argv[1], log_to_console=False, run_id="job-42:host_a.1")
step(1)
mpmon.stop_collector()
print(c.run_id)
"""
)


def test_a_given_run_id_is_used_and_a_malformed_one_refused(tmp_path: Path) -> None:
    """start_collector(run_id=...) puts that id on every row and line; a malformed one is a ValueError."""
    logs = tmp_path / "logs"
    done = run_program(tmp_path, RUN_ID, str(logs))
    assert "refused: run_id must be" in done.stdout
    assert done.stdout.splitlines()[-1] == "job-42:host_a.1"
    assert set(read_csv(logs)["run_id"]) == {"job-42:host_a.1"}
    assert {e["run_id"] for e in log_family(logs, schema.TIMING_LOG)} == {"job-42:host_a.1"}

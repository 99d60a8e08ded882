"""A round's caught errors are written together (collector/caught.py) with the bytes of one batch at a time.

Each ErrorCatcher error travels as a batch of its own, so a round of the collector holds many batches of
one error; their error results rows are one table per round. These tests feed the golden records
(test_golden_files.py) split that way to the collector's Writer and compare the files with the golden
ones byte for byte, and check that a batch whose error rows cannot be made is still rejected alone.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from mpmon.collector.writer import Writer
from mpmon.schema import ERROR_RESULTS_PARQUET, RESULTS_PARQUET
from mpmon.wire import CALL, ERROR, Batch

from . import test_golden_files as golden
from .test_golden_files import (
    FILES,
    GOLDEN,
    START_NS,
    batches,
    record_bytes,
    travelled,
    write_run,
    writer_settings,
)


def split_errors(rounds: list[list[Batch]]) -> list[list[Batch]]:
    """The rounds with every batch that holds errors cut into a batch per error (in their order, each
    with its own sequence number), then a batch of its other records: as senders send caught errors."""
    seq = iter(range(1_000, 2_000))
    split = []
    for round_ in rounds:
        made = []
        for batch in round_:
            errors = [r for r in batch.records if r[0] == ERROR]
            if not errors:
                made.append(batch)
                continue
            made += [Batch(batch.meta, [error], next(seq)) for error in errors]
            made.append(Batch(batch.meta, [r for r in batch.records if r[0] != ERROR], next(seq)))
        split.append(made)
    return split


def test_errors_as_batches_of_one_write_the_golden_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight errors sent as eight batches of one, in one round, write the golden error.log, error
    results rows, timing.log and results rows (what one batch of the eight wrote); and the same after
    travelling (encoded, decoded, bounded), as the server hands them on."""
    write_run(tmp_path / "whole", "csv", wire=travelled)
    rounds = split_errors(batches())
    assert sum(len(r) for r in rounds) == sum(len(r) for r in batches()) + 8
    monkeypatch.setattr(golden, "batches", lambda: rounds)  # write_run writes these rounds
    write_run(tmp_path / "split", "csv")
    write_run(tmp_path / "split-travelled", "csv", wire=travelled)
    for name in FILES:
        assert record_bytes(tmp_path / "split", name) == (GOLDEN / name).read_bytes(), name
        assert record_bytes(tmp_path / "split-travelled", name) == record_bytes(tmp_path / "whole", name), (
            name
        )


def test_errors_as_batches_of_one_write_the_same_parquet_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Parquet results, the error results rows of a round of one-error batches are those the
    errors wrote as one batch, in the same order (and the results rows too)."""
    write_run(tmp_path / "whole", "parquet", wire=travelled)
    rounds = split_errors(batches())
    monkeypatch.setattr(golden, "batches", lambda: rounds)
    write_run(tmp_path / "split", "parquet", wire=travelled)
    for name in (ERROR_RESULTS_PARQUET, RESULTS_PARQUET):
        whole = ds.dataset(tmp_path / "whole" / name).to_table().to_pylist()
        assert whole and ds.dataset(tmp_path / "split" / name).to_table().to_pylist() == whole, name


def error_record(message: str, call_no: int) -> tuple[object, ...]:
    return (ERROR, "work", "__main__", call_no, START_NS, "MainThread", "ValueError", message,
            f"Traceback\n  {message}\n", None, (None,) * 5)  # fmt: skip


def test_a_batch_whose_error_rows_cannot_be_made_is_rejected_alone(tmp_path: Path) -> None:
    """In a round of three error batches, the one whose process name cannot be an error results row (an
    int) is rejected and counted lost; the other two are written, in their order, to error.log and the
    rows."""
    settings = writer_settings(tmp_path, "r")
    good = (4242, "P", "h", "0123abcd-0000-4000-8000-", "")
    bad = (4243, 123, "h", "89abcdef-1111-4111-8111-", "")  # a process name that is no text
    writer = Writer(settings)
    writer.start()
    lost = writer.write(
        [
            Batch(good, [error_record("first", 1)], 1),
            Batch(bad, [error_record("bad", 2)], 2),
            Batch(good, [error_record("third", 3)], 3),
        ]
    )
    writer.stop()
    assert lost == {"89abcdef-1111-4111-8111-": 1}
    assert writer.stats.rejected == 1
    with open(tmp_path / "error_results.csv", newline="") as table:
        found = [row["error_message"] for row in csv.DictReader(table)]
    assert found == ["first", "third"]
    logged = [json.loads(line)["error_message"] for line in (tmp_path / "error.log").read_text().splitlines()]
    assert logged == ["first", "bad", "third"]


def test_the_errors_of_a_batch_with_malformed_calls_are_still_logged(tmp_path: Path) -> None:
    """A batch whose call records cannot be read is rejected whole, but its errors' error.log lines are
    written, as when each batch's lines were written before its calls were read."""
    settings = writer_settings(tmp_path, "r")
    meta = (4242, "P", "h", "0123abcd-0000-4000-8000-", "")
    writer = Writer(settings)
    writer.start()
    calls = (("x",), ("y",))  # calls in columns that do not fit its calls in rows: it cannot be read
    batch = Batch(meta, [error_record("kept", 1), (CALL, "timer")], 1, calls)
    lost = writer.write([batch])
    writer.stop()
    assert lost == {"0123abcd-0000-4000-8000-": batch.size} and writer.stats.rejected == 1
    logged = [json.loads(line)["error_message"] for line in (tmp_path / "error.log").read_text().splitlines()]
    assert logged == ["kept"]

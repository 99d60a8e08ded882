"""The usual calls' arguments (positional texts only) are measured and rendered once per batch.

bounds.py measures a batch's arguments with arguments.usual_args (one join per call) and keeps the
measure for the round that writes it (arguments.MEASURED), which renders its column from the joins
(arguments.usual_column); each must measure what the general path measures and write the bytes
rows.args_json() writes, and the writer process runs with
its garbage collector set for its rounds (collector.__main__.quiet_gc).
"""

from __future__ import annotations

import gc
import importlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmon.collector import arguments, bounds, measures
from mpmon.collector.writer import Writer
from mpmon.rows import args_json
from mpmon.wire import CALL_FIELDS, Batch, decode_batch, encode_batch

from .test_golden_files import FILES, TRICKY, call, record_bytes, writer_settings

ARGS = CALL_FIELDS.index("args")
TEXTS = st.text(alphabet=st.sampled_from(list("a1 \"\\\n\x00\x7f~[]{}é日🎉'")), max_size=6)
USUAL = st.lists(TEXTS, min_size=1, max_size=3).map(lambda texts: (tuple(texts), ()))


@settings(max_examples=200, deadline=None)
@given(st.lists(USUAL, min_size=1, max_size=60))
def test_usual_arguments_measure_and_render_as_the_general_path(column: list[Any]) -> None:
    """Each call measures what bounds._args_size measures (less 3), all of them the characters of the
    texts, and the column, made when no text needs escaping, is rows.args_json() row for row."""
    usual = arguments.usual_args(tuple(column))
    assert usual is not None
    assert [int(n) + 3 for n in usual.lengths] == [bounds._args_size(a) for a in column]
    assert usual.characters == sum(len(t) for positional, _ in column for t in positional)
    plain = all(t.isascii() and t.isprintable() and not set(t) & set('"\\') for p, _ in column for t in p)
    made = arguments.usual_column([usual])
    assert (made is not None) == plain
    if made is not None:
        assert made.to_pylist() == [args_json(a) for a in column]


@pytest.mark.parametrize(
    "column",
    [
        [None, (("1",), ())],
        [(("1",), ()), None],
        [((), ())],
        [(("1",), (("k", "v"),))],
        [(("1",), (), "extra")],
        [((b"1",), ())],
        [(("1", 2), ())],
        [],
    ],
    ids=["none-first", "none-later", "no-text", "keywords", "three-fields", "bytes", "an-int", "empty"],
)
def test_any_other_column_is_left_to_the_general_path(column: list[Any]) -> None:
    """A call without arguments, with keyword arguments, or of any other shape: not usual."""
    assert arguments.usual_args(tuple(column)) is None


def test_texts_referenced_many_times_are_measured_before_anything_is_joined() -> None:
    """A batch that repeats one long text (cheap on the wire) past the limits is declined, not joined."""
    long = "x" * 100_000
    assert arguments.usual_args(((long,), ()) * 5000, 1 << 30, bounds.MAX_EXPANDED) is None
    assert arguments.usual_args(((long,) * 3, ()) * 5000, 1 << 30, bounds.MAX_EXPANDED) is None
    assert arguments.usual_args(((long,), ()) * 2, 1000, bounds.MAX_EXPANDED) is None


def travelled(records: list[tuple[Any, ...]], seq: int) -> Batch:
    """A batch as the server writes it: encoded by a sender, decoded, bounded."""
    meta = (4242, "ForkPoolWorker-1", "host-a", "0123abcd-0000-4000-8000-", "usual")
    return bounds.bound(decode_batch(encode_batch(meta, records, seq)))


def test_bound_keeps_its_measure_for_the_round() -> None:
    """Bounding a batch of usual calls leaves its measure for the writer, and a round of several
    batches takes all of theirs, once, and makes its column from them."""
    first = travelled([call(i, "", args=((str(i),), ())) for i in range(50)], 1)
    second = travelled([call(i, "", args=((str(i), "[1, 2]"), ())) for i in range(7)], 2)
    columns = [first.calls[ARGS], second.calls[ARGS]]
    taken = arguments.MEASURED.take(columns)
    assert taken is not None
    made = arguments.usual_column(taken)
    assert made is not None and made.to_pylist() == [args_json(a) for a in columns[0] + columns[1]]
    assert arguments.MEASURED.take(columns) is None  # forgotten once taken


def rounds() -> list[list[list[tuple[Any, ...]]]]:
    """Rounds (lists of batches' records) of usual calls, plain or not, large and small, mixed."""
    return [
        [[call(i, "", args=((str(i),), ())) for i in range(300)]],
        [
            [call(i, "", args=((str(i), "'w x'", "[1, {2: 3}]"), ())) for i in range(40)],
            [
                call(i, "", args=((text, repr(i)), ()))
                for i in range(40)
                for text in TRICKY[i % 2 : 1 + i % 2]
            ],
            [call(i, "", args=((TRICKY[i % len(TRICKY)],), ())) for i in range(40)],
            [call(i, "", args=((str(i),), ())) for i in range(3)],
        ],
        [[call(i, "", args=((str(i),), ())) for i in range(5)]],
    ]


def write(directory: Path, batches: list[list[Batch]]) -> None:
    writer = Writer(writer_settings(directory, "usual"))
    writer.start()
    for round_ in batches:
        writer.write(round_)
    writer.stop()


def test_rounds_written_from_the_rendered_columns_are_the_rows_own_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds whose batches travelled (bounded, their measures kept by bound), and the same batches
    as rows never bounded (args_column renders them), give timing.log and the CSV byte for byte as the
    same records written row by row with rows.py (the spill files' path)."""
    seq = iter(range(1, 100))
    write(tmp_path / "columns", [[travelled(records, next(seq)) for records in r] for r in rounds()])
    meta = (4242, "ForkPoolWorker-1", "host-a", "0123abcd-0000-4000-8000-", "usual")
    write(tmp_path / "unbounded", [[Batch(meta, records, next(seq)) for records in r] for r in rounds()])
    monkeypatch.setattr(measures, "ROW_BY_ROW", 1 << 30)
    write(tmp_path / "rows", [[Batch(meta, records, next(seq)) for records in r] for r in rounds()])
    for name in FILES:
        expected = record_bytes(tmp_path / "rows", name)
        assert record_bytes(tmp_path / "columns", name) == expected, name
        assert record_bytes(tmp_path / "unbounded", name) == expected, name
    assert b'"{\\"args\\":[\\"299\\"],\\"kwargs\\":{}}"' in record_bytes(tmp_path / "columns", "timing.log")


def test_the_writer_process_collects_garbage_past_its_rounds() -> None:
    """quiet_gc (run by the writer process before it serves) raises the young generation's threshold
    and freezes what was imported (this process's settings are put back after)."""
    main = importlib.import_module("mpmon.collector.__main__")
    before = gc.get_threshold()
    try:
        main.quiet_gc()
        assert gc.get_threshold()[0] == main.YOUNG_OBJECTS > before[0]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

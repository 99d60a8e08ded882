"""A batch's call records travel in columns (wire.encode_batch); the collector refuses columns of any
other shape and bounds them column by column (collector/bounds.py)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from mpmon import render, wire
from mpmon.collector import tables
from mpmon.collector.bounds import bound
from mpmon.wire import CALL, CALL_NUMBERS, DROPPED, Batch, RejectedPayload, decode_batch, encode_batch

META = (1, "p", "h", "01234567-0123-0123-0123-", "run")


def call(number: int, function: str = "f", args: Any = None) -> tuple[Any, ...]:
    return wire.call_record("timer", function, "m", number, 0, 10**18 + number, 5, -1, -1, -1, "t", "", args,
                            (None, None, None))  # fmt: skip


def numbers_of(column: bytes) -> list[int]:
    return [int.from_bytes(column[i : i + 8], "little", signed=True) for i in range(0, len(column), 8)]


class TestEncoding:
    def test_calls_leave_in_columns_and_other_kinds_as_rows(self) -> None:
        """Calls become one column per field (numbers as int64 bytes); other kinds stay rows."""
        records = [call(1), (DROPPED, 3), call(2)]
        batch = decode_batch(encode_batch(META, records, 7))
        assert batch.records == [(DROPPED, 3)] and batch.seq == 7 and batch.size == 3
        numbers = {i: tuple(numbers_of(batch.calls[i])) for i in CALL_NUMBERS}
        as_sent = tuple(numbers.get(i, column) for i, column in enumerate(batch.calls))
        assert as_sent == tables.call_columns([r for r in records if r[0] == CALL])
        assert all(type(batch.calls[i]) is bytes for i in CALL_NUMBERS)

    def test_a_number_past_int64_travels_as_a_tuple(self) -> None:
        batch = decode_batch(encode_batch(META, [call(1 << 70)], 1))
        assert batch.calls[wire.CALL_FIELDS.index("call_no")] == (1 << 70,)

    def test_a_batch_of_rows_is_still_read(self) -> None:
        batch = decode_batch(pickle.dumps((META, [call(1)], 1)))
        assert batch == Batch(META, [call(1)], 1) and batch.size == 1


class TestRefused:
    @pytest.mark.parametrize(
        "calls",
        [
            ((),) * len(wire.CALL_FIELDS),  # no record
            (("timer",),) * (len(wire.CALL_FIELDS) - 1),  # a field short
            (("timer", "timer"),) + (("x",),) * (len(wire.CALL_FIELDS) - 1),  # lengths differ
            (("timer",),) + (b"\0" * 8,) * (len(wire.CALL_FIELDS) - 1),  # bytes where text belongs
            tuple(b"\0" * 7 if i in CALL_NUMBERS else ("x",) for i in range(len(wire.CALL_FIELDS))),
            [("x",)] * len(wire.CALL_FIELDS),  # a list
        ],
    )
    def test_columns_of_another_shape(self, calls: Any) -> None:
        with pytest.raises(RejectedPayload):
            decode_batch(pickle.dumps((META, [], 1, calls)))


class TestBounds:
    def test_columns_are_bounded_like_rows(self) -> None:
        """A name past MAX_NAME and arguments past MAX_ARGS_FIELD are cut, the others left as they are."""
        long = "x" * (render.MAX_NAME + 10)
        big = ((("y" * 1000,) * 1000), ())
        batch = bound(decode_batch(encode_batch(META, [call(1, long, big), call(2)], 1)))
        function = batch.calls[wire.CALL_FIELDS.index("function")]
        assert function == (long[: render.MAX_NAME], "f")
        args = batch.calls[wire.CALL_FIELDS.index("args")]
        assert args[1] is None and args[0] == render.cap_args(list(big[0][: render.MAX_ARGS + 1]), [])

    def test_a_batch_within_every_limit_is_the_same_object(self) -> None:
        batch = decode_batch(encode_batch(META, [call(1), call(2, args=(("1",), ()))], 1))
        assert bound(batch) is batch

"""The collector's column-wise formatting agrees with the record-by-record formatting of spill files."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mpmon import rows
from mpmon.collector import measures, messages

DURATIONS_NS = [0, 1, 499, 500, 1_499, 1_500, 2_500, 999_999, 999_999_499, 999_999_500, 12_345_678_901]


@pytest.mark.parametrize("error", ["", "ValueError"])
def test_messages_by_columns_equal_rows_message(error: str) -> None:
    """The message's duration is rounded the same way (half up, three significant digits) in both paths."""
    count = len(DURATIONS_NS)
    function = pa.array(['f "quoted"'] * count)
    errors = pa.array([error] * count)
    made = messages.messages(function, pa.array(DURATIONS_NS, pa.int64()), errors, pc.not_equal(errors, ""))
    assert made.to_pylist() == [rows.message('f "quoted"', ns, error) for ns in DURATIONS_NS]
    assert rows.message("f", 1_500, "") == "f finished in 1.5 µs"
    assert rows.message("f", 12_345_678_901, "E") == "f finished in 12.3 s, raised E"


def test_call_ids_by_columns_equal_the_spill_files_ids() -> None:
    """prefix + the call number as 12 hex digits, whichever path makes the id."""
    prefix = "0123abcd-0000-4000-8000-"
    numbers = [1, 15, 16, 255, 65_535, 65_536, 2**32 - 1, 2**32, 2**48 - 1]
    made = measures.ids(pa.array([prefix] * len(numbers)), pa.array(numbers, pa.int64()))
    assert made.to_pylist() == [f"{prefix}{n:012x}" for n in numbers]
    parents = measures.parent_ids(pa.array([prefix] * 3), (0, 7, 0))
    assert isinstance(parents, pa.Array)
    assert parents.to_pylist() == ["", f"{prefix}{7:012x}", ""]
    assert measures.parent_ids(pa.array([prefix] * 2), (0, 0)) == ["", ""]

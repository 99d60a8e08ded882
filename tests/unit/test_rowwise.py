"""A round of a few call records written in plain Python (collector/rowwise.py) gives the bytes the
column path gives: the CSV rows of Arrow's writer, the timing.log lines of lines.json_lines, and the same
Parquet rows; a round it cannot write the same way is left to the column path."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmon.collector import measures, rowwise, tables
from mpmon.collector.accounts import Meta
from mpmon.wire import CALL

from .test_golden_files import START_NS, STATM, write_run

TEXT = st.text(alphabet=st.sampled_from(list('ab "\\\n\x00\x1f\x7fé日🎉\ud800,')), max_size=8)
NUMBER = st.integers(min_value=0, max_value=2**40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(width=64) | st.floats(min_value=-1e-3, max_value=1e-3), min_size=1, max_size=50))
def test_arrow_float_is_arrows_own_text_of_a_float(values: list[float]) -> None:
    """Shortest digits, decimal from 1e-6 to below 1e10, scientific beyond ("1e-7", "1.5e+10"), "0"
    for 0.0, nan and inf: the text Arrow's cast (and so its CSV writer) gives."""
    assert [rowwise.arrow_float(v) for v in values] == pc.cast(
        pa.array(values, pa.float64()), pa.string()
    ).to_pylist()


def test_arrow_float_at_the_edges_of_decimal_notation() -> None:
    """Each side of the limits where Arrow switches between decimal and scientific notation."""
    values = [1e-7, 9.99e-7, 1e-6, 1.5e-6, 9.5e-5, 1e-4, 999999999.5, 1e9, 9999999999.0, 1e10, 1.5e16, -0.0]
    texts = ["1e-7", "9.99e-7", "0.000001", "0.0000015", "0.000095", "0.0001", "999999999.5"]
    texts += ["1000000000", "9999999999", "1e+10", "1.5e+16", "-0"]
    assert [rowwise.arrow_float(v) for v in values] == texts


def record(i: int, draw: Any) -> tuple[Any, ...]:
    """A CALL record with drawn texts and numbers (wire.CALL_FIELDS order)."""
    tracked = draw(st.sampled_from(["no", "statm", "ints"]))
    rss = {"no": (-1, -1), "statm": (STATM, STATM.replace(b"2345", b"2399")), "ints": (1 << 20, 5 << 19)}
    args = draw(
        st.none()
        | st.tuples(
            st.lists(TEXT, max_size=3).map(tuple), st.lists(st.tuples(TEXT, TEXT), max_size=2).map(tuple)
        )
    )
    return (
        CALL,
        draw(st.sampled_from(["timer", "hook"])),
        draw(TEXT) or "f",
        draw(TEXT),
        i + 1,
        draw(st.sampled_from([0, 0, i + 7, 2**48 - 1])),
        START_NS + draw(st.integers(min_value=0, max_value=10**12)),
        draw(st.sampled_from([0, 1, 999, 999_500, 1_500_000, 12_345_678_901, 10**13])),
        draw(st.sampled_from([-1, 0, 50, 123_456, 10**10])) if tracked != "no" else -1,
        *rss[tracked],
        draw(TEXT),
        draw(st.sampled_from(["", "", "ValueError", 'E"rr\n'])),
        args,
        (None, None, None),
    )


def by_columns(parts: list[tuple[Meta, tuple[Any, ...]]]) -> tuple[bytes, list[str]]:
    """The CSV rows and timing.log lines of the column path (tables.call_table, lines.json_lines), with
    Arrow's kernels whatever the round's size."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(measures, "ROW_BY_ROW", 0)
        made = tables.call_table(parts, "the-run")  # type: ignore[arg-type]
        as_csv = tables.csv_table(made.table)
        iso = {name: as_csv.column(name) for name in ("start_time", "end_time")}
        lines = tables.json_lines(made.table, iso, made.plain, made.constant).to_pylist()
    sink = io.BytesIO()
    pa_csv.write_csv(as_csv, sink, pa_csv.WriteOptions(include_header=False))
    return sink.getvalue(), [line.removesuffix("\n") for line in lines]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_round_in_python_writes_the_bytes_of_the_column_path(data: st.DataObject) -> None:
    """Drawn records (quotes, backslashes, control characters, lone surrogates, keyword arguments,
    errors, nested calls, every duration unit, memory tracked or not) in one to three batches of two
    processes: the Python round's CSV rows and timing.log lines are the column path's, byte for byte."""
    metas = [
        Meta(4242, 'Fork "1"', "host-a", "0123abcd-0000-4000-8000-", "run-a"),
        Meta(7, "p\n\ud800", "h", "89abcdef-1111-4111-8111-", ""),
    ]
    parts = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        records = [record(i, data.draw) for i in range(data.draw(st.integers(min_value=1, max_value=6)))]
        parts.append((data.draw(st.sampled_from(metas)), tables.call_columns(records)))
    made = rowwise.call_rows(parts, "the-run")  # type: ignore[arg-type]
    assert made is not None
    columns_csv, columns_lines = by_columns(parts)
    assert rowwise.csv_text(made) == columns_csv
    assert rowwise.json_lines(made) == columns_lines
    assert all(json.loads(line) for line in columns_lines)


def test_a_round_the_column_path_makes_otherwise_is_declined() -> None:
    """Values the column path reads its own way (a call number past 12 hex digits, a time before 1970,
    a text that is not a str, columns of different lengths) are left to it: None."""
    meta = Meta(1, "p", "h", "0123abcd-0000-4000-8000-", "")
    good = (CALL, "timer", "f", "m", 1, 0, START_NS, 10, -1, -1, -1, "T", "", None, (None, None, None))
    assert rowwise.call_rows([(meta, tables.call_columns([good]))], "r") is not None
    for index, value in ((4, 2**48), (6, -5), (2, b"f"), (11, None)):
        bad = (*good[:index], value, *good[index + 1 :])
        assert rowwise.call_rows([(meta, tables.call_columns([bad]))], "r") is None
    uneven = tables.call_columns([good, good])
    assert rowwise.call_rows([(meta, (uneven[0][:1], *uneven[1:]))], "r") is None


@pytest.mark.parametrize("results_format", ["csv", "parquet"])
def test_the_writer_writes_small_rounds_in_python_and_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results_format: str
) -> None:
    """The golden rounds written with every round in Python, then every round by columns: the same
    timing.log and CSV bytes, the same Parquet rows (exactly, floats included)."""
    written = {}
    for name, row_by_row in (("python", 1 << 30), ("columns", 0)):
        monkeypatch.setattr(measures, "ROW_BY_ROW", row_by_row)
        write_run(tmp_path / name, results_format)
        written[name] = tmp_path / name
    for file_name in ("timing_results.csv", "error_results.csv", "error.log"):
        python, columns = (written[n] / file_name for n in ("python", "columns"))
        assert python.exists() == columns.exists()
        assert not python.exists() or python.read_bytes() == columns.read_bytes(), file_name
    calls = [
        [line for line in (written[n] / "timing.log").read_text().splitlines() if '"event":"call"' in line]
        for n in ("python", "columns")
    ]
    assert calls[0] == calls[1] and len(calls[0]) > 400
    if results_format == "parquet":
        found = [ds.dataset(written[n] / "timing_results.parquet").to_table() for n in ("python", "columns")]
        assert sorted(found[0].to_pylist(), key=str) == sorted(found[1].to_pylist(), key=str)

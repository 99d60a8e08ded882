"""The column path's CSV rows are made by one join of texts it shares with the timing.log lines
(lines.csv_rows, lines.round_texts; the usual arguments already escaped by arguments.usual_forms): they
must be the bytes Arrow's CSV writer writes for the same table, and both files those of the Python path
(rowwise.py), whatever the texts: quotes, commas, newlines, non-ASCII, lone surrogates, empty and huge
arguments, null numbers, errors."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmon.collector import arguments, lines, measures, rowwise, tables
from mpmon.collector.accounts import Meta
from mpmon.collector.bounds import bound
from mpmon.collector.writer import Writer
from mpmon.wire import Batch, decode_batch, encode_batch

from .test_golden_files import record_bytes, writer_settings
from .test_rowwise import record

USUAL = st.text(alphabet=st.sampled_from(list("ab ,1(){}[]:'~é")), max_size=6).filter(str.isascii)
"""Argument texts of the usual shape: printable ASCII without a quote or backslash."""
METAS = [
    Meta(4242, 'Fork "1"', "host-a", "0123abcd-0000-4000-8000-", "run-a"),
    Meta(7, "p,\n\ud800", "h", "89abcdef-1111-4111-8111-", ""),
]


def usual(i: int, draw: Any) -> tuple[Any, ...]:
    """A drawn CALL record whose arguments are one to three usual texts (or one huge or empty one)."""
    texts = draw(st.lists(USUAL | st.sampled_from(["", "9" * 3000]), min_size=1, max_size=3))
    return (*record(i, draw)[:13], (tuple(texts), ()), (None, None, None))


def arrow_writer_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pa_csv.write_csv(tables.csv_table(table), sink, pa_csv.WriteOptions(include_header=False))
    return sink.getvalue()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_csv_rows_are_arrows_bytes_and_both_files_the_python_paths(data: st.DataObject) -> None:
    """Drawn rounds of one to three batches (usual arguments or any: keyword arguments, quotes, control
    characters, errors, untracked memory): the joined CSV rows are Arrow's writer's bytes, and the CSV
    rows and timing.log lines are those rowwise.py writes for the same records."""
    parts = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        make = data.draw(st.sampled_from([usual, record]))
        records = [make(i, data.draw) for i in range(data.draw(st.integers(min_value=1, max_value=6)))]
        parts.append((data.draw(st.sampled_from(METAS)), tables.call_columns(records)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(measures, "ROW_BY_ROW", 0)
        made = tables.call_table(parts, "the-run")  # type: ignore[arg-type]
        iso = {name: lines.iso_times(made.table.column(name)) for name in ("start_time", "end_time")}
        texts = lines.round_texts(made.table, made.plain, made.constant, escaped=made.escaped)
        rows = lines.csv_rows(made.table, iso, texts, made.plain, made.constant)
        json = lines.json_lines(made.table, iso, made.plain, made.constant, texts).to_pylist()
        alone = lines.json_lines(made.table, iso, made.plain, made.constant).to_pylist()
    assert rows is not None
    in_python = rowwise.call_rows(parts, "the-run")  # type: ignore[arg-type]
    assert in_python is not None
    assert "".join(rows.to_pylist()).encode() == arrow_writer_bytes(made.table) == rowwise.csv_text(in_python)
    assert [line.removesuffix("\n") for line in json] == rowwise.json_lines(in_python)
    assert json == alone


def test_the_usual_arguments_come_escaped_for_both_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """A column of usual calls (one text, several, an empty one) is made with its JSON and CSV forms,
    which are the column with its quotes escaped, row for row."""
    monkeypatch.setattr(measures, "ROW_BY_ROW", 0)
    args = ((("1",), ()), (("a", "b c", ""), ()), (("",), ()))
    column, forms = arguments.args_columns(args)
    assert forms is not None
    texts = column.to_pylist() if isinstance(column, pa.Array) else column
    assert forms[0].to_pylist() == [t.replace('"', '\\"') for t in texts]
    assert forms[1].to_pylist() == [t.replace('"', '""') for t in texts]
    assert arguments.args_columns(((("'q\"'",), ()),) * 3)[1] is None  # a text with a quote: not usual


def test_a_null_text_is_left_to_arrows_writer() -> None:
    """A text column holding a null (only a hostile batch could make one) is not joined: None."""
    from mpmon.wire import CALL

    call = (CALL, "timer", "f", "m", 1, 0, 10**18, 5, -1, -1, -1, "T", "", None, (None, None, None))
    parts = [(METAS[0], tables.call_columns([call]))]
    made = tables.call_table(parts, "r")  # type: ignore[arg-type]
    table = made.table.set_column(4, "function", pa.array([None], pa.string()))
    iso = {name: lines.iso_times(table.column(name)) for name in ("start_time", "end_time")}
    texts = lines.round_texts(table, frozenset(), {}, json=False)
    assert lines.csv_rows(table, iso, texts) is None


def write(directory: Path, rounds: list[list[Batch]], row_by_row: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(measures, "ROW_BY_ROW", row_by_row)
        writer = Writer(writer_settings(directory, "r"))
        writer.start()
        for round_ in rounds:  # as the server hands them over: encoded, decoded, bounded
            writer.write([bound(decode_batch(encode_batch(b.meta, b.records, b.seq))) for b in round_])
        writer.stop()


def test_the_writer_writes_big_rounds_of_usual_arguments_as_the_python_path(tmp_path: Path) -> None:
    """Rounds of 300 calls of usual arguments (one text, three, a huge one) from two processes, one of
    them routed three ways, written by columns and row by row: the same timing.log and CSV bytes."""
    from mpmon.wire import CALL

    def calls(texts: tuple[str, ...], route: Any = (None, None, None), n: int = 300) -> list[Any]:
        base = (CALL, "timer", "f", "m")
        return [
            (*base, i + 1, 0, 10**18 + i * 1_000_003, 1_234 * i, 50 * i, -1, -1, "T", "", (texts, ()), route)
            for i in range(n)
        ]

    routes = [(None, None, None), (False, True, "csv"), (None, False, None)]
    rounds = [
        [Batch(tuple(METAS[0]), calls(("7",)), 1), Batch(tuple(METAS[1]), calls(("a", "[1, 2]", "")), 2)],
        [Batch(tuple(METAS[0]), calls(("x" * 4000,)), 3)],
        [Batch(tuple(METAS[1]), [c for r in routes for c in calls(("b", "c"), r, 100)], 4)],
    ]
    write(tmp_path / "columns", rounds, 0)
    write(tmp_path / "python", rounds, 1 << 30)
    for name in ("timing.log", "timing_results.csv"):
        expected = record_bytes(tmp_path / "python", name)
        assert expected.count(b"\n") > 900
        assert record_bytes(tmp_path / "columns", name) == expected, name

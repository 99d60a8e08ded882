"""Rows as text: the ISO timestamps, the JSON lines of timing.log and the CSV rows, by columns.

json_lines() and csv_rows() build every line of a round with one Arrow join each, from texts made once
for both (the ISO times, round_texts(): the numbers and the escaped texts); a column known to need no
escaping (`plain`) or to hold one value in every row (`constant`, written as text) costs no other call.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from . import fixed, measures

__all__ = ["RoundTexts", "csv_rows", "csv_table", "iso_times", "json_escape", "json_lines", "round_texts"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_YEAR_10000_US: Final = 253_402_300_800_000_000
_MADE_HERE: Final = frozenset(("call_id", "parent_id", "status"))  # hex digits and words: nothing to escape


def json_escape(text: str) -> str:
    """A text as it stands between the quotes of a JSON string in timing.log (non-ASCII kept)."""
    from json.encoder import encode_basestring

    return str(encode_basestring(text)[1:-1])


def iso_times(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 text with offset of UTC timestamps (casting and patching is ten times strftime's speed,
    but for a few rows, where the fixed cost of Arrow's calls is more)."""
    if len(column) < measures.ROW_BY_ROW:
        made = _iso_by_python(column)
        if made is not None:
            return made
    if column.num_chunks == 1 and column.chunk(0).null_count == 0:  # the same values without the zone
        chunk = column.chunk(0)
        naive = pa.Array.from_buffers(pa.timestamp("us"), len(chunk), chunk.buffers(), offset=chunk.offset)
        text = pa.chunked_array([pc.cast(naive, pa.string())])
    else:
        text = pc.cast(column.cast(pa.timestamp("us")), pa.string())  # "2026-11-25 18:43:13.963583"
    if text.num_chunks == 1:
        made = fixed.iso_text(text.chunk(0))
        if made is not None:
            return pa.chunked_array([made])
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T", max_replacements=1), "+00:00", "")


def _iso_by_python(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """iso_times() of a few timestamps with datetime; None unless they lie between 1970 and 9999 (no null)."""
    if column.num_chunks != 1 or column.null_count:
        return None
    chunk = column.chunk(0)
    values = np.frombuffer(chunk.buffers()[1], np.int64)[chunk.offset : chunk.offset + len(chunk)]
    if len(values) == 0 or values.min() < 0 or values.max() >= _YEAR_10000_US:
        return None
    texts = [(_EPOCH + timedelta(microseconds=v)).isoformat("T", "microseconds") for v in values.tolist()]
    return pa.chunked_array([pa.array(texts, pa.string())])


def csv_table(table: pa.Table) -> pa.Table:
    """The table with its timestamps as ISO 8601 text with offset, as the CSV holds them."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(index, field.name, iso_times(table.column(index)))
    return table


def _json_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """A text column's contents for inside JSON quotes: backslashes and quotes escaped by columns, and
    only a column that holds a control character (or a round of a few rows) escaped in Python, value by
    value."""
    found = _bytes_found(column) if len(column) >= measures.ROW_BY_ROW else None
    if found is None or found[0]:
        from json.encoder import encode_basestring

        return pa.array([encode_basestring(v)[1:-1] for v in column.to_pylist()], pa.string())
    escaped = pc.replace_substring(column, "\\", "\\\\") if found[1] else column
    return pc.replace_substring(escaped, '"', '\\"')


def _bytes_found(column: pa.ChunkedArray) -> tuple[bool, bool]:
    """Whether the column's texts hold a control character (U+0000 to U+001F), and a backslash: one numpy
    pass over their UTF-8 bytes (every byte of a character past U+007F is 0x80 or above)."""
    control = backslash = False
    for chunk in column.chunks:
        offsets, data = chunk.buffers()[1:3]
        if offsets is None or data is None or len(chunk) == 0:
            continue
        ends = np.frombuffer(offsets, np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        text = np.frombuffer(data, np.uint8)[ends[0] : ends[-1]]
        control = control or bool((text < 0x20).any())
        backslash = backslash or bool((text == 0x5C).any())
    return control, backslash


class RoundTexts(NamedTuple):
    """The texts of a round's columns that both files write, made once: Arrow's text of each number
    column that varies (null where the number is), and each text column that must be escaped, as it
    stands inside the quotes of a JSON string and of a CSV field."""

    numbers: dict[str, Any]
    json: dict[str, Any]
    csv: dict[str, Any]


def round_texts(
    table: pa.Table,
    plain: frozenset[str],
    constant: dict[str, str],
    json: bool = True,
    csv: bool = True,
    escaped: dict[str, tuple[pa.Array, pa.Array]] | None = None,
) -> RoundTexts:
    """The RoundTexts of a table (json_lines and csv_rows fill the numbers' nulls, each its own way),
    the texts' JSON forms only with `json` (timing.log written), their CSV forms only with `csv`.
    `escaped`: (JSON, CSV) forms of text columns made so already (CallTable.escaped), taken as they are."""
    escaped = escaped or {}
    texts = RoundTexts({}, {}, {})
    for column in schema.COLUMNS:
        name = column.name
        if name in constant:
            continue
        if column.kind in ("float", "int"):
            texts.numbers[name] = pc.cast(table.column(name), pa.string())
        elif column.kind == "string" and name not in _MADE_HERE and name not in plain:
            made = escaped.get(name)
            if json:
                texts.json[name] = made[0] if made else _json_text(table.column(name))
            if csv:
                texts.csv[name] = made[1] if made else pc.replace_substring(table.column(name), '"', '""')
    return texts


class _Pieces(list[Any]):
    """The pieces of a round's lines: texts, and columns of one text per row; adjacent texts are kept as
    one, so that the join has as few arguments as it can."""

    def add(self, piece: Any) -> None:
        if isinstance(piece, str) and self and isinstance(self[-1], str):
            self[-1] += piece
        else:
            self.append(piece)

    def joined(self, rows: int) -> pa.Array:
        """Each row's pieces joined: one Arrow call (ArrowException past 2 GiB of text)."""
        if len(self) == 1:
            return pa.repeat(self[0], rows)
        joined = pc.binary_join_element_wise(*self, "")
        return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _filled(text: Any, empty: str) -> Any:
    return pc.fill_null(text, empty) if text.null_count else text


def csv_rows(
    table: pa.Table,
    iso: dict[str, Any],
    texts: RoundTexts,
    plain: frozenset[str] = frozenset(),
    constant: dict[str, str] | None = None,
) -> pa.Array | None:
    """The CSV rows of the table, each ending in a newline, as one Arrow string array: the bytes Arrow's
    CSV writer writes with its default options (every text quoted with its quotes doubled, numbers as
    their text in `texts`, an empty field for a null), by one join. None when a text column holds a null
    or the rows would not fit one string array (Arrow's writer writes those)."""
    constant = constant or {}
    if any(table.column(c.name).null_count for c in schema.COLUMNS if c.kind == "string"):
        return None
    add = (pieces := _Pieces()).add
    for index, column in enumerate(schema.COLUMNS):
        name = column.name
        if index:
            add(",")
        if column.kind == "timestamp":
            add('"')
            add(iso[name])
            add('"')
        elif column.kind == "string":
            add('"')
            text = constant.get(name)
            if text is not None and "\\" not in text:  # JSON text without an escape: the value itself
                add(text)
            elif text is not None:
                add(str(table.column(name)[0].as_py()).replace('"', '""'))
            elif name in _MADE_HERE or name in plain:
                add(table.column(name))
            else:
                add(texts.csv[name])
            add('"')
        elif name in constant:
            add("" if constant[name] == "null" else constant[name])
        else:
            add(_filled(texts.numbers[name], ""))
    add("\n")
    try:
        return pieces.joined(table.num_rows)
    except pa.ArrowException:  # rows past 2 GiB (offsets overflow): Arrow's writer writes them in pieces
        return None


def json_lines(
    table: pa.Table,
    iso: dict[str, Any],
    plain: frozenset[str] = frozenset(),
    constant: dict[str, str] | None = None,
    texts: RoundTexts | None = None,
) -> pa.Array:
    """One timing.log call line per row, each ending in a newline, as one Arrow string array.

    `iso` holds the timestamp columns as ISO text (csv_table's), computed once for both files. Text
    columns go between literal quotes; only a column holding a quote, backslash or control character
    is escaped, in Python; those in `plain` are known to hold none. `constant` holds the JSON text of
    columns with one value in every row (call_table's): each is written as text, with no Arrow call,
    and the texts between two columns that vary are joined into one. `texts` holds round_texts() when
    the CSV rows are made from them too (made here otherwise).
    """
    constant = constant or {}
    if texts is None:
        texts = round_texts(table, plain, constant, csv=False)
    add = (pieces := _Pieces()).add
    add('{"timestamp":"')
    add(iso["end_time"])
    if constant.get("status") == "ok":
        add('","level":"INFO')
    else:
        add('","level":"')
        add(pc.if_else(pc.equal(table.column("status"), "error"), "ERROR", "INFO"))
    add('","event":"call","uuid":"')
    add(table.column("call_id"))
    closing = '"'
    for column in schema.COLUMNS:
        name = column.name
        quote = '"' if column.kind in ("timestamp", "string") else ""
        add(f'{closing},"{name}":{quote}')
        closing = quote
        if name in constant:
            add(constant[name])
        elif column.kind == "timestamp":
            add(iso[name])
        elif column.kind == "string":
            add(texts.json[name] if name in texts.json else table.column(name))
        else:
            add(_filled(texts.numbers[name], "null"))
    add(closing + "}\n")
    return pieces.joined(table.num_rows)

"""Readers of the results tables, one per format: ``timing_results.csv`` and ``timing_results.parquet/``.

Each returns an Arrow table with only the columns asked for, in schema order and types, with null strings
as ``""`` and the low-cardinality text columns (:data:`CATEGORY_COLUMNS`) dictionary-encoded batch by
batch, so ten million rows fit in about a gigabyte. The CSV is streamed from an ordinary file (a memory
map would count the whole file in the reader's RSS) up to its last newline; a torn last line or a row of
the wrong width is skipped and counted, and a value that does not convert sends the file down a slower
lenient path. The original module's tables go through :mod:`._legacy`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq

from mpmon import schema
from mpmon.analysis import _legacy
from mpmon.analysis._convert import typed_arrow
from mpmon.analysis.safe_files import open_vetted, skip, vet, vet_directory, vetted

__all__ = [
    "ANALYSIS_COLUMNS",
    "CATEGORY_COLUMNS",
    "columns_for",
    "read_csv_table",
    "read_parquet_table",
    "shape",
]

CATEGORY_COLUMNS = (
    "run_id",
    "source",
    "function",
    "module",
    "process_name",
    "thread_name",
    "host",
    "status",
    "error_type",
)
"""Text columns with few distinct values: dictionary-encoded in Arrow, categoricals in pandas."""

ANALYSIS_COLUMNS = tuple(n for n in schema.COLUMN_NAMES if n not in ("args", "message"))
"""What the figures, tables and trace read: every column but the two long free-text ones."""

_KEY_COLUMNS = (  # what run selection and error events need
    "run_id",
    "call_id",
    "function",
    "start_time",
    "end_time",
    "duration_s",
    "host",
    "pid",
    "status",
    "error_type",
)
_GROUP_ROWS = 200_000
_BLOCK_BYTES = 1 << 20  # small blocks: the parser holds a few blocks of every column as text


def columns_for(columns: Sequence[str] | None) -> tuple[str, ...]:
    """The columns to read, in schema order: those asked for plus the keys selection needs (all if None)."""
    if columns is None:
        return schema.COLUMN_NAMES
    unknown = set(columns) - set(schema.COLUMN_NAMES)
    if unknown:
        raise ValueError(f"not results columns: {', '.join(sorted(unknown))}")
    wanted = set(columns) | set(_KEY_COLUMNS)
    return tuple(n for n in schema.COLUMN_NAMES if n in wanted)


def shape(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``columns`` of a table in schema types (missing ones null), null strings as ``""``, null pid -1,
    the category columns dictionary-encoded and the other text as large strings (what pandas holds)."""
    target = schema.arrow_schema()
    arrays = []
    for name in columns:
        kind = target.field(name).type
        column = table.column(name) if name in table.column_names else pa.nulls(len(table), kind)
        if name in CATEGORY_COLUMNS and pa.types.is_dictionary(column.type) and not column.null_count:
            arrays.append(column.cast(pa.dictionary(pa.int32(), kind)))
            continue
        column = column.cast(kind)
        if pa.types.is_string(kind) or name == "pid":
            column = pc.fill_null(column, "" if name != "pid" else -1)
        if name in CATEGORY_COLUMNS:
            column = pc.dictionary_encode(column)
        elif pa.types.is_string(kind):  # what pandas keeps as is (plain string would be copied)
            column = column.cast(pa.large_string())
        arrays.append(column)
    return pa.table(arrays, names=list(columns))


# --- CSV -----------------------------------------------------------------------------------------------


def read_csv_table(path: Path, columns: Sequence[str], skipped: dict[str, int]) -> pa.Table | None:
    """The CSV results table as Arrow (``columns`` only), or None if it holds no rows (or is not read:
    a link, another user's file)."""
    reason = vet(path)
    if reason is not None:
        skip(path, reason)
        return None
    with open_vetted(path) as fh:
        header = next(csv.reader([fh.readline().decode("utf-8", "replace")]), [])
    if not header:
        return None
    if not set(schema.COLUMN_NAMES) <= set(header):
        return _read_legacy_csv(path, columns, skipped)
    end, partial = _last_newline(path)
    skipped[path.name] = skipped.get(path.name, 0) + partial
    try:
        table, bad = _stream_csv(path, end, schema.arrow_schema(), columns)
    except pa.ArrowInvalid:  # a value that does not convert (a repeated header, a torn row): row by row
        loose, bad = _stream_csv(path, end, pa.schema([(n, pa.string()) for n in columns]), columns, False)
        table = shape(typed_arrow(loose.to_pandas(), path.name, skipped), columns)
    skipped[path.name] += bad
    return table if table.num_rows else None


def _last_newline(path: Path) -> tuple[int, int]:
    """The offset just past the file's last newline, and 1 if a partial last line lies beyond it."""
    with open_vetted(path) as fh:
        size = fh.seek(0, io.SEEK_END)
        end = size
        while end > 0:
            begin = max(0, end - (1 << 16))
            fh.seek(begin)
            found = fh.read(end - begin).rfind(b"\n")
            if found >= 0:
                cut = begin + found + 1
                return cut, int(cut < size)
            end = begin
    return 0, int(size > 0)


class _Prefix(io.RawIOBase):
    """The first ``limit`` bytes of a file, as a readable stream."""

    def __init__(self, path: Path, limit: int) -> None:
        self._fh = open_vetted(path)
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)[: self._left]
        count = self._fh.readinto(view) or 0
        self._left -= count
        return count

    def close(self) -> None:
        self._fh.close()
        super().close()


def _stream_csv(
    path: Path, end: int, types: pa.Schema, columns: Sequence[str], encode: bool = True
) -> tuple[pa.Table, int]:
    """Parse the first ``end`` bytes batch by batch (empty strings stay strings); count the rows of the
    wrong width. With ``encode``, each batch is shaped (:func:`shape`) as soon as it is parsed."""
    bad = 0

    def skip_row(_row: object) -> str:
        nonlocal bad
        bad += 1
        return "skip"

    stream = _Prefix(path, end)
    try:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(block_size=_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=skip_row, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                include_columns=list(columns),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        batches = list(_grouped(reader, columns)) if encode else list(reader)
    except StopIteration:  # nothing after the header
        batches = []
    finally:
        stream.close()
    if not batches:
        return shape(schema.arrow_schema().empty_table(), columns), bad
    if encode:
        return pa.concat_tables(batches), bad
    return pa.Table.from_batches(batches), bad


def _grouped(reader: pa.RecordBatchReader, columns: Sequence[str]) -> Iterator[pa.Table]:
    """The reader's small batches shaped a few hundred thousand rows at a time."""
    group: list[pa.RecordBatch] = []
    for batch in reader:
        group.append(batch)
        if sum(len(b) for b in group) >= _GROUP_ROWS:
            yield shape(pa.Table.from_batches(group), columns)
            group = []
    if group:
        yield shape(pa.Table.from_batches(group), columns)


def _read_legacy_csv(path: Path, columns: Sequence[str], skipped: dict[str, int]) -> pa.Table | None:
    """The original module's results CSV, mapped to schema columns; None (all lines skipped) if unknown."""
    with open_vetted(path) as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False, on_bad_lines="skip", engine="python")
    rows = _legacy.legacy_frame(frame)
    if rows is None:
        skipped[path.name] = skipped.get(path.name, 0) + len(frame)
        return None
    return shape(typed_arrow(rows, path.name, skipped), columns)


# --- Parquet -------------------------------------------------------------------------------------------


def read_parquet_table(path: Path, columns: Sequence[str], skipped: dict[str, int]) -> pa.Table | None:
    """The Parquet dataset (in-progress ``_``/``.`` files ignored), or a single legacy Parquet file."""
    if path.is_file() or path.is_symlink():
        reason = vet(path)
        if reason is not None:
            skip(path, reason)
            return None
        with open_vetted(path) as fh:
            frame = pq.read_table(fh).to_pandas()
        rows = frame if set(schema.COLUMN_NAMES) <= set(frame.columns) else _legacy.legacy_frame(frame)
        return None if rows is None else shape(typed_arrow(rows, path.name, skipped), columns)
    reason = vet_directory(path)
    if reason is not None:
        skip(path, reason)
        return None
    parts = [str(part) for part in _parts(path)]
    if not parts:
        return None
    try:
        return _scan(
            pa_ds.dataset(parts, format=_parquet_format(columns), schema=schema.arrow_schema()), columns
        )
    except (pa.ArrowException, OSError):  # one unreadable part: read the parts one by one
        return _read_parts(path, columns, skipped)


def _parts(path: Path) -> list[Path]:
    """The complete part files of a dataset directory (not ``_``/``.`` ones) that pass the vetting."""
    return vetted(sorted(p for p in path.rglob("*.parquet") if not p.name.startswith(("_", "."))))


def _parquet_format(columns: Sequence[str]) -> pa_ds.ParquetFileFormat:
    """Parquet reading that returns the category columns dictionary-encoded, as the files store them."""
    wanted = [n for n in columns if n in CATEGORY_COLUMNS]
    return pa_ds.ParquetFileFormat(read_options=pa_ds.ParquetReadOptions(dictionary_columns=wanted))


def _scan(dataset: pa_ds.Dataset, columns: Sequence[str]) -> pa.Table | None:
    """The dataset's ``columns``, shaped batch by batch (few columns are ever held as plain strings).

    Little read-ahead: the scanner's default (16 batches of 4 files at once) holds hundreds of MB of
    decoded batches for a gain that two cores cannot use."""
    scan = dataset.to_batches(columns=list(columns), batch_readahead=2, fragment_readahead=1)
    batches = [shape(pa.Table.from_batches([b]), columns) for b in scan]
    batches = [b for b in batches if b.num_rows]
    return pa.concat_tables(batches) if batches else None


def _read_parts(path: Path, columns: Sequence[str], skipped: dict[str, int]) -> pa.Table | None:
    """Each readable part file of a Parquet dataset; an unreadable part is counted in ``skipped``."""
    tables = []
    for part in _parts(path):
        try:
            with open_vetted(part) as fh:
                present = pq.read_schema(fh).names
                table = pq.read_table(fh, columns=[n for n in columns if n in present])
            tables.append(shape(table, columns))
        except (pa.ArrowException, OSError, KeyError):
            skipped[f"{path.name}/{part.name}"] = 1
    return pa.concat_tables(tables) if tables else None

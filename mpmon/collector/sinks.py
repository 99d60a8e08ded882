"""The collector's writers: rotating JSON lines, the CSV table, the Parquet dataset, the console.

Each sink knows only its file: `write(batch)`, `flush()`, `close()`. None of them knows about sockets,
processes or records on the wire; the server hands them formatted lines and columns.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from logging.handlers import RotatingFileHandler
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .. import schema
from ..rows import Columns

__all__ = ["ConsoleSink", "CsvSink", "JsonLinesSink", "ParquetSink"]


class JsonLinesSink:
    """JSON lines in a file that rotates like logging's RotatingFileHandler, a whole batch per write.

    The rotation itself is the standard library's (`doRollover`); lines are never split across files,
    so no line is lost while the total fits in the backups.
    """

    def __init__(self, path: str, max_bytes: int, backup_count: int) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._rotation = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
        self._max_bytes = max_bytes if backup_count > 0 else 0
        self.path = path

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        stream = self._stream()
        size = stream.tell()
        start = 0
        if self._max_bytes:
            for index, line in enumerate(lines):
                length = len(line) + 1
                if size + length > self._max_bytes and size > 0:
                    stream.write("\n".join(lines[start:index]) + "\n" if index > start else "")
                    self._rotation.doRollover()
                    stream = self._stream()
                    start, size = index, 0
                size += length
        stream.write("\n".join(lines[start:]) + "\n")

    def _stream(self) -> TextIO:
        stream = self._rotation.stream
        assert stream is not None, "RotatingFileHandler opens its stream unless delay=True"
        return stream

    def flush(self) -> None:
        self._rotation.flush()

    def close(self) -> None:
        self._rotation.close()


def _clean_text(value: Any) -> Any:
    """Text that UTF-8 can hold: lone surrogates become backslash escapes."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _table(columns: Columns, schema_: pa.Schema) -> pa.Table:
    """`columns` as an Arrow table of `schema_`; text that UTF-8 cannot hold is escaped first."""
    try:
        return pa.Table.from_pydict({name: columns[name] for name in schema_.names}, schema=schema_)
    except (UnicodeError, pa.ArrowException):
        cleaned = {name: [_clean_text(v) for v in columns[name]] for name in schema_.names}
        return pa.Table.from_pydict(cleaned, schema=schema_)


class CsvSink:
    """The results table as CSV: header once, rows appended, one write per batch.

    A file left by an earlier run with another header is moved aside, never appended to.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._schema = pa.schema(
            [
                pa.field(f.name, pa.string() if f.name in schema.TIMESTAMP_COLUMNS else f.type)
                for f in schema.arrow_schema()
            ]
        )
        header = (schema.CSV_HEADER + "\n").encode()
        self._file = open(path, "ab")  # noqa: SIM115 -- kept open for the collector's lifetime
        if self._file.tell() == 0:
            self._file.write(header)
        elif not _starts_with(path, header):
            self._file.close()
            os.replace(path, f"{path}.{time.strftime('%Y%m%d-%H%M%S')}.old")
            self._file = open(path, "ab")  # noqa: SIM115
            self._file.write(header)
        self._writer = pa_csv.CSVWriter(
            self._file, self._schema, write_options=pa_csv.WriteOptions(include_header=False)
        )

    def write(self, columns: Columns) -> None:
        self._writer.write_table(_table(columns, self._schema))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._writer.close()
        self._file.close()


def _starts_with(path: str, prefix: bytes) -> bool:
    with open(path, "rb") as existing:
        return existing.read(len(prefix)) == prefix


class ParquetSink:
    """The results table as a Parquet dataset: a directory of complete part files.

    The part being written is named `_*.inprogress` (readers skip it); it is closed and renamed to
    `part-*.parquet` when it is large or old enough, and at stop, so a killed collector never leaves
    an unreadable file under a name a reader would open.
    """

    ROW_GROUP = 65_536
    PART_ROWS = 1_000_000
    PART_SECONDS = 30.0

    def __init__(self, directory: str, run_id: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self._run_id = run_id
        self._schema = schema.arrow_schema()
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._part_rows = 0
        self._opened = 0.0
        self._paths = ("", "")

    def write(self, columns: Columns) -> None:
        converted = dict(columns)
        for name, raw in (("start_time", "_start_ns"), ("end_time", "_end_ns")):
            converted[name] = [ns // 1000 for ns in columns[raw]]
        self._pending.append(_table(converted, self._schema))
        self._pending_rows += len(columns["call_id"])
        if self._pending_rows >= self.ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        """Write what is pending as a row group; close the part if it is large or old."""
        if self._pending:
            if self._writer is None:
                self._open_part()
            assert self._writer is not None
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=self._pending_rows)
            self._part_rows += self._pending_rows
            self._pending, self._pending_rows = [], 0
        if self._writer is not None and (
            self._part_rows >= self.PART_ROWS or time.monotonic() - self._opened >= self.PART_SECONDS
        ):
            self._close_part()

    def close(self) -> None:
        self.flush()
        self._close_part()

    def _open_part(self) -> None:
        name = f"part-{self._run_id}-{int(time.time() * 1000):x}-{secrets.token_hex(2)}"
        self._paths = (
            os.path.join(self.directory, f"_{name}.inprogress"),
            os.path.join(self.directory, f"{name}.parquet"),
        )
        self._writer = pq.ParquetWriter(self._paths[0], self._schema)
        self._part_rows, self._opened = 0, time.monotonic()

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            os.replace(*self._paths)


class ConsoleSink:
    """Human lines through the standard logger named "mpmon", in the collector, one process writing."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def write(self, level: int, lines: list[str]) -> None:
        if self._logger.isEnabledFor(level):
            for line in lines:
                self._logger.log(level, line)

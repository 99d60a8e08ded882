"""The collector's writers: rotating JSON lines, the CSV table, the Parquet dataset, the console.

Each sink knows only its file: `write(batch)`, `flush()`, `close()`. None of them knows about sockets,
processes or records on the wire; the server hands them formatted lines and columns.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import time
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from typing import BinaryIO, cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .. import schema
from . import files

__all__ = ["ConsoleSink", "CsvSink", "JsonLinesSink", "Noticed", "ParquetSink", "string_bytes"]

Noticed = Callable[[str], None]
"""Called with a path a sink found removed or replaced under it (and opened anew)."""


def _ignore(path: str) -> None:
    pass


class _SafeRotatingFile(RotatingFileHandler):
    """logging's rotation (`doRollover`), opening its file never through a symlink (files.open_fd).

    While `dir_fd` is set (a confined sink writing), the file is opened and rotated by its name in that
    directory, not by its path: the same renames as logging's, a backup that is a link renamed or
    removed as a link."""

    dir_fd: int | None = None

    def _open(self) -> io.TextIOWrapper:
        if self.dir_fd is None:
            return open(files.open_fd(self.baseFilename), "a", encoding="utf-8")
        fd = files.open_fd(os.path.basename(self.baseFilename), dir_fd=self.dir_fd)
        return open(fd, "a", encoding="utf-8")

    def doRollover(self) -> None:
        at = self.dir_fd
        if at is None:
            return super().doRollover()
        if self.stream:
            self.stream.close()
            self.stream = None
        name = os.path.basename(self.baseFilename)
        if self.backupCount > 0:
            for i in range(self.backupCount - 1, 0, -1):
                if _exists(f"{name}.{i}", at):
                    _remove(f"{name}.{i + 1}", at)
                    os.rename(f"{name}.{i}", f"{name}.{i + 1}", src_dir_fd=at, dst_dir_fd=at)
            _remove(f"{name}.1", at)
            if _exists(name, at):
                os.rename(name, f"{name}.1", src_dir_fd=at, dst_dir_fd=at)
        return None


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _remove(name: str, dir_fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(name, dir_fd=dir_fd)


class JsonLinesSink:
    """JSON lines in a file that rotates like logging's RotatingFileHandler, a whole batch per write.

    The rotation itself is the standard library's (`doRollover`); a batch is cut only between lines,
    so no line is split or lost while the total fits in the backups. The file's size is read from the
    file itself before each write, and a path whose inode changed (rotated by another run writing into
    the same directory, or deleted) is opened anew first: the writer holds the directory's lock.

    `below` = (the log directory, the parts of the path from it to the file's directory): a file a record
    named (error_log_file). Each write opens that directory from the log directory down (files.open_dir)
    and opens, checks and rotates the file relative to it, so a directory swapped for a symlink is
    refused (UnsafeFile, before any byte is written), never followed.
    """

    def __init__(
        self,
        path: str,
        max_bytes: int,
        backup_count: int,
        noticed: Noticed = _ignore,
        below: tuple[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._rotation = _SafeRotatingFile(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True
        )
        self._max_bytes = max_bytes if backup_count > 0 else 0
        self._noticed = noticed
        self._below = below
        self.path = path

    def write(self, lines: list[str] | pa.Array) -> None:
        """Append lines: Python strings without newlines, or an Arrow string array whose lines end in one."""
        ends: np.ndarray | None
        if isinstance(lines, pa.Array):
            data, ends = _arrow_lines(lines)
        else:
            data = "".join(line + "\n" for line in lines).encode()
            ends = np.cumsum([len(line.encode()) + 1 for line in lines]) if self._max_bytes else None
        if not data:
            return
        if self._below is None:
            self._write_bytes(memoryview(data), ends)
            return
        self._rotation.dir_fd = files.open_dir(*self._below)
        try:
            self._write_bytes(memoryview(data), ends)
        finally:
            os.close(self._rotation.dir_fd)
            self._rotation.dir_fd = None

    def _write_bytes(self, data: memoryview, ends: np.ndarray | None) -> None:
        stream = self._stream()
        stream.buffer.flush()  # the size is the file's: another run may have written meanwhile
        size, done = os.fstat(stream.fileno()).st_size, 0
        while self._max_bytes and ends is not None and size + len(data) - done > self._max_bytes:
            fits = int(np.searchsorted(ends, done + self._max_bytes - size, side="right"))
            cut = int(ends[fits - 1]) if fits and int(ends[fits - 1]) > done else done
            if cut == done and size == 0:  # one line longer than max_bytes: it gets a file of its own
                cut = int(ends[np.searchsorted(ends, done, side="right")])
            cast(BinaryIO, stream.buffer).write(data[done:cut])
            done = cut
            self._rotation.doRollover()
            stream, size = self._stream(), 0
        cast(BinaryIO, stream.buffer).write(data[done:])

    def _stream(self) -> io.TextIOWrapper:
        """The open file of the path, opened (again) if it is not open or the path names another file."""
        stream, at = self._rotation.stream, self._rotation.dir_fd
        name = self.path if at is None else os.path.basename(self.path)
        if stream is not None and files.replaced(name, stream.fileno(), at):
            self._noticed(self.path)
            with contextlib.suppress(OSError, ValueError):
                stream.close()
            stream = self._rotation.stream = None
        if stream is None:
            if at is None:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            stream = self._rotation.stream = self._rotation._open()
        return stream

    def flush(self) -> None:
        if self._rotation.stream is not None:
            self._rotation.stream.buffer.flush()

    def close(self) -> None:
        self._rotation.close()


def _arrow_lines(lines: pa.Array) -> tuple[bytes | memoryview, np.ndarray]:
    """The bytes of an Arrow string array (no nulls) and where each of its lines ends."""
    if lines.type != pa.string():
        lines = lines.cast(pa.string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    if data is None or len(lines) == 0:
        return b"", np.zeros(0, dtype=np.int64)
    first = int(offsets[0])
    return memoryview(data)[first : int(offsets[-1])], (offsets[1:] - first).astype(np.int64)


def string_bytes(texts: pa.Array) -> bytes | memoryview:
    """The bytes of an Arrow string array (no nulls), its texts one after another, not copied."""
    return _arrow_lines(texts)[0]


class CsvSink:
    """A results table as CSV: header once, rows appended, one write per batch.

    A file left by an earlier run with another header is moved aside, never appended to. A file
    removed or replaced under the collector is started again, header first (the writer holds the
    directory's lock, so of two runs writing into one directory only the first writes the header).
    """

    def __init__(self, path: str, header: str = schema.CSV_HEADER, noticed: Noticed = _ignore) -> None:
        self.path = path
        self._header = (header + "\n").encode()
        self._noticed = noticed
        self._file: BinaryIO | None = None
        self._writer: pa_csv.CSVWriter | None = None

    def _open(self) -> BinaryIO:
        if self._file is not None and not files.replaced(self.path, self._file.fileno()):
            return self._file
        if self._file is not None:
            self._noticed(self.path)
            self.close()
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT  # read too: the header is checked
        opened = open(files.open_fd(self.path, flags), "ab")  # noqa: SIM115 -- kept open while the path holds
        size = os.fstat(opened.fileno()).st_size
        if size and not _starts_with(opened.fileno(), self._header):
            opened.close()
            os.replace(self.path, f"{self.path}.{time.strftime('%Y%m%d-%H%M%S')}.old")
            opened, size = open(files.open_fd(self.path, flags), "ab"), 0  # noqa: SIM115
        if size == 0:
            opened.write(self._header)
        self._file = opened
        return opened

    def write(self, table: pa.Table) -> None:
        """Append rows of the table whose timestamps are already ISO text (tables.csv_table)."""
        opened = self._open()
        if self._writer is None:
            options = pa_csv.WriteOptions(include_header=False)
            self._writer = pa_csv.CSVWriter(opened, table.schema, write_options=options)
        self._writer.write_table(table)

    def write_bytes(self, data: bytes | memoryview) -> None:
        """Append rows already written as CSV text (rowwise.csv_text, lines.csv_rows: the bytes Arrow's
        writer writes)."""
        self._open().write(data)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError, ValueError, pa.ArrowException):
                self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _starts_with(fd: int, prefix: bytes) -> bool:
    return os.pread(fd, len(prefix), 0) == prefix


class ParquetSink:
    """The results table as a Parquet dataset: a directory of complete part files.

    The part being written is named `_*.inprogress` (readers skip it); it is closed and renamed to
    `part-*.parquet` when it is large or old enough, and at stop, so a killed collector never leaves
    an unreadable file under a name a reader would open.
    """

    ROW_GROUP = 16_384
    PENDING_SECONDS = 1.0
    """Rows wait in memory this long at most for their row group (each row group has a fixed cost)."""
    PART_ROWS = 1_000_000
    PART_SECONDS = 30.0

    def __init__(self, directory: str, run_id: str, arrow_schema: pa.Schema | None = None) -> None:
        self.directory = directory
        self._run_id = run_id
        self._schema = schema.arrow_schema() if arrow_schema is None else arrow_schema
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._pending_since = 0.0
        self._writer: pq.ParquetWriter | None = None
        self._part_rows = 0
        self._opened = 0.0
        self._paths = ("", "")
        self._file: BinaryIO | None = None

    def write(self, table: pa.Table) -> None:
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.ROW_GROUP:
            self.flush()

    def tick(self) -> None:
        """Between rounds: write the pending rows once they have waited long enough."""
        if self._pending and time.monotonic() - self._pending_since < self.PENDING_SECONDS:
            return
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
        self.close_part()

    def _open_part(self) -> None:
        name = f"part-{self._run_id}-{int(time.time() * 1000):x}-{secrets.token_hex(2)}"
        self._paths = (
            os.path.join(self.directory, f"_{name}.inprogress"),
            os.path.join(self.directory, f"{name}.parquet"),
        )
        os.makedirs(self.directory, exist_ok=True)  # again, if it was removed meanwhile
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        self._file = open(files.open_fd(self._paths[0], flags), "wb")  # noqa: SIM115
        self._writer = pq.ParquetWriter(self._file, self._schema)
        self._part_rows, self._opened = 0, time.monotonic()

    def close_part(self) -> None:
        """Write what is pending and close the current part, so that readers see every row now."""
        self.flush()
        self._close_part()

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            if self._file is not None:
                self._file.close()
                self._file = None
            os.replace(*self._paths)


class ConsoleSink:
    """Human lines through the standard logger named "mpmon", in the collector, one process writing."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def enabled(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def write(self, level: int, lines: list[str]) -> None:
        if self._logger.isEnabledFor(level):
            for line in lines:
                self._logger.log(level, line)

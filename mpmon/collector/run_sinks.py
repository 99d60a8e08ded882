"""The files of one run, opened on first use, and the route of each record's errors to its error log.

A record may name an error log of its own (`error_log_file`): it is written only inside the run's log
directory (files.confined), at most MAX_ERROR_LOGS of them, each with the rotation the record asked for
when that is sane; anything else goes to error.log, and `refused` says why. The path is checked before
each write (`_still_confined`), and the write itself opens the file's directory from the log directory
down without following a link (sinks.JsonLinesSink's `below`): a directory swapped for a link between
the two is refused there, and the lines go to error.log.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import pyarrow as pa

from .. import schema
from . import files
from .settings import Settings
from .sinks import CsvSink, JsonLinesSink, Noticed, ParquetSink

__all__ = ["MAX_ERROR_LOGS", "Refused", "RunSinks"]

Refused = Callable[[str, OSError], None]
"""Called with a path a record named for its errors and why it was refused (they go to error.log)."""

MAX_ERROR_LOGS = 64
"""Error logs of their own (error_log_file) a run writes at most; further ones go to error.log."""
MAX_BACKUPS = 10_000
"""The largest backup_count a record may ask for its error log (each rotation looks at every backup)."""


def _count(value: object, most: int | None) -> int | None:
    """A rotation setting a record asked for, if it is a sane int (else None: the run's own)."""
    if type(value) is not int or value < 0 or (most is not None and value > most):
        return None
    return value


class RunSinks:
    """The files of one run, each opened on first use: timing.log, the results table, error.log (and
    any custom error log), the error results table."""

    def __init__(self, settings: Settings, noticed: Noticed, refused: Refused) -> None:
        self._settings = settings
        self._dir = settings.log_dir
        self._noticed = noticed
        self._refused = refused
        self._routes: dict[str, str] = {}  # a path a record names -> the file its errors go to
        self.timing = self._json(os.path.join(self._dir, schema.TIMING_LOG), None, None)
        self._errors: dict[str, JsonLinesSink] = {}
        self._csv: CsvSink | None = None
        self._parquet: ParquetSink | None = None
        self._error_csv: CsvSink | None = None
        self._error_parquet: ParquetSink | None = None

    def results(self, results_format: str) -> CsvSink | ParquetSink:
        if results_format == "parquet":
            if self._parquet is None:
                path = os.path.join(self._dir, schema.RESULTS_PARQUET)
                self._parquet = ParquetSink(path, self._settings.run_id)
            return self._parquet
        if self._csv is None:
            self._csv = CsvSink(os.path.join(self._dir, schema.RESULTS_CSV), noticed=self._noticed)
        return self._csv

    def error_results(self, results_format: str) -> CsvSink | ParquetSink:
        if results_format == "parquet":
            if self._error_parquet is None:
                path = os.path.join(self._dir, schema.ERROR_RESULTS_PARQUET)
                self._error_parquet = ParquetSink(path, self._settings.run_id, schema.error_arrow_schema())
            return self._error_parquet
        if self._error_csv is None:
            path = os.path.join(self._dir, schema.ERROR_RESULTS_CSV)
            self._error_csv = CsvSink(path, schema.ERROR_CSV_HEADER, self._noticed)
        return self._error_csv

    def error_log(self, path: object, max_bytes: object, backup_count: object) -> JsonLinesSink:
        """error.log, or a decorator's own error_log_file with its rotation settings.

        A record names its error log: a path outside the log directory (or one of the run's own files,
        or beyond MAX_ERROR_LOGS of them) is refused (`refused` says so) and its errors go to error.log."""
        default = target = os.path.join(self._dir, schema.ERROR_LOG)
        if path is not None and path != "":
            key = path if type(path) is str else repr(path)[:200]
            target = self._routes.get(key) or self._route(key, path, default)
            if target != default and not self._still_confined(key, target):
                target = self._routes[key] = default
        sink = self._errors.get(target)
        if sink is None:
            rotation = (_count(max_bytes, None), _count(backup_count, MAX_BACKUPS))
            sink = self._errors[target] = self._json(target, *rotation, self._below(target, default))
        return sink

    def write_error_lines(
        self, path: object, max_bytes: object, backup_count: object, lines: list[str]
    ) -> None:
        """Write `lines` to the error log a record names (see error_log). One refused by the write itself
        (a directory on its path became a link after the check) is refused from then on, as by the
        check, and the lines go to error.log."""
        sink = self.error_log(path, max_bytes, backup_count)
        try:
            sink.write(lines)
        except files.UnsafeFile as exc:
            default = os.path.join(self._dir, schema.ERROR_LOG)
            if sink.path == default:
                raise
            key = path if type(path) is str else repr(path)[:200]
            self._refuse(key, sink.path, exc)
            self._routes[key] = default
            self.error_log(None, max_bytes, backup_count).write(lines)

    def _below(self, target: str, default: str) -> tuple[str, tuple[str, ...]] | None:
        """For a record's own error log: the log directory and the parts of the path from it to the
        file's directory (files.confined made `target` the real path of a file below it)."""
        if target == default:
            return None
        home = os.path.realpath(self._dir)
        relative = os.path.relpath(os.path.dirname(target), home)
        return home, () if relative == os.curdir else tuple(relative.split(os.sep))

    def _route(self, key: str, path: object, default: str) -> str:
        """The file a path named by a record stands for (see files.confined), remembered by `key`."""
        try:
            target = files.confined(self._dir, path)
            if target == files.confined(self._dir, schema.ERROR_LOG):
                target = default
            elif len(self._errors) >= MAX_ERROR_LOGS and target not in self._errors:
                raise files.UnsafeFile(0, f"refusing {key}: a run writes at most {MAX_ERROR_LOGS} error logs")
        except OSError as exc:
            self._refused(key[: files.MAX_PATH], exc)
            target = default
        if len(self._routes) < 4 * MAX_ERROR_LOGS:
            self._routes[key] = target
        return target

    def _still_confined(self, key: str, target: str) -> bool:
        """Whether `target` still names that file of the log directory. Checked before each write, not
        only at the first: a parent directory swapped for a symlink later in the run would otherwise
        have the sink's re-open (or its rotation) follow it out of the directory."""
        try:
            if files.confined(self._dir, target) == target:
                return True
            raise files.UnsafeFile(0, f"refusing {key}: a directory on its path was replaced by a link")
        except OSError as exc:
            self._refuse(key, target, exc)
        return False

    def _refuse(self, key: str, target: str, exc: OSError) -> None:
        """Say why the error log a record named is refused, and close its sink."""
        self._refused(key[: files.MAX_PATH], exc)
        sink = self._errors.pop(target, None)
        if sink is not None:
            with contextlib.suppress(OSError, ValueError):
                sink.close()

    def _json(
        self,
        path: str,
        max_bytes: int | None,
        backup_count: int | None,
        below: tuple[str, tuple[str, ...]] | None = None,
    ) -> JsonLinesSink:
        settings = self._settings
        return JsonLinesSink(
            path,
            settings.max_bytes if max_bytes is None else max_bytes,
            settings.backup_count if backup_count is None else backup_count,
            self._noticed,
            below,
        )

    def paths(self) -> list[str]:
        """The appended files whose sizes the ledger keeps."""
        names = (schema.RESULTS_CSV, schema.ERROR_RESULTS_CSV, schema.ERROR_LOG)
        return [self.timing.path, *(os.path.join(self._dir, n) for n in names), *self._errors]

    def tick(self) -> None:
        for sink in (self._parquet, self._error_parquet):
            if sink is not None:
                sink.tick()

    def close_parts(self) -> None:
        for sink in (self._parquet, self._error_parquet):
            if sink is not None:
                sink.close_part()

    def flush(self) -> None:
        for sink in (self.timing, self._csv, self._error_csv, *self._errors.values()):
            if sink is not None:
                sink.flush()

    def close(self, quietly: bool = False) -> None:
        sinks = (self.timing, self._csv, self._parquet, self._error_csv, self._error_parquet)
        for sink in (*sinks, *self._errors.values()):
            if sink is None:
                continue
            if quietly:
                with contextlib.suppress(OSError, ValueError, pa.ArrowException):
                    sink.close()
            else:
                sink.close()

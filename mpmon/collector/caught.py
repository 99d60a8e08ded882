"""The writer's caught errors (ErrorCatcher's ERROR records): error.log lines, console, error results rows.

A caught error is sent at once, as a batch of its own, so a round holds many batches of one error each.
Their error.log lines are written once a round (one write per run of lines for the same file), their
error results rows as one Arrow table (and one CSV or Parquet write) per results format, where a table
per batch cost about 150 us of the collector's CPU per error: the collector, more than the raising
call, was what made `@ErrorCatcher` on a raising call cost 146 us. Same lines, same rows, same bytes.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

from .. import rows
from ..wire import Batch
from . import tables
from .accounts import Stats
from .aggregates import Aggregates
from .aggregates import safely as _live
from .console import Console
from .intake import MALFORMED
from .run_sinks import RunSinks
from .settings import Settings
from .sinks import CsvSink

__all__ = ["CaughtErrors", "Entry", "ErrorLine"]

Entry = tuple[dict[str, Any], Any]
"""A caught error as the writer holds it: its error.log object (rows.error_entry) and its route."""
ErrorLine = tuple[tuple[Any, Any, Any], str]
"""An error.log line to write: the (path, max_bytes, backup_count) of its file, and the line."""


class CaughtErrors:
    """The caught-error half of the collector's Writer (a base class of it: it shares the writer's sinks,
    counters and live figures)."""

    settings: Settings
    stats: Stats
    figures: Aggregates
    _console: Console
    _sinks: RunSinks

    if TYPE_CHECKING:  # the writer's own, used here

        def _setting(self, value: bool | None, name: str) -> bool: ...
        def _malformed(self, batch: Batch, exc: Exception) -> None: ...

    def _write_errors(self, entries: list[Entry]) -> None:
        """error.log lines, console lines and error results rows of caught errors."""
        lines: list[ErrorLine] = []
        self._log_errors(entries, lines)
        self._write_error_lines(lines)
        self._write_error_rows(entries)

    def _log_errors(self, entries: list[Entry], lines: list[ErrorLine]) -> None:
        """Count caught errors and show them (console, live figures); add their error.log lines to
        `lines`, to be written by _write_error_lines."""
        for entry, route in entries:
            console, to_file, path, max_bytes, backup_count = route[:5]
            self.stats.error_entries += 1
            if self._setting(to_file, "log_to_file"):
                lines.append(((path, max_bytes, backup_count), rows.summary_line(entry)))
            _live(self.figures.add_error, entry["uuid"], _error_of(entry))
            if self._setting(console, "log_to_console"):
                _live(self._console.error, entry)

    def _write_error_lines(self, lines: list[ErrorLine]) -> None:
        """Write error.log lines in their order, one write for each run of lines bound for the same file."""
        for file, run in itertools.groupby(lines, key=lambda pair: pair[0]):
            path, max_bytes, backup_count = file
            self._sinks.write_error_lines(path, max_bytes, backup_count, [line for _, line in run])

    def _write_error_rows(self, entries: list[Entry]) -> None:
        """The error results rows of caught errors, a table per results format; every table is made
        before any is written, so rows that cannot be made write nothing."""
        by_format: dict[str, list[dict[str, Any]]] = {}
        for entry, route in entries:
            results_format = route[5] if len(route) > 5 else None
            by_format.setdefault(results_format or self.settings.results_format, []).append(entry)
        made = [(results_format, tables.error_table(group)) for results_format, group in by_format.items()]
        for results_format, table in made:
            results = self._sinks.error_results(results_format)
            results.write(tables.csv_table(table) if isinstance(results, CsvSink) else table)

    def _write_round_errors(self, errors: list[tuple[Batch, list[Entry]]]) -> set[int]:
        """The error results rows of a round's batches (each with its errors) in one table per results
        format; if those rows cannot be made, batch by batch, and a batch whose rows cannot be made is
        rejected (its calls are then not written), as when each batch was written alone. Returns the
        id() of each batch rejected."""
        if not errors:
            return set()
        try:
            self._write_error_rows([entry for _, entries in errors for entry in entries])
            return set()
        except OSError:
            raise
        except MALFORMED:
            pass  # found batch by batch below
        rejected = set()
        for batch, entries in errors:
            try:
                self._write_error_rows(entries)
            except OSError:
                raise
            except MALFORMED as exc:
                self._malformed(batch, exc)
                rejected.add(id(batch))
        return rejected


def _error_of(entry: dict[str, Any]) -> dict[str, Any]:
    """What the live figures keep of a caught error."""
    keys = ("function", "error_type", "error_message", "host", "pid")
    return {"time": time.time(), **{k: entry.get(k) for k in keys}}

"""The writer's intake of spill files: find them, take them, write their records, remove them.

A process that could not reach any collector wrote its records to a spill file in the log directory
(spill.py); the collector's writer takes each file by renaming it, parses it (ingest.py) and writes
its records in a round of its own, committed to the ledger with the file's name, so a collector that
dies halfway redoes the file and never writes a record twice. A file that is a link, not a regular
file or another user's is refused, counted once and left where it is.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

from .. import rows
from . import files, ingest, tables
from .accounts import Quarantine, Stats
from .ledger import Ledger
from .report import say
from .run_sinks import RunSinks
from .settings import Settings
from .sinks import CsvSink

__all__ = ["MALFORMED", "SpillIntake"]

MALFORMED = Exception
"""What turning records into a table may raise: anything (it does no I/O), never a reason to stop."""


class SpillIntake:
    """The spill-file half of the collector's Writer (a base class of it: it shares the writer's rounds,
    ledger, sinks and counters)."""

    log_dir: str
    run_id: str
    settings: Settings
    stats: Stats
    ledger: Ledger
    quarantine: Quarantine
    _sinks: RunSinks
    _refused: set[str]
    _ingest_count: int
    _last_ingest: float

    if TYPE_CHECKING:  # the writer's own, used here

        def _round(self) -> contextlib.AbstractContextManager[None]: ...
        def _reopen(self) -> None: ...
        def _quarantine(self, reason: str, payload: bytes | str) -> None: ...
        def _write_errors(self, entries: list[tuple[dict[str, Any], Any]]) -> None: ...
        def flush(self) -> None: ...
        def commit(self, batches: list[tuple[str, int]], ingested: tuple[str, ...] = ()) -> None: ...

    def ingest_spills(self) -> None:
        """Write the records of every spill file in the log directory, then remove the file.

        A spill file that is a symlink, not a regular file or another user's is never read: it is
        counted (once) and left where it is."""
        self._last_ingest = time.monotonic()
        for path in ingest.spill_files(self.log_dir):
            if path in self._refused:
                continue
            try:
                files.check_existing(path)
            except files.UnsafeFile as exc:
                self._refuse(path, exc)
                continue
            self._ingest_count += 1
            taken = f"{path}.{os.getpid()}-{self._ingest_count}.ingesting"
            try:
                os.replace(path, taken)
            except OSError:
                continue  # another collector took it
            self._ingest_file(taken)

    def _refuse(self, path: str, exc: OSError) -> None:
        self._refused.add(path)
        self.stats.unsafe_files += 1
        self.stats.refused_spills += 1
        say("unsafe", f"not ingesting {path}: {exc}")

    def _ingest_leftovers(self) -> None:
        """Spill files a collector was ingesting when it died: done if its ledger says so, else redone."""
        for taken in ingest.leftovers(self.log_dir):
            if taken in self.ledger.ingested:
                with contextlib.suppress(OSError):
                    os.remove(taken)
            elif taken not in self._refused:
                self._ingest_file(taken)

    def _ingest_file(self, taken: str) -> None:
        try:
            lines = ingest.read_lines(taken)
        except files.UnsafeFile as exc:
            self._refuse(taken, exc)
            return
        except OSError as exc:
            say("ingest", f"cannot ingest {taken} yet: {exc}")
            return
        spill = ingest.parse(lines, self.ledger.seen)
        try:
            with self._round():
                try:
                    self._write_spill(spill)
                    self.flush()
                except OSError as exc:
                    say("ingest", f"cannot ingest {taken} yet: {exc}")
                    self._reopen()
                    return
                self.commit(sorted(spill.batches), (taken,))
        except OSError as exc:  # the round could not start: the directory is gone or unreachable
            say("ingest", f"cannot ingest {taken} yet: {exc}")
            return
        with contextlib.suppress(OSError):
            os.remove(taken)

    def _write_spill(self, spill: ingest.Spill) -> None:
        """Write a parsed spill file; its bad lines are counted and quarantined."""
        for line, exc in spill.bad:
            self._bad_line(line, exc)
        self.stats.dropped += spill.dropped
        if spill.others:
            self._sinks.timing.write([rows.summary_line(entry) for entry in spill.others])
        if spill.errors:
            self._write_errors(spill.errors)
        self._ingest_calls(spill.calls)

    def _bad_line(self, line: str, exc: Exception) -> None:
        self.stats.rejected += 1
        say("spill", f"skipped a spill line that cannot be written ({exc!r}); kept in the quarantine file")
        self._quarantine(f"spill line: {exc!r}", line)

    def _ingest_calls(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        """The call lines of a spill file to timing.log and the results table; one by one if need be."""
        if not calls:
            return
        try:
            columns = rows.columns_of_entries([entry for _, entry in calls], self.run_id)
            table = tables.table_of_columns(columns)
        except MALFORMED as exc:
            if len(calls) == 1:
                self._bad_line(calls[0][0], exc)
                return
            for call in calls:
                self._ingest_calls([call])
            return
        self._sinks.timing.write([rows.summary_line(entry) for _, entry in calls])
        self.stats.by_source.update(columns["source"])
        self.stats.errors += columns["status"].count("error")
        results = self._sinks.results(self.settings.results_format)
        results.write(tables.csv_table(table) if isinstance(results, CsvSink) else table)
        self.stats.ingested += len(calls)

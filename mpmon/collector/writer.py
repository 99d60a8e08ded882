"""From decoded batches to files: routes each record to the sinks its decorator asked for.

A decorator's explicit setting wins for its own records; the collector's settings fill in what a
decorator left unset. The writer also counts everything, writes the run's first and last lines
(`run_start`, `run_summary`) to timing.log, and ingests spill files (intake.py).

Each round ends with `commit()` in the ledger (see ledger.py): a batch is confirmed to its sender
only once it is on disk, a batch already written is skipped when it comes again (from a spill file
or a resent batch), and a failed write (a full disk) is cut off the files, counted and reported on
stderr, while the run goes on.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import environment, rows, schema
from ..wire import DROPPED, PROGRESS, Batch
from . import files, measures, rowwise, sinks, tables
from .accounts import Meta, Quarantine, Stats
from .aggregates import Aggregates
from .aggregates import safely as _live
from .caught import CaughtErrors, Entry, ErrorLine
from .console import Console, console_logger
from .intake import MALFORMED as _MALFORMED
from .intake import SpillIntake
from .ledger import Ledger, sizes_of
from .report import say
from .run_sinks import RunSinks
from .settings import Settings
from .sinks import ConsoleSink, CsvSink
from .snapshot import Snapshot

__all__ = ["Stats", "Writer"]


class Writer(SpillIntake, CaughtErrors):
    """The routing of a run's records to its files (run_sinks.RunSinks), counted, committed to the ledger;
    spill files are taken in through intake.SpillIntake, caught errors written through caught.CaughtErrors.

    Every write to the log directory happens in a round (`_round()`), under the directory's lock file,
    so two runs sharing a directory take turns (see files.DirectoryLock).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log_dir = settings.log_dir
        self.run_id = settings.run_id
        self.stats = Stats()
        self.ledger = Ledger(settings.ledger)
        os.makedirs(self.log_dir, exist_ok=True)
        self._lock = files.DirectoryLock(
            os.path.join(self.log_dir, schema.LOCK_FILE), f"{self.run_id} {settings.private_dir}"
        )
        if settings.resumed:
            with self._lock:  # cut a half-written round off only if no other run wrote since
                self.ledger.recover(cut=self._lock.last_writer() == self._lock.owner)
            self.stats.restore(self.ledger.counts, self.ledger.processes)
        self._committed_processes = set(self.stats.processes)
        self._slow = float(os.environ.get(environment.TEST_SLOW_SINK) or 0)  # for tests only
        self._ingest_count = 0
        self._refused: set[str] = set()
        self.quarantine = Quarantine(self.log_dir, self.run_id)
        self._round_sizes: dict[str, list[int]] = {}
        self._lost: Counter[str] = Counter()  # records of this round not written, by sender
        # First: dictConfig closes every logging handler that exists, the sinks' rotating files included.
        self.figures = Aggregates()  # the per-second figures of the console's status line and the snapshot
        self._console = Console(ConsoleSink(console_logger(settings.logging_config)), self.figures)
        self._snapshot = Snapshot(settings, self.figures)
        self._refused_logs: set[str] = set()  # error_log_file paths refused (their errors went to error.log)
        self._sinks = RunSinks(settings, self._noticed, self._refused_log)
        self._last_ingest = 0.0
        self.commit([])

    def _noticed(self, path: str) -> None:
        self.stats.files_reopened += 1
        say("reopened", f"{path} was removed or replaced while the run wrote to it; started it anew")

    def _refused_log(self, path: str, why: OSError) -> None:
        """A record named an error log outside the log directory (run_sinks.RunSinks.error_log): counted
        once per path (`unsafe_files`), said, and its errors written to error.log instead."""
        if path in self._refused_logs or len(self._refused_logs) > 1000:
            return
        self._refused_logs.add(path)
        self.stats.unsafe_files += 1
        text = f"{why.strerror or why}; its errors go to error.log instead"
        say("error_log_file", text, always=len(self._refused_logs) <= 20)  # each path once, then rate-limited

    # -- the run's first and last lines ---------------------------------------------------------------

    def start(self) -> None:
        with self._round():
            if not self.settings.resumed:
                started = f"run {self.run_id} started"
                self._event(schema.RUN_START_EVENT, started, tag=self.settings.tag, **self.settings.program)
            self.flush()
            self.commit([])
        self._ingest_leftovers()
        self.ingest_spills()

    def stop(self) -> None:
        self.ingest_spills()
        try:
            with self._round():
                self._summary(self.stats)
                self.close()
        except OSError as exc:
            say("finish", f"cannot finish the logs of run {self.run_id}: {exc}", always=True)
        _live(self._console.summary, time.time() - self.figures.started)
        _live(self._snapshot.write, self.stats.summary())
        self.ledger.close()
        self._lock.close()

    def _summary(self, s: Stats) -> None:
        settings = self.settings
        summary = s.summary(settings.drop_policy)
        self._event(
            schema.RUN_SUMMARY_EVENT,
            s.message(self.run_id, settings.drop_policy),
            tag=settings.tag,
            drop_policy=settings.drop_policy,
            **summary,
        )

    def _event(self, event: str, message: str, **values: Any) -> None:
        entry = {
            "timestamp": rows.iso_utc(time.time_ns()),
            "level": "INFO",
            "event": event,
            "run_id": self.run_id,
            "message": message,
            "host": environment.host_name(),  # the name its records carry (MPMON_HOSTNAME on Dask hosts)
            "pid": os.getpid(),
            "log_dir": self.log_dir,
            **values,
        }
        self._sinks.timing.write([rows.summary_line(entry)])

    # -- rounds -----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _round(self) -> Iterator[None]:
        """Hold the directory's lock, say this writer writes now, and note the files' sizes (a failed
        write is cut back to them: bytes another run wrote are never removed)."""
        self._recover_directory()
        with self._lock:
            self._lock.mark()
            self._round_sizes = sizes_of(self._sinks.paths())
            try:
                yield
            finally:
                self._round_sizes = {}  # a failure outside a round cuts nothing back

    def write(self, batches: list[Batch]) -> Counter[str]:
        """Write every record of these batches (but those already written), push the files to the
        operating system and commit the round; after that the batches may be confirmed. Returns the
        records that could not be written, by sender (id prefix): they are confirmed as lost (LOST)."""
        fresh = [b for b in batches if not (b.seq and self.ledger.seen(Meta(*b.meta).id_prefix, b.seq))]
        self._lost = Counter()
        try:
            with self._round():
                try:
                    self._write_fresh(fresh)
                except OSError as exc:
                    self._write_failed(exc, fresh)
                if self._slow:
                    time.sleep(self._slow * len(fresh))
                self.commit([(Meta(*b.meta).id_prefix, b.seq) for b in fresh if b.seq])
        except OSError as exc:  # the round could not even start: the directory is gone or unreachable
            self._write_failed(exc, fresh)
        return self._lost

    def _write_fresh(self, fresh: list[Batch]) -> None:
        calls: list[tuple[Batch, Meta, tuple[Any, ...]]] = []
        errors: list[tuple[Batch, list[Entry]]] = []
        lines: list[ErrorLine] = []  # error.log's, written once for the round
        for batch in fresh:
            meta = Meta(*batch.meta)
            try:
                columns, entries = self._write_batch(meta, batch, lines)
            except OSError:
                raise
            except Exception as exc:  # whatever a hostile batch holds: never fatal
                self._malformed(batch, exc)
                continue
            calls.append((batch, meta, columns))
            if entries:
                errors.append((batch, entries))
        self._write_error_lines(lines)
        rejected = self._write_round_errors(errors)
        self._write_calls([(meta, c) for batch, meta, c in calls if c and id(batch) not in rejected])
        self.flush()

    def commit(self, batches: list[tuple[str, int]], ingested: tuple[str, ...] = ()) -> None:
        """Record in the ledger the files' sizes now and the batches written since the last commit."""
        processes = self.stats.processes
        new = []
        if len(processes) > len(self._committed_processes):
            new = sorted(processes - self._committed_processes)
        self._committed_processes.update(new)
        self.ledger.commit(sizes_of(self._sinks.paths()), batches, ingested, self.stats.counts(), new)

    def _write_failed(self, exc: OSError, fresh: list[Batch]) -> None:
        """A file could not be written: count the records as lost (and tell their senders), say so, cut
        the files back, go on with fresh sinks (they open the files again once they can)."""
        count = 0
        for batch in fresh:
            self._lost[Meta(*batch.meta).id_prefix] += batch.size
            count += batch.size
        self.stats.write_failures += count
        if isinstance(exc, files.UnsafeFile):
            self.stats.unsafe_files += 1
        total = self.stats.write_failures
        say("write", f"cannot write {count} records ({total} in this run), going on: {exc}")
        self._reopen()

    def _reopen(self) -> None:
        """Close every file whatever state a failed write left it in, cut it back to its size at the
        start of the round (so that it parses), and start again with fresh sinks, which open their files
        on first use."""
        self.close(quietly=True)
        with contextlib.suppress(OSError):
            self.ledger.cut_back(self._round_sizes)
        self._sinks = RunSinks(self.settings, self._noticed, self._refused_log)

    def _recover_directory(self) -> None:
        """Before a round: if the log directory or its lock file went (removed by a user), make them
        again, so that this round writes where readers look and a second run locks the same file.
        OSError if that cannot be done now (the round then fails and is counted)."""
        if os.path.isdir(self.log_dir) and not files.replaced(self._lock.path, self._lock.fd):
            return
        os.makedirs(self.log_dir, exist_ok=True)
        self._lock.reopen()
        self.stats.directories_recreated += 1
        say("recreated", f"{self.log_dir} or its lock file was removed; made them again and went on")

    def reject(
        self,
        reason: str,
        payload: bytes | str = b"",
        oversized: bool = False,
        lost: tuple[Meta, int] | None = None,
    ) -> None:
        """Count a batch or message that cannot be written, and keep it in the quarantine file; `lost`:
        whose records (and how many) it held, told to their sender as lost."""
        self.stats.rejected += 1
        if lost is not None:
            self._lost[lost[0].id_prefix] += lost[1]
        self.stats.oversized += oversized
        say("reject", f"rejected a batch: {reason}")
        if payload:
            self._quarantine(reason, payload)

    def _quarantine(self, reason: str, payload: bytes | str) -> None:
        self.stats.quarantined += 1
        self.quarantine.keep(reason, payload)

    def _malformed(self, batch: Batch, exc: Exception) -> None:
        lost = (Meta(*batch.meta), batch.size)
        self.reject(f"malformed records: {exc!r}", repr((batch.records, batch.calls)), lost=lost)

    def _write_batch(
        self, meta: Meta, batch: Batch, lines: list[ErrorLine]
    ) -> tuple[tuple[Any, ...], list[Entry]]:
        """Write a batch's log records and add its errors' error.log lines to `lines`; its call records
        are returned in columns (CALL_FIELDS, without the kind) and its errors as (entry, route), to be
        written with the round's others in one table each (caught.CaughtErrors)."""
        self.stats.processes.add((meta.host, meta.pid))
        records = batch.records
        calls, errors, logs = rows.split_kinds(records)
        if len(calls) + len(errors) + len(logs) < len(records):
            self.stats.dropped += sum(r[1] for r in records if r[0] == DROPPED and type(r[1]) is int)
            _live(self.figures.add_progress, [r for r in records if r[0] == PROGRESS])
        entries = [(rows.error_entry(meta, r, self.run_id), r[-1]) for r in errors]
        if entries:
            self._log_errors(entries, lines)
        if logs:
            self.stats.log_lines += len(logs)
            _live(self.figures.add_logs, [str(r[2]) for r in logs])
            self._sinks.timing.write([rows.summary_line(rows.log_entry(meta, r, self.run_id)) for r in logs])
        return tables.call_columns(calls, batch.calls), entries

    def _write_calls(self, parts: list[tuple[Meta, tuple[Any, ...]]]) -> None:
        """The call records of a round, in columns, as one table (a malformed batch is found and
        rejected alone); a round of a few rows in plain Python (rowwise.py), if it can."""
        if not parts:
            return
        count = sum(len(calls[0]) for _, calls in parts)
        small = rowwise.call_rows(parts, self.run_id) if count < measures.ROW_BY_ROW else None  # type: ignore[arg-type]
        try:
            if small is None:
                table, plain, constant, escaped = tables.call_table(parts, self.run_id)  # type: ignore[arg-type]
            groups = tables.routes(
                parts[0][1][-1] if len(parts) == 1 else [r for _, c in parts for r in c[-1]]
            )
        except _MALFORMED:
            if len(parts) == 1:
                meta, calls = parts[0]
                self.reject("malformed call records", repr(calls), lost=(meta, len(calls[0])))
                return
            for part in parts:
                self._write_calls([part])
            return
        processes = [(m.host, m.pid, m.process_name, len(c[0])) for m, c in parts]
        if small is not None:
            _live(self.figures.add_call_rows, small.columns, processes)
            for route, indices in groups.items():
                self._write_rows(small if len(groups) == 1 else small.take(indices), route)
            return
        same = {name: table.column(name)[0].as_py() for name in ("function", "error_type", "parent_id")
                if name in constant}  # fmt: skip
        _live(self.figures.add_calls, table, processes, same)
        if len(groups) == 1:
            self._write_routed(table, next(iter(groups)), plain, constant, escaped)
            return
        for route, indices in groups.items():  # (the escaped columns are the whole round's)
            self._write_routed(table.take(indices), route, plain, constant, {})

    def _write_routed(
        self,
        table: pa.Table,
        route: Any,
        plain: frozenset[str],
        constant: dict[str, str],
        escaped: dict[str, tuple[pa.Array, pa.Array]],
    ) -> None:
        console, to_file, results_format = route
        self._count(table, constant)
        results = self._sinks.results(results_format or self.settings.results_format)
        to_file = self._setting(to_file, "log_to_file")
        as_csv = isinstance(results, CsvSink)
        if to_file or as_csv:  # the times' and numbers' texts, made once for both files
            iso = {name: tables.iso_times(table.column(name)) for name in schema.TIMESTAMP_COLUMNS}
            texts = tables.round_texts(table, plain, constant, to_file, as_csv, escaped)
            if to_file:
                self._sinks.timing.write(tables.json_lines(table, iso, plain, constant, texts))
        if isinstance(results, CsvSink):
            csv_rows = tables.csv_rows(table, iso, texts, plain, constant)
            if csv_rows is None:  # a text column holds a null: Arrow's writer, which writes it as it must
                results.write(tables.csv_table(table))
            else:
                results.write_bytes(sinks.string_bytes(csv_rows))
        else:
            results.write(table)
        if self._setting(console, "log_to_console") and self._console.enabled():
            _live(self._console.calls, table)

    def _count(self, table: pa.Table, constant: dict[str, str]) -> None:
        """Count a routed table's rows by source, and its failed calls (from the round's constant
        columns when it has them: no Arrow call)."""
        if "source" in constant:
            self.stats.by_source[table.column("source")[0].as_py()] += table.num_rows
        else:
            counted = pc.value_counts(table.column("source")).to_pylist()
            self.stats.by_source.update({found["values"]: found["counts"] for found in counted})
        if constant.get("status") != "ok":
            self.stats.errors += pc.sum(pc.equal(table.column("status"), "error")).as_py() or 0

    def _write_rows(self, rows_: rowwise.RowRound, route: Any) -> None:
        """_write_routed() of a round of a few rows made in Python: the same lines and rows."""
        console, to_file, results_format = route
        self.stats.by_source.update(rows_.columns["source"])
        self.stats.errors += rows_.columns["status"].count("error")
        results = self._sinks.results(results_format or self.settings.results_format)
        if self._setting(to_file, "log_to_file"):
            self._sinks.timing.write(rowwise.json_lines(rows_))
        if isinstance(results, CsvSink):
            results.write_bytes(rowwise.csv_text(rows_))
        else:
            results.write(rows_.table())
        if self._setting(console, "log_to_console") and self._console.enabled():
            _live(self._console.calls, rows_.dicts())

    def _setting(self, value: bool | None, name: str) -> bool:
        return bool(getattr(self.settings, name)) if value is None else bool(value)

    # -- housekeeping -------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Called between rounds: close old Parquet parts, look for spill files now and then."""
        self._sinks.tick()
        _live(self._console.tick)
        _live(self._snapshot.tick)
        if time.monotonic() - self._last_ingest > 5.0:
            self.ingest_spills()

    def close_parts(self) -> None:
        """Make every row written so far visible to readers: close the current Parquet parts."""
        self._sinks.close_parts()

    def flush(self) -> None:
        self._sinks.flush()

    def close(self, quietly: bool = False) -> None:
        self._sinks.close(quietly)

"""From decoded batches to files: routes each record to the sinks its decorator asked for.

A decorator's explicit setting wins for its own records; the collector's settings fill in what a
decorator left unset. The writer also ingests spill files, counts everything, and writes the run's
first and last lines (`run_start`, `run_summary`) to timing.log.

Each round ends with `commit()` in the ledger (see ledger.py): a batch is confirmed to its sender
only once it is on disk, a batch already written is skipped when it comes again (from a spill file
or a resent batch), and a failed write (a full disk) is cut off the files, counted and reported on
stderr, while the run goes on.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import logging
import logging.config
import os
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import environment, rows, schema
from ..spill import BATCH_KEY, DROPPED_EVENT
from ..wire import DROPPED
from . import tables
from .ledger import Ledger, sizes_of
from .sinks import ConsoleSink, CsvSink, JsonLinesSink, ParquetSink

__all__ = ["Stats", "Writer"]

Batch = tuple[Any, ...]  # wire.Batch: (meta, records, ...)


@dataclass
class Stats:
    """What the collector saw in this run; written as the run_summary line at stop."""

    by_source: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    error_entries: int = 0
    log_lines: int = 0
    processes: set[tuple[str, int]] = field(default_factory=set)
    rejected: int = 0
    refused_peers: int = 0
    ingested: int = 0
    write_failures: int = 0  # records lost because a file could not be written (a full disk)
    dropped: int = 0  # records the senders dropped under the drop policy, as they reported

    def counts(self) -> dict[str, Any]:
        """Every count but the processes, for the ledger (a restarted writer carries on from them)."""
        counts = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "processes"}
        counts["by_source"] = dict(self.by_source)
        return counts

    def restore(self, counts: dict[str, Any], processes: set[tuple[str, int]]) -> None:
        for name, value in counts.items():
            setattr(self, name, Counter(value) if name == "by_source" else value)
        self.processes |= processes


class Writer:
    """The sinks of one run, opened on first use, and the routing of records to them."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.log_dir: str = config["log_dir"]
        self.run_id: str = config["run_id"]
        self.stats = Stats()
        self.ledger = Ledger(config.get("ledger"))
        if config.get("resumed"):
            self.ledger.recover()
            self.stats.restore(self.ledger.counts, self.ledger.processes)
        self._committed_processes = set(self.stats.processes)
        self._slow = float(os.environ.get(environment.TEST_SLOW_SINK) or 0)  # for tests only
        self._ingest_count = 0
        # First: dictConfig closes every logging handler that exists, the sinks' rotating files included.
        self._console = ConsoleSink(_console_logger(config.get("logging_config")))
        self._timing = JsonLinesSink(
            os.path.join(self.log_dir, schema.TIMING_LOG), config["max_bytes"], config["backup_count"]
        )
        self._errors: dict[str, JsonLinesSink] = {}
        self._csv: CsvSink | None = None
        self._parquet: ParquetSink | None = None
        self._last_ingest = 0.0
        self.commit([])

    # -- the run's first and last lines ---------------------------------------------------------------

    def start(self) -> None:
        if not self.config.get("resumed"):
            self._event(schema.RUN_START_EVENT, f"run {self.run_id} started", tag=self.config.get("tag"))
        self.flush()
        self.commit([])
        self._ingest_leftovers()
        self.ingest_spills()

    def stop(self) -> None:
        self.ingest_spills()
        s = self.stats
        try:
            self._summary(s)
            self.close()
        except OSError as exc:
            print(f"mpmon collector: cannot finish the logs of run {self.run_id}: {exc}", file=sys.stderr)

    def _summary(self, s: Stats) -> None:
        self._event(
            schema.RUN_SUMMARY_EVENT,
            f"run {self.run_id}: {sum(s.by_source.values())} calls from {len(s.processes)} processes, "
            f"{s.errors} errors",
            tag=self.config.get("tag"),
            records_by_source=dict(s.by_source),
            errors=s.errors,
            error_entries=s.error_entries,
            log_lines=s.log_lines,
            processes=len(s.processes),
            dropped=s.dropped,
            drop_policy=self.config.get("drop_policy", "block"),
            spilled=s.ingested,
            ingested=s.ingested,
            rejected_payloads=s.rejected,
            refused_peers=s.refused_peers,
            write_failures=s.write_failures,
        )

    def _event(self, event: str, message: str, **fields: Any) -> None:
        entry = {
            "timestamp": rows.iso_utc(time.time_ns()),
            "level": "INFO",
            "event": event,
            "run_id": self.run_id,
            "message": message,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "log_dir": self.log_dir,
            **fields,
        }
        self._timing.write([rows.summary_line(entry)])

    # -- records ----------------------------------------------------------------------------------------

    def write(self, batches: list[Batch]) -> None:
        """Write every record of these batches (but those already written), push the files to the
        operating system and commit the round; after that the batches may be confirmed."""
        fresh = [b for b in batches if not (len(b) > 2 and b[2] and self.ledger.seen(b[0][3], b[2]))]
        try:
            calls: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]] = []
            for batch in fresh:
                meta, records = batch[0], batch[1]
                try:
                    calls.append((meta, self._write_batch(meta, records)))
                except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
                    self.reject(f"malformed records: {exc!r}")
            self._write_calls([part for part in calls if part[1]])
            self.flush()
        except OSError as exc:
            self._write_failed(exc, sum(len(b[1]) for b in fresh))
        if self._slow:
            time.sleep(self._slow * len(fresh))
        self.commit([(b[0][3], b[2]) for b in fresh if len(b) > 2 and b[2]])

    def commit(self, batches: list[tuple[str, int]], ingested: tuple[str, ...] = ()) -> None:
        """Record in the ledger the files' sizes now and the batches written since the last commit."""
        paths = [self._timing.path, os.path.join(self.log_dir, schema.RESULTS_CSV)]
        paths += [os.path.join(self.log_dir, schema.ERROR_LOG), *self._errors]
        processes = self.stats.processes
        new = []
        if len(processes) > len(self._committed_processes):
            new = sorted(processes - self._committed_processes)
        self._committed_processes.update(new)
        self.ledger.commit(sizes_of(paths), batches, ingested, self.stats.counts(), new)

    def _write_failed(self, exc: OSError, count: int) -> None:
        """A file could not be written: count the records as lost, say so, cut the files back, go on."""
        before, total = self.stats.write_failures, self.stats.write_failures + count
        self.stats.write_failures = total
        if before == 0 or before // 10_000 < total // 10_000:  # the first failure, then every 10,000 records
            print(
                f"mpmon collector: cannot write {count} records ({total} in this run), going on: {exc}",
                file=sys.stderr,
            )
        self._reopen()

    def _reopen(self) -> None:
        """Close every file whatever state a failed write left it in, cut it back to its last committed
        size (so that it parses), and start again with fresh sinks."""
        for sink in (self._timing, self._csv, self._parquet, *self._errors.values()):
            if sink is not None:
                with contextlib.suppress(OSError, ValueError, pa.ArrowException):
                    sink.close()
        self.ledger.cut_back()
        self._timing = JsonLinesSink(self._timing.path, self.config["max_bytes"], self.config["backup_count"])
        self._csv, self._parquet, self._errors = None, None, {}

    def reject(self, reason: str) -> None:
        self.stats.rejected += 1
        if self.stats.rejected <= 10:
            print(f"mpmon collector: rejected a batch: {reason}", file=sys.stderr)

    def _write_batch(self, meta: tuple[Any, ...], records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Write a batch's error and log records; its call records are returned, to be written with the
        round's others in one table."""
        self.stats.processes.add((meta[2], meta[0]))
        calls, errors, logs = rows.split_kinds(records)
        if len(calls) + len(errors) + len(logs) < len(records):
            self.stats.dropped += sum(r[1] for r in records if r[0] == DROPPED and type(r[1]) is int)
        for record in errors:
            self._write_error(meta, record)
        if logs:
            self.stats.log_lines += len(logs)
            self._timing.write([rows.summary_line(rows.log_entry(meta, r, self.run_id)) for r in logs])
        return calls

    def _write_calls(self, parts: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]) -> None:
        """The call records of a round, as one table (a malformed batch is found and rejected alone)."""
        if not parts:
            return
        try:
            table, plain = tables.call_table(parts, self.run_id)
            groups = _group([record[-1] for _, calls in parts for record in calls])
        except _MALFORMED:
            if len(parts) == 1:
                self.reject("malformed call records")
                return
            for part in parts:
                self._write_calls([part])
            return
        if len(groups) == 1:
            self._write_routed(table, next(iter(groups)), plain)
            return
        for route, indices in groups.items():
            self._write_routed(table.take(indices), route, plain)

    def _write_routed(self, table: pa.Table, route: Any, plain: frozenset[str]) -> None:
        console, to_file, results_format = route
        self.stats.by_source.update(table.column("source").to_pylist())
        errors = pc.sum(pc.equal(table.column("status"), "error")).as_py() or 0
        self.stats.errors += errors
        results = self._results(results_format or self.config["results_format"])
        to_file = self._setting(to_file, "log_to_file")
        if to_file or isinstance(results, CsvSink):
            as_csv = tables.csv_table(table)
            if to_file:
                iso = {name: as_csv.column(name) for name in schema.TIMESTAMP_COLUMNS}
                self._timing.write(tables.json_lines(table, iso, plain))
        results.write(as_csv if isinstance(results, CsvSink) else table)
        if self._setting(console, "log_to_console") and self._console.enabled(logging.ERROR):
            for row in table.to_pylist():
                level = logging.ERROR if row["status"] == "error" else logging.INFO
                self._console.write(level, [rows.console_line(row)])

    def _write_error(self, meta: tuple[Any, ...], record: tuple[Any, ...]) -> None:
        console, to_file, path, max_bytes, backup_count = record[-1][:5]  # [5]: results_format (collector)
        entry = rows.error_entry(meta, record, self.run_id)
        self.stats.error_entries += 1
        if self._setting(to_file, "log_to_file"):
            self._error_sink(path, max_bytes, backup_count).write([rows.summary_line(entry)])
        if self._setting(console, "log_to_console"):
            line = f"{entry['process_name']}[{entry['pid']}] {entry['message']}\n{entry['traceback']}"
            self._console.write(logging.ERROR, [line.rstrip("\n")])

    def _setting(self, value: bool | None, name: str) -> bool:
        return bool(self.config[name]) if value is None else bool(value)

    def _results(self, results_format: str) -> CsvSink | ParquetSink:
        if results_format == "parquet":
            if self._parquet is None:
                self._parquet = ParquetSink(os.path.join(self.log_dir, schema.RESULTS_PARQUET), self.run_id)
            return self._parquet
        if self._csv is None:
            self._csv = CsvSink(os.path.join(self.log_dir, schema.RESULTS_CSV))
        return self._csv

    def _error_sink(self, path: str | None, max_bytes: int | None, backup_count: int | None) -> JsonLinesSink:
        path = path or os.path.join(self.log_dir, schema.ERROR_LOG)
        sink = self._errors.get(path)
        if sink is None:
            sink = self._errors[path] = JsonLinesSink(
                path,
                self.config["max_bytes"] if max_bytes is None else max_bytes,
                self.config["backup_count"] if backup_count is None else backup_count,
            )
        return sink

    # -- spill files ------------------------------------------------------------------------------------

    def ingest_spills(self) -> None:
        """Write the records of every spill file in the log directory, then remove the file."""
        self._last_ingest = time.monotonic()
        for path in sorted(glob.glob(os.path.join(self.log_dir, schema.SPILL_GLOB))):
            self._ingest_count += 1
            taken = f"{path}.{os.getpid()}-{self._ingest_count}.ingesting"
            try:
                os.replace(path, taken)
            except OSError:
                continue  # another collector took it
            self._ingest_file(taken)

    def _ingest_leftovers(self) -> None:
        """Spill files a collector was ingesting when it died: done if its ledger says so, else redone."""
        for taken in sorted(glob.glob(os.path.join(self.log_dir, schema.SPILL_PREFIX + "*.ingesting"))):
            if taken in self.ledger.ingested:
                with contextlib.suppress(OSError):
                    os.remove(taken)
            else:
                self._ingest_file(taken)

    def _ingest_file(self, taken: str) -> None:
        try:
            with open(taken, encoding="utf-8", errors="replace") as spill:
                fcntl.flock(spill, fcntl.LOCK_EX)  # a process may be appending still (spill._append)
                written = self._ingest_lines(spill.read().splitlines())
            self.flush()
        except OSError as exc:
            print(f"mpmon collector: cannot ingest {taken} yet: {exc}", file=sys.stderr)
            self._reopen()
            return
        self.commit(sorted(written), (taken,))
        with contextlib.suppress(OSError):
            os.remove(taken)

    def _ingest_lines(self, lines: list[str]) -> set[tuple[str, int]]:
        """Write the lines of a spill file, skipping batches already written; the batches written."""
        calls: list[dict[str, Any]] = []
        written: set[tuple[str, int]] = set()
        for line in lines:
            try:
                entry = json.loads(line)
                mark = entry.pop(BATCH_KEY, None)
                if mark is not None:
                    prefix, _, seq = str(mark).rpartition(":")
                    batch = (prefix, int(seq))
                    if self.ledger.seen(*batch):
                        continue
                    written.add(batch)
            except (ValueError, AttributeError):
                self.reject("unreadable spill line")
                continue
            event = entry.get("event")
            if event == schema.EVENT_CALL:
                calls.append(entry)
            elif event == "error":
                self._error_sink(None, None, None).write([rows.summary_line(entry)])
                self.stats.error_entries += 1
            elif event == DROPPED_EVENT:
                self.stats.dropped += int(entry.get("count") or 0)
            else:
                self._timing.write([rows.summary_line(entry)])
        if calls:
            self._timing.write([rows.summary_line(c) for c in calls])
            columns = rows.columns_of_entries(calls, self.run_id)
            self.stats.by_source.update(columns["source"])
            self.stats.errors += columns["status"].count("error")
            table = tables.table_of_columns(columns)
            results = self._results(self.config["results_format"])
            results.write(tables.csv_table(table) if isinstance(results, CsvSink) else table)
        self.stats.ingested += len(calls)
        return written

    # -- housekeeping -------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Called between rounds: close old Parquet parts, look for spill files now and then."""
        if self._parquet is not None:
            self._parquet.tick()
        if time.monotonic() - self._last_ingest > 5.0:
            self.ingest_spills()

    def flush(self) -> None:
        self._timing.flush()
        if self._csv is not None:
            self._csv.flush()
        for sink in self._errors.values():
            sink.flush()

    def close(self) -> None:
        for sink in (self._timing, self._csv, self._parquet, *self._errors.values()):
            if sink is not None:
                sink.close()


def _console_logger(logging_config: dict[str, Any] | None) -> logging.Logger:
    """The logger named "mpmon" of this process: the user's dictConfig, or a plain stderr handler."""
    logger = logging.getLogger("mpmon")
    if logging_config:
        logging.config.dictConfig(logging_config)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s mpmon %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


_MALFORMED = (TypeError, ValueError, IndexError, KeyError, AttributeError, pa.ArrowException)


def _group(routes: list[Any]) -> dict[Any, list[int]]:
    """The row indices of each route (a decorator's console, file and format settings)."""
    first = routes[0]
    if routes.count(first) == len(routes):
        return {first: list(range(len(routes)))}
    groups: dict[Any, list[int]] = {}
    for index, route in enumerate(routes):
        groups.setdefault(route, []).append(index)
    return groups

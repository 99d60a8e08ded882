"""From decoded batches to files: routes each record to the sinks its decorator asked for.

A decorator's explicit setting wins for its own records; the collector's settings fill in what a
decorator left unset. The writer also ingests spill files, counts everything, and writes the run's
first and last lines (`run_start`, `run_summary`) to timing.log.
"""

from __future__ import annotations

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

from .. import rows, schema
from .sinks import ConsoleSink, CsvSink, JsonLinesSink, ParquetSink

__all__ = ["Stats", "Writer"]

Batch = tuple[tuple[Any, ...], list[tuple[Any, ...]]]


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
    write_failures: int = 0


class Writer:
    """The sinks of one run, opened on first use, and the routing of records to them."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.log_dir: str = config["log_dir"]
        self.run_id: str = config["run_id"]
        self.stats = Stats()
        # First: dictConfig closes every logging handler that exists, the sinks' rotating files included.
        self._console = ConsoleSink(_console_logger(config.get("logging_config")))
        self._timing = JsonLinesSink(
            os.path.join(self.log_dir, schema.TIMING_LOG), config["max_bytes"], config["backup_count"]
        )
        self._errors: dict[str, JsonLinesSink] = {}
        self._csv: CsvSink | None = None
        self._parquet: ParquetSink | None = None
        self._last_ingest = 0.0

    # -- the run's first and last lines ---------------------------------------------------------------

    def start(self) -> None:
        if not self.config.get("resumed"):
            self._event(schema.RUN_START_EVENT, f"run {self.run_id} started", tag=self.config.get("tag"))
        self.ingest_spills()
        self.flush()

    def stop(self) -> None:
        self.ingest_spills()
        s = self.stats
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
            dropped=self.config.get("dropped", 0),
            drop_policy=self.config.get("drop_policy", "block"),
            spilled=s.ingested,
            ingested=s.ingested,
            rejected_payloads=s.rejected,
            refused_peers=s.refused_peers,
            write_failures=s.write_failures,
        )
        self.close()

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
        """Write every record of these batches, then push the files to the operating system."""
        for meta, records in batches:
            try:
                self._write_batch(meta, records)
            except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
                self.reject(f"malformed records: {exc!r}")
            except OSError as exc:
                self.stats.write_failures += 1
                print(f"mpmon collector: cannot write {len(records)} records: {exc}", file=sys.stderr)
        self.flush()

    def reject(self, reason: str) -> None:
        self.stats.rejected += 1
        if self.stats.rejected <= 10:
            print(f"mpmon collector: rejected a batch: {reason}", file=sys.stderr)

    def _write_batch(self, meta: tuple[Any, ...], records: list[tuple[Any, ...]]) -> None:
        self.stats.processes.add((meta[2], meta[0]))
        calls, errors, logs = rows.split_kinds(records)
        if calls:
            self._write_calls(meta, calls)
        for record in errors:
            self._write_error(meta, record)
        if logs:
            self.stats.log_lines += len(logs)
            self._timing.write([rows.summary_line(rows.log_entry(meta, r, self.run_id)) for r in logs])

    def _write_calls(self, meta: tuple[Any, ...], calls: list[tuple[Any, ...]]) -> None:
        columns = rows.call_columns(meta, calls, self.run_id)
        routes = [record[-1] for record in calls]
        first = routes[0]
        groups: dict[Any, list[int] | None]
        groups = {first: None} if all(r == first for r in routes) else _group(routes)
        for route, indices in groups.items():
            self._write_routed(columns, route, indices)

    def _write_routed(self, columns: rows.Columns, route: Any, indices: list[int] | None) -> None:
        console, to_file, results_format = route
        part = columns if indices is None else {k: [v[i] for i in indices] for k, v in columns.items()}
        statuses = part["status"]
        self.stats.by_source.update(part["source"])
        self.stats.errors += statuses.count("error")
        if self._setting(to_file, "log_to_file"):
            self._timing.write(rows.call_lines(part))
        self._results(results_format or self.config["results_format"]).write(part)
        if self._setting(console, "log_to_console"):
            lines = [f"{n}[{p}] {m}" for n, p, m in zip(part["process_name"], part["pid"], part["message"])]
            self._console.write(logging.INFO, [ln for ln, s in zip(lines, statuses) if s == "ok"])
            self._console.write(logging.ERROR, [ln for ln, s in zip(lines, statuses) if s != "ok"])

    def _write_error(self, meta: tuple[Any, ...], record: tuple[Any, ...]) -> None:
        console, to_file, path, max_bytes, backup_count = record[-1]
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
            taken = path + ".ingesting"
            try:
                os.replace(path, taken)
                with open(taken, encoding="utf-8") as spill:
                    self._ingest_lines(spill.read().splitlines())
                os.remove(taken)
            except OSError as exc:
                print(f"mpmon collector: cannot ingest {path}: {exc}", file=sys.stderr)

    def _ingest_lines(self, lines: list[str]) -> None:
        calls: list[dict[str, Any]] = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                self.reject("unreadable spill line")
                continue
            event = entry.get("event")
            if event == schema.EVENT_CALL:
                calls.append(entry)
            elif event == "error":
                self._error_sink(None, None, None).write([line])
                self.stats.error_entries += 1
            else:
                self._timing.write([line])
        if calls:
            self._timing.write([rows.summary_line(c) for c in calls])
            columns = rows.columns_of_entries(calls, self.run_id)
            self.stats.by_source.update(columns["source"])
            self.stats.errors += columns["status"].count("error")
            self._results(self.config["results_format"]).write(columns)
        self.stats.ingested += len(calls)

    # -- housekeeping -------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Called between rounds: close old Parquet parts, look for spill files now and then."""
        if self._parquet is not None:
            self._parquet.flush()
        if time.monotonic() - self._last_ingest > 5.0:
            self.ingest_spills()
            self.flush()

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


def _group(routes: list[Any]) -> dict[Any, list[int] | None]:
    groups: dict[Any, list[int] | None] = {}
    for index, route in enumerate(routes):
        members = groups.setdefault(route, [])
        assert members is not None
        members.append(index)
    return groups

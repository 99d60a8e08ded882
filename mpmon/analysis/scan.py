"""The results tables of a log directory as one DuckDB view, scanned where they lie, never loaded.

:func:`open_source` makes a DuckDB connection whose view ``calls`` unions every results table of a log
directory (``timing_results.csv``, the ``timing_results.parquet/`` parts, each ``host=<name>/``
partition) with the calls that only the JSON lines hold (timing.log, spill files: :mod:`.scan_lines`), in
the schema's column names and types: text never null (``""``), floats NaN-free (null), and ``start_us`` /
``end_us`` integer microseconds beside the timestamps. DuckDB streams the files, spills to disk past
``memory_limit`` and reads only the columns a query names, so memory grows with functions and processes,
not with calls.
The original module's tables (and rows without a run id, whose runs are time clusters) are not scanned:
:func:`open_source` returns None for them and the caller loads them as before (they are small).
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.parquet as pq

from mpmon import schema
from mpmon.analysis import hosts, readers, safe_files, scan_lines
from mpmon.analysis.jsonlines import LineLog
from mpmon.analysis.selection import AnalysisError

__all__ = ["MEMORY_LIMIT", "THREADS", "Source", "connect", "open_source", "sql_text"]

MEMORY_LIMIT = os.environ.get("MPMON_ANALYSIS_MEMORY", "500MB")
"""DuckDB's memory limit (past it, sorts, joins and groupings spill to a temporary directory)."""
THREADS = int(os.environ.get("MPMON_ANALYSIS_THREADS", "0")) or min(4, os.cpu_count() or 1)

_DUCK_TYPES = {"string": "VARCHAR", "timestamp": "TIMESTAMPTZ", "float": "DOUBLE", "int": "BIGINT"}
_KINDS = {c.name: c.kind for c in schema.COLUMNS}

DEDUP_CHECK_ROWS = 5_000_000
"""A CSV of up to this many rows is checked for repeated call ids (a hash of every id: paid once)."""
_CSV_IDS = "<the CSV table's call ids>"


@dataclass
class Source:
    """An open scan of one log directory: the connection (view ``calls``), and what the lines held."""

    path: Path
    con: duckdb.DuckDBPyConnection
    spill: Path  # the database file and what DuckDB spills: removed by close()
    events: list[dict[str, Any]]
    errors: Any  # error.log entries (jsonlines.errors_frame)
    timing_log: LineLog
    error_log: LineLog
    skipped: dict[str, int] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()
    cache: dict[str, Any] = field(default_factory=dict)  # small results one step keeps for a later one

    def sql(self, query: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyRelation:
        """A query's result relation (``.df()`` for pandas, ``.fetchall()`` for tuples)."""
        return self.con.sql(query, params=params)

    def close(self) -> None:
        """Close the connection and remove its temporary directory, once a query still running on a
        thread (``cache["pending"]``, a Future) has ended."""
        pending = self.cache.pop("pending", None)
        if pending is not None:
            pending.exception()  # waits; its outcome is its caller's to see
        _drop(self.con, self.spill)


def _drop(con: duckdb.DuckDBPyConnection, spill: Path) -> None:
    """Close a connection and remove its directory (safe to call twice)."""
    con.close()
    shutil.rmtree(spill, ignore_errors=True)


def connect(
    memory_limit: str = MEMORY_LIMIT, threads: int = THREADS
) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A DuckDB in a private temporary directory (returned: remove it after closing), bounded by
    ``memory_limit`` and spilling there past it."""
    spill = Path(tempfile.mkdtemp(prefix="mpmon-duckdb-"))
    con = duckdb.connect(
        str(spill / "scan.duckdb"),
        config={
            "memory_limit": memory_limit,
            "threads": threads,
            "temp_directory": str(spill),
            "preserve_insertion_order": False,
        },
    )
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET enable_external_file_cache = false")  # the files are read where they lie, not kept
    # Parquet statistics leave NaN out, so the optimizer would fold isnan() to false: keep it
    con.execute("SET disabled_optimizers = 'statistics_propagation'")
    return con, spill


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def open_source(path: Path) -> Source | None:
    """Scan ``path`` (an ordinary log directory or a multi-host root); None if it holds tables the scan
    does not read (the original module's, or rows without a run id)."""
    parts = hosts.partitions(path)
    dirs = [(path, "")] if not parts else [(p, h) for h, p in parts.items()]
    if parts and _has_logs(path):
        dirs.insert(0, (path, ""))
    con, spill = connect()
    selects: list[str] = []
    events: list[dict[str, Any]] = []
    errors: list[Any] = []
    timing: list[LineLog] = []
    error_logs: list[LineLog] = []
    skipped: dict[str, int] = {}
    for number, (folder, host) in enumerate(dirs):
        lines = scan_lines.read_lines(folder, host, skipped)
        tables = _table_selects(folder)
        if lines is None or tables is None:
            _drop(con, spill)
            return None
        found_events, entries, timing_log, error_log, line_calls = lines
        events += found_events
        errors.append(entries)
        timing.append(timing_log)
        error_logs.append(error_log)
        try:
            selects += _stored(con, f"t{number}", tables, line_calls, host, skipped)
        except _BadTable:  # a CSV with rows that do not parse: the loading path says and skips them
            _drop(con, spill)
            return None
    if not selects:
        _drop(con, spill)
        return None
    con.execute("CREATE VIEW calls AS " + "\nUNION ALL\n".join(selects))
    joined = (LineLog.join(timing), LineLog.join(error_logs))
    source = Source(path, con, spill, events, _concat(errors), *joined, skipped, tuple(parts))
    weakref.finalize(source, _drop, con, spill)
    if source.sql("SELECT count(*) FROM calls WHERE run_id = ''").fetchall()[0][0]:
        source.close()
        return None
    return source


class _BadTable(Exception):
    """A results table with rows that do not parse (beyond a torn last line)."""


def _stored(
    con: duckdb.DuckDBPyConnection,
    name: str,
    scans: list[tuple[str, frozenset[str]]],
    line_calls: scan_lines.PendingLineCalls,
    host: str,
    skipped: dict[str, int],
) -> list[str]:
    """SELECTs of one folder's calls: Parquet scanned in place, CSV parsed once into a table of the
    on-disk database (a CSV scan parses every time), and the line calls the tables lack."""
    selects = []
    for number, (scan, never_null) in enumerate(scans):
        shaped = _shaped(scan.replace(_CSV_IDS, f"SELECT call_id FROM {name}_csv0"), host, never_null)
        if scan.startswith("read_csv"):
            _store_csv(con, f"{name}_csv{number}", shaped, scan, skipped)
            shaped = f"SELECT * FROM {name}_csv{number}"
        selects.append(shaped)
    extra = line_calls.missing(con, name, selects)
    for file, count in line_calls.skipped.items():
        skipped[file] = skipped.get(file, 0) + count
    if extra is None or not extra.num_rows:
        return selects
    con.register(f"{name}_lines_arrow", extra)
    lines = _shaped(f"{name}_lines_arrow", host)
    query = f"SELECT * FROM ({lines})"
    if selects:  # the table ids that could match: those ending when a line call ended (cheap to hash)
        union = " UNION ALL ".join(f"SELECT call_id, end_us FROM ({t})" for t in selects)
        near = f"SELECT call_id FROM ({union}) WHERE end_us IN (SELECT end_us FROM ({lines}))"
        query += f" WHERE call_id NOT IN ({near})"
    con.execute(f"CREATE TABLE {name}_lines AS {query}")
    con.unregister(f"{name}_lines_arrow")
    return [*selects, f"SELECT * FROM {name}_lines"]


def _store_csv(
    con: duckdb.DuckDBPyConnection, table: str, shaped: str, scan: str, skipped: dict[str, int]
) -> None:
    """Parse a CSV once into ``table``; a torn last line (a writer stopped mid-row) is counted in
    ``skipped``, any other row that does not parse raises :class:`_BadTable`."""
    path = Path(scan.split("'", 2)[1].replace("''", "'"))
    try:
        con.execute(f"CREATE TABLE {table} AS {shaped}")
        rejected = con.sql("SELECT count(*) FROM reject_errors").fetchall()[0][0]
        con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    except duckdb.Error as exc:
        raise _BadTable(str(exc)) from None
    torn = readers._last_newline(path)[1]
    if rejected > torn:
        raise _BadTable(f"{rejected} rows of {path} do not parse")
    if rejected:
        skipped[path.name] = skipped.get(path.name, 0) + rejected
    rows = con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    if rows > DEDUP_CHECK_ROWS:  # the hash of every id is paid only where it is checked
        return
    ids = con.sql(f"SELECT count(DISTINCT call_id) FROM {table}").fetchall()[0][0]
    if ids < rows:  # a call written twice: the loading path drops and says
        raise _BadTable(f"{rows - ids} repeated call ids in {path}")


def _has_logs(path: Path) -> bool:
    """Whether a multi-host root also holds logs of its own."""
    names = (schema.RESULTS_CSV, schema.RESULTS_PARQUET, schema.TIMING_LOG)
    return any((path / n).exists() for n in names) or any(path.glob(schema.SPILL_GLOB))


def _concat(frames: list[Any]) -> Any:
    return pd.concat(frames, ignore_index=True)


def _table_selects(folder: Path) -> list[tuple[str, frozenset[str]]] | None:
    """Scans of the folder's results tables (only files :mod:`.safe_files` lets the analysis open); None
    for the original module's tables, or a Parquet part whose footer does not read (the loading path
    reads those part by part and says which it skipped)."""
    selects: list[tuple[str, frozenset[str]]] = []
    csv_path, parquet = folder / schema.RESULTS_CSV, folder / schema.RESULTS_PARQUET
    if (csv_path.is_file() or csv_path.is_symlink()) and safe_files.vetted([csv_path]):
        with safe_files.open_vetted(csv_path) as raw:
            first = raw.readline().decode("utf-8", "replace")
        header = next(csv.reader([first]), [])
        if header and not set(schema.COLUMN_NAMES) <= set(header):
            return None
        if header:
            selects.append((_read_csv(csv_path, header), frozenset()))
    if parquet.is_file():
        return None  # a single legacy Parquet file
    if parquet.is_dir() and safe_files.vet_directory(parquet) is None:
        files = sorted(p for p in parquet.rglob("*.parquet") if not p.name.startswith(("_", ".")))
        files = safe_files.vetted(files)
        try:
            footers = [pq.read_metadata(part) for part in files]
        except (pa.ArrowException, OSError):
            return None
        if files:
            listed = ", ".join(sql_text(str(p)) for p in files)
            scan = f"read_parquet([{listed}], union_by_name = true)"
            if selects:  # a call in both tables is kept once (the CSV's)
                scan = f"(SELECT * FROM {scan} WHERE call_id NOT IN ({_CSV_IDS}))"
            selects.append((scan, _never_null(footers)))
    return selects


def _never_null(footers: list[Any]) -> frozenset[str]:
    """The columns that every Parquet part holds and whose statistics count no null in any row group:
    they need no ``coalesce`` (which would cost DuckDB its dictionary-encoded text)."""
    found: set[str] | None = None
    for footer in footers:
        names = {footer.schema.column(j).name for j in range(footer.num_columns)}
        for i in range(footer.num_row_groups):
            group = footer.row_group(i)
            for j in range(group.num_columns):
                stats = group.column(j).statistics
                if stats is None or not stats.has_null_count or stats.null_count:
                    names.discard(group.column(j).path_in_schema)
        found = names if found is None else found & names
    return frozenset(found or ())


def _read_csv(path: Path, header: list[str]) -> str:
    """A DuckDB CSV scan with the schema's types; rows that do not parse (a torn last line) are skipped."""
    types = ", ".join(
        f"{sql_text(n)}: {sql_text(_DUCK_TYPES[_KINDS[n]] if n in _KINDS else 'VARCHAR')}" for n in header
    )
    return (
        f"read_csv({sql_text(str(path))}, header = true, auto_detect = false, columns = {{{types}}}, "
        "delim = ',', quote = '\"', escape = '\"', ignore_errors = true, store_rejects = true, "
        "strict_mode = false, parallel = true)"
    )


def _shaped(scan: str, host: str, never_null: frozenset[str] = frozenset()) -> str:
    """A SELECT giving every schema column in its type (text never null, NaN as null) plus µs times;
    the ``never_null`` columns are taken as they are."""
    exprs = []
    for name in schema.COLUMN_NAMES:
        kind = _KINDS[name]
        value = f"CAST({_quote(name)} AS {_DUCK_TYPES[kind]})"
        if kind == "string":
            value = value if name in never_null else f"coalesce({value}, '')"
            if name == "host" and host:
                value = f"CASE WHEN {value} = '' THEN {sql_text(host)} ELSE {value} END"
        elif kind == "float":
            value = f"CASE WHEN isnan({value}) THEN NULL ELSE {value} END"
        elif name == "pid" and name not in never_null:
            value = f"coalesce({value}, -1)"
        exprs.append(f"{value} AS {_quote(name)}")
    exprs += [f"epoch_us(CAST({t} AS TIMESTAMPTZ)) AS {t[:-5]}_us" for t in ("start_time", "end_time")]
    return f"SELECT {', '.join(exprs)} FROM {scan}"


def _quote(name: str) -> str:
    return '"' + name + '"'


def no_calls(path: Path) -> AnalysisError:
    """The error for a directory without calls."""
    return AnalysisError(f"no calls recorded in {path}")

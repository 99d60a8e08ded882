"""A selected run's rows in bounded batches, read where they lie, for the outputs that need every row.

The trace, the OTLP export, ``rows.parquet`` and ``compare`` read a scanned run
(:func:`~mpmon.analysis.scanned.open_run`) through :func:`row_batches`: one DuckDB query over the run's
view, fetched as Arrow record batches of at most ``size`` rows (``to_arrow_reader``), only the columns
asked for, never sorted as a whole (a global sort holds hundreds of MB before it spills). While a stream
is read DuckDB runs on one thread with :data:`STREAM_MEMORY`: one thread reads as fast as the rows are
used and holds one thread's buffers, so the memory these outputs take grows with the batch, not the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from mpmon.analysis.scan import sql_text
from mpmon.analysis.scanned import RUN_VIEW
from mpmon.analysis.selection import Run

__all__ = [
    "BATCH_ROWS",
    "STREAM_MEMORY",
    "column_list",
    "query_batches",
    "rechunked",
    "row_batches",
    "scalar",
]

BATCH_ROWS = 65_536
"""Rows per batch: a few MB of Arrow for the widest row, enough to keep numpy and Arrow kernels busy."""
STREAM_MEMORY = os.environ.get("MPMON_EXPORT_MEMORY", "100MB")
"""DuckDB's memory limit while a stream of rows is read."""


def column_list(columns: Sequence[str]) -> str:
    """Column names quoted for SQL, comma-separated."""
    return ", ".join('"' + c.replace('"', '""') + '"' for c in columns)


def row_batches(
    run: Run, columns: Sequence[str], *, where: str = "", size: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The rows of a scanned ``run`` (``run.source`` set) with ``columns``, filtered by the SQL ``where``
    when given, in record batches of at most ``size`` rows (in no particular order)."""
    query = f"SELECT {column_list(columns)} FROM {RUN_VIEW}"
    query += f" WHERE {where}" if where else ""
    return query_batches(run, query, size=size, memory_limit=STREAM_MEMORY, threads=1)


def query_batches(
    run: Run,
    query: str,
    *,
    size: int = BATCH_ROWS,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """The result of ``query`` (over the run's view, ``run_calls``) in record batches of at most ``size``
    rows; empty batches are skipped. ``memory_limit`` and ``threads`` are DuckDB's while the stream is
    read (the connection's own settings come back after)."""
    if run.source is None:
        raise ValueError("row batches need a scanned run (scanned.open_run), not a loaded one")
    con = run.source.con
    settings = {"memory_limit": memory_limit, "threads": threads}
    before = {k: con.sql(f"SELECT current_setting('{k}')").fetchall()[0][0] for k, v in settings.items() if v}
    cursor = con.cursor()  # its own stream: other queries meanwhile do not end this one
    try:
        for name in before:
            con.execute(f"SET {name} = {sql_text(str(settings[name]))}")
        for batch in cursor.sql(query).to_arrow_reader(size):
            if batch.num_rows:
                yield batch
    finally:
        cursor.close()
        for name, value in before.items():
            con.execute(f"SET {name} = {sql_text(str(value))}")


def rechunked(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The batches' rows as tables of exactly ``rows`` rows (the last one fewer): at most one table and
    one batch held at a time."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held)


def scalar(run: Run, query: str) -> Any:
    """The first value of the first row of ``query`` (a count, a minimum), or None."""
    if run.source is None:
        raise ValueError("queries need a scanned run (scanned.open_run), not a loaded one")
    rows = run.source.con.sql(query).fetchall()
    return rows[0][0] if rows else None

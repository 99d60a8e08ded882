"""``--export-rows``: a selected run's call rows as one Parquet file, written a batch at a time.

The rows are read where they lie (:mod:`.batches`: one DuckDB query, Arrow record batches) and appended
to a ``pyarrow.parquet.ParquetWriter`` in the collector's Arrow types, so a run of any size is written
with the memory of one batch. A loaded run (the original module's logs) is written from its frame.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mpmon import schema
from mpmon.analysis import load
from mpmon.analysis.batches import row_batches

__all__ = ["write_rows"]

COMPRESSION = "zstd"


def write_rows(run: load.Run, path: Path) -> Path:
    """The call rows of ``run`` as a Parquet file at ``path`` (the schema's columns, in its order and
    types; the loaded columns only for a loaded run); returns ``path``."""
    if run.source is None:
        return _write_frame(run, path)
    arrow_schema = schema.arrow_schema()
    with pq.ParquetWriter(path, arrow_schema, compression=COMPRESSION) as writer:
        for batch in row_batches(run, schema.COLUMN_NAMES):
            writer.write_table(pa.Table.from_batches([batch]).cast(arrow_schema))
    return path


def _write_frame(run: load.Run, path: Path) -> Path:
    """A loaded run's rows: the schema's columns that were loaded (categorical text as plain text)."""
    calls = run.calls
    fields = [f for f in schema.arrow_schema() if f.name in calls.columns]
    table = pa.Table.from_pandas(calls[[f.name for f in fields]], preserve_index=False)
    pq.write_table(table.cast(pa.schema(fields)), path, compression=COMPRESSION)
    return path

"""A scanned run's Chrome trace written a part at a time: memory bounded by a file's calls, not the run's.

:func:`write_run_trace` reads the run's rows sorted by start where they lie (DuckDB sorts out of core;
:mod:`.batches` fetches them in record batches) and writes them with :func:`.trace.to_chrome_trace`.
A run of at most ``calls_per_file`` calls is one file, the same trace as the rows loaded at once. A
bigger run is several files, each the calls that started in one stretch of time (``trace.0001.json``,
``trace.0002.json``, ...): a JSON trace of millions of calls is hundreds of MB, more than a trace viewer
opens, and one part in memory at a time is what bounds the writer. Each part is a whole trace (its own
``otherData.start_time``); trace pids agree across parts. A call whose parent started in an earlier part
is laid out on its own there (not clamped into its parent, which that file does not hold).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa

from mpmon.analysis import load
from mpmon.analysis.batches import rechunked, row_batches, scalar
from mpmon.analysis.scanned import RUN_VIEW
from mpmon.analysis.trace import to_chrome_trace

__all__ = ["CALLS_PER_FILE", "COLUMNS", "part_paths", "write_run_trace"]

CALLS_PER_FILE = 1_000_000
"""Calls per trace file (about 300 MB of JSON): a bigger run is written as several files."""
COLUMNS = (
    "run_id", "call_id", "parent_id", "source", "function", "start_time", "end_time", "duration_s",
    "cpu_time_s", "mem_delta_mib", "pid", "process_name", "thread_name", "host", "status", "error_type",
)  # fmt: skip
"""The results columns a trace shows."""


def write_run_trace(run: load.Run, path: str | Path, calls_per_file: int = CALLS_PER_FILE) -> list[Path]:
    """Write the calls of ``run`` as a Chrome trace at ``path``, or as several files beside it when the
    run has more than ``calls_per_file`` calls (:func:`part_paths`); return the paths written."""
    if calls_per_file < 1:
        raise ValueError(f"calls_per_file must be a positive integer, not {calls_per_file!r}")
    path = Path(path)
    if run.source is None:  # the original module's logs, loaded
        return [to_chrome_trace(run.calls, path, run.clock_offsets)]
    calls = int(scalar(run, f"SELECT count(*) FROM {RUN_VIEW} WHERE start_time IS NOT NULL"))
    paths = part_paths(path, -(-calls // calls_per_file))
    hosts = [
        str(h) for (h,) in run.source.sql(f"SELECT DISTINCT host FROM {RUN_VIEW} ORDER BY host").fetchall()
    ]
    parts = _parts(run, calls_per_file)
    for target in paths:
        to_chrome_trace(_frame(next(parts, None)), target, run.clock_offsets, hosts)
    return paths


def part_paths(path: Path, parts: int) -> list[Path]:
    """``path`` itself for one part (or none), else ``<stem>.0001<suffix>``, ``<stem>.0002<suffix>``..."""
    if parts <= 1:
        return [path]
    width = max(4, len(str(parts)))
    return [path.with_name(f"{path.stem}.{k:0{width}d}{path.suffix}") for k in range(1, parts + 1)]


def _parts(run: load.Run, rows: int) -> Iterator[pa.Table]:
    """The run's rows with a start, sorted by start, as tables of ``rows`` rows (the last one fewer)."""
    batches = row_batches(
        run, (*COLUMNS, "start_us"), where="start_time IS NOT NULL", order="start_us, call_id"
    )
    return rechunked(batches, rows)


def _frame(table: pa.Table | None) -> pd.DataFrame:
    """One part's rows as the frame :func:`to_chrome_trace` takes (UTC microsecond times)."""
    if table is None:  # no calls at all: an empty trace
        table = pa.table({name: pa.array([], pa.string()) for name in COLUMNS})
    frame = table.drop_columns([c for c in table.column_names if c not in COLUMNS]).to_pandas()
    for name in ("start_time", "end_time"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    return frame

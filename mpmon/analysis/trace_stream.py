"""A scanned run's Chrome trace written a part at a time: memory bounded by a file's calls, not the run's.

:func:`write_run_trace` writes the run with :func:`.trace.to_chrome_trace` a part at a time, each part
read where the rows lie (:mod:`.batches`). A run of at most ``calls_per_file`` calls is one file, the same
trace as the rows loaded at once. A bigger run is several files, each the calls that started in one
stretch of time (``trace.0001.json``, ``trace.0002.json``, ...), the stretches cut from a histogram of
start times (no sort of the run): a JSON trace of millions of calls is hundreds of MB, more than a
trace viewer opens, and one part in memory at a time is what bounds the writer. Each part is a whole
trace (its own ``otherData.start_time``); trace pids agree across parts. A call whose parent started in
an earlier part is laid out on its own there (not clamped into its parent, which that file lacks).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa

from mpmon.analysis import load
from mpmon.analysis.batches import row_batches
from mpmon.analysis.scanned import RUN_VIEW
from mpmon.analysis.trace import to_chrome_trace

__all__ = ["CALLS_PER_FILE", "COLUMNS", "part_paths", "write_run_trace"]

CALLS_PER_FILE = 250_000
"""Calls per trace file (about 80 MB of JSON; writing one peaks near 570 MB, against 1 GB for a million):
a bigger run is written as several files."""
COLUMNS = (
    "run_id", "call_id", "parent_id", "source", "function", "start_time", "end_time", "duration_s",
    "cpu_time_s", "mem_delta_mib", "pid", "process_name", "thread_name", "host", "status", "error_type",
)  # fmt: skip
"""The results columns a trace shows."""
BINS = 1 << 16
"""Stretches of start time the parts are cut from."""
_STARTED = "start_time IS NOT NULL"


def write_run_trace(run: load.Run, path: str | Path, calls_per_file: int = CALLS_PER_FILE) -> list[Path]:
    """Write the calls of ``run`` as a Chrome trace at ``path``, or as several files beside it when the
    run has more than ``calls_per_file`` calls (:func:`part_paths`); return the paths written."""
    if calls_per_file < 1:
        raise ValueError(f"calls_per_file must be a positive integer, not {calls_per_file!r}")
    path = Path(path)
    if run.source is None:  # the original module's logs, loaded
        return [to_chrome_trace(run.calls, path, run.clock_offsets)]
    named = run.source.sql(f"SELECT DISTINCT host FROM {RUN_VIEW} ORDER BY host").fetchall()
    hosts = [str(h) for (h,) in named]
    stretches = _stretches(run, calls_per_file)
    paths = part_paths(path, len(stretches))
    for target, where in zip(paths, stretches or [_STARTED], strict=True):
        batches = list(row_batches(run, COLUMNS, where=where))
        table = pa.Table.from_batches(batches) if batches else _empty()
        to_chrome_trace(_frame(table), target, run.clock_offsets, hosts)
        del batches, table
    return paths


def part_paths(path: Path, parts: int) -> list[Path]:
    """``path`` itself for one part (or none), else ``<stem>.0001<suffix>``, ``<stem>.0002<suffix>``..."""
    if parts <= 1:
        return [path]
    width = max(4, len(str(parts)))
    return [path.with_name(f"{path.stem}.{k:0{width}d}{path.suffix}") for k in range(1, parts + 1)]


def _stretches(run: load.Run, calls_per_file: int) -> list[str]:
    """SQL conditions that cut the run's calls into stretches of start time of at most ``calls_per_file``
    calls each (a stretch of 1/:data:`BINS` of the run holding more is one part), from a histogram of
    start times: no sort. A filter on ``start_time`` lets DuckDB skip the row groups of other times."""
    first, last, calls = run.source.sql(
        f"SELECT min(start_us), max(start_us), count(*) FROM {RUN_VIEW} WHERE {_STARTED}"
    ).fetchall()[0]
    if not calls or calls <= calls_per_file:
        return [_STARTED] if calls else []
    width = (last - first) // BINS + 1
    counts = run.source.sql(
        f"SELECT (start_us - {first}) // {width} AS bin, count(*) FROM {RUN_VIEW} WHERE {_STARTED} "
        "GROUP BY bin ORDER BY bin"
    ).fetchall()
    cuts, held = [0], 0
    for number, count in counts:
        if held and held + count > calls_per_file:
            cuts.append(number)
            held = 0
        held += count
    cuts.append(BINS + 1)
    times = [_instant(first + cut * width) for cut in cuts]
    return [f"start_time >= {lo} AND start_time < {hi}" for lo, hi in itertools.pairwise(times)]


def _instant(micros: int) -> str:
    """A microsecond instant as a SQL TIMESTAMPTZ literal."""
    return f"'{pd.Timestamp(micros, unit='us', tz='UTC').isoformat()}'::TIMESTAMPTZ"


def _empty() -> pa.Table:
    """A part without calls."""
    return pa.table({name: pa.array([], pa.string()) for name in COLUMNS})


def _frame(table: pa.Table) -> pd.DataFrame:
    """One part's rows as the frame :func:`to_chrome_trace` takes (UTC microsecond times)."""
    frame = table.to_pandas()
    for name in ("start_time", "end_time"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    return frame

"""Read an mpmon log directory into one typed DataFrame of calls, and pick one run from it.

The results tables (:mod:`.readers`: ``timing_results.csv`` and the ``timing_results.parquet/``
dataset) are the source of truth for call rows; ``timing.log`` (oldest backup first) and the spill files
(:mod:`.jsonlines`) add the calls the tables lack and carry each run's events; ``error.log`` adds errors.
A directory holding ``host=<name>/`` partitions (:mod:`.hosts`) is read as one dataset. Run selection
lives in :mod:`.selection`. Every name and type comes from :mod:`mpmon.schema`, the only part of mpmon
this package imports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa

from mpmon import schema
from mpmon.analysis import _legacy, hosts, readers
from mpmon.analysis._convert import to_micros, typed_arrow
from mpmon.analysis.jsonlines import LineCalls, LineLog, errors_frame, read_line_family, unknown
from mpmon.analysis.readers import ANALYSIS_COLUMNS, CATEGORY_COLUMNS
from mpmon.analysis.safe_files import skip
from mpmon.analysis.selection import (
    CLUSTER_GAP_S,
    RUN_EVENTS,
    AnalysisError,
    LogDir,
    Run,
    error_events,
    parse_time,
    run_keys,
    select_run,
    tag_of,
)

__all__ = [
    "ANALYSIS_COLUMNS",
    "CATEGORY_COLUMNS",
    "CLUSTER_GAP_S",
    "AnalysisError",
    "LogDir",
    "Run",
    "list_runs",
    "load_run",
    "parse_time",
    "read_log_dir",
    "run_keys",
    "select_run",
    "to_micros",
]


def load_run(
    log_dir: str | Path,
    run_id: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The call rows of one run (the most recent by default), typed from the schema module.

    ``columns`` limits the schema columns read (the keys run selection needs are always read); the
    text columns of :data:`CATEGORY_COLUMNS` are categoricals, and a ``lane`` column keys processes.
    """
    run = select_run(read_log_dir(log_dir, columns), run_id, start, end)
    meta = run.calls.attrs.setdefault("mpmon", {})
    meta.update(run_ids=list(run.run_ids), tag=run.tag, skipped=dict(run.skipped))
    return run.calls


def list_runs(log_dir: str | Path | LogDir) -> pd.DataFrame:
    """One row per run, oldest first: run_id, tag, start, end, duration_s, calls, processes, errors."""
    data = log_dir if isinstance(log_dir, LogDir) else read_log_dir(log_dir, ())
    calls = data.calls
    keys = run_keys(calls)
    groups = calls.groupby(keys, sort=False, observed=True)
    per_process = calls.groupby([keys, calls["host"], calls["pid"]], observed=True).size()
    runs = pd.DataFrame(
        {
            "start": groups["start_time"].min(),
            "end": groups["end_time"].max(),
            "calls": groups.size(),
            "processes": per_process.groupby(level=0, observed=True).size(),
            "errors": _error_counts(calls, data.errors),
        }
    )
    runs.index = runs.index.astype(str)
    runs = _merge_events(runs, data.events)
    for name in ("errors", "calls", "processes"):
        runs[name] = runs[name].fillna(0).astype("int64")
    runs["duration_s"] = (runs["end"] - runs["start"]).dt.total_seconds()
    runs["tag"] = [tag_of(data.events, (key,)) for key in runs.index]
    runs = runs.rename_axis("run_id").reset_index().sort_values("start", kind="stable", ignore_index=True)
    return runs[["run_id", "tag", "start", "end", "duration_s", "calls", "processes", "errors"]]


def _error_counts(calls: pd.DataFrame, entries: pd.DataFrame) -> pd.Series:
    """Errors per run key (error.log entries without a run id are counted only through their rows)."""
    counts = error_events(calls, entries).groupby("run_key").size()
    return counts[counts.index != ""]


# --- reading the directory -----------------------------------------------------------------------------


def read_log_dir(log_dir: str | Path, columns: Sequence[str] | None = None) -> LogDir:
    """Read every results table and JSON-lines log of a directory into one :class:`LogDir`.

    A directory with ``host=<name>/`` partitions is read partition by partition as one dataset (a row
    without a host gets its partition's name). ``columns`` limits the results columns read (see
    :func:`load_run`); None reads them all.
    """
    with _returning_memory():
        return _unique_calls(_read_log_dir(Path(log_dir), readers.columns_for(columns)))


def _unique_calls(data: LogDir) -> LogDir:
    """The rows with a call id seen before (a row written twice, or a hand-made file) left out and
    counted: every later step keys calls by their id."""
    ids = data.calls["call_id"]
    repeated = ids.duplicated(keep="first").to_numpy() & (ids != "").to_numpy()
    if not repeated.any():
        return data
    skip(data.path, f"{int(repeated.sum())} row(s) whose call id was already read")
    return dataclasses.replace(data, calls=data.calls[~repeated].reset_index(drop=True))


@contextlib.contextmanager
def _returning_memory() -> Iterator[None]:
    """Arrow allocates from jemalloc told to give freed pages back at once, while the logs are read.

    Reading frees as much as it keeps (text parsed, then encoded; batches decoded, then shaped); the
    default allocators keep those pages, which at ten million rows doubled the reader's peak RSS.
    Buffers made meanwhile stay valid after the previous default pool is restored.
    """
    previous = pa.default_memory_pool()
    try:
        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(0)
    except (NotImplementedError, pa.ArrowException):  # a pyarrow built without jemalloc
        yield
        return
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _read_log_dir(path: Path, wanted: Sequence[str]) -> LogDir:
    """:func:`read_log_dir` once the columns are known."""
    parts = hosts.partitions(path)
    if not parts:
        _check_dir(path)
        return _read_one(path, wanted, "")
    read = [_read_one(part, wanted, host) for host, part in parts.items()]
    if _files_found(path) != "nothing":
        read.insert(0, _read_one(path, wanted, ""))
    calls = pd.concat([r.calls for r in read], ignore_index=True)
    for name in CATEGORY_COLUMNS:  # concat of differing categoricals gives text: encode again
        if name in calls.columns and not isinstance(calls[name].dtype, pd.CategoricalDtype):
            calls[name] = calls[name].astype("category")
    return LogDir(
        path,
        calls,
        pd.concat([r.errors for r in read], ignore_index=True),
        [e for r in read for e in r.events],
        LineLog.join([r.timing_log for r in read]),
        LineLog.join([r.error_log for r in read]),
        {k: v for r in read for k, v in r.skipped.items()},
        tuple(parts),
    )


def _read_one(path: Path, columns: Sequence[str], host: str) -> LogDir:
    """One ordinary log directory; ``host`` (a partition's name) fills empty hosts and prefixes names."""
    skipped: dict[str, int] = {}
    timing_objs, timing_log = read_line_family(_rotated(path, schema.TIMING_LOG), skipped)
    spill_objs, _ = read_line_family(sorted(path.glob(schema.SPILL_GLOB)), skipped)
    events = [obj for obj in timing_objs if obj.get("event") in RUN_EVENTS]
    lines = LineCalls.of([*timing_objs, *spill_objs], skipped)
    del timing_objs, spill_objs  # the parsed lines weigh more than their calls: gone before the table
    error_objs, error_log = read_line_family(_rotated(path, schema.ERROR_LOG), skipped)
    errors = errors_frame(error_objs)
    del error_objs
    table = _read_tables(path, columns, skipped)
    extra = lines.missing_from(table)
    pieces = [t for t in (table, None if extra is None else readers.shape(extra, columns)) if t is not None]
    del table, extra, lines  # the pieces alone hold the rows, so the conversion frees each column
    calls = _to_pandas(pieces or [readers.shape(_EMPTY, columns)])
    if host:
        calls = _fill_host(calls, host)
        errors.loc[errors["host"] == "", "host"] = host
        for event in events:
            event.setdefault("host", host)
        skipped = {f"host={host}/{name}": n for name, n in skipped.items()}
    elif calls.empty and not events and errors.empty:
        raise AnalysisError(f"no mpmon calls found in {path} (read {_files_found(path)})")
    return LogDir(path, calls, errors, events, timing_log, error_log, {k: v for k, v in skipped.items() if v})


_EMPTY = schema.arrow_schema().empty_table()
_typed_arrow = typed_arrow  # the name tests/analysis/test_stats.py imports


def _fill_host(calls: pd.DataFrame, host: str) -> pd.DataFrame:
    """Rows of a host partition without a host name get the partition's."""
    if (calls["host"] == "").to_numpy().any():
        calls["host"] = calls["host"].astype("string").where(calls["host"] != "", host).astype("category")
    return calls


def _check_dir(path: Path) -> None:
    """Raise :class:`AnalysisError` unless ``path`` is a directory holding at least one mpmon log file."""
    if not path.is_dir():
        raise AnalysisError(f"log directory {path} does not exist")
    if _files_found(path) == "nothing":
        raise AnalysisError(
            f"log directory {path} holds no mpmon logs "
            f"(looked for {schema.RESULTS_CSV}, {schema.RESULTS_PARQUET}, "
            f"{schema.TIMING_LOG}*, {schema.SPILL_GLOB}, or host=<name>/ directories holding them)"
        )


def _files_found(path: Path) -> str:
    """The mpmon log files present in ``path``, as a short phrase."""
    names = [schema.RESULTS_CSV, schema.RESULTS_PARQUET, schema.TIMING_LOG, schema.ERROR_LOG]
    found = [n for n in names if (path / n).exists()] + [p.name for p in path.glob(schema.SPILL_GLOB)]
    found += [p.name for p in _rotated(path, schema.TIMING_LOG) if p.name != schema.TIMING_LOG]
    return ", ".join(found) or "nothing"


def _rotated(path: Path, base: str) -> list[Path]:
    """``base`` and its RotatingFileHandler backups, oldest first (``.N`` ... ``.1``, then ``base``)."""
    pattern = re.compile(re.escape(base) + r"(?:\.(\d+))?")
    found = [(m, p) for p in path.iterdir() if (m := pattern.fullmatch(p.name)) and p.is_file()]
    return [p for m, p in sorted(found, key=lambda mp: -int(mp[0][1] or 0))]


def _read_tables(path: Path, columns: Sequence[str], skipped: dict[str, int]) -> pa.Table | None:
    """The CSV and Parquet results tables combined (a call in both kept once), or None if there are none."""
    csv_path, parquet = path / schema.RESULTS_CSV, path / schema.RESULTS_PARQUET
    csv_rows = parquet_rows = None
    if csv_path.is_file() or csv_path.is_symlink():
        csv_rows = _unless_bad(csv_path, readers.read_csv_table, columns, skipped)
    if parquet.exists() or parquet.is_symlink():
        parquet_rows = _unless_bad(parquet, readers.read_parquet_table, columns, skipped)
    if csv_rows is not None and parquet_rows is not None:
        parquet_rows = parquet_rows.filter(unknown(parquet_rows["call_id"], csv_rows["call_id"]))
    tables = [t for t in (csv_rows, parquet_rows) if t is not None]
    return pa.concat_tables(tables) if tables else None


def _unless_bad(
    path: Path,
    read: Callable[[Path, Sequence[str], dict[str, int]], pa.Table | None],
    columns: Sequence[str],
    skipped: dict[str, int],
) -> pa.Table | None:
    """``read(path, ...)``, or None, with one line saying why, when the file cannot be read at all (a field
    larger than a parser block, values that convert to nothing, junk): the other files are still read."""
    try:
        return read(path, columns, skipped)
    except MemoryError:
        raise
    except Exception as exc:  # whatever a bad file makes a parser raise: never a traceback
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        skip(path, f"cannot read it ({type(exc).__name__}{': ' + reason if reason else ''})")
        return None


def _to_pandas(pieces: list[pa.Table] | pa.Table) -> pd.DataFrame:
    """Arrow tables, emptied, as one pandas frame: text Arrow-backed, dictionary text as categoricals.

    Each column is made one contiguous chunk first (freeing its chunks at once), so that numbers and
    large strings become pandas columns with as little copying as pandas allows. The list is
    emptied so that nothing else holds the tables.
    """
    if isinstance(pieces, pa.Table):
        pieces = [pieces]
    table = pa.concat_tables(pieces) if len(pieces) != 1 else pieces[0]
    pieces.clear()
    names, columns = table.column_names, table.columns
    del table
    for i, column in enumerate(columns):  # one contiguous chunk each, freeing the chunks column by column
        if not pa.types.is_dictionary(column.type):
            columns[i] = pa.chunked_array([column.combine_chunks()], column.type)
    strings = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
    whole = pa.table(columns, names=names)
    columns.clear()
    return whole.to_pandas(types_mapper=strings.get, self_destruct=True, split_blocks=True)


def _merge_events(runs: pd.DataFrame, events: list[dict[str, Any]]) -> pd.DataFrame:
    """Widen each run to its run_start / run_summary times, and add runs known only from those lines."""
    stamps: dict[str, list[pd.Timestamp]] = {}
    for event in events:
        if event.get("event") not in (schema.RUN_START_EVENT, schema.RUN_SUMMARY_EVENT):
            continue
        run_id = str(event.get("run_id") or "")
        stamp = pd.to_datetime(_legacy.normalize_timestamp(event.get("timestamp")), utc=True, errors="coerce")
        if run_id and stamp is not pd.NaT:
            stamps.setdefault(run_id, []).append(stamp)
    if not stamps:
        return runs
    ids = list(stamps)
    runs = runs.reindex(runs.index.union(pd.Index(ids, dtype=runs.index.dtype)))
    first = pd.Series([min(v) for v in stamps.values()], index=ids, dtype="datetime64[us, UTC]")
    last = pd.Series([max(v) for v in stamps.values()], index=ids, dtype="datetime64[us, UTC]")
    runs["start"] = pd.concat([runs["start"], first], axis=1).min(axis=1)
    runs["end"] = pd.concat([runs["end"], last], axis=1).max(axis=1)
    return runs

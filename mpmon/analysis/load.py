"""Read an mpmon log directory into one typed DataFrame of calls, and pick one run from it.

The results tables (``timing_results.csv`` and the ``timing_results.parquet/`` dataset) are the source of
truth for call rows; ``timing.log`` (oldest backup first) and the spill files add the calls the tables lack
and carry each run's ``run_start`` / ``run_summary`` events; ``error.log`` adds errors. A line that does not
parse is skipped and counted, never fatal. Every name and type comes from :mod:`mpmon.schema`, the only
part of mpmon this package imports.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq

from mpmon import schema
from mpmon.analysis import _legacy

__all__ = [
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

CLUSTER_GAP_S = 60.0
"""Calls without a run id belong to one run while no gap between them is longer than this (seconds)."""

_STRING_COLUMNS = tuple(c.name for c in schema.COLUMNS if c.kind == "string")
_FLOAT_COLUMNS = tuple(c.name for c in schema.COLUMNS if c.kind == "float")
_ERROR_COLUMNS = ("timestamp", "function", "error_type", "error_message", "uuid", "run_id", "pid", "host")
_LINE_COLUMNS = ("run_id", "uuid", "event", "timestamp")
_RUN_EVENTS = (schema.RUN_START_EVENT, schema.RUN_SUMMARY_EVENT)
_EMPTY = schema.arrow_schema().empty_table()


class AnalysisError(Exception):
    """A problem with what the user asked for (no logs, unknown run, empty window): exit 2, no traceback."""


@dataclass(frozen=True)
class LineLog:
    """The JSON lines of one family of log files, oldest first: raw bytes and the keys that select them."""

    lines: list[bytes]
    index: pd.DataFrame  # one row per line: run_id, uuid, event, timestamp

    def select(self, mask: Any) -> list[bytes]:
        """The raw lines where ``mask`` (aligned with ``index``) is true."""
        return [line for line, keep in zip(self.lines, np.asarray(mask, dtype=bool), strict=True) if keep]


@dataclass(frozen=True)
class LogDir:
    """Everything read from one log directory, before a run is picked."""

    path: Path
    calls: pd.DataFrame  # every call row, columns and types of mpmon.schema, call_id unique
    errors: pd.DataFrame  # every error.log entry: _ERROR_COLUMNS
    events: list[dict[str, Any]]  # run_start and run_summary objects from timing.log
    timing_log: LineLog
    error_log: LineLog
    skipped: dict[str, int] = field(default_factory=dict)  # file name -> lines that did not parse


@dataclass(frozen=True)
class Run:
    """One selected run: its call rows and error events, its collector events and its raw log lines."""

    log_dir: Path
    calls: pd.DataFrame
    errors: pd.DataFrame  # error events: time, function, error_type, run_id, call_id, origin
    run_ids: tuple[str, ...]
    tag: str
    selection: str  # how the rows were picked, in words ("the most recent run", ...)
    events: list[dict[str, Any]]
    timing_lines: list[bytes]
    error_lines: list[bytes]
    skipped: dict[str, int]


# --- public API ----------------------------------------------------------------------------------------


def load_run(
    log_dir: str | Path,
    run_id: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The call rows of one run (the most recent by default), typed from the schema module."""
    run = select_run(read_log_dir(log_dir), run_id, start, end)
    run.calls.attrs["mpmon"] = {"run_ids": list(run.run_ids), "tag": run.tag, "skipped": dict(run.skipped)}
    return run.calls


def list_runs(log_dir: str | Path | LogDir) -> pd.DataFrame:
    """One row per run, oldest first: run_id, tag, start, end, duration_s, calls, processes, errors."""
    data = log_dir if isinstance(log_dir, LogDir) else read_log_dir(log_dir)
    calls = data.calls
    keys = run_keys(calls)
    groups = calls.groupby(keys, sort=False)
    runs = pd.DataFrame(
        {
            "start": groups["start_time"].min(),
            "end": groups["end_time"].max(),
            "calls": groups.size(),
            "processes": calls.groupby([keys, calls["host"], calls["pid"]]).size().groupby(level=0).size(),
            "errors": _error_counts(calls, data.errors),
        }
    )
    runs = _merge_events(runs, data.events)
    runs["errors"] = runs["errors"].fillna(0).astype("int64")
    runs["calls"] = runs["calls"].fillna(0).astype("int64")
    runs["processes"] = runs["processes"].fillna(0).astype("int64")
    runs["duration_s"] = (runs["end"] - runs["start"]).dt.total_seconds()
    runs["tag"] = [_tag(data.events, (key,)) for key in runs.index]
    runs = runs.rename_axis("run_id").reset_index().sort_values("start", kind="stable", ignore_index=True)
    return runs[["run_id", "tag", "start", "end", "duration_s", "calls", "processes", "errors"]]


def _error_counts(calls: pd.DataFrame, entries: pd.DataFrame) -> pd.Series:
    """Errors per run key (error.log entries without a run id are counted only through their rows)."""
    counts = _error_events(calls, entries).groupby("run_key").size()
    return counts[counts.index != ""]


def parse_time(text: str | pd.Timestamp) -> pd.Timestamp:
    """A UTC timestamp from ``"2025-01-01 12:00:00"`` (naive means UTC) or ISO 8601 with an offset."""
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise AnalysisError(
            f"cannot read the time {text!r}: use 'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601"
        ) from exc
    if stamp is pd.NaT:
        raise AnalysisError(f"cannot read the time {text!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def to_micros(times: pd.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Microseconds since the epoch of a UTC timestamp column, as int64."""
    return np.asarray(times.array.as_unit("us").asi8, dtype=np.int64)


def run_keys(calls: pd.DataFrame, gap_s: float = CLUSTER_GAP_S) -> pd.Series:
    """Each row's run: its run_id, or for rows without one a ``cluster-<start>`` name from time gaps."""
    keys = calls["run_id"]
    legacy = (keys == "").to_numpy()
    if not legacy.any():
        return keys
    labels = _cluster_labels(calls.loc[legacy, "start_time"], calls.loc[legacy, "end_time"], gap_s)
    keys = keys.copy()
    keys[legacy] = labels
    return keys


# --- reading the directory -----------------------------------------------------------------------------


def read_log_dir(log_dir: str | Path) -> LogDir:
    """Read every results table and JSON-lines log of a directory into one :class:`LogDir`."""
    path = Path(log_dir)
    _check_dir(path)
    skipped: dict[str, int] = {}
    table = _read_tables(path, skipped)
    timing_objs, timing_log = _read_line_family(_rotated(path, schema.TIMING_LOG), skipped)
    spill_objs, _ = _read_line_family(sorted(path.glob(schema.SPILL_GLOB)), skipped)
    error_objs, error_log = _read_line_family(_rotated(path, schema.ERROR_LOG), skipped)
    extra = _calls_from_lines([*timing_objs, *spill_objs], table, skipped)
    calls = _to_pandas(pa.concat_tables([t for t in (table, extra) if t is not None] or [_EMPTY]))
    events = [obj for obj in timing_objs if obj.get("event") in _RUN_EVENTS]
    errors = _errors_frame(error_objs)
    if calls.empty and not events and errors.empty:
        raise AnalysisError(f"no mpmon calls found in {path} (read {_files_found(path)})")
    return LogDir(path, calls, errors, events, timing_log, error_log, {k: v for k, v in skipped.items() if v})


def _check_dir(path: Path) -> None:
    """Raise :class:`AnalysisError` unless ``path`` is a directory holding at least one mpmon log file."""
    if not path.is_dir():
        raise AnalysisError(f"log directory {path} does not exist")
    if _files_found(path) == "nothing":
        raise AnalysisError(
            f"log directory {path} holds no mpmon logs "
            f"(looked for {schema.RESULTS_CSV}, {schema.RESULTS_PARQUET}, "
            f"{schema.TIMING_LOG}*, {schema.SPILL_GLOB})"
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


# --- results tables ------------------------------------------------------------------------------------


def _read_tables(path: Path, skipped: dict[str, int]) -> pa.Table | None:
    """The CSV and Parquet results tables combined (a call in both kept once), or None if there are none."""
    csv_rows = (
        _read_csv(path / schema.RESULTS_CSV, skipped) if (path / schema.RESULTS_CSV).is_file() else None
    )
    parquet = path / schema.RESULTS_PARQUET
    parquet_rows = _read_parquet(parquet, skipped) if parquet.exists() else None
    if csv_rows is not None and parquet_rows is not None:
        parquet_rows = parquet_rows.filter(_unknown(parquet_rows["call_id"], csv_rows["call_id"]))
    tables = [t for t in (csv_rows, parquet_rows) if t is not None]
    return pa.concat_tables(tables) if tables else None


def _unknown(ids: Any, known: Any) -> Any:
    """A mask of the ``ids`` that are not among the ``known`` ones."""
    return pc.invert(pc.is_in(ids, value_set=pa.chunked_array(known).combine_chunks()))


def _read_csv(path: Path, skipped: dict[str, int]) -> pa.Table | None:
    """The CSV results table as Arrow, typed; a truncated last line and malformed rows are skipped."""
    with path.open("rb") as fh:
        header = next(csv.reader([fh.readline().decode("utf-8", "replace")]), [])
    if not header:
        return None
    if not set(schema.COLUMN_NAMES) <= set(header):
        return _read_legacy_csv(path, skipped)
    data, partial = _complete_lines(path)
    skipped[path.name] = skipped.get(path.name, 0) + partial
    if data.size == 0:
        return None
    try:
        table, bad = _parse_csv(data, schema.arrow_schema())
    except pa.ArrowInvalid:  # a value that does not convert (a repeated header, a torn row): row by row
        loose, bad = _parse_csv(data, pa.schema([(n, pa.string()) for n in schema.COLUMN_NAMES]))
        table = _typed_arrow(loose.to_pandas(), path.name, skipped)
    skipped[path.name] += bad
    return table


def _complete_lines(path: Path) -> tuple[pa.Buffer, int]:
    """The file's bytes up to its last newline (memory-mapped) and 1 if a partial last line was cut off."""
    data = pa.memory_map(str(path)).read_buffer()
    end = data.size
    if end == 0 or data.slice(end - 1).to_pybytes() == b"\n":
        return data, 0
    while end > 0:
        begin = max(0, end - (1 << 16))
        found = data.slice(begin, end - begin).to_pybytes().rfind(b"\n")
        if found >= 0:
            return data.slice(0, begin + found + 1), 1
        end = begin
    return data.slice(0, 0), 1


def _parse_csv(data: pa.Buffer, types: pa.Schema) -> tuple[pa.Table, int]:
    """Parse CSV bytes with pyarrow (empty strings stay strings), and count the rows of the wrong width."""
    bad = 0

    def skip_row(_row: object) -> str:
        nonlocal bad
        bad += 1
        return "skip"

    table = pa_csv.read_csv(
        pa.BufferReader(data),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=skip_row, newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=types,
            include_columns=list(schema.COLUMN_NAMES),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, bad


def _read_legacy_csv(path: Path, skipped: dict[str, int]) -> pa.Table | None:
    """The original module's results CSV, mapped to schema columns; None (all lines skipped) if unknown."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="skip", engine="python")
    rows = _legacy.legacy_frame(frame)
    if rows is None:
        skipped[path.name] = skipped.get(path.name, 0) + len(frame)
        return None
    return _typed_arrow(rows, path.name, skipped)


def _read_parquet(path: Path, skipped: dict[str, int]) -> pa.Table | None:
    """The Parquet dataset (in-progress ``_``/``.`` files ignored), or a single legacy Parquet file."""
    if path.is_file():
        frame = pq.read_table(path).to_pandas()
        rows = frame if set(schema.COLUMN_NAMES) <= set(frame.columns) else _legacy.legacy_frame(frame)
        return None if rows is None else _typed_arrow(rows, path.name, skipped)
    try:
        return _normalize(pa_ds.dataset(path, format="parquet", schema=schema.arrow_schema()).to_table())
    except (pa.ArrowException, OSError):  # one unreadable part: read the parts one by one
        return _read_parts(path, skipped)


def _read_parts(path: Path, skipped: dict[str, int]) -> pa.Table | None:
    """Each readable part file of a Parquet dataset; an unreadable part is counted in ``skipped``."""
    tables = []
    for part in sorted(p for p in path.rglob("*.parquet") if not p.name.startswith(("_", "."))):
        try:
            tables.append(_normalize(pq.read_table(part).select(list(schema.COLUMN_NAMES))))
        except (pa.ArrowException, OSError, KeyError):
            skipped[f"{path.name}/{part.name}"] = 1
    return pa.concat_tables(tables) if tables else None


def _normalize(table: pa.Table) -> pa.Table:
    """A table in schema order and types, with null strings as empty strings and a null pid as -1."""
    target = schema.arrow_schema()
    columns = []
    for fld in target:
        column = table.column(fld.name).cast(fld.type) if fld.name in table.column_names else None
        if column is None:
            column = pa.nulls(table.num_rows, fld.type)
        if fld.name in _STRING_COLUMNS or fld.name == "pid":
            column = pc.fill_null(column, "" if fld.name != "pid" else -1)
        columns.append(column)
    return pa.table(columns, schema=target)


def _typed_arrow(frame: pd.DataFrame, name: str, skipped: dict[str, int]) -> pa.Table:
    """Loosely typed rows (text, numbers, None) as a schema table; rows without usable times are skipped."""
    typed = pd.DataFrame(index=frame.index)
    for column in schema.COLUMNS:
        values = frame[column.name] if column.name in frame.columns else pd.Series(None, index=frame.index)
        typed[column.name] = _convert(values, column.kind)
    typed = _repair_times(typed)
    usable = typed["start_time"].notna() & typed["end_time"].notna() & typed["duration_s"].notna()
    skipped[name] = skipped.get(name, 0) + int((~usable).sum())
    return pa.Table.from_pandas(typed[usable], schema=schema.arrow_schema(), preserve_index=False)


def _convert(values: pd.Series, kind: str) -> pd.Series:
    """One loosely typed column converted to its schema kind; what does not convert becomes missing."""
    if kind == "timestamp":
        text = values.astype("string").str.replace(",", ".", n=1, regex=False)
        return pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce").astype("datetime64[us, UTC]")
    if kind == "float":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if kind == "int":
        return pd.to_numeric(values, errors="coerce").fillna(-1).astype("int64")
    return values.where(values.notna(), "").astype(str).astype("string")


def _repair_times(rows: pd.DataFrame) -> pd.DataFrame:
    """Fill a missing start, end or duration from the other two (old logs give only end and duration)."""
    duration = pd.to_timedelta(rows["duration_s"], unit="s")
    rows["start_time"] = rows["start_time"].fillna(rows["end_time"] - duration)
    rows["end_time"] = rows["end_time"].fillna(rows["start_time"] + duration)
    spent = (rows["end_time"] - rows["start_time"]).dt.total_seconds()
    rows["duration_s"] = rows["duration_s"].fillna(spent)
    return rows


# --- JSON lines ----------------------------------------------------------------------------------------


def _read_line_family(paths: Iterable[Path], skipped: dict[str, int]) -> tuple[list[dict[str, Any]], LineLog]:
    """Every JSON object of the files, in order, and the raw lines with their selection keys."""
    objs: list[dict[str, Any]] = []
    lines: list[bytes] = []
    for path in paths:
        bad = 0
        with path.open("rb") as fh:
            for raw in fh:
                obj = _parse_line(raw)
                if obj is None:
                    bad += raw.strip() != b""
                    continue
                objs.append(obj)
                lines.append(raw if raw.endswith(b"\n") else raw + b"\n")
        skipped[path.name] = skipped.get(path.name, 0) + bad
    return objs, LineLog(lines, _line_index(objs))


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """One JSON object, or None for a line that is blank, torn or not an object."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _line_index(objs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The keys that select lines for a run: run_id, uuid, event and timestamp (UTC) of each object."""
    index = pd.DataFrame(
        {
            "run_id": [str(o.get("run_id") or "") for o in objs],
            "uuid": [str(o.get("uuid") or o.get("call_id") or "") for o in objs],
            "event": [str(o.get("event") or "") for o in objs],
            "timestamp": [_legacy.normalize_timestamp(o.get("timestamp")) for o in objs],
        },
        columns=list(_LINE_COLUMNS),
    )
    index["timestamp"] = _convert(index["timestamp"], "timestamp")
    return index


def _calls_from_lines(
    objs: Sequence[dict[str, Any]], table: pa.Table | None, skipped: dict[str, int]
) -> pa.Table | None:
    """Call rows the results table lacks: from ``call`` lines, and from old lines that describe a call."""
    rows: list[dict[str, Any]] = []
    for obj in objs:
        event = obj.get("event")
        if event == schema.EVENT_CALL:
            rows.append(obj)
        elif event is None and "run_id" not in obj and (row := _legacy.legacy_call(obj)) is not None:
            rows.append(row)
    ids = pa.array([str(r.get("call_id") or r.get("uuid") or "") for r in rows], pa.string())
    if table is not None and rows:
        missing = _unknown(ids, _ids_near(table, rows)).to_numpy(zero_copy_only=False)
        rows, ids = [r for r, keep in zip(rows, missing, strict=True) if keep], ids.filter(missing)
    if not rows:
        return None
    frame = pd.DataFrame.from_records(rows, columns=list(schema.COLUMN_NAMES))
    frame["call_id"] = ids.to_pylist()
    return _typed_arrow(frame, schema.TIMING_LOG, skipped)


def _ids_near(table: pa.Table, rows: Sequence[dict[str, Any]]) -> pa.ChunkedArray:
    """The table's call ids that could match the line rows: those ending at one of the rows' end times.

    Hashing a million end times (integers) is much cheaper than hashing a million call ids; old lines
    (without an event) carry coarser times, so for them every id is returned.
    """
    if any(r.get("event") != schema.EVENT_CALL for r in rows):
        return table["call_id"]
    ends = _convert(pd.Series([r.get("end_time") for r in rows], dtype=object), "timestamp")
    if ends.isna().any():
        return table["call_id"]
    values = pa.array(to_micros(ends)).cast(table["end_time"].type)
    return table["call_id"].filter(pc.is_in(table["end_time"], value_set=values))


def _errors_frame(objs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """error.log entries: timestamp (UTC), function, error_type, error_message, uuid, run_id, pid, host."""
    frame = pd.DataFrame.from_records(objs, columns=list(_ERROR_COLUMNS))
    frame["timestamp"] = _convert(frame["timestamp"].map(_legacy.normalize_timestamp), "timestamp")
    for name in ("function", "error_type", "error_message", "uuid", "run_id", "host"):
        frame[name] = _convert(frame[name], "string")
    frame["pid"] = _convert(frame["pid"], "int")
    return frame[frame["timestamp"].notna()].reset_index(drop=True)


# --- combining -----------------------------------------------------------------------------------------


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas with the schema's dtypes (strings stay Arrow-backed: no copy)."""
    strings = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
    return table.to_pandas(types_mapper=strings.get, self_destruct=True)


# --- run selection -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Selection:
    """What was picked: the run ids, the time window asked for, and the rows' own time span."""

    run_ids: tuple[str, ...]
    window: tuple[pd.Timestamp | None, pd.Timestamp | None]
    span: tuple[pd.Timestamp, pd.Timestamp]
    legacy_ids: pd.Series  # call_ids of selected rows that have no run id

    def lines(self, ts: pd.Series, run_id: pd.Series, uuid: pd.Series, event: pd.Series | None) -> pd.Series:
        """Which log lines belong: the runs' lines in the window (and their run events), id-less lines
        of the selected calls or within their time span."""
        of_run = run_id.isin(self.run_ids)
        keep = of_run & _between(ts, *self.window)
        if event is not None:
            keep |= of_run & event.isin(_RUN_EVENTS)
        if not self.legacy_ids.empty:
            keep |= (run_id == "") & (uuid.isin(self.legacy_ids) | _between(ts, *self.span))
        return keep


def select_run(
    data: LogDir,
    run_id: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> Run:
    """Pick rows: ``run_id`` (or a unique prefix), else the window, else the most recent run."""
    lo = parse_time(start) if start is not None else None
    hi = parse_time(end) if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise AnalysisError(f"--start-time {lo} is after --end-time {hi}")
    keys = run_keys(data.calls)
    if run_id is not None:
        chosen = _resolve_run_id(run_id, keys, data.events)
        mask, how = (keys == chosen).to_numpy(), "chosen by id"
    elif lo is not None or hi is not None:
        mask, how = np.ones(len(keys), dtype=bool), "calls in a time window"
    else:
        chosen = _most_recent(data.calls, keys, data.path)
        mask, how = (keys == chosen).to_numpy(), "the most recent run"
    mask &= _in_window(data.calls, lo, hi)
    if not mask.any():
        raise AnalysisError(_empty_message(run_id, lo, hi, data.path))
    if lo is not None or hi is not None:
        how += f", active from {lo or 'the start'} to {hi or 'the end'}"
    return _make_run(data, mask, keys, how, (lo, hi))


def _resolve_run_id(run_id: str, keys: pd.Series, events: list[dict[str, Any]]) -> str:
    """The run key ``run_id`` names exactly or as a unique prefix; :class:`AnalysisError` otherwise."""
    known = sorted(set(keys.unique()) | {str(e.get("run_id")) for e in events if e.get("run_id")})
    if run_id in known:
        return run_id
    matches = [k for k in known if k.startswith(run_id)] if run_id else []
    if len(matches) == 1:
        return matches[0]
    shown = ", ".join(known[-5:]) or "none"
    what = "is ambiguous" if matches else "is unknown"
    raise AnalysisError(f"run id {run_id!r} {what} (runs: {shown}; see --list-runs)")


def _most_recent(calls: pd.DataFrame, keys: pd.Series, path: Path) -> str:
    """The key of the run whose first call started last."""
    if calls.empty:
        raise AnalysisError(f"no calls recorded in {path}")
    return str(calls["start_time"].groupby(keys, sort=False).min().idxmax())


def _in_window(calls: pd.DataFrame, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> Any:
    """Rows active during [lo, hi]: ending at or after ``lo`` and starting at or before ``hi``."""
    mask = np.ones(len(calls), dtype=bool)
    if lo is not None:
        mask &= (calls["end_time"] >= lo).to_numpy()
    if hi is not None:
        mask &= (calls["start_time"] <= hi).to_numpy()
    return mask


def _between(ts: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.Series:
    """Which timestamps lie in [lo, hi] (an open end is unbounded; a missing time is outside)."""
    inside = ts.notna()
    if lo is not None:
        inside &= ts >= lo
    if hi is not None:
        inside &= ts <= hi
    return inside


def _empty_message(run_id: str | None, lo: pd.Timestamp | None, hi: pd.Timestamp | None, path: Path) -> str:
    """Why a selection came out empty, in one line."""
    if lo is None and hi is None:
        return f"run {run_id} has no calls in {path}"
    what = f"run {run_id}" if run_id else str(path)
    return f"no calls in {what} between {lo or 'the start'} and {hi or 'the end'}"


def _make_run(data: LogDir, mask: Any, keys: pd.Series, how: str, window: tuple[Any, Any]) -> Run:
    """The :class:`Run` of the selected rows, with its errors, events and raw lines."""
    calls = data.calls if mask.all() else data.calls[mask].reset_index(drop=True)
    picked = keys[mask].to_numpy()
    by_start = calls["start_time"].groupby(picked).min().sort_values()
    sel = _Selection(
        run_ids=tuple(
            str(k) for k in calls["start_time"].groupby(calls["run_id"]).min().sort_values().index if k
        ),
        window=window,
        span=(calls["start_time"].min(), calls["end_time"].max()),
        legacy_ids=calls.loc[(calls["run_id"] == "").to_numpy(), "call_id"],
    )
    entries = data.errors
    entries = entries[sel.lines(entries["timestamp"], entries["run_id"], entries["uuid"], None).to_numpy()]
    timing, errs = data.timing_log.index, data.error_log.index
    return Run(
        log_dir=data.path,
        calls=calls,
        errors=_error_events(calls, entries).drop(columns="run_key"),
        run_ids=tuple(str(k) for k in by_start.index),
        tag=_tag(data.events, sel.run_ids),
        selection=how,
        events=[e for e in data.events if e.get("run_id") in sel.run_ids],
        timing_lines=data.timing_log.select(
            sel.lines(timing["timestamp"], timing["run_id"], timing["uuid"], timing["event"])
        ),
        error_lines=data.error_log.select(sel.lines(errs["timestamp"], errs["run_id"], errs["uuid"], None)),
        skipped=dict(data.skipped),
    )


def _error_events(calls: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """Errors: rows with status ``error``, plus error.log entries that match no such row (by uuid)."""
    failed_mask = (calls["status"] == "error").to_numpy()
    failed = calls[failed_mask]
    extra = entries[(~entries["uuid"].isin(failed["call_id"]) | (entries["uuid"] == "")).to_numpy()]
    parts = [
        _events_frame(failed["end_time"], failed, failed["call_id"], "results", run_keys(calls)[failed_mask]),
        _events_frame(extra["timestamp"], extra, extra["uuid"], schema.ERROR_LOG, extra["run_id"]),
    ]
    events = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
    return events.sort_values("time", kind="stable", ignore_index=True)


def _events_frame(
    time: pd.Series, rows: pd.DataFrame, call_id: pd.Series, origin: str, run_key: pd.Series
) -> pd.DataFrame:
    """Error events in one shape: time, function, error_type, run_id, call_id, origin, run_key."""
    frame = pd.DataFrame(
        {
            "time": time.to_numpy(),
            "function": rows["function"].to_numpy(),
            "error_type": rows["error_type"].to_numpy(),
            "run_id": rows["run_id"].to_numpy(),
            "call_id": call_id.to_numpy(),
            "origin": origin,
            "run_key": run_key.to_numpy(),
        }
    )
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[us, UTC]")
    for name in ("function", "error_type", "run_id", "call_id", "origin", "run_key"):
        frame[name] = frame[name].astype("string")
    return frame


def _tag(events: list[dict[str, Any]], run_ids: Iterable[str]) -> str:
    """The tag the collector recorded for the runs (``run_start`` or ``run_summary``), or ``""``."""
    wanted = set(run_ids)
    tags = dict.fromkeys(str(e["tag"]) for e in events if e.get("run_id") in wanted and e.get("tag"))
    return ", ".join(tags)


def _merge_events(runs: pd.DataFrame, events: list[dict[str, Any]]) -> pd.DataFrame:
    """Widen each run to its run_start / run_summary times, and add runs known only from those lines."""
    stamps: dict[str, list[pd.Timestamp]] = {}
    for event in events:
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


def _cluster_labels(start: pd.Series, end: pd.Series, gap_s: float) -> np.ndarray[Any, np.dtype[Any]]:
    """Label calls by dense clusters: a new cluster starts after a gap longer than ``gap_s`` seconds."""
    begin, finish = to_micros(start), to_micros(end)
    order = np.argsort(begin, kind="stable")
    reach = np.maximum.accumulate(finish[order])
    first = np.ones(len(order), dtype=bool)
    first[1:] = begin[order][1:] > reach[:-1] + int(gap_s * 1e6)
    starts = begin[order][first]
    names = np.array([f"cluster-{pd.Timestamp(int(us), unit='us'):%Y%m%dT%H%M%S}" for us in starts])
    labels = np.empty(len(order), dtype=object)
    labels[order] = names[np.cumsum(first) - 1]
    return labels

"""Reader of the JSON-lines logs: ``timing.log`` (and its backups), spill files and ``error.log``.

Every line is parsed on its own; a blank, torn or non-object line is skipped and counted, never fatal.
``timing.log`` gives the collector's events (``run_start``, ``run_summary``, ``clock_offset``) and the calls
the results tables lack; ``error.log`` gives error entries. The raw lines are kept with the keys that
select them for a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc

from mpmon import schema
from mpmon.analysis import _legacy
from mpmon.analysis._convert import convert, to_micros, typed_arrow

__all__ = [
    "ERROR_COLUMNS",
    "EVENT_CLOCK_OFFSET",
    "LineLog",
    "calls_from_lines",
    "errors_frame",
    "read_line_family",
    "unknown",
]

EVENT_CLOCK_OFFSET: str = getattr(schema, "EVENT_CLOCK_OFFSET", "clock_offset")
"""A host's offset to the scheduler's clock: scheduler_clock = host_clock + offset_s."""

ERROR_COLUMNS = ("timestamp", "function", "error_type", "error_message", "uuid", "run_id", "pid", "host")
_LINE_COLUMNS = ("run_id", "uuid", "event", "timestamp")


@dataclass(frozen=True)
class LineLog:
    """The JSON lines of one family of log files, oldest first: raw bytes and the keys that select them."""

    lines: list[bytes]
    index: pd.DataFrame  # one row per line: run_id, uuid, event, timestamp

    def select(self, mask: Any) -> list[bytes]:
        """The raw lines where ``mask`` (aligned with ``index``) is true."""
        return [line for line, keep in zip(self.lines, np.asarray(mask, dtype=bool), strict=True) if keep]

    @staticmethod
    def join(logs: Sequence[LineLog]) -> LineLog:
        """Several families' lines, one after the other."""
        if len(logs) == 1:
            return logs[0]
        index = pd.concat([log.index for log in logs], ignore_index=True)
        return LineLog([line for log in logs for line in log.lines], index)


def read_line_family(paths: Iterable[Path], skipped: dict[str, int]) -> tuple[list[dict[str, Any]], LineLog]:
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
    index["timestamp"] = convert(index["timestamp"], "timestamp")
    return index


def unknown(ids: Any, known: Any) -> Any:
    """A mask of the ``ids`` that are not among the ``known`` ones."""
    return pc.invert(pc.is_in(ids, value_set=pa.chunked_array(known).combine_chunks()))


def calls_from_lines(
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
        missing = unknown(ids, _ids_near(table, rows)).to_numpy(zero_copy_only=False)
        rows, ids = [r for r, keep in zip(rows, missing, strict=True) if keep], ids.filter(missing)
    if not rows:
        return None
    frame = pd.DataFrame.from_records(rows, columns=list(schema.COLUMN_NAMES))
    frame["call_id"] = ids.to_pylist()
    return typed_arrow(frame, schema.TIMING_LOG, skipped)


def _ids_near(table: pa.Table, rows: Sequence[dict[str, Any]]) -> pa.ChunkedArray:
    """The table's call ids that could match the line rows: those ending at one of the rows' end times.

    Hashing a million end times (integers) is much cheaper than hashing a million call ids; old lines
    (without an event) carry coarser times, so for them every id is returned.
    """
    if any(r.get("event") != schema.EVENT_CALL for r in rows):
        return table["call_id"]
    ends = convert(pd.Series([r.get("end_time") for r in rows], dtype=object), "timestamp")
    if ends.isna().any():
        return table["call_id"]
    values = pa.array(to_micros(ends)).cast(table["end_time"].type)
    return table["call_id"].filter(pc.is_in(table["end_time"], value_set=values))


def errors_frame(objs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """error.log entries: timestamp (UTC), function, error_type, error_message, uuid, run_id, pid, host."""
    frame = pd.DataFrame.from_records(objs, columns=list(ERROR_COLUMNS))
    frame["timestamp"] = convert(frame["timestamp"].map(_legacy.normalize_timestamp), "timestamp")
    for name in ("function", "error_type", "error_message", "uuid", "run_id", "host"):
        frame[name] = convert(frame[name], "string")
    frame["pid"] = convert(frame["pid"], "int")
    return frame[frame["timestamp"].notna()].reset_index(drop=True)

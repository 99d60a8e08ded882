"""Reader of the JSON-lines logs: ``timing.log`` (and its backups), spill files and ``error.log``.

Every line is parsed on its own; a blank, torn or non-object line is skipped and counted, never fatal.
``timing.log`` gives the collector's events (``run_start``, ``run_summary``, ``clock_offset``) and the calls
the results tables lack; ``error.log`` gives error entries. The raw lines are kept with the keys that
select them for a run.
"""

from __future__ import annotations

import json
import re
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
from mpmon.analysis._convert import convert, typed_arrow
from mpmon.analysis.safe_files import open_vetted, skip

__all__ = [
    "ERROR_COLUMNS",
    "EVENT_CLOCK_OFFSET",
    "LineCalls",
    "LineLog",
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


def read_line_family(
    paths: Iterable[Path], skipped: dict[str, int], aside: tuple[re.Pattern[bytes], list[bytes]] | None = None
) -> tuple[list[dict[str, Any]], LineLog]:
    """Every JSON object of the files, in order, and the raw lines with their selection keys. `aside`:
    lines matching its pattern are appended to its list unparsed instead (parsed later, if ever)."""
    objs: list[dict[str, Any]] = []
    lines: list[bytes] = []
    for path in paths:
        bad = 0
        try:
            opened = open_vetted(path)
        except OSError as exc:  # a link, another user's file, gone: never read
            skip(path, exc.strerror or str(exc))
            continue
        with opened as fh:
            for raw in fh:
                if aside is not None and aside[0].search(raw):
                    aside[1].append(raw)
                    continue
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


@dataclass(frozen=True)
class LineCalls:
    """The call rows that JSON lines describe (``call`` lines, and old lines that describe a call), typed,
    to add those the results tables lack."""

    rows: pa.Table | None
    legacy: bool  # some came from old lines, whose coarse times cannot pre-select the table's ids

    @staticmethod
    def of(objs: Sequence[dict[str, Any]], skipped: dict[str, int]) -> LineCalls:
        """The call rows of ``objs`` (rows without usable times are skipped and counted)."""
        rows: list[dict[str, Any]] = []
        legacy = False
        for obj in objs:
            event = obj.get("event")
            if event == schema.EVENT_CALL:
                rows.append(obj)
            elif event is None and "run_id" not in obj and (row := _legacy.legacy_call(obj)) is not None:
                rows.append(row)
                legacy = True
        if not rows:
            return LineCalls(None, legacy)
        frame = pd.DataFrame.from_records(rows, columns=list(schema.COLUMN_NAMES))
        frame["call_id"] = [str(r.get("call_id") or r.get("uuid") or "") for r in rows]
        return LineCalls(typed_arrow(frame, schema.TIMING_LOG, skipped), legacy)

    def missing_from(self, table: pa.Table | None) -> pa.Table | None:
        """The rows whose call id is not in ``table``."""
        if self.rows is None or table is None or not self.rows.num_rows:
            return self.rows if self.rows is not None and self.rows.num_rows else None
        missing = self.rows.filter(unknown(self.rows["call_id"], self._ids_near(table)))
        return missing if missing.num_rows else None

    def _ids_near(self, table: pa.Table) -> pa.ChunkedArray:
        """The table's call ids that could match: those ending at one of the rows' end times.

        Hashing ten million end times (integers) is much cheaper than hashing ten million call ids; old
        lines carry coarser times, so with them every id is returned.
        """
        if self.legacy or self.rows is None:
            return table["call_id"]
        values = self.rows["end_time"].combine_chunks().cast(table["end_time"].type)
        return table["call_id"].filter(pc.is_in(table["end_time"], value_set=values))


def errors_frame(objs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """error.log entries: timestamp (UTC), function, error_type, error_message, uuid, run_id, pid, host."""
    frame = pd.DataFrame.from_records(objs, columns=list(ERROR_COLUMNS))
    frame["timestamp"] = convert(frame["timestamp"].map(_legacy.normalize_timestamp), "timestamp")
    for name in ("function", "error_type", "error_message", "uuid", "run_id", "host"):
        frame[name] = convert(frame[name], "string")
    frame["pid"] = convert(frame["pid"], "int")
    return frame[frame["timestamp"].notna()].reset_index(drop=True)

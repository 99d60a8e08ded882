"""The JSON lines of a scanned log directory (:mod:`.scan`): run events, error.log entries, and the calls
that only the lines hold.

timing.log keeps the newest call lines of a run (its rotation), most of them also rows of the results
tables; parsing 80,000 lines takes seconds, so the call lines are kept raw and only those whose id the
tables lack (among the table ids ending at the same microsecond) are parsed (:class:`PendingLineCalls`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa

from mpmon import schema
from mpmon.analysis.jsonlines import (
    LineCalls,
    LineLog,
    _parse_line,
    errors_frame,
    read_line_family,
)
from mpmon.analysis.selection import RUN_EVENTS

__all__ = ["PendingLineCalls", "read_lines"]


def read_lines(
    folder: Path, host: str, skipped: dict[str, int]
) -> tuple[list[dict[str, Any]], Any, LineLog, LineLog, PendingLineCalls] | None:
    """The folder's JSON lines: run events, error.log entries, the raw line logs and the calls they hold;
    None for the original module's lines (no run ids)."""
    from mpmon.analysis import load  # the directory rules live there

    own: dict[str, int] = {}
    timing_objs, timing_log, call_lines = _timing_lines(load._rotated(folder, schema.TIMING_LOG), own)
    spill_objs, _ = read_line_family(sorted(folder.glob(schema.SPILL_GLOB)), own)
    events = [obj for obj in timing_objs if obj.get("event") in RUN_EVENTS]
    calls = LineCalls.of([*timing_objs, *spill_objs], own)
    del timing_objs, spill_objs
    if calls.legacy:
        return None
    error_objs, error_log = read_line_family(load._rotated(folder, schema.ERROR_LOG), own)
    errors = errors_frame(error_objs)
    if host:
        errors.loc[errors["host"] == "", "host"] = host
        for event in events:
            event.setdefault("host", host)
    prefix = f"host={host}/" if host else ""
    skipped.update({prefix + k: v for k, v in own.items() if v})
    return events, errors, timing_log, error_log, PendingLineCalls(calls.rows, call_lines, prefix)


_CALL_LINE = re.compile(rb'"event": ?"call"')
_UUID = re.compile(rb'"uuid": ?"([^"]*)"')
_END = re.compile(rb'"end_time": ?"([^"]*)"')


@dataclass
class PendingLineCalls:
    """The calls of a folder's JSON lines: spill files' (parsed) and timing.log's call lines kept raw,
    parsed only if the tables lack them (80,000 lines of a default rotation take seconds to parse)."""

    rows: pa.Table | None
    raw: list[bytes]
    prefix: str  # "host=<name>/" in a host partition: the prefix of the file names in ``skipped``
    skipped: dict[str, int] = field(default_factory=dict)  # call lines that did not parse, by file

    def missing(self, con: duckdb.DuckDBPyConnection, name: str, tables: list[str]) -> pa.Table | None:
        """The rows the ``tables`` lack: call lines whose id is not among the table ids ending at the
        same microsecond, parsed now, with the spill files' rows."""
        if not self.raw:
            return self.rows
        keys = pd.DataFrame(
            {
                "i": range(len(self.raw)),
                "call_id": [
                    (m[1] if (m := _UUID.search(r)) else b"").decode("utf-8", "replace") for r in self.raw
                ],
                "ended": [
                    (m[1] if (m := _END.search(r)) else b"").decode("utf-8", "replace") for r in self.raw
                ],
            }
        )
        con.register(f"{name}_keys", keys)
        picked: list[int] = list(range(len(self.raw)))
        if tables:
            union = " UNION ALL ".join(f"SELECT call_id, end_us FROM ({t})" for t in tables)
            ends = f"SELECT epoch_us(TRY_CAST(ended AS TIMESTAMPTZ)) FROM {name}_keys"
            picked = [
                int(r[0])
                for r in con.sql(
                    f"SELECT i FROM {name}_keys WHERE call_id = '' OR call_id NOT IN "
                    f"(SELECT call_id FROM ({union}) WHERE end_us IN ({ends}))"
                ).fetchall()
            ]
        con.unregister(f"{name}_keys")
        objs = [obj for i in picked if (obj := _parse_line(self.raw[i])) is not None]
        counts = {schema.TIMING_LOG: len(picked) - len(objs)}
        parsed = LineCalls.of(objs, counts).rows
        self.skipped = {self.prefix + k: v for k, v in counts.items() if v}
        found = [t for t in (self.rows, parsed) if t is not None and t.num_rows]
        return pa.concat_tables(found, promote_options="default") if found else None


def _timing_lines(
    paths: list[Path], skipped: dict[str, int]
) -> tuple[list[dict[str, Any]], LineLog, list[bytes]]:
    """timing.log's lines: every line but the calls parsed (events, log records), the call lines raw."""
    calls: list[bytes] = []
    objs, lines = read_line_family(paths, skipped, aside=(_CALL_LINE, calls))
    return objs, lines, calls

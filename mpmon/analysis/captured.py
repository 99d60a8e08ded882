"""The report's sections beside the tables: the functions ranked by self time, and the log lines the
collector captured (``capture_logging=True``: ordinary ``logging`` records in timing.log, ``event: log``).

Self time is a function's total time less the time of its monitored children (``parent_id``), so the
wrapper that only calls the slow function no longer tops the list. Log lines come from the run's
timing.log lines (already selected for the run), so their number is bounded by the log's rotation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon import schema, units
from mpmon.analysis.html_table import Column, table
from mpmon.analysis.html_table import escape as _e
from mpmon.analysis.stats import Summary

__all__ = ["LOG_LINES_SHOWN", "SELF_TIME_SHOWN", "log_lines", "log_section", "self_time_section"]

LOG_LINES_SHOWN = 50
SELF_TIME_SHOWN = 10
LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

SELF_TABLE = (
    Column("self_s", "self", "duration"),
    Column("self_share", "self / total", "percent"),
    Column("total_s", "total", "duration"),
    Column("calls", "calls", "count"),
    Column("self_mean_s", "self per call", "duration"),
)
LOG_TABLE = (
    Column("time", "time (UTC)", "text"),
    Column("level", "level", "text"),
    Column("process", "process", "text"),
    Column("logger", "logger", "text"),
    Column("message", "message", "text"),
)


def self_time_section(summary: Summary) -> str:
    """The functions with most self time (exclusive of monitored children), slowest first."""
    functions = summary.functions
    if functions.empty or "self_s" not in functions.columns:
        return "<p>No calls.</p>"
    ranked = functions.sort_values("self_s", ascending=False, kind="stable").head(SELF_TIME_SHOWN).copy()
    ranked["self_share"] = ranked["self_s"] / ranked["total_s"].where(ranked["total_s"] > 0)
    ranked["self_mean_s"] = ranked["self_s"] / ranked["calls"]
    note = (
        "<p class='meta'>self time = a function's time less the time of the monitored calls it made "
        "(its children, by parent_id); total time counts them too, so a wrapper tops the total ranking "
        "while the function that does the work tops this one.</p>"
    )
    return note + table(ranked, "function", SELF_TABLE, "aggregate.csv (self_s)")


def log_lines(lines: Sequence[bytes]) -> pd.DataFrame:
    """The captured log records among timing.log lines: time, level, process, logger, message."""
    rows = []
    for raw in lines:
        if b'"log"' not in raw:
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(obj, dict) or obj.get("event") != schema.EVENT_LOG:
            continue
        rows.append(_row(obj))
    return pd.DataFrame(rows, columns=[c.key for c in LOG_TABLE])


def _row(obj: dict[str, Any]) -> dict[str, str]:
    """One log record for the table."""
    name = str(obj.get("process_name") or "process")
    pid = obj.get("pid")
    return {
        "time": str(obj.get("timestamp") or "").replace("T", " ")[:23],
        "level": str(obj.get("level") or ""),
        "process": f"{name} ({pid})" if pid is not None else name,
        "logger": str(obj.get("logger") or ""),
        "message": str(obj.get("message") or "")[:500],
    }


def log_section(lines: Sequence[bytes]) -> str:
    """Counts by level and the last LOG_LINES_SHOWN captured log lines."""
    records = log_lines(lines)
    if records.empty:
        return (
            "<p>No log lines captured for this run (start_collector(capture_logging=True) records "
            "ordinary logging calls of every process in timing.log).</p>"
        )
    counts = records["level"].value_counts()
    order = [lvl for lvl in LEVELS if lvl in counts.index] + [x for x in counts.index if x not in LEVELS]
    summary = " · ".join(f"{_e(lvl or '(none)')}: {units.count(int(counts[lvl]))}" for lvl in order)
    shown = records.tail(LOG_LINES_SHOWN).iloc[::-1].reset_index(drop=True)
    shown.index = pd.Index(range(1, len(shown) + 1), name="#")
    return (
        f"<p>{units.plural(len(records), 'log line')} by level: {summary}. The last "
        f"{len(shown)}, newest first (every line is in timing.log):</p>" + table(shown, "#", LOG_TABLE)
    )

"""Errors grouped for a reader: one row per exception type and function, with when it happened, how
often, one message and one traceback.

Counts come from the run's error events (failed results rows plus error.log entries that have no row);
messages and tracebacks from the run's error.log lines (written by ``ErrorCatcher``, sanitized there by
its ``sanitize_func``). A failure of a function with ``Timer`` alone has no error.log entry: its group
says so instead of inventing a message. Texts are cut to a readable length and freed of control
characters; escaping for HTML is the page's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = ["ERROR_GROUP_COLUMNS", "MAX_MESSAGE", "MAX_TRACEBACK", "NO_DETAILS", "error_groups"]

ERROR_GROUP_COLUMNS = (
    "error_type",
    "function",
    "count",
    "first",
    "last",
    "messages",
    "message",
    "traceback",
    "call_id",
)
MAX_MESSAGE = 500
MAX_TRACEBACK = 8_000
NO_DETAILS = "no message recorded: only the exception type is known (add @mpmon.ErrorCatcher to log it)"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def error_groups(events: pd.DataFrame, error_lines: Sequence[bytes]) -> pd.DataFrame:
    """One row per (exception type, function), the commonest first: ERROR_GROUP_COLUMNS.

    ``events`` are the run's error events (time, function, error_type, call_id); ``error_lines`` the
    run's raw error.log lines. ``message`` and ``traceback`` are those of the group's latest entry that
    has them; ``messages`` counts the distinct messages of the group.
    """
    if events.empty:
        return pd.DataFrame(columns=list(ERROR_GROUP_COLUMNS))
    details = _details(error_lines)
    kinds = events["error_type"].fillna("").replace("", "(unknown type)")
    frame = pd.DataFrame(
        {"error_type": kinds, "function": events["function"], "time": events["time"], "id": events["call_id"]}
    )
    rows = [
        _group(key, group, details) for key, group in frame.groupby(["error_type", "function"], sort=False)
    ]
    table = pd.DataFrame(rows, columns=list(ERROR_GROUP_COLUMNS))
    return table.sort_values(["count", "first"], ascending=[False, True], kind="stable", ignore_index=True)


def _details(lines: Sequence[bytes]) -> dict[str, dict[str, Any]]:
    """The error.log entries by uuid (entries without one under a key of their own)."""
    found: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(lines):
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found[str(entry.get("uuid") or f"#line{number}")] = entry
    return found


def _group(key: tuple[Any, ...], group: pd.DataFrame, details: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One group's row."""
    error_type, function = (str(k) for k in key)
    entries = [details[i] for i in group["id"].astype(str) if i in details]
    if not entries:  # error.log entries whose uuid matches no event (older logs): match by name
        entries = [
            e for e in details.values() if e.get("function") == function and e.get("error_type") == error_type
        ]
    latest = entries[-1] if entries else {}
    messages = {str(e.get("error_message", "")) for e in entries}
    return {
        "error_type": error_type,
        "function": function,
        "count": len(group),
        "first": group["time"].min(),
        "last": group["time"].max(),
        "messages": len(messages),
        "message": _clean(str(latest.get("error_message", NO_DETAILS)), MAX_MESSAGE),
        "traceback": _clean(str(latest.get("traceback", "")), MAX_TRACEBACK),
        "call_id": str(latest.get("uuid", "")),
    }


def _clean(text: str, limit: int) -> str:
    """Control characters (but newlines and tabs) replaced, and the text cut to ``limit`` characters."""
    text = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"

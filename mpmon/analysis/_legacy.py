"""Lenient reading of logs written by the original single-process module, which had no run ids.

Its ``timing.log`` lines carry ``timestamp`` (local time, ``"2025-01-01 12:00:00,123"``), ``function``,
``uuid`` and a human ``message`` that holds the numbers; its manual hooks logged ``"f: end: ... id=...
duration=0.1234sec"``; its results table used headers such as ``"Execution Time (s)"``. This module turns
such lines and tables into rows with the columns of :mod:`mpmon.schema` (run id empty, naive times taken
as UTC), so the rest of the analysis never sees the old shapes.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon import schema

__all__ = ["LEGACY_COLUMNS", "legacy_call", "legacy_frame", "normalize_timestamp"]

# Column names of the original results table, mapped to the schema's.
LEGACY_COLUMNS: dict[str, str] = {
    "Timestamp": "end_time",
    "UUID": "call_id",
    "Function Name": "function",
    "Execution Time (s)": "duration_s",
    "CPU Time (sec)": "cpu_time_s",
    "Memory Change (MB)": "mem_delta_mib",
    "Final Memory Usage (MB)": "mem_final_mib",
    "Process ID": "pid",
    "Arguments": "args",
    "Log Message": "message",
}

_FUNCTION_KEYS = ("function", "func", "function_name", "Function Name")
_DURATION_KEYS = ("duration_s", "duration", "execution_time", "elapsed", "elapsed_s", "Execution Time (s)")
_TIMER_MESSAGE = re.compile(
    r"executed in (?P<duration>[-+0-9.eE]+) sec"
    r"(?:, CPU Time: (?P<cpu>[-+0-9.eE]+) sec)?"
    r"(?:, Memory Change: (?P<mem>[-+0-9.eE]+) MB)?"
    r"(?:, Final Memory: (?P<final>[-+0-9.eE]+) MB)?"
)
_HOOK_MESSAGE = re.compile(
    r"^(?P<function>\S+): end: wall=(?P<wall>[0-9.]+).*?id=(?P<id>\S+) duration=(?P<duration>[0-9.eE+-]+)sec"
)


def normalize_timestamp(value: object) -> str:
    """The logging module's ``"2025-01-01 12:00:00,123"`` as ISO text (the comma becomes a point)."""
    return str(value).replace(",", ".", 1) if value is not None else ""


def legacy_call(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A call row from one old ``timing.log`` line, or None when the line does not describe a call."""
    message = str(obj.get("message") or "")
    hook = _HOOK_MESSAGE.search(message)
    if hook is not None:
        end = pd.Timestamp(float(hook["wall"]), unit="s", tz="UTC").isoformat()
        return _row(obj, hook["function"], float(hook["duration"]), end, call_id=hook["id"])
    function = next((str(obj[k]) for k in _FUNCTION_KEYS if obj.get(k) not in (None, "", "N/A")), None)
    if function is None:
        return None
    duration = next((obj[k] for k in _DURATION_KEYS if isinstance(obj.get(k), (int, float))), None)
    timer = _TIMER_MESSAGE.search(message)
    if duration is None and timer is not None:
        duration = float(timer["duration"])
    if duration is None:
        return None
    row = _row(obj, function, float(duration))
    if timer is not None:
        row.update(cpu_time_s=timer["cpu"], mem_delta_mib=timer["mem"], mem_final_mib=timer["final"])
    return row


def _row(
    obj: dict[str, Any], function: str, duration: float, end: str | None = None, call_id: str | None = None
) -> dict[str, Any]:
    """The schema row for a legacy call ending at ``end`` (default: the line's timestamp)."""
    row: dict[str, Any] = {name: obj.get(name) for name in schema.COLUMN_NAMES}
    row.update(
        run_id="",
        call_id=call_id or str(obj.get("uuid") or obj.get("call_id") or obj.get("id") or ""),
        function=function,
        duration_s=duration,
        end_time=end or normalize_timestamp(obj.get("timestamp")),
        start_time=None,
        status="error" if str(obj.get("level", "")).upper() == "ERROR" else "ok",
    )
    return row


def legacy_frame(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Rows in schema columns from an old results table, or None when its columns are not the old ones."""
    known = {old: new for old, new in LEGACY_COLUMNS.items() if old in frame.columns}
    if not {"end_time", "function", "duration_s"} <= set(known.values()):
        return None
    out = frame[list(known)].rename(columns=known)
    out["end_time"] = out["end_time"].map(normalize_timestamp)
    out["run_id"] = ""
    return out.reindex(columns=list(schema.COLUMN_NAMES))

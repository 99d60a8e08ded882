"""Raw wire records turned into log objects, one record at a time, in plain Python.

A process that cannot reach any collector writes its spill file with this, in the very format of
`timing.log`; the collector uses it for error and log records and for the texts it shares with its
columnar path (`collector/tables.py`): the message, the arguments' JSON, ISO timestamps. No I/O.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, Final

from . import schema
from .probe import call_cpu_ns, rss_of
from .units import format_duration, format_duration_ns, format_memory
from .wire import CALL, ERROR, LOG

__all__ = [
    "Columns",
    "args_json",
    "call_entries",
    "columns_of_entries",
    "console_line",
    "error_entry",
    "iso_utc",
    "log_entry",
    "message",
    "split_kinds",
    "summary_line",
]

Columns = dict[str, list[Any]]

MIB: Final = 1024.0 * 1024.0
# ASCII escapes keep every line valid UTF-8 whatever the text holds (lone surrogates included).
_encode_str = json.encoder.encode_basestring_ascii
_to_json = json.JSONEncoder(separators=(",", ":")).encode


class _IsoClock:
    """ISO 8601 text of nanosecond UTC timestamps, reusing the text of the last second seen."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ns: int) -> str:
        second, rest = divmod(ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{rest // 1000:06d}+00:00"


iso_utc: Final = _IsoClock()


def args_json(args: Any) -> str:
    """{"args":[...],"kwargs":{...}} of the rendered argument texts ("" when the call had none)."""
    if not args:
        return ""
    positional, named = args
    text = '{"args":[' + ",".join(map(_encode_str, positional)) + '],"kwargs":{'
    if named:
        text += ",".join(f"{_encode_str(k)}:{_encode_str(v)}" for k, v in named)
    return text + "}}"


def message(function: str, duration_ns: int, error: str) -> str:
    """The human line of a call; the duration in its own unit, three significant digits (``f finished
    in 812 ns``, ``... in 1.5 µs``, ``... in 12.3 s``), as the collector's tables.call_table writes it by
    columns."""
    text = f"{function} finished in {format_duration_ns(duration_ns)}"
    return f"{text}, raised {error}" if error else text


def console_line(row: dict[str, Any]) -> str:
    """The console line of a results row: where it ran, what ran for how long, CPU time and memory when
    tracked; each duration and amount of memory in its own unit (``ForkPoolWorker-1[123] work finished
    in 812 ns (CPU 1.2 µs, memory +4 KiB, now 40.1 MiB)``)."""
    text = f"{row['process_name']}[{row['pid']}] {row['function']} finished in "
    text += format_duration_ns(round(row["duration_s"] * 1e9))  # whole ns: the very text of `message`
    text += f", raised {row['error_type']}" if row.get("error_type") else ""
    if row.get("cpu_time_s") is not None:
        text += f" (CPU {format_duration(row['cpu_time_s'])}"
        if row.get("mem_final_mib") is not None:
            delta = format_memory(row["mem_delta_mib"], sign=True)
            text += f", memory {delta}, now {format_memory(row['mem_final_mib'])}"
        text += ")"
    return text


def call_entries(meta: tuple[Any, ...], calls: list[tuple[Any, ...]], run_id: str) -> list[dict[str, Any]]:
    """The timing.log objects of a batch's call records, one by one (the collector does it by columns)."""
    pid, process_name, host, prefix, sender_run = meta
    entries = []
    for record in calls:
        (_, source, function, module, call_no, parent_no, start_ns, duration_ns, cpu_ns, rss0, rss1,
         thread, error_type, args, _route) = record  # fmt: skip
        duration = duration_ns / 1e9
        after = None if rss1 == -1 else rss_of(rss1)
        end = iso_utc(start_ns + duration_ns)
        entries.append(
            {
                "timestamp": end,
                "level": "ERROR" if error_type else "INFO",
                "event": schema.EVENT_CALL,
                "uuid": f"{prefix}{call_no:012x}",
                "run_id": sender_run or run_id,
                "call_id": f"{prefix}{call_no:012x}",
                "parent_id": f"{prefix}{parent_no:012x}" if parent_no else "",
                "source": source,
                "function": function,
                "module": module,
                "start_time": iso_utc(start_ns),
                "end_time": end,
                "duration_s": duration,
                "cpu_time_s": None if cpu_ns < 0 else call_cpu_ns(cpu_ns) / 1e9,
                "mem_delta_mib": None if after is None or rss0 == -1 else (after - rss_of(rss0)) / MIB,
                "mem_final_mib": None if after is None else after / MIB,
                "pid": pid,
                "process_name": process_name,
                "thread_name": thread,
                "host": host,
                "status": "error" if error_type else "ok",
                "error_type": error_type,
                "args": args_json(args),
                "message": message(function, duration_ns, error_type),
            }
        )
    return entries


def error_entry(meta: tuple[Any, ...], record: tuple[Any, ...], run_id: str) -> dict[str, Any]:
    """The error.log object of one ERROR record."""
    pid, process_name, host, prefix, sender_run = meta
    (_, function, module, call_no, time_ns, thread, error_type, error_message, trace, args, _) = record
    message = f"{function} raised {error_type}: {error_message}"
    return {
        "timestamp": iso_utc(time_ns),
        "level": "ERROR",
        "event": "error",
        "message": message,
        "function": function,
        "module": module,
        "uuid": f"{prefix}{call_no:012x}",
        "run_id": sender_run or run_id,
        "pid": pid,
        "process_name": process_name,
        "thread_name": thread,
        "host": host,
        "error_type": error_type,
        "error_message": error_message,
        "traceback": trace,
        "args": args_json(args),
    }


def log_entry(meta: tuple[Any, ...], record: tuple[Any, ...], run_id: str) -> dict[str, Any]:
    """The timing.log object of one captured logging record (LOG); a record of the logger
    `schema.CLOCK_LOGGER` whose message is a float becomes a `clock_offset` event with `offset_s`."""
    pid, process_name, host, _prefix, sender_run = meta
    (_, time_ns, level, logger, message, thread, module, function) = record
    extra: dict[str, Any] = {"event": schema.EVENT_LOG}
    if logger == schema.CLOCK_LOGGER:
        offset = _float_or_none(message)
        if offset is not None:
            extra = {"event": schema.EVENT_CLOCK_OFFSET, "offset_s": offset}
    return {
        "timestamp": iso_utc(time_ns),
        "level": level,
        **extra,
        "message": message,
        "logger": logger,
        "run_id": sender_run or run_id,
        "pid": pid,
        "process_name": process_name,
        "thread_name": thread,
        "host": host,
        "module": module,
        "function": function,
    }


def _float_or_none(text: Any) -> float | None:
    """The finite float a clock record's text holds; None for anything else (kept as a plain log line)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def summary_line(entry: dict[str, Any]) -> str:
    """One JSON line of an event object (run_start, run_summary, error, log)."""
    return _to_json(entry)


Records = list[tuple[Any, ...]]


def split_kinds(records: Records) -> tuple[Records, Records, Records]:
    """The CALL, ERROR and LOG records of a batch, each in arrival order."""
    calls = [r for r in records if r[0] == CALL]
    if len(calls) == len(records):
        return calls, [], []
    return calls, [r for r in records if r[0] == ERROR], [r for r in records if r[0] == LOG]


def _us_of_iso(text: Any) -> int:
    moment = datetime.fromisoformat(str(text))
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def columns_of_entries(entries: list[dict[str, Any]], run_id: str) -> Columns:
    """Results columns of call objects read back from JSON (a spill file); timestamps in microseconds."""
    columns: Columns = {}
    for column in schema.COLUMNS:
        values = [entry.get(column.name) for entry in entries]
        if column.kind == "float":
            columns[column.name] = [None if v is None else float(v) for v in values]
        elif column.kind == "int":
            columns[column.name] = [int(v or 0) for v in values]
        elif column.kind == "timestamp":
            columns[column.name] = [_us_of_iso(v) for v in values]
        else:
            columns[column.name] = ["" if v is None else str(v) for v in values]
    columns["run_id"] = [r or run_id for r in columns["run_id"]]
    return columns

"""Raw wire records turned into results columns and JSON lines: the formatting, done once per record.

The collector runs this for every batch it receives; a process that cannot reach any collector runs
it to write its spill file in the very format of `timing.log`. Pure functions: no I/O.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, Final

from . import schema
from .probe import rss_of
from .wire import CALL, ERROR, LOG

__all__ = [
    "Columns",
    "call_columns",
    "call_lines",
    "columns_of_entries",
    "error_entry",
    "iso_utc",
    "log_entry",
    "split_kinds",
    "summary_line",
]

Columns = dict[str, list[Any]]

MIB: Final = 1024.0 * 1024.0
_NAN: Final = math.nan
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


def _numbers(values: list[float]) -> list[str]:
    texts = list(map(repr, values))
    return [("null" if t == "nan" else t) for t in texts] if "nan" in texts else texts


def _args_json(args: Any) -> str:
    """{"args":[...],"kwargs":{...}} of the rendered argument texts ("" when the call had none)."""
    if not args:
        return ""
    positional, named = args
    text = '{"args":[' + ",".join(map(_encode_str, positional)) + '],"kwargs":{'
    if named:
        text += ",".join(f"{_encode_str(k)}:{_encode_str(v)}" for k, v in named)
    return text + "}}"


def _message(function: str, duration: float, cpu: float, delta: float, final: float, error: str) -> str:
    if final == final:
        text = (
            f"{function} finished in {duration:.6f} s, CPU {cpu:.6f} s, "
            f"memory {delta:+.3f} MiB (now {final:.1f} MiB)"
        )
    else:
        text = f"{function} finished in {duration:.6f} s"
    return f"{text}, raised {error}" if error else text


def call_columns(meta: tuple[Any, ...], records: list[tuple[Any, ...]], run_id: str) -> Columns:
    """The results columns, in schema order, of a batch's call records (all of kind CALL)."""
    pid, process_name, host, prefix, sender_run = meta
    run_id = sender_run or run_id
    n = len(records)
    (_, source, function, module, call_no, parent_no, start_ns, duration_ns, cpu_ns, rss0, rss1,
     thread, error_type, args, _route) = zip(*records)  # fmt: skip
    duration = [d / 1e9 for d in duration_ns]
    cpu = [c / 1e9 if c >= 0 else _NAN for c in cpu_ns]
    after = [-1 if r == -1 else rss_of(r) for r in rss1]
    final = [r / MIB if r >= 0 else _NAN for r in after]
    delta = [(r1 - rss_of(r0)) / MIB if r1 >= 0 and r0 != -1 else _NAN for r0, r1 in zip(rss0, after)]
    return {
        "run_id": [run_id] * n,
        "call_id": [f"{prefix}{c:012x}" for c in call_no],
        "parent_id": [f"{prefix}{p:012x}" if p else "" for p in parent_no] if any(parent_no) else [""] * n,
        "source": list(source),
        "function": list(function),
        "module": list(module),
        "start_time": [iso_utc(s) for s in start_ns],
        "end_time": [iso_utc(s + d) for s, d in zip(start_ns, duration_ns)],
        "duration_s": duration,
        "cpu_time_s": cpu,
        "mem_delta_mib": delta,
        "mem_final_mib": final,
        "pid": [pid] * n,
        "process_name": [process_name] * n,
        "thread_name": list(thread),
        "host": [host] * n,
        "status": ["error" if e else "ok" for e in error_type],
        "error_type": list(error_type),
        "args": [_args_json(a) for a in args],
        "message": list(map(_message, function, duration, cpu, delta, final, error_type)),
        # Not columns of the table: the raw clocks, for writers that store timestamps as numbers.
        "_start_ns": list(start_ns),
        "_end_ns": [s + d for s, d in zip(start_ns, duration_ns)],
    }


_STRING_KEYS: Final = frozenset(c.name for c in schema.COLUMNS if c.kind in ("string", "timestamp"))
# Texts this module makes from numbers (UUIDs, ISO times): they never need escaping.
_VERBATIM_KEYS: Final = frozenset(("call_id", "parent_id", "start_time", "end_time"))
_CALL_TEMPLATE: Final = (
    '{"timestamp":%s,"level":%s,"event":"call","uuid":%s,'
    + ",".join(f'"{name}":%s' for name in schema.COLUMN_NAMES)
    + "}"
)


def _json_column(name: str, values: list[Any]) -> list[str]:
    first = values[0]
    if values.count(first) == len(values):  # one value for the whole batch: encode it once
        return _json_column_of_distinct(name, [first]) * len(values)
    return _json_column_of_distinct(name, values)


def _json_column_of_distinct(name: str, values: list[Any]) -> list[str]:
    if name in _VERBATIM_KEYS:
        return [f'"{v}"' for v in values]
    if name in _STRING_KEYS:
        return list(map(_encode_str, values))
    return list(map(str, values)) if name == "pid" else _numbers(values)


def call_lines(columns: Columns) -> list[str]:
    """timing.log JSON lines of the rows of `columns`."""
    parts = [_json_column(name, columns[name]) for name in schema.COLUMN_NAMES]
    levels = ['"ERROR"' if s == "error" else '"INFO"' for s in columns["status"]]
    heads = zip(parts[schema.COLUMN_NAMES.index("end_time")], levels, parts[1])
    return [_CALL_TEMPLATE % (*head, *row) for head, row in zip(heads, zip(*parts))]


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
        "args": _args_json(args),
    }


def log_entry(meta: tuple[Any, ...], record: tuple[Any, ...], run_id: str) -> dict[str, Any]:
    """The timing.log object of one captured logging record (LOG)."""
    pid, process_name, host, _prefix, sender_run = meta
    (_, time_ns, level, logger, message, thread, module, function) = record
    return {
        "timestamp": iso_utc(time_ns),
        "level": level,
        "event": schema.EVENT_LOG,
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


def _ns_of_iso(text: Any) -> int:
    moment = datetime.fromisoformat(str(text))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _float(value: Any) -> float:
    return _NAN if value is None else float(value)


def columns_of_entries(entries: list[dict[str, Any]], run_id: str) -> Columns:
    """Results columns from call lines read back from JSON (a spill file), typed like call_columns'."""
    columns: Columns = {}
    for column in schema.COLUMNS:
        values = [entry.get(column.name) for entry in entries]
        if column.kind == "float":
            columns[column.name] = [_float(v) for v in values]
        elif column.kind == "int":
            columns[column.name] = [int(v or 0) for v in values]
        else:
            columns[column.name] = ["" if v is None else str(v) for v in values]
    columns["run_id"] = [r or run_id for r in columns["run_id"]]
    columns["_start_ns"] = [_ns_of_iso(t) for t in columns["start_time"]]
    columns["_end_ns"] = [_ns_of_iso(t) for t in columns["end_time"]]
    return columns

"""Raw call records to an Arrow table, and the table to timing.log lines, a whole batch at a time.

The collector's hot loop: Python touches each record only for what Arrow cannot do (the call id, the
message, the arguments' JSON); timestamps, numbers, memory and the JSON lines themselves are computed
column by column in Arrow, so the collector keeps up with many busy processes.
"""

from __future__ import annotations

import re
from itertools import repeat
from typing import Any, Final, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..rows import FINISHED, args_json, message

__all__ = ["ARROW_SCHEMA", "CallTable", "call_table", "csv_table", "json_lines", "table_of_columns"]

ARROW_SCHEMA: Final = schema.arrow_schema()
_MIB: Final = 1024.0 * 1024.0
_TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
_NEEDS_ESCAPE: Final = r'["\\\x00-\x1f]'
_NEEDS_ESCAPE_OR_CLEANING: Final = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')
_MADE_HERE: Final = frozenset(("call_id", "parent_id", "status"))  # hex digits and words: nothing to escape


class CallTable(NamedTuple):
    """The results rows of a round, and the text columns known to need no escaping in JSON."""

    table: pa.Table
    plain: frozenset[str]


def _rss_bytes(raw: tuple[Any, ...]) -> pa.Array:
    """Resident bytes from probe.rss_raw() values (statm lines, ints, -1 for untracked) as int64 (null)."""
    from ..probe import PAGE_SIZE, rss_of

    if type(raw[0]) is bytes:
        try:
            pages = pc.list_element(pc.split_pattern(pa.array(raw, pa.binary()), b" "), 1)
            return pc.multiply(pc.cast(pc.cast(pages, pa.string()), pa.int64()), PAGE_SIZE)
        except (pa.ArrowException, TypeError):
            pass
    return pa.array([None if r == -1 else rss_of(r) for r in raw], pa.int64())


def call_table(parts: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]], run_id: str) -> CallTable:
    """The results rows of the call records of several batches (each with its meta), in one table."""
    run_ids: list[str] = []
    call_ids: list[str] = []
    parent_ids: list[str] = []
    pids: list[int] = []
    names: list[str] = []
    hosts: list[str] = []
    for (pid, process_name, host, prefix, sender_run), calls in parts:
        n = len(calls)
        run_ids += [sender_run or run_id] * n
        pids += [pid] * n
        names += [process_name] * n
        hosts += [host] * n
        call_ids += map("{}{:012x}".format, repeat(prefix, n), [record[4] for record in calls])
        parent_ids += [f"{prefix}{record[5]:012x}" if record[5] else "" for record in calls]
    records = [record for _, calls in parts for record in calls]
    (_, source, function, module, _call_no, _parent_no, start_ns, duration_ns, cpu_ns, rss0, rss1,
     thread, error_type, args, _route) = zip(*records)  # fmt: skip
    start = pa.array(start_ns, pa.int64())
    duration = pa.array(duration_ns, pa.int64())
    cpu = pa.array(cpu_ns, pa.int64())
    before, after = _rss_bytes(rss0), _rss_bytes(rss1)
    durations = [d / 1e9 for d in duration_ns]
    failed = any(error_type)
    columns = {
        "run_id": run_ids,
        "call_id": call_ids,
        "parent_id": parent_ids,
        "source": source,
        "function": function,
        "module": module,
        "start_time": pc.divide(start, 1000).cast(_TIMESTAMP),
        "end_time": pc.divide(pc.add(start, duration), 1000).cast(_TIMESTAMP),
        "duration_s": durations,
        "cpu_time_s": pc.if_else(pc.less(cpu, 0), None, pc.divide(pc.cast(cpu, pa.float64()), 1e9)),
        "mem_delta_mib": pc.divide(pc.cast(pc.subtract(after, before), pa.float64()), _MIB),
        "mem_final_mib": pc.divide(pc.cast(after, pa.float64()), _MIB),
        "pid": pids,
        "process_name": names,
        "thread_name": thread,
        "host": hosts,
        "status": ["error" if e else "ok" for e in error_type] if failed else ["ok"] * len(records),
        "error_type": error_type,
        "args": [args_json(a) for a in args] if any(args) else [""] * len(records),
        "message": (
            list(map(message, function, durations, error_type))
            if failed
            else list(map(FINISHED.format, function, durations))
        ),
    }
    plain = {name for name in _CHECKED if _plain(columns[name])}
    if {"function", "error_type"} <= plain:
        plain.add("message")
    return CallTable(table_of_columns(columns), frozenset(plain))


_CHECKED: Final = (
    "run_id",
    "source",
    "function",
    "module",
    "process_name",
    "thread_name",
    "host",
    "error_type",
)


def _plain(values: Any) -> bool:
    """True when no value needs escaping in JSON or cleaning for UTF-8 (each distinct value checked once)."""
    return not any(type(v) is str and _NEEDS_ESCAPE_OR_CLEANING.search(v) for v in set(values))


def table_of_columns(columns: dict[str, Any]) -> pa.Table:
    """An Arrow table of the schema from columns (arrays or sequences); text UTF-8 cannot hold is escaped."""
    arrays = []
    for field in ARROW_SCHEMA:
        values = columns[field.name]
        if not isinstance(values, pa.Array):
            try:
                values = pa.array(values, field.type)
            except (UnicodeError, pa.ArrowException):
                values = pa.array([_clean_text(v) for v in values], field.type)
        arrays.append(values.cast(field.type) if values.type != field.type else values)
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def _clean_text(value: Any) -> Any:
    """Text that UTF-8 can hold: lone surrogates become backslash escapes."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _iso(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 text with offset of UTC timestamps (casting and patching is ten times strftime's speed)."""
    text = pc.cast(column.cast(pa.timestamp("us")), pa.string())  # "2026-11-25 18:43:13.963583"
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T", max_replacements=1), "+00:00", "")


def csv_table(table: pa.Table) -> pa.Table:
    """The table with its timestamps as ISO 8601 text with offset, as the CSV holds them."""
    for name in schema.TIMESTAMP_COLUMNS:
        table = table.set_column(table.schema.get_field_index(name), name, _iso(table.column(name)))
    return table


def _json_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """A text column's contents for inside JSON quotes: as it is, unless it holds a character to escape."""
    if not pc.any(pc.match_substring_regex(column, _NEEDS_ESCAPE)).as_py():
        return column
    from json.encoder import encode_basestring

    return pa.array([encode_basestring(v)[1:-1] for v in column.to_pylist()], pa.string())


def _json_number(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.fill_null(pc.cast(column, pa.string()), "null")


def json_lines(table: pa.Table, iso: dict[str, Any], plain: frozenset[str] = frozenset()) -> pa.Array:
    """One timing.log call line per row, each ending in a newline, as one Arrow string array.

    `iso` holds the timestamp columns as ISO text (csv_table's), computed once for both files. Text
    columns go between literal quotes; only a column holding a quote, backslash or control character
    is escaped, in Python; those in `plain` are known to hold none.
    """
    level = pc.if_else(pc.equal(table.column("status"), "error"), "ERROR", "INFO")
    pieces: list[Any] = ['{"timestamp":"', iso["end_time"], '","level":"', level]
    pieces += ['","event":"call","uuid":"', table.column("call_id")]
    closing = '"'
    for column in schema.COLUMNS:
        if column.kind == "timestamp":
            pieces += [f'{closing},"{column.name}":"', iso[column.name]]
            closing = '"'
        elif column.kind == "string":
            value = table.column(column.name)
            pieces += [
                f'{closing},"{column.name}":"',
                value if column.name in _MADE_HERE or column.name in plain else _json_text(value),
            ]
            closing = '"'
        else:
            pieces += [f'{closing},"{column.name}":', _json_number(table.column(column.name))]
            closing = ""
    pieces.append(closing + "}\n")
    joined = pc.binary_join_element_wise(*pieces, "")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined

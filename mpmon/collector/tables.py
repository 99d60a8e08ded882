"""Raw call records to an Arrow table, and the table to timing.log lines, a whole batch at a time.

The collector's hot loop: Python touches each record only for what Arrow cannot do (the call id, the
message, the arguments' JSON); timestamps, numbers, memory and the JSON lines themselves are computed
column by column in Arrow, so the collector keeps up with many busy processes.
"""

from __future__ import annotations

import re
from datetime import datetime
from itertools import chain
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..wire import CALL_FIELDS, CALL_NUMBERS
from . import measures
from .arguments import args_columns
from .lines import csv_rows, csv_table, iso_times, json_escape, json_lines, round_texts
from .messages import messages

__all__ = [
    "ARROW_SCHEMA",
    "CallTable",
    "call_columns",
    "call_table",
    "csv_rows",
    "csv_table",
    "error_table",
    "iso_times",
    "json_lines",
    "round_texts",
    "routes",
    "table_of_columns",
    "text_array",
]

ARROW_SCHEMA: Final = schema.arrow_schema()
_ARGS: Final = CALL_FIELDS.index("args")
ERROR_SCHEMA: Final = schema.error_arrow_schema()
_NEEDS_ESCAPE_OR_CLEANING: Final = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


class CallTable(NamedTuple):
    """The results rows of a round, the text columns known to need no escaping in JSON, the JSON
    text of the columns that hold one value in every row (json_lines writes those once), and text
    columns made already escaped for a JSON string and a CSV field (lines.round_texts takes them)."""

    table: pa.Table
    plain: frozenset[str]
    constant: dict[str, str] = {}
    escaped: dict[str, tuple[pa.Array, pa.Array]] = {}


def _distinct(values: tuple[Any, ...]) -> set[Any]:
    """The set of a column's values: one C-level pass when every row holds the same value (the usual:
    one function, one thread, no error), rather than hashing every row."""
    if values and values.count(values[0]) == len(values):
        return {values[0]}
    return set(values)


def _per_batch(values: list[Any], sizes: list[int], kind: pa.DataType) -> pa.Array:
    """A column of one value per batch, each repeated for the batch's rows (made from one value when
    every batch holds the same: a round of several batches of one process)."""
    first = values[0]
    if values.count(first) == len(values) and all(type(v) is type(first) for v in values):
        values, sizes = values[:1], [sum(sizes)]
    distinct = text_array(values) if kind == pa.string() else pa.array(values, kind)
    if len(values) == 1:
        return pa.repeat(distinct[0], sizes[0])
    return distinct.take(np.repeat(np.arange(len(values)), sizes))


def _text(values: tuple[Any, ...], distinct: set[Any]) -> pa.Array:
    """text_array() of a column, made from its one value when every row holds the same."""
    if len(distinct) == 1:
        return pa.repeat(text_array(list(distinct))[0], len(values))
    return text_array(values)


def call_columns(rows: list[tuple[Any, ...]], columns: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    """Call records in columns (CALL_FIELDS, without the kind): those given as rows, then `columns`
    (as they came on the wire: CALL_NUMBERS may be int64 bytes); () when there are none."""
    if not rows:
        return columns
    from_rows = tuple(zip(*rows))[1:]
    if not columns:
        return from_rows
    return tuple(
        _join(index, (a, b), []) if index in CALL_NUMBERS else a + b
        for index, (a, b) in enumerate(zip(from_rows, columns, strict=True))
    )


def _join(index: int, columns: Any, sizes: list[int]) -> Any:
    """One column of several batches: tuples joined, number columns as one int64 array (their int64
    bytes, as they came on the wire, joined first: one array made, not one per batch)."""
    if index in CALL_NUMBERS:
        if len(sizes) == len(columns) and all(
            type(c) is bytes and len(c) == 8 * n for c, n in zip(columns, sizes)
        ):
            return measures.int64(b"".join(columns))
        return pa.concat_arrays([measures.int64(c) for c in columns])
    return tuple(chain.from_iterable(columns))


def call_table(parts: list[tuple[tuple[Any, ...], Any]], run_id: str) -> CallTable:
    """The results rows of the call records of several batches (each with its meta), in one table. A
    batch's calls are a tuple of columns (CALL_FIELDS, without the kind: `call_columns`) or a list of
    record tuples.

    Numbers are computed with numpy and text columns made once per round, so that a round costs few
    Arrow calls whatever its size: a round has a fixed cost, and pool workers send small batches."""
    parts = [(meta, call_columns(calls) if type(calls) is list else calls) for meta, calls in parts]
    sizes = [len(calls[0]) for _, calls in parts]
    metas = [meta for meta, _ in parts]
    if len(parts) == 1:
        joined = [measures.int64(c) if i in CALL_NUMBERS else c for i, c in enumerate(parts[0][1])]
    else:
        joined = [_join(i, [c[i] for _, c in parts], sizes) for i in range(len(parts[0][1]))]
    (source, function, module, call_no, parent_no, start_ns, duration_ns, cpu_ns, rss0, rss1,
     thread, error_type, args, _route) = joined  # fmt: skip
    count = len(source)
    start = measures.as_numpy(start_ns)
    duration = duration_ns
    duration_np = measures.as_numpy(duration)
    resident = measures.rss_bytes(rss0 + rss1)  # one pass over both
    before, after = resident.slice(0, count), resident.slice(count)
    prefix_array = _per_batch([m[3] for m in metas], sizes, pa.string())
    distinct = {name: _distinct(values) for name, values in
                (("source", source), ("function", function), ("module", module), ("thread_name", thread),
                 ("error_type", error_type))}  # fmt: skip
    batch_values = {
        "run_id": [sender_run or run_id for *_, sender_run in metas],
        "pid": [m[0] for m in metas],
        "process_name": [m[1] for m in metas],
        "host": [m[2] for m in metas],
    }
    function_array, error_array = (
        _text(function, distinct["function"]),
        _text(error_type, distinct["error_type"]),
    )
    no_error = distinct["error_type"] == {""}
    failed = pa.repeat(False, count) if no_error else pc.not_equal(error_array, "")
    args_text, args_forms = args_columns(args, [calls[_ARGS] for _, calls in parts])
    columns = {
        "run_id": _per_batch(batch_values["run_id"], sizes, pa.string()),
        "call_id": measures.ids(prefix_array, call_no),
        "parent_id": measures.parent_ids(prefix_array, parent_no),
        "source": _text(source, distinct["source"]),
        "function": function_array,
        "module": _text(module, distinct["module"]),
        "start_time": measures.timestamps(measures.divided(start, 1000)),
        "end_time": measures.timestamps(measures.divided(start + duration_np, 1000)),
        "duration_s": pa.array(duration_np.astype(np.float64) / 1e9, pa.float64()),
        "cpu_time_s": measures.cpu_seconds(cpu_ns),
        "mem_delta_mib": measures.mib(after, before),
        "mem_final_mib": measures.mib(after),
        "pid": _per_batch(batch_values["pid"], sizes, pa.int64()),
        "process_name": _per_batch(batch_values["process_name"], sizes, pa.string()),
        "thread_name": _text(thread, distinct["thread_name"]),
        "host": _per_batch(batch_values["host"], sizes, pa.string()),
        "status": pa.repeat("ok", count) if no_error else pc.if_else(failed, "error", "ok"),
        "error_type": error_array,
        "args": args_text,
        "message": messages(function_array, duration, error_array, failed),
    }
    plain = {name for name in _CHECKED if _plain(distinct.get(name) or batch_values[name])}
    if {"function", "error_type"} <= plain:
        plain.add("message")
    table = table_of_columns(columns)
    constant = _constant(table, {**distinct, **batch_values}, args, measures.nested(parent_no))
    escaped = {"args": args_forms} if args_forms is not None and "args" not in constant else {}
    return CallTable(table, frozenset(plain), constant, escaped)


def _constant(
    table: pa.Table, distinct: dict[str, Any], args: tuple[Any, ...], nested: bool
) -> dict[str, str]:
    """The JSON text of each column with one value in every row of the round (as json_lines writes it)."""
    constant = {}
    for name, values in distinct.items():
        found = set(values)
        if len(found) == 1:  # the value as the table holds it, read from the table only if not a str or int
            value = found.pop()
            plain = type(value) is int or type(value) is str
            constant[name] = _clean_text(value) if plain else table.column(name)[0].as_py()
    texts = {name: json_escape(v) for name, v in constant.items() if isinstance(v, str)}
    if "pid" in constant:
        texts["pid"] = str(constant["pid"])
    if constant.get("error_type") == "":
        texts["status"] = "ok"
    if not any(args):
        texts["args"] = ""
    for name in ("cpu_time_s", "mem_delta_mib", "mem_final_mib"):
        if table.column(name).null_count == table.num_rows:
            texts[name] = "null"
    if not nested:
        texts["parent_id"] = ""
    return texts


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


def text_array(values: Any) -> pa.Array:
    """A string array of these texts; text UTF-8 cannot hold (lone surrogates) is backslash-escaped."""
    try:
        return pa.array(values, pa.string())
    except (UnicodeError, pa.ArrowException):
        return pa.array([_clean_text(v) for v in values], pa.string())


def table_of_columns(columns: dict[str, Any]) -> pa.Table:
    """An Arrow table of the schema from columns (arrays or sequences); text UTF-8 cannot hold is escaped."""
    arrays = []
    for field in ARROW_SCHEMA:
        values = columns[field.name]
        if not isinstance(values, pa.Array):
            if field.type == pa.string():
                values = text_array(values)
            else:
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


def error_table(entries: list[dict[str, Any]]) -> pa.Table:
    """The error results rows of error.log objects (rows.error_entry's, or read back from a spill file);
    ValueError, TypeError or an ArrowException for an object that cannot be one."""
    names = {"call_id": "uuid", "time": "timestamp"}
    columns: dict[str, list[Any]] = {}
    for column in schema.ERROR_COLUMNS:
        values = [entry[names.get(column.name, column.name)] for entry in entries]
        if column.kind == "timestamp":
            values = [datetime.fromisoformat(v) for v in values]
            if any(v.tzinfo is None for v in values):
                raise ValueError("an error time without its UTC offset")
        elif column.kind == "int":
            values = [v if type(v) is int else int(v) for v in values]
        columns[column.name] = values
    arrays = [
        text_array(columns[f.name]) if f.type == pa.string() else pa.array(columns[f.name], f.type)
        for f in ERROR_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=ERROR_SCHEMA)


def routes(of_rows: list[Any]) -> dict[Any, list[int]]:
    """The row indices of each route (a decorator's console, file and format settings)."""
    first = of_rows[0]
    if of_rows.count(first) == len(of_rows) and type(first) is tuple and len(first) == 3:
        return {first: list(range(len(of_rows)))}
    groups: dict[Any, list[int]] = {}
    for index, route in enumerate(of_rows):
        groups.setdefault(route, []).append(index)
    if not all(type(route) is tuple and len(route) == 3 for route in groups):
        raise ValueError("malformed route")
    return groups

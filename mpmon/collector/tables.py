"""Raw call records to an Arrow table, and the table to timing.log lines, a whole batch at a time.

The collector's hot loop: Python touches each record only for what Arrow cannot do (the call id, the
message, the arguments' JSON); timestamps, numbers, memory and the JSON lines themselves are computed
column by column in Arrow, so the collector keeps up with many busy processes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..rows import args_json
from ..units import NS_UNITS

__all__ = [
    "ARROW_SCHEMA",
    "CallTable",
    "call_table",
    "csv_table",
    "error_table",
    "json_lines",
    "table_of_columns",
    "text_array",
]

ARROW_SCHEMA: Final = schema.arrow_schema()
ERROR_SCHEMA: Final = schema.error_arrow_schema()
_MIB: Final = 1024.0 * 1024.0
_TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
_CONTROL: Final = r"[\x00-\x1f]"
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
            pages = pc.list_element(pc.split_pattern(pa.array(raw, pa.binary()), b" ", max_splits=2), 1)
            return pc.multiply(pc.cast(pc.cast(pages, pa.string()), pa.int64()), PAGE_SIZE)
        except (pa.ArrowException, TypeError):
            pass
    return pa.array([None if r == -1 else rss_of(r) for r in raw], pa.int64())


def _cpu_seconds(raw: pa.Array) -> pa.Array:
    """Seconds of CPU time from raw CPU-clock differences, less the probe's own cost (probe.call_cpu_ns);
    null where resources were not tracked (-1)."""
    from ..probe import cpu_probe_ns

    corrected = pc.max_element_wise(pc.subtract(raw, cpu_probe_ns()), 0)
    return pc.if_else(pc.less(raw, 0), None, pc.divide(pc.cast(corrected, pa.float64()), 1e9))


def call_table(parts: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]], run_id: str) -> CallTable:
    """The results rows of the call records of several batches (each with its meta), in one table."""
    run_ids: list[str] = []
    prefixes: list[str] = []
    pids: list[int] = []
    names: list[str] = []
    hosts: list[str] = []
    for (pid, process_name, host, prefix, sender_run), calls in parts:
        n = len(calls)
        run_ids += [sender_run or run_id] * n
        prefixes += [prefix] * n
        pids += [pid] * n
        names += [process_name] * n
        hosts += [host] * n
    records = [record for _, calls in parts for record in calls]
    (_, source, function, module, call_no, parent_no, start_ns, duration_ns, cpu_ns, rss0, rss1,
     thread, error_type, args, _route) = zip(*records)  # fmt: skip
    start = pa.array(start_ns, pa.int64())
    duration = pa.array(duration_ns, pa.int64())
    cpu = pa.array(cpu_ns, pa.int64())
    resident = _rss_bytes(rss0 + rss1)  # one pass over both
    before, after = resident.slice(0, len(records)), resident.slice(len(records))
    prefix_array = pa.array(prefixes, pa.string())
    function_array, error_array = text_array(function), text_array(error_type)
    failed = pc.not_equal(error_array, "")
    columns = {
        "run_id": run_ids,
        "call_id": _ids(prefix_array, pa.array(call_no, pa.int64())),
        "parent_id": _parent_ids(prefix_array, parent_no),
        "source": source,
        "function": function_array,
        "module": module,
        "start_time": pc.divide(start, 1000).cast(_TIMESTAMP),
        "end_time": pc.divide(pc.add(start, duration), 1000).cast(_TIMESTAMP),
        "duration_s": pc.divide(pc.cast(duration, pa.float64()), 1e9),
        "cpu_time_s": _cpu_seconds(cpu),
        "mem_delta_mib": pc.divide(pc.cast(pc.subtract(after, before), pa.float64()), _MIB),
        "mem_final_mib": pc.divide(pc.cast(after, pa.float64()), _MIB),
        "pid": pids,
        "process_name": names,
        "thread_name": thread,
        "host": hosts,
        "status": pc.if_else(failed, "error", "ok"),
        "error_type": error_array,
        "args": [args_json(a) for a in args] if any(args) else [""] * len(records),
        "message": _messages(function_array, duration, error_array, failed),
    }
    plain = {name for name in _CHECKED if _plain(name, columns[name], records)}
    if {"function", "error_type"} <= plain:
        plain.add("message")
    return CallTable(table_of_columns(columns), frozenset(plain))


def _four_hex_digits() -> pa.Array:
    """The texts 0000 to ffff, joined by columns from the 256 pairs of digits (a list of 65,536 strings
    takes 20 ms, at every start of a collector)."""
    pairs = pa.array([f"{i:02x}" for i in range(256)], pa.string())
    numbers = np.arange(1 << 16)
    return pc.binary_join_element_wise(pc.take(pairs, numbers >> 8), pc.take(pairs, numbers & 0xFF), "")


_HEX4: Final = _four_hex_digits()


def _ids(prefixes: pa.Array, numbers: pa.Array) -> pa.Array:
    """Call ids: each process's 24-character prefix and its call number as 12 hex digits (UUID-shaped)."""
    digits = [pc.take(_HEX4, pc.bit_wise_and(pc.shift_right(numbers, s), 0xFFFF)) for s in (32, 16, 0)]
    return pc.binary_join_element_wise(prefixes, *digits, "")


def _parent_ids(prefixes: pa.Array, parent_no: tuple[int, ...]) -> pa.Array | list[str]:
    if not any(parent_no):
        return [""] * len(parent_no)
    numbers = pa.array(parent_no, pa.int64())
    return pc.if_else(pc.equal(numbers, 0), "", _ids(prefixes, numbers))


def _messages(function: pa.Array, duration_ns: pa.Array, error_type: pa.Array, failed: pa.Array) -> pa.Array:
    """rows.message() of every row, by columns: the duration in its own unit (units.format_duration_ns)."""
    text = pc.binary_join_element_wise(function, " finished in ", _durations(duration_ns), "")
    if not pc.any(failed).as_py():
        return text
    return pc.if_else(failed, pc.binary_join_element_wise(text, error_type, ", raised "), text)


_POW10: Final = np.array([10**e for e in range(19)], np.int64)
_SUFFIXES: Final = pa.array(
    [f"{f'.{cents:02d}'.rstrip('0').rstrip('.')} {unit}" for cents in range(100) for unit in NS_UNITS],
    pa.string(),
)
"""The text after a duration's whole number: its hundredths (trailing zeros dropped) and its unit,
at index hundredths x 4 + unit (the unit's index in units.NS_UNITS)."""


def _durations(ns: pa.Array) -> pa.Array:
    """units.format_duration_ns() of every value, by columns (numpy integers, then Arrow text): the unit
    chosen per row, three significant digits rounded half up, 999.5 µs read as 1 ms."""
    values = np.maximum(ns.to_numpy(zero_copy_only=False), 0)
    unit = (values >= 1_000).astype(np.int64) + (values >= 1_000_000) + (values >= 1_000_000_000)
    rounded, decimals = _rounded(values, unit)
    bump = (unit < 3) & (rounded >= 1000 * _POW10[decimals])
    if bump.any():
        unit += bump
        rounded, decimals = _rounded(values, unit)
    unit[values == 0] = 3  # "0 s"
    whole, fraction = np.divmod(rounded, _POW10[decimals])
    suffix = pc.take(_SUFFIXES, pa.array(fraction * _POW10[2 - decimals] * 4 + unit))
    return pc.binary_join_element_wise(_grouped(pa.array(whole)), suffix, "")


def _rounded(values: np.ndarray, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """units._rounded_ns of every value in its unit (10**(3 x unit) ns): (a whole number of 10**-decimals
    units, decimals), three significant digits but no fraction of a nanosecond."""
    exp = 3 * unit
    whole = values // _POW10[exp]
    decimals = np.minimum(exp, 2 - (whole >= 10) - (whole >= 100).astype(np.int64))
    step = _POW10[exp - decimals]
    return (values + step // 2) // step, decimals


def _digits(values: pa.Array, scale: pa.Scalar) -> pa.Array:
    """Each value (below scale, a power of ten) as exactly log10(scale) digits, zero-padded."""
    return pc.utf8_slice_codeunits(pc.cast(pc.add(values, scale), pa.string()), 1)


def _grouped(whole: pa.Array) -> pa.Array:
    """Whole numbers as text with thousands separators (1,234)."""
    if not pc.any(pc.greater_equal(whole, 1000)).as_py():
        return pc.cast(whole, pa.string())
    high = pc.divide(whole, 1000)
    low = pc.subtract(whole, pc.multiply(high, 1000))
    grouped = pc.binary_join_element_wise(_grouped(high), _digits(low, pa.scalar(1000, pa.int64())), ",")
    return pc.if_else(pc.greater(high, 0), grouped, pc.cast(low, pa.string()))


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


def _plain(name: str, values: Any, records: list[tuple[Any, ...]]) -> bool:
    """True when no value needs escaping in JSON or cleaning for UTF-8 (each distinct value checked once)."""
    if isinstance(values, pa.Array):  # made from the records' own texts: check those
        values = [record[_RECORD_FIELD[name]] for record in records]
    return not any(type(v) is str and _NEEDS_ESCAPE_OR_CLEANING.search(v) for v in set(values))


_RECORD_FIELD: Final = {"function": 2, "error_type": 12}


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


def _iso(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 text with offset of UTC timestamps (casting and patching is ten times strftime's speed)."""
    text = pc.cast(column.cast(pa.timestamp("us")), pa.string())  # "2026-11-25 18:43:13.963583"
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T", max_replacements=1), "+00:00", "")


def csv_table(table: pa.Table) -> pa.Table:
    """The table with its timestamps as ISO 8601 text with offset, as the CSV holds them."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(index, field.name, _iso(table.column(index)))
    return table


def _json_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """A text column's contents for inside JSON quotes: backslashes and quotes escaped by columns, and
    only a column that holds a control character escaped in Python, value by value."""
    if pc.any(pc.match_substring_regex(column, _CONTROL)).as_py():
        from json.encoder import encode_basestring

        return pa.array([encode_basestring(v)[1:-1] for v in column.to_pylist()], pa.string())
    return pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')


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

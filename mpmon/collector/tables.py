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

from .. import probe, schema
from ..units import NS_UNITS
from ..wire import CALL_NUMBERS
from . import fixed
from .arguments import args_column
from .lines import csv_table, json_escape, json_lines

__all__ = [
    "ARROW_SCHEMA",
    "CallTable",
    "call_columns",
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
SMALL_ROUND: Final = 256
"""Below this many values, a Python loop costs less than the fixed cost of a chain of Arrow calls."""
_TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
_NEEDS_ESCAPE_OR_CLEANING: Final = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


class CallTable(NamedTuple):
    """The results rows of a round, the text columns known to need no escaping in JSON, and the JSON
    text of the columns that hold one value in every row (json_lines writes those once)."""

    table: pa.Table
    plain: frozenset[str]
    constant: dict[str, str] = {}


def _rss_bytes(raw: tuple[Any, ...]) -> pa.Array:
    """Resident bytes from probe.rss_raw() values (statm lines, ints, -1 for untracked) as int64 (null)."""
    from ..probe import PAGE_SIZE, rss_of

    if raw.count(-1) == len(raw):  # not tracked
        return pa.nulls(len(raw), pa.int64())
    if type(raw[0]) is bytes and len(raw) > SMALL_ROUND:  # a few Arrow calls: worth it for many rows
        try:
            pages = pc.list_element(pc.split_pattern(pa.array(raw, pa.binary()), b" ", max_splits=2), 1)
            return pc.multiply(pc.cast(pc.cast(pages, pa.string()), pa.int64()), PAGE_SIZE)
        except (pa.ArrowException, TypeError):
            pass
    return pa.array([None if r == -1 else rss_of(r) for r in raw], pa.int64())


def _cpu_seconds(raw: pa.Array) -> pa.Array:
    """Seconds of CPU time from raw CPU-clock differences, less the probe's own cost (probe.call_cpu_ns);
    null where resources were not tracked (-1)."""
    values = _numbers(raw)
    untracked = values < 0
    if untracked.all():
        return pa.nulls(len(values), pa.float64())
    seconds = np.maximum(values - probe.cpu_probe_ns(), 0).astype(np.float64) / 1e9
    return pa.array(seconds, pa.float64(), mask=untracked)


def _numbers(values: pa.Array) -> np.ndarray:
    """The int64 values of an array without nulls (a null where a number belongs: ValueError)."""
    if values.null_count:
        raise ValueError("a call record without one of its numbers")
    numbers: np.ndarray = values.to_numpy()
    return numbers


def _per_batch(values: list[Any], sizes: list[int], kind: pa.DataType) -> pa.Array:
    """A column of one value per batch, each repeated for the batch's rows."""
    distinct = text_array(values) if kind == pa.string() else pa.array(values, kind)
    if len(values) == 1:
        return pa.repeat(distinct[0], sizes[0])
    return distinct.take(np.repeat(np.arange(len(values)), sizes))


def _text(values: tuple[Any, ...], distinct: set[Any]) -> pa.Array:
    """text_array() of a column, made from its one value when every row holds the same."""
    if len(distinct) == 1:
        return pa.repeat(text_array(list(distinct))[0], len(values))
    return text_array(values)


def _divided(values: np.ndarray, by: int) -> np.ndarray:
    """Integer division rounding toward zero, as Arrow's divide of integers."""
    whole: np.ndarray = values // by + ((values % by != 0) & (values < 0))
    return whole


def _timestamps(microseconds: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(_TIMESTAMP, len(microseconds), [None, pa.py_buffer(microseconds)])


def _mib(resident: pa.Array, subtract: pa.Array | None = None) -> pa.Array:
    """Resident bytes (less `subtract`) in MiB; null where not tracked."""
    if resident.null_count == len(resident):
        return pa.nulls(len(resident), pa.float64())
    if resident.null_count == 0 and (subtract is None or subtract.null_count == 0):  # by numpy
        values = resident.to_numpy() - (0 if subtract is None else subtract.to_numpy())
        return pa.array(values.astype(np.float64) / _MIB, pa.float64())
    if subtract is not None:
        resident = pc.subtract(resident, subtract)
    return pc.divide(pc.cast(resident, pa.float64()), _MIB)


def call_columns(rows: list[tuple[Any, ...]], columns: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    """Call records in columns (CALL_FIELDS, without the kind): those given as rows, then `columns`
    (as they came on the wire: CALL_NUMBERS may be int64 bytes); () when there are none."""
    if not rows:
        return columns
    from_rows = tuple(zip(*rows))[1:]
    if not columns:
        return from_rows
    return tuple(
        _join(index, (a, b)) if index in CALL_NUMBERS else a + b
        for index, (a, b) in enumerate(zip(from_rows, columns, strict=True))
    )


def _int64(column: Any) -> pa.Array:
    """A number column as it came (int64 bytes, little-endian, or a tuple of ints) as an int64 array."""
    if type(column) is bytes:
        return pa.array(np.frombuffer(column, "<i8").astype(np.int64, copy=False), pa.int64())
    if isinstance(column, pa.Array):  # joined already (call_columns)
        return column
    return pa.array(column, pa.int64())


def _join(index: int, columns: Any) -> Any:
    """One column of several batches: tuples joined, number columns as one int64 array."""
    if index in CALL_NUMBERS:
        return pa.concat_arrays([_int64(c) for c in columns])
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
        joined = [_int64(c) if i in CALL_NUMBERS else c for i, c in enumerate(parts[0][1])]
    else:
        joined = [_join(i, [c[i] for _, c in parts]) for i in range(len(parts[0][1]))]
    (source, function, module, call_no, parent_no, start_ns, duration_ns, cpu_ns, rss0, rss1,
     thread, error_type, args, _route) = joined  # fmt: skip
    count = len(source)
    start = _numbers(start_ns)
    duration = duration_ns
    duration_np = _numbers(duration)
    resident = _rss_bytes(rss0 + rss1)  # one pass over both
    before, after = resident.slice(0, count), resident.slice(count)
    prefix_array = _per_batch([m[3] for m in metas], sizes, pa.string())
    distinct = {name: set(values) for name, values in
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
    columns = {
        "run_id": _per_batch(batch_values["run_id"], sizes, pa.string()),
        "call_id": _ids(prefix_array, call_no),
        "parent_id": _parent_ids(prefix_array, parent_no),
        "source": _text(source, distinct["source"]),
        "function": function_array,
        "module": _text(module, distinct["module"]),
        "start_time": _timestamps(_divided(start, 1000)),
        "end_time": _timestamps(_divided(start + duration_np, 1000)),
        "duration_s": pa.array(duration_np.astype(np.float64) / 1e9, pa.float64()),
        "cpu_time_s": _cpu_seconds(cpu_ns),
        "mem_delta_mib": _mib(after, before),
        "mem_final_mib": _mib(after),
        "pid": _per_batch(batch_values["pid"], sizes, pa.int64()),
        "process_name": _per_batch(batch_values["process_name"], sizes, pa.string()),
        "thread_name": _text(thread, distinct["thread_name"]),
        "host": _per_batch(batch_values["host"], sizes, pa.string()),
        "status": pa.repeat("ok", count) if no_error else pc.if_else(failed, "error", "ok"),
        "error_type": error_array,
        "args": args_column(args),
        "message": _messages(function_array, duration, error_array, failed),
    }
    plain = {name for name in _CHECKED if _plain(distinct.get(name) or batch_values[name])}
    if {"function", "error_type"} <= plain:
        plain.add("message")
    table = table_of_columns(columns)
    constant = _constant(table, {**distinct, **batch_values}, args, _nested(parent_no))
    return CallTable(table, frozenset(plain), constant)


def _constant(
    table: pa.Table, distinct: dict[str, Any], args: tuple[Any, ...], nested: bool
) -> dict[str, str]:
    """The JSON text of each column with one value in every row of the round (as json_lines writes it)."""
    one = [name for name, values in distinct.items() if len(set(values)) == 1]
    constant = {name: table.column(name)[0].as_py() for name in one}
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


def _four_hex_digits() -> pa.Array:
    """The texts 0000 to ffff, joined by columns from the 256 pairs of digits (a list of 65,536 strings
    takes 20 ms, at every start of a collector)."""
    pairs = pa.array([f"{i:02x}" for i in range(256)], pa.string())
    numbers = np.arange(1 << 16)
    return pc.binary_join_element_wise(pc.take(pairs, numbers >> 8), pc.take(pairs, numbers & 0xFF), "")


_HEX4: Final = _four_hex_digits()


def _ids(prefixes: pa.Array, numbers: pa.Array) -> pa.Array:
    """Call ids: each process's 24-character prefix and its call number as 12 hex digits (UUID-shaped)."""
    made = fixed.call_ids(prefixes, numbers.to_numpy(zero_copy_only=False))
    if made is not None:
        return made
    digits = [pc.take(_HEX4, pc.bit_wise_and(pc.shift_right(numbers, s), 0xFFFF)) for s in (32, 16, 0)]
    return pc.binary_join_element_wise(prefixes, *digits, "")


def _nested(parent_no: pa.Array) -> bool:
    """True if a call has an enclosing monitored call (a parent number other than 0)."""
    return bool(_numbers(parent_no).any())


def _parent_ids(prefixes: pa.Array, parent_no: Any) -> pa.Array | list[str]:
    numbers = _int64(parent_no)
    if not _nested(numbers):
        return [""] * len(numbers)
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
    if whole.null_count == 0 and (whole.to_numpy() < 1000).all():  # the usual: one call
        return pc.cast(whole, pa.string())
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

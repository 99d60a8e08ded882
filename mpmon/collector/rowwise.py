"""A round of a few call records written in plain Python: no Arrow call for its CSV rows, its timing.log
lines or its live figures.

A write round through the columns costs about 40 Arrow and numpy calls whatever its size (10-20 us each
on a loaded VM), and pool workers hand over one small batch per chunk of tasks, so rounds of a few
records are common: below `measures.ROW_BY_ROW` rows a Python loop costs less. `call_rows()` makes the
values tables.call_table makes (with rows.py's functions: call ids, messages, arguments, ISO times);
`csv_text()` and `json_lines()` write the bytes Arrow's CSV writer and lines.json_lines write for them.
A round holding anything the column path treats its own way (a number out of range, a text that is not
a str, a malformed field) is declined (None) and takes the column path, which writes or rejects it as
before.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa

from .. import probe, rows, schema
from ..wire import CALL_NUMBERS
from .lines import json_escape

__all__ = ["RowRound", "arrow_float", "call_rows", "csv_text", "json_lines"]

_INT64: Final = 1 << 63
_ID_NUMBERS: Final = 1 << 48  # a call number's 12 hex digits
_MIB: Final = 1024.0 * 1024.0
_SAFE_BYTES: Final = 1 << 53  # resident sizes whose differences a float64 holds exactly
_KINDS: Final = tuple(c.kind for c in schema.COLUMNS)
_QUOTE: Final = tuple('"' if kind in ("string", "timestamp") else "" for kind in _KINDS)
_JSON_HEAD: Final = tuple(
    f'{_QUOTE[i - 1] if i else chr(34)},"{c.name}":{_QUOTE[i]}' for i, c in enumerate(schema.COLUMNS)
)
"""The text before each column's value in a timing.log line: the previous value's closing quote, the
column's name, and the quote of a text."""


class RowRound(NamedTuple):
    """The results rows of a round as Python lists, one per column of schema.COLUMNS (timestamps in
    microseconds since the epoch), and the ISO text of the timestamps (as the CSV holds them)."""

    columns: dict[str, list[Any]]
    iso: dict[str, list[str]]

    @property
    def num_rows(self) -> int:
        return len(self.columns["call_id"])

    def take(self, indices: list[int]) -> RowRound:
        """The rows at these indices."""
        return RowRound(
            {name: [values[i] for i in indices] for name, values in self.columns.items()},
            {name: [values[i] for i in indices] for name, values in self.iso.items()},
        )

    def table(self) -> pa.Table:
        """The rows as an Arrow table of the results schema (for the Parquet sink)."""
        arrays = [pa.array(self.columns[field.name], field.type) for field in _ARROW_SCHEMA]
        return pa.Table.from_arrays(arrays, schema=_ARROW_SCHEMA)

    def dicts(self) -> list[dict[str, Any]]:
        """Each row as a dict of column name to value (for the console's lines)."""
        names = list(self.columns)
        return [dict(zip(names, row)) for row in zip(*self.columns.values())]


_ARROW_SCHEMA: Final = schema.arrow_schema()


def call_rows(parts: list[tuple[tuple[Any, ...], Any]], run_id: str) -> RowRound | None:
    """The results rows of the call records of a round's batches (each with its meta: wire.META_FIELDS),
    as tables.call_table would make them; None if any value is one the column path treats otherwise."""
    try:
        return _call_rows(parts, run_id)
    except Exception:  # whatever a hostile batch holds: the column path decides what to do with it
        return None


class _Declined(Exception):
    """A value this path does not make the way the column path does."""


def _call_rows(parts: list[tuple[tuple[Any, ...], Any]], run_id: str) -> RowRound | None:
    from .tables import call_columns

    out: dict[str, list[Any]] = {name: [] for name in schema.COLUMN_NAMES}
    iso: dict[str, list[str]] = {name: [] for name in schema.TIMESTAMP_COLUMNS}
    probe_ns = probe.cpu_probe_ns()
    for meta, calls in parts:
        pid, process_name, host, prefix, sender_run = meta
        calls = call_columns(calls) if type(calls) is list else calls
        columns = [_numbers(c) if i in CALL_NUMBERS else c for i, c in enumerate(calls)]
        (source, function, module, call_no, parent_no, start_ns, duration_ns, cpu_ns, rss0, rss1,
         thread, error_type, args, _route) = columns  # fmt: skip
        count = len(source)
        if any(len(c) != count for c in columns) or type(pid) is not int or not -_INT64 <= pid < _INT64:
            return None
        texts = [_texts(values) for values in (source, function, module, thread, error_type)]
        source, function, module, thread, error_type = texts
        prefix, process_name, host, sender_run = _texts((prefix, process_name, host, sender_run or run_id))
        for i in range(count):
            start, duration, failed = start_ns[i], duration_ns[i], error_type[i] != ""
            end = start + duration
            if not (start >= 0 and 0 <= end < _INT64):  # the column path's ISO times and int64 sums
                return None
            after, before = _resident(rss1[i]), _resident(rss0[i])
            cpu = cpu_ns[i]
            row = (
                sender_run,
                _call_id(prefix, call_no[i]),
                _call_id(prefix, parent_no[i]) if parent_no[i] else "",
                source[i],
                function[i],
                module[i],
                start // 1000,
                end // 1000,
                duration / 1e9,
                None if cpu < 0 else max(cpu - probe_ns, 0) / 1e9,
                None if after is None or before is None else (after - before) / _MIB,
                None if after is None else after / _MIB,
                pid,
                process_name,
                thread[i],
                host,
                "error" if failed else "ok",
                error_type[i],
                rows.args_json(args[i]),
                rows.message(function[i], duration, error_type[i]),
            )
            for values, value in zip(out.values(), row):
                values.append(value)
            iso["start_time"].append(rows.iso_utc(start - start % 1000))
            iso["end_time"].append(rows.iso_utc(end - end % 1000))
    return RowRound(out, iso)


def _numbers(column: Any) -> list[int]:
    """A number column as it came (int64 bytes, little-endian, or a tuple of ints) as Python ints."""
    if type(column) is bytes:
        values: list[int] = np.frombuffer(column, "<i8").tolist()
        return values
    if not all(type(v) is int and -_INT64 <= v < _INT64 for v in column):
        raise _Declined("a number the column path reads otherwise")
    return list(column)


def _texts(values: Any) -> list[str]:
    """Texts as the results hold them (tables.text_array): lone surrogates backslash-escaped."""
    if not all(type(v) is str for v in values):
        raise _Declined("a text that is not a str")
    try:
        "".join(values).encode()
        return list(values)
    except UnicodeError:
        return [v.encode("utf-8", "backslashreplace").decode() for v in values]


def _call_id(prefix: str, number: int) -> str:
    if not 0 <= number < _ID_NUMBERS:
        raise _Declined("a call number past 12 hex digits")
    return f"{prefix}{number:012x}"


def _resident(raw: Any) -> int | None:
    """Resident bytes of a probe.rss_raw() value (None when not tracked), as measures.rss_bytes reads it."""
    if type(raw) is int and raw == -1:
        return None
    value = probe.rss_of(raw)
    if type(value) is not int or not 0 <= value < _SAFE_BYTES:
        raise _Declined("a resident size the column path reads otherwise")
    return value


def arrow_float(value: float) -> str:
    """A float as Arrow writes it in text (CSV, cast to string): the shortest digits that read back, in
    decimal notation for exponents from -6 to 9 and in scientific notation (1e-7, 1.5e+10) beyond."""
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    sign = "-" if text[0] == "-" else ""
    mantissa, _, exponent = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))  # 0.digits x 10**point
    digits = digits.rstrip("0")
    if not digits:
        return sign + "0"
    if -6 <= point - 1 < 10:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits))
        return f"{sign}{digits[:point]}.{digits[point:]}"
    rest = f".{digits[1:]}" if len(digits) > 1 else ""
    return f"{sign}{digits[0]}{rest}e{'+' if point > 0 else '-'}{abs(point - 1)}"


def _csv_value(kind: str, value: Any) -> str:
    if kind == "string" or kind == "timestamp":
        return f'"{value.replace(chr(34), chr(34) * 2)}"'
    if value is None:
        return ""
    return str(value) if kind == "int" else arrow_float(value)


def _texts_of(round_: RowRound) -> Any:
    """Each column's values, the timestamps as their ISO text."""
    return (round_.iso.get(name, values) for name, values in round_.columns.items())


def csv_text(round_: RowRound) -> bytes:
    """The round's CSV rows as Arrow's CSV writer writes them (every text quoted, quotes doubled, an
    empty field for a null, floats as Arrow formats them)."""
    columns = [[_csv_value(kind, v) for v in values] for kind, values in zip(_KINDS, _texts_of(round_))]
    return "".join(",".join(row) + "\n" for row in zip(*columns)).encode()


def _json_value(kind: str, value: Any) -> str:
    if kind == "string" or kind == "timestamp":
        return json_escape(value)
    if value is None:
        return "null"
    return str(value) if kind == "int" else arrow_float(value)


def json_lines(round_: RowRound) -> list[str]:
    """The round's timing.log call lines (without their newline), as lines.json_lines writes them."""
    columns = round_.columns
    texts = [[_json_value(kind, v) for v in values] for kind, values in zip(_KINDS, _texts_of(round_))]
    closing = _QUOTE[-1]
    lines = []
    for index, row in enumerate(zip(*texts)):
        level = "ERROR" if columns["status"][index] == "error" else "INFO"
        head = f'{{"timestamp":"{round_.iso["end_time"][index]}","level":"{level}","event":"call",'
        body = "".join(f"{name}{value}" for name, value in zip(_JSON_HEAD, row))
        lines.append(f'{head}"uuid":"{columns["call_id"][index]}{body}{closing}}}')
    return lines

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

from json.encoder import encode_basestring as _quoted
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa

from .. import probe, rows, schema
from ..wire import CALL_NUMBERS
from .tables import ARROW_SCHEMA, call_columns

__all__ = ["RowRound", "arrow_float", "call_rows", "csv_text", "json_lines"]

_INT64: Final = 1 << 63
_ID_NUMBERS: Final = 1 << 48  # a call number's 12 hex digits
_MIB: Final = 1024.0 * 1024.0
_SAFE_BYTES: Final = 1 << 53  # resident sizes whose differences a float64 holds exactly
_KINDS: Final = tuple(c.kind for c in schema.COLUMNS)
_JSON_LINE: Final = (
    '{{"timestamp":{},"level":"{}","event":"call","uuid":{}'
    + "".join(f',"{name}":{{}}' for name in schema.COLUMN_NAMES)
    + "}}"
)
"""A timing.log call line, its values (texts with their quotes) to fill in: the end time, the level,
the call id, then every column."""
_END: Final = schema.COLUMN_NAMES.index("end_time")
_CALL_ID: Final = schema.COLUMN_NAMES.index("call_id")


class RowRound(NamedTuple):
    """The results rows of a round as Python lists, one per column of schema.COLUMNS (timestamps in
    microseconds since the epoch), and the text of the timestamps (ISO) and of the floats (Arrow's,
    None for a null), the same in the CSV and in timing.log."""

    columns: dict[str, list[Any]]
    texts: dict[str, list[Any]]

    @property
    def num_rows(self) -> int:
        return len(self.columns["call_id"])

    def take(self, indices: list[int]) -> RowRound:
        """The rows at these indices."""
        return RowRound(
            {name: [values[i] for i in indices] for name, values in self.columns.items()},
            {name: [values[i] for i in indices] for name, values in self.texts.items()},
        )

    def table(self) -> pa.Table:
        """The rows as an Arrow table of the results schema (for the Parquet sink)."""
        arrays = [pa.array(self.columns[field.name], field.type) for field in ARROW_SCHEMA]
        return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)

    def dicts(self) -> list[dict[str, Any]]:
        """Each row as a dict of column name to value (for the console's lines)."""
        names = list(self.columns)
        return [dict(zip(names, row)) for row in zip(*self.columns.values())]


def call_rows(parts: list[tuple[tuple[Any, ...], Any]], run_id: str) -> RowRound | None:
    """The results rows of the call records of a round's batches (each with its meta: wire.META_FIELDS),
    as tables.call_table would make them; None if any value is one the column path treats otherwise."""
    try:
        columns: dict[str, list[Any]] = {name: [] for name in schema.COLUMN_NAMES}
        for meta, calls in parts:
            for name, values in _batch_rows(meta, calls, run_id).items():
                columns[name] += values
    except Exception:  # whatever a hostile batch holds: the column path decides what to do with it
        return None
    texts: dict[str, list[Any]] = {
        name: [rows.iso_utc(us * 1000) for us in columns[name]] for name in schema.TIMESTAMP_COLUMNS
    }
    for name in _FLOATS:  # no -0.0 among them (each is an int over a positive number), so keyed by value:
        found: dict[float, str] = {}  # memory figures repeat
        texts[name] = [None if v is None else found.get(v) or found.setdefault(v, arrow_float(v))
                       for v in columns[name]]  # fmt: skip
    return RowRound(columns, texts)


_FLOATS: Final = tuple(c.name for c in schema.COLUMNS if c.kind == "float")


class _Declined(Exception):
    """A value this path does not make the way the column path does."""


def _batch_rows(meta: tuple[Any, ...], calls: Any, run_id: str) -> dict[str, list[Any]]:
    """The results columns of one batch's call records (_Declined, or anything, if it cannot)."""
    pid, process_name, host, prefix, sender_run = meta
    calls = call_columns(calls) if type(calls) is list else calls
    columns = [_numbers(c) if i in CALL_NUMBERS else c for i, c in enumerate(calls)]
    (source, function, module, call_no, parent_no, start_ns, duration_ns, cpu_ns, rss0, rss1,
     thread, error_type, args, _route) = columns  # fmt: skip
    count = len(source)
    if any(len(c) != count for c in columns) or type(pid) is not int or not -_INT64 <= pid < _INT64:
        raise _Declined("columns of different lengths, or a pid that is not an int64")
    source, function, module, thread, error_type = map(_texts, (source, function, module, thread, error_type))
    prefix, process_name, host, sender_run = _texts((prefix, process_name, host, sender_run or run_id))
    ends = [start + duration for start, duration in zip(start_ns, duration_ns)]
    if min(start_ns) < 0 or min(ends) < 0 or max(ends) >= _INT64:  # the column path's ISO times, int64 sums
        raise _Declined("a time before 1970 or past int64")
    known: dict[bytes, int | None] = {}  # statm lines repeat: a process's memory changes little

    def resident(raw: Any) -> int | None:
        if type(raw) is not bytes:
            return _resident(raw)
        found = known.get(raw)
        if found is None:
            found = known[raw] = _resident(raw)
        return found

    after, before = list(map(resident, rss1)), list(map(resident, rss0))
    probe_ns = probe.cpu_probe_ns()
    return {
        "run_id": [sender_run] * count,
        "call_id": [_call_id(prefix, n) for n in call_no],
        "parent_id": [_call_id(prefix, n) if n else "" for n in parent_no],
        "source": source,
        "function": function,
        "module": module,
        "start_time": [start // 1000 for start in start_ns],
        "end_time": [end // 1000 for end in ends],
        "duration_s": [duration / 1e9 for duration in duration_ns],
        "cpu_time_s": [None if cpu < 0 else max(cpu - probe_ns, 0) / 1e9 for cpu in cpu_ns],
        "mem_delta_mib": [None if a is None or b is None else (a - b) / _MIB for a, b in zip(after, before)],
        "mem_final_mib": [None if a is None else a / _MIB for a in after],
        "pid": [pid] * count,
        "process_name": [process_name] * count,
        "thread_name": thread,
        "host": [host] * count,
        "status": ["error" if e else "ok" for e in error_type],
        "error_type": error_type,
        "args": list(map(rows.args_json, args)),
        "message": list(map(rows.message, function, duration_ns, error_type)),
    }


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
    if set(map(type, values)) != {str}:
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
    """A float as Arrow writes it in text (CSV, cast to string): the shortest digits that read back (as
    repr's), in decimal notation for exponents from -6 to 9 and in scientific notation (1e-7, 1.5e+10)
    beyond, with no zero before the exponent's digits and no ".0" after a whole number."""
    text = repr(value)
    if "e" in text:  # repr: exponents below -4 and from 16 on
        mantissa, _, exponent = text.partition("e")
        power = int(exponent)
        if power < -6:
            return f"{mantissa}e-{-power}"
        if power >= 10:
            return f"{mantissa}e+{power}"
        sign, digits = ("-", mantissa[1:]) if mantissa[0] == "-" else ("", mantissa)
        return f"{sign}0.{'0' * (-power - 1)}{digits.replace('.', '')}"
    if -1e10 < value < 1e10:  # repr's decimal notation, but "12" for "12.0"
        return text[:-2] if text.endswith(".0") else text
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
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


def _csv_texts(kind: str, values: list[Any]) -> list[str]:
    if kind == "string" or kind == "timestamp":
        if '"' not in "".join(values):  # the usual: no quote to double
            return ['"' + v + '"' for v in values]
        return ['"' + v.replace('"', '""') + '"' for v in values]
    if kind == "int":
        return [str(v) for v in values]
    return ["" if v is None else v for v in values]  # the floats' texts


def _texts_of(round_: RowRound) -> Any:
    """Each column's values, the timestamps and floats as their text."""
    return (round_.texts.get(name, values) for name, values in round_.columns.items())


def csv_text(round_: RowRound) -> bytes:
    """The round's CSV rows as Arrow's CSV writer writes them (every text quoted, quotes doubled, an
    empty field for a null, floats as Arrow formats them)."""
    columns = [_csv_texts(kind, values) for kind, values in zip(_KINDS, _texts_of(round_))]
    return "".join(",".join(row) + "\n" for row in zip(*columns)).encode()


def _json_texts(kind: str, values: list[Any]) -> list[str]:
    if kind == "string" or kind == "timestamp":
        return list(map(_quoted, values))
    if kind == "int":
        return [str(v) for v in values]
    return ["null" if v is None else v for v in values]  # the floats' texts


def json_lines(round_: RowRound) -> list[str]:
    """The round's timing.log call lines (without their newline), as lines.json_lines writes them."""
    texts = [_json_texts(kind, values) for kind, values in zip(_KINDS, _texts_of(round_))]
    levels = ["ERROR" if status == "error" else "INFO" for status in round_.columns["status"]]
    ends, ids = texts[_END], texts[_CALL_ID]
    return [_JSON_LINE.format(*row) for row in zip(ends, levels, ids, *texts)]

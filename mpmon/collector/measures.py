"""The columns of a call table made from a record's numbers: timestamps, CPU seconds, resident memory in
MiB and call ids, by numpy over whole columns (Arrow only where numpy cannot make the text).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import probe
from . import fixed

__all__ = [
    "ROW_BY_ROW",
    "as_numpy",
    "cpu_seconds",
    "divided",
    "ids",
    "int64",
    "mib",
    "nested",
    "parent_ids",
    "rss_bytes",
    "statm_pages",
    "timestamps",
]

_MIB: Final = 1024.0 * 1024.0
SMALL_ROUND: Final = 256
"""Below this many values, a Python loop costs less than the fixed cost of a chain of Arrow calls."""
_TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
ROW_BY_ROW: Final = 128
"""A round of fewer rows is written in plain Python (rowwise.py: rows.py's functions, which spill files
use, and no Arrow table but for Parquet); if it cannot be, its call ids, messages, arguments and
timestamps are made row by row. Below this, the fixed cost of a round's Arrow calls (about 40, 5-20 us
each) is more than the loop (measured crossover: 150-200 rows). Read at each call (tests set it to check
both paths write the same bytes)."""
_MATRIX_ROWS: Final = 64
"""From this many statm lines on, statm_pages() (a few numpy calls) costs less than a Python loop."""


def rss_bytes(raw: tuple[Any, ...]) -> pa.Array:
    """Resident bytes from probe.rss_raw() values (statm lines, ints, -1 for untracked) as int64 (null)."""
    from ..probe import PAGE_SIZE, rss_of

    if raw.count(-1) == len(raw):  # not tracked
        return pa.nulls(len(raw), pa.int64())
    if type(raw[0]) is bytes and len(raw) > _MATRIX_ROWS:
        pages = statm_pages(raw)
        if pages is not None:
            return pa.array(pages * PAGE_SIZE, pa.int64())
    if type(raw[0]) is bytes and len(raw) > SMALL_ROUND:  # a few Arrow calls: worth it for many rows
        try:
            pages = pc.list_element(pc.split_pattern(pa.array(raw, pa.binary()), b" ", max_splits=2), 1)
            return pc.multiply(pc.cast(pc.cast(pages, pa.string()), pa.int64()), PAGE_SIZE)
        except (pa.ArrowException, TypeError):
            pass
    return pa.array([None if r == -1 else rss_of(r) for r in raw], pa.int64())


_PAGES_DIGITS: Final = 12
_WHITESPACE: Final = np.isin(np.arange(256), list(b" \t\n\r\x0b\x0c"))
"""Which bytes end a field for bytes.split(): a lookup table by byte value."""


def statm_pages(raw: tuple[Any, ...]) -> np.ndarray | None:
    """The second field (resident pages) of /proc/self/statm lines, read by numpy as a matrix of bytes;
    None unless the lines are all as long, with their first two fields of digits at the same places, one
    space between them (the usual round: the sizes of one process change little), as probe.rss_of reads
    them."""
    first_line = raw[0]
    matrix: np.ndarray | None
    if set(map(type, raw)) == {bytes}:  # the usual: joined, no Arrow array of them
        if set(map(len, raw)) != {len(first_line)}:
            return None
        matrix = np.frombuffer(b"".join(raw), np.uint8).reshape(len(raw), len(first_line))
    else:
        try:
            lines = pa.array(raw, pa.binary())
        except (pa.ArrowException, TypeError):  # not all bytes (-1 for an untracked call, ints)
            return None
        matrix = fixed.text_matrix(lines, len(first_line))
    space = first_line.find(b" ")
    second = first_line[space + 1 :]
    end = space + 1 + len(second) - len(second.lstrip(b"0123456789"))  # where the second field ends
    if matrix is None or space < 1 or not 0 < end - space - 1 <= _PAGES_DIGITS:
        return None
    pages = matrix[:, space + 1 : end] - ord("0")  # uint8: a byte below "0" wraps to 10 or more
    fields_ok = (matrix[:, :space] - ord("0") < 10).all() and (pages < 10).all()
    if not fields_ok or not (matrix[:, space] == ord(" ")).all():
        return None
    if end < matrix.shape[1] and not _WHITESPACE[matrix[:, end]].all():
        return None
    values: np.ndarray = pages.astype(np.int64) @ 10 ** np.arange(end - space - 2, -1, -1, dtype=np.int64)
    return values


def cpu_seconds(raw: pa.Array) -> pa.Array:
    """Seconds of CPU time from raw CPU-clock differences, less the probe's own cost (probe.call_cpu_ns);
    null where resources were not tracked (-1)."""
    values = as_numpy(raw)
    untracked = values < 0
    if untracked.all():
        return pa.nulls(len(values), pa.float64())
    seconds = np.maximum(values - probe.cpu_probe_ns(), 0).astype(np.float64) / 1e9
    return pa.array(seconds, pa.float64(), mask=untracked)


def as_numpy(values: pa.Array) -> np.ndarray:
    """The int64 values of an array without nulls (a null where a number belongs: ValueError)."""
    if values.null_count:
        raise ValueError("a call record without one of its numbers")
    numbers: np.ndarray = values.to_numpy()
    return numbers


def divided(values: np.ndarray, by: int) -> np.ndarray:
    """Integer division rounding toward zero, as Arrow's divide of integers."""
    whole: np.ndarray = values // by + ((values % by != 0) & (values < 0))
    return whole


def timestamps(microseconds: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(_TIMESTAMP, len(microseconds), [None, pa.py_buffer(microseconds)])


def mib(resident: pa.Array, subtract: pa.Array | None = None) -> pa.Array:
    """Resident bytes (less `subtract`) in MiB; null where not tracked."""
    if resident.null_count == len(resident):
        return pa.nulls(len(resident), pa.float64())
    if resident.null_count == 0 and (subtract is None or subtract.null_count == 0):  # by numpy
        values = resident.to_numpy() - (0 if subtract is None else subtract.to_numpy())
        return pa.array(values.astype(np.float64) / _MIB, pa.float64())
    if subtract is not None:
        resident = pc.subtract(resident, subtract)
    return pc.divide(pc.cast(resident, pa.float64()), _MIB)


def int64(column: Any) -> pa.Array:
    """A number column as it came (int64 bytes, little-endian, or a tuple of ints) as an int64 array."""
    if type(column) is bytes:
        return pa.array(np.frombuffer(column, "<i8").astype(np.int64, copy=False), pa.int64())
    if isinstance(column, pa.Array):  # joined already (call_columns)
        return column
    return pa.array(column, pa.int64())


def _four_hex_digits() -> pa.Array:
    """The texts 0000 to ffff, joined by columns from the 256 pairs of digits (a list of 65,536 strings
    takes 20 ms, at every start of a collector)."""
    pairs = pa.array([f"{i:02x}" for i in range(256)], pa.string())
    numbers = np.arange(1 << 16)
    return pc.binary_join_element_wise(pc.take(pairs, numbers >> 8), pc.take(pairs, numbers & 0xFF), "")


_HEX4: Final = _four_hex_digits()


def ids(prefixes: pa.Array, numbers: pa.Array) -> pa.Array:
    """Call ids: each process's 24-character prefix and its call number as 12 hex digits (UUID-shaped)."""
    if len(numbers) < ROW_BY_ROW:
        values = numbers.to_pylist()
        if all(0 <= n < 1 << 48 for n in values):
            return pa.array([f"{p}{n:012x}" for p, n in zip(prefixes.to_pylist(), values)], pa.string())
    made = fixed.call_ids(prefixes, numbers.to_numpy(zero_copy_only=False))
    if made is not None:
        return made
    digits = [pc.take(_HEX4, pc.bit_wise_and(pc.shift_right(numbers, s), 0xFFFF)) for s in (32, 16, 0)]
    return pc.binary_join_element_wise(prefixes, *digits, "")


def nested(parent_no: pa.Array) -> bool:
    """True if a call has an enclosing monitored call (a parent number other than 0)."""
    return bool(as_numpy(parent_no).any())


def parent_ids(prefixes: pa.Array, parent_no: Any) -> pa.Array | list[str]:
    """Parent call ids: "" for a call without an enclosing monitored call (parent number 0)."""
    values = int64(parent_no)
    if not nested(values):
        return [""] * len(values)
    return pc.if_else(pc.equal(values, 0), "", ids(prefixes, values))

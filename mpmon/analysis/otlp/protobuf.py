"""Protocol Buffers wire format, written by hand: one value at a time, or a whole column at once.

Building a million ``Span`` messages through the generated classes costs tens of microseconds each; the
OTLP messages mpmon sends use five field kinds only (varint, fixed64, bytes/string/sub-message), so a
column of spans is built here with numpy and Arrow: each field of every row at once, joined row-wise.
The result is byte-for-byte the encoding the official classes read back (the tests decode it with them).

Column functions take and return Arrow ``binary`` arrays with one value per row and no nulls; an empty
value means "field absent" (protobuf skips nothing: absent fields are simply not written).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "FIXED64",
    "LEN",
    "VARINT",
    "column",
    "constant",
    "double_kv",
    "field",
    "fixed64_column",
    "int_kv",
    "join",
    "length_delimited",
    "message_column",
    "optional",
    "string_attributes",
    "string_kv",
    "tag",
    "varint",
    "varint_sizes",
    "varints",
]

VARINT, FIXED64, LEN = 0, 1, 2  # wire types
_MAX_VARINT = 10  # bytes of a 64-bit varint


# --- one value -----------------------------------------------------------------------------------------


def tag(number: int, wire_type: int) -> bytes:
    """A field's key: its number and wire type."""
    return varint(number << 3 | wire_type)


def varint(value: int) -> bytes:
    """An unsigned integer as a base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (bytes, string or sub-message)."""
    return tag(number, LEN) + varint(len(payload)) + payload


def string_kv(key: str, value: str) -> bytes:
    """A ``KeyValue`` holding a string (``AnyValue.string_value``, field 1)."""
    return field(1, key.encode()) + field(2, field(1, value.encode("utf-8", "replace")))


def int_kv(key: str, value: int) -> bytes:
    """A ``KeyValue`` holding an integer (``AnyValue.int_value``, field 3, two's complement)."""
    return field(1, key.encode()) + field(2, tag(3, VARINT) + varint(value & 0xFFFFFFFFFFFFFFFF))


def double_kv(key: str, value: float) -> bytes:
    """A ``KeyValue`` holding a double (``AnyValue.double_value``, field 4)."""
    return field(1, key.encode()) + field(2, tag(4, FIXED64) + np.float64(value).astype("<f8").tobytes())


# --- a column ------------------------------------------------------------------------------------------


def column(values: list[bytes]) -> pa.Array:
    """Python byte strings as a binary column."""
    return pa.array(values, pa.binary())


def constant(value: bytes) -> pa.Scalar:
    """The same bytes on every row (a scalar that :func:`join` repeats)."""
    return pa.scalar(value, pa.binary())


def varints(values: Any) -> pa.Array:
    """Each non-negative integer of ``values`` as a varint: the 7-bit groups of all rows at once."""
    v = np.asarray(values, dtype=np.uint64)
    sizes = varint_sizes(v)
    width = int(sizes.max()) if len(v) else 1
    groups = (v[:, None] >> (np.arange(width, dtype=np.uint64) * np.uint64(7))) & np.uint64(0x7F)
    position = np.arange(width)[None, :]
    more = (position < (sizes[:, None] - 1)).astype(np.uint8) << 7
    data = (groups.astype(np.uint8) | more)[position < sizes[:, None]]
    offsets = np.zeros(len(v) + 1, dtype=np.int32)
    np.cumsum(sizes, out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), len(v), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def varint_sizes(values: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    """How many bytes each value takes as a varint."""
    v = np.asarray(values, dtype=np.uint64)
    sizes = np.ones(len(v), dtype=np.int64)
    for i in range(1, _MAX_VARINT):
        sizes += v >= np.uint64(1) << np.uint64(7 * i)
    return sizes


def length_delimited(number: int, payload: pa.Array) -> pa.Array:
    """Field ``number`` holding each row's ``payload`` (binary or string column)."""
    payload = payload.cast(pa.binary())
    lengths = pc.binary_length(payload).to_numpy(zero_copy_only=False)
    return join(constant(tag(number, LEN)), varints(lengths), payload)


def fixed64_column(number: int, values: Any) -> pa.Array:
    """Field ``number`` holding each row's 64-bit value (``uint64`` nanoseconds or ``float64``)."""
    raw = np.ascontiguousarray(values)
    raw = raw.astype("<f8" if raw.dtype.kind == "f" else "<u8").view(np.uint8).reshape(-1, 8)
    key = tag(number, FIXED64)
    out = np.empty((len(raw), len(key) + 8), dtype=np.uint8)
    out[:, : len(key)] = np.frombuffer(key, dtype=np.uint8)
    out[:, len(key) :] = raw
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(out.shape[1]), len(raw), [None, pa.py_buffer(out)])
    return fixed.cast(pa.binary())


def message_column(number: int, *parts: pa.Array | pa.Scalar) -> pa.Array:
    """Field ``number`` holding, per row, the concatenation of ``parts`` (one copy: the length is summed
    from the parts, not measured after joining them)."""
    rows = next(len(p) for p in parts if not isinstance(p, pa.Scalar))
    size = np.zeros(rows, dtype=np.int64)
    for p in parts:
        if isinstance(p, pa.Scalar):
            size += len(p.as_py())
        else:
            size += pc.binary_length(p).to_numpy(zero_copy_only=False)
    return join(constant(tag(number, LEN)), varints(size), *parts)


def string_attributes(number: int, key: str, values: pa.Array) -> pa.Array:
    """Field ``number`` holding a ``KeyValue`` of ``key`` and each row's string (``AnyValue`` field 1).

    The three nested lengths are computed, not measured, so the row is joined once.
    """
    values = values.cast(pa.binary())
    key_field = field(1, key.encode())
    text = pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.int64)
    any_value = 1 + varint_sizes(text) + text
    key_value = len(key_field) + 1 + varint_sizes(any_value) + any_value
    return join(
        constant(tag(number, LEN)),
        varints(key_value),
        constant(key_field + tag(2, LEN)),
        varints(any_value),
        constant(tag(1, LEN)),
        varints(text),
        values,
    )


def join(*columns: pa.Array | pa.Scalar) -> pa.Array:
    """The columns' values concatenated row by row (one contiguous array)."""
    joined = pc.binary_join_element_wise(*columns, b"")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def optional(present: Any, values: pa.Array) -> pa.Array:
    """``values`` where ``present`` is true, the empty value (field absent) elsewhere."""
    mask = np.asarray(present, dtype=bool)
    if mask.all():
        return values
    chosen = pc.if_else(pa.array(mask), values, pa.scalar(b"", pa.binary()))
    return chosen.combine_chunks() if isinstance(chosen, pa.ChunkedArray) else chosen

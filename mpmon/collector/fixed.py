"""Text columns of fixed width, made with numpy on the bytes of Arrow arrays: no Python step per row.

The collector's results hold two kinds of text whose width never varies: call ids (a 24-character
prefix and 12 hex digits) and ISO timestamps (32 characters). Arrow's string kernels build them in
several passes with a copy each; here each is one matrix of bytes. Every function returns None when
its input is not of the expected shape, and the caller then takes the general path, so the result is
the same either way.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa

__all__ = ["call_ids", "from_matrix", "iso_text", "text_matrix"]

_HEX: Final = np.frombuffer(b"0123456789abcdef", np.uint8)
_SHIFTS: Final = np.arange(44, -1, -4, dtype=np.int64)  # 12 hex digits, most significant first
_ISO_WIDTH: Final = 26  # "2026-11-25 18:43:13.963583", Arrow's text of a timestamp("us")
_UTC: Final = np.frombuffer(b"+00:00", np.uint8)
_SPACE: Final = ord(" ")


def text_matrix(values: pa.Array, width: int) -> np.ndarray | None:
    """The bytes of a string or binary array (no nulls) whose values are all `width` bytes long, one row
    per value; None for any other array."""
    if values.null_count or len(values) == 0:
        return None
    offsets_buffer, data = values.buffers()[1:3]
    if offsets_buffer is None or data is None:
        return None
    offsets = np.frombuffer(offsets_buffer, np.int32)[values.offset : values.offset + len(values) + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    if last - first != width * len(values) or not (np.diff(offsets) == width).all():
        return None
    return np.frombuffer(data, np.uint8)[first:last].reshape(len(values), width)


def from_matrix(matrix: np.ndarray) -> pa.Array:
    """A string array of the rows of a byte matrix (ASCII text, each row a value)."""
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(matrix)
    return pa.Array.from_buffers(pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def call_ids(prefixes: pa.Array, numbers: np.ndarray) -> pa.Array | None:
    """prefix + the low 48 bits of each number as 12 hex digits, for 24-byte prefixes; None otherwise."""
    prefix = text_matrix(prefixes, 24)
    if prefix is None or len(numbers) != len(prefixes):
        return None
    out = np.empty((len(numbers), 36), np.uint8)
    out[:, :24] = prefix
    out[:, 24:] = _HEX[(numbers.astype(np.int64)[:, None] >> _SHIFTS) & 0xF]
    return from_matrix(out)


def iso_text(text: pa.Array) -> pa.Array | None:
    """Arrow's text of UTC timestamps ("2026-11-25 18:43:13.963583") as ISO 8601 with its offset
    ("2026-11-25T18:43:13.963583+00:00"); None unless every value has that shape."""
    matrix = text_matrix(text, _ISO_WIDTH)
    if matrix is None or not (matrix[:, 10] == _SPACE).all():
        return None
    out = np.empty((len(matrix), _ISO_WIDTH + 6), np.uint8)
    out[:, :_ISO_WIDTH] = matrix
    out[:, 10] = ord("T")
    out[:, _ISO_WIDTH:] = _UTC
    return from_matrix(out)

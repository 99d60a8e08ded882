"""The results' `args` column by columns: rows.args_json() of every call of a round, without a Python
step per row for the common case.

A call's arguments arrive rendered, `((positional reprs), ((name, repr), ...))` or None. Positional
texts of printable ASCII without quotes or backslashes (ints, floats, short words, most reprs) need no
escaping in JSON, so their JSON is joined by Arrow. The rest (keyword arguments, texts JSON escapes,
anything of another shape) takes rows.args_json() row by row, so every row is exactly its text.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..rows import args_json
from . import measures

__all__ = ["args_column"]

_SHAPE: Final = pa.struct([("args", pa.list_(pa.string())), ("kwargs", pa.list_(pa.list_(pa.string())))])
_ESCAPES: Final = np.array([b < 0x20 or b in b'"\\' or b > 0x7E for b in range(256)])
"""The bytes json's encode_basestring_ascii escapes (or that belong to a character it escapes), by value."""


def args_column(args: tuple[Any, ...]) -> pa.Array | list[str]:
    """rows.args_json() of each call's arguments, "" for a call without any."""
    if not any(args):
        return [""] * len(args)
    if len(args) < measures.ROW_BY_ROW:
        return [args_json(a) for a in args]
    try:
        rendered = pa.array(args, _SHAPE)
    except (pa.ArrowException, TypeError, ValueError, UnicodeError):  # not the usual shape: row by row
        return [args_json(a) for a in args]
    positional, named = rendered.field("args"), rendered.field("kwargs")
    count = np.diff(positional.offsets.to_numpy())
    by_python = count == 0  # no positional argument, or no arguments at all (None): rare
    if len(named.flatten()):
        by_python |= np.diff(named.offsets.to_numpy()) > 0
    escaped = _escaped(positional.flatten())
    if escaped.any():
        by_python[np.repeat(np.arange(len(args)), count)[escaped]] = True
    listed = pc.binary_join(positional, '","')
    text = pc.binary_join_element_wise('{"args":["', listed, '"],"kwargs":{}}', "")
    if by_python.any():
        where = np.flatnonzero(by_python)
        slow = pa.array([args_json(args[i]) for i in where], pa.string())
        text = pc.replace_with_mask(text, pa.array(by_python), slow)
    return text


def _escaped(texts: pa.Array) -> np.ndarray:
    """Which texts hold a character JSON escapes (as json's encode_basestring_ascii: a control character,
    a quote, a backslash, anything past "~"), by one numpy pass over their UTF-8 bytes: every byte of a
    character past "~" is 0x80 or above."""
    found = np.zeros(len(texts), np.bool_)
    offsets, data = texts.buffers()[1:3]
    if offsets is None or data is None or len(texts) == 0:
        return found
    ends = np.frombuffer(offsets, np.int32)[texts.offset : texts.offset + len(texts) + 1]
    where = np.flatnonzero(_ESCAPES[np.frombuffer(data, np.uint8)[ends[0] : ends[-1]]])
    found[np.searchsorted(ends, where + ends[0], side="right") - 1] = True
    return found

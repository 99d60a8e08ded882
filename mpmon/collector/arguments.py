"""The results' `args` column by columns: rows.args_json() of every call of a round, without a Python
step per row for the common case.

A call's arguments arrive rendered, `((positional reprs), ((name, repr), ...))` or None. Positional
texts of printable ASCII without quotes or backslashes (ints, floats, short words, most reprs) need no
escaping in JSON, so their JSON is joined by Arrow. The rest (keyword arguments, texts JSON escapes,
anything of another shape) takes rows.args_json() row by row, so every row is exactly its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..rows import args_json
from . import measures

__all__ = ["args_column", "joined_args"]

_SHAPE: Final = pa.struct([("args", pa.list_(pa.string())), ("kwargs", pa.list_(pa.list_(pa.string())))])
_ESCAPES: Final = np.array([b < 0x20 or b in b'"\\' or b > 0x7E for b in range(256)])
"""The bytes json's encode_basestring_ascii escapes (or that belong to a character it escapes), by value."""
_PREFIX: Final = '{"args":["'
_SUFFIX: Final = '"],"kwargs":{}}'
_BETWEEN: Final = _SUFFIX + _PREFIX  # one call's JSON ends, the next one's begins


def args_column(args: tuple[Any, ...]) -> pa.Array | list[str]:
    """rows.args_json() of each call's arguments, "" for a call without any."""
    if not any(args):
        return [""] * len(args)
    if len(args) < measures.ROW_BY_ROW:
        return [args_json(a) for a in args]
    plain = _plain_column(args)
    if plain is not None:
        return plain
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


def joined_args(args: Sequence[Any]) -> tuple[list[str], list[int]] | None:
    """Each call's positional texts joined by '","', and how many there are, when every call has at
    least one positional text and no keyword argument (the usual call); None for any other column.
    Both the collector's bound (bounds.py) and args_column read the texts through this one pass."""
    if not args or args[0] is None:
        return None
    try:
        positional, named = zip(*args, strict=True)  # ValueError unless every call is a pair
        if named.count(()) != len(named):
            return None
        joined = list(map('","'.join, positional))  # TypeError for a text that is not a str
    except (TypeError, ValueError):
        return None
    counts = list(map(len, positional))
    return (joined, counts) if 0 not in counts else None


def _plain_column(args: Sequence[Any]) -> pa.Array | None:
    """args_column() of a round whose every call is the usual one (_joined) and whose texts are
    printable ASCII without a quote or backslash, made as one Python text and its offsets: no Python
    step and no Arrow call per row. None for any other round (the general path below takes it)."""
    made = joined_args(args)
    if made is None:
        return None
    joined, counts = made
    try:
        data = (_PREFIX + _BETWEEN.join(joined) + _SUFFIX).encode("ascii")
    except UnicodeError:
        return None
    view = np.frombuffer(data, np.uint8)
    if len(data) >= 1 << 31 or view.min() < 0x20 or view.max() > 0x7E or (view == 0x5C).any():
        return None
    if np.count_nonzero(view == 0x22) != 4 * len(joined) + 2 * sum(counts):
        return None  # a text holds a quote: every quote must be the JSON's own, 2 around each text
    offsets = np.zeros(len(joined) + 1, np.int32)
    np.cumsum(np.fromiter(map(len, joined), np.int32, len(joined)) + len(_BETWEEN), out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(joined), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


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

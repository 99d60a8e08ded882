"""The results' `args` column by columns: rows.args_json() of every call of a round, without a Python
step per row for the common case.

A call's arguments arrive rendered, `((positional reprs), ((name, repr), ...))` or None. The usual
call has positional texts only (`usual_args`): bounds.py measures them with one join a call as the
server receives each batch, and keeps that measure for the round that writes it (`MEASURED`); when
every text is printable ASCII without a quote or backslash (ints, floats, short words, most reprs),
the same joins make the round's column (`usual_column`: one Python join and numpy offsets). Other
positional texts are joined by Arrow; the rest (keyword arguments, texts JSON escapes, anything of
another shape) take rows.args_json() row by row, so every row is exactly its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..rows import args_json
from . import measures

__all__ = [
    "MEASURED",
    "Measured",
    "UsualArgs",
    "args_column",
    "args_columns",
    "usual_args",
    "usual_column",
    "usual_forms",
]

_SHAPE: Final = pa.struct([("args", pa.list_(pa.string())), ("kwargs", pa.list_(pa.list_(pa.string())))])
_ESCAPES: Final = np.array([b < 0x20 or b in b'"\\' or b > 0x7E for b in range(256)])
"""The bytes json's encode_basestring_ascii escapes (or that belong to a character it escapes), by value."""
_PREFIX: Final = '{"args":["'
_SUFFIX: Final = '"],"kwargs":{}}'
_BETWEEN: Final = _SUFFIX + _PREFIX  # one call's JSON ends, the next one's begins
_PLAIN: Final = bytes(b for b in range(0x20, 0x7F) if b not in b'"\\')
"""The bytes of printable ASCII that JSON keeps as they are (quote and backslash left out)."""
_UNLIMITED: Final = 1 << 62
_KEPT: Final = 4096
"""Measures kept at most: more than a round holds (256 KiB of one-call batches of about 300 bytes
is about 900); a round of more batches measures its arguments again."""


class UsualArgs(NamedTuple):
    """The argument texts of a column of usual calls, measured by one join a call."""

    joined: list[str]
    """Each call's texts joined by '","'."""
    lengths: list[int]
    """Their lengths (each 3 characters less than bounds._args_size() measures of its call)."""
    items: int
    """How many texts there are."""
    characters: int
    """Characters of all the texts."""
    counts: list[int]
    """How many texts each call has."""


def usual_args(args: Sequence[Any], longest: int = _UNLIMITED, most: int = _UNLIMITED) -> UsualArgs | None:
    """The texts of a column whose every call has at least one positional text and no keyword argument,
    measured by one join a call; None for any other column, and (measured before anything is joined:
    a text may be referenced many times) when a call's texts are longer than `longest` or all of them
    than `most`."""
    if not args or args[0] is None:
        return None
    try:
        positional, named = zip(*args, strict=True)  # ValueError unless every call is a pair
        if named.count(()) != len(named):
            return None
        counts = list(map(len, positional))
        if 0 in counts:
            return None
        count = sum(counts)
        if count != len(counts):  # several texts a call: measured before they are joined
            texts = sum(map(len, chain.from_iterable(positional)))
            if texts > most:
                return None
        joined = list(map('","'.join, positional))  # one text a call: that text itself, no copy
        lengths = list(map(len, joined))  # TypeError above for a text that is not a str
    except (TypeError, ValueError):
        return None
    if count == len(counts):
        texts = sum(lengths)
    if texts > most or max(lengths) > longest:
        return None
    return UsualArgs(joined, lengths, count, texts, counts)


def usual_column(parts: Sequence[UsualArgs]) -> pa.Array | None:
    """args_column() of the usual calls of one or more batches, in order, made as one Python text and
    its offsets (no step and no Arrow call per row), when every text is printable ASCII without a
    quote or backslash; None otherwise."""
    joined = parts[0].joined if len(parts) == 1 else list(chain.from_iterable(p.joined for p in parts))
    lengths = parts[0].lengths if len(parts) == 1 else list(chain.from_iterable(p.lengths for p in parts))
    try:
        data = (_PREFIX + _BETWEEN.join(joined) + _SUFFIX).encode("ascii")
    except UnicodeError:
        return None
    quotes = 4 * len(joined) + 2 * sum(p.items for p in parts)
    if len(data) >= 1 << 31 or data.translate(None, _PLAIN) != b'"' * quotes:
        return None  # a text holds a character to escape: the only ones left must be the JSON's quotes
    offsets = np.empty(len(lengths) + 1, np.int32)
    offsets[0] = 0
    np.cumsum(np.array(lengths, np.int32) + len(_BETWEEN), out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


class Measured:
    """The usual arguments bounds.py measured in the batches of the round being received, by their
    arguments column (the object, held here, so that its id names it until it is taken): the writer
    renders them once for the round's table. Forgotten once a round's table is made, taken or not."""

    def __init__(self) -> None:
        self._columns: dict[int, tuple[Any, UsualArgs]] = {}

    def keep(self, args: Any, usual: UsualArgs) -> None:
        if len(self._columns) >= _KEPT:  # bound() called with no round written (tests): the oldest go
            del self._columns[next(iter(self._columns))]
        self._columns[id(args)] = (args, usual)

    def take(self, batches: Sequence[Any]) -> list[UsualArgs] | None:
        """The measures of these batches' arguments columns, in order; None unless all were kept."""
        found = [self._columns.get(id(args)) for args in batches]
        self._columns.clear()
        if not found or not all(f is not None and f[0] is args for f, args in zip(found, batches)):
            return None
        return [f[1] for f in found if f is not None]


MEASURED: Final = Measured()
"""The writer process's one memo (its server loop bounds and writes in one thread)."""


_FORMS: Final = {
    form: tuple(piece.replace('"', form) for piece in (_PREFIX, _SUFFIX, _BETWEEN)) for form in ('\\"', '""')
}
"""The JSON text's constant pieces with their quotes as a JSON string (\\") and a CSV field ("") hold them."""


def usual_forms(parts: Sequence[UsualArgs]) -> tuple[pa.Array, pa.Array] | None:
    """usual_column()'s column (call it first: only where it made one, every quote is the JSON's own) as it
    stands inside a JSON string (quotes escaped) and inside a CSV field (quotes doubled): the same joins
    with escaped pieces, not a replace over the column's bytes (timing.log and the CSV use these). None
    if they would not fit one Arrow string array."""
    joined = list(chain.from_iterable(p.joined for p in parts))
    counts = np.fromiter(chain.from_iterable(p.counts for p in parts), np.int64, len(joined))
    lengths = np.fromiter(chain.from_iterable(p.lengths for p in parts), np.int64, len(joined))
    several = int(counts.sum()) != len(joined)  # then a call's texts are joined by '","', escaped below
    offsets = np.empty(len(joined) + 1, np.int64)  # the same for both forms: a quote becomes two characters
    offsets[0] = 0
    np.cumsum(lengths + len(_FORMS['""'][2]) + 2 * (counts - 1), out=offsets[1:])
    if offsets[-1] >= 1 << 31:
        return None
    ends = pa.py_buffer(offsets.astype(np.int32))
    forms = []
    for form, (prefix, suffix, between) in _FORMS.items():
        if several:  # texts hold no quote (nor newline): every '","' is a separator, none straddles
            body = "\n".join(joined).replace('","', f"{form},{form}").replace("\n", between)
        else:
            body = between.join(joined)
        data = (prefix + body + suffix).encode("ascii")
        if len(data) != offsets[-1]:  # cannot be, after usual_column: but never a row cut elsewhere
            return None
        forms.append(pa.Array.from_buffers(pa.string(), len(joined), [None, ends, pa.py_buffer(data)]))
    return forms[0], forms[1]


def args_column(args: tuple[Any, ...], batches: Sequence[Any] = ()) -> pa.Array | list[str]:
    """rows.args_json() of each call's arguments, "" for a call without any. `batches`: the arguments
    columns that `args` joins, one per batch, whose measures bounds.py may have kept."""
    return args_columns(args, batches)[0]


def args_columns(
    args: tuple[Any, ...], batches: Sequence[Any] = ()
) -> tuple[pa.Array | list[str], tuple[pa.Array, pa.Array] | None]:
    """args_column(), and its usual_forms() when it was made from the measures bounds.py kept (None
    otherwise: the files escape the column themselves)."""
    kept = MEASURED.take(batches) if batches else None
    usual: list[UsualArgs] | None = None
    if kept is not None and sum(len(u.joined) for u in kept) == len(args):
        usual = kept
    elif not any(args):
        return [""] * len(args), None
    elif len(args) >= measures.ROW_BY_ROW and kept is None:
        found = usual_args(args)
        usual = [found] if found is not None else None
    column = usual_column(usual) if usual is not None else None
    if column is not None and usual is not None:
        return column, usual_forms(usual)
    if len(args) < measures.ROW_BY_ROW:
        return [args_json(a) for a in args], None
    return _by_arrow(args), None


def _by_arrow(args: tuple[Any, ...]) -> pa.Array | list[str]:
    """args_column() of a column that is not all usual calls: positional texts joined by Arrow, the
    rest (keyword arguments, texts to escape) row by row."""
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

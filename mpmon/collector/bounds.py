"""What the collector writes is bounded whatever the sender: every decoded batch and every spill line passes
here before it becomes rows.

An honest sender caps what it sends (render.py: arguments, messages, tracebacks); a keyed peer that is
not honest, or a spill file written by hand, need not. So the collector applies the same limits on its
own side, after decoding:

- a batch whose text, with every pickle memo reference expanded, would exceed MAX_EXPANDED characters
  is refused whole (Unbounded: quarantined, reported lost), before anything is made of it: 5,000
  references to one 100,000-character string weigh 110 KB on the wire and 500 MB as rows;
- names (function, module, thread, error type, logger...) are cut at render.MAX_NAME characters,
  messages and tracebacks at render.MAX_TEXT (bounded_text), arguments to render.MAX_ARGS of each kind
  and the field to render.MAX_ARGS_FIELD (render.cap_args, the sender's own function);
- counts (records dropped) must lie in 0..MAX_COUNT, or the batch (the spill line) is refused.

`bound(batch)` is the one call for decoded batches (its rows by `bound_batch(records)`, its call columns
column by column), `bound_entry(entry)` for spill lines. The common case (every field within its limit)
costs a few C-level passes over the batch's columns and returns the very same batch.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, Final

from .. import render
from ..rows import args_json
from ..spill_format import DROPPED_EVENT
from ..wire import CALL, DROPPED, ERROR, LOG, Batch, RejectedPayload
from .arguments import MEASURED, usual_args

__all__ = ["MAX_COUNT", "MAX_EXPANDED", "Unbounded", "bound", "bound_batch", "bound_entry"]

MAX_EXPANDED: Final = 64 << 20
"""Characters of text a batch may expand to once decoded: an honest batch of 1,024 calls with arguments
at the sender's limit is about 34 Mi; more is a message built to amplify, refused whole."""
MAX_COUNT: Final = 1 << 48
"""The largest count of dropped records a batch or a spill line may report."""
MAX_RAW: Final = 256
"""Longest raw resident-memory reading (a /proc statm line is about 40 bytes)."""

_NAME, _TEXT = render.MAX_NAME, render.MAX_TEXT
# Per kind: (the fields of each limit (the kind is index 0), the limit), where the arguments and route are.
_LIMITS: Final = {
    CALL: ((itemgetter(1, 2, 3, 11, 12), _NAME), (itemgetter(9, 10), MAX_RAW)),
    ERROR: ((itemgetter(1, 2, 5, 6), _NAME), (itemgetter(7, 8), _TEXT)),
    LOG: ((itemgetter(2, 3, 5, 6, 7), _NAME), (itemgetter(4), _TEXT)),
}
_FIELDS: Final = {
    CALL: ((1, _NAME), (2, _NAME), (3, _NAME), (9, MAX_RAW), (10, MAX_RAW), (11, _NAME), (12, _NAME)),
    ERROR: ((1, _NAME), (2, _NAME), (5, _NAME), (6, _NAME), (7, _TEXT), (8, _TEXT)),
    LOG: ((2, _NAME), (3, _NAME), (4, _TEXT), (5, _NAME), (6, _NAME), (7, _NAME)),
}
_ARGS: Final = {CALL: 13, ERROR: 9}
_ARGS_MEASURED: Final = (render.MAX_ARGS_FIELD - 64) // 13
"""Arguments whose texts (and separators) are longer are measured exactly and cut (render.cap_args):
shorter ones fit whatever their characters cost once escaped, as in the sender's own fast path."""


class Unbounded(RejectedPayload):
    """A batch (or spill line) that cannot be made to fit: it expands past MAX_EXPANDED, or reports an
    impossible count. `records`: how many records it held (reported lost to its sender)."""

    def __init__(self, reason: str, records: int) -> None:
        super().__init__(reason)
        self.records = records


def bound(batch: Batch) -> Batch:
    """A decoded batch with every field of its rows and call columns within the sender's limits (the
    same batch when all are); Unbounded as bound_batch()."""
    records, total = _bound_rows(batch.records, batch.size)
    calls = batch.calls
    if calls:
        calls, size = _bound_columns(calls)
        total += size
    if total > MAX_EXPANDED:
        raise Unbounded(
            f"a batch that expands to {total:,} characters (at most {MAX_EXPANDED:,})", batch.size
        )
    if records is batch.records and calls is batch.calls:
        return batch
    return batch._replace(records=records, calls=calls)


def bound_batch(records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The records of a decoded batch, each field within the sender's limits (the same list when all
    are); Unbounded if the batch expands past MAX_EXPANDED or reports an impossible count. Records whose
    fields have the wrong types are left as they are: making rows of them fails, and they are rejected.

    Fields are measured a group of them at a time, with C-level passes (map, len, sum, max); a record is
    looked at alone only in a group where some field is over its limit."""
    bounded, total = _bound_rows(records, len(records))
    if total > MAX_EXPANDED:
        raise Unbounded(
            f"a batch that expands to {total:,} characters (at most {MAX_EXPANDED:,})", len(records)
        )
    return bounded


def _bound_rows(records: list[tuple[Any, ...]], size: int) -> tuple[list[tuple[Any, ...]], int]:
    """The records within the limits (the same list when all are), and the characters they expand to;
    Unbounded (reporting `size` records lost: the whole batch) for an impossible count."""
    if not records:
        return records, 0
    kinds = set(map(itemgetter(0), records))
    groups = {kind: [r for r in records if r[0] == kind] for kind in kinds} if len(kinds) > 1 else {}
    total, over = 0, set[int]()
    for kind in kinds:
        group = groups.get(kind, records)
        if kind == DROPPED:
            _check_counts(group, size)
            continue
        for fields, limit in _LIMITS.get(kind, ()):
            size, most = _measure(chain.from_iterable(map(fields, group)) if len(group[0]) > 1 else ())
            total += size
            if most > limit:
                over.update(id(r) for r in group if _over(r))
        if kind in _ARGS:
            size, flagged = _args_sizes(group, [r[_ARGS[kind]] for r in group])
            total += size
            over.update(flagged)
    if total > MAX_EXPANDED:
        return records, total
    return ([_bounded(r) if id(r) in over else r for r in records] if over else records), total


def _bound_columns(calls: tuple[Any, ...]) -> tuple[tuple[Any, ...], int]:
    """Call columns (CALL_FIELDS, without the kind) with every sized field within its limit (the same
    tuple when all are), and the characters they expand to. A column is looked at value by value only
    when one of its values is over the limit."""
    total, columns = 0, list(calls)
    for index, limit in _FIELDS[CALL]:
        column = columns[index - 1]
        size, most = _measure(column)
        total += size
        if most > limit:
            columns[index - 1] = tuple(_cut(value, limit) for value in column)
    args = columns[_ARGS[CALL] - 1]
    size, flagged = _args_sizes(args, args, keep=True)
    total += size
    if flagged:
        columns[_ARGS[CALL] - 1] = tuple(_bounded_args(a) if id(a) in flagged else a for a in args)
    if all(map(operator.is_, columns, calls)):
        return calls, total
    return tuple(columns), total


def _cut(value: Any, limit: int) -> Any:
    """A sized field's value within its limit (others as they are)."""
    if type(value) not in (str, bytes) or len(value) <= limit:
        return value
    return render.bounded_text(value) if limit == _TEXT and type(value) is str else value[:limit]


def _measure(values: Any) -> tuple[int, int]:
    """The total and the largest length of the str and bytes values (others count 0). A column of one
    text in every row (a batch's function, module, thread; a process's steady statm line) is measured
    by one C-level count: a decoded batch holds no subclass, so values equal to a text are as long."""
    if type(values) is tuple and values:
        first = values[0]
        if type(first) in (str, bytes) and values[-1] == first and values.count(first) == len(values):
            return len(first) * len(values), len(first)
    values = list(values)
    try:
        sizes = list(map(len, values))  # the usual case: every value is a str (or, for memory, bytes)
    except TypeError:
        sizes = [len(v) if type(v) in (str, bytes) else 0 for v in values]
    return sum(sizes), max(sizes, default=0)


def _over(record: tuple[Any, ...]) -> bool:
    """True if a sized field of the record is over its limit."""
    return any(
        type(record[i]) in (str, bytes) and len(record[i]) > limit for i, limit in _FIELDS.get(record[0], ())
    )


def _args_sizes(group: Sequence[Any], column: Sequence[Any], keep: bool = False) -> tuple[int, set[int]]:
    """The characters of every argument text of a group of records, and the records whose arguments
    may be over the sender's limit. The usual calls (positional texts only) are measured exactly by
    one join per call (arguments.usual_args), and with `keep` (a batch's call columns) that measure
    is kept for the writer, which renders the round's column from it. Otherwise: when no text is
    longer than L and no record has more than K texts, no record is over if L * K fits."""
    usual = usual_args(column, _ARGS_MEASURED - 3, MAX_EXPANDED)
    if usual is not None:
        if keep:
            MEASURED.keep(column, usual)
        return usual.characters, set()
    present = list(filter(None, column))
    if not present:
        return 0, set()
    try:
        positional, named = zip(*present)
        texts = list(
            map(len, chain(chain.from_iterable(positional), chain.from_iterable(chain.from_iterable(named))))
        )
        most = max(map(len, positional)) + 2 * max(map(len, named))
    except (TypeError, ValueError):  # not the shape of arguments: measured one by one
        sizes = [_args_size(args) for args in column]
        return sum(sizes), {id(group[i]) for i, size in enumerate(sizes) if size > _ARGS_MEASURED}
    if not texts or (max(texts) + 3) * most <= _ARGS_MEASURED:
        return sum(texts), set()
    sizes = [_args_size(args) for args in column]
    return sum(texts), {id(group[i]) for i, size in enumerate(sizes) if size > _ARGS_MEASURED}


def _args_size(args: Any) -> int:
    """Characters of the rendered argument texts ((positional, ((name, text), ...)) or None), and three
    for each text's quotes and separator."""
    if not args:
        return 0
    try:
        positional, named = args
        texts = sum(map(len, positional)) + sum(map(len, chain.from_iterable(named)))
        return texts + 3 * (len(positional) + 2 * len(named))
    except (TypeError, ValueError):
        return 0  # not the shape of arguments: refused when its row is made


def _check_counts(markers: list[tuple[Any, ...]], records: int) -> None:
    for marker in markers:
        count = marker[1] if len(marker) > 1 else None
        if type(count) is not int or not 0 <= count <= MAX_COUNT:
            raise Unbounded(
                f"a batch reporting {str(count)[:40]} dropped records (0 to {MAX_COUNT:,})", records
            )


def _bounded(record: tuple[Any, ...]) -> tuple[Any, ...]:
    """One record with each sized field cut to its limit (this runs only for batches that need it)."""
    kind = record[0]
    fields = list(record)
    for index, limit in _FIELDS.get(kind, ()):
        value = fields[index]
        if type(value) in (str, bytes) and len(value) > limit:
            fields[index] = (
                render.bounded_text(value) if limit == _TEXT and type(value) is str else value[:limit]
            )
    if kind in _ARGS:
        fields[_ARGS[kind]] = _bounded_args(fields[_ARGS[kind]])
    return tuple(fields)


def _bounded_args(args: Any) -> Any:
    """Arguments within the sender's limits: MAX_ARGS of each kind, the field within MAX_ARGS_FIELD."""
    if not args:
        return args
    try:
        positional, named = args
        positional = [t for t in positional[: render.MAX_ARGS + 1] if type(t) is str]
        named = [(k, v) for k, v in named[: render.MAX_ARGS + 1] if type(k) is str and type(v) is str]
    except (TypeError, ValueError):
        return args  # not the shape of arguments: refused when its row is made
    return render.cap_args(positional, named)


def _parsed_args(text: str) -> tuple[Any, Any]:
    """The (positional, named) texts of an arguments field ({"args": [...], "kwargs": {...}}); a text
    that is not one is kept as a single positional text."""
    try:
        parsed = json.loads(text)
        return tuple(parsed["args"]), tuple(parsed["kwargs"].items())
    except (ValueError, KeyError, TypeError, AttributeError):
        return (text,), ()


def bound_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A spill line's object with every text within the limits of its field (the same object when all
    are); Unbounded for an impossible count."""
    if entry.get("event") == DROPPED_EVENT:
        count = entry.get("count")
        if type(count) is not int or not 0 <= count <= MAX_COUNT:
            raise Unbounded(
                f"a spill line reporting {str(count)[:40]} dropped records (0 to {MAX_COUNT:,})", 1
            )
    for key, value in entry.items():
        if type(value) is not str or len(value) <= _NAME:
            continue
        if key == "args":
            if len(value) > render.MAX_ARGS_FIELD:
                entry[key] = args_json(_bounded_args(_parsed_args(value)))
        elif key in ("message", "error_message", "traceback"):
            entry[key] = render.bounded_text(value)
        else:
            entry[key] = value[:_NAME]
    return entry

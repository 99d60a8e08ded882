"""Bounded, sanitized text of arguments, exception messages and tracebacks.

Whatever a caller passes, rendering stays bounded in time and memory and never raises. Built-in
containers (list, tuple, dict, set, frozenset, deque, dict views and the collections dicts) are shown
by their first `MAX_ITEMS` items in iteration order, with no sorting and no walk over the rest, so a
3-million-key dict costs what a 20-key one does; a string or bytes value is cut before `repr` sees
it; any other object's own `__repr__` is called (its cost is the caller's, at every call) and its text
cut. A failing `__repr__` or `__str__` becomes a placeholder, and the user's `sanitize_func` runs on
every piece of text before it leaves the process (if it fails, the text is withheld, never sent
unsanitized). The whole arguments field, as the results CSV holds it (JSON, ASCII-escaped, quotes
doubled), is at most `MAX_ARGS_FIELD` characters, far below the standard csv module's field limit.

A decorator without a `sanitize_func` of its own uses the run's (start_collector's `sanitize_func`),
which every process finds by its "module:function" name in the environment and looks up once.
"""

from __future__ import annotations

import collections
import importlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Collection, Iterable
from typing import Any, Final

from .environment import SANITIZE
from .tracebacks import traceback_text

__all__ = [
    "DEFAULT_MAX_ARG_LENGTH",
    "MAX_ARGS_FIELD",
    "MAX_ITEMS",
    "MAX_NAME",
    "MAX_TEXT",
    "Rendered",
    "Sanitizer",
    "bounded_repr",
    "bounded_text",
    "cap_args",
    "forget_run_sanitizer",
    "render_args",
    "render_exception",
    "run_sanitizer",
    "sanitized",
    "sanitizer_name",
]

Sanitizer = Callable[[str], str]
Rendered = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]

DEFAULT_MAX_ARG_LENGTH: Final = 500
"""Longest text kept of one argument when `max_arg_length` is None (0 records no arguments at all)."""
MAX_ARGS: Final = 32
"""Positional (and, separately, keyword) arguments rendered per call; the rest are counted."""
MAX_ITEMS: Final = 20
"""Items shown of a container (the first ones in iteration order), at each nesting level."""
MAX_DEPTH: Final = 3
"""Nesting levels of containers shown; deeper ones are shown as `[...]`, `{...}`."""
MAX_ARGS_FIELD: Final = 32_768
"""Longest arguments field, counted as the results CSV holds it: the JSON text with non-ASCII
characters escaped (up to 12 characters each) and every double quote doubled."""
MAX_TEXT: Final = 64 * 1024
"""Longest exception message or traceback kept."""
MAX_NAME: Final = 1024
"""Longest name kept (function, module, thread, error type, logger): the collector cuts longer ones."""
MAX_INT_BITS: Final = 4096
"""Larger ints are shown by their size (their decimal text costs time quadratic in their length)."""

_ELLIPSIS: Final = "..."
_FRAME_PACKAGES: Final = frozenset({"pandas", "geopandas", "polars"})
_PLAIN_TYPES: Final = frozenset({float, bool, type(None)})
_TEXT_REPRS: Final[frozenset[Any]] = frozenset({str.__repr__, bytes.__repr__, bytearray.__repr__})
_escape = json.encoder.encode_basestring_ascii


# -- one value ---------------------------------------------------------------------------------------


def bounded_repr(value: Any, limit: int, depth: int = 0) -> str:
    """The repr of `value` in at most `limit` characters (and an ellipsis), in time bounded by `limit`."""
    try:
        text = _repr(value, limit, depth)
    except Exception as exc:
        return f"<{type(value).__name__} object: repr failed with {type(exc).__name__}>"
    return text if len(text) <= limit else text[: max(limit - len(_ELLIPSIS), 0)] + _ELLIPSIS


def _repr(value: Any, limit: int, depth: int) -> str:
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return repr(value)
    if kind is int:
        bits = value.bit_length()
        return repr(value) if bits <= MAX_INT_BITS else f"<int of {bits} bits>"
    method = kind.__repr__
    try:
        text_like, shape = method in _TEXT_REPRS, _SHAPES.get(method)
    except TypeError:  # an unhashable __repr__ object
        text_like, shape = False, None
    if text_like:
        return repr(value[: limit + 1])
    if shape is not None:
        return shape(value, limit, depth)
    if kind.__name__.endswith("DataFrame") and kind.__module__.partition(".")[0] in _FRAME_PACKAGES:
        rows, columns = value.shape  # as the original module showed data frames (their repr takes ms)
        return f"<{kind.__name__} with {rows} rows and {columns} columns>"
    return repr(value)  # the object's own __repr__ (a user's: its cost is the call's)


def _items(values: Iterable[Any], size: int, limit: int, depth: int, pairs: bool = False) -> str:
    """The first items of a container, joined, cut once `limit` characters are reached."""
    if depth >= MAX_DEPTH:
        return _ELLIPSIS
    parts: list[str] = []
    used = 0
    for item in itertools.islice(values, MAX_ITEMS):
        if pairs:
            key, val = item
            text = bounded_repr(key, limit, depth + 1) + ": " + bounded_repr(val, limit, depth + 1)
        else:
            text = bounded_repr(item, limit, depth + 1)
        parts.append(text)
        used += len(text) + 2
        if used > limit:
            break
    if len(parts) < size:
        parts.append(_ELLIPSIS)
    return ", ".join(parts)


def _list(value: list[Any], limit: int, depth: int) -> str:
    return "[" + _items(iter(value), len(value), limit, depth) + "]"


def _tuple(value: tuple[Any, ...], limit: int, depth: int) -> str:
    inner = _items(iter(value), len(value), limit, depth)
    return "(" + inner + ("," if len(value) == 1 else "") + ")"


def _set(value: set[Any] | frozenset[Any], limit: int, depth: int) -> str:
    name = "set" if isinstance(value, set) else "frozenset"
    if not value:
        return f"{name}()"
    inner = "{" + _items(iter(value), len(value), limit, depth) + "}"
    return inner if name == "set" else f"frozenset({inner})"


def _dict(value: dict[Any, Any], limit: int, depth: int) -> str:
    return "{" + _items(iter(dict.items(value)), len(value), limit, depth, pairs=True) + "}"


def _named_dict(value: dict[Any, Any], limit: int, depth: int) -> str:
    name = type(value).__name__
    if isinstance(value, collections.defaultdict):
        factory = getattr(value.default_factory, "__qualname__", repr(value.default_factory))
        return f"{name}({factory}, {_dict(value, limit, depth)})"
    return f"{name}({_dict(value, limit, depth)})"


def _deque(value: collections.deque[Any], limit: int, depth: int) -> str:
    inner = "[" + _items(iter(value), len(value), limit, depth) + "]"
    return f"deque({inner})" if value.maxlen is None else f"deque({inner}, maxlen={value.maxlen})"


def _view(value: Any, limit: int, depth: int) -> str:
    pairs = isinstance(value, type({}.items()))
    return f"{type(value).__name__}([" + _items(iter(value), len(value), limit, depth, pairs) + "])"


_SHAPES: Final[dict[Any, Callable[[Any, int, int], str]]] = {
    list.__repr__: _list,
    tuple.__repr__: _tuple,
    set.__repr__: _set,
    frozenset.__repr__: _set,
    dict.__repr__: _dict,
    collections.OrderedDict.__repr__: _named_dict,
    collections.defaultdict.__repr__: _named_dict,
    collections.Counter.__repr__: _named_dict,
    collections.deque.__repr__: _deque,
    type({}.keys()).__repr__: _view,
    type({}.values()).__repr__: _view,
    type({}.items()).__repr__: _view,
}


# -- a call's arguments ------------------------------------------------------------------------------


def sanitized(text: str, sanitize: Sanitizer | None) -> str:
    """`text` after the user's sanitizer (the run's if None); a placeholder if the sanitizer fails."""
    if sanitize is None:
        sanitize = _run[0] if _run is not None else run_sanitizer()
        if sanitize is None:
            return text
    try:
        result = sanitize(text)
    except Exception as exc:
        return f"<withheld: sanitize_func failed with {type(exc).__name__}>"
    return result if type(result) is str else "<withheld: sanitize_func did not return a str>"


def render_args(
    args: tuple[Any, ...], kwargs: dict[str, Any], max_length: int | None, sanitize: Sanitizer | None
) -> Rendered | None:
    """Sanitized, truncated reprs of a call's arguments, as plain tuples for the wire (None when
    `max_length` is 0: no arguments recorded). The field they make is at most MAX_ARGS_FIELD long."""
    limit = DEFAULT_MAX_ARG_LENGTH if max_length is None else max_length
    if limit == 0:
        return None
    if sanitize is None:
        sanitize = _run[0] if _run is not None else run_sanitizer()
    if sanitize is None and not kwargs:
        texts = _plain_reprs(args, limit)
        if texts is not None:
            return texts, ()
    if sanitize is None:
        positional = [bounded_repr(a, limit) for a in args[:MAX_ARGS]]
    else:
        positional = [sanitized(bounded_repr(a, limit), sanitize)[:limit] for a in args[:MAX_ARGS]]
    if len(args) > MAX_ARGS:
        positional.append(f"<{len(args) - MAX_ARGS} more>")
    named: list[tuple[str, str]] = []
    if kwargs:
        items = list(itertools.islice(kwargs.items(), MAX_ARGS))
        named = [(k[:limit], sanitized(bounded_repr(v, limit), sanitize)[:limit]) for k, v in items]
        if len(kwargs) > MAX_ARGS:
            named.append(("...", f"<{len(kwargs) - MAX_ARGS} more>"))
    return cap_args(positional, named)


def _plain_reprs(args: tuple[Any, ...], limit: int) -> tuple[str, ...] | None:
    """The reprs of positional ints of 64 bits, floats, bools, None and strs when each fits in `limit` and
    cap_args would cut none: what the general path gives them (bounded_repr and cap_args leave such texts
    whole), at a third of its cost. None for any other arguments: the general path takes them."""
    if len(args) > MAX_ARGS:
        return None
    texts = []
    total = 0
    for value in args:  # a loop, not map(): with one or two arguments, iterators cost more than it
        kind = type(value)
        if kind is int:
            if not -_INT64 <= value < _INT64:
                return None
        elif kind is str:
            if len(value) > limit:
                return None
        elif kind not in _PLAIN_TYPES:
            return None
        text = repr(value)
        if len(text) > limit:
            return None
        total += len(text)
        texts.append(text)
    return tuple(texts) if total <= _PLAIN_FIELD else None


_INT64: Final = 1 << 63
_WORST_CHAR: Final = 13  # an astral character: a 12-character escape pair; a quote: \"" (3); + a separator
_SKELETON: Final = 64  # {"args":[],"kwargs":{}} with its quotes doubled, and some slack
_PLAIN_FIELD: Final = (MAX_ARGS_FIELD - _SKELETON) // _WORST_CHAR
"""Characters of argument text below which cap_args keeps every text whole (its usual case)."""


def cap_args(positional: list[str], named: list[tuple[str, str]]) -> Rendered:
    """The arguments, each cut to its share of MAX_ARGS_FIELD where the field would be longer (the
    sender's cap, applied again by the collector: collector/bounds.py)."""
    texts = positional + [t for pair in named for t in pair]
    if sum(map(len, texts)) * _WORST_CHAR + _SKELETON <= MAX_ARGS_FIELD:
        return tuple(positional), tuple(named)  # the usual case: no escaping measured
    budget = MAX_ARGS_FIELD - _SKELETON
    kept: list[str] = []
    for index, text in enumerate(texts):
        share = budget // (len(texts) - index)  # what is left, shared by the texts still to come
        cost = _field_cost(text)
        if cost > share:
            text = _fit(text, share)
            cost = _field_cost(text)
        kept.append(text)
        budget -= cost
    rest = kept[len(positional) :]
    return tuple(kept[: len(positional)]), tuple(zip(rest[::2], rest[1::2]))


def _field_cost(text: str) -> int:
    """Characters `text` takes in the results CSV: ASCII-escaped JSON string, quotes doubled, a comma."""
    escaped = _escape(text)
    return len(escaped) + escaped.count('"') + 1


def _fit(text: str, budget: int) -> str:
    """The longest start of `text` (plus an ellipsis) whose field cost stays within `budget`."""
    low, high = 0, min(len(text), budget)
    while low < high:
        middle = (low + high + 1) // 2
        if _field_cost(text[:middle] + _ELLIPSIS) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low] + _ELLIPSIS


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception as failure:
        return f"<str() of {type(exc).__name__} failed with {type(failure).__name__}>"


def render_exception(
    exc: BaseException, sanitize: Sanitizer | None, hide_files: Collection[str] = (), hand_on: bool = False
) -> tuple[str, str]:
    """The sanitized message and full traceback of `exc`, each bounded to MAX_TEXT characters.

    Frames of `hide_files` (mpmon's own wrappers) are left out of the traceback; `hand_on`: another
    ErrorCatcher will probably render `exc` next, with a few more frames (tracebacks.traceback_text).
    """
    try:
        trace = traceback_text(exc, hide_files, hand_on)
    except Exception as failure:
        trace = f"<traceback unavailable: {type(failure).__name__}>"
    message = _safe_str(exc)[:MAX_TEXT]
    return sanitized(message, sanitize), sanitized(bounded_text(trace), sanitize)


def bounded_text(text: str) -> str:
    """`text` if it is at most MAX_TEXT characters, else its first and last halves of that around a
    line saying how much was left out: the ends are where a traceback or a log line says most."""
    if len(text) <= MAX_TEXT:
        return text
    half = MAX_TEXT // 2
    return f"{text[:half]}\n... [{len(text) - 2 * half:,} characters left out by mpmon] ...\n{text[-half:]}"


# -- the run's sanitizer ----------------------------------------------------------------------------

_run: tuple[Sanitizer | None] | None = None  # (the run's sanitizer,) once looked up in this process


def run_sanitizer() -> Sanitizer | None:
    """The run's sanitizer, looked up once per process from the environment (None if the run has none)."""
    global _run
    if _run is None:
        _run = (_lookup(os.environ.get(SANITIZE, "")),)
    return _run[0]


def forget_run_sanitizer() -> None:
    """Look the run's sanitizer up again at next use (start_collector changed the environment)."""
    global _run
    _run = None


def sanitizer_name(func: Sanitizer | str | None) -> str | None:
    """The "module:function" name by which every process of the run finds `func`."""
    if func is None:
        return None
    if isinstance(func, str):
        name = func
    else:
        name = f"{getattr(func, '__module__', '')}:{getattr(func, '__qualname__', '')}"
    found = _find(name)
    if found is None or not callable(found) or not (isinstance(func, str) or found is func):
        raise TypeError(
            f"sanitize_func must be a function other processes can import (defined at the top level of a "
            f"module) or its 'module:function' name, not {func!r}"
        )
    return name


def _find(name: str) -> Any:
    module_name, _, qualname = name.partition(":")
    try:
        if module_name == "__main__":
            target: Any = sys.modules["__main__"]
        else:
            target = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, KeyError, ValueError):
        return None
    return target


def _lookup(name: str) -> Sanitizer | None:
    if not name:
        return None
    found = _find(name)
    if callable(found):
        return found  # type: ignore[no-any-return]
    print(f"mpmon: the run's sanitize_func {name} cannot be found here; texts are withheld", file=sys.stderr)
    return _withhold


def _withhold(text: str) -> str:
    return "<withheld: the run's sanitize_func is not available in this process>"

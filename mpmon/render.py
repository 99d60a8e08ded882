"""Bounded, sanitized text of arguments, exception messages and tracebacks.

Whatever a caller passes, rendering stays bounded in time and memory and never raises: a string or
bytes value is cut before `repr` sees it, containers go through `reprlib` with small limits, a failing
`__repr__` or `__str__` becomes a placeholder, and the user's `sanitize_func` runs on every piece of
text before it leaves the process (if it fails, the text is withheld, never sent unsanitized).
"""

from __future__ import annotations

import reprlib
import traceback
from collections.abc import Callable
from typing import Any, Final

__all__ = ["DEFAULT_MAX_ARG_LENGTH", "Sanitizer", "render_args", "render_exception", "sanitized"]

Sanitizer = Callable[[str], str]

DEFAULT_MAX_ARG_LENGTH: Final = 500
"""Longest text kept of one argument when `max_arg_length` is None."""
MAX_ARGS: Final = 32
"""Positional (and, separately, keyword) arguments rendered per call; the rest are counted."""
MAX_TEXT: Final = 64 * 1024
"""Longest exception message or traceback kept."""

_ELLIPSIS: Final = "..."
_PLAIN_TYPES: Final = frozenset({int, float, bool, type(None)})


class _BoundedRepr(reprlib.Repr):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = self.maxother = self.maxlong = limit
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 20
        self.maxarray = 20


_reprs: dict[int, _BoundedRepr] = {}


def _render(value: Any, limit: int) -> str:
    kind = type(value)
    try:
        if kind in _PLAIN_TYPES:
            text = repr(value)
        elif kind is str or kind is bytes:
            text = repr(value[: limit + 1])
        else:
            bounded = _reprs.get(limit) or _reprs.setdefault(limit, _BoundedRepr(limit))
            text = bounded.repr(value)
    except Exception as exc:
        return f"<{kind.__name__} object: repr failed with {type(exc).__name__}>"
    return text if len(text) <= limit else text[: max(limit - len(_ELLIPSIS), 0)] + _ELLIPSIS


def sanitized(text: str, sanitize: Sanitizer | None) -> str:
    """`text` after the user's sanitizer; a placeholder if the sanitizer fails."""
    if sanitize is None:
        return text
    try:
        result = sanitize(text)
    except Exception as exc:
        return f"<withheld: sanitize_func failed with {type(exc).__name__}>"
    return result if type(result) is str else "<withheld: sanitize_func did not return a str>"


def render_args(
    args: tuple[Any, ...], kwargs: dict[str, Any], max_length: int | None, sanitize: Sanitizer | None
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Sanitized, truncated reprs of a call's arguments, as plain tuples for the wire."""
    limit = DEFAULT_MAX_ARG_LENGTH if max_length is None else max_length
    if sanitize is None:
        positional = tuple([_render(a, limit) for a in args[:MAX_ARGS]])
    else:
        positional = tuple([sanitized(_render(a, limit), sanitize)[:limit] for a in args[:MAX_ARGS]])
    if len(args) > MAX_ARGS:
        positional += (f"<{len(args) - MAX_ARGS} more>",)
    named: tuple[tuple[str, str], ...] = ()
    if kwargs:
        items = list(kwargs.items())
        named = tuple([(k, sanitized(_render(v, limit), sanitize)[:limit]) for k, v in items[:MAX_ARGS]])
        if len(items) > MAX_ARGS:
            named += (("...", f"<{len(items) - MAX_ARGS} more>"),)
    return positional, named


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception as failure:
        return f"<str() of {type(exc).__name__} failed with {type(failure).__name__}>"


def render_exception(
    exc: BaseException, sanitize: Sanitizer | None, hide_file: str | None = None
) -> tuple[str, str]:
    """The sanitized message and full traceback of `exc`, each bounded to MAX_TEXT characters.

    Frames of `hide_file` (mpmon's own wrappers) are left out of the traceback.
    """
    try:
        report = traceback.TracebackException.from_exception(exc)
        report.stack = traceback.StackSummary.from_list(
            [frame for frame in report.stack if frame.filename != hide_file]
        )
        trace = "".join(report.format())
    except Exception as failure:
        trace = f"<traceback unavailable: {type(failure).__name__}>"
    message = _safe_str(exc)[:MAX_TEXT]
    if len(trace) > MAX_TEXT:
        trace = trace[: MAX_TEXT // 2] + "\n...\n" + trace[-MAX_TEXT // 2 :]
    return sanitized(message, sanitize), sanitized(trace, sanitize)

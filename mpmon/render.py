"""Bounded, sanitized text of arguments, exception messages and tracebacks.

Whatever a caller passes, rendering stays bounded in time and memory and never raises: a string or
bytes value is cut before `repr` sees it, containers go through `reprlib` with small limits, a failing
`__repr__` or `__str__` becomes a placeholder, and the user's `sanitize_func` runs on every piece of
text before it leaves the process (if it fails, the text is withheld, never sent unsanitized).

A decorator without a `sanitize_func` of its own uses the run's (start_collector's `sanitize_func`),
which every process finds by its "module:function" name in the environment and looks up once.
"""

from __future__ import annotations

import importlib
import os
import reprlib
import sys
import traceback
from collections.abc import Callable
from typing import Any, Final

from .environment import SANITIZE

__all__ = [
    "DEFAULT_MAX_ARG_LENGTH",
    "Sanitizer",
    "forget_run_sanitizer",
    "render_args",
    "render_exception",
    "run_sanitizer",
    "sanitized",
    "sanitizer_name",
]

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

    def repr_bytes(self, value: bytes, level: int) -> str:
        return self.repr_str(value, level)  # type: ignore[arg-type]

    repr_bytearray = repr_bytes


_reprs: dict[int, _BoundedRepr] = {}


def _render(value: Any, limit: int) -> str:
    kind = type(value)
    try:
        if kind in _PLAIN_TYPES:
            text = repr(value)
        elif kind is str or kind is bytes or isinstance(value, (str, bytes, bytearray)):
            text = repr(value[: limit + 1])
        else:
            bounded = _reprs.get(limit) or _reprs.setdefault(limit, _BoundedRepr(limit))
            text = bounded.repr(value)
    except Exception as exc:
        return f"<{kind.__name__} object: repr failed with {type(exc).__name__}>"
    return text if len(text) <= limit else text[: max(limit - len(_ELLIPSIS), 0)] + _ELLIPSIS


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
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Sanitized, truncated reprs of a call's arguments, as plain tuples for the wire."""
    limit = DEFAULT_MAX_ARG_LENGTH if max_length is None else max_length
    if sanitize is None:
        sanitize = _run[0] if _run is not None else run_sanitizer()
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

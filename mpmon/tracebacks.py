"""The text of an exception's traceback as `traceback.TracebackException(...).format()` makes it, for less.

Formatting a traceback costs most of what `@ErrorCatcher` pays in the raising process: reading each
frame's source line (a stat of its file), and on Python 3.11+ parsing that line again to place the
carets (about 10 us a frame). A program that raises keeps raising from the same places, so the lines
of a stack are kept for the next exception raised through the same frames: the same code objects at the
same instructions, the same line numbers, in the same order. What is made per exception is only what can
differ: its message, notes and chained exceptions, by the standard library as always. The text is the
standard library's, byte for byte; a source file edited during the run is read again only for stacks
not seen before (the code that runs is the one loaded anyway).
"""

from __future__ import annotations

import traceback
from collections.abc import Collection
from types import TracebackType
from typing import Any

__all__ = ["traceback_text"]

_KEPT = 1024
"""Stacks whose lines are kept at most; past it, the kept ones are forgotten and kept anew."""
_stacks: dict[tuple[Any, ...], _KeptStack] = {}


class _KeptStack(traceback.StackSummary):
    """A stack (its frames, for truth) whose format() gives the lines it was first formatted to."""

    lines: list[str]

    def format(self, **kwargs: Any) -> list[str]:
        return self.lines


def traceback_text(exc: BaseException, hide_files: Collection[str] = ()) -> str:
    """`exc`'s traceback as `"".join(TracebackException.from_exception(exc).format())` writes it, but
    that the frames of files in `hide_files` are left out of `exc`'s own stack (not its chained ones)."""
    tb = exc.__traceback__
    key: list[Any] = [tuple(hide_files)]
    last: TracebackType | None = None
    while tb is not None:
        key += (tb.tb_frame.f_code, tb.tb_lasti, tb.tb_lineno)
        last, tb = tb, tb.tb_next
    found = _stacks.get(kept := tuple(key))
    if found is None:
        report = traceback.TracebackException.from_exception(exc)
        found = _KeptStack(f for f in report.stack if f.filename not in hide_files)
        found.lines = list(traceback.StackSummary.format(found))
        if len(_stacks) >= _KEPT:
            _stacks.clear()
        _stacks[kept] = found
    else:  # everything but exc's own stack; suggestions ("Did you mean") read the innermost frame
        inner = last if isinstance(exc, _WITH_SUGGESTIONS) else None
        report = traceback.TracebackException(type(exc), exc, inner)
    report.stack = found
    if _alone(report):  # what format() gives for it, without its per-line indenting (3.11+) of nothing
        head = _HEAD if found else ""
        return head + "".join(found.lines) + "".join(report.format_exception_only())
    return "".join(report.format())


_HEAD = "Traceback (most recent call last):\n"


def _alone(report: traceback.TracebackException) -> bool:
    """True for an exception shown without another (no cause, no context shown) that is no group."""
    return (
        report.__cause__ is None
        and (report.__context__ is None or report.__suppress_context__)
        and getattr(report, "exceptions", None) is None
    )


_WITH_SUGGESTIONS = (NameError, AttributeError, ImportError)
"""Exceptions whose message the standard library completes from the traceback's innermost frame."""

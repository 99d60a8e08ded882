"""The text of an exception's traceback as `traceback.TracebackException(...).format()` makes it, for less.

Formatting a traceback costs most of what `@ErrorCatcher` pays in the raising process: reading each
frame's source line (a stat of its file), and on Python 3.11+ parsing that line again to place the
carets (about 10 us a frame). Two savings, the text staying the standard library's byte for byte:

- A program that raises keeps raising from the same places, so the lines of a stack are kept for the
  next exception raised through the same frames (the same code objects at the same instructions and
  lines, in the same order). Only the exception itself (message, notes, chained exceptions) is
  formatted again, by the standard library. A source file edited during the run is read again only for
  stacks not seen before (the code that runs is the one loaded anyway).
- An exception that passes several ErrorCatchers (a decorated recursion) is written by each with the
  traceback it has there, which grows by a level each time: formatting it whole at each level made a
  recursion of n levels cost n * n / 2 frames (1,000 levels: 6 to 8 s). A catcher that sees an
  ErrorCatcher among its callers hands its work on (`hand_on`): the next catcher of the same exception
  formats only the frames added since. Its stack is kept as runs of repeated frames, which the standard
  library shows as three frames and "[Previous line repeated N more times]". What is handed on holds
  the exception (its traceback, so its frames' locals) until that catcher takes it: so it is handed on
  only when nothing between can stop the exception (`may_catch`, wrappers._catcher_above), as the
  standard library's `except ... as e` clears `e` to free the frames once the exception is handled.
- A kept stack's lines are the standard library's only while the source files they came from are
  unchanged: each reuse checks its files as `StackSummary.extract` does (`linecache.checkcache`, a stat
  of each file), and a file edited on disk since makes the stack be formatted again.
"""

from __future__ import annotations

import linecache
import sys
import threading
import traceback
from collections.abc import Collection
from types import CodeType, FrameType, TracebackType
from typing import Any, cast

__all__ = ["may_catch", "traceback_text"]

_KEPT = 1024
"""Stacks whose lines are kept at most; past it, the kept ones are forgotten and kept anew."""
_KEPT_DEPTH = 256
"""Deeper stacks are not kept (their key alone would hold three items a frame)."""
_CUTOFF = 3
"""Frames of a run shown before "[Previous line repeated N more times]" (traceback._RECURSIVE_CUTOFF)."""
_HEAD = "Traceback (most recent call last):\n"
_WITH_SUGGESTIONS = (NameError, AttributeError, ImportError)
"""Exceptions whose message the standard library completes from the traceback's innermost frame."""

Run = tuple[tuple[Any, Any, Any], tuple[str, ...], int]
"""Frames in a row with one file, line and function: (that key, the first three's texts, how many)."""


class _KeptStack(traceback.StackSummary):
    """A stack as runs (innermost first) whose format() gives the lines they make."""

    runs: list[Run]
    lines: list[str]
    files: tuple[tuple[str, Any], ...]  # each file of its frames and its linecache entry when formatted

    def __bool__(self) -> bool:
        return bool(self.runs)

    def format(self, **kwargs: Any) -> list[str]:  # colorize (3.13+): mpmon never asks for it
        return self.lines


_stacks: dict[tuple[Any, ...], _KeptStack] = {}
_flight = threading.local()  # .state: (exception, its traceback's head, innermost entry, runs, hidden files)


def traceback_text(exc: BaseException, hide_files: Collection[str] = (), hand_on: bool = False) -> str:
    """`exc`'s traceback as `"".join(TracebackException.from_exception(exc).format())` writes it, but
    that the frames of files in `hide_files` are left out of `exc`'s own stack (not its chained ones).
    `hand_on`: another catcher of this thread will probably write `exc` next (see the module)."""
    handed = _flight.__dict__.pop("state", None)
    limited = getattr(sys, "tracebacklimit", None) is not None
    found = None
    if handed is not None and handed[0] is exc and handed[4] == tuple(hide_files) and not limited:
        found, inner = _extended(handed, exc.__traceback__, hide_files), handed[2]
    if found is None:
        found, inner = _stack(exc, hide_files)
    if hand_on and not limited:
        _flight.state = (exc, exc.__traceback__, inner, found.runs, tuple(hide_files))
    report = traceback.TracebackException(
        type(exc), exc, inner if isinstance(exc, _WITH_SUGGESTIONS) else None
    )
    report.stack = found
    if _alone(report):  # what format() gives for it, without its per-line indenting (3.11+) of nothing
        return (_HEAD if found else "") + "".join(found.lines) + "".join(report.format_exception_only())
    return "".join(report.format())


def _stack(exc: BaseException, hide: Collection[str]) -> tuple[_KeptStack, Any]:
    """`exc`'s own stack without `hide`'s frames (kept, or made and kept), and its innermost entry."""
    tb = exc.__traceback__
    key: list[Any] = [tuple(hide), getattr(sys, "tracebacklimit", None)]
    inner: TracebackType | None = None
    while tb is not None:
        key += (tb.tb_frame.f_code, tb.tb_lasti, tb.tb_lineno)
        inner, tb = tb, tb.tb_next
    found = _stacks.get(kept := tuple(key))
    if found is None or not _unchanged(found.files):
        frames = traceback.TracebackException.from_exception(exc).stack  # sys.tracebacklimit applied
        shown = [f for f in frames if f.filename not in hide]
        runs: list[Run] = []
        for frame in reversed(shown):
            _prepend(runs, frame)
        found = _kept(runs)
        if len(kept) > 2 + 3 * _KEPT_DEPTH:
            return found, inner
        found.files = tuple(
            (name, linecache.cache.get(name)) for name in dict.fromkeys(f.filename for f in shown)
        )
        if len(_stacks) >= _KEPT:
            _stacks.clear()
        _stacks[kept] = found
    return _kept(list(found.runs), found.lines), inner


def _unchanged(files: tuple[tuple[str, Any], ...]) -> bool:
    """True when each file's lines are those a kept stack was formatted from: its linecache entry, after
    `linecache.checkcache` (which drops the entry of a file changed on disk), is the same. A file whose
    source could not be read then is looked for again, as the standard library does at each format."""
    cache = linecache.cache
    for name, entry in files:
        if entry is None:
            if not (name.startswith("<") and name.endswith(">")) and linecache.getlines(name):
                return False
            continue
        linecache.checkcache(name)
        if cache.get(name) is not entry:
            return False
    return True


def _extended(handed: tuple[Any, ...], tb: TracebackType | None, hide: Collection[str]) -> _KeptStack | None:
    """The stack handed on, with the frames `exc`'s traceback gained since in front; None if it did not
    gain them by passing on (its head then is not among its entries)."""
    head, runs = handed[1], handed[3]
    added, entry = 0, tb
    while entry is not None and entry is not head:
        entry, added = entry.tb_next, added + 1
    if entry is None:
        return None
    frames = traceback.extract_tb(tb, limit=added) if added else []
    for frame in reversed([f for f in frames if f.filename not in hide]):
        _prepend(runs, frame)
    return _kept(runs)


def _prepend(runs: list[Run], frame: traceback.FrameSummary) -> None:
    """Put `frame` in front of the stack (runs innermost first), as StackSummary.format() groups frames."""
    key = (frame.filename, frame.lineno, frame.name)
    text = traceback.StackSummary.from_list([frame]).format()[0]
    if runs and None not in key and runs[-1][0] == key:
        _, texts, count = runs[-1]
        runs[-1] = (key, (text, *texts[: _CUTOFF - 1]), count + 1)
    else:
        runs.append((key, (text,), 1))


def _kept(runs: list[Run], lines: list[str] | None = None) -> _KeptStack:
    """A stack of these runs; its lines, as StackSummary.format() writes them, made unless given."""
    stack = _KeptStack()
    stack.runs, stack.files = runs, ()
    if lines is None:
        lines = []
        for _, texts, count in reversed(runs):
            lines += texts
            if count > _CUTOFF:
                more = count - _CUTOFF
                lines.append(f"  [Previous line repeated {more} more time{'s' if more > 1 else ''}]\n")
    stack.lines = lines
    return stack


def _alone(report: traceback.TracebackException) -> bool:
    """True for an exception shown without another (no cause, no context shown) that is no group."""
    return (
        report.__cause__ is None
        and (report.__context__ is None or report.__suppress_context__)
        and getattr(report, "exceptions", None) is None
    )


_spans: dict[CodeType, tuple[tuple[int, int], ...]] = {}
"""Per code object, the instructions (byte offsets, end excluded) that an exception handler covers."""


def may_catch(frame: FrameType) -> bool:
    """True when an exception raised from `frame`'s current call may stop in `frame`: the call lies in a
    `try` or `with` block (Python 3.11+: the code's exception table covers the instruction; 3.10, which
    does not show its block stack: the code has any such block)."""
    code = frame.f_code
    spans = _spans.get(code)
    if spans is None:
        spans = _handler_spans(code)
        if len(_spans) >= _KEPT:
            _spans.clear()
        _spans[code] = spans
    at = frame.f_lasti
    return any(start <= at < end for start, end in spans)


def _handler_spans(code: CodeType) -> tuple[tuple[int, int], ...]:
    import dis  # only when an exception passes catchers: `import mpmon` stays light

    if sys.version_info >= (3, 11):
        entries = cast(Any, dis.Bytecode(code)).exception_entries  # 3.11+, not in typeshed
        return tuple((entry.start, entry.end) for entry in entries)
    blocks = ("SETUP_FINALLY", "SETUP_WITH", "SETUP_ASYNC_WITH")
    return ((0, sys.maxsize),) if any(i.opname in blocks for i in dis.get_instructions(code)) else ()

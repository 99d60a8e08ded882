"""error.log's traceback text is the standard library's, byte for byte, when a stack's lines are kept.

`mpmon.tracebacks.traceback_text` keeps the formatted lines of each stack it has seen and formats only the
exception itself again; these tests raise every shape of exception twice from the same place (the second
time with another message, so only the kept lines are reused) and compare both texts with what
`traceback.TracebackException` writes, frames of hidden files left out as ErrorCatcher leaves its own.
The module runs alone too (`python tests/unit/test_tracebacks.py`), for other Python versions.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from mpmon.tracebacks import traceback_text

try:
    from pytest import mark

    parametrize = mark.parametrize
except ImportError:  # run alone by a Python without pytest (see the docstring)

    def parametrize(*_: Any, **__: Any) -> Any:
        return lambda function: function


NO_SOURCE = "<no source file>"
_namespace: dict[str, Any] = {}
exec(compile("def no_source(f, *a):\n    return f(*a)\n", NO_SOURCE, "exec"), _namespace)


def reference(exc: BaseException, hide: tuple[str, ...]) -> str:
    """What render.render_exception wrote before stacks were kept (536fac9)."""
    report = traceback.TracebackException.from_exception(exc)
    report.stack = traceback.StackSummary.from_list([f for f in report.stack if f.filename not in hide])
    return "".join(report.format())


def caught(raise_it: Callable[[str], object], text: str) -> BaseException:
    try:
        _namespace["no_source"](raise_it, text)
    except BaseException as exc:  # every kind is a case
        return exc
    raise AssertionError("did not raise")


def plain(text: str) -> None:
    raise ValueError(text)


def caused(text: str) -> None:
    try:
        plain("inner " + text)
    except ValueError as exc:
        raise KeyError(text) from exc


def in_context(text: str) -> None:
    try:
        {}["missing"]
    except KeyError:
        raise RuntimeError(text)  # noqa: B904 -- the context is the case


def suppressed(text: str) -> None:
    try:
        {}["missing"]
    except KeyError:
        raise RuntimeError(text) from None


def recursive(text: str, depth: int = 30) -> None:
    if depth == 0:
        raise OverflowError(text)
    recursive(text, depth - 1)


def name_error(text: str) -> None:
    lenn = text  # noqa: F841 -- the name the suggestion finds
    print(len(lennn))  # type: ignore[name-defined]  # noqa: F821


def attribute_error(text: str) -> None:
    text.uppr()  # type: ignore[attr-defined]


def with_notes(text: str) -> None:
    error = ValueError(text)
    if hasattr(error, "add_note"):
        error.add_note("a note\nof two lines")
    raise error


def syntax_error(text: str) -> None:
    compile(f"x = ({text!r}", "<typed>", "exec")


def group(text: str) -> None:
    if sys.version_info < (3, 11):
        raise ValueError(text)
    errors: list[Exception] = [caught(plain, text), caught(caused, text)]  # type: ignore[list-item]
    raise ExceptionGroup("several", errors)  # noqa: F821 -- a builtin from 3.11


def bad_str(text: str) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    raise Unprintable(text)


def two_on_a_line(text: str) -> None:
    plain(text) if text.startswith("x") else plain(text + "!")  # type: ignore[func-returns-value]


CASES = [plain, caused, in_context, suppressed, recursive, name_error, attribute_error, with_notes,
         syntax_error, group, bad_str, two_on_a_line]  # fmt: skip
HIDES = [(), (NO_SOURCE,), (__file__,)]


@parametrize("hide", HIDES)
@parametrize("raise_it", CASES, ids=lambda f: f.__name__)
def test_the_text_is_the_standard_librarys_the_first_time_and_the_next(
    raise_it: Callable[[str], object], hide: tuple[str, ...]
) -> None:
    """The first exception from a place (its stack formatted) and the next ones (its lines kept, the
    message, notes and chained exceptions made anew) give the standard library's text."""
    for text in ("first", "second message\nof two lines", "x third"):
        exc = caught(raise_it, text)
        assert traceback_text(exc, hide) == reference(exc, hide), text


def test_an_exception_never_raised_has_no_stack() -> None:
    """Without a traceback there is no 'Traceback' line, only the exception's."""
    for text in ("a", "b"):
        assert traceback_text(ValueError(text)) == reference(ValueError(text), ()) == f"ValueError: {text}\n"


def test_the_same_function_reached_another_way_is_another_stack() -> None:
    """Stacks are told apart by every frame: the same raise reached through a deeper path has its own."""
    shallow, deep = caught(plain, "a"), caught(lambda text: plain(text), "b")
    for exc in (shallow, deep, shallow, deep):
        assert traceback_text(exc) == reference(exc, ())


def reference_at(exc: BaseException, head: TracebackType, hide: tuple[str, ...]) -> str:
    """The reference text of `exc` when its traceback began at `head` (as a catcher there saw it)."""
    report = traceback.TracebackException(type(exc), exc, head)
    report.stack = traceback.StackSummary.from_list([f for f in report.stack if f.filename not in hide])
    return "".join(report.format())


def levels_seen(exc: BaseException) -> list[str]:
    """What each ErrorCatcher an exception passed saw, innermost first: the reference text from the
    traceback entry of each ErrorCatcher wrapper on."""
    from mpmon import wrappers

    heads, tb = [], exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in wrappers._CATCHER_CODES:
            heads.append(tb)
        tb = tb.tb_next
    return [reference_at(exc, head, wrappers._HIDDEN) for head in reversed(heads)]


def recursion_traces(start: Callable[[], object]) -> tuple[list[str], list[str]]:
    """The tracebacks ErrorCatcher recorded while `start()` raised, and what each level saw."""
    from mpmon.testing import capture_records

    with capture_records() as records:
        try:
            start()
        except Exception as exc:  # what every level wrote is compared with what it saw
            chain: list[BaseException] = [exc]
            while chain[-1].__cause__ is not None:
                chain.append(chain[-1].__cause__)  # type: ignore[arg-type]
        else:
            raise AssertionError("did not raise")
    return [r.traceback for r in records.errors], [text for e in reversed(chain) for text in levels_seen(e)]


def test_each_level_of_a_decorated_recursion_writes_the_traceback_it_saw() -> None:
    """An exception passing 60 ErrorCatchers of a recursion (each level formats only its new frames)
    is written by each with the standard library's text of the traceback at that level; so are a
    recursion of two functions, one with a Timer under the catcher, and one that swaps its exception."""
    import mpmon

    @mpmon.ErrorCatcher(log_to_console=False)
    def deep(level: int) -> int:
        if level == 0:
            raise ValueError("bottom")
        return deep(level - 1)

    @mpmon.ErrorCatcher(log_to_console=False)
    @mpmon.Timer(log_to_console=False)
    def ping(level: int) -> int:
        return pong(level - 1) if level else deep(2)

    @mpmon.ErrorCatcher(log_to_console=False)
    def pong(level: int) -> int:
        try:
            return ping(level)
        except ValueError as exc:
            if level == 7:
                raise KeyError("swapped") from exc
            raise

    for start in (lambda: deep(60), lambda: ping(20)):
        written, seen = recursion_traces(start)
        assert len(written) > 20 and written == seen


def test_an_exception_handled_between_two_catchers_hands_nothing_on() -> None:
    """A catcher that handed its work on to one above that never saw the exception (the program handled
    it between them) leaves the next exception's text whole."""
    import mpmon

    @mpmon.ErrorCatcher(log_to_console=False)
    def inner(text: str) -> None:
        raise ValueError(text)

    @mpmon.ErrorCatcher(log_to_console=False)
    def outer(text: str) -> None:
        with contextlib.suppress(ValueError):
            inner(text)
        inner(text + " again")

    written, seen = recursion_traces(lambda: outer("first"))
    assert len(written) == 3 and written[1:] == seen


class Held:
    """Stands for a big array in a local of the raising frame."""


def held_after(handle: Callable[[Callable[[], None]], None]) -> bool:
    """Whether a local of the frame that raised is still alive once the program handled the exception
    (`handle` calls the raising function, stops its exception somewhere between two ErrorCatchers and
    returns) and dropped it."""
    import gc
    import weakref

    import mpmon
    from mpmon.testing import capture_records

    local: list[weakref.ref[Held]] = []

    @mpmon.ErrorCatcher(log_to_console=False)
    def inner() -> None:
        held = Held()
        local.append(weakref.ref(held))
        raise ValueError("handled")

    @mpmon.ErrorCatcher(log_to_console=False)
    def outer() -> None:
        handle(inner)

    with capture_records() as records:
        outer()
    assert [e.error_type for e in records.errors] == ["ValueError"]
    gc.collect()
    return local[0]() is not None


def suppressed_by_with(raise_it: Callable[[], None]) -> None:
    with contextlib.suppress(ValueError):
        raise_it()


def suppressed_by_try(raise_it: Callable[[], None]) -> None:
    try:
        raise_it()
    except ValueError as exc:
        assert str(exc) == "handled"


@parametrize("handle", [suppressed_by_with, suppressed_by_try], ids=lambda f: f.__name__)
def test_an_exception_handled_between_two_catchers_is_not_kept_after(
    handle: Callable[[Callable[[], None]], None],
) -> None:
    """What a catcher hands on to the next one holds the exception, its traceback and so its frames'
    locals: never when the program may stop it between the two, so nothing outlives its handling (as
    the standard library's `except ... as e` clears `e`)."""
    assert not held_after(handle)


def test_an_exception_stopped_by_c_code_between_two_catchers_is_not_kept_after() -> None:
    """hasattr() stops an AttributeError with no `try` in Python: a catcher does not hand one on."""
    import gc
    import weakref

    import mpmon
    from mpmon.testing import capture_records

    local: list[weakref.ref[Held]] = []

    class Probe:
        @property
        @mpmon.ErrorCatcher(log_to_console=False)
        def value(self) -> None:
            held = Held()
            local.append(weakref.ref(held))
            raise AttributeError("value")

    @mpmon.ErrorCatcher(log_to_console=False)
    def outer() -> bool:
        return hasattr(Probe(), "value")

    with capture_records() as records:
        assert outer() is False
    assert [e.error_type for e in records.errors] == ["AttributeError"]
    gc.collect()
    assert local[0]() is None


def test_a_source_file_edited_between_two_raises_is_read_again() -> None:
    """The second exception from the same frames shows the line as the file now holds it, as
    `traceback.format_exception` does (its `linecache.checkcache`); and again once the file is gone."""
    import importlib.util
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "edited_module.py")
        with open(path, "w") as file:
            file.write("def boom(text):\n    raise ValueError(text)  # as first written\n")
        spec = importlib.util.spec_from_file_location("edited_module", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        texts = []
        for edit in ("    raise ValueError(text)  # edited: a longer line than before\n", "", None):
            exc = caught(module.boom, "same")
            texts.append(traceback_text(exc))
            assert texts[-1] == reference(exc, ()), texts[-1]
            if edit == "":
                os.remove(path)
            elif edit is not None:
                with open(path, "w") as file:
                    file.write("def boom(text):\n" + edit)
    assert "as first written" in texts[0] and "edited: a longer line" in texts[1]
    assert "raise ValueError" not in texts[2]


def test_a_mutual_recursion_writes_no_more_than_the_standard_library() -> None:
    """f -> g -> f ... (both caught), 600 levels: the standard library shows every frame of such a
    stack (no run repeats), so each level's text grows; the text written at a level is the standard
    library's for that level (some levels checked whole), bounded as error.log bounds it (the deepest
    over 64 KiB), never longer."""
    import mpmon
    from mpmon import wrappers
    from mpmon.render import MAX_TEXT, bounded_text
    from mpmon.testing import capture_records

    @mpmon.ErrorCatcher(log_to_console=False)
    def f(level: int) -> int:
        if level == 0:
            raise ValueError("bottom")
        return g(level - 1)

    @mpmon.ErrorCatcher(log_to_console=False)
    def g(level: int) -> int:
        return f(level - 1)

    before = sys.getrecursionlimit()
    sys.setrecursionlimit(5_000)
    try:
        with capture_records() as records:
            exc = caught(lambda _: f(600), "")
    finally:
        sys.setrecursionlimit(before)
    heads: list[TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in wrappers._CATCHER_CODES:
            heads.insert(0, tb)  # innermost first, as the records
        tb = tb.tb_next
    written = [e.traceback for e in records.errors]
    assert len(written) == len(heads) == 601
    for level in (0, 1, 2, 3, 100, 299, 300, 450, 599, 600):
        assert written[level] == bounded_text(reference_at(exc, heads[level], wrappers._HIDDEN)), level
    assert len(reference_at(exc, heads[-1], wrappers._HIDDEN)) > MAX_TEXT
    assert max(len(text) for text in written) < MAX_TEXT + 100  # the line saying how much was left out


if __name__ == "__main__":  # the same checks with any Python: PYTHONPATH=<tree> python tests/unit/...
    for case in CASES:
        for hide in HIDES:
            test_the_text_is_the_standard_librarys_the_first_time_and_the_next(case, hide)
    test_an_exception_never_raised_has_no_stack()
    test_the_same_function_reached_another_way_is_another_stack()
    test_each_level_of_a_decorated_recursion_writes_the_traceback_it_saw()
    test_an_exception_handled_between_two_catchers_hands_nothing_on()
    for handle in (suppressed_by_with, suppressed_by_try):
        test_an_exception_handled_between_two_catchers_is_not_kept_after(handle)
    test_an_exception_stopped_by_c_code_between_two_catchers_is_not_kept_after()
    test_a_source_file_edited_between_two_raises_is_read_again()
    test_a_mutual_recursion_writes_no_more_than_the_standard_library()
    print(f"{sys.version.split()[0]}: {len(CASES) * len(HIDES) + 9} checks passed")

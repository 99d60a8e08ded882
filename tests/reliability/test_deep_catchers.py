"""An exception that passes 20,000 ErrorCatchers (a decorated recursion) is written by each of them, in
seconds: each level formats only the frames its traceback gained (mpmon/tracebacks.py). 536fac9 formatted
the whole traceback at every level, n * n / 2 frames: 1,000 levels took 6 to 8 s of CPU, 20,000 would take
about an hour. Every level's text is the standard library's (checked at a few levels here, at every level of
shorter recursions in tests/unit/test_tracebacks.py)."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator

import pytest

import mpmon
from mpmon import testing, wrappers

LEVELS = 20_000


@pytest.fixture
def deep_limit() -> Iterator[None]:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(3 * LEVELS)
    yield
    sys.setrecursionlimit(before)


def seen_at(exc: BaseException, head: object) -> str:
    """What the standard library writes for `exc` with its traceback from `head` on, mpmon's frames out."""
    report = traceback.TracebackException(type(exc), exc, head)  # type: ignore[arg-type]
    kept = [f for f in report.stack if f.filename not in wrappers._HIDDEN]
    report.stack = traceback.StackSummary.from_list(kept)
    return "".join(report.format())


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(sys.version_info < (3, 11), reason="before 3.11 a decorated recursion stops far sooner")
def test_an_exception_through_20000_catchers_is_written_by_each(deep_limit: None) -> None:
    """20,001 error records, innermost first, each with the traceback its level saw: a few levels are
    compared whole with the standard library's text; every one ends with the exception."""

    @mpmon.ErrorCatcher(log_to_console=False)
    def deep(level: int) -> int:
        if level == 0:
            raise ValueError("bottom")
        return deep(level - 1)

    with testing.capture_records() as records, pytest.raises(ValueError) as raised:
        deep(LEVELS)
    errors = records.errors
    assert len(errors) == LEVELS + 1
    assert all(e.traceback.endswith("ValueError: bottom\n") for e in errors)
    heads, tb = [], raised.value.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in wrappers._CATCHER_CODES:
            heads.append(tb)
        tb = tb.tb_next
    heads.reverse()  # innermost first, as the records
    for level in (0, 1, 2, 3, 4, 5, 1_000, LEVELS - 1, LEVELS):
        assert errors[level].traceback == seen_at(raised.value, heads[level]), level
    assert f"[Previous line repeated {LEVELS - 3} more times]" in errors[LEVELS].traceback

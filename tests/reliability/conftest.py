"""The reliability suite's figures: each case reports what it ran, how many records, how many were lost and
how long it took; the figures are printed at the end of the session. (Running programs and reading their
files: tests/helpers.py.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

_FIGURES: list[str] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """Note a case's figures (what ran, records, lost, seconds); printed at the end of the session."""

    def note(ran: str, records: int, lost: int, seconds: float, **more: object) -> None:
        extra = "".join(f", {k}={v}" for k, v in more.items())
        _FIGURES.append(
            f"{request.node.name}: {ran}; records={records}, lost={lost}, time={seconds:.2f}s{extra}"
        )

    yield note


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("mpmon reliability figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)

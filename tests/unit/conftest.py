"""The unit set stays in this process: a test that leaves a child process behind (a collector, a pool
worker, a subprocess) fails, so a real-process test cannot slip in here and slow the set down."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest


@pytest.fixture(autouse=True)
def no_child_process() -> Iterator[None]:
    """After the test, this process has no child process."""
    yield
    children = psutil.Process().children(recursive=True)
    assert children == [], f"a unit test started {children}: it belongs with the real-process tests"

"""Declared progress: a run's total and the items done, so the live view (`mpmon top`) shows an ETA.

`progress(total=N)` declares a total and returns a counter whose `update(n)` counts items done;
`track(iterable)` does both for a loop, as tqdm does. Any process may count: each sends small PROGRESS
records (wire.py) through its sender, at most a few a second (counts are summed locally in between),
and the collector adds them up per label. Progress is only shown live: it is not written to the logs,
and a process that spills its records (no collector reachable) loses its counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Final, TypeVar

from .calls import arm
from .state import sender, stack
from .wire import PROGRESS

__all__ = ["Progress", "progress", "track"]

T = TypeVar("T")
SEND_SECONDS: Final = 0.25
"""A process sends its count at most this often (and when its counter is closed)."""
DEFAULT_LABEL: Final = "progress"


class Progress:
    """A counter of items done towards a declared total (`progress()` makes it)."""

    def __init__(self, total: int | None = None, label: str = DEFAULT_LABEL) -> None:
        if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 0):
            raise TypeError(f"total must be a whole number of items (or None), not {total!r}")
        if not isinstance(label, str):
            raise TypeError(f"label must be a string, not {label!r}")
        self.label = label
        self.total = total
        self.done = 0
        self._pending = 0
        self._sent = 0.0
        if total is not None:
            self._send(total)

    def update(self, n: int = 1) -> None:
        """Count `n` more items done."""
        self.done += n
        self._pending += n
        if time.monotonic() - self._sent >= SEND_SECONDS:
            self._send(-1)

    def close(self) -> None:
        """Send what is counted and not yet sent (also at the end of `track()` and of a `with` block, and
        when the counter is dropped)."""
        if getattr(self, "_pending", 0):
            self._send(-1)

    def _send(self, total: int) -> None:
        try:
            if not sender.ready:
                arm()
            # Outside any monitored call (parent 0) a pool worker hands it over at once, as a call's end.
            sender.add((PROGRESS, time.time_ns(), self.label, total, self._pending), stack.current)
        except Exception:  # progress is a display: it never breaks the program
            return
        self._pending, self._sent = 0, time.monotonic()

    def __del__(self) -> None:
        self.close()  # a counter dropped in a worker still hands over its last counts

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(total: int | None = None, *, label: str = DEFAULT_LABEL) -> Progress:
    """Declare the run's total of items (`label` names it if a program has several); count items done
    with `.update(n)` from any process (`progress(label=...)` there makes a counter without a total)."""
    return Progress(total, label)


def track(iterable: Iterable[T], total: int | None = None, *, label: str = DEFAULT_LABEL) -> Iterator[T]:
    """Yield the items of `iterable`, counting each as done; the total is `len(iterable)` when it has one."""
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with Progress(total, label) as counter:
        for item in iterable:
            yield item
            counter.update()

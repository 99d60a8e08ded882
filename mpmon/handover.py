"""A pool worker's records leave before its result: the flush is hooked into the write lock of the
worker's result queue, since the pool may end the worker with no exit hook at all once it has every
result (`Pool.__exit__` terminates its workers). Where the queue offers no lock to hook (see
compat.result_queue_lock), the sender flushes at the end of each outermost call instead."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from . import compat

__all__ = ["FlushFirst", "flush_before_results"]


class FlushFirst:
    """Stands in for the write lock of a pool worker's result queue: the worker's records are handed to
    the collector before each result is sent, so that once the pool's owner sees a task done, its
    records are safe from a terminate()."""

    def __init__(self, lock: Any, flush: Callable[[], None]) -> None:
        self.lock = lock
        self.flush = flush

    def __enter__(self) -> Any:
        try:
            self.flush()
        except Exception as failure:  # the pool must get its result whatever happens to the records
            print(f"mpmon: could not hand records over before a result: {failure!r}", file=sys.stderr)
        return self.lock.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        return self.lock.__exit__(*exc_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lock, name)


def flush_before_results(queue: Any, flush: Callable[[], None]) -> bool:
    """Make `queue` flush before it sends; False if this Python's queue offers no lock to hook."""
    lock = compat.result_queue_lock(queue)
    if lock is None:
        return False
    if not isinstance(lock, FlushFirst):
        compat.set_result_queue_lock(queue, FlushFirst(lock, flush))
    return True

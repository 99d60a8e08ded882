"""The per-process sender: a bounded buffer of raw records, the flush points, and the way out.

Records are appended to a list by the decorators and hooks (no I/O, no formatting) and handed to the
collector in batches over an authenticated socket. A batch leaves when it is full, when the flush
interval has passed, at `flush()`, at exit (atexit, and multiprocessing's Finalize, since pool workers
skip atexit), at SIGTERM (how `Pool.__exit__` ends its workers) and, for errors, at once. Where no
SIGTERM handler can be installed, a child flushes when its outermost monitored call returns instead.
A forked child starts with an empty buffer, fresh locks and no connection. When no collector answers,
records are spilled to a per-process file in the log directory, which the next collector ingests.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from multiprocessing import AuthenticationError, connection
from time import perf_counter_ns
from types import FrameType
from typing import Any, Final

from . import environment
from .wire import encode_batch

__all__ = ["BATCH_SIZE", "FLUSH_INTERVAL_NS", "Sender", "sender"]

BATCH_SIZE: Final = 1024
"""Records per batch; also the bound of the buffer, since a full buffer is flushed before it grows."""
FLUSH_INTERVAL_NS: Final = 1_000_000_000
"""A record waits at most this long in the buffer while its process keeps making calls."""
RECONNECT_DELAY_NS: Final = 500_000_000
"""After a failed connection attempt, records are spilled without retrying for this long."""


class CallStack(threading.local):
    """Per thread: the innermost monitored call (the parent of the next one) and open timed blocks."""

    current: int = 0
    blocks: dict[int, list[Any]] | None = None

    def open_block(self, owner: int, block: Any) -> None:
        """Remember a start()/with block of the Timer object whose id is `owner`."""
        if self.blocks is None:
            self.blocks = {}
        self.blocks.setdefault(owner, []).append(block)

    def close_block(self, owner: int) -> Any:
        """The innermost open block of `owner` in this thread, forgotten; None if there is none."""
        blocks = (self.blocks or {}).get(owner)
        if not blocks:
            return None
        block = blocks.pop()
        if not blocks:
            del self.blocks[owner]  # type: ignore[union-attr]
        return block


class Sender:
    """This process's buffer, its connection to the collector and its flush points."""

    autostart: Callable[[], object] | None = None
    """Set by the package: starts a collector for a top-level process that has none."""

    def __init__(self) -> None:
        self.stack = CallStack()
        self._host = socket.gethostname()
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """Start afresh: in a new process, nothing of the parent's buffer, lock or connection is kept."""
        self.buffer: list[tuple[Any, ...]] = []
        self.limit = 0  # 0 until armed in this process, so that the first record takes the slow path
        self.deadline_ns = 0
        self.eager = False
        self.terminating = False
        self.counter = itertools.count(1)
        self.stack.current = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._id_prefix = str(uuid.uuid4())[:24]
        self._conn: connection.Connection | None = None
        self._retry_ns = 0
        self._previous_sigterm: Any = None
        self._discovery = environment.discover()
        self.spilled = 0

    def next_call_no(self) -> int:
        return next(self.counter)

    def call_id(self, call_no: int) -> str:
        """The UUID text of this process's call number `call_no` (the collector does the same)."""
        return f"{self._id_prefix}{call_no:012x}"

    # -- flushing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand every buffered record to the collector (or, failing that, to a spill file) now."""
        with self._lock:
            if not self.limit:
                self._arm()
            count = len(self.buffer)
            if count:
                batch = self.buffer[:count]
                del self.buffer[:count]
                self._deliver(batch)
            self.deadline_ns = perf_counter_ns() + FLUSH_INTERVAL_NS
        if self.terminating:
            self._finish_termination()

    def rediscover(self) -> None:
        """Read the environment again (start_collector changed it in this process).

        Lock-free, since start_collector may run inside a flush (autostart): a send under way on the
        old connection fails and is retried on the new one.
        """
        self._discovery = environment.discover()
        self._retry_ns = 0
        self._close()

    def _arm(self) -> None:
        """At this process's first record: start a collector if it is a top-level process without one,
        then register the exit flushes and, in any other process of the run, the SIGTERM flush."""
        self.limit = BATCH_SIZE
        if self._discovery.address is None and self.autostart is not None and environment.is_top_level():
            self.autostart()
        atexit.register(self.flush)
        for name in ("multiprocessing.util", "multiprocess.util"):
            util = sys.modules.get(name)
            if util is not None:
                util.Finalize(None, self.flush, exitpriority=100)
        if not environment.is_owner():
            self.eager = not self._install_sigterm_flush()

    def _install_sigterm_flush(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        try:
            previous = signal.getsignal(signal.SIGTERM)
            if previous is signal.SIG_IGN or previous is None:
                return previous is signal.SIG_IGN
            signal.signal(signal.SIGTERM, self._on_sigterm)
        except (ValueError, OSError):
            return False
        self._previous_sigterm = previous
        return True

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.terminating = True
        if self._lock.acquire(blocking=False):  # else a flush is under way; it finishes the termination
            try:
                self._deliver_all()
            finally:
                self._lock.release()
            self._finish_termination(frame)

    def _deliver_all(self) -> None:
        count = len(self.buffer)
        if count:
            batch = self.buffer[:count]
            del self.buffer[:count]
            self._deliver(batch)

    def _finish_termination(self, frame: FrameType | None = None) -> None:
        previous = self._previous_sigterm
        if callable(previous):
            self.terminating = False
            previous(signal.SIGTERM, frame)
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    # -- delivery ------------------------------------------------------------------------------

    def _meta(self) -> tuple[Any, ...]:
        return (self._pid, _process_name(), self._host, self._id_prefix, self._discovery.run_id)

    def _deliver(self, batch: list[tuple[Any, ...]]) -> None:
        meta = self._meta()
        payload = encode_batch(meta, batch)
        for _attempt in range(2):
            conn = self._connection()
            if conn is None:
                break
            try:
                conn.send_bytes(payload)
                return
            except (OSError, EOFError):
                self._close()
        self._spill(meta, batch)

    def _connection(self) -> connection.Connection | None:
        if self._conn is not None:
            return self._conn
        if perf_counter_ns() < self._retry_ns:
            return None
        d = self._discovery
        if d.address is None or d.authkey is None:
            self._retry_ns = perf_counter_ns() + RECONNECT_DELAY_NS
            return None
        try:
            self._conn = connection.Client(d.address, authkey=d.authkey)
        except (OSError, EOFError, AuthenticationError):
            self._retry_ns = perf_counter_ns() + RECONNECT_DELAY_NS
            return None
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def _spill(self, meta: tuple[Any, ...], batch: list[tuple[Any, ...]]) -> None:
        from . import spill

        self.spilled += spill.write(self._discovery.log_dir, meta, batch)


def _process_name() -> str:
    """This process's name as multiprocessing (or the multiprocess package, which started it) knows it."""
    from multiprocessing import current_process

    name = current_process().name
    other = sys.modules.get("multiprocess")
    if name == "MainProcess" and other is not None:
        name = other.current_process().name
    return name


sender: Final = Sender()
"""The one sender of this process (reset in place in a forked child)."""

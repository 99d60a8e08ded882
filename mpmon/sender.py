"""The per-process sender: a bounded buffer of raw records, the flush points, and the way out.

Records are appended to a list by the decorators and hooks (no I/O, no formatting) and handed to the
collector in batches over an authenticated socket. A batch leaves when it is full, when the flush
interval has passed, at `flush()`, at exit (atexit, and multiprocessing's Finalize, since pool workers
skip atexit) and, for errors, at once. A pool worker also flushes before it sends each result to its
pool, since the pool may end it with no exit hook at all once it has every result (`Pool.__exit__`
terminates its workers): the flush is hooked into the write lock of the worker's result queue. A
SIGTERM handler would be unsafe: a signal landing just before a worker blocks on the pool's queue lock
leaves the Python handler unrun and the worker hung forever. A forked child starts with an empty
buffer, fresh locks and no connection. When no collector answers, records are spilled to a
per-process file in the log directory, which the next collector ingests.

Every batch is numbered, and the collector confirms (ACK) each one once it is on disk. A sender keeps
the batches it sent until they are confirmed (at most ACK_WINDOW records; past it a flush waits, or,
under the opt-in drop policy, drops the new batch and counts it). Confirmations are read only inside
a flush. When a connection breaks, the unconfirmed batches are spilled, marked with their number, so
a collector that did write them before it died skips them. At exit a process waits a moment for the
last confirmations.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import select
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable
from multiprocessing import AuthenticationError, connection
from time import perf_counter_ns
from typing import Any, Final

from . import environment
from .wire import ACK, DROPPED, SYNC, connect, encode_batch

__all__ = ["BATCH_SIZE", "FLUSH_INTERVAL_NS", "Sender", "sender"]

BATCH_SIZE: Final = 1024
"""Records per batch; also the bound of the buffer, since a full buffer is flushed before it grows."""
FLUSH_INTERVAL_NS: Final = 1_000_000_000
"""A record waits at most this long in the buffer while its process keeps making calls."""
RECONNECT_DELAY_NS: Final = 500_000_000
"""After a failed connection attempt, records are spilled without retrying for this long."""
ACK_WINDOW: Final = 4 * BATCH_SIZE
"""Records sent but not yet confirmed by the collector; past this a flush waits (or drops, if asked)."""
HUNG_RETRY_NS: Final = 30_000_000_000
"""After a handshake that timed out (a collector that hangs), records are spilled for this long."""
ACK_WAIT_NS: Final = 30_000_000_000
"""A flush waits this long at most for a confirmation; then the unconfirmed batches are spilled."""
CONNECT_SECONDS: Final = 10.0
"""Longest wait for the collector's handshake (a restarted collector takes a moment to answer)."""
SETTLE_SECONDS: Final = 5.0
"""At exit, how long a process waits for the collector to confirm what it sent."""

Record = tuple[Any, ...]


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
        self._host = environment.host_name()
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """Start afresh: in a new process, nothing of the parent's buffer, lock or connection is kept."""
        self.buffer: list[tuple[Any, ...]] = []
        self.limit = 0  # 0 until armed in this process, so that the first record takes the slow path
        self.deadline_ns = 0
        self.eager = False
        self.counter = itertools.count(1)
        self.stack.current = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._id_prefix = str(uuid.uuid4())[:24]
        self._conn: connection.Connection | None = None
        self._retry_ns = 0
        self._discovery = environment.discover()
        self.spilled = 0
        self._seqs = itertools.count(1)
        self._unacked: deque[tuple[int, tuple[Any, ...], list[Record]]] = deque()
        self._unacked_count = 0
        self._dropped = 0  # dropped under the drop policy and not yet reported to a collector

    # -- flushing ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Arm this process and connect, before its first monitored call starts its clocks, so that
        neither the connection nor a collector started on demand is timed as part of a call."""
        with self._lock:
            if not self.limit:
                self._arm()
                self.deadline_ns = perf_counter_ns() + FLUSH_INTERVAL_NS
                self._connection()

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

    def finish(self, timeout: float = SETTLE_SECONDS) -> None:
        """Flush, then wait up to `timeout` until the collector confirms every batch sent (at exit and at
        stop_collector); what it has not confirmed by then is spilled, so it is kept either way."""
        with self._lock:
            if self.limit:
                self._deliver_all(final=True)
                self._settle(timeout)

    def rediscover(self) -> None:
        """Read the environment again (start_collector changed it in this process).

        Lock-free, since start_collector may run inside a flush (autostart): a send under way on the
        old connection fails and is retried on the new one.
        """
        self._discovery = environment.discover()
        self._host = environment.host_name()
        self._retry_ns = 0
        self._abandon()

    def _arm(self) -> None:
        """At this process's first record: start a collector if it is a top-level process without one,
        then register the exit flushes."""
        self.limit = BATCH_SIZE
        if self._discovery.address is None and self.autostart is not None and environment.is_top_level():
            self.autostart()
        atexit.register(self.finish)
        for name in ("multiprocessing.util", "multiprocess.util"):
            util = sys.modules.get(name)
            if util is not None:
                util.Finalize(None, self.finish, exitpriority=100)
        # A pool may end its workers with no exit hook run (Pool.__exit__ terminates them): a worker
        # hands its records over before it reports a result, or, where that cannot be hooked, when its
        # outermost monitored call returns.
        worker_args = environment.pool_worker_args()
        if worker_args is not None:
            hooked = len(worker_args) > 1 and _flush_before_results(worker_args[1], self.flush)
            self.eager = not hooked

    def _deliver_all(self, final: bool = False) -> None:
        count = len(self.buffer)
        if count or (final and self._dropped):
            batch = self.buffer[:count]
            del self.buffer[:count]
            self._deliver(batch, final)

    # -- delivery ------------------------------------------------------------------------------

    def _meta(self) -> tuple[Any, ...]:
        return (self._pid, _process_name(), self._host, self._id_prefix, self._discovery.run_id)

    def _deliver(self, batch: list[Record], final: bool = False) -> None:
        """Send a batch and keep it until confirmed; spill it if no collector takes it. `final`: at
        exit or stop, when even the drop policy waits (so that the count of drops gets out)."""
        if self._dropped:
            batch.append((DROPPED, self._dropped))
            self._dropped = 0
        meta = self._meta()
        seq = next(self._seqs)
        payload = encode_batch(meta, batch, seq)
        for _attempt in range(2):
            conn = self._connection()
            if conn is None:
                break
            try:
                if not self._make_room(conn, len(batch), final):
                    self._dropped += sum(r[1] if r[0] == DROPPED else 1 for r in batch)
                    return
                conn.send_bytes(payload)
            except (OSError, EOFError, ValueError):
                self._abandon()
                continue
            except BaseException:  # KeyboardInterrupt while waiting: keep the batch, leave no half message
                self._abandon()
                self._spill(meta, batch, seq)
                raise
            self._unacked.append((seq, meta, batch))
            self._unacked_count += len(batch)
            return
        self._spill(meta, batch, seq)

    def _make_room(self, conn: connection.Connection, count: int, final: bool) -> bool:
        """Read the confirmations that arrived; wait for enough of them to stay inside ACK_WINDOW.
        False when the drop policy says this batch is to be dropped instead."""
        self._read_acks(conn, 0.0)
        dropping = self._discovery.drop_policy == "drop" and not final
        deadline = perf_counter_ns() + (int(SETTLE_SECONDS * 1e9) if final else ACK_WAIT_NS)
        synced = False
        while self._unacked_count and self._unacked_count + count > ACK_WINDOW:
            if dropping:
                return False
            if not synced:
                conn.send_bytes(SYNC)
                synced = True
            remaining = deadline - perf_counter_ns()
            if remaining <= 0:
                raise OSError("the collector confirmed nothing for too long")
            self._read_acks(conn, remaining / 1e9)
        return not dropping or bool(select.select([], [conn], [], 0)[1])

    def _read_acks(self, conn: connection.Connection, timeout: float) -> None:
        """Forget the batches the collector confirmed; wait up to `timeout` for the first message."""
        while conn.poll(timeout):
            message = conn.recv_bytes()
            timeout = 0.0
            if message.startswith(ACK):
                confirmed = int(message[len(ACK) :])
                unacked = self._unacked
                while unacked and unacked[0][0] <= confirmed:
                    self._unacked_count -= len(unacked.popleft()[2])

    def _settle(self, timeout: float) -> None:
        """Wait up to `timeout` for the confirmation of every batch sent; spill the rest."""
        deadline = perf_counter_ns() + int(timeout * 1e9)
        synced = False
        while self._unacked and self._conn is not None:
            remaining = deadline - perf_counter_ns()
            try:
                if remaining <= 0:
                    raise OSError("no confirmation in time")
                if not synced:
                    self._conn.send_bytes(SYNC)
                    synced = True
                self._read_acks(self._conn, remaining / 1e9)
            except (OSError, EOFError, ValueError):
                self._abandon()

    def _connection(self) -> connection.Connection | None:
        if self._conn is not None:
            return self._conn
        if perf_counter_ns() < self._retry_ns:
            return None
        d = self._discovery
        if d.address is None or d.authkey is None:
            self._retry_ns = perf_counter_ns() + RECONNECT_DELAY_NS
            return None
        started = perf_counter_ns()
        try:
            self._conn = connect(d.address, d.authkey, CONNECT_SECONDS, ACK_WAIT_NS / 1e9)
        except (OSError, EOFError, AuthenticationError):
            now = perf_counter_ns()
            hung = now - started > RECONNECT_DELAY_NS  # the handshake timed out: retried less often
            self._retry_ns = now + (HUNG_RETRY_NS if hung else RECONNECT_DELAY_NS)
            return None
        return self._conn

    def _abandon(self) -> None:
        """Leave the connection: keep what the collector confirmed, spill (marked) what it did not."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, EOFError, ValueError):
                self._read_acks(conn, 0.0)
            with contextlib.suppress(OSError):
                conn.close()
        unacked, self._unacked, self._unacked_count = self._unacked, deque(), 0
        for seq, meta, batch in unacked:
            self._spill(meta, batch, seq)

    def _spill(self, meta: tuple[Any, ...], batch: list[Record], seq: int = 0) -> None:
        from . import spill

        self.spilled += spill.write(self._discovery.log_dir, meta, batch, seq)


class _FlushFirst:
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


def _flush_before_results(queue: Any, flush: Callable[[], None]) -> bool:
    """Make `queue` (a SimpleQueue, whose put() takes its `_wlock`) flush before it sends; False if it
    has no such lock."""
    lock = getattr(queue, "_wlock", None)
    if lock is None:
        return False
    if not isinstance(lock, _FlushFirst):
        queue._wlock = _FlushFirst(lock, flush)
    return True


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

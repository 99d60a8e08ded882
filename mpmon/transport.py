"""The ways a batch leaves a process: the acknowledged socket, the spill file, and memory (for tests).

A transport takes a numbered batch and says whether it took it; the sender (sender.py) decides when a
batch leaves, a transport only how. The socket transport keeps each batch it sent until the collector
confirms (ACK) that it is on disk, at most ACK_WINDOW records and ACK_WINDOW_BYTES bytes as sent; when a
connection breaks, the batches
not yet confirmed go to the spill file, marked with their number, so that a collector that did write
them skips them. Every connect has a deadline, and a process that could not connect retries only after
a pause, spilling meanwhile.
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections import deque
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection
from time import perf_counter_ns
from typing import Any, Final, Protocol

from . import environment
from .wire import ACK, DROPPED, FLUSH, GATHER, GATHERED, LOST, MAX_MESSAGE, SYNC, connect, encode_batch

__all__ = [
    "ACK_WINDOW",
    "ACK_WINDOW_BYTES",
    "CONNECT_SECONDS",
    "Delivery",
    "MemoryTransport",
    "Record",
    "SocketTransport",
    "SpillTransport",
    "Transport",
]

Record = tuple[Any, ...]
Meta = tuple[Any, ...]

ACK_WINDOW: Final = 4096
"""Records sent but not yet confirmed by the collector; past this a send waits (or drops, if asked)."""
ACK_WINDOW_BYTES: Final = MAX_MESSAGE
"""The same window in bytes sent (what is kept for them is about as large): records counted alone let
4,096 records of 64 KiB texts each (errors with their tracebacks, or long arguments), half a GiB, wait
in a process for their confirmation. A full window of usual call records is about 1 MiB; one batch
larger than this is still sent, alone."""
RECONNECT_DELAY_NS: Final = 500_000_000
"""After a failed connection attempt, records are spilled without retrying for this long."""
HUNG_RETRY_NS: Final = 30_000_000_000
"""After a connection attempt that ran out of time (a collector that hangs), the pause is this long."""
ACK_WAIT_NS: Final = 30_000_000_000
"""A send waits this long at most for a confirmation; then the unconfirmed batches are spilled."""
CONNECT_SECONDS: Final = 10.0
"""Deadline of a connection, connect() and handshake together (a restarted collector takes a moment)."""
FINAL_WAIT_NS: Final = 5_000_000_000
"""At exit or stop, how long a full window waits for room before the batch is spilled."""


class Delivery:
    """What a transport did with a batch."""

    SENT: Final = "sent"
    DROPPED: Final = "dropped"  # refused under the drop policy: the caller counts it
    FAILED: Final = "failed"  # not taken: the caller spills it
    TOO_LARGE: Final = "too large"  # not sent, past wire.MAX_MESSAGE: the caller splits it


class Transport(Protocol):
    """Where batches go."""

    def deliver(self, meta: Meta, batch: list[Record], seq: int, final: bool) -> str:
        """Send one batch (a Delivery value). `final`: at exit or stop, when even the drop policy waits."""
        ...

    def confirm(self, timeout: float) -> bool:
        """Wait up to `timeout` s until every batch delivered is confirmed on disk; True if all were."""
        ...

    def mark(self, meta: Meta, seq: int) -> bool:
        """Ask for everything delivered so far to be written out; `confirm()` then waits for it."""
        ...

    def close(self) -> None:
        """Let go of any connection (what is unconfirmed is kept elsewhere first)."""
        ...


class SpillTransport:
    """Appends batches to this process's spill file in the log directory (see spill.py)."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.spilled = 0

    def deliver(self, meta: Meta, batch: list[Record], seq: int, final: bool = False) -> str:
        from . import spill

        kept = spill.write(self.log_dir, meta, batch, seq)
        self.spilled += kept
        return Delivery.SENT if kept or not batch else Delivery.FAILED

    def confirm(self, timeout: float) -> bool:
        return False  # a spill file is on disk, but no collector has confirmed it

    def mark(self, meta: Meta, seq: int) -> bool:
        return False

    def close(self) -> None:
        pass


class MemoryTransport:
    """Keeps every batch in a list: `mpmon.testing.capture_records()` reads it."""

    def __init__(self) -> None:
        self.batches: list[tuple[Meta, list[Record], int]] = []

    def deliver(self, meta: Meta, batch: list[Record], seq: int, final: bool = False) -> str:
        self.batches.append((meta, list(batch), seq))
        return Delivery.SENT

    def confirm(self, timeout: float) -> bool:
        return True

    def mark(self, meta: Meta, seq: int) -> bool:
        return True

    def close(self) -> None:
        pass


class SocketTransport:
    """The authenticated socket to the run's collector, with its window of unconfirmed batches."""

    def __init__(self, discovery: environment.Discovery, spill: SpillTransport) -> None:
        self.discovery = discovery
        self.spill = spill
        self._conn: Connection | None = None
        self._retry_ns = 0
        self._unacked: deque[tuple[int, Meta, list[Record], int]] = deque()  # (seq, meta, batch, bytes)
        self._unacked_count = 0
        self._unacked_bytes = 0
        self._connecting = threading.Lock()
        self.gather_asked = False  # a stop asked this process to hand over what it buffers (GATHER)
        self.on_gather: Callable[[], None] | None = None  # called when GATHER comes (wakes the flusher)
        self.lost = 0  # records the collector said it could not write (LOST), since this transport began

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def fileno(self) -> int | None:
        """The connection's descriptor, for the flusher to wait on (None when not connected)."""
        conn = self._conn
        try:
            return None if conn is None else conn.fileno()
        except OSError:  # closed meanwhile
            return None

    def read_messages(self) -> None:
        """Read what the collector sent so far, without waiting: confirmations, a stop's GATHER."""
        conn = self._conn
        if conn is not None:
            try:
                self._read_acks(conn, 0.0)
            except (OSError, EOFError, ValueError):
                self.close()

    def answer_gather(self) -> None:
        """Tell the collector that everything this process buffered when it asked has been sent."""
        self.gather_asked = False
        conn = self._conn
        if conn is not None:
            try:
                conn.send_bytes(GATHERED)
            except (OSError, EOFError, ValueError):
                self.close()

    def deliver(self, meta: Meta, batch: list[Record], seq: int, final: bool = False) -> str:
        payload = encode_batch(meta, batch, seq)
        if len(payload) > MAX_MESSAGE and len(batch) > 1:
            return Delivery.TOO_LARGE
        for _attempt in range(2):
            conn = self.connection()
            if conn is None:
                break
            try:
                if not self._make_room(conn, len(batch), len(payload), final):
                    return Delivery.DROPPED
                conn.send_bytes(payload)
            except (OSError, EOFError, ValueError):
                self.close()
                continue
            except BaseException:  # KeyboardInterrupt while waiting: keep the batch, leave no half message
                self.close()
                self.spill.deliver(meta, batch, seq)
                raise
            self._unacked.append((seq, meta, batch, len(payload)))
            self._unacked_count += len(batch)
            self._unacked_bytes += len(payload)
            return Delivery.SENT
        return Delivery.FAILED

    def confirm(self, timeout: float) -> bool:
        """Wait up to `timeout` for the confirmation of every batch sent; spill the rest on failure.
        True when every batch sent is confirmed."""
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
                self.close()
        return self._conn is not None and not self._unacked

    def mark(self, meta: Meta, seq: int) -> bool:
        """Ask the collector to write out all it has from this connection (FLUSH), followed by an empty
        batch numbered `seq`: its confirmation means everything before it is on disk. False if no
        collector could be asked."""
        conn = self.connection()
        if conn is None:
            return False
        try:
            conn.send_bytes(FLUSH)
            conn.send_bytes(encode_batch(meta, [], seq))
        except (OSError, EOFError, ValueError):
            self.close()
            return False
        self._unacked.append((seq, meta, [], 0))
        return True

    def connection(self) -> Connection | None:
        """The connection, opened if need be (within CONNECT_SECONDS); None if no collector answers."""
        if self._conn is not None:
            return self._conn
        with self._connecting:  # the flusher and a pool worker's hand-over may both try
            return self._conn if self._conn is not None else self._connect()

    def _connect(self) -> Connection | None:
        if perf_counter_ns() < self._retry_ns:
            return None
        d = self.discovery
        if d.address is None or d.authkey is None:
            self._retry_ns = perf_counter_ns() + RECONNECT_DELAY_NS
            return None
        started = perf_counter_ns()
        try:
            self._conn = connect(d.address, d.authkey, CONNECT_SECONDS, ACK_WAIT_NS / 1e9)
        except (OSError, EOFError, AuthenticationError):
            now = perf_counter_ns()
            hung = now - started > RECONNECT_DELAY_NS  # it ran out of time: retried less often
            self._retry_ns = now + (HUNG_RETRY_NS if hung else RECONNECT_DELAY_NS)
            return None
        return self._conn

    def writable(self) -> bool:
        """True when connected and a send would not block (the drop policy's test before a send)."""
        conn = self._conn
        return conn is not None and bool(select.select([], [conn], [], 0)[1])

    def close(self) -> None:
        """Leave the connection: keep what the collector confirmed, spill (marked) what it did not."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, EOFError, ValueError):
                self._read_acks(conn, 0.0)
            with contextlib.suppress(OSError):
                conn.close()
        self.gather_asked = False  # a new connection has not been asked
        unacked, self._unacked, self._unacked_count, self._unacked_bytes = self._unacked, deque(), 0, 0
        for seq, meta, batch, _size in unacked:
            if batch:
                self.spill.deliver(meta, batch, seq)

    def _make_room(self, conn: Connection, count: int, size: int, final: bool) -> bool:
        """Wait for enough confirmations to stay inside the window (ACK_WINDOW records, ACK_WINDOW_BYTES
        bytes), reading those that arrived first. False when the drop policy says this batch of `count`
        records and `size` bytes is to be dropped instead.

        While the window has room the confirmations are left unread (one poll of the socket per batch
        was about a quarter of a pool worker's hand-over): they only shrink the window, so the decision
        is the one that reading them first would give; the flusher reads them meanwhile (and a stop's
        GATHER, which it waits for), and confirm() and close() read them all."""
        if self._unacked_count + count <= ACK_WINDOW and self._unacked_bytes + size <= ACK_WINDOW_BYTES:
            return self.discovery.drop_policy != "drop" or final or _writable(conn)
        self._read_acks(conn, 0.0)
        dropping = self.discovery.drop_policy == "drop" and not final
        deadline = perf_counter_ns() + (FINAL_WAIT_NS if final else ACK_WAIT_NS)
        synced = False
        while self._unacked_count and (
            self._unacked_count + count > ACK_WINDOW or self._unacked_bytes + size > ACK_WINDOW_BYTES
        ):
            if dropping:
                return False
            if not synced:
                conn.send_bytes(SYNC)
                synced = True
            remaining = deadline - perf_counter_ns()
            if remaining <= 0:
                raise OSError("the collector confirmed nothing for too long")
            self._read_acks(conn, remaining / 1e9)
        return not dropping or _writable(conn)

    def _read_acks(self, conn: Connection, timeout: float) -> None:
        """Forget the batches the collector confirmed; wait up to `timeout` for the first message. One
        poll object a call (Connection.poll makes a selector for each message, most of the cost of
        reading a confirmation)."""
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)  # any event (hang-up, error) reads as readable
        wait_ms = timeout * 1000
        while poller.poll(wait_ms):
            message = conn.recv_bytes()
            wait_ms = 0.0
            if message.startswith(ACK):
                confirmed = int(message[len(ACK) :])
                unacked = self._unacked
                while unacked and unacked[0][0] <= confirmed:
                    _seq, _meta, batch, size = unacked.popleft()
                    self._unacked_count -= len(batch)
                    self._unacked_bytes -= size
            elif message == GATHER:
                self.gather_asked = True
                if self.on_gather is not None:
                    self.on_gather()
            elif message.startswith(LOST):
                self.lost += int(message[len(LOST) :])


def _writable(conn: Connection) -> bool:
    """A send on `conn` would not block now."""
    return bool(select.select([], [conn], [], 0)[1])


def count_records(batch: list[Record]) -> int:
    """Records a batch stands for (a DROPPED marker stands for the records it counts)."""
    return sum(r[1] if r[0] == DROPPED else 1 for r in batch)

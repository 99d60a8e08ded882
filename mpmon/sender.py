"""The per-process sender: a bounded buffer of raw records, the one rule of when it leaves, and a flusher.

Decorators and hooks append records to the buffer (no I/O, no formatting) through `Sender.add`, whose
one flush rule is: the buffer is full, or an outermost call ended in a pool worker whose results
cannot carry its records (see below). Everything else leaves with the flusher, one lazily started
daemon thread per process that has recorded something, which hands the buffer to the transport every
`FLUSH_INTERVAL_NS`, so a record reaches the collector within about a second even if its process makes
no further call. Batches also leave at `flush()`, at exit (atexit, and multiprocessing's Finalize,
since pool workers skip atexit) and, for errors, at once.

A pool worker flushes before it sends each result to its pool, since the pool may end it with no exit
hook at all once it has every result (`Pool.__exit__` terminates its workers): the flush is hooked into
the write lock of the worker's result queue (handover.py). A forked child starts with an empty
buffer, fresh locks, no connection and no flusher: before a fork the flusher is stopped (so it holds no
lock across it) and after it the parent starts a new one.

Under the opt-in drop policy a call never waits on the collector: when the buffer is full the flusher is
woken, and past `DROP_AT` buffered records the oldest batch is dropped and counted; only the flusher
connects. Transports (socket, spill file, memory) are in transport.py; the one Sender of the process
lives in state.py.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import current_process
from time import monotonic
from typing import Any, Final

from . import environment, spill
from .flusher import Flusher, Wake
from .handover import flush_before_results
from .probe import wall_offset_ns
from .transport import (
    ACK_WINDOW,
    Delivery,
    Record,
    SocketTransport,
    SpillTransport,
    Transport,
    count_records,
)
from .wire import DROPPED

__all__ = ["BATCH_SIZE", "DROP_AT", "FLUSH_INTERVAL_NS", "SETTLE_SECONDS", "Sender"]

BATCH_SIZE: Final = 1024
"""Records per batch; also the bound of the buffer, since a full buffer is flushed before it grows."""
FLUSH_INTERVAL_NS: Final = 1_000_000_000
"""A record waits at most about this long in the buffer: the flusher's period."""
DROP_AT: Final = ACK_WINDOW
"""Under the drop policy, the buffer's bound: past it the oldest batch is dropped (and counted)."""
SETTLE_SECONDS: Final = 5.0
"""At exit, how long a process waits for the collector to confirm what it sent."""
REDISCOVER_WAIT_SECONDS: Final = 1.0
"""How long start_collector()/stop_collector() wait for a flush under way before they switch collectors."""
FORK_JOIN_SECONDS: Final = 1.0
"""Before a fork, how long the flusher is given to finish a send under way and stop."""
WALL_STEP_NS: Final = 50_000_000
"""A change of the wall clock against the perf counter past this (the clock was set, a VM resumed) moves
the offset that labels calls; smaller drifts keep it, so that a process's calls stay on one clock."""


class Sender:
    """This process's buffer, its flush rule, its flusher thread and its transport."""

    def __init__(self) -> None:
        self._flusher: Flusher | None = None
        self._wake = Wake()  # the flusher's, for the process's life; made anew in a forked child
        self._reset()
        os.register_at_fork(
            before=self._before_fork, after_in_parent=self._after_fork_in_parent, after_in_child=self._reset
        )

    def _reset(self) -> None:
        """Start afresh: in a new process nothing of the parent's buffer, lock, connection or thread."""
        self.buffer: list[Record] = []
        self.limit = 0  # BATCH_SIZE once armed: records appended directly (capture.py) flush until then
        self.ready = False  # armed in this process: exit hooks, pool hand-over, flusher
        self.eager = False  # flush when an outermost call ends (a pool worker without the hand-over)
        self.counter = itertools.count(1)
        self.lock = threading.RLock()  # one delivery at a time; held while a batch is sent
        self._taking = threading.Lock()  # taking records out of the buffer, and the drop count: brief
        self._wake.reopen()  # in a forked child the parent's pipe is not ours (closed here, made anew)
        self._flusher = None
        self._restart_flusher = False
        self._pid = os.getpid()
        self._id_prefix = str(uuid.uuid4())[:24]
        self._seqs = itertools.count(1)
        self._dropped = 0  # dropped under the drop policy and not yet reported to a collector
        self.wall_offset = wall_offset_ns()  # a call's wall start = its perf counter start + this
        self._use(environment.discover())

    def _use(self, discovery: environment.Discovery) -> None:
        self._discovery = discovery
        self._host = environment.host_name()
        self.dropping = discovery.drop_policy == "drop"
        self.spill = SpillTransport(discovery.log_dir)
        self.socket = SocketTransport(discovery, self.spill)
        self.socket.on_gather = self._wake_flusher
        self.transport: Transport = self.socket
        self._lost_told = 0  # records the collector reported lost that a flush(wait=True) has told

    # -- the hot path's one rule -----------------------------------------------------------------

    def add(self, record: Record, parent: int) -> None:
        """Buffer a record; flush when the buffer is full, or when an outermost call (`parent` 0) ended
        in a process that must hand each call over at once (`eager`)."""
        buffer = self.buffer
        buffer.append(record)
        if len(buffer) >= self.limit or (self.eager and not parent):
            self.overflow()

    def overflow(self) -> None:
        """The flush rule fired: flush now (block policy), or let the flusher do it (drop policy)."""
        if not self.dropping:
            self.flush()
            return
        self._wake_flusher()
        if len(self.buffer) >= DROP_AT:  # even while the flusher is blocked in a send: the bound holds
            with self._taking:
                dropped = self._take(BATCH_SIZE)
                self._dropped += count_records(dropped)

    def _wake_flusher(self) -> None:
        if self._flusher is not None and not self._wake.is_set():
            self._wake.set()

    # -- flushing --------------------------------------------------------------------------------

    def prepare(self, autostart: Callable[[], object] | None = None) -> None:
        """Arm this process before its first monitored call starts its clocks: start a collector with
        `autostart` if this is a top-level process without one, register the exit flushes, start the
        flusher and (block policy) connect, so that none of it is timed as part of a call."""
        with self.lock:
            if not self.ready:
                self._arm(autostart)
                if not self.dropping and self.transport is self.socket:
                    self.socket.connection()

    def _arm(self, autostart: Callable[[], object] | None) -> None:
        self.ready, self.limit = True, BATCH_SIZE
        if self._discovery.address is None:
            engine = environment.engine()
            if engine is not None:
                _say_no_collector(engine, self._discovery.log_dir)
            elif autostart is not None and environment.is_top_level():
                autostart()
            elif not environment.is_top_level() or self._discovery.run_id:
                self._say_lost_environment()
        self._register_exit()
        self._hook_pool_results()
        self._start_flusher()

    def flush(self, wait: bool = False, timeout: float | None = None) -> bool:
        """Hand every buffered record to the collector (or, failing that, to a spill file) now. With
        `wait`, return once every record this process made before the call is on disk and confirmed by
        the collector: True then, False if that could not be confirmed within `timeout` seconds, or if the
        collector reported records of this process lost (not written) since the last such flush."""
        deadline = None if timeout is None else monotonic() + timeout
        if not self.lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return False
        try:
            if not self.ready:
                self._arm(None)
            self._deliver_all(final=wait)
            if not wait:
                return True
            if not self.transport.mark(self._meta(), next(self._seqs)):
                return False
            left = SETTLE_SECONDS * 6 if deadline is None else max(deadline - monotonic(), 0.0)
            confirmed = self.transport.confirm(left)
            lost, self._lost_told = self.socket.lost - self._lost_told, self.socket.lost
            return confirmed and not lost
        finally:
            self.lock.release()

    def finish(self, timeout: float = SETTLE_SECONDS) -> None:
        """Flush, then wait up to `timeout` until the collector confirms every batch sent (at exit and at
        stop_collector); what it has not confirmed by then is spilled, so it is kept either way."""
        if not self.lock.acquire(timeout=max(timeout, 0.0)):
            print("mpmon: could not flush in time: the sender is busy", file=sys.stderr)
            return
        try:
            if self.ready:
                self._deliver_all(final=True)
                self.transport.confirm(timeout)
                spill.say_lost()
        finally:
            self.lock.release()

    def hand_over(self) -> None:
        """Before a pool worker sends a result: flush. Under the drop policy the batch is sent only if the
        socket takes it at once (else dropped and counted, or spilled with no collector), and this waits
        at most for a connection's deadline, never for the collector to make room."""
        if not self.dropping:
            self.flush()
            return
        if self.transport is self.socket:
            self.socket.connection()  # within its deadline, and outside the lock the calls may want
        if self.lock.acquire(blocking=False):
            try:
                self._deliver_all()  # sent if the socket takes it at once, else dropped (counted) or spilled
            finally:
                self.lock.release()

    def rediscover(self) -> None:
        """Read the environment again (start_collector or stop_collector changed it in this process):
        what the old collector did not confirm is spilled, later records go to the new one. Waits at
        most a moment for a flush under way (a send stuck on a wedged collector then fails on its own)."""
        locked = self.lock.acquire(timeout=REDISCOVER_WAIT_SECONDS)
        try:
            self.socket.close()
            capturing = self.transport is not self.socket
            transport = self.transport
            self._use(environment.discover())
            if capturing:
                self.transport = transport
        finally:
            if locked:
                self.lock.release()

    @contextmanager
    def diverted(self, transport: Transport) -> Iterator[None]:
        """Send every record to `transport`, one by one and at once, inside the block (for tests)."""
        with self.lock:
            self._deliver_all()
            saved = (self.transport, self.ready, self.limit, self.dropping)
            self.transport, self.ready, self.limit, self.dropping = transport, True, 1, False
        try:
            yield
        finally:
            with self.lock:
                self._deliver_all()
                self.transport, self.ready, self.limit, self.dropping = saved

    @property
    def spilled(self) -> int:
        """Records this process wrote to spill files since it started (or last rediscovered)."""
        return self.spill.spilled

    def _take(self, count: int) -> list[Record]:
        """Take the oldest `count` records out of the buffer (the caller holds `_taking`)."""
        buffer = self.buffer
        batch = buffer[:count]
        del buffer[: len(batch)]
        return batch

    def _deliver_all(self, final: bool = False) -> None:
        """Hand over what the buffer holds now, in batches of at most BATCH_SIZE records (it holds more
        under the drop policy, or when records are appended directly); a batch past wire.MAX_MESSAGE bytes
        is split again by `_deliver`."""
        for _ in range(max(-(-len(self.buffer) // BATCH_SIZE), 1)):
            with self._taking:
                batch = self._take(BATCH_SIZE)
            if batch or (final and self._dropped):
                self._deliver(batch, final)

    def _meta(self) -> tuple[Any, ...]:
        return (self._pid, _process_name(), self._host, self._id_prefix, self._discovery.run_id)

    def _deliver(self, batch: list[Record], final: bool = False) -> None:
        """Send a batch (with the count of drops not yet reported); spill it if no collector takes it."""
        with self._taking:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            batch.append((DROPPED, dropped))
        meta, seq = self._meta(), next(self._seqs)
        done = self.transport.deliver(meta, batch, seq, final)
        if done == Delivery.TOO_LARGE:  # rare (records of long arguments): halves, each with its own seq
            half = len(batch) // 2
            self._deliver(batch[:half], final)
            self._deliver(batch[half:], final)
        elif done == Delivery.DROPPED:
            with self._taking:
                self._dropped += count_records(batch)
        elif done == Delivery.FAILED:
            self.spill.deliver(meta, batch, seq)

    # -- exit, pools, fork -----------------------------------------------------------------------

    def _say_lost_environment(self) -> None:
        """Once per process: a process of a run (started by multiprocessing, or one that knows the run's
        id) finds no collector address in its environment: say where its records go instead."""
        from .spill import spill_path

        where = spill_path(self._discovery.log_dir, self._meta())
        print(
            f"mpmon: process {self._pid} finds no collector in its environment ({environment.ADDRESS} is "
            "unset: removed by a library or a sandbox, or the run has stopped); its records go to "
            f"{where}, ingested by the next collector started on {self._discovery.log_dir}",
            file=sys.stderr,
            flush=True,
        )

    def _register_exit(self) -> None:
        atexit.register(self.finish)
        for name in ("multiprocessing.util", "multiprocess.util"):
            util = sys.modules.get(name)
            if util is not None:
                util.Finalize(None, self.finish, exitpriority=100)

    def _hook_pool_results(self) -> None:
        """A pool may end its workers with no exit hook run (Pool.__exit__ terminates them): a worker
        hands its records over before it reports a result, or, where that cannot be hooked, when its
        outermost monitored call returns."""
        worker_args = environment.pool_worker_args()
        if worker_args is not None:
            hooked = len(worker_args) > 1 and flush_before_results(worker_args[1], self.hand_over)
            self.eager = not hooked

    def _start_flusher(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = Flusher(self, FLUSH_INTERVAL_NS / 1e9, self._wake)
            self._flusher.start()

    def flush_due(self) -> None:
        """The flusher's round: follow a step of the wall clock, connect if need be (drop policy: only
        here), then hand the buffer over."""
        offset = wall_offset_ns()
        if abs(offset - self.wall_offset) > WALL_STEP_NS:
            self.wall_offset = offset
        if self.dropping and self.transport is self.socket and not self.socket.connected:
            self.socket.connection()
        if self.buffer or self._dropped or self.socket.gather_asked:
            with self.lock:
                self._deliver_all(final=self.socket.gather_asked)
                if self.socket.gather_asked:
                    self.socket.answer_gather()

    def answer_collector(self) -> None:
        """The collector wrote to this process: read its confirmations and, when a stop asks for what
        this process buffers (GATHER), hand it over and say so."""
        with self.lock:
            self.socket.read_messages()
            if self.socket.gather_asked:
                self._deliver_all(final=True)
                self.socket.answer_gather()

    def _before_fork(self) -> None:
        flusher, self._flusher = self._flusher, None
        self._restart_flusher = flusher is not None
        if flusher is not None:
            flusher.stop(FORK_JOIN_SECONDS)

    def _after_fork_in_parent(self) -> None:
        if self._restart_flusher:
            self._start_flusher()


ENGINE_HINTS: Final = {
    "loky": "call mpmon.start_collector() before joblib starts its workers",
    "dask": "register mpmon.dask.Monitor with the cluster",
    "ray": "use mpmon.ray",
}


def _say_no_collector(engine: str, log_dir: str) -> None:
    """Once per process: a worker of an engine found no collector, and starts none (no stray run)."""
    print(
        f"mpmon: this {engine} worker (pid {os.getpid()}) found no mpmon collector in its environment, so "
        f"it starts none: its records go to spill files in {log_dir}, which the next collector started "
        f"there takes in. To have them in the run, {ENGINE_HINTS.get(engine, 'start the collector first')}.",
        file=sys.stderr,
    )


def _process_name() -> str:
    """This process's name as multiprocessing (or the multiprocess package, which started it) knows it."""
    name = current_process().name
    other = sys.modules.get("multiprocess")
    if name == "MainProcess" and other is not None:
        name = other.current_process().name
    return name

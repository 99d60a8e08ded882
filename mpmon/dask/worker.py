"""The worker's side, in a Dask worker process: a task's records leave as the task ends.

`HandOver` (installed by the nanny plugin `Monitor`) re-reads the run's environment in the worker,
hands a task's records to the host's collector as the task leaves the executing state (before the
scheduler hears of the result), logs each attempt of a task that made records and records the
worker's clock offset to the scheduler.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
import time
from typing import Any, Final

from distributed.diagnostics.plugin import WorkerPlugin
from tornado.ioloop import PeriodicCallback

from .. import environment, render, schema
from ..state import sender
from ..wire import LOG

__all__ = ["ATTEMPT_LOGGER", "CLOCK_CHANGE_S", "CLOCK_CHECK_MS", "HAND_OVER_WAIT_S", "HandOver"]

ATTEMPT_LOGGER: Final = "mpmon.dask"
"""Logger name of the timing.log line written for each task attempt that made records; its message is
JSON: key, dask_run_id (Dask's id of this attempt), state, start, stop, worker, calls (monitored calls
this process made while the task ran: with several threads per worker, other tasks' calls too)."""
HAND_OVER_WAIT_S: Final = 0.05
"""Longest time the worker's event loop waits for a task's records to reach the collector; past it (a
collector that falls behind) the hand-over goes on in the background and the loop goes on."""
CLOCK_CHECK_MS: Final = 1000
"""How often a worker compares its clock offset to the scheduler with the last one it recorded."""
CLOCK_CHANGE_S: Final = 0.005
"""A new clock_offset event is recorded when the offset moved by more than this (or after a minute)."""
_RUNNING_STATES: Final = frozenset({"executing", "long-running", "cancelled", "resumed"})
"""Worker task states in which a task's function may still be running in a worker thread."""


class HandOver(WorkerPlugin):
    """In a worker process: hands each task's records to the host's collector as the task ends, logs the
    task's attempt, records the clock offset to the scheduler. Installed by `Monitor`."""

    name = "mpmon-hand-over"
    idempotent = True

    def __init__(self) -> None:
        self._worker: Any = None
        self._hand_off: _HandOff | None = None
        self._clock: _Clock | None = None
        self._started: dict[Any, int] = {}  # key of a running task: the call number taken as it started

    def setup(self, worker: Any) -> None:
        if not os.environ.get(environment.ADDRESS):
            return  # a worker without a Monitor's nanny (--no-nanny): nothing to hand over to
        _adopt_environment()
        self._worker = worker
        self._hand_off = _HandOff()
        self._clock = _Clock(worker, self._hand_off)
        self._clock.start()

    def teardown(self, worker: Any) -> None:
        if self._clock is not None:
            self._clock.stop()
        if self._hand_off is not None:
            self._hand_off.request(HAND_OVER_WAIT_S)

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if self._hand_off is None:
            return
        if finish in _RUNNING_STATES and start not in _RUNNING_STATES:
            self._started[key] = _call_number()
        elif start in _RUNNING_STATES and finish not in _RUNNING_STATES:
            self._task_left(key, finish)

    def _task_left(self, key: Any, finish: str) -> None:
        """The task's function has returned: its records leave, with a line naming the attempt if it made
        any (counted by the call numbers it used: its records may have left already)."""
        started = self._started.pop(key, None)
        calls = 0 if started is None else _call_number() - started - 1
        if calls:
            _buffer().append(_log_record(ATTEMPT_LOGGER, _attempt_text(self._worker, key, finish, calls)))
        if _buffer():
            assert self._hand_off is not None
            self._hand_off.request(HAND_OVER_WAIT_S)


def _adopt_environment() -> None:
    """Read the run's settings again: the worker process imported mpmon (unpickling this plugin) before
    its nanny's environment was applied."""
    sender.rediscover()
    render.forget_run_sanitizer()
    if os.environ.get(environment.CAPTURE_LOGGING) == "1":
        from ..capture import install

        install()


def _buffer() -> list[tuple[Any, ...]]:
    """This process's buffer of records not yet handed over (as capture.py appends LOG records to it)."""
    return sender.buffer


def _call_number() -> int:
    """Takes the next number of this process's call counter: the numbers a task's calls took lie
    between those taken as it started and as it ended."""
    return next(sender.counter)


def _log_record(logger: str, message: str) -> tuple[Any, ...]:
    """A LOG record (wire.LOG_FIELDS) made by this module."""
    return (LOG, time.time_ns(), "INFO", logger, message, threading.current_thread().name, __name__, "")


def _attempt_text(worker: Any, key: Any, finish: str, calls: int) -> str:
    """The JSON text of a task attempt: Dask's run id of it tells two runs of one key apart."""
    task = worker.state.tasks.get(key) if worker is not None else None
    return json.dumps(
        {
            "key": str(key),
            "dask_run_id": getattr(task, "run_id", None),
            "state": finish,
            "start": getattr(task, "start_time", None),
            "stop": getattr(task, "stop_time", None) or time.time(),
            "worker": getattr(worker, "address", None),
            "calls": calls,
        },
        separators=(",", ":"),
    )


class _HandOff:
    """A daemon thread that calls `mpmon.flush()` when asked. The asker (the worker's event loop) waits
    at most `wait` seconds, and not at all while an earlier hand-over is still under way (a collector
    that falls behind): the loop's cost stays bounded, the records follow as soon as they can. One
    flush serves every request made before it started."""

    def __init__(self) -> None:
        self._asked: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._requested = 0  # the last ticket asked for (the asker's thread only)
        self._completed = 0  # the last ticket handed over (written by the hand-off thread)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.failures = 0

    def request(self, wait: float) -> bool:
        """Ask for a hand-over; True if it was done within `wait` seconds."""
        if os.getpid() != self._pid:  # a forked copy of the worker: no thread here
            sender.flush()
            return True
        busy = self._completed < self._requested
        self._requested += 1
        ticket = self._requested
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="mpmon-dask-hand-over", daemon=True)
            self._thread.start()
        self._asked.put(ticket)
        if busy or wait <= 0:
            return False
        deadline = time.monotonic() + wait
        while True:
            try:
                if self._done.get(timeout=max(deadline - time.monotonic(), 0.0)) >= ticket:
                    return True
            except queue.Empty:
                return False

    def _run(self) -> None:
        while True:
            ticket = self._asked.get()
            with contextlib.suppress(queue.Empty):
                while True:
                    ticket = self._asked.get_nowait()
            try:
                sender.flush()
            except Exception as failure:  # the worker goes on; the sender spills what it could not send
                self.failures += 1
                if self.failures == 1:
                    print(f"mpmon: could not hand records over: {failure!r}", file=sys.stderr)
            self._completed = ticket
            self._done.put(ticket)


class _Clock:
    """Records the worker's clock offset to the scheduler (`Worker.scheduler_delay`, measured at each
    heartbeat) as a `mpmon.clock` LOG record, which the collector writes as a clock_offset event:
    scheduler_clock = local_clock + offset_s."""

    def __init__(self, worker: Any, hand_off: _HandOff) -> None:
        self._worker = worker
        self._hand_off = hand_off
        self._last: float | None = None
        self._last_at = 0.0
        self._callback = PeriodicCallback(self.check, CLOCK_CHECK_MS)

    def start(self) -> None:
        """Check at each tick from now on (at once if the worker already talks to its scheduler)."""
        self._worker.periodic_callbacks["mpmon-clock"] = self._callback
        if str(getattr(self._worker, "status", "")).endswith("running"):
            self._callback.start()
            self.check()

    def stop(self) -> None:
        self._callback.stop()
        self._worker.periodic_callbacks.pop("mpmon-clock", None)

    def check(self) -> None:
        offset = float(self._worker.scheduler_delay)
        now = time.monotonic()
        if self._last is not None and abs(offset - self._last) <= CLOCK_CHANGE_S and now - self._last_at < 60:
            return
        self._last, self._last_at = offset, now
        _buffer().append(_log_record(schema.CLOCK_LOGGER, repr(offset)))
        self._hand_off.request(0)

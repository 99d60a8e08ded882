"""The flusher: the one background thread of a process that records, and what it waits on.

Every `interval` (or when woken) it hands the sender's buffer over, so a record reaches the collector
within about a second even if its process makes no further call. Between rounds it also waits on the
sender's connection, so that the collector's GATHER at a stop is answered at once (see wire.GATHER): a
long-lived worker that mpmon did not start has its records on disk when the stop returns. The hot path
never waits for it; it holds no lock across a fork (the sender stops it before one).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from time import monotonic
from typing import Final, Protocol

__all__ = ["ANSWER_PAUSE_S", "Flushed", "Flusher", "Wake"]

ANSWER_PAUSE_S: Final = 0.05
"""After the flusher read what the collector sent, how long it leaves the connection alone: a stop's
GATHER waits at most this long for an answer, and confirmations wake the flusher at most 20 times a second."""


class _Connection(Protocol):
    def fileno(self) -> int | None: ...


class Flushed(Protocol):
    """What the flusher needs of the sender."""

    @property
    def socket(self) -> _Connection: ...

    def flush_due(self) -> None:
        """A round: hand the buffer over (and answer a GATHER)."""

    def answer_collector(self) -> None:
        """The connection is readable: read it, and answer a GATHER."""


class Flusher(threading.Thread):
    """Hands the buffer over every `interval` seconds (or when woken), until stopped. Meanwhile it waits on
    the sender's connection too, so that a stop's GATHER is answered at once; after reading what came
    (mostly confirmations) it leaves the connection alone for ANSWER_PAUSE_S, so that a busy process is
    not woken for each confirmation."""

    def __init__(self, sender: Flushed, interval: float, wake: Wake) -> None:
        super().__init__(name="mpmon-flusher", daemon=True)
        self.sender = sender
        self.interval = interval
        self.wake = wake
        self.stopping = False

    def run(self) -> None:
        complained = False
        first = True  # a first round at once: under the drop policy it opens the connection
        while True:
            if not first:
                self._wait(self.interval)
            first = False
            if self.stopping:
                return
            self.wake.clear()
            try:
                self.sender.flush_due()
            except Exception as failure:  # the flusher must outlive any one failure
                if not complained:
                    print(f"mpmon: the flusher could not hand records over: {failure!r}", file=sys.stderr)
                    complained = True

    def _wait(self, seconds: float) -> None:
        """Until `seconds` have passed or the flusher is woken, answering the collector meanwhile."""
        deadline = monotonic() + seconds
        while not self.stopping:
            left = deadline - monotonic()
            if left <= 0 or self.wake.wait(self.sender.socket.fileno(), left) or monotonic() >= deadline:
                return
            with contextlib.suppress(Exception):  # the connection spoke (or closed): read it
                self.sender.answer_collector()
            if self.wake.wait(None, min(ANSWER_PAUSE_S, max(deadline - monotonic(), 0.0))):
                return

    def stop(self, timeout: float) -> None:
        self.stopping = True
        self.wake.set()
        if self is not threading.current_thread():
            self.join(timeout)


class Wake:
    """Like threading.Event for the flusher, but a pipe, so that the flusher waits on it and on its
    connection at once. One per process, kept by the sender for the process's life (flushers come and go
    around forks), and made anew in a forked child (`reopen`), where no other thread runs: it is never
    closed while another thread may use it."""

    def __init__(self) -> None:
        self._read, self._write = -1, -1
        self._set = False
        self.reopen()

    def reopen(self) -> None:
        """A pipe of this process's own (in a forked child: instead of the parent's, closed here)."""
        _close_pipe(self._read, self._write)
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            with contextlib.suppress(OSError):  # full: it is woken already
                os.write(self._write, b"\0")

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self._read, 4096):
                pass
        self._set = False

    def wait(self, fileno: int | None, timeout: float) -> bool:
        """Wait up to `timeout` s for a wake-up (True) or for `fileno` to be readable (False)."""
        if self._set:
            return True
        waited = [self._read] if fileno is None else [self._read, fileno]
        try:
            ready = select.select(waited, [], [], timeout)[0]
        except (OSError, ValueError):  # the connection was closed meanwhile
            ready = select.select([self._read], [], [], timeout)[0]
        return self._set or self._read in ready


def _close_pipe(*descriptors: int) -> None:
    for fd in descriptors:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

"""Stopping the collector process, from the program that owns the run: the STOP request over an
authenticated connection with a deadline on every step, the answer read (what the run lost), and the
process waited for until the stop's deadline, then killed with its writer.

Every wait here has a deadline: `stop_collector(timeout)` returns in time whatever state the collector is
in (stopped by SIGSTOP, wedged, refusing connections, out of descriptors).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from multiprocessing import AuthenticationError, connection
from typing import TYPE_CHECKING, Final

from .. import environment
from ..wire import STOP, time_limit

if TYPE_CHECKING:
    from .control import Collector

__all__ = ["DIED_WAIT_SECONDS", "KILL_SLACK", "connect", "died", "end_process", "request_stop"]

KILL_SLACK: Final = 1.0
"""After the timeout of stop_collector(), the time a SIGKILLed collector gets to be reaped."""
DIED_WAIT_SECONDS: Final = 0.5
"""How long a stop whose STOP went unanswered waits to see whether the collector process has ended."""


def request_stop(current: Collector, deadline: float) -> tuple[bool, dict[str, int]]:
    """Ask the collector to drain (within half the time left) and close; True once it answered, with
    what the run lost (outcome.LOSS_REASONS)."""
    config = current.config
    left = max(deadline - time.monotonic(), 0.1)
    try:
        conn = connect(config.address, bytes.fromhex(config.authkey), left / 2)
        with time_limit(conn, max(deadline - time.monotonic(), 0.01)):
            conn.send_bytes(STOP + b":%.3f" % (left / 2))
    except (OSError, EOFError, AuthenticationError):
        return False, {}
    with conn, contextlib.suppress(EOFError, OSError):
        if conn.poll(max(deadline - time.monotonic(), 0)):
            return True, _losses(conn.recv_bytes())
    return False, {}


def died(current: Collector, deadline: float) -> bool:
    """Whether the collector process has ended (or ends within a moment: a process killed just before
    the stop may still be exiting when its socket refuses the STOP)."""
    if current.process is None:
        return False
    with contextlib.suppress(subprocess.TimeoutExpired):
        current.process.wait(min(DIED_WAIT_SECONDS, max(deadline - time.monotonic(), 0.0)))
    return current.process.returncode is not None


def _losses(answer: bytes) -> dict[str, int]:
    """The counts of what the run lost, from the collector's answer to STOP (`stopped:{json}`)."""
    _, _, counts = answer.partition(b":")
    try:
        lost = json.loads(counts or b"{}")
    except ValueError:
        return {"unreadable_answer": 1}
    return {str(k): int(v) for k, v in lost.items()} if isinstance(lost, dict) else {}


def connect(address: str, authkey: bytes, timeout: float) -> connection.Connection:
    """An authenticated connection to the collector, connect and handshake both within `timeout`
    (a collector stopped or out of descriptors leaves a connect to a full backlog waiting for ever)."""
    deadline = time.monotonic() + timeout
    target = environment.parse_address(address)
    if isinstance(target, tuple):
        sock = socket.create_connection(target, timeout)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
    sock.setblocking(True)
    conn = connection.Connection(sock.detach())
    try:
        with time_limit(conn, max(deadline - time.monotonic(), 0.01)):
            connection.answer_challenge(conn, authkey)
            connection.deliver_challenge(conn, authkey)
    except BaseException:
        conn.close()
        raise
    return conn


def end_process(process: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait for the collector until the deadline, then kill it (and its writer); True if it ended alone."""
    try:
        process.wait(max(deadline - time.monotonic(), 0.01))
        return True
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)  # the supervisor and its writer (own session)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(KILL_SLACK)
        return False

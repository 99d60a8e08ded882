"""mpmon on a Dask cluster: one collector per host, owned by a nanny; a hand-over after each task.

    client.register_plugin(mpmon.dask.Monitor("logs"))

`Monitor` is a nanny plugin (nannies outlive their workers' restarts). On each host, the first nanny
that sets it up starts the host's collector, for the client's run id, writing into
`<root>/host=<name>/`; the host's other nannies find that collector through a small file in a private
directory of the host (0700; the key never leaves the host), so one writer owns a host directory. A
nanny passes the collector's `MPMON_*` variables to its worker through its environment and restarts
the worker once, with the worker plugin `HandOver`: in the worker process it re-reads the environment
(the worker imported mpmon before its nanny's environment was applied), hands a task's records to the
collector as the task leaves the executing state (before the scheduler hears of the result), logs each
attempt of a task that made records (so that a task Dask recomputed shows as two attempts) and records
the worker's clock offset to the scheduler.

This is the only module of mpmon that imports Dask; `import mpmon` never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import inspect
import json
import os
import pickle
import queue
import re
import secrets
import stat
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Final

from distributed.diagnostics.plugin import NannyPlugin, WorkerPlugin
from tornado.ioloop import PeriodicCallback

from . import environment, render, schema
from .collector.control import start_collector, stop_collector
from .state import sender
from .wire import LOG

__all__ = ["ATTEMPT_LOGGER", "HandOver", "Monitor"]

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
RENDEZVOUS_WAIT_S: Final = 60.0
"""How long a nanny waits for another nanny of its host to publish the host's collector."""
_RUNNING_STATES: Final = frozenset({"executing", "long-running", "cancelled", "resumed"})
"""Worker task states in which a task's function may still be running in a worker thread."""


class Monitor(NannyPlugin):
    """Gives every worker host a collector writing into `<root>/host=<name>/`, and every worker process
    a connection to it; one run (`run_id`) across the cluster.

    `root` is a path on each host (relative paths are relative to each nanny's working directory; a
    shared filesystem mounted on every host is fine). `run_id`: by default the run of the collector
    this (client) process runs, else a fresh one, readable as `Monitor(...).run_id`. Other keyword
    arguments are `mpmon.start_collector()`'s (results_format, capture_logging, drop_policy, ...).
    """

    name = "mpmon"
    restart = True  # the worker starts again, with the collector's environment and HandOver
    idempotent = False

    def __init__(self, root: str | os.PathLike[str] = "logs", *, run_id: str | None = None, **settings: Any):
        self.root = _local_root(root)
        allowed = set(inspect.signature(start_collector).parameters) - {"log_dir", "run_id"}
        unknown = sorted(set(settings) - allowed)
        if unknown:
            raise TypeError(f"Monitor() got settings that start_collector() does not take: {unknown}")
        if run_id is not None and not re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", run_id):
            raise ValueError(f"run_id must be 1-128 characters of [A-Za-z0-9._:-], not {run_id!r}")
        self.settings = settings
        self.run_id = run_id or _client_run_id()
        self._host_dir: str | None = None

    def host_dir(self, host: str) -> str:
        """The log directory of the host named `host`."""
        return os.path.join(self.root, f"host={host}")

    async def setup(self, nanny: Any) -> None:
        host = environment.host_name()
        self._host_dir = os.path.abspath(self.host_dir(host))
        env = await asyncio.to_thread(_attach, self._host_dir, self.run_id, self.settings)
        # The client's run id even when the host's collector serves another run too (it writes each
        # record with its sender's run id).
        nanny.env.update({**env, environment.RUN_ID: self.run_id, environment.HOSTNAME: host})
        await _register_hand_over(nanny)

    def teardown(self, nanny: Any) -> None:
        if self._host_dir is not None:
            _detach(self._host_dir)
            self._host_dir = None


async def _register_hand_over(nanny: Any) -> None:
    """Register HandOver with the scheduler: every worker gets it when it registers (this nanny's own
    worker after the restart that follows). The scheduler keeps the plugin before it tells the running
    workers, so a worker that another nanny is restarting meanwhile fails only that broadcast: one retry,
    then a warning (records still leave at the flush interval and at exit)."""
    payload = pickle.dumps(HandOver())
    for attempt in range(2):
        try:
            await nanny.scheduler.register_worker_plugin(plugin=payload, name=HandOver.name, idempotent=True)
            return
        except Exception as failure:
            if attempt:
                print(f"mpmon: could not register {HandOver.name}: {failure!r}", file=sys.stderr)


def _local_root(root: str | os.PathLike[str]) -> str:
    """The root as a path; a clear error for an object store, where the collector cannot append."""
    text = os.fspath(root)
    if text.startswith("file://"):
        return text[len("file://") :]
    if "://" in text:
        raise ValueError(
            f"mpmon writes its logs on each host's filesystem, not to {text!r}: use a local path or a "
            "shared filesystem mounted on every host, and copy the logs to an object store after the run"
        )
    return text


def _client_run_id() -> str:
    """The run of the collector this process publishes, or a fresh run id."""
    if os.environ.get(environment.ADDRESS) and os.environ.get(environment.RUN_ID):
        return os.environ[environment.RUN_ID]
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


# -- the host's collector (in the nanny's process) ------------------------------------------------------


@dataclass
class _Host:
    """This process's hold on the collector of one host directory."""

    env: dict[str, str]
    lock_fd: int | None  # held while this process owns the collector
    rendezvous: str | None
    users: int = 0


_hosts: dict[str, _Host] = {}
_hosts_lock = threading.Lock()


def _attach(host_dir: str, run_id: str, settings: dict[str, Any]) -> dict[str, str]:
    """The MPMON_* environment of the collector of `host_dir`, started here if no nanny of this host
    runs it yet."""
    with _hosts_lock:
        host = _hosts.get(host_dir)
        if host is None:
            host = _hosts[host_dir] = _open_host(host_dir, run_id, settings)
        host.users += 1
        return dict(host.env)


def _detach(host_dir: str) -> None:
    """One nanny less on this host directory; the last one of this process stops the collector it owns."""
    with _hosts_lock:
        host = _hosts.get(host_dir)
        if host is None:
            return
        host.users -= 1
        if host.users > 0:
            return
        del _hosts[host_dir]
    if host.lock_fd is None:
        return
    stop_collector()
    if host.rendezvous is not None:
        with contextlib.suppress(OSError):
            os.remove(host.rendezvous)
    os.close(host.lock_fd)


def _open_host(host_dir: str, run_id: str, settings: dict[str, Any]) -> _Host:
    if environment.is_owner() and os.environ.get(environment.ADDRESS):
        return _Host(_published_env(), None, None)  # this process runs a collector already: the host's
    rendezvous = os.path.join(_private_dir(), "dask-" + sha256(host_dir.encode()).hexdigest()[:24])
    lock_fd = os.open(rendezvous + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock_fd)
        return _Host(_await_published(rendezvous + ".json"), None, None)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.remove(rendezvous + ".json")  # a dead owner's
        start_collector(host_dir, run_id=run_id, **settings)
        env = _published_env()
        _write_private(rendezvous + ".json", {"pid": os.getpid(), "env": env})
    except BaseException:
        os.close(lock_fd)
        raise
    return _Host(env, lock_fd, rendezvous + ".json")


def _published_env() -> dict[str, str]:
    """What start_collector() published in this process, for the workers (not the owner's pid)."""
    return {k: v for k, v in os.environ.items() if k.startswith("MPMON_") and k != environment.OWNER_PID}


def _private_dir() -> str:
    """This user's private directory of the host: created 0700, refused if anyone else could write it."""
    path = os.path.join(tempfile.gettempdir(), f"mpmon-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"mpmon: {path} must be a directory of this user that only it can open")
    return path


def _write_private(path: str, content: dict[str, Any]) -> None:
    """Write a 0600 JSON file atomically (readers never see half of it)."""
    partial = f"{path}.{os.getpid()}.tmp"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(content, out)
    os.replace(partial, path)


def _await_published(path: str) -> dict[str, str]:
    """The environment another nanny of this host published for its collector, once it has."""
    deadline = time.monotonic() + RENDEZVOUS_WAIT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            with open(path, encoding="utf-8") as published:
                content = json.load(published)
            if _alive(int(content["pid"])):
                return {str(k): str(v) for k, v in content["env"].items()}
        time.sleep(0.05)
    raise TimeoutError(f"mpmon: no nanny of this host published its collector in {path}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the worker's side (in the worker process) -----------------------------------------------------------


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
        from .capture import install

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

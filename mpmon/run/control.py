"""Starting, supervising and stopping the collector process, from the process that owns the run.

`start_collector()` starts `python -m mpmon.collector` (a fresh interpreter, whatever the start method
of the user's pools), waits until it listens, and publishes its address, key and run id in
`os.environ`, so every descendant process finds it. `stop_collector()` flushes this process, asks the
collector to drain every connection and close its files, and waits for it within a timeout. While the
run goes on, the collector process restarts its own writer if that dies (see `collector/__main__.py`);
a collector process found dead by `start_collector()` or `stop_collector()` is started again on the same
address, and ingests what the processes spilled meanwhile.

How a collector process is launched and published is `launch.py`; how it is asked to stop and ended,
`shutdown.py`: this module holds the decisions (which collector runs, when it starts, restarts, stops).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import inspect
import os
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import capture, compat, environment, render
from .. import collector as _package
from ..collector.settings import Settings
from ..sender import SETTLE_SECONDS
from ..state import sender
from . import launch, misuse, outcome, shutdown
from .outcome import RunIncomplete

__all__ = ["Collector", "RunIncomplete", "collector", "start_collector", "stop_collector"]

DEFAULT_STOP_TIMEOUT = 60.0


@dataclass
class Collector:
    """The running collector of this run, as its owner sees it."""

    run_id: str
    log_dir: str
    address: str
    config: Settings = field(repr=False)
    process: subprocess.Popen[bytes] | None = field(repr=False)  # None: a run joined, its parent's
    owner_pid: int = field(default_factory=os.getpid)
    deaths: list[str] = field(default_factory=list, repr=False)
    strict: bool = False
    asked: dict[str, Any] = field(default_factory=dict, repr=False)
    automatic: bool = False  # started by a monitored call, with the defaults, before start_collector()

    @property
    def pid(self) -> int:
        """The collector process's pid (0 in a process that joined its parent's run)."""
        return 0 if self.process is None else self.process.pid

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def restart(self) -> None:
        """Start a new collector process on the same address, key and run (after the old one died)."""
        code = None if self.process is None else self.process.returncode
        self.deaths.append("gave up restarting its writer" if code == 1 else f"exit status {code}")
        self.config.resumed = True
        self.process = launch.launch(self.config)


_running: Collector | None = None


def start_collector(
    log_dir: str | os.PathLike[str] = "logs",
    *,
    results_format: str = "csv",
    max_bytes: int = 10 * 1024 * 1024,
    backup_count: int = 5,
    log_to_console: bool = True,
    capture_logging: bool = True,
    tag: str | None = None,
    log_to_file: bool = True,
    drop_policy: str = "block",
    logging_config: dict[str, Any] | None = None,
    sanitize_func: Callable[[str], str] | str | None = None,
    file_mode: int = 0o600,
    run_id: str | None = None,
    strict: bool = False,
) -> Collector:
    """Start the run's collector (or return the one already running in this process).

    `logging_config`, a `logging.config.dictConfig` dict, configures the logger named "mpmon" in the
    collector process, which prints the console lines (by default: stderr, level INFO).

    `capture_logging` (on by default, as the original module configured the root logger): `logging`
    records at INFO and above of every process of the run go to timing.log, and to the console when
    no handler of the user's shows them; `False` leaves logging alone. See `mpmon.capture`.

    `drop_policy="drop"`: when the collector falls behind, records are dropped (and counted in the
    run_summary line) instead of making the monitored calls wait.

    `sanitize_func`, the run's sanitizer: a function importable by every process of the run (or its
    "module:function" name). Each process applies it to the texts it sends (arguments, exception
    messages, tracebacks, captured log lines) unless a decorator sets its own. See `mpmon.sanitizers`.

    `file_mode`: the permissions of the log files the collector creates (default: owner only).

    `run_id`: the run's id (1-128 characters of letters, digits and `._:-`) instead of a fresh one,
    for example one id shared by the collectors of several hosts.

    `strict=True`: a run whose records could not all be confirmed on disk (its collector killed at stop,
    or unable to drain or to start again, or records it could not write, rejected, or found only in
    refused spill files) makes `stop_collector()` raise RunIncomplete, and, stopped at
    exit, the program exit with status 3. Either way it is said on stderr.

    A log file that exists but is a symlink, not a regular file, or another user's is refused here
    (UnsafeFile, an OSError): the collector never writes through a link.
    """
    global _running
    asked = misuse.asked(locals())
    earlier = _running if _running is not None and _running.owner_pid == os.getpid() else None
    if earlier is not None:
        if not earlier.alive():
            earlier.restart()
        changed = misuse.differences(earlier.asked, asked)
        if not (earlier.automatic and changed):
            _keep(earlier, changed)
            return earlier
        stop_collector()
    elif misuse.inherits_run():
        return _joined()
    children = misuse.live_children()
    spill_dir = environment.discover().log_dir
    config = launch.settings(
        log_dir,
        results_format,
        max_bytes,
        backup_count,
        log_to_console,
        capture_logging,
        tag,
        log_to_file,
        drop_policy,
        run_id,
    )
    config.logging_config = logging_config
    config.sanitize = render.sanitizer_name(sanitize_func)
    config.umask = launch.umask(file_mode)
    compat.end_loky_executors()  # workers started before this run would not find it
    try:
        process = launch.launch(config)
    except BaseException:
        shutil.rmtree(config.private_dir, ignore_errors=True)
        raise
    _running = Collector(config.run_id, config.log_dir, config.address, config, process, strict=bool(strict))
    _running.asked = asked
    if earlier is not None:
        misuse.say_switched(earlier.log_dir, earlier.run_id, config.log_dir, config.run_id)
    if children:
        misuse.say_children(children, spill_dir, config.log_dir)
    launch.publish(config)
    render.forget_run_sanitizer()
    sender.rediscover()
    if capture_logging:
        capture.install(echo=bool(log_to_console))
    atexit.register(_stop_at_exit)
    return _running


def autostart(log_dir: str | os.PathLike[str] = "logs", *, run_id: str | None = None) -> None:
    """A collector with the defaults, for a top-level process whose first monitored call found none.

    Never raises: when no collector can be started (./logs is a file, say), the call goes on, its
    records are spilled (or counted as lost, said), and one line says why and what to do."""
    try:
        started = start_collector(log_dir, run_id=run_id)
    except Exception as exc:
        misuse.say_no_collector(exc)
        return
    started.automatic = True


def _keep(running: Collector, changed: list[str]) -> None:
    """A second start_collector(): the running collector stays (and counts as asked for from now on)."""
    running.automatic = False
    if changed:
        misuse.say_ignored(changed, running.log_dir, running.run_id)


def _joined() -> Collector:
    """The run this process inherited (see misuse.inherits_run): described, not started."""
    found = environment.discover()
    config = Settings(found.log_dir, found.run_id, os.environ[environment.ADDRESS], "")
    owner = int(os.environ[environment.OWNER_PID])
    return Collector(found.run_id, found.log_dir, config.address, config, None, owner_pid=owner)


def stop_collector(timeout: float | None = None) -> None:
    """Flush this process, let the collector drain and close its files, and wait for it to end.

    Returns within `timeout` (default 60 s) plus about a second, whatever state the collector is in
    (stopped by SIGSTOP, wedged, refusing connections): a collector that has not ended by then is
    killed, and what could not be confirmed is said on stderr (and raised as RunIncomplete for a run
    started with `strict=True`). Harmless when no collector runs; in any process but the owner it only
    flushes.
    """
    global _running
    deadline = time.monotonic() + (DEFAULT_STOP_TIMEOUT if timeout is None else timeout)
    sender.finish(min(SETTLE_SECONDS, max(deadline - time.monotonic(), 0) / 2))
    current = _running
    if current is None or current.owner_pid != os.getpid():
        return
    _running = None
    capture.uninstall()
    confirmed, failure, lost = False, "", dict[str, int]()
    try:
        if not current.alive():
            current.restart()  # ingests what was spilled while it was down, then stops
        confirmed, lost = shutdown.request_stop(current, deadline)
        if not confirmed and shutdown.died(current, deadline):  # killed just before the stop: the same again
            current.restart()
            confirmed, lost = shutdown.request_stop(current, deadline)
    except (OSError, RuntimeError) as exc:
        failure = str(exc)
    finally:
        ended = current.process is None or shutdown.end_process(current.process, deadline)
        launch.unpublish()
        compat.end_loky_executors()  # their workers would look for this run's collector
        sender.rediscover()
        shutil.rmtree(current.config.private_dir, ignore_errors=True)
    incomplete = outcome.report(
        current.run_id, current.log_dir, current.deaths, failure, confirmed, ended, lost
    )
    if incomplete and current.strict:
        raise RunIncomplete(incomplete)


def _stop_at_exit() -> None:
    """At exit, first end the pools still open (as multiprocessing would, but later), then stop.

    Their workers flush on the way out, so their records reach the collector before it drains.
    """
    for name in ("multiprocess.util", "multiprocessing.util"):
        exit_function = compat.exit_function(sys.modules.get(name))
        if exit_function is not None:
            exit_function()
    try:
        stop_collector()
    except RunIncomplete:  # strict, said on stderr already: the exit status says it too
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(outcome.EXIT_STATUS)


@contextlib.contextmanager
def collector(log_dir: str | os.PathLike[str] = "logs", **settings: Any) -> Iterator[Collector]:
    """`start_collector()` on entry, `stop_collector()` on exit."""
    started = start_collector(log_dir, **settings)
    try:
        yield started
    finally:
        stop_collector()


class _CollectorPackage(types.ModuleType):
    """The package `mpmon.collector` (the collector process's code), which is also DESIGN.md's public
    `mpmon.collector(...)`: called, it is the function above. A function of that name in `mpmon` hid the
    package, so `import mpmon.collector.tables as tables` failed; now the name is the package, and the
    package answers the call. Type checkers see the function (mpmon/__init__.py)."""

    def __call__(self, log_dir: str | os.PathLike[str] = "logs", **settings: Any) -> Any:
        return collector(log_dir, **settings)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(collector)

    def __reduce__(self) -> tuple[Any, ...]:  # by reference, as the function was (dill sends globals)
        return importlib.import_module, (self.__name__,)


_package.__class__ = _CollectorPackage

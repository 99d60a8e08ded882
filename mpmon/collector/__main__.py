"""Entry point of the collector process: `python -m mpmon.collector`, its settings as JSON on stdin.

The process sets its umask (files readable by their owner only unless the settings say otherwise),
binds the listener, says "ready" on stdout and becomes a small supervisor: it forks the writer process
that serves the run, and if that process dies (killed, or crashed) it forks another on the same
listening socket, which resumes the run from its ledger. Peers meanwhile wait in the socket's backlog
or spill. The supervisor ends when the writer ends normally (the run was stopped) or when the process
that started it ends; the writer then drains and closes its files.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import os
import resource
import select
import socket
import sys
import time
import traceback
from multiprocessing import connection
from typing import Any

from .settings import Settings

RESTARTS_PER_MINUTE = 10
"""A writer that dies more often than this is not started again (the senders spill meanwhile)."""
POLL_SECONDS = 0.05
YOUNG_OBJECTS = 100_000
"""The writer's threshold of its youngest garbage-collected generation (Python's default: 700)."""


class _WithoutPandas:
    """An import hook that reports pandas missing. The collector never uses pandas, but pyarrow imports
    it, when it is installed, at its first conversion of a Python list (to check whether the list is a
    pandas object): 0.1-0.2 s of the collector's first round and tens of MiB, for nothing."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("the mpmon collector does without pandas", name=name)


def main() -> int:
    sys.meta_path.insert(0, _WithoutPandas())
    config = Settings.from_json(sys.stdin.read())
    os.umask(config.umask)
    raise_file_limit()
    try:
        listener = listen(config)
    except OSError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    from . import server  # noqa: F401 -- imported once here, so that each forked writer answers at once

    print("ready", flush=True)
    sys.stdout.close()
    return supervise(listener, config)


def raise_file_limit() -> None:
    """Raise the soft limit of open files to the hard one: each peer holds a descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def quiet_gc() -> None:
    """The writer's garbage collector set for its rounds: a round's decoded records (a few tuples
    each: the arguments of a call are three) are freed by reference counting when it is written, but
    at Python's default threshold they set off about 15 collections per round of 4,096 calls with
    arguments, each walking the live batches (half of the CPU of decoding them). Collections now start past
    YOUNG_OBJECTS live new objects, and skip what was imported before (gc.freeze): cycles (a caught
    exception's traceback) are still collected."""
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


def listen(config: Settings) -> connection.Listener:
    """The run's listening socket: a Unix socket (a stale one of a dead collector is replaced), or TCP
    on a loopback address unless the settings explicitly allow others ("allow_remote")."""
    address = _address(config.address)
    if isinstance(address, tuple):
        if not (_is_loopback(address[0]) or config.allow_remote):
            raise OSError(f"refusing to listen on {address[0]}: not a loopback address (allow_remote is off)")
    else:
        _remove_stale_socket(address)
    return connection.Listener(address, backlog=64)


def _remove_stale_socket(path: str, wait: float = 3.0) -> None:
    """Remove the socket file a dead collector left; wait a moment for one that is still draining."""
    deadline = time.monotonic() + wait
    while os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        finally:
            probe.close()
        if time.monotonic() > deadline:
            return  # a live collector holds it: binding fails with a clear "address in use"
        time.sleep(0.1)


def _is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


def _address(text: str) -> Any:
    from ..environment import parse_address

    address = parse_address(text)
    if address is None:
        _say(f"bad address {text!r}")
        raise SystemExit(2)
    return address


def supervise(listener: connection.Listener, config: Settings) -> int:
    """Run the writer in a child process; start another whenever one dies."""
    owner = os.getppid()
    deaths: list[float] = []
    while True:
        pid = os.fork()
        if pid == 0:
            os._exit(_serve(listener, config))
        status = _wait(pid, owner)
        if status is None:  # the owner is gone: the writer sees that we are, drains and ends
            return 0
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            listener.close()
            return 0
        now = time.monotonic()
        deaths = [t for t in deaths if now - t < 60] + [now]
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        if len(deaths) > RESTARTS_PER_MINUTE:
            _say(f"the writer died too often ({how}); giving up")
            return 1
        _say(f"the writer process {pid} died ({how}); starting another")
        config.resumed = True


def _say(text: str) -> None:
    from .report import say

    say("supervisor", text, always=True)


def _serve(listener: connection.Listener, config: Settings) -> int:
    """The writer process: serve the run; 0 once it was stopped and its files are closed."""
    try:
        from .server import Server

        server = Server(config, listener)
        quiet_gc()
        server.serve()
        return 0
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stderr.flush()


def _wait(pid: int, owner: int) -> int | None:
    """The wait status of the writer `pid`; None if the owner of the run ended first."""
    try:
        ended: int | None = os.pidfd_open(pid)  # readable once the writer ends: stop is not delayed
    except (AttributeError, OSError):
        ended = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            if os.getppid() != owner:
                return None
            if ended is None:
                time.sleep(POLL_SECONDS)
            else:
                select.select([ended], [], [], POLL_SECONDS)
    finally:
        if ended is not None:
            os.close(ended)


if __name__ == "__main__":
    code = main()
    from ..compat import run_finalizers

    # What multiprocessing does at exit (the listener's socket file goes), then an exit without the
    # interpreter's teardown, which takes tens of ms with pyarrow loaded, at every stop.
    run_finalizers()
    sys.stderr.flush()
    os._exit(code)

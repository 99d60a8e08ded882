"""The host's collector, in a nanny's process: started by the host's first nanny, found by the others.

The first nanny of a host directory to take the lock file in this user's private directory of the host
(0700) starts the collector and publishes its `MPMON_*` environment in a 0600 file beside it; the
host's other nannies wait for that file and hand the same environment to their workers, so one
writer owns a host directory and the key never leaves the host. The last user of the collector in
its owner's process stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Final

from .. import environment
from ..rendezvous import await_published, private_dir, write_private
from ..run.control import start_collector, stop_collector
from ..run.misuse import children_expected

__all__ = ["RENDEZVOUS_WAIT_S", "attach", "detach"]

RENDEZVOUS_WAIT_S: Final = 60.0
"""How long a nanny waits for another nanny of its host to publish the host's collector."""


@dataclass
class _Host:
    """This process's hold on the collector of one host directory."""

    env: dict[str, str]
    lock_fd: int | None  # held while this process owns the collector
    rendezvous: str | None
    users: int = 0


_hosts: dict[str, _Host] = {}
_hosts_lock = threading.Lock()


def attach(host_dir: str, run_id: str, settings: dict[str, Any]) -> dict[str, str]:
    """The MPMON_* environment of the collector of `host_dir`, started here if no nanny of this host
    runs it yet."""
    with _hosts_lock:
        host = _hosts.get(host_dir)
        if host is None:
            host = _hosts[host_dir] = _open_host(host_dir, run_id, settings)
        host.users += 1
        return dict(host.env)


def detach(host_dir: str) -> None:
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
    rendezvous = os.path.join(private_dir(), "dask-" + sha256(host_dir.encode()).hexdigest()[:24])
    lock_fd = os.open(rendezvous + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock_fd)
        return _Host(await_published(rendezvous + ".json", RENDEZVOUS_WAIT_S), None, None)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.remove(rendezvous + ".json")  # a dead owner's
        with children_expected():  # the nanny restarts its worker with the collector's environment
            start_collector(host_dir, run_id=run_id, **settings)
        env = _published_env()
        write_private(rendezvous + ".json", {"pid": os.getpid(), "env": env})
    except BaseException:
        os.close(lock_fd)
        raise
    return _Host(env, lock_fd, rendezvous + ".json")


def _published_env() -> dict[str, str]:
    """What start_collector() published in this process, for the workers (not the owner's pid)."""
    return {k: v for k, v in os.environ.items() if k.startswith("MPMON_") and k != environment.OWNER_PID}

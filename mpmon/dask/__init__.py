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

This package is the nanny plugin; the host's collector is in host.py, the worker's side in worker.py.
It is the only part of mpmon that imports Dask; `import mpmon` never imports it.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import secrets
import time
from typing import Any

from distributed.diagnostics.plugin import NannyPlugin

from .. import environment
from ..run.control import start_collector
from .host import RENDEZVOUS_WAIT_S
from .host import attach as _attach
from .host import detach as _detach
from .worker import ATTEMPT_LOGGER, CLOCK_CHANGE_S, CLOCK_CHECK_MS, HAND_OVER_WAIT_S, HandOver

__all__ = [
    "ATTEMPT_LOGGER",
    "CLOCK_CHANGE_S",
    "CLOCK_CHECK_MS",
    "HAND_OVER_WAIT_S",
    "RENDEZVOUS_WAIT_S",
    "HandOver",
    "Monitor",
]


class Monitor(NannyPlugin):
    """Gives every worker host a collector writing into `<root>/host=<name>/`, and every worker process
    a connection to it; one run (`run_id`) across the cluster.

    `root` is a path on each host (relative paths are relative to each nanny's working directory; a
    shared filesystem mounted on every host is fine). `run_id`: by default the run of the collector
    this (client) process runs, else a fresh one, readable as `Monitor(...).run_id`; then the client's own
    decorated calls, when it starts no collector itself, join that run under `<root>/host=<its host>/`
    instead of making a stray run in ./logs. Other keyword
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
        if not os.environ.get(environment.ADDRESS):  # this client's own calls join the cluster's run
            os.environ[environment.CLUSTER_LOG_DIR] = os.path.abspath(self.host_dir(environment.host_name()))
            os.environ[environment.CLUSTER_RUN_ID] = self.run_id

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
        _hand_over_in_worker(nanny)

    def teardown(self, nanny: Any) -> None:
        if self._host_dir is not None:
            _detach(self._host_dir)
            self._host_dir = None


def _hand_over_in_worker(nanny: Any) -> None:
    """Give this nanny's worker HandOver as one of its own plugins (the `plugins` a Worker is made
    with), set up as the worker starts after the restart that follows.

    Not through the scheduler: registering a worker plugin there broadcasts it to every running worker,
    and one that another nanny is restarting meanwhile makes the scheduler log a
    `broadcast ... CommClosedError` ERROR, though nothing is lost."""
    kwargs = [nanny.worker_kwargs]
    if getattr(nanny, "process", None) is not None:  # the worker process object is reused on restart
        kwargs.append(nanny.process.worker_kwargs)
    for worker_kwargs in kwargs:
        plugins = tuple(worker_kwargs.get("plugins") or ())
        if not any(isinstance(p, HandOver) for p in plugins):
            worker_kwargs["plugins"] = (*plugins, HandOver())


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

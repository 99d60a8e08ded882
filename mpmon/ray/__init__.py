"""mpmon on a Ray cluster: one collector per node, found by the node's workers; one run id.

    monitor = mpmon.ray.Monitor("logs")
    ray.init(runtime_env=monitor.runtime_env())
    with monitor:            # a collector on every node; at exit, every node's rows on disk
        ...                  # ray.util.multiprocessing.Pool, tasks and actors

`remote` is `ray.remote` for functions and actor classes that mpmon decorates (tasks.py).

`runtime_env()` gives the job Ray's `worker_process_setup_hook` (worker.py) and the run id in
`env_vars`, so every worker process of the job joins its node's collector before its first task.
`start()` places one `NodeCollector` actor on each live node (node.py: pinned with a hard node-affinity
strategy, no CPU, owned by the job), which starts the node's collector, for the driver's run, writing
into `<root>/host=<name>/`. `stop()` stops them: each drains what it was sent and closes its files.

This package is the only part of mpmon that imports Ray; `import mpmon` never imports it.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import sys
import time
from types import TracebackType
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .. import capture, environment, rendezvous, start_collector
from ..collector.settings import check_run_id, new_run_id
from ..state import sender
from . import node, worker
from .node import NodeCollector
from .tasks import remote

__all__ = ["Monitor", "NodeCollector", "remote"]

_SETUP_HOOK = f"{worker.__name__}.{worker.setup.__name__}"
_START_WAIT_S = 120.0
"""How long start() waits for every node's collector to start."""


class Monitor:
    """Gives every Ray node a collector writing into `<root>/host=<name>/`, and every worker process
    of the job a connection to its node's; one run (`run_id`) across the cluster.

    `root` is made absolute in the driver (a relative one is relative to its working directory) and
    used as such on every node (a shared filesystem mounted on every node gathers all partitions).
    `run_id`: by default the run of the collector this (driver) process runs, else a fresh one. Other
    keyword arguments are `mpmon.start_collector()`'s (results_format, capture_logging, ...).
    """

    def __init__(self, root: str | os.PathLike[str] = "logs", *, run_id: str | None = None, **settings: Any):
        allowed = set(inspect.signature(start_collector).parameters) - {"log_dir", "run_id"}
        unknown = sorted(set(settings) - allowed)
        if unknown:
            raise TypeError(f"Monitor() got settings that start_collector() does not take: {unknown}")
        self.root = os.path.abspath(os.fspath(root))
        self.run_id = check_run_id(run_id) if run_id is not None else _driver_run_id()
        self.settings = settings
        self.hosts: dict[str, str] = {}
        """Node id -> host name of each node's partition, once started."""
        self._owners: dict[str, Any] = {}
        self._joined: dict[str, str | None] | None = None  # the driver's MPMON_* before it joined

    def host_dir(self, host: str) -> str:
        """The log directory of the node whose partition is named `host`."""
        return os.path.join(self.root, f"host={host}")

    def runtime_env(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """`base` (a runtime_env dict) with what the job's workers need to join their node's collector:
        pass it to `ray.init(runtime_env=...)`."""
        env = dict(base or {})
        if env.get("worker_process_setup_hook") not in (None, _SETUP_HOOK):
            raise ValueError("the job's runtime_env has a worker_process_setup_hook of its own")
        env["worker_process_setup_hook"] = _SETUP_HOOK
        env["env_vars"] = {**env.get("env_vars", {}), node.RUN: self.run_id, environment.RUN_ID: self.run_id}
        return env

    def start(self) -> Monitor:
        """Start a collector on every live node (ray.init() first, with `runtime_env()`, if this
        process is not connected yet); the driver's own records join its node's collector unless it
        runs a collector of its own."""
        if not ray.is_initialized():
            ray.init(runtime_env=self.runtime_env())
        _check_job(self.run_id)
        for found in ray.nodes():  # type: ignore[no-untyped-call]
            if found["Alive"] and found["NodeID"] not in self._owners:
                self._owners[found["NodeID"]] = _place(self.root, self.run_id, found, self.settings)
        asked = {node_id: owner.where.remote() for node_id, owner in self._owners.items()}
        deadline = time.monotonic() + _START_WAIT_S
        for node_id, where in asked.items():
            try:
                self.hosts[node_id] = ray.get(where, timeout=max(deadline - time.monotonic(), 0.0))["host"]
            except Exception as failure:  # a node lost meanwhile: the others are monitored
                print(f"mpmon: no collector on Ray node {node_id}: {failure!r}", file=sys.stderr)
                ray.kill(self._owners.pop(node_id), no_restart=True)
        self._join_driver_node()
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop every node's collector: each drains what it was sent and closes its files; then its
        actor ends. Returns within about `timeout` seconds; a node whose collector could not be stopped
        is said on stderr (its collector ends with the job). Idempotent."""
        atexit.unregister(self.stop)
        self._leave_driver_node()
        owners, self._owners = self._owners, {}
        stopping = {node_id: owner.stop.remote(timeout) for node_id, owner in owners.items()}
        deadline = time.monotonic() + timeout + 5
        for node_id, stopped in stopping.items():
            try:
                ray.get(stopped, timeout=max(deadline - time.monotonic(), 0.0))
            except Exception as failure:
                host = self.hosts.get(node_id, node_id)
                print(f"mpmon: the collector of Ray node {host} did not stop: {failure!r}", file=sys.stderr)
            with contextlib.suppress(Exception):  # an actor that is gone already
                ray.kill(owners[node_id], no_restart=True)

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _join_driver_node(self) -> None:
        """Send the driver's records to its node's collector, unless it runs a collector of its own (or
        is not on a node of the cluster: a Ray Client)."""
        if self._joined is not None or (environment.is_owner() and os.environ.get(environment.ADDRESS)):
            return
        node_id = ray.get_runtime_context().get_node_id()
        env = rendezvous.published_env(node.published_path(self.run_id, node_id))
        if env is None:
            return
        self._joined = {name: os.environ.get(name) for name in env}
        sender.flush()
        worker.join(env)

    def _leave_driver_node(self) -> None:
        """Hand the driver's records over and forget its node's collector."""
        joined, self._joined = self._joined, None
        if joined is None:
            return
        sender.flush()
        capture.uninstall()
        for name, value in joined.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        sender.rediscover()


def _place(root: str, run_id: str, found: dict[str, Any], settings: dict[str, Any]) -> Any:
    """The actor that owns the collector of the node `found` (an entry of ray.nodes())."""
    owner = ray.remote(NodeCollector).options(
        num_cpus=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(found["NodeID"], soft=False),
        runtime_env={"env_vars": {node.OWNER: "1"}},
        max_restarts=3,
    )
    described = {"id": found["NodeID"], "name": found["NodeName"], "ip": found["NodeManagerAddress"]}
    return owner.remote(root, run_id, described, settings)


def _check_job(run_id: str) -> None:
    """A clear error when the job was started without the run's runtime_env."""
    env_vars = (ray.get_runtime_context().runtime_env or {}).get("env_vars") or {}
    if env_vars.get(node.RUN) != run_id:
        raise RuntimeError(
            "mpmon.ray: this Ray job was started without the monitor's runtime_env, so its workers "
            "cannot find their node's collector: call ray.init(runtime_env=monitor.runtime_env())"
        )


def _driver_run_id() -> str:
    """The run of the collector this process publishes, or a fresh run id."""
    if os.environ.get(environment.ADDRESS) and os.environ.get(environment.RUN_ID):
        return os.environ[environment.RUN_ID]
    return new_run_id()

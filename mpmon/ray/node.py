"""A Ray node's collector, owned by an actor pinned to the node for the life of the job.

`NodeCollector` is the body of that actor (made remote by `Monitor.start()`, one per node, with a hard
node-affinity strategy and no CPU): it starts the node's collector for the driver's run, writing into
`<root>/host=<name>/`, and publishes the collector's `MPMON_*` environment in this user's private
directory of the node (mpmon.rendezvous), where each worker of the job finds it at start-up
(worker.py). The collector is a child of the actor: it lives as long as the node and the job, and when
the job ends without a stop (a killed driver), Ray ends the actor and the collector drains and ends.
"""

from __future__ import annotations

import os
import re
import socket
from hashlib import sha256
from typing import Any, Final

from .. import environment, rendezvous, start_collector, stop_collector

__all__ = ["OWNER", "RUN", "NodeCollector", "await_collector", "partition_name", "published_path"]

RUN: Final = "MPMON_RAY_RUN"
"""Set in every worker of a monitored job (through the job's runtime_env): the run whose node
collector the worker joins."""
OWNER: Final = "MPMON_RAY_OWNER"
"""Set in the actors that own the nodes' collectors: their own setup hook leaves them alone."""


def published_path(run_id: str, node_id: str) -> str:
    """The file in which the collector of `run_id` on the node `node_id` is published."""
    digest = sha256(f"{run_id}\0{node_id}".encode()).hexdigest()[:24]
    return os.path.join(rendezvous.private_dir(), f"ray-{digest}.json")


def await_collector(run_id: str, node_id: str, wait: float) -> dict[str, str]:
    """The environment of the node's collector of `run_id`, once published (TimeoutError after `wait` s)."""
    try:
        return rendezvous.await_published(published_path(run_id, node_id), wait)
    except TimeoutError:
        message = f"mpmon: no collector of run {run_id} on Ray node {node_id} after {wait:g} s"
        raise TimeoutError(message) from None


def partition_name(node_name: str, node_ip: str) -> str:
    """The host name of a node's partition: $MPMON_HOSTNAME on the node, else Ray's node name when one
    was given (`ray start --node-name`), else the host's name (Ray's default node name is its IP); a
    character that has no place in a directory name becomes "_"."""
    chosen = os.environ.get(environment.HOSTNAME) or (node_name if node_name != node_ip else "")
    return re.sub(r"[^A-Za-z0-9._:-]", "_", chosen or socket.gethostname()).lstrip(".") or "_"


class NodeCollector:
    """The actor that owns one node's collector (see the module's docstring)."""

    def __init__(self, root: str, run_id: str, node: dict[str, str], settings: dict[str, Any]) -> None:
        self.host = partition_name(node["name"], node["ip"])
        self.log_dir = os.path.abspath(os.path.join(root, f"host={self.host}"))
        self.published = published_path(run_id, node["id"])
        self.run_id = run_id
        os.environ[environment.HOSTNAME] = self.host
        start_collector(self.log_dir, run_id=run_id, **settings)
        env = {k: v for k, v in os.environ.items() if k.startswith("MPMON_") and k != environment.OWNER_PID}
        env[environment.HOSTNAME] = self.host
        rendezvous.write_private(self.published, {"pid": os.getpid(), "env": env})

    def where(self) -> dict[str, str]:
        """The node's partition: its host name and log directory."""
        return {"host": self.host, "log_dir": self.log_dir}

    def stop(self, timeout: float) -> dict[str, str]:
        """Stop the node's collector (it drains and writes what it was sent) and withdraw it."""
        rendezvous.withdraw(self.published)
        stop_collector(timeout)
        return self.where()

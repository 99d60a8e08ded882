"""The worker's side, in each Ray worker process of a monitored job: join the node's collector.

`setup` is the job's `worker_process_setup_hook` (set by `Monitor.runtime_env()`): Ray runs it in every
worker process (task workers, actors, `ray.util.multiprocessing.Pool`'s actors) before the worker's
first task. It finds the collector of its node for the job's run (published by the node's
NodeCollector actor, node.py), takes its `MPMON_*` environment and re-reads it (mpmon was imported
before that environment existed).

A Ray worker has no hand-over before its results (a pool worker flushes before it puts a result on
its result queue; a Ray worker returns its result through Ray's core worker, which mpmon cannot
hook), so it flushes as each outermost monitored call returns: a task's records are on their way to
the collector before its caller's `ray.get()` returns, and a worker killed later loses none of them.
"""

from __future__ import annotations

import os
import sys
from typing import Final

from .. import environment, render
from ..state import sender
from . import node

__all__ = ["JOIN_WAIT_S", "setup"]

JOIN_WAIT_S: Final = 60.0
"""How long a worker that starts before its node's collector waits for it to be published."""


def setup() -> None:
    """Ray's worker_process_setup_hook of a monitored job: join the node's collector of the run. Never
    raises (Ray would end the worker): a failure is said on stderr and the worker goes on."""
    run_id = os.environ.get(node.RUN)
    if not run_id or os.environ.get(node.OWNER):
        return
    try:
        import ray

        env = node.await_collector(run_id, ray.get_runtime_context().get_node_id(), JOIN_WAIT_S)
        join(env)
    except Exception as failure:
        print(f"{failure!r}; this worker's records are not part of run {run_id}", file=sys.stderr)
        return
    sender.eager = True  # the flush rule of a worker without a hand-over before its results


def join(env: dict[str, str]) -> None:
    """Take a collector's environment in this process and read it again."""
    os.environ.update(env)
    sender.rediscover()
    render.forget_run_sanitizer()
    if os.environ.get(environment.CAPTURE_LOGGING) == "1":
        from ..capture import install

        install(echo=os.environ.get(environment.LOG_TO_CONSOLE) == "1")

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
from typing import Any, Final

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
    _hand_over_after_each_batch()


def _hand_over_after_each_batch() -> None:
    """In a worker of `ray.util.multiprocessing.Pool`: hand the records over once per batch of calls
    (the batch's results return together) instead of once per call."""
    try:
        from ray.util.multiprocessing.pool import PoolActor
    except ImportError:
        return
    run_batch = getattr(PoolActor, "run_batch", None)
    if run_batch is None or getattr(run_batch, "_mpmon_hand_over", False):
        return

    def run_batch_then_hand_over(self: Any, func: Any, batch: Any) -> Any:
        sender.eager = False  # a Pool actor runs one batch at a time
        try:
            return run_batch(self, func, batch)
        finally:
            sender.eager = True
            _hand_over()

    run_batch_then_hand_over._mpmon_hand_over = True  # type: ignore[attr-defined]
    setattr(PoolActor, "run_batch", run_batch_then_hand_over)  # noqa: B010


def _hand_over() -> None:
    """Flush; the pool gets its results whatever happens to the records (the sender spills what it
    could not send)."""
    try:
        sender.flush()
    except Exception as failure:
        print(f"mpmon: could not hand records over after a batch: {failure!r}", file=sys.stderr)


def join(env: dict[str, str]) -> None:
    """Take a collector's environment in this process and read it again."""
    os.environ.update(env)
    sender.rediscover()
    render.forget_run_sanitizer()
    if os.environ.get(environment.CAPTURE_LOGGING) == "1":
        from ..capture import install

        install(echo=os.environ.get(environment.LOG_TO_CONSOLE) == "1")

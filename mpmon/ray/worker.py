"""The worker's side, in each Ray worker process of a monitored job: join the node's collector.

`setup` is the job's `worker_process_setup_hook` (set by `Monitor.runtime_env()`): Ray runs it in every
worker process (task workers, actors, `ray.util.multiprocessing.Pool`'s actors) before the worker's
first task. It finds the collector of its node for the job's run (published by the node's
NodeCollector actor, node.py), takes its `MPMON_*` environment and re-reads it (mpmon was imported
before that environment existed).

A Ray worker returns a task's result through Ray's core worker, with no queue to hook as a pool
worker's (which flushes before it puts a result on its result queue). It looks up the function of
each task it runs (a task's function, an actor method's executor, a Pool actor's `run_batch`) through
its function manager; `setup` wraps what that lookup answers, so that each task hands its records over
as it returns (an async actor method's, as its coroutine ends): once per task, not per call, and
before the caller's `ray.get()` returns; a worker killed later loses none of them. Records made
outside any task (a thread a task started) leave with the flusher, within about a second. Should a
Ray version lack that lookup, the worker falls back to a flush at the end of each outermost
monitored call (`Sender.eager`), which keeps the same guarantee at a higher cost.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Coroutine
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
    sender.eager = not _hand_over_after_each_task(ray)


def join(env: dict[str, str]) -> None:
    """Take a collector's environment in this process and read it again."""
    os.environ.update(env)
    sender.rediscover()
    render.forget_run_sanitizer()
    if os.environ.get(environment.CAPTURE_LOGGING) == "1":
        from ..capture import install

        install(echo=os.environ.get(environment.LOG_TO_CONSOLE) == "1")


def _hand_over_after_each_task(ray: Any) -> bool:
    """Make every task this worker runs (a task, an actor method, a Pool batch) hand its records over
    as it returns: Ray's worker looks each task's function up through its function manager, whose
    answers are wrapped here. False if this Ray has no such lookup (then the per-call rule holds)."""
    manager = getattr(getattr(ray._private.worker, "global_worker", None), "function_actor_manager", None)
    look_up = getattr(manager, "get_execution_info", None)
    if manager is None or look_up is None or getattr(look_up, "_mpmon_hand_over", False):
        return look_up is not None
    wrapped: dict[int, Any] = {}

    def get_execution_info(job_id: Any, function_descriptor: Any) -> Any:
        info = look_up(job_id, function_descriptor)
        function = info.function
        if id(function) not in wrapped:
            wrapped[id(function)] = (function, info._replace(function=_handing_over(function)))
        return wrapped[id(function)][1]

    get_execution_info._mpmon_hand_over = True  # type: ignore[attr-defined]
    manager.get_execution_info = get_execution_info
    return True


def _handing_over(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a task's function, or an actor method's executor), handing the records over as it
    returns, or, for a coroutine (an async actor's method), as the coroutine ends."""

    def run_then_hand_over(*args: Any, **kwargs: Any) -> Any:
        try:
            result = function(*args, **kwargs)
        finally:
            _hand_over()
        return _then_hand_over(result) if inspect.iscoroutine(result) else result

    run_then_hand_over.__dict__.update(function.__dict__)  # Ray reads `method` and `name` of executors
    return functools.wraps(function, updated=())(run_then_hand_over)


async def _then_hand_over(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coroutine
    finally:
        _hand_over()


def _hand_over() -> None:
    """Flush if there is anything to flush; the task gets its result whatever happens to the records
    (the sender spills what it could not send)."""
    if not sender.buffer:
        return
    try:
        sender.flush()
    except Exception as failure:
        print(f"mpmon: could not hand records over after a task: {failure!r}", file=sys.stderr)

"""Every use of a CPython private attribute in mpmon, in one place.

Each function below names the Python versions it was checked against and what happens where the private
attribute is missing (the fallback). A new Python that drops one of them makes mpmon slower or noisier,
never wrong; `tests/test_compat.py` fails loudly when a hook that should be active is not, so that a CI on
a new Python says so instead of quietly getting slower.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, Final

__all__ = [
    "POOL_WORKER_LOOPS",
    "end_loky_executors",
    "exit_function",
    "manager_servers",
    "mark_coroutine_function",
    "pool_worker_args",
    "result_queue_lock",
    "run_finalizers",
    "set_result_queue_lock",
]

POOL_WORKER_LOOPS: Final = frozenset(
    {
        ("multiprocessing.pool", "worker"),
        ("multiprocess.pool", "worker"),
        ("concurrent.futures.process", "_process_worker"),
        ("joblib.externals.loky.process_executor", "_process_worker"),
        ("loky.process_executor", "_process_worker"),
    }
)
"""(module, name) of the worker loops of multiprocessing's, multiprocess's, concurrent.futures' and loky's
pools (loky's, vendored in joblib, runs joblib's default backend)."""


def pool_worker_args(process: Any) -> tuple[Any, ...] | None:
    """The arguments of `process`'s target if it runs a pool worker loop, else None.

    Private: `BaseProcess._target` and `_args` (CPython 3.8-3.14, multiprocess 0.70). Fallback: None, so
    the worker is not recognised and flushes at the end of each outermost call (correct, slower).
    """
    target = getattr(process, "_target", None)
    if (getattr(target, "__module__", None), getattr(target, "__name__", None)) in POOL_WORKER_LOOPS:
        return tuple(getattr(process, "_args", ()))
    return None


def result_queue_lock(queue: Any) -> Any:
    """The lock that `queue.put()` takes before it writes (None if it has none).

    Private: `SimpleQueue._wlock` (multiprocessing and multiprocess, CPython 3.8-3.14; concurrent.futures'
    result queue is a SimpleQueue too, and so is loky's, checked with loky 3.5 / joblib 1.6). Fallback: None,
    and the worker flushes at the end of each outermost call instead of before each result; so does a
    queue whose `put` took the lock when it was made (joblib's `CustomizablePicklingQueue`).
    """
    if "put" in getattr(queue, "__dict__", {}):  # joblib's pool queue: put() bound the lock when made
        return None
    return getattr(queue, "_wlock", None)


def set_result_queue_lock(queue: Any, lock: Any) -> None:
    """Put `lock` in place of the queue's write lock (see `result_queue_lock`)."""
    queue._wlock = lock


LOKY_EXECUTOR_MODULES: Final = ("joblib.externals.loky.reusable_executor", "loky.reusable_executor")
"""Where loky keeps its reusable executor (joblib's copy, and loky's own)."""


def end_loky_executors() -> None:
    """Let loky's reusable executors end their workers when idle, without waiting (their workers keep
    the environment they started with: the next `Parallel` then starts workers that find this run).

    Private: the module global `_executor` of loky's reusable_executor (loky 3.x, joblib 1.3-1.6); a
    shut-down executor is replaced by the next `get_reusable_executor()`. Fallback: nothing is done, and
    workers started before the run keep their old environment (their records are spilled, said once).
    """
    import sys

    for name in LOKY_EXECUTOR_MODULES:
        executor = getattr(sys.modules.get(name), "_executor", None)
        shutdown = getattr(executor, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown(wait=False)
            except Exception as failure:  # never break the run's start or stop for it
                print(f"mpmon: could not end loky's reusable executor: {failure!r}", file=sys.stderr)


def mark_coroutine_function(func: Any) -> None:
    """Make `inspect.iscoroutinefunction` and `asyncio.iscoroutinefunction` true for `func`.

    Public `inspect.markcoroutinefunction` from 3.12; before, the private marker
    `asyncio.coroutines._is_coroutine` (3.8-3.11). Fallback: none needed (the wrapper still awaits).
    """
    import inspect

    if hasattr(inspect, "markcoroutinefunction"):
        inspect.markcoroutinefunction(func)
        return
    import asyncio.coroutines

    marker = getattr(asyncio.coroutines, "_is_coroutine", None)
    if marker is not None:
        func._is_coroutine = marker


def exit_function(util: ModuleType | None) -> Callable[[], None] | None:
    """multiprocessing's (or multiprocess's) own exit handler: ends open pools and joins children.

    Private: `multiprocessing.util._exit_function` (CPython 3.8-3.14). Fallback: None; the caller then
    stops the collector without ending the pools first (their last records may be spilled).
    """
    function = getattr(util, "_exit_function", None)
    return function if callable(function) else None


def manager_servers(package: ModuleType | None) -> list[Any]:
    """The server processes of the stock `Manager()`s (SyncManager) started by this process, through
    `package` (multiprocessing or multiprocess): they run no code of the user's, so no monitored call.

    Private: `util._finalizer_registry`, each `Finalize`'s `_callback` and `_args` (CPython 3.8-3.14,
    multiprocess 0.70): `BaseManager.start()` registers `_finalize_manager(process, ...)`, the one link from
    a manager to its process (the process's target is gone once it started). Fallback: [], so a Manager
    counts as a child process started before the collector (a line on stderr too many, nothing lost).
    """
    util, managers = getattr(package, "util", None), getattr(package, "managers", None)
    finalize = getattr(getattr(managers, "BaseManager", None), "_finalize_manager", None)
    registry = getattr(util, "_finalizer_registry", None)
    if finalize is None or not isinstance(registry, dict):
        return []
    found = []
    for entry in list(registry.values()):
        args = getattr(entry, "_args", None) or (None,)
        name = str(getattr(args[0], "name", ""))
        if getattr(entry, "_callback", None) is finalize and name.startswith("SyncManager-"):  # not a user's
            found.append(args[0])
    return found


def run_finalizers() -> None:
    """Run multiprocessing's registered finalizers now (what it does at a normal exit).

    Private: `multiprocessing.util._run_finalizers` (CPython 3.8-3.14). Fallback: nothing is run; the
    caller's `os._exit` then leaves a listener's socket file for the next start to remove.
    """
    from multiprocessing import util

    function = getattr(util, "_run_finalizers", None)
    if callable(function):
        function()

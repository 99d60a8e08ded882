"""The baselines mpmon is measured against, each built the way its own users build it.

- The standard multiprocess logging recipe (the logging cookbook's "logging to a single file from multiple
  processes"): a decorator makes one ``logger.info`` call per function call; a ``QueueHandler`` puts the
  record on a ``multiprocessing.Queue``; one listener process hands it to a ``RotatingFileHandler`` with a
  JSON formatter. It times only the wall clock (no CPU or RSS), which favours it against ``track_resources``.
- ``codetiming.Timer`` as a decorator, named and with ``logger=None``: it keeps each duration in memory and
  writes nothing, the floor of what a timing decorator costs.
- The original single-process module's writer: a decorator that measures with psutil and appends one row
  per call with ``DataFrame([row]).to_csv(path, mode="a", header=not exists)``.
"""

from __future__ import annotations

import functools
import json
import logging
import logging.handlers
import multiprocessing
import os
from collections.abc import Callable
from datetime import datetime, timezone
from multiprocessing.context import BaseContext
from pathlib import Path
from time import perf_counter
from typing import Any, ParamSpec, TypeVar
from uuid import uuid4

import codetiming

P = ParamSpec("P")
R = TypeVar("R")

STDLIB_LOGGER = "benchmarks.stdlib_recipe"
MAX_BYTES = 10 * 2**20


class JsonFormatter(logging.Formatter):
    """One JSON object per record with the fields a timing line needs (as mpmon's timing.log has).

    A traceback arrives inside ``message``: the producer's ``QueueHandler.prepare`` formats it in.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        return json.dumps(
            {
                "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                "level": record.levelname,
                "message": record.getMessage(),
                "function": getattr(record, "function", None),
                "module": record.module,
                "duration_s": getattr(record, "duration_s", None),
                "pid": record.process,
                "process_name": record.processName,
                "thread_name": record.threadName,
            }
        )


def listen(queue: Any, path: str, max_bytes: int, backup_count: int) -> None:
    """The listener process's loop: write every queued record until the ``None`` sentinel arrives."""
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backup_count)
    handler.setFormatter(JsonFormatter())
    while (record := queue.get()) is not None:
        handler.handle(record)
    handler.close()


class StdlibRecipe:
    """The queue and the listener process of the recipe; ``stop()`` returns once every record is written."""

    def __init__(self, path: Path, backup_count: int = 5, ctx: BaseContext | None = None) -> None:
        self.ctx = ctx or multiprocessing.get_context()
        self.path = path
        self.queue = self.ctx.Queue()
        self.listener = self.ctx.Process(
            target=listen, args=(self.queue, str(path), MAX_BYTES, backup_count), name="stdlib-listener"
        )

    def start(self) -> StdlibRecipe:
        """Start the listener process and route this process's baseline logger to the queue."""
        self.listener.start()
        install_queue_handler(self.queue)
        return self

    def stop(self) -> None:
        """Send the sentinel (after this process's queued records) and wait for the listener to finish."""
        self.queue.put(None)
        self.listener.join()
        self.queue.close()
        self.queue.join_thread()


def install_queue_handler(queue: Any) -> None:
    """Make the baseline logger of this process put its records on ``queue`` (also a Pool initializer)."""
    logger = logging.getLogger(STDLIB_LOGGER)
    logger.handlers[:] = [logging.handlers.QueueHandler(queue)]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def drain_queue_handler() -> None:
    """Block until this process's queued baseline records are in the pipe (its feeder thread is done)."""
    for handler in logging.getLogger(STDLIB_LOGGER).handlers:
        if isinstance(handler, logging.handlers.QueueHandler):
            handler.queue.close()
            handler.queue.join_thread()


def stdlib_logged(func: Callable[P, R]) -> Callable[P, R]:
    """Time func with perf_counter and make one stdlib logging call per call (the recipe's producer)."""
    logger = logging.getLogger(STDLIB_LOGGER)
    name = func.__qualname__

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            duration = perf_counter() - start
            logger.info("%s took %.6f s", name, duration, extra={"function": name, "duration_s": duration})

    return wrapper


_csv_path: Path | None = None
_process: Any = None  # psutil.Process of this pid, made on first use so a forked child gets its own


def set_pandas_csv_path(path: Path) -> None:
    """Where the per-call pandas writer appends (set in each process that calls it)."""
    global _csv_path
    _csv_path = path


def _this_process() -> Any:
    """psutil's handle on the current process, remade after a fork."""
    global _process
    if _process is None or _process.pid != os.getpid():
        import psutil

        _process = psutil.Process()
    return _process


def pandas_csv_timer(func: Callable[P, R]) -> Callable[P, R]:
    """The original module's Timer: psutil before and after, then one ``to_csv(mode="a")`` per call."""
    name = func.__qualname__

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import pandas as pd

        proc = _this_process()
        cpu0, mem0, start_wall, start = (
            proc.cpu_times(),
            proc.memory_info().rss,
            datetime.now(),
            perf_counter(),
        )
        result = func(*args, **kwargs)
        duration, cpu1, mem1 = perf_counter() - start, proc.cpu_times(), proc.memory_info().rss
        row = {
            "uuid": str(uuid4()),
            "function": name,
            "start_time": start_wall.isoformat(),
            "end_time": datetime.now().isoformat(),
            "execution_time_s": duration,
            "cpu_time_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
            "mem_delta_mib": (mem1 - mem0) / 2**20,
            "mem_final_mib": mem1 / 2**20,
            "args": repr((args, kwargs)),
        }
        path = _csv_path or Path("timing_results.csv")
        pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)
        return result

    return wrapper


@stdlib_logged
def stdlib_empty() -> None:
    """The empty function, logged through the stdlib recipe."""


@codetiming.Timer(name="benchmarks.codetiming_empty", logger=None)
def codetiming_empty() -> None:
    """The empty function, timed by codetiming (kept in memory, nothing written)."""


@pandas_csv_timer
def pandas_empty() -> None:
    """The empty function, timed by the original module's per-call pandas writer."""


def stdlib_error_logged(func: Callable[P, R]) -> Callable[P, R]:
    """The recipe's error catcher: ``logger.exception`` (with the traceback) through the queue, re-raise."""
    logger = logging.getLogger(STDLIB_LOGGER)
    name = func.__qualname__

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except Exception:
            logger.exception("%s raised", name, extra={"function": name})
            raise

    return wrapper


@stdlib_error_logged
def stdlib_catch_empty() -> None:
    """The empty function under the recipe's error catcher (nothing is logged when it returns)."""


@stdlib_error_logged
def stdlib_catch_raising() -> None:
    """A raising function under the recipe's error catcher."""
    raise ValueError("benchmark error")

"""`Timer` and `ErrorCatcher`: the decorators, context managers and start()/stop() timers people write.

What they return for a function is a real Python function holding the function and the decorator's
settings, nothing else (wrappers.py; coroutine and generator functions: lazy.py). Everything a call
measures lives in local variables of that call, so recursion and threads are safe. Every form goes
through calls.py (begin -> finish -> record_call); a plain Timer call keeps those steps inline for speed,
and a test checks that both build the same record. What each decorator was told is checked in options.py.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from . import probe
from .calls import begin, finish
from .lazy import timed_lazy
from .monitored import Monitored, caller_names, main_module_name
from .options import ErrorSettings, TimerSettings
from .render import Sanitizer
from .state import sender as _sender
from .state import stack as _stack
from .wrappers import caught, report_error, timed

__all__ = [
    "ErrorCatcher",
    "ErrorCatcherDecorator",
    "ErrorSettings",
    "Monitored",
    "Timer",
    "TimerDecorator",
    "TimerSettings",
    "caller_names",
    "main_module_name",
]

P = ParamSpec("P")
R = TypeVar("R")
_cpu_ns = probe.cpu_ns
_perf_counter_ns = probe.perf_counter_ns


def _deprecated_multiprocessing(value: object, stacklevel: int) -> None:
    """The published versions' `use_multiprocessing`: accepted, ignored, said once per process."""
    global _warned_multiprocessing
    if value is not None and not _warned_multiprocessing:
        _warned_multiprocessing = True
        warnings.warn(
            "use_multiprocessing is ignored: mpmon is always multiprocess-safe (every process's records "
            "go to one collector); remove the argument",
            DeprecationWarning,
            stacklevel=stacklevel + 1,
        )


_warned_multiprocessing = False


def _is_function(value: object) -> bool:
    return callable(value) and not isinstance(value, (bool, int, str, type(None)))


class _BareOrConfigured:
    """A decorator class that also works bare: `@Timer` means `@Timer()`."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and _is_function(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        raise NotImplementedError


class TimerDecorator(_BareOrConfigured):
    """What `Timer(...)` makes: a decorator, a context manager, and a start()/stop() timer, all one object.

    Decorating makes each call of the function one results row. As a context manager, or between
    start() and stop(), the block is one row named `name` (by default the enclosing function's name);
    `Timer("load")`, a text as first argument, means `Timer(name="load")`.
    The object holds only its settings; what a call measures is kept per call and per thread, so one
    object may time recursive and concurrent blocks. Settings left as None take the collector's, or
    the original module's defaults: log_to_console=True, log_to_file=True, results_format="csv".
    """

    def __init__(
        self,
        log_to_console: bool | str | None = None,
        log_to_file: bool | None = None,
        track_resources: bool = True,
        max_arg_length: int | None = None,
        sanitize_func: Sanitizer | None = None,
        results_format: str | None = None,
        use_multiprocessing: bool | None = None,
        *,
        name: str | None = None,
    ) -> None:
        _deprecated_multiprocessing(use_multiprocessing, stacklevel=2)
        if isinstance(log_to_console, str):  # codetiming's habit, Timer("load"): the text names the row
            if name is not None:
                raise TypeError(f"Timer() got a name twice: {log_to_console!r} and name={name!r}")
            log_to_console, name = None, log_to_console
        self.settings = TimerSettings(
            log_to_console,
            log_to_file,
            bool(track_resources),
            max_arg_length,
            sanitize_func,
            results_format,
            name,
        )

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        if (
            inspect.isasyncgenfunction(func)
            or inspect.iscoroutinefunction(func)
            or inspect.isgeneratorfunction(func)
        ):
            return cast(Callable[P, R], timed_lazy(func, self.settings))
        return cast(Callable[P, R], timed(func, self.settings))

    def start(self) -> TimerDecorator:
        """Start timing a block; stop() ends it. Nested and per-thread starts are kept apart."""
        self._start(depth=2)
        return self

    def stop(self) -> None:
        """End the block the last start() of this thread began, and hand its row to the collector."""
        self._stop("")

    def __enter__(self) -> TimerDecorator:
        self._start(depth=2)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        self._stop("" if kind is None else kind.__name__)

    def _start(self, depth: int) -> None:
        name, module = caller_names(depth)
        settings = self.settings
        _stack.open_block(id(self), (settings.name or name, module, begin(settings.track_resources)))

    def _stop(self, error_type: str) -> None:
        cpu1, t1 = _cpu_ns(), _perf_counter_ns()
        block = _stack.close_block(id(self))
        if block is None:
            raise RuntimeError("Timer.stop() without a matching start() in this thread")
        name, module, begun = block
        ended = (t1, cpu1 - begun.cpu_ns if begun.cpu_ns >= 0 else -1)
        finish(begun, "timer", name, module, error_type, None, self.settings.route, ended)


class ErrorCatcherDecorator(_BareOrConfigured):
    """What `ErrorCatcher(...)` makes: a decorator, and a context manager for a block.

    An exception raised by the function (or the block) is written to error.log with its full traceback,
    sanitized, then re-raised unchanged. Stacked above `@Timer`, its entry carries the uuid of the
    Timer's row for the same call.
    """

    def __init__(
        self,
        log_to_console: bool | None = None,
        log_to_file: bool | None = None,
        error_log_file: str | os.PathLike[str] | None = None,
        max_bytes: int | None = None,
        backup_count: int | None = None,
        sanitize_func: Sanitizer | None = None,
        results_format: str | None = None,
        max_arg_length: int | None = None,
        use_multiprocessing: bool | None = None,
    ) -> None:
        _deprecated_multiprocessing(use_multiprocessing, stacklevel=2)
        path = os.path.abspath(os.fspath(error_log_file)) if error_log_file is not None else None
        self.settings = ErrorSettings(
            log_to_console,
            log_to_file,
            path,
            max_bytes,
            backup_count,
            sanitize_func,
            max_arg_length,
            results_format,
        )

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        return cast(Callable[P, R], caught(func, self.settings))

    def __enter__(self) -> ErrorCatcherDecorator:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        if isinstance(error, Exception):
            name, module = caller_names(1)
            report_error(error, next(_sender.counter), (), {}, name, module, self.settings)


if TYPE_CHECKING:

    @overload
    def Timer(func: Callable[P, R], /) -> Callable[P, R]: ...
    @overload
    def Timer(
        name: str,
        /,
        *,
        log_to_console: bool | None = None,
        log_to_file: bool | None = None,
        track_resources: bool = True,
        max_arg_length: int | None = None,
        sanitize_func: Sanitizer | None = None,
        results_format: str | None = None,
    ) -> TimerDecorator: ...
    @overload
    def Timer(
        log_to_console: bool | None = None,
        log_to_file: bool | None = None,
        track_resources: bool = True,
        max_arg_length: int | None = None,
        sanitize_func: Sanitizer | None = None,
        results_format: str | None = None,
        use_multiprocessing: bool | None = None,
        *,
        name: str | None = None,
    ) -> TimerDecorator: ...
    def Timer(*args: Any, **kwargs: Any) -> Any: ...

    @overload
    def ErrorCatcher(func: Callable[P, R], /) -> Callable[P, R]: ...
    @overload
    def ErrorCatcher(
        log_to_console: bool | None = None,
        log_to_file: bool | None = None,
        error_log_file: str | os.PathLike[str] | None = None,
        max_bytes: int | None = None,
        backup_count: int | None = None,
        sanitize_func: Sanitizer | None = None,
        results_format: str | None = None,
        max_arg_length: int | None = None,
        use_multiprocessing: bool | None = None,
    ) -> ErrorCatcherDecorator: ...
    def ErrorCatcher(*args: Any, **kwargs: Any) -> Any: ...

else:
    Timer = TimerDecorator
    ErrorCatcher = ErrorCatcherDecorator

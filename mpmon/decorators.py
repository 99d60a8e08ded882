"""`Timer` and `ErrorCatcher`: measure a call, pack the numbers into a raw record, hand it to the sender.

A decorated function is an object holding the function and its decorator's settings, nothing else (see
monitored.py). Everything a call measures lives in local variables of that call, so recursion and
threads are safe. Every form goes through calls.py (begin -> finish -> record_call); a plain Timer call
keeps those steps inline for speed, and a test checks that both build the same record. What each
decorator was told is checked in options.py.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from . import probe
from .calls import Begun, arm, begin, finish, record_error, rendered_args, stop_clocks
from .lazy import timed_lazy
from .monitored import Monitored, TimedBase, caller_names, main_module_name
from .options import ErrorSettings, TimerSettings
from .render import Sanitizer, render_exception
from .state import MAX_DEPTH as _MAX_DEPTH
from .state import sender as _sender
from .state import stack as _stack
from .wire import CALL

__all__ = [
    "CaughtFunction",
    "ErrorCatcher",
    "ErrorCatcherDecorator",
    "ErrorSettings",
    "Monitored",
    "TimedFunction",
    "Timer",
    "TimerDecorator",
    "TimerSettings",
    "caller_names",
    "main_module_name",
]

P = ParamSpec("P")
R = TypeVar("R")
_current_thread = threading.current_thread
_cpu_ns = probe.cpu_ns
_rss_raw = probe.rss_raw
_time_ns = probe.time_ns
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


class TimedFunction(TimedBase):
    """A function under @Timer: each call makes one results row."""

    settings: TimerSettings

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.inner is not None:
            return self.run(next(_sender.counter), args, kwargs)
        # The hot path: calls.begin(), finish() and record_call() in one frame, which saves a tenth of
        # the cost; tests/test_calls.py checks that it builds the same record as they do.
        s = _sender
        call_no = next(s.counter)
        stack = _stack
        parent = stack.current
        depth = stack.depth
        if depth >= _MAX_DEPTH:
            raise RecursionError(f"{self.name}: @Timer calls nested as deep as this thread's C stack allows")
        stack.current = call_no
        if not s.ready:
            arm()
        cpu0 = cpu = -1
        rss0: bytes | int = -1
        rss1: bytes | int = -1
        start = _time_ns()
        if self.track:
            rss0 = _rss_raw()
            t0 = _perf_counter_ns()
            cpu0 = _cpu_ns()
        else:
            t0 = _perf_counter_ns()
        try:
            if len(args) == 1 and not kwargs:  # a plain call: the function runs in this C frame
                stack.depth = depth + 2
                result = self.__wrapped__(args[0])
            else:  # a call with *args runs in a C frame of its own: recursion reaches half as deep
                stack.depth = depth + 3
                result = self.__wrapped__(*args, **kwargs)
        except BaseException as exc:
            stack.depth = depth
            begun = Begun(call_no, parent, True, start, t0, cpu0, rss0)
            finish(begun, "timer", self.name, self.module_name, type(exc).__name__,
                   self.rendered(args, kwargs), self.route, stop_clocks(begun))  # fmt: skip
            raise
        if cpu0 >= 0:
            cpu = _cpu_ns() - cpu0
            t1 = _perf_counter_ns()
            rss1 = _rss_raw()
        else:
            t1 = _perf_counter_ns()
        stack.current = parent
        stack.depth = depth
        rendered = None
        if args or kwargs:
            settings = self.settings
            rendered = rendered_args(args, kwargs, settings.max_arg_length, settings.sanitize_func)
        s.add(
            (CALL, "timer", self.name, self.module_name, call_no, parent, start, t1 - t0, cpu, rss0, rss1,
             _current_thread().name, "", rendered, self.route),
            parent,
        )  # fmt: skip
        return result

    def run(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        begun = begin(self.track, call_no)
        try:
            if self.inner is None:
                result = self.__wrapped__(*args, **kwargs)
            else:
                result = self.inner.run(call_no, args, kwargs)
        except BaseException as exc:
            ended = stop_clocks(begun)
            finish(begun, "timer", self.name, self.module_name, type(exc).__name__,
                   self.rendered(args, kwargs), self.route, ended)  # fmt: skip
            raise
        finish(begun, "timer", self.name, self.module_name, "", self.rendered(args, kwargs), self.route)
        return result


class CaughtFunction(Monitored):
    """A function under @ErrorCatcher: an exception is logged with its traceback, then re-raised."""

    settings: ErrorSettings

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.inner is not None:
            return self.run(next(_sender.counter), args, kwargs)
        if not _sender.ready:
            arm()  # a collector started on demand runs before the body logs anything
        try:
            return self.__wrapped__(*args, **kwargs)
        except Exception as exc:
            self.report(exc, next(_sender.counter), args, kwargs)
            raise

    def run(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            if self.inner is None:
                return self.__wrapped__(*args, **kwargs)
            return self.inner.run(call_no, args, kwargs)
        except Exception as exc:
            self.report(exc, call_no, args, kwargs)
            raise

    def report(self, exc: BaseException, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Hand the error record to the collector at once; never raises."""
        try:
            settings = self.settings
            sanitize = settings.sanitize_func
            message, trace = render_exception(exc, sanitize, hide_file=__file__)
            rendered = rendered_args(args, kwargs, settings.max_arg_length, sanitize)
            record_error(self.name, self.module_name, call_no, type(exc).__name__, message, trace, rendered,
                         self.route)  # fmt: skip
        except Exception as failure:  # monitoring must never replace the user's exception
            print(f"mpmon: could not record {type(exc).__name__}: {failure!r}", file=sys.stderr)


def _is_function(value: object) -> bool:
    return callable(value) and not isinstance(value, (bool, int, str, type(None)))


def _block() -> None:
    """Stands for the body of a `with` block or a start()/stop() span."""


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
    start() and stop(), the block is one row named `name` (by default the enclosing function's name).
    The object holds only its settings; what a call measures is kept per call and per thread, so one
    object may time recursive and concurrent blocks. Settings left as None take the collector's, or
    the original module's defaults: log_to_console=True, log_to_file=True, results_format="csv".
    """

    def __init__(
        self,
        log_to_console: bool | None = None,
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
        return cast(Callable[P, R], TimedFunction(func, self.settings))

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
        return cast(Callable[P, R], CaughtFunction(func, self.settings))

    def __enter__(self) -> ErrorCatcherDecorator:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        if isinstance(error, Exception):
            caught = CaughtFunction(_block, self.settings)
            caught.name, caught.module_name = caller_names(1)
            caught.report(error, next(_sender.counter), (), {})


if TYPE_CHECKING:

    @overload
    def Timer(func: Callable[P, R], /) -> Callable[P, R]: ...
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

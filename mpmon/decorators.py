"""`Timer` and `ErrorCatcher`: measure a call, pack the numbers into a raw record, hand it to the sender.

A decorated function is an object holding the function and its decorator's settings, nothing else, so
it pickles by reference like the function it replaces (and, under the `multiprocess` package, by value
without dragging any of mpmon's per-process state along). Everything a call measures lives in local
variables of that call, so recursion and threads are safe. Probes of CPU time and memory sit outside
the timed window, so the recorded duration is the function's own.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import threading
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from . import probe
from .render import Sanitizer, render_args, render_exception
from .schema import RESULTS_FORMATS
from .sender import sender
from .wire import CALL, ERROR

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
]

P = ParamSpec("P")
R = TypeVar("R")
_current_thread = threading.current_thread
_cpu_ns = probe.cpu_ns
_rss_raw = probe.rss_raw
_time_ns = probe.time_ns
_perf_counter_ns = probe.perf_counter_ns


@dataclass(frozen=True)
class TimerSettings:
    """What a Timer was told; None means "the collector's setting" (or the original default)."""

    log_to_console: bool | None = None
    log_to_file: bool | None = None
    track_resources: bool = True
    max_arg_length: int | None = None
    sanitize_func: Sanitizer | None = None
    results_format: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        _check_format(self.results_format)
        _check_common(self.max_arg_length, self.sanitize_func)

    @property
    def route(self) -> tuple[bool | None, bool | None, str | None]:
        return (self.log_to_console, self.log_to_file, self.results_format)


@dataclass(frozen=True)
class ErrorSettings:
    """What an ErrorCatcher was told; None means "the collector's setting" (or the original default)."""

    log_to_console: bool | None = None
    log_to_file: bool | None = None
    error_log_file: str | None = None
    max_bytes: int | None = None
    backup_count: int | None = None
    sanitize_func: Sanitizer | None = None
    max_arg_length: int | None = None
    results_format: str | None = None

    def __post_init__(self) -> None:
        for label in ("max_bytes", "backup_count"):
            value = getattr(self, label)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{label} must be a non-negative int, not {value!r}")
        _check_format(self.results_format)
        _check_common(self.max_arg_length, self.sanitize_func)

    @property
    def route(self) -> tuple[bool | None, bool | None, str | None, int | None, int | None, str | None]:
        """(log_to_console, log_to_file, error_log_file, max_bytes, backup_count, results_format)."""
        return (self.log_to_console, self.log_to_file, self.error_log_file, self.max_bytes,
                self.backup_count, self.results_format)  # fmt: skip


def _check_format(results_format: str | None) -> None:
    if results_format is not None and results_format not in RESULTS_FORMATS:
        raise ValueError(f"results_format must be 'csv' or 'parquet', not {results_format!r}")


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


def _check_common(max_arg_length: int | None, sanitize_func: Sanitizer | None) -> None:
    if max_arg_length is not None and (not isinstance(max_arg_length, int) or max_arg_length < 0):
        raise ValueError(f"max_arg_length must be None or a non-negative int, not {max_arg_length!r}")
    if sanitize_func is not None and not callable(sanitize_func):
        raise TypeError(f"sanitize_func must be callable, not {type(sanitize_func).__name__}")


def main_module_name(module: str) -> str:
    """The module's name as the results table shows it: a spawned child's "__mp_main__" is "__main__"."""
    return "__main__" if module == "__mp_main__" else module


def _located(obj: Any) -> bool:
    """True when `obj` can be found again by its module and qualified name (pickle by reference)."""
    target: Any = sys.modules.get(getattr(obj, "__module__", None) or "")
    for part in getattr(obj, "__qualname__", "<locals>").split("."):
        target = getattr(target, part, None)
    return target is obj


class Monitored:
    """A function under a decorator: the function and the settings, and nothing else."""

    __wrapped__: Callable[..., Any]

    def __init__(self, func: Callable[..., Any], settings: Any) -> None:
        if not callable(func):
            raise TypeError(f"{type(self).__name__} decorates callables, not {type(func).__name__}")
        functools.update_wrapper(cast(Callable[..., Any], self), func)
        self.settings = settings
        self.inner: Monitored | None = func if isinstance(func, Monitored) else None
        self.name = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func)))
        self.module_name = main_module_name(getattr(func, "__module__", None) or "")
        self.route = settings.route

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return self if instance is None else types.MethodType(cast(Callable[..., Any], self), instance)

    def __reduce__(self) -> Any:
        if _located(self):
            return self.__dict__["__qualname__"]
        return (type(self), (self.__wrapped__, self.settings))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.module_name}.{self.name}>"

    def run(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call the function as one monitored call numbered `call_no` (shared by stacked decorators)."""
        raise NotImplementedError


class TimedFunction(Monitored):
    """A function under @Timer: each call makes one results row."""

    settings: TimerSettings

    def __init__(self, func: Callable[..., Any], settings: TimerSettings) -> None:
        super().__init__(func, settings)
        if settings.name:
            self.name = settings.name
        self.track = settings.track_resources

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.inner is not None:
            return self.run(next(sender.counter), args, kwargs)
        # The hot path: run(), begin() and record() in one frame, which saves a tenth of the cost.
        s = sender
        call_no = next(s.counter)
        stack = s.stack
        parent = stack.current
        stack.current = call_no
        if not s.limit:
            s.prepare()
        cpu0 = cpu = -1
        rss0: bytes | int = -1
        rss1: bytes | int = -1
        if self.track:
            cpu0 = _cpu_ns()
            rss0 = _rss_raw()
        start = _time_ns()
        t0 = _perf_counter_ns()
        try:
            result = self.__wrapped__(*args, **kwargs)
        except BaseException as exc:
            self.record(call_no, parent, (start, t0, cpu0, rss0), _perf_counter_ns(), type(exc).__name__,
                        args, kwargs)  # fmt: skip
            raise
        t1 = _perf_counter_ns()
        if cpu0 >= 0:
            rss1 = _rss_raw()
            cpu = _cpu_ns() - cpu0
        stack.current = parent
        rendered = None
        if args or kwargs:
            settings = self.settings
            rendered = render_args(args, kwargs, settings.max_arg_length, settings.sanitize_func)
        buffer = s.buffer
        buffer.append(
            (CALL, "timer", self.name, self.module_name, call_no, parent, start, t1 - t0, cpu, rss0, rss1,
             _current_thread().name, "", rendered, self.route)
        )  # fmt: skip
        if len(buffer) >= s.limit or (s.eager and not parent) or t1 >= s.deadline_ns:
            s.flush()
        return result

    def run(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        stack = sender.stack
        parent = stack.current
        stack.current = call_no
        begun = self.begin()
        try:
            if self.inner is None:
                result = self.__wrapped__(*args, **kwargs)
            else:
                result = self.inner.run(call_no, args, kwargs)
        except BaseException as exc:
            self.record(call_no, parent, begun, _perf_counter_ns(), type(exc).__name__, args, kwargs)
            raise
        self.record(call_no, parent, begun, _perf_counter_ns(), "", args, kwargs)
        return result

    def begin(self) -> tuple[int, int, int, bytes | int]:
        """The probes at a call's start: wall clock, perf counter, CPU time, raw RSS (-1 when not tracked)."""
        if not sender.limit:
            sender.prepare()
        cpu0: int = -1
        rss0: bytes | int = -1
        if self.track:
            cpu0 = _cpu_ns()
            rss0 = _rss_raw()
        return _time_ns(), _perf_counter_ns(), cpu0, rss0

    def record(
        self,
        call_no: int,
        parent: int,
        begun: tuple[int, int, int, bytes | int],
        t1: int,
        error_type: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Finish the probes of a call that ended at perf counter `t1` and buffer its record."""
        start, t0, cpu0, rss0 = begun
        cpu: int = -1
        rss1: bytes | int = -1
        if cpu0 >= 0:
            rss1 = _rss_raw()
            cpu = _cpu_ns() - cpu0
        s = sender
        s.stack.current = parent
        rendered = None
        if args or kwargs:
            settings = self.settings
            rendered = render_args(args, kwargs, settings.max_arg_length, settings.sanitize_func)
        buffer = s.buffer
        buffer.append(
            (CALL, "timer", self.name, self.module_name, call_no, parent, start, t1 - t0, cpu, rss0, rss1,
             _current_thread().name, error_type, rendered, self.route)
        )  # fmt: skip
        if len(buffer) >= s.limit or (s.eager and not parent) or t1 >= s.deadline_ns:
            s.flush()


class CaughtFunction(Monitored):
    """A function under @ErrorCatcher: an exception is logged with its traceback, then re-raised."""

    settings: ErrorSettings

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.inner is not None:
            return self.run(next(sender.counter), args, kwargs)
        if not sender.limit:
            sender.prepare()  # a collector started on demand runs before the body logs anything
        try:
            return self.__wrapped__(*args, **kwargs)
        except Exception as exc:
            self.report(exc, next(sender.counter), args, kwargs)
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
            rendered = (
                render_args(args, kwargs, settings.max_arg_length, sanitize) if args or kwargs else None
            )
            record = (ERROR, self.name, self.module_name, call_no, _time_ns(), _current_thread().name,
                      type(exc).__name__, message, trace, rendered, self.route)  # fmt: skip
            sender.buffer.append(record)
            sender.flush()
        except Exception as failure:  # monitoring must never replace the user's exception
            print(f"mpmon: could not record {type(exc).__name__}: {failure!r}", file=sys.stderr)


def _is_function(value: object) -> bool:
    return callable(value) and not isinstance(value, (bool, int, str, type(None)))


def _block() -> None:
    """Stands for the body of a `with` block or a start()/stop() span."""


def caller_names(depth: int) -> tuple[str, str]:
    """The qualified name and module of the function `depth` frames above the caller."""
    frame = sys._getframe(depth + 1)
    code = frame.f_code
    return getattr(code, "co_qualname", code.co_name), main_module_name(frame.f_globals.get("__name__", ""))


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
            from .lazy import timed_lazy

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
        timed = TimedFunction(_block, self.settings)
        timed.name, timed.module_name = caller_names(depth)
        if self.settings.name:
            timed.name = self.settings.name
        stack = sender.stack
        call_no, parent = next(sender.counter), stack.current
        stack.current = call_no
        stack.open_block(id(self), (timed, call_no, parent, timed.begin()))

    def _stop(self, error_type: str) -> None:
        t1 = _perf_counter_ns()
        block = sender.stack.close_block(id(self))
        if block is None:
            raise RuntimeError("Timer.stop() without a matching start() in this thread")
        timed, call_no, parent, begun = block
        timed.record(call_no, parent, begun, t1, error_type, (), {})


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
            caught.report(error, next(sender.counter), (), {})


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

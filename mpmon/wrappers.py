"""What `@Timer` and `@ErrorCatcher` return for a plain function: a real Python function, a closure.

A function rather than an object with `__call__`: CPython 3.11+ runs a call of a Python function inline in
its caller's C frame, and the wrapper's own call of the decorated function too (invoke.py), so a decorated
recursion takes no more C stack than the undecorated one. (An object's `__call__` took 760 to 1,160 bytes
of C stack a level, twice to three times a plain closure decorator's, and ran out at 6,000 to 9,500
levels with a raised recursion limit.) Methods bind as functions do.

The closure holds the function and its settings (free variables; `settings` is also an attribute), and
each call keeps what it measures in its locals, so recursion and threads are safe. It names no global
(dill rebuilds a `__main__` function sent by value with none of its module's globals) and holds no
per-process state: it reaches that through state.ThisProcess. So the wrapper pickles as the function it
replaces does: by reference under pickle (its `__module__` and `__qualname__` find it), by value under
cloudpickle and dill for a `__main__` function, with its settings and references to mpmon's classes and
functions.
Stacked decorators share one call number: the outer one calls the inner one's `run` (`__mpmon_run__`).
"""

from __future__ import annotations

import functools
import sys
import threading
import types
from collections.abc import Callable
from typing import Any, cast

from . import invoke, probe, wire
from .calls import Begun, arm, begin, finish, record_error, rendered_args, stop_clocks
from .monitored import Monitored, main_module_name
from .options import ErrorSettings, TimerSettings
from .render import render_args, render_exception
from .state import ThisProcess
from .tracebacks import may_catch

__all__ = ["caught", "report_error", "timed"]

Run = Callable[[int, tuple[Any, ...], dict[str, Any]], Any]
"""A decorated function's call as one monitored call numbered by the caller: (call_no, args, kwargs)."""
_HIDDEN = (__file__, invoke.FILENAME)
"""Files whose frames error.log leaves out of a traceback: mpmon's wrappers."""


def _inner_run(func: Callable[..., Any]) -> Run | None:
    """The `run` of a function that mpmon decorated itself (stacked decorators), None for any other (a
    function that another decorator wrapped with functools.wraps has a copy of the attribute, not the
    code of an mpmon wrapper)."""
    if isinstance(func, Monitored):
        return func.run
    if getattr(func, "__code__", None) in _WRAPPER_CODES:
        return getattr(func, "__mpmon_run__", None)
    return None


def _names(func: Callable[..., Any], name: str | None) -> tuple[str, str]:
    """The row's function name (the decorator's `name`, else the qualified name) and module."""
    found = name or getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    return str(found), main_module_name(getattr(func, "__module__", None) or "")


_GLOBALS: dict[str, Any] = {"__name__": __name__}
"""The globals of every wrapper: none (they name only free variables and builtins)."""


def _detached(made: Callable[..., Any]) -> types.FunctionType:
    """`made` with _GLOBALS for globals: a `__main__` function that dill sends by value carries a copy of
    its globals, which for a function made here would be this module's, and the modules it imported."""
    function = cast(types.FunctionType, made)
    return types.FunctionType(function.__code__, _GLOBALS, function.__name__, None, function.__closure__)


def _dressed(
    wrapper: Callable[..., Any], func: Callable[..., Any], settings: Any, run: Run
) -> Callable[..., Any]:
    """`wrapper` under `func`'s name, module, docstring and signature (`__wrapped__`), with its settings."""
    if not callable(func):
        raise TypeError(f"mpmon decorates callables, not {type(func).__name__}")
    dressed = functools.update_wrapper(_detached(wrapper), func)
    dressed.__dict__.update(settings=settings, __mpmon_run__=run)
    return dressed


def timed(func: Callable[..., Any], settings: TimerSettings) -> Callable[..., Any]:
    """`func` under @Timer: each call makes one results row."""
    name, module = _names(func, settings.name)
    route, track = settings.route, settings.track_resources
    max_arg_length, sanitize = settings.max_arg_length, settings.sanitize_func
    inner, inline, here, invoke_call = _inner_run(func), invoke.INLINE, ThisProcess, invoke.call
    limit, safe = sys.getrecursionlimit, invoke.SAFE_LIMIT
    perf_counter_ns, cpu_ns, current_thread = probe.perf_counter_ns, probe.cpu_ns, threading.current_thread
    begin_, begun_, arm_, finish_, stop_, render = begin, Begun, arm, finish, stop_clocks, rendered_args
    render_some = render_args  # for a call with arguments: rendered_args less its test
    CALL = wire.CALL  # a free variable, as every name the wrapper uses

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        # The hot path: calls.begin(), finish() and record_call() in one frame, which saves a tenth of
        # the cost; tests/unit/test_calls.py checks that it builds the same record as they do.
        s = here.sender
        call_no = next(s.counter)
        if inner is not None:
            return run(call_no, args, kwargs)
        stack = here.stack
        parent = stack.current
        stack.current = call_no
        if not s.ready:
            arm_()
        cpu0 = cpu = -1
        rss0: bytes | int = -1
        rss1: bytes | int = -1
        if track:
            rss0 = here.rss_raw()  # through ThisProcess: it reads a descriptor of this process
            t0 = perf_counter_ns()
            cpu0 = cpu_ns()
        else:
            t0 = perf_counter_ns()
        try:  # the call, in one of three ways (as in run(), and caught()'s)
            if inline and not kwargs and len(args) < 2:  # written out, it runs inline: no C stack
                result = func(args[0]) if args else func()
            elif limit() <= safe:  # the C stack cannot run out (invoke.SAFE_LIMIT)
                result = func(*args, **kwargs)
            else:
                result = invoke_call(func, args, kwargs)  # written out (invoke.py), or counted
        except BaseException as exc:
            begun = begun_(call_no, parent, True, t0 + s.wall_offset, t0, cpu0, rss0)
            finish_(begun, "timer", name, module, type(exc).__name__,
                    render(args, kwargs, max_arg_length, sanitize), route, stop_(begun))  # fmt: skip
            raise
        if cpu0 >= 0:
            cpu = cpu_ns() - cpu0
            t1 = perf_counter_ns()
            rss1 = here.rss_raw()
        else:
            t1 = perf_counter_ns()
        stack.current = parent
        rendered = None
        if args or kwargs:
            rendered = render_some(args, kwargs, max_arg_length, sanitize)
        s.add(
            (CALL, "timer", name, module, call_no, parent, t0 + s.wall_offset, t1 - t0, cpu,
             rss0, rss1, current_thread().name, "", rendered, route),
            parent,
        )  # fmt: skip
        return result

    def run(call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        begun = begin_(track, call_no)
        try:
            if inner is not None:
                result = inner(call_no, args, kwargs)
            elif inline and not kwargs and len(args) < 2:
                result = func(args[0]) if args else func()
            elif limit() <= safe:
                result = func(*args, **kwargs)
            else:
                result = invoke_call(func, args, kwargs)
        except BaseException as exc:
            ended = stop_(begun)
            finish_(begun, "timer", name, module, type(exc).__name__,
                    render(args, kwargs, max_arg_length, sanitize), route, ended)  # fmt: skip
            raise
        finish_(begun, "timer", name, module, "", render(args, kwargs, max_arg_length, sanitize), route)
        return result

    run = _detached(run)  # the one timed_call and an outer decorator call
    return _dressed(timed_call, func, settings, run)


def caught(func: Callable[..., Any], settings: ErrorSettings) -> Callable[..., Any]:
    """`func` under @ErrorCatcher: an exception is logged with its traceback, then re-raised."""
    name, module = _names(func, None)
    inner, inline, here, invoke_call, arm_, report = (
        _inner_run(func), invoke.INLINE, ThisProcess, invoke.call, arm, report_error)  # fmt: skip
    limit, safe = sys.getrecursionlimit, invoke.SAFE_LIMIT

    def caught_call(*args: Any, **kwargs: Any) -> Any:
        s = here.sender
        call_no = 0
        if not s.ready:
            arm_()  # a collector started on demand runs before the body logs anything
        try:
            if inner is not None:  # stacked: one call number for both (one Python frame less than run())
                call_no = next(s.counter)
                return inner(call_no, args, kwargs)
            if inline and not kwargs and len(args) < 2:  # as in timed()
                return func(args[0]) if args else func()
            if limit() <= safe:
                return func(*args, **kwargs)
            return invoke_call(func, args, kwargs)
        except Exception as exc:
            report(exc, call_no or next(s.counter), args, kwargs, name, module, settings)
            raise

    def run(call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            if inner is not None:
                return inner(call_no, args, kwargs)
            if inline and not kwargs and len(args) < 2:
                return func(args[0]) if args else func()
            if limit() <= safe:
                return func(*args, **kwargs)
            return invoke_call(func, args, kwargs)
        except Exception as exc:
            report(exc, call_no, args, kwargs, name, module, settings)
            raise

    run = _detached(run)
    return _dressed(caught_call, func, settings, run)


def report_error(
    exc: BaseException, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any], name: str, module: str,
    settings: ErrorSettings,
) -> None:  # fmt: skip
    """Hand the error record of an ErrorCatcher to the collector at once; never raises."""
    try:
        sanitize = settings.sanitize_func
        message, trace = render_exception(exc, sanitize, _HIDDEN, _catcher_above(exc, sys._getframe(1)))
        rendered = rendered_args(args, kwargs, settings.max_arg_length, sanitize)
        record_error(name, module, call_no, type(exc).__name__, message, trace, rendered, settings.route)
    except Exception as failure:  # monitoring must never replace the user's exception
        print(f"mpmon: could not record {type(exc).__name__}: {failure!r}", file=sys.stderr)


def _catcher_above(exc: BaseException, frame: types.FrameType | None, look: int = 6) -> bool:
    """True when one of the `look` callers of `frame` (an ErrorCatcher's wrapper) is an ErrorCatcher's
    wrapper too that `exc` will reach (a decorated recursion): it then formats only the frames added
    since (tracebacks.traceback_text's `hand_on`), which holds `exc` until it does. So never when a
    frame between may stop `exc` (a `try` or `with` around its call: tracebacks.may_catch), nor for the
    exceptions that C code stops by itself (hasattr, a for loop, next's default)."""
    above = frame
    for _ in range(look):
        above = above.f_back if above is not None else None
        if above is None:
            return False
        if above.f_code in _CATCHER_CODES:
            break
    else:
        return False
    if isinstance(exc, _STOPPED_IN_C):
        return False
    frame = frame.f_back if frame is not None else None
    while frame is not None and frame is not above:  # the frames between the two catchers
        if frame.f_code.co_filename not in _OWN_FILES and may_catch(frame):  # mpmon's wrappers re-raise
            return False
        frame = frame.f_back
    return True


_STOPPED_IN_C = (AttributeError, StopIteration, StopAsyncIteration)
_OWN_FILES = (__file__, invoke.__file__, invoke.FILENAME)
_WRAPPER_CODES = frozenset(
    code for factory in (timed, caught) for code in factory.__code__.co_consts
    if getattr(code, "co_name", None) in ("timed_call", "caught_call")
)  # fmt: skip
"""The code every wrapper made by timed() or caught() runs."""
_CATCHER_CODES = frozenset(
    code for code in caught.__code__.co_consts if getattr(code, "co_name", None) in ("caught_call", "run")
)
"""The code of ErrorCatcher's wrappers (a stacked one calls the inner one's `run`)."""

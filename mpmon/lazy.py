"""Timer for functions whose work happens after the call returns: coroutines and generators.

An `async def` function is timed until its coroutine finishes, a generator function from its first
step until it is exhausted or closed. CPU time is the whole process's CPU time over that span, so it
includes whatever else ran in the process meanwhile (other tasks of the event loop, the consumer of
the generator). Such calls record the enclosing monitored call as their parent but, since they
interleave with other work of their thread, do not become parents themselves.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Coroutine, Generator
from typing import Any

from .decorators import TimedFunction, TimerSettings, _perf_counter_ns
from .sender import sender

__all__ = ["timed_lazy"]


def _error_name(exc: BaseException) -> str:
    return "" if isinstance(exc, GeneratorExit) else type(exc).__name__


class TimedCoroutineFunction(TimedFunction):
    """An `async def` function under @Timer."""

    def __init__(self, func: Any, settings: TimerSettings) -> None:
        super().__init__(func, settings)
        if hasattr(inspect, "markcoroutinefunction"):
            inspect.markcoroutinefunction(self)
        else:  # Python < 3.12: what asyncio.iscoroutinefunction looks for
            import asyncio.coroutines

            self._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]

    def __call__(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        return self._timed(next(sender.counter), args, kwargs)

    async def _timed(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        parent, begun = sender.stack.current, self.begin()
        try:
            result = await self.__wrapped__(*args, **kwargs)
        except BaseException as exc:
            self.record(call_no, parent, begun, _perf_counter_ns(), _error_name(exc), args, kwargs)
            raise
        self.record(call_no, parent, begun, _perf_counter_ns(), "", args, kwargs)
        return result


class TimedGeneratorFunction(TimedFunction):
    """A generator function under @Timer."""

    def __call__(self, *args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        return self._timed(next(sender.counter), args, kwargs)

    def _timed(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Generator[Any, Any, Any]:
        parent, begun = sender.stack.current, self.begin()
        try:
            result = yield from self.__wrapped__(*args, **kwargs)
        except BaseException as exc:
            self.record(call_no, parent, begun, _perf_counter_ns(), _error_name(exc), args, kwargs)
            raise
        self.record(call_no, parent, begun, _perf_counter_ns(), "", args, kwargs)
        return result


class TimedAsyncGeneratorFunction(TimedFunction):
    """An async generator function under @Timer (values sent in with asend() are not passed on)."""

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        return self._timed(next(sender.counter), args, kwargs)

    async def _timed(
        self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncGenerator[Any, Any]:
        parent, begun = sender.stack.current, self.begin()
        try:
            async for item in self.__wrapped__(*args, **kwargs):
                yield item
        except BaseException as exc:
            self.record(call_no, parent, begun, _perf_counter_ns(), _error_name(exc), args, kwargs)
            raise
        self.record(call_no, parent, begun, _perf_counter_ns(), "", args, kwargs)


def timed_lazy(func: Any, settings: TimerSettings) -> TimedFunction:
    """The Timer wrapper that fits `func`'s kind."""
    if inspect.iscoroutinefunction(func):
        return TimedCoroutineFunction(func, settings)
    if inspect.isasyncgenfunction(func):
        return TimedAsyncGeneratorFunction(func, settings)
    return TimedGeneratorFunction(func, settings)

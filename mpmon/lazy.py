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

from . import compat
from .calls import Begun, begin, finish
from .monitored import TimedBase
from .state import sender

__all__ = ["timed_lazy"]


def _error_name(exc: BaseException) -> str:
    return "" if isinstance(exc, GeneratorExit) else type(exc).__name__


class _Lazy(TimedBase):
    """A Timer wrapper whose call is timed from its first step to its end."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed(next(sender.counter), args, kwargs)

    def run(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._timed(call_no, args, kwargs)

    def _timed(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _begin(self, call_no: int) -> Begun:
        return begin(self.track, call_no, push=False)

    def _finish(self, begun: Begun, error_type: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        rendered = self.rendered(args, kwargs)
        finish(begun, "timer", self.name, self.module_name, error_type, rendered, self.route)


class TimedCoroutineFunction(_Lazy):
    """An `async def` function under @Timer."""

    def __init__(self, func: Any, settings: Any) -> None:
        super().__init__(func, settings)
        compat.mark_coroutine_function(self)

    def _timed(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        return self._run(call_no, args, kwargs)

    async def _run(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        begun = self._begin(call_no)
        try:
            result = await self.__wrapped__(*args, **kwargs)
        except BaseException as exc:
            self._finish(begun, _error_name(exc), args, kwargs)
            raise
        self._finish(begun, "", args, kwargs)
        return result


class TimedGeneratorFunction(_Lazy):
    """A generator function under @Timer."""

    def _timed(self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Generator[Any, Any, Any]:
        begun = self._begin(call_no)
        try:
            result = yield from self.__wrapped__(*args, **kwargs)
        except BaseException as exc:
            self._finish(begun, _error_name(exc), args, kwargs)
            raise
        self._finish(begun, "", args, kwargs)
        return result


class TimedAsyncGeneratorFunction(_Lazy):
    """An async generator function under @Timer (values sent in with asend() are not passed on)."""

    async def _timed(
        self, call_no: int, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncGenerator[Any, Any]:
        begun = self._begin(call_no)
        try:
            async for item in self.__wrapped__(*args, **kwargs):
                yield item
        except BaseException as exc:
            self._finish(begun, _error_name(exc), args, kwargs)
            raise
        self._finish(begun, "", args, kwargs)


def timed_lazy(func: Any, settings: Any) -> TimedBase:
    """The Timer wrapper that fits `func`'s kind."""
    if inspect.iscoroutinefunction(func):
        return TimedCoroutineFunction(func, settings)
    if inspect.isasyncgenfunction(func):
        return TimedAsyncGeneratorFunction(func, settings)
    return TimedGeneratorFunction(func, settings)

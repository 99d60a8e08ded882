"""What every decorated function is: the function and its decorator's settings, and nothing else.

Shared by decorators.py (Timer's and ErrorCatcher's plain wrappers) and lazy.py (coroutines and
generators), so that neither imports the other's classes. A decorated function pickles by reference
like the function it replaces (and, under the `multiprocess` package, by value without dragging any of
mpmon's per-process state along).
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable
from typing import Any, cast

from .calls import rendered_args

__all__ = ["Monitored", "TimedBase", "caller_names", "main_module_name"]


def main_module_name(module: str) -> str:
    """The module's name as the results table shows it: a spawned child's "__mp_main__" is "__main__"."""
    return "__main__" if module == "__mp_main__" else module


def _located(obj: Any) -> bool:
    """True when `obj` can be found again by its module and qualified name (pickle by reference)."""
    target: Any = sys.modules.get(getattr(obj, "__module__", None) or "")
    for part in getattr(obj, "__qualname__", "<locals>").split("."):
        target = getattr(target, part, None)
    return target is obj


def caller_names(depth: int) -> tuple[str, str]:
    """The qualified name and module of the function `depth` frames above the caller."""
    frame = sys._getframe(depth + 1)
    code = frame.f_code
    return getattr(code, "co_qualname", code.co_name), main_module_name(frame.f_globals.get("__name__", ""))


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


class TimedBase(Monitored):
    """What every Timer wrapper knows: its row's name, whether it probes CPU and memory, its arguments."""

    def __init__(self, func: Callable[..., Any], settings: Any) -> None:
        super().__init__(func, settings)
        if settings.name:
            self.name = settings.name
        self.track = settings.track_resources

    def rendered(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The args field of a call of this function (None without arguments)."""
        settings = self.settings
        return rendered_args(args, kwargs, settings.max_arg_length, settings.sanitize_func)

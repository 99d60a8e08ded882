"""What a decorated coroutine or generator function is: the function and its settings, nothing else.

(A plain function decorated is a function: wrappers.py.) Used by lazy.py, and by wrappers.py and
mpmon.ray to recognise such objects, so that none imports the others' classes. It travels like the function
it replaces: by reference where that works, and by value where the pickler would send the plain function
by value (cloudpickle, as joblib/loky, Dask and Ray use it, sends a `__main__` function by value). By
value it carries the function and its settings, never any of mpmon's per-process state.
"""

from __future__ import annotations

import functools
import pickle
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


def _active_pickler(depth: int = 8) -> Any:
    """The Pickler that is pickling the caller's caller right now, found on the stack (None if none).

    A C pickler's `dump()` runs no Python frame of its own, so the nearest frame with a `self` that is a
    Pickler is the Python method that called it (cloudpickle's `dump`), or the pure-Python pickler (dill)."""
    frame: types.FrameType | None = sys._getframe(2)
    picklers = (pickle.Pickler, pickle._Pickler)
    while frame is not None and depth > 0:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, picklers):
            return candidate
        frame, depth = frame.f_back, depth - 1
    return None


def _cloudpickle_of(pickler: Any) -> Any:
    """The cloudpickle module (joblib's and Ray's vendored copies included) whose Pickler `pickler` is."""
    for cls in type(pickler).__mro__:
        module = cls.__module__ or ""
        if module.rpartition(".")[2] == "cloudpickle":
            return sys.modules.get(module)
    return None


def _by_value(module_name: str, pickler: Any) -> bool:
    """True when `pickler` would pickle a plain function of `module_name` by value: it is a cloudpickle
    Pickler and the module is `__main__` (a script, `python -c`, stdin, a notebook), dynamic (not in
    sys.modules) or registered with `cloudpickle.register_pickle_by_value`."""
    cloudpickle = _cloudpickle_of(pickler)
    if cloudpickle is None:
        return False
    if module_name == "__main__" or module_name not in sys.modules:
        return True
    registered = getattr(cloudpickle, "list_registry_pickle_by_value", None)
    return callable(registered) and module_name in registered()


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
        """By reference (its qualified name) where it can be found again and the pickler would send the
        plain function by reference too; else by value: the function (which the pickler then sends as it
        would the plain one) and the settings."""
        if _located(self) and not _by_value(self.__dict__["__module__"] or "", _active_pickler()):
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

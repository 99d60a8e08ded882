"""`mpmon.ray.remote`: `ray.remote` for functions and actor classes that mpmon decorates.

Ray makes a task only of a plain function and finds an actor's methods only among plain functions of
its class. `@mpmon.Timer` and `@mpmon.ErrorCatcher` return a function for a plain function (Ray takes it
as it is), but a callable object for a coroutine or generator function: `@ray.remote` over that raises
"must be applied to either a function or a class", and such an actor method is not callable remotely.
`remote` hands Ray a plain function (or a subclass with plain methods) that calls the decorated one:
same name, signature and arguments; the call is timed in the worker as usual.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, cast

import ray

from ..monitored import Monitored

__all__ = ["remote"]


def remote(*args: Any, **options: Any) -> Any:
    """As `ray.remote` (`@remote`, `@remote(num_cpus=...)`), for decorated functions and for classes
    whose methods are decorated too."""
    if len(args) == 1 and not options and callable(args[0]):
        return ray.remote(plain(args[0]))
    if args:
        raise TypeError("remote() takes a function or class, or only keyword options")
    return lambda target: ray.remote(**options)(plain(target))


def plain(target: Any) -> Any:
    """What Ray accepts for `target`: a plain function calling a decorated one, a subclass whose
    decorated methods are plain functions; anything else unchanged."""
    if isinstance(target, Monitored):
        return _function(target)
    if inspect.isclass(target):
        found = vars(target).items()
        methods = {name: _method(value) for name, value in found if isinstance(value, Monitored)}
        if methods:
            made = type(target.__name__, (target,), {**methods, "__module__": target.__module__})
            made.__qualname__ = target.__qualname__
            made.__doc__ = target.__doc__
            return made
    return target


def _function(decorated: Monitored) -> Callable[..., Any]:
    if _is_async(decorated):

        async def call_async(*args: Any, **kwargs: Any) -> Any:
            return await cast(Callable[..., Any], decorated)(*args, **kwargs)

        return _named(call_async, decorated)

    def call(*args: Any, **kwargs: Any) -> Any:
        return cast(Callable[..., Any], decorated)(*args, **kwargs)

    return _named(call, decorated)


def _method(decorated: Monitored) -> Callable[..., Any]:
    """A plain method calling the decorated one bound to the instance (as its descriptor would)."""
    if _is_async(decorated):

        async def method_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await decorated.__get__(self, type(self))(*args, **kwargs)

        return _named(method_async, decorated)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return decorated.__get__(self, type(self))(*args, **kwargs)

    return _named(method, decorated)


def _is_async(decorated: Monitored) -> bool:
    """True for a decorated `async def` function (on Python < 3.12 `inspect` cannot tell from the
    decorated object: the function it wraps says)."""
    return inspect.iscoroutinefunction(inspect.unwrap(decorated))  # type: ignore[arg-type]


def _named(made: Callable[..., Any], decorated: Any) -> Callable[..., Any]:
    """`made` under the decorated function's name, module, docstring and signature (`__wrapped__`)."""
    return functools.update_wrapper(made, decorated, updated=())

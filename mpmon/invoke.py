"""`call(func, args, kwargs)`: a wrapper's call of the function it decorates, taking no C stack.

CPython 3.11+ runs a call written out in Python code (`f(a, b, key=c)`) inline, in the caller's C frame,
but `f(*args, **kwargs)` enters the interpreter anew: about 370 to 460 bytes of C stack per level of a
decorated recursion, which a recursion limit raised by the program lets run the C stack out (a segfault,
no row, no error). So each shape of call (how many positional arguments, which keyword names) is written
out once, as a small function made the first time that shape is seen; up to two positional arguments
need none. A shape that cannot be written out (a keyword that is not an identifier, too many shapes)
and every call before Python 3.11 go through `counted()`, which counts the C stack its open calls take
(state.MAX_DEPTH) and raises RecursionError past it. The wrappers (wrappers.py) write out a call of one
or no argument themselves, and call here only while the recursion limit is above SAFE_LIMIT: below it
`func(*args, **kwargs)` cannot run the C stack out and takes one Python frame less.
"""

from __future__ import annotations

import keyword
import sys
from collections.abc import Callable
from typing import Any

from . import state

__all__ = ["FILENAME", "SAFE_LIMIT", "call", "counted"]

Caller = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]
INLINE: bool = sys.version_info >= (3, 11)
"""Whether a call written out in Python code runs inline in its caller's C frame."""
MAX_SHAPES = 512
"""Call shapes written out at most, per process (a program passing ever new keyword names falls back)."""
SAFE_LIMIT = 2 * state.MAX_DEPTH
"""Recursion limits up to this cannot run the C stack out through decorated calls (each level is at least
two Python frames, the wrapper and the function, and takes at most state.C_STACK_PER_CALL), so wrappers
call `func(*args, **kwargs)` as it is: as few Python frames a level as before, the usual call pays nothing.
Above it (a limit the program raised) they call through `call()`."""
FILENAME = "<mpmon call>"
"""The file name of the written-out calls, in tracebacks (error.log leaves their frames out)."""
_callers: dict[Any, Caller] = {}


def counted(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`func(*args, **kwargs)`, counting the C stack it takes in this thread: past state.MAX_DEPTH such
    open calls, RecursionError instead of a segfault."""
    stack = state.stack
    depth = stack.depth
    if depth >= state.MAX_DEPTH:
        raise RecursionError(f"{getattr(func, '__qualname__', func)!s}: monitored calls nested as deep "
                             "as this thread's C stack allows")  # fmt: skip
    stack.depth = depth + 1
    try:
        return func(*args, **kwargs)
    finally:
        stack.depth = depth


def _written_out(shape: Any) -> Caller:
    """The function that makes a call of `shape` (a count of positional arguments, or that count and the
    keyword names) written out, so that it runs inline; `counted` when it cannot be."""
    count, names = (shape, ()) if isinstance(shape, int) else (shape[0], shape[1:])
    if not INLINE or len(_callers) >= MAX_SHAPES:
        return counted
    if not all(isinstance(n, str) and n.isidentifier() and not keyword.iskeyword(n) for n in names):
        return counted
    passed = [f"a[{i}]" for i in range(count)] + [f"{n}=k[{n!r}]" for n in names]
    namespace: dict[str, Any] = {}
    exec(compile(f"def call(f, a, k):\n    return f({', '.join(passed)})\n", FILENAME, "exec"), namespace)
    caller: Caller = namespace["call"]
    _callers[shape] = caller
    return caller


def call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`func(*args, **kwargs)`, run inline in the caller's C frame where Python allows (see above)."""
    if kwargs:
        shape: Any = (len(args), *kwargs)
    else:
        count = len(args)
        if count == 1 and INLINE:
            return func(args[0])
        if count == 0 and INLINE:
            return func()
        if count == 2 and INLINE:
            return func(args[0], args[1])
        shape = count
    caller = _callers.get(shape)
    if caller is None:
        caller = _written_out(shape)
    return caller(func, args, kwargs)

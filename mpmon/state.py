"""All of mpmon's per-process state, in one place: the process's sender and each thread's call stack.

Nothing else in mpmon keeps mutable state about the running process. Both objects are made once per
interpreter and reset in place in a forked child (`os.register_at_fork`), so a child starts with an empty
buffer, a fresh lock, no connection and no open calls. Decorated functions never hold a reference to
either (they reach them through this module, or ThisProcess), so they pickle by reference, and by value
under cloudpickle or dill, without dragging any of it along.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Final

from . import probe
from .sender import Sender

__all__ = ["C_STACK_PER_CALL", "MAX_DEPTH", "CallStack", "ThisProcess", "sender", "stack"]


class CallStack(threading.local):
    """Per thread: the innermost monitored call (the parent of the next one), how many open calls of a
    decorated function take C stack of their own (`depth`, bounded by MAX_DEPTH: invoke.counted) and open
    timed blocks."""

    current: int = 0
    depth: int = 0
    blocks: dict[int, list[Any]] | None = None

    def open_block(self, owner: int, block: Any) -> None:
        """Remember a start()/with block of the Timer object whose id is `owner`."""
        if self.blocks is None:
            self.blocks = {}
        self.blocks.setdefault(owner, []).append(block)

    def close_block(self, owner: int) -> Any:
        """The innermost open block of `owner` in this thread, forgotten; None if there is none."""
        blocks = (self.blocks or {}).get(owner)
        if not blocks:
            return None
        block = blocks.pop()
        if not blocks:
            del self.blocks[owner]  # type: ignore[union-attr]
        return block

    def reset(self) -> None:
        """In a forked child: the forking thread's calls are the parent's, not the child's."""
        self.current = 0
        self.depth = 0


def _max_depth() -> int:
    """How many calls that take C stack of their own (invoke.counted) may be open in one thread before
    RecursionError: the thread's C stack (RLIMIT_STACK for the main thread, threading.stack_size() for
    others; 8 MiB when unlimited) less a margin, over C_STACK_PER_CALL. A recursion limit raised by the
    program would otherwise let a deep recursion of decorated calls run the C stack out: a segfault, no
    row, no error."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    size = min(soft if soft > 0 else 8 << 20, threading.stack_size() or (8 << 20), 1 << 30)
    return max((size - C_STACK_MARGIN) // C_STACK_PER_CALL, 500)


C_STACK_PER_CALL: Final = 1200 if sys.version_info >= (3, 11) else 3000
"""C stack one counted level may take, with room to spare: on CPython 3.11 `func(*args, **kwargs)`
entering the interpreter anew took 370 to 470 bytes (a plain closure decorator's cost per level), and as
much again when the function's own recursive call is written `f(*args, **kwargs)` (measured: 940 bytes
a level). Before 3.11 every Python call takes C stack (not measured here: a guess, kept large)."""
C_STACK_MARGIN: Final = 512 << 10
"""C stack kept for what runs under the deepest call (the body, raising, printing the traceback)."""
MAX_DEPTH: Final = _max_depth()


stack: Final = CallStack()
"""Each thread's monitored calls."""
sender: Final = Sender()
"""The one sender of this process (reset in place in a forked child)."""
os.register_at_fork(after_in_child=stack.reset)


class ThisProcess:
    """What a decorated function reaches at each call (wrappers.py), as attributes of a class: the sender,
    the call stacks and the RSS reader (a descriptor of this process). A class rather than this module,
    because every pickler sends an importable class by reference, while dill sends a module that is not
    under site-packages (an editable install) by value, with all of its state."""

    sender: Final = sender
    stack: Final = stack
    rss_raw: Final = probe.rss_raw

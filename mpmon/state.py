"""All of mpmon's per-process state, in one place: the process's sender and each thread's call stack.

Nothing else in mpmon keeps mutable state about the running process. Both objects are made once per
interpreter and reset in place in a forked child (`os.register_at_fork`), so a child starts with an empty
buffer, a fresh lock, no connection and no open calls. Decorated functions never hold a reference to
either (they reach them through this module), so they pickle by reference, and under the `multiprocess`
package by value, without dragging any of it along.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Final

from .sender import Sender

__all__ = ["C_STACK_UNIT", "MAX_DEPTH", "CallStack", "sender", "stack"]


class CallStack(threading.local):
    """Per thread: the innermost monitored call (the parent of the next one), the C stack the open plain
    @Timer calls take (`depth`, in C_STACK_UNIT, bounded by MAX_DEPTH) and open timed blocks."""

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
    """How much C stack (in C_STACK_UNIT) nested plain @Timer calls may take in one thread before
    RecursionError: the thread's C stack (RLIMIT_STACK for the main thread, threading.stack_size() for
    others; 8 MiB when unlimited) less a margin. A recursion limit raised by the program would
    otherwise let a deep recursion of decorated calls run the C stack out: a segfault, no row, no error."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    size = min(soft if soft > 0 else 8 << 20, threading.stack_size() or (8 << 20), 1 << 30)
    return max((size - C_STACK_MARGIN) // C_STACK_UNIT, 1000)


C_STACK_UNIT: Final = 400
"""The unit of `CallStack.depth`: a plain @Timer call of one positional argument takes 2 (about 760 bytes
of C stack measured on CPython 3.11: the user's function runs in the wrapper's C frame), any other takes
3 (about 1,160 bytes; a bound method too, in tests). A plain closure decorator takes about 380."""
C_STACK_MARGIN: Final = 512 << 10
"""C stack kept for what runs under the deepest call (the body, raising, printing the traceback)."""
MAX_DEPTH: Final = _max_depth()


stack: Final = CallStack()
"""Each thread's monitored calls."""
sender: Final = Sender()
"""The one sender of this process (reset in place in a forked child)."""
os.register_at_fork(after_in_child=stack.reset)

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

__all__ = ["CallStack", "sender", "stack"]


class CallStack(threading.local):
    """Per thread: the innermost monitored call (the parent of the next one) and open timed blocks."""

    current: int = 0
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


stack: Final = CallStack()
"""Each thread's monitored calls."""
sender: Final = Sender()
"""The one sender of this process (reset in place in a forked child)."""
os.register_at_fork(after_in_child=stack.reset)

"""capture_logging: ordinary `logging` records of every process of the run, forwarded to timing.log.

The logging cookbook's queue recipe, done for the user: a handler on the root logger hands each
record, formatted to text in its own process, to the sender like any other record. The text is
sanitized there: with the run's `sanitize_func`, or else with `mpmon.sanitizers.default`, since log
lines are where secrets leak most.
"""

from __future__ import annotations

import logging
import threading

from .render import run_sanitizer, sanitized
from .sanitizers import default
from .state import sender, stack
from .wire import LOG

__all__ = ["ForwardingHandler", "install"]


class ForwardingHandler(logging.Handler):
    """Hands logging records to the collector (mpmon's own logger excepted)."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "mpmon" or record.name.startswith("mpmon."):
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            message = sanitized(message, run_sanitizer() or default)
            buffer = sender.buffer
            buffer.append(
                (LOG, int(record.created * 1e9), record.levelname, record.name, message,
                 record.threadName or threading.current_thread().name, record.module, record.funcName)
            )  # fmt: skip
            # A pool worker may be ended with no exit hook run: outside a monitored call (whose end
            # flushes), its log lines leave at once, like errors.
            eager = sender.eager and not stack.current
            if len(buffer) >= sender.limit or record.levelno >= logging.ERROR or eager:
                sender.flush()
        except Exception:
            self.handleError(record)


def install() -> None:
    """Add the forwarding handler to the root logger of this process, once."""
    root = logging.getLogger()
    if not any(isinstance(h, ForwardingHandler) for h in root.handlers):
        root.addHandler(ForwardingHandler())

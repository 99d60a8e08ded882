"""capture_logging: ordinary `logging` records of every process of the run, forwarded to timing.log.

The logging cookbook's queue recipe, done for the user, as the original module configured the root
logger for them: one handler on the root logger of each process hands each record at INFO and above,
formatted to text in its own process, to the sender like any other record. The text is bounded
(render.MAX_TEXT characters, its two ends kept) and sanitized there: with the run's `sanitize_func`,
or else with `mpmon.sanitizers.default`, since log lines are where secrets leak most.

How it meets the user's own logging configuration (the rule the README states):
- Root logger untouched (no handler, level WARNING): as the original did, the level becomes INFO, and
  the handler also prints each line on stderr when the run's `log_to_console` is on, so the line is
  seen once on the console and written once to timing.log. Libraries' loggers (installed packages and
  the standard library) keep the level the user gave them: one nobody set stays at WARNING, so their
  INFO chatter is neither printed nor written.
- The user configured logging (any other handler on the record's way to the root): their handlers
  print the line; mpmon's only forwards it, never echoes it, and leaves the levels alone.
- Exactly one forwarding handler per process, whatever is imported or started twice.
- In any other process of the run (spawned, forkserver or `subprocess` children) the handler is
  added at the first logging record the process makes, after its main module ran, so that a
  `logging.basicConfig()` at the top of the user's module configures the child as it does the parent.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import sysconfig
import threading
from types import FrameType
from typing import Any, Final

from . import environment
from .render import bounded_text, run_sanitizer, sanitized
from .sanitizers import default
from .state import sender, stack
from .wire import LOG

__all__ = ["CONSOLE_FORMAT", "ForwardingHandler", "install", "install_from_environment", "uninstall"]

CONSOLE_FORMAT: Final = "%(asctime)s - %(levelname)s - %(processName)s - %(message)s"
"""The console line of a captured record when the user has no handler of their own (the original's
format, with the process's name)."""

_FORWARDING_LEVEL: Final = logging.INFO


class ForwardingHandler(logging.Handler):
    """Hands logging records to the collector (mpmon's own logger excepted); echoes them on stderr
    when `echo` is set and no other handler shows the record."""

    def __init__(self, echo: bool) -> None:
        super().__init__(_FORWARDING_LEVEL)
        self.echo = echo
        self.console = logging.Formatter(CONSOLE_FORMAT)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "mpmon" or record.name.startswith("mpmon."):
            return
        if _raised_level and record.levelno < logging.WARNING and _quiet_library(record.name):
            return  # only the root's level was raised: a library's logger stays at WARNING
        try:
            if self.echo and not _shown_elsewhere(record):
                sys.stderr.write(self.console.format(record) + "\n")
            self._forward(record)
        except Exception:
            self.handleError(record)

    def _forward(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        message = sanitized(bounded_text(message), run_sanitizer() or default)
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


_LIBRARY_DIRS: Final = tuple(
    os.path.join(os.path.realpath(path), "")
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (path := sysconfig.get_paths().get(key))
)


@functools.lru_cache(maxsize=512)
def _is_library(logger_name: str) -> bool:
    """True when the logger's top-level package is installed (site-packages) or the standard library's."""
    module = sys.modules.get(logger_name.partition(".")[0])
    path = getattr(module, "__file__", None)
    return bool(path) and os.path.realpath(str(path)).startswith(_LIBRARY_DIRS)


def _quiet_library(logger_name: str) -> bool:
    """True for a library's logger whose level nobody set (it and its parents below the root at
    NOTSET): with the root at WARNING again, it would make no INFO record."""
    if not _is_library(logger_name):
        return False
    found = logging.Logger.manager.loggerDict.get(logger_name)
    logger = found if isinstance(found, logging.Logger) else None
    while logger is not None and logger.parent is not None:
        if logger.level != logging.NOTSET:
            return False
        logger = logger.parent
    return True


def _shown_elsewhere(record: logging.LogRecord) -> bool:
    """True when a handler other than mpmon's lies on the record's way up to the root logger."""
    found = logging.Logger.manager.loggerDict.get(record.name)
    logger: logging.Logger | None = found if isinstance(found, logging.Logger) else logging.getLogger()
    while logger is not None:
        if any(not isinstance(h, ForwardingHandler) for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


_raised_level = False  # True once install() set the root logger's level (put back by uninstall())
_installing = threading.Lock()


def _after_fork_in_child() -> None:
    global _installing
    _installing = threading.Lock()  # a fork may copy it locked by another thread


os.register_at_fork(after_in_child=_after_fork_in_child)


def install(echo: bool = True) -> None:
    """Add the forwarding handler to the root logger of this process, once; see the module's rules."""
    global _raised_level
    root = logging.getLogger()
    with _installing:
        if any(isinstance(h, ForwardingHandler) for h in root.handlers):
            return
        if not root.handlers and root.level == logging.WARNING:
            root.setLevel(_FORWARDING_LEVEL)
            _raised_level = True
        root.addHandler(ForwardingHandler(echo))


def uninstall() -> None:
    """Remove the forwarding handler (at stop_collector), and the level install() set."""
    global _raised_level
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, ForwardingHandler)]:
        root.removeHandler(handler)
    if _raised_level and root.level == _FORWARDING_LEVEL:
        root.setLevel(logging.WARNING)
    _raised_level = False


_SHORTCUTS: Final = frozenset(
    f.__code__
    for f in (logging.debug, logging.info, logging.warning, logging.error, logging.critical, logging.log)
)
"""Module-level logging functions: each calls `basicConfig()` first when the root logger has no handler."""


def _implicit_handler(root: logging.Logger) -> logging.Handler | None:
    """The root's one handler if it is what `basicConfig()` makes by default and the record being made
    comes through a module-level logging function (`logging.info(...)`): that call made the handler,
    since the root had none when the process began. Left in place, it would print every INFO line of a
    spawned worker in Python's default format, whatever `log_to_console` says, since mpmon raised the
    level. A user's own `basicConfig()` with no arguments looks the same and is removed too; mpmon's
    handler then shows the lines (with `log_to_console`) in its format."""
    if len(root.handlers) != 1:
        return None
    handler = root.handlers[0]
    formatter = handler.formatter
    if not (
        type(handler) is logging.StreamHandler
        and handler.stream is sys.stderr
        and handler.level == logging.NOTSET
        and formatter is not None
        and formatter.format(logging.LogRecord("root", logging.INFO, "", 0, "x", None, None)) == "INFO:root:x"
    ):
        return None
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code in _SHORTCUTS:
            return handler
        frame = frame.f_back
    return None


def install_from_environment() -> None:
    """In a process of a run that captures logging (at `import mpmon`): the root logger's level as
    install() sets it now, and the handler itself at the first logging record this process makes.

    Waiting for that record lets the module being imported (a spawned child imports the user's main
    module) configure logging first: `logging.basicConfig()` does nothing once the root logger has
    a handler, so adding ours at import would silently undo the user's configuration in children.
    """
    global _raised_level
    if os.environ.get(environment.CAPTURE_LOGGING) != "1" or not os.environ.get(environment.ADDRESS):
        return  # no run, or a run over: its variables linger, but a log line must not start a collector
    root = logging.getLogger()
    if any(isinstance(h, ForwardingHandler) for h in root.handlers):
        return
    if not root.handlers and root.level == logging.WARNING:
        root.setLevel(_FORWARDING_LEVEL)  # else no INFO record would be made, and none would install
        _raised_level = True
    previous = logging.getLogRecordFactory()

    def first_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        if logging.getLogRecordFactory() is first_record:
            logging.setLogRecordFactory(previous)
        implicit = _implicit_handler(root)
        if implicit is not None:
            root.removeHandler(implicit)
        install(echo=os.environ.get(environment.LOG_TO_CONSOLE, "1") == "1")
        return previous(*args, **kwargs)

    logging.setLogRecordFactory(first_record)

"""What a decorator was told: `Timer`'s and `ErrorCatcher`'s settings, checked once when it is made.

Frozen dataclasses of plain values (and the sanitizer), so a decorated function pickles with its
settings and nothing else; None means "the collector's setting" (or the original module's default).
The collector reads a call's `route` from them to send each record to the right sinks.
"""

from __future__ import annotations

from dataclasses import dataclass

from .collector.settings import check_choice
from .render import Sanitizer
from .schema import RESULTS_FORMATS

__all__ = ["ErrorSettings", "TimerSettings"]


@dataclass(frozen=True)
class TimerSettings:
    """What a Timer was told; None means "the collector's setting" (or the original default)."""

    log_to_console: bool | None = None
    log_to_file: bool | None = None
    track_resources: bool = True
    max_arg_length: int | None = None
    sanitize_func: Sanitizer | None = None
    results_format: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        _check_switches(self.log_to_console, self.log_to_file)
        _check_format(self.results_format)
        _check_common(self.max_arg_length, self.sanitize_func)

    @property
    def route(self) -> tuple[bool | None, bool | None, str | None]:
        return (self.log_to_console, self.log_to_file, self.results_format)


@dataclass(frozen=True)
class ErrorSettings:
    """What an ErrorCatcher was told; None means "the collector's setting" (or the original default)."""

    log_to_console: bool | None = None
    log_to_file: bool | None = None
    error_log_file: str | None = None
    max_bytes: int | None = None
    backup_count: int | None = None
    sanitize_func: Sanitizer | None = None
    max_arg_length: int | None = None
    results_format: str | None = None

    def __post_init__(self) -> None:
        for label in ("max_bytes", "backup_count"):
            value = getattr(self, label)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{label} must be a non-negative int, not {value!r}")
        _check_switches(self.log_to_console, self.log_to_file)
        _check_format(self.results_format)
        _check_common(self.max_arg_length, self.sanitize_func)

    @property
    def route(self) -> tuple[bool | None, bool | None, str | None, int | None, int | None, str | None]:
        """(log_to_console, log_to_file, error_log_file, max_bytes, backup_count, results_format)."""
        return (self.log_to_console, self.log_to_file, self.error_log_file, self.max_bytes,
                self.backup_count, self.results_format)  # fmt: skip


def _check_format(results_format: str | None) -> None:
    if results_format is not None:  # None: the collector's
        check_choice("results_format", results_format, RESULTS_FORMATS)


def _check_switches(log_to_console: object, log_to_file: object) -> None:
    """A text where a switch is expected is a name put in the wrong place: say so, and how."""
    for label, value in (("log_to_console", log_to_console), ("log_to_file", log_to_file)):
        if isinstance(value, str):
            raise TypeError(
                f"{label} must be True, False or None, not the text {value!r}; "
                f"to name a timed block, write Timer(name={value!r})"
            )


def _check_common(max_arg_length: int | None, sanitize_func: Sanitizer | None) -> None:
    if max_arg_length is not None and (not isinstance(max_arg_length, int) or max_arg_length < 0):
        raise ValueError(f"max_arg_length must be None or a non-negative int, not {max_arg_length!r}")
    if sanitize_func is not None and not callable(sanitize_func):
        raise TypeError(f"sanitize_func must be callable, not {type(sanitize_func).__name__}")

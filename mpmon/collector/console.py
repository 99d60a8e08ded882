"""The console rule: a line per call while calls are rare, one status line per second once they are not.

A person reads about five lines a second. While the calls that want the console (`log_to_console`) come
slower than `LINES_PER_SECOND` (MPMON_CONSOLE_LINES_PER_SECOND), each gets its line, as the original
module printed. In a second with more,
the console switches to one status line per second (calls/s and p50 per function, errors so far,
processes), read from the collector's per-second figures (aggregates.py), and back to a line per call
after a few seconds with few calls. Each failed call is printed once: a caught error (ErrorCatcher) with its
traceback folded to its last frames, or the Timer's "raised" line when nothing caught it, never both;
at most `ERRORS_PER_SECOND` error reports a second, the rest counted on the status line. At stop, a run
that switched to status lines ends with a short summary table per function.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
import time
from collections import OrderedDict
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from .. import environment, rows
from ..units import count, format_duration, plural
from .aggregates import Aggregates, FunctionFigures
from .sinks import ConsoleSink

__all__ = ["LINES_PER_SECOND", "Console", "console_logger", "fold_traceback"]

LINES_PER_SECOND: Final = 5
ERRORS_PER_SECOND: Final = 10
"""At most this many error reports a second; the others are counted on the status line."""
CALM_SECONDS: Final = 5
"""Back to a line per call after this many seconds in a row with few calls (calls come in bursts)."""
FRAMES_SHOWN: Final = 3
STATUS_FUNCTIONS: Final = 4
SUMMARY_FUNCTIONS: Final = 12
_PRINTED_IDS: Final = 4096


def lines_per_second() -> int:
    """The switch's threshold: MPMON_CONSOLE_LINES_PER_SECOND, or LINES_PER_SECOND (0: never switch)."""
    try:
        return max(int(os.environ.get(environment.CONSOLE_LINES) or LINES_PER_SECOND), 0)
    except ValueError:
        return LINES_PER_SECOND


def fold_traceback(trace: str, frames: int = FRAMES_SHOWN) -> str:
    """A traceback with only its last `frames` frames (a frame is a "File ..." line and its source)."""
    lines = trace.rstrip("\n").split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    if len(starts) <= frames:
        return "\n".join(lines)
    cut = starts[-frames]
    folded = len(starts) - frames
    return "\n".join([*lines[: starts[0]], f"  ... {plural(folded, 'frame')} folded ...", *lines[cut:]])


class Console:
    """Decides, for the writer, what reaches the console (see the module's docstring)."""

    def __init__(self, sink: ConsoleSink, figures: Aggregates) -> None:
        self.limit = lines_per_second()
        self._sink = sink
        self._figures = figures
        self._second = int(time.time())
        self._lines = 0  # call lines wanted in this second
        self._calm = 0  # seconds in a row with few calls
        self._status_second = self._second  # the first status line comes a second after the switch
        self._error_lines = 0  # error reports printed in this second
        self.quiet = False  # in status-line mode
        self._ever_quiet = False
        self._wanted = False  # some call wanted the console in this run
        self._not_shown = 0  # errors not printed for the budget
        self._printed: OrderedDict[str, None] = OrderedDict()

    def enabled(self) -> bool:
        return self._sink.enabled(logging.ERROR)

    # -- per call ----------------------------------------------------------------------------------------

    def calls(self, table: pa.Table | list[dict[str, Any]]) -> None:
        """The rows of a routed call table (or a round's rows as dicts) whose decorators want the console."""
        self._roll()
        self._wanted = True
        self._lines += table.num_rows if isinstance(table, pa.Table) else len(table)
        if not self.quiet and self.limit and self._lines > self.limit:
            self.quiet = self._ever_quiet = True
            self._sink.write(logging.INFO, [f"more than {self.limit} calls a second: a status line a second "
                                            "from now on (see README, 'The console')"])  # fmt: skip
        if self.quiet:
            self._failed_rows(table)
            return
        for row in table.to_pylist() if isinstance(table, pa.Table) else table:
            if row["status"] == "error":
                if self._seen(row["call_id"]):
                    continue
                self._error_lines += 1
            level = logging.ERROR if row["status"] == "error" else logging.INFO
            self._sink.write(level, [rows.console_line(row)])

    def _failed_rows(self, table: pa.Table | list[dict[str, Any]]) -> None:
        """In status mode: each failed call's line, within the second's budget of error reports."""
        if isinstance(table, pa.Table):
            failed = pc.equal(table.column("status"), "error")
            table = table.filter(failed).to_pylist() if pc.any(failed).as_py() else []
        for row in (row for row in table if row["status"] == "error"):
            if not self._seen(row["call_id"]) and self._error_budget():
                self._sink.write(logging.ERROR, [rows.console_line(row)])

    def error(self, entry: dict[str, Any]) -> None:
        """A caught error (an error.log entry): its line and folded traceback, once per call."""
        self._roll()
        self._wanted = True
        if self._seen(entry["uuid"]) or not self._error_budget():
            return
        line = f"{entry['process_name']}[{entry['pid']}] {entry['message']}"
        trace = fold_traceback(str(entry.get("traceback") or ""))
        self._sink.write(logging.ERROR, [f"{line}\n{trace}".rstrip("\n")])

    def _seen(self, call_id: str) -> bool:
        """True if this call's error was printed already; else remember it."""
        if call_id in self._printed:
            return True
        self._printed[call_id] = None
        if len(self._printed) > _PRINTED_IDS:
            self._printed.popitem(last=False)
        return False

    def _error_budget(self) -> bool:
        if self._error_lines >= ERRORS_PER_SECOND:
            self._not_shown += 1
            return False
        self._error_lines += 1
        return True

    # -- per second and at stop ----------------------------------------------------------------------------

    def _roll(self) -> bool:
        """Start a new second if the clock moved on; True if it did."""
        now = int(time.time())
        if now == self._second:
            return False
        calm = self._lines <= self.limit
        self._calm = self._calm + max(now - self._second, 1) if calm else 0
        if self.quiet and self._calm >= CALM_SECONDS:
            self.quiet = False  # calls slowed down for a while: a line per call again
        self._second, self._lines, self._error_lines = now, 0, 0
        return True

    def tick(self) -> None:
        """Between rounds: in status mode, the status line once a second."""
        self._roll()
        if self.quiet and self._status_second != self._second and self.enabled():
            self._status_second = self._second
            self._sink.write(logging.INFO, [self.status_line()])

    def status_line(self) -> str:
        figures = self._figures
        first, last = figures.window()
        recent = sorted(figures.figures(first, last), key=lambda f: -f.calls)
        seconds = last - first + 1
        total = sum(f.calls for f in recent) / seconds
        parts = [f"{count(round(total))} calls/s"]
        for f in recent[:STATUS_FUNCTIONS]:
            if f.calls:
                p50 = format_duration(f.p50_s) if f.p50_s is not None else "-"
                parts.append(f"{f.name} {count(round(f.calls / seconds))}/s p50 {p50}")
        if len([f for f in recent if f.calls]) > STATUS_FUNCTIONS:
            parts.append(f"+{len(recent) - STATUS_FUNCTIONS} more")
        errors = f"{plural(figures.errors, 'error')} so far"
        if self._not_shown:
            errors += f" ({count(self._not_shown)} not printed: see error.log)"
        parts += [errors, plural(len(figures.processes), "process")]
        return " | ".join(parts)

    def summary(self, elapsed: float) -> None:
        """At stop: a short table per function, when the console showed status lines in this run."""
        if not (self._ever_quiet and self.enabled()):
            return
        figures = self._figures
        head = (
            f"run ended: {plural(figures.calls, 'call')} in {format_duration(elapsed)}, "
            f"{plural(figures.errors, 'error')}, {plural(len(figures.processes), 'process')}"
        )
        self._sink.write(logging.INFO, [head + "\n" + summary_table(figures.figures())])


def console_logger(logging_config: dict[str, Any] | None) -> logging.Logger:
    """The logger named "mpmon" of this process: the user's dictConfig, or a plain stderr handler."""
    logger = logging.getLogger("mpmon")
    if logging_config:
        logging.config.dictConfig(logging_config)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s mpmon %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def summary_table(functions: list[FunctionFigures]) -> str:
    """Per function: calls, errors, p50, p95, total time; the busiest functions first."""
    shown = sorted(functions, key=lambda f: -f.total_s)[:SUMMARY_FUNCTIONS]
    cells = [("function", "calls", "errors", "p50", "p95", "total")]
    for f in shown:
        p50, p95 = (format_duration(v) if v is not None else "-" for v in (f.p50_s, f.p95_s))
        cells.append((f.name[:40], count(f.calls), count(f.errors), p50, p95, format_duration(f.total_s)))
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  " + "  ".join(_cell(i, c, w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    if len(functions) > len(shown):
        lines.append(f"  ... and {plural(len(functions) - len(shown), 'more function')}")
    return "\n".join(lines)


def _cell(column: int, text: str, width: int) -> str:
    return text.ljust(width) if column == 0 else text.rjust(width)

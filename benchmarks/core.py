"""What every section shares: the result row, the run settings, medians, timed loops and file counts.

A section returns a list of ``Row``; the runner renders them as one table and one JSON file. Nothing here
imports mpmon, so the baselines run (and the runner reports "not available") before the core exists.
"""

from __future__ import annotations

import gc
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import repeat
from pathlib import Path
from time import perf_counter
from typing import Any

NOT_AVAILABLE = "not available"
MIB = 2**20


@dataclass(frozen=True)
class Settings:
    """How big one run is: ``quick`` shrinks every count so a smoke run ends in about a minute."""

    quick: bool = False

    @property
    def reps(self) -> int:
        """Repetitions per figure; every reported figure is the median over these."""
        return 3 if self.quick else 5

    def size(self, full: int, quick: int) -> int:
        """The full-run count or the quick-run count."""
        return quick if self.quick else full


@dataclass
class Row:
    """One line of the table: an mpmon figure next to its baseline, the ratio and the target."""

    section: str
    measure: str
    value: float | None
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)  # the value of each repetition, where kept
    baseline_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """value / baseline_value, or None when either is missing or the baseline is zero."""
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value

    def as_dict(self) -> dict[str, Any]:
        """The row for latest.json, with the ratio spelled out."""
        return {**asdict(self), "ratio": self.ratio}


def unavailable(section: str, measure: str, unit: str, reason: str, target: str = "") -> Row:
    """A row for a figure that could not be measured (e.g. the mpmon core is not importable yet)."""
    return Row(section, measure, None, unit, target=target, note=f"{NOT_AVAILABLE}: {reason}")


def median(samples: list[float]) -> float:
    """The median of the repetitions (the figure every row reports)."""
    return statistics.median(samples)


def at_most(value: float | None, limit: float) -> bool | None:
    """A pass mark for 'value <= limit' (None when nothing was measured)."""
    return None if value is None else value <= limit


def at_least(value: float | None, limit: float) -> bool | None:
    """A pass mark for 'value >= limit' (None when nothing was measured)."""
    return None if value is None else value >= limit


def all_of(*marks: bool | None) -> bool | None:
    """Passes only when every mark passes; None when any mark could not be decided."""
    if any(mark is None for mark in marks):
        return None
    return all(marks)


def time_calls(func: Callable[[], object], n: int) -> float:
    """Seconds for n plain calls of func in a tight loop (the loop itself is in the bare figure too)."""
    start = perf_counter()
    for _ in repeat(None, n):
        func()
    return perf_counter() - start


def time_raising_calls(func: Callable[[], object], n: int) -> float:
    """Seconds for n calls of a func that raises ValueError, each caught by the loop.

    A plain try/except, not contextlib.suppress: suppress costs a context manager per call, which would
    swell the bare loop the raising cases are measured against.
    """
    start = perf_counter()
    for _ in repeat(None, n):
        try:  # noqa: SIM105
            func()
        except ValueError:
            pass
    return perf_counter() - start


def per_call_us(case_s: float, bare_s: float, n: int) -> float:
    """Overhead per call in microseconds: the case loop minus the bare loop of the same run."""
    return (case_s - bare_s) / n * 1e6


@contextmanager
def gc_collected() -> Iterator[None]:
    """Start a measurement from a collected heap, so garbage of the previous case is not billed to it."""
    gc.collect()
    yield


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory for one measurement's files, removed afterwards (logs can be gigabytes)."""
    with tempfile.TemporaryDirectory(prefix=f"mpmon-bench-{prefix}-") as path:
        yield Path(path)


def count_lines(paths: list[Path], pattern: bytes | None = None) -> int:
    """Lines in the files (or lines matching the regex ``pattern``), read in blocks so gigabytes are cheap."""
    total = 0
    regex = re.compile(pattern) if pattern else None
    for path in paths:
        with path.open("rb") as stream:
            if regex is None:
                total += sum(block.count(b"\n") for block in iter(lambda s=stream: s.read(MIB), b""))
            else:
                total += sum(1 for line in stream if regex.search(line))
    return total


def rotated(directory: Path, name: str) -> list[Path]:
    """A rotating log and its backups (name, name.1, name.2, ...)."""
    return sorted(
        p for p in directory.glob(f"{name}*") if p.name == name or p.name[len(name) + 1 :].isdigit()
    )


def rss_mib(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default) in MiB."""
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss / MIB


MPMON_API = (
    "start_collector",
    "stop_collector",
    "flush",
    "Timer",
    "ErrorCatcher",
    "get_metrics_start",
    "get_metrics_end",
)


def mpmon_missing() -> str | None:
    """Why the mpmon rows cannot run yet (None when the core's public API is importable)."""
    try:
        import mpmon
    except Exception as exc:  # the core may be half-written while the suite is run
        return f"import mpmon failed: {exc!r}"
    absent = [name for name in MPMON_API if not hasattr(mpmon, name)]
    return f"mpmon has no {', '.join(absent)} yet" if absent else None


def wait_until_idle(pid: int, quiet_s: float = 0.1, timeout_s: float = 30.0) -> bool:
    """Block until process pid used under 10% of a core for quiet_s (start-up and backlog done).

    Used after a writer's warm-up calls, so a timed window starts with the writer ready rather than
    billing its one-time start-up (imports, opening sinks) to the calls being measured.
    """
    import psutil

    process = psutil.Process(pid)
    deadline = perf_counter() + timeout_s
    busy = sum(process.cpu_times()[:2])
    while perf_counter() < deadline:
        time.sleep(quiet_s)
        now = sum(process.cpu_times()[:2])
        if now - busy < quiet_s * 0.1:
            return True
        busy = now
    return False


class ForeignCpu:
    """CPU seconds used by processes outside this run while it ran: on 2 cores, any of it skews figures."""

    def __init__(self) -> None:
        self.start = self.read()

    @staticmethod
    def read() -> tuple[float, float]:
        """(CPU seconds the whole machine was busy, CPU seconds of this process and its reaped children)."""
        import psutil

        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + getattr(machine, "irq", 0.0)
        busy += getattr(machine, "softirq", 0.0)
        me = psutil.Process().cpu_times()
        return busy, me.user + me.system + me.children_user + me.children_system

    def seconds(self) -> float:
        """Foreign CPU seconds since this object was made (all of this run's children must be reaped)."""
        busy, own = self.read()
        return max((busy - self.start[0]) - (own - self.start[1]), 0.0)

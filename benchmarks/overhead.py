"""Section 1: per-call overhead in the main process and inside a pool worker, against the baselines.

Each repetition times n bare calls and then n calls of the case in the same process, one after the other;
the figure is (case - bare) / n. Three points in time are kept per case:
- caller: the loop alone (what the calling code waits for);
- handoff: the loop plus handing the records on, ``mpmon.flush()`` for mpmon (records in the socket), the
  queue's feeder thread drained for the stdlib recipe in a worker; mpmon's rows report this one;
- on disk: handoff plus stopping the writer, ``mpmon.stop_collector()`` or the recipe's listener join.
Every repetition runs in a fresh log directory, with its writer started outside the timed window, and
checks afterwards that every call's line was written. In a worker the same loop runs as one
``Pool(2).apply`` task, the worker timing itself.
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, NamedTuple

from benchmarks import baselines, logfiles, workloads
from benchmarks.core import (
    Row,
    Settings,
    all_of,
    at_most,
    count_lines,
    gc_collected,
    median,
    mpmon_missing,
    per_call_us,
    rotated,
    scratch_dir,
    time_calls,
    time_raising_calls,
    unavailable,
    wait_until_idle,
)

PANDAS_CSV = "pandas_results.csv"
WRITER_WARMUP = 1_000
STDLIB_LOG = "stdlib.log"


@dataclass(frozen=True)
class Case:
    """One decorated function to time: where it lives, which writer it needs and how many calls."""

    name: str
    module: str
    writer: str  # "mpmon", "stdlib", "pandas" or "none"
    raising: bool = False
    calls: tuple[int, int] = (200_000, 20_000)  # (full run, quick run)
    written: str | None = None  # the file each call adds one line to: "results", "errors", "stdlib", "pandas"

    def function(self) -> Callable[[], object]:
        """The decorated function, imported by name (so a worker resolves it in its own process)."""
        func: Callable[[], object] = getattr(importlib.import_module(self.module), self.name)
        return func


MPMON_CASES = (
    Case("timer_empty", "benchmarks.decorated", "mpmon", written="results"),
    Case("timer_lean_empty", "benchmarks.decorated", "mpmon", written="results"),
    Case("catcher_empty", "benchmarks.decorated", "mpmon"),
    Case("catcher_raising", "benchmarks.decorated", "mpmon", True, (20_000, 2_000), "errors"),
    Case("hooked_empty", "benchmarks.decorated", "mpmon", written="results"),
)
BASELINE_CASES = (
    Case("stdlib_empty", "benchmarks.baselines", "stdlib", calls=(50_000, 5_000), written="stdlib"),
    Case("stdlib_catch_empty", "benchmarks.baselines", "stdlib"),
    Case("stdlib_catch_raising", "benchmarks.baselines", "stdlib", True, (10_000, 1_000), "stdlib"),
    Case("codetiming_empty", "benchmarks.baselines", "none"),
    Case("pandas_empty", "benchmarks.baselines", "pandas", calls=(1_000, 100), written="pandas"),
)
CASES = {case.name: case for case in (*MPMON_CASES, *BASELINE_CASES)}


class LoopTiming(NamedTuple):
    """What one process measured: bare loop, case loop and the hand-off after it, in seconds."""

    bare_s: float
    loop_s: float
    handoff_s: float


class Sample(NamedTuple):
    """One repetition of one case: the process's timing, the writer's stop time and the lines written."""

    timing: LoopTiming
    stop_s: float
    written: int | None
    expected: int | None


def warmup_calls(n: int) -> int:
    """Calls made before timing, to open connections and fill caches (they are written too)."""
    return min(1_000, max(n // 10, 10))


def hand_off(case: Case, in_worker: bool) -> float:
    """Hand this process's records on and return the seconds it took (part of the mpmon figure)."""
    start = perf_counter()
    if case.writer == "mpmon":
        import mpmon

        mpmon.flush()
    elif case.writer == "stdlib" and in_worker:
        baselines.drain_queue_handler()
    return perf_counter() - start


def measure_loop(name: str, n: int, scratch: str, in_worker: bool) -> LoopTiming:
    """Time n bare calls, then n calls of the case plus its hand-off, in this process (main or worker)."""
    case = CASES[name]
    func, bare = case.function(), (workloads.raising if case.raising else workloads.empty)
    loop = time_raising_calls if case.raising else time_calls
    baselines.set_pandas_csv_path(Path(scratch) / PANDAS_CSV)
    loop(func, warmup_calls(n))
    if case.writer == "mpmon":
        hand_off(case, in_worker)
    with gc_collected():
        bare_s = loop(bare, n)
    with gc_collected():
        loop_s = loop(func, n)
        handoff_s = hand_off(case, in_worker)
    return LoopTiming(bare_s, loop_s, handoff_s)


class Writer:
    """The process that writes a case's records: started before a repetition, stopped (timed) after it."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.recipe: baselines.StdlibRecipe | None = None
        self.warmed = 0

    def start(self, scratch: Path) -> tuple[Callable[..., None] | None, tuple[Any, ...]]:
        """Start and warm the writer; return the pool initializer (and its args) connecting a worker to it."""
        if self.case.writer == "mpmon":
            import mpmon

            pid = mpmon.start_collector(log_dir=str(scratch), log_to_console=False).pid
            self.warm_up(pid)
        elif self.case.writer == "stdlib":
            self.recipe = baselines.StdlibRecipe(scratch / STDLIB_LOG, backup_count=100).start()
            self.warm_up(self.recipe.listener.pid)
            return baselines.install_queue_handler, (self.recipe.queue,)
        return None, ()

    def warm_up(self, pid: int | None) -> None:
        """Send WRITER_WARMUP records from here and wait until the writer is idle again.

        mpmon's collector opens its sinks (and imports what they need) at its first batch; callers are
        held up meanwhile. That one-time start-up is not a per-call cost, so it stays out of the window.
        """
        loop = time_raising_calls if self.case.raising else time_calls
        loop(self.case.function(), WRITER_WARMUP)
        hand_off(self.case, in_worker=False)
        self.warmed = WRITER_WARMUP
        if pid is not None:
            wait_until_idle(pid)

    def stop(self) -> float:
        """Stop the writer once everything handed to it is written; return the seconds that took."""
        start = perf_counter()
        if self.case.writer == "mpmon":
            import mpmon

            mpmon.stop_collector()
        elif self.recipe is not None:
            self.recipe.stop()
        return perf_counter() - start

    def written(self, scratch: Path) -> int | None:
        """Lines the case's file holds after the writer stopped (None if the case writes nothing)."""
        kind = self.case.written
        if kind == "results":
            return logfiles.results_rows(scratch)
        if kind == "errors":
            return logfiles.error_log_entries(scratch)
        if kind == "stdlib":
            return count_lines(rotated(scratch, STDLIB_LOG))
        if kind == "pandas":
            return max(count_lines([scratch / PANDAS_CSV]) - 1, 0)
        return None


def in_pool_worker(
    case: Case, n: int, scratch: Path, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> LoopTiming:
    """measure_loop as one task of a fresh Pool(2). The pool is closed and joined, not terminated: its
    exit is outside the timed window, and SIGTERM-ing workers is section 3's business."""
    pool = multiprocessing.get_context().Pool(2, initializer, initargs)
    try:
        timing: LoopTiming = pool.apply(measure_loop, (case.name, n, str(scratch), True))
    finally:
        pool.close()
        pool.join()
    return timing


def run_repetition(case: Case, n: int, in_worker: bool) -> Sample:
    """One repetition in a fresh directory: start the writer, time the loop (here or in a worker), stop."""
    with scratch_dir(case.name) as scratch:
        writer = Writer(case)
        initializer, initargs = writer.start(scratch)
        try:
            if in_worker:
                timing = in_pool_worker(case, n, scratch, initializer, initargs)
            else:
                timing = measure_loop(case.name, n, str(scratch), False)
        finally:
            stop_s = writer.stop()
        written = writer.written(scratch)
    expected = writer.warmed + warmup_calls(n) + n if case.written else None
    return Sample(timing, stop_s, written, expected)


POINTS: dict[str, Callable[[Sample], float]] = {
    "caller": lambda s: s.timing.loop_s,  # the loop alone
    "handoff": lambda s: s.timing.loop_s + s.timing.handoff_s,  # plus mpmon.flush()
    "on_disk": lambda s: s.timing.loop_s + s.timing.handoff_s + s.stop_s,  # plus the writer's stop
}


@dataclass
class Figures:
    """Medians over the repetitions of one case, in microseconds per call, and the write check."""

    case: Case
    n: int
    samples: list[Sample]

    def per_rep(self, point: str) -> list[float]:
        """us per call at a point in time ("caller", "handoff" or "on_disk"), one value per repetition."""
        pick = POINTS[point]
        return [per_call_us(pick(s), s.timing.bare_s, self.n) for s in self.samples]

    def value(self, point: str) -> float:
        """The median over the repetitions at that point in time."""
        return median(self.per_rep(point))

    @property
    def bare(self) -> float:
        """The bare call itself, us per call."""
        return median([s.timing.bare_s / self.n * 1e6 for s in self.samples])

    @property
    def complete(self) -> bool:
        """Every repetition wrote one line per call."""
        return all(s.written == s.expected for s in self.samples)

    def check_note(self) -> str:
        """Lines written against calls made, per repetition (empty when the case writes nothing)."""
        if self.case.written is None:
            return ""
        counts = ", ".join(f"{s.written}/{s.expected}" for s in self.samples)
        return f"{self.case.name} lines written/expected: {counts}"


def measure_all(cases: tuple[Case, ...], settings: Settings, in_worker: bool) -> dict[str, Figures]:
    """Every case, repetitions interleaved (rep 1 of all cases, then rep 2, ...) so drift hits all alike."""
    sizes = {case.name: settings.size(*case.calls) for case in cases}
    samples: dict[str, list[Sample]] = {case.name: [] for case in cases}
    for _ in range(settings.reps):
        for case in cases:
            samples[case.name].append(run_repetition(case, sizes[case.name], in_worker))
    return {case.name: Figures(case, sizes[case.name], samples[case.name]) for case in cases}


TIMER = "@Timer track_resources=True"


@dataclass(frozen=True)
class Comparison:
    """One mpmon row: a case at a point in time ("case.point") against a baseline, and its limits."""

    measure: str
    figure: str  # "case.point", point a Figures property: caller, handoff or on_disk
    baseline: str
    baseline_figure: str
    max_us: float | None = None
    max_ratio: float | None = None

    @property
    def target(self) -> str:
        """The limits as text, e.g. "<= 5 us and <= 0.5x"."""
        limits = [f"<= {self.max_us:g} us"] if self.max_us is not None else []
        limits += [f"<= {self.max_ratio:g}x"] if self.max_ratio is not None else []
        return " and ".join(limits)

    def check(self, row: Row) -> bool | None:
        """Whether the row meets every limit (None without limits or without a value)."""
        marks = [at_most(row.value, self.max_us)] if self.max_us is not None else []
        marks += [at_most(row.ratio, self.max_ratio)] if self.max_ratio is not None else []
        return all_of(*marks) if marks else None


COMPARISONS = (
    Comparison(f"{TIMER}, until flush()", "timer_empty.handoff", "stdlib recipe, caller side",
               "stdlib_empty.caller", max_us=5.0, max_ratio=0.5),
    Comparison(f"{TIMER}, caller side", "timer_empty.caller", "stdlib recipe, caller side",
               "stdlib_empty.caller"),
    Comparison(f"{TIMER}, until on disk", "timer_empty.on_disk", "stdlib recipe, until written",
               "stdlib_empty.on_disk", max_ratio=0.5),
    Comparison(f"{TIMER}, until flush()", "timer_empty.handoff", "pandas to_csv per call",
               "pandas_empty.on_disk", max_ratio=0.01),
    Comparison(f"{TIMER}, until flush()", "timer_empty.handoff", "codetiming.Timer (in memory)",
               "codetiming_empty.caller"),
    Comparison("@Timer track_resources=False, until flush()", "timer_lean_empty.handoff",
               "codetiming.Timer (in memory)", "codetiming_empty.caller", max_us=1.5),
    Comparison("@Timer track_resources=False, caller side", "timer_lean_empty.caller",
               "codetiming.Timer (in memory)", "codetiming_empty.caller"),
    Comparison("@ErrorCatcher, call returns", "catcher_empty.handoff", "stdlib try/except catcher, returns",
               "stdlib_catch_empty.caller", max_us=0.5),
    Comparison("@ErrorCatcher, call raises, until flush()", "catcher_raising.handoff",
               "stdlib logger.exception, caller side", "stdlib_catch_raising.caller", max_us=50.0),
    Comparison("hook pair, until flush()", "hooked_empty.handoff", "stdlib recipe, caller side",
               "stdlib_empty.caller", max_us=6.0),
    Comparison("hook pair, caller side", "hooked_empty.caller", "stdlib recipe, caller side",
               "stdlib_empty.caller"),
)  # fmt: skip


def lookup(figures: dict[str, Figures], figure: str) -> tuple[Figures, list[float]] | None:
    """The case's Figures and its per-repetition values of "case.point" (None if the case did not run)."""
    case, point = figure.split(".")
    return (figures[case], figures[case].per_rep(point)) if case in figures else None


def compare(section: str, spec: Comparison, figures: dict[str, Figures]) -> Row:
    """The row of one comparison; the mpmon value stays None (not available) if its case did not run."""
    row = Row(section, spec.measure, None, "us/call", spec.baseline, target=spec.target)
    base = lookup(figures, spec.baseline_figure)
    if base is not None:
        row.baseline_value, row.baseline_samples = median(base[1]), base[1]
    found = lookup(figures, spec.figure)
    if found is None:
        return row
    mine, row.samples = found
    row.value = median(row.samples)
    row.note = mine.check_note() + ("" if mine.complete else " -- RECORDS MISSING")
    row.passed = all_of(spec.check(row), mine.complete) if spec.target else None
    return row


def baseline_rows(section: str, f: dict[str, Figures]) -> list[Row]:
    """The bare call and each baseline's own figure, so the baselines can be read on their own."""
    std, pandas, ct = f["stdlib_empty"], f["pandas_empty"], f["codetiming_empty"]
    return [
        Row(section, "bare call (loop + call, subtracted from all)", ct.bare, "us/call"),
        Row(
            section,
            "baseline: stdlib recipe, caller side",
            std.value("caller"),
            "us/call",
            note=std.check_note(),
        ),
        Row(section, "baseline: stdlib recipe, until written", std.value("on_disk"), "us/call"),
        Row(
            section,
            "baseline: pandas to_csv per call",
            pandas.value("on_disk"),
            "us/call",
            note=pandas.check_note(),
        ),
        Row(section, "baseline: codetiming.Timer", ct.value("caller"), "us/call"),
    ]


def run(settings: Settings) -> list[Row]:
    """Section 1 in the main process, then in a pool worker (mpmon rows only if the core is importable)."""
    missing = mpmon_missing()
    cases = BASELINE_CASES if missing else (*BASELINE_CASES, *MPMON_CASES)
    rows: list[Row] = []
    for in_worker, section in ((False, "1 overhead, main"), (True, "1 overhead, Pool worker")):
        figures = measure_all(cases, settings, in_worker)
        rows += baseline_rows(section, figures) + [compare(section, spec, figures) for spec in COMPARISONS]
        if missing:
            rows.append(unavailable(section, "mpmon rows", "us/call", missing))
    return rows

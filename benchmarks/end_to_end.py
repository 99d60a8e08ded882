"""Section 3: a whole ``Pool(2).map`` over busy-wait tasks, decorated with ``@Timer`` against undecorated.

The decorated run starts the collector before the clock (as a program would at start-up) and stops it
inside the timed window, so getting every record on disk counts; the rows are counted afterwards. Pool
creation and shutdown (``with Pool(2)``) are inside the window on both sides, with the same chunksize.
Repetitions alternate undecorated and decorated so drift in the machine hits both alike.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from time import perf_counter

from benchmarks import logfiles, workloads
from benchmarks.core import Row, Settings, at_most, median, mpmon_missing, scratch_dir, unavailable

SECTION = "3 end to end"
CHUNKSIZE = 100
TASKS = {"200 us": "task_200us", "20 us": "task_20us"}


def timed_map(task: Callable[[int], int], n: int, stop: Callable[[], None] | None = None) -> float:
    """Wall seconds of ``with Pool(2): map(task, range(n))``, plus ``stop()`` when given."""
    start = perf_counter()
    with multiprocessing.get_context().Pool(2) as pool:
        pool.map(task, range(n), chunksize=CHUNKSIZE)
    if stop is not None:
        stop()
    return perf_counter() - start


def decorated_run(name: str, n: int) -> tuple[float, int]:
    """Wall seconds of the decorated map (collector stopped inside the window) and the rows written."""
    import mpmon
    from benchmarks import decorated

    with scratch_dir(f"e2e-{name}") as scratch:
        mpmon.start_collector(log_dir=str(scratch), log_to_console=False)
        seconds = timed_map(getattr(decorated, name), n, mpmon.stop_collector)
        return seconds, logfiles.results_rows(scratch)


def compare(label: str, name: str, settings: Settings, mpmon_ok: bool) -> Row:
    """Alternate undecorated and decorated maps; the row holds both medians and their ratio."""
    n = settings.size(100_000, 10_000)
    measure = f"Pool(2).map, {n:,} tasks of {label}, @Timer"
    plain: list[float] = []
    timed: list[float] = []
    written: list[int] = []
    for _ in range(settings.reps):
        plain.append(timed_map(getattr(workloads, name), n))
        if mpmon_ok:
            seconds, rows = decorated_run(name, n)
            timed.append(seconds)
            written.append(rows)
    target = "<= 1.05x" if label == "200 us" else ""
    if not mpmon_ok:
        return Row(SECTION, measure, None, "s", "undecorated", median(plain), target)
    return e2e_row(measure, n, plain, timed, written, target)


def e2e_row(
    measure: str, n: int, plain: list[float], timed: list[float], written: list[int], target: str
) -> Row:
    """The row, with the per-task cost and the rows check in its note."""
    pairs = median([t / p for t, p in zip(timed, plain, strict=True)])
    per_task_us = (median(timed) - median(plain)) * 2 / n * 1e6  # two workers share the tasks
    complete = all(rows == n for rows in written)
    note = (
        f"chunksize {CHUNKSIZE}; median of pairwise ratios {pairs:.3f}x; about {per_task_us:.1f} us more per "
        f"task per worker; rows written/expected: {', '.join(f'{r}/{n}' for r in written)}"
        + ("" if complete else " -- RECORDS MISSING")
    )
    row = Row(SECTION, measure, median(timed), "s", "undecorated", median(plain), target, note=note)
    row.samples, row.baseline_samples = timed, plain
    if target:
        row.passed = complete and bool(at_most(row.ratio, 1.05))
    return row


def run(settings: Settings) -> list[Row]:
    """Section 3 for 200 us tasks (with a target) and 20 us tasks (to show the fixed cost per task)."""
    missing = mpmon_missing()
    rows = [compare(label, name, settings, missing is None) for label, name in TASKS.items()]
    return rows + ([unavailable(SECTION, "decorated runs", "s", missing)] if missing else [])

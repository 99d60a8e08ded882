"""Section 6: the ``duration_s`` mpmon records for an empty function, read back from timing_results.csv.

An empty function takes well under a microsecond, so what mpmon records for it is its own measurement
floor (the work it does between its two clock reads). The baseline is the same floor for a bare
``perf_counter()`` pair around the same empty call.
"""

from __future__ import annotations

from itertools import repeat
from time import perf_counter

from benchmarks import workloads
from benchmarks.core import Row, Settings, at_most, median, mpmon_missing, scratch_dir, unavailable

SECTION = "6 accuracy"
CALLS = 10_000


def bare_pair_us(n: int) -> float:
    """Median microseconds a perf_counter pair reads around one empty call."""
    durations = []
    for _ in repeat(None, n):
        start = perf_counter()
        workloads.empty()
        durations.append(perf_counter() - start)
    return median(durations) * 1e6


def recorded_us(n: int) -> tuple[float, int]:
    """Median recorded duration_s (us) of n calls of ``@Timer`` on an empty function, and the rows read."""
    import pandas as pd

    import mpmon
    from benchmarks import decorated
    from mpmon import schema

    with scratch_dir("accuracy") as scratch:
        mpmon.start_collector(log_dir=str(scratch), log_to_console=False)
        for _ in repeat(None, n):
            decorated.timer_empty()
        mpmon.stop_collector()
        frame = pd.read_csv(scratch / schema.RESULTS_CSV, usecols=["duration_s"])
    return float(frame["duration_s"].median()) * 1e6, len(frame)


def run(settings: Settings) -> list[Row]:
    """Median over the repetitions of the median recorded duration of an empty function."""
    measure, target = f"recorded duration_s of an empty function ({CALLS:,} calls)", "< 1 us"
    floors = [bare_pair_us(CALLS) for _ in range(settings.reps)]
    baseline = median(floors)
    missing = mpmon_missing()
    if missing:
        return [unavailable(SECTION, measure, "us", missing, target)]
    runs = [recorded_us(CALLS) for _ in range(settings.reps)]
    complete = all(rows == CALLS for _, rows in runs)
    note = f"@Timer() defaults; rows read/expected: {', '.join(f'{rows}/{CALLS}' for _, rows in runs)}"
    row = Row(
        SECTION,
        measure,
        median([us for us, _ in runs]),
        "us",
        "bare perf_counter pair",
        baseline,
        target,
        note=note + ("" if complete else " -- RECORDS MISSING"),
    )
    row.samples, row.baseline_samples = [us for us, _ in runs], floors
    row.passed = complete and bool(at_most(row.value, 1.0))
    return [row]

"""joblib with its default loky backend (2 workers): what monitoring costs a `Parallel` job.

    python -m benchmarks.joblib_tasks [--calls 10000] [--reps 5]

One run, one collector, one reusable loky executor (warmed up first). Repetitions alternate
`Parallel(n_jobs=2)` over undecorated 1 ms busy calls and over the same calls under `@mpmon.Timer`, each
timed from the call of `Parallel(...)` to its return (by then a decorated run's records have been handed
over, before each result). Prints the medians and their ratio, and checks that every call is a row.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import mpmon
from mpmon import schema

TASK_SECONDS = 0.001


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def plain(i: int) -> int:
    """A 1 ms call, undecorated."""
    _busy(TASK_SECONDS)
    return i


@mpmon.Timer(log_to_console=False)
def timed(i: int) -> int:
    """The same call under @Timer."""
    _busy(TASK_SECONDS)
    return i


def run_parallel(function: Any, calls: int) -> float:
    """Seconds of one `Parallel(n_jobs=2)` over `calls` calls of `function`."""
    from joblib import Parallel, delayed

    began = time.perf_counter()
    results = Parallel(n_jobs=2)(delayed(function)(i) for i in range(calls))
    seconds = time.perf_counter() - began
    assert len(results) == calls
    return seconds


def rows_in(log_dir: Path) -> int:
    """Rows of the CSV table (no row of these calls holds a newline)."""
    path = log_dir / schema.RESULTS_CSV
    return max(path.read_bytes().count(b"\n") - 1, 0) if path.exists() else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "logs"
        mpmon.start_collector(str(log_dir), log_to_console=False, capture_logging=False)
        run_parallel(plain, 200)  # the executor and its workers, started once for both
        run_parallel(timed, 200)
        seconds: dict[str, list[float]] = {"plain": [], "timed": []}
        for _ in range(args.reps):
            seconds["plain"].append(run_parallel(plain, args.calls))
            seconds["timed"].append(run_parallel(timed, args.calls))
        mpmon.stop_collector()
        rows = rows_in(log_dir)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    expected = args.calls * args.reps + 200
    print(f"joblib loky, 2 workers, {args.calls} calls of {TASK_SECONDS * 1e3:g} ms, {args.reps} repetitions")
    for name, values in seconds.items():
        spread = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {name:6} median {medians[name]:.3f} s  ({spread})")
    print(f"  ratio decorated / undecorated: {medians['timed'] / medians['plain']:.3f}x")
    print(f"  rows on disk at stop: {rows} of {expected} calls")


if __name__ == "__main__":
    main()

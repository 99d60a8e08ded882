"""mpmon with plain multiprocessing.Process workers, started with "spawn" (the default on macOS and
Windows): a spawned child is a fresh interpreter, and it still finds the collector.

    python examples/plain_process.py [LOG_DIR]

Makes 10 rows: 2 processes x 5 calls of `step`, in the Parquet dataset timing_results.parquet/ (a
folder of part files that pandas, pyarrow, polars and DuckDB read as one table).
"""

from __future__ import annotations

import multiprocessing
import sys

import mpmon


@mpmon.Timer
def step(worker: int, n: int) -> int:
    """A little CPU work."""
    return sum(i * i for i in range(10_000 * (n + 1))) + worker


def worker(number: int) -> None:
    """The body of one child process: five timed calls."""
    for n in range(5):
        step(number, n)
    # No flush needed: mpmon sends a child's records when its outermost timed call returns and at exit.


def main(log_dir: str) -> None:
    # Before the children start, so that they inherit it; rows go to Parquet instead of the CSV file.
    mpmon.start_collector(log_dir, log_to_console=False, results_format="parquet")
    spawn = multiprocessing.get_context("spawn")
    children = [spawn.Process(target=worker, args=(n,), name=f"worker-{n}") for n in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join()
    print(f"plain_process: exit codes {[c.exitcode for c in children]}; logs in {log_dir}")
    mpmon.stop_collector()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "logs")

"""mpmon with multiprocessing.Pool: every worker's calls end up in one set of log files.

    python examples/pool.py [LOG_DIR]          # LOG_DIR defaults to ./logs
    mpmon-analyze --logdir LOG_DIR             # then draw the run

Makes 24 rows: 12 calls of `handle`, each with one nested call of `parse` (its parent_id names the
`handle` call it ran in).
"""

from __future__ import annotations

import multiprocessing
import sys
import time

import mpmon


# Decorate the functions to time. Nothing else is needed in the workers: they find the collector that
# the parent started through environment variables, whatever the start method.
@mpmon.Timer
def parse(text: str) -> list[int]:
    """A nested call: split a line of numbers."""
    return [int(word) for word in text.split()]


@mpmon.Timer
def handle(line_number: int) -> int:
    """One task: make a line, parse it, add it up."""
    time.sleep(0.01)  # pretend to wait for a file or a network
    numbers = parse(" ".join(str(line_number * k) for k in range(100)))
    return sum(numbers)


def main(log_dir: str) -> None:
    # Start the collector first, before the pool: it is the one process that writes the log files.
    mpmon.start_collector(log_dir, log_to_console=False)  # True prints a line per call
    # `with Pool()` terminates its workers on exit; mpmon still gets every record they made.
    with multiprocessing.Pool(2) as pool:
        totals = pool.map(handle, range(12))
    print(f"pool: {len(totals)} lines handled, total {sum(totals)}; logs in {log_dir}")
    # Flush, let the collector write everything, and stop it (it would also stop at exit).
    mpmon.stop_collector()


if __name__ == "__main__":  # needed for pools under the spawn and forkserver start methods
    main(sys.argv[1] if len(sys.argv) > 1 else "logs")

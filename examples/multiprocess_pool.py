"""mpmon with the `multiprocess` package, which sends functions to its workers with dill.

    python examples/multiprocess_pool.py [LOG_DIR]

The decorated function is a closure (it uses `offset` from the enclosing function): the standard pickle
cannot send it to a worker, dill can, and the decorator comes along. Makes 8 rows named
"main.<locals>.shifted".
"""

from __future__ import annotations

import sys

import multiprocess

import mpmon


def main(log_dir: str) -> None:
    mpmon.start_collector(log_dir, log_to_console=False)
    offset = 100

    @mpmon.Timer
    def shifted(x: int) -> int:
        return x + offset  # a closure: only dill can pickle this

    with multiprocess.Pool(2) as pool:
        results = pool.map(shifted, range(8))
    print(f"multiprocess_pool: {results}; logs in {log_dir}")
    mpmon.stop_collector()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "logs")

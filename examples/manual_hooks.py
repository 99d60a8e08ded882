"""mpmon's manual hooks, for code that cannot take a decorator: here, a function with an early return.

    python examples/manual_hooks.py [LOG_DIR]

get_metrics_start() starts measuring, get_metrics_end() makes one row (source "hook") and returns its
figures. Makes 10 rows: 4 cached requests named "handler", 6 computed ones named "handler_compute".
"""

from __future__ import annotations

import multiprocessing
import sys
import time

import mpmon

CACHE = {0: "zero", 3: "three", 6: "six", 9: "nine"}


def handler(request: int) -> str:
    start = mpmon.get_metrics_start()  # the row's name defaults to this function's: "handler"
    if request in CACHE:
        mpmon.get_metrics_end(start)  # the early return ends its own measurement
        return CACHE[request]
    time.sleep(0.005)  # the slow path
    result = str(request * request)
    figures = mpmon.get_metrics_end(start, func_name="handler_compute")  # a name of its own
    if request == 1:
        print(f"manual_hooks: figures of one call: {sorted(figures)}")
    return result


def main(log_dir: str) -> None:
    mpmon.start_collector(log_dir, log_to_console=False)
    with multiprocessing.Pool(2) as pool:  # the hooks work in any process, like the decorators
        answers = pool.map(handler, range(10))
    print(f"manual_hooks: {answers}; logs in {log_dir}")
    mpmon.stop_collector()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "logs")

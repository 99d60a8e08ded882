"""mpmon with concurrent.futures.ProcessPoolExecutor, including calls that raise.

    python examples/process_pool_executor.py [LOG_DIR]

Makes 10 rows, 3 of them with status "error"; error.log gets those 3 exceptions with their tracebacks.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

import mpmon


# ErrorCatcher above Timer: the exception is written to error.log (with the uuid of the Timer's row)
# and then raised again, unchanged, so the caller sees it as usual.
@mpmon.ErrorCatcher
@mpmon.Timer
def invert(x: int) -> float:
    """1 / (x % 4): fails for every fourth number."""
    return 1 / (x % 4)


def main(log_dir: str) -> None:
    # mpmon.collector() is start_collector() and stop_collector() as a `with` block.
    with mpmon.collector(log_dir, log_to_console=False), ProcessPoolExecutor(max_workers=2) as pool:
        futures = {pool.submit(invert, x): x for x in range(10)}
        failed = [futures[f] for f in as_completed(futures) if f.exception() is not None]
    print(f"process_pool_executor: {len(futures)} calls, {len(failed)} raised; logs in {log_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "logs")

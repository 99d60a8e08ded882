"""A program of known rates to watch with `mpmon top`: `fast` 100 calls/s and `slow` 20 calls/s, each in a
process of its own, one failing call, and a declared total of items that the main process counts.

    python scripts/live_demo.py logs 60 &    # LOGDIR SECONDS
    mpmon top logs
"""

import multiprocessing as mp
import sys
import time

import mpmon


@mpmon.Timer(log_to_console=False)
def fast(i):
    return i


@mpmon.Timer(log_to_console=False)
def slow(i):
    time.sleep(0.01)
    return i


@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def boom():
    raise ValueError("boom-42 happened")


def paced(func, rate, seconds):
    """Call func(k) `rate` times a second for `seconds`, on a fixed schedule (a late call does not delay
    the next ones)."""
    start = time.monotonic()
    for k in range(int(rate * seconds)):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        func(k)


def worker(func, rate, seconds):
    if func is fast:
        try:
            boom()
        except ValueError:
            pass
    paced(func, rate, seconds)


if __name__ == "__main__":
    log_dir = sys.argv[1] if len(sys.argv) > 1 else "logs"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    mpmon.start_collector(log_dir, log_to_console=False)
    items = mpmon.progress(total=int(10 * seconds), label="items")
    procs = [mp.Process(target=worker, args=(f, r, seconds)) for f, r in ((fast, 100), (slow, 20))]
    for p in procs:
        p.start()
    paced(lambda k: items.update(), 10, seconds)
    items.close()
    for p in procs:
        p.join()
    mpmon.stop_collector()

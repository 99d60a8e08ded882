"""A small multiprocess job, monitored end to end: a pool of workers, nested calls, hooks and errors.

Run it as `python examples/demo.py [LOG_DIR]`; then `mpmon-analyze --logdir LOG_DIR` draws the run.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import random
import sys
import time

import mpmon


@mpmon.Timer(log_to_console=False)
def load(item: int) -> bytes:
    """Pretend to read an input: a short sleep, some bytes."""
    time.sleep(random.uniform(0.001, 0.004))
    return random.randbytes(20_000 + 50 * item)


@mpmon.Timer(log_to_console=False)
def digest(data: bytes, rounds: int) -> str:
    """CPU-bound work of varying length."""
    for _ in range(rounds):
        data = hashlib.sha256(data).digest() * 64
    return hashlib.sha256(data).hexdigest()


@mpmon.ErrorCatcher(log_to_console=False, sanitize_func=mpmon.sanitizer)
@mpmon.Timer(log_to_console=False)
def process(item: int) -> str:
    """One task: load, digest, sometimes fail (every 37th item, with a number to mask)."""
    data = load(item)
    if item % 37 == 36:
        raise ValueError(f"item {item} is corrupt (checksum 0x{item * 7919:x})")
    return digest(data, rounds=20 + item % 7 * 30)


def safe_process(item: int) -> str | None:
    try:
        return process(item)
    except ValueError:
        return None


def summarize(results: list[str | None]) -> int:
    start = mpmon.get_metrics_start()
    done = sum(r is not None for r in results)
    mpmon.get_metrics_end(start)
    return done


def main(log_dir: str) -> None:
    mpmon.start_collector(log_dir, log_to_console=False, tag="demo")
    with multiprocessing.Pool(2) as pool:
        results = pool.map(safe_process, range(400), chunksize=4)
    print(f"demo: {summarize(results)} of {len(results)} items processed; logs in {log_dir}")
    mpmon.stop_collector()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "logs")

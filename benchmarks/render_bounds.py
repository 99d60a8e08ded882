"""What rendering a call's arguments costs, by container size: ``python -m benchmarks.render_bounds``.

Rendering is bounded: a container is shown by its first items, so a 3-million-key dict costs what a
20-key one does. Prints the median time of `render_args` (what a monitored call pays for its
arguments) per argument kind, and the length of the text made. Run it against another checkout with
PYTHONPATH=<checkout> to compare.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from mpmon.render import render_args

CASES: dict[str, Any] = {
    "20-key dict": {n: n for n in range(20)},
    "3M-key dict": {n: n for n in range(3_000_000, 0, -1)},
    "3M-float set": {float(n) for n in range(3_000_000)},
    "1M-item list": list(range(1_000_000)),
}


def measure(value: Any, repetitions: int = 7) -> tuple[float, int]:
    """Median seconds of one render_args call with `value` as the only argument, and its text length."""
    times = []
    rendered: Any = None
    for _ in range(repetitions):
        start = time.perf_counter()
        rendered = render_args((value,), {}, None, None)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(str(rendered))


def main() -> None:
    for name, value in CASES.items():
        seconds, length = measure(value)
        print(f"{name:>14}: {seconds * 1e3:9.3f} ms per call, {length} characters")


if __name__ == "__main__":
    main()

"""The undecorated functions every benchmark times: an empty call, a raising call and busy-wait tasks.

They live at module level in an importable module so pool workers (fork, spawn or forkserver) can
unpickle them by reference; ``benchmarks.decorated`` and ``benchmarks.baselines`` wrap the same bodies.
"""

from __future__ import annotations

from time import perf_counter


def empty() -> None:
    """The function whose cost is the floor: the bare-call loop every overhead is measured against."""


def raising() -> None:
    """Raise at once: the bare twin of the ErrorCatcher raising case."""
    raise ValueError("benchmark error")


def busy_wait(seconds: float) -> None:
    """Spin on perf_counter for ``seconds``: a CPU-bound task whose length does not hang on the OS timer."""
    end = perf_counter() + seconds
    while perf_counter() < end:
        pass


def task_200us(i: int) -> int:
    """A pool task of about 200 us."""
    busy_wait(200e-6)
    return i


def task_20us(i: int) -> int:
    """A pool task of about 20 us."""
    busy_wait(20e-6)
    return i

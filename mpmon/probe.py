"""Cheap reads of the clocks, the process's CPU time and its resident memory; no other I/O.

On Linux the resident set size comes from `/proc/self/statm` read through a file descriptor kept open
(one `pread`, about 1 us, against about 9 us for `psutil.Process().memory_info()`), and the caller
ships the raw line: turning it into bytes is left to `rss_of()`, in the collector. Elsewhere psutil is
the portable fallback. In a forked child the descriptor is pointed at the child (`/proc/self` was
resolved when it was opened, so it would still name the parent).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable
from time import perf_counter_ns, process_time_ns, time_ns
from typing import Final

__all__ = [
    "call_cpu_ns",
    "cpu_ns",
    "cpu_probe_ns",
    "perf_counter_ns",
    "rss_of",
    "rss_raw",
    "time_ns",
    "wall_offset_ns",
]

PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

cpu_ns: Final[Callable[[], int]] = process_time_ns
"""User plus system CPU time of this process, in nanoseconds."""


def wall_offset_ns() -> int:
    """The wall clock minus the perf counter, now: a call's wall start is its perf counter start plus
    this offset, taken once per process, so that every call of a process lies on one clock and a
    nested call never ends after its parent (the wall clock and the perf counter, read separately,
    disagree by up to hundreds of microseconds)."""
    before = perf_counter_ns()
    wall = time_ns()
    return wall - (before + perf_counter_ns()) // 2


@functools.cache
def cpu_probe_ns() -> int:
    """The CPU time that one read of the CPU clock itself costs, measured once per process: the median gap
    between back-to-back reads (a system call: about 0.3-1 us on a VM).

    A call's CPU window holds about one such read that is not the call's work (the end of the first read
    and the start of the last), which would otherwise be most of a short call's CPU time.
    """
    reads = [process_time_ns() for _ in range(1001)]
    return sorted(b - a for a, b in itertools.pairwise(reads))[len(reads) // 2]


def call_cpu_ns(raw: int) -> int:
    """A call's CPU time from its raw CPU-clock difference, less the probe's own cost (-1: not tracked)."""
    return raw if raw < 0 else max(raw - cpu_probe_ns(), 0)


def rss_of(raw: bytes | int) -> int:
    """Resident set size in bytes from what `rss_raw()` returned."""
    return raw if type(raw) is int else int(raw.split(None, 2)[1]) * PAGE_SIZE  # type: ignore[union-attr]


def _statm_reader() -> Callable[[], bytes | int]:
    path = "/proc/self/statm"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def follow_child() -> None:
        fresh = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        os.dup2(fresh, fd, inheritable=False)
        os.close(fresh)

    rss_raw: Callable[[], bytes] = functools.partial(os.pread, fd, 64, 0)  # no Python frame per read
    rss_of(rss_raw())
    os.register_at_fork(after_in_child=follow_child)
    return rss_raw


def _psutil_reader() -> Callable[[], bytes | int]:
    import psutil

    process = [psutil.Process()]
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: process.__setitem__(0, psutil.Process()))
    return lambda: int(process[0].memory_info().rss)


def _make_reader() -> Callable[[], bytes | int]:
    try:
        return _statm_reader()
    except (OSError, ValueError, IndexError):
        return _psutil_reader()


rss_raw: Final = _make_reader()
"""This process's resident set size, raw: pass it to `rss_of()` for bytes."""

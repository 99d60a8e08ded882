"""What a short piece of code costs right after a task of X us: why a 200 us task's ``@Timer`` costs more.

    python -m benchmarks.after_work                 # tasks of 20, 50, 100, 200 and 500 us
    python -m benchmarks.after_work --task-us 20 200

For each task length, the loop runs the task (``workloads.busy_wait``, as the pool tasks of section 3)
and then one piece, timed alone by the perf counter: a plain Python function (a list of 50 ints and
its sum), one ``process_time_ns()``, one ``/proc/self/statm`` read (the two probes of
``track_resources``); then the task itself under ``@Timer`` against
undecorated (medians of each call's wall, the difference). Prints us. On this machine (a
KVM guest) every piece, mpmon's or not, costs 2-3x more after 100 us or more of work than after 20 us
(a step, not a slope): what the wrapper does per call is paid at cold-cache prices in the 200 us row.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from time import perf_counter_ns, process_time_ns

from benchmarks import workloads
from benchmarks.core import mpmon_missing

SECONDS_EACH = 0.4
"""Spin time per (task length, piece): enough calls for a stable median, short enough for a loaded box."""


def plain_python() -> int:
    """A few hundred bytecodes of ordinary Python: no mpmon, no system call."""
    numbers = [i for i in range(50)]
    return sum(numbers)


def piece_us(task_us: int, piece: Callable[[], object], after: Callable[[], None]) -> float:
    """Median wall us of one ``piece()`` run right after a task of ``task_us``; ``after`` runs every
    100 calls, untimed."""
    seconds = task_us * 1e-6
    times = []
    for count in range(max(int(SECONDS_EACH / seconds), 500)):
        workloads.busy_wait(seconds)
        start = perf_counter_ns()
        piece()
        times.append(perf_counter_ns() - start)
        if count % 100 == 99:
            after()
    return statistics.median(times) / 1e3


def task_us(task_us: int, task: Callable[[float], None], after: Callable[[], None]) -> float:
    """Median wall us of one call of ``task(task_us in seconds)``, calls back to back; ``after`` runs
    every 100 calls, untimed (a pool worker's hand-over is where the sender's buffer goes)."""
    seconds = task_us * 1e-6
    times = []
    for count in range(max(int(SECONDS_EACH / seconds), 500)):
        start = perf_counter_ns()
        task(seconds)
        times.append(perf_counter_ns() - start)
        if count % 100 == 99:
            after()
    return statistics.median(times) / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-us", type=int, nargs="+", default=[20, 50, 100, 200, 500])
    args = parser.parse_args()
    missing = mpmon_missing()
    if missing is not None:
        raise SystemExit(missing)
    import mpmon
    import mpmon.probe
    from mpmon.state import sender

    sender.prepare()  # armed with no collector (none is started): the records stay in the buffer
    sender.limit = 1 << 60
    nothing, clear = (lambda: None), sender.buffer.clear
    pieces: dict[str, tuple[Callable[[], object], Callable[[], None]]] = {
        "plain Python (50-int list, sum)": (plain_python, nothing),
        "process_time_ns()": (process_time_ns, nothing),
        "/proc/self/statm read": (mpmon.probe.rss_raw, nothing),
    }
    lengths = ", ".join(map(str, args.task_us))
    print(f"median wall us of one piece right after a task of N us (N = {lengths})")
    for label, (piece, after) in pieces.items():
        row = [piece_us(length, piece, after) for length in args.task_us]
        print(f"  {label:38}" + "".join(f"{figure:8.2f}" for figure in row), flush=True)
    timed = mpmon.Timer(log_to_console=False)(workloads.busy_wait)
    lean = mpmon.Timer(log_to_console=False, track_resources=False)(workloads.busy_wait)
    plain = [task_us(length, workloads.busy_wait, nothing) for length in args.task_us]
    print("extra wall us of the task under @Timer, over the undecorated task's (medians of calls)")
    for label, task in (("@Timer", timed), ("@Timer(track_resources=False)", lean)):
        row = [task_us(length, task, clear) - bare for length, bare in zip(args.task_us, plain, strict=True)]
        print(f"  {label:38}" + "".join(f"{figure:8.2f}" for figure in row), flush=True)


if __name__ == "__main__":
    main()

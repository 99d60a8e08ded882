"""Where the extra time of a decorated ``Pool(2).map`` goes (section 3's 20 us row, taken apart).

    python -m benchmarks.end_to_end_parts                  # 100,000 tasks of 20 us, 3 pairs
    python -m benchmarks.end_to_end_parts --tasks 20000 --reps 5

Each pair runs the undecorated map and the decorated one (the collector started before the clock, as
in section 3), and measures, besides the walls: the CPU the pool's workers used (getrusage of the
reaped children around the ``with Pool`` block), the collector's CPU while the map ran (its processes,
by psutil) and the time ``stop_collector()`` took. On 2 cores with 2 busy workers, a CPU-second spent
anywhere makes each worker about 1 s / 2 cores later, and each worker runs half the tasks, so extra CPU
per task (all processes) reads directly as extra wall per task per worker; what is left over is time
no one computed: waits (a full window of unconfirmed records, the stop's drain) and scheduling.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
from collections.abc import Callable
from time import perf_counter

import psutil

from benchmarks import workloads
from benchmarks.core import scratch_dir

CHUNKSIZE = 100


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and its descendants now."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def one_map(task: Callable[[int], int], n: int) -> tuple[float, float]:
    """(wall seconds, workers' CPU seconds) of ``with Pool(2): map``."""
    cpu = children_cpu()
    start = perf_counter()
    with multiprocessing.get_context().Pool(2) as pool:
        pool.map(task, range(n), chunksize=CHUNKSIZE)
    return perf_counter() - start, children_cpu() - cpu


def decorated(n: int) -> dict[str, float]:
    import mpmon
    from benchmarks import decorated as tasks

    with scratch_dir("e2e-parts") as scratch:
        collector = mpmon.start_collector(log_dir=str(scratch), log_to_console=False)
        pid = collector.pid
        before = process_cpu(pid)
        wall, workers = one_map(tasks.task_20us, n)
        collector_cpu = process_cpu(pid) - before
        start = perf_counter()
        mpmon.stop_collector()
        stop = perf_counter() - start
    return {"wall": wall + stop, "map": wall, "stop": stop, "workers": workers, "collector": collector_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    n = args.tasks
    plain: list[tuple[float, float]] = []
    timed: list[dict[str, float]] = []
    for _ in range(args.reps):
        plain.append(one_map(workloads.task_20us, n))
        timed.append(decorated(n))

    def us(seconds: float) -> float:  # per task (extra CPU per task = extra wall per task per worker)
        return seconds / n * 1e6

    plain_wall = statistics.median(w for w, _ in plain)
    plain_cpu = statistics.median(c for _, c in plain)
    part = {key: statistics.median(t[key] for t in timed) for key in timed[0]}
    extra = (part["wall"] - plain_wall) * 2
    workers = part["workers"] - plain_cpu
    print(f"Pool(2).map of {n:,} tasks of 20 us, chunksize {CHUNKSIZE}, median of {args.reps} pairs")
    ratio = part["wall"] / plain_wall
    print(f"  undecorated wall {plain_wall:.3f} s, decorated {part['wall']:.3f} s: {ratio:.3f}x")
    print(f"  extra wall per task per worker              {us(extra):6.1f} us")
    print(f"    workers' extra CPU per task               {us(workers):6.1f} us  (caller, hand-over, sends)")
    print(f"    collector CPU per task (during the map)   {us(part['collector']):6.1f} us")
    print(f"    stop_collector() (x2 workers), per task   {us(part['stop'] * 2):6.1f} us")
    rest = extra - workers - part["collector"] - part["stop"] * 2
    print(f"    left: waits and scheduling                {us(rest):6.1f} us")
    print(f"  load average at the end: {psutil.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()

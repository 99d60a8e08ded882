"""Where the extra time of a decorated ``Pool(2).map`` goes (section 3's rows, taken apart).

    python -m benchmarks.end_to_end_parts                  # 100,000 tasks of 20 us, 3 pairs
    python -m benchmarks.end_to_end_parts --tasks 20000 --reps 5
    python -m benchmarks.end_to_end_parts --task-us 200 --variant lean   # @Timer(track_resources=False)

Each pair runs the undecorated map and the decorated one (the collector started before the clock, as
in section 3), and measures, besides the walls: the CPU the pool's workers used (getrusage of the
reaped children around the ``with Pool`` block), the collector's CPU while the map ran (its processes,
by psutil) and the time ``stop_collector()`` took. On 2 cores with 2 busy workers, a CPU-second spent
anywhere makes each worker about 1 s / 2 cores later, and each worker runs half the tasks, so extra CPU
per task (all processes) reads directly as extra wall per task per worker; what is left over is time
no one computed: waits (a full window of unconfirmed records, the stop's drain) and scheduling.

``--variant`` isolates parts: ``lean`` is ``@Timer(track_resources=False)`` (no resource probes), ``nofile``
``@Timer(log_to_file=False)`` (the records still travel and go to the results file, no timing.log line).
The tasks spin on the wall clock, so a worker descheduled in the middle of one loses less than the time it
was away: the workers' CPU is what they computed, not a fixed amount of work plus mpmon's.
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


def usage(who: int) -> dict[str, float]:
    """CPU seconds and context switches (voluntary, involuntary) of ``who`` (RUSAGE_SELF or _CHILDREN)."""
    got = resource.getrusage(who)
    return {"cpu": got.ru_utime + got.ru_stime, "nvcsw": got.ru_nvcsw, "nivcsw": got.ru_nivcsw}


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


def one_map(task: Callable[[int], int], n: int) -> dict[str, float]:
    """Wall seconds of ``with Pool(2): map``; the workers' CPU seconds and context switches (reaped
    children), and this process's CPU (the pool's task and result threads)."""
    children, parent = usage(resource.RUSAGE_CHILDREN), usage(resource.RUSAGE_SELF)
    start = perf_counter()
    with multiprocessing.get_context().Pool(2) as pool:
        pool.map(task, range(n), chunksize=CHUNKSIZE)
    wall = perf_counter() - start
    after = usage(resource.RUSAGE_CHILDREN)
    return {
        "wall": wall,
        "workers": after["cpu"] - children["cpu"],
        "nvcsw": after["nvcsw"] - children["nvcsw"],
        "nivcsw": after["nivcsw"] - children["nivcsw"],
        "parent": usage(resource.RUSAGE_SELF)["cpu"] - parent["cpu"],
    }


VARIANTS = ("default", "lean", "nofile")


def decorated_task(task_us: int, variant: str) -> Callable[[int], int]:
    """The decorated twin of ``workloads.task_<task_us>us`` in ``variant`` (module level: picklable)."""
    from benchmarks import decorated as tasks

    suffix = "" if variant == "default" else f"_{variant}"
    task: Callable[[int], int] = getattr(tasks, f"task_{task_us}us{suffix}")
    return task


def decorated(n: int, task: Callable[[int], int]) -> dict[str, float]:
    import mpmon

    with scratch_dir("e2e-parts") as scratch:
        collector = mpmon.start_collector(log_dir=str(scratch), log_to_console=False)
        pid = collector.pid
        before = process_cpu(pid)
        parts = one_map(task, n)
        collector_cpu = process_cpu(pid) - before
        start = perf_counter()
        mpmon.stop_collector()
        stop = perf_counter() - start
    return {
        **parts,
        "wall": parts["wall"] + stop,
        "map": parts["wall"],
        "stop": stop,
        "collector": collector_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--task-us", type=int, choices=(20, 200), default=20, help="task length")
    parser.add_argument("--variant", choices=VARIANTS, default="default", help="the decorator's options")
    args = parser.parse_args()
    n = args.tasks
    plain_task = getattr(workloads, f"task_{args.task_us}us")
    timed_task = decorated_task(args.task_us, args.variant)
    plain: list[dict[str, float]] = []
    timed: list[dict[str, float]] = []
    for _ in range(args.reps):
        plain.append(one_map(plain_task, n))
        timed.append(decorated(n, timed_task))
        print(
            f"  pair: undecorated {plain[-1]['wall']:.3f} s, decorated {timed[-1]['wall']:.3f} s", flush=True
        )

    def us(seconds: float) -> float:  # per task (extra CPU per task = extra wall per task per worker)
        return seconds / n * 1e6

    bare = {key: statistics.median(t[key] for t in plain) for key in plain[0]}
    part = {key: statistics.median(t[key] for t in timed) for key in timed[0]}
    extra = (part["wall"] - bare["wall"]) * 2
    workers = part["workers"] - bare["workers"]
    parent = part["parent"] - bare["parent"]
    what = f"{n:,} tasks of {args.task_us} us, @Timer {args.variant}"
    print(f"Pool(2).map of {what}, chunksize {CHUNKSIZE}, median of {args.reps} pairs")
    ratio = part["wall"] / bare["wall"]
    print(f"  undecorated wall {bare['wall']:.3f} s, decorated {part['wall']:.3f} s: {ratio:.3f}x")
    print(f"  extra wall per task per worker              {us(extra):6.1f} us")
    print(f"    workers' extra CPU per task               {us(workers):6.1f} us  (caller, hand-over, sends)")
    print(f"    collector CPU per task (during the map)   {us(part['collector']):6.1f} us")
    print(f"    stop_collector() (x2 workers), per task   {us(part['stop'] * 2):6.1f} us")
    print(f"    this process's extra CPU per task         {us(parent):6.1f} us  (the pool's threads)")
    rest = extra - workers - part["collector"] - part["stop"] * 2 - parent
    print(f"    left: waits and scheduling                {us(rest):6.1f} us")
    for label, side in (("undecorated", bare), ("decorated", part)):
        cpu = us(side["workers"])
        switches = f"{side['nvcsw'] / n:.3f} voluntary, {side['nivcsw'] / n:.3f} involuntary"
        print(f"  {label:11} workers: CPU {cpu:6.1f} us per task, switches per task {switches}")
    print(f"  load average at the end: {psutil.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()

"""mpmon.ray with Ray's drop-in Pool (2 workers): what monitoring costs a Ray job.

    python -m benchmarks.ray_pool [--tasks 10000] [--reps 5]

One local Ray instance (2 CPUs, dashboard off) started with `mpmon.ray.Monitor`'s runtime_env, one
`ray.util.multiprocessing.Pool(2)`. Repetitions alternate a map of undecorated 1 ms busy tasks and a map
of the same tasks under `@mpmon.Timer` in the same pool (the workers are the same processes: only the
decoration differs; which goes first alternates), each timed from `pool.map` to its return, with the CPU
seconds the pool's two worker processes spent in it; after each decorated map, the time until every row
is in the node's CSV. On a shared machine the wall times of single maps spread widely: the median of the
pairwise ratios and the workers' extra CPU per task are the figures that hold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.dask_tasks import plain, rows_on_disk, timed, wait_for_rows


def timed_map(pool: object, task: object, n: int, workers: list[psutil.Process]) -> tuple[float, float]:
    """Wall seconds of one map, and CPU seconds the workers spent meanwhile."""
    cpu = sum(_cpu(w) for w in workers)
    began = time.perf_counter()
    pool.map(task, range(n))  # type: ignore[attr-defined]
    return time.perf_counter() - began, sum(_cpu(w) for w in workers) - cpu


def worker_pid(_: int) -> int:
    return os.getpid()


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def main(argv: list[str] | None = None) -> None:
    import ray
    from ray.util.multiprocessing import Pool

    import mpmon.ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    n = args.tasks
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with tempfile.TemporaryDirectory(prefix="mpmon-ray-bench-") as scratch:
        root = Path(scratch) / "root"
        monitor = mpmon.ray.Monitor(root, capture_logging=False, log_to_console=False)
        ray.init(
            num_cpus=2,
            object_store_memory=100 * 2**20,
            include_dashboard=False,
            runtime_env=monitor.runtime_env(),
        )
        try:
            with monitor, Pool(2) as pool:
                workers = [psutil.Process(pid) for pid in set(pool.map(worker_pid, range(200), chunksize=1))]
                timed_map(pool, plain, 200, workers)  # warm the pool's workers
                timed_map(pool, timed, 200, workers)
                wait_for_rows(root, 200)
                plain_s, timed_s, lag_s = [], [], []
                for rep in range(args.reps):
                    order = [(plain, plain_s), (timed, timed_s)]
                    for task, found in order if rep % 2 == 0 else order[::-1]:
                        found.append(timed_map(pool, task, n, workers))
                    lag_s.append(wait_for_rows(root, 200 + n * (rep + 1)))
            rows = rows_on_disk(root)
        finally:
            ray.shutdown()
    print(f"ray.util.multiprocessing.Pool(2), {n:,} tasks of 1 ms busy work, {args.reps} reps alternating")
    walls = {"undecorated   ": [w for w, _ in plain_s], "@Timer+Monitor": [w for w, _ in timed_s]}
    for name, found in walls.items():
        print(f"  {name}: median {statistics.median(found):.2f} s  {[round(s, 2) for s in found]}")
    ratio = statistics.median(walls["@Timer+Monitor"]) / statistics.median(walls["undecorated   "])
    pairs = statistics.median(t / p for (t, _), (p, _) in zip(timed_s, plain_s))
    print(f"  ratio         : {ratio:.3f}x of medians, {pairs:.3f}x median of pairwise (target <= 1.05x)")
    extra = statistics.median(t - p for (_, t), (_, p) in zip(timed_s, plain_s)) / n * 1e6
    plain_cpu = statistics.median(p for _, p in plain_s) / n * 1e6
    print(f"  workers' CPU  : {plain_cpu:.0f} us per undecorated task, {extra:+.1f} us per task decorated")
    print(f"  map() -> every row on disk: max {max(lag_s) * 1000:.0f} ms {[round(s * 1000) for s in lag_s]}")
    print(f"  rows written  : {rows:,} of {200 + n * args.reps:,}")


if __name__ == "__main__":
    main()

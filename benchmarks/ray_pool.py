"""mpmon.ray with Ray's drop-in Pool (2 workers): what monitoring costs a Ray job.

    python -m benchmarks.ray_pool [--tasks 10000] [--reps 5]

One local Ray instance (2 CPUs, dashboard off) started with `mpmon.ray.Monitor`'s runtime_env, one
`ray.util.multiprocessing.Pool(2)`. Repetitions alternate a map of undecorated 1 ms busy tasks and a map
of the same tasks under `@mpmon.Timer` in the same pool (the workers are the same processes: only the
decoration differs), each timed from `pool.map` to its return; after each decorated map, the time until
every row is in the node's CSV.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.dask_tasks import plain, rows_on_disk, timed, wait_for_rows


def timed_map(pool: object, task: object, n: int) -> float:
    began = time.perf_counter()
    pool.map(task, range(n))  # type: ignore[attr-defined]
    return time.perf_counter() - began


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
                timed_map(pool, plain, 200)  # warm the pool's workers
                timed_map(pool, timed, 200)
                wait_for_rows(root, 200)
                plain_s, timed_s, lag_s = [], [], []
                for rep in range(args.reps):
                    plain_s.append(timed_map(pool, plain, n))
                    timed_s.append(timed_map(pool, timed, n))
                    lag_s.append(wait_for_rows(root, 200 + n * (rep + 1)))
            rows = rows_on_disk(root)
        finally:
            ray.shutdown()
    print(f"ray.util.multiprocessing.Pool(2), {n:,} tasks of 1 ms busy work, {args.reps} reps alternating")
    print(f"  undecorated   : median {statistics.median(plain_s):.2f} s  {[round(s, 2) for s in plain_s]}")
    print(f"  @Timer+Monitor: median {statistics.median(timed_s):.2f} s  {[round(s, 2) for s in timed_s]}")
    ratio = statistics.median(timed_s) / statistics.median(plain_s)
    print(f"  ratio         : {ratio:.3f}x (target <= 1.05x)")
    print(f"  map() -> every row on disk: max {max(lag_s) * 1000:.0f} ms {[round(s * 1000) for s in lag_s]}")
    print(f"  rows written  : {rows:,} of {200 + n * args.reps:,}")


if __name__ == "__main__":
    main()

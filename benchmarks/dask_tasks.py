"""mpmon.dask on a LocalCluster (2 worker processes, 1 thread each): what monitoring costs a Dask job.

    python -m benchmarks.dask_tasks [--tasks 10000] [--reps 3] [--slow-sink 0.005]

Two clusters run side by side: one plain, one with `mpmon.dask.Monitor` registered. Repetitions
alternate a plain map of undecorated 1 ms busy tasks and a map of the same tasks under `@mpmon.Timer`,
each timed from `client.map` to the end of `gather()`; after each decorated map, the time until every
row is in the host's CSV. The worker plugin's `transition` hook is timed in the workers as each task
leaves the executing state (where the hand-over happens): the event loop's cost per task, and then
again with a collector slowed down by MPMON_TEST_SLOW_SINK_SECONDS per batch (backpressure), where the
hook must stay bounded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import mpmon
from mpmon import environment, schema

TASK_SECONDS = 0.001


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def plain(i: int) -> int:
    """A 1 ms task, undecorated."""
    _busy(TASK_SECONDS)
    return i


@mpmon.Timer(log_to_console=False)
def timed(i: int) -> int:
    """The same task under @Timer."""
    _busy(TASK_SECONDS)
    return i


def _probe(dask_worker: Any) -> None:
    """In a worker: time every call of the mpmon worker plugin's transition hook."""
    plugin = dask_worker.plugins["mpmon-hand-over"]
    original = type(plugin).transition
    plugin.hook_ns = []

    def timed_transition(key: Any, start: str, finish: str, **kwargs: Any) -> None:
        began = time.perf_counter_ns()
        original(plugin, key, start, finish, **kwargs)
        if start == "executing":  # the transition that hands the task's records over
            plugin.hook_ns.append(time.perf_counter_ns() - began)

    plugin.transition = timed_transition


def _probe_results(dask_worker: Any) -> list[int]:
    plugin = dask_worker.plugins["mpmon-hand-over"]
    found, plugin.hook_ns = plugin.hook_ns, []
    return list(found)


def rows_on_disk(root: Path) -> int:
    """Rows in the CSV files under root (no row of these tasks holds a newline)."""
    total = 0
    for path in root.glob(f"host=*/{schema.RESULTS_CSV}"):
        total += max(path.read_bytes().count(b"\n") - 1, 0)
    return total


def timed_map(client: Any, task: Any, n: int) -> float:
    began = time.perf_counter()
    futures = client.map(task, range(n), pure=False)
    client.gather(futures)
    seconds = time.perf_counter() - began
    del futures
    return seconds


def wait_for_rows(root: Path, expected: int, limit: float = 30.0) -> float:
    """Seconds until `expected` rows are on disk (polled every 5 ms)."""
    began = time.perf_counter()
    while rows_on_disk(root) < expected and time.perf_counter() - began < limit:
        time.sleep(0.005)
    return time.perf_counter() - began


def hook_figures(samples: list[int]) -> str:
    if not samples:
        return "no samples"
    us = sorted(s / 1000 for s in samples)
    p99 = us[min(len(us) - 1, int(len(us) * 0.99))]
    median = statistics.median(us)
    return f"median {median:.1f} us, p99 {p99:.1f} us, max {us[-1] / 1000:.1f} ms ({len(us)} calls)"


def cluster() -> Any:
    from distributed import LocalCluster

    return LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")


def monitored(root: Path) -> tuple[Any, Any]:
    from distributed import Client

    local = cluster()
    client = Client(local)
    client.register_plugin(mpmon.dask.Monitor(str(root), capture_logging=False, log_to_console=False))
    client.run(_probe)
    return local, client


def main(argv: list[str] | None = None) -> None:
    from distributed import Client

    import mpmon.dask  # noqa: F401 -- the extra mpmon[dask]

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--slow-sink", type=float, default=0.005, help="seconds per batch when slowed")
    args = parser.parse_args(argv)
    n = args.tasks
    with tempfile.TemporaryDirectory(prefix="mpmon-dask-bench-") as scratch:
        root = Path(scratch) / "root"
        with cluster() as plain_cluster, Client(plain_cluster) as plain_client:
            local, client = monitored(root)
            try:
                timed_map(plain_client, plain, 200)  # warm both clusters
                timed_map(client, timed, 200)
                wait_for_rows(root, 200)
                client.run(_probe_results)
                plain_s, timed_s, lag_s = [], [], []
                for rep in range(args.reps):
                    plain_s.append(timed_map(plain_client, plain, n))
                    timed_s.append(timed_map(client, timed, n))
                    lag_s.append(wait_for_rows(root, 200 + n * (rep + 1)))
                hooks = [s for samples in client.run(_probe_results).values() for s in samples]
            finally:
                client.close()
                local.close()
        slow = _under_backpressure(Path(scratch) / "slow", n, args.slow_sink)
    print(f"LocalCluster(2 workers x 1 thread), {n:,} tasks of 1 ms busy work, {args.reps} reps alternating")
    print(f"  undecorated   : median {statistics.median(plain_s):.2f} s  {[round(s, 2) for s in plain_s]}")
    print(f"  @Timer+Monitor: median {statistics.median(timed_s):.2f} s  {[round(s, 2) for s in timed_s]}")
    print(
        f"  ratio         : {statistics.median(timed_s) / statistics.median(plain_s):.3f}x (target <= 1.05x)"
    )
    print(
        f"  gather() -> every row on disk: max {max(lag_s) * 1000:.0f} ms {[round(s * 1000) for s in lag_s]}"
    )
    print(f"  transition hook (event loop), normal collector: {hook_figures(hooks)}")
    print(f"  transition hook, collector slowed {args.slow_sink * 1000:g} ms per batch: {slow}")


def _under_backpressure(root: Path, n: int, slow_sink: float) -> str:
    """The hook's cost while the host's collector writes slowly (records wait for room)."""
    os.environ[environment.TEST_SLOW_SINK] = str(slow_sink)  # read by the collector the nanny starts
    try:
        local, client = monitored(root)
    finally:
        del os.environ[environment.TEST_SLOW_SINK]
    try:
        seconds = timed_map(client, timed, n)
        hooks = [s for samples in client.run(_probe_results).values() for s in samples]
    finally:
        client.close()
        local.close()
    return f"{hook_figures(hooks)}; map took {seconds:.2f} s"


if __name__ == "__main__":
    main()

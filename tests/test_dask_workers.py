"""Real `dask worker` processes (a `dask scheduler` and a nanny-run worker, as on any cluster) and functions
defined in the client script's `__main__`: Dask sends them by value (cloudpickle), decorated or not.

One program, in phases: the undecorated twin; a decorated `__main__` function before any Monitor (the
worker has no collector: it says so once on stderr and starts none); with `mpmon.dask.Monitor`, rows ==
tasks; decorated calls made in the client itself join the cluster's run instead of starting a stray run
in ./logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import ROOT, read_csv, run_program

pytest.importorskip("distributed")

TASKS = 30
CLIENT_CALLS = 7

CLIENT = """
import json, sys
import mpmon, mpmon.dask
from distributed import Client

def plain(x):
    return x + 100

@mpmon.Timer(log_to_console=False)
def work(x):
    return x + 100

@mpmon.Timer(log_to_console=False)
def beside(x):
    return x

if __name__ == "__main__":
    tasks, found = int(sys.argv[3]), {}
    with Client(scheduler_file=sys.argv[1]) as client:
        client.wait_for_workers(1, timeout=120)
        expected = [i + 100 for i in range(tasks)]
        assert client.gather(client.map(plain, range(tasks))) == expected  # Dask itself works
        found["without_monitor"] = client.gather(client.map(work, range(tasks), key="early")) == expected
        monitor = mpmon.dask.Monitor(sys.argv[2], capture_logging=False, log_to_console=False)
        client.register_plugin(monitor)
        found["with_monitor"] = client.gather(client.map(work, range(tasks), key="late")) == expected
        for i in range(int(sys.argv[4])):
            beside(i)  # the client's own calls, beside the cluster
        found["run_id"] = monitor.run_id
    mpmon.stop_collector()
    print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any], str]]:
    """A scheduler and one worker (with its nanny) as subprocesses; the client program run once against
    them: its directory, what it printed, and the worker's stderr."""
    base = tmp_path_factory.mktemp("workers")
    scheduler_file = base / "scheduler.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    dask = str(Path(sys.executable).parent / "dask")
    worker_log = base / "worker.err"
    with contextlib.ExitStack() as stack:
        files = ["--scheduler-file", str(scheduler_file)]
        _start(stack, [dask, "scheduler", "--port", "0", "--no-dashboard", *files], base, env, None)
        command = [dask, "worker", *files, "--nworkers", "1", "--nthreads", "2", "--no-dashboard"]
        with worker_log.open("w") as err:
            _start(stack, command, base, {**env, "MPMON_HOSTNAME": "alpha"}, err, wait_for=scheduler_file)
            done = run_program(base, CLIENT, scheduler_file, base / "root", TASKS, CLIENT_CALLS, timeout=240)
    yield base, json.loads(done.stdout.strip().splitlines()[-1]), worker_log.read_text()


def _start(
    stack: contextlib.ExitStack,
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    stderr: Any,
    wait_for: Path | None = None,
) -> None:
    """Start a Dask process, ended (SIGTERM, then SIGKILL) at the fixture's end."""
    deadline = time.monotonic() + 60
    while wait_for is not None and not wait_for.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)

    def end() -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(end)


@pytest.mark.slow
def test_main_function_runs_on_a_dask_worker_and_rows_equal_tasks(
    cluster_run: tuple[Path, dict[str, Any], str],
) -> None:
    """A decorated `__main__` function deserializes on a real worker (no "Error during deserialization
    of the task graph"); with the Monitor, each task is one row of the client's run id."""
    base, found, _ = cluster_run
    assert found["without_monitor"] is True
    assert found["with_monitor"] is True
    alpha = read_csv(base / "root" / "host=alpha")
    assert len(alpha) == TASKS
    assert set(alpha["function"]) == {"work"} and set(alpha["run_id"]) == {found["run_id"]}


@pytest.mark.slow
def test_worker_without_collector_says_so_once_and_starts_none(
    cluster_run: tuple[Path, dict[str, Any], str],
) -> None:
    """Before the Monitor, the worker's records go to spill files, said once on its stderr; no collector
    of its own writes files in its working directory."""
    base, _, worker_err = cluster_run
    said = [line for line in worker_err.splitlines() if "found no mpmon collector" in line]
    assert len(said) == 1, worker_err
    assert "dask worker" in said[0] and "mpmon.dask.Monitor" in said[0]
    assert not (base / "logs" / "timing.log").exists()


@pytest.mark.slow
def test_client_calls_join_the_cluster_run(cluster_run: tuple[Path, dict[str, Any], str]) -> None:
    """The client's own decorated calls are written under the root, with the cluster's run id, not in a
    second run in ./logs."""
    base, found, _ = cluster_run
    root = base / "root"
    partitions = sorted(p.name for p in root.iterdir())
    assert "host=alpha" in partitions and len(partitions) == 2, partitions
    rows = pd.concat([read_csv(root / name) for name in partitions])
    assert len(rows) == TASKS + CLIENT_CALLS
    assert set(rows["run_id"]) == {found["run_id"]}
    assert not (base / "logs" / "timing_results.csv").exists()

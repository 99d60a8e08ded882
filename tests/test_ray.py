"""mpmon.ray on a real two-node Ray cluster on this machine: nodes "alpha" and "beta", 1 CPU each.

The cluster (`ray.cluster_utils.Cluster`, run by a small program in a subprocess) starts once for the
module; each case runs a real driver program against it in a subprocess and reads the files it leaves
with pandas. The undecorated twin of every workload runs in the same program, so a failure of Ray itself
is not counted against mpmon.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import ROOT, analyze, clean_env, read_csv, run_program

from mpmon import schema

pytest.importorskip("ray")

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}

CLUSTER = """
    import json, sys
    from ray.cluster_utils import Cluster

    small = dict(num_cpus=1, object_store_memory=80 * 2**20, include_dashboard=False)
    cluster = Cluster(initialize_head=True, head_node_args={"node_name": "alpha", **small})
    cluster.add_node(node_name="beta", **small)
    cluster.wait_for_nodes()
    print(json.dumps({"address": cluster.address}), flush=True)
    sys.stdin.read()  # until the tests close it
    cluster.shutdown()
"""

TASKS_MODULE = """
    import asyncio, os, signal, threading, time
    import mpmon

    @mpmon.Timer(log_to_console=False)
    def square(i):
        time.sleep(0.002)
        return i * i

    def square_plain(i):
        time.sleep(0.002)
        return i * i

    def fragile_plain(i, marker):
        time.sleep(0.01)
        if i == 30 and not os.path.exists(marker):  # the first attempt of task 30 kills its worker
            with open(marker, "w") as note:
                note.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    @mpmon.Timer(log_to_console=False)
    def fragile(i, marker):
        return fragile_plain(i, marker)

    class Counter:
        def __init__(self):
            self.total = 0

        @mpmon.Timer(log_to_console=False)
        def add(self, i):
            self.total += i
            return self.total

        def later(self):
            threading.Timer(0.2, square, (-2,)).start()  # a call made outside any task

    class Waiter:
        @mpmon.Timer(log_to_console=False)
        async def wait(self, i):
            await asyncio.sleep(0.001)
            return i

    class CounterPlain:
        def __init__(self):
            self.total = 0

        def add(self, i):
            self.total += i
            return self.total
"""

# Pool with an importable function, tasks (the first attempt of one kills its worker), actors, under
# one Monitor; how many rows are on disk within a second of each ray.get(), with the collectors running.
MAIN = """
    import glob, json, os, sys, time
    import pandas as pd
    import ray
    import mpmon.ray
    from ray.util.multiprocessing import Pool
    from raytasks import Counter, CounterPlain, Waiter, fragile, fragile_plain, square, square_plain

    def rows_of(function, run_id):
        count = 0
        for path in glob.glob("root/host=*/timing_results.csv"):
            try:
                frame = pd.read_csv(path, usecols=["run_id", "function"], dtype=str, keep_default_na=False)
            except (ValueError, OSError):
                return -1
            count += int(((frame.run_id == run_id) & (frame.function == function)).sum())
        return count

    def on_disk_within_1s(function, run_id, expected):
        returned = time.monotonic()
        while rows_of(function, run_id) != expected and time.monotonic() - returned < 1.0:
            time.sleep(0.02)
        return rows_of(function, run_id)

    if __name__ == "__main__":
        monitor = mpmon.ray.Monitor("root", capture_logging=False, log_to_console=False)
        ray.init(address=sys.argv[1], runtime_env=monitor.runtime_env())
        out = {"run_id": monitor.run_id}
        with monitor:
            out["hosts"] = sorted(monitor.hosts.values())
            with Pool(2) as pool:
                out["pool_ok"] = pool.map(square, range(300)) == pool.map(square_plain, range(300))
            out["pool_rows"] = on_disk_within_1s("square", monitor.run_id, 300)

            spread = dict(scheduling_strategy="SPREAD", max_retries=3)
            task, plain = mpmon.ray.remote(**spread)(fragile), ray.remote(**spread)(fragile_plain)
            markers = [os.path.abspath(name) for name in ("decorated.marker", "plain.marker")]
            got = ray.get([task.remote(i, markers[0]) for i in range(60)])
            twin = ray.get([plain.remote(i, markers[1]) for i in range(60)])
            out["tasks_ok"] = got == twin == list(range(60))
            out["killed"] = int(open(markers[0]).read()) if all(map(os.path.exists, markers)) else 0
            out["task_rows"] = on_disk_within_1s("fragile", monitor.run_id, 60)

            actors = [mpmon.ray.remote(Counter).remote() for _ in range(2)]
            twins = [ray.remote(CounterPlain).remote() for _ in range(2)]
            sums = [ray.get([a.add.remote(i) for i in range(50)])[-1] for a in actors]
            out["actors_ok"] = sums == [ray.get([a.add.remote(i) for i in range(50)])[-1] for a in twins]
            out["actor_rows"] = on_disk_within_1s("Counter.add", monitor.run_id, 100)
            waiter = mpmon.ray.remote(Waiter).remote()  # an async actor: its method is a coroutine
            out["async_ok"] = ray.get([waiter.wait.remote(i) for i in range(20)]) == list(range(20))
            out["async_rows"] = on_disk_within_1s("Waiter.wait", monitor.run_id, 20)
            square(-1)  # in the driver: its row goes to its node's collector, not to ./logs
            ray.get(actors[0].later.remote())
            time.sleep(0.5)  # the stop comes within a second of square(-2): maybe before its flusher sends
        print(json.dumps(out))
"""

# The cases: a function decorated in the driver's `__main__`, which Ray pickles by value; a
# driver that started its own collector before ray.init().
MAIN_FUNCTION = """
    import json, sys
    import ray
    import mpmon, mpmon.ray
    from ray.util.multiprocessing import Pool

    @mpmon.Timer(log_to_console=False)
    def cube(i):
        return i ** 3

    def cube_plain(i):
        return i ** 3

    if __name__ == "__main__":
        driver = mpmon.start_collector("driver-logs", capture_logging=False, log_to_console=False)
        monitor = mpmon.ray.Monitor("root", capture_logging=False, log_to_console=False)
        ray.init(address=sys.argv[1], runtime_env=monitor.runtime_env())
        with monitor:
            with Pool(2) as pool:
                twin = pool.map(cube_plain, range(200))
                got = pool.map(cube, range(200))
            tasks = ray.get([mpmon.ray.remote(cube).remote(i) for i in range(40)])
            cube(-1)  # the driver's own call: to its own collector
        mpmon.stop_collector()
        ok = got == twin and tasks == twin[:40]
        print(json.dumps({"run_id": monitor.run_id, "driver_run_id": driver.run_id, "ok": ok}))
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A two-node Ray cluster for the module: its address, and the directory with the tasks module."""
    base = tmp_path_factory.mktemp("ray")
    (base / "raytasks.py").write_text(textwrap.dedent(TASKS_MODULE))
    (base / "cluster").mkdir()
    (base / "cluster" / "cluster.py").write_text(textwrap.dedent(CLUSTER))
    env = clean_env({**RAY_ENV, "PYTHONPATH": os.pathsep.join([str(ROOT), str(base)])})
    process = subprocess.Popen(
        [sys.executable, "cluster.py"],
        cwd=base / "cluster",
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # a cluster that does not end in time is killed whole
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        address = json.loads(process.stdout.readline())["address"]
        yield address, base
    finally:
        process.stdin.close()
        process.stdout.close()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.kill()
            process.wait()


def _driver(cluster: tuple[str, Path], name: str, source: str) -> tuple[Path, dict[str, Any]]:
    """Run a driver program in a fresh directory against the cluster: its directory and its result."""
    address, base = cluster
    directory = base / name
    directory.mkdir()
    env = {**RAY_ENV, "PYTHONPATH": os.pathsep.join([str(ROOT), str(base)])}
    done = run_program(directory, source, address, env=env, timeout=240)
    return directory, done.result()


@pytest.fixture(scope="module")
def main_run(cluster: tuple[str, Path]) -> tuple[Path, dict[str, Any]]:
    return _driver(cluster, "main", MAIN)


def _rows(root: Path) -> pd.DataFrame:
    return pd.concat([read_csv(path) for path in sorted(root.glob("host=*"))], ignore_index=True)


@pytest.mark.slow
def test_two_nodes_write_one_run_in_two_partitions(main_run: tuple[Path, dict[str, Any]]) -> None:
    """root/host=alpha and root/host=beta, each written by its node's collector; one run id (the
    driver's); a row per call of the Pool, the tasks and the actors (an async one too); each row's host
    its partition's;
    every row on disk within a second of its ray.get(), the collectors still running."""
    directory, out = main_run
    root = directory / "root"
    assert out["hosts"] == ["alpha", "beta"]
    assert sorted(p.name for p in root.iterdir()) == ["host=alpha", "host=beta"]
    for host in ("alpha", "beta"):
        frame = read_csv(root / f"host={host}")
        assert set(frame.host) == {host} and len(frame) > 0
    rows = _rows(root)
    calls = {"square": 302, "fragile": 60, "Counter.add": 100, "Waiter.wait": 20}
    assert rows.groupby("function").size().to_dict() == calls
    assert set(rows.run_id) == {out["run_id"]} and rows.call_id.is_unique
    assert set(rows.status) == {"ok"}
    assert all(out[name] for name in ("pool_ok", "tasks_ok", "actors_ok", "async_ok"))
    on_disk = [out[name] for name in ("pool_rows", "task_rows", "actor_rows", "async_rows")]
    assert on_disk == [300, 60, 100, 20]
    driver = rows[rows.args.map(lambda text: json.loads(text)["args"] == ["-1"])]
    assert list(driver.host) == ["alpha"]  # the driver's node


@pytest.mark.slow
def test_a_stop_gathers_what_workers_still_buffer(main_run: tuple[Path, dict[str, Any]]) -> None:
    """A call an actor's thread made outside any task, 0.3 s before the stop, has its row: the worker's
    flusher sends once a second, and what it has not sent yet the stop gathers from the live worker."""
    directory, _ = main_run
    rows = _rows(directory / "root")
    assert rows.args.map(lambda text: json.loads(text)["args"] == ["-2"]).sum() == 1


@pytest.mark.slow
def test_pool_and_tasks_with_a_function_of_main(cluster: tuple[str, Path]) -> None:
    """A function decorated in the driver's __main__ travels to Ray's Pool workers and tasks as the
    undecorated one does (by value): a row per call in the nodes' partitions, under the run of the
    collector the driver started before ray.init(), which keeps the driver's own row."""
    directory, out = _driver(cluster, "main_function", MAIN_FUNCTION)
    assert out["ok"] and out["run_id"] == out["driver_run_id"]
    rows = _rows(directory / "root")
    assert len(rows) == 240 and set(rows.function) == {"cube"} and set(rows.run_id) == {out["run_id"]}
    driver = read_csv(directory / "driver-logs")
    assert list(driver.function) == ["cube"] and set(driver.run_id) == {out["run_id"]}


@pytest.mark.slow
def test_a_killed_worker_loses_no_completed_task(main_run: tuple[Path, dict[str, Any]]) -> None:
    """The first attempt of task 30 kills its worker (SIGKILL) mid-call, after that worker completed
    others; Ray retries it: every task has exactly one row, the tasks the dead worker completed too."""
    directory, out = main_run
    assert out["killed"] and out["tasks_ok"]
    fragile = _rows(directory / "root").query("function == 'fragile'")
    done = sorted(int(json.loads(a)["args"][0]) for a in fragile.args)
    assert done == list(range(60))
    assert (fragile.pid == out["killed"]).sum() > 0  # the rows of the tasks the dead worker completed


@pytest.mark.slow
def test_no_stray_collector_in_any_working_directory(
    cluster: tuple[str, Path], main_run: tuple[Path, dict[str, Any]]
) -> None:
    """Ray's workers join their node's collector: no `logs/` appears where the driver or the cluster
    runs, and each partition has one run_start event, of the driver's run."""
    directory, out = main_run
    assert not (directory / "logs").exists()
    assert not (cluster[1] / "cluster" / "logs").exists()
    for host in ("alpha", "beta"):
        lines = (directory / "root" / f"host={host}" / schema.TIMING_LOG).read_text().splitlines()
        starts = [e for e in map(json.loads, lines) if e.get("event") == schema.RUN_START_EVENT]
        assert [e["run_id"] for e in starts] == [out["run_id"]]


@pytest.mark.slow
def test_analysis_draws_a_lane_group_per_node(main_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """The analysis reads both partitions as one run, with lanes grouped by host; `mpmon-analyze`
    writes the figures and a trace with processes of both hosts."""
    from mpmon.analysis import hosts, load_run

    directory, out = main_run
    calls = load_run(directory / "root")
    assert len(calls) == 482 and set(calls.run_id) == {out["run_id"]}
    assert sorted(hosts.host_order(calls)) == ["alpha", "beta"]
    lanes = [str(lane) for lane in calls[hosts.LANE_COLUMN].cat.categories]
    assert {lane.split(":")[0] for lane in lanes} == {"alpha", "beta"}
    trace = tmp_path / "trace.json"
    done = analyze("--logdir", str(directory / "root"), "--out", str(tmp_path), "--trace", str(trace))
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.rglob("*timeline*.png"))
    events = json.loads(trace.read_text())["traceEvents"]
    labels = [str(e["args"]["name"]) for e in events if e.get("name") == "process_name"]
    assert any("alpha" in name for name in labels) and any("beta" in name for name in labels), labels


def test_only_mpmon_ray_imports_ray() -> None:
    """`import mpmon` (and the analysis) never imports Ray; `import mpmon.ray` does."""
    code = "import sys, mpmon, mpmon.analysis\nassert 'ray' not in sys.modules\nimport mpmon.ray\n"
    code += "assert 'ray' in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_monitor_checks_its_settings_and_merges_a_runtime_env() -> None:
    """Settings start_collector() does not take, a bad run id and a setup hook of the user's are refused
    at once; the user's env_vars and other runtime_env fields are kept."""
    from mpmon.ray import Monitor

    with pytest.raises(TypeError, match="bogus"):
        Monitor("logs", bogus=1)
    with pytest.raises(ValueError, match="run_id"):
        Monitor("logs", run_id="a b")
    monitor = Monitor("logs", run_id="r1", results_format="parquet")
    env = monitor.runtime_env({"env_vars": {"A": "1"}, "pip": ["x"]})
    assert env["pip"] == ["x"] and env["env_vars"]["A"] == "1"
    assert env["env_vars"]["MPMON_RUN_ID"] == "r1"
    assert env["worker_process_setup_hook"] == "mpmon.ray.worker.setup"
    with pytest.raises(ValueError, match="setup_hook"):
        monitor.runtime_env({"worker_process_setup_hook": "mine.setup"})


def test_remote_gives_ray_plain_functions_and_classes() -> None:
    """`@ray.remote` takes a decorated function (a function); `mpmon.ray.remote` hands Ray a plain function
    of the same name and signature, and a subclass whose decorated methods (async ones too) are plain
    methods."""
    import inspect

    import ray

    import mpmon
    import mpmon.ray
    from mpmon.ray.tasks import plain

    def area(width: int, height: int = 2) -> int:
        return width * height

    class Shape:
        @mpmon.Timer(log_to_console=False)
        def grow(self, by: int) -> int:
            return by

        @mpmon.Timer(log_to_console=False)
        async def wait(self) -> None:
            return None

    timed = mpmon.Timer(log_to_console=False)(area)
    assert isinstance(ray.remote(timed), ray.remote_function.RemoteFunction)
    function = plain(timed)
    assert inspect.isfunction(function) and function.__name__ == "area"
    assert inspect.signature(function) == inspect.signature(area)
    made = plain(Shape)
    assert issubclass(made, Shape) and made.__qualname__ == Shape.__qualname__
    assert inspect.isfunction(made.grow) and inspect.iscoroutinefunction(made.wait)
    assert isinstance(mpmon.ray.remote(timed), ray.remote_function.RemoteFunction)
    assert isinstance(mpmon.ray.remote(num_cpus=0)(Shape), ray.actor.ActorClass)


def test_a_node_partition_is_named_after_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """$MPMON_HOSTNAME, else a node name given to Ray, else the host's name (Ray names a node by its IP
    by default); never a path."""
    import socket

    from mpmon.ray.node import partition_name

    monkeypatch.delenv("MPMON_HOSTNAME", raising=False)
    assert partition_name("alpha", "10.0.0.1") == "alpha"
    assert partition_name("10.0.0.1", "10.0.0.1") == socket.gethostname()
    assert partition_name("../a/b", "10.0.0.1") == "_a_b"
    monkeypatch.setenv("MPMON_HOSTNAME", "gamma")
    assert partition_name("alpha", "10.0.0.1") == "gamma"

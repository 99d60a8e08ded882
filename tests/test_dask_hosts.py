"""Two hosts on one machine: `dask scheduler` and two `dask worker` processes, each with its own
MPMON_HOSTNAME, started as subprocesses; host "beta" runs 30 s ahead.

The skew is the host's real wall clock as its processes see it: a `sitecustomize` module on beta's
PYTHONPATH shifts `time.time` and `time.time_ns` (test-only; mpmon has no hook for it), so Dask measures
beta's offset to the scheduler as about -30 s, and beta's rows carry times 30 s ahead. Each task also
returns the unshifted clock (`clock_gettime(CLOCK_REALTIME)`), the truth the alignment is checked against.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import ROOT, log_events, read_csv, run_program

from mpmon import schema

pytest.importorskip("distributed")

SKEW_S = 30.0
TASKS = 600

SITECUSTOMIZE = """
    import os, time
    _skew = float(os.environ.get("MPMON_TEST_CLOCK_SKEW_S") or 0)
    if _skew:
        _time, _time_ns = time.time, time.time_ns
        time.time = lambda: _time() + _skew
        time.time_ns = lambda: _time_ns() + int(_skew * 1e9)
"""

TASKS_MODULE = """
    import time
    import mpmon

    @mpmon.Timer(log_to_console=False)
    def stamp(i):
        true_time = time.clock_gettime(time.CLOCK_REALTIME)  # the host's clock, unshifted
        time.sleep(0.002)
        return true_time
"""

CLIENT = """
    import json, sys, time
    import mpmon.dask
    from distributed import Client
    from hosttasks import stamp  # decorated functions live in a module the workers import

    if __name__ == "__main__":
        with Client(scheduler_file=sys.argv[1]) as client:
            client.wait_for_workers(2, timeout=120)
            monitor = mpmon.dask.Monitor(sys.argv[2], capture_logging=False, log_to_console=False)
            client.register_plugin(monitor)
            futures = client.map(stamp, range(int(sys.argv[3])))
            truth = client.gather(futures)
            time.sleep(2.5)  # a heartbeat or two after the work: each worker's clock offset is measured
            print(json.dumps({"run_id": monitor.run_id, "truth": truth}))
"""


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Runs the cluster once: the root of its logs and what the client saw."""
    base = tmp_path_factory.mktemp("hosts")
    (base / "skew").mkdir()
    (base / "skew" / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    (base / "hosttasks.py").write_text(textwrap.dedent(TASKS_MODULE))
    scheduler_file = base / "scheduler.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(base), env.get("PYTHONPATH")]))
    dask = str(Path(sys.executable).parent / "dask")
    with contextlib.ExitStack() as stack:
        file = ["--scheduler-file", str(scheduler_file)]
        _start(stack, [dask, "scheduler", "--port", "0", "--no-dashboard", *file], base, env)
        for host, extra in (("alpha", {}), ("beta", _skewed(base, env))):
            command = [dask, "worker", *file, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
            command += ["--local-directory", str(base / host)]
            _start(stack, command, base, {**env, "MPMON_HOSTNAME": host, **extra}, wait_for=scheduler_file)
        done = run_program(base, CLIENT, str(scheduler_file), str(base / "root"), str(TASKS), timeout=240)
    yield base / "root", json.loads(done.stdout.strip().splitlines()[-1])


def _skewed(base: Path, env: dict[str, str]) -> dict[str, str]:
    return {
        "PYTHONPATH": f"{base / 'skew'}{os.pathsep}{env['PYTHONPATH']}",
        "MPMON_TEST_CLOCK_SKEW_S": str(SKEW_S),
    }


def _start(
    stack: contextlib.ExitStack,
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    wait_for: Path | None = None,
) -> None:
    """Start a Dask process, ended (SIGTERM, as a cluster manager does, then SIGKILL) at the fixture's end."""
    if wait_for is not None:
        deadline = time.monotonic() + 60
        while not wait_for.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def end() -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(end)


@pytest.mark.slow
def test_two_hosts_write_one_run_in_two_partitions(two_hosts: tuple[Path, dict[str, Any]]) -> None:
    """One dataset: root/host=alpha and root/host=beta, each written by its own collector; one run id;
    rows == tasks; each row's host is its partition's."""
    root, client = two_hosts
    assert sorted(p.name for p in root.iterdir()) == ["host=alpha", "host=beta"]
    frames = {host: read_csv(root / f"host={host}") for host in ("alpha", "beta")}
    for host, frame in frames.items():
        assert set(frame.host) == {host}
        assert len(frame) > 0
    rows = pd.concat(frames.values())
    assert len(rows) == TASKS
    assert set(rows.run_id) == {client["run_id"]}
    assert rows.call_id.is_unique
    starts = {host: log_events(root / f"host={host}", schema.RUN_START_EVENT) for host in frames}
    assert all(len(events) == 1 and events[0]["run_id"] == client["run_id"] for events in starts.values())


@pytest.mark.slow
def test_each_host_records_its_clock_offset(two_hosts: tuple[Path, dict[str, Any]]) -> None:
    """beta, 30 s ahead, records an offset to the scheduler of about -30 s, alpha of about 0; shifted by
    its median offset, each of beta's rows starts within 50 ms of the true time of its call."""
    root, client = two_hosts
    median = {host: _median_offset(root / f"host={host}") for host in ("alpha", "beta")}
    assert abs(median["alpha"]) < 0.05, median
    assert abs(median["beta"] + SKEW_S) < 0.05, median
    beta = read_csv(root / "host=beta")
    truth = {str(i): t for i, t in enumerate(client["truth"])}
    raw = pd.to_datetime(beta.start_time, format="ISO8601").map(pd.Timestamp.timestamp)
    true = beta.args.map(lambda a: truth[json.loads(a)["args"][0]])
    assert ((raw - true) - SKEW_S).abs().median() < 0.01  # the skew is real in beta's rows
    assert ((raw + median["beta"]) - true).abs().max() < 0.05


@pytest.mark.slow
def test_analysis_reads_one_run_across_hosts(two_hosts: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """The analysis reads both partitions as one run, a lane per (host, pid) grouped by host, beta's
    times aligned within 50 ms by its clock offset while the raw times stay; `mpmon-analyze` writes a
    trace with a process per host."""
    from mpmon.analysis import hosts, load_run

    root, client = two_hosts
    calls = load_run(root)
    assert len(calls) == TASKS
    assert set(calls.run_id) == {client["run_id"]}
    assert sorted(hosts.host_order(calls)) == ["alpha", "beta"]
    assert calls[hosts.LANE_COLUMN].nunique() == 2
    truth = {str(i): t for i, t in enumerate(client["truth"])}
    true = calls.args.map(lambda a: truth[json.loads(a)["args"][0]]).to_numpy(dtype=float)
    aligned = hosts.aligned_micros(calls, "start_time") / 1e6
    assert abs(aligned - true).max() < 0.05
    raw = pd.to_datetime(calls.start_time).map(pd.Timestamp.timestamp).to_numpy(dtype=float)
    assert abs(raw - true)[(calls.host == "beta").to_numpy()].min() > SKEW_S - 1  # tables keep raw times
    trace = tmp_path / "trace.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpmon.analysis",
            "--logdir",
            str(root),
            "--out",
            str(tmp_path),
            "--trace",
            str(trace),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    events = json.loads(trace.read_text())["traceEvents"]
    labels = {e["pid"]: str(e["args"]["name"]) for e in events if e.get("name") == "process_name"}
    assert len(labels) == 2
    assert any("alpha" in name for name in labels.values()), labels
    assert any("beta" in name for name in labels.values()), labels


def _median_offset(log_dir: Path) -> float:
    offsets = [e["offset_s"] for e in log_events(log_dir, schema.EVENT_CLOCK_OFFSET)]
    assert offsets, f"no clock_offset event in {log_dir}"
    return statistics.median(offsets)

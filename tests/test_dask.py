"""mpmon.dask on a LocalCluster: a collector per host owned by a nanny, a hand-over after every task.

Each case runs a real program (LocalCluster with 2 worker processes, 1 thread each) in a subprocess and
reads the files it leaves with pandas; the program itself measures how long after `gather()` the rows
are on disk, since that must hold while the cluster still runs.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from helpers import ROOT, log_family, read_csv, run_program

from mpmon import rows, schema
from mpmon.wire import LOG

pytest.importorskip("distributed")

PROGRAM_HEAD = """
    import glob, json, os, sys, time
    import pandas as pd
    import mpmon, mpmon.dask
    from distributed import Client, LocalCluster

    def rows_of(pattern, run_id):
        count = 0
        for path in glob.glob(pattern):
            try:
                frame = pd.read_csv(path, usecols=["run_id"], dtype=str, keep_default_na=False)
            except (ValueError, OSError):
                return -1
            count += int((frame.run_id == run_id).sum())
        return count

    def cluster():
        return LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")
"""

LOCAL_CLUSTER = (
    PROGRAM_HEAD
    + """
    @mpmon.Timer(log_to_console=False)
    def double(i):
        return 2 * i

    if __name__ == "__main__":
        mode = sys.argv[1]
        if mode == "before":
            mpmon.start_collector("client-logs", capture_logging=False, log_to_console=False)
        with cluster() as local, Client(local) as client:
            monitor = mpmon.dask.Monitor("root", capture_logging=False, log_to_console=False)
            client.register_plugin(monitor)
            pattern = "client-logs/*.csv" if mode == "before" else "root/host=*/*.csv"
            results = client.gather(client.map(double, range(1000)))
            gathered = time.monotonic()
            count = rows_of(pattern, monitor.run_id)
            while count != 1000 and time.monotonic() - gathered < 1.0:
                time.sleep(0.01)
                count = rows_of(pattern, monitor.run_id)
            plugins = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.worker_plugins))
            print(json.dumps({"run_id": monitor.run_id, "rows_within_1s": count,
                              "seconds": time.monotonic() - gathered,
                              "results_ok": results == [2 * i for i in range(1000)],
                              "scheduler_worker_plugins": plugins}))
        mpmon.stop_collector()
"""
)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["after", "before"])
def test_every_row_on_disk_within_a_second_of_gather(tmp_path: Path, mode: str) -> None:
    """Plugin registered on a running cluster ("after": a collector per host under root/host=<name>/), or
    the client's collector started before the cluster ("before": the host's collector is the client's):
    exactly 1,000 rows with the client's run id, on disk within 1 s of gather(), cluster still running.
    The registration logs no ERROR: the hand-over plugin rides with each nanny's worker, and is never
    broadcast by the scheduler to workers that other nannies are restarting (`broadcast ... failed:
    CommClosedError`)."""
    run = run_program(tmp_path, LOCAL_CLUSTER, mode, timeout=240)
    report = run.result()
    assert "ERROR - broadcast" not in run.stderr, run.stderr  # (a loaded machine's shutdown may log others)
    assert "mpmon-hand-over" not in report["scheduler_worker_plugins"]
    assert report["results_ok"]
    assert report["rows_within_1s"] == 1000, report
    if mode == "after":
        host_dirs = sorted(p.name for p in (tmp_path / "root").iterdir())
        assert host_dirs == [f"host={socket.gethostname()}"]
        log_dir = tmp_path / "root" / host_dirs[0]
    else:
        assert not (tmp_path / "root").exists()
        log_dir = tmp_path / "client-logs"
    frame = read_csv(log_dir)
    assert len(frame) == 1000
    assert set(frame.run_id) == {report["run_id"]}
    assert frame.call_id.is_unique
    assert set(frame.host) == {socket.gethostname()}
    assert frame.pid.nunique() == 2
    attempts = [e for e in log_family(log_dir, schema.TIMING_LOG) if e.get("logger") == "mpmon.dask"]
    assert sum(json.loads(e["message"])["calls"] for e in attempts) == 1000
    offsets = [e for e in log_family(log_dir, schema.TIMING_LOG) if e.get("event") == "clock_offset"]
    assert set(frame.pid) <= {e["pid"] for e in offsets}


FAULTS = (
    PROGRAM_HEAD
    + """
    import signal
    import psutil

    @mpmon.Timer(log_to_console=False)
    def nap(i):
        time.sleep(0.002)
        return i

    def finished(futures):
        return sum(f.status == "finished" for f in futures)

    def wait_for(futures, count):
        deadline = time.monotonic() + 120
        while finished(futures) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def collector_writer():
        for child in psutil.Process().children(recursive=True):
            if "mpmon.collector" in " ".join(child.cmdline()):
                return child.children()[0]

    if __name__ == "__main__":
        with cluster() as local, Client(local) as client:
            monitor = mpmon.dask.Monitor("root", capture_logging=False, log_to_console=False)
            client.register_plugin(monitor)
            workers = list(client.run(os.getpid).values())
            futures = client.map(nap, range(3000), key=[f"nap-{i}" for i in range(3000)])
            wait_for(futures, 500)
            os.kill(workers[0], signal.SIGKILL)
            wait_for(futures, 1300)
            writer = collector_writer()
            writer.kill()
            wait_for(futures, 2100)
            os.kill(workers[1], signal.SIGTERM)
            results = client.gather(futures)
            print(json.dumps({"run_id": monitor.run_id, "results_ok": results == list(range(3000)),
                              "killed": workers, "writer": writer.pid}))
"""
)


@pytest.mark.slow
def test_killed_workers_and_writer_lose_no_completed_task(tmp_path: Path) -> None:
    """3,000 tasks of 2 ms; one worker SIGKILLed, the host's collector writer killed, another worker
    SIGTERMed: every task has its row, each attempt of a task (Dask recomputes what a dead worker
    held) is named in timing.log with its rows, and no row of any other worker is lost."""
    done = run_program(tmp_path, FAULTS, timeout=280)
    report = done.result()
    assert report["results_ok"]
    assert f"the writer process {report['writer']} died" in done.stderr
    log_dir = tmp_path / "root" / f"host={socket.gethostname()}"
    frame = read_csv(log_dir)
    assert frame.call_id.is_unique
    assert set(frame.run_id) == {report["run_id"]}
    task_of_row = Counter(int(json.loads(a)["args"][0]) for a in frame.args)
    assert set(task_of_row) == set(range(3000)), "a completed task has no row"
    lines = [e for e in log_family(log_dir, schema.TIMING_LOG) if e.get("logger") == "mpmon.dask"]
    attempts = [json.loads(e["message"]) for e in lines]
    assert len({(a["key"], a["dask_run_id"]) for a in attempts}) == len(attempts)
    attempts_of_task = Counter(int(a["key"].rsplit("-", 1)[1]) for a in attempts if a["calls"])
    reruns = [task for task, count in attempts_of_task.items() if count > 1]
    assert reruns, "no task was recomputed, though a worker holding results was killed"
    assert all(task_of_row[task] >= 2 for task in reruns)
    # An attempt's line travels with its rows. Per process: rows == calls named by its attempt lines,
    # but for the task a process was running when it ended (killed, or closed with the cluster), whose
    # row may have left before its line: at most one per process.
    calls_of_pid = Counter()
    for line, attempt in zip(lines, attempts):
        calls_of_pid[line["pid"]] += attempt["calls"]
    rows_of_pid = Counter(frame.pid)
    assert set(rows_of_pid) == set(calls_of_pid)
    for pid, count in rows_of_pid.items():
        assert count - calls_of_pid[pid] in (0, 1), pid
    assert sum(task_of_row.values()) == len(frame)


RENDEZVOUS = """
    import json, sys, time
    import mpmon.dask
    env = mpmon.dask._attach(sys.argv[1], "one-run", {"capture_logging": False, "log_to_console": False})
    print(json.dumps({"address": env["MPMON_ADDRESS"], "run_id": env["MPMON_RUN_ID"]}), flush=True)
    sys.stdin.read()  # hold the host until the test is done
    mpmon.dask._detach(sys.argv[1])
"""


@pytest.mark.slow
def test_two_nanny_processes_of_one_host_share_one_collector(tmp_path: Path) -> None:
    """Two processes attaching to one host directory at once: one starts the collector, the other gets
    its address (through a private file of the host), so the directory has one writer."""
    script = tmp_path / "attach.py"
    script.write_text(textwrap.dedent(RENDEZVOUS))
    host_dir = str(tmp_path / "root" / "host=same")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), host_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        answers = [json.loads(p.stdout.readline()) for p in processes]  # type: ignore[union-attr]
    finally:
        for p in processes:
            p.communicate("", timeout=60)
    assert answers[0] == answers[1]
    assert answers[0]["run_id"] == "one-run"
    starts = [e for e in log_family(Path(host_dir), schema.TIMING_LOG) if e.get("event") == "run_start"]
    assert len(starts) == 1


def test_clock_record_becomes_a_clock_offset_event() -> None:
    """A LOG record of the logger mpmon.clock whose message is a float is a clock_offset event."""
    meta = (7, "Dask Worker", "beta", "0" * 24, "run-1")
    entry = rows.log_entry(
        meta, (LOG, 1_700_000_000 * 10**9, "INFO", "mpmon.clock", "-30.0125", "T", "m", ""), ""
    )
    assert entry["event"] == schema.EVENT_CLOCK_OFFSET == "clock_offset"
    assert entry["offset_s"] == -30.0125
    assert (entry["host"], entry["pid"], entry["run_id"]) == ("beta", 7, "run-1")
    assert entry["timestamp"].startswith("2023-11-14T22:13:20")
    other = rows.log_entry(meta, (LOG, 0, "INFO", "mpmon.clock", "not a number", "T", "m", ""), "")
    assert other["event"] == schema.EVENT_LOG and "offset_s" not in other


def test_import_mpmon_never_imports_dask() -> None:
    """Dask is imported by mpmon.dask alone."""
    code = "import sys, mpmon, mpmon.analysis; sys.exit(bool({'dask', 'distributed'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(ROOT)}).returncode == 0


def test_monitor_settings_are_checked_in_the_client() -> None:
    """A bad setting or an object-store root fails when the plugin is made, not on every worker."""
    from mpmon.dask import Monitor

    with pytest.raises(TypeError, match="results_fromat"):
        Monitor("logs", results_fromat="csv")
    with pytest.raises(ValueError, match=r"shared filesystem"):
        Monitor("s3://bucket/logs")
    with pytest.raises(ValueError, match="run_id"):
        Monitor("logs", run_id="a run id with spaces")
    assert Monitor("logs", run_id="given").run_id == "given"
    assert Monitor("file:///tmp/x").root == "/tmp/x"

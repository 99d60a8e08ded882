"""The per-process flusher and `flush(wait=True)`: records reach the files without another call, across forks
and before `os._exit()`; under the drop policy a call never waits on the collector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import read_csv, run_program

IDLE = """
import multiprocessing, time
import pandas as pd
import mpmon

@mpmon.Timer(log_to_console=False)
def once():
    return 1

def work():
    once()
    time.sleep(6)  # the task is not over: its result cannot carry the record

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        pending = pool.apply_async(work)
        started = time.monotonic()
        seen = 0
        while time.monotonic() - started < 2.0 and not seen:
            time.sleep(0.05)
            try:
                seen = len(pd.read_csv("logs/timing_results.csv"))
            except (FileNotFoundError, pd.errors.EmptyDataError):
                pass
        print(seen)
        pool.terminate()
    mpmon.stop_collector()
"""


@pytest.mark.slow
def test_an_idle_workers_record_is_on_disk_within_two_seconds(tmp_path: Path) -> None:
    """A worker that calls once and then waits: its row is in the CSV within 2 s, with no further call."""
    done = run_program(tmp_path, IDLE)
    assert done.stdout.split()[-1] == "1"


WAIT = """
import json, multiprocessing, os, sys
import pandas as pd
import mpmon

@mpmon.Timer(log_to_console=False)
def work(i):
    return i

def in_worker(i):
    work(i)
    confirmed = mpmon.flush(wait=True, timeout=30)
    rows = pd.read_csv("logs/timing_results.csv")
    return confirmed, int((rows["pid"] == os.getpid()).sum())

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    work(0)
    confirmed = mpmon.flush(wait=True, timeout=30)
    main_rows = len(pd.read_csv("logs/timing_results.csv"))
    with multiprocessing.get_context(sys.argv[1]).Pool(1) as pool:
        worker = pool.apply(in_worker, (1,))
    mpmon.stop_collector()
    print(json.dumps([confirmed, main_rows, worker]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_flush_wait_means_the_row_is_in_the_file(tmp_path: Path, method: str) -> None:
    """Right after flush(wait=True) returns True the CSV has the row: in the main process and a worker."""
    done = run_program(tmp_path, WAIT, method)
    assert json.loads(done.stdout.splitlines()[-1]) == [True, 1, [True, 1]]


FORKS = """
import os, sys
import mpmon

@mpmon.Timer(log_to_console=False)
def work(i):
    return i

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    mode = sys.argv[1]
    work(-1)  # the parent's flusher runs from here on
    children = []
    for i in range(100):
        pid = os.fork()
        if pid == 0:
            work(i)
            if mode == "exit_after_sleep":
                import time
                time.sleep(1.5)  # longer than the flush interval: the flusher sends the record
            else:
                mpmon.flush(wait=True, timeout=30)
            os._exit(0)
        children.append(pid)
        if mode == "forks_while_flushing":
            work(1000 + i)
            os.waitpid(pid, 0)
    for pid in children:
        if mode == "exit_after_sleep":
            os.waitpid(pid, 0)
    mpmon.stop_collector()
"""


@pytest.mark.slow
def test_a_hundred_forks_while_the_flusher_runs(tmp_path: Path) -> None:
    """The parent records between 100 forks (its flusher running): no child hangs, every row is kept."""
    run_program(tmp_path, FORKS, "forks_while_flushing", timeout=120)
    rows = read_csv(tmp_path / "logs")
    assert len(rows) == 201 and rows["call_id"].is_unique


@pytest.mark.slow
def test_children_that_call_sleep_and_os_exit_leave_every_row(tmp_path: Path) -> None:
    """100 forked children call once, sleep 1.5 s and os._exit(0): exactly 100 rows (and the parent's)."""
    run_program(tmp_path, FORKS, "exit_after_sleep", timeout=120)
    rows = read_csv(tmp_path / "logs")
    assert len(rows) == 101 and rows["call_id"].is_unique


DROP = """
import json, multiprocessing, os, signal, time
import mpmon

@mpmon.Timer(log_to_console=False)
def work(i):
    return i

def first_call(_):
    started = time.perf_counter()
    work(0)
    return time.perf_counter() - started

if __name__ == "__main__":
    collector = mpmon.start_collector("logs", log_to_console=False, drop_policy="drop")
    for i in range(3000):
        work(i)
    mpmon.flush()
    os.killpg(collector.pid, signal.SIGSTOP)  # stalled: no handshake, no confirmation
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            seconds = pool.map(first_call, [0])[0]
    finally:
        os.killpg(collector.pid, signal.SIGCONT)
    print(json.dumps(seconds))
    mpmon.stop_collector(timeout=30)
"""


@pytest.mark.slow
def test_under_the_drop_policy_a_new_workers_first_call_does_not_wait(tmp_path: Path) -> None:
    """With the collector stopped (SIGSTOP), a new worker's first call returns at once, not after the
    handshake's 10 s limit."""
    done = run_program(tmp_path, DROP, timeout=120)
    assert json.loads(done.stdout.splitlines()[-1]) < 2.0


LATE_PEER = """
import json, sys, time
import multiprocessing as mp
import pandas as pd
import mpmon

@mpmon.Timer(log_to_console=False)
def work(i):
    return i

def trickle(stop):
    while not stop.is_set():  # a small batch every 10 ms: the collector's rounds are always gathering
        work(-1)
        mpmon.flush()
        time.sleep(0.01)

def late(i, told):
    work(i)  # this process connects only now; the flush sends its record at once
    mpmon.flush()
    told.send(True)

if __name__ == "__main__":
    context = mp.get_context("fork")
    mpmon.start_collector("logs", log_to_console=False)
    stop = context.Event()
    feeder = context.Process(target=trickle, args=(stop,))
    feeder.start()
    found = []
    for i in range(int(sys.argv[1])):
        here, there = context.Pipe()
        child = context.Process(target=late, args=(i, there))
        child.start()
        here.recv()
        confirmed = mpmon.flush(wait=True, timeout=30)
        rows = pd.read_csv("logs/timing_results.csv", usecols=["pid"])
        found.append([confirmed, int((rows["pid"] == child.pid).sum())])
        child.join()
    stop.set()
    feeder.join()
    mpmon.stop_collector()
    print(json.dumps(found))
"""


@pytest.mark.slow
def test_flush_wait_covers_a_process_that_connected_while_the_collector_gathered(tmp_path: Path) -> None:
    """A process connects, sends its record and tells the owner, whose flush(wait=True) then confirms: the
    record is in the CSV, even though the collector was waiting for more data from another process when
    that one connected (a FLUSH read in that wait once skipped the newly connected processes)."""
    done = run_program(tmp_path, LATE_PEER, 20, timeout=120)
    assert json.loads(done.stdout.splitlines()[-1]) == [[True, 1]] * 20

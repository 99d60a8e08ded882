"""A stop gathers every live sender: processes that outlive the stop (as loky's, Dask's or Ray's workers
do) have the records they buffered on disk when `stop_collector()` returns, counted as gathered in the
run summary, and none in spill files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import read_csv, run_program, spill_files, summaries

WORKERS = 3
CALLS = 25

PROGRAM = """
import json, subprocess, sys, time
import mpmon

WORKER = '''
import sys, time
import mpmon

@mpmon.Timer(log_to_console=False)
def work(i):
    return i

for i in range(int(sys.argv[1])):
    work(i)
print("ready", flush=True)
time.sleep(60)  # a long-lived worker: its records sit in its buffer until its flusher's next round
'''

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    command = [sys.executable, "-c", WORKER, sys.argv[1]]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(int(sys.argv[2]))]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    started = time.monotonic()
    mpmon.stop_collector(timeout=20)
    took = time.monotonic() - started
    for worker in workers:
        worker.kill()
        worker.wait()
    print(json.dumps({"stop_seconds": took}))
"""


@pytest.mark.slow
def test_stop_gathers_what_live_workers_buffer(tmp_path: Path) -> None:
    """Each worker made its calls and sleeps; the stop right after asks each to hand its buffer over
    (without it, the records would reach no collector and be spilled when the worker dies, or lost)."""
    done = run_program(tmp_path, PROGRAM, CALLS, WORKERS, timeout=120)
    found = json.loads(done.stdout.splitlines()[-1])
    log_dir = tmp_path / "logs"
    frame = read_csv(log_dir)
    assert len(frame) == WORKERS * CALLS
    assert frame["pid"].nunique() == WORKERS
    assert summaries(log_dir)[-1]["gathered"] >= 1
    assert not spill_files(log_dir)
    assert found["stop_seconds"] < 10

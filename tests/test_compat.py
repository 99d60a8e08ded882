"""Pool workers of every kind hand their records over with each result (compat's result-queue hook)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_program

HAND_OVER = """
import concurrent.futures, json, multiprocessing, sys
import multiprocess
import mpmon
from mpmon import compat, environment
from mpmon.state import sender

@mpmon.Timer(log_to_console=False)
def tick():
    pass

def task(_):
    tick()  # arms the worker: the hand-over is installed now
    queue = environment.pool_worker_args()[1]
    return [sender.eager, type(compat.result_queue_lock(queue)).__name__]

if __name__ == "__main__":
    found = {}
    mpmon.start_collector("logs", log_to_console=False)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        found["pool"] = pool.map(task, [0])[0]
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as ex:
        found["process_pool_executor"] = list(ex.map(task, [0]))[0]
    with multiprocess.get_context("fork").Pool(1) as pool:
        found["multiprocess_pool"] = pool.map(task, [0])[0]
    mpmon.stop_collector()
    print(json.dumps(found))
"""


@pytest.mark.slow
def test_pool_workers_hand_their_records_over_with_each_result(tmp_path: Path) -> None:
    """In every pool kind the result queue's write lock is replaced, so no worker falls back to a flush
    per call (eager)."""
    done = run_program(tmp_path, HAND_OVER)
    found = json.loads(done.stdout.splitlines()[-1])
    expected = [False, "FlushFirst"]
    assert found == {"pool": expected, "process_pool_executor": expected, "multiprocess_pool": expected}

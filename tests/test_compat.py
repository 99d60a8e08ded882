"""Every CPython private attribute mpmon relies on is in compat.py, and each hook is active on this Python.

If a Python upgrade removes one, these tests fail loudly instead of mpmon quietly getting slower (the
pool hand-over falling back to a flush per call, say).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing.util
import re
from pathlib import Path

import pytest
from helpers import ROOT, run_program

import mpmon
from mpmon import compat

PRIVATE = re.compile(r"\._wlock\b|\b_target\b|\b_args\b|_exit_function|_run_finalizers|_is_coroutine")


def test_private_attributes_are_used_only_in_compat() -> None:
    """No module but compat.py names one of the private attributes."""
    users = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "mpmon").rglob("*.py"))
        if path.name != "compat.py" and PRIVATE.search(path.read_text())
    ]
    assert users == []


def test_the_hooks_of_this_process_are_active() -> None:
    """multiprocessing's exit handler and finalizers are found; an async Timer is a coroutine function."""
    assert compat.exit_function(multiprocessing.util) is not None
    assert callable(getattr(multiprocessing.util, "_run_finalizers", None))

    @mpmon.Timer
    async def nap() -> None:
        pass

    assert asyncio.iscoroutinefunction(nap)


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
    expected = [False, "_FlushFirst"]
    assert found == {"pool": expected, "process_pool_executor": expected, "multiprocess_pool": expected}

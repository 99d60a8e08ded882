"""Every start method x every kind of pool: each call makes exactly one row, and every file parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import call_lines, read_results, run_program

CALLS = 2000

PROGRAM = """
import concurrent.futures, multiprocessing, sys
import multiprocess
import mpmon

@mpmon.Timer(log_to_console=False)
def square(x):
    return x * x

def loop(start, stop):
    for i in range(start, stop):
        square(i)

if __name__ == "__main__":
    method, kind, results_format, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    mpmon.start_collector("logs", results_format=results_format, log_to_console=False)
    ctx = multiprocessing.get_context(method)
    items = range(calls)
    if kind == "pool_close_join":
        pool = ctx.Pool(2)
        assert pool.map(square, items) == [i * i for i in items]
        pool.close()
        pool.join()
    elif kind == "with_pool":
        with ctx.Pool(2) as pool:  # __exit__ terminates the workers
            assert pool.map(square, items) == [i * i for i in items]
    elif kind == "maxtasksperchild":
        with ctx.Pool(2, maxtasksperchild=1) as pool:
            assert pool.map(square, items, chunksize=calls // 20) == [i * i for i in items]
    elif kind == "process_pool_executor":
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as executor:
            assert list(executor.map(square, items, chunksize=50)) == [i * i for i in items]
    elif kind == "multiprocess_pool":
        with multiprocess.get_context(method).Pool(2) as pool:
            assert pool.map(square, items) == [i * i for i in items]
    elif kind == "process":
        half = calls // 2
        workers = [ctx.Process(target=loop, args=(0, half)), ctx.Process(target=loop, args=(half, calls))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
            assert w.exitcode == 0
    mpmon.stop_collector()
"""

KINDS = [
    "pool_close_join",
    "with_pool",
    "maxtasksperchild",
    "process_pool_executor",
    "multiprocess_pool",
    "process",
]


@pytest.mark.slow
@pytest.mark.parametrize("results_format", ["csv", "parquet"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_call_makes_one_row(tmp_path: Path, start_method: str, kind: str, results_format: str) -> None:
    """Rows == calls, call_ids unique, timing.log call lines == rows, all files parse, all values sane."""
    run_program(tmp_path, PROGRAM, start_method, kind, results_format, str(CALLS))
    log_dir = tmp_path / "logs"
    rows = read_results(log_dir, results_format)
    lines = call_lines(log_dir)

    assert len(rows) == CALLS
    assert rows["call_id"].is_unique
    assert len(lines) == CALLS
    assert {line["uuid"] for line in lines} == set(rows["call_id"])
    assert sorted(int(json.loads(a)["args"][0]) for a in rows["args"]) == list(range(CALLS))
    assert rows["run_id"].nunique() == 1
    assert (rows["status"] == "ok").all()
    assert (rows["duration_s"] >= 0).all() and (rows["cpu_time_s"] >= 0).all()
    assert (rows["mem_final_mib"] > 0).all()
    assert "MainProcess" not in set(rows["process_name"])  # made in the workers, not the parent
    if kind == "maxtasksperchild":
        assert rows["pid"].nunique() >= 20  # one worker per chunk of tasks


DILL_PROGRAM = """
import sys
import multiprocess
import mpmon

def main(method):
    factor = 3

    @mpmon.Timer(log_to_console=False)
    def scaled(x):
        return x * factor

    ctx = multiprocess.get_context(method)
    with ctx.Pool(2) as pool:
        assert pool.map(scaled, range(100)) == [3 * x for x in range(100)]
    with ctx.Pool(2) as pool:
        assert pool.map(mpmon.Timer(lambda x: x + 1), range(100)) == list(range(1, 101))

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    main(sys.argv[1])
    mpmon.stop_collector()
"""


def test_multiprocess_pickles_nested_functions_by_value(tmp_path: Path, start_method: str) -> None:
    """A decorated closure or lambda, which only dill can send, is timed in multiprocess workers."""
    from helpers import read_csv

    run_program(tmp_path, DILL_PROGRAM, start_method)
    rows = read_csv(tmp_path / "logs")
    assert rows["function"].value_counts().to_dict() == {
        "main.<locals>.scaled": 100,
        "main.<locals>.<lambda>": 100,
    }
    assert "MainProcess" not in set(rows["process_name"])


HAND_OVER = """
import concurrent.futures, json, multiprocessing, sys
import multiprocess
import mpmon
from mpmon.state import sender

@mpmon.Timer(log_to_console=False)
def tick():
    pass

def task(n):
    for _ in range(n):
        tick()
    return len(sender.buffer)  # still buffered when the task ends: handed over with its result

if __name__ == "__main__":
    method, kind = sys.argv[1], sys.argv[2]
    mpmon.start_collector("logs", log_to_console=False)
    ctx = multiprocessing.get_context(method)
    if kind == "pool":
        with ctx.Pool(2) as pool:
            buffered = pool.map(task, [50] * 6, chunksize=1)
    elif kind == "process_pool_executor":
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as executor:
            buffered = list(executor.map(task, [50] * 6))
    else:
        with multiprocess.get_context(method).Pool(2) as pool:
            buffered = pool.map(task, [50] * 6, chunksize=1)
    mpmon.stop_collector()
    print(json.dumps(buffered))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pool", "process_pool_executor", "multiprocess_pool"])
def test_pool_workers_hand_their_records_over_with_each_result_not_after_each_call(
    tmp_path: Path, start_method: str, kind: str
) -> None:
    """Inside a task the records stay buffered (no send per call); the pool's owner gets a task's result
    only after its records were sent, so terminating the pool right after loses none."""
    run = run_program(tmp_path, HAND_OVER, start_method, kind)
    buffered = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(buffered) == 6 and min(buffered) > 1, buffered  # a flush per call would leave 0
    assert len(read_results(tmp_path / "logs", "csv")) == 300

"""Loud misuse, never harm: each way of calling mpmon that used to misplace records in silence now says
what happened and what to do in one stderr line (or raises where the user called mpmon directly), and
a decorated call never fails because of mpmon."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import log_events, read_csv, results, run_program, spill_files

POOL_FIRST = """
import multiprocessing as mp
import mpmon

@mpmon.Timer(log_to_console=False)
def work(x):
    return x

if __name__ == "__main__":
    with mp.get_context("fork").Pool(2) as pool:
        mpmon.start_collector("m1logs", log_to_console=False)
        pool.map(work, range(100))
    mpmon.stop_collector()
"""


def test_start_collector_after_the_pool_says_where_the_workers_records_went(tmp_path: Path) -> None:
    """The pool's workers cannot find a collector started after them: said, with the spill directory."""
    run = run_program(tmp_path, POOL_FIRST, timeout=90)
    assert "start_collector() ran after this process had started 2 child process(es)" in run.stderr
    assert f"spill files in {tmp_path / 'logs'}" in run.stderr
    assert "Call start_collector() before making pools" in run.stderr
    assert spill_files(tmp_path / "logs")


MANAGER_FIRST = """
import json, sys
import multiprocessing as mp
import mpmon

@mpmon.Timer(log_to_console=False)
def work(x, shared):
    shared[x] = x
    return x

if __name__ == "__main__":
    manager = mp.Manager()  # its server process runs none of the user's code
    pool = mp.get_context("fork").Pool(2) if sys.argv[1] == "pool-first" else None
    mpmon.start_collector("logs", log_to_console=False)
    shared = manager.dict()
    with mp.Pool(2) as mine:
        mine.starmap(work, [(i, shared) for i in range(100)])
    if pool is not None:
        pool.close()
        pool.join()
    print(json.dumps({"shared": len(shared)}))
    manager.shutdown()
    mpmon.stop_collector()
"""


@pytest.mark.parametrize("first", ["manager", "pool-first"])
def test_a_manager_started_before_the_collector_is_not_a_child_that_misses_it(
    tmp_path: Path, first: str
) -> None:
    """A `multiprocessing.Manager()` made first starts a server process, which makes no records: no line
    about child processes for it, while a pool made first is still said (2 workers, the manager not
    counted), without the false "not to <log dir>" when they spill into the run's own directory; every
    call is a row."""
    run = run_program(tmp_path, MANAGER_FIRST, first, timeout=90)
    assert run.result() == {"shared": 100}
    said = [line for line in run.stderr.splitlines() if "child process(es)" in line]
    if first == "manager":
        assert said == [], run.stderr
    else:  # spilled into ./logs, the run's own directory, where the collector takes them in: not lost
        assert len(said) == 1 and "had started 2 child process(es)" in said[0], run.stderr
        assert f"spill files in {tmp_path / 'logs'}, which it takes in" in said[0] and "not to" not in said[0]
    assert len(results(tmp_path / "logs")) == 100


CALL_BEFORE_START = """
import mpmon

@mpmon.Timer
def warm(x):
    return x

warm(1)  # starts a collector with the defaults (./logs, console on)
if __name__ == "__main__":
    mpmon.start_collector("mine", log_to_console=False, tag="asked")
    warm(2)
    with mpmon.Timer("load"):  # codetiming's habit: the text names the row
        pass
    mpmon.start_collector("mine", log_to_console=False, tag="asked")  # the same settings: silent
    mpmon.start_collector("other", tag="else")
    mpmon.stop_collector()
"""


def test_start_collector_after_a_monitored_call_switches_to_what_it_asked(tmp_path: Path) -> None:
    """The collector a monitored call started with the defaults gives way to the one asked for (said);
    a later start_collector() with other settings is ignored, and says so; Timer("load") names its row
    and prints nothing when the run asked for no console."""
    run = run_program(tmp_path, CALL_BEFORE_START, timeout=90)
    switched = [
        line for line in run.stderr.splitlines() if "had started a collector with the defaults" in line
    ]
    assert (
        len(switched) == 1 and str(tmp_path / "logs") in switched[0] and str(tmp_path / "mine") in switched[0]
    )
    assert "start_collector() ignored (log_dir=" in run.stderr and "tag='else'" in run.stderr
    assert "warm finished" in run.stderr  # warm(1), under the defaults
    assert "load finished" not in run.stderr and run.stderr.count("warm finished") == 1
    rows = read_csv(tmp_path / "mine")
    assert sorted(rows["function"]) == ["load", "warm"]
    assert list(read_csv(tmp_path / "logs")["function"]) == ["warm"]
    (start,) = log_events(tmp_path / "mine", "run_start")
    assert start["tag"] == "asked"


NO_LOG_DIR = """
import mpmon

@mpmon.Timer(log_to_console=False)
def work(x):
    return x * 2

print("result", sum(work(i) for i in range(3000)))
"""


def test_a_decorated_call_runs_when_logs_is_a_file(tmp_path: Path) -> None:
    """No start_collector() and ./logs a file: the calls run, the program ends normally, one line says
    why no collector runs, and the records lost are counted."""
    (tmp_path / "logs").write_text("not a directory")
    run = run_program(tmp_path, NO_LOG_DIR, timeout=60)
    assert "result 8997000" in run.stdout
    assert "Traceback" not in run.stderr
    assert run.stderr.count("no collector could be started") == 1
    assert "mpmon.start_collector(log_dir=...)" in run.stderr
    assert "3000 records lost in all" in run.stderr


OUTSIDE_THE_GUARD = """
import multiprocessing as mp
import sys
import mpmon

mpmon.start_collector("logs", log_to_console=False)  # outside `if __name__ == "__main__":`

@mpmon.Timer(log_to_console=False)
def work(x):
    return x

if __name__ == "__main__":
    with mp.get_context(sys.argv[1]).Pool(2) as pool:
        pool.map(work, range(10))
    mpmon.stop_collector()
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_children_that_rerun_the_main_module_join_the_run(tmp_path: Path, method: str) -> None:
    """A start_collector() that a spawned child (or the forkserver) runs again while it imports the main
    module joins the parent's run instead of starting a collector of its own."""
    run = run_program(tmp_path, OUTSIDE_THE_GUARD, method, timeout=90)
    rows = results(tmp_path / "logs")
    assert len(rows) == 10 and rows["run_id"].nunique() == 1, rows["run_id"].value_counts()
    assert len(log_events(tmp_path / "logs", "run_start")) == 1
    assert "Traceback" not in run.stderr


LIBRARY_CHATTER = """
import asyncio, json, logging
import mpmon

mpmon.start_collector("logs")
logging.getLogger("asyncio").info("library chatter")
logging.getLogger("json").setLevel(logging.INFO)
logging.getLogger("json").info("library line asked for")
logging.getLogger("app").info("app line")
logging.info("root line")
logging.getLogger("asyncio").warning("library warning")
mpmon.stop_collector()
"""


def test_capture_leaves_library_loggers_at_their_level(tmp_path: Path) -> None:
    """The root raised to INFO makes the user's INFO lines appear, not a library's whose level nobody
    set (neither on stderr nor in timing.log); a library level the user set is honoured."""
    run = run_program(tmp_path, LIBRARY_CHATTER, timeout=60)
    logged = [entry["message"] for entry in log_events(tmp_path / "logs", "log")]
    assert logged == ["library line asked for", "app line", "root line", "library warning"]
    assert "library chatter" not in run.stderr
    for message in logged:
        assert message in run.stderr

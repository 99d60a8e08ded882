"""joblib's loky (default) and multiprocessing backends: a decorated function, defined in the script's
`__main__` or imported from a module, works wherever its undecorated twin does, and once `Parallel(...)`
returns its calls are handed over: on disk after `flush(wait=True)`, and at `stop_collector()`, with no
spill file left for a later run.

Each program runs the undecorated twin first in the same process, so a failure of joblib itself is not
counted against mpmon.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import clean_env, read_csv, run_program, spill_files, summaries

pytest.importorskip("joblib")

CALLS = 40

JOBTASKS = """
    import mpmon

    def plain_imported(x):
        return x * 3

    @mpmon.Timer(log_to_console=False)
    def work_imported(x):
        return x * 3
"""

PROGRAM = """
import json, sys
import mpmon
from joblib import Parallel, delayed
from jobtasks import plain_imported, work_imported

def plain(x):
    return x * 2

@mpmon.Timer(log_to_console=False)
def work(x):
    return x * 2

def run(function, backend, calls):
    return Parallel(n_jobs=2, backend=backend)(delayed(function)(i) for i in range(calls))

def rows():
    import pandas as pd
    try:
        return len(pd.read_csv("logs/timing_results.csv"))
    except FileNotFoundError:
        return 0

if __name__ == "__main__":
    calls, found = int(sys.argv[1]), {}
    mpmon.start_collector("logs", log_to_console=False)
    phases = (("main", plain, work, 2), ("imported", plain_imported, work_imported, 3))
    for backend in ("loky", "multiprocessing"):
        for name, twin, decorated, factor in phases:
            assert run(twin, backend, calls) == [i * factor for i in range(calls)]  # joblib itself works
            before = rows()
            try:
                ok = run(decorated, backend, calls) == [i * factor for i in range(calls)]
            except Exception as exc:
                ok = repr(exc)[:300]
            confirmed = mpmon.flush(wait=True, timeout=30)
            found[f"{backend} {name}"] = [ok, confirmed, rows() - before]
    mpmon.stop_collector()
    found["stopped"] = rows()
    print(json.dumps(found))
"""


@pytest.mark.slow
def test_parallel_hands_over_rows_of_main_and_imported_functions(tmp_path: Path) -> None:
    """loky and multiprocessing backends: `f` in `__main__` pickles by value under loky (not
    BrokenProcessPool); each phase's rows are on disk once Parallel returned and `flush(wait=True)`
    confirmed; `f` imported lands in the CSV before the stop returns (not in spill files)."""
    (tmp_path / "jobtasks.py").write_text(JOBTASKS.replace("\n    ", "\n"))
    done = run_program(tmp_path, PROGRAM, CALLS, timeout=120)
    found = json.loads(done.stdout.splitlines()[-1])
    log_dir = tmp_path / "logs"
    for backend in ("loky", "multiprocessing"):
        assert found[f"{backend} main"] == [True, True, CALLS], found
        assert found[f"{backend} imported"] == [True, True, CALLS], found
    assert found["stopped"] == 4 * CALLS
    frame = read_csv(log_dir)
    assert frame["call_id"].is_unique
    assert sorted(frame["function"].unique()) == ["work", "work_imported"]
    assert not spill_files(log_dir)
    assert summaries(log_dir)[-1]["records_by_source"]["timer"] == 4 * CALLS


STDIN_PROGRAM = """
import json
import mpmon
from joblib import Parallel, delayed

def plain(x):
    return -x

@mpmon.Timer(log_to_console=False)
def work(x):
    return -x

mpmon.start_collector("logs", log_to_console=False)
assert Parallel(n_jobs=2)(delayed(plain)(i) for i in range(8)) == [-i for i in range(8)]
out = Parallel(n_jobs=2)(delayed(work)(i) for i in range(8))
mpmon.stop_collector()
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["-c", "stdin"])
def test_function_defined_in_python_c_or_stdin_runs_under_loky(tmp_path: Path, how: str) -> None:
    """A function of `python -c` or of a program read from stdin has no module a worker could import:
    cloudpickle sends it by value, and the decorated one goes the same way."""
    args, source = (["-c", STDIN_PROGRAM], None) if how == "-c" else (["-"], STDIN_PROGRAM)
    done = subprocess.run(
        [sys.executable, *args], input=source, cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [-i for i in range(8)]
    assert len(read_csv(tmp_path / "logs")) == 8


NO_COLLECTOR = """
import sys
from joblib import Parallel, delayed
from jobtasks import work_imported

if __name__ == "__main__":
    assert Parallel(n_jobs=2)(delayed(work_imported)(i) for i in range(20)) == [i * 3 for i in range(20)]
"""


@pytest.mark.slow
def test_loky_worker_without_collector_says_where_its_records_went(tmp_path: Path) -> None:
    """No collector was started: each loky worker says once on stderr where its records go and why, and
    starts no collector of its own (no stray run in its working directory)."""
    (tmp_path / "jobtasks.py").write_text(JOBTASKS.replace("\n    ", "\n"))
    done = run_program(tmp_path, NO_COLLECTOR, timeout=120)
    said = [line for line in done.stderr.splitlines() if "found no mpmon collector" in line]
    assert 1 <= len(said) <= 2, done.stderr
    assert len({line.split("(pid ")[1].split(")")[0] for line in said}) == len(said)  # once per worker
    assert "loky worker" in said[0] and "spill files" in said[0]
    assert not (tmp_path / "logs" / "timing.log").exists()


REUSED = """
import json, sys
import mpmon
from joblib import Parallel, delayed
from jobtasks import plain_imported, work_imported

if __name__ == "__main__":
    calls = int(sys.argv[1])
    assert Parallel(n_jobs=2)(delayed(plain_imported)(i) for i in range(4)) == [0, 3, 6, 9]  # before any run
    for name in ("first", "second"):
        mpmon.start_collector(name, log_to_console=False)
        results = Parallel(n_jobs=2)(delayed(work_imported)(i) for i in range(calls))
        assert results == [i * 3 for i in range(calls)]
        mpmon.stop_collector()
"""


@pytest.mark.slow
def test_loky_workers_kept_from_before_a_run_join_each_run(tmp_path: Path) -> None:
    """loky keeps its workers across `Parallel` calls, with the environment they started with: workers
    made before a run (or during the previous one) are replaced, so each run has every row."""
    (tmp_path / "jobtasks.py").write_text(JOBTASKS.replace("\n    ", "\n"))
    done = run_program(tmp_path, REUSED, CALLS, timeout=120)
    assert "found no mpmon collector" not in done.stderr
    for name in ("first", "second"):
        assert len(read_csv(tmp_path / name)) == CALLS
        assert not spill_files(tmp_path / name)
    assert not (tmp_path / "logs").exists()

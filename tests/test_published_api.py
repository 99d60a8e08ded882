"""Code written for the published "monitoring" package (pymaap) runs unchanged on mpmon (issue 12, item 2).

The program below uses the published versions' parameters as their own test suite does:
`use_multiprocessing` on Timer, `results_format` on ErrorCatcher, and the `duration` key of
`get_metrics_end()`. It imports `monitoring`, an alias of mpmon. The results table is mpmon's (its
columns are those of `mpmon.schema`, not the published package's), so the files are read here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from helpers import log_family, read_csv, run_program

import mpmon
from mpmon import schema

ALIAS = "import sys\nimport mpmon\nsys.modules[__name__] = mpmon\n"

PUBLISHED = """
import multiprocessing
import time
from monitoring import Timer, ErrorCatcher, get_metrics_start, get_metrics_end

@Timer(log_to_console=False, log_to_file=True, results_format="csv", use_multiprocessing=False)
def slow_csv(x): time.sleep(x)

@Timer(log_to_console=False, log_to_file=True, results_format="csv", use_multiprocessing=True)
def slow_csv_mp(x): time.sleep(x)

@ErrorCatcher(log_to_console=False, log_to_file=True, results_format="csv")
def faulty(): return 1 / 0

if __name__ == "__main__":
    slow_csv(0.1)
    with multiprocessing.Pool(2) as pool:
        pool.map(slow_csv_mp, [0.1, 0.1])
    try:
        faulty()
    except ZeroDivisionError:
        print("caught")
    start = get_metrics_start("manual_test")
    time.sleep(0.3)
    end = get_metrics_end(start, "manual_test")
    assert end["duration"] >= 0.3, end
    print("duration", end["duration"], end["func"])
"""


def test_published_program_runs_unchanged(tmp_path: Path) -> None:
    """Rows of every call, the error in error.log, `duration` in seconds; one DeprecationWarning."""
    (tmp_path / "monitoring.py").write_text(ALIAS)
    done = run_program(tmp_path, PUBLISHED, env={"PYTHONWARNINGS": "always::DeprecationWarning"})
    assert done.stdout.splitlines()[0] == "caught"
    assert done.stdout.splitlines()[1].endswith(" manual_test")
    assert done.stderr.count("use_multiprocessing is ignored: mpmon is always multiprocess-safe") == 1
    rows = read_csv(tmp_path / "logs")
    assert sorted(rows["function"]) == ["manual_test", "slow_csv", "slow_csv_mp", "slow_csv_mp"]
    (entry,) = log_family(tmp_path / "logs", "error.log")
    assert entry["function"] == "faulty" and entry["error_type"] == "ZeroDivisionError"
    errors = pd.read_csv(tmp_path / "logs" / schema.ERROR_RESULTS_CSV, keep_default_na=False)
    assert list(errors["function"]) == ["faulty"] and list(errors["call_id"]) == [entry["uuid"]]


class TestPublishedParameters:
    def test_metrics_end_has_both_sets_of_keys(self, tmp_path: Path) -> None:
        """mpmon's keys and the published package's, with the same figures."""
        with mpmon.collector(tmp_path / "logs", log_to_console=False):
            end = mpmon.get_metrics_end(mpmon.get_metrics_start("block"))
        assert end["func"] == end["function"] == "block"
        assert end["duration"] == end["duration_s"] and end["perf_end"] > 0 and end["wall_end"] > 1e9
        assert end["rss_end"] == round(end["mem_final_mib"] * 2**20)

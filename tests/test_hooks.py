"""get_metrics_start / get_metrics_end in pool workers: one row per pair, named after the caller."""

from __future__ import annotations

from pathlib import Path

from helpers import read_csv, run_program

PROGRAM = """
import multiprocessing, sys, time
import mpmon

def crunch(n):
    start = mpmon.get_metrics_start()
    if n % 2:
        mpmon.get_metrics_end(start)
        return n  # early exit, as in the original README
    total = sum(range(1000))
    figures = mpmon.get_metrics_end(metrics_start=start, func_name="crunch_even")
    assert figures["duration_s"] >= 0
    return total

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    with multiprocessing.get_context(sys.argv[1]).Pool(2) as pool:
        pool.map(crunch, range(200))
    mpmon.stop_collector()
"""


def test_hooks_make_one_row_each(tmp_path: Path, start_method: str) -> None:
    """200 pairs give 200 hook rows: the caller's name by default, func_name when given."""
    run_program(tmp_path, PROGRAM, start_method)
    rows = read_csv(tmp_path / "logs")
    assert len(rows) == 200
    assert set(rows["source"]) == {"hook"}
    assert rows["function"].value_counts().to_dict() == {"crunch": 100, "crunch_even": 100}
    assert set(rows["module"]) == {"__main__"}  # spawn's "__mp_main__" is the same script
    assert (rows["duration_s"] >= 0).all() and (rows["mem_final_mib"] > 0).all()
    assert rows["call_id"].is_unique

"""A results file of long arguments, written by a real collector, reads back with the standard csv module."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from helpers import read_csv, run_program

from mpmon.render import MAX_ARGS_FIELD

PROGRAM = """
import mpmon

@mpmon.Timer(log_to_console=False)
def work(*args, **kwargs):
    return len(args)

if __name__ == "__main__":
    mpmon.start_collector("logs")
    texts = ["é€\U0001f600" * 1000 + str(i) for i in range(64)]
    work(*texts[:32], **{f"k{i}": text for i, text in enumerate(texts[32:])})
    work({n: n for n in range(3_000_000, 0, -1)}, {float(n) for n in range(1_000_000)})
    mpmon.stop_collector()
"""


def test_standard_csv_reader_reads_a_results_file_of_long_arguments(tmp_path: Path) -> None:
    """The csv module with its default field limit (131,072) reads every row; the fields are capped.

    64 arguments of 3,000 non-ASCII characters: 254,671 characters in the CSV before the cap."""
    run_program(tmp_path, PROGRAM)
    with open(tmp_path / "logs" / "timing_results.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2
    assert all(len(row["args"]) <= MAX_ARGS_FIELD for row in rows)
    first = json.loads(rows[0]["args"])
    assert len(first["args"]) == 32 and len(first["kwargs"]) == 32
    second = json.loads(rows[1]["args"])["args"]
    assert second[0].startswith("{3000000: 3000000, 2999999: 2999999,") and second[0].endswith("...}")
    assert len(read_csv(tmp_path / "logs")) == 2

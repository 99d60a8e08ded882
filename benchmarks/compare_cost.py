"""What ``mpmon-analyze compare`` costs beyond reading the logs: wall seconds and peak RSS, side by side.

Two synthetic runs of ``rows`` calls each (50 functions, nested calls, about 1 % errors; the generator of
:mod:`benchmarks.bench_analysis`) in one Parquet dataset. Each repetition runs, in fresh interpreters
measured by the same wrapper (``RUSAGE_CHILDREN``): the baseline, the analysis loader reading the
columns compare reads (``load.read_log_dir(dir, compare.COLUMNS)``), then ``mpmon-analyze compare A B
--no-report -q``. Printed: the median of each over the repetitions and their ratio.

    python -m benchmarks.compare_cost [--rows 500000] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.bench_analysis import _WRAPPER, synthetic_table
from mpmon import schema

RUN_IDS = ("20261125T180000Z-cmpaaa", "20261125T190000Z-cmpbbb")
_HOUR_US = 3_600_000_000
_T0_US = 1_795_629_600_000_000
_LOADER = (
    "import sys; from mpmon.analysis import compare, load; load.read_log_dir(sys.argv[1], compare.COLUMNS)"
)


def write_runs(log_dir: Path, rows: int) -> None:
    """Two runs an hour apart, run B's durations 10 % longer, as a Parquet dataset."""
    parts = log_dir / schema.RESULTS_PARQUET
    parts.mkdir(parents=True)
    for number, run_id in enumerate(RUN_IDS):
        table = synthetic_table(rows, seed=number, first_id=number * rows, t0_us=_T0_US + number * _HOUR_US)
        table = table.set_column(table.schema.get_field_index("run_id"), "run_id", pa.repeat(run_id, rows))
        index = table.schema.get_field_index("duration_s")
        table = table.set_column(index, "duration_s", pc.multiply(table["duration_s"], 1.0 + 0.1 * number))
        pq.write_table(table, parts / f"part-{number}.parquet", row_group_size=65_536)


def measure(command: list[str]) -> dict[str, Any]:
    """Wall seconds and peak RSS (MB) of ``command`` in a fresh wrapper process."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    if result["returncode"] not in (0, 1):
        raise RuntimeError(result["stderr"])
    return result


def main(argv: list[str] | None = None) -> None:
    """Write the runs, measure both commands ``--repetitions`` times, print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="calls per run (default 500,000)")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mpmon-bench-compare-") as tmp:
        log_dir = Path(tmp) / "logs"
        write_runs(log_dir, args.rows)
        loader = [sys.executable, "-c", _LOADER, str(log_dir)]
        compare = [sys.executable, "-m", "mpmon.analysis", "compare", *RUN_IDS, "--logdir", str(log_dir)]
        compare += ["--no-report", "-q"]
        results: dict[str, list[dict[str, Any]]] = {"loader": [], "compare": []}
        for _ in range(args.repetitions):
            results["loader"].append(measure(loader))
            results["compare"].append(measure(compare))
    print(f"2 runs x {args.rows:,} calls, Parquet; medians of {args.repetitions} repetitions")
    print(f"{'':28}{'wall s':>10}{'peak RSS MiB':>15}")
    medians = {}
    for name, label in (("loader", "baseline: loader alone"), ("compare", "mpmon-analyze compare")):
        wall = statistics.median(r["wall_s"] for r in results[name])
        rss = statistics.median(r["peak_rss_mb"] for r in results[name])
        medians[name] = (wall, rss)
        print(f"{label:28}{wall:10.2f}{rss:15.0f}")
    (wall_l, rss_l), (wall_c, rss_c) = medians["loader"], medians["compare"]
    print(f"{'ratio compare / baseline':28}{wall_c / wall_l:10.2f}{rss_c / rss_l:15.2f}")


if __name__ == "__main__":
    main()

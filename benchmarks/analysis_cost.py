"""Section 5: ``mpmon-analyze`` on 1,000,000 and 10,000,000 rows, CSV and Parquet: wall seconds and peak RSS.

The measurement itself belongs to ``benchmarks/bench_analysis.py``; this module calls its
``run(rows, repetitions, data)``, imported lazily, and turns the dict it returns
(``{"csv": {"wall_s", "peak_rss_mb", ...}, "parquet": {...}}``) into rows. The 10M-row log directories
(about 4 GB of CSV, minutes to write) are kept in :data:`DATA_DIR` and reused by later runs; ``--quick``
measures 100,000 rows only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.core import Row, Settings, at_most, unavailable

SECTION = "5 analysis"
FORMATS = ("csv", "parquet")
TARGETS = {  # issue 21 (the 10M wall target is 20 s for CSV and 10 s for Parquet: the looser one here)
    1_000_000: {"s": ("< 4 s", 4.0), "MiB": ("< 1 GiB", 1024.0)},
    10_000_000: {"s": ("< 20 s", 20.0), "MiB": ("< 1 GB", 1000.0)},
}
REPS = {1_000_000: 3, 10_000_000: 1}  # a 10M run is about a minute per format; one keeps the section short
DATA_DIR = Path(os.environ.get("MPMON_BENCH_DATA", Path(tempfile.gettempdir()) / "mpmon-bench-analysis"))


def format_rows(result: Mapping[str, Any], fmt: str, rows: int, reps: int) -> list[Row]:
    """Wall seconds and peak RSS for one format (run() reports the best wall and the worst RSS of reps)."""
    entry = result.get(fmt) or {}
    figures = (
        ("wall", "s", entry.get("wall_s"), f"best of {reps} runs"),
        ("peak RSS", "MiB", entry.get("peak_rss_mb"), f"largest of {reps} runs (ru_maxrss of the process)"),
    )
    targets = TARGETS.get(rows, TARGETS[1_000_000])
    out = []
    for what, unit, value, how in figures:
        target, limit = targets[unit]
        note = how if value is not None else f"not in bench_analysis.run()'s result: {dict(entry) or result}"
        measure = f"mpmon-analyze, {rows:,} rows, {fmt.upper()}: {what}"
        out.append(Row(SECTION, measure, value, unit, target=target, passed=at_most(value, limit), note=note))
    return out


def run(settings: Settings) -> list[Row]:
    """Call bench_analysis.run() per size (it repeats internally) and report both formats."""
    sizes = [100_000] if settings.quick else [1_000_000, 10_000_000]
    try:
        from benchmarks import bench_analysis
    except ModuleNotFoundError as exc:
        reason = f"benchmarks/bench_analysis.py: {exc}"
        return [
            unavailable(SECTION, f"mpmon-analyze, {rows:,} rows, {fmt.upper()}", "s", reason)
            for rows in sizes
            for fmt in FORMATS
        ]
    out = []
    for rows in sizes:
        reps = 1 if settings.quick else REPS[rows]
        result = bench_analysis.run(rows=rows, repetitions=reps, data=DATA_DIR)
        out += [row for fmt in FORMATS for row in format_rows(result, fmt, rows, reps)]
    return out

"""Section 5: ``mpmon-analyze`` on 1,000,000 rows, CSV and Parquet: wall seconds and peak RSS.

The measurement itself belongs to ``benchmarks/bench_analysis.py`` (written with mpmon.analysis); this
module only calls its ``run(rows, repetitions)``, imported lazily, and turns the dict it returns
(``{"csv": {"wall_s", "peak_rss_mb", ...}, "parquet": {...}}``) into rows. Until that module exists the
rows say "not available".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.core import Row, Settings, at_most, unavailable

SECTION = "5 analysis"
FORMATS = ("csv", "parquet")
TARGETS = {"s": ("< 15 s", 15.0), "MiB": ("< 2 GiB", 2048.0)}
ANALYSIS_REPS = 3  # each is a full mpmon-analyze on 1,000,000 rows; 3 keeps the full run near 10 minutes


def format_rows(result: Mapping[str, Any], fmt: str, rows: int, reps: int) -> list[Row]:
    """Wall seconds and peak RSS for one format (run() reports the best wall and the worst RSS of reps)."""
    entry = result.get(fmt) or {}
    figures = (
        ("wall", "s", entry.get("wall_s"), f"best of {reps} runs"),
        ("peak RSS", "MiB", entry.get("peak_rss_mb"), f"largest of {reps} runs (ru_maxrss of the process)"),
    )
    out = []
    for what, unit, value, how in figures:
        target, limit = TARGETS[unit]
        note = how if value is not None else f"not in bench_analysis.run()'s result: {dict(entry) or result}"
        measure = f"mpmon-analyze, {rows:,} rows, {fmt.upper()}: {what}"
        out.append(Row(SECTION, measure, value, unit, target=target, passed=at_most(value, limit), note=note))
    return out


def run(settings: Settings) -> list[Row]:
    """Call bench_analysis.run() once (it repeats internally) and report both formats."""
    rows, reps = settings.size(1_000_000, 100_000), ANALYSIS_REPS if not settings.quick else 1
    try:
        from benchmarks import bench_analysis
    except ModuleNotFoundError as exc:
        reason = f"benchmarks/bench_analysis.py: {exc}"
        return [
            unavailable(SECTION, f"mpmon-analyze, {rows:,} rows, {fmt.upper()}", "s", reason)
            for fmt in FORMATS
        ]
    result = bench_analysis.run(rows=rows, repetitions=reps)
    return [row for fmt in FORMATS for row in format_rows(result, fmt, rows, reps)]

"""Read back what a run wrote, to check that every record reached the disk (a benchmark must prove it).

Counts lines instead of parsing where it can, so checking gigabytes of logs takes seconds. File names come
from ``mpmon.schema`` (imported here, lazily, only when mpmon's rows run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.core import count_lines, rotated

CALL_LINE = rb'"event": ?"call"'


def results_rows(log_dir: Path, results_format: str = "csv") -> int:
    """Rows in the results table: CSV lines less the header, or the Parquet dataset's row count."""
    from mpmon import schema

    if results_format == "parquet":
        import pyarrow.dataset as ds

        path = log_dir / schema.RESULTS_PARQUET
        return ds.dataset(path, format="parquet").count_rows() if path.exists() else 0
    path = log_dir / schema.RESULTS_CSV
    return max(count_lines([path]) - 1, 0) if path.exists() else 0


def timing_log_calls(log_dir: Path) -> int:
    """Call lines in timing.log and its backups (run_start and run_summary lines are not calls)."""
    from mpmon import schema

    return count_lines(rotated(log_dir, schema.TIMING_LOG), CALL_LINE)


def error_log_entries(log_dir: Path) -> int:
    """JSON lines in error.log and its backups (one per logged error)."""
    from mpmon import schema

    return count_lines(rotated(log_dir, schema.ERROR_LOG))


def run_summary(log_dir: Path) -> dict[str, Any] | None:
    """The collector's run_summary line (drops, spills, counts), or None if it wrote none."""
    from mpmon import schema

    for path in rotated(log_dir, schema.TIMING_LOG):
        with path.open("rb") as stream:
            for line in stream:
                if schema.RUN_SUMMARY_EVENT.encode() in line:
                    summary: dict[str, Any] = json.loads(line)
                    return summary
    return None

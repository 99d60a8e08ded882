"""Write a run's outputs into one folder: figures, small tables, summary.json and report.html.

The folder is ``<out>/<tag>_<YYYYmmdd-HHMMSS>/``. Each figure is rendered once to PNG bytes, written as a
file and embedded (base64) in ``report.html`` (:mod:`.page`), which therefore opens from disk with no
network. The run's raw logs are not copied (a long run's would be hundreds of MB): the selected rows are
written as Parquet only when asked (``export_rows``), so the folder stays small.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.parquet as pq

from mpmon import schema
from mpmon.analysis import figures, page, rows_export, scanned
from mpmon.analysis.error_groups import error_groups
from mpmon.analysis.load import Run
from mpmon.analysis.stats import Summary

__all__ = [
    "AGGREGATE_CSV",
    "ERRORS_CSV",
    "FIGURE_TITLES",
    "PROCESSES_CSV",
    "REPORT_HTML",
    "ROWS_PARQUET",
    "SLOWEST_CALLS",
    "SLOWEST_CSV",
    "SUMMARY_JSON",
    "Report",
    "collector_span_s",
    "export_rows",
    "output_folder",
    "render_figures",
    "summary_dict",
    "write_report",
]

AGGREGATE_CSV = "aggregate.csv"
PROCESSES_CSV = "processes.csv"
ERRORS_CSV = "errors.csv"
SLOWEST_CSV = "slowest_calls.csv"
ROWS_PARQUET = "rows.parquet"
SUMMARY_JSON = "summary.json"
REPORT_HTML = "report.html"
SUMMARY_FORMAT = "mpmon-analysis-summary/2"
SLOWEST_CALLS = 20
FIGURE_TITLES = page.FIGURE_TITLES

Progress = Callable[[str], None]
"""Told the name of each step as it starts (the command line's progress bar)."""


@dataclass(frozen=True)
class Report:
    """What was written: the folder, each figure's PNG path, and every file in write order."""

    folder: Path
    figures: dict[str, Path]
    files: list[Path]
    summary: dict[str, Any]


def output_folder(out: Path, tag: str, now: datetime | None = None) -> Path:
    """A new folder name ``<out>/<tag>_<YYYYmmdd-HHMMSS>`` (UTC), with ``-2``, ``-3``... if it exists."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", tag).strip("-.") or "run"
    stem = f"{safe}_{(now or datetime.now(timezone.utc)):%Y%m%d-%H%M%S}"
    folder, n = out / stem, 1
    while folder.exists():
        n += 1
        folder = out / f"{stem}-{n}"
    return folder


def write_report(
    run: Run,
    folder: Path,
    *,
    subtitle: str = "",
    summary: Summary | None = None,
    export: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Write every output of ``run`` into ``folder`` (created; it must not exist yet); with ``export``
    also the run's rows as ``rows.parquet``. ``progress`` is told each step's name as it starts."""
    step = progress or (lambda _name: None)
    summary = summary if summary is not None else scanned.summarize_run(run, background=True)
    folder.mkdir(parents=True)
    pngs = render_figures(run, summary, subtitle, step)
    step("tables")
    figures_ = {name: _write(folder / f"{name}.png", png) for name, png in pngs.items()}
    groups = error_groups(run.errors, run.error_lines)
    slowest = scanned.slowest_calls(run, summary, SLOWEST_CALLS)
    files = list(figures_.values())
    files.append(_write_csv(summary.functions, folder / AGGREGATE_CSV))
    files.append(_write_csv(summary.processes, folder / PROCESSES_CSV))
    files.append(_write_csv(groups.set_index("error_type"), folder / ERRORS_CSV))
    files.append(_write_csv(slowest, folder / SLOWEST_CSV))
    if export:
        step("rows")
        files.append(rows_export.write_rows(run, folder / ROWS_PARQUET))  # a batch at a time
    data = summary_dict(run, summary, [f.name for f in files] + [SUMMARY_JSON, REPORT_HTML])
    files.append(_write(folder / SUMMARY_JSON, json.dumps(data, indent=2, allow_nan=False).encode()))
    step("report.html")
    text = page.render(page.Page(run, summary, data, pngs, subtitle, groups, slowest))
    files.append(_write(folder / REPORT_HTML, text.encode()))
    return Report(folder, figures_, files, data)


def render_figures(
    run: Run, summary: Summary, subtitle: str = "", progress: Progress | None = None
) -> dict[str, bytes]:
    """Every figure of :data:`figures.FIGURES` as PNG bytes, in report order (drawn in another: those
    of :data:`figures.FROM_SUMMARY` first, while the figure data may still be on its way)."""
    pngs = {}
    order = [*figures.FROM_SUMMARY, *(n for n in figures.FIGURES if n not in figures.FROM_SUMMARY)]
    for name in order:
        plot = figures.FIGURES[name]
        if progress is not None:
            progress(f"figure {name}")
        extra = {"errors": run.errors} if name == "errors_over_time" else {}
        figure = plot(run.calls, subtitle=subtitle, summary=summary, **extra)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=figures.DPI, metadata={"Software": "mpmon-analyze"})
        pngs[name] = buffer.getvalue()
    return {name: pngs[name] for name in figures.FIGURES}


def _write(path: Path, data: bytes) -> Path:
    """Write bytes to ``path`` and return it."""
    path.write_bytes(data)
    return path


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    """A small aggregate table as CSV (index included, floats at full precision)."""
    table.to_csv(path)
    return path


def export_rows(calls: pd.DataFrame, path: Path) -> Path:
    """The run's call rows as one Parquet file with the collector's Arrow types (``--export-rows``): the
    schema's columns that were loaded, in the schema's order (categorical text written as plain text)."""
    fields = [f for f in schema.arrow_schema() if f.name in calls.columns]
    table = pa.Table.from_pandas(calls[[f.name for f in fields]], preserve_index=False)
    pq.write_table(table.cast(pa.schema(fields)), path, compression="zstd")
    return path


# --- summary.json --------------------------------------------------------------------------------------


def summary_dict(run: Run, summary: Summary, files: list[str] | None = None) -> dict[str, Any]:
    """The machine-readable summary of a run (JSON-ready: NaN and infinities become null)."""
    errors = run.errors
    data = {
        "format": SUMMARY_FORMAT,
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "log_dir": str(run.log_dir.resolve()),
        "selection": {"run_ids": list(run.run_ids), "tag": run.tag, "how": run.selection},
        "run": summary.run,
        "collector_span_s": collector_span_s(run.events),
        "errors": {
            "total": len(errors),
            "from_error_log_only": int((errors["origin"] == schema.ERROR_LOG).sum()),
            "by_type": _counts(errors["error_type"].where(errors["error_type"] != "", "(unknown)")),
            "by_function": _counts(errors["function"]),
        },
        "functions": _records(summary.functions, "function"),
        "processes": _records(summary.processes, "process"),
        "collector": {
            "run_start": [e for e in run.events if e.get("event") == schema.RUN_START_EVENT],
            "run_summary": [e for e in run.events if e.get("event") == schema.RUN_SUMMARY_EVENT],
        },
        "skipped_lines": dict(run.skipped),
        "files": files or [],
    }
    ready: dict[str, Any] = _json_ready(data)
    return ready


def collector_span_s(events: list[dict[str, Any]]) -> float | None:
    """Seconds from the collector's run_start to its run_summary line (what --list-runs shows), if both."""
    stamps = {
        e.get("event"): pd.to_datetime(e.get("timestamp"), utc=True, errors="coerce")
        for e in events
        if e.get("event") in (schema.RUN_START_EVENT, schema.RUN_SUMMARY_EVENT)
    }
    start, stop = stamps.get(schema.RUN_START_EVENT), stamps.get(schema.RUN_SUMMARY_EVENT)
    if start is None or stop is None or pd.isna(start) or pd.isna(stop):
        return None
    return float((stop - start).total_seconds())


def _counts(values: pd.Series) -> dict[str, int]:
    """How often each value occurs, commonest first."""
    return {str(k): int(v) for k, v in values.value_counts().items()}


def _records(table: pd.DataFrame, key: str) -> list[dict[str, Any]]:
    """A table's rows as dicts, its index under ``key``."""
    return list(table.reset_index().rename(columns={table.index.name or "index": key}).to_dict("records"))


def _json_ready(value: Any) -> Any:
    """Plain JSON values: timestamps as ISO text, numpy scalars as Python numbers, NaN as None."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value

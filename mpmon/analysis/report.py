"""Write a run's outputs into one folder: figures, tables, the run's raw log lines, summary.json, report.html.

The folder is ``<out>/<tag>_<YYYYmmdd-HHMMSS>/``. Each figure is rendered once to PNG bytes, written as a
file and embedded (base64) in ``report.html``, which therefore opens from disk with no network. The run's
rows are written with pyarrow in the collector's CSV format, so the loader reads them back like any log.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mpmon import schema
from mpmon.analysis import plots
from mpmon.analysis.load import Run
from mpmon.analysis.stats import Summary, summarize

__all__ = [
    "AGGREGATE_CSV",
    "ERROR_LINES",
    "FIGURE_TITLES",
    "PROCESSES_CSV",
    "REPORT_HTML",
    "RUN_RESULTS_CSV",
    "SUMMARY_JSON",
    "TIMING_LINES",
    "Report",
    "output_folder",
    "render_figures",
    "summary_dict",
    "write_report",
    "write_rows",
]

RUN_RESULTS_CSV = "run_results.csv"
AGGREGATE_CSV = "aggregate.csv"
PROCESSES_CSV = "processes.csv"
TIMING_LINES = "timing.log.jsonl"
ERROR_LINES = "error.log.jsonl"
SUMMARY_JSON = "summary.json"
REPORT_HTML = "report.html"
SUMMARY_FORMAT = "mpmon-analysis-summary/1"

FIGURE_TITLES = {
    "execution_time": "Execution time per function",
    "timeline": "Call timeline",
    "memory_delta": "Memory delta per function",
    "top_functions": "Top 10 functions by total time",
    "histograms": "Duration histograms",
    "cpu_utilisation": "CPU utilisation per function",
    "errors_over_time": "Errors over time",
}


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


def write_report(run: Run, folder: Path, *, subtitle: str = "", summary: Summary | None = None) -> Report:
    """Write every output of ``run`` into ``folder`` (created; it must not exist yet)."""
    summary = summary if summary is not None else summarize(run.calls)
    folder.mkdir(parents=True)
    pngs = render_figures(run, summary, subtitle)
    figures = {name: _write(folder / f"{name}.png", png) for name, png in pngs.items()}
    files = list(figures.values())
    files.append(write_rows(run.calls, folder / RUN_RESULTS_CSV))
    files.append(_write_csv(summary.functions, folder / AGGREGATE_CSV))
    files.append(_write_csv(summary.processes, folder / PROCESSES_CSV))
    files.append(_write(folder / TIMING_LINES, b"".join(run.timing_lines)))
    files.append(_write(folder / ERROR_LINES, b"".join(run.error_lines)))
    data = summary_dict(run, summary, [f.name for f in files] + [SUMMARY_JSON, REPORT_HTML])
    files.append(_write(folder / SUMMARY_JSON, json.dumps(data, indent=2, allow_nan=False).encode()))
    files.append(_write(folder / REPORT_HTML, _html(run, summary, data, pngs, subtitle).encode()))
    return Report(folder, figures, files, data)


def render_figures(run: Run, summary: Summary, subtitle: str = "") -> dict[str, bytes]:
    """Every figure of :data:`plots.FIGURES` as PNG bytes, in report order."""
    pngs = {}
    for name, plot in plots.FIGURES.items():
        extra = {"errors": run.errors} if name == "errors_over_time" else {}
        figure = plot(run.calls, subtitle=subtitle, summary=summary, **extra)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=plots.DPI, metadata={"Software": "mpmon-analyze"})
        pngs[name] = buffer.getvalue()
    return pngs


def _write(path: Path, data: bytes) -> Path:
    """Write bytes to ``path`` and return it."""
    path.write_bytes(data)
    return path


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    """A small aggregate table as CSV (index included, floats at full precision)."""
    table.to_csv(path)
    return path


def write_rows(calls: pd.DataFrame, path: Path) -> Path:
    """The call rows as the collector writes its CSV: quoted strings, ISO times with offset, ``nan``."""
    missing = {n: "" for n in schema.COLUMN_NAMES if n not in calls.columns}  # columns not read
    table = pa.Table.from_pandas(calls.assign(**missing), schema=schema.arrow_schema(), preserve_index=False)
    for name in schema.TIMESTAMP_COLUMNS:
        table = table.set_column(table.schema.get_field_index(name), name, iso_text(table[name]))
    for fld in table.schema:
        if pa.types.is_floating(fld.type):
            table = table.set_column(
                table.schema.get_field_index(fld.name), fld.name, pc.fill_null(table[fld.name], math.nan)
            )
    with path.open("wb") as fh:
        fh.write((schema.CSV_HEADER + "\n").encode())
        pa_csv.write_csv(table, fh, write_options=pa_csv.WriteOptions(include_header=False))
    return path


def iso_text(times: pa.ChunkedArray) -> pa.Array:
    """UTC timestamps as ``2026-11-25T18:43:13.963583+00:00``; each distinct second is formatted once."""
    micros = times.cast(pa.int64()).to_numpy(zero_copy_only=False)
    seconds, fraction = np.divmod(micros, 1_000_000)
    distinct, which = np.unique(seconds, return_inverse=True)
    prefix = pc.strftime(
        pa.array(distinct * 1_000_000, pa.timestamp("us", tz="UTC")), format="%Y-%m-%dT%H:%M:%S"
    )
    prefix = pc.utf8_slice_codeunits(prefix, 0, 19)  # %S of a microsecond timestamp carries a fraction
    digits = pc.utf8_lpad(pa.array(fraction).cast(pa.string()), 6, "0")
    return pc.binary_join_element_wise(prefix.take(pa.array(which.ravel())), ".", digits, "+00:00", "")


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
        "raw_lines": {TIMING_LINES: len(run.timing_lines), ERROR_LINES: len(run.error_lines)},
        "files": files or [],
    }
    ready: dict[str, Any] = _json_ready(data)
    return ready


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


# --- report.html ---------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 24px; color: #222; }
h1 { margin-bottom: 0; } .sub { color: #555; margin-top: 4px; }
nav a { margin-right: 12px; } .meta { color: #555; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.card b { display: block; font-size: 20px; } .card span { color: #666; font-size: 12px; }
.warn { background: #fff4e5; border: 1px solid #f0b45a; padding: 8px 12px; border-radius: 6px; }
figure { margin: 24px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0 24px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; } th { background: #f6f6f6; position: sticky; top: 0; }
.scroll { overflow-x: auto; }
"""


def _html(run: Run, summary: Summary, data: dict[str, Any], pngs: dict[str, bytes], subtitle: str) -> str:
    """The self-contained HTML report: summary, figures (embedded PNG) and tables."""
    title = f"mpmon run report: {run.tag or ', '.join(run.run_ids) or 'run'}"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='sub'>{_e(subtitle)}</p>" if subtitle else "",
        _nav(pngs),
        _meta(run, data),
        _cards(summary.run, len(run.errors)),
        _warnings(run, data),
        *(_figure(name, png) for name, png in pngs.items()),
        "<h2 id='functions'>Functions</h2>",
        _table(summary.functions, "function"),
        "<h2 id='processes'>Processes</h2>",
        _table(summary.processes, "process"),
        "<h2 id='errors'>Errors</h2>",
        _errors(data),
        "<h2 id='collector'>Collector</h2>",
        _collector(data),
        "<h2 id='files'>Files</h2><ul>",
        *(f"<li><a href='{_e(name)}'>{_e(name)}</a></li>" for name in data["files"]),
        "</ul></body></html>",
    ]
    return "\n".join(parts)


def _e(value: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(value), quote=True)


def _nav(pngs: Mapping[str, bytes]) -> str:
    """Links to every section."""
    links = [f"<a href='#{name}'>{_e(FIGURE_TITLES.get(name, name))}</a>" for name in pngs]
    links += [
        f"<a href='#{s}'>{s.capitalize()}</a>" for s in ("functions", "processes", "errors", "collector")
    ]
    return f"<nav>{' '.join(links)}</nav>"


def _meta(run: Run, data: dict[str, Any]) -> str:
    """Which run, from where, when."""
    totals = data["run"]
    return (
        f"<p class='meta'>run {_e(', '.join(run.run_ids))} · selected as {_e(run.selection)} · "
        f"from {_e(totals['start'])} to {_e(totals['end'])} · log directory {_e(run.log_dir.resolve())} · "
        f"generated {_e(data['generated_at'])}</p>"
    )


def _cards(totals: Mapping[str, Any], errors: int) -> str:
    """The headline numbers."""
    efficiency = totals.get("parallel_efficiency")
    cards = [
        (f"{totals['calls']:,}", "calls"),
        (f"{totals['processes']}", "processes"),
        (f"{totals['functions']}", "functions"),
        (plots.format_duration(totals["wall_span_s"]), "wall span"),
        (f"{efficiency:.0%}" if efficiency is not None else "n/a", "parallel efficiency"),
        (f"{errors:,}", "errors"),
        (plots.format_duration(totals["busy_s"]), "busy time (all processes)"),
    ]
    return (
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{_e(v)}</b><span>{_e(k)}</span></div>" for v, k in cards)
        + "</div>"
    )


def _warnings(run: Run, data: dict[str, Any]) -> str:
    """Lines skipped while reading, and records the collector dropped."""
    notes = [f"{n} line(s) of {name} did not parse and were skipped" for name, n in run.skipped.items()]
    for event in data["collector"]["run_summary"]:
        if event.get("dropped"):
            notes.append(
                f"the collector dropped {event['dropped']} record(s) (policy {event.get('drop_policy')})"
            )
    return "".join(f"<p class='warn'>{_e(n)}</p>" for n in notes)


def _figure(name: str, png: bytes) -> str:
    """One embedded figure."""
    encoded = base64.b64encode(png).decode("ascii")
    title = _e(FIGURE_TITLES.get(name, name))
    return (
        f"<figure id='{name}'><h2>{title}</h2>"
        f"<img src='data:image/png;base64,{encoded}' alt='{title}'>"
        f"<figcaption>{name}.png</figcaption></figure>"
    )


def _table(table: pd.DataFrame, key: str, limit: int = 500) -> str:
    """A DataFrame as an HTML table, numbers formatted for reading."""
    head = "".join(f"<th>{_e(c)}</th>" for c in [key, *table.columns])
    body = []
    for index, row in table.head(limit).iterrows():
        cells = "".join(f"<td>{_e(_cell(c, v))}</td>" for c, v in row.items())
        body.append(f"<tr><td>{_e(index)}</td>{cells}</tr>")
    more = f"<p class='meta'>{len(table) - limit} more rows in the CSV</p>" if len(table) > limit else ""
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>{more}"


_COUNT_COLUMNS = ("calls", "errors", "idle_gaps", "processes")


def _cell(column: str, value: Any) -> str:
    """One table cell: durations with units, rates as percentages, counts with separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return str(value.strftime("%H:%M:%S.%f"))
    if column.endswith("_s") and isinstance(value, (int, float)):
        return plots.format_duration(float(value))
    if column in ("cpu_util", "error_rate", "utilisation"):
        return f"{float(value):.1%}"
    if column.endswith("_mib"):
        return f"{float(value):,.2f}"
    if column in _COUNT_COLUMNS and isinstance(value, (int, float)):
        return f"{int(value):,}"
    return str(value)


def _errors(data: dict[str, Any]) -> str:
    """Errors by exception type and by function."""
    errors = data["errors"]
    if not errors["total"]:
        return "<p>No errors.</p>"
    by_type = pd.DataFrame({"errors": pd.Series(errors["by_type"], dtype="int64")}).rename_axis("type")
    by_function = pd.DataFrame({"errors": pd.Series(errors["by_function"], dtype="int64")}).rename_axis(
        "function"
    )
    only_log = errors["from_error_log_only"]
    note = f"<p class='meta'>{only_log} of them only in error.log (no results row)</p>" if only_log else ""
    return note + _table(by_type, "exception type", 50) + _table(by_function, "function", 50)


def _collector(data: dict[str, Any]) -> str:
    """What the collector reported at stop (its run_summary line), as key/value rows."""
    events = data["collector"]["run_summary"]
    if not events:
        return (
            "<p>No run_summary line was found for this run (the collector may not have stopped cleanly).</p>"
        )
    rows = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for e in events for k, v in e.items()}
    frame = pd.DataFrame({"value": pd.Series(rows, dtype=object).astype(str)}).rename_axis("key")
    return _table(frame, "key")

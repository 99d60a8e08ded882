"""``report.html``: one self-contained page (figures embedded as PNG data, no script, no network).

Sections, each with an anchor the navigation links to: the headline numbers, every figure with one
sentence on how to read it, the functions and processes tables (sized to fit the page: only the columns
a reader needs, none that holds only zeros), the slowest calls, the errors (per type and function, the
traceback folded in a ``<details>``), what the collector reported, and the files written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from mpmon import schema, units
from mpmon.analysis import captured
from mpmon.analysis.figures import CAPTIONS, efficiency_rule
from mpmon.analysis.html_table import Column, cell, table
from mpmon.analysis.html_table import escape as _e
from mpmon.analysis.load import Run
from mpmon.analysis.stats import Summary

__all__ = ["ERROR_GROUPS_SHOWN", "FIGURE_TITLES", "SECTIONS", "STYLESHEET", "Page", "render"]

FIGURE_TITLES = {
    "execution_time": "Execution time per function",
    "timeline": "Call timeline",
    "memory_delta": "Memory delta per function",
    "memory_over_time": "Resident memory over time",
    "top_functions": "Top 10 functions by total time",
    "histograms": "Duration histograms",
    "cpu_utilisation": "CPU utilisation per function",
    "errors_over_time": "Errors over time",
}
ERROR_GROUPS_SHOWN = 50
"""The commonest error groups shown on the page (errors.csv has them all)."""
SECTIONS = {
    "functions": "Functions",
    "processes": "Processes",
    "self_time": "Self time",
    "slowest": "Slowest calls",
    "errors": "Errors",
    "logs": "Log lines",
    "collector": "Collector",
    "files": "Files",
}

# The report's style, which the comparison page (compare_page.py) shares.
STYLESHEET = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 24px; color: #222; }
h1 { margin-bottom: 0; } .sub { color: #555; margin-top: 4px; }
nav a { margin-right: 12px; white-space: nowrap; } .meta { color: #555; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.card b { display: block; font-size: 20px; } .card span { color: #666; font-size: 12px; }
.warn { background: #fff4e5; border: 1px solid #f0b45a; padding: 8px 12px; border-radius: 6px; }
figure { margin: 24px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 13px; max-width: 1100px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0 24px; max-width: 100%; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 6px; text-align: right; vertical-align: top; }
td { white-space: nowrap; } th { background: #f6f6f6; }
th:first-child, td:first-child, td.text { text-align: left; }
td.name { text-align: left; white-space: normal; overflow-wrap: anywhere; max-width: 300px; }
td.text { white-space: normal; overflow-wrap: anywhere; max-width: 420px; }
details pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 11px; background: #f8f8f8;
              padding: 8px; max-width: 1100px; }
code { font-size: 11px; }
"""


@dataclass(frozen=True)
class Page:
    """Everything the page shows."""

    run: Run
    summary: Summary
    data: dict[str, Any]  # summary.json's content
    pngs: dict[str, bytes]
    subtitle: str
    errors: pd.DataFrame  # error_groups.error_groups(...)
    slowest: pd.DataFrame  # stats.slowest_calls(...)


FUNCTION_TABLE = (
    Column("calls", "calls", "count"),
    Column("total_s", "total", "duration"),
    Column("self_s", "self", "duration"),
    Column("mean_s", "mean", "duration"),
    Column("p50_s", "median", "duration"),
    Column("p95_s", "p95", "duration"),
    Column("p99_s", "p99", "duration"),
    Column("max_s", "max", "duration"),
    Column("cpu_util", "CPU / wall", "percent"),
    Column("mem_delta_mean_mib", "memory Δ mean", "memory"),
    Column("mem_final_max_mib", "RSS max", "memory"),
    Column("errors", "errors", "count"),
    Column("error_rate", "error rate", "percent"),
    Column("processes", "processes", "count"),
)
PROCESS_TABLE = (
    Column("host", "host", "text"),
    Column("calls", "calls", "count"),
    Column("first_start", "first call", "time"),
    Column("last_end", "last end", "time"),
    Column("busy_s", "busy", "duration"),
    Column("idle_s", "idle", "duration"),
    Column("idle_gaps", "gaps ≥ 1 ms", "count"),
    Column("longest_gap_s", "longest gap", "duration"),
    Column("utilisation", "busy / span", "percent"),
    Column("workload", "in efficiency", "flag"),
)


def render(page: Page) -> str:
    """The whole page as HTML text."""
    run = page.run
    title = f"mpmon run report: {run.tag or ', '.join(run.run_ids) or 'run'}"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>",
        f"<style>{STYLESHEET}</style></head><body>",
        f"<h1 id='top'>{_e(title)}</h1>",
        f"<p class='sub'>{_e(page.subtitle)}</p>" if page.subtitle else "",
        _nav(page.pngs),
        _meta(run, page.data),
        _cards(page.summary.run, len(run.errors)),
        _warnings(run, page.data),
        *(_figure(name, png, page.summary.run) for name, png in page.pngs.items()),
        _section("functions", _functions(page.summary)),
        _section("processes", _processes(page.summary)),
        _section("self_time", captured.self_time_section(page.summary)),
        _section("slowest", _slowest(page.slowest)),
        _section("errors", _errors(page.errors, page.data)),
        _section("logs", captured.log_section(run.timing_lines)),
        _section("collector", _collector(page.data)),
        _section("files", _files(page.data["files"])),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _section(anchor: str, body: str) -> str:
    """A titled section with its anchor."""
    return f"<section id='{anchor}'><h2>{_e(SECTIONS[anchor])}</h2>\n{body}</section>"


def _nav(pngs: Mapping[str, bytes]) -> str:
    """Links to every section."""
    links = [f"<a href='#{name}'>{_e(FIGURE_TITLES.get(name, name))}</a>" for name in pngs]
    links += [f"<a href='#{anchor}'>{_e(title)}</a>" for anchor, title in SECTIONS.items()]
    return f"<nav>{' '.join(links)}</nav>"


def _meta(run: Run, data: dict[str, Any]) -> str:
    """Which run, from where, when; and how its span relates to the collector's lifetime."""
    totals = data["run"]
    return (
        f"<p class='meta'>run {_e(', '.join(run.run_ids))} · selected as {_e(run.selection)} · "
        f"from {_e(totals['start'])} to {_e(totals['end'])} · log directory {_e(run.log_dir.resolve())} · "
        f"generated {_e(data['generated_at'])}</p>"
        f"<p class='meta'>{_e(span_note(totals['wall_span_s'], data.get('collector_span_s')))}</p>"
    )


def span_note(span_s: float, collector_s: float | None) -> str:
    """Why ``--list-runs`` may show a longer duration than the report's span."""
    text = f"Span {units.format_duration(span_s)}: from the first call's start to the last call's end."
    if collector_s is not None and collector_s > span_s:
        text += (
            f" The collector ran {units.format_duration(collector_s)} (from its start to its stop, as "
            "--list-runs shows): the rest is start-up, pool creation and shut-down outside any call."
        )
    return text


def _cards(totals: Mapping[str, Any], errors: int) -> str:
    """The headline numbers."""
    efficiency = totals.get("parallel_efficiency")
    cards = [
        (units.count(totals["calls"]), "call" if totals["calls"] == 1 else "calls"),
        (units.count(totals["processes"]), "process" if totals["processes"] == 1 else "processes"),
        (units.count(totals["functions"]), "function" if totals["functions"] == 1 else "functions"),
        (units.format_duration(totals["wall_span_s"]), "wall span"),
        (f"{efficiency:.0%}" if efficiency is not None else "n/a", "parallel efficiency"),
        (units.count(errors), "error" if errors == 1 else "errors"),
        (units.format_duration(totals["busy_s"]), "busy time (all processes)"),
    ]
    return (
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{_e(v)}</b><span>{_e(k)}</span></div>" for v, k in cards)
        + "</div>"
    )


def _warnings(run: Run, data: dict[str, Any]) -> str:
    """Lines skipped while reading, and records the collector dropped."""
    notes = [
        f"{units.plural(n, 'line')} of {name} did not parse and were skipped"
        for name, n in run.skipped.items()
    ]
    for event in data["collector"]["run_summary"]:
        if event.get("dropped"):
            dropped = units.plural(int(event["dropped"]), "record")
            notes.append(f"the collector dropped {dropped} (policy {event.get('drop_policy')})")
    return "".join(f"<p class='warn'>{_e(n)}</p>" for n in notes)


def _figure(name: str, png: bytes, totals: Mapping[str, Any]) -> str:
    """One embedded figure with its caption (and, under the timeline, the rule of parallel efficiency)."""
    encoded = base64.b64encode(png).decode("ascii")
    title = _e(FIGURE_TITLES.get(name, name))
    caption = _e(CAPTIONS.get(name, ""))
    if name == "timeline":
        caption += f"<br><b>{_e(efficiency_rule(dict(totals)))}</b>"
    return (
        f"<figure id='{name}'><h2>{title}</h2>"
        f"<img src='data:image/png;base64,{encoded}' alt='{title}' width='1100'>"
        f"<figcaption>{caption} <span class='meta'>({name}.png)</span></figcaption></figure>"
    )


def _functions(summary: Summary) -> str:
    """The functions table: the columns a reader needs (the full table is aggregate.csv)."""
    return table(summary.functions, "function", FUNCTION_TABLE, "aggregate.csv")


def _processes(summary: Summary) -> str:
    """The processes table, with which processes count towards parallel efficiency."""
    columns = [c for c in PROCESS_TABLE if c.key != "host" or summary.run.get("hosts", 1) > 1]
    note = (
        "<p class='meta'>busy = the union of the process's calls; busy / span = its share of the run's "
        "span; parallel efficiency is the mean busy / span of the processes marked “in efficiency”.</p>"
    )
    return note + table(summary.processes, "process", columns, "processes.csv") + _efficiency_line(summary)


def _efficiency_line(summary: Summary) -> str:
    """The headline figure worked out from the table's rows."""
    efficiency = summary.run.get("parallel_efficiency")
    counted = summary.processes[summary.processes["workload"].to_numpy(dtype=bool)]
    if efficiency is None or counted.empty:
        return ""
    shares = " + ".join(f"{u:.1%}" for u in counted["utilisation"].head(8))
    more = " + …" if len(counted) > 8 else ""
    return (
        f"<p>Parallel efficiency {efficiency:.1%} = ({shares}{more}) / {len(counted)}: the mean busy / span "
        f"of the {_e(units.plural(len(counted), 'process'))} in efficiency.</p>"
    )


def _slowest(slowest: pd.DataFrame) -> str:
    """The slowest calls, each with its arguments, where it ran and a link to the timeline."""
    if slowest.empty:
        return "<p>No calls.</p>"
    head = "<tr><th>#</th><th>function</th><th>duration</th><th>process</th><th>thread</th>"
    head += "<th>status</th><th>arguments</th><th>on the timeline</th><th>call id</th></tr>"
    rows = []
    for rank, (call_id, r) in enumerate(slowest.iterrows(), start=1):
        args = arguments(str(r["args"]))
        rows.append(
            f"<tr id='slow-{rank}'><td>{rank}</td><td class='name'>{_e(r['function'])}</td>"
            f"<td>{_e(cell('duration', r['duration_s']))}</td><td class='name'>{_e(r['process'])}</td>"
            f"<td>{_e(r['thread_name'])}</td><td>{_e(r['status'])}</td>"
            f"<td class='text' title='{_e(args)}'>{_e(_cut(args, 160))}</td>"
            f"<td><a href='#timeline'>{_e(cell('offset', r['offset_s']))} in its lane</a></td>"
            f"<td><code>{_e(call_id)}</code></td></tr>"
        )
    note = (
        f"<p class='meta'>The {units.plural(len(slowest), 'longest call')} of the run. “On the timeline” is "
        "the call's start after the run's first call, in its process's lane of the timeline, where the five "
        "slowest carry their number; the call id finds it in a Chrome trace written with --trace. "
        "Every column: slowest_calls.csv (mpmon-analyze leaves arguments out for log directories over "
        "256 MB, to keep ten million rows in memory).</p>"
    )
    return note + f"<table>{head}{''.join(rows)}</table>"


def arguments(text: str) -> str:
    """A call's arguments JSON (``{"args": [...], "kwargs": {...}}``) as ``(1, 'a', key=2)``."""
    if not text:
        return ""
    try:
        data = json.loads(text)
        parts = [str(a) for a in data.get("args", [])]
        parts += [f"{k}={v}" for k, v in (data.get("kwargs") or {}).items()]
    except (ValueError, AttributeError):
        return text
    return f"({', '.join(parts)})"


def _cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _errors(groups: pd.DataFrame, data: dict[str, Any]) -> str:
    """Per exception type and function: count, first and last time, a message and its traceback."""
    if groups.empty:
        return "<p>No errors.</p>"
    only_log = data["errors"]["from_error_log_only"]
    note = f"{units.plural(only_log, 'error')} only in error.log (no results row). " if only_log else ""
    blocks = [
        f"<p class='meta'>{_e(note)}Messages and tracebacks are as the decorators logged them (after "
        "their sanitize_func), shortened when long; one per group, the latest. Every group: errors.csv.</p>"
    ]
    for number, g in enumerate(groups.head(ERROR_GROUPS_SHOWN).itertuples(index=False), start=1):
        variants = f" ({units.plural(g.messages, 'distinct message')})" if g.messages > 1 else ""
        trace = (
            f"<details><summary>traceback</summary><pre>{_e(g.traceback)}</pre></details>"
            if g.traceback
            else "<p class='meta'>no traceback recorded</p>"
        )
        blocks.append(
            f"<div class='error' id='error-{number}'><h3>{_e(g.error_type)} in {_e(g.function)}</h3>"
            f"<p>{_e(units.plural(g.count, 'time'))}, first at {_e(cell('time', g.first))}, last at "
            f"{_e(cell('time', g.last))} (UTC){_e(variants)}</p>"
            f"<p><code>{_e(g.message)}</code></p>{trace}</div>"
        )
    if len(groups) > ERROR_GROUPS_SHOWN:
        more = units.plural(len(groups) - ERROR_GROUPS_SHOWN, "rarer group")
        blocks.append(f"<p class='meta'>{_e(more)} in errors.csv</p>")
    return "\n".join(blocks)


def _collector(data: dict[str, Any]) -> str:
    """What the collector reported at stop (its run_summary line), as key/value rows."""
    events = data["collector"]["run_summary"]
    if not events:
        return (
            "<p>No run_summary line was found for this run (the collector may not have stopped cleanly).</p>"
        )
    rows = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for e in events for k, v in e.items()}
    frame = pd.DataFrame({"value": pd.Series(rows, dtype=object).astype(str)}).rename_axis("key")
    return table(frame, "key", [Column("value", "value", "text")])


def _files(names: Sequence[str]) -> str:
    """The files of the report folder, linked."""
    items = "".join(f"<li><a href='{_e(name)}'>{_e(name)}</a></li>" for name in names)
    return (
        f"<ul>{items}</ul><p class='meta'>The run's raw logs stay in {_e(schema.TIMING_LOG)} and "
        "friends in the log directory; --export-rows writes the selected rows as rows.parquet.</p>"
    )

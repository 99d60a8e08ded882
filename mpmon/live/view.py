"""The terminal view of `mpmon top`, drawn with rich (`Table`s in a `Group`, shown by `Live`).

Only this module imports rich (the extra `mpmon[live]`).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..units import count, plural
from .read import STALE_SECONDS, View
from .text import ago, duration, ended_text, memory, progress_text, rate

__all__ = ["render", "waiting"]

FUNCTIONS = 15
PROCESSES = 12


def waiting(log_dir: str) -> RenderableType:
    return Text(f"mpmon top: waiting for a run in {log_dir} (no snapshot yet; press q to quit)")


def render(view: View, log_dir: str) -> RenderableType:
    """The whole screen: header, progress, functions, processes, slowest calls, latest errors, log lines."""
    now = time.time()
    parts: list[RenderableType] = [_header(view, log_dir, now)]
    if view["ended"] and view["summary"]:
        parts.append(Text(ended_text(view["summary"]), style="green"))
    for p in view["progress"]:
        parts.append(_progress(p))
    parts += [_functions(view), _processes(view)]
    if view["slowest"]:
        parts.append(_slowest(view, now))
    if view["latest_errors"]:
        parts.append(_errors(view, now))
    levels = " ".join(f"{level} {count(n)}" for level, n in sorted(view["log_levels"].items()))
    parts.append(Text(f"log lines: {levels or 'none'}    q quits", style="dim"))
    return Group(*parts)


def _header(view: View, log_dir: str, now: float) -> Text:
    if view["ended"]:
        state = Text("RUN ENDED", style="bold green")
    elif now - view["updated"] > STALE_SECONDS:
        state = Text(f"no update for {ago(view['updated'], now)} (collector gone?)", style="bold yellow")
    else:
        state = Text("running", style="bold cyan")
    text = Text.assemble(
        ("mpmon top ", "bold"),
        f"{log_dir}  run {view['run_id']}  ",
        state,
        f"  for {duration(view['updated'] - view['started'])}  ",
        f"{count(view['calls'])} calls  {rate(view['recent_calls_per_s'])} calls/s  ",
        (plural(view["errors"], "error"), "bold red" if view["errors"] else ""),
        f"  hosts: {', '.join(view['hosts'])}",
    )
    return text


def _progress(p: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=30)
    grid.add_column()
    total = p.get("total") or None
    grid.add_row(ProgressBar(total=total, completed=p.get("done", 0), width=30), Text(progress_text(p)))
    return grid


def _functions(view: View) -> Table:
    table = Table(title=f"functions (last {view['window_s']} s | since the start)", title_justify="left")
    for name, justify in (("function", "left"), ("calls/s", "right"), ("p50", "right"), ("p95", "right"),
                          ("errors", "right"), ("calls", "right"), ("p50", "right"), ("p95", "right"),
                          ("errors", "right"), ("total", "right")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in view["functions"][:FUNCTIONS]:
        table.add_row(
            f["name"],
            rate(f.get("recent_calls_per_s")),
            duration(f.get("recent_p50_s")),
            duration(f.get("recent_p95_s")),
            _errors_cell(f.get("recent_errors", 0)),
            count(f["calls"]),
            duration(f.get("p50_s")),
            duration(f.get("p95_s")),
            _errors_cell(f["errors"]),
            duration(f.get("total_s")),
        )
    if len(view["functions"]) > FUNCTIONS:
        table.caption = f"and {len(view['functions']) - FUNCTIONS} more"
    return table


def _errors_cell(n: int) -> Text:
    return Text(count(n), style="bold red" if n else "")


def _processes(view: View) -> Table:
    table = Table(title="processes", title_justify="left")
    for name in ("host", "pid", "name", "busy", "memory", "calls"):
        table.add_column(name, justify="left" if name in ("host", "name") else "right")
    for p in view["processes"][:PROCESSES]:
        table.add_row(
            p["host"],
            str(p["pid"]),
            p["name"],
            f"{p['busy_recent']:.0%}",
            memory(p["rss_mib"]),
            count(p["calls"]),
        )
    if len(view["processes"]) > PROCESSES:
        table.caption = f"and {len(view['processes']) - PROCESSES} more"
    return table


def _slowest(view: View, now: float) -> Table:
    table = Table(title="slowest calls so far", title_justify="left")
    for name in ("function", "duration", "process", "ended"):
        table.add_column(name, justify="right" if name == "duration" else "left")
    for call in view["slowest"][:5]:
        ended = f"{ago(call['end_time'], now)} ago" if call.get("end_time") else "-"
        table.add_row(call["function"], duration(call["duration_s"]), f"{call['host']}:{call['pid']}", ended)
    return table


def _errors(view: View, now: float) -> Table:
    table = Table(title="latest errors", title_justify="left")
    for name in ("when", "function", "error", "message", "process"):
        table.add_column(name)
    for error in reversed(view["latest_errors"][-5:]):
        when = f"{ago(error['time'], now)} ago" if error.get("time") else "-"
        table.add_row(
            when,
            str(error.get("function")),
            Text(str(error.get("error_type")), style="red"),
            str(error.get("error_message") or ""),
            f"{error.get('host')}:{error.get('pid')}",
        )
    return table

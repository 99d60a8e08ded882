"""The view's figures as plain text: one line a second for a non-terminal output, and the small formats
the terminal view shares with it."""

from __future__ import annotations

import time
from typing import Any

from ..units import count, format_duration, format_memory, plural
from .read import View

__all__ = ["ago", "duration", "ended_text", "eta", "memory", "plain_line", "progress_text", "rate"]


def duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def memory(mib: float | None) -> str:
    return "-" if mib is None else format_memory(mib)


def rate(per_second: float | None) -> str:
    if not per_second:
        return "0"
    return f"{per_second:,.1f}" if per_second < 10 else count(round(per_second))


def eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"ETA {hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"ETA {rest // 60}:{rest % 60:02d}"


def ago(moment: float, now: float | None = None) -> str:
    return duration(max((now or time.time()) - moment, 0.0))


def progress_text(p: dict[str, Any]) -> str:
    """`label 12,000/20,000 (60%) 1,234/s ETA 0:06`."""
    total, done = p.get("total"), p.get("done", 0)
    if total:
        text = f"{p['label']} {count(done)}/{count(total)} ({min(done / total, 1.0):.0%})"
    else:
        text = f"{p['label']} {count(done)} done"
    return f"{text} {rate(p.get('rate_per_s'))}/s {eta(p.get('eta_s'))}"


def ended_text(summary: dict[str, int]) -> str:
    """The run's summary counts (its run_summary line) that say something, as one line."""
    shown = ("errors", "processes", "log_lines", "dropped", "ingested", "rejected_payloads", "write_failures")
    counts = ", ".join(f"{key.replace('_', ' ')} {count(summary[key])}" for key in shown if summary.get(key))
    return f"run ended: {counts or 'nothing to report'}"


def plain_line(view: View, functions: int = 4) -> str:
    """One line: state, calls/s and p50 of the busiest functions, errors, processes, progress."""
    state = "ended" if view["ended"] else "running"
    parts = [
        f"{time.strftime('%H:%M:%S')} run {view['run_id']} {state}",
        f"{rate(view['recent_calls_per_s'])} calls/s",
    ]
    busiest = sorted(view["functions"], key=lambda f: -(f.get("recent_calls_per_s") or 0))
    for f in busiest[:functions]:
        if f.get("recent_calls_per_s"):
            parts.append(
                f"{f['name']} {rate(f['recent_calls_per_s'])}/s p50 {duration(f.get('recent_p50_s'))}"
            )
    parts.append(f"{plural(view['calls'], 'call')}, {plural(view['errors'], 'error')}")
    parts.append(plural(len(view["processes"]), "process"))
    parts += [progress_text(p) for p in view["progress"]]
    if view["ended"] and view["summary"]:
        parts.append(ended_text(view["summary"]))
    return " | ".join(parts)

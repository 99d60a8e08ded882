"""The live snapshot: the run's figures now, as a small JSON file in the log directory, about once a second.

`mpmon top` reads it (no socket, no server). The file is replaced whole (written to a temporary file in
the same directory, then renamed over), so a reader sees the last snapshot or the one before, never half
of one. The temporary file is made new each time with the collector's file rules (files.open_fd: never
through a link, 0600). Its size is bounded: at most `FUNCTIONS` functions, `PROCESSES` processes, and
the aggregates' own short lists. At stop the last snapshot says "ended" and carries the run's summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any, Final

from .. import environment, schema
from .aggregates import Aggregates, FunctionFigures
from .files import open_fd
from .report import say
from .settings import Settings

__all__ = ["FUNCTIONS", "PROCESSES", "SNAPSHOT_VERSION", "Snapshot", "snapshot_of"]

SNAPSHOT_VERSION: Final = 1
FUNCTIONS: Final = 50
PROCESSES: Final = 64
INTERVAL_SECONDS: Final = 1.0


class Snapshot:
    """Writes the snapshot file of one collector's log directory."""

    def __init__(self, settings: Settings, figures: Aggregates) -> None:
        self._settings = settings
        self._figures = figures
        self.path = os.path.join(settings.log_dir, schema.LIVE_SNAPSHOT)
        self._temporary = os.path.join(settings.log_dir, f".{schema.LIVE_SNAPSHOT}.{os.getpid()}.tmp")
        self._last = 0.0

    def tick(self) -> None:
        """Between rounds: write a snapshot if the last one is a second old."""
        if time.monotonic() - self._last >= INTERVAL_SECONDS:
            self.write()

    def write(self, summary: dict[str, Any] | None = None) -> None:
        """Replace the snapshot; with the run's summary, the final one ("ended")."""
        self._last = time.monotonic()
        settings = self._settings
        content = snapshot_of(self._figures, settings.run_id, settings.tag, settings.log_dir, summary)
        data = json.dumps(content, separators=(",", ":"), default=str).encode()
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temporary)
            fd = open_fd(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(self._temporary, self.path)
        except OSError as exc:
            say("snapshot", f"cannot write the live snapshot {self.path}: {exc}")


def snapshot_of(
    figures: Aggregates, run_id: str, tag: str | None, log_dir: str, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The snapshot's content (see docs/live.md for its keys)."""
    now = time.time()
    first, last = figures.window(now)
    seconds = last - first + 1
    recent = {f.name: f for f in figures.figures(first, last)}
    functions = sorted(figures.figures(), key=lambda f: -f.total_s)[:FUNCTIONS]
    busy = figures.busy(first, last)
    processes = sorted(figures.processes.values(), key=lambda p: (-busy[(p.host, p.pid)], -p.calls))
    return {
        "version": SNAPSHOT_VERSION,
        "run_id": run_id,
        "tag": tag,
        "host": environment.host_name(),
        "log_dir": log_dir,
        "collector_pid": os.getpid(),
        "state": "ended" if summary is not None else "running",
        "started": figures.started,
        "updated": now,
        "window_s": seconds,
        "calls": figures.calls,
        "errors": figures.errors,
        "recent_calls": sum(f.calls for f in recent.values()),
        "functions": [_function(f, recent.get(f.name), seconds) for f in functions],
        "more_functions": max(len(figures.functions) - FUNCTIONS, 0),
        "processes": [
            {
                "host": p.host,
                "pid": p.pid,
                "name": p.name[:100],
                "calls": p.calls,
                "busy_s": round(p.busy_s, 6),
                "busy_recent": round(min(busy[(p.host, p.pid)] / seconds, 1.0), 4),
                "rss_mib": p.rss_mib,
                "last_seen": p.last_seen,
            }
            for p in processes[:PROCESSES]
        ],
        "more_processes": max(len(processes) - PROCESSES, 0),
        "slowest": figures.slowest(),
        "latest_errors": list(figures.latest_errors),
        "log_levels": dict(figures.log_levels.most_common(10)),
        "progress": [_progress(label, p, now) for label, p in list(figures.progress.items())[:10]],
        "summary": summary,
    }


def _function(total: FunctionFigures, recent: FunctionFigures | None, seconds: int) -> dict[str, Any]:
    out = {
        "name": total.name[:200],
        "calls": total.calls,
        "errors": total.errors,
        "p50_s": total.p50_s,
        "p95_s": total.p95_s,
        "total_s": round(total.total_s, 6),
    }
    if recent is not None:
        out.update(
            recent_calls_per_s=round(recent.calls / seconds, 3),
            recent_errors=recent.errors,
            recent_p50_s=recent.p50_s,
            recent_p95_s=recent.p95_s,
        )
    return out


def _progress(label: str, entry: dict[str, Any], now: float) -> dict[str, Any]:
    total, done = entry["total"], entry["done"]
    elapsed = max(entry.get("last", now) - entry["since"], 1e-9)
    rate = done / elapsed if done else 0.0
    eta = (total - done) / rate if total is not None and rate > 0 and total >= done else None
    return {"label": label, "total": total, "done": done, "rate_per_s": round(rate, 3), "eta_s": eta}

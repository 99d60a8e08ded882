"""Find and read a run's live snapshots, and merge those of several hosts into one view.

A log directory holds one snapshot (`mpmon-live.json`) per collector: at its top for a run on one
machine, and in each `host=<name>/` partition for the per-host collectors of Dask or Ray. Reading follows
the analysis' rules: never through a link, only a regular file, and at most `MAX_BYTES`. Pure functions
over dicts; no terminal, no rich.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Final

from .. import schema

__all__ = ["MAX_BYTES", "View", "find_snapshots", "merge", "read_snapshot", "read_view"]

MAX_BYTES: Final = 1 << 20
STALE_SECONDS: Final = 5.0

View = dict[str, Any]


def find_snapshots(log_dir: Path) -> list[Path]:
    """The snapshot files of a log directory: its own, and each host partition's."""
    found = [log_dir / schema.LIVE_SNAPSHOT, *sorted(log_dir.glob(f"host=*/{schema.LIVE_SNAPSHOT}"))]
    return [path for path in found if path.exists()]


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """A snapshot's content; None if it is a link, not a regular file, too large, or not a snapshot."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_size > MAX_BYTES:
            return None
        data = os.read(fd, MAX_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        content = json.loads(data)
    except ValueError:
        return None
    return content if isinstance(content, dict) and content.get("version") == 1 else None


def read_view(log_dir: Path) -> View | None:
    """One view of every snapshot of the log directory (None if there is none yet)."""
    snapshots = [s for s in map(read_snapshot, find_snapshots(log_dir)) if s is not None]
    return merge(snapshots) if snapshots else None


def merge(snapshots: list[dict[str, Any]]) -> View:
    """Several hosts' snapshots as one: counts add up; a percentile across hosts is the calls-weighted
    mean of the hosts' percentiles (exact for one host)."""
    newest = max(snapshots, key=lambda s: s.get("updated", 0))
    functions: dict[str, dict[str, Any]] = {}
    for snapshot in snapshots:
        for f in snapshot.get("functions", []):
            _add_function(functions.setdefault(f["name"], {"name": f["name"]}), f)
    for f in functions.values():
        _finish_function(f)
    progress: dict[str, dict[str, Any]] = {}
    for snapshot in snapshots:
        for p in snapshot.get("progress", []):
            _add_progress(progress.setdefault(p["label"], {"label": p["label"]}), p)
    return {
        "run_id": newest.get("run_id"),
        "tag": newest.get("tag"),
        "hosts": sorted({str(s.get("host")) for s in snapshots}),
        "ended": all(s.get("state") == "ended" for s in snapshots),
        "started": min(s.get("started", 0) for s in snapshots),
        "updated": newest.get("updated", 0),
        "window_s": newest.get("window_s", 1),
        "calls": sum(s.get("calls", 0) for s in snapshots),
        "errors": sum(s.get("errors", 0) for s in snapshots),
        "recent_calls_per_s": sum(s.get("recent_calls", 0) / max(s.get("window_s", 1), 1) for s in snapshots),
        "functions": sorted(functions.values(), key=lambda f: -f.get("total_s", 0)),
        "processes": [p for s in snapshots for p in s.get("processes", [])],
        "slowest": sorted(
            (c for s in snapshots for c in s.get("slowest", [])), key=lambda c: -c["duration_s"]
        )[:10],
        "latest_errors": sorted(
            (e for s in snapshots for e in s.get("latest_errors", [])), key=lambda e: e.get("time") or 0
        )[-10:],
        "log_levels": _sum_counts(s.get("log_levels", {}) for s in snapshots),
        "progress": [_finish_progress(p) for p in progress.values()],
        "summary": _sum_counts(s["summary"] for s in snapshots if isinstance(s.get("summary"), dict)),
    }


_PERCENTILES: Final = ("p50_s", "p95_s", "recent_p50_s", "recent_p95_s")
_COUNTS: Final = ("calls", "errors", "total_s", "recent_calls_per_s", "recent_errors")


def _add_function(into: dict[str, Any], f: dict[str, Any]) -> None:
    for key in _COUNTS:
        into[key] = into.get(key, 0) + (f.get(key) or 0)
    for key in _PERCENTILES:
        weight = f.get("recent_calls_per_s" if key.startswith("recent") else "calls") or 0
        if f.get(key) is not None and weight:
            into[f"_{key}"] = into.get(f"_{key}", 0.0) + f[key] * weight
            into[f"_{key}_w"] = into.get(f"_{key}_w", 0.0) + weight


def _finish_function(f: dict[str, Any]) -> None:
    for key in _PERCENTILES:
        weight = f.pop(f"_{key}_w", 0.0)
        total = f.pop(f"_{key}", 0.0)
        f[key] = total / weight if weight else None


def _add_progress(into: dict[str, Any], p: dict[str, Any]) -> None:
    if p.get("total") is not None:
        into["total"] = max(into.get("total") or 0, p["total"])
    into["done"] = into.get("done", 0) + (p.get("done") or 0)
    into["rate_per_s"] = into.get("rate_per_s", 0.0) + (p.get("rate_per_s") or 0.0)


def _finish_progress(p: dict[str, Any]) -> dict[str, Any]:
    total, done, rate = p.get("total"), p.get("done", 0), p.get("rate_per_s", 0.0)
    p["eta_s"] = (total - done) / rate if total is not None and rate > 0 and total >= done else None
    return p


def _sum_counts(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in counts:
        for key, value in one.items():
            if isinstance(value, (int, float)):
                total[key] = total.get(key, 0) + int(value)
    return total

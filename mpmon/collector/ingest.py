"""Spill files read back: found, taken, opened safely and parsed into what the writer writes.

A spill file is taken by renaming it (so a process still spilling starts a new one), opened without
following links (a link or another user's file is never read) and read under its lock. Each line is
parsed on its own: a line that cannot become a row (not JSON, missing fields, bad timestamps) is set
aside with its reason, to be counted and quarantined; nothing in a file can stop the others.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from .. import schema
from ..spill import BATCH_KEY, DROPPED_EVENT
from . import bounds, files, tables

__all__ = ["Spill", "leftovers", "parse", "read_lines", "spill_files"]

ERROR_ROUTE: Final = (None, None, None, None, None)  # an error line of a spill file: the run's settings


@dataclass
class Spill:
    """The parsed lines of a spill file."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (line, object)
    errors: list[tuple[dict[str, Any], Any]] = field(default_factory=list)  # (object, route)
    others: list[dict[str, Any]] = field(default_factory=list)  # log lines and events, written as they are
    dropped: int = 0
    bad: list[tuple[str, Exception]] = field(default_factory=list)  # (line, why)
    batches: set[tuple[str, int]] = field(default_factory=set)  # the marked batches it holds


def spill_files(log_dir: str) -> list[str]:
    return sorted(glob.glob(os.path.join(log_dir, schema.SPILL_GLOB)))


def leftovers(log_dir: str) -> list[str]:
    """Spill files a collector had taken (renamed) when it died."""
    return sorted(glob.glob(os.path.join(log_dir, schema.SPILL_PREFIX + "*.ingesting")))


def read_lines(path: str) -> list[str]:
    """The lines of a taken spill file, read under its lock; UnsafeFile for a link or another's file."""
    with open(files.open_fd(path, os.O_RDONLY), encoding="utf-8", errors="replace") as spill:
        fcntl.flock(spill, fcntl.LOCK_EX)  # a process may be appending still (spill._append)
        return spill.read().splitlines()


def parse(lines: list[str], seen: Callable[[str, int], bool]) -> Spill:
    """Sort the lines of a spill file; skip those of batches already written (`seen`)."""
    spill = Spill()
    for line in lines:
        try:
            _parse_line(line, seen, spill)
        except Exception as exc:  # any line at all: never a reason to stop
            spill.bad.append((line, exc))
    return spill


def _parse_line(line: str, seen: Callable[[str, int], bool], spill: Spill) -> None:
    entry = bounds.bound_entry(json.loads(line))
    mark = entry.pop(BATCH_KEY, None)
    if mark is not None:
        prefix, _, seq = str(mark).rpartition(":")
        batch = (prefix, int(seq))
        if seen(*batch):
            return
        spill.batches.add(batch)
    event = entry.get("event")
    if event == schema.EVENT_CALL:
        spill.calls.append((line, entry))
    elif event == "error":
        tables.error_table([entry])  # raises for an object that cannot be a row
        spill.errors.append((entry, ERROR_ROUTE))
    elif event == DROPPED_EVENT:
        spill.dropped += int(entry.get("count") or 0)
    else:
        spill.others.append(entry)

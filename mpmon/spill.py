"""Spill files: where a process writes its records when no collector answers.

One file per process, `mpmon-spill-<pid>-<id>.jsonl` in the log directory, holding the very JSON lines
the collector would have written (call lines as in timing.log, error and log lines with their event),
so that the next collector ingests them and the analysis can read them as they are.

A batch that was sent but never confirmed (its connection broke first) may or may not have been
written by the collector that received it: its lines carry `"batch": "<id prefix>:<seq>"`, and a
collector skips such a batch if its ledger shows it was written. Records dropped under the drop policy
are one `{"event": "dropped", "count": n}` line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from typing import Any

from . import rows, schema
from .wire import DROPPED

__all__ = ["BATCH_KEY", "DROPPED_EVENT", "spill_path", "write"]

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

BATCH_KEY = "batch"
DROPPED_EVENT = "dropped"


def spill_path(log_dir: str, meta: tuple[Any, ...]) -> str:
    """This process's spill file."""
    pid, _name, _host, prefix, _run = meta
    return os.path.join(log_dir, f"{schema.SPILL_PREFIX}{pid}-{prefix[:8]}.jsonl")


def lines_of(meta: tuple[Any, ...], records: list[tuple[Any, ...]], seq: int = 0) -> list[str]:
    """The JSON lines of a batch, as the collector would write them; marked with the batch if `seq`."""
    calls, errors, logs = rows.split_kinds(records)
    lines = [rows.summary_line(entry) for entry in rows.call_entries(meta, calls, "")]
    lines += [rows.summary_line(rows.error_entry(meta, r, "")) for r in errors]
    lines += [rows.summary_line(rows.log_entry(meta, r, "")) for r in logs]
    dropped = sum(r[1] for r in records if r[0] == DROPPED)
    if dropped:
        pid, _name, host, _prefix, run_id = meta
        entry = {"event": DROPPED_EVENT, "count": dropped, "run_id": run_id, "pid": pid, "host": host}
        lines.append(rows.summary_line(entry))
    if seq:
        mark = f',"{BATCH_KEY}":"{meta[3]}:{seq}"}}'
        lines = [line[:-1] + mark for line in lines]
    return lines


def write(log_dir: str, meta: tuple[Any, ...], records: list[tuple[Any, ...]], seq: int = 0) -> int:
    """Append a batch to this process's spill file; the number of records kept (0 if it failed)."""
    try:
        data = "".join(line + "\n" for line in lines_of(meta, records, seq)).encode()
        os.makedirs(log_dir, mode=0o700, exist_ok=True)
        _append(spill_path(log_dir, meta), data)
    except Exception as exc:
        import sys

        print(
            f"mpmon: {len(records)} records lost: cannot write a spill file in {log_dir}: {exc}",
            file=sys.stderr,
        )
        return 0
    return len(records)


def _append(path: str, data: bytes) -> None:
    """Append to the spill file under its lock. A collector takes a file by renaming it, then locking
    it before it reads: a writer that finds its file renamed under it writes to a new one instead."""
    while True:
        fd = os.open(path, _FLAGS, 0o600)  # never through a symlink (another user's trap)
        try:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode) or found.st_uid != os.geteuid() or found.st_nlink > 1:
                raise OSError(
                    errno.EPERM, f"refusing {path}: not a regular file of this user (or a hard link)"
                )
            os.set_blocking(fd, True)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = -1
            if current != os.fstat(fd).st_ino:
                continue  # taken by a collector meanwhile
            size = os.fstat(fd).st_size
            if os.write(fd, data) < len(data):  # a full disk: take the partial line back
                os.ftruncate(fd, size)
                raise OSError(errno.ENOSPC, "short write")
            return
        finally:
            os.close(fd)

"""Spill files: where a process writes its records when no collector answers.

One file per process, `mpmon-spill-<pid>-<id>.jsonl` in the log directory, holding the very JSON lines
the collector would have written (call lines as in timing.log, error and log lines with their event),
so that the next collector ingests them and the analysis can read them as they are.
"""

from __future__ import annotations

import os
from typing import Any

from . import rows, schema

__all__ = ["spill_path", "write"]


def spill_path(log_dir: str, meta: tuple[Any, ...]) -> str:
    """This process's spill file."""
    pid, _name, _host, prefix, _run = meta
    return os.path.join(log_dir, f"{schema.SPILL_PREFIX}{pid}-{prefix[:8]}.jsonl")


def lines_of(meta: tuple[Any, ...], records: list[tuple[Any, ...]]) -> list[str]:
    """The JSON lines of a batch, as the collector would write them."""
    calls, errors, logs = rows.split_kinds(records)
    lines = rows.call_lines(rows.call_columns(meta, calls, "")) if calls else []
    lines += [rows.summary_line(rows.error_entry(meta, r, "")) for r in errors]
    lines += [rows.summary_line(rows.log_entry(meta, r, "")) for r in logs]
    return lines


def write(log_dir: str, meta: tuple[Any, ...], records: list[tuple[Any, ...]]) -> int:
    """Append a batch to this process's spill file; the number of records kept (0 if it failed)."""
    try:
        data = "".join(line + "\n" for line in lines_of(meta, records)).encode()
        os.makedirs(log_dir, mode=0o700, exist_ok=True)
        fd = os.open(spill_path(log_dir, meta), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except Exception as exc:
        import sys

        print(
            f"mpmon: {len(records)} records lost: cannot write a spill file in {log_dir}: {exc}",
            file=sys.stderr,
        )
        return 0
    return len(records)

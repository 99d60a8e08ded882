"""The spill file's format, read by both sides: the sender writes it (spill.py), the collector reads it
(collector/ingest.py).

A spill file holds the JSON lines the collector would have written (timing.log's call, error and log
lines), plus two things of its own: a batch that was sent but never confirmed marks each of its lines
with `"batch": "<id prefix>:<seq>"` (so a collector that did write it skips it), and records dropped
under the drop policy are one `{"event": "dropped", "count": n}` line.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BATCH_KEY", "DROPPED_EVENT", "batch_mark", "read_mark"]

BATCH_KEY: Final = "batch"
DROPPED_EVENT: Final = "dropped"


def batch_mark(prefix: str, seq: int) -> str:
    """The JSON member that closes each line of an unconfirmed batch, its closing brace included."""
    return f',"{BATCH_KEY}":"{prefix}:{seq}"}}'


def read_mark(mark: object) -> tuple[str, int]:
    """The (id prefix, seq) of a batch mark read back from a line."""
    prefix, _, seq = str(mark).rpartition(":")
    return prefix, int(seq)

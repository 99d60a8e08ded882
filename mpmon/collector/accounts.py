"""What the collector counts and what it keeps aside: the run's Stats (its run_summary line), the
batch header by name (Meta), and the Quarantine file of input that could not become rows."""

from __future__ import annotations

import base64
import os
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Final, NamedTuple

from .. import rows, schema
from ..losses import describe_losses  # worded as the stop's outcome words them (run/outcome.py)
from ..units import plural
from . import files
from .report import say

__all__ = ["QUARANTINE_BYTES", "QUARANTINE_ITEM", "Meta", "Quarantine", "Stats"]

QUARANTINE_BYTES = 64 << 20
"""A run keeps at most this much bad input aside; beyond it bad input is only counted."""
QUARANTINE_ITEM = 1 << 20
"""The first this many bytes (or characters) of one bad input are kept."""


class Meta(NamedTuple):
    """wire.META_FIELDS of a batch, by name."""

    pid: int
    process_name: str
    host: str
    id_prefix: str
    run_id: str


@dataclass
class Stats:
    """What the collector saw in this run; written as the run_summary line at stop."""

    by_source: Counter[str] = field(default_factory=Counter)
    errors: int = 0  # results rows with status "error"
    error_entries: int = 0  # error.log objects (caught errors), also the error results rows
    log_lines: int = 0  # captured logging records written to timing.log
    processes: set[tuple[str, int]] = field(default_factory=set)
    rejected: int = 0  # batches or messages refused (undecodable, malformed, oversized)
    oversized: int = 0  # of those: messages larger than the largest a batch can be
    quarantined: int = 0  # bad inputs (batches, spill lines, spill files) kept aside in the quarantine file
    refused_peers: int = 0  # connections that failed the handshake
    accept_errors: int = 0  # failures to accept a connection (out of file descriptors...), survived
    ingested: int = 0  # call records read from spill files
    gathered: int = 0  # records received at stop from the live processes it asked to hand over (GATHER)
    write_failures: int = 0  # records lost because a file could not be written (a full disk)
    dropped: int = 0  # records the senders dropped under the drop policy, as they reported
    files_reopened: int = 0  # log or results files found removed or replaced, and started anew
    unsafe_files: int = 0  # spill files or log paths refused: a link, not regular, elsewhere, not ours
    refused_spills: int = 0  # of those: spill files never read, so their records are lost
    directories_recreated: int = 0  # the log directory (and its lock file) made again after it went

    def counts(self) -> dict[str, Any]:
        """Every count but the processes, for the ledger (a restarted writer carries on from them)."""
        counts: dict[str, Any] = {"by_source": dict(self.by_source)}  # in the fields' order, as before
        counts.update((name, getattr(self, name)) for name in _COUNTED)
        return counts

    def lost(self, drop_policy: str) -> dict[str, int]:
        """What the run lost, by reason (losses.LOSS_REASONS); empty when every record was written."""
        counts = {
            "write_failures": self.write_failures,
            "rejected_payloads": self.rejected,
            "refused_spill_files": self.refused_spills,
            "unrequested_drops": 0 if drop_policy == "drop" else self.dropped,
        }
        return {why: count for why, count in counts.items() if count}

    def message(self, run_id: str, drop_policy: str = "block") -> str:
        calls = plural(sum(self.by_source.values()), "call")
        processes, errors = plural(len(self.processes), "process"), plural(self.errors, "error")
        losses = describe_losses(self.lost(drop_policy))
        incomplete = f"; INCOMPLETE: {losses}" if losses else ""
        return f"run {run_id}: {calls} from {processes}, {errors}{incomplete}"

    def summary(self, drop_policy: str = "block") -> dict[str, Any]:
        """The run_summary line's counts, each named for what it counts."""
        return {
            "records_by_source": dict(self.by_source),
            "errors": self.errors,
            "error_entries": self.error_entries,
            "log_lines": self.log_lines,
            "processes": len(self.processes),
            "dropped": self.dropped,
            "ingested": self.ingested,
            "gathered": self.gathered,
            "rejected_payloads": self.rejected,
            "oversized_messages": self.oversized,
            "quarantined": self.quarantined,
            "refused_peers": self.refused_peers,
            "accept_errors": self.accept_errors,
            "write_failures": self.write_failures,
            "files_reopened": self.files_reopened,
            "unsafe_files": self.unsafe_files,
            "refused_spill_files": self.refused_spills,
            "directories_recreated": self.directories_recreated,
            "lost": self.lost(drop_policy),
            "complete": not self.lost(drop_policy),
        }

    def restore(self, counts: dict[str, Any], processes: set[tuple[str, int]]) -> None:
        for name, value in counts.items():
            setattr(self, name, Counter(value) if name == "by_source" else value)
        self.processes |= processes


_COUNTED: Final = tuple(f.name for f in fields(Stats) if f.name not in ("by_source", "processes"))
"""The counts the ledger keeps (by_source as a dict of its own), read once: fields() is slow."""


class Quarantine:
    """The run's quarantine file, `mpmon-quarantine-<run_id>.jsonl`: one JSON line per bad input
    (the reason, and the input as text or base64), at most QUARANTINE_BYTES in all."""

    def __init__(self, log_dir: str, run_id: str) -> None:
        self.path = os.path.join(log_dir, f"{schema.QUARANTINE_PREFIX}{run_id}.jsonl")
        self._run_id = run_id
        self._bytes = 0

    def keep(self, reason: str, payload: bytes | str) -> None:
        kept = payload[:QUARANTINE_ITEM]
        entry: dict[str, Any] = {"timestamp": rows.iso_utc(time.time_ns()), "run_id": self._run_id}
        entry["reason"] = reason
        if isinstance(kept, bytes):
            entry["base64"] = base64.b64encode(kept).decode()
        else:
            entry["text"] = kept
        entry["truncated"] = len(kept) < len(payload)
        data = (rows.summary_line(entry) + "\n").encode()
        if self._bytes + len(data) > QUARANTINE_BYTES:
            return
        try:
            fd = files.open_fd(self.path)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            self._bytes += len(data)
        except OSError as exc:
            say("quarantine", f"cannot keep bad input in {self.path}: {exc}")

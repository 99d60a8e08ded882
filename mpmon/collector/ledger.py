"""The collector's ledger of what it wrote, so that a collector restarted after a crash neither loses
nor repeats records.

After each round the writer pushes its files to the operating system, then `commit()` appends one line
to the ledger (a file in the run's private socket directory): the size of each file and the batches
(sender id prefix, sequence number) now written. Only then are those batches confirmed to their
senders. A restarted collector `recover()`s: it cuts each file back to its last committed size, which
removes a half-written round (its batches were never confirmed, so their senders spill them again),
it skips every spilled batch the ledger lists as written, and it carries on counting from the counts
of the last commit. The same cut repairs the files after a failed write (a full disk) in a running
collector.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
from typing import Any

from .report import say

__all__ = ["Ledger", "sizes_of"]


COMPACT_BYTES = 4 << 20
"""A ledger that grows past this is rewritten as one line holding the same facts."""


class Ledger:
    """Committed file sizes and written batches of one run; kept in memory, appended to `path`."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.sizes: dict[str, list[int]] = {}  # path -> [size, inode]
        self.ingested: set[str] = set()
        self.counts: dict[str, Any] = {}
        self.processes: set[tuple[str, int]] = set()
        self._written: dict[str, list[list[int]]] = {}  # id prefix -> sorted [first, last] seq ranges
        self._size = 0
        self._limit = COMPACT_BYTES
        self._fd: int | None = None

    def seen(self, prefix: str, seq: int) -> bool:
        """True if the batch `seq` of the sender `prefix` was written (and committed) in this run."""
        ranges = self._written.get(prefix)
        if not ranges:
            return False
        index = bisect.bisect_right(ranges, seq, key=lambda r: r[0])
        return index > 0 and ranges[index - 1][1] >= seq

    def commit(
        self,
        sizes: dict[str, list[int]],
        batches: list[tuple[str, int]],
        ingested: tuple[str, ...] = (),
        counts: dict[str, Any] | None = None,
        processes: list[tuple[str, int]] | None = None,
    ) -> None:
        """Record a round: the files' sizes now, the batches and spill files it wrote, the run's counts
        so far and the processes seen for the first time."""
        grouped: dict[str, list[int]] = {}
        for prefix, seq in batches:
            self._add(prefix, seq, seq)
            grouped.setdefault(prefix, []).append(seq)
        self.sizes.update(sizes)
        self.ingested.update(ingested)
        self.counts = counts or self.counts
        self.processes.update(processes or ())
        if self.path is None:
            return
        if self._size > self._limit:
            self._compact()
            return
        entry: dict[str, Any] = {
            "sizes": sizes,
            "batches": grouped,
            "ingested": list(ingested),
            "counts": counts,
        }
        if processes:
            entry["processes"] = processes
        self._append(json.dumps(entry, separators=(",", ":")) + "\n")

    def recover(self, cut: bool = True) -> None:
        """Read the ledger a dead collector left and (if `cut`) cut its half-written round off the files.

        The writer passes `cut=False` when another run has written to the directory since: the bytes
        beyond the committed sizes may then be that run's, and are never removed."""
        if self.path is None or not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as ledger:
            for line in ledger:
                try:
                    entry = json.loads(line)
                except ValueError:  # the line the collector was writing when it died
                    break
                self.sizes.update(entry["sizes"])
                self.ingested.update(entry["ingested"])
                self.counts = entry.get("counts") or self.counts
                self.processes.update((host, pid) for host, pid in entry.get("processes", ()))
                for prefix, seqs in entry.get("batches", {}).items():
                    for seq in seqs:
                        self._add(prefix, seq, seq)
                for prefix, ranges in entry.get("ranges", {}).items():
                    for first, last in ranges:
                        self._add(prefix, first, last)
        if cut:
            self.cut_back(self.sizes, loud=True)

    @staticmethod
    def cut_back(sizes: dict[str, list[int]], loud: bool = False) -> None:
        """Truncate every file to its size in `sizes` ([size, inode]; what lies beyond was never
        confirmed). Only the very file that was measured is cut, through a descriptor opened without
        following links: a log rotated since (its inode is now `path.1`, or `path.2`...) is cut there,
        and the files that rotation made after it, which hold only unconfirmed lines, are emptied."""
        for path, (size, inode) in sizes.items():
            if not inode:
                continue
            newer: list[tuple[str, int]] = []
            for candidate in [path, *(f"{path}.{i}" for i in range(1, 1000))]:
                try:
                    found = os.lstat(candidate).st_ino
                except OSError:
                    break
                if found == inode:
                    for emptied, its_inode in newer:
                        with contextlib.suppress(OSError):
                            _truncate(emptied, 0, its_inode, loud)
                    with contextlib.suppress(OSError):
                        _truncate(candidate, size, inode, loud)
                    break
                newer.append((candidate, found))

    def _add(self, prefix: str, first: int, last: int) -> None:
        ranges = self._written.setdefault(prefix, [])
        if ranges and ranges[-1][0] <= first <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], last)
        elif not (self.seen(prefix, first) and self.seen(prefix, last)):
            bisect.insort(ranges, [first, last], key=lambda r: r[0])

    def _compact(self) -> None:
        """Rewrite the ledger as a single line of everything it holds (atomically: write, then rename)."""
        assert self.path is not None
        entry = {
            "sizes": self.sizes,
            "ranges": self._written,
            "ingested": sorted(self.ingested),
            "counts": self.counts,
            "processes": sorted(self.processes),
        }
        fresh = self.path + ".new"
        with contextlib.suppress(OSError):
            os.unlink(fresh)
        self._size = 0
        self.close()
        self.path, target = fresh, self.path
        self._append(json.dumps(entry, separators=(",", ":")) + "\n")
        if self.path is None:  # the write failed and disabled the ledger
            with contextlib.suppress(OSError):
                os.unlink(target)
            return
        self.close()
        try:
            os.replace(fresh, target)
        except OSError as exc:
            self._disable(exc)
            return
        self.path = target
        self._limit = max(COMPACT_BYTES, 2 * self._size)

    def _append(self, text: str) -> None:
        assert self.path is not None
        data = text.encode()
        try:
            if self._fd is None:  # kept open between rounds: an open and a close a round less
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if os.write(self._fd, data) < len(data):
                raise OSError("short write")
        except OSError as exc:
            self._disable(exc)
            return
        self._size += len(data)

    def close(self) -> None:
        """Close the ledger's descriptor (the next commit opens it again)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _disable(self, exc: OSError) -> None:
        # A ledger that misses a round would cut confirmed records off at a restart: drop it instead
        # (a restarted collector then cuts nothing and may repeat a few records, but loses none).
        say("ledger", f"ledger disabled ({exc})", always=True)
        self.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # type: ignore[arg-type]
        self.path = None


def sizes_of(paths: Any) -> dict[str, list[int]]:
    """The current [size, inode] of each path ([0, 0] for a file that does not exist yet)."""
    sizes = {}
    for path in paths:
        try:
            found = os.stat(path)
            sizes[path] = [found.st_size, found.st_ino]
        except OSError:
            sizes[path] = [0, 0]
    return sizes


def _truncate(path: str, size: int, inode: int, loud: bool) -> None:
    from .files import open_fd

    fd = open_fd(path, os.O_WRONLY)
    try:
        found = os.fstat(fd)
        if found.st_ino != inode or found.st_size <= size:
            return
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    if loud:
        say("ledger", f"cut {path} back to {size} bytes", always=True)

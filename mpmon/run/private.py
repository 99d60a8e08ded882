"""The collector's private directory (`mpmon-XXXXXXXX/` in the temp dir: its socket and its ledger).

Each holds a marker file naming the collector process that uses it and the program that owns it (pid
and start time of each), so that the next `start_collector()` can remove the directories of runs that
are gone (a SIGKILLed program never ran its stop): only directories of this user, only mpmon's (the
marker), only those whose collector and owner are both dead. A live owner whose collector was killed
restarts a collector in the same directory, so its directory is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from typing import Final

__all__ = ["MARKER", "PREFIX", "make", "mark", "sweep"]

PREFIX: Final = "mpmon-"
MARKER: Final = "mpmon-collector.json"


def make() -> str:
    """A new private directory (mode 0700), marked as this process's until `mark()` names the collector."""
    directory = tempfile.mkdtemp(prefix=PREFIX)
    mark(directory, os.getpid())
    return directory


def mark(directory: str, pid: int) -> None:
    """Say in `directory` that the collector process `pid` uses it, for this process (its owner)."""
    owner = os.getpid()
    path = os.path.join(directory, MARKER)
    facts = {"pid": pid, "started": _started(pid), "owner": owner, "owner_started": _started(owner)}
    with open(path + ".new", "w", encoding="utf-8") as marker:
        json.dump(facts, marker)
    os.replace(path + ".new", path)


def _started(pid: int) -> float:
    import psutil  # here, not at import: `import mpmon` stays light

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


def sweep(parent: str | None = None) -> list[str]:
    """Remove the private directories of dead collectors of this user; the directories removed."""
    parent = parent or tempfile.gettempdir()
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            if entry.name.startswith(PREFIX) and _abandoned(entry.path):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
    return removed


def _abandoned(directory: str) -> bool:
    """True for a directory of this user, not a link, with a marker whose collector and owner are gone."""
    try:
        found = os.lstat(directory)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid():
            return False
        marker = os.path.join(directory, MARKER)
        if not stat.S_ISREG(os.lstat(marker).st_mode):
            return False
        with open(marker, encoding="utf-8") as text:
            facts = json.load(text)
        processes = [(int(facts["pid"]), float(facts["started"]))]
        if "owner" in facts:
            processes.append((int(facts["owner"]), float(facts["owner_started"])))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(_gone(pid, started) for pid, started in processes)


def _gone(pid: int, started: float) -> bool:
    """True if the process `pid` that started at `started` has ended (a zombie, or its pid reused)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped
            return True
        return bool(started) and abs(process.create_time() - started) > 1.0  # the pid was reused
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False

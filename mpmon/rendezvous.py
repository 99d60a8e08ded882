"""Where the processes of one host find a collector they did not start: a 0600 file in this user's
private directory of the host (0700), naming the collector's `MPMON_*` environment and the pid of the
process that owns it. The key never leaves the host; a file whose owner died is not believed.

Used by the cluster integrations (`mpmon.dask`, `mpmon.ray`): the owner of a host's collector
publishes, the host's workers wait for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from typing import Any

__all__ = ["alive", "await_published", "private_dir", "published_env", "withdraw", "write_private"]


def private_dir() -> str:
    """This user's private directory of the host: created 0700, refused if anyone else could write it."""
    path = os.path.join(tempfile.gettempdir(), f"mpmon-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"mpmon: {path} must be a directory of this user that only it can open")
    return path


def write_private(path: str, content: dict[str, Any]) -> None:
    """Write a 0600 JSON file atomically (readers never see half of it)."""
    partial = f"{path}.{os.getpid()}.tmp"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(content, out)
    os.replace(partial, path)


def withdraw(path: str) -> None:
    """Remove a published file (its collector stopped)."""
    with contextlib.suppress(OSError):
        os.remove(path)


def published_env(path: str) -> dict[str, str] | None:
    """The environment published in `path` if its owner is alive, else None."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
        with open(path, encoding="utf-8") as published:
            content = json.load(published)
        if alive(int(content["pid"])):
            return {str(k): str(v) for k, v in content["env"].items()}
    return None


def await_published(path: str, wait: float) -> dict[str, str]:
    """The environment published in `path`, once a live owner has published it (TimeoutError after
    `wait` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        env = published_env(path)
        if env is not None:
            return env
        if time.monotonic() >= deadline:
            raise TimeoutError(f"mpmon: no collector was published in {path} within {wait:g} s")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """True if a process `pid` exists (of any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""The one rule by which the analysis opens a file: never through a link of any kind, only a regular file
of this user (the collector's rule, collector/files.py, for reading).

A log directory may hold what someone else planted: a symlink or a hard link to a file outside it (a
secret of the user's, or a huge device), or another user's file. `vet(path)` says why a path is not read
(None: it may be), `open_vetted(path)` opens it without following a symlink (`O_NOFOLLOW`) and checks
the open file itself, so that a path swapped after `vet` is still refused. An engine that opens paths
itself (pyarrow's dataset scanner, DuckDB) is handed only paths `vet` passed. Every refusal is said
once on the "mpmon.analysis" logger (stderr by default: `mpmon-analyze: skipped <path>: <why>`).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Final

__all__ = ["UnsafeFile", "open_vetted", "skip", "vet", "vet_directory", "vetted"]

_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO cannot hang us
LOG: Final = logging.getLogger("mpmon.analysis")


class UnsafeFile(OSError):
    """A path the analysis refuses to read (the reason is the exception's text)."""


def _why(found: os.stat_result, directory: bool = False) -> str | None:
    if stat.S_ISLNK(found.st_mode):
        return "it is a symlink"
    if directory:
        if not stat.S_ISDIR(found.st_mode):
            return "not a directory"
    elif not stat.S_ISREG(found.st_mode):
        return "not a regular file"
    if found.st_uid != os.geteuid():
        return f"owned by uid {found.st_uid}, not by this user"
    if not directory and found.st_nlink > 1:
        return f"it is a hard link ({found.st_nlink} names)"
    return None


def vet(path: str | os.PathLike[str]) -> str | None:
    """Why the analysis will not read the file `path` (a symlink, a hard link, not a regular file, another
    user's, missing), or None if it may."""
    try:
        return _why(os.lstat(path))
    except OSError as exc:
        return exc.strerror or str(exc)


def vet_directory(path: str | os.PathLike[str]) -> str | None:
    """The same for a directory the analysis walks (a Parquet dataset, a host partition)."""
    try:
        return _why(os.lstat(path), directory=True)
    except OSError as exc:
        return exc.strerror or str(exc)


def open_vetted(path: str | os.PathLike[str]) -> io.BufferedReader:
    """`path` opened for reading in binary, by the rule of `vet` checked on the open file; UnsafeFile
    (an OSError) otherwise."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):
            raise UnsafeFile(exc.errno, f"refusing {path}: it is a symlink or not a regular file") from None
        raise
    try:
        reason = _why(os.fstat(fd))
        if reason is not None:
            raise UnsafeFile(errno.EPERM, f"refusing {path}: {reason}")
        os.set_blocking(fd, True)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def skip(path: str | os.PathLike[str], reason: str) -> None:
    """Say that `path` was not read, and why (one line on the "mpmon.analysis" logger)."""
    LOG.warning("skipped %s: %s", os.fspath(path), reason)


def vetted(paths: Iterable[Path]) -> list[Path]:
    """The paths that pass `vet`; each other one is skipped (and said)."""
    kept = []
    for path in paths:
        reason = vet(path)
        if reason is None:
            kept.append(path)
        else:
            skip(path, reason)
    return kept

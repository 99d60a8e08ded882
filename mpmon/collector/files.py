"""The collector's file safety, as small named mechanisms the sinks use.

- `open_fd()` opens without following a symlink (`O_NOFOLLOW`) and accepts only a regular file owned by
  the collector's user with one link (a hard link planted in the directory names a file outside it just
  as a symlink does; `UnsafeFile` otherwise); a new file is 0600 (the collector's umask, made from
  `start_collector(file_mode=...)`).
- `check_existing()` refuses, before a run starts, a log path that is a link, not a regular file, or
  another user's.
- `confined()` refuses a path a record names (a decorator's `error_log_file`) unless it is a file of
  the log directory (or of a directory below it) by its real path: no `..` out of it, no symlinked
  parent, none of the run's own files. `open_dir()` then opens that file's directory one component at a
  time from the log directory down, never through a symlink, so that a directory swapped for a link
  after that check is refused at the open itself (the sink opens, stats and rotates the file relative
  to that descriptor).
- `DirectoryLock` is the lock file of a log directory: a collector holds it around each write round and
  each rotation, so that two runs writing into one directory never interleave a line or a header, and
  each sink re-opens a path whose inode changed (rotated by the other run, or deleted by a user) before
  writing, as `logging.handlers.WatchedFileHandler` does.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from typing import Final

from .. import schema

__all__ = [
    "MAX_PATH",
    "DirectoryLock",
    "UnsafeFile",
    "check_existing",
    "confined",
    "open_dir",
    "open_fd",
    "replaced",
]

_NOFOLLOW: Final = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO cannot hang us
_DIRECTORY: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFile(OSError):
    """A path the collector refuses to open: a symlink, a hard link, not a regular file, or another user's."""


def open_fd(
    path: str,
    flags: int = os.O_WRONLY | os.O_APPEND | os.O_CREAT,
    mode: int = 0o666,
    dir_fd: int | None = None,
) -> int:
    """A descriptor of `path` (relative to `dir_fd` if given), never through a symlink, only of a regular
    file owned by this user.

    A new file gets `mode` less the umask (the collector's umask comes from `file_mode`: 0600 by default)."""
    try:
        fd = os.open(path, flags | _NOFOLLOW, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EMLINK):
            raise UnsafeFile(exc.errno, f"refusing {path}: it is a symlink or not a regular file") from None
        raise
    try:
        _check(path, os.fstat(fd))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check(path: str, found: os.stat_result) -> None:
    if not stat.S_ISREG(found.st_mode):
        raise UnsafeFile(errno.EPERM, f"refusing {path}: not a regular file")
    if found.st_uid != os.geteuid():
        raise UnsafeFile(errno.EPERM, f"refusing {path}: owned by uid {found.st_uid}, not by this user")
    if found.st_nlink > 1:
        raise UnsafeFile(errno.EMLINK, f"refusing {path}: it is a hard link ({found.st_nlink} names)")


def check_existing(path: str) -> None:
    """UnsafeFile if `path` exists and is a symlink, a hard link, not a regular file, or another user's."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(found.st_mode):
        raise UnsafeFile(errno.ELOOP, f"refusing {path}: it is a symlink")
    _check(path, found)


MAX_PATH: Final = 4096
"""Longest path a record may name (a decorator's error_log_file)."""
_OWN_NAMES: Final = frozenset(
    (schema.TIMING_LOG, schema.RESULTS_CSV, schema.RESULTS_PARQUET, schema.ERROR_RESULTS_CSV,
     schema.ERROR_RESULTS_PARQUET, schema.LIVE_SNAPSHOT, schema.LOCK_FILE)
)  # fmt: skip
_OWN_PREFIXES: Final = (schema.TIMING_LOG + ".", schema.QUARANTINE_PREFIX, schema.SPILL_PREFIX)


def confined(directory: str, path: object) -> str:
    """The real path of the file `path` names (a relative one from `directory`), if it lies in
    `directory` or a directory below it; UnsafeFile otherwise, or if it is one of the run's own files
    (timing.log, the results, the lock...) or an existing file check_existing() refuses.

    Why: a keyed sender names its error_log_file in its records, and the collector must not append to
    a file of its choice elsewhere (`../x`, an absolute path, a parent that is a symlink)."""
    if type(path) is not str or not path or "\0" in path or len(path) > MAX_PATH:
        raise UnsafeFile(errno.EINVAL, f"refusing the path {str(path)[:200]!r}: not a file name")
    home = os.path.realpath(directory)
    full = os.path.normpath(os.path.join(home, path))
    parent, name = os.path.realpath(os.path.dirname(full)), os.path.basename(full)
    if os.path.commonpath((home, parent)) != home:
        raise UnsafeFile(errno.EPERM, f"refusing {path}: it is outside the log directory {directory}")
    if parent == home and (name in _OWN_NAMES or name.startswith(_OWN_PREFIXES)):
        raise UnsafeFile(errno.EPERM, f"refusing {path}: it is one of the run's own files")
    try:
        check_existing(os.path.join(parent, name))
    except UnsafeFile:
        raise
    except OSError as exc:  # a parent that is a file, say
        raise UnsafeFile(errno.EPERM, f"refusing {path}: {exc.strerror or exc}") from None
    return os.path.join(parent, name)


def open_dir(home: str, parts: tuple[str, ...]) -> int:
    """A descriptor of the directory `home`/`parts`..., each part opened from the one above it without
    following a symlink (made if missing, as os.makedirs would): UnsafeFile if one is a link or not a
    directory, whenever it became one. `home` (the log directory) is trusted as it is."""
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                try:
                    below = os.open(part, _DIRECTORY, dir_fd=fd)
                except FileNotFoundError:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                    below = os.open(part, _DIRECTORY, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeFile(
                        exc.errno, f"refusing {part!r} in {home}: a link or not a directory"
                    ) from None
                raise
            os.close(fd)
            fd = below
    except BaseException:
        os.close(fd)
        raise
    return fd


def replaced(path: str, fd: int, dir_fd: int | None = None) -> bool:
    """True when `path` (relative to `dir_fd` if given) no longer names the file open as `fd` (deleted,
    rotated or replaced)."""
    try:
        now = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return True
    held = os.fstat(fd)
    return (now.st_ino, now.st_dev) != (held.st_ino, held.st_dev)


class DirectoryLock:
    """The lock file of a log directory, taken around each write round and rotation (`with lock:`).

    Re-entrant within the process (a rotation inside a round does not lock twice). The file also
    records who wrote last (`mark`), so a restarted writer cuts a half-written round off a file only
    if no other run has written to the directory since.
    """

    def __init__(self, path: str, owner: str) -> None:
        self.path = path
        self._owner = owner.encode()
        self._fd = open_fd(path, os.O_RDWR | os.O_CREAT)
        self._depth = 0

    @property
    def fd(self) -> int:
        return self._fd

    def reopen(self) -> None:
        """Open the lock file again (created if it went), between rounds: it was removed with its
        directory, and a second run would otherwise lock another file than this one."""
        fd = open_fd(self.path, os.O_RDWR | os.O_CREAT)
        self.close()
        self._fd = fd

    def __enter__(self) -> DirectoryLock:
        if self._depth == 0:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @property
    def owner(self) -> str:
        return self._owner.decode()

    def mark(self) -> None:
        """Say (under the lock) that this writer is the last to write to the directory."""
        os.pwrite(self._fd, self._owner.ljust(160), 0)

    def last_writer(self) -> str:
        return os.pread(self._fd, 160, 0).decode(errors="replace").strip()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

"""The unit set stays in this process: a test that starts a process (a collector, a pool worker, a
subprocess) or leaves one behind fails, so a real-process test cannot slip in here and slow the set down."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import psutil
import pytest

_STARTS = ("subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.exec")
_started: list[str] = []
_watching = False


def _audit(event: str, args: tuple[object, ...]) -> None:
    """Audit hook (it stays for the session; it notes process starts only while a unit test runs)."""
    if _watching and event.startswith(_STARTS):
        _started.append(f"{event} {args[0] if args and isinstance(args[0], str) else ''}".strip())


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def no_child_process() -> Iterator[None]:
    """The test starts no process, and this process has no child process after it."""
    global _watching
    _started.clear()
    _watching = True
    try:
        yield
    finally:
        _watching = False
    children = psutil.Process().children(recursive=True)
    message = "a unit test started a process: it belongs with the real-process tests"
    assert (_started, children) == ([], []), message

"""Starting the collector process, from the program that owns the run: the run's settings checked
before anything is made, the log directory and the private directory made, `python -m mpmon.collector`
launched and waited for until it listens, and its address, key and run id published in `os.environ`
(and taken back at stop), so every descendant process finds it.

`control.py` decides when (start, restart, stop); this module only knows how.
"""

from __future__ import annotations

import os
import secrets
import select
import subprocess
import sys
import tempfile
from typing import Any, Final

from .. import environment, schema
from ..collector import files
from ..collector.settings import Settings, check_run_id, new_run_id
from . import private, program

__all__ = ["READY_TIMEOUT", "launch", "publish", "settings", "umask", "unpublish", "writable_dir"]

READY_TIMEOUT: Final = 60.0
"""How long a new collector process has to say it listens."""


def settings(
    log_dir: str | os.PathLike[str],
    results_format: str,
    max_bytes: int,
    backup_count: int,
    log_to_console: bool,
    capture_logging: bool,
    tag: str | None,
    log_to_file: bool,
    drop_policy: str,
    run_id: str | None,
) -> Settings:
    """The run's settings, checked (ValueError) before anything is made; then its private directory."""
    run_id = new_run_id() if run_id is None else check_run_id(run_id)
    Settings("", run_id, "", "", "", None, results_format, max_bytes, backup_count, drop_policy=drop_policy)
    directory = writable_dir(log_dir)
    private.sweep()
    socket_dir = private.make()  # 0700: only this user can reach the socket
    return Settings(
        log_dir=directory,
        run_id=run_id,
        address=os.path.join(socket_dir, "collector.sock"),
        authkey=secrets.token_bytes(32).hex(),
        private_dir=socket_dir,
        ledger=os.path.join(socket_dir, "ledger"),
        results_format=results_format,
        max_bytes=max_bytes,
        backup_count=backup_count,
        log_to_console=bool(log_to_console),
        log_to_file=bool(log_to_file),
        capture_logging=bool(capture_logging),
        tag=tag,
        drop_policy=drop_policy,
        program=program.describe(),
    )


def umask(file_mode: int) -> int:
    """The umask that creates files with `file_mode` and directories with it plus search permission."""
    if not isinstance(file_mode, int) or file_mode & ~0o666 or file_mode & 0o600 != 0o600:
        raise ValueError(f"file_mode must let the owner read and write (0o600, 0o640...), not {file_mode!r}")
    return 0o777 & ~(file_mode | (file_mode & 0o444) >> 2)


def writable_dir(log_dir: str | os.PathLike[str]) -> str:
    """The absolute log directory, created if missing; a clear error if it cannot be written."""
    directory = os.path.abspath(os.fspath(log_dir))
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise PermissionError(f"mpmon cannot write its logs to {directory}: {exc.strerror or exc}") from exc
    names = (
        schema.TIMING_LOG,
        schema.RESULTS_CSV,
        schema.ERROR_LOG,
        schema.ERROR_RESULTS_CSV,
        schema.LOCK_FILE,
    )
    for name in names:
        files.check_existing(os.path.join(directory, name))
    return directory


_NO_WORKING_DIRECTORY: Final = (
    ("-P", "-m")
    if sys.version_info >= (3, 11)
    else ("-c", "import runpy, sys; del sys.path[0]; runpy.run_module(sys.argv[1], run_name='__main__')")
)
"""How the collector's module is run: not from the working directory, which `python -m` puts first on
the path (a directory holding another package named mpmon would otherwise give its collector)."""


def launch(config: Settings) -> subprocess.Popen[bytes]:
    """Start the collector process and wait until it listens."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [sys.executable, *_NO_WORKING_DIRECTORY, "mpmon.collector"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,  # a Ctrl-C for the program must not kill the writer before it drains
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(config.to_json().encode())
    process.stdin.close()
    answer = _read_line(process.stdout, READY_TIMEOUT)
    process.stdout.close()
    if answer != "ready":
        process.kill()
        process.wait()
        raise RuntimeError(f"the mpmon collector did not start: {answer or 'no answer'}")
    private.mark(config.private_dir, process.pid)
    return process


def _read_line(stream: Any, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline().decode(errors="replace").strip() if ready else ""


def publish(config: Settings) -> None:
    os.environ.update(
        {
            environment.ADDRESS: config.address,
            environment.AUTHKEY: config.authkey,
            environment.RUN_ID: config.run_id,
            environment.LOG_DIR: config.log_dir,
            environment.OWNER_PID: str(os.getpid()),
            environment.CAPTURE_LOGGING: "1" if config.capture_logging else "0",
            environment.LOG_TO_CONSOLE: "1" if config.log_to_console else "0",
            environment.DROP_POLICY: config.drop_policy,
            environment.SANITIZE: config.sanitize or "",
        }
    )


def unpublish() -> None:
    """Forget the stopped collector; keep the log directory, where late records are spilled."""
    for name in (environment.ADDRESS, environment.AUTHKEY, environment.OWNER_PID):
        os.environ.pop(name, None)

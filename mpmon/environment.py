"""The environment variables through which every descendant process finds the run's collector.

`start_collector()` sets them in `os.environ`, so processes made by fork, spawn, forkserver, the
`multiprocess` package or `subprocess` all inherit them with no initializer and no argument passing.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any, Final, NamedTuple

from . import compat

__all__ = [
    "ADDRESS",
    "AUTHKEY",
    "CAPTURE_LOGGING",
    "CLUSTER_LOG_DIR",
    "CLUSTER_RUN_ID",
    "CONSOLE_LINES",
    "DROP_POLICY",
    "HOSTNAME",
    "LOG_DIR",
    "LOG_TO_CONSOLE",
    "OWNER_PID",
    "RUN_ID",
    "SANITIZE",
    "TEST_SLOW_SINK",
    "Discovery",
    "cluster_run",
    "discover",
    "engine",
    "format_address",
    "host_name",
    "is_owner",
    "is_top_level",
    "parse_address",
    "pool_worker_args",
]

ADDRESS: Final = "MPMON_ADDRESS"
"""Path of the collector's Unix socket (or host:port for the opt-in TCP listener)."""
AUTHKEY: Final = "MPMON_AUTHKEY"
"""Hex of the random key the collector's handshake demands."""
RUN_ID: Final = "MPMON_RUN_ID"
"""The run every record belongs to."""
LOG_DIR: Final = "MPMON_LOG_DIR"
"""Absolute log directory: where spill files go when no collector answers."""
CAPTURE_LOGGING: Final = "MPMON_CAPTURE_LOGGING"
""""1" when ordinary logging records of every process are forwarded to timing.log."""
LOG_TO_CONSOLE: Final = "MPMON_LOG_TO_CONSOLE"
""""1" when the run prints on the console: a captured log line nobody else shows is echoed on stderr."""
OWNER_PID: Final = "MPMON_OWNER_PID"
"""Pid of the process that started the collector (it flushes at exit, not at SIGTERM)."""
DROP_POLICY: Final = "MPMON_DROP_POLICY"
""""block" (default: a call waits for a slow collector) or "drop" (records are dropped and counted)."""
SANITIZE: Final = "MPMON_SANITIZE"
""""module:function" of the run's sanitizer, applied in every process to the texts it sends."""
HOSTNAME: Final = "MPMON_HOSTNAME"
"""When set, the host name every record carries (its batch meta) instead of `socket.gethostname()`."""
CONSOLE_LINES: Final = "MPMON_CONSOLE_LINES_PER_SECOND"
"""Calls a second above which the console shows a status line a second instead of a line per call
(default 5; 0: always a line per call). Read by the collector when it starts."""
CLUSTER_LOG_DIR: Final = "MPMON_CLUSTER_LOG_DIR"
"""Set by `mpmon.dask.Monitor` in a client process without a collector: the log directory of this host in
the monitored cluster's root, where the client's own calls join the cluster's run."""
CLUSTER_RUN_ID: Final = "MPMON_CLUSTER_RUN_ID"
"""The monitored cluster's run id, beside CLUSTER_LOG_DIR."""
TEST_SLOW_SINK: Final = "MPMON_TEST_SLOW_SINK_SECONDS"
"""For tests only: seconds the collector spends on each batch it writes (a collector that cannot keep up)."""

DEFAULT_LOG_DIR: Final = "logs"


class Discovery(NamedTuple):
    """What a process learns about the run from its environment."""

    address: str | tuple[str, int] | None
    authkey: bytes | None
    run_id: str
    log_dir: str
    capture_logging: bool
    drop_policy: str


def discover() -> Discovery:
    """Read the run's settings from the environment (all unset outside a run)."""
    env = os.environ
    address = parse_address(env.get(ADDRESS) or "")
    key = env.get(AUTHKEY)
    try:
        authkey = bytes.fromhex(key) if key else None
    except ValueError:
        authkey = None
    return Discovery(
        address=address,
        authkey=authkey,
        run_id=env.get(RUN_ID, ""),
        log_dir=env.get(LOG_DIR) or os.path.abspath(DEFAULT_LOG_DIR),
        capture_logging=env.get(CAPTURE_LOGGING) == "1",
        drop_policy="drop" if env.get(DROP_POLICY) == "drop" else "block",
    )


def host_name() -> str:
    """The host name put on this process's records: $MPMON_HOSTNAME, else `socket.gethostname()`."""
    return os.environ.get(HOSTNAME) or socket.gethostname()


def format_address(address: str | tuple[str, int]) -> str:
    """The text form of a listener address: a socket path, or host:port."""
    return address if isinstance(address, str) else f"{address[0]}:{address[1]}"


def parse_address(text: str) -> str | tuple[str, int] | None:
    """The listener address that `format_address` wrote, or None for an empty or malformed one."""
    if not text:
        return None
    if text.startswith("/"):
        return text
    host, _, port = text.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def is_owner() -> bool:
    """True in the process that started the run's collector."""
    return os.environ.get(OWNER_PID) == str(os.getpid())


def pool_worker_args() -> tuple[Any, ...] | None:
    """The arguments of this process's worker loop if it is a worker of multiprocessing's, multiprocess's
    or concurrent.futures' pools (each's second argument is the queue its results go back on); None in
    any other process."""
    import multiprocessing

    processes = [multiprocessing.current_process()]
    other = sys.modules.get("multiprocess")
    if other is not None:
        processes.append(other.current_process())
    for process in processes:
        found = compat.pool_worker_args(process)
        if found is not None:
            return found
    return None


def is_top_level() -> bool:
    """True unless this process was started by multiprocessing or the multiprocess package."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        return False
    other = sys.modules.get("multiprocess")
    return other is None or other.parent_process() is None


NANNY_WORKER_NAME: Final = "Dask Worker process (from Nanny)"
"""The process name a Dask nanny gives its worker process (distributed/nanny.py)."""
_DASK_CLI: Final = ("distributed.cli.dask_worker", "distributed.cli.dask_spec")
_RAY_WORKER_MAIN: Final = os.path.join("ray", "_private", "workers", "default_worker.py")


def engine() -> str | None:
    """The engine that started this process as one of its workers ("loky", "dask", "ray"), else None.

    Such a process is no top-level program: it must never start a collector of its own in its working
    directory (a stray run). The one place that knows how each engine's workers look."""
    import multiprocessing

    main = sys.modules.get("__main__")
    main_name = str(getattr(getattr(main, "__spec__", None), "name", "") or "")
    process = multiprocessing.current_process()
    if main_name.endswith("backend.popen_loky_posix") or "loky" in type(process).__name__.lower():
        return "loky"
    if process.name == NANNY_WORKER_NAME or any(name in sys.modules for name in _DASK_CLI):
        return "dask"
    if str(getattr(main, "__file__", "") or "").endswith(_RAY_WORKER_MAIN):
        return "ray"
    return None


def cluster_run() -> tuple[str, str] | None:
    """(log_dir, run_id) of the monitored cluster this client process belongs to (see CLUSTER_LOG_DIR)."""
    log_dir, run_id = os.environ.get(CLUSTER_LOG_DIR), os.environ.get(CLUSTER_RUN_ID)
    return (log_dir, run_id) if log_dir and run_id else None

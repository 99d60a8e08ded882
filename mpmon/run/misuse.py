"""What `start_collector()` says when it is called in a way that would misplace records.

Each case used to pass in silence; each now gets one line on stderr that says what happened and what
to do (see the README's "When mpmon speaks up"):

- a second `start_collector()` whose settings differ from the running collector's: ignored, said;
- a `start_collector()` after a monitored call had started a collector with the defaults: that one
  is stopped (its records stay where they are, said) and the run goes on with the settings asked;
- a `start_collector()` after this process started child processes (a pool made first): those
  children cannot find the new collector, and their records go to spill files elsewhere, said;
- a `start_collector()` in a process that inherited a run from its parent while it re-runs the main
  module (a spawned child, or the forkserver, of a script whose call is not under
  `if __name__ == "__main__":`): it joins that run, in silence, instead of starting a collector each.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Iterator
from typing import Any

from .. import compat, environment, render

__all__ = [
    "asked",
    "children_expected",
    "differences",
    "inherits_run",
    "live_children",
    "say",
    "say_children",
    "say_ignored",
    "say_no_collector",
    "say_switched",
]

_COMPARED = (
    "log_dir", "results_format", "max_bytes", "backup_count", "log_to_console", "capture_logging", "tag",
    "log_to_file", "drop_policy", "logging_config", "sanitize_func", "file_mode", "run_id", "strict",
)  # fmt: skip


def say(line: str) -> None:
    """One line on stderr, prefixed "mpmon: "."""
    print(f"mpmon: {line}", file=sys.stderr, flush=True)


def say_ignored(changed: list[str], log_dir: str, run_id: str) -> None:
    say(
        f"start_collector() ignored ({', '.join(changed)}): this process's collector already runs "
        f"(log_dir {log_dir}, run {run_id}). Call mpmon.stop_collector() first to start one with other "
        "settings."
    )


def say_switched(old_dir: str, old_run: str, new_dir: str, new_run: str) -> None:
    say(
        f"a monitored call before start_collector() had started a collector with the defaults: its "
        f"records stay in {old_dir} (run {old_run}); the run goes on in {new_dir} (run {new_run}). Call "
        "start_collector() before the first monitored call to have one run."
    )


def say_children(children: int, spill_dir: str, log_dir: str) -> None:
    """Children started before the collector spill into `spill_dir`: lost to the run unless that is its
    log directory, where the collector takes spill files in (later: every few seconds and at stop)."""
    where = (
        f"go to spill files in {log_dir}, which it takes in only every few seconds and at stop"
        if os.path.realpath(spill_dir) == os.path.realpath(log_dir)
        else f"go to spill files in {spill_dir}, not to {log_dir}"
    )
    say(
        f"start_collector() ran after this process had started {children} child process(es) (a pool "
        f"made first?): they cannot find this collector, so their records {where}. Call "
        "start_collector() before making pools."
    )


def say_no_collector(failure: BaseException) -> None:
    say(
        f"no collector could be started for this program's monitored calls ({failure}); the calls run, "
        "their records are spilled or counted as lost. Call mpmon.start_collector(log_dir=...) with a "
        "directory mpmon can write."
    )


def asked(arguments: dict[str, Any]) -> dict[str, Any]:
    """What a start_collector() call asked for (from its `locals()`), comparable with another call's."""
    found = {name: arguments[name] for name in _COMPARED}
    found["log_dir"] = os.path.abspath(os.fspath(found["log_dir"]))
    found["sanitize_func"] = render.sanitizer_name(found["sanitize_func"])
    return found


def differences(running: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """The settings of `asked` that differ from `running`, as `name=value` (run_id only when given)."""
    return [
        f"{name}={value!r}"
        for name, value in asked.items()
        if running.get(name) != value and not (name == "run_id" and value is None)
    ]


@contextlib.contextmanager
def children_expected() -> Iterator[None]:
    """Inside the block, child processes started before the collector are known to be restarted with
    its environment (a Dask nanny's worker): not said."""
    global _children_expected
    _children_expected = True
    try:
        yield
    finally:
        _children_expected = False


_children_expected = False


def live_children() -> int:
    """How many child processes this process started with multiprocessing (or `multiprocess`) that
    still run: pool workers made before the collector cannot find it. The server of a `Manager()` is
    not one of them: it runs no monitored code (compat.manager_servers)."""
    if _children_expected:
        return 0
    count = 0
    for package in (multiprocessing, sys.modules.get("multiprocess")):
        if package is not None:
            servers = compat.manager_servers(package)
            count += sum(not any(child is s for s in servers) for child in package.active_children())
    return count


def inherits_run() -> bool:
    """True when this process inherited a running run from another process and re-runs the main
    module for multiprocessing (a spawned child, the forkserver) or is one of its children: a
    `start_collector()` here is the parent's, run again, and must join the parent's run."""
    env = os.environ
    owner = env.get(environment.OWNER_PID)
    if not env.get(environment.ADDRESS) or not owner or owner == str(os.getpid()):
        return False
    importing_main = bool(getattr(multiprocessing.current_process(), "_inheriting", False))
    return importing_main or not environment.is_top_level()

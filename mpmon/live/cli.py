"""The `mpmon` console script; its one subcommand so far is `mpmon top [LOGDIR]`.

In a terminal, `top` redraws a rich view every second until `q` (or Ctrl-C); with any other output (a
pipe, a file) or without rich installed, it prints one plain line a second and returns once the run has
ended. It only reads the snapshot files: starting, stopping or killing it never touches the run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

from .read import read_view
from .text import plain_line

__all__ = ["main"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mpmon", description="mpmon's tools for a running program.")
    commands = parser.add_subparsers(dest="command", required=True)
    top = commands.add_parser("top", help="live view of the run being written in a log directory")
    top.add_argument("log_dir", nargs="?", default="logs", help="the run's log directory (default: logs)")
    top.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    top.add_argument("--plain", action="store_true", help="one plain line a second, even in a terminal")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_dir = Path(args.log_dir)
    interval = max(args.interval, 0.1)
    if args.plain or not sys.stdout.isatty():
        return plain(log_dir, interval)
    try:
        from . import view  # noqa: F401 -- rich is the extra mpmon[live]
    except ImportError:
        print(
            "mpmon top: rich is not installed (pip install 'mpmon[live]'); plain lines instead",
            file=sys.stderr,
        )
        return plain(log_dir, interval)
    return terminal(log_dir, interval)


def plain(log_dir: Path, interval: float) -> int:
    """One line a second; the run's last line once it has ended."""
    said_waiting = False
    try:
        while True:
            view = read_view(log_dir)
            if view is None:
                if not said_waiting:
                    print(f"mpmon top: waiting for a run in {log_dir}", flush=True)
                    said_waiting = True
            else:
                print(plain_line(view), flush=True)
                if view["ended"]:
                    return 0
            time.sleep(interval)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- no second error at exit
        return 0


def terminal(log_dir: Path, interval: float) -> int:
    """The rich view, redrawn every `interval` seconds until q or Ctrl-C."""
    from rich.live import Live

    from .view import render, waiting

    try:
        with _keys() as pressed, Live(waiting(str(log_dir)), auto_refresh=False, screen=True) as live:
            while True:
                view = read_view(log_dir)
                live.update(
                    waiting(str(log_dir)) if view is None else render(view, str(log_dir)), refresh=True
                )
                deadline = time.monotonic() + interval
                while (left := deadline - time.monotonic()) > 0:
                    if pressed(left) in ("q", "Q"):
                        return 0
    except KeyboardInterrupt:
        return 0


@contextlib.contextmanager
def _keys() -> Iterator[Callable[[float], str]]:
    """A function that waits up to some seconds for a key and returns it ("" if none); stdin in cbreak
    mode meanwhile (restored after), so a single `q` quits."""
    stdin = sys.stdin
    if not stdin.isatty():

        def nothing(seconds: float) -> str:
            time.sleep(seconds)
            return ""

        yield nothing
        return
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)

    def key(seconds: float) -> str:
        ready, _, _ = select.select([fd], [], [], seconds)
        return os.read(fd, 1).decode(errors="replace") if ready else ""

    try:
        tty.setcbreak(fd)
        yield key
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)

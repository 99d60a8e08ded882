"""`mpmon top` against a running program of known rates, read off a real pseudo-terminal (pexpect + pyte);
the snapshot file it reads; mpmon.progress / mpmon.track."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pexpect
import pyte
import pytest
from helpers import ROOT, clean_env, read_csv, run_program

from mpmon import schema

# Two processes at known rates for SECONDS: `fast` 100 calls/s, `slow` 20 calls/s (each 10 ms); one call of
# `boom` fails; the main process declares 10 items a second and counts them.
PROGRAM = """
import multiprocessing as mp, sys, time
import mpmon

@mpmon.Timer(log_to_console=False)
def fast(i):
    return i

@mpmon.Timer(log_to_console=False)
def slow(i):
    time.sleep(0.01)
    return i

@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def boom():
    raise ValueError("boom-42 happened")

def paced(func, rate, seconds):
    start = time.monotonic()
    for k in range(int(rate * seconds)):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        func(k)

def worker(func, rate, seconds):
    if func is fast:
        try:
            boom()
        except ValueError:
            pass
    paced(func, rate, seconds)

if __name__ == "__main__":
    seconds = float(sys.argv[2])
    mpmon.start_collector(sys.argv[1], log_to_console=False)
    items = mpmon.progress(total=int(10 * seconds), label="items")
    procs = [mp.Process(target=worker, args=(f, r, seconds)) for f, r in ((fast, 100), (slow, 20))]
    for p in procs:
        p.start()
    paced(lambda k: items.update(), 10, seconds)
    items.close()
    for p in procs:
        p.join()
    mpmon.stop_collector()
"""
SECONDS = 16
MPMON = [sys.executable, "-c", "import sys; from mpmon.live.cli import main; sys.exit(main())"]


def start_program(tmp_path: Path) -> subprocess.Popen[str]:
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(PROGRAM))
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "logs"), str(SECONDS)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Terminal:
    """`mpmon top` in a pseudo-terminal of 160 x 60, its output drawn on a pyte screen."""

    def __init__(self, log_dir: Path) -> None:
        self.screen = pyte.Screen(160, 60)
        self.stream = pyte.Stream(self.screen)
        self.child = pexpect.spawn(
            MPMON[0], [*MPMON[1:], "top", str(log_dir)], env={**clean_env(), "TERM": "xterm-256color"},
            dimensions=(60, 160), encoding="utf-8", cwd=str(ROOT),
        )  # fmt: skip

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, pattern: str, seconds: float) -> str:
        """Feed the screen until it shows `pattern` (a regex); the screen's text."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(pexpect.TIMEOUT):
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.5))
            if re.search(pattern, self.text()):
                return self.text()
        pytest.fail(f"the screen never showed {pattern!r}:\n{self.text()}")


def rate_of(screen: str, function: str) -> float:
    """The recent calls/s the functions table shows for `function`."""
    found = re.search(rf"│ {function} +│ +([\d,.]+) │", screen)
    assert found, screen
    return float(found.group(1).replace(",", ""))


@pytest.mark.slow
def test_top_shows_rates_errors_and_progress_and_never_affects_the_run(tmp_path: Path) -> None:
    """The view in a real terminal shows both functions at their rates (within 20 %), the error with its
    message and the progress line with an ETA; q quits it; a viewer killed with SIGKILL leaves the run
    whole (every call a row) and the snapshot ends "ended"."""
    program = start_program(tmp_path)
    try:
        terminal = Terminal(tmp_path / "logs")
        screen = terminal.wait_for(r"│ slow +│ +(1[6-9]|2[0-4])(\.\d)? │", 30)  # past the first seconds
        time.sleep(2.5)  # the five-second window fills
        screen = terminal.wait_for(r"items \d+/160", 5)
        assert rate_of(screen, "fast") == pytest.approx(100, rel=0.2), screen
        assert rate_of(screen, "slow") == pytest.approx(20, rel=0.2), screen
        assert re.search(r"boom +│ ValueError +│ boom-42 happened", screen), screen
        assert re.search(r"items \d+/160 \(\d+%\) [\d.]+/s ETA \d+:\d\d", screen), screen
        terminal.child.send("q")
        terminal.child.expect(pexpect.EOF, timeout=10)
        terminal.child.close()
        assert terminal.child.exitstatus == 0
        killed = subprocess.Popen(
            [*MPMON, "top", str(tmp_path / "logs")], env=clean_env(), stdout=subprocess.DEVNULL
        )
        time.sleep(1.5)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        _, stderr = program.communicate(timeout=120)
    finally:
        if program.poll() is None:
            program.kill()
        program.communicate()
    assert program.returncode == 0, stderr
    rows = read_csv(tmp_path / "logs")
    assert rows["function"].value_counts().to_dict() == {
        "fast": 100 * SECONDS,
        "slow": 20 * SECONDS,
        "boom": 1,
    }
    snapshot = json.loads((tmp_path / "logs" / schema.LIVE_SNAPSHOT).read_text())
    assert snapshot["state"] == "ended" and snapshot["summary"]["errors"] == 1
    assert snapshot["calls"] == 120 * SECONDS + 1


TRACKED = """
import multiprocessing
import sys
import mpmon

def count_one(i):
    mpmon.progress(label="pool").update()  # counted in a pool worker, outside any monitored call

@mpmon.Timer(log_to_console=False)
def work(i):
    if i == 3:
        raise KeyError(i)
    return i

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False)
    for i in mpmon.track(range(40), label="rows"):
        try:
            work(i)
        except KeyError:
            pass
    mpmon.progress(total=10, label="pool")
    with multiprocessing.Pool(2) as pool:
        pool.map(count_one, range(10))
    mpmon.stop_collector()
"""


class TestSnapshot:
    """The snapshot file the collector leaves, and the plain view of it."""

    def test_final_snapshot_file_and_the_plain_view(self, tmp_path: Path) -> None:
        run_program(tmp_path, TRACKED)
        path = tmp_path / "logs" / schema.LIVE_SNAPSHOT
        mode = os.lstat(path).st_mode
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600
        assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
        snapshot = json.loads(path.read_text())
        assert snapshot["state"] == "ended" and snapshot["calls"] == 40 and snapshot["errors"] == 1
        progress = {p["label"]: (p["total"], p["done"], p["eta_s"]) for p in snapshot["progress"]}
        assert progress == {"rows": (40, 40, 0.0), "pool": (10, 10, 0.0)}
        (work,) = snapshot["functions"]
        assert (work["name"], work["calls"], work["errors"]) == ("work", 40, 1)
        assert snapshot["latest_errors"][0]["error_type"] == "KeyError"
        assert len(path.read_bytes()) < 64 << 10
        plain = subprocess.run(
            [*MPMON, "top", str(tmp_path / "logs")],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert plain.returncode == 0, plain.stderr
        (line,) = plain.stdout.splitlines()
        assert " ended | " in line and "40 calls, 1 error |" in line and "rows 40/40 (100%)" in line
        assert "pool 10/10 (100%)" in line

    def test_host_partitions_make_one_view(self, tmp_path: Path) -> None:
        """Two hosts' snapshots (as the Dask and Ray per-host collectors write them) add up."""
        from mpmon.live.read import read_view

        for host, calls in (("a", 30), ("b", 12)):
            (tmp_path / f"host={host}").mkdir()
            function = {"name": "f", "calls": calls, "errors": 1, "p50_s": 0.001, "p95_s": 0.002,
                        "total_s": 0.1, "recent_calls_per_s": calls / 5}  # fmt: skip
            snapshot = {"version": 1, "run_id": "r", "host": host, "state": "ended", "started": 1.0,
                        "updated": 2.0, "window_s": 5, "calls": calls, "errors": 1, "recent_calls": calls,
                        "functions": [function], "processes": [{"host": host, "pid": 1}],
                        "progress": [{"label": "p", "done": calls}]}  # fmt: skip
            (tmp_path / f"host={host}" / schema.LIVE_SNAPSHOT).write_text(json.dumps(snapshot))
        view = read_view(tmp_path)
        assert view is not None
        assert (view["calls"], view["errors"], view["hosts"], view["ended"]) == (42, 2, ["a", "b"], True)
        assert view["functions"][0]["calls"] == 42 and view["progress"][0]["done"] == 42
        assert len(view["processes"]) == 2

    def test_a_linked_snapshot_is_not_read(self, tmp_path: Path) -> None:
        from mpmon.live.read import read_view

        (tmp_path / "elsewhere.json").write_text(json.dumps({"version": 1}))
        (tmp_path / schema.LIVE_SNAPSHOT).symlink_to(tmp_path / "elsewhere.json")
        assert read_view(tmp_path) is None


def test_import_mpmon_imports_no_rich() -> None:
    code = "import sys, mpmon; mpmon.progress; mpmon.track; print('rich' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr

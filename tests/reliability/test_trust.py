"""Trust (issue 10, collector side): never hang, never write through a link, two runs in one directory,
bounded messages, poisoned input quarantined, no private directory left behind.

Each case runs real programs in subprocesses against a real collector and reads the files back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import (
    PRELUDE,
    assert_every_file_parses,
    call_lines,
    json_lines,
    log_family,
    results,
    run_program,
    summaries,
)

from mpmon import schema


class TestNeverHang:
    """A burst of connections or a collector in any state never hangs the program."""

    BURST = (
        PRELUDE
        + """
import resource, psutil

if __name__ == "__main__":
    c = mpmon.start_collector(sys.argv[1], log_to_console=False)
    while not psutil.Process(c.pid).children():  # the supervisor forks its writer after "ready"
        time.sleep(0.01)
    collector = [c.pid] + [p.pid for p in psutil.Process(c.pid).children()]
    for pid in collector:  # the collector may hold 40 descriptors from now on
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (40, 40))
    socks = []
    for _ in range(300):  # a burst of peers that never finish their handshake
        s = socket.socket(socket.AF_UNIX)
        s.setblocking(False)
        try:
            s.connect(c.address)
        except (BlockingIOError, OSError):
            pass
        socks.append(s)
    time.sleep(1.0)
    for s in socks:
        s.close()
    with mp.get_context("fork").Pool(4) as pool:  # later workers
        pool.map(step, range(2000), chunksize=20)
    started = time.monotonic()
    mpmon.stop_collector(timeout=20)
    print(json.dumps({"stop_s": time.monotonic() - started}))
"""
    )

    @pytest.mark.slow
    def test_a_burst_of_connections_under_a_low_file_limit_leaves_the_collector_serving(
        self, tmp_path: Path, report
    ) -> None:
        """The accept loop survives EMFILE (counted, said once), later workers' records arrive, stop is
        in time."""
        logs = tmp_path / "logs"
        run = run_program(tmp_path, self.BURST, logs, timeout=90, check=False)
        run.assert_ok()
        rows = results(logs)
        assert len(rows) == 2000 and rows["call_id"].is_unique
        summary = summaries(logs)[-1]
        report(
            "300 stuck peers against a collector limited to 40 descriptors, then Pool(4) x 2000 calls",
            records=len(rows),
            lost=2000 - len(rows),
            seconds=run.seconds,
            accept_errors=summary["accept_errors"],
            stop_s=round(run.result()["stop_s"], 2),
        )
        assert len(rows) == 2000 and rows["call_id"].is_unique
        assert summary["accept_errors"] > 0
        assert run.stderr.count("cannot accept a connection") == 1, run.stderr  # said once
        assert run.result()["stop_s"] < 20

    RAISED = """
import resource, sys, mpmon
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
c = mpmon.start_collector(sys.argv[1], log_to_console=False)
print('{"soft": %d, "hard": %d}' % resource.prlimit(c.pid, resource.RLIMIT_NOFILE))
mpmon.stop_collector()
"""

    def test_the_collector_raises_its_soft_file_limit_to_the_hard_one(self, tmp_path: Path) -> None:
        """Started with a soft limit of 64, the collector runs with its hard limit."""
        run = run_program(tmp_path, self.RAISED, tmp_path / "logs", check=False)
        run.assert_ok()
        limits = run.result()
        assert limits["soft"] == limits["hard"] > 64

    STATES = (
        PRELUDE
        + """
if __name__ == "__main__":
    state, timeout = sys.argv[2], 3.0
    c = mpmon.start_collector(sys.argv[1], log_to_console=False)
    for i in range(100):
        step(i)
    mpmon.flush()
    time.sleep(0.5)
    socks = []
    if state in ("stopped", "stopped-full"):
        os.killpg(c.pid, signal.SIGSTOP)
    if state == "stopped-full":  # and its listen queue full: a plain connect() would wait for ever
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                s.connect(c.address)
            except OSError:
                pass
            socks.append(s)
    if state == "refusing":
        os.unlink(c.address)
    for i in range(10):
        step(i)
    started = time.monotonic()
    mpmon.stop_collector(timeout=timeout)
    print(json.dumps({"stop_s": time.monotonic() - started}))
"""
    )

    @pytest.mark.slow
    @pytest.mark.parametrize("state", ["stopped", "stopped-full", "wedged", "refusing"])
    def test_stop_collector_returns_within_its_timeout_whatever_state_the_collector_is_in(
        self, tmp_path: Path, state: str, report
    ) -> None:
        """SIGSTOPped (with its listen queue full or not), wedged in a write, or refusing connections:
        stop_collector(3) returns within 3 s plus a small slack, and says what it could not confirm."""
        slow = {"MPMON_TEST_SLOW_SINK_SECONDS": "60"} if state == "wedged" else {}  # a write takes 60 s
        run = run_program(tmp_path, self.STATES, tmp_path / "logs", state, timeout=60, env=slow, check=False)
        run.assert_ok()
        stop_s = run.result()["stop_s"]
        report(f"stop_collector(3) with the collector {state}", records=0, lost=0, seconds=stop_s)
        assert stop_s < 3 + 1.5
        if state != "refusing":
            assert "did not end in time and was killed" in run.stderr


class TestLinks:
    """Files are opened without following links; links are refused, never written through."""

    AT_START = """
import json, sys, mpmon
try:
    mpmon.start_collector(sys.argv[1], log_to_console=False)
except OSError as exc:
    print(json.dumps({"refused": str(exc)}))
else:
    mpmon.stop_collector()
    print(json.dumps({"refused": None}))
"""

    @pytest.mark.parametrize(
        "name", [schema.TIMING_LOG, schema.RESULTS_CSV, schema.ERROR_LOG, schema.ERROR_RESULTS_CSV]
    )
    def test_a_log_file_that_is_a_symlink_is_refused_at_start_and_its_target_is_untouched(
        self, tmp_path: Path, name: str
    ) -> None:
        """start_collector() raises a clear error naming the file; the link's target is unchanged."""
        logs, victim = tmp_path / "logs", tmp_path / "victim.txt"
        logs.mkdir()
        victim.write_bytes(b"precious\n")
        (logs / name).symlink_to(victim)
        run = run_program(tmp_path, self.AT_START, logs, check=False)
        run.assert_ok()
        refused = run.result()["refused"]
        assert refused and name in refused and "symlink" in refused
        assert victim.read_bytes() == b"precious\n"

    DURING = (
        PRELUDE
        + """
@mpmon.ErrorCatcher(log_to_console=False)
@mpmon.Timer(log_to_console=False)
def fail(i):
    raise ValueError(i)

if __name__ == "__main__":
    logs, victim = sys.argv[1], sys.argv[2]
    mpmon.start_collector(logs, log_to_console=False)
    for i in range(10):
        step(i)
    try:
        fail(1)
    except ValueError:
        pass
    mpmon.flush(); time.sleep(0.5)
    for name in ("timing.log", "timing_results.csv", "error.log"):  # replaced by links during the run
        os.unlink(os.path.join(logs, name))
        os.symlink(victim, os.path.join(logs, name))
    for i in range(10):
        step(i)
    try:
        fail(2)
    except ValueError:
        pass
    mpmon.stop_collector()
"""
    )

    def test_files_replaced_by_symlinks_during_the_run_and_a_spill_link_are_refused_and_counted(
        self, tmp_path: Path
    ) -> None:
        """Log files swapped for links mid-run and a spill file that is a link: the targets stay the
        same byte for byte, nothing of the spill link's target is ingested, the refusals are counted."""
        logs, victim, secret = tmp_path / "logs", tmp_path / "victim.txt", tmp_path / "secret.jsonl"
        logs.mkdir()
        victim.write_bytes(b"precious\n")
        line = {"event": "call", "function": "SECRET", "start_time": "2026-01-01T00:00:00+00:00"}
        line.update(end_time="2026-01-01T00:00:01+00:00", source="timer", call_id="x", duration_s=1.0)
        secret.write_text(json.dumps(line) + "\n")
        secret.chmod(0o600)
        spill_link = logs / f"{schema.SPILL_PREFIX}1-abcdef12.jsonl"
        spill_link.symlink_to(secret)
        before = secret.read_bytes()
        run = run_program(tmp_path, self.DURING, logs, victim, check=False)
        run.assert_ok()
        assert victim.read_bytes() == b"precious\n"
        assert secret.read_bytes() == before and spill_link.is_symlink()
        assert "SECRET" not in "".join(p.read_text() for p in logs.iterdir() if not p.is_symlink())
        assert "refusing" in run.stderr and "not ingesting" in run.stderr  # counted and said


class TestPoison:
    """Input the writer cannot turn into rows is quarantined, never fatal."""

    PROGRAM = (
        PRELUDE
        + """
if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False)
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(step, range(500))
    mpmon.stop_collector()
"""
    )

    @staticmethod
    def poison(logs: Path, run: int) -> None:
        """A spill file with a good call line and bad ones, and a leftover being-ingested copy."""
        good = {
            "event": "call", "run_id": f"spilled-{run}", "call_id": f"0000000{run}-0000-0000-0000-00000001",
            "function": "spilled", "start_time": "2026-01-01T00:00:00+00:00", "source": "timer",
            "end_time": "2026-01-01T00:00:01+00:00", "duration_s": 1.0, "pid": 7, "status": "ok",
            "cpu_time_s": 0.5, "mem_delta_mib": 0.0, "mem_final_mib": 1.0,
        }  # fmt: skip
        lines = [
            json.dumps(good),
            json.dumps({"event": "call", "function": "no start"}),  # the line that killed the writer
            json.dumps({**good, "start_time": "yesterday"}),
            "{not json",
            json.dumps({"event": "error", "function": "no time"}),
            json.dumps({"event": "dropped", "count": "many"}),
        ]
        logs.mkdir(exist_ok=True)
        for name in (
            f"mpmon-spill-99{run}-abcdef12.jsonl",
            f"mpmon-spill-98{run}-abcdef12.jsonl.1-1.ingesting",
        ):
            (logs / name).write_text("\n".join(lines) + "\n")

    @pytest.mark.slow
    def test_a_poisoned_spill_file_is_quarantined_and_everything_else_written_run_after_run(
        self, tmp_path: Path, report
    ) -> None:
        """Two runs, each finding poisoned spill files: all 500 calls and the good spilled line are rows,
        the bad lines are counted and kept in the quarantine file, the program exits normally."""
        logs = tmp_path / "logs"
        for number in (1, 2):
            self.poison(logs, number)
            run = run_program(tmp_path, self.PROGRAM, logs, timeout=60, check=False)
            run.assert_ok()
            summary = summaries(logs)[-1]
            rows = results(logs)
            runs = rows.groupby("run_id").size().to_dict()
            report(
                f"run {number}: poisoned spill files",
                records=len(rows),
                lost=0,
                seconds=run.seconds,
                quarantined=summary["quarantined"],
            )
            assert runs[summary["run_id"]] == 500
            assert runs[f"spilled-{number}"] == 2  # the good line of both files
            assert summary["quarantined"] == 2 * 5
            quarantine = json_lines(logs / f"{schema.QUARANTINE_PREFIX}{summary['run_id']}.jsonl")
            assert sum("no start" in q["text"] for q in quarantine) == 2
            assert not list(logs.glob("mpmon-spill-*"))
            assert_every_file_parses(logs)


class TestBoundedMessages:
    PROGRAM = """
import json, os, sys
from multiprocessing import connection
import mpmon
from mpmon import wire

c = mpmon.start_collector(sys.argv[1], log_to_console=False)
big = "x" * (wire.MAX_MESSAGE + 1)
record = (0, "timer", "huge", "m", 1, 0, 1_700_000_000_000_000_000, 1, -1, -1, -1, "t", "", ((big,), ()),
          (None, None, None))
conn = wire.connect(c.address, bytes.fromhex(os.environ["MPMON_AUTHKEY"]), 5.0)
try:
    conn.send_bytes(wire.encode_batch((1, "p", "h", "01234567-0123-0123-0123-", c.run_id), [record], 1))
except OSError:
    pass
conn.close()
mpmon.stop_collector()
print(json.dumps({"max": wire.MAX_MESSAGE}))
"""

    def test_a_message_larger_than_the_largest_batch_is_refused_and_counted(self, tmp_path: Path) -> None:
        """A keyholder's oversized batch is refused unread (no row, no memory for it) and counted."""
        logs = tmp_path / "logs"
        run = run_program(tmp_path, self.PROGRAM, logs, timeout=60, check=False)
        run.assert_ok()
        summary = summaries(logs)[-1]
        assert summary["oversized_messages"] == 1 and summary["rejected_payloads"] == 1
        assert len(results(logs)) == 0
        assert run.result()["max"] <= 8 << 20  # "a few MiB": senders split larger batches


class TestPrivateDirectories:
    KILLED = """
import os, signal, sys, mpmon
c = mpmon.start_collector(sys.argv[1], log_to_console=False)
print(os.path.dirname(c.address), flush=True)
os.killpg(c.pid, signal.SIGKILL)
os._exit(0)
"""
    NEXT = """
import os, sys, mpmon
c = mpmon.start_collector(sys.argv[1], log_to_console=False)
print(os.path.dirname(c.address), flush=True)
mpmon.stop_collector()
"""

    def test_no_private_directory_is_left_after_a_killed_collector_and_the_next_start(
        self, tmp_path: Path
    ) -> None:
        """The next start removes a SIGKILLed collector's directory; a normal stop removes its own;
        a directory that is not a dead collector's is kept."""
        temp = tmp_path / "tmp"
        temp.mkdir()
        foreign = temp / "mpmon-notours"  # no marker: never removed
        foreign.mkdir()
        env = {"TMPDIR": str(temp)}
        killed = run_program(tmp_path, self.KILLED, tmp_path / "logs", env=env, name="killed.py", check=False)
        first = Path(killed.stdout.split()[0])
        assert first.parent == temp and first.exists()
        following = run_program(tmp_path, self.NEXT, tmp_path / "logs", env=env, name="next.py", check=False)
        following.assert_ok()
        assert not first.exists()
        assert not Path(following.stdout.split()[0]).exists()
        assert sorted(p.name for p in temp.iterdir()) == ["mpmon-notours"]


class TestTwoRunsOneDirectory:
    PROGRAM = (
        PRELUDE
        + """
if __name__ == "__main__":
    c = mpmon.start_collector(sys.argv[1], log_to_console=False, max_bytes=64 * 1024, backup_count=1000)
    with open(sys.argv[2], "a") as ready:
        ready.write("x")
    while os.path.getsize(sys.argv[2]) < 2:  # both collectors run before either program calls
        time.sleep(0.01)
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(step, range(30_000), chunksize=100)
    mpmon.stop_collector()
    print(json.dumps({"run_id": c.run_id}))
"""
    )

    @pytest.mark.slow
    def test_two_programs_writing_into_one_directory_at_once_keep_every_record(
        self, tmp_path: Path, report
    ) -> None:
        """Two runs, 64 KiB rotation, 30,000 calls each: 60,000 rows and lines, one CSV header, every
        file parses, each run_summary right, and mpmon-analyze --list-runs shows both runs."""
        logs, barrier = tmp_path / "logs", tmp_path / "barrier"
        barrier.touch()
        (tmp_path / "program.py").write_text(self.PROGRAM)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
        command = [sys.executable, str(tmp_path / "program.py"), str(logs), str(barrier)]
        programs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=240) for p in programs]
        for program, (_, err) in zip(programs, outputs):
            assert program.returncode == 0, err
            assert "Traceback" not in err, err
        run_ids = {json.loads(out.splitlines()[-1])["run_id"] for out, _ in outputs}
        rows = results(logs)
        lines = call_lines(logs)
        header_lines = (logs / schema.RESULTS_CSV).read_text().count('"run_id","call_id"')
        report(
            "two programs into one log_dir, 64 KiB rotation, 30,000 calls each",
            records=len(rows),
            lost=60_000 - len(rows),
            seconds=0.0,
            timing_log_lines=len(lines),
            files=len(list(logs.glob(f"{schema.TIMING_LOG}*"))),
        )
        assert header_lines == 1
        assert len(rows) == 60_000 and rows["call_id"].is_unique
        assert rows.groupby("run_id").size().to_dict() == dict.fromkeys(run_ids, 30_000)
        assert len(lines) == 60_000 and len({e["call_id"] for e in lines}) == 60_000
        assert_every_file_parses(logs)
        by_run = {s["run_id"]: s for s in summaries(logs)}
        assert set(by_run) == run_ids
        for summary in by_run.values():
            assert summary["records_by_source"] == {"timer": 30_000}
            assert summary["write_failures"] == 0 and summary["rejected_payloads"] == 0
        listed = subprocess.run(
            [sys.executable, "-m", "mpmon.analysis", "--logdir", str(logs), "--list-runs"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listed.returncode == 0, listed.stderr
        assert all(run_id in listed.stdout for run_id in run_ids)
        assert len(log_family(logs, schema.TIMING_LOG)) > 60_000
        assert isinstance(rows, pd.DataFrame)


class TestLoudAtExit:
    PROGRAM = (
        PRELUDE
        + """
if __name__ == "__main__":
    c = mpmon.start_collector(sys.argv[1], log_to_console=False)
    for i in range(100):
        step(i)
    mpmon.flush()
    time.sleep(0.3)
    os.killpg(c.pid, signal.SIGKILL)
    for i in range(100, 200):
        step(i)
    mpmon.stop_collector()
"""
    )

    def test_a_run_whose_collector_died_says_so_on_stderr_at_stop_and_keeps_every_record(
        self, tmp_path: Path
    ) -> None:
        """The collector killed whole mid-run: stop restarts it to ingest the spill, and says loudly that
        the collector died."""
        logs = tmp_path / "logs"
        run = run_program(tmp_path, self.PROGRAM, logs, timeout=60, check=False)
        run.assert_ok()
        assert "WARNING: the collector of run" in run.stderr and "died 1 time(s)" in run.stderr
        assert len(results(logs)) == 200


class TestStrict:
    """start_collector(strict=True): a run whose records are not all confirmed on disk fails loudly."""

    PROGRAM = (
        PRELUDE
        + """
if __name__ == "__main__":
    strict, how, broken = sys.argv[1] == "strict", sys.argv[2], sys.argv[3] == "broken"
    c = mpmon.start_collector("logs", log_to_console=False, strict=strict)
    for i in range(10):
        step(i)
    if broken:  # the collector killed whole and its log directory replaced by a file: none can restart
        mpmon.flush(wait=True, timeout=10)
        os.killpg(c.pid, signal.SIGKILL)
        time.sleep(0.3)
        import shutil
        shutil.rmtree("logs")
        open("logs", "w").close()
        for i in range(10, 20):
            step(i)
    if how == "explicit":
        try:
            mpmon.stop_collector(timeout=10)
        except mpmon.RunIncomplete as exc:
            print(json.dumps({"raised": str(exc)}))
        else:
            print(json.dumps({"raised": None}))
"""
    )

    @pytest.mark.parametrize(
        ("strict", "how", "broken", "status", "raised"),
        [
            ("strict", "explicit", "broken", 0, True),
            ("strict", "at-exit", "broken", 3, None),
            ("lenient", "at-exit", "broken", 0, None),
            ("lenient", "explicit", "broken", 0, False),
            ("strict", "explicit", "whole", 0, False),
            ("strict", "at-exit", "whole", 0, None),
        ],
    )
    def test_an_incomplete_run_fails_only_where_strictness_was_asked_for(
        self, tmp_path: Path, strict: str, how: str, broken: str, status: int, raised: bool | None
    ) -> None:
        """Broken: the collector cannot be started again to drain; stderr says so in every case, and
        only a strict run raises RunIncomplete from stop_collector() or exits with status 3 at exit.
        Whole: a strict run that kept every record neither raises nor changes the exit status."""
        run = run_program(tmp_path, self.PROGRAM, strict, how, broken, timeout=90, check=False)
        assert run.returncode == status, (run.returncode, run.stderr)
        if raised is not None:
            assert bool(run.result()["raised"]) == raised, run.stdout
        if broken == "broken":
            assert "ended without confirming that it drained every peer" in run.stderr
        else:
            assert "mpmon:" not in run.stderr, run.stderr
            assert len(results(tmp_path / "logs")) == 10


class TestHostileBatches:
    PROGRAM = (
        PRELUDE
        + """
from mpmon import wire

c = mpmon.start_collector(sys.argv[1], log_to_console=False)
conn = wire.connect(c.address, bytes.fromhex(os.environ["MPMON_AUTHKEY"]), 5.0)
meta = (1, "p", "h", "01234567-0123-0123-0123-", c.run_id)
good = (0, "timer", "good", "m", 1, 0, time.time_ns(), 1, 1000, 1 << 20, 2 << 20, "t", "", None,
        (None, None, None))
bad = [
    good[:14] + ((None, None),),  # a route of the wrong length
    good[:6] + ("yesterday",) + good[7:],  # a start time that is not a number
    good[:4] + (2**80,) + good[5:],  # a call number that does not fit
    (1, "f", "m", 1, "when", "t", "E", "msg", "tb", None, [1]),  # an error record of the wrong types
]
for seq, record in enumerate(bad, 1):
    conn.send_bytes(wire.encode_batch(meta, [record], seq))
conn.send_bytes(wire.encode_batch(meta, [good], len(bad) + 1))
for i in range(20):
    step(i)
time.sleep(0.5)
conn.close()
mpmon.stop_collector()
"""
    )

    def test_malformed_records_on_the_wire_are_quarantined_and_the_rest_written(self, tmp_path: Path) -> None:
        """Four batches of well-shaped but ill-typed records: each refused, counted and kept aside; the
        collector goes on and writes the good batch and the program's 20 calls."""
        logs = tmp_path / "logs"
        run = run_program(tmp_path, self.PROGRAM, logs, timeout=60, check=False)
        run.assert_ok()
        summary = summaries(logs)[-1]
        rows = results(logs)
        assert len(rows) == 21 and (rows["function"] == "good").sum() == 1
        assert summary["rejected_payloads"] == 4 and summary["quarantined"] == 4
        assert len(json_lines(logs / f"{schema.QUARANTINE_PREFIX}{summary['run_id']}.jsonl")) == 4


class TestCutBack:
    LIMITED = (
        PRELUDE
        + """
import resource

if __name__ == "__main__":
    logs, flags = sys.argv[1], sys.argv[2]
    resource.setrlimit(resource.RLIMIT_FSIZE, (200 << 10, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    mpmon.start_collector(logs, log_to_console=False, max_bytes=0)
    for i in range(10):
        step(i)
    mpmon.flush()
    time.sleep(1.0)
    open(os.path.join(flags, "a_ready"), "w").close()
    while not os.path.exists(os.path.join(flags, "b_done")):
        time.sleep(0.05)
    for i in range(10):  # its files are now beyond its size limit: this write fails and is cut back
        step(i)
    mpmon.stop_collector()
"""
    )
    OTHER = (
        PRELUDE
        + """
if __name__ == "__main__":
    c = mpmon.start_collector(sys.argv[1], log_to_console=False, max_bytes=0)
    for i in range(3000):
        step(i)
    mpmon.stop_collector()
    print(json.dumps({"run_id": c.run_id}))
"""
    )

    def test_a_failed_write_never_cuts_off_what_another_run_wrote(self, tmp_path: Path) -> None:
        """Run A's writes fail (its file-size limit) after run B wrote 3,000 calls into the same files:
        A cuts back only its own failed round, and every line and row of B is still there."""
        logs, flags = tmp_path / "logs", tmp_path / "flags"
        flags.mkdir()
        (tmp_path / "limited.py").write_text(self.LIMITED)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
        command = [sys.executable, str(tmp_path / "limited.py"), str(logs), str(flags)]
        limited = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            for _ in range(600):
                if (flags / "a_ready").exists() or limited.poll() is not None:
                    break
                time.sleep(0.05)
            other = run_program(tmp_path, self.OTHER, logs, name="other.py", check=False)
            other.assert_ok()
            (flags / "b_done").touch()
            _, err = limited.communicate(timeout=60)
        finally:
            limited.kill()
        assert limited.returncode == 0 and "File too large" in err, err
        run_id = other.result()["run_id"]
        lines = [e for e in json_lines(logs / schema.TIMING_LOG) if e.get("run_id") == run_id]
        assert sum(e.get("event") == schema.EVENT_CALL for e in lines) == 3000
        assert [e for e in lines if e.get("event") == schema.RUN_SUMMARY_EVENT]
        rows = results(logs)
        assert (rows["run_id"] == run_id).sum() == 3000
        assert_every_file_parses(logs)

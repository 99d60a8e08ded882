"""Faults: killed workers, a killed or missing collector, a slow one, a full disk, a stuck peer.

mpmon must never be the reason a job breaks and never lose what it was told to keep: every case runs
a real program in a subprocess and checks the files it left.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    PRELUDE,
    assert_every_file_parses,
    call_lines,
    json_lines,
    results,
    run_program,
    spill_files,
    summaries,
)

from mpmon import schema


@contextlib.contextmanager
def tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at `mount` for the block (the test is skipped where mounting is refused)."""
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def call_numbers(frame, pid: int) -> set[int]:
    """The per-process call numbers (the counter part of call_id) of one process's rows."""
    return {int(c.replace("-", "")[-12:], 16) for c in frame.loc[frame["pid"] == pid, "call_id"]}


class TestWorkerKilled:
    """1. A worker killed with SIGKILL in the middle of a run."""

    PROGRAM = (
        PRELUDE
        + """
def doomed(handed):
    i = 0
    while True:
        for _ in range(100):
            step(i)
            i += 1
        mpmon.flush()
        handed.value = i

if __name__ == "__main__":
    mp.set_start_method(sys.argv[2])
    mpmon.start_collector(sys.argv[1], log_to_console=False)
    handed = mp.Value("q", 0, lock=False)
    victim = mp.Process(target=doomed, args=(handed,))
    others = [mp.Process(target=steady, args=(5000,)) for _ in range(2)]
    victim.start()
    for p in others:
        p.start()
    while handed.value < 3000:
        time.sleep(0.001)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join()
    for p in others:
        p.join()
    late = mp.Process(target=steady, args=(1000,))  # the collector still serves after the kill
    late.start()
    late.join()
    steady(10)
    mpmon.stop_collector()
    print(json.dumps({"victim": victim.pid, "handed": handed.value, "others": [p.pid for p in others],
                      "late": late.pid, "owner": os.getpid(), "exitcodes": [p.exitcode for p in others]}))
"""
    )

    def test_every_handed_over_record_of_a_killed_worker_is_kept_and_the_others_are_complete(
        self, tmp_path: Path, start_method: str, report
    ) -> None:
        """Records a SIGKILLed worker had flushed are on disk; other workers' records are all there."""
        logs = tmp_path / "logs"
        run = run_program(tmp_path, self.PROGRAM, logs, start_method, timeout=60, check=False)
        run.assert_ok()
        out = run.result()
        rows = results(logs)
        assert rows["call_id"].is_unique
        handed = out["handed"]
        assert set(range(1, handed + 1)) <= call_numbers(rows, out["victim"]), (
            "a handed-over record is missing"
        )
        for pid in out["others"]:
            assert call_numbers(rows, pid) == set(range(1, 5001))
        assert call_numbers(rows, out["late"]) == set(range(1, 1001))
        assert call_numbers(rows, out["owner"]) == set(range(1, 11))
        assert len(call_lines(logs)) == len(rows)
        assert_every_file_parses(logs)
        expected = handed + 2 * 5000 + 1000 + 10
        kept = int((rows["pid"] != out["victim"]).sum()) + handed
        report(
            f"{start_method}: SIGKILL one of 3 Process workers after 3000 flushed calls, then 1 more worker",
            records=len(rows),
            lost=expected - kept,
            seconds=run.seconds,
            handed_by_victim=handed,
        )


class TestCollectorKilled:
    """2. The collector killed with SIGKILL under load: 2 workers, 50,000 calls."""

    PROGRAM = (
        PRELUDE
        + """
import psutil

def writer_pid(collector):
    # The collector is a small supervisor and the process that writes, its child.
    children = psutil.Process(collector.pid).children()
    return children[0].pid if children else None

if __name__ == "__main__":
    mp.set_start_method(sys.argv[3])
    c = mpmon.start_collector(sys.argv[1], log_to_console=False)
    calls, target = int(sys.argv[2]), sys.argv[4]
    results_path = os.path.join(sys.argv[1], "timing_results.csv")
    killed = []
    with mp.Pool(2) as pool:
        pending = pool.map_async(step, range(calls), chunksize=50)
        for fraction in (0.2, 0.6) if target == "writer" else (0.3,):
            while not pending.ready() and (not os.path.exists(results_path)
                                           or os.path.getsize(results_path) < fraction * calls * 300):
                time.sleep(0.002)
            if target == "writer":
                killed.append(writer_pid(c))
                os.kill(killed[-1], signal.SIGKILL)
            else:  # the whole collector at once: supervisor and writer
                killed.append(c.pid)
                os.killpg(c.pid, signal.SIGKILL)
        values = pending.get(timeout=120)
        assert values == list(range(calls))
        deadline = time.monotonic() + 10
        while writer_pid(c) in killed and time.monotonic() < deadline:
            time.sleep(0.01)
        restarted = target == "writer" and writer_pid(c) not in (*killed, None)
    mpmon.stop_collector()
    print(json.dumps({"killed": killed, "restarted_during_run": restarted}))
"""
    )

    @pytest.mark.slow
    def test_a_killed_writer_is_restarted_during_the_run_and_in_the_end_rows_equal_calls(
        self, tmp_path: Path, start_method: str, report
    ) -> None:
        """The program finishes normally; the writer comes back during the run; rows == calls."""
        out = self.check(tmp_path, start_method, "writer", report)
        assert out["restarted_during_run"], "the collector's writer was not restarted during the run"

    def test_a_collector_killed_whole_is_restarted_at_stop_and_in_the_end_rows_equal_calls(
        self, tmp_path: Path, report
    ) -> None:
        """Supervisor and writer killed together: senders spill, stop_collector() restarts, rows == calls."""
        self.check(tmp_path, "fork", "group", report)

    def check(self, tmp_path: Path, start_method: str, target: str, report):
        logs, calls = tmp_path / "logs", 50_000
        run = run_program(tmp_path, self.PROGRAM, logs, calls, start_method, target, timeout=120, check=False)
        run.assert_ok()
        rows = results(logs)
        summary = summaries(logs)[-1]
        lines = [entry["call_id"] for entry in call_lines(logs)]
        report(
            f"{start_method}: SIGKILL the collector's {target} under load, Pool(2), 50,000 calls",
            records=len(rows),
            lost=calls - rows["call_id"].nunique(),
            seconds=run.seconds,
            duplicate_rows=len(rows) - rows["call_id"].nunique(),
            timing_log_lines=len(lines),
            ingested_from_spills=summary["ingested"],
            rejected=summary["rejected_payloads"],
        )
        assert rows["call_id"].is_unique
        assert len(rows) == calls
        assert len(lines) == len(set(lines)) == calls
        assert summary["records_by_source"] == {"timer": calls}
        assert not spill_files(logs)
        assert_every_file_parses(logs)
        return run.result()


class TestNoCollector:
    """3. No collector reachable: records are spilled, then ingested or read; nothing dropped silently."""

    SPILLER = (
        PRELUDE
        + """
if __name__ == "__main__":
    with mp.Pool(2) as pool:
        pool.map(step, range(3000), chunksize=10)
    steady(100)
    print(json.dumps({"calls": 3100}))
"""
    )
    NEXT_RUN = """
import sys, mpmon
mpmon.start_collector(sys.argv[1], log_to_console=False)
mpmon.stop_collector()
"""

    def test_a_process_tree_whose_collector_is_gone_spills_everything_and_the_next_collector_ingests_it(
        self, tmp_path: Path, report
    ) -> None:
        """Started with the address of a collector that no longer exists, a program loses nothing."""
        logs = tmp_path / "logs"
        env = {
            "MPMON_ADDRESS": str(tmp_path / "gone" / "collector.sock"),
            "MPMON_AUTHKEY": "00" * 32,
            "MPMON_RUN_ID": "run-without-collector",
            "MPMON_LOG_DIR": str(logs),
        }
        run = run_program(tmp_path, self.SPILLER, env=env, timeout=60, check=False)
        run.assert_ok()
        spilled = [entry for path in spill_files(logs) for entry in json_lines(path)]
        assert len(spilled) == 3100 and {e["event"] for e in spilled} == {schema.EVENT_CALL}
        assert {e["run_id"] for e in spilled} == {"run-without-collector"}
        assert len({e["call_id"] for e in spilled}) == 3100
        started = time.monotonic()
        ingest = run_program(tmp_path, self.NEXT_RUN, logs, name="next_run.py", check=False)
        ingest.assert_ok()
        rows = results(logs)
        assert len(rows) == 3100 and rows["call_id"].is_unique
        assert set(rows["run_id"]) == {"run-without-collector"}
        assert not spill_files(logs)
        assert summaries(logs)[-1]["ingested"] == 3100
        assert_every_file_parses(logs)
        report(
            "Pool(2) 3000 + owner 100 calls with a dead collector address, then a new collector",
            records=len(rows),
            lost=3100 - len(rows),
            seconds=run.seconds + time.monotonic() - started,
        )

    LATE = (
        PRELUDE
        + """
if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False)
    with mp.Pool(2) as pool:
        pool.map(step, range(2000), chunksize=10)
    mpmon.stop_collector()
    late = [mp.Process(target=steady, args=(500,)) for _ in range(2)]  # no collector any more
    for p in late:
        p.start()
    for p in late:
        p.join()
    print(json.dumps({"exitcodes": [p.exitcode for p in late]}))
"""
    )

    def test_records_made_after_the_collector_stopped_are_spilled_and_ingested_by_the_next_one(
        self, tmp_path: Path, report
    ) -> None:
        """Workers started after stop_collector() find no address: their records wait in spill files."""
        logs = tmp_path / "logs"
        run = run_program(tmp_path, self.LATE, logs, timeout=60, check=False)
        run.assert_ok()
        assert run.result()["exitcodes"] == [0, 0]
        assert len(results(logs)) == 2000
        assert sum(len(json_lines(p)) for p in spill_files(logs)) == 1000
        ingest = run_program(tmp_path, self.NEXT_RUN, logs, name="next_run.py", check=False)
        ingest.assert_ok()
        rows = results(logs)
        assert len(rows) == 3000 and rows["call_id"].is_unique
        assert not spill_files(logs)
        report(
            "Pool(2) 2000 calls, stop, then 2 Processes x 500 calls, then a new collector",
            records=len(rows),
            lost=3000 - len(rows),
            seconds=run.seconds + ingest.seconds,
        )

    def test_the_analysis_reads_spill_files_that_no_collector_ingested(self, tmp_path: Path) -> None:
        """Spilled calls are rows for the analysis even when no collector ever ingests them."""
        from mpmon.analysis import load_run

        logs = tmp_path / "logs"
        env = {"MPMON_ADDRESS": str(tmp_path / "gone.sock"), "MPMON_AUTHKEY": "00" * 32,
               "MPMON_RUN_ID": "orphan-run", "MPMON_LOG_DIR": str(logs)}  # fmt: skip
        run_program(tmp_path, self.SPILLER, env=env, timeout=60, check=False).assert_ok()
        calls = load_run(logs)
        assert len(calls) == 3100 and calls["call_id"].is_unique


class TestSlowCollector:
    """4. A collector that cannot keep up (a deliberately slow sink)."""

    PROGRAM = (
        PRELUDE
        + """
@mpmon.Timer(log_to_console=False)
def padded(i, pad):
    return i

def busy(n):
    pad = "x" * 200
    for i in range(n):
        padded(i, pad)

if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False, drop_policy=sys.argv[2])
    started = time.monotonic()
    workers = [mp.Process(target=busy, args=(int(sys.argv[3]),)) for _ in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join()
    elapsed = time.monotonic() - started
    mpmon.stop_collector()
    print(json.dumps({"pids": [p.pid for p in workers], "elapsed": elapsed,
                      "exitcodes": [p.exitcode for p in workers]}))
"""
    )

    def run_slow(self, tmp_path: Path, policy: str, calls: int, sink_seconds_per_batch: float):
        logs = tmp_path / "logs"
        env = {"MPMON_TEST_SLOW_SINK_SECONDS": str(sink_seconds_per_batch)}
        run = run_program(tmp_path, self.PROGRAM, logs, policy, calls, env=env, timeout=120, check=False)
        run.assert_ok()
        out = run.result()
        assert out["exitcodes"] == [0, 0]
        return logs, run, out

    @staticmethod
    def sink_seconds(calls: int, per_batch: float) -> float:
        """How long the slow sink takes to write every record of both workers, in full batches."""
        return 2 * calls / 1024 * per_batch

    @staticmethod
    def peak_growth_mib(rows, pid: int) -> float:
        memory = rows.loc[rows["pid"] == pid, "mem_final_mib"]
        return float(memory.max() - memory.iloc[: max(len(memory) // 20, 1)].min())

    @pytest.mark.slow
    def test_with_the_default_policy_calls_wait_for_a_slow_collector_and_nothing_is_lost(
        self, tmp_path: Path, report
    ) -> None:
        """Backpressure: the workers are slowed down, their memory stays flat, every call is a row."""
        calls, per_batch = 60_000, 0.05
        logs, run, out = self.run_slow(tmp_path, "block", calls, per_batch)
        rows = results(logs)
        summary = summaries(logs)[-1]
        growth = max(self.peak_growth_mib(rows, pid) for pid in out["pids"])
        report(
            "2 Processes x 60,000 calls, sink sleeping 50 ms per batch, policy block",
            records=len(rows),
            lost=2 * calls - len(rows),
            seconds=run.seconds,
            rss_growth_mib=round(growth, 1),
        )
        assert len(rows) == 2 * calls and rows["call_id"].is_unique
        assert summary["dropped"] == 0 and summary["drop_policy"] == "block"
        assert out["elapsed"] > 0.5 * self.sink_seconds(calls, per_batch), (
            "the calls did not wait for the slow sink"
        )
        assert growth < 30, f"a worker grew by {growth:.1f} MiB while the collector was slow"

    @pytest.mark.slow
    def test_with_the_drop_policy_records_are_dropped_and_the_number_dropped_is_written(
        self, tmp_path: Path, report
    ) -> None:
        """Opt-in drop: calls never wait long; rows + dropped == calls, and run_summary says so."""
        # A sink four times slower than the block test's: waiting for it would take 23 s, so the bound
        # below separates "did not wait" from "waited" by far more than a loaded machine's noise.
        calls, per_batch = 60_000, 0.2
        logs, run, out = self.run_slow(tmp_path, "drop", calls, per_batch)
        rows = results(logs)
        summary = summaries(logs)[-1]
        growth = max(self.peak_growth_mib(rows, pid) for pid in out["pids"])
        report(
            "2 Processes x 60,000 calls, sink sleeping 200 ms per batch, policy drop",
            records=len(rows),
            lost=summary["dropped"],
            seconds=run.seconds,
            dropped_and_counted=summary["dropped"],
            rss_growth_mib=round(growth, 1),
        )
        assert rows["call_id"].is_unique
        assert summary["drop_policy"] == "drop"
        assert summary["dropped"] > 0, "the slow sink should have forced drops"
        assert len(rows) + summary["dropped"] == 2 * calls
        assert out["elapsed"] < 0.5 * self.sink_seconds(calls, per_batch), (
            "the calls waited for the slow sink"
        )
        # DROP_AT records (a few MiB) bound the buffer even while the flusher is blocked in a send; before
        # that bound held there, a worker grew by 25-29 MiB here
        assert growth < 16, f"a worker grew by {growth:.1f} MiB while the collector was slow"


class TestUnwritableLogDirectory:
    """5. An unwritable or missing-permission log directory; a disk that fills up in mid-run."""

    START = """
import json, os, sys, mpmon
try:
    mpmon.start_collector(sys.argv[1], log_to_console=False)
except PermissionError as exc:
    print(json.dumps({"error": str(exc), "published": [k for k in os.environ if k.startswith("MPMON_")]}))
else:
    print(json.dumps({"error": None}))
"""

    def cases(self, tmp_path: Path) -> dict[str, Path]:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        found = {"below a regular file": blocker / "logs"}
        if os.geteuid() != 0:  # root ignores permission bits
            locked = tmp_path / "locked"
            locked.mkdir(mode=0o500)
            found["in a read-only directory"] = locked / "logs"
            found["a read-only directory"] = locked
        return found

    def test_start_collector_raises_a_clear_error_before_the_run_starts(self, tmp_path: Path) -> None:
        """PermissionError naming the directory; no collector is started and nothing is published."""
        for label, target in self.cases(tmp_path).items():
            self.check_refused(tmp_path, label, target)

    @pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
    def test_a_read_only_file_system_is_refused_even_for_root(self, tmp_path: Path) -> None:
        """On a file system mounted read-only, start_collector() raises PermissionError, even as root."""
        with tmpfs(tmp_path / "read-only", "ro,size=1m") as mount:
            self.check_refused(tmp_path, "a read-only file system", mount / "logs")
            self.check_refused(tmp_path, "the read-only mount point", mount)

    def check_refused(self, tmp_path: Path, label: str, target: Path) -> None:
        run = run_program(tmp_path, self.START, target, check=False)
        run.assert_ok()
        out = run.result()
        assert out["error"] and str(target) in out["error"], label
        assert out["published"] == [], label

    FULL_DISK = (
        PRELUDE
        + """
import resource

@mpmon.Timer(log_to_console=False)
def bulky(i, text):
    return i

def work(n):
    for i in range(n):
        bulky(i, "y" * 300)
    return n

if __name__ == "__main__":
    limit = int(sys.argv[2])
    if limit:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    mpmon.start_collector(sys.argv[1], log_to_console=False)
    started = time.monotonic()
    with mp.Pool(2) as pool:
        done = pool.map(work, [2500] * 8)
    mpmon.stop_collector(timeout=20)
    print(json.dumps({"done": sum(done), "seconds": time.monotonic() - started}))
"""
    )

    def test_a_disk_that_fills_up_is_reported_and_the_program_is_not_harmed(
        self, tmp_path: Path, report
    ) -> None:
        """With a 2 MiB file-size limit the collector reports on stderr; the program finishes intact."""
        logs = tmp_path / "logs"
        run = run_program(tmp_path, self.FULL_DISK, logs, 2 << 20, timeout=60, check=False)
        run.assert_ok()
        out = run.result()
        assert out["done"] == 20_000
        assert "mpmon collector" in run.stderr and "File too large" in run.stderr, run.stderr
        assert_every_file_parses(logs)
        rows = results(logs)
        assert len(rows) + summaries(logs)[-1]["write_failures"] == 20_000, "a loss was not counted"
        report(
            "Pool(2) 20,000 calls with RLIMIT_FSIZE=2 MiB",
            records=len(rows),
            lost=20_000 - len(rows),
            seconds=run.seconds,
            note="loss expected (the disk is full), counted in run_summary",
        )

    @pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
    def test_a_real_full_tmpfs_is_reported_and_the_program_is_not_harmed(
        self, tmp_path: Path, report
    ) -> None:
        """ENOSPC on a 4 MiB tmpfs: stderr says so, the program's results are intact, files parse."""
        with tmpfs(tmp_path / "small", "size=4m") as mount:
            logs = mount / "logs"
            run = run_program(tmp_path, self.FULL_DISK, logs, 0, timeout=60, check=False)
            run.assert_ok()
            assert run.result()["done"] == 20_000
            assert "No space left on device" in run.stderr, run.stderr
            assert_every_file_parses(logs)
            rows = results(logs)
            assert len(rows) + summaries(logs)[-1]["write_failures"] == 20_000, "a loss was not counted"
            report(
                "Pool(2) 20,000 calls on a 4 MiB tmpfs",
                records=len(rows),
                lost=20_000 - len(rows),
                seconds=run.seconds,
                note="loss expected: the disk is full",
            )


class TestStuckPeer:
    """6. stop_collector() with a stuck worker connection returns within its timeout."""

    PROGRAM = (
        PRELUDE
        + """
import socket, struct
from multiprocessing import connection

def half_message():
    # Authenticated, then announces 1 MiB and sends 10 bytes of it, then hangs.
    conn = connection.Client(os.environ["MPMON_ADDRESS"], authkey=bytes.fromhex(os.environ["MPMON_AUTHKEY"]))
    os.write(conn.fileno(), struct.pack("!i", 1 << 20) + b"\\x80" * 10)
    time.sleep(3600)

def no_handshake():
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(os.environ["MPMON_ADDRESS"])
    time.sleep(3600)

def chatty():
    while True:
        for i in range(10):
            step(i)
        mpmon.flush()

def frozen():
    steady(500)
    mpmon.flush()
    time.sleep(3600)  # holds its connection, and is stopped with SIGSTOP meanwhile

if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False)
    stuck = [mp.Process(target=f, daemon=True) for f in (half_message, no_handshake, chatty, frozen)]
    for p in stuck:
        p.start()
    time.sleep(0.5)
    os.kill(stuck[-1].pid, signal.SIGSTOP)
    with mp.Pool(2) as pool:
        pool.map(step, range(4000), chunksize=10)
    started = time.monotonic()
    mpmon.stop_collector(timeout=float(sys.argv[2]))
    took = time.monotonic() - started
    for p in stuck:
        os.kill(p.pid, signal.SIGKILL)
    print(json.dumps({"stop_seconds": took}))
"""
    )

    def test_stop_collector_returns_within_its_timeout_despite_stuck_peers(
        self, tmp_path: Path, report
    ) -> None:
        """A half-sent message, a peer without handshake, a frozen and a chatty worker do not hold stop."""
        logs, timeout = tmp_path / "logs", 5.0
        run = run_program(tmp_path, self.PROGRAM, logs, timeout, timeout=60, check=False)
        run.assert_ok()
        took = run.result()["stop_seconds"]
        assert took <= timeout, f"stop_collector took {took:.2f} s"
        rows = results(logs)
        pool_rows = rows[rows["process_name"].str.startswith("ForkPoolWorker")]
        assert len(pool_rows) == 4000
        assert summaries(logs), "the collector did not finish its run"
        assert_every_file_parses(logs)
        report(
            "stop_collector(timeout=5) with 4 stuck peers after Pool(2) 4000 calls",
            records=len(pool_rows),
            lost=4000 - len(pool_rows),
            seconds=run.seconds,
            stop_seconds=round(took, 2),
        )


class TestPoolTerminate:
    """`with Pool() as p: p.map(...)` ends its workers with SIGTERM: mpmon must neither hang that nor lose
    what the workers recorded (a Python SIGTERM handler in the workers could do the first: a signal
    landing just before a worker blocks on the pool's queue lock was never handled)."""

    PROGRAM = (
        PRELUDE
        + """
import faulthandler

if __name__ == "__main__":
    mpmon.start_collector(sys.argv[1], log_to_console=False)
    rounds, calls = int(sys.argv[2]), 10_000
    for _ in range(rounds):
        faulthandler.dump_traceback_later(15, exit=True)  # a hung Pool.__exit__ fails fast, with stacks
        with mp.Pool(2) as pool:
            pool.map(step, range(calls), chunksize=50)
        faulthandler.cancel_dump_traceback_later()
    mpmon.stop_collector()
    print(json.dumps({"calls": rounds * calls}))
"""
    )

    @pytest.mark.slow
    def test_twenty_pools_in_a_row_all_exit_and_keep_every_record(self, tmp_path: Path, report) -> None:
        """20 x `with Pool(2)` of 10,000 calls: every exit returns, every call is a row."""
        logs, rounds = tmp_path / "logs", 20
        run = run_program(tmp_path, self.PROGRAM, logs, rounds, timeout=120, check=False)
        rows = results(logs)
        report("20 x with Pool(2): map 10,000 calls", records=len(rows), lost=rounds * 10_000 - len(rows),
               seconds=run.seconds, exit_status=run.returncode)  # fmt: skip
        run.assert_ok()
        assert len(rows) == rounds * 10_000 and rows["call_id"].is_unique

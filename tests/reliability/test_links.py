"""Never through a link of any kind: hard links are refused like symlinks by the collector (every file it
writes or ingests) and by the analysis (every file it reads), and the analysis says what it skipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mpmon import schema
from tests.helpers import PRELUDE, analyze, run_program

SECRET_RUN = "20250101T000000Z-5ec2e7"


def secret_lines() -> str:
    """Lines a planted file would feed the analysis: a run of its own, with one call."""
    start = {"event": "run_start", "run_id": SECRET_RUN, "timestamp": "2025-01-01T00:00:00+00:00"}
    call = {
        "event": "call", "run_id": SECRET_RUN, "uuid": "0" * 32, "call_id": "0" * 32, "function": "SECRET",
        "module": "m", "source": "timer", "status": "ok", "pid": 1, "timestamp": "2025-01-01T00:00:01+00:00",
        "start_time": "2025-01-01T00:00:00+00:00", "end_time": "2025-01-01T00:00:01+00:00", "duration_s": 1.0,
    }  # fmt: skip
    return "".join(json.dumps(line) + "\n" for line in (start, call))


class TestHardLinksInTheCollector:
    """A hard link in the log directory names a file outside it: never written through, never ingested."""

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

    def test_a_log_file_that_is_a_hard_link_is_refused_at_start_and_its_target_is_untouched(
        self, tmp_path: Path
    ) -> None:
        logs, victim = tmp_path / "logs", tmp_path / "victim.txt"
        logs.mkdir()
        victim.write_bytes(b"precious\n")
        os.link(victim, logs / schema.TIMING_LOG)
        run = run_program(tmp_path, self.AT_START, logs, check=False)
        run.assert_ok()
        refused = run.result()["refused"]
        assert refused and schema.TIMING_LOG in refused and "hard link" in refused
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
    steady(10)
    try:
        fail(1)
    except ValueError:
        pass
    print(json.dumps({"before": mpmon.flush(wait=True)}))
    for name in ("timing.log", "timing_results.csv", "error.log"):  # replaced by hard links mid-run
        os.unlink(os.path.join(logs, name))
        os.link(victim, os.path.join(logs, name))
    steady(10)
    try:
        fail(2)
    except ValueError:
        pass
    print(json.dumps({"after": mpmon.flush(wait=True)}))
    mpmon.stop_collector()
"""
    )

    def test_files_replaced_by_hard_links_mid_run_and_a_hard_linked_spill_file_are_refused(
        self, tmp_path: Path
    ) -> None:
        """The hard links' target stays the same byte for byte (on 0b19303: 23 lines appended to it), the
        hard-linked spill file's lines are not ingested, the refusals are said and the loss reported."""
        logs, victim, secret = tmp_path / "logs", tmp_path / "victim.txt", tmp_path / "secret.jsonl"
        logs.mkdir()
        victim.write_bytes(b"precious\n")
        secret.write_text(secret_lines())
        secret.chmod(0o600)
        spill_link = logs / f"{schema.SPILL_PREFIX}1-abcdef12.jsonl"
        os.link(secret, spill_link)
        before = secret.read_bytes()
        run = run_program(tmp_path, self.DURING, logs, victim, check=False)
        run.assert_ok()
        assert victim.read_bytes() == b"precious\n", victim.read_bytes()[:300]
        assert secret.read_bytes() == before and spill_link.exists()
        assert (run.result(), json.loads(run.stdout.splitlines()[0])) == ({"after": False}, {"before": True})
        own = [p for p in logs.iterdir() if p.is_file() and p.stat().st_nlink == 1]
        assert own and "SECRET" not in "".join(p.read_text() for p in own)
        assert "hard link" in run.stderr and "not ingesting" in run.stderr
        assert "spill files were refused" in run.stderr  # the stop's account of what the run lost


class TestLinksInTheAnalysis:
    """The analysis reads no link and no other user's file: it skips them, says so, and reads the rest."""

    PROGRAM = PRELUDE + '\nmpmon.start_collector(sys.argv[1], log_to_console=False, tag="mine")\nsteady(20)\n'

    @pytest.mark.parametrize("kind", ["symlink", "hard link"])
    def test_list_runs_never_shows_a_run_read_through_a_planted_link(self, tmp_path: Path, kind: str) -> None:
        """A rotated timing.log backup and a spill file planted as links to a 0600 file outside: the run
        id in that file is never printed (on 0b19303 it is), each link is named on stderr as skipped."""
        logs, secret = tmp_path / "logs", tmp_path / "secret.jsonl"
        run_program(tmp_path, self.PROGRAM, logs)
        secret.write_text(secret_lines())
        secret.chmod(0o600)
        for name in (f"{schema.TIMING_LOG}.1", f"{schema.SPILL_PREFIX}9-abcdef12.jsonl"):
            if kind == "symlink":
                (logs / name).symlink_to(secret)
            else:
                os.link(secret, logs / name)
        listed = analyze("--list-runs", "--logdir", str(logs))
        assert listed.returncode == 0, listed.stderr
        assert SECRET_RUN not in listed.stdout and "mine" in listed.stdout
        skipped = [line for line in listed.stderr.splitlines() if "skipped" in line]
        assert len(skipped) == 2 and all(kind in line for line in skipped), listed.stderr
        assert "Traceback" not in listed.stderr

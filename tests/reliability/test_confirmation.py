"""A confirmation that means it: the collector confirms a batch only once it is on disk, reports a batch it
could not write as lost (`flush(wait=True)` returns False, a strict run raises, the run summary says how
many and why), and writes again once its log directory is back (made again with its lock file if it
was removed; every file opened again once it can be)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import PRELUDE, results, run_program, summaries

pytestmark = pytest.mark.slow

BREAK_AND_REPAIR = (
    PRELUDE
    + """
import shutil

def break_dir(logs, how):
    if how == "removed":
        shutil.rmtree(logs)
    elif how == "unwritable":
        os.chmod(logs, 0)
    else:  # "replaced": the directory moved aside and a file in its place (a root user ignores chmod)
        os.rename(logs, logs + ".aside")
        open(logs, "w").close()

def repair_dir(logs, how):
    if how == "unwritable":
        os.chmod(logs, 0o700)
    elif how == "replaced":
        os.remove(logs)
        os.rename(logs + ".aside", logs)

if __name__ == "__main__":
    how, per_phase = sys.argv[1], 3000
    mpmon.start_collector("logs", log_to_console=False, strict=True)
    flushes = []
    for phase in range(4):  # whole, broken (removed: made again at once), repaired, whole
        steady(per_phase)
        flushes.append(mpmon.flush(wait=True, timeout=30))
        if phase == 0:
            break_dir("logs", how)
        elif phase == 1:
            repair_dir("logs", how)
    lock_there = os.path.exists(os.path.join("logs", ".mpmon.lock"))
    try:
        mpmon.stop_collector(timeout=30)
        raised = None
    except mpmon.RunIncomplete as exc:
        raised = str(exc)
    print(json.dumps({"flushes": flushes, "raised": raised, "lock": lock_there}))
"""
)


class TestConfirmation:
    """What the collector could not write is never confirmed as written."""

    @pytest.mark.parametrize("how", ["replaced", "unwritable"])
    def test_records_lost_to_a_broken_directory_fail_the_flush_and_the_strict_stop_then_the_writer_recovers(
        self, tmp_path: Path, how: str, report: Callable[..., None]
    ) -> None:
        """The directory made unusable after the first phase and repaired after the second: the second
        phase's 3,000 records are lost and the flush that waited for them returns False; the strict stop
        raises with the count; the summary says why; the records made after the repair are all written."""
        if how == "unwritable" and os.geteuid() == 0:
            pytest.skip("chmod does not stop root: the 'replaced' case covers it")
        run = run_program(tmp_path, BREAK_AND_REPAIR, how, timeout=120)
        result = run.result()
        assert result["flushes"] == [True, False, True, True], (result, run.stderr)
        rows = results(tmp_path / "logs")
        lost = 4 * 3000 - len(rows)
        assert lost == 3000, run.stderr
        assert len(set(rows.call_id)) == len(rows)
        assert result["raised"] and "3,000 records could not be written" in result["raised"]
        summary = summaries(tmp_path / "logs")[-1]
        assert summary["lost"] == {"write_failures": 3000} and summary["complete"] is False
        assert "INCOMPLETE" in summary["message"]
        report(f"directory {how} mid-run", 12000, lost, run.seconds, flushes=result["flushes"])

    def test_a_log_directory_removed_mid_run_is_made_again_with_its_lock_and_written(
        self, tmp_path: Path, report: Callable[..., None]
    ) -> None:
        """Removed between two rounds: the next round makes the directory and the lock file again (a second
        run would lock the same file) and writes there; nothing is lost, every flush returns True."""
        run = run_program(tmp_path, BREAK_AND_REPAIR, "removed", timeout=120)
        result = run.result()
        assert result == {"flushes": [True] * 4, "raised": None, "lock": True}, run.stderr
        assert len(results(tmp_path / "logs")) == 3 * 3000  # the first phase went with the removed directory
        summary = summaries(tmp_path / "logs")[-1]
        assert summary["directories_recreated"] == 1 and summary["lost"] == {}
        report("directory removed mid-run", 12000, 0, run.seconds, flushes=result["flushes"])

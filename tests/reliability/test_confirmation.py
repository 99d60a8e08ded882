"""A confirmation that means it: the collector confirms a batch only once it is on disk, reports a batch it
could not write as lost (`flush(wait=True)` returns False, a strict run raises, the run summary says how
many and why), and writes again once its log directory is back (made again with its lock file if it
was removed; every file opened again once it can be)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import PRELUDE, results, run_program, summaries

pytestmark = pytest.mark.slow

BREAK_AND_REPAIR = (
    PRELUDE
    + """
import shutil

def break_dir(logs, how):
    if how == "full":  # fill the file system the directory is on (a small tmpfs)
        with open("filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"x" * 65536)
                    filler.flush()
            except OSError:
                pass
    elif how == "removed":
        shutil.rmtree(logs)
    elif how == "unwritable":
        os.chmod(logs, 0)
    else:  # "replaced": the directory moved aside and a file in its place
        os.rename(logs, logs + ".aside")
        open(logs, "w").close()

def repair_dir(logs, how):
    if how == "full":
        os.remove("filler")
    elif how == "unwritable":
        os.chmod(logs, 0o700)
    elif how == "replaced":
        os.remove(logs)
        os.rename(logs + ".aside", logs)

def held_to_permissions():
    # Root ignores chmod: run this program again without the capabilities that let it (CAP_DAC_OVERRIDE,
    # CAP_DAC_READ_SEARCH), dropped from the bounding set so that no process it starts gets them back (root
    # gets the bounding set at exec): it and its collector are then stopped by a chmod like any user.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            error = ctypes.get_errno()
            print(json.dumps({"cannot_drop": f"prctl(PR_CAPBSET_DROP): {os.strerror(error)}"}))
            sys.exit(0)
    os.environ["HELD_TO_PERMISSIONS"] = "1"
    os.execv(sys.executable, [sys.executable, *sys.argv])

def blocked(logs):
    try:
        os.listdir(logs)
    except PermissionError:
        return True
    return False

if __name__ == "__main__":
    how, per_phase = sys.argv[1], 3000
    if how == "unwritable" and os.geteuid() == 0 and not os.environ.get("HELD_TO_PERMISSIONS"):
        held_to_permissions()
    mpmon.start_collector("logs", log_to_console=False, strict=True)
    flushes, more = [], {}
    for phase in range(4):  # whole, broken (removed: made again at once), repaired, whole
        steady(per_phase)
        flushes.append(mpmon.flush(wait=True, timeout=30))
        if phase == 0:
            break_dir("logs", how)
            if how == "unwritable":
                more["blocked"] = blocked("logs")
        elif phase == 1:
            repair_dir("logs", how)
    lock_there = os.path.exists(os.path.join("logs", ".mpmon.lock"))
    try:
        mpmon.stop_collector(timeout=30)
        raised = None
    except mpmon.RunIncomplete as exc:
        raised = str(exc)
    print(json.dumps({"flushes": flushes, "raised": raised, "lock": lock_there, **more}))
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
        run = run_program(tmp_path, BREAK_AND_REPAIR, how, timeout=120)
        result = run.result()
        if "cannot_drop" in result:  # root that may not drop a capability: a chmod cannot stop it
            pytest.skip(f"chmod does not stop root, which cannot drop its override: {result['cannot_drop']}")
        if how == "unwritable":  # as root too: the program drops the capabilities that ignore chmod
            assert result.pop("blocked") is True, "the chmod did not stop the program"
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


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs mounted in tmp_path (root only, where mounting is allowed)."""
    where = tmp_path / "small"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        with contextlib.suppress(OSError):
            subprocess.run(["umount", str(where)], check=False)


def test_records_lost_to_a_full_disk_fail_the_flush_and_the_writer_goes_on_once_there_is_room(
    small_tmpfs: Path, report: Callable[..., None]
) -> None:
    """The file system filled after the first phase and freed after the second: the second phase's
    records are lost (the flush that waited for them returns False, the strict stop raises), the files
    are cut back so that they parse, the third and fourth phases are written."""
    run = run_program(small_tmpfs, BREAK_AND_REPAIR, "full", timeout=120)
    result = run.result()
    assert result["flushes"] == [True, False, True, True], (result, run.stderr)
    rows = results(small_tmpfs / "logs")
    lost = 4 * 3000 - len(rows)
    assert lost == 3000, run.stderr
    assert result["raised"] and "3,000 records could not be written" in result["raised"]
    report("disk full mid-run (32 MiB tmpfs)", 12000, lost, run.seconds, flushes=result["flushes"])

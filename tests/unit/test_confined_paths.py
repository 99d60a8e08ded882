"""files.confined(): the one check that keeps a path a record names (an error_log_file) in the log
directory, whatever spelling a keyed sender chooses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mpmon import schema
from mpmon.collector import files
from mpmon.collector.run_sinks import RunSinks
from mpmon.collector.writer import Writer
from mpmon.wire import ERROR

from .test_golden_files import writer_settings


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A log directory with a subdirectory, a symlink out of it, and a file outside."""
    (tmp_path / "logs" / "own").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "logs" / "linked").symlink_to(tmp_path / "elsewhere")
    return tmp_path / "logs"


class TestConfined:
    """A file of the log directory (or below it) passes, by its real path; nothing else does."""

    @pytest.mark.parametrize(
        "name", ["errors.log", "own/errors.log", "new/deeper/errors.log", "own/../x.log"]
    )
    def test_a_file_in_the_log_directory_passes_as_its_real_path(self, logs: Path, name: str) -> None:
        """Relative paths are read from the log directory; absolute ones inside it pass too."""
        expected = os.path.normpath(os.path.join(os.path.realpath(logs), name))
        assert files.confined(str(logs), name) == expected
        assert files.confined(str(logs), expected) == expected

    @pytest.mark.parametrize(
        "name",
        [
            "../outside.log",
            "own/../../outside.log",
            "/etc/passwd",
            "linked/errors.log",  # a parent that is a symlink out of the directory
            "own",  # a directory
            ".",
            schema.TIMING_LOG,
            f"{schema.TIMING_LOG}.3",
            schema.RESULTS_CSV,
            schema.LOCK_FILE,
            f"{schema.SPILL_PREFIX}1.jsonl",
            "bad\0name",
            "x" * (files.MAX_PATH + 1),
            "",
        ],
    )
    def test_any_other_path_is_refused(self, logs: Path, name: str) -> None:
        with pytest.raises(files.UnsafeFile):
            files.confined(str(logs), name)

    @pytest.mark.parametrize("value", [None, 3, b"errors.log", ["errors.log"]])
    def test_a_value_that_is_not_a_text_is_refused(self, logs: Path, value: object) -> None:
        with pytest.raises(files.UnsafeFile):
            files.confined(str(logs), value)

    def test_a_symlink_or_hard_link_inside_is_refused(self, logs: Path, tmp_path: Path) -> None:
        (tmp_path / "elsewhere" / "target.log").write_text("")
        (logs / "soft.log").symlink_to(tmp_path / "elsewhere" / "target.log")
        os.link(tmp_path / "elsewhere" / "target.log", logs / "hard.log")
        for name in ("soft.log", "hard.log"):
            with pytest.raises(files.UnsafeFile):
                files.confined(str(logs), name)


class TestOpenedFromTheLogDirectoryDown:
    """A record's own error log is opened, checked and rotated relative to its directory, opened one
    component at a time from the log directory down without following a link (files.open_dir): a
    directory swapped for a symlink after RunSinks checked the path is refused at the write itself."""

    @staticmethod
    def swap(logs: Path, tmp_path: Path) -> None:
        """`own` moved aside and a symlink out of the log directory put in its place."""
        os.rename(logs / "own", logs / "own-moved")
        (logs / "own").symlink_to(tmp_path / "elsewhere")

    def test_a_directory_swapped_for_a_link_after_the_check_is_refused_at_the_write(
        self, logs: Path, tmp_path: Path
    ) -> None:
        """The sink returned by the check writes nothing where the link points (it raises UnsafeFile
        before writing a byte); what it wrote before stays in the moved directory."""
        sinks = RunSinks(writer_settings(logs, "swap"), lambda path: None, lambda path, exc: None)
        sinks.error_log("own/errors.log", None, None).write(['{"n": 0}'])
        sinks.flush()  # the end of a round
        checked = sinks.error_log("own/errors.log", None, None)  # the check before this write passes
        self.swap(logs, tmp_path)
        with pytest.raises(files.UnsafeFile):
            checked.write(['{"n": 1}'])
        sinks.close()
        assert os.listdir(tmp_path / "elsewhere") == []
        assert (logs / "own-moved" / "errors.log").read_text() == '{"n": 0}\n'

    def test_lines_refused_at_the_write_go_to_error_log_from_then_on(
        self, logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """RunSinks says why once and writes the refused lines, and the next ones, to error.log. (The
        swap has to come between the check and the write: the check is made to pass as it did a moment
        before, which is the race.)"""
        refused: list[str] = []
        sinks = RunSinks(
            writer_settings(logs, "swap"), lambda path: None, lambda path, exc: refused.append(path)
        )
        sinks.write_error_lines("own/errors.log", None, None, ['{"n": 0}'])
        self.swap(logs, tmp_path)
        monkeypatch.setattr(sinks, "_still_confined", lambda key, target: True)
        sinks.write_error_lines("own/errors.log", None, None, ['{"n": 1}'])
        sinks.write_error_lines("own/errors.log", None, None, ['{"n": 2}'])
        sinks.close()
        assert refused == ["own/errors.log"]
        assert os.listdir(tmp_path / "elsewhere") == []
        assert (logs / schema.ERROR_LOG).read_text() == '{"n": 1}\n{"n": 2}\n'

    @pytest.mark.parametrize("max_bytes", [0, 700])
    def test_an_error_log_below_the_directory_holds_error_logs_bytes(
        self, logs: Path, max_bytes: int
    ) -> None:
        """The golden rounds with every error routed to `own/deeper/errors.log` (made on the way): its
        lines are the golden error.log's bytes, rotated (relative to its directory) into backups that
        hold them all, in order."""
        from .test_golden_files import GOLDEN, batches

        writer = Writer(writer_settings(logs, "golden"))
        writer.start()
        for round_ in batches():
            writer.write([b._replace(records=[_routed(r, max_bytes) for r in b.records]) for b in round_])
        writer.stop()
        family = sorted(
            (logs / "own" / "deeper").iterdir(), key=lambda p: -int(p.name[len("errors.log.") :] or 0)
        )
        assert (len(family) > 3) == bool(max_bytes)
        assert b"".join(p.read_bytes() for p in family) == (GOLDEN / schema.ERROR_LOG).read_bytes()
        assert not (logs / schema.ERROR_LOG).exists()


def _routed(record: tuple[Any, ...], max_bytes: int) -> tuple[Any, ...]:
    """An ERROR record sent to own/deeper/errors.log (rotated past `max_bytes`, 50 backups kept); others
    as they are."""
    if record[0] != ERROR:
        return record
    return (*record[:-1], (None, None, "own/deeper/errors.log", max_bytes or None, 50))

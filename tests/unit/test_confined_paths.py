"""files.confined(): the one check that keeps a path a record names (an error_log_file) in the log
directory, whatever spelling a keyed sender chooses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mpmon import schema
from mpmon.collector import files


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

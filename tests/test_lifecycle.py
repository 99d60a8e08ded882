"""Starting and stopping: idempotent stops, nothing lost when stop is forgotten, forks in a row."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import call_lines, log_family, read_csv, run_program, run_python

import mpmon


class TestStop:
    """stop_collector() and what happens when a program forgets it."""

    def test_stopping_twice_is_harmless(self, tmp_path: Path) -> None:
        """A second stop_collector() (and one with no collector at all) does nothing and raises nothing."""
        run_program(
            tmp_path,
            """
            import mpmon
            mpmon.stop_collector()
            mpmon.start_collector("logs", log_to_console=False)
            mpmon.Timer(lambda: 1)()
            mpmon.stop_collector()
            mpmon.stop_collector()
            """,
        )
        assert len(read_csv(tmp_path / "logs")) == 1

    def test_a_program_that_forgets_to_stop_keeps_every_record(self, tmp_path: Path) -> None:
        """Records made by the parent and by pool workers are on disk after the program exits."""
        run_program(
            tmp_path,
            """
            import multiprocessing
            import mpmon

            @mpmon.Timer
            def work(x):
                return x

            if __name__ == "__main__":
                mpmon.start_collector("logs", log_to_console=False)
                for i in range(500):
                    work(i)
                pool = multiprocessing.Pool(2)
                pool.map(work, range(1500))
                # neither pool.close() nor stop_collector(): exit runs them
            """,
        )
        log_dir = tmp_path / "logs"
        assert len(read_csv(log_dir)) == 2000
        assert len(call_lines(log_dir)) == 2000
        summary = [e for e in log_family(log_dir, "timing.log") if e["event"] == "run_summary"]
        assert summary[0]["records_by_source"] == {"timer": 2000}

    def test_the_context_manager_starts_and_stops(self, tmp_path: Path) -> None:
        """`with mpmon.collector(...)` yields the running collector and stops it on exit."""
        run_program(
            tmp_path,
            """
            import mpmon
            with mpmon.collector("logs", log_to_console=False, tag="ctx") as running:
                assert running.run_id and running.log_dir.endswith("logs")
                mpmon.Timer(lambda: 1)()
            """,
        )
        entries = log_family(tmp_path / "logs", "timing.log")
        assert entries[0]["event"] == "run_start" and entries[0]["tag"] == "ctx"
        assert entries[-1]["event"] == "run_summary"


def test_a_hundred_forks_in_a_row_give_a_hundred_rows(tmp_path: Path) -> None:
    """100 forked children, one after another, each making one monitored call: exactly 100 rows."""
    run_program(
        tmp_path,
        """
        import os
        import mpmon

        @mpmon.Timer
        def child_work(i):
            return i

        mpmon.start_collector("logs", log_to_console=False)
        child_work(-1)  # the parent has a record buffered at every fork: it must not be sent twice
        for i in range(100):
            pid = os.fork()
            if pid == 0:
                child_work(i)
                mpmon.flush()
                os._exit(0)
            os.waitpid(pid, 0)
        mpmon.stop_collector()
        """,
    )
    rows = read_csv(tmp_path / "logs")
    assert len(rows) == 101
    assert rows["call_id"].is_unique
    assert rows["pid"].nunique() == 101


def test_start_collector_returns_the_running_one(tmp_path: Path) -> None:
    """A second start_collector() in the same process returns the running collector."""
    os.chdir(tmp_path)
    first = mpmon.start_collector(tmp_path / "logs", log_to_console=False)
    try:
        assert mpmon.start_collector(tmp_path / "other") is first
        assert os.environ["MPMON_RUN_ID"] == first.run_id
    finally:
        mpmon.stop_collector()
    assert "MPMON_ADDRESS" not in os.environ


def test_the_collector_is_this_mpmon_even_where_the_working_directory_holds_another(tmp_path: Path) -> None:
    """A program run from a directory that holds a package named mpmon (a checkout of another version,
    say) still gets the collector of the mpmon it imported: the collector's interpreter does not put
    the working directory first on its path."""
    work, program = tmp_path / "work", tmp_path / "program"
    (work / "mpmon" / "collector").mkdir(parents=True)
    (work / "mpmon" / "__init__.py").write_text("")
    (work / "mpmon" / "collector" / "__init__.py").write_text("")
    (work / "mpmon" / "collector" / "__main__.py").write_text("open('impostor-ran', 'w').close()\n")
    program.mkdir()
    (program / "prog.py").write_text(
        "import mpmon\n"
        "mpmon.start_collector('logs', log_to_console=False)\n"
        "mpmon.Timer(log_to_console=False)(abs)(-1)\n"
        "mpmon.stop_collector()\n"
    )
    run = run_python([program / "prog.py"], work, timeout=60)
    assert not (work / "impostor-ran").exists()
    assert len(read_csv(work / "logs")) == 1, run.stderr

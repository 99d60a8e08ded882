"""Timer and ErrorCatcher with a real collector: the rows and log lines it writes, settings, processes."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from helpers import call_lines, log_family, read_csv, read_parquet, run_program

import mpmon
from mpmon import environment


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    """A collector running in this process for the test; stopped (files complete) before assertions read."""
    mpmon.start_collector(tmp_path / "logs", log_to_console=False)
    yield tmp_path / "logs"
    mpmon.stop_collector()


def stopped_rows(log_dir: Path) -> pd.DataFrame:
    mpmon.stop_collector()
    return read_csv(log_dir)


class Account:
    def __init__(self) -> None:
        self.balance = 0

    @mpmon.Timer()
    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance


class TestCalls:
    """What a decorated callable records, read back from the collector's files."""

    def test_methods_are_bound(self, log_dir: Path) -> None:
        """A decorated method gets its instance; the row names Class.method."""
        account = Account()
        assert account.deposit(5) == 5 and account.deposit(amount=7) == 12
        rows = stopped_rows(log_dir)
        assert list(rows["function"]) == ["Account.deposit", "Account.deposit"]
        assert rows["args"][1].endswith('"kwargs":{"amount":"7"}}')

    def test_untracked_resources_are_empty(self, log_dir: Path) -> None:
        """track_resources=False leaves CPU and memory empty (NaN), never zero."""
        mpmon.Timer(track_resources=False)(lambda: None)()
        row = stopped_rows(log_dir).iloc[0]
        assert math.isnan(row["cpu_time_s"]) and math.isnan(row["mem_final_mib"])
        assert row["function"] == "TestCalls.test_untracked_resources_are_empty.<locals>.<lambda>"

    def test_exceptions_pass_through_and_are_recorded(self, log_dir: Path) -> None:
        """The caller gets the very exception; the row says error and its type."""
        boom = ValueError("boom")

        @mpmon.Timer
        def fail() -> None:
            raise boom

        with pytest.raises(ValueError) as caught:
            fail()
        assert caught.value is boom
        row = stopped_rows(log_dir).iloc[0]
        assert (row["status"], row["error_type"]) == ("error", "ValueError")

    def test_async_and_generators_are_timed_until_done(self, log_dir: Path) -> None:
        """A coroutine is timed until it finishes, a generator until it is exhausted."""

        @mpmon.Timer
        async def nap() -> str:
            await asyncio.sleep(0.05)
            return "rested"

        @mpmon.Timer
        def count(n: int) -> Iterator[int]:
            yield from range(n)

        assert asyncio.iscoroutinefunction(nap)
        assert asyncio.run(nap()) == "rested"
        assert list(count(3)) == [0, 1, 2]
        rows = stopped_rows(log_dir).set_index("function")
        assert (
            rows.loc["TestCalls.test_async_and_generators_are_timed_until_done.<locals>.nap", "duration_s"]
            >= 0.05
        )
        assert (
            rows.loc["TestCalls.test_async_and_generators_are_timed_until_done.<locals>.count", "status"]
            == "ok"
        )


class TestSettings:
    """Per-decorator settings and the collector's defaults, in a fresh interpreter."""

    def test_each_decorator_picks_its_results_format(self, tmp_path: Path) -> None:
        """csv and parquet decorators in one run fill both tables; log_to_file=False skips timing.log."""
        run_program(
            tmp_path,
            """
            import mpmon
            as_csv = mpmon.Timer(lambda: 1)
            as_parquet = mpmon.Timer(results_format="parquet")(lambda: 2)
            unlogged = mpmon.Timer(log_to_file=False, results_format="parquet")(lambda: 3)
            mpmon.start_collector("logs", log_to_console=False)
            for _ in range(10):
                as_csv(); as_parquet(); unlogged()
            mpmon.stop_collector()
            """,
        )
        log_dir = tmp_path / "logs"
        assert len(read_csv(log_dir)) == 10
        assert len(read_parquet(log_dir)) == 20
        assert len(call_lines(log_dir)) == 20

    def test_without_start_collector_files_go_to_logs(self, tmp_path: Path) -> None:
        """A script that only decorates writes ./logs as the original module did."""
        run_program(
            tmp_path,
            """
            import mpmon
            mpmon.Timer(log_to_console=False)(print)("hello")
            """,
        )
        assert len(read_csv(tmp_path / "logs")) == 1
        assert len(call_lines(tmp_path / "logs")) == 1

    def test_capture_logging_reaches_timing_log_from_every_process(self, tmp_path: Path) -> None:
        """With capture_logging, logging calls made in spawned workers land in timing.log."""
        run_program(
            tmp_path,
            """
            import logging, multiprocessing
            import mpmon

            def work(i):
                logging.getLogger("app").warning("item %d done", i)

            if __name__ == "__main__":
                mpmon.start_collector("logs", capture_logging=True, log_to_console=False)
                logging.getLogger("app").warning("parent here")
                with multiprocessing.get_context("spawn").Pool(2) as pool:
                    pool.map(work, range(20))
                mpmon.stop_collector()
            """,
        )

        logged = [e for e in log_family(tmp_path / "logs", "timing.log") if e["event"] == "log"]
        assert sorted(e["message"] for e in logged) == sorted(
            ["parent here"] + [f"item {i} done" for i in range(20)]
        )
        assert {e["level"] for e in logged} == {"WARNING"}


class TestThreeWaysIn:
    """An error leaving a block, in the results table and error.log."""

    def test_error_in_a_block_is_recorded_and_propagates(self, log_dir: Path) -> None:
        """An exception leaving a Timer block marks its row; an ErrorCatcher block logs it; both re-raise."""
        with pytest.raises(KeyError), mpmon.ErrorCatcher(), mpmon.Timer(name="lookup"):
            raise KeyError("missing")
        rows = stopped_rows(log_dir)
        assert (rows["status"].item(), rows["error_type"].item()) == ("error", "KeyError")

        (entry,) = log_family(log_dir, "error.log")
        assert entry["error_type"] == "KeyError" and "missing" in entry["error_message"]


def test_an_error_log_file_of_its_own_rotates_with_its_settings(tmp_path: Path) -> None:
    """error_log_file, max_bytes and backup_count of an ErrorCatcher make their own rotating file (in the
    log directory: the collector writes nowhere else, see tests/reliability/test_confinement.py)."""
    run_program(
        tmp_path,
        """
        import mpmon

        own = dict(error_log_file="logs/own/errors.log", max_bytes=4096, backup_count=50)

        @mpmon.ErrorCatcher(log_to_console=False, **own)
        def fail(i):
            raise RuntimeError(f"failure {i}")

        for i in range(40):
            try:
                fail(i)
            except RuntimeError:
                pass
        """,
    )

    files = list((tmp_path / "logs" / "own").glob("errors.log*"))
    assert len(files) > 3 and all(f.stat().st_size <= 4096 for f in files)
    entries = log_family(tmp_path / "logs" / "own", "errors.log")
    assert sorted(int(e["error_message"].split()[1]) for e in entries) == list(range(40))
    assert not (tmp_path / "logs" / "error.log").exists()


def test_console_lines_go_through_the_mpmon_logger_in_the_collector(tmp_path: Path) -> None:
    """Console lines come from one process; logging_config reformats them."""
    done = run_program(
        tmp_path,
        """
        import multiprocessing
        import mpmon

        @mpmon.Timer
        def work(i):
            return i

        if __name__ == "__main__":
            config = {
                "version": 1,
                "formatters": {"plain": {"format": "MPMON|%(levelname)s|%(message)s"}},
                "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "plain"}},
                "loggers": {"mpmon": {"handlers": ["out"], "level": "INFO", "propagate": False}},
            }
            mpmon.start_collector("logs", logging_config=config)
            with multiprocessing.Pool(2) as pool:
                pool.map(work, range(50))
            mpmon.stop_collector()
        """,
        env={environment.CONSOLE_LINES: "0"},  # a line per call, however fast they come
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("MPMON|")]
    assert len(lines) == 50
    assert all("|INFO|" in line and "work finished in" in line for line in lines)


NAMES = ['quote " inside', "back\\slash", "line\nbreak", "\x00nul", "lone \udcff surrogate", "plain", "é ü"]


@pytest.mark.parametrize("results_format", ["csv", "parquet"])
def test_names_and_thread_names_of_any_text_come_back_from_both_files(
    tmp_path: Path, results_format: str
) -> None:
    """The collector escapes only the text columns that need it: names with quotes, backslashes and
    control characters (and lone surrogates, kept as backslash escapes) still read back exactly."""
    log_dir = tmp_path / "logs"
    mpmon.start_collector(log_dir, log_to_console=False, results_format=results_format)

    def call_named(name: str) -> None:
        mpmon.Timer(name=name)(lambda: None)()

    for name in NAMES:
        thread = threading.Thread(target=call_named, args=(name,), name=name)
        thread.start()
        thread.join()
    mpmon.Timer(name="ordinary")(lambda: None)()  # a round can mix plain and escaped rows
    mpmon.stop_collector()
    kept = [name.encode("utf-8", "backslashreplace").decode("utf-8") for name in NAMES]
    rows = read_csv(log_dir) if results_format == "csv" else read_parquet(log_dir)
    assert rows["function"].tolist() == [*kept, "ordinary"]
    assert rows["thread_name"].tolist()[:-1] == kept
    lines = call_lines(log_dir)
    assert [line["function"] for line in lines] == [*kept, "ordinary"]
    assert [line["thread_name"] for line in lines][:-1] == kept
    assert [line["message"].split(" finished in ")[0] for line in lines] == [*kept, "ordinary"]

"""Timer and ErrorCatcher on every kind of callable, in threads, nested, and with per-decorator settings."""

from __future__ import annotations

import asyncio
import math
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from helpers import call_lines, read_csv, read_parquet, run_program

import mpmon
from mpmon.testing import CapturedRecords, capture_records


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    """A collector running in this process for the test; stopped (files complete) before assertions read."""
    mpmon.start_collector(tmp_path / "logs", log_to_console=False)
    yield tmp_path / "logs"
    mpmon.stop_collector()


def stopped_rows(log_dir: Path) -> pd.DataFrame:
    mpmon.stop_collector()
    return read_csv(log_dir)


@pytest.fixture
def captured() -> Iterator[CapturedRecords]:
    """The records this test makes, in memory (mpmon.testing.capture_records): no collector needed."""
    with capture_records() as records:
        yield records


def captured_rows(records: CapturedRecords) -> pd.DataFrame:
    """The captured CALL records as the results table's columns that these tests read."""
    return pd.DataFrame(
        {
            "call_id": [str(r.call_no) for r in records.calls],
            "parent_id": [str(r.parent_no) if r.parent_no else "" for r in records.calls],
            "function": [r.function for r in records.calls],
            "source": [r.source for r in records.calls],
            "thread_name": [r.thread_name for r in records.calls],
            "start_time": [r.start_ns for r in records.calls],
            "duration_s": [r.duration_ns / 1e9 for r in records.calls],
        }
    )


@mpmon.Timer
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Account:
    def __init__(self) -> None:
        self.balance = 0

    @mpmon.Timer()
    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance


@mpmon.Timer(name="outer_step")
def outer() -> int:
    return inner() + inner()


@mpmon.Timer
def inner() -> int:
    return 1


class TestCalls:
    """What a decorated callable returns and records."""

    def test_return_value_and_signature_survive(self, log_dir: Path) -> None:
        """The function returns what it would; its name and docstring are kept."""
        assert fib(10) == 55
        assert fib.__name__ == "fib" and fib.__wrapped__.__name__ == "fib"
        assert len(stopped_rows(log_dir)) == 177

    def test_methods_are_bound(self, log_dir: Path) -> None:
        """A decorated method gets its instance; the row names Class.method."""
        account = Account()
        assert account.deposit(5) == 5 and account.deposit(amount=7) == 12
        rows = stopped_rows(log_dir)
        assert list(rows["function"]) == ["Account.deposit", "Account.deposit"]
        assert rows["args"][1].endswith('"kwargs":{"amount":"7"}}')

    def test_recursion_links_parents(self, captured: CapturedRecords) -> None:
        """Each recursive call's parent_id is the call that made it; the outermost has none."""
        fib(5)
        rows = captured_rows(captured).set_index("call_id")
        roots = rows[rows["parent_id"] == ""]
        assert len(roots) == 1
        assert set(rows["parent_id"]) - {""} <= set(rows.index)
        for cid, parent in rows["parent_id"].items():
            if parent:
                assert rows.loc[parent, "start_time"] <= rows.loc[cid, "start_time"]
                assert rows.loc[parent, "duration_s"] >= rows.loc[cid, "duration_s"]
        assert (rows["parent_id"] != "").sum() == 14  # fib(5) makes 15 calls

    def test_nested_calls_fill_parent_id(self, captured: CapturedRecords) -> None:
        """inner() called from outer() names outer's call_id as its parent; name= renames the row."""
        outer()
        rows = captured_rows(captured)
        parent = rows[rows["function"] == "outer_step"]["call_id"].item()
        assert list(rows[rows["function"] == "inner"]["parent_id"]) == [parent, parent]

    def test_threads(self, captured: CapturedRecords) -> None:
        """Four threads calling at once: every call recorded once, each parent in its own thread."""

        def work() -> None:
            for _ in range(250):
                outer()

        threads = [threading.Thread(target=work, name=f"worker-{i}") for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = captured_rows(captured)
        assert len(rows) == 3000 and rows["call_id"].is_unique
        by_id = rows.set_index("call_id")
        children = rows[rows["parent_id"] != ""]
        assert (
            by_id.loc[children["parent_id"], "thread_name"].values == children["thread_name"].values
        ).all()

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
    """Per-decorator settings and the collector's defaults."""

    def test_decorators_pickle_by_reference(self) -> None:
        """A decorated module-level function pickles as a reference to itself, carrying no state."""
        assert pickle.loads(pickle.dumps(fib)) is fib
        assert len(pickle.dumps(fib)) < 100

    def test_bad_settings_are_refused_at_decoration(self) -> None:
        """A wrong results_format, max_arg_length or sanitize_func is a clear error, not a silent default."""
        with pytest.raises(ValueError, match="results_format"):
            mpmon.Timer(results_format="xlsx")
        with pytest.raises(ValueError, match="max_arg_length"):
            mpmon.Timer(max_arg_length=-1)
        with pytest.raises(TypeError, match="sanitize_func"):
            mpmon.ErrorCatcher(sanitize_func="mask")  # type: ignore[arg-type]

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
        from helpers import json_lines

        logged = [e for e in json_lines(tmp_path / "logs", "timing.log") if e["event"] == "log"]
        assert sorted(e["message"] for e in logged) == sorted(
            ["parent here"] + [f"item {i} done" for i in range(20)]
        )
        assert {e["level"] for e in logged} == {"WARNING"}


class TestThreeWaysIn:
    """One Timer object: decorator, context manager, start()/stop()."""

    def test_with_block_makes_one_row_and_is_a_parent(self, captured: CapturedRecords) -> None:
        """A `with Timer(name=...)` block is one row; monitored calls inside name it as parent."""
        with mpmon.Timer(name="load"):
            inner()
        rows = captured_rows(captured).set_index("function")
        assert rows.loc["inner", "parent_id"] == rows.loc["load", "call_id"]
        assert rows.loc["load", "source"] == "timer"

    def test_start_stop_nested_and_recursive_on_one_object(self, captured: CapturedRecords) -> None:
        """The same object started twice (nested) makes two rows, the inner one a child of the outer."""
        timer = mpmon.Timer(name="span")
        timer.start()
        timer.start()
        timer.stop()
        timer.stop()
        with pytest.raises(RuntimeError, match="without a matching start"):
            timer.stop()
        rows = captured_rows(captured)
        assert len(rows) == 2
        outer_row = rows[rows["parent_id"] == ""]
        assert list(rows[rows["parent_id"] != ""]["parent_id"]) == list(outer_row["call_id"])

    def test_block_name_defaults_to_the_enclosing_function(self, captured: CapturedRecords) -> None:
        """Without name=, a block's row is named after the function it is in."""
        with mpmon.Timer():
            pass
        assert (
            captured_rows(captured)["function"]
            .item()
            .endswith("test_block_name_defaults_to_the_enclosing_function")
        )

    def test_error_in_a_block_is_recorded_and_propagates(self, log_dir: Path) -> None:
        """An exception leaving a Timer block marks its row; an ErrorCatcher block logs it; both re-raise."""
        with pytest.raises(KeyError), mpmon.ErrorCatcher(), mpmon.Timer(name="lookup"):
            raise KeyError("missing")
        rows = stopped_rows(log_dir)
        assert (rows["status"].item(), rows["error_type"].item()) == ("error", "KeyError")
        from helpers import json_lines

        (entry,) = json_lines(log_dir, "error.log")
        assert entry["error_type"] == "KeyError" and "missing" in entry["error_message"]


def test_an_error_log_file_of_its_own_rotates_with_its_settings(tmp_path: Path) -> None:
    """error_log_file, max_bytes and backup_count of an ErrorCatcher make their own rotating file."""
    run_program(
        tmp_path,
        """
        import mpmon

        own = dict(error_log_file="own/errors.log", max_bytes=4096, backup_count=50)

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
    from helpers import json_lines

    files = list((tmp_path / "own").glob("errors.log*"))
    assert len(files) > 3 and all(f.stat().st_size <= 4096 for f in files)
    entries = json_lines(tmp_path / "own", "errors.log")
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

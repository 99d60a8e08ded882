"""Timer and ErrorCatcher on every kind of callable, in threads, nested, and with per-decorator settings."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator

import pandas as pd
import pytest

import mpmon
from mpmon.testing import CapturedRecords, capture_records


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


@mpmon.Timer(name="outer_step")
def outer() -> int:
    return inner() + inner()


@mpmon.Timer
def inner() -> int:
    return 1


class TestCalls:
    """What a decorated callable returns and records."""

    def test_return_value_and_signature_survive(self, captured: CapturedRecords) -> None:
        """The function returns what it would; its name and docstring are kept; each call is recorded."""
        assert fib(10) == 55
        assert fib.__name__ == "fib" and fib.__wrapped__.__name__ == "fib"
        assert len(captured.calls) == 177

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

    def test_a_text_as_first_argument_names_the_row(self, captured: CapturedRecords) -> None:
        """`Timer("load")` (codetiming's habit) is `Timer(name="load")`: the text is not taken as
        log_to_console, which stays the run's; a name given twice, or ErrorCatcher("x"), is a TypeError."""
        timer = mpmon.Timer("load")
        assert timer.settings.log_to_console is None
        with timer:
            pass
        assert list(captured_rows(captured)["function"]) == ["load"]
        with pytest.raises(TypeError, match="name twice"):
            mpmon.Timer("load", name="other")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"Timer\(name='x'\)"):
            mpmon.ErrorCatcher("x")  # type: ignore[arg-type]

    def test_block_name_defaults_to_the_enclosing_function(self, captured: CapturedRecords) -> None:
        """Without name=, a block's row is named after the function it is in."""
        with mpmon.Timer():
            pass
        assert (
            captured_rows(captured)["function"]
            .item()
            .endswith("test_block_name_defaults_to_the_enclosing_function")
        )

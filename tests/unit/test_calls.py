"""The one way in and out of a record (calls.py), seen through mpmon.testing.capture_records: no collector."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT

import mpmon
from mpmon import calls, wire
from mpmon.testing import capture_records


@mpmon.Timer
def square(x: int, power: int = 2) -> int:
    return int(x**power)


@mpmon.Timer(name="outer_step")
def outer() -> int:
    return square(2) + square(3)


class TestOneRecordBuilder:
    """The CALL tuple has one builder; Timer's inline fast path is held to it."""

    def test_the_inline_fast_path_builds_the_same_tuple_as_record_call(self) -> None:
        """A plain @Timer call and record_call() fed the same measurements give equal tuples."""
        with capture_records() as records:
            square(3, power=3)
            (fast,) = records.calls
            begun = calls.Begun(fast.call_no, fast.parent_no, True, fast.start_ns, 0, 0, fast.rss_before)
            calls.record_call(begun, fast.duration_ns, fast.cpu_ns, fast.rss_after, fast.source,
                              fast.function, fast.module, fast.error_type, fast.args, fast.route)  # fmt: skip
        assert len(records.calls) == 2
        assert tuple(records.calls[0]) == tuple(records.calls[1])

    def test_call_record_follows_call_fields(self) -> None:
        """wire.call_record() takes CALL_FIELDS in their order and puts CALL first."""
        values = tuple(f"v{i}" for i in range(len(wire.CALL_FIELDS)))
        assert wire.call_record(*values) == (wire.CALL, *values)  # type: ignore[arg-type]

    def test_the_call_tuple_is_built_in_one_function_and_the_fast_path_only(self) -> None:
        """No other code in mpmon writes a tuple literal that starts with CALL."""
        builders = []
        for path in sorted((ROOT / "mpmon").rglob("*.py")):
            tree = ast.parse(path.read_text())
            for function in ast.walk(tree):
                if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Tuple) and node.elts:
                        first = node.elts[0]
                        if isinstance(first, ast.Name) and first.id == "CALL":
                            builders.append(f"{path.relative_to(ROOT)}:{function.name}")
        assert sorted(set(builders)) == [
            "mpmon/wire.py:call_record",
            "mpmon/wrappers.py:timed",
            "mpmon/wrappers.py:timed_call",
        ]


class TestEveryWayIn:
    """Decorator, stacked decorators, with-block, start/stop, coroutine, generator and hooks all record."""

    def test_nested_calls_name_their_parent(self) -> None:
        with capture_records() as records:
            assert outer() == 13
        by_name = {r.function: r for r in records.calls}
        parent = by_name["outer_step"].call_no
        assert [r.parent_no for r in records.calls if r.function == "square"] == [parent, parent]
        assert by_name["outer_step"].parent_no == 0

    def test_arguments_are_rendered(self) -> None:
        with capture_records() as records:
            square(4, power=1)
        assert records.calls[0].args == (("4",), (("power", "1"),))

    def test_with_block_and_start_stop(self) -> None:
        timer = mpmon.Timer(name="span")
        with capture_records() as records:
            with mpmon.Timer(name="block"):
                square(1)
            timer.start()
            timer.stop()
        names = [r.function for r in records.calls]
        assert names == ["square", "block", "span"]
        assert records.calls[0].parent_no == records.calls[1].call_no

    def test_errors_mark_the_row_and_the_catcher_joins_it(self) -> None:
        @mpmon.ErrorCatcher
        @mpmon.Timer
        def fail() -> None:
            raise KeyError("missing")

        with capture_records() as records, pytest.raises(KeyError):
            fail()
        (row,) = records.calls
        (error,) = records.errors
        assert row.error_type == "KeyError" == error.error_type
        assert row.call_no == error.call_no and "missing" in error.error_message

    def test_coroutines_generators_and_hooks(self) -> None:
        @mpmon.Timer
        async def nap() -> str:
            await asyncio.sleep(0.01)
            return "rested"

        @mpmon.Timer
        def count(n: int) -> Iterator[int]:
            yield from range(n)

        with capture_records() as records:
            assert asyncio.run(nap()) == "rested"
            assert list(count(3)) == [0, 1, 2]
            figures = mpmon.get_metrics_end(mpmon.get_metrics_start("pair"))
        assert [(r.source, r.function.rsplit(".", 1)[-1]) for r in records.calls] == [
            ("timer", "nap"),
            ("timer", "count"),
            ("hook", "pair"),
        ]
        assert records.calls[0].duration_ns >= 10_000_000
        assert figures["duration_s"] == records.calls[2].duration_ns / 1e9

    def test_threads_keep_their_own_parents(self) -> None:
        with capture_records() as records:
            threads = [threading.Thread(target=outer, name=f"t{i}") for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        by_no = {r.call_no: r for r in records.calls}
        assert len(by_no) == 12
        for r in records.calls:
            if r.parent_no:
                assert by_no[r.parent_no].thread_name == r.thread_name


def test_a_connect_to_a_full_listen_queue_has_a_deadline(tmp_path: Path) -> None:
    """connect() to a socket whose backlog is full and never accepts fails within its timeout."""
    path = str(tmp_path / "full.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(0)
    waiting = []
    for _ in range(4):  # fill the backlog
        s = socket.socket(socket.AF_UNIX)
        s.setblocking(False)
        with contextlib.suppress(OSError):
            s.connect(path)
        waiting.append(s)
    outcome: list[object] = []

    def attempt() -> None:
        try:
            wire.connect(path, b"key", 1.0)
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "connect() still blocked after 10 s"
    assert outcome and isinstance(outcome[0], OSError | EOFError)
    for s in [*waiting, listener]:
        s.close()


@mpmon.Timer(track_resources=False)
def last_step() -> None:
    """A lean child called last: its end is within a microsecond of its parent's."""


@mpmon.Timer
def ends_with_a_child() -> None:
    last_step()


class TestOneClockPerProcess:
    """A process's calls lie on one clock: nesting in the records is nesting in time."""

    def test_a_child_never_ends_after_its_parent(self) -> None:
        """20,000 parents whose last step is a child (and as many with-blocks): no child ends after its
        parent (the wall clock read apart from the perf counter put 0.1 % of them past it)."""
        with capture_records() as records:
            for _ in range(10_000):
                ends_with_a_child()
                with mpmon.Timer(name="block"):
                    last_step()
        calls_by_no = {r.call_no: r for r in records.calls}
        children = [r for r in records.calls if r.parent_no]
        assert len(children) == 20_000
        late = [
            r.start_ns + r.duration_ns - (p.start_ns + p.duration_ns)
            for r in children
            if r.start_ns + r.duration_ns > (p := calls_by_no[r.parent_no]).start_ns + p.duration_ns
        ]
        assert late == [], f"{len(late)} children end after their parent, by up to {max(late)} ns"
        assert all(r.start_ns >= calls_by_no[r.parent_no].start_ns for r in children)

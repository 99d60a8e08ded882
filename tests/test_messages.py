"""The results' `message` column and the console line write each duration in its own unit (issue 11)."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers import call_lines, log_family, read_results, run_program

from mpmon import environment, rows, schema
from mpmon.collector import messages
from mpmon.units import format_duration_ns

MESSAGES = [
    (0, "0 s"),
    (1, "1 ns"),
    (812, "812 ns"),
    (999, "999 ns"),
    (1_000, "1 µs"),
    (1_500, "1.5 µs"),
    (1_005, "1.01 µs"),
    (999_499, "999 µs"),
    (999_500, "1 ms"),
    (12_345_678, "12.3 ms"),
    (999_999_500, "1 s"),
    (2_500_000_000, "2.5 s"),
    (12_345_678_901, "12.3 s"),
    (1_234_567_000_000, "1,235 s"),
    (1_000_000_000_000_000, "1,000,000 s"),
]


@pytest.mark.parametrize(("ns", "label"), MESSAGES)
def test_duration_labels(ns: int, label: str) -> None:
    """Three significant digits, rounded half up, in ns, µs, ms or s; a value that rounds up to 1000 of a
    unit reads as 1 of the next."""
    assert format_duration_ns(ns) == label


def test_messages_by_columns_equal_rows_message_over_every_magnitude() -> None:
    """The collector's column-wise messages equal the record-by-record ones (spill files), value for value,
    from nanoseconds to days, ties and errors included."""
    generator = random.Random(11)
    values = [ns for ns, _ in MESSAGES] + [-5, 5_000, 999_950, 9_995]
    values += [int(10 ** generator.uniform(0, 14)) for _ in range(20_000)]
    errors = pa.array([generator.choice(["", "ValueError"]) for _ in values])
    function = pa.array(["work"] * len(values))
    made = messages.messages(function, pa.array(values, pa.int64()), errors, pc.not_equal(errors, ""))
    assert made.to_pylist() == [rows.message("work", ns, e) for ns, e in zip(values, errors.to_pylist())]


PROGRAM = """
    import sys
    import mpmon
    import mpmon.calls
    import mpmon.probe

    DURATIONS = {durations}
    ticks = iter([t for ns in DURATIONS + [1_500] for t in (10**9, 10**9 + ns)])

    def clock():
        return next(ticks)

    # This program's own clock: each call lasts exactly the table's time (a wrapper takes its clock
    # from mpmon.probe when it is made; the rest of mpmon keeps the real one).
    real, mpmon.probe.perf_counter_ns = mpmon.probe.perf_counter_ns, clock
    mpmon.calls.perf_counter_ns = clock

    @mpmon.Timer(track_resources=False)
    def work(i):
        return i

    @mpmon.Timer(track_resources=False)
    def fail():
        raise ValueError("no")

    mpmon.probe.perf_counter_ns = real

    if __name__ == "__main__":
        mpmon.start_collector("logs", results_format=sys.argv[1])
        for i in range(len(DURATIONS)):
            work(i)
        try:
            fail()
        except ValueError:
            pass
        mpmon.stop_collector()
"""


@pytest.mark.parametrize("results_format", ["csv", "parquet"])
def test_messages_and_console_lines_of_a_real_run(tmp_path: Path, results_format: str) -> None:
    """A run whose calls last the table's durations: the results' message, timing.log's message and the
    console line each read the table's label (no `0.000000 s` for a sub-microsecond call); the run summary
    counts with plurals that agree ("1 process, 1 error")."""
    durations = [ns for ns, _ in MESSAGES[:-1]]
    labels = [label for _, label in MESSAGES[:-1]]
    env = {environment.CONSOLE_LINES: "0"}  # a line per call, however fast they come
    done = run_program(tmp_path, PROGRAM.format(durations=durations), results_format, env=env)
    expected = [f"work finished in {label}" for label in labels]
    expected.append("fail finished in 1.5 µs, raised ValueError")
    results = read_results(tmp_path / "logs", results_format)
    assert results["message"].tolist() == expected
    assert [line["message"] for line in call_lines(tmp_path / "logs")] == expected
    console = [line.split("] ", 1)[1] for line in done.stderr.splitlines() if " finished in " in line]
    assert console == expected
    lines = log_family(tmp_path / "logs", schema.TIMING_LOG)
    summary = next(e for e in lines if e.get("event") == schema.RUN_SUMMARY_EVENT)
    assert summary["message"] == f"run {summary['run_id']}: {len(expected)} calls from 1 process, 1 error"

"""Batches the sender makes always fit the collector's message limit, even of the largest records."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import log_family, read_csv, run_program

from mpmon import schema
from mpmon.render import MAX_ARGS_FIELD

LARGEST = """
import sys
import mpmon

@mpmon.Timer(log_to_console=False, max_arg_length=100_000)
def work(*args):
    return len(args)

if __name__ == "__main__":
    mpmon.start_collector("logs", log_to_console=False, drop_policy=sys.argv[1])
    texts = tuple("x" * 1100 + str(i) for i in range(32))  # an args field past MAX_ARGS_FIELD, cut to it
    for _ in range(int(sys.argv[2])):
        work(*texts)
    mpmon.stop_collector()
"""


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["block", "drop"])
def test_batches_of_the_largest_records_are_never_refused(tmp_path: Path, policy: str) -> None:
    """Calls whose args field is as long as render allows, with a collector slowed so that the drop
    policy's buffer holds four batches' worth: no message is refused as oversized, and every call is a
    row or counted as dropped."""
    calls = 6000
    run_program(tmp_path, LARGEST, policy, str(calls), env={"MPMON_TEST_SLOW_SINK_SECONDS": "0.05"})
    rows = read_csv(tmp_path / "logs")
    summary = [e for e in log_family(tmp_path / "logs", schema.TIMING_LOG) if e.get("event") == "run_summary"]
    assert summary[-1]["oversized_messages"] == 0, summary[-1]
    assert len(rows) + summary[-1]["dropped"] == calls
    assert rows["args"].str.len().max() <= MAX_ARGS_FIELD
    assert rows["args"].str.len().min() > MAX_ARGS_FIELD - 1200  # the field was filled, not emptied
    if policy == "block":
        assert len(rows) == calls


def test_the_largest_single_record_fits_in_a_message() -> None:
    """A sender can always send a batch of one record, so the split above always ends: an error record
    with the longest message and traceback of 4-byte characters, and the longest arguments, is well
    under wire.MAX_MESSAGE."""
    from mpmon import wire
    from mpmon.render import MAX_TEXT, render_args

    text = "\U0001f600" * (MAX_TEXT + 10)
    rendered = render_args(tuple(text for _ in range(40)), {f"k{i}": text for i in range(40)}, 10**9, None)
    message, trace = text[:MAX_TEXT], text[:MAX_TEXT]
    record = (wire.ERROR, "f", "m", 1, 1, "MainThread", "ValueError", message, trace, rendered,
              (True, True, "error.log", 1, 1, "csv"))  # fmt: skip
    size = len(wire.encode_batch((1, "p", "h", "0" * 24, "run"), [record], 1))
    assert size < wire.MAX_MESSAGE // 4, size

"""The collector writes the same bytes as the base commit 0b19303 for the same records.

The expected files in tests/unit/golden/ were written by the collector's Writer of 0b19303 (run this file
as a script with that tree's code: `PYTHONPATH=<0b19303 tree> python tests/unit/test_golden_files.py`);
the test feeds the same batches to today's Writer and compares timing.log's call, error and log lines,
timing_results.csv, error.log and error_results.csv byte for byte, and the Parquet rows value for value.
The records hold the texts that trip a fast path: quotes, backslashes, newlines and other control
characters, non-ASCII, lone surrogates, huge and empty arguments, keyword arguments, errors with
tracebacks, every duration magnitude, nested calls, several processes and routes in one round.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pyarrow.dataset as ds

from mpmon import probe
from mpmon.collector.bounds import bound, bound_batch
from mpmon.collector.settings import Settings
from mpmon.collector.writer import Writer
from mpmon.wire import CALL, ERROR, LOG, Batch, decode_batch, encode_batch

GOLDEN = Path(__file__).parent / "golden"
FILES = ("timing.log", "timing_results.csv", "error.log", "error_results.csv")
START_NS = 1_764_000_000_123_456_789
TRICKY = [
    "",
    "plain",
    'say "hi"',
    "back\\slash",
    "new\nline\ttab\r\x00\x1f\x7f",
    "éà 日本語 🎉",
    "lone \ud800 surrogate",
    "x" * 5000,
    "</script>'\u2028\u2029",
]
STATM = b"123456 2345 456 7 0 890 0\n"


def call(i: int, text: str, **changes: Any) -> tuple[Any, ...]:
    """A CALL record (wire.CALL_FIELDS order) with deterministic values."""
    values: dict[str, Any] = {
        "source": "timer",
        "function": "work",
        "module": "__main__",
        "call_no": i + 1,
        "parent_no": 0,
        "start_ns": START_NS + i * 1_234_567_891,
        "duration_ns": [0, 1, 999, 1_000, 999_499, 999_500, 12_345_678, 1_500_000_000, 12_345_000_000_000][
            i % 9
        ],
        "cpu_ns": -1,
        "rss_before": -1,
        "rss_after": -1,
        "thread_name": "MainThread",
        "error_type": "",
        "args": ((text, repr(i)), ()) if i % 3 else None,
        "route": (None, None, None),
    }
    values.update(changes)
    return (CALL, *values.values())


def batches() -> list[list[Batch]]:
    """Rounds of batches: each a list the writer writes in one round."""
    meta = (4242, "ForkPoolWorker-1", "host-a", "0123abcd-0000-4000-8000-", "golden")
    other = (77, 'proc "two"\n é', "höst", "89abcdef-1111-4111-8111-", "")
    plain = [call(i, TRICKY[1]) for i in range(40)]
    tricky = [call(i, text) for i, text in enumerate(TRICKY)]
    names = [
        call(
            i,
            "v",
            function=text or "f",
            module=text,
            thread_name=text,
            error_type=text if i % 2 else "",
            parent_no=i,
            call_no=2**40 + i,
        )
        for i, text in enumerate(TRICKY)
    ]
    kwargs = [
        call(0, "", args=((), ())),
        call(1, "", args=((), (("name", "'x'"), ('we"ird', "1"), ("é", "\n")))),
        call(2, "", args=(("1", "2.5", "None", "(1, 2)"), (("k", "{'a': 1}"),))),
        call(3, "", args=(tuple(str(n) for n in range(200)), ())),
    ]
    tracked = [
        call(
            i,
            "t",
            cpu_ns=[0, 1, 500, 123_456][i % 4],
            rss_before=STATM,
            rss_after=STATM.replace(b"2345", b"2400"),
        )
        for i in range(8)
    ] + [call(9, "t", cpu_ns=10_000, rss_before=1 << 20, rss_after=3 << 20)]
    routed = [
        call(i, "r", route=[(None, None, None), (False, True, "csv"), (None, False, None)][i % 3])
        for i in range(9)
    ]
    errors = [
        (
            ERROR,
            "work",
            "__main__",
            5,
            START_NS,
            "MainThread",
            "ValueError",
            text,
            f"Traceback\n  {text}\n",
            None,
            (None,) * 5,
        )
        for text in TRICKY[:7]
    ] + [
        (
            ERROR,
            'f"n',
            "m",
            6,
            START_NS + 1,
            "T\n",
            "KeyError",
            "'k'",
            "tb",
            (("1",), ()),
            (None, None, None, None, None),
        )
    ]
    logs = [(LOG, START_NS + 5, "WARNING", "app", text, "MainThread", "mod", "fn") for text in TRICKY[:7]]
    seq = iter(range(1, 1000))
    return [
        [Batch(meta, plain, next(seq))],
        [Batch(meta, tricky, next(seq)), Batch(other, names, next(seq))],
        [Batch(meta, kwargs + tracked, next(seq)), Batch(other, routed, next(seq))],
        [Batch(meta, errors + logs + plain[:3], next(seq))],
        [Batch(other, [call(i, TRICKY[i % len(TRICKY)], error_type="E") for i in range(30)], next(seq))],
        [
            Batch(
                meta,
                [call(i, "many", cpu_ns=i * 997, rss_before=STATM, rss_after=STATM) for i in range(300)],
                99,
            )
        ],
    ]


def travelled(batch: Batch) -> Batch:
    """A batch as the collector's server gets it: encoded by a sender (calls in columns), decoded, bounded."""
    return bound(decode_batch(encode_batch(batch.meta, batch.records, batch.seq)))


def bounded_rows(batch: Batch) -> Batch:
    """A batch as the server got it before calls travelled in columns: rows, bounded row by row."""
    return batch._replace(records=bound_batch(batch.records))


def writer_settings(directory: Path, run_id: str, results_format: str = "csv") -> Settings:
    """A Writer's settings for a run in `directory`, with no server and no console."""
    return Settings(
        log_dir=str(directory),
        run_id=run_id,
        address="",
        authkey="",
        private_dir=str(directory),
        ledger=str(directory / "ledger"),
        results_format=results_format,
        log_to_console=False,
    )


def write_run(directory: Path, results_format: str, wire: Any = None) -> None:
    """Write every round with the collector's Writer into `directory` (`wire`: what the server makes of
    each batch first)."""
    probe.cpu_probe_ns = lambda: 100  # type: ignore[assignment]  # the machine's own is measured
    writer = Writer(writer_settings(directory, "golden", results_format))
    writer.start()
    for round_ in batches():
        writer.write([wire(b) for b in round_] if wire else round_)
    writer.stop()


def record_bytes(directory: Path, name: str) -> bytes:
    """A file's bytes, without timing.log's run_start and run_summary lines (their time and pid vary)."""
    path = directory / name
    if not path.exists():
        return b""
    data = path.read_bytes()
    if name != "timing.log":
        return data
    kept = [
        line
        for line in data.splitlines(keepends=True)
        if json.loads(line)["event"] not in ("run_start", "run_summary")
    ]
    return b"".join(kept)


def test_the_collector_writes_the_bytes_of_0b19303(tmp_path: Path) -> None:
    write_run(tmp_path, "csv")
    for name in FILES:
        expected = (GOLDEN / name).read_bytes()
        assert expected, name
        assert record_bytes(tmp_path, name) == expected, name


def test_batches_in_columns_on_the_wire_write_the_same_bytes(tmp_path: Path) -> None:
    """Each batch encoded (calls in columns), decoded and bounded column by column writes the bytes the
    same batch wrote as bounded rows; the golden batches hold names past MAX_NAME, so both are cut."""
    assert all(travelled(b).calls and not travelled(b).records for b in batches()[0])
    for results_format in ("csv", "parquet"):
        write_run(tmp_path / results_format / "columns", results_format, wire=travelled)
        write_run(tmp_path / results_format / "rows", results_format, wire=bounded_rows)
        for name in FILES:
            expected = record_bytes(tmp_path / results_format / "rows", name)
            assert expected or results_format == "parquet", name
            assert record_bytes(tmp_path / results_format / "columns", name) == expected, name


def test_parquet_holds_the_rows_of_the_csv(tmp_path: Path) -> None:
    """The Parquet results hold the values of the golden CSV (but the 3 rows whose decorator asked for
    CSV, which are in the CSV)."""
    write_run(tmp_path, "parquet")
    found = ds.dataset(tmp_path / "timing_results.parquet").to_table()
    golden = pa_csv.read_csv(GOLDEN / "timing_results.csv").cast(found.schema)
    expected, rows = Counter(map(normalized, golden.to_pylist())), Counter(map(normalized, found.to_pylist()))
    assert rows - expected == Counter()
    assert (expected - rows).total() == 3 == golden.num_rows - found.num_rows
    assert record_bytes(tmp_path, "timing.log") == (GOLDEN / "timing.log").read_bytes()


def normalized(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row's values, floats to 12 significant digits (the CSV's text of them is read back)."""
    return tuple(f"{v:.12g}" if isinstance(v, float) else v for v in row.values())


if __name__ == "__main__":  # write the expected files with the code on sys.path (0b19303's)
    GOLDEN.mkdir(exist_ok=True)
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        write_run(Path(scratch), "csv")
        for file_name in FILES:
            (GOLDEN / file_name).write_bytes(record_bytes(Path(scratch), file_name))
    print("written by", os.path.dirname(sys.modules["mpmon"].__file__ or ""))

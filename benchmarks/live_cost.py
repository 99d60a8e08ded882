"""What the live figures cost the collector: the per-second aggregates and the snapshot file.

    python -m benchmarks.live_cost            # about 20 s

Side by side in one process, on the same rounds of call records (8 functions, 4 processes, one round
of `ROUND` records as the writer gets it at a high rate):
- the writer's own work per record that the aggregates ride on (the call table, its CSV form and its
  timing.log lines: tables.call_table, csv_table, json_lines), the baseline;
- `Aggregates.add_calls` per record (what the console's status line and the snapshot are made from);
- one snapshot (snapshot_of, JSON, a temporary file renamed over the last) per second.

It prints the medians over `REPEATS` repetitions of CPU time (time.process_time) and the share of the
collector's CPU each takes at 200,000 records/s, where the collector's CPU is the baseline's per-record
cost times the rate (the writer does more than that, so the true shares are smaller).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

from mpmon import probe
from mpmon.collector import tables
from mpmon.collector.aggregates import Aggregates
from mpmon.collector.settings import Settings
from mpmon.collector.snapshot import Snapshot
from mpmon.wire import call_record

RATE = 200_000
ROUND = 2_000
ROUNDS = 50
REPEATS = 7
FUNCTIONS = [f"module.work_{i}" for i in range(8)]
PROCESSES = 4


def make_parts(start_ns: int) -> list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """One round: a batch per process, each of ROUND / PROCESSES call records of realistic values."""
    rss = probe.rss_raw()
    parts = []
    per = ROUND // PROCESSES
    for p in range(PROCESSES):
        meta = (1000 + p, f"ForkPoolWorker-{p}", "host", "01234567-89ab-cdef-0123-", "")
        calls = [record(i, start_ns, rss) for i in range(per)]
        parts.append((meta, calls))
    return parts


def record(i: int, start_ns: int, rss: Any) -> tuple[Any, ...]:
    """A call record: 8 functions in turn, durations 1 us and up, one error in 500."""
    error = "" if i % 500 else "ValueError"
    function = FUNCTIONS[i % len(FUNCTIONS)]
    start, duration = start_ns + i * 5_000, 1_000 + 37 * i
    return call_record("timer", function, "module", i + 1, 0, start, duration, 900, rss, rss, "MainThread",
                       error, None, (None, None, None))  # fmt: skip


def per_record_us(work: Any, rounds: list[Any]) -> float:
    started = time.process_time()  # CPU time: other processes on the machine do not count
    for item in rounds:
        work(item)
    return (time.process_time() - started) / (len(rounds) * ROUND) * 1e6


def main() -> None:
    now = time.time_ns()
    rounds = [make_parts(now + r * 10_000_000) for r in range(ROUNDS)]
    made = [tables.call_table(parts, "run") for parts in rounds]
    with_meta = [(t.table, [(m[2], m[0], m[1], len(c)) for m, c in parts]) for t, parts in zip(made, rounds)]

    def baseline(parts: Any) -> None:
        made = tables.call_table(parts, "run")  # (table, plain, ...): json_lines takes what follows table
        as_csv = tables.csv_table(made.table)
        tables.json_lines(made.table, {n: as_csv.column(n) for n in ("start_time", "end_time")}, *made[1:])

    figures = Aggregates()
    with tempfile.TemporaryDirectory() as log_dir:
        snapshot = Snapshot(Settings(log_dir=log_dir, run_id="run", address="", authkey=""), figures)
        base, aggregates, snap = [], [], []
        for _ in range(REPEATS):
            base.append(per_record_us(baseline, rounds))
            aggregates.append(per_record_us(lambda item: figures.add_calls(*item), with_meta))
            started = time.process_time()
            for _ in range(20):
                snapshot.write()
            snap.append((time.process_time() - started) / 20 * 1e3)
    b, a, s = (statistics.median(v) for v in (base, aggregates, snap))
    collector_cpu_s = b * RATE / 1e6  # CPU-seconds a second at RATE, counting the baseline's work only
    print(f"writer's formatting (baseline): {b:.3f} us/record")
    print(f"aggregates.add_calls:           {a:.3f} us/record = {a / b:.1%} of the baseline")
    print(f"snapshot (once a second):       {s:.3f} ms")
    shares = f"aggregates {a * RATE / 1e6 / collector_cpu_s:.1%} and snapshot {s / 1e3 / collector_cpu_s:.2%}"
    print(f"at {RATE:,} records/s: {shares} of the collector's CPU ({collector_cpu_s:.2f} CPU-s/s)")


if __name__ == "__main__":
    main()

"""Where a record's time goes: the caller's probes and bookkeeping, and the collector's writing.

    python -m benchmarks.where_time_goes            # both parts
    python -m benchmarks.where_time_goes --profile  # and the collector's top functions under cProfile

Caller: the primitives a `@Timer` call is made of, each timed alone, then one whole call with the
sender's buffer never flushed, so no collector is involved. Collector: the writer (`Writer.write`, as
the collector's server calls it, each batch decoded and bounded first) fed real batches in this
process, for several round sizes, with and without arguments: microseconds of CPU per record, the
figure that bounds a producer under backpressure and adds to the CPU a run needs. Figures are
medians; the collector runs warm here, so in a busy run, where its caches are cold, it costs more.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import os
import pstats
import statistics
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from typing import Any

REPEATS = 5


def per_call_us(function: Callable[[], object], number: int = 200_000) -> float:
    """Median over REPEATS of the microseconds one call of `function` takes (loop included)."""
    return statistics.median(timeit.repeat(function, number=number, repeat=REPEATS)) / number * 1e6


def caller() -> None:
    import mpmon
    from mpmon import probe
    from mpmon.state import sender

    @mpmon.Timer(log_to_console=False)
    def timed() -> None:
        pass

    @mpmon.Timer(log_to_console=False, track_resources=False)
    def lean() -> None:
        pass

    def hooks() -> None:
        mpmon.get_metrics_end(mpmon.get_metrics_start())

    # Set as if armed, so that no collector is started and nothing is ever flushed: the caller alone.
    sender.ready, sender.limit = True, 1 << 60
    current_thread = threading.current_thread
    print("caller, us per call (median of 5 x 200,000, an empty lambda's loop subtracted)")
    empty = per_call_us(lambda: None)
    for label, function in (
        ("time.process_time_ns()", probe.cpu_ns),
        ("pread of /proc/self/statm", probe.rss_raw),
        ("time.perf_counter_ns()", probe.perf_counter_ns),
        ("threading.current_thread().name", lambda: current_thread().name),
        ("@Timer call, track_resources=True", timed),
        ("@Timer call, track_resources=False", lean),
        ("get_metrics_start/end pair", hooks),
    ):
        print(f"  {label:40s} {per_call_us(function) - empty:7.3f}")
        sender.buffer.clear()
    sender.ready, sender.limit = False, 0


def batches(records: int, with_args: bool) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """(meta, records) of real @Timer calls, taken from this process's buffer."""
    import mpmon
    from mpmon.state import sender

    @mpmon.Timer(log_to_console=False)
    def task(*args: int) -> None:
        pass

    sender.ready, sender.limit = True, 1 << 60  # as in caller(): no collector, no flush
    for i in range(records):
        task(*((i,) if with_args else ()))
    taken = sender.buffer[:]
    sender.buffer.clear()
    sender.ready, sender.limit = False, 0
    return sender._meta(), taken


def collector(profile: bool) -> None:
    print("collector, us of CPU per record written (timing.log + results), warm")
    print(f"  {'results':8s} {'arguments':10s} {'batch':>6s} {'batches/round':>14s} {'us/record':>10s}")
    for results_format in ("csv", "parquet"):
        for with_args in (False, True):
            for batch, per_round, count in ((1024, 4, 200), (100, 10, 600)):
                show = profile and batch == 1024 and not with_args
                us = writer_cost(results_format, with_args, batch, per_round, count, show)
                args = "yes" if with_args else "no"
                print(f"  {results_format:8s} {args:10s} {batch:6d} {per_round:14d} {us:10.2f}")
    fixed = writer_cost("csv", False, 1, 1, 300, False)
    print(f"  a round's fixed cost (rounds of one record, CSV): {fixed:.0f} us of CPU")


def writer_cost(
    results_format: str, with_args: bool, batch: int, per_round: int, count: int, profile: bool
) -> float:
    """Median us of CPU per record for `count` batches of `batch` records, `per_round` to a round."""
    from mpmon.collector.writer import Writer
    from mpmon.wire import Batch, decode_batch, encode_batch

    def bound(batch: Batch) -> Batch:
        return batch

    with contextlib.suppress(ImportError):  # collector/bounds.py is newer than some trees compared
        from mpmon.collector.bounds import bound_batch

        def bound(batch: Batch) -> Batch:
            return batch._replace(records=bound_batch(batch.records))

    with contextlib.suppress(ImportError):  # calls in columns on the wire: bound() takes the batch
        from mpmon.collector.bounds import bound  # type: ignore[no-redef]

    def decoded(payload: bytes) -> Batch:  # the server bounds every decoded batch: its cost counts
        return bound(decode_batch(payload))

    meta, records = batches(batch, with_args)
    seqs = itertools.count(1)  # every batch a new number, or the ledger skips it as written
    with tempfile.TemporaryDirectory() as directory:
        writer = Writer(_config(directory, results_format))
        writer.start()

        def write(payloads: list[bytes]) -> float:
            before = time.process_time()
            for start in range(0, len(payloads), per_round):
                writer.write([decoded(p) for p in payloads[start : start + per_round]])
                writer.tick()
            return time.process_time() - before

        def fresh() -> list[bytes]:
            return [encode_batch(meta, records, next(seqs)) for _ in range(count)]

        write(fresh()[:40])  # warm
        samples = [write(fresh()) / (count * batch) for _ in range(REPEATS)]
        if profile:
            payloads = fresh()
            profiler = cProfile.Profile()
            profiler.enable()
            write(payloads)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        writer.stop()
    return statistics.median(samples) * 1e6


def _config(directory: str, results_format: str) -> Any:
    from mpmon.collector.settings import Settings

    return Settings(
        log_dir=directory,
        run_id="profile",
        address="",
        authkey="",
        private_dir=directory,
        ledger=os.path.join(directory, "ledger"),
        results_format=results_format,
        log_to_console=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print the collector's top functions")
    args = parser.parse_args()
    caller()
    collector(args.profile)


if __name__ == "__main__":
    main()

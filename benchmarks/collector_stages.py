"""The collector's CPU per record, stage by stage, without a profiler: where a write round's time goes.

    python -m benchmarks.collector_stages                          # CSV, arguments, 1024 x 4 and 1 x 1
    python -m benchmarks.collector_stages csv:args:100:10 parquet:no:1024:4
    python -m benchmarks.collector_stages csv:args:1:1 csv:args:100:4 csv:args:1024:4 parquet:args:100:4

Each stage of `Writer.write` (and the server's decode and bound before it) is wrapped by a timer of
process CPU time, taken once per call, so the figures are not inflated as cProfile's are (it adds a
Python frame per function, which doubles the cost of small rounds). A spec is format:args:batch:per_round
(records per batch, batches per round). Figures are medians of 5 repetitions of `writer_cost`'s rounds,
in us of CPU per record. It runs against any tree that has `benchmarks.where_time_goes.batches`, so two
trees can be compared in alternation (PYTHONPATH=<tree>). The garbage collector is set as the
writer process sets it (`mpmon.collector.__main__.quiet_gc`, where the tree has it).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import tempfile
import time
from collections import Counter
from typing import Any

from benchmarks.where_time_goes import _config, batches

STAGES = (  # (module, owner, attribute, label)
    ("mpmon.collector.rowwise", None, "call_rows", "call_rows (a small round's rows, in Python)"),
    ("mpmon.collector.rowwise", None, "json_lines", "rowwise.json_lines (its timing.log lines)"),
    ("mpmon.collector.rowwise", None, "csv_text", "rowwise.csv_text (its CSV rows)"),
    ("mpmon.collector.aggregates", "Aggregates", "add_call_rows", "live aggregates (a small round)"),
    ("mpmon.collector.tables", None, "call_table", "call_table (rows to an Arrow table)"),
    ("mpmon.collector.tables", None, "csv_table", "csv_table (ISO times)"),
    ("mpmon.collector.tables", None, "json_lines", "json_lines (timing.log lines)"),
    ("mpmon.collector.tables", None, "iso_times", "iso_times (ISO times, both files)"),
    ("mpmon.collector.tables", None, "round_texts", "round_texts (numbers, escapes: both files)"),
    ("mpmon.collector.tables", None, "csv_rows", "csv_rows (CSV rows by one join)"),
    ("mpmon.collector.sinks", "JsonLinesSink", "write", "timing.log write"),
    ("mpmon.collector.sinks", "CsvSink", "write", "CSV write (Arrow's writer)"),
    ("mpmon.collector.sinks", "CsvSink", "write_bytes", "CSV write (bytes)"),
    ("mpmon.collector.sinks", "ParquetSink", "write", "Parquet write"),
    ("mpmon.collector.sinks", "ParquetSink", "flush", "Parquet row groups"),
    ("mpmon.collector.aggregates", "Aggregates", "add_calls", "live aggregates"),
    ("mpmon.collector.writer", "Writer", "commit", "commit (ledger)"),
    ("mpmon.collector.writer", "Writer", "flush", "flush files"),
    ("mpmon.collector.writer", "Writer", "write", "Writer.write, all of it"),
)
REPEATS = 5


def _timed(spent: Counter[str], function: Any, label: str) -> Any:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time_ns()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.process_time_ns() - start

    return timed


def _wrap(spent: Counter[str]) -> None:
    import importlib

    for module_name, owner_name, attribute, label in STAGES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # a tree without this stage (an older commit, compared in alternation)
            continue
        owner = getattr(module, owner_name) if owner_name else module
        if hasattr(owner, attribute):
            setattr(owner, attribute, _timed(spent, getattr(owner, attribute), label))


def stages(spec: str, spent: Counter[str]) -> dict[str, float]:
    """us of CPU per record of each stage (and "total") for one spec, medians of REPEATS."""
    from mpmon.collector.bounds import bound
    from mpmon.collector.writer import Writer
    from mpmon.wire import decode_batch, encode_batch

    results_format, args, batch, per_round = spec.split(":")
    size, per = int(batch), int(per_round)
    count = max(per, (200 * 1024 // size) // per * per if size > 1 else 300)
    meta, records = batches(size, args == "args")
    seqs = itertools.count(1)
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as directory:
        writer = Writer(_config(directory, results_format))
        writer.start()

        def run(payloads: list[bytes]) -> None:
            for start in range(0, len(payloads), per):
                began = time.process_time_ns()
                decoded = [decode_batch(p) for p in payloads[start : start + per]]
                middle = time.process_time_ns()
                bounded = [bound(b) for b in decoded]
                spent["decode (server)"] += middle - began
                spent["bound (server)"] += time.process_time_ns() - middle
                writer.write(bounded)
                writer.tick()

        run([encode_batch(meta, records, next(seqs)) for _ in range(min(count, 40))])  # warm
        for _ in range(REPEATS):
            payloads = [encode_batch(meta, records, next(seqs)) for _ in range(count)]
            spent.clear()
            began = time.process_time_ns()
            run(payloads)
            total = time.process_time_ns() - began
            samples.append({"total": total, **spent})
        writer.stop()
    labels = dict.fromkeys(label for sample in samples for label in sample)
    records_written = count * size
    return {
        label: statistics.median(s.get(label, 0) for s in samples) / records_written / 1e3 for label in labels
    }


def _as_the_writer_process() -> None:
    """The garbage collector as the collector's writer process sets it (trees before quiet_gc: as is)."""
    import importlib

    quiet_gc = getattr(importlib.import_module("mpmon.collector.__main__"), "quiet_gc", None)
    if quiet_gc is not None:
        quiet_gc()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=["csv:args:1024:4", "csv:args:1:1"])
    specs = parser.parse_args().specs
    spent: Counter[str] = Counter()
    _wrap(spent)
    _as_the_writer_process()
    for spec in specs:
        figures = stages(spec, spent)
        print(f"{spec}: {figures.pop('total'):.2f} us of CPU per record")
        for label, value in figures.items():
            print(f"  {label:40s} {value:9.3f}")


if __name__ == "__main__":
    main()

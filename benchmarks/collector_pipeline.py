"""Would a second thread in the collector pay? Its rounds in one thread against a two-thread pipeline.

    python -m benchmarks.collector_pipeline                       # CSV, arguments, 1024 x 4, 5 pairs
    python -m benchmarks.collector_pipeline --spec parquet:args:1024:4 --switch 0.005 0.001

The same encoded batches, in one process, go through the collector's two halves: decode and bound
(what the server does as it receives), then `Writer.write` and the round's `tick()`. "serial" runs them
one after the other, as the collector does; "pipeline" writes each round in a second thread while this
one decodes the next (a queue of one round between them; `Writer.write` is partly Arrow C++ and file
writes, which release the GIL). No sockets and no senders: this is the collector's own ceiling, the
rate it reaches when a core is free for it. Runs alternate serial / pipeline (per switch interval,
`sys.setswitchinterval`); figures are medians per record: wall (noisy on a shared machine), process
CPU (both threads), and how much CPU ran in parallel ((CPU - wall) / CPU: 0 is none).
See docs/collector-speed.md, section s8-pipe, for what it measured and why the collector has one thread.
"""

from __future__ import annotations

import argparse
import itertools
import queue
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

from benchmarks.where_time_goes import _config, batches


def _rounds(spec: str, count: int) -> tuple[int, list[list[bytes]], str]:
    """(records a round, rounds of encoded batches, results format) for a spec."""
    from mpmon.wire import encode_batch

    results_format, args, batch, per_round = spec.split(":")
    size, per = int(batch), int(per_round)
    meta, records = batches(size, args == "args")
    seqs = itertools.count(1)
    payloads = [encode_batch(meta, records, next(seqs)) for _ in range(count * per)]
    return size * per, [payloads[i : i + per] for i in range(0, len(payloads), per)], results_format


def _decoded(payloads: list[bytes]) -> list[Any]:
    from mpmon.collector.bounds import bound
    from mpmon.wire import decode_batch

    return [bound(decode_batch(p)) for p in payloads]


def _share_measures() -> None:
    """arguments.MEASURED, the memo of a round's argument measures, is cleared by each take: fine in one
    thread, but here the writing thread's take would drop the next round's measures (a slower path
    for it). The pipeline runs with a memo whose take removes only its own round's, under a lock."""
    from mpmon.collector import arguments, bounds

    class Shared(arguments.Measured):
        def __init__(self) -> None:
            super().__init__()
            self._lock = threading.Lock()

        def keep(self, args: Any, usual: Any) -> None:
            with self._lock:
                super().keep(args, usual)

        def take(self, batches: Any) -> Any:
            with self._lock:
                found = [self._columns.pop(id(args), None) for args in batches]
            if not found or not all(f is not None and f[0] is a for f, a in zip(found, batches)):
                return None
            return [f[1] for f in found if f is not None]

    arguments.MEASURED = bounds.MEASURED = Shared()  # type: ignore[misc]


def _piped(writer: Any, rounds: list[list[bytes]]) -> None:
    """Decode here, write in a second thread, one round waiting at most."""
    handed: queue.Queue[list[Any] | None] = queue.Queue(1)

    def write() -> None:
        while (batches_ := handed.get()) is not None:
            writer.write(batches_)
            writer.tick()

    thread = threading.Thread(target=write)
    thread.start()
    for payloads in rounds:
        handed.put(_decoded(payloads))
    handed.put(None)
    thread.join()


def one_run(
    directory: str, results_format: str, rounds: list[list[bytes]], piped: bool
) -> tuple[float, float]:
    """(wall, process CPU) seconds to write these rounds with a fresh writer."""
    from mpmon.collector.writer import Writer

    writer = Writer(_config(directory, results_format))
    writer.start()
    wall, cpu = time.perf_counter(), time.process_time()
    if piped:
        _piped(writer, rounds)
    else:
        for payloads in rounds:
            writer.write(_decoded(payloads))
            writer.tick()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    writer.stop()
    return wall, cpu


def main() -> None:
    from mpmon.collector.__main__ import quiet_gc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="csv:args:1024:4", help="format:args|no:batch:batches per round")
    parser.add_argument("--rounds", type=int, default=60, help="rounds written per run")
    parser.add_argument("--pairs", type=int, default=5, help="serial / pipeline runs alternated")
    parser.add_argument("--switch", type=float, nargs="*", default=[sys.getswitchinterval()])
    options = parser.parse_args()
    quiet_gc()  # as the writer process runs
    _share_measures()
    per_round, rounds, results_format = _rounds(options.spec, options.rounds)
    records = per_round * len(rounds)
    kinds = [("serial", False, sys.getswitchinterval())] + [("pipeline", True, s) for s in options.switch]
    found: dict[str, list[tuple[float, float]]] = {}
    for _ in range(options.pairs):
        for name, piped, switch in kinds:
            sys.setswitchinterval(switch)
            with tempfile.TemporaryDirectory() as directory:
                run = one_run(directory, results_format, rounds, piped)
            found.setdefault(f"{name} (switch {switch * 1e3:g} ms)", []).append(run)
    print(f"{options.spec}, {records} records a run, medians of {options.pairs} alternated runs")
    for name, runs in found.items():
        wall = statistics.median(w for w, _ in runs) / records * 1e6
        cpu = statistics.median(c for _, c in runs) / records * 1e6
        parallel = statistics.median((c - w) / c for w, c in runs)
        print(
            f"  {name:26s} wall {wall:5.2f} us/record ({1e6 / wall:8,.0f}/s), "
            f"CPU {cpu:5.2f} us/record, in parallel {parallel:+.0%}"
        )


if __name__ == "__main__":
    main()

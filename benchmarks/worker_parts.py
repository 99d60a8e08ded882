"""What a decorated call costs the process that makes it, part by part, in CPU time (not a profiler's share).

    python benchmarks/worker_parts.py [--against PATH] [--rounds N]

Each round runs, in fresh interpreters and alternating, this checkout's mpmon and (with --against) the
one at PATH (PYTHONPATH; this file imports nothing of ``benchmarks``, so it runs against any tree). In
one process, ``def f(i): return i`` under ``@Timer`` (one int argument, as a pool task has) is timed by
the process's CPU clock (all its threads, the flusher's included) against the undecorated loop:

- caller: the sender armed by hand and never flushed: the wrapper alone;
- pool worker: a real collector, and the hand-over a pool worker makes before each result
  (``Sender.hand_over``) after every 100 calls (``Pool.map``'s chunks in section 3), then
  ``flush(wait=True)``: what a worker of ``benchmarks.end_to_end_parts`` spends per task, less the pool;
- tight loop: a real collector, the buffer flushed as it fills (1,024 records), then ``flush(wait=True)``;

and the pieces, each timed alone per call: the probes, the argument's rendering, the thread's name,
``wire.encode_batch`` and the hand-over of a batch of 100 records. Prints the median over rounds of
each side's median, us per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CALLS = 100_000
CHUNK = 100
REPS = 5


def cpu_us(loop: Callable[[], int]) -> float:
    """Process CPU time per call of `loop()` (which returns how many calls it made), median of REPS."""
    figures = []
    for _ in range(REPS):
        start = time.process_time_ns()
        count = loop()
        figures.append((time.process_time_ns() - start) / count / 1e3)
    return statistics.median(figures)


def piece_us(function: Callable[[], Any], number: int = 200_000) -> float:
    """Process CPU time of one call of `function` (a loop calling nothing subtracted)."""

    def looped(body: Callable[[], Any]) -> Callable[[], int]:
        def loop() -> int:
            for _ in range(number):
                body()
            return number

        return loop

    return cpu_us(looped(function)) - cpu_us(looped(lambda: None))


def probe() -> dict[str, float]:
    """Every figure, in this interpreter (the mpmon PYTHONPATH names)."""
    import mpmon
    from mpmon import probe as mp_probe
    from mpmon import wire
    from mpmon.render import render_args
    from mpmon.state import sender

    def f(i: int) -> int:
        return i

    timed = mpmon.Timer(log_to_console=False, log_to_file=False)(f)
    lean = mpmon.Timer(log_to_console=False, log_to_file=False, track_resources=False)(f)

    def calls(func: Callable[[int], int], chunk: int = 0, count: int = CALLS) -> Callable[[], int]:
        """`CALLS` calls of `func`; after every `chunk` calls the buffer is handed over (a pool worker's
        hand-over), or just emptied when no collector runs (the caller alone: a buffer of 100,000
        records would make the garbage collector's passes the figure)."""

        def loop() -> int:
            after = sender.hand_over if sender.socket.connected else sender.buffer.clear
            size = chunk or 1024
            for start in range(0, count, size):
                for i in range(start, start + size):
                    func(i)
                if chunk or not sender.socket.connected:
                    after()
            if sender.socket.connected:
                mpmon.flush(wait=True)
            return count

        return loop

    out: dict[str, float] = {}
    bare = cpu_us(calls(f))
    bare_chunks = cpu_us(calls(f, CHUNK))
    bare_each = cpu_us(calls(f, 1, CALLS // 10))
    with tempfile.TemporaryDirectory(prefix="mpmon-worker-parts-") as scratch:
        mpmon.start_collector(log_dir=scratch, log_to_console=False)
        for func in (timed, f):
            calls(func, CHUNK)()  # warm: arming, the connection, the collector's sinks
        out["pool worker: hand-over every 100 calls"] = cpu_us(calls(timed, CHUNK)) - bare_chunks
        out["pool worker: hand-over after every call"] = cpu_us(calls(timed, 1, CALLS // 10)) - bare_each
        out["tight loop: flushed as the buffer fills"] = cpu_us(calls(timed)) - bare
        out["tight loop, track_resources=False"] = cpu_us(calls(lean)) - bare
        mpmon.stop_collector()
    sender.limit = 1 << 60  # no collector now: the caller alone, never flushed
    out["caller: @Timer, one int argument"] = cpu_us(calls(timed)) - bare
    out["caller: @Timer(track_resources=False)"] = cpu_us(calls(lean)) - bare
    out["  piece: one /proc/self/statm read"] = piece_us(mp_probe.rss_raw)
    out["  piece: one process_time_ns()"] = piece_us(time.process_time_ns)
    out["  piece: one perf_counter_ns()"] = piece_us(time.perf_counter_ns)
    out["  piece: current_thread().name"] = piece_us(lambda: threading.current_thread().name)
    out["  piece: render_args((7,), {})"] = piece_us(lambda: render_args((7,), {}, None, None))
    for i in range(CHUNK):
        timed(i)
    buffered = list(sender.buffer)
    sender.buffer.clear()
    meta = (os.getpid(), "MainProcess", "host", "01234567-89ab-cdef-0123-", "run")
    encode = piece_us(lambda: wire.encode_batch(meta, buffered, 1), 2_000)
    out["  piece: encode_batch, 100 records, per record"] = encode / CHUNK
    out["bare loop (for scale)"] = bare
    return out


def task(i: int) -> int:
    """A pool task of about 20 us (benchmarks.workloads.task_20us, here so that this file needs no other)."""
    end = time.perf_counter() + 20e-6
    while time.perf_counter() < end:
        pass
    return i


POOL_VARIANTS = {  # name: (Timer's settings or None for the plain task, chunksize)
    "plain": (None, CHUNK),
    "@Timer": ({}, CHUNK),
    "@Timer(track_resources=False)": ({"track_resources": False}, CHUNK),
    "@Timer(max_arg_length=0)": ({"max_arg_length": 0}, CHUNK),
    "plain, chunks of 1000": (None, 1000),
    "@Timer, chunks of 1000": ({}, 1000),
}


def pool_probe(tasks: int) -> dict[str, float]:
    """Workers' CPU per task of `Pool(2).map(task, range(tasks))` (getrusage of the reaped workers) for
    each variant, less the plain map's with the same chunks; under fork the tasks travel by reference
    to this script's `__main__`."""
    import multiprocessing
    import resource

    import mpmon

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    functions: dict[str, Callable[[int], int]] = {}
    for name, (settings, _) in POOL_VARIANTS.items():
        if settings is None:
            functions[name] = task
            continue
        body = types.FunctionType(task.__code__, task.__globals__, f"task_{len(functions)}")
        body.__qualname__ = body.__name__
        functions[name] = globals()[body.__name__] = mpmon.Timer(log_to_console=False, **settings)(body)
    figures: dict[str, list[float]] = {name: [] for name in POOL_VARIANTS}
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="mpmon-worker-parts-") as scratch:
        mpmon.start_collector(log_dir=scratch, log_to_console=False)
        for _ in range(REPS):
            for name, (_, chunk) in POOL_VARIANTS.items():
                before = children_cpu()
                with context.Pool(2) as pool:
                    pool.map(functions[name], range(tasks), chunksize=chunk)
                figures[name].append((children_cpu() - before) / tasks * 1e6)
        mpmon.stop_collector()
    out = {f"pool: {name}": statistics.median(values) for name, values in figures.items()}
    for name, (settings, chunk) in POOL_VARIANTS.items():
        if settings is not None:
            plain = out["pool: plain" if chunk == CHUNK else "pool: plain, chunks of 1000"]
            out[f"pool: {name}"] -= plain
    return out


def measure(root: Path, pool: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPMON_")}
    env["PYTHONPATH"] = str(root)
    flags = ["--probe"] + (["--pool", str(pool)] if pool else [])
    done = subprocess.run(
        [sys.executable, __file__, *flags], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="checkout to compare with (the base)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=0, metavar="TASKS", help="pool workers' CPU per task")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(pool_probe(args.pool) if args.pool else probe()))
        return
    sides = {"this": ROOT} if args.against is None else {"base": args.against, "this": ROOT}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side, root in sides.items():
            runs[side].append(measure(root, args.pool))
    print(f"us of process CPU per call, median of {args.rounds} rounds (each a median of {REPS})")
    print(f"  {'':48s}" + "".join(f"{side:>8s}" for side in sides) + ("    diff" if len(sides) > 1 else ""))
    for key in runs["this"][0]:
        values = [statistics.median(r[key] for r in runs[side]) for side in sides]
        diff = f"{values[-1] - values[0]:+8.2f}" if len(values) > 1 else ""
        print(f"  {key:48s}" + "".join(f"{v:8.2f}" for v in values) + diff)


if __name__ == "__main__":
    main()

"""Section 2: how many records per second reach the disk, and the collector's peak memory on a long run.

Two producer processes call a decorated empty function as fast as they can. The clock starts when both
have passed a barrier and stops when the writer has stopped (``mpmon.stop_collector()`` returned, or the
stdlib listener joined), so every record is on disk; the lines are then counted. The stdlib recipe runs in
the same setup: same producers, one logging call per call, a listener process writing JSON lines.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from time import perf_counter
from typing import Any

from benchmarks import baselines, logfiles
from benchmarks.core import (
    MIB,
    Row,
    Settings,
    all_of,
    at_least,
    at_most,
    count_lines,
    median,
    mpmon_missing,
    rotated,
    scratch_dir,
    time_calls,
    unavailable,
    wait_until_idle,
)

PRODUCERS = 2
WARMUP = 1_000
BACKUPS = 1_000  # enough rotated files that no line is lost, so every line can be counted
SECTION = "2 throughput"
LOSS_KEYS = ("dropped", "spilled", "write_failures", "rejected_payloads", "refused_peers")


def mpmon_producer(n: int, barrier: Any) -> None:
    """Call ``@Timer(track_resources=False)`` n times as fast as possible, then flush."""
    import mpmon
    from benchmarks import decorated

    func = decorated.timer_lean_empty
    barrier.wait()
    for _ in repeat(None, n):
        func()
    mpmon.flush()


def stdlib_producer(queue: Any, n: int, barrier: Any) -> None:
    """Make n stdlib-logged calls as fast as possible, then wait until the queue's feeder has sent them."""
    baselines.install_queue_handler(queue)
    func = baselines.stdlib_empty
    barrier.wait()
    for _ in repeat(None, n):
        func()
    baselines.drain_queue_handler()


def warm_up(func: Callable[[], object], hand_off: Callable[[], object], pid: int | None) -> None:
    """WARMUP calls from this process, then wait until the writer is idle: its one-time start-up
    (the collector opens its sinks at the first batch) is not billed to the measured rate."""
    time_calls(func, WARMUP)
    hand_off()
    if pid is not None:
        wait_until_idle(pid)


def run_producers(
    target: Callable[..., None], args: tuple[Any, ...], n: int, stop: Callable[[], None]
) -> float:
    """Seconds from both producers starting to ``stop()`` returning after they exited."""
    ctx = multiprocessing.get_context()
    barrier = ctx.Barrier(PRODUCERS + 1)
    procs = [ctx.Process(target=target, args=(*args, n, barrier)) for _ in range(PRODUCERS)]
    for proc in procs:
        proc.start()
    barrier.wait()
    start = perf_counter()
    for proc in procs:
        proc.join()
    stop()
    return perf_counter() - start


def collector_pid(collector: object, before: set[int]) -> int | None:
    """The collector's pid: ``Collector.pid`` if it has one, else the child process that appeared with it."""
    pid = getattr(collector, "pid", None)
    if isinstance(pid, int):
        return pid
    import psutil

    children = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    named = [p for p in children if "mpmon.collector" in " ".join(p.cmdline())]
    found = named or children
    return found[0].pid if len(found) == 1 or named else None


def high_water_mib(pid: int) -> float:
    """The process's peak RSS so far from /proc/PID/status (VmHWM), MiB; 0 where unavailable."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class CollectorMemory:
    """Samples the collector's memory in a thread while a run goes on, and keeps the peaks.

    The collector may be several processes (a supervisor that forks its writer): their RSS overlap in
    the pages they share, so the headline is the sum of their PSS (each shared page counted once),
    sampled every 0.2 s (reading PSS costs milliseconds); each process's own peak RSS (VmHWM, exact)
    and the peak sum of RSS are kept too, for the note.
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.high_water: dict[int, float] = {}
        self.idle_mib, _ = self.sample()
        self.peak_mib, self.peak_rss_sum_mib = self.idle_mib, 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collector-memory", daemon=True)

    def sample(self) -> tuple[float, float]:
        """(sum of PSS, sum of RSS) of the collector's processes now, MiB; (0, 0) once they exited."""
        try:
            procs = [self.process, *self.process.children(recursive=True)]
            infos = [p.memory_full_info() for p in procs]
        except Exception:  # the collector exits at stop: the last samples may find it gone
            return 0.0, 0.0
        for proc in procs:
            self.high_water[proc.pid] = max(self.high_water.get(proc.pid, 0.0), high_water_mib(proc.pid))
        return sum(i.pss for i in infos) / MIB, sum(i.rss for i in infos) / MIB

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            pss, rss = self.sample()
            self.peak_mib, self.peak_rss_sum_mib = max(self.peak_mib, pss), max(self.peak_rss_sum_mib, rss)

    def note(self) -> str:
        """Each process's own peak RSS and the peak of their summed RSS."""
        each = ", ".join(f"{hwm:.0f}" for hwm in self.high_water.values())
        return f"peak RSS per collector process (VmHWM): {each} MiB; summed: {self.peak_rss_sum_mib:.0f} MiB"

    @contextmanager
    def watching(self) -> Iterator[CollectorMemory]:
        """Sample while the block runs."""
        self._thread.start()
        try:
            yield self
        finally:
            self._done.set()
            self._thread.join()


class MpmonRun:
    """One collector run fed by the producers: its rate, its peak RSS and what it wrote."""

    def __init__(self, scratch: Path, results_format: str, backups: int) -> None:
        import psutil

        import mpmon
        from benchmarks import decorated

        before = {p.pid for p in psutil.Process().children(recursive=True)}
        self.scratch, self.results_format = scratch, results_format
        collector = mpmon.start_collector(
            log_dir=str(scratch), results_format=results_format, log_to_console=False, backup_count=backups
        )
        pid = collector_pid(collector, before)
        warm_up(decorated.timer_lean_empty, mpmon.flush, pid)
        self.memory = CollectorMemory(pid) if pid else None

    def feed(self, n: int) -> float:
        """Seconds for the producers' 2n records to reach the disk (until stop_collector() returns)."""
        import mpmon

        if self.memory is None:
            return run_producers(mpmon_producer, (), n, mpmon.stop_collector)
        with self.memory.watching():
            return run_producers(mpmon_producer, (), n, mpmon.stop_collector)

    def written(self, count_log: bool) -> tuple[int, int | None]:
        """Rows in the results table and (if count_log) call lines in timing.log."""
        rows = logfiles.results_rows(self.scratch, self.results_format)
        return rows, logfiles.timing_log_calls(self.scratch) if count_log else None


def mpmon_rate(results_format: str, n: int) -> tuple[float, str]:
    """Records per second for one run, and a note of what was written against what was sent."""
    with scratch_dir(f"throughput-{results_format}") as scratch:
        run = MpmonRun(scratch, results_format, BACKUPS)
        seconds = run.feed(n)
        rows, log_lines = run.written(count_log=True)
        summary = logfiles.run_summary(scratch)
    return PRODUCERS * n / seconds, check_note(
        PRODUCERS * n + WARMUP, rows=rows, log=log_lines, summary=summary
    )


def stdlib_rate(n: int) -> tuple[float, str]:
    """Records per second through the stdlib recipe's listener, with the written-lines check."""
    with scratch_dir("throughput-stdlib") as scratch:
        recipe = baselines.StdlibRecipe(scratch / "stdlib.log", backup_count=BACKUPS)
        recipe.start()
        warm_up(baselines.stdlib_empty, lambda: None, recipe.listener.pid)
        seconds = run_producers(stdlib_producer, (recipe.queue,), n, recipe.stop)
        lines = count_lines(rotated(scratch, "stdlib.log"))
    return PRODUCERS * n / seconds, check_note(PRODUCERS * n + WARMUP, log=lines)


def check_note(expected: int, summary: dict[str, Any] | None = None, **found: int | None) -> str:
    """'rows 1000000/1000000, log 1000000/1000000' plus a warning when anything is short."""
    parts = [f"{name} {count}/{expected}" for name, count in found.items() if count is not None]
    short = any(count is not None and count != expected for count in found.values())
    losses = {key: summary.get(key) for key in LOSS_KEYS if summary and summary.get(key)}
    parts += [f"run_summary {losses}"] if losses else []
    return ", ".join(parts) + (" -- RECORDS MISSING" if short else "")


def rates(settings: Settings, mpmon_ok: bool) -> dict[str, list[tuple[float, str]]]:
    """(rate, note) per repetition for stdlib, CSV and Parquet, the three interleaved over the repetitions."""
    n_mpmon, n_stdlib = settings.size(500_000, 50_000), settings.size(200_000, 25_000)
    runs: dict[str, Callable[[], tuple[float, str]]] = {"stdlib": lambda: stdlib_rate(n_stdlib)}
    if mpmon_ok:
        runs["csv"] = lambda: mpmon_rate("csv", n_mpmon)
        runs["parquet"] = lambda: mpmon_rate("parquet", n_mpmon)
    samples: dict[str, list[tuple[float, str]]] = {name: [] for name in runs}
    for _ in range(settings.reps):
        for name, measure in runs.items():
            samples[name].append(measure())
    return samples


def rate_row(measure: str, samples: list[tuple[float, str]], baseline: Row | None = None) -> Row:
    """A rate row: the median of the repetitions, each repetition's rate kept, notes deduplicated."""
    rates = [rate for rate, _ in samples]
    notes = "; ".join(dict.fromkeys(note for _, note in samples))
    row = Row(SECTION, measure, median(rates) if rates else None, "records/s", note=notes, samples=rates)
    if baseline is not None:
        row.baseline, row.baseline_value = "stdlib listener, same setup", baseline.value
        row.baseline_samples = baseline.samples
    return row


def rate_rows(samples: dict[str, list[tuple[float, str]]]) -> list[Row]:
    """Rows: the stdlib listener, then the collector with CSV and with Parquet against it."""
    std = rate_row("baseline: stdlib listener, 2 producers", samples["stdlib"])
    csv = rate_row("collector, timing.log + CSV, 2 producers", samples.get("csv", []), std)
    parquet = rate_row("collector, timing.log + PARQUET, 2 producers", samples.get("parquet", []), std)
    csv.target, parquet.target = ">= 200,000/s and >= 5x", "> the CSV rate"
    csv.passed = all_of(at_least(csv.value, 200_000), at_least(csv.ratio, 5.0))
    if parquet.value is not None and csv.value is not None:
        parquet.passed = parquet.value > csv.value
    for row in (csv, parquet):
        row.passed = False if "MISSING" in row.note else row.passed
    return [std, csv, parquet]


def peak_memory_row(settings: Settings, results_format: str) -> Row:
    """The collector's peak memory while 2 producers push 5,000,000 records through it (default rotation)."""
    n = settings.size(2_500_000, 250_000)
    measure = f"collector peak memory (PSS), {PRODUCERS * n:,} records, {results_format.upper()}"
    with scratch_dir(f"memory-{results_format}") as scratch:
        run = MpmonRun(scratch, results_format, backups=5)
        if run.memory is None:
            return unavailable(SECTION, measure, "MiB", "collector pid not found", "< 200 MiB")
        seconds = run.feed(n)
        rows, _ = run.written(count_log=False)
    note = check_note(PRODUCERS * n + WARMUP, rows=rows) + f"; {PRODUCERS * n / seconds:,.0f} records/s; "
    memory = run.memory
    row = Row(SECTION, measure, memory.peak_mib, "MiB", "the collector, warmed up, idle", memory.idle_mib,
              "< 200 MiB", note=note + memory.note())  # fmt: skip
    row.passed = False if "MISSING" in note else at_most(row.value, 200)
    return row


def run(settings: Settings) -> list[Row]:
    """Section 2: rates (stdlib, CSV, Parquet), then the collector's peak memory over a long run."""
    missing = mpmon_missing()
    rows = rate_rows(rates(settings, missing is None))
    if missing:
        return [*rows, unavailable(SECTION, "collector peak memory", "MiB", missing, "< 200 MiB")]
    return rows + [peak_memory_row(settings, fmt) for fmt in ("csv", "parquet")]
